//! Output: the per-case table for people, and the JSON Lines event stream in hatchery's
//! report format (schema v1; the judge's verdict goes into each case's `reason` as
//! `judge_verdict=WA: ...`, and `passed` is true for AC).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::time::Instant;

use hatchery_report::{
    CaseFinished, CaseResult, CaseStarted, Enforcement, Event, JsonLinesWriter, Limits, Outcome,
    RunFinished, RunStarted,
};

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
    s
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

/// Writes the JSON Lines event stream of a judging run.
pub struct EventLog {
    w: JsonLinesWriter<BufWriter<File>>,
    index: u64,
    outcomes: BTreeMap<Outcome, u64>,
    passed: u64,
    failed: u64,
    not_run: u64,
    start: Instant,
}

impl EventLog {
    /// Creates the file and writes `run_started`.
    pub fn create(
        path: &Path,
        tier: &str,
        enforcement: &Enforcement,
        limits: Limits,
        cases: u64,
        workers: u32,
    ) -> Result<EventLog, String> {
        let f = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let mut log = EventLog {
            w: JsonLinesWriter::new(BufWriter::new(f)),
            index: 0,
            outcomes: BTreeMap::new(),
            passed: 0,
            failed: 0,
            not_run: 0,
            start: Instant::now(),
        };
        log.emit(&Event::RunStarted(RunStarted::now(
            tier,
            enforcement.clone(),
            limits,
            cases,
            workers,
        )))?;
        Ok(log)
    }

    fn emit(&mut self, e: &Event) -> Result<(), String> {
        self.w
            .write(e)
            .map_err(|e| format!("cannot write the report: {e}"))
    }

    fn case(
        &mut self,
        id: String,
        worker: usize,
        verdict: Verdict,
        message: &str,
        result: &CaseResult,
    ) -> Result<(), String> {
        let index = self.index;
        self.index += 1;
        self.emit(&Event::CaseStarted(CaseStarted {
            id: id.clone(),
            index,
            attempt: 1,
            worker: worker as u32,
        }))?;
        let mut result = result.clone();
        result.reason = format!(
            "judge_verdict={verdict} ({}){}{}; run: {}",
            verdict.describe(),
            if message.is_empty() { "" } else { ": " },
            one_line(message, 500),
            result.reason
        );
        *self.outcomes.entry(result.outcome).or_default() += 1;
        let passed = verdict == Verdict::AC;
        if passed {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        self.emit(&Event::CaseFinished(Box::new(CaseFinished {
            verdict: None,
            expected_verdict: None,
            id,
            index,
            attempt: 1,
            worker: worker as u32,
            expected: Outcome::Ok,
            passed,
            flaky: false,
            will_retry: false,
            result,
        })))
    }

    /// Writes the events of one judgement: the compilation (id `<prefix>compile`) and each
    /// case (id `<prefix><case name>`).
    pub fn judgement(&mut self, prefix: &str, r: &JudgeReport) -> Result<(), String> {
        if let Some(c) = &r.compile {
            if let Some(res) = &c.result {
                self.case(format!("{prefix}compile"), 0, c.verdict, &c.message, res)?;
            }
        }
        for c in &r.cases {
            self.case(
                format!("{prefix}{}", c.name),
                c.worker,
                c.verdict,
                &c.message,
                &c.run,
            )?;
        }
        self.not_run += r.skipped as u64;
        Ok(())
    }

    /// Writes `run_finished` and flushes.
    pub fn finish(mut self) -> Result<(), String> {
        let rf = RunFinished {
            skipped: 0,
            outcomes: std::mem::take(&mut self.outcomes),
            passed: self.passed,
            failed: self.failed,
            flaky: 0,
            not_run: self.not_run,
            duration_us: self.start.elapsed().as_micros() as u64,
            interrupted: false,
            fail_fast: false,
            killed_running: 0,
            worker_errors: Vec::new(),
        };
        self.emit(&Event::RunFinished(rf))?;
        self.w
            .into_inner()
            .flush()
            .map_err(|e| format!("cannot write the report: {e}"))
    }
}
