#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hatchery_fuzz_demo::last_payload_byte(data);
});
