//! The HTML report: one self-contained page for people (no external assets, no JavaScript;
//! inline CSS, inline SVG plots) rendered from the events of a run.
//!
//! Everything a case produced — its id, its output, the reason, even host facts read back from
//! a report file — is hostile data: every string goes through [`escape`] (or
//! [`escape_output`]) before it reaches the page.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::events::{
    CaseFinished, CaseStarted, CrashFound, Event, FuzzFinished, FuzzStats, RunFinished, RunStarted,
};
use crate::{Level, Limits, Outcome};

/// What the page shows and how much of it.
#[derive(Debug, Clone)]
pub struct HtmlOptions {
    /// Title of the page (escaped).
    pub title: String,
    /// Most rows of the verdict table per run. Failing cases come first, so a cut drops
    /// passing cases first.
    pub max_rows: usize,
    /// Most cases per run whose output is shown (failing cases, in table order).
    pub max_output_cases: usize,
    /// Bytes shown of each stream of a case: its first and last halves when longer.
    pub max_output_bytes: usize,
    /// Notes shown at the top of the page (e.g. lines of a report that could not be read).
    pub notes: Vec<String>,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        HtmlOptions {
            title: "hatchery report".into(),
            max_rows: 200_000,
            max_output_cases: 500,
            max_output_bytes: 4096,
            notes: Vec::new(),
        }
    }
}

/// The events of one run, by kind. A report file may hold several runs (one per
/// `run_started`); [`RunView::from_events`] splits them.
#[derive(Debug, Default, Clone)]
pub struct RunView<'a> {
    pub started: Option<&'a RunStarted>,
    pub case_started: Vec<&'a CaseStarted>,
    /// Every finished attempt, retries included.
    pub attempts: Vec<&'a CaseFinished>,
    pub finished: Option<&'a RunFinished>,
    /// A fuzz campaign's statistics over time, findings and totals (empty otherwise).
    pub fuzz_stats: Vec<&'a FuzzStats>,
    pub crashes: Vec<&'a CrashFound>,
    pub fuzz_finished: Option<&'a FuzzFinished>,
}

impl<'a> RunView<'a> {
    /// Splits an event stream into runs: each `run_started` begins a new one.
    pub fn from_events(events: &'a [Event]) -> Vec<RunView<'a>> {
        let mut runs: Vec<RunView<'a>> = Vec::new();
        for e in events {
            if let Event::RunStarted(rs) = e {
                runs.push(RunView {
                    started: Some(rs),
                    ..Default::default()
                });
                continue;
            }
            if runs.is_empty() {
                runs.push(RunView::default());
            }
            let r = runs.last_mut().expect("pushed above");
            match e {
                Event::CaseStarted(c) => r.case_started.push(c),
                Event::CaseFinished(c) => r.attempts.push(c),
                Event::RunFinished(f) => r.finished = Some(f),
                // Progress notices; a skipped case is counted in run_finished.
                Event::RunStarted(_)
                | Event::CaseSlow(_)
                | Event::CaseRetrying(_)
                | Event::CaseSkipped(_) => {}
                // Fuzz campaigns: their cases are rendered like any other run's, with the
                // campaign's plots and findings above them.
                Event::FuzzStats(st) => r.fuzz_stats.push(st),
                Event::CrashFound(c) => r.crashes.push(c),
                Event::FuzzFinished(f) => r.fuzz_finished = Some(f),
                Event::FuzzStarted(_) => {}
            }
        }
        runs
    }
}

/// Renders a whole event stream (one or more runs) as one page.
pub fn render_events(events: &[Event], opts: &HtmlOptions) -> String {
    render(&RunView::from_events(events), opts)
}

// ---------------------------------------------------------------------------------------------
// Escaping

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// [`escape`], appending to `out`.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Longest reason shown in the table, in characters (the JSON Lines report has it all).
const MAX_REASON_CHARS: usize = 500;
/// Longest case id shown, in characters.
const MAX_ID_CHARS: usize = 1000;

/// [`escape_into`] of at most `max` characters of `s`, with `…` when cut.
fn escape_capped(out: &mut String, s: &str, max: usize) {
    match s.char_indices().nth(max) {
        Some((at, _)) => {
            escape_into(out, &s[..at]);
            out.push('…');
        }
        None => escape_into(out, s),
    }
}

/// Escapes program output for a `<pre>`: like [`escape`], and control characters (other than
/// tab and newline) become visible Unicode control pictures (ESC shows as `␛`), so terminal
/// escape sequences and NULs can neither disappear nor confuse the page.
pub fn escape_output(out: &mut String, s: &str) {
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\r' if it.peek() == Some(&'\n') => {}
            '\t' | '\n' => out.push(c),
            c @ '\0'..='\x1f' => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'));
            }
            '\x7f' => out.push('\u{2421}'),
            c @ '\u{80}'..='\u{9f}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => escape_into(out, c.encode_utf8(&mut [0; 4])),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Histograms

/// How bin edges step: decimal (1-2-5 series; times) or binary (powers of two; sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steps {
    Decimal,
    Binary,
}

/// A histogram of non-negative integers. Bin `i` holds values in `[edges[i], edges[i+1])`;
/// the last bin also holds `u64::MAX` when the top edge saturated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    pub edges: Vec<u64>,
    pub counts: Vec<u64>,
    /// Edges grow geometrically (the values spread over orders of magnitude).
    pub log: bool,
    /// The last bin is a tail bin: equal-width bins cover the values up to the 99th
    /// percentile, and the last one, `[edge, u64::MAX]`, holds the long tail beyond them.
    pub tail: bool,
    /// The largest value.
    pub max: u64,
}

/// Spread (max / smallest positive value) from which the bins grow geometrically.
const LOG_SPREAD: u64 = 50;

fn next_step(v: u64, steps: Steps) -> Option<u64> {
    match steps {
        Steps::Binary => v.checked_mul(2),
        Steps::Decimal => {
            // 1 → 2 → 5 → 10: the leading digit decides.
            let mut p = 1u64;
            while v / p >= 10 {
                p *= 10;
            }
            match v / p {
                1 => v.checked_mul(2),
                2 => (v / 2).checked_mul(5),
                _ => v.checked_mul(2),
            }
        }
    }
}

/// The largest step value (1-2-5 × 10^k, or 2^k) not above `v` (`v` ≥ 1).
fn step_floor(v: u64, steps: Steps) -> u64 {
    let mut e = 1u64;
    while let Some(n) = next_step(e, steps) {
        if n > v {
            break;
        }
        e = n;
    }
    e
}

/// The smallest step value not below `v` (saturating).
fn step_ceil(v: u64, steps: Steps) -> u64 {
    let mut e = 1u64;
    while e < v {
        match next_step(e, steps) {
            Some(n) => e = n,
            None => return u64::MAX,
        }
    }
    e
}

impl Histogram {
    /// Bins `values`: about `target_bins` equal bins of a round width, or, when the values
    /// spread over orders of magnitude, geometric bins (1-2-5 or powers of two) with a
    /// `[0, first)` bin for zeros. `None` when there are no values.
    pub fn new(values: &[u64], steps: Steps, target_bins: usize) -> Option<Histogram> {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        // The 99th percentile (the maximum below 101 values): equal-width bins stop there so
        // that one slow case does not squash all the others into one bar.
        let p99 = sorted[((sorted.len() - 1) * 99).div_ceil(100)];
        let min_pos = sorted.iter().copied().find(|&v| v > 0);
        let mut edges = Vec::new();
        let mut tail = false;
        let log = matches!(min_pos, Some(p) if p99 / p >= LOG_SPREAD);
        if log {
            let p = min_pos.expect("log implies a positive value");
            if min == 0 {
                edges.push(0);
            }
            let mut e = step_floor(p, steps);
            loop {
                edges.push(e);
                if e > max {
                    break;
                }
                match next_step(e, steps) {
                    Some(n) => e = n,
                    None => {
                        edges.push(u64::MAX);
                        break;
                    }
                }
            }
        } else {
            let target = target_bins.max(1) as u64;
            let range = p99 - min;
            let width = step_ceil(range / target + 1, steps).max(1);
            let mut e = min / width * width;
            loop {
                edges.push(e);
                if e > p99 {
                    break;
                }
                match e.checked_add(width) {
                    Some(n) => e = n,
                    None => {
                        edges.push(u64::MAX);
                        break;
                    }
                }
            }
            let top = *edges.last().expect("at least one edge");
            if max >= top && top != u64::MAX {
                edges.push(u64::MAX);
                tail = true;
            }
        }
        let mut h = Histogram {
            counts: vec![0; edges.len() - 1],
            edges,
            log,
            tail,
            max,
        };
        for &v in values {
            let b = h.bin_of(v);
            h.counts[b] += 1;
        }
        Some(h)
    }

    /// The bin that holds `v` (values outside the edges go to the nearest end bin).
    pub fn bin_of(&self, v: u64) -> usize {
        self.edges
            .partition_point(|&e| e <= v)
            .saturating_sub(1)
            .min(self.counts.len() - 1)
    }
}

// ---------------------------------------------------------------------------------------------
// Formatting helpers

fn trim_num(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// Compact time label for an axis: `500µs`, `1.5ms`, `2s`.
fn tick_us(v: u64) -> String {
    if v == u64::MAX {
        "∞".into()
    } else if v < 1000 {
        format!("{v}µs")
    } else if v < 1_000_000 {
        format!("{}ms", trim_num(v as f64 / 1e3))
    } else {
        format!("{}s", trim_num(v as f64 / 1e6))
    }
}

/// Compact size label for an axis: `512B`, `4KiB`, `1.5MiB`.
fn tick_bytes(v: u64) -> String {
    const K: f64 = 1024.0;
    let f = v as f64;
    if v == u64::MAX {
        "∞".into()
    } else if f < K {
        format!("{v}B")
    } else if f < K * K {
        format!("{}KiB", trim_num(f / K))
    } else if f < K * K * K {
        format!("{}MiB", trim_num(f / (K * K)))
    } else {
        format!("{}GiB", trim_num(f / (K * K * K)))
    }
}

/// `2024-05-01 12:34:56 UTC` from milliseconds since the epoch.
fn fmt_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn fmt_us(us: u64) -> String {
    crate::fmt_us(us)
}

fn fmt_bytes(b: u64) -> String {
    crate::fmt_bytes(b)
}

fn limits_text(l: &Limits) -> String {
    let mut v = Vec::new();
    let t = |v: &mut Vec<String>, name: &str, x: Option<u64>, f: fn(u64) -> String| {
        if let Some(x) = x {
            v.push(format!("{name} {}", f(x)));
        }
    };
    t(&mut v, "cpu", l.cpu_us, fmt_us);
    t(&mut v, "wall", l.wall_us, fmt_us);
    t(&mut v, "memory", l.memory_bytes, fmt_bytes);
    t(&mut v, "output", l.output_bytes, fmt_bytes);
    t(&mut v, "file size", l.file_size_bytes, fmt_bytes);
    t(&mut v, "stack", l.stack_bytes, fmt_bytes);
    t(&mut v, "pids", l.pids, |x| x.to_string());
    t(&mut v, "open files", l.open_files, |x| x.to_string());
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn level_str(l: Level) -> &'static str {
    match l {
        Level::Full => "full",
        Level::Partial => "partial",
        Level::None => "none",
    }
}

// ---------------------------------------------------------------------------------------------
// Cases of a run

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Fail,
    Unfinished,
    Flaky,
    Pass,
}

struct Row<'a> {
    index: u64,
    id: &'a str,
    /// The last finished attempt.
    last: Option<&'a CaseFinished>,
    /// Finished attempts before the last one.
    earlier: Vec<&'a CaseFinished>,
    /// Attempts started (at least the finished ones).
    attempts: u32,
    status: Status,
}

fn rows_of<'a>(run: &RunView<'a>) -> Vec<Row<'a>> {
    let mut by_index: BTreeMap<u64, (Vec<&'a CaseFinished>, Option<&'a CaseStarted>)> =
        BTreeMap::new();
    for a in &run.attempts {
        by_index.entry(a.index).or_default().0.push(a);
    }
    for s in &run.case_started {
        let slot = &mut by_index.entry(s.index).or_default().1;
        if !matches!(slot, Some(p) if p.attempt >= s.attempt) {
            *slot = Some(s);
        }
    }
    by_index
        .into_iter()
        .map(|(index, (mut tries, started))| {
            tries.sort_by_key(|t| t.attempt);
            let last = tries.pop();
            let finished_attempt = last.map_or(0, |l| l.attempt);
            let started_attempt = started.map_or(0, |s| s.attempt);
            // A later attempt started but never finished: it was killed (interrupted run) or
            // the report was cut short.
            let unfinished = started_attempt > finished_attempt || last.is_none();
            let status = match last {
                _ if unfinished => Status::Unfinished,
                Some(l) if !l.passed => Status::Fail,
                Some(l) if l.flaky => Status::Flaky,
                _ => Status::Pass,
            };
            Row {
                index,
                id: last
                    .map(|l| l.id.as_str())
                    .or(started.map(|s| s.id.as_str()))
                    .unwrap_or(""),
                last,
                earlier: tries,
                attempts: finished_attempt.max(started_attempt),
                status,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The page

const CSS: &str = "\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em;color:#1d1d1f;background:#fff}
h1{font-size:1.5em;margin:0 0 .5em}h2{font-size:1.25em;margin:1.5em 0 .5em;border-bottom:1px solid #ddd}
h3{font-size:1.05em;margin:1.2em 0 .4em}
table{border-collapse:collapse;margin:.3em 0}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3;position:sticky;top:0}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
.full{color:#0a6b2a}.partial{color:#9a6200;font-weight:600}.none{color:#b00020;font-weight:600}
.note{background:#fff6d6;border:1px solid #e8cf7a;padding:4px 8px;margin:.4em 0}
.counts td:nth-child(2){text-align:right}
table.cases td:nth-child(1),table.cases td:nth-child(7),table.cases td:nth-child(8),
table.cases td:nth-child(9),table.cases td:nth-child(10),table.cases td:nth-child(11){text-align:right;white-space:nowrap}
tr.F>td,tr.U>td{background:#fde8e8}tr.K>td{background:#fff4d6}
tr.F>td:nth-child(3),tr.U>td:nth-child(3){color:#b00020;font-weight:700}
tr.K>td:nth-child(3){color:#9a6200;font-weight:700}
tr.o>td{background:#fafafa;padding:0 6px 4px 24px}
pre{white-space:pre-wrap;word-break:break-all;max-height:24em;overflow:auto;background:#f6f6f6;
border:1px solid #e2e2e2;padding:4px 6px;margin:.2em 0}
pre em{color:#777;font-style:italic}
summary{cursor:pointer}
.plots{display:flex;flex-wrap:wrap;gap:16px}.plot{max-width:100%}
.plot p{margin:.2em 0;font-size:12px;color:#444}
svg text{font:11px system-ui,sans-serif;fill:#333}
.bp{fill:#4a7fc1}.bf{fill:#d0453a}
";

/// Renders runs as one self-contained HTML page.
pub fn render(runs: &[RunView<'_>], opts: &HtmlOptions) -> String {
    let mut h = String::with_capacity(64 << 10);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    h.push_str("<meta name=\"generator\" content=\"hatchery\">");
    h.push_str("<title>");
    escape_into(&mut h, &opts.title);
    h.push_str("</title>\n<style>\n");
    h.push_str(CSS);
    h.push_str("</style></head>\n<body>\n<h1>");
    escape_into(&mut h, &opts.title);
    h.push_str("</h1>\n");
    for n in &opts.notes {
        h.push_str("<p class=\"note\">");
        escape_into(&mut h, n);
        h.push_str("</p>\n");
    }
    if runs.is_empty() {
        h.push_str("<p class=\"note\">This report holds no run.</p>\n");
    }
    for (i, run) in runs.iter().enumerate() {
        if runs.len() > 1 {
            let _ = writeln!(h, "<h2>Run {} of {}</h2>", i + 1, runs.len());
        }
        render_run(&mut h, run, opts);
    }
    h.push_str("</body></html>\n");
    h
}

fn render_run(h: &mut String, run: &RunView<'_>, opts: &HtmlOptions) {
    let rows = rows_of(run);
    render_header(h, run);
    if !run.fuzz_stats.is_empty() || !run.crashes.is_empty() || run.fuzz_finished.is_some() {
        render_campaign(h, run);
    }
    render_summary(h, run, &rows);
    render_plots(h, &rows);
    render_table(h, run, &rows, opts);
}

fn fact(h: &mut String, name: &str, value: &str) {
    h.push_str("<dt>");
    escape_into(h, name);
    h.push_str("</dt><dd>");
    escape_into(h, if value.is_empty() { "unknown" } else { value });
    h.push_str("</dd>\n");
}

fn render_header(h: &mut String, run: &RunView<'_>) {
    h.push_str("<h2>Run</h2>\n");
    let Some(rs) = run.started else {
        h.push_str(
            "<p class=\"note\">This run has no <code>run_started</code> event: its facts are \
             unknown.</p>\n",
        );
        return;
    };
    h.push_str("<dl class=\"facts\">\n");
    fact(h, "hatchery", &rs.hatchery_version);
    fact(h, "schema version", &rs.schema_version.to_string());
    fact(h, "started", &fmt_utc(rs.started_at_ms));
    if let Some(f) = run.finished {
        fact(h, "duration", &fmt_us(f.duration_us));
    }
    fact(h, "tier", &rs.tier);
    fact(h, "workers", &rs.workers.to_string());
    fact(h, "cases", &rs.cases.to_string());
    fact(h, "default limits", &limits_text(&rs.limits));
    let host = &rs.host;
    fact(
        h,
        "host",
        &format!(
            "{} · kernel {} · {} CPU(s) · cgroup {}",
            if host.hostname.is_empty() {
                "unknown host"
            } else {
                &host.hostname
            },
            if host.kernel.is_empty() {
                "unknown"
            } else {
                &host.kernel
            },
            host.cpus,
            if host.cgroup_version.is_empty() {
                "unknown"
            } else {
                &host.cgroup_version
            },
        ),
    );
    h.push_str("</dl>\n");
    let _ = write!(h, "<h3>Enforcement (tier ");
    escape_into(h, &rs.tier);
    h.push_str(")</h3>\n");
    if rs.enforcement.is_empty() {
        h.push_str("<p>No layer reported.</p>\n");
    } else {
        let weak = rs
            .enforcement
            .values()
            .filter(|l| l.level != Level::Full)
            .count();
        if weak == 0 {
            h.push_str("<p>Every layer fully enforced.</p>\n");
        } else {
            let _ = writeln!(
                h,
                "<p class=\"note\">{weak} layer(s) not fully enforced on this host.</p>"
            );
        }
        h.push_str("<table><tr><th>layer</th><th>state</th><th>mechanism</th></tr>\n");
        for (name, l) in &rs.enforcement {
            h.push_str("<tr><td>");
            escape_into(h, name);
            let lv = level_str(l.level);
            let _ = write!(h, "</td><td class=\"{lv}\">{lv}</td><td>");
            escape_into(h, &l.mechanism);
            h.push_str("</td></tr>\n");
        }
        h.push_str("</table>\n");
    }
}

fn render_summary(h: &mut String, run: &RunView<'_>, rows: &[Row<'_>]) {
    h.push_str("<h2>Summary</h2>\n");
    let unfinished = rows
        .iter()
        .filter(|r| r.status == Status::Unfinished)
        .count() as u64;
    let (outcomes, passed, failed, flaky, not_run) = match run.finished {
        Some(f) => (f.outcomes.clone(), f.passed, f.failed, f.flaky, f.not_run),
        None => {
            let mut o: BTreeMap<Outcome, u64> = BTreeMap::new();
            for l in rows.iter().filter_map(|r| r.last) {
                *o.entry(l.result.outcome).or_default() += 1;
            }
            let count = |s: Status| rows.iter().filter(|r| r.status == s).count() as u64;
            let flaky = count(Status::Flaky);
            let declared = run.started.map_or(0, |s| s.cases);
            (
                o,
                count(Status::Pass) + flaky,
                count(Status::Fail),
                flaky,
                declared.saturating_sub(rows.len() as u64),
            )
        }
    };
    if run.finished.is_none() {
        h.push_str(
            "<p class=\"note\">The stream has no <code>run_finished</code> event: the run did \
             not finish or the report was cut short. The counts below are those of the cases \
             present.</p>\n",
        );
    }
    if let Some(f) = run.finished {
        if f.interrupted {
            let _ = writeln!(
                h,
                "<p class=\"note\">Interrupted (SIGINT/SIGTERM): {} running case(s) were killed.</p>",
                f.killed_running
            );
        }
        if f.fail_fast {
            h.push_str("<p class=\"note\">Stopped early: the failure limit was reached.</p>\n");
        }
        for e in &f.worker_errors {
            h.push_str("<p class=\"note\">worker error: ");
            escape_into(h, e);
            h.push_str("</p>\n");
        }
    }
    let verdict = if failed == 0 && not_run == 0 && unfinished == 0 {
        "<b class=\"full\">all passed</b>"
    } else {
        "<b class=\"none\">some cases failed or did not run</b>"
    };
    let _ = writeln!(
        h,
        "<p>{verdict}: {passed} passed ({flaky} flaky), {failed} failed, {not_run} not run{}</p>",
        if unfinished > 0 {
            format!(", {unfinished} started but not finished")
        } else {
            String::new()
        }
    );
    h.push_str("<table class=\"counts\"><tr><th>outcome</th><th>cases</th></tr>\n");
    for o in Outcome::ALL {
        let n = outcomes.get(&o).copied().unwrap_or(0);
        let _ = writeln!(h, "<tr><td>{}</td><td>{n}</td></tr>", o.as_str());
    }
    h.push_str("</table>\n");
}

struct Series {
    title: &'static str,
    unit: &'static str,
    steps: Steps,
    tick: fn(u64) -> String,
    long: fn(u64) -> String,
    get: fn(&CaseFinished) -> u64,
}

const SERIES: [Series; 3] = [
    Series {
        title: "CPU time",
        unit: "user + system, all processes",
        steps: Steps::Decimal,
        tick: tick_us,
        long: fmt_us,
        get: |c| c.result.usage.cpu_us,
    },
    Series {
        title: "Wall time",
        unit: "elapsed",
        steps: Steps::Decimal,
        tick: tick_us,
        long: fmt_us,
        get: |c| c.result.usage.wall_us,
    },
    Series {
        title: "Peak memory",
        unit: "the case's processes only",
        steps: Steps::Binary,
        tick: tick_bytes,
        long: fmt_bytes,
        get: |c| c.result.usage.peak_memory_bytes,
    },
];

fn render_plots(h: &mut String, rows: &[Row<'_>]) {
    h.push_str("<h2>Distributions</h2>\n");
    let finals: Vec<(&CaseFinished, bool)> = rows
        .iter()
        .filter_map(|r| r.last.map(|l| (l, r.status == Status::Fail)))
        .collect();
    if finals.is_empty() {
        h.push_str("<p>No case finished: nothing to plot.</p>\n");
        return;
    }
    h.push_str(
        "<p>Last attempt of each case. Bars stack failed cases (red) under the others (blue); \
         hover a bar for its range and counts.</p>\n<div class=\"plots\">\n",
    );
    for s in &SERIES {
        let values: Vec<u64> = finals.iter().map(|(c, _)| (s.get)(c)).collect();
        let Some(hist) = Histogram::new(&values, s.steps, 30) else {
            continue;
        };
        let mut failed = vec![0u64; hist.counts.len()];
        for ((_, f), &v) in finals.iter().zip(&values) {
            if *f {
                failed[hist.bin_of(v)] += 1;
            }
        }
        h.push_str("<div class=\"plot\">");
        svg_histogram(h, s, &hist, &failed);
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        let (imax, _) = values
            .iter()
            .enumerate()
            .max_by_key(|(_, &v)| v)
            .expect("not empty");
        let _ = write!(
            h,
            "<p>{} cases · median {} · p90 {} · p99 {} · max {} (",
            values.len(),
            (s.long)(q(0.5)),
            (s.long)(q(0.9)),
            (s.long)(q(0.99)),
            (s.long)(sorted[sorted.len() - 1]),
        );
        escape_capped(h, &finals[imax].0.id, MAX_ID_CHARS);
        h.push_str(")</p></div>\n");
    }
    h.push_str("</div>\n");
}

// ---------------------------------------------------------------------------------------------
// Fuzz campaigns

fn render_campaign(h: &mut String, run: &RunView<'_>) {
    h.push_str("<h2>Fuzz campaign</h2>\n");
    if let Some(f) = run.fuzz_finished {
        h.push_str("<dl class=\"facts\">\n");
        fact(h, "executions", &f.execs.to_string());
        fact(
            h,
            "duration",
            &format!("{:.1} s", f.duration_ms as f64 / 1000.0),
        );
        fact(h, "corpus", &format!("{} inputs", f.corpus_size));
        fact(h, "features", &f.features.to_string());
        fact(
            h,
            "findings",
            &format!("{} ({} unique)", f.crashes, f.unique_crashes),
        );
        h.push_str("</dl>\n");
    }
    let t: Vec<f64> = run
        .fuzz_stats
        .iter()
        .map(|s| s.elapsed_ms as f64 / 1000.0)
        .collect();
    if t.len() >= 2 {
        h.push_str("<div class=\"plots\">\n");
        let rate: Vec<u64> = run.fuzz_stats.iter().map(|s| s.execs_per_s).collect();
        let cov: Vec<u64> = run.fuzz_stats.iter().map(|s| s.coverage).collect();
        let ft: Vec<u64> = run.fuzz_stats.iter().map(|s| s.features).collect();
        let corpus: Vec<u64> = run.fuzz_stats.iter().map(|s| s.corpus_size).collect();
        svg_lines(
            h,
            "executions per second",
            &t,
            &[("execs/s", "#4a7fc1", &rate)],
        );
        svg_lines(
            h,
            "coverage over time",
            &t,
            &[
                ("features", "#4a7fc1", &ft),
                ("edges", "#0a6b2a", &cov),
                ("corpus", "#9a6200", &corpus),
            ],
        );
        h.push_str("</div>\n");
    } else {
        h.push_str("<p>Fewer than two statistics samples: nothing to plot.</p>\n");
    }
    if run.crashes.is_empty() {
        h.push_str("<p>No crash, timeout, OOM or leak was found.</p>\n");
        return;
    }
    h.push_str(
        "<table class=\"crashes\"><thead><tr><th>kind</th><th>signature</th><th>reason</th>\
         <th>artifact</th><th>bytes</th><th>minimized</th><th>reproduce</th></tr></thead>\n<tbody>\n",
    );
    for c in &run.crashes {
        h.push_str(if c.new_signature {
            "<tr class=\"F\">"
        } else {
            "<tr>"
        });
        for (i, cell) in [
            c.kind.as_str().to_owned(),
            if c.new_signature {
                c.signature.clone()
            } else {
                format!("{} (duplicate)", c.signature)
            },
            c.reason.clone(),
            c.artifact.clone(),
            c.size.to_string(),
            match (&c.minimized, c.minimized_size) {
                (Some(m), Some(n)) => format!("{m} ({n} bytes)"),
                _ => String::new(),
            },
            c.reproduce.clone(),
        ]
        .iter()
        .enumerate()
        {
            h.push_str(if i == 6 { "<td><code>" } else { "<td>" });
            escape_into(h, cell);
            h.push_str(if i == 6 { "</code></td>" } else { "</td>" });
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
}

/// A line plot of series over time `t` (seconds), one y axis from 0.
fn svg_lines(h: &mut String, title: &str, t: &[f64], series: &[(&str, &str, &[u64])]) {
    const W: f64 = 460.0;
    const H: f64 = 230.0;
    const L: f64 = 70.0;
    const R: f64 = 30.0;
    const T: f64 = 24.0;
    const B: f64 = 46.0;
    let (pw, ph) = (W - L - R, H - T - B);
    let tmax = t.last().copied().unwrap_or(1.0).max(1e-3);
    let vmax = series
        .iter()
        .flat_map(|(_, _, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let ystep = step_ceil(vmax.div_ceil(4), Steps::Decimal);
    let ytop = vmax.div_ceil(ystep) * ystep;
    let _ = write!(
        h,
        "<div class=\"plot\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" \
         height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{title}\">\
         <text x=\"{L}\" y=\"14\" font-weight=\"600\">{title}</text>"
    );
    let x = |s: f64| L + s / tmax * pw;
    let y = |v: u64| T + ph - v as f64 / ytop as f64 * ph;
    for (k, (name, color, vals)) in series.iter().enumerate() {
        let mut d = String::new();
        for (i, (s, v)) in t.iter().zip(vals.iter()).enumerate() {
            let _ = write!(
                d,
                "{}{:.1} {:.1}",
                if i == 0 { "M" } else { "L" },
                x(*s),
                y(*v)
            );
        }
        let _ = write!(
            h,
            "<path d=\"{d}\" stroke=\"{color}\" stroke-width=\"1.5\" fill=\"none\">\
             <title>{name}</title></path>\
             <text x=\"{:.1}\" y=\"14\" text-anchor=\"end\" fill=\"{color}\">{name}</text>",
            W - R - (series.len() - 1 - k) as f64 * 70.0
        );
    }
    svg_axes(h, (L, T, pw, ph), ytop, ystep);
    for i in 0..=4 {
        let s = tmax * i as f64 / 4.0;
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{s:.0}</text>",
            x(s),
            T + ph + 15.0
        );
    }
    let _ = writeln!(
        h,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">elapsed (s)</text></svg></div>",
        L + pw / 2.0,
        H - 8.0
    );
}

/// The axes of a plot area `(left, top, width, height)` and the y ticks `0, step, .., top`.
fn svg_axes(h: &mut String, (l, t, pw, ph): (f64, f64, f64, f64), ytop: u64, ystep: u64) {
    let _ = write!(
        h,
        "<path d=\"M{l} {t}V{y0}H{x1}\" stroke=\"#333\" fill=\"none\"/>",
        y0 = t + ph,
        x1 = l + pw
    );
    let mut v = 0;
    while v <= ytop {
        let y = t + ph - v as f64 / ytop as f64 * ph;
        let _ = write!(
            h,
            "<path d=\"M{} {y:.1}h4\" stroke=\"#333\"/><text x=\"{}\" y=\"{:.1}\" \
             text-anchor=\"end\">{v}</text>",
            l - 4.0,
            l - 6.0,
            y + 4.0
        );
        v += ystep;
    }
}

fn svg_histogram(h: &mut String, s: &Series, hist: &Histogram, failed: &[u64]) {
    const W: f64 = 460.0;
    const H: f64 = 230.0;
    const L: f64 = 62.0;
    const R: f64 = 30.0;
    const T: f64 = 24.0;
    const B: f64 = 46.0;
    let pw = W - L - R;
    let ph = H - T - B;
    let n = hist.counts.len();
    // Y axis: round ticks (1-2-5 steps), about four of them.
    let cmax = hist.counts.iter().copied().max().unwrap_or(0).max(1);
    let ystep = step_ceil(cmax.div_ceil(4), Steps::Decimal);
    let ytop = cmax.div_ceil(ystep) * ystep;
    let bw = pw / n as f64;
    let tick = |i: usize| {
        if hist.tail && i == n {
            (s.tick)(hist.max)
        } else {
            (s.tick)(hist.edges[i])
        }
    };
    let _ = write!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{} histogram\">\
         <text x=\"{L}\" y=\"14\" font-weight=\"600\">{}</text>\
         <text x=\"{}\" y=\"14\" text-anchor=\"end\">{}</text>",
        s.title,
        s.title,
        W - R,
        match (hist.log, hist.tail) {
            (true, _) => "log scale",
            (false, false) => "linear scale",
            (false, true) => "linear scale · last bar: the top 1%",
        }
    );
    // Bars: failed at the bottom, the others on top.
    for (i, (&c, &f)) in hist.counts.iter().zip(failed).enumerate() {
        if c == 0 {
            continue;
        }
        let x = L + i as f64 * bw;
        let w = (bw - 1.0).max(0.5);
        let range = if hist.tail && i == n - 1 {
            format!(
                "[{}, {}] (the tail above the 99th percentile)",
                tick(i),
                tick(n)
            )
        } else {
            format!("[{}, {})", tick(i), tick(i + 1))
        };
        let hc = c as f64 / ytop as f64 * ph;
        let hf = f as f64 / ytop as f64 * ph;
        let _ = write!(
            h,
            "<g><title>{range}: {c} case(s), {f} failed</title>\
             <rect class=\"bp\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\"/>",
            T + ph - hc,
            hc - hf
        );
        if f > 0 {
            let _ = write!(
                h,
                "<rect class=\"bf\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{hf:.1}\"/>",
                T + ph - hf
            );
        }
        h.push_str("</g>");
    }
    if hist.tail {
        let x = L + (n - 1) as f64 * bw - 0.5;
        let _ = write!(
            h,
            "<path d=\"M{x:.1} {T}V{}\" stroke=\"#999\" stroke-dasharray=\"3 3\"/>",
            T + ph
        );
    }
    svg_axes(h, (L, T, pw, ph), ytop, ystep);
    // X ticks on edges, at most 7 labels, always the last one.
    let every = (n + 1).div_ceil(7).max(1);
    for i in 0..=n {
        if i != n && (i % every != 0 || n - i < every) {
            continue;
        }
        let x = L + i as f64 * bw;
        let _ = write!(
            h,
            "<path d=\"M{x:.1} {}v4\" stroke=\"#333\"/><text x=\"{x:.1}\" y=\"{}\" \
             text-anchor=\"middle\">{}</text>",
            T + ph,
            T + ph + 15.0,
            tick(i)
        );
    }
    let _ = write!(
        h,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{} ({})</text>\
         <text transform=\"translate(12 {}) rotate(-90)\" text-anchor=\"middle\">cases</text>\
         </svg>",
        L + pw / 2.0,
        H - 8.0,
        s.title,
        s.unit,
        T + ph / 2.0
    );
}

fn exit_cell(c: &CaseFinished) -> String {
    let r = &c.result;
    match (&r.signal, r.signal_number, r.exit_code) {
        (Some(name), n, _) => {
            let mut s = name.clone();
            if let Some(n) = n {
                let _ = write!(s, " ({n})");
            }
            if r.core_dumped {
                s.push_str(", core");
            }
            s
        }
        (None, Some(n), _) => format!("signal {n}"),
        (None, None, Some(code)) => format!("exit {code}"),
        (None, None, None) => String::new(),
    }
}

fn render_table(h: &mut String, run: &RunView<'_>, rows: &[Row<'_>], opts: &HtmlOptions) {
    h.push_str("<h2>Verdicts</h2>\n");
    if rows.is_empty() {
        h.push_str("<p>No case ran.</p>\n");
        return;
    }
    let mut order: Vec<&Row<'_>> = rows.iter().collect();
    order.sort_by_key(|r| (r.status, r.index));
    let failing = rows
        .iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::Unfinished))
        .count();
    let _ = writeln!(
        h,
        "<p>{} case(s); failing cases first ({failing}), then flaky, then passed, each in \
         input order. Output is shown for failing cases (up to {} per stream, at most {} \
         cases).</p>",
        rows.len(),
        fmt_bytes(opts.max_output_bytes as u64),
        opts.max_output_cases
    );
    h.push_str(
        "<table class=\"cases\"><thead><tr><th>#</th><th>case</th><th>result</th>\
         <th>outcome</th><th>exit / signal</th><th>limit hit</th><th>CPU</th><th>wall</th>\
         <th>peak memory</th><th>left over</th><th>attempts</th><th>reason</th></tr></thead>\n\
         <tbody>\n",
    );
    let run_tier = run.started.map(|s| s.tier.as_str());
    let mut outputs = 0usize;
    for r in order.iter().take(opts.max_rows) {
        let class = match r.status {
            Status::Fail => " class=\"F\"",
            Status::Unfinished => " class=\"U\"",
            Status::Flaky => " class=\"K\"",
            Status::Pass => "",
        };
        // End tags of td and tr are implied (HTML); leaving them out keeps big runs small.
        let _ = write!(h, "<tr{class}><td>{}<td>", r.index);
        escape_capped(h, r.id, MAX_ID_CHARS);
        let Some(c) = r.last else {
            let _ = writeln!(
                h,
                "<td>NOT FINISHED<td><td><td><td><td><td><td><td>{}<td>started, never finished \
                 (killed when the run was interrupted, or the report was cut short)",
                r.attempts
            );
            continue;
        };
        let result = match r.status {
            Status::Fail => "FAIL",
            Status::Unfinished => "NOT FINISHED",
            Status::Flaky => "FLAKY",
            Status::Pass => "pass",
        };
        h.push_str("<td>");
        h.push_str(result);
        if c.expected != c.result.outcome {
            let _ = write!(h, " (expected {})", c.expected.as_str());
        }
        let _ = write!(h, "<td>{}<td>", c.result.outcome.as_str());
        escape_into(h, &exit_cell(c));
        h.push_str("<td>");
        if let Some(l) = c.result.limit {
            h.push_str(l.as_str());
        }
        let u = &c.result.usage;
        let _ = write!(
            h,
            "<td>{}<td>{}<td>{}<td>",
            fmt_us(u.cpu_us),
            fmt_us(u.wall_us),
            fmt_bytes(u.peak_memory_bytes)
        );
        if c.result.leftover_processes > 0 {
            let _ = write!(h, "{}", c.result.leftover_processes);
        }
        let _ = write!(h, "<td>{}", r.attempts);
        if r.status == Status::Flaky {
            h.push_str(" flaky");
        }
        h.push_str("<td>");
        escape_capped(h, &c.result.reason, MAX_REASON_CHARS);
        if run_tier.is_some_and(|t| t != c.result.tier) {
            h.push_str(" · tier ");
            escape_into(h, &c.result.tier);
        }
        h.push('\n');
        let show = matches!(r.status, Status::Fail | Status::Flaky)
            && outputs < opts.max_output_cases
            && (c.result.stdout.bytes > 0
                || c.result.stderr.bytes > 0
                || !c.result.stdout.data.is_empty()
                || !c.result.stderr.data.is_empty()
                || !r.earlier.is_empty());
        if show {
            outputs += 1;
            render_output(h, r, c, opts);
        }
    }
    if order.len() > opts.max_rows {
        let _ = writeln!(
            h,
            "<tr><td colspan=\"12\">… {} more case(s) not listed (the table stops at {} rows); \
             the JSON Lines report has them all.",
            order.len() - opts.max_rows,
            opts.max_rows
        );
    }
    h.push_str("</tbody></table>\n");
    let shown_fail = order
        .iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::Flaky))
        .count();
    if shown_fail > outputs && outputs >= opts.max_output_cases {
        let _ = writeln!(
            h,
            "<p class=\"note\">Output shown for the first {} failing or flaky cases only.</p>",
            opts.max_output_cases
        );
    }
}

fn render_stream(h: &mut String, name: &str, c: &crate::Captured, max: usize) {
    let _ = write!(h, "<div>{name}: {}", fmt_bytes(c.bytes));
    if c.truncated {
        h.push_str(" (truncated by hatchery; not all of it was kept)");
    }
    if std::str::from_utf8(&c.data).is_err() {
        h.push_str(" (not UTF-8: invalid bytes shown as \u{fffd})");
    }
    h.push_str("</div>");
    if c.data.is_empty() {
        return;
    }
    h.push_str("<pre>");
    let d = &c.data;
    if d.len() <= max {
        escape_output(h, &String::from_utf8_lossy(d));
    } else {
        let half = max / 2;
        escape_output(h, &String::from_utf8_lossy(&d[..half]));
        let _ = write!(
            h,
            "<em>\n… {} not shown …\n</em>",
            fmt_bytes((d.len() - 2 * half) as u64)
        );
        escape_output(h, &String::from_utf8_lossy(&d[d.len() - half..]));
    }
    h.push_str("</pre>");
}

fn render_output(h: &mut String, r: &Row<'_>, c: &CaseFinished, opts: &HtmlOptions) {
    let _ = write!(
        h,
        "<tr class=\"o\"><td colspan=\"12\"><details><summary>output: stdout {}, stderr {}",
        fmt_bytes(c.result.stdout.bytes),
        fmt_bytes(c.result.stderr.bytes)
    );
    if !r.earlier.is_empty() {
        let _ = write!(h, "; {} earlier attempt(s)", r.earlier.len());
    }
    h.push_str("</summary>");
    for e in &r.earlier {
        let _ = write!(
            h,
            "<div>attempt {}: {} — ",
            e.attempt,
            e.result.outcome.as_str()
        );
        escape_capped(h, &e.result.reason, MAX_REASON_CHARS);
        h.push_str("</div>");
    }
    if let Some(err) = &c.result.error {
        h.push_str("<div>error: ");
        escape_into(h, err);
        h.push_str("</div>");
    }
    if let Some(v) = &c.result.violation {
        h.push_str("<div>violation: ");
        escape_into(h, v.syscall.as_deref().unwrap_or("(unknown call)"));
        h.push_str(" — ");
        escape_into(h, &v.detail);
        h.push_str("</div>");
    }
    render_stream(h, "stdout", &c.result.stdout, opts.max_output_bytes);
    render_stream(h, "stderr", &c.result.stderr, opts.max_output_bytes);
    h.push_str("</details>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Captured, Enforcement, HostFacts, LayerState, RawFacts, Termination};

    fn started(cases: u64) -> RunStarted {
        let mut enforcement = Enforcement::new();
        enforcement.insert("user_ns".into(), LayerState::full("unshare"));
        enforcement.insert("cgroup_memory".into(), LayerState::partial("cgroup v1"));
        enforcement.insert("landlock".into(), LayerState::none("kernel <5.13"));
        RunStarted {
            schema_version: crate::SCHEMA_VERSION,
            hatchery_version: "0.1.0".into(),
            started_at_ms: 1_700_000_000_000,
            host: HostFacts {
                kernel: "6.18.0".into(),
                cgroup_version: "v1".into(),
                cpus: 2,
                hostname: "box<1>".into(),
            },
            tier: "hardened".into(),
            enforcement,
            limits: Limits {
                wall_us: Some(2_000_000),
                ..Default::default()
            },
            cases,
            workers: 2,
        }
    }

    fn finished(i: u64, id: &str, code: i32, stdout: &[u8], expected: Outcome) -> CaseFinished {
        let mut f = RawFacts {
            termination: Some(Termination::Exited(code)),
            ..Default::default()
        };
        f.usage.cpu_us = 1000 * (i + 1);
        f.usage.wall_us = 1500 * (i + 1);
        f.usage.peak_memory_bytes = 1 << 20;
        f.stdout = Captured {
            data: stdout.to_vec(),
            bytes: stdout.len() as u64,
            truncated: false,
            file: None,
        };
        let result = crate::decide(f, &Limits::default(), "hardened", Enforcement::new());
        CaseFinished {
            id: id.into(),
            index: i,
            attempt: 1,
            worker: 0,
            expected,
            verdict: None,
            expected_verdict: None,
            passed: result.outcome == expected,
            flaky: false,
            will_retry: false,
            result,
        }
    }

    fn run_finished(passed: u64, failed: u64) -> RunFinished {
        RunFinished {
            outcomes: BTreeMap::new(),
            passed,
            failed,
            flaky: 0,
            not_run: 0,
            skipped: 0,
            duration_us: 1234,
            interrupted: false,
            fail_fast: false,
            killed_running: 0,
            worker_errors: Vec::new(),
        }
    }

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("plain µs"), "plain µs");
        let mut s = String::new();
        escape_output(&mut s, "a\x1b[31mred\0\r\nb\tc\x7f</pre>");
        assert_eq!(s, "a\u{241b}[31mred\u{2400}\nb\tc\u{2421}&lt;/pre&gt;");
    }

    #[test]
    fn hostile_output_and_ids_stay_text() {
        let evil = "</pre><script>alert(1)</script>";
        let mut bad = finished(
            0,
            "<img src=x onerror=alert(2)>",
            1,
            evil.as_bytes(),
            Outcome::Ok,
        );
        bad.result.stderr = Captured {
            data: b"</details></td></tr></table><script>alert(3)</script>".to_vec(),
            bytes: 52,
            truncated: false,
            file: None,
        };
        bad.result.reason = "<script>alert(4)</script>".into();
        let mut rs = started(1);
        rs.enforcement.insert(
            "<b>x</b>".into(),
            LayerState::none("<script>alert(5)</script>"),
        );
        let events = vec![
            Event::RunStarted(rs),
            Event::CaseFinished(Box::new(bad)),
            Event::RunFinished(run_finished(0, 1)),
        ];
        let page = render_events(
            &events,
            &HtmlOptions {
                title: "<script>t</script>".into(),
                ..Default::default()
            },
        );
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<b>x</b>"));
        assert!(page.contains("&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&lt;img src=x onerror=alert(2)&gt;"));
        assert!(
            page.contains("alert(3)") && page.contains("alert(4)") && page.contains("alert(5)")
        );
        // The page's own structure is intact: exactly one details block, closed.
        assert_eq!(page.matches("<details>").count(), 1);
        assert_eq!(page.matches("</details>").count(), 1);
        assert_eq!(
            page.matches("<pre>").count(),
            page.matches("</pre>").count()
        );
    }

    #[test]
    fn an_empty_run_and_an_empty_stream_render() {
        let events = vec![
            Event::RunStarted(started(0)),
            Event::RunFinished(run_finished(0, 0)),
        ];
        let page = render_events(&events, &HtmlOptions::default());
        assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
        assert!(page.contains("No case ran."));
        assert!(page.contains("nothing to plot"));
        assert!(page.contains("all passed"));
        assert!(!page.contains("<svg"));
        let page = render_events(&[], &HtmlOptions::default());
        assert!(page.contains("holds no run"));
    }

    #[test]
    fn header_names_facts_and_layer_states() {
        let events = vec![Event::RunStarted(started(0))];
        let page = render_events(&events, &HtmlOptions::default());
        for s in [
            "0.1.0",
            "hardened",
            "6.18.0",
            "box&lt;1&gt;",
            "wall 2.000 s",
            "2023-11-14 22:13:20 UTC",
            "<td class=\"full\">full</td>",
            "<td class=\"partial\">partial</td>",
            "<td class=\"none\">none</td>",
            "no <code>run_finished</code>",
        ] {
            assert!(page.contains(s), "missing {s}");
        }
    }

    #[test]
    fn failing_cases_come_first_with_their_output() {
        let events = vec![
            Event::RunStarted(started(3)),
            Event::CaseFinished(Box::new(finished(0, "good-0", 0, b"fine", Outcome::Ok))),
            Event::CaseFinished(Box::new(finished(1, "bad-1", 3, b"broken", Outcome::Ok))),
            Event::CaseStarted(CaseStarted {
                id: "killed-2".into(),
                index: 2,
                attempt: 1,
                worker: 1,
            }),
            Event::RunFinished(run_finished(1, 1)),
        ];
        let page = render_events(&events, &HtmlOptions::default());
        let bad = page.find("bad-1").unwrap();
        let killed = page.find("<td>killed-2").unwrap();
        let good = page.find("<td>good-0").unwrap();
        assert!(bad < killed && killed < good);
        assert!(page.contains("FAIL (expected ok)"));
        assert!(page.contains("exit 3"));
        assert!(page.contains("broken"));
        assert!(!page.contains(">fine<") && !page.contains("fine</pre>"));
        assert!(page.contains("NOT FINISHED"));
        assert_eq!(page.matches("<svg").count(), 3);
    }

    #[test]
    fn retries_make_one_row_with_the_earlier_attempts() {
        let mut first = finished(0, "shaky", 1, b"first try", Outcome::Ok);
        first.will_retry = true;
        let mut second = finished(0, "shaky", 0, b"", Outcome::Ok);
        second.attempt = 2;
        second.flaky = true;
        // A case whose retry started but never finished (the run was interrupted).
        let mut cut = finished(1, "cut", 1, b"", Outcome::Ok);
        cut.will_retry = true;
        let events = vec![
            Event::RunStarted(started(2)),
            Event::CaseFinished(Box::new(first)),
            Event::CaseFinished(Box::new(second)),
            Event::CaseFinished(Box::new(cut)),
            Event::CaseStarted(CaseStarted {
                id: "cut".into(),
                index: 1,
                attempt: 2,
                worker: 0,
            }),
        ];
        let page = render_events(&events, &HtmlOptions::default());
        assert_eq!(page.matches("<td>shaky<td>").count(), 1);
        assert!(page.contains("<tr class=\"K\"><td>0<td>shaky<td>FLAKY<td>ok"));
        assert!(page.contains("<td>2 flaky<td>"));
        assert!(page.contains("attempt 1: nonzero_exit — exited with status 1"));
        assert!(page.contains("<tr class=\"U\"><td>1<td>cut<td>NOT FINISHED"));
        // No run_finished: counted from the cases present.
        assert!(page.contains("1 passed (1 flaky), 0 failed, 0 not run, 1 started but not"));
    }

    #[test]
    fn long_output_keeps_head_and_tail() {
        let mut out = vec![b'a'; 10_000];
        out.extend_from_slice(b"THE END");
        let c = finished(0, "loud", 1, &out, Outcome::Ok);
        let events = vec![
            Event::RunStarted(started(1)),
            Event::CaseFinished(Box::new(c)),
        ];
        let page = render_events(
            &events,
            &HtmlOptions {
                max_output_bytes: 100,
                ..Default::default()
            },
        );
        assert!(page.contains("THE END"));
        assert!(page.contains("not shown"));
        assert!(page.len() < 20_000);
    }

    #[test]
    fn rows_are_capped_keeping_failures() {
        let mut events = vec![Event::RunStarted(started(10))];
        for i in 0..10 {
            let code = if i == 7 { 1 } else { 0 };
            events.push(Event::CaseFinished(Box::new(finished(
                i,
                &format!("case-{i}"),
                code,
                b"",
                Outcome::Ok,
            ))));
        }
        let page = render_events(
            &events,
            &HtmlOptions {
                max_rows: 3,
                ..Default::default()
            },
        );
        assert!(page.contains("case-7"));
        assert!(page.contains("7 more case(s) not listed"));
    }

    #[test]
    fn linear_bins_are_round_and_cover_every_value() {
        let v: Vec<u64> = (0..100).map(|i| 1000 + i * 10).collect();
        let h = Histogram::new(&v, Steps::Decimal, 30).unwrap();
        assert!(!h.log);
        assert_eq!(h.counts.iter().sum::<u64>(), 100);
        let w = h.edges[1] - h.edges[0];
        assert!(
            [1, 2, 5].contains(&(w / 10u64.pow(w.ilog10()))),
            "width {w}"
        );
        assert!(h.edges.windows(2).all(|e| e[1] - e[0] == w));
        assert!(h.edges[0] <= 1000 && *h.edges.last().unwrap() > 1990);
        assert!(h.counts.len() <= 31);
        for &x in &v {
            let b = h.bin_of(x);
            assert!(h.edges[b] <= x && x < h.edges[b + 1]);
        }
    }

    #[test]
    fn equal_values_make_one_bin_and_zeros_are_counted() {
        let h = Histogram::new(&[7, 7, 7], Steps::Decimal, 30).unwrap();
        assert_eq!(h.counts, vec![3]);
        assert!(h.edges[0] <= 7 && h.edges[1] > 7);
        let h = Histogram::new(&[0, 0], Steps::Binary, 30).unwrap();
        assert_eq!(h.counts, vec![2]);
        assert!(Histogram::new(&[], Steps::Decimal, 30).is_none());
    }

    #[test]
    fn wide_spreads_get_geometric_bins() {
        // 0, 3 µs, 1 ms, 30 s: a zero bin, then 1-2-5 steps.
        let v = [0, 3, 1000, 30_000_000];
        let h = Histogram::new(&v, Steps::Decimal, 30).unwrap();
        assert!(h.log);
        assert_eq!(&h.edges[..5], &[0, 2, 5, 10, 20]);
        assert_eq!(*h.edges.last().unwrap(), 50_000_000);
        assert_eq!(h.counts.iter().sum::<u64>(), 4);
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[1], 1);
        let h = Histogram::new(&[4096, 1 << 30], Steps::Binary, 30).unwrap();
        assert!(h.log);
        assert_eq!(h.edges[0], 4096);
        assert!(h.edges.windows(2).all(|e| e[1] == e[0] * 2));
        assert_eq!(h.counts.len(), 19);
        assert_eq!((h.counts[0], h.counts[18]), (1, 1));
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let h = Histogram::new(&[1, u64::MAX], Steps::Decimal, 30).unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), 2);
        assert_eq!(*h.edges.last().unwrap(), u64::MAX);
        let h = Histogram::new(&[u64::MAX - 5, u64::MAX], Steps::Binary, 30).unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), 2);
        let h = Histogram::new(&[0, u64::MAX], Steps::Decimal, 30).unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), 2);
    }

    #[test]
    fn a_long_tail_gets_its_own_bar() {
        // 1000 cases around 1 ms, 5 at 9 ms: equal bins up to the 99th percentile, one tail bar.
        let mut v: Vec<u64> = (0..1000).map(|i| 500 + i % 1000).collect();
        v.extend([9000; 5]);
        let h = Histogram::new(&v, Steps::Decimal, 30).unwrap();
        assert!(!h.log && h.tail);
        assert_eq!(*h.edges.last().unwrap(), u64::MAX);
        assert_eq!(*h.counts.last().unwrap(), 5);
        assert_eq!(h.max, 9000);
        let regular = &h.edges[..h.edges.len() - 1];
        let w = regular[1] - regular[0];
        assert!(regular.windows(2).all(|e| e[1] - e[0] == w));
        assert!(w <= 50, "fine bins for the bulk: width {w}");
        assert_eq!(h.counts.iter().sum::<u64>(), 1005);
        // Fewer than 101 values: the maximum is the 99th percentile, no tail bar.
        let h = Histogram::new(&[1, 2, 3, 40], Steps::Decimal, 30).unwrap();
        assert!(!h.tail);
    }

    #[test]
    fn long_reasons_and_ids_are_cut() {
        let mut c = finished(0, &"i".repeat(5000), 1, b"", Outcome::Ok);
        c.result.reason = "r".repeat(5000);
        let events = vec![
            Event::RunStarted(started(1)),
            Event::CaseFinished(Box::new(c)),
        ];
        let page = render_events(&events, &HtmlOptions::default());
        assert!(page.contains(&format!("{}…", "r".repeat(MAX_REASON_CHARS))));
        assert!(!page.contains(&"r".repeat(MAX_REASON_CHARS + 1)));
        assert!(!page.contains(&"i".repeat(MAX_ID_CHARS + 1)));
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(fmt_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn a_hundred_thousand_cases_stay_reasonable() {
        let n = 100_000u64;
        let mut events = vec![Event::RunStarted(started(n))];
        for i in 0..n {
            let code = if i % 1000 == 0 { 1 } else { 0 };
            let mut c = finished(
                i,
                &format!("suite::module::test_{i}"),
                code,
                b"",
                Outcome::Ok,
            );
            c.result.usage.wall_us = 200 + (i * 7919) % 50_000;
            c.result.usage.cpu_us = 100 + (i * 104_729) % 20_000;
            c.result.usage.peak_memory_bytes = 1_000_000 + (i * 4096) % 50_000_000;
            if code != 0 {
                c.result.stderr = Captured {
                    data: vec![b'x'; 10_000],
                    bytes: 10_000,
                    truncated: false,
                    file: None,
                };
            }
            events.push(Event::CaseFinished(Box::new(c)));
        }
        events.push(Event::RunFinished(run_finished(n - 100, 100)));
        let t = std::time::Instant::now();
        let page = render_events(&events, &HtmlOptions::default());
        let took = t.elapsed();
        eprintln!("100 000 cases: {} bytes of HTML in {:?}", page.len(), took);
        assert!(page.contains("suite::module::test_99999"));
        assert!(page.len() < 40 << 20, "{} bytes", page.len());
    }
}
