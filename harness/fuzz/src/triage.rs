//! Triage: what a replayed artifact did, from raw facts only — the case's outcome (signal,
//! exit code, the limit it hit: wall or CPU time, the cgroup's OOM event) and what the target
//! printed (a sanitizer report and its kind, libFuzzer's own reports, a Rust panic's message
//! and location, stack frames). The signature that deduplicates findings is the kind plus
//! the top frames once runtime frames (sanitizers, libFuzzer, libc, Rust's panic machinery)
//! are dropped.

use hatchery_report::{CaseResult, FindingKind, Limit, Outcome};

/// Frames of a signature (ClusterFuzz uses 3).
pub const SIGNATURE_FRAMES: usize = 3;

/// The verdict of one replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triage {
    pub kind: FindingKind,
    /// What happened, in words, with addresses and sizes left in.
    pub reason: String,
    /// The reason's class (no addresses or sizes): the first part of the signature.
    pub class: String,
    /// The top frames after runtime frames were dropped.
    pub frames: Vec<String>,
}

impl Triage {
    /// The deduplication key: `kind: class | frame | frame | frame`.
    pub fn signature(&self) -> String {
        let mut s = format!("{}: {}", self.kind.as_str(), self.class);
        for f in &self.frames {
            s.push_str(" | ");
            s.push_str(f);
        }
        s
    }
}

/// Classifies one replay of an input.
pub fn classify(r: &CaseResult) -> Triage {
    let text = String::from_utf8_lossy(&r.stderr.data);
    let report = Report::read(&text);
    let (kind, reason, class) = decide(r, &report);
    // Function names, not lines (as ClusterFuzz's crash state): one bug reached through
    // sibling statements of one function is one finding; a panic's file:line:col is in the
    // reason. Without symbolized frames, the panic's location stands in for them.
    let frames = match &report.panic {
        Some(p)
            if kind == FindingKind::Crash
                && report.sanitizer.is_none()
                && report.frames.is_empty() =>
        {
            vec![p.location.clone()]
        }
        _ => report
            .frames
            .iter()
            .take(SIGNATURE_FRAMES)
            .cloned()
            .collect(),
    };
    Triage {
        kind,
        reason,
        class,
        frames,
    }
}

fn decide(r: &CaseResult, rep: &Report) -> (FindingKind, String, String) {
    // The cgroup saw the memory limit: an OOM whatever the target printed while dying.
    if r.outcome == Outcome::MemoryLimit {
        let why = format!(
            "out of memory: the cgroup limit was hit ({} peak)",
            hatchery_report::fmt_bytes(r.usage.peak_memory_bytes)
        );
        return (FindingKind::Oom, why, "out-of-memory (cgroup)".into());
    }
    if r.outcome == Outcome::TimeLimit {
        let which = match r.limit {
            Some(Limit::Cpu) => "cpu",
            _ => "wall",
        };
        return (
            FindingKind::Timeout,
            format!("timeout: the case's {which} time limit was hit"),
            format!("timeout ({which})"),
        );
    }
    if let Some((class, reason)) = &rep.libfuzzer {
        if class.starts_with("timeout") {
            return (FindingKind::Timeout, reason.clone(), class.clone());
        }
        if class.starts_with("out-of-memory") {
            return (FindingKind::Oom, reason.clone(), class.clone());
        }
    }
    if let Some((tool, class, reason)) = &rep.sanitizer {
        if tool == "LeakSanitizer" {
            return (FindingKind::Leak, reason.clone(), "memory leak".into());
        }
        if class.starts_with("out of memory") || class.starts_with("allocator is out of memory") {
            return (
                FindingKind::Oom,
                reason.clone(),
                "out-of-memory (allocator)".into(),
            );
        }
        return (FindingKind::Crash, reason.clone(), class.clone());
    }
    if let Some(p) = &rep.panic {
        return (
            FindingKind::Crash,
            format!("rust panic at {}: {}", p.location, p.message),
            "rust panic".into(),
        );
    }
    if let Some((class, reason)) = &rep.libfuzzer {
        return (FindingKind::Crash, reason.clone(), class.clone());
    }
    match r.outcome {
        Outcome::Signaled => {
            let sig = r.signal.clone().unwrap_or_else(|| "signal".into());
            (FindingKind::Crash, format!("killed by {sig}"), sig)
        }
        Outcome::NonzeroExit => {
            let code = r.exit_code.unwrap_or(-1);
            (
                FindingKind::Crash,
                format!("exited with status {code}"),
                format!("exit {code}"),
            )
        }
        Outcome::Ok => (
            FindingKind::NotReproduced,
            "the input ran to the end without a failure".into(),
            "no failure".into(),
        ),
        _ => (
            FindingKind::Crash,
            r.reason.clone(),
            r.outcome.as_str().into(),
        ),
    }
}

/// The dynamic loader's complaint when the target could not start at all (exit 127 and
/// `error while loading shared libraries: ...`): not a finding, the target cannot be used.
pub fn cannot_start(r: &CaseResult) -> Option<String> {
    if r.exit_code != Some(127) {
        return None;
    }
    String::from_utf8_lossy(&r.stderr.data)
        .lines()
        .find(|l| l.contains("error while loading shared libraries"))
        .map(|l| l.trim().to_owned())
}

/// A Rust panic: `thread 'x' panicked at src/lib.rs:10:5:\nmessage` (Rust 1.73+) or
/// `thread 'x' panicked at 'message', src/lib.rs:10:5` (older).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panic {
    pub message: String,
    pub location: String,
}

/// What a target printed, read.
#[derive(Debug, Default)]
pub struct Report {
    /// (tool, class, reason) of the first sanitizer report.
    pub sanitizer: Option<(String, String, String)>,
    /// (class, reason) of libFuzzer's own report (deadly signal, timeout, out-of-memory).
    pub libfuzzer: Option<(String, String)>,
    pub panic: Option<Panic>,
    /// The frames of the first stack trace after the report, runtime frames dropped.
    pub frames: Vec<String>,
}

impl Report {
    pub fn read(text: &str) -> Report {
        let lines: Vec<&str> = text.lines().collect();
        let mut rep = Report::default();
        let mut trace_from = None;
        for (i, line) in lines.iter().enumerate() {
            if rep.panic.is_none() {
                if let Some(p) = panic_at(line, lines.get(i + 1).copied()) {
                    rep.panic = Some(p);
                    trace_from.get_or_insert(i);
                }
            }
            let Some(err) = line.find("ERROR: ").map(|at| &line[at + 7..]) else {
                continue;
            };
            if !line.trim_start().starts_with("==") {
                continue;
            }
            let Some((tool, what)) = err.split_once(": ") else {
                continue;
            };
            if tool == "libFuzzer" {
                if rep.libfuzzer.is_none() {
                    rep.libfuzzer = Some((libfuzzer_class(what), format!("libFuzzer: {what}")));
                    trace_from.get_or_insert(i);
                }
            } else if tool.ends_with("Sanitizer") && rep.sanitizer.is_none() {
                let access = lines[i + 1..].iter().take(4).find_map(|l| access_kind(l));
                let mut class = sanitizer_class(what);
                if let Some(a) = access {
                    class = format!("{class} {a}");
                }
                rep.sanitizer = Some((tool.to_owned(), class.clone(), format!("{tool}: {class}")));
                // The sanitizer's trace beats libFuzzer's (printed after it, for deadly
                // signals): start from here.
                trace_from = Some(i);
            }
        }
        if let Some(from) = trace_from {
            rep.frames = frames(&lines[from..]);
        }
        rep
    }
}

fn panic_at(line: &str, next: Option<&str>) -> Option<Panic> {
    if !line.starts_with("thread '") {
        return None;
    }
    // `thread 'name' panicked at`, and since Rust 1.90 `thread 'name' (tid) panicked at`.
    let at = line.find(" panicked at ")?;
    let who = &line[..at];
    let named = who.ends_with('\'')
        || who.rsplit_once("' (").is_some_and(|(_, id)| {
            id.strip_suffix(')')
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        });
    if !named {
        return None;
    }
    let rest = &line[at + " panicked at ".len()..];
    if let Some(q) = rest.strip_prefix('\'') {
        // Old format: 'message', location
        let (msg, loc) = q.rsplit_once("', ")?;
        return Some(Panic {
            message: msg.to_owned(),
            location: loc.trim().to_owned(),
        });
    }
    let loc = rest.strip_suffix(':').unwrap_or(rest).trim().to_owned();
    Some(Panic {
        message: next.unwrap_or("").trim().to_owned(),
        location: loc,
    })
}

/// `deadly signal`, `timeout after 1 seconds` -> `timeout`, `out-of-memory (malloc(1234))`
/// -> `out-of-memory (malloc limit)`, `out-of-memory (used: 2049Mb; exceeds: 2048Mb)` ->
/// `out-of-memory (rss limit)`.
fn libfuzzer_class(what: &str) -> String {
    if what.starts_with("timeout") {
        "timeout".into()
    } else if what.starts_with("out-of-memory (malloc") {
        "out-of-memory (malloc limit)".into()
    } else if what.starts_with("out-of-memory") {
        "out-of-memory (rss limit)".into()
    } else {
        what.trim().to_owned()
    }
}

/// `heap-buffer-overflow on address 0x6020 at pc ...` -> `heap-buffer-overflow`;
/// `SEGV on unknown address 0x000000000000 (pc ...)` -> `SEGV on unknown address`;
/// `attempting double-free on 0x...` -> `attempting double-free`.
fn sanitizer_class(what: &str) -> String {
    let mut words = Vec::new();
    for w in what.split_ascii_whitespace() {
        if w.starts_with("0x") || w.starts_with('(') || w == "at" {
            break;
        }
        words.push(w);
    }
    while words.last().is_some_and(|w| *w == "on" || *w == "of") {
        words.pop();
    }
    if words.first() == Some(&"SEGV") || words.first() == Some(&"BUS") {
        return words.join(" ");
    }
    match words.iter().position(|w| *w == "on") {
        Some(p) if p > 0 => words[..p].join(" "),
        _ => words.join(" "),
    }
}

/// `WRITE of size 1 at ...` -> `WRITE`; `The signal is caused by a READ memory access.` ->
/// `READ`.
fn access_kind(line: &str) -> Option<&'static str> {
    let mut l = line.trim_start();
    // `==9==The signal is caused by ...`
    if let Some(rest) = l.strip_prefix("==") {
        l = rest.split_once("==").map_or(rest, |(_, r)| r);
    }
    for k in ["READ", "WRITE"] {
        if l.starts_with(&format!("{k} of size"))
            || l.starts_with(&format!("The signal is caused by a {k} memory access"))
        {
            return Some(if k == "READ" { "READ" } else { "WRITE" });
        }
    }
    None
}

/// The function names of the first stack trace in `lines` (sanitizer style `#N 0xPC in f
/// file:line` or Rust's `N: f`), runtime frames dropped.
pub fn frames(lines: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut started = false;
    for line in lines {
        let t = line.trim_start();
        let f = sanitizer_frame(t).or_else(|| rust_frame(t));
        match f {
            Some(f) => {
                started = true;
                if !is_runtime(&f) && out.last() != Some(&f) {
                    out.push(f);
                }
            }
            // A blank line or the next section ends the first trace.
            None if started && !t.starts_with("at ") => {
                if !out.is_empty() {
                    break;
                }
                started = false;
            }
            None => {}
        }
    }
    out
}

/// `#3 0x55 in fuzzer::Fuzzer::RunOne(unsigned char const*) (/b+0x41a19) (BuildId: ..)` or
/// `#1 0x55 in LLVMFuzzerTestOneInput /tmp/bug.c:13:24` or `#4 0x55  (/b+0x1234)`.
fn sanitizer_frame(t: &str) -> Option<String> {
    let rest = t.strip_prefix('#')?;
    let (n, rest) = rest.split_once(' ')?;
    n.parse::<u32>().ok()?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("0x")?;
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_hexdigit());
    let rest = rest.trim_start();
    match rest.strip_prefix("in ") {
        Some(f) => Some(function_name(f)),
        // Unsymbolized: the module and offset are all there is.
        None => Some(
            rest.trim()
                .trim_start_matches('(')
                .split(')')
                .next()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_owned(),
        ),
    }
}

/// `  12: mycrate::parse::h0123456789abcdef` (a Rust backtrace line).
fn rust_frame(t: &str) -> Option<String> {
    let (n, f) = t.split_once(": ")?;
    n.parse::<u32>().ok()?;
    Some(function_name(f))
}

/// A function name without arguments, source location, module or Rust hash.
fn function_name(f: &str) -> String {
    let f = f.trim();
    // C++ arguments: the first '(' at template depth 0 that is not part of "(anonymous ...".
    let mut depth = 0i32;
    let mut end = f.len();
    for (i, c) in f.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            '(' if depth <= 0 && !f[i..].starts_with("(anonymous") => {
                end = i;
                break;
            }
            ' ' if depth <= 0 && !f[..i].ends_with("operator") => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let name = f[..end].trim();
    // Rust legacy mangling hash.
    match name.rsplit_once("::h") {
        Some((base, h)) if h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            base.to_owned()
        }
        _ => name.to_owned(),
    }
}

/// Frames of the machinery around the bug, never the bug itself.
pub fn is_runtime(f: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "__asan",
        "__lsan",
        "__ubsan",
        "__msan",
        "__tsan",
        "__sanitizer",
        "__interceptor",
        "___interceptor",
        "__interception",
        "fuzzer::",
        "__libc_",
        "__GI_",
        "__pthread",
        "pthread_kill",
        "std::",
        "core::",
        "alloc::",
        "<std::",
        "<core::",
        "<alloc::",
        "<&",
        "rust_begin_unwind",
        "__rustc::",
        "rust_panic",
        "__rust",
        "libfuzzer_sys::",
        "<libfuzzer_sys::",
        "rust_fuzzer_test_input",
        "test_input_wrap",
        "catch_unwind<",
        "unwrap<",
        "expect<",
        "unwrap_failed",
        "expect_failed",
        "do_call<",
        "panic_abort::",
        "__scrt",
        "libc.so",
        "libstdc++.so",
        "ld-linux",
    ];
    const EXACT: &[&str] = &[
        "main",
        "_start",
        "abort",
        "raise",
        "gsignal",
        "malloc",
        "calloc",
        "realloc",
        "free",
        "memcpy",
        "memmove",
        "memset",
        "strlen",
        "operator new",
        "operator new[]",
        "operator delete",
        "operator delete[]",
        "",
    ];
    EXACT.contains(&f)
        || PREFIXES.iter().any(|p| f.starts_with(p))
        || f.contains("__libfuzzer_sys_run")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatchery_report::Captured;

    fn result(outcome: Outcome, exit: Option<i32>, stderr: &str) -> CaseResult {
        let mut r = hatchery_report::decide(
            hatchery_report::RawFacts::default(),
            &Default::default(),
            "hardened",
            hatchery_report::Enforcement::new(),
        );
        r.outcome = outcome;
        r.exit_code = exit;
        r.stderr = Captured {
            data: stderr.as_bytes().to_vec(),
            bytes: stderr.len() as u64,
            truncated: false,
            ..Default::default()
        };
        r
    }

    const HBO: &str = "INFO: Seed: 1\n\
==12==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000014 at pc 0x55 bp 0x7f sp 0x7f\n\
WRITE of size 1 at 0x602000000014 thread T0\n\
    #0 0x55d in store /tmp/fz/bug.c:5:48\n\
    #1 0x55e in LLVMFuzzerTestOneInput /tmp/fz/bug.c:9:5\n\
    #2 0x55f in fuzzer::Fuzzer::ExecuteCallback(unsigned char const*, unsigned long) (/tmp/fz/bug+0x422f3) (BuildId: 6c)\n\
    #3 0x560 in main (/tmp/fz/bug+0x5be72)\n\
\n\
0x602000000014 is located 0 bytes to the right of 4-byte region\n\
allocated by thread T0 here:\n\
    #0 0x56 in malloc (/tmp/fz/bug+0xdebfe)\n\
    #1 0x57 in LLVMFuzzerTestOneInput /tmp/fz/bug.c:8:15\n\
SUMMARY: AddressSanitizer: heap-buffer-overflow /tmp/fz/bug.c:5:48 in store\n";

    #[test]
    fn asan_heap_overflow_write() {
        let t = classify(&result(Outcome::NonzeroExit, Some(1), HBO));
        assert_eq!(t.kind, FindingKind::Crash);
        assert_eq!(t.class, "heap-buffer-overflow WRITE");
        assert_eq!(t.frames, ["store", "LLVMFuzzerTestOneInput"]);
        assert_eq!(
            t.signature(),
            "crash: heap-buffer-overflow WRITE | store | LLVMFuzzerTestOneInput"
        );
    }

    #[test]
    fn leak_frames_skip_malloc_and_libfuzzer() {
        let s = "==2==ERROR: LeakSanitizer: detected memory leaks\n\n\
Direct leak of 33 byte(s) in 1 object(s) allocated from:\n\
    #0 0x5650 in malloc (/tmp/fz/bug+0xdebfe) (BuildId: 6c)\n\
    #1 0x5650 in LLVMFuzzerTestOneInput /tmp/fz/bug.c:13:24\n\
    #2 0x5650 in fuzzer::Fuzzer::ExecuteCallback(unsigned char const*, unsigned long) (/tmp/fz/bug+0x422f3)\n\
    #6 0x7f4c in __libc_start_call_main csu/../sysdeps/nptl/libc_start_call_main.h:58:16\n";
        let t = classify(&result(Outcome::NonzeroExit, Some(77), s));
        assert_eq!(t.kind, FindingKind::Leak);
        assert_eq!(t.signature(), "leak: memory leak | LLVMFuzzerTestOneInput");
    }

    #[test]
    fn segv_and_rust_panics() {
        let s = "==9==ERROR: AddressSanitizer: SEGV on unknown address 0x000000000000 (pc 0x1 bp 0x2 sp 0x3 T0)\n\
==9==The signal is caused by a WRITE memory access.\n\
==9==Hint: address points to the zero page.\n\
    #0 0x1 in crash_here /src/a.c:3:7\n";
        let t = classify(&result(Outcome::NonzeroExit, Some(1), s));
        assert_eq!(t.class, "SEGV on unknown address WRITE");
        assert_eq!(t.frames, ["crash_here"]);

        let new = "thread '<unnamed>' panicked at src/lib.rs:12:9:\nindex out of bounds: the len is 3 but the index is 7\n\
stack backtrace:\n   0: rust_begin_unwind\n   1: core::panicking::panic_fmt\n   2: mycrate::parse::h0123456789abcdef\n             at ./src/lib.rs:12:9\n   3: rust_fuzzer_test_input\n\
==1== ERROR: libFuzzer: deadly signal\n";
        let t = classify(&result(Outcome::NonzeroExit, Some(1), new));
        assert_eq!(t.kind, FindingKind::Crash);
        assert_eq!(
            t.reason,
            "rust panic at src/lib.rs:12:9: index out of bounds: the len is 3 but the index is 7"
        );
        assert_eq!(t.frames, ["mycrate::parse"]);
        assert_eq!(
            t.signature(),
            "crash: rust panic | mycrate::parse",
            "function names, not the panic's line"
        );

        let tid = "thread '<unnamed>' (2) panicked at /src/demo/src/lib.rs:11:10:\n\
index out of bounds: the len is 1 but the index is 81\n";
        assert_eq!(
            Report::read(tid).panic.unwrap().location,
            "/src/demo/src/lib.rs:11:10"
        );
        let old = "thread 'main' panicked at 'attempt to add with overflow', src/x.rs:4:5\n";
        let t = classify(&result(Outcome::Signaled, None, old));
        assert_eq!(t.frames, ["src/x.rs:4:5"]);
    }

    #[test]
    fn loader_failure_is_not_a_finding() {
        let s = "/t/bin: error while loading shared libraries: libx.so.1: cannot open shared \
object file: No such file or directory\n";
        let r = result(Outcome::NonzeroExit, Some(127), s);
        assert_eq!(
            cannot_start(&r).as_deref(),
            Some(s.trim()),
            "the loader's line"
        );
        assert_eq!(
            cannot_start(&result(Outcome::NonzeroExit, Some(1), s)),
            None
        );
        assert_eq!(
            cannot_start(&result(Outcome::NonzeroExit, Some(127), "")),
            None
        );
    }

    #[test]
    fn limits_decide_timeout_and_oom() {
        let mut r = result(Outcome::TimeLimit, None, "");
        r.limit = Some(Limit::Cpu);
        assert_eq!(classify(&r).signature(), "timeout: timeout (cpu)");
        let r = result(
            Outcome::MemoryLimit,
            None,
            "==3== ERROR: libFuzzer: deadly signal\n",
        );
        assert_eq!(classify(&r).kind, FindingKind::Oom);
        let s = "==3== ERROR: libFuzzer: out-of-memory (malloc(4294967296))\n";
        let t = classify(&result(Outcome::NonzeroExit, Some(71), s));
        assert_eq!(
            (t.kind, t.class.as_str()),
            (FindingKind::Oom, "out-of-memory (malloc limit)")
        );
        let s = "==3== ERROR: libFuzzer: timeout after 1 seconds\n";
        assert_eq!(
            classify(&result(Outcome::NonzeroExit, Some(70), s)).kind,
            FindingKind::Timeout
        );
        assert_eq!(
            classify(&result(Outcome::Ok, Some(0), "")).kind,
            FindingKind::NotReproduced
        );
    }
}
