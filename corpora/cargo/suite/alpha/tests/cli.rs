//! Integration test: runs the package's binary.

#[test]
fn runs_the_binary() {
    // The path at run time (nextest's variable: right after an archive's extraction too),
    // else the one compiled in.
    let exe = std::env::var_os("NEXTEST_BIN_EXE_alpha-tool")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_alpha-tool").into());
    let out = std::process::Command::new(exe)
        .output()
        .expect("run alpha-tool");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha-tool says hi\n");
}

#[test]
fn target_tmpdir_is_set() {
    assert_eq!(
        std::env::var("CARGO_TARGET_TMPDIR").unwrap(),
        env!("CARGO_TARGET_TMPDIR")
    );
}
