//! The zygote's request decoder (the bytes after the length prefix): never panics, respects
//! its size cap, and what it accepts re-encodes to something it accepts again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = hatchery_sandbox::wire::decode_request(data) {
        let again = serde_json::to_vec(&req).expect("a decoded request encodes");
        let back = hatchery_sandbox::wire::decode_request(&again).expect("round trip");
        assert_eq!(back.argv, req.argv);
        assert_eq!(back.limits, req.limits);
    }
});
