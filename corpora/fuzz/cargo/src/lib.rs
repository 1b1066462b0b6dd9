//! A length-prefixed record parser with a bug a fuzzer finds: the length byte is trusted.

/// Parses `REC` + length byte + payload and returns the last payload byte.
pub fn last_payload_byte(d: &[u8]) -> Option<u8> {
    let rest = d.strip_prefix(b"REC")?;
    let (&len, payload) = rest.split_first()?;
    if len == 0 {
        return None;
    }
    // Bug: `len` is not checked against the payload's length (index out of bounds).
    Some(payload[len as usize - 1])
}
