//! Doctests, each its own sandboxed case, on stable Rust.
//!
//! rustdoc compiles every doctest into its own executable and runs it, and `--test-runtool
//! PROGRAM --test-runtool-arg ARG` (stable) makes it run `PROGRAM ARG... <executable>`
//! instead. We use that to *collect* the executables rather than run them: one `cargo test
//! --doc` pass with ourselves as the run tool (`cargo-hatchery __doctest-collect DIR EXE`)
//! moves each executable into `DIR` and does not run it. The executables then become cases
//! like every other test (scheduled across binaries, measured, retried, reported).
//!
//! rustdoc does not tell the run tool which doctest an executable belongs to, so the collector
//! prints a marker (`hatchery-doctest-binary N`) and exits 1: rustdoc then reports the
//! doctest as failed and shows the marker in that doctest's failure section, which names it.
//! A `should_panic` doctest instead passes on exit 1 and shows nothing. Those are matched by
//! position: `-C linker=DIR/hatchery-doctest-cc` (ourselves, which then runs the real linker)
//! records the `UNSTABLE_RUSTDOC_TEST_PATH`/`_LINE` rustdoc sets for each doctest's
//! compilation, so the executables of one file can be ordered by line and paired with the
//! `should_panic` doctests of that file, also in line order.
//!
//! What rustdoc decides without running anything — `compile_fail` and `no_run` doctests, and
//! doctests that do not compile — keeps rustdoc's verdict (see [`DocKind::Verdict`]).
//! Edition 2024 merges the doctests of a crate into one executable whose test protocol is
//! rustdoc-internal; it runs as one case (with `RUSTDOC_DOCTEST_BIN_PATH` set, so that every
//! doctest still gets its own process inside that case, as under rustdoc).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::cargo::{cargo_exe, CargoOpts};

/// First argument of the collecting run tool.
pub const COLLECT_ARG: &str = "__doctest-collect";
/// File name of the linker wrapper (a symlink to ourselves). rustc infers the linker flavor
/// from the name; `-cc` keeps the target's default (a C compiler driver).
pub const LINKER_NAME: &str = "hatchery-doctest-cc";
/// The real linker the wrapper runs (default `cc`).
pub const REAL_LINKER_ENV: &str = "HATCHERY_DOCTEST_LINKER";
const MARKER: &str = "hatchery-doctest-binary ";

/// What the collector recorded about one executable.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BinInfo {
    /// `CARGO_PKG_NAME` cargo gave rustdoc.
    pub package: String,
    /// rustdoc's working directory (the package root).
    pub cwd: PathBuf,
    /// File and line offset rustdoc compiled the doctest with (from the linker wrapper);
    /// `None` for a merged (edition 2024) executable or when the wrapper did not run.
    pub file: Option<String>,
    pub line: Option<i64>,
    /// Variables the doctest would have inherited that matter at run time.
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LinkInfo {
    file: String,
    line: i64,
}

fn link_record(dir: &Path, out: &Path) -> PathBuf {
    let key: String = out
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    dir.join("link").join(key)
}

/// `hatchery-doctest-cc ARGS...`: record which doctest is being linked, then run the real
/// linker with the same arguments and exit with its status.
pub fn linker_main(args: &[OsString]) -> u8 {
    let out = args
        .windows(2)
        .find(|w| w[0] == "-o")
        .map(|w| PathBuf::from(&w[1]));
    if let (Some(out), Ok(dir), Ok(file)) = (
        out,
        std::env::var("HATCHERY_DOCTEST_DIR"),
        std::env::var("UNSTABLE_RUSTDOC_TEST_PATH"),
    ) {
        let line = std::env::var("UNSTABLE_RUSTDOC_TEST_LINE")
            .ok()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let rec = link_record(Path::new(&dir), &std::path::absolute(&out).unwrap_or(out));
        if let Ok(j) = serde_json::to_vec(&LinkInfo { file, line }) {
            let _ = std::fs::write(rec, j);
        }
    }
    let real = std::env::var_os(REAL_LINKER_ENV).unwrap_or_else(|| "cc".into());
    match Command::new(&real).args(args).status() {
        Ok(s) => s.code().map_or(1, |c| c as u8),
        Err(e) => {
            eprintln!(
                "hatchery-doctest-cc: cannot run the linker {}: {e} (set {REAL_LINKER_ENV})",
                Path::new(&real).display()
            );
            1
        }
    }
}

/// `cargo-hatchery __doctest-collect DIR EXE`: move the doctest executable into `DIR/bin/N/`,
/// write what we know about it, print the marker and exit 1 (see the module docs).
pub fn collect_main(args: &[OsString]) -> u8 {
    let (Some(dir), Some(exe)) = (args.first(), args.get(1)) else {
        eprintln!("usage: cargo-hatchery {COLLECT_ARG} DIR EXECUTABLE");
        return 2;
    };
    let (dir, exe) = (Path::new(dir), Path::new(exe));
    let bins = dir.join("bin");
    let mut n = 0u32;
    let slot = loop {
        let p = bins.join(n.to_string());
        match std::fs::create_dir(&p) {
            Ok(()) => break p,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => {
                eprintln!("cargo-hatchery: cannot create {}: {e}", p.display());
                return 2;
            }
        }
    };
    let _ = std::fs::set_permissions(&slot, std::fs::Permissions::from_mode(0o755));
    let dest = slot.join("rust_out");
    // Same file system (TMPDIR points into DIR): a rename. Otherwise a copy.
    if std::fs::rename(exe, &dest).is_err() {
        if let Err(e) = std::fs::copy(exe, &dest) {
            eprintln!("cargo-hatchery: cannot copy {}: {e}", exe.display());
            return 2;
        }
    }
    let _ = std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755));
    let abs = std::path::absolute(exe).unwrap_or_else(|_| exe.to_path_buf());
    let link: Option<LinkInfo> = std::fs::read(link_record(dir, &abs))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let env: BTreeMap<String, String> = ["LD_LIBRARY_PATH", "OUT_DIR"]
        .iter()
        .filter_map(|k| Some(((*k).to_owned(), std::env::var(k).ok()?)))
        .collect();
    let info = BinInfo {
        package: std::env::var("CARGO_PKG_NAME").unwrap_or_default(),
        cwd: std::env::current_dir().unwrap_or_default(),
        file: link.as_ref().map(|l| l.file.clone()),
        line: link.map(|l| l.line),
        env,
    };
    match serde_json::to_vec(&info) {
        Ok(j) if std::fs::write(slot.join("info.json"), &j).is_ok() => {}
        _ => {
            eprintln!("cargo-hatchery: cannot write {}", slot.display());
            return 2;
        }
    }
    println!("{MARKER}{n}");
    1
}

/// The collected executables by number: (path, what the collector recorded).
pub type Bins = BTreeMap<u32, (PathBuf, BinInfo)>;

/// One `test NAME ... RESULT` line of rustdoc's libtest output, with its failure section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocResult {
    pub name: String,
    /// `ok`, `FAILED`, `ignored`.
    pub result: String,
    /// The failure section (`---- NAME stdout ----` up to the next one), if any.
    pub failure: String,
    /// The collected executable the failure section names.
    pub marker: Option<u32>,
}

/// Everything rustdoc printed for one crate (`Doc-tests CRATE`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocSection {
    pub crate_name: String,
    pub results: Vec<DocResult>,
    /// Markers printed outside any failure section: merged executables (their output is not
    /// captured by rustdoc).
    pub bare_markers: Vec<u32>,
}

/// Parses the combined output of `cargo test --doc` (cargo's stderr and rustdoc's stdout in
/// one stream). Lines that are none of ours are returned in `other`.
pub fn parse_stream(lines: impl Iterator<Item = String>) -> (Vec<DocSection>, Vec<String>) {
    let mut sections: Vec<DocSection> = Vec::new();
    let mut other = Vec::new();
    let mut failure: Option<(String, String, Option<u32>)> = None;
    let close = |sections: &mut Vec<DocSection>, f: Option<(String, String, Option<u32>)>| {
        let Some((name, text, marker)) = f else {
            return;
        };
        if let Some(r) = sections
            .last_mut()
            .and_then(|s| s.results.iter_mut().find(|r| r.name == name))
        {
            r.failure = text.trim_end().to_owned();
            r.marker = marker;
        }
    };
    for line in lines {
        let t = line.trim();
        if let Some(c) = t.strip_prefix("Doc-tests ") {
            close(&mut sections, failure.take());
            sections.push(DocSection {
                crate_name: c.trim().to_owned(),
                ..Default::default()
            });
            continue;
        }
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            close(&mut sections, failure.take());
            failure = Some((name.to_owned(), String::new(), None));
            continue;
        }
        if line == "failures:" || line.starts_with("test result: ") {
            close(&mut sections, failure.take());
        }
        let marker = t.strip_prefix(MARKER).and_then(|n| n.parse::<u32>().ok());
        if let Some((_, text, m)) = &mut failure {
            if marker.is_some() {
                *m = marker;
            }
            text.push_str(&line);
            text.push('\n');
            continue;
        }
        if let Some(n) = marker {
            if let Some(s) = sections.last_mut() {
                s.bare_markers.push(n);
            }
            continue;
        }
        if let Some((name, result)) = line
            .strip_prefix("test ")
            .and_then(|l| l.rsplit_once(" ... "))
        {
            if let Some(s) = sections.last_mut() {
                let result = result.split(',').next().unwrap_or(result).trim().to_owned();
                s.results.push(DocResult {
                    name: name.to_owned(),
                    result,
                    ..Default::default()
                });
                continue;
            }
        }
        other.push(line);
    }
    close(&mut sections, failure.take());
    (sections, other)
}

/// How a doctest becomes a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocKind {
    /// Run the collected executable; it passes with exit 0, or for `should_panic` with a
    /// non-zero exit.
    Run { exe: PathBuf, should_panic: bool },
    /// Decided by rustdoc without running anything: `compile_fail` and `no_run` doctests, and
    /// doctests that failed to compile. `message` is rustdoc's failure section.
    Verdict { passed: bool, message: String },
    /// hatchery could not tell which executable is this doctest's (a `sandbox_error`).
    Unmatched { message: String },
}

/// One doctest of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocTest {
    pub package: String,
    pub name: String,
    pub ignored: bool,
    pub kind: DocKind,
    pub info: BinInfo,
}

/// All doctests of a `cargo test --doc` pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    pub tests: Vec<DocTest>,
    /// (package, merged executable, what we know about it), one per edition-2024 crate.
    pub merged: Vec<(String, PathBuf, BinInfo)>,
}

/// `FILE - ITEM (line N)[ - compile[ fail]|- should panic]` → (FILE, N).
pub fn file_and_line(name: &str) -> Option<(&str, i64)> {
    let file = name.split(" - ").next()?;
    let i = name.rfind("(line ")?;
    let rest = &name[i + 6..];
    let n = rest.split(')').next()?.parse().ok()?;
    Some((file, n))
}

fn compile_only(name: &str) -> bool {
    name.ends_with(" - compile") || name.ends_with(" - compile fail")
}

/// Turns parsed sections and the collected executables into doctests. `crate_to_pkg` maps a
/// crate name (`Doc-tests NAME`) to its package name; `ignored` are the names rustdoc lists
/// as ignored (only needed when ignored doctests were run too).
pub fn assemble(
    sections: &[DocSection],
    bins: &Bins,
    crate_to_pkg: &HashMap<String, String>,
    ignored: &HashMap<String, Vec<String>>,
) -> Collected {
    let mut out = Collected::default();
    for s in sections {
        let pkg = crate_to_pkg
            .get(&s.crate_name)
            .cloned()
            .unwrap_or_else(|| s.crate_name.clone());
        let ign = ignored.get(&pkg);
        let is_ignored = |n: &str| ign.is_some_and(|v| v.iter().any(|x| x == n));
        for m in &s.bare_markers {
            if let Some((exe, info)) = bins.get(m) {
                out.merged.push((pkg.clone(), exe.clone(), info.clone()));
            }
        }
        let claimed: Vec<u32> = s
            .results
            .iter()
            .filter_map(|r| r.marker)
            .chain(s.bare_markers.iter().copied())
            .collect();
        // Executables of this package nobody claimed: the should_panic doctests'.
        let mut spare: BTreeMap<String, Vec<(i64, u32)>> = BTreeMap::new();
        for (n, (_, info)) in bins {
            if info.package == pkg && !claimed.contains(n) {
                spare
                    .entry(info.file.clone().unwrap_or_default())
                    .or_default()
                    .push((info.line.unwrap_or(0), *n));
            }
        }
        let mut panicking: BTreeMap<String, Vec<(i64, usize)>> = BTreeMap::new();
        let mut tests: Vec<DocTest> = Vec::new();
        for r in &s.results {
            let mut t = DocTest {
                package: pkg.clone(),
                name: r.name.clone(),
                ignored: r.result == "ignored" || is_ignored(&r.name),
                kind: DocKind::Verdict {
                    passed: r.result == "ok",
                    message: r.failure.clone(),
                },
                info: BinInfo::default(),
            };
            if r.result == "ignored" {
                // Not compiled: it runs only with --run-ignored, in a pass that includes it.
                t.kind = DocKind::Verdict {
                    passed: true,
                    message: String::new(),
                };
            } else if let Some((exe, info)) = r.marker.and_then(|m| bins.get(&m)) {
                t.kind = DocKind::Run {
                    exe: exe.clone(),
                    should_panic: false,
                };
                t.info = info.clone();
            } else if r.result == "ok" && !compile_only(&r.name) {
                // Passed although the collector exited 1: a should_panic doctest.
                let (file, line) = file_and_line(&r.name).unwrap_or((&r.name, 0));
                panicking
                    .entry(file.to_owned())
                    .or_default()
                    .push((line, tests.len()));
            }
            tests.push(t);
        }
        for (file, mut names) in panicking {
            names.sort();
            let mut exes = spare.remove(&file).unwrap_or_default();
            if exes.len() != names.len() {
                // No usable line records (the linker wrapper did not run): only a single
                // candidate overall can be paired safely.
                let all: Vec<(i64, u32)> =
                    std::mem::take(&mut spare).into_values().flatten().collect();
                exes = if names.len() == 1 && all.len() == 1 {
                    all
                } else {
                    Vec::new()
                };
            }
            exes.sort();
            for (i, (_, idx)) in names.iter().enumerate() {
                let t = &mut tests[*idx];
                match exes.get(i).filter(|_| exes.len() == names.len()) {
                    Some((_, n)) => {
                        let (exe, info) = &bins[n];
                        t.kind = DocKind::Run {
                            exe: exe.clone(),
                            should_panic: true,
                        };
                        t.info = info.clone();
                    }
                    None => {
                        t.kind = DocKind::Unmatched {
                            message: format!(
                                "cannot tell which compiled doctest of {file} is this \
                                 should_panic doctest (no linker records; is a custom \
                                 linker configured? see {REAL_LINKER_ENV})"
                            ),
                        }
                    }
                }
            }
        }
        out.tests.extend(tests);
    }
    out
}

/// Options of the doctest pass.
#[derive(Debug, Clone)]
pub struct DocPass<'a> {
    pub cargo: &'a CargoOpts,
    /// Where executables are collected (emptied first).
    pub dir: PathBuf,
    /// libtest arguments for rustdoc: filters, `--skip`, `--exact`, `--include-ignored`.
    pub test_args: Vec<String>,
    pub threads: u32,
}

/// Arguments of `cargo test --doc` common to the collect and list passes.
fn doc_cargo(p: &DocPass<'_>) -> Command {
    let mut c = Command::new(cargo_exe());
    c.args(["test", "--doc", "--no-fail-fast", "--color", "never"])
        .args(p.cargo.doc_args())
        .stdin(Stdio::null());
    // A runner configured through the environment would become rustdoc's run tool too.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO_TARGET_") && k.ends_with("_RUNNER") {
            c.env_remove(&*k);
        }
    }
    c
}

/// Names of the ignored doctests per package (`-- --list --format terse --ignored`).
pub fn list_ignored(
    p: &DocPass<'_>,
    crate_to_pkg: &HashMap<String, String>,
) -> Result<HashMap<String, Vec<String>>, String> {
    let out = doc_cargo(p)
        .args(["--", "--list", "--format", "terse", "--ignored"])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo test --doc -- --list failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // cargo writes `Doc-tests X` to stderr and the list to stdout: one rustdoc per package, in
    // the same order, so pair the headers with the stdout blocks separated by blank lines.
    let headers: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("Doc-tests ")
                .map(|c| c.trim().to_owned())
        })
        .collect();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for (h, block) in headers.iter().zip(stdout.split("\n\n")) {
        let pkg = crate_to_pkg.get(h).cloned().unwrap_or_else(|| h.clone());
        m.entry(pkg).or_default().extend(
            block
                .lines()
                .filter_map(|l| l.strip_suffix(": test").map(str::to_owned)),
        );
    }
    Ok(m)
}

/// The collection directory of this process: `<target>/hatchery-doctests/<pid>` (runs in the
/// same target directory at once do not share one).
pub fn collect_dir(target_dir: &Path) -> PathBuf {
    target_dir
        .join("hatchery-doctests")
        .join(std::process::id().to_string())
}

/// Removes a directory when dropped (the collected doctests, at the end of a run).
pub struct RemoveOnDrop(pub Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Removes the collection directories of processes that are gone (siblings of `dir`).
fn remove_stale(dir: &Path) {
    let Some(parent) = dir.parent() else { return };
    for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Runs `cargo test --doc` with ourselves as rustdoc's run tool and linker wrapper, and
/// returns the parsed output and the collected executables.
pub fn collect(p: &DocPass<'_>) -> Result<(Vec<DocSection>, Bins), String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find our executable: {e}"))?;
    remove_stale(&p.dir);
    let _ = std::fs::remove_dir_all(&p.dir);
    for sub in ["bin", "link", "tmp"] {
        std::fs::create_dir_all(p.dir.join(sub))
            .map_err(|e| format!("cannot create {}: {e}", p.dir.join(sub).display()))?;
    }
    // The tests' uid must reach the executables.
    if let Some(parent) = p.dir.parent() {
        let _ = std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755));
    }
    let _ = std::fs::set_permissions(&p.dir, std::fs::Permissions::from_mode(0o755));
    let _ = std::fs::set_permissions(p.dir.join("bin"), std::fs::Permissions::from_mode(0o755));
    let linker = p.dir.join(LINKER_NAME);
    std::os::unix::fs::symlink(&me, &linker)
        .map_err(|e| format!("cannot create {}: {e}", linker.display()))?;
    let sep = '\x1f';
    let mut flags: Vec<String> = match std::env::var("CARGO_ENCODED_RUSTDOCFLAGS") {
        Ok(f) if !f.is_empty() => f.split(sep).map(str::to_owned).collect(),
        _ => std::env::var("RUSTDOCFLAGS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    };
    let s = |p: &Path| p.to_string_lossy().into_owned();
    flags.extend([
        "-C".to_owned(),
        format!("linker={}", s(&linker)),
        "--test-runtool".to_owned(),
        s(&me),
        "--test-runtool-arg".to_owned(),
        COLLECT_ARG.to_owned(),
        "--test-runtool-arg".to_owned(),
        s(&p.dir),
    ]);
    let host_linker_var = std::env::vars()
        .find_map(|(k, v)| (k.starts_with("CARGO_TARGET_") && k.ends_with("_LINKER")).then_some(v));
    let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
    let writer2 = writer
        .try_clone()
        .map_err(|e| format!("cannot create a pipe: {e}"))?;
    let mut cmd = doc_cargo(p);
    cmd.args(["--", "--test-threads", &p.threads.max(1).to_string()])
        .args(&p.test_args)
        .env_remove("RUSTDOCFLAGS")
        .env("CARGO_ENCODED_RUSTDOCFLAGS", flags.join(&sep.to_string()))
        .env("HATCHERY_DOCTEST_DIR", &p.dir)
        // rustdoc's temporary directories next to the collection: executables are renamed,
        // not copied.
        .env("TMPDIR", p.dir.join("tmp"))
        .stdout(writer)
        .stderr(writer2);
    if let (Some(l), None) = (host_linker_var, std::env::var_os(REAL_LINKER_ENV)) {
        cmd.env(REAL_LINKER_ENV, l);
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot run cargo: {e}"))?;
    drop(cmd);
    let (sections, other) = parse_stream(BufReader::new(reader).lines().map_while(Result::ok));
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for cargo: {e}"))?;
    if !status.success() && sections.is_empty() {
        // `cargo test` skips doctests of packages without a library; `--doc` refuses them.
        if other.iter().any(|l| l.contains("no library targets found")) {
            return Ok((Vec::new(), Bins::new()));
        }
        return Err(format!(
            "cargo test --doc exited with {status}:\n{}",
            other.join("\n")
        ));
    }
    let mut bins = BTreeMap::new();
    for e in std::fs::read_dir(p.dir.join("bin"))
        .map_err(|e| format!("cannot read {}: {e}", p.dir.display()))?
        .flatten()
    {
        let Some(n) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let info: BinInfo = std::fs::read(e.path().join("info.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        bins.insert(n, (e.path().join("rust_out"), info));
    }
    Ok((sections, bins))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "\
   Compiling gamma v0.1.0 (/x/gamma)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.20s
   Doc-tests gamma

running 6 tests
test src/lib.rs - compile_only (line 30) - compile ... ok
test src/lib.rs - panics (line 20) ... ok
test src/lib.rs - adds (line 4) ... FAILED
test src/lib.rs - broken (line 40) ... FAILED
test src/lib.rs - skipped (line 50) ... ignored
test src/lib.rs - also_panics (line 60) ... ok

failures:

---- src/lib.rs - adds (line 4) stdout ----
Test executable failed (exit status: 1).

stdout:
hatchery-doctest-binary 1

---- src/lib.rs - broken (line 40) stdout ----
error[E0425]: cannot find value `nope` in this scope
Couldn't compile the test.

failures:
    src/lib.rs - adds (line 4)
    src/lib.rs - broken (line 40)

test result: FAILED. 4 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.30s

   Doc-tests delta
hatchery-doctest-binary 3

running 0 tests
";

    fn info(pkg: &str, line: Option<i64>) -> BinInfo {
        BinInfo {
            package: pkg.into(),
            file: line.map(|_| "src/lib.rs".into()),
            line,
            ..Default::default()
        }
    }

    #[test]
    fn stream_parses_into_sections() {
        let (s, other) = parse_stream(OUT.lines().map(str::to_owned));
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].crate_name, "gamma");
        assert_eq!(s[0].results.len(), 6);
        let adds = &s[0].results[2];
        assert_eq!(
            (adds.name.as_str(), adds.result.as_str(), adds.marker),
            ("src/lib.rs - adds (line 4)", "FAILED", Some(1))
        );
        assert!(s[0].results[3].failure.contains("Couldn't compile"));
        assert_eq!(s[0].results[3].marker, None);
        assert_eq!(s[1].bare_markers, vec![3]);
        assert!(other.iter().any(|l| l.contains("Compiling gamma")));
    }

    #[test]
    fn doctests_are_matched_to_executables() {
        let (s, _) = parse_stream(OUT.lines().map(str::to_owned));
        let mut bins = BTreeMap::new();
        bins.insert(1, (PathBuf::from("/d/1/rust_out"), info("gamma", Some(2))));
        // Two should_panic executables, recorded out of order.
        bins.insert(2, (PathBuf::from("/d/2/rust_out"), info("gamma", Some(57))));
        bins.insert(0, (PathBuf::from("/d/0/rust_out"), info("gamma", Some(17))));
        bins.insert(3, (PathBuf::from("/d/3/rust_out"), info("delta", None)));
        let c = assemble(&s, &bins, &HashMap::new(), &HashMap::new());
        let by: HashMap<&str, &DocTest> = c.tests.iter().map(|t| (t.name.as_str(), t)).collect();
        let run = |n: &str| match &by[n].kind {
            DocKind::Run { exe, should_panic } => (exe.clone(), *should_panic),
            k => panic!("{n}: {k:?}"),
        };
        assert_eq!(
            run("src/lib.rs - adds (line 4)"),
            ("/d/1/rust_out".into(), false)
        );
        assert_eq!(
            run("src/lib.rs - panics (line 20)"),
            ("/d/0/rust_out".into(), true)
        );
        assert_eq!(
            run("src/lib.rs - also_panics (line 60)"),
            ("/d/2/rust_out".into(), true)
        );
        assert!(matches!(
            &by["src/lib.rs - broken (line 40)"].kind,
            DocKind::Verdict { passed: false, message } if message.contains("Couldn't compile")
        ));
        assert!(matches!(
            &by["src/lib.rs - compile_only (line 30) - compile"].kind,
            DocKind::Verdict { passed: true, .. }
        ));
        assert!(by["src/lib.rs - skipped (line 50)"].ignored);
        assert_eq!(c.merged.len(), 1);
        assert_eq!(c.merged[0].0, "delta");
    }

    #[test]
    fn should_panic_without_line_records_is_not_guessed() {
        let (s, _) = parse_stream(OUT.lines().map(str::to_owned));
        let mut bins = BTreeMap::new();
        bins.insert(1, (PathBuf::from("/d/1/rust_out"), info("gamma", None)));
        bins.insert(0, (PathBuf::from("/d/0/rust_out"), info("gamma", None)));
        bins.insert(2, (PathBuf::from("/d/2/rust_out"), info("gamma", None)));
        let c = assemble(&s, &bins, &HashMap::new(), &HashMap::new());
        let unmatched = c
            .tests
            .iter()
            .filter(|t| matches!(t.kind, DocKind::Unmatched { .. }))
            .count();
        assert_eq!(unmatched, 2);
    }

    #[test]
    fn names_give_file_and_line() {
        assert_eq!(
            file_and_line("src/a.rs - m::f (line 12) - compile fail"),
            Some(("src/a.rs", 12))
        );
        assert_eq!(
            file_and_line("README.md - (line 3)"),
            Some(("README.md", 3))
        );
        assert_eq!(file_and_line("nonsense"), None);
    }
}
