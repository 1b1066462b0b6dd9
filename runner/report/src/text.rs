//! Small text helpers shared by every front end: error chains, durations, sizes.

/// An error and its sources, `: `-separated ("failed to create cgroup X: Permission denied").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// `1.23 ms`-style durations from microseconds.
pub fn fmt_us(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("{:.3} s", us as f64 / 1e6)
    }
}

/// `1.5 MiB`-style sizes.
pub fn fmt_bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    if f < K {
        format!("{b} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MiB", f / (K * K))
    } else {
        format!("{:.2} GiB", f / (K * K * K))
    }
}

/// Whether a character would be acted on by a terminal rather than shown: C0 controls other
/// than newline and tab (ESC starts every escape sequence, CR rewrites a line, BS moves
/// back), DEL, C1 controls (U+0080–U+009F: U+009B is a one-character CSI on many terminals),
/// and the bidirectional overrides and isolates that reorder what is shown (U+202A–U+202E,
/// U+2066–U+2069, U+200E, U+200F, U+061C).
pub fn is_terminal_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// Text for people from bytes a case (or any untrusted party) chose: every character a
/// terminal would act on is shown as an escape instead — `\x1b`, `\r`, `\u{202e}` — and
/// bytes that are not UTF-8 as `\xNN`; newlines and tabs stay. The one escaping function of
/// every human output (run, batch, judge, cargo): what a case prints can neither hide nor
/// forge the runner's own lines. JSON, JUnit and HTML escape in their own way.
pub fn escape_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        push_escaped(&mut out, chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// [`escape_text`] of a string (a message that may quote a case's output).
pub fn escape_str(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(is_terminal_control) {
        let mut out = String::with_capacity(s.len() + 8);
        push_escaped(&mut out, s);
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        if !is_terminal_control(c) {
            out.push(c);
        } else if c == '\r' {
            out.push_str("\\r");
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn units() {
        assert_eq!(super::fmt_us(999), "999 µs");
        assert_eq!(super::fmt_us(1500), "1.50 ms");
        assert_eq!(super::fmt_bytes(1536), "1.5 KiB");
        let e = std::io::Error::other("inner");
        assert_eq!(super::error_chain(&e), "inner");
    }

    #[test]
    fn terminal_controls_are_shown_not_acted_on() {
        use super::{escape_str, escape_text};
        // The forged summary of issue 12: conceal, clear the line, carriage return.
        let hostile =
            b"out\x1b[8m\r\x1b[2K\x07\x08tab\there\nnext\xff\xc2\x9b31m\xe2\x80\xaeevil\x7f";
        let shown = escape_text(hostile);
        assert_eq!(
            shown,
            "out\\x1b[8m\\r\\x1b[2K\\x07\\x08tab\there\nnext\\xff\\x9b31m\\u{202e}evil\\x7f"
        );
        assert!(!shown.chars().any(super::is_terminal_control));
        // Plain text, non-ASCII letters and emoji pass unchanged (and unallocated).
        assert!(matches!(
            escape_str("π ≈ 3.14 ✓\n\tok"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(escape_str("a\u{1b}b"), "a\\x1bb");
    }
}
