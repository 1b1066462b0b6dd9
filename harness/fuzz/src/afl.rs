//! AFL++ targets (`afl-cc` builds, forkserver or persistent mode): `afl-fuzz` itself runs as
//! a long-running case, so it, its forkserver and every execution of the target live in the
//! case's namespaces, cgroup, seccomp filter and Landlock domain under the leased host uid
//! (the coverage map is SysV shared memory of the case's own IPC namespace). `-j N` runs a
//! main (`-M`) and secondaries (`-S`) sharing one sync directory. What AFL++ writes is read
//! back through descriptors: `fuzzer_stats` into `fuzz_stats`, `crashes/` and `hangs/` into
//! the campaign's triage under libFuzzer's names, `queue/` into the user's corpus. Findings
//! are minimized with `afl-tmin` inside the sandbox (the campaign keeps the result only when
//! its replay has the same signature).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hatchery_sandbox::fsat::{self, CaseDir};
use hatchery_sandbox::{CaseSpec, Stdin};

use crate::target::TargetRun;

/// Largest `fuzzer_stats` read.
const MAX_STATS_BYTES: u64 = 64 << 10;

/// The worker's output (AFL++'s `AFL_NO_UI` status lines and its errors) goes to a log the
/// front end can read while it runs; the shell execs `afl-fuzz`.
const LOG_WRAPPER: &str = r#"exec "$0" "$@" >>"$HATCHERY_FUZZ_LOG" 2>&1"#;

/// Options `hatchery` sets itself (the corpus, the sync directory, the fuzzer names).
const OWN_OPTIONS: [&str; 4] = ["-i", "-o", "-M", "-S"];

/// An AFL++ target: the flags for `afl-fuzz` and the target's own arguments (`@@`: the
/// input's path; without it the input is the target's stdin, as in AFL++).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AflTarget {
    pub afl_args: Vec<String>,
    pub target_args: Vec<String>,
    /// `--timeout` when given: AFL++'s `-t`. Without it AFL++ calibrates its own (at most
    /// 1 s) and saves to `hangs/` only what still runs past max(1 s, that limit).
    pub exec_timeout: Option<Duration>,
}

impl AflTarget {
    /// `AFL_ARGS [-- TARGET_ARGS]`, as given after `--` on our command line.
    pub fn parse(args: &[String]) -> Result<AflTarget, String> {
        let (afl, target) = match args.iter().position(|a| a == "--") {
            Some(i) => (&args[..i], &args[i + 1..]),
            None => (args, &[][..]),
        };
        if let Some(o) = afl.iter().find(|a| OWN_OPTIONS.contains(&a.as_str())) {
            return Err(format!(
                "afl-fuzz {o} is set by hatchery (--corpus is -i, the work directory is -o, \
                 -j names the -M/-S fuzzers)"
            ));
        }
        Ok(AflTarget {
            afl_args: afl.to_vec(),
            target_args: target.to_vec(),
            exec_timeout: None,
        })
    }

    fn reads_file(&self) -> bool {
        self.target_args.iter().any(|a| a.contains("@@"))
    }

    /// The target's argv, `@@` replaced by `input` when given.
    fn target_argv(&self, run: &TargetRun, input: Option<&Path>) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec![run.binary.clone().into()];
        for a in &self.target_args {
            argv.push(match input {
                Some(p) => a.replace("@@", &p.to_string_lossy()).into(),
                None => a.into(),
            });
        }
        argv
    }

    /// `-t MS` unless the AFL++ flags set it: `--timeout` when given, otherwise for
    /// `afl-tmin` the campaign's per-input timeout (it has no calibration of its own).
    fn timeout_flag(&self, fallback: Option<Duration>) -> Vec<OsString> {
        if self.afl_args.iter().any(|a| a == "-t") {
            return Vec::new();
        }
        match self.exec_timeout.or(fallback) {
            Some(t) => vec![
                "-t".into(),
                (t.as_millis() as u64).max(5).to_string().into(),
            ],
            None => Vec::new(),
        }
    }

    /// Environment of `afl-fuzz` and `afl-tmin`: AFL++'s own settings from our environment
    /// (`AFL_*`), then ours. Sanitizer options are left to AFL++ (it sets the ones it needs,
    /// `abort_on_error=1:symbolize=0`, and refuses others).
    fn afl_env(spec: &mut CaseSpec) {
        spec.env
            .retain(|(k, _)| !k.to_string_lossy().ends_with("_OPTIONS"));
        for (k, v) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AFL_") {
                spec.env.push((k, v));
            }
        }
        // The case's /sys shows the host's CPU frequency governor, which is not ours to set.
        spec.env.push(("AFL_SKIP_CPUFREQ".into(), "1".into()));
        spec.env.push(("AFL_NO_UI".into(), "1".into()));
        // A restarted worker continues in its own output directory.
        spec.env.push(("AFL_AUTORESUME".into(), "1".into()));
        // AFL++ refuses to start when core dumps go to a program (`|...` in core_pattern):
        // such a helper delays the crash's wait status, so a crash could look like a hang. It
        // detects crashes from the forkserver's wait status, never from core files, and our
        // triage replays hangs too, so a late crash is still classified as a crash. Set only
        // when the host's core_pattern is a pipe.
        if core_pattern_is_pipe() {
            spec.env
                .push(("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES".into(), "1".into()));
        }
    }

    /// Campaign worker `index` of `workers`: `afl-fuzz -i corpus -o sync -M|-S worker-N`,
    /// bound to a CPU of its own when there are enough, stopping after `max_total_time`
    /// (`-V`), its output appended to `log`.
    #[allow(clippy::too_many_arguments)]
    pub fn worker(
        &self,
        run: &TargetRun,
        corpus: &Path,
        sync: &Path,
        log: &Path,
        index: usize,
        workers: usize,
        max_total_time: Option<Duration>,
    ) -> CaseSpec {
        let mut argv: Vec<OsString> = vec![
            "/bin/sh".into(),
            "-c".into(),
            LOG_WRAPPER.into(),
            "afl-fuzz".into(),
            "-i".into(),
            corpus.into(),
            "-o".into(),
            sync.into(),
            if index == 0 { "-M" } else { "-S" }.into(),
            fuzzer_name(index).into(),
            // Memory is limited by the case's cgroup, never by RLIMIT_AS (ASan).
            "-m".into(),
            "none".into(),
        ];
        if let Some(t) = max_total_time {
            argv.push("-V".into());
            argv.push(t.as_secs().max(1).to_string().into());
        }
        argv.extend(self.timeout_flag(None));
        // AFL++ looks for a free CPU by reading every process's affinity in /proc, but from
        // the case's pid namespace it sees only its own: every worker would take the first
        // CPU. Each gets the CPU the engine would pin worker `index` to (consecutive allowed
        // CPUs); with more workers than CPUs none is bound, as the engine does.
        let mut no_affinity = false;
        // Unless the user chose: `-b`, or AFL_NO_AFFINITY (which AFL++ refuses with `-b`).
        let user_chose = self.afl_args.iter().any(|a| a == "-b")
            || std::env::var_os("AFL_NO_AFFINITY").is_some();
        if !user_chose {
            match hatchery_sandbox::affinity::cpu_for_worker(index, workers) {
                Some(cpu) => {
                    argv.push("-b".into());
                    argv.push(cpu.to_string().into());
                }
                None => no_affinity = true,
            }
        }
        argv.extend(self.afl_args.iter().map(OsString::from));
        argv.push("--".into());
        argv.extend(self.target_argv(run, Some(Path::new("@@"))));
        let wall = max_total_time.map(|t| t + run.timeout * 2 + Duration::from_secs(60));
        let mut spec = run.spec(argv, sync, wall);
        Self::afl_env(&mut spec);
        spec.env.push(("HATCHERY_FUZZ_LOG".into(), log.into()));
        if no_affinity {
            spec.env.push(("AFL_NO_AFFINITY".into(), "1".into()));
        }
        spec
    }

    /// One run of the target on `input` (a file the case may read): `@@` or stdin. The case's
    /// wall limit is AFL++'s timeout, so a hang replays as a timeout.
    pub fn replay(&self, run: &TargetRun, input: &Path, cwd: &Path) -> CaseSpec {
        let argv = self.target_argv(run, Some(input));
        let mut spec = run.spec(argv, cwd, Some(run.timeout));
        if !self.reads_file() {
            spec.stdin = Some(Stdin::Trusted(input.to_path_buf()));
        }
        // Abort on a sanitizer finding as under afl-fuzz; symbolized frames for the signature.
        spec.env.retain(|(k, _)| k != "ASAN_OPTIONS");
        spec.env.push((
            "ASAN_OPTIONS".into(),
            "abort_on_error=1:symbolize=1:detect_leaks=1".into(),
        ));
        spec.env.push(("RUST_BACKTRACE".into(), "1".into()));
        spec
    }

    /// `afl-tmin` on `input` inside the sandbox, writing the smallest input that still crashes
    /// to `out`, for at most `budget`.
    pub fn minimize(
        &self,
        run: &TargetRun,
        input: &Path,
        out: &Path,
        cwd: &Path,
        budget: Duration,
    ) -> CaseSpec {
        let mut argv: Vec<OsString> = vec![
            "afl-tmin".into(),
            "-i".into(),
            input.into(),
            "-o".into(),
            out.into(),
            "-m".into(),
            "none".into(),
        ];
        argv.extend(self.timeout_flag(Some(run.timeout)));
        argv.push("--".into());
        argv.extend(self.target_argv(run, Some(Path::new("@@"))));
        let wall = budget + run.timeout * 2 + Duration::from_secs(10);
        let mut spec = run.spec(argv, cwd, Some(wall));
        Self::afl_env(&mut spec);
        spec
    }

    /// A shell command that reproduces a finding.
    pub fn repro_command(&self, run: &TargetRun, artifact: &Path) -> String {
        let mut s = format!(
            "hatchery fuzz repro --afl{} --binary {} {}",
            run.env_flags(),
            crate::target::shell_word(&run.binary.to_string_lossy()),
            crate::target::shell_word(&artifact.to_string_lossy())
        );
        for a in &self.target_args {
            s.push_str(" --target-arg ");
            s.push_str(&crate::target::shell_word(a));
        }
        s
    }
}

/// Where `afl-fuzz` is, in the sandbox's `PATH` (`None`: AFL++ is not installed).
pub fn find_afl_fuzz() -> Option<PathBuf> {
    std::env::split_paths(crate::target::SANDBOX_PATH)
        .map(|d| d.join("afl-fuzz"))
        .find(|f| f.is_file())
}

/// The name of worker `index` (its directory in the sync directory).
pub fn fuzzer_name(index: usize) -> String {
    if index == 0 {
        "main".into()
    } else {
        format!("secondary-{index}")
    }
}

fn core_pattern_is_pipe() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/core_pattern").is_ok_and(|s| s.starts_with('|'))
}

/// What one AFL++ fuzzer reports in `fuzzer_stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub execs_done: u64,
    /// AFL++'s average since the fuzzer started.
    pub execs_per_sec: f64,
    pub corpus_count: u64,
    /// Share of the coverage map seen, percent.
    pub bitmap_cvg: f64,
    pub edges_found: u64,
    pub saved_crashes: u64,
    pub saved_hangs: u64,
    pub peak_rss_mb: u64,
}

/// Parses `fuzzer_stats` (`key : value` lines). AFL++ before 4.0 said `unique_crashes` and
/// `unique_hangs`, and `paths_total` for the corpus.
pub fn parse_stats(text: &str) -> Option<Stats> {
    let mut s = Stats::default();
    let mut seen = false;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().trim_end_matches('%');
        let int = || v.parse::<u64>().ok();
        // AFL++ prints `inf` or `nan` for a rate over no time yet: no rate.
        let real = || {
            v.parse::<f64>()
                .ok()
                .map(|x| if x.is_finite() { x } else { 0.0 })
        };
        match k.trim() {
            "execs_done" => s.execs_done = int()?,
            "execs_per_sec" => s.execs_per_sec = real()?,
            "corpus_count" | "paths_total" => s.corpus_count = int()?,
            "bitmap_cvg" => s.bitmap_cvg = real()?,
            "edges_found" => s.edges_found = int()?,
            "saved_crashes" | "unique_crashes" => s.saved_crashes = int()?,
            "saved_hangs" | "unique_hangs" => s.saved_hangs = int()?,
            "peak_rss_mb" => s.peak_rss_mb = int()?,
            _ => continue,
        }
        seen = true;
    }
    seen.then_some(s)
}

/// Subdirectories of `dir` (not links), by name.
fn subdirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Entries of `dir` AFL++ names `id:...` (its inputs; not `README.txt`, not `.state`).
fn ids(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n.starts_with("id:"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every fuzzer's `fuzzer_stats` in the sync directory.
pub fn read_stats(sync: &CaseDir) -> Vec<Stats> {
    subdirs(sync.path())
        .into_iter()
        .filter_map(|f| {
            let data = sync
                .read(&Path::new(&f).join("fuzzer_stats"), MAX_STATS_BYTES)
                .ok()??;
            parse_stats(&String::from_utf8_lossy(&data))
        })
        .collect()
}

/// Every finding in the sync directory: its path relative to it and libFuzzer's name prefix
/// for it (`crashes/` → `crash`, `hangs/` → `timeout`).
pub fn findings(sync: &CaseDir) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    for f in subdirs(sync.path()) {
        for (sub, prefix) in [("crashes", "crash"), ("hangs", "timeout")] {
            let rel = Path::new(&f).join(sub);
            for id in ids(&sync.path().join(&rel)) {
                out.push((rel.join(id), prefix));
            }
        }
    }
    out
}

/// Every queue entry of every fuzzer in the sync directory, relative to it.
pub fn queue(sync: &CaseDir) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for f in subdirs(sync.path()) {
        let rel = Path::new(&f).join("queue");
        for id in ids(&sync.path().join(&rel)) {
            out.push(rel.join(id));
        }
    }
    out
}

/// How much of the end of a worker's log is searched for AFL++'s reason to stop.
const LOG_TAIL_BYTES: u64 = 64 << 10;

/// Why AFL++ stopped early, from the end of each worker log (`worker-N.log` in `logs`):
/// `[-] PROGRAM ABORT : <reason>` (a crashing or hanging seed, a target that is not
/// instrumented, ...), as `worker N: afl-fuzz: <reason>`.
pub fn abort_reasons(logs: &CaseDir) -> Vec<String> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut out = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(logs.path())
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for name in names {
        let Ok(Some(mut f)) = fsat::open_regular_beneath(logs.fd(), Path::new(&name)) else {
            continue;
        };
        let len = f.metadata().map_or(0, |m| m.len());
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))
            .and_then(|_| f.take(LOG_TAIL_BYTES).read_to_end(&mut buf))
            .is_err()
        {
            continue;
        }
        let text = strip_ansi(&String::from_utf8_lossy(&buf));
        if let Some(reason) = text
            .lines()
            .filter_map(|l| l.split_once("PROGRAM ABORT :").map(|(_, r)| r.trim()))
            .next_back()
        {
            let worker = name.trim_end_matches(".log").replace('-', " ");
            out.push(format!("{worker}: afl-fuzz: {reason}"));
        }
    }
    out
}

/// `text` without terminal escape sequences (`ESC [ ... letter`), which AFL++ prints even
/// when its output is not a terminal, and without other control characters (the log is
/// writable by the target).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if !c.is_control() || c == '\n' || c == '\t' {
            out.push(c);
        }
    }
    out
}

/// The progress line's AFL++ part: coverage and what AFL++ itself saved.
pub fn progress_suffix(stats: &[Stats]) -> String {
    let cvg = stats.iter().map(|s| s.bitmap_cvg).fold(0.0, f64::max);
    let crashes: u64 = stats.iter().map(|s| s.saved_crashes).sum();
    let hangs: u64 = stats.iter().map(|s| s.saved_hangs).sum();
    format!("  map {cvg:.2}%  afl crashes {crashes} hangs {hangs}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzer_stats() {
        let text = "start_time        : 1733330000\n\
                    execs_done        : 123456\n\
                    execs_per_sec     : 4115.20\n\
                    corpus_count      : 17\n\
                    bitmap_cvg        : 0.03%\n\
                    edges_found       : 21\n\
                    saved_crashes     : 2\n\
                    saved_hangs       : 1\n\
                    peak_rss_mb       : 3\n\
                    command_line      : afl-fuzz -i in -o out -- ./t\n";
        let s = parse_stats(text).unwrap();
        assert_eq!(
            s,
            Stats {
                execs_done: 123456,
                execs_per_sec: 4115.2,
                corpus_count: 17,
                bitmap_cvg: 0.03,
                edges_found: 21,
                saved_crashes: 2,
                saved_hangs: 1,
                peak_rss_mb: 3,
            }
        );
        let old = parse_stats("paths_total : 5\nunique_crashes : 3\nunique_hangs : 4\n").unwrap();
        assert_eq!(
            (old.corpus_count, old.saved_crashes, old.saved_hangs),
            (5, 3, 4)
        );
        assert_eq!(parse_stats("nothing here\n"), None);
        let early =
            parse_stats("execs_done : 8\nexecs_per_sec : inf\nbitmap_cvg : -nan%\n").unwrap();
        assert_eq!(
            (early.execs_done, early.execs_per_sec, early.bitmap_cvg),
            (8, 0.0, 0.0)
        );
    }

    #[test]
    fn terminal_escapes_are_dropped() {
        assert_eq!(
            strip_ansi("\u{1b}[1;91m[-] PROGRAM ABORT : \u{1b}[0mNo seeds!\u{1b}[1;91m\n"),
            "[-] PROGRAM ABORT : No seeds!\n"
        );
        assert_eq!(strip_ansi("a\u{7}b\rc\u{1b}]0;t\u{7}"), "abc0;t");
    }

    #[test]
    fn arguments() {
        let a = AflTarget::parse(&["-p".into(), "fast".into(), "--".into(), "@@".into()]).unwrap();
        assert_eq!(a.afl_args, ["-p", "fast"]);
        assert!(a.reads_file());
        let b = AflTarget::parse(&["-x".into(), "dict".into()]).unwrap();
        assert!(b.target_args.is_empty() && !b.reads_file());
        assert!(AflTarget::parse(&["-o".into(), "x".into()])
            .unwrap_err()
            .contains("-o"));
    }
}
