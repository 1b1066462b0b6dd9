//! Doctests as cases: `cargo hatchery test` on corpora/cargo/doc, checked against what
//! `cargo test --doc` says about the same doctests.

mod common;

use std::process::Command;

use common::*;

const GAMMA: &str = "gamma::doc/gamma gamma/src/lib.rs - ";

#[test]
fn every_doctest_is_a_case_with_cargos_verdict() {
    if !userns() {
        return;
    }
    let dir = scratch("doctests");
    let report = dir.join("report.jsonl");
    let o = hatchery_doc(
        "test",
        &[
            "--workspace",
            "--doc",
            "--no-fail-fast",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(100), "{err}");
    let ev = events(&report);
    let fin = finished(&ev);

    // Plain `cargo test --doc` on the same package, same target directory.
    let cargo = Command::new("cargo")
        .args([
            "test",
            "--doc",
            "-p",
            "gamma",
            "--no-fail-fast",
            "--target-dir",
        ])
        .arg(doc_fixture_target())
        .current_dir(doc_fixture())
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUSTDOCFLAGS")
        .output()
        .unwrap();
    let theirs = libtest_results(&stdout(&cargo));
    assert_eq!(theirs.len(), 11, "{theirs:?}");
    for (name, result) in &theirs {
        let id = format!("gamma::doc/gamma {name}");
        if result == "ignored" {
            assert!(!fin.contains_key(&id), "{id} is ignored and must not run");
            continue;
        }
        let ours = last(&fin, &id);
        let passed = ours["passed"].as_bool().unwrap();
        if name.contains(" - sandboxed ") {
            // Fails outside the sandbox by design; passes in it: PID 1 is our zygote.
            assert_eq!(result, "FAILED");
            assert!(passed, "{ours}");
        } else {
            assert_eq!(
                passed,
                result == "ok",
                "{id}: cargo says {result}; we say {ours}"
            );
        }
    }

    // How each kind was decided.
    let add = last(&fin, &format!("{GAMMA}add (line 10)"));
    assert_eq!(add["outcome"], "ok");
    assert!(add["usage"]["wall_us"].as_u64().unwrap() > 0);
    for line in [27, 31] {
        let b = last(&fin, &format!("{GAMMA}boom (line {line})"));
        assert_eq!(b["outcome"], "nonzero_exit", "{b}");
        assert_eq!(b["expected"], "nonzero_exit");
    }
    let fails = last(&fin, &format!("{GAMMA}fails (line 19)"));
    assert_eq!(fails["exit_code"], 101);
    let broken = last(&fin, &format!("{GAMMA}broken (line 59)"));
    assert!(broken["reason"].as_str().unwrap().contains("rustdoc"));
    let nopanic = last(&fin, &format!("{GAMMA}does_not_panic (line 41)"));
    assert!(nopanic["reason"].as_str().unwrap().contains("should_panic"));
    assert!(last(
        &fin,
        &format!("{GAMMA}compile_time (line 48) - compile fail")
    )["passed"]
        .as_bool()
        .unwrap());
    // Edition 2024: one merged executable, one case.
    assert!(last(&fin, "delta::doc/delta")["passed"].as_bool().unwrap());
    assert!(
        err.contains("11 tests run: 8 passed, 3 failed, 1 skipped"),
        "{err}"
    );
}

#[test]
fn target_selection_decides_about_doctests_as_cargo_does() {
    let list = |args: &[&str]| {
        let o = hatchery_doc("list", args);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let all = list(&["-p", "gamma"]);
    assert!(all.contains("gamma tests::adds"), "{all}");
    assert!(all.contains(&format!("{GAMMA}add (line 10)")), "{all}");
    let lib = list(&["-p", "gamma", "--lib"]);
    assert!(
        lib.contains("gamma tests::adds") && !lib.contains("::doc/"),
        "{lib}"
    );
    let no_doc = list(&["-p", "gamma", "--no-doc"]);
    assert!(!no_doc.contains("::doc/"), "{no_doc}");
    let doc = list(&["-p", "gamma", "--doc", "add"]);
    assert_eq!(doc.trim(), format!("{GAMMA}add (line 10)"), "{doc}");
}

#[test]
fn target_triples_are_forwarded_and_foreign_ones_refused() {
    if !userns() {
        return;
    }
    let host = host_triple();
    let o = hatchery_doc(
        "test",
        &["-p", "gamma", "--lib", "--target", &host, "tests::adds"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(doc_fixture_target().join(&host).join("debug").is_dir());
    let o = hatchery_doc(
        "test",
        &["-p", "gamma", "--target", "riscv64gc-unknown-none-elf"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot run on this host"),
        "{}",
        stderr(&o)
    );
}
