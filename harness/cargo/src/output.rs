//! Everything people and CI read: status lines (nextest style, plus CPU and memory), the
//! progress bar, captured output of failures, the final summary, the JSON Lines report and
//! JUnit XML. The engine never prints; this module renders its events.

pub use hatchery_report::fmt_bytes;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

use hatchery_engine::Reporter;
use hatchery_report::{
    escape_str, escape_text, CaseFinished, CaseResult, Event, JsonLinesWriter, Outcome, RunFinished,
};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use crate::select::Skip;

/// `--status-level` / `--final-status-level`, in increasing verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum StatusLevel {
    None,
    Fail,
    /// Also nextest's `flaky` and `leak`.
    #[value(alias = "flaky", alias = "leak")]
    Retry,
    Slow,
    Pass,
    Skip,
    All,
}

/// When captured output is shown (`--failure-output`, `--success-output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowOutput {
    /// Right after the test's status line.
    Immediate,
    /// In the final summary.
    Final,
    ImmediateFinal,
    Never,
}

impl ShowOutput {
    fn immediate(self) -> bool {
        matches!(self, ShowOutput::Immediate | ShowOutput::ImmediateFinal)
    }
    fn at_end(self) -> bool {
        matches!(self, ShowOutput::Final | ShowOutput::ImmediateFinal)
    }
}

/// ANSI styling, off when not wanted.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    /// A status label right-aligned in 12 columns, coloured by what it means.
    pub fn status(&self, label: &str) -> String {
        let padded = format!("{label:>12}");
        let code = if label.starts_with("PASS") {
            "1;32"
        } else if label.starts_with("FLAKY")
            || label.starts_with("LEAK")
            || label.starts_with("SLOW")
            || label.starts_with("TRY")
        {
            "1;33"
        } else if label.starts_with("SKIP") || label.starts_with("IGNORED") {
            "1;2"
        } else if label == "Starting" || label == "Summary" || label == "Slowest" {
            "1;32"
        } else {
            "1;31"
        };
        self.paint(code, &padded)
    }
    /// `binary-id test::path::name`, nextest colours: binary id magenta, last segment bold blue.
    pub fn test_id(&self, binary_id: &str, name: &str) -> String {
        // Names come from the test binary's own listing: shown, never acted on.
        let (binary_id, name) = (&*escape_str(binary_id), &*escape_str(name));
        if name.is_empty() {
            return self.paint("35", binary_id);
        }
        let (head, last) = match name.rfind("::") {
            Some(i) => (&name[..i + 2], &name[i + 2..]),
            None => ("", name),
        };
        format!(
            "{} {head}{}",
            self.paint("35", binary_id),
            self.paint("1;34", last)
        )
    }
}

/// Where human output goes: above the progress bar when there is one, else stderr.
pub struct Out {
    pub bar: Option<indicatif::ProgressBar>,
}

impl Out {
    pub fn line(&self, s: &str) {
        match &self.bar {
            Some(b) => b.println(s),
            None => eprintln!("{s}"),
        }
    }
}

/// A test as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseMeta {
    pub binary_id: String,
    /// Empty for a custom harness that runs as one case.
    pub name: String,
    pub ignored: bool,
}

impl CaseMeta {
    /// The case id in reports: `binary-id test::name` (nextest's format), or the binary id.
    pub fn id(&self) -> String {
        if self.name.is_empty() {
            self.binary_id.clone()
        } else {
            format!("{} {}", self.binary_id, self.name)
        }
    }
}

/// The status label of a failed result (no retry prefix).
pub fn fail_label(r: &CaseResult) -> String {
    match r.outcome {
        // Passed, but failed for what it left running (leak-timeout result = "fail").
        Outcome::Ok if r.leftover_processes > 0 => "LEAK-FAIL".into(),
        // nextest's label for a failure that also leaked.
        Outcome::NonzeroExit if r.leftover_processes > 0 => "FAIL + LEAK".into(),
        Outcome::Ok | Outcome::NonzeroExit => "FAIL".into(),
        Outcome::Signaled => r.signal.clone().unwrap_or_else(|| "SIGNAL".into()),
        Outcome::TimeLimit => "TIMEOUT".into(),
        Outcome::MemoryLimit => "OOM".into(),
        Outcome::OutputLimit => "OUTPUT-LIMIT".into(),
        Outcome::PolicyViolation => "SECCOMP".into(),
        Outcome::SandboxError => "ERROR".into(),
    }
}

/// The status label of one attempt: PASS, LEAK, FLAKY n/m, FAIL, SIGSEGV, TIMEOUT, OOM,
/// TRY n FAIL, ...
pub fn label(a: &CaseFinished, max_attempts: u32) -> String {
    let r = &a.result;
    if a.passed {
        if a.flaky {
            format!("FLAKY {}/{}", a.attempt, max_attempts)
        } else if r.outcome == Outcome::TimeLimit {
            // slow-timeout's on-timeout = "pass".
            "TIMEOUT-PASS".into()
        } else if r.leftover_processes > 0 {
            "LEAK".into()
        } else {
            "PASS".into()
        }
    } else if a.attempt > 1 || a.will_retry {
        format!("TRY {} {}", a.attempt, fail_label(r))
    } else {
        fail_label(r)
    }
}

pub fn fmt_secs(us: u64) -> String {
    format!("{:.3}s", us as f64 / 1e6)
}

/// `        PASS [   0.012s]   0.004s cpu    2.1 MiB  alpha basics::passes`, with nextest's
/// counter after the wall time when asked: `PASS [   0.012s] ( 3/34)   0.004s cpu ...`.
pub fn status_line(
    style: Style,
    label: &str,
    r: &CaseResult,
    meta: &CaseMeta,
    counter: Option<(u64, u64)>,
) -> String {
    let counter = match counter {
        Some((n, total)) => {
            let w = total.to_string().len();
            format!(" ({n:>w$}/{total})")
        }
        None => String::new(),
    };
    format!(
        "{} [{:>9}]{counter} {:>8} cpu {:>10}  {}",
        style.status(label),
        fmt_secs(r.usage.wall_us),
        fmt_secs(r.usage.cpu_us),
        fmt_bytes(r.usage.peak_memory_bytes),
        style.test_id(&meta.binary_id, &meta.name)
    )
}

/// Most bytes of one stream shown on the terminal (the report has everything captured).
const SHOW_BYTES: usize = 64 << 10;

/// The reason line and captured output of a result, indented like nextest's.
pub fn output_block(style: Style, r: &CaseResult, meta: &CaseMeta) -> String {
    let mut s = String::new();
    let id = meta.id();
    s.push_str(&style.paint("2", &format!("    reason: {}", escape_str(&r.reason))));
    if r.leftover_processes > 0 {
        s.push_str(&style.paint(
            "2",
            &format!(
                "\n    leaked: {} process(es) outlived the test and were killed",
                r.leftover_processes
            ),
        ));
    }
    if let Some(e) = &r.error {
        s.push_str(&format!("\n    error: {}", escape_str(e)));
    }
    for (name, c) in [("STDOUT", &r.stdout), ("STDERR", &r.stderr)] {
        if c.data.is_empty() {
            continue;
        }
        s.push('\n');
        s.push_str(&style.paint("1", &format!("--- {name}: {id} ---")));
        s.push('\n');
        let data = &c.data;
        if data.len() > SHOW_BYTES {
            // Head and tail, as the spilled result itself is.
            let head = SHOW_BYTES / 4;
            let tail = SHOW_BYTES - head;
            s.push_str(&escape_text(&data[..head]));
            s.push_str(&style.paint(
                "2",
                &format!(
                    "\n[... {} captured bytes not shown here; the --report file has them ...]\n",
                    data.len() - SHOW_BYTES
                ),
            ));
            s.push_str(&escape_text(&data[data.len() - tail..]));
        } else {
            s.push_str(&escape_text(data));
        }
        if c.truncated {
            let mut note = format!("\n[{} bytes written in all", c.bytes);
            if r.outcome == Outcome::OutputLimit {
                note.push_str("; killed at the output limit (--output)");
            }
            if let Some(f) = &c.file {
                note.push_str(&format!(
                    "; whole stream: {}",
                    escape_str(&f.to_string_lossy())
                ));
            }
            note.push(']');
            s.push_str(&style.paint("2", &note));
        }
        if s.ends_with('\n') {
            s.pop();
        }
    }
    s
}

/// What the reporter shows and when.
#[derive(Debug, Clone)]
pub struct Display {
    pub style: Style,
    pub status_level: StatusLevel,
    pub final_status_level: StatusLevel,
    pub failure_output: ShowOutput,
    pub success_output: ShowOutput,
    /// Per case, by index (see [`CaseShow`]).
    pub per_case: Vec<CaseShow>,
    pub max_attempts: u32,
    /// Tests at least this slow are counted as slow (0: never).
    pub slow_us: u64,
    /// `(n/N)` on status lines (nextest's counter: `--show-progress counter`, or `auto`
    /// without a terminal).
    pub counter: bool,
}

/// What one case's overrides change in what is shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaseShow {
    /// `success-output` and `failure-output` where an override of the profile sets them and
    /// the command line does not force them (nextest's order: command line or environment,
    /// then the first matching override, then the profile).
    pub success: Option<ShowOutput>,
    pub failure: Option<ShowOutput>,
    /// Its slow-timeout period when an override sets one (else [`Display::slow_us`]).
    pub slow_us: Option<u64>,
    /// When `terminate-after` ends it: SLOW notices from then on read TERMINATING.
    pub terminate_us: Option<u64>,
}

impl Display {
    fn case(&self, index: u64) -> CaseShow {
        self.per_case
            .get(index as usize)
            .copied()
            .unwrap_or_default()
    }

    /// When the output of case `index` is shown, for an attempt that `passed` or not.
    pub fn output_for(&self, index: u64, passed: bool) -> ShowOutput {
        let per = self.case(index);
        if passed {
            per.success.unwrap_or(self.success_output)
        } else {
            per.failure.unwrap_or(self.failure_output)
        }
    }

    /// The slow-timeout period of case `index` (0: none).
    pub fn slow_us_of(&self, index: u64) -> u64 {
        self.case(index).slow_us.unwrap_or(self.slow_us)
    }
}

/// Renders scheduler events and collects every attempt.
pub struct TestReporter<'a> {
    pub out: &'a Out,
    pub display: Display,
    pub cases: &'a [CaseMeta],
    pub jsonl: Option<JsonLinesWriter<BufWriter<File>>>,
    pub report_error: Option<String>,
    pub attempts: Vec<CaseFinished>,
    /// The test each worker runs now (the progress bar's message).
    pub running: std::collections::BTreeMap<u32, String>,
    /// Tests finished (last attempts), for the counter.
    pub done: u64,
}

impl Reporter for TestReporter<'_> {
    fn event(&mut self, e: &Event) {
        if let Some(w) = &mut self.jsonl {
            if let Err(err) = w.write(e) {
                self.report_error = Some(err.to_string());
                self.jsonl = None;
            }
        }
        match e {
            Event::CaseFinished(cf) => {
                self.running.remove(&cf.worker);
                self.attempts.push((**cf).clone());
            }
            Event::CaseStarted(cs) => {
                self.running.insert(cs.worker, cs.id.clone());
            }
            Event::CaseSlow(s) => {
                let d = &self.display;
                if d.status_level >= StatusLevel::Slow {
                    let (bin, name) = s.id.split_once(' ').unwrap_or((s.id.as_str(), ""));
                    // nextest shows the threshold crossed: a multiple of the period; from
                    // terminate-after on, TERMINATING.
                    let crossed = match d.slow_us_of(s.index) {
                        0 => s.elapsed_us,
                        p => s.elapsed_us / p * p,
                    };
                    let ending = d.case(s.index).terminate_us.is_some_and(|t| crossed >= t);
                    // With retries, nextest names the attempt: TRY n SLOW, TRY n TRMNTG.
                    let retrying = d.max_attempts > 1;
                    let needed = if s.attempt >= d.max_attempts {
                        StatusLevel::Fail
                    } else {
                        StatusLevel::Retry
                    };
                    let status = match (ending, retrying) {
                        (false, false) => "SLOW".to_owned(),
                        (false, true) => format!("TRY {} SLOW", s.attempt),
                        (true, true) if d.status_level > needed => {
                            format!("TRY {} TRMNTG", s.attempt)
                        }
                        (true, _) => "TERMINATING".to_owned(),
                    };
                    self.out.line(&format!(
                        "{} [>{:>8}] {}",
                        d.style.status(&status),
                        fmt_secs(crossed),
                        d.style.test_id(bin, name)
                    ));
                }
            }
            _ => {}
        }
        if let Some(b) = &self.out.bar {
            if matches!(e, Event::CaseStarted(_) | Event::CaseFinished(_)) {
                let names: Vec<&str> = self.running.values().map(String::as_str).collect();
                b.set_message(names.join(", "));
            }
        }
    }

    fn progress(&mut self, _done: u64, total: u64, a: &CaseFinished) {
        if !a.will_retry {
            self.done += 1;
        }
        let Some(meta) = self.cases.get(a.index as usize) else {
            return;
        };
        let d = &self.display;
        let lab = label(a, d.max_attempts);
        let level = if a.passed {
            if a.flaky || a.result.leftover_processes > 0 {
                StatusLevel::Retry
            } else {
                StatusLevel::Pass
            }
        } else if a.will_retry {
            StatusLevel::Retry
        } else {
            StatusLevel::Fail
        };
        if level <= d.status_level {
            let counter = d.counter.then_some((self.done, total));
            let mut text = status_line(d.style, &lab, &a.result, meta, counter);
            let show = d.output_for(a.index, a.passed).immediate();
            if show {
                text.push('\n');
                text.push_str(&output_block(d.style, &a.result, meta));
            }
            self.out.line(&text);
        }
        if let Some(b) = &self.out.bar {
            if !a.will_retry {
                b.inc(1);
            }
        }
    }
}

/// Final counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub run: u64,
    pub passed: u64,
    pub failed: u64,
    pub flaky: u64,
    pub leaky: u64,
    /// Failed only because of what they left running (counted in `failed` too).
    pub leaky_failed: u64,
    /// Failed by a time limit (counted in `failed` too; nextest shows them apart).
    pub timed_out: u64,
    pub slow: u64,
    pub skipped: u64,
    pub not_run: u64,
    pub sandbox_errors: u64,
}

/// The last attempt of every case that ran, by case index.
pub fn finals(attempts: &[CaseFinished]) -> BTreeMap<u64, &CaseFinished> {
    let mut m: BTreeMap<u64, &CaseFinished> = BTreeMap::new();
    for a in attempts {
        match m.get(&a.index) {
            Some(prev) if prev.attempt > a.attempt => {}
            _ => {
                m.insert(a.index, a);
            }
        }
    }
    m
}

pub fn counts(attempts: &[CaseFinished], cases: usize, skipped: u64, display: &Display) -> Counts {
    let f = finals(attempts);
    let mut c = Counts {
        run: f.len() as u64,
        skipped,
        not_run: cases as u64 - f.len() as u64,
        ..Default::default()
    };
    for a in f.values() {
        if a.passed {
            c.passed += 1;
            c.flaky += u64::from(a.flaky);
            c.leaky += u64::from(a.result.leftover_processes > 0);
        } else {
            c.failed += 1;
            c.leaky_failed += u64::from(is_leak_fail(&a.result));
            c.timed_out += u64::from(a.result.outcome == Outcome::TimeLimit);
        }
        c.sandbox_errors += u64::from(a.result.outcome == Outcome::SandboxError);
        // A TIMEOUT-PASS is not "slow" in nextest's count.
        let slow_us = display.slow_us_of(a.index);
        c.slow += u64::from(
            a.passed
                && a.result.outcome != Outcome::TimeLimit
                && slow_us > 0
                && a.result.usage.wall_us >= slow_us,
        );
    }
    c
}

/// A result that failed only for what it left running.
fn is_leak_fail(r: &CaseResult) -> bool {
    r.outcome == Outcome::Ok && r.leftover_processes > 0
}

/// The summary printed last.
pub fn summary(
    display: &Display,
    cases: &[CaseMeta],
    attempts: &[CaseFinished],
    rf: &RunFinished,
    c: &Counts,
) -> String {
    let st = display.style;
    let mut s = String::new();
    s.push_str(&st.paint("2", "────────────"));
    s.push('\n');
    let mut extra = Vec::new();
    for (n, what) in [(c.flaky, "flaky"), (c.leaky, "leaky"), (c.slow, "slow")] {
        if n > 0 {
            extra.push(format!("{n} {what}"));
        }
    }
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(" ({})", extra.join(", "))
    };
    // nextest: `2 failed (1 due to being leaky)`.
    let leaky_failed = match c.leaky_failed {
        0 => String::new(),
        n => format!(" ({n} due to being leaky)"),
    };
    // nextest's line: failures and timeouts apart, each only when there are some.
    let mut failed = String::new();
    let others = c.failed - c.timed_out;
    if others > 0 {
        failed.push_str(&st.paint("1;31", &format!("{others} failed{leaky_failed}")));
        failed.push_str(", ");
    }
    if c.timed_out > 0 {
        failed.push_str(&st.paint("1;31", &format!("{} timed out", c.timed_out)));
        failed.push_str(", ");
    }
    let mut line = format!(
        "{} [{:>9}] {} test{} run: {} passed{extra}, {failed}{} skipped",
        st.status("Summary"),
        fmt_secs(rf.duration_us),
        c.run,
        if c.run == 1 { "" } else { "s" },
        c.passed,
        c.skipped
    );
    if c.not_run > 0 {
        let why = if rf.interrupted {
            "interrupted"
        } else if rf.fail_fast {
            "fail-fast; use --no-fail-fast to run them"
        } else {
            "no worker could run them"
        };
        line.push_str(&format!(", {} not run ({why})", c.not_run));
    }
    s.push_str(&line);
    s.push('\n');
    let f = finals(attempts);
    // Failures (and the notable passes) again, in input order.
    for a in f.values() {
        let Some(meta) = cases.get(a.index as usize) else {
            continue;
        };
        let level = if !a.passed {
            StatusLevel::Fail
        } else if a.flaky || a.result.leftover_processes > 0 {
            StatusLevel::Retry
        } else {
            StatusLevel::Pass
        };
        if level > display.final_status_level.max(StatusLevel::Retry) {
            continue;
        }
        s.push_str(&status_line(
            st,
            &label(a, display.max_attempts),
            &a.result,
            meta,
            None,
        ));
        s.push('\n');
        let show = display.output_for(a.index, a.passed).at_end();
        if show {
            s.push_str(&output_block(st, &a.result, meta));
            s.push('\n');
        }
    }
    let top = |key: &dyn Fn(&CaseFinished) -> u64, fmt: &dyn Fn(u64) -> String| {
        let mut v: Vec<&&CaseFinished> = f.values().collect();
        v.sort_by_key(|a| std::cmp::Reverse(key(a)));
        v.iter()
            .take(3)
            .filter(|a| key(a) > 0)
            .filter_map(|a| {
                cases
                    .get(a.index as usize)
                    .map(|m| format!("{} {}", fmt(key(a)), st.test_id(&m.binary_id, &m.name)))
            })
            .collect::<Vec<_>>()
    };
    let slowest = top(&|a| a.result.usage.wall_us, &fmt_secs);
    if !slowest.is_empty() {
        s.push_str(&format!(
            "{} {}\n",
            st.status("Slowest"),
            slowest.join(&st.paint("2", " · "))
        ));
    }
    let mem = top(&|a| a.result.usage.peak_memory_bytes, &fmt_bytes);
    if !mem.is_empty() {
        s.push_str(&format!(
            "{} {}\n",
            st.paint("1;32", &format!("{:>12}", "Peak memory")),
            mem.join(&st.paint("2", " · "))
        ));
    }
    let cpu = top(&|a| a.result.usage.cpu_us, &fmt_secs);
    if !cpu.is_empty() {
        s.push_str(&format!(
            "{} {}\n",
            st.paint("1;32", &format!("{:>12}", "CPU time")),
            cpu.join(&st.paint("2", " · "))
        ));
    }
    if rf.interrupted {
        s.push_str(&format!(
            "{} {} running test(s) killed\n",
            st.status("Interrupted"),
            rf.killed_running
        ));
    }
    for e in &rf.worker_errors {
        s.push_str(&format!("{} {e}\n", st.status("ERROR")));
    }
    s
}

/// How JUnit shows a failed attempt, with nextest's element and type: `<failure type="test
/// failure with exit code N">` (`, and leaked handles` when it also leaked), `"test abort"`
/// for a death by signal, `"test timeout"`, and `<error>` for a leak that fails; hatchery's own
/// verdicts (memory, output, seccomp) as failures typed by their outcome, and its own failures
/// as errors.
fn junit_kind(r: &CaseResult) -> (NonSuccessKind, String) {
    let leaked = r.leftover_processes > 0;
    match r.outcome {
        Outcome::Ok if leaked => (
            NonSuccessKind::Error,
            "test exited with code 0, but leaked handles so was marked failed".into(),
        ),
        Outcome::Ok | Outcome::NonzeroExit => {
            let code = r.exit_code.unwrap_or_default();
            let also = if leaked { ", and leaked handles" } else { "" };
            (
                NonSuccessKind::Failure,
                format!("test failure with exit code {code}{also}"),
            )
        }
        Outcome::Signaled => (NonSuccessKind::Failure, "test abort".into()),
        Outcome::TimeLimit => (NonSuccessKind::Failure, "test timeout".into()),
        Outcome::SandboxError => (NonSuccessKind::Error, r.outcome.as_str().into()),
        o => (NonSuccessKind::Failure, o.as_str().into()),
    }
}

/// The message of a failed attempt in JUnit: the panic's header when the test panicked (what
/// nextest lifts into `message`: `thread 'name' panicked at src/lib.rs:4:27`), otherwise the
/// status and hatchery's reason.
fn junit_message(r: &CaseResult) -> String {
    let panic = [&r.stderr.data, &r.stdout.data].into_iter().find_map(|d| {
        String::from_utf8_lossy(d)
            .lines()
            .find(|l| l.starts_with("thread '") && l.contains(" panicked at "))
            .map(|l| l.trim_end_matches(':').to_owned())
    });
    panic.unwrap_or_else(|| format!("{}: {}", fail_label(r), r.reason))
}

/// JUnit XML: one suite per test binary; retries as reruns (flaky tests as `flakyFailure`);
/// ignored tests and tests that never ran as `skipped`. CPU time, peak memory, outcome and
/// leaked processes are test case properties.
pub fn junit(
    report_name: &str,
    cases: &[CaseMeta],
    attempts: &[CaseFinished],
    skipped: &[(CaseMeta, Skip)],
    store: &[(bool, bool)],
) -> String {
    let mut by_index: BTreeMap<u64, Vec<&CaseFinished>> = BTreeMap::new();
    for a in attempts {
        by_index.entry(a.index).or_default().push(a);
    }
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for (i, meta) in cases.iter().enumerate() {
        let tries = by_index.remove(&(i as u64)).unwrap_or_default();
        let name = if meta.name.is_empty() {
            meta.binary_id.clone()
        } else {
            meta.name.clone()
        };
        let tc = match tries.iter().max_by_key(|t| t.attempt) {
            None => {
                let mut st = TestCaseStatus::skipped();
                st.set_message("not run (fail-fast or interrupted)");
                let mut tc = TestCase::new(name, st);
                tc.set_classname(meta.binary_id.clone());
                tc
            }
            Some(last) => {
                let r = &last.result;
                let mut status = if last.passed {
                    TestCaseStatus::success()
                } else {
                    let (kind, ty) = junit_kind(r);
                    let mut st = TestCaseStatus::non_success(kind);
                    st.set_message(junit_message(r));
                    st.set_type(ty);
                    st
                };
                let mut earlier: Vec<&&CaseFinished> =
                    tries.iter().filter(|t| t.attempt < last.attempt).collect();
                earlier.sort_by_key(|t| t.attempt);
                for e in earlier {
                    let (kind, ty) = junit_kind(&e.result);
                    let mut rr = TestRerun::new(kind);
                    rr.set_message(junit_message(&e.result));
                    rr.set_type(ty);
                    rr.set_time(Duration::from_micros(e.result.usage.wall_us));
                    rr.set_system_out_lossy(&e.result.stdout.data);
                    rr.set_system_err_lossy(&e.result.stderr.data);
                    status.add_rerun(rr);
                }
                let mut tc = TestCase::new(name, status);
                tc.set_classname(meta.binary_id.clone());
                tc.set_time(Duration::from_micros(r.usage.wall_us));
                // nextest's junit.store-success-output / store-failure-output (default:
                // failures only).
                let (on_success, on_failure) = store.get(i).copied().unwrap_or((false, true));
                if (last.passed && on_success) || (!last.passed && on_failure) {
                    tc.set_system_out_lossy(&r.stdout.data);
                    tc.set_system_err_lossy(&r.stderr.data);
                }
                for (k, v) in [
                    ("outcome", r.outcome.as_str().to_owned()),
                    ("cpu_us", r.usage.cpu_us.to_string()),
                    ("peak_memory_bytes", r.usage.peak_memory_bytes.to_string()),
                    ("leftover_processes", r.leftover_processes.to_string()),
                    ("attempts", last.attempt.to_string()),
                ] {
                    tc.add_property(quick_junit::Property::new(k, v));
                }
                tc
            }
        };
        suites
            .entry(meta.binary_id.as_str())
            .or_insert_with(|| TestSuite::new(meta.binary_id.clone()))
            .add_test_case(tc);
    }
    for (meta, why) in skipped {
        if *why != Skip::Ignored {
            continue;
        }
        let mut st = TestCaseStatus::skipped();
        st.set_message("ignored");
        let mut tc = TestCase::new(meta.name.clone(), st);
        tc.set_classname(meta.binary_id.clone());
        suites
            .entry(meta.binary_id.as_str())
            .or_insert_with(|| TestSuite::new(meta.binary_id.clone()))
            .add_test_case(tc);
    }
    let mut report = Report::new(report_name);
    report.add_test_suites(suites.into_values());
    report.to_string().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatchery_report::{decide, Limits, RawFacts, Termination};

    fn result(t: Termination, leftover: u64) -> CaseResult {
        decide(
            RawFacts {
                termination: Some(t),
                leftover_processes: leftover,
                ..Default::default()
            },
            &Limits::default(),
            "hardened",
            Default::default(),
        )
    }

    fn attempt(
        r: CaseResult,
        attempt: u32,
        passed: bool,
        flaky: bool,
        retry: bool,
    ) -> CaseFinished {
        CaseFinished {
            verdict: None,
            expected_verdict: None,
            id: "x".into(),
            index: 0,
            attempt,
            worker: 0,
            expected: Outcome::Ok,
            passed,
            flaky,
            will_retry: retry,
            result: r,
        }
    }

    #[test]
    fn labels_follow_nextest() {
        let ok = result(Termination::Exited(0), 0);
        let fail = result(Termination::Exited(101), 0);
        let segv = result(
            Termination::Signaled {
                signal: 11,
                core_dumped: false,
            },
            0,
        );
        assert_eq!(
            label(&attempt(ok.clone(), 1, true, false, false), 1),
            "PASS"
        );
        assert_eq!(
            label(
                &attempt(result(Termination::Exited(0), 2), 1, true, false, false),
                1
            ),
            "LEAK"
        );
        assert_eq!(label(&attempt(ok, 2, true, true, false), 3), "FLAKY 2/3");
        assert_eq!(
            label(&attempt(fail.clone(), 1, false, false, false), 1),
            "FAIL"
        );
        assert_eq!(
            label(&attempt(fail, 1, false, false, true), 2),
            "TRY 1 FAIL"
        );
        assert_eq!(label(&attempt(segv, 1, false, false, false), 1), "SIGSEGV");
        // Failed by its leak (leak-timeout result = "fail"), or failed and leaked.
        let leaky_ok = result(Termination::Exited(0), 1);
        assert_eq!(
            label(&attempt(leaky_ok, 1, false, false, false), 1),
            "LEAK-FAIL"
        );
        let leaky_fail = result(Termination::Exited(101), 1);
        assert_eq!(
            label(&attempt(leaky_fail, 1, false, false, false), 1),
            "FAIL + LEAK"
        );
    }

    #[test]
    fn status_lines_are_aligned_and_plain_without_color() {
        let st = Style { color: false };
        let meta = CaseMeta {
            binary_id: "alpha".into(),
            name: "basics::passes".into(),
            ignored: false,
        };
        let mut r = result(Termination::Exited(0), 0);
        r.usage.wall_us = 12_345;
        r.usage.cpu_us = 4_000;
        r.usage.peak_memory_bytes = 2 << 20;
        let l = status_line(st, "PASS", &r, &meta, None);
        assert_eq!(
            l,
            "        PASS [   0.012s]   0.004s cpu    2.0 MiB  alpha basics::passes"
        );
        assert!(!l.contains('\x1b'));
        let colored = Style { color: true }.test_id("alpha", "basics::passes");
        assert!(colored.contains("\x1b[35malpha"));
    }

    #[test]
    fn junit_has_suites_per_binary_flaky_reruns_and_skips() {
        let cases = vec![
            CaseMeta {
                binary_id: "a".into(),
                name: "t::ok".into(),
                ignored: false,
            },
            CaseMeta {
                binary_id: "a::it".into(),
                name: "t::flaky".into(),
                ignored: false,
            },
            CaseMeta {
                binary_id: "a::it".into(),
                name: "t::notrun".into(),
                ignored: false,
            },
        ];
        let mut first = attempt(result(Termination::Exited(101), 0), 1, false, false, true);
        first.index = 1;
        let mut second = attempt(result(Termination::Exited(0), 0), 2, true, true, false);
        second.index = 1;
        let attempts = vec![
            attempt(result(Termination::Exited(0), 0), 1, true, false, false),
            first,
            second,
        ];
        let skipped = vec![(
            CaseMeta {
                binary_id: "a".into(),
                name: "t::ign".into(),
                ignored: true,
            },
            Skip::Ignored,
        )];
        let xml = junit("run", &cases, &attempts, &skipped, &[]);
        assert!(xml.contains(r#"<testsuite name="a" tests="2""#), "{xml}");
        assert!(
            xml.contains(r#"<testsuite name="a::it" tests="2""#),
            "{xml}"
        );
        assert!(xml.contains("flakyFailure"), "{xml}");
        assert!(xml.contains("ignored"), "{xml}");
        assert!(xml.contains("not run"), "{xml}");
        assert!(xml.contains(r#"name="peak_memory_bytes""#), "{xml}");
    }
}
