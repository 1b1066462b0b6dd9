//! Fixture: edition 2024, so rustdoc merges the doctests below into one executable.
//!
//! ```
//! assert_eq!(delta::double(2), 4);
//! ```

/// Doubles.
///
/// ```
/// assert_eq!(delta::double(3), 6);
/// ```
///
/// ```should_panic
/// panic!("expected");
/// ```
pub fn double(x: u32) -> u32 {
    x * 2
}
