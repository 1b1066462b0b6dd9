//! `cargo hatchery test` (see issue 7).
