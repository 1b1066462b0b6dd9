//! `cargo hatchery archive` and `test --archive-file`: the fixture workspace is built and
//! archived once, then run from another directory (extracted elsewhere, sources elsewhere,
//! partitioned) with the same verdicts as the direct run, and nothing is built.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `cargo-hatchery hatchery test` in `cwd` with a fresh state directory and a report;
/// returns the exit code and each test's last outcome.
fn run(cwd: &Path, name: &str, args: &[&str]) -> (Output, BTreeMap<String, String>) {
    let dir = scratch(name);
    let state = state_dir(name);
    let report = dir.join("report.jsonl");
    let mut cmd = Command::new(bin());
    if args.contains(&"--archive-file") {
        // Nothing may be built: a cargo that does not exist.
        cmd.env("CARGO", "/nonexistent/cargo");
    }
    let o = cmd
        .args([
            "hatchery",
            "test",
            "--workspace",
            "--no-fail-fast",
            "-j",
            "2",
        ])
        .args(["--color", "never", "--cargo-quiet", "--env"])
        .arg(format!("HATCHERY_FIXTURE_STATE={}", state.display()))
        .arg("--writable")
        .arg(&state)
        .arg("--report")
        .arg(&report)
        .args(args)
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let ev = events(&report);
    let outcomes = finished(&ev)
        .keys()
        .map(|id| {
            let m = finished(&ev);
            (
                id.clone(),
                last(&m, id)["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (o, outcomes)
}

/// Copies the fixture's sources (not its target directory) to `to`.
fn copy_sources(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            if e.file_name() != "target" {
                copy_sources(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

#[test]
fn an_archive_runs_elsewhere_with_the_same_verdicts() {
    if !userns() {
        return;
    }
    let (direct_out, direct) = run(
        &fixture(),
        "archive-direct",
        &["--target-dir", fixture_target().to_str().unwrap()],
    );
    assert_eq!(
        direct_out.status.code(),
        Some(100),
        "{}",
        stderr(&direct_out)
    );
    assert_eq!(direct.len(), 34, "{direct:?}");

    let dir = scratch("archive");
    let file = dir.join("suite.tar.zst");
    // archive.include: a directory two levels deep with depth 1 (its own files only), and a
    // missing path that is ignored.
    let extra = fixture_target().join("hatchery-extra");
    std::fs::create_dir_all(extra.join("sub")).unwrap();
    std::fs::write(extra.join("top.txt"), "x").unwrap();
    std::fs::write(extra.join("sub/deep.txt"), "x").unwrap();
    let config = dir.join("nextest.toml");
    std::fs::write(
        &config,
        r#"[profile.default]
archive.include = [
    { path = "hatchery-extra", relative-to = "target", depth = 1 },
    { path = "not-there", relative-to = "target", on-missing = "ignore" },
]
"#,
    )
    .unwrap();
    let o = Command::new(bin())
        .args([
            "hatchery",
            "archive",
            "--workspace",
            "--cargo-quiet",
            "--archive-file",
        ])
        .arg(&file)
        .arg("--target-dir")
        .arg(fixture_target())
        .arg("--config-file")
        .arg(&config)
        .current_dir(fixture())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("not-there"), "{}", stderr(&o));
    // nextest's layout: its two metadata files, the binaries under target/, the toolchain's
    // standard library, and archive.include.
    let listing = Command::new("tar").arg("tf").arg(&file).output().unwrap();
    if listing.status.success() {
        let names = stdout(&listing);
        for want in [
            "target/nextest/binaries-metadata.json",
            "target/nextest/cargo-metadata.json",
            "/deps/alpha-",
            "/alpha-tool",
            "target/nextest/libdirs/host/libstd-",
            "target/hatchery-extra/top.txt",
        ] {
            assert!(names.contains(want), "{want} missing from:\n{names}");
        }
        assert!(!names.contains("deep.txt"), "depth 1 went deeper:\n{names}");
    }

    // From another directory, extracted elsewhere.
    let cwd = scratch("archive-cwd");
    let extract = dir.join("extracted");
    let mut cmd_args = vec![
        "--archive-file",
        file.to_str().unwrap(),
        "--extract-to",
        extract.to_str().unwrap(),
        "--extract-overwrite",
    ];
    let (o, from_archive) = run(&cwd, "archive-extracted", &cmd_args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(100), "{err}");
    // CARGO_TARGET_TMPDIR is the extracted target directory, not the one compiled in.
    let mut expected = direct.clone();
    expected.insert(
        "alpha::cli target_tmpdir_is_set".into(),
        "nonzero_exit".into(),
    );
    assert_eq!(from_archive, expected, "{err}");
    assert!(
        extract
            .join("target/nextest/binaries-metadata.json")
            .is_file(),
        "extracted to --extract-to"
    );

    // Partitions of the archive: together, the whole run.
    cmd_args.extend(["--partition", "count:1/2"]);
    let (_, p1) = run(&cwd, "archive-p1", &cmd_args);
    *cmd_args.last_mut().unwrap() = "count:2/2";
    let (_, p2) = run(&cwd, "archive-p2", &cmd_args);
    assert!(!p1.is_empty() && !p2.is_empty());
    assert!(p1.keys().all(|k| !p2.contains_key(k)), "{p1:?} {p2:?}");
    let mut both = p1.clone();
    both.extend(p2);
    assert_eq!(both, expected);

    // Sources checked out elsewhere: --workspace-remap moves the packages' directories (the
    // tests' working directory and CARGO_MANIFEST_DIR).
    let ws = dir.join("ws");
    copy_sources(&fixture(), &ws);
    let (o, remapped) = run(
        &cwd,
        "archive-remap",
        &[
            "--archive-file",
            file.to_str().unwrap(),
            "--workspace-remap",
            ws.to_str().unwrap(),
        ],
    );
    let err = stderr(&o);
    // env::cargo_env compares the run-time CARGO_MANIFEST_DIR with the compiled-in one.
    expected.insert("alpha env::cargo_env".into(), "nonzero_exit".into());
    assert_eq!(remapped, expected, "{err}");
    assert!(
        err.contains(&format!("left: \"{}\"", ws.join("alpha").display())),
        "{err}"
    );
}

#[test]
fn a_missing_archive_is_named() {
    let dir = scratch("archive-missing");
    let o = Command::new(bin())
        .args(["hatchery", "test", "--archive-file"])
        .arg(dir.join("nope.tar.zst"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("nope.tar.zst"), "{}", stderr(&o));
}

/// A crate built with `-C prefer-dynamic` needs the toolchain's `libstd-*.so` at run time:
/// found in the toolchain when built here, and in the archive (nextest's place for it) when
/// run from one where no toolchain can be asked.
#[test]
fn prefer_dynamic_tests_find_the_standard_library() {
    if !userns() {
        return;
    }
    let dir = scratch("prefer-dynamic");
    let src = tiny_crate(
        &dir,
        "dyn",
        "#[test]\nfn links_std_dynamically() { assert_eq!(1 + 1, 2); }\n",
    );
    let target = dir.join("target");
    let hatchery = |args: &[&str]| {
        Command::new(bin())
            .arg("hatchery")
            .args(args)
            .arg("--target-dir")
            .arg(&target)
            .current_dir(&src)
            .env("RUSTFLAGS", "-C prefer-dynamic")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = hatchery(&["test", "--color", "never", "--cargo-quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("1 passed"), "{}", stderr(&o));
    let file = dir.join("dyn.tar.zst");
    let o = hatchery(&[
        "archive",
        "--cargo-quiet",
        "--archive-file",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // From the archive, with no cargo and no rustc to ask where the toolchain is.
    let o = Command::new(bin())
        .args(["hatchery", "test", "--color", "never", "--archive-file"])
        .arg(&file)
        .current_dir(&dir)
        .env("CARGO", "/nonexistent/cargo")
        .env("RUSTC", "/nonexistent/rustc")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("1 passed"), "{}", stderr(&o));
}

/// A crate `name` in `dir` with `lib` as its `src/lib.rs`; returns its directory.
fn tiny_crate(dir: &Path, name: &str, lib: &str) -> std::path::PathBuf {
    let src = dir.join(name);
    std::fs::create_dir_all(src.join("src")).unwrap();
    std::fs::write(
        src.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(src.join("src/lib.rs"), lib).unwrap();
    src
}

/// Tests that run the toolchain (`$CARGO`, `rustc` from `PATH`: trybuild, compile tests) pass
/// as under `cargo test`, also when the toolchain is in a home the test uid cannot enter.
#[test]
fn tests_that_run_cargo_and_rustc_find_them() {
    if !userns() {
        return;
    }
    let dir = scratch("toolchain");
    let lib = r#"
fn version(program: &str) {
    let o = std::process::Command::new(program).arg("--version").output().expect(program);
    assert!(o.status.success(), "{program}: {}", String::from_utf8_lossy(&o.stderr));
}
#[test]
fn runs_cargo() { version(&std::env::var("CARGO").unwrap()) }
#[test]
fn runs_rustc() { version("rustc") }
"#;
    let src = tiny_crate(&dir, "usestool", lib);
    let o = Command::new(bin())
        .args(["hatchery", "test", "--color", "never", "--cargo-quiet"])
        .arg("--target-dir")
        .arg(dir.join("target"))
        .current_dir(&src)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 passed"), "{}", stderr(&o));
}
