//! The production frame decoder ([`hatchery_sandbox::wire::decode_frame`], the pure half of
//! `wire::recv`) and the message decoders behind it, on arbitrary bytes and an arbitrary cap:
//! never panics, never accepts more than the cap, never loses or invents bytes.
#![no_main]

use hatchery_sandbox::wire::{self, CaseRequest, Hello};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose the cap (up to 64 KiB), the rest is what arrived.
    let Some((cap, buf)) = data.split_first_chunk::<2>() else {
        return;
    };
    let cap = u16::from_le_bytes(*cap) as usize;
    let Ok(frame) = wire::decode_frame(buf, cap) else {
        return;
    };
    assert!(4 + frame.header.len() <= cap + 4);
    assert_eq!(4 + 4 + frame.header.len() + frame.tail.len(), buf.len());
    assert_eq!(wire::encode_frame(frame.header, &[frame.tail]), buf);
    let _ = wire::decode_message::<CaseRequest>(frame);
    let _ = wire::decode_message::<Hello>(frame);
    if let Ok(reply) = wire::decode_reply(frame) {
        let kept = reply.facts.stdout.data.len() + reply.facts.stderr.data.len();
        assert_eq!(kept, frame.tail.len());
    }
});
