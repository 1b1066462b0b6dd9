//! The list phase: ask every test binary for its tests with `--list --format terse` (and
//! `--ignored`), the protocol libtest and nextest-compatible custom harnesses speak.

use std::collections::BTreeSet;

use hatchery_report::{CaseResult, Outcome};

use crate::cargo::TestBinary;

/// One test as `list --message-format json` describes it: its binary (by index), name,
/// whether it is ignored, and why it would not run (`None`: it would).
pub struct ListedTest<'a> {
    pub binary: &'a TestBinary,
    pub package_id: &'a str,
    pub name: &'a str,
    pub ignored: bool,
    pub skip: Option<crate::select::Skip>,
}

/// `cargo nextest list --message-format json`'s document (nextest-metadata's
/// `TestListSummary`), for the test binaries (doctests are not listed: nextest has none).
pub fn summary_json(
    target_dir: &std::path::Path,
    tests: &[ListedTest<'_>],
    pretty: bool,
) -> String {
    use camino::Utf8PathBuf;
    use nextest_metadata::{
        BuildPlatform, FilterMatch, MismatchReason, RustBinaryId, RustBuildMetaSummary,
        RustTestBinaryKind, RustTestBinarySummary, RustTestCaseSummary, RustTestKind,
        RustTestSuiteStatusSummary, RustTestSuiteSummary, TestCaseName, TestListSummary,
    };
    let utf8 = |p: &std::path::Path| Utf8PathBuf::from(p.to_string_lossy().into_owned());
    let meta = RustBuildMetaSummary {
        target_directory: utf8(target_dir),
        base_output_directories: tests
            .iter()
            .filter_map(|t| {
                let rel = t.binary.path.strip_prefix(target_dir).ok()?;
                // `debug/deps/x-hash` or `<triple>/release/deps/x-hash`: up to `deps`.
                let dir: std::path::PathBuf = rel
                    .components()
                    .take_while(|c| c.as_os_str() != "deps")
                    .collect();
                (dir != rel).then(|| utf8(&dir))
            })
            .collect(),
        ..Default::default()
    };
    let mut s = TestListSummary::new(meta);
    for t in tests {
        let b = t.binary;
        let kind = match b.kind.as_str() {
            "rlib" | "dylib" | "cdylib" | "staticlib" => "lib".to_owned(),
            k => k.to_owned(),
        };
        let suite = s
            .rust_suites
            .entry(RustBinaryId::new(&b.binary_id))
            .or_insert_with(|| RustTestSuiteSummary {
                package_name: b.package.clone(),
                binary: RustTestBinarySummary {
                    binary_id: RustBinaryId::new(&b.binary_id),
                    binary_name: b.target_name.clone(),
                    package_id: t.package_id.to_owned(),
                    kind: RustTestBinaryKind::new(kind),
                    binary_path: utf8(&b.path),
                    build_platform: BuildPlatform::Target,
                },
                cwd: utf8(&b.cwd),
                status: RustTestSuiteStatusSummary::LISTED,
                test_cases: Default::default(),
            });
        let filter_match = match t.skip {
            None => FilterMatch::Matches,
            Some(why) => FilterMatch::Mismatch {
                reason: match why {
                    crate::select::Skip::Ignored => MismatchReason::Ignored,
                    crate::select::Skip::Filtered => MismatchReason::String,
                    crate::select::Skip::Expression => MismatchReason::Expression,
                    crate::select::Skip::DefaultFilter => MismatchReason::DefaultFilter,
                    crate::select::Skip::Partition => MismatchReason::Partition,
                },
            },
        };
        suite.test_cases.insert(
            TestCaseName::new(t.name),
            RustTestCaseSummary {
                kind: Some(RustTestKind::TEST),
                ignored: t.ignored,
                filter_match,
            },
        );
        s.test_count += 1;
    }
    let out = if pretty {
        serde_json::to_string_pretty(&s)
    } else {
        serde_json::to_string(&s)
    };
    out.expect("a test list serializes")
}

/// What a binary said about its tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// Test names, each with whether it is ignored.
    Tests(Vec<(String, bool)>),
    /// A custom harness that does not speak the list protocol: it runs as one case, without
    /// arguments.
    Whole,
}

/// Parses `--list --format terse` output: only `<name>: test` and `<name>: benchmark` lines
/// (benchmarks are not run). `None` when any other non-empty line appears.
pub fn parse_terse(stdout: &str) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for line in stdout.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_suffix(": test") {
            names.push(name.to_owned());
        } else if line.ends_with(": benchmark") || line.ends_with(": bench") {
            continue;
        } else {
            return None;
        }
    }
    Some(names)
}

pub const LIST_ARGS: [&str; 3] = ["--list", "--format", "terse"];

/// Lists one binary. `run` runs the binary with the given arguments (in the sandbox) and
/// returns the result.
pub fn list_binary(
    bin: &TestBinary,
    run: &mut dyn FnMut(&[&str]) -> Result<CaseResult, String>,
) -> Result<Listed, String> {
    let failure = |what: &str, r: &CaseResult| {
        format!(
            "`{} {what}` failed: {} ({}){}",
            bin.path.display(),
            r.outcome,
            r.reason,
            tail(&r.stderr.data)
        )
    };
    let all = run(&LIST_ARGS)?;
    let names = match (
        all.outcome,
        parse_terse(&String::from_utf8_lossy(&all.stdout.data)),
    ) {
        (Outcome::Ok, Some(names)) => names,
        // A custom harness that does not speak the protocol (it may have just run its tests).
        _ if !bin.harness => return Ok(Listed::Whole),
        (Outcome::Ok, None) => {
            return Err(format!(
                "`{} --list --format terse` printed lines that are not `<name>: test`{}",
                bin.path.display(),
                tail(&all.stdout.data)
            ))
        }
        _ => return Err(failure("--list --format terse", &all)),
    };
    if names.is_empty() && !bin.harness {
        // Nothing listed by a custom harness: most likely one that ignores its arguments.
        return Ok(Listed::Whole);
    }
    if names.is_empty() {
        return Ok(Listed::Tests(Vec::new()));
    }
    let mut args = LIST_ARGS.to_vec();
    args.push("--ignored");
    let ign = run(&args)?;
    let ignored: BTreeSet<String> = match (
        ign.outcome,
        parse_terse(&String::from_utf8_lossy(&ign.stdout.data)),
    ) {
        (Outcome::Ok, Some(n)) => n.into_iter().collect(),
        _ if !bin.harness => BTreeSet::new(),
        _ => return Err(failure("--list --format terse --ignored", &ign)),
    };
    let listed: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut tests: Vec<(String, bool)> = names
        .iter()
        .map(|n| (n.clone(), ignored.contains(n)))
        .collect();
    // The protocol allows the ignored set to be disjoint from the full list.
    tests.extend(
        ignored
            .iter()
            .filter(|n| !listed.contains(n.as_str()))
            .map(|n| (n.clone(), true)),
    );
    Ok(Listed::Tests(tests))
}

fn tail(data: &[u8]) -> String {
    let s = String::from_utf8_lossy(data);
    let s = s.trim();
    if s.is_empty() {
        return String::new();
    }
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.len().saturating_sub(10);
    format!(":\n    {}", lines[start..].join("\n    "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatchery_report::{Captured, Limits};
    use std::path::PathBuf;

    #[test]
    fn terse_lists_parse() {
        let out = "a::b: test\nc: test\nbench_x: benchmark\n\n";
        assert_eq!(
            parse_terse(out),
            Some(vec!["a::b".to_owned(), "c".to_owned()])
        );
        assert_eq!(parse_terse(""), Some(vec![]));
        assert_eq!(parse_terse("running 3 tests\n"), None);
        assert_eq!(parse_terse("a: test\n3 tests, 0 benchmarks\n"), None);
    }

    fn bin(harness: bool) -> TestBinary {
        TestBinary {
            binary_id: "p::t".into(),
            path: PathBuf::from("/bin/t"),
            package: "p".into(),
            kind: "test".into(),
            target_name: "t".into(),
            cwd: PathBuf::from("/"),
            env: Default::default(),
            harness,
        }
    }

    fn result(outcome: Outcome, stdout: &str) -> CaseResult {
        let mut r = hatchery_report::decide(
            Default::default(),
            &Limits::default(),
            "none",
            Default::default(),
        );
        r.outcome = outcome;
        r.stdout = Captured {
            data: stdout.as_bytes().to_vec(),
            bytes: stdout.len() as u64,
            truncated: false,
            file: None,
        };
        r
    }

    #[test]
    fn ignored_tests_are_marked_and_disjoint_ones_added() {
        let mut run = |args: &[&str]| {
            Ok(if args.contains(&"--ignored") {
                result(Outcome::Ok, "b: test\nz: test\n")
            } else {
                result(Outcome::Ok, "a: test\nb: test\n")
            })
        };
        let got = list_binary(&bin(true), &mut run).unwrap();
        assert_eq!(
            got,
            Listed::Tests(vec![
                ("a".into(), false),
                ("b".into(), true),
                ("z".into(), true)
            ])
        );
    }

    #[test]
    fn custom_harness_without_protocol_runs_whole() {
        let mut chatty = |_: &[&str]| Ok(result(Outcome::Ok, "all 3 checks ok\n"));
        assert_eq!(
            list_binary(&bin(false), &mut chatty).unwrap(),
            Listed::Whole
        );
        let mut silent = |_: &[&str]| Ok(result(Outcome::Ok, ""));
        assert_eq!(
            list_binary(&bin(false), &mut silent).unwrap(),
            Listed::Whole
        );
        let mut failing = |_: &[&str]| Ok(result(Outcome::NonzeroExit, ""));
        assert_eq!(
            list_binary(&bin(false), &mut failing).unwrap(),
            Listed::Whole
        );
        // A libtest binary that cannot list is an error, not a silent pass.
        assert!(list_binary(&bin(true), &mut failing).is_err());
        assert!(list_binary(&bin(true), &mut chatty).is_err());
        assert_eq!(
            list_binary(&bin(true), &mut silent).unwrap(),
            Listed::Tests(vec![])
        );
    }
}
