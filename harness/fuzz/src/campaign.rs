//! A libFuzzer campaign: `-j N` workers, each a long-running case on the engine (restarted
//! after it stops on a finding, while the time budget lasts), sharing one corpus directory
//! (libFuzzer re-reads it every second: what one worker finds, the others load). A monitor
//! reads the workers' status lines into `fuzz_stats`, and triages every artifact as it
//! appears: replayed as a case, classified, deduplicated by signature, minimized (a case
//! too) keeping the signature, and copied under libFuzzer's name into the artifacts
//! directory.
//!
//! The case writes only in directories of a work directory made for the campaign and lent
//! to its uid; what it wrote is read back through descriptors, never following a link, and
//! copied into the user's corpus and artifacts directories under names we compute (the
//! SHA-1 of the content, as libFuzzer names them).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hatchery_engine::{
    Attempt, ExecError, Executor, Options, Pool, Reporter, SandboxExecutor, SkipRule, Unit, Work,
};
use hatchery_report::{
    CaseFinished, CaseResult, CrashFound, Event, FindingKind, FuzzFinished, FuzzStarted, FuzzStats,
    RunStarted,
};
use hatchery_sandbox::fsat::{self, CaseDir};
use hatchery_sandbox::workdir::WorkDir;

use crate::libfuzzer::{self, Status};
use crate::target::TargetRun;
use crate::triage::{self, Triage};

/// Largest input read back from a case's directory.
pub const MAX_INPUT_BYTES: u64 = 64 << 20;
/// Largest worker log read for its status.
const MAX_LOG_BYTES: u64 = 256 << 20;
/// Inputs kept per signature (the first ones); later duplicates are counted, not kept.
pub const KEEP_PER_SIGNATURE: usize = 5;
/// Worker cases per worker slot: a worker that stopped on a finding is started again while
/// the budget lasts, this many times in all.
pub const STARTS_PER_WORKER: usize = 16;

/// What the campaign is asked to do.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub run: TargetRun,
    pub corpus: PathBuf,
    pub artifacts: PathBuf,
    pub workers: usize,
    pub max_total_time: Option<Duration>,
    pub engine_args: Vec<String>,
    pub stats_every: Duration,
    /// Time budget of each minimization (`None`: no minimization).
    pub minimize: Option<Duration>,
    /// Keep the work directory (for debugging).
    pub keep_work: bool,
}

/// Receives the campaign's events (already ordered) and its progress line.
pub trait Sink: Send {
    fn event(&mut self, e: &Event);
    fn progress(&mut self, _line: &str) {}
}

/// What the campaign found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub finished: Option<FuzzFinished>,
    pub findings: Vec<CrashFound>,
}

impl Outcome {
    /// Distinct reproduced findings (new signatures that are not `not_reproduced`).
    pub fn unique(&self) -> Vec<&CrashFound> {
        self.findings
            .iter()
            .filter(|f| f.new_signature && f.kind != FindingKind::NotReproduced)
            .collect()
    }
}

/// Errors that stop a campaign before or around its cases (never a finding).
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("{0}")]
    Setup(String),
    #[error("cannot start the sandbox")]
    Exec(#[source] ExecError),
}

struct Dirs {
    /// Kept for its drop: the work directory is removed with it.
    _work: WorkDir,
    corpus: CaseDir,
    artifacts: CaseDir,
    logs: CaseDir,
    /// Ours: inputs copied out of the case's directories for replays.
    inputs: CaseDir,
}

fn io(what: &str, p: &Path) -> impl FnOnce(std::io::Error) -> CampaignError {
    let msg = format!("{what} {}", p.display());
    move |e| CampaignError::Setup(format!("{msg}: {e}"))
}

impl Dirs {
    fn create(c: &Campaign) -> Result<Dirs, CampaignError> {
        std::fs::create_dir_all(&c.corpus).map_err(io("cannot create", &c.corpus))?;
        std::fs::create_dir_all(&c.artifacts).map_err(io("cannot create", &c.artifacts))?;
        // The work directory sits beside the artifacts (same filesystem, reachable by the
        // case uid like the target).
        let base = c
            .artifacts
            .canonicalize()
            .map_err(io("cannot resolve", &c.artifacts))?;
        let base = base.parent().unwrap_or(&base).to_path_buf();
        let work = WorkDir::create(&base, c.keep_work).map_err(CampaignError::Setup)?;
        let mk = |p: &str| {
            work.case_dir(p).map_err(|e| {
                CampaignError::Setup(format!("cannot create {p} in the work directory: {e}"))
            })
        };
        let corpus = mk("corpus")?;
        // The seeds: the user's corpus, copied in under their SHA-1 (the case only reads and
        // adds).
        let mut seeds = read_inputs(&c.corpus)?;
        if seeds.is_empty() && c.run.afl.is_some() {
            // afl-fuzz refuses an empty -i directory (libFuzzer starts from nothing): one
            // byte to start from, as ClusterFuzz gives AFL++.
            seeds.push((PathBuf::new(), b" ".to_vec()));
        }
        for (_, data) in seeds {
            let name = libfuzzer::sha1_hex(&data);
            let _ = corpus.write_file(OsStr::new(&name), &data, 0o644);
        }
        let artifacts = mk("artifacts")?;
        let logs = mk("logs")?;
        let inputs = work
            .dir("inputs")
            .map_err(|e| CampaignError::Setup(format!("cannot create inputs: {e}")))?;
        for d in [&corpus, &artifacts, &logs] {
            work.lend(d).map_err(|e| {
                CampaignError::Setup(format!("cannot lend {}: {e}", d.path().display()))
            })?;
        }
        Ok(Dirs {
            _work: work,
            corpus,
            artifacts,
            logs,
            inputs,
        })
    }
}

/// The regular files of a directory (not recursive) or a file, by name, each at most
/// [`MAX_INPUT_BYTES`]; hidden files are skipped.
pub fn read_inputs(p: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, CampaignError> {
    let md = std::fs::metadata(p).map_err(io("cannot read", p))?;
    if md.is_file() {
        let data = std::fs::read(p).map_err(io("cannot read", p))?;
        return Ok(vec![(p.to_path_buf(), data)]);
    }
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(p)
        .map_err(io("cannot list", p))?
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    for f in names {
        let hidden = f
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden || !f.is_file() {
            continue;
        }
        let data = std::fs::read(&f).map_err(io("cannot read", &f))?;
        if data.len() as u64 <= MAX_INPUT_BYTES {
            out.push((f, data));
        }
    }
    Ok(out)
}

/// Names of the entries of a directory a case writes (listed, never followed).
fn names(dir: &CaseDir) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.path())
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Writes `data` into the user's directory `dir` as `name` unless it is there already.
fn save(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<PathBuf> {
    let p = dir.join(name);
    if !p.exists() {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, data)?;
        std::fs::rename(&tmp, &p)?;
    }
    Ok(p)
}

/// The events of the campaign, shared by the dispatch (on the calling thread) and the
/// monitor thread.
struct Shared<'a> {
    sink: Mutex<&'a mut dyn Sink>,
    /// Index of the next case of a triage dispatch in the event stream.
    next_index: Mutex<u64>,
}

impl Shared<'_> {
    fn emit(&self, e: &Event) {
        self.sink.lock().unwrap_or_else(|e| e.into_inner()).event(e);
    }
    fn progress(&self, line: &str) {
        self.sink
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .progress(line);
    }
}

/// Forwards a dispatch's case events into the campaign's stream.
struct Forward<'a, 'b>(&'a Shared<'b>);

impl Reporter for Forward<'_, '_> {
    fn event(&mut self, e: &Event) {
        if !matches!(e, Event::RunStarted(_) | Event::RunFinished(_)) {
            self.0.emit(e);
        }
    }
}

/// The worker cases: each attempt gets what is left of the budget and a log of its own.
struct Workers<'a> {
    c: &'a Campaign,
    dirs: &'a Dirs,
    deadline: Option<Instant>,
}

impl Workers<'_> {
    fn log_name(index: usize) -> String {
        format!("worker-{index}.log")
    }
}

impl<E: Executor> Work<E> for Workers<'_> {
    fn attempt(&self, exec: &mut E, unit: &Unit, index: usize) -> Result<Attempt, ExecError> {
        let left = self.deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1))
        });
        let log = self.dirs.logs.path().join(Self::log_name(index));
        let spec = match &self.c.run.afl {
            // AFL++'s sync directory is the artifacts directory.
            Some(afl) => afl.worker(
                &self.c.run,
                self.dirs.corpus.path(),
                self.dirs.artifacts.path(),
                &log,
                index,
                self.c.workers,
                left,
            ),
            None => self.c.run.worker(
                self.dirs.corpus.path(),
                self.dirs.artifacts.path(),
                &log,
                left,
                &self.c.engine_args,
            ),
        };
        exec.run(&spec, unit.tier).map(Attempt::of)
    }
}

/// Restarts stop once the budget is spent, the run is cancelled, or a worker ended the way
/// libFuzzer ends when it is done (exit status 0: `-runs` or `-max_total_time` reached);
/// only a worker that stopped on a finding is started again.
struct Budget<'a> {
    deadline: Option<Instant>,
    cancel: &'a AtomicBool,
}

impl SkipRule for Budget<'_> {
    fn triggers(&self, finished: &CaseFinished) -> bool {
        finished.result.exit_code == Some(0)
            || self.cancel.load(Ordering::Relaxed)
            || self
                .deadline
                .is_some_and(|d| Instant::now() + Duration::from_secs(1) >= d)
    }
    fn skips(&self, _done: usize, _later: usize) -> bool {
        true
    }
}

/// Findings so far, by signature.
#[derive(Default)]
struct Findings {
    seen_artifacts: BTreeSet<String>,
    per_signature: HashMap<String, usize>,
    list: Vec<CrashFound>,
}

/// Runs the campaign on `pool` (its workers) with `triage_exec` (one more executor, for
/// replays and minimization while the workers run).
pub fn run(
    c: &Campaign,
    pool: &Pool<SandboxExecutor>,
    triage_exec: SandboxExecutor,
    run_started: RunStarted,
    cancel: &AtomicBool,
    sink: &mut dyn Sink,
) -> Result<Outcome, CampaignError> {
    let dirs = Dirs::create(c)?;
    let start = Instant::now();
    let deadline = c.max_total_time.map(|t| start + t);
    let shared = Shared {
        sink: Mutex::new(sink),
        next_index: Mutex::new(0),
    };
    shared.emit(&Event::RunStarted(run_started));
    shared.emit(&Event::FuzzStarted(FuzzStarted {
        binary: c.run.binary.display().to_string(),
        engine: if c.run.afl.is_some() {
            "afl++"
        } else {
            "libfuzzer"
        }
        .into(),
        corpus: c.corpus.display().to_string(),
        artifacts: c.artifacts.display().to_string(),
        workers: c.workers as u32,
        max_total_time_ms: c.max_total_time.map(|t| t.as_millis() as u64),
        timeout_ms: c.run.timeout.as_millis() as u64,
        memory_bytes: c.run.cgroup_bytes(),
        engine_args: c.engine_args.clone(),
    }));

    // AFL++ does not stop on a finding: one case per worker.
    let starts = if c.run.afl.is_some() {
        1
    } else {
        STARTS_PER_WORKER
    };
    let units: Vec<Unit> = (0..c.workers * starts)
        .map(|i| {
            let spec = c.run.worker(
                dirs.corpus.path(),
                dirs.artifacts.path(),
                Path::new("/dev/null"),
                c.max_total_time,
                &c.engine_args,
            );
            c.run.unit(format!("worker {}", i), spec)
        })
        .collect();
    let work = Workers {
        c,
        dirs: &dirs,
        deadline,
    };
    let budget = Budget { deadline, cancel };
    let done = AtomicBool::new(false);
    let findings = Mutex::new(Findings::default());
    let mut triage_exec = triage_exec;
    *shared.next_index.lock().unwrap_or_else(|e| e.into_inner()) = units.len() as u64;

    let finished = std::thread::scope(|s| {
        let monitor = s.spawn(|| {
            let mut mon = Monitor {
                c,
                dirs: &dirs,
                shared: &shared,
                findings: &findings,
                start,
                last: (Instant::now(), 0),
                logs: BTreeMap::new(),
            };
            let mut next_stats = Instant::now() + c.stats_every;
            loop {
                let stop = done.load(Ordering::Acquire);
                mon.triage_new(&mut triage_exec, cancel);
                if stop || Instant::now() >= next_stats {
                    mon.stats(c.workers as u32);
                    next_stats = Instant::now() + c.stats_every;
                }
                if stop {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            mon.totals()
        });
        let opts = Options {
            workers: c.workers,
            ..Default::default()
        };
        let mut fwd = Forward(&shared);
        let rf = hatchery_engine::run(
            pool,
            &units,
            &work,
            &opts,
            Some(&budget),
            None,
            cancel,
            &mut fwd,
        );
        done.store(true, Ordering::Release);
        let totals = monitor.join().unwrap_or_default();
        (rf, totals)
    });
    let (rf, totals) = finished;

    // New corpus inputs go back to the user's corpus, named by their SHA-1.
    // AFL++'s queues hold the seeds too: the corpus size counts distinct inputs.
    let mut kept = BTreeSet::new();
    let mut keep = |data: Vec<u8>| {
        let sha = libfuzzer::sha1_hex(&data);
        let _ = save(&c.corpus, &sha, &data);
        kept.insert(sha);
    };
    if c.run.afl.is_some() {
        for rel in crate::afl::queue(&dirs.artifacts) {
            if let Ok(Some(data)) = dirs.artifacts.read(&rel, MAX_INPUT_BYTES) {
                keep(data);
            }
        }
    }
    for name in names(&dirs.corpus) {
        if let Ok(Some(data)) =
            fsat::read_beneath(dirs.corpus.fd(), Path::new(&name), MAX_INPUT_BYTES)
        {
            keep(data);
        }
    }
    let corpus_size = kept.len() as u64;
    let mut worker_errors = rf.worker_errors.clone();
    if c.run.afl.is_some() {
        worker_errors.extend(crate::afl::abort_reasons(&dirs.logs));
    }
    let findings = findings.into_inner().unwrap_or_else(|e| e.into_inner());
    if c.run.afl.is_none() && totals.execs == 0 && findings.list.is_empty() {
        // No worker fuzzed: what the target (or the dynamic loader) said before it stopped.
        worker_errors.extend(start_failures(&dirs.logs));
    }
    let unique = findings
        .list
        .iter()
        .filter(|f| f.new_signature && f.kind != FindingKind::NotReproduced)
        .count() as u64;
    let fin = FuzzFinished {
        execs: totals.execs,
        duration_ms: start.elapsed().as_millis() as u64,
        corpus_size,
        features: totals.features,
        crashes: findings.list.len() as u64,
        unique_crashes: unique,
        worker_errors,
        interrupted: rf.interrupted || cancel.load(Ordering::Relaxed),
    };
    shared.emit(&Event::FuzzFinished(fin.clone()));
    shared.emit(&Event::RunFinished(rf));
    drop(dirs);
    Ok(Outcome {
        finished: Some(fin),
        findings: findings.list,
    })
}

/// Lines of a worker log kept when no worker started fuzzing.
const START_FAILURE_LINES: usize = 4;
/// How a worker error from [`start_failures`] begins.
pub const START_FAILURE: &str = "the target stopped before fuzzing";

/// The last lines of each worker log (distinct ones, in order): why the target stopped before
/// it ran an input (e.g. `error while loading shared libraries: ...`).
fn start_failures(logs: &CaseDir) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names(logs) {
        let Ok(Some(data)) = fsat::read_beneath(logs.fd(), Path::new(&name), MAX_LOG_BYTES) else {
            continue;
        };
        let text = String::from_utf8_lossy(&data);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(START_FAILURE_LINES)..].join("\n");
        if !tail.is_empty() && !out.iter().any(|o| o.ends_with(&tail)) {
            out.push(format!("{START_FAILURE} ({name}):\n{tail}"));
        }
    }
    out
}

#[derive(Default)]
struct Totals {
    execs: u64,
    features: u64,
    coverage: u64,
    rss_mb: u64,
    /// The engine's own execs/s (AFL++'s, summed over its fuzzers), when it reports one.
    rate: Option<u64>,
    /// What the progress line adds for this engine.
    suffix: String,
}

struct Monitor<'a, 'b> {
    c: &'a Campaign,
    dirs: &'a Dirs,
    shared: &'a Shared<'b>,
    findings: &'a Mutex<Findings>,
    start: Instant,
    /// When the last stats were taken and the executions then.
    last: (Instant, u64),
    /// Each worker log, read incrementally.
    logs: BTreeMap<String, LogTail>,
}

/// A worker log read from where the last read stopped (libFuzzer appends to it): only whole
/// lines are parsed, the last status is kept.
#[derive(Default)]
struct LogTail {
    offset: u64,
    partial: Vec<u8>,
    status: Option<Status>,
}

impl LogTail {
    /// Reads what was appended since the last call (at most [`MAX_LOG_BYTES`] at a time).
    fn update(&mut self, dir: &CaseDir, name: &str) {
        use std::io::{Read as _, Seek as _, SeekFrom};
        let Ok(Some(mut f)) = fsat::open_regular_beneath(dir.fd(), Path::new(name)) else {
            return;
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = std::mem::take(&mut self.partial);
        let Ok(n) = f.take(MAX_LOG_BYTES).read_to_end(&mut buf) else {
            return;
        };
        self.offset += n as u64;
        let whole = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.partial = buf.split_off(whole);
        if let Some(st) = libfuzzer::last_status(&String::from_utf8_lossy(&buf)) {
            let prev = self.status.unwrap_or_default();
            // Final statistics can come after the last status line: `last_status` applied them.
            self.status = Some(Status {
                execs: st.execs.max(prev.execs),
                ..st
            });
        } else if let Some(n) = libfuzzer::final_execs(&String::from_utf8_lossy(&buf)) {
            if let Some(s) = self.status.as_mut() {
                s.execs = s.execs.max(n);
            }
        }
    }
}

impl Monitor<'_, '_> {
    fn totals(&mut self) -> Totals {
        if self.c.run.afl.is_some() {
            // AFL++ rewrites fuzzer_stats about once a minute (and when it stops): its
            // execs/s, an average since each fuzzer started, is steadier than a difference
            // of those counts.
            let st = crate::afl::read_stats(&self.dirs.artifacts);
            return Totals {
                execs: st.iter().map(|s| s.execs_done).sum(),
                features: st.iter().map(|s| s.edges_found).max().unwrap_or(0),
                coverage: st.iter().map(|s| s.edges_found).max().unwrap_or(0),
                rss_mb: st.iter().map(|s| s.peak_rss_mb).max().unwrap_or(0),
                rate: Some(st.iter().map(|s| s.execs_per_sec).sum::<f64>() as u64),
                suffix: crate::afl::progress_suffix(&st),
            };
        }
        for name in names(&self.dirs.logs) {
            self.logs
                .entry(name.clone())
                .or_default()
                .update(&self.dirs.logs, &name);
        }
        let statuses: Vec<Status> = self.logs.values().filter_map(|l| l.status).collect();
        statuses.iter().fold(Totals::default(), |t, s| Totals {
            execs: t.execs + s.execs,
            features: t.features.max(s.features),
            coverage: t.coverage.max(s.cov),
            rss_mb: t.rss_mb.max(s.rss_mb),
            ..t
        })
    }

    fn stats(&mut self, workers: u32) {
        let t = self.totals();
        let now = Instant::now();
        let dt = now.duration_since(self.last.0).as_secs_f64();
        let rate = match t.rate {
            Some(r) => r,
            None if dt > 0.0 => (t.execs.saturating_sub(self.last.1) as f64 / dt) as u64,
            None => 0,
        };
        self.last = (now, t.execs);
        let (crashes, unique) = {
            let f = self.findings.lock().unwrap_or_else(|e| e.into_inner());
            (f.list.len() as u64, f.per_signature.len() as u64)
        };
        let st = FuzzStats {
            elapsed_ms: self.start.elapsed().as_millis() as u64,
            execs: t.execs,
            execs_per_s: rate,
            corpus_size: match self.c.run.afl {
                Some(_) => crate::afl::queue(&self.dirs.artifacts).len() as u64,
                None => names(&self.dirs.corpus).len() as u64,
            },
            features: t.features,
            coverage: t.coverage,
            rss_mb: t.rss_mb,
            crashes,
            unique_crashes: unique,
            workers,
        };
        self.shared.progress(&format!(
            "[{:>6.1}s] execs {} ({}/s)  cov {}  ft {}  corpus {}  crashes {} ({} unique){}",
            st.elapsed_ms as f64 / 1000.0,
            st.execs,
            st.execs_per_s,
            st.coverage,
            st.features,
            st.corpus_size,
            st.crashes,
            st.unique_crashes,
            t.suffix
        ));
        self.shared.emit(&Event::FuzzStats(st));
    }

    /// Triages every artifact not seen yet.
    fn triage_new(&mut self, exec: &mut SandboxExecutor, cancel: &AtomicBool) {
        if self.c.run.afl.is_some() {
            return self.triage_new_afl(exec, cancel);
        }
        let fresh: Vec<String> = {
            let f = self.findings.lock().unwrap_or_else(|e| e.into_inner());
            names(&self.dirs.artifacts)
                .into_iter()
                .filter(|n| libfuzzer::is_artifact_name(n) && !f.seen_artifacts.contains(n))
                .collect()
        };
        for name in fresh {
            if cancel.load(Ordering::Relaxed) {
                return;
            }
            let data = match fsat::read_beneath(
                self.dirs.artifacts.fd(),
                Path::new(&name),
                MAX_INPUT_BYTES,
            ) {
                Ok(Some(d)) => d,
                // Not a regular file (or still being written): look again later.
                _ => continue,
            };
            self.findings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .seen_artifacts
                .insert(name.clone());
            if name.starts_with("slow-unit-") {
                continue;
            }
            let prefix = name.split('-').next().unwrap_or("crash");
            if let Some(found) = self.triage_one(exec, prefix, &data) {
                self.record(found);
            }
        }
    }

    fn record(&self, found: CrashFound) {
        self.shared
            .emit(&Event::CrashFound(Box::new(found.clone())));
        self.findings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .push(found);
    }

    /// Triages every AFL++ finding (`crashes/`, `hangs/` of every fuzzer) not seen yet.
    fn triage_new_afl(&mut self, exec: &mut SandboxExecutor, cancel: &AtomicBool) {
        for (rel, prefix) in crate::afl::findings(&self.dirs.artifacts) {
            let key = rel.to_string_lossy().into_owned();
            if cancel.load(Ordering::Relaxed) {
                return;
            }
            let seen = {
                let f = self.findings.lock().unwrap_or_else(|e| e.into_inner());
                f.seen_artifacts.contains(&key)
            };
            if seen {
                continue;
            }
            let Ok(Some(data)) = self.dirs.artifacts.read(&rel, MAX_INPUT_BYTES) else {
                continue;
            };
            self.findings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .seen_artifacts
                .insert(key);
            if let Some(found) = self.triage_one(exec, prefix, &data) {
                self.record(found);
            }
        }
    }

    fn triage_one(
        &self,
        exec: &mut SandboxExecutor,
        prefix: &str,
        data: &[u8],
    ) -> Option<CrashFound> {
        let t = Triager {
            run: &self.c.run,
            inputs: &self.dirs.inputs,
            cwd: self.dirs.inputs.path(),
            shared: self.shared,
        };
        let (result, tri) = t.replay(exec, data)?;
        let sig = tri.signature();
        let (new_signature, keep) = {
            let mut f = self.findings.lock().unwrap_or_else(|e| e.into_inner());
            let n = f.per_signature.entry(sig.clone()).or_insert(0);
            *n += 1;
            (*n == 1, *n <= KEEP_PER_SIGNATURE)
        };
        // libFuzzer's name for what the replay showed (a `crash-` that replays as a leak is
        // a `leak-`); what did not reproduce keeps the name libFuzzer gave it.
        let kind_prefix = match tri.kind {
            FindingKind::Crash => "crash",
            FindingKind::Timeout => "timeout",
            FindingKind::Oom => "oom",
            FindingKind::Leak => "leak",
            FindingKind::NotReproduced => prefix,
        };
        let sha = libfuzzer::sha1_hex(data);
        let name = format!("{kind_prefix}-{sha}");
        let artifact = if keep {
            save(&self.c.artifacts, &name, data).unwrap_or_else(|_| self.c.artifacts.join(&name))
        } else {
            self.c.artifacts.join(&name)
        };
        let mut minimized = None;
        let reproducible = matches!(tri.kind, FindingKind::Crash | FindingKind::Leak);
        if let (true, true, Some(budget)) = (new_signature, reproducible, self.c.minimize) {
            if let Some(min) = t.minimize(exec, data, &sig, budget) {
                if min.len() < data.len() {
                    let mname = format!("minimized-from-{sha}");
                    if let Ok(p) = save(&self.c.artifacts, &mname, &min) {
                        minimized = Some((p, min.len() as u64));
                    }
                }
            }
        }
        let reproduce = self.c.run.repro_command(
            minimized
                .as_ref()
                .map_or(artifact.as_path(), |(p, _)| p.as_path()),
        );
        Some(CrashFound {
            kind: tri.kind,
            reason: tri.reason.clone(),
            signature: sig,
            frames: tri.frames.clone(),
            artifact: artifact.display().to_string(),
            size: data.len() as u64,
            input_base64: base64::engine::general_purpose::STANDARD.encode(data),
            new_signature,
            minimized: minimized.as_ref().map(|(p, _)| p.display().to_string()),
            minimized_size: minimized.map(|(_, n)| n),
            reproduce,
            replay: result.with_output_kept(64 << 10),
        })
    }
}

/// Replays and minimizes inputs as cases on one executor.
pub(crate) struct Triager<'a, 'b> {
    run: &'a TargetRun,
    /// Our directory for copies of the inputs (the case reads them).
    inputs: &'a CaseDir,
    cwd: &'a Path,
    shared: &'a Shared<'b>,
}

impl Triager<'_, '_> {
    /// Runs one unit as its own dispatch, its events in the campaign's stream.
    fn dispatch(&self, exec: &mut SandboxExecutor, unit: Unit) -> Option<CaseResult> {
        let index = {
            let mut n = self
                .shared
                .next_index
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *n += 1;
            *n - 1
        };
        let pool = Pool::new(vec![exec.take()]);
        let opts = Options {
            workers: 1,
            first_index: index,
            ..Default::default()
        };
        let never = AtomicBool::new(false);
        let mut keep = Keep {
            fwd: Forward(self.shared),
            last: None,
        };
        let units = [unit];
        hatchery_engine::run(
            &pool,
            &units,
            &hatchery_engine::RunSpec,
            &opts,
            None,
            None,
            &never,
            &mut keep,
        );
        if let Some(back) = pool.into_executors().pop() {
            *exec = back;
        }
        keep.last
    }

    /// Replays `data` (copied into our inputs directory) and classifies what happened.
    pub(crate) fn replay(
        &self,
        exec: &mut SandboxExecutor,
        data: &[u8],
    ) -> Option<(CaseResult, Triage)> {
        let name = libfuzzer::sha1_hex(data);
        let _ = self.inputs.write_file(OsStr::new(&name), data, 0o644);
        let input = self.inputs.path().join(&name);
        let spec = self.run.replay(&input, self.cwd);
        let r = self.dispatch(exec, self.run.unit(format!("replay {name}"), spec))?;
        let t = triage::classify(&r);
        Some((r, t))
    }

    /// libFuzzer's `-minimize_crash` in the sandbox, then the result replayed: kept only when
    /// its signature is `sig`.
    fn minimize(
        &self,
        exec: &mut SandboxExecutor,
        data: &[u8],
        sig: &str,
        budget: Duration,
    ) -> Option<Vec<u8>> {
        let name = libfuzzer::sha1_hex(data);
        let _ = self.inputs.write_file(OsStr::new(&name), data, 0o644);
        let input = self.inputs.path().join(&name);
        // libFuzzer writes the result into a directory of the case's.
        let out_dir = self.shared_out_dir()?;
        let out = out_dir.path().join("minimized");
        let spec = self.run.minimize(&input, &out, out_dir.path(), budget);
        self.dispatch(exec, self.run.unit(format!("minimize {name}"), spec))?;
        let min =
            fsat::read_beneath(out_dir.fd(), Path::new("minimized"), MAX_INPUT_BYTES).ok()??;
        let (_, t) = self.replay(exec, &min)?;
        (t.signature() == sig).then_some(min)
    }

    fn shared_out_dir(&self) -> Option<CaseDir> {
        // A fresh case directory beside our inputs directory.
        let parent = self.inputs.path().parent()?;
        let fd = fsat::open_dir(parent).ok()?;
        let name = format!("minimize-{}", NEXT_MIN.fetch_add(1, Ordering::Relaxed));
        let d = CaseDir::create(std::os::fd::AsFd::as_fd(&fd), parent, OsStr::new(&name)).ok()?;
        let ids = hatchery_sandbox::ids::lent();
        d.lend(ids, 0o700).ok()?;
        Some(d)
    }
}

static NEXT_MIN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Forwards events and keeps the last result.
struct Keep<'a, 'b> {
    fwd: Forward<'a, 'b>,
    last: Option<CaseResult>,
}

impl Reporter for Keep<'_, '_> {
    fn event(&mut self, e: &Event) {
        if let Event::CaseFinished(cf) = e {
            self.last = Some(cf.result.clone());
        }
        self.fwd.event(e);
    }
}
