//! Fixture for `cargo hatchery test` doctests and the `hatchery cargo-runner` route. Edition
//! 2021: rustdoc compiles every doctest into its own executable.
//!
//! ```
//! assert_eq!(gamma::add(2, 2), 4);
//! ```

/// Adds. A passing doctest:
///
/// ```
/// assert_eq!(gamma::add(1, 2), 3);
/// ```
pub fn add(a: u32, b: u32) -> u32 {
    a + b
}

/// A failing doctest (prints, then the assertion fails):
///
/// ```
/// println!("about to fail");
/// assert_eq!(gamma::add(1, 1), 3);
/// ```
pub fn fails() {}

/// Two `should_panic` doctests close together:
///
/// ```should_panic
/// gamma::boom();
/// ```
///
/// ```should_panic
/// let v: Vec<u8> = Vec::new();
/// let _ = v[1];
/// ```
pub fn boom() {
    panic!("boom");
}

/// A `should_panic` doctest that does not panic: it fails.
///
/// ```should_panic
/// let _ = gamma::add(1, 1);
/// ```
pub fn does_not_panic() {}

/// Compile-time doctests, judged by rustdoc:
///
/// ```compile_fail
/// let x: u8 = "not a number";
/// ```
///
/// ```no_run
/// loop {}
/// ```
pub fn compile_time() {}

/// A doctest that does not compile (a failure):
///
/// ```
/// let x: u32 = gamma::no_such_function();
/// ```
pub fn broken() {}

/// Ignored:
///
/// ```ignore
/// this is not rust
/// ```
pub fn ignored() {}

/// Checks that it runs in hatchery's sandbox: PID 1 of its PID namespace is a zygote (fails
/// under plain `cargo test --doc`, whose PID 1 is the host's init).
///
/// ```
/// let init = std::fs::read("/proc/1/cmdline").unwrap();
/// assert!(String::from_utf8_lossy(&init).contains("__zygote"), "not sandboxed");
/// ```
pub fn sandboxed() {}

/// True when the current process is PID-namespaced under a hatchery zygote.
pub fn under_zygote() -> bool {
    std::fs::read("/proc/1/cmdline")
        .map(|c| String::from_utf8_lossy(&c).contains("__zygote"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    /// Only in hatchery's sandbox: its own PID namespace with a zygote as PID 1.
    #[test]
    fn in_own_pid_namespace() {
        assert!(super::under_zygote(), "PID 1 is not a hatchery zygote");
    }

    /// Each test is its own process with a private /tmp: a file another test left is not
    /// visible. (In one shared process this races with `tmp_b`.)
    #[test]
    fn tmp_a() {
        std::fs::write("/tmp/gamma-a", "a").unwrap();
        assert!(!std::path::Path::new("/tmp/gamma-b").exists());
    }

    #[test]
    fn tmp_b() {
        std::fs::write("/tmp/gamma-b", "b").unwrap();
        assert!(!std::path::Path::new("/tmp/gamma-a").exists());
    }

    #[test]
    fn adds() {
        assert_eq!(super::add(2, 3), 5);
    }
}
