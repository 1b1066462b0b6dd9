//! Output: the per-case table for people, and the JSON Lines event stream in hatchery's
//! report format: the engine's events, the judge's verdict in `case_finished.verdict`, and
//! `passed` true when the unit got the verdict it expects (AC; see the README).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::time::Instant;

use hatchery_engine::Reporter;
use hatchery_report::{Event, JsonLinesWriter, RunFinished, RunStarted};

use crate::judge::{CompileReport, JudgeReport};
use crate::verdict::Verdict;
use crate::{fmt_bytes, fmt_us};

/// The human table of one judgement.
pub fn human(r: &JudgeReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "── hatchery judge ── {} · {}{}",
        r.problem,
        r.submission,
        r.language
            .as_ref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default()
    );
    if let Some(c) = &r.compile {
        let _ = writeln!(s, "{}", compile_line(c));
    }
    if !r.cases.is_empty() {
        let w = r
            .cases
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            s,
            "   {:<w$}  {:<7} {:>10} {:>10} {:>10}  message",
            "case", "verdict", "cpu", "wall", "memory"
        );
        for c in &r.cases {
            let score = c.score.map(|x| format!(" [{x}]")).unwrap_or_default();
            let _ = writeln!(
                s,
                "   {:<w$}  {:<7} {:>10} {:>10} {:>10}  {}{score}",
                c.name,
                c.verdict.as_str(),
                fmt_us(c.cpu_us),
                fmt_us(c.wall_us),
                fmt_bytes(c.peak_memory_bytes),
                one_line(&c.message, 100)
            );
            // A judge error is explained in full: it is for whoever fixes the package or
            // the host, and its end usually says what failed.
            if c.verdict == Verdict::JE && one_line(&c.message, 100) != c.message {
                for l in c.message.lines().take(30) {
                    let _ = writeln!(s, "      | {l}");
                }
            }
        }
    }
    if r.skipped > 0 && !matches!(&r.compile, Some(c) if c.verdict != Verdict::AC) {
        let _ = writeln!(
            s,
            "   ({} case(s) not run after the first failure)",
            r.skipped
        );
    }
    let mut tail = format!("verdict: {} ({})", r.verdict, r.verdict.describe());
    if let Some(f) = &r.failed_case {
        let _ = write!(tail, " on {f}");
    }
    if let (Some(sc), Some(m)) = (r.score, r.max_score) {
        let _ = write!(tail, " · score {sc}/{m}");
    }
    let _ = write!(
        tail,
        " · time limit {} ({}) · {}",
        fmt_us(r.time_limit_us),
        r.time_limit_source,
        fmt_us(r.duration_us)
    );
    let _ = writeln!(s, "{tail}");
    if r.verdict == Verdict::CE || r.verdict == Verdict::JE && r.cases.is_empty() {
        for l in r.message.lines().take(30) {
            let _ = writeln!(s, "   | {l}");
        }
    }
    // Messages quote compilers, validators and the submission's output: shown, never acted
    // on by the terminal.
    hatchery_report::escape_str(&s).into_owned()
}

fn compile_line(c: &CompileReport) -> String {
    match c.verdict {
        Verdict::AC => format!(
            "   compiled in {} (cpu {}, {})",
            fmt_us(c.wall_us),
            fmt_us(c.cpu_us),
            fmt_bytes(c.peak_memory_bytes)
        ),
        v => format!("   build: {} ({})", v, v.describe()),
    }
}

fn one_line(m: &str, max: usize) -> String {
    let l = m.lines().next().unwrap_or("");
    let mut out: String = l.chars().take(max).collect();
    if l.chars().count() > max || m.lines().nth(1).is_some() {
        out.push('…');
    }
    out
}

/// The JSON Lines event stream of a judging run (`--report`), written with the report
/// crate's one writer: `run_started`, then the events of every dispatch of the engine (the
/// compilations, then each submission's test cases), then `run_finished` with the totals of
/// all of them. `index` counts units over the whole stream. Without a file ([`Events::quiet`])
/// nothing is written (input validation, time-limit derivation).
pub struct Events {
    w: Option<JsonLinesWriter<BufWriter<File>>>,
    /// Units of the dispatches before the current one: the next dispatch's first index.
    offset: u64,
    totals: RunFinished,
    start: Instant,
    error: Option<String>,
}

impl Events {
    /// Writes nothing.
    pub fn quiet() -> Events {
        Events {
            w: None,
            offset: 0,
            totals: RunFinished::default(),
            start: Instant::now(),
            error: None,
        }
    }

    /// Creates the file and writes `run_started`.
    pub fn create(path: &Path, started: RunStarted) -> Result<Events, String> {
        let w = JsonLinesWriter::create(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let mut ev = Events::quiet();
        ev.w = Some(w);
        ev.write(&Event::RunStarted(started));
        match ev.error.take() {
            Some(e) => Err(e),
            None => Ok(ev),
        }
    }

    fn write(&mut self, e: &Event) {
        if let Some(w) = &mut self.w {
            if let Err(err) = w.write(e) {
                self.error
                    .get_or_insert_with(|| format!("cannot write the report: {err}"));
            }
        }
    }

    /// The index the next dispatch's first unit gets in the stream.
    pub fn next_index(&self) -> u64 {
        self.offset
    }

    /// Adds a finished dispatch of `units` units to the totals.
    pub fn dispatched(&mut self, units: usize, rf: &RunFinished) {
        self.offset += units as u64;
        let t = &mut self.totals;
        for (o, n) in &rf.outcomes {
            *t.outcomes.entry(*o).or_default() += n;
        }
        t.passed += rf.passed;
        t.failed += rf.failed;
        t.flaky += rf.flaky;
        t.not_run += rf.not_run;
        t.skipped += rf.skipped;
        t.interrupted |= rf.interrupted;
        t.fail_fast |= rf.fail_fast;
        t.killed_running += rf.killed_running;
        t.worker_errors.extend(rf.worker_errors.iter().cloned());
    }

    /// Counts cases that were never dispatched (a submission that did not build).
    pub fn not_run(&mut self, cases: usize) {
        self.totals.not_run += cases as u64;
        self.offset += cases as u64;
    }

    /// Writes `run_finished` and flushes.
    pub fn finish(mut self) -> Result<(), String> {
        let mut rf = self.totals.clone();
        rf.duration_us = self.start.elapsed().as_micros() as u64;
        self.write(&Event::RunFinished(rf));
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        match self.w.take() {
            Some(w) => w
                .into_inner()
                .flush()
                .map_err(|e| format!("cannot write the report: {e}")),
            None => Ok(()),
        }
    }
}

impl Reporter for Events {
    fn event(&mut self, e: &Event) {
        // The stream is framed here, once, around every dispatch.
        if !matches!(e, Event::RunStarted(_) | Event::RunFinished(_)) {
            self.write(e);
        }
    }
}
