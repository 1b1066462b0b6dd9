//! `POST /judge`: a submission judged against a problem package installed on the server
//! (`--problems DIR`, packages addressed by name), by the judge front end's own code
//! (`hatchery_judge::Judge` on the engine), answered as server-sent events while it runs:
//!
//! - `compile`: the compilation's report (when the language compiles);
//! - `case`: one per judged test case, as it finishes (finishing order; the shape of a
//!   `cases[]` entry of `hatchery judge --json`);
//! - `result`: the judgement, exactly as `hatchery judge --json` prints it; the last event;
//! - `error` instead of `result` when judging could not be done (`{"error", "kind"}`, kinds
//!   as `hatchery judge --json`'s refusals: `bad_input`, `host_unsupported`, `judge_error`).
//!
//! Refusals before anything runs (a malformed body, an unknown package, a bad file name)
//! are plain HTTP errors. Judgings run one at a time, each on a pool of its own with the
//! server's number of workers; others wait for their turn with their stream open.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::sse::{Event, KeepAlive, Sse};
use hatchery_engine::ExecSettings;
use hatchery_judge::judge::{Judge, JudgeError, Submission, SubmissionKind};
use hatchery_judge::lang::LanguageTable;
use hatchery_judge::report::Events;
use hatchery_sandbox::policy::CgroupMode;
use hatchery_sandbox::workdir::WorkDir;
use hatchery_sandbox::Tier;
use serde::Deserialize;
use tokio::sync::{mpsc, Semaphore};

use crate::api::CmdFile;
use crate::exec::{BadRequest, Caps};
use crate::store::{Store, StoreError};

/// Longest package name.
const MAX_NAME: usize = 128;
/// Most source files in one submission.
const MAX_FILES: usize = 64;

/// One `POST /judge` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JudgeRequest {
    /// The package: a directory name inside `--problems`.
    pub problem: String,
    /// Source files by name (plain file names): inline `content` or a stored `fileId`.
    pub files: BTreeMap<String, CmdFile>,
    /// Language name or alias (`cpp`, `python3`, ...); default: from the entry point's (or
    /// the files') extension.
    #[serde(default)]
    pub language: Option<String>,
    /// The file that is the program's entry (one of `files`); default: the only source
    /// file, or one named `main`.
    #[serde(default)]
    pub entrypoint: Option<String>,
    /// Run every test case even after one failed (`hatchery judge --all-cases`).
    #[serde(default)]
    pub all_cases: bool,
}

/// What `/judge` needs of the server.
pub struct Problems {
    /// The packages' directory (canonical).
    dir: PathBuf,
    /// Where each judging's work directory is made.
    work_base: PathBuf,
    /// Server directories no case may see (the store, the spool).
    hidden: Vec<PathBuf>,
    zygote_exe: PathBuf,
    tier: Tier,
    cgroup: CgroupMode,
    workers: usize,
    caps: Caps,
    langs: LanguageTable,
    store: Arc<Store>,
    /// One judging at a time (each uses every worker).
    turn: Arc<Semaphore>,
}

/// What [`Problems::new`] is given.
pub struct ProblemsParts {
    pub dir: PathBuf,
    pub work_base: PathBuf,
    pub hidden: Vec<PathBuf>,
    pub zygote_exe: PathBuf,
    pub tier: Tier,
    pub cgroup: CgroupMode,
    pub workers: usize,
    pub caps: Caps,
    pub langs: LanguageTable,
    pub store: Arc<Store>,
}

impl Problems {
    pub fn new(p: ProblemsParts) -> Result<Problems, String> {
        let dir = std::fs::canonicalize(&p.dir)
            .map_err(|e| format!("--problems {}: {e}", p.dir.display()))?;
        if !dir.is_dir() {
            return Err(format!("--problems {}: not a directory", dir.display()));
        }
        Ok(Problems {
            dir,
            work_base: p.work_base,
            hidden: p.hidden,
            zygote_exe: p.zygote_exe,
            tier: p.tier,
            cgroup: p.cgroup,
            workers: p.workers.max(1),
            caps: p.caps,
            langs: p.langs,
            store: p.store,
            turn: Arc::new(Semaphore::new(1)),
        })
    }

    /// The package directory of `name`: a plain directory entry of `--problems` (letters,
    /// digits, `.`, `_`, `-`; not starting with `.`), a directory and not a link.
    pub fn package(&self, name: &str) -> Result<PathBuf, Refusal> {
        if !package_name_ok(name) {
            return Err(Refusal::Bad(format!(
                "problem `{name}`: not a package name (letters, digits, `.`, `_` and `-`, at \
                 most {MAX_NAME}, not starting with `.`)"
            )));
        }
        let p = self.dir.join(name);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => Ok(p),
            _ => Err(Refusal::NotFound(format!(
                "no problem package `{name}` on this server"
            ))),
        }
    }

    /// Checks the request and reads its files; nothing runs yet.
    pub fn prepare(&self, req: JudgeRequest) -> Result<Prepared, Refusal> {
        let package = self.package(&req.problem)?;
        if req.files.is_empty() {
            return Err(Refusal::Bad("`files` is empty".into()));
        }
        if req.files.len() > MAX_FILES {
            return Err(Refusal::Bad(format!(
                "{} files; this server takes at most {MAX_FILES}",
                req.files.len()
            )));
        }
        if let Some(l) = &req.language {
            if self.langs.get(l).is_none() {
                return Err(Refusal::Bad(format!("unknown language `{l}`")));
            }
        }
        if let Some(e) = &req.entrypoint {
            if !req.files.contains_key(e) {
                return Err(Refusal::Bad(format!(
                    "entrypoint `{e}` is not one of `files`"
                )));
            }
        }
        let mut files = Vec::with_capacity(req.files.len());
        for (name, f) in req.files {
            if !file_name_ok(&name) {
                return Err(Refusal::Bad(format!(
                    "files: `{name}` is not a plain file name"
                )));
            }
            let data = match (&f.content, &f.file_id) {
                (Some(c), None) => c.clone().into_bytes(),
                (None, Some(id)) => match self.store.get(id) {
                    Ok((_, d)) => d,
                    Err(e @ StoreError::NotFound(_)) => {
                        return Err(Refusal::Bad(format!("files: `{name}`: {e}")))
                    }
                    Err(e) => {
                        return Err(Refusal::Internal(hatchery_report::error_chain(&e)));
                    }
                },
                _ => {
                    return Err(Refusal::Bad(format!(
                        "files: `{name}`: give exactly one of `content` and `fileId`"
                    )))
                }
            };
            if data.len() as u64 > self.caps.file_bytes {
                return Err(Refusal::Bad(format!(
                    "files: `{name}`: {} bytes, more than this server's {}",
                    data.len(),
                    self.caps.file_bytes
                )));
            }
            files.push((name, data));
        }
        Ok(Prepared {
            package,
            files,
            language: req.language,
            entrypoint: req.entrypoint,
            all_cases: req.all_cases,
        })
    }

    /// Judges `p` on a blocking thread when its turn comes; the events arrive on the
    /// stream returned.
    pub fn start(
        self: &Arc<Self>,
        p: Prepared,
    ) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
        let me = self.clone();
        tokio::spawn(async move {
            let Ok(_turn) = me.turn.clone().acquire_owned().await else {
                return;
            };
            let tx2 = tx.clone();
            let done = tokio::task::spawn_blocking(move || me.judge(p, &tx2)).await;
            if let Err(e) = done {
                let _ = tx.send(error_event(
                    "judge_error",
                    &format!("the judging failed: {e}"),
                ));
            }
        });
        let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(Ok)));
        Sse::new(stream).keep_alive(KeepAlive::default())
    }

    /// The judging itself, as `hatchery judge --json` does it, with the server's caps.
    fn judge(&self, p: Prepared, tx: &mpsc::UnboundedSender<Event>) {
        let fail = |kind: &str, msg: &str| {
            let _ = tx.send(error_event(kind, msg));
        };
        let mut problem = match hatchery_judge::problem::load(&p.package) {
            Ok(pr) => pr,
            Err(e) => return fail("bad_input", &hatchery_report::error_chain(&e)),
        };
        // The server's maximums cap the package's limits.
        let (time_limit, source) = match problem.limits.time_limit {
            Some(t) => {
                let cap = Duration::from_micros(self.caps.cpu_us);
                if t > cap {
                    (cap, "the server's --max-cpu-time".to_owned())
                } else {
                    (t, problem.limits.time_limit_source.clone())
                }
            }
            None => {
                return fail(
                    "bad_input",
                    &format!(
                        "problem `{}`: no time limit in the package (problem.yaml \
                         limits.time_limit, .timelimit or domjudge-problem.ini); the server \
                         does not derive one",
                        problem.name
                    ),
                )
            }
        };
        let l = &mut problem.limits;
        l.memory_bytes = l.memory_bytes.min(self.caps.memory_bytes);
        l.output_bytes = l.output_bytes.min(self.caps.output_bytes);
        let work = match WorkDir::create(&self.work_base, false) {
            Ok(w) => w,
            Err(e) => return fail("judge_error", &e),
        };
        let sub = match self.submission(&p, &work) {
            Ok(s) => s,
            Err(e) => return fail("bad_input", &e),
        };
        let mut settings = ExecSettings::new(self.zygote_exe.clone());
        settings.cgroup = self.cgroup;
        for h in &self.hidden {
            settings.view.hide(h);
        }
        hatchery_judge::setup::prepare_settings(&mut settings, &problem, &work, &self.langs);
        let tool_tier = match self.tier {
            Tier::None => Tier::None,
            _ => Tier::Hardened,
        };
        let runner =
            match hatchery_judge::exec::Runner::start(settings, self.workers, self.tier, tool_tier)
            {
                Ok(r) => r,
                Err(e) => {
                    let kind = if e.is_missing_feature() {
                        "host_unsupported"
                    } else {
                        "judge_error"
                    };
                    return fail(kind, &hatchery_report::error_chain(&e));
                }
            };
        let on_case = |c: &hatchery_judge::CaseReport| {
            let _ = tx.send(json_event("case", c));
        };
        let mut judge = match Judge::new(&problem, &runner, &work, &self.langs, time_limit, source)
        {
            Ok(j) => j,
            Err(e @ JudgeError::Validator { .. }) => return fail("judge_error", &e.to_string()),
            Err(e) => return fail("bad_input", &e.to_string()),
        };
        judge.run_all_cases = p.all_cases;
        judge.on_case = Some(&on_case);
        let start = Instant::now();
        let mut events = Events::quiet();
        let Some(built) = judge.build_all(&[(&sub, String::new())], &mut events).pop() else {
            return fail("judge_error", "the build did not run");
        };
        if let Some(c) = &built.compile {
            let _ = tx.send(json_event("compile", c));
        }
        let report = judge.judge_built(&sub, built, start, "", &mut events);
        let _ = tx.send(json_event("result", &report));
    }

    /// The submission's files written into the work directory (ours, not lent: the judge
    /// copies what it compiles), and what to judge.
    fn submission(&self, p: &Prepared, work: &WorkDir) -> Result<Submission, String> {
        let dir = work
            .case_dir("submission")
            .map_err(|e| format!("cannot create the submission's directory: {e}"))?;
        let mut paths = Vec::with_capacity(p.files.len());
        for (name, data) in &p.files {
            let path = dir.path().join(name);
            std::fs::write(&path, data)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            paths.push(path);
        }
        let mut sub = match &p.entrypoint {
            Some(e) => {
                let main = dir.path().join(e);
                let language = match &p.language {
                    Some(l) => self.langs.get(l),
                    None => self.langs.for_path(&main),
                }
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "entrypoint `{e}`: unknown language (no known extension; give `language`)"
                    )
                })?;
                Submission {
                    label: e.clone(),
                    kind: SubmissionKind::Source {
                        files: paths,
                        main,
                        language,
                    },
                    from_package: false,
                }
            }
            None => Submission::from_path(dir.path(), p.language.as_deref(), &self.langs)
                .map_err(|e| e.replace(&dir.path().display().to_string(), "files"))?,
        };
        // Shown by its file name, not by where the server keeps it.
        if let SubmissionKind::Source { main, .. } = &sub.kind {
            if let Some(n) = main.file_name() {
                sub.label = n.to_string_lossy().into_owned();
            }
        }
        Ok(sub)
    }
}

/// A request checked and read, ready to judge.
pub struct Prepared {
    package: PathBuf,
    files: Vec<(String, Vec<u8>)>,
    language: Option<String>,
    entrypoint: Option<String>,
    all_cases: bool,
}

/// Why a request is refused before it runs.
#[derive(Debug)]
pub enum Refusal {
    /// 400.
    Bad(String),
    /// 404.
    NotFound(String),
    /// 500.
    Internal(String),
}

impl From<BadRequest> for Refusal {
    fn from(b: BadRequest) -> Refusal {
        Refusal::Bad(b.0)
    }
}

/// A package name: one plain path component that never leaves `--problems`.
pub fn package_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A source file name: one component, no separator, not `.` or `..`.
fn file_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0'])
        && Path::new(name).file_name().is_some()
}

fn json_event<T: serde::Serialize>(name: &str, v: &T) -> Event {
    let data = serde_json::to_string(v).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("cannot encode the {name} event: {e}") }).to_string()
    });
    Event::default().event(name).data(data)
}

fn error_event(kind: &str, msg: &str) -> Event {
    json_event("error", &serde_json::json!({ "error": msg, "kind": kind }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names() {
        for ok in ["aplusb", "hello-2", "p_1.v2"] {
            assert!(package_name_ok(ok), "{ok}");
        }
        for bad in [
            "", "..", ".", "../etc", "a/b", "/etc", ".hidden", "a\0b", "a b",
        ] {
            assert!(!package_name_ok(bad), "{bad:?}");
        }
        assert!(!package_name_ok(&"x".repeat(MAX_NAME + 1)));
    }

    #[test]
    fn file_names() {
        assert!(file_name_ok("main.cpp"));
        for bad in ["", ".", "..", "a/b", "/x", "x\0"] {
            assert!(!file_name_ok(bad), "{bad:?}");
        }
    }
}
