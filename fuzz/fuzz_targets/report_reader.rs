//! The JSON Lines report reader: never panics; every event it accepts serializes and reads
//! back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(events) = hatchery_report::read_events(data) {
        for e in events {
            let line = serde_json::to_vec(&e).expect("an event encodes");
            let back = hatchery_report::parse_event_line(&line, 1, false).expect("round trip");
            assert_eq!(back, e);
        }
    }
});
