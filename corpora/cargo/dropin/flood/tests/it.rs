//! An integration test binary (`flood::it`, kind `test`), for filtersets and overrides.

#[test]
fn it_passes() {}

#[test]
fn it_fails() {
    panic!("integration failure");
}
