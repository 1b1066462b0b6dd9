//! The JOBS file parser on arbitrary input: never panics, and every job it accepts has a
//! non-empty id and argv and a line number inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (jobs, errors) = hatchery::jobs::parse_jobs(text);
    let lines = text.split('\n').count();
    for j in &jobs {
        assert!(!j.id.is_empty() && !j.argv.is_empty());
        assert!(j.line >= 1 && j.line <= lines);
        let _ = j.limits.over(&Default::default());
    }
    for e in &errors {
        assert!(e.line >= 1 && e.line <= lines);
        let _ = e.to_string();
    }
});
