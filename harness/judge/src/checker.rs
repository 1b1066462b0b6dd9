//! The built-in output checker: Kattis' default validator (token comparison with optional
//! case and whitespace sensitivity and float tolerances) plus an exact mode.
//!
//! It runs in the judge process on data the submission produced, so everything it reads is
//! already capped by the output limit and it never allocates per byte more than a token.

use std::fmt;

/// Options of the default checker, parsed from validator flags (`validator_flags` in a legacy
/// `problem.yaml`, `output_validator_args` / `output_validator_flags` in 2023-07 and in
/// `testdata.yaml`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenOptions {
    /// `case_sensitive`: letters must match in case (default: compared case-insensitively).
    pub case_sensitive: bool,
    /// `space_change_sensitive`: whitespace must match byte for byte.
    pub space_change_sensitive: bool,
    /// `float_absolute_tolerance E` (or `float_tolerance E`).
    pub float_abs: Option<f64>,
    /// `float_relative_tolerance E` (or `float_tolerance E`).
    pub float_rel: Option<f64>,
    /// `exact` (hatchery extension): the output must equal the answer byte for byte; output
    /// that differs only in whitespace is a presentation error.
    pub exact: bool,
}

impl TokenOptions {
    /// Parses validator flags. Errors name the flag.
    pub fn parse<S: AsRef<str>>(flags: &[S]) -> Result<TokenOptions, String> {
        let mut o = TokenOptions::default();
        let mut it = flags.iter().map(AsRef::as_ref);
        while let Some(f) = it.next() {
            let mut num = |name: &str| -> Result<f64, String> {
                let v = it
                    .next()
                    .ok_or_else(|| format!("flag `{name}` needs a number after it"))?;
                match v.parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                    _ => Err(format!("flag `{name}`: `{v}` is not a non-negative number")),
                }
            };
            match f {
                "case_sensitive" => o.case_sensitive = true,
                "space_change_sensitive" => o.space_change_sensitive = true,
                "exact" => o.exact = true,
                "float_absolute_tolerance" => o.float_abs = Some(num(f)?),
                "float_relative_tolerance" => o.float_rel = Some(num(f)?),
                "float_tolerance" => {
                    let e = num(f)?;
                    o.float_abs = Some(e);
                    o.float_rel = Some(e);
                }
                other => {
                    return Err(format!(
                        "unknown flag `{other}` (the default validator knows case_sensitive, \
                         space_change_sensitive, float_absolute_tolerance E, \
                         float_relative_tolerance E, float_tolerance E and exact)"
                    ))
                }
            }
        }
        Ok(o)
    }

    fn floats(&self) -> bool {
        self.float_abs.is_some() || self.float_rel.is_some()
    }
}

/// The checker's judgement.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Accepted,
    WrongAnswer(String),
    PresentationError(String),
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Accepted => f.write_str("accepted"),
            Check::WrongAnswer(m) | Check::PresentationError(m) => f.write_str(m),
        }
    }
}

/// Compares the submission's `output` with the judge's `answer`.
pub fn compare(answer: &[u8], output: &[u8], o: &TokenOptions) -> Check {
    if o.exact {
        if answer == output {
            return Check::Accepted;
        }
        let strict = TokenOptions {
            case_sensitive: true,
            ..TokenOptions::default()
        };
        return match compare_tokens(answer, output, &strict) {
            Check::Accepted => Check::PresentationError(format!(
                "output differs from the answer only in whitespace (first difference at byte {})",
                first_difference(answer, output)
            )),
            other => other,
        };
    }
    if o.space_change_sensitive {
        compare_with_space(answer, output, o)
    } else {
        compare_tokens(answer, output, o)
    }
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// A token and the (1-based) line it starts on.
struct Tokens<'a> {
    data: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Tokens<'a> {
    fn new(data: &'a [u8]) -> Self {
        Tokens {
            data,
            pos: 0,
            line: 1,
        }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = (&'a [u8], usize);
    fn next(&mut self) -> Option<Self::Item> {
        while self.pos < self.data.len() && self.data[self.pos].is_ascii_whitespace() {
            if self.data[self.pos] == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
        if self.pos == self.data.len() {
            return None;
        }
        let start = self.pos;
        while self.pos < self.data.len() && !self.data[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
        Some((&self.data[start..self.pos], self.line))
    }
}

fn compare_tokens(answer: &[u8], output: &[u8], o: &TokenOptions) -> Check {
    let mut a = Tokens::new(answer);
    let mut b = Tokens::new(output);
    let mut n = 0usize;
    loop {
        n += 1;
        match (a.next(), b.next()) {
            (None, None) => return Check::Accepted,
            (Some((t, _)), None) => {
                return Check::WrongAnswer(format!(
                    "output ended early: token {n} should be `{}`",
                    show(t)
                ))
            }
            (None, Some((t, line))) => {
                return Check::WrongAnswer(format!(
                    "trailing output on line {line}: `{}` (token {n})",
                    show(t)
                ))
            }
            (Some((x, _)), Some((y, line))) => {
                if let Some(m) = token_mismatch(x, y, o) {
                    return Check::WrongAnswer(format!("line {line}, token {n}: {m}"));
                }
            }
        }
    }
}

/// Whitespace-sensitive comparison: tokens as usual, and every whitespace byte must match.
fn compare_with_space(answer: &[u8], output: &[u8], o: &TokenOptions) -> Check {
    let (mut i, mut j) = (0usize, 0usize);
    let mut line = 1usize;
    let mut n = 0usize;
    loop {
        // Whitespace runs must be identical.
        while i < answer.len() && answer[i].is_ascii_whitespace() {
            if j >= output.len() || output[j] != answer[i] {
                return Check::WrongAnswer(format!(
                    "line {line}: whitespace differs: expected {}, got {}",
                    describe_byte(Some(answer[i])),
                    describe_byte(output.get(j).copied())
                ));
            }
            if answer[i] == b'\n' {
                line += 1;
            }
            i += 1;
            j += 1;
        }
        if j < output.len() && output[j].is_ascii_whitespace() {
            return Check::WrongAnswer(format!(
                "line {line}: whitespace differs: expected {}, got {}",
                describe_byte(answer.get(i).copied()),
                describe_byte(Some(output[j]))
            ));
        }
        let ta = take_token(answer, &mut i);
        let tb = take_token(output, &mut j);
        n += 1;
        match (ta.is_empty(), tb.is_empty()) {
            (true, true) => return Check::Accepted,
            (false, true) => {
                return Check::WrongAnswer(format!(
                    "output ended early: token {n} should be `{}`",
                    show(ta)
                ))
            }
            (true, false) => {
                return Check::WrongAnswer(format!(
                    "trailing output on line {line}: `{}` (token {n})",
                    show(tb)
                ))
            }
            (false, false) => {
                if let Some(m) = token_mismatch(ta, tb, o) {
                    return Check::WrongAnswer(format!("line {line}, token {n}: {m}"));
                }
            }
        }
    }
}

fn take_token<'a>(d: &'a [u8], i: &mut usize) -> &'a [u8] {
    let s = *i;
    while *i < d.len() && !d[*i].is_ascii_whitespace() {
        *i += 1;
    }
    &d[s..*i]
}

fn describe_byte(b: Option<u8>) -> String {
    match b {
        None => "end of output".into(),
        Some(b'\n') => "a newline".into(),
        Some(b' ') => "a space".into(),
        Some(b'\t') => "a tab".into(),
        Some(b'\r') => "a carriage return".into(),
        Some(c) if c.is_ascii_whitespace() => format!("whitespace byte 0x{c:02x}"),
        Some(c) => format!("`{}`", show(&[c])),
    }
}

/// Why `got` does not match `want`, or None when it does.
fn token_mismatch(want: &[u8], got: &[u8], o: &TokenOptions) -> Option<String> {
    if o.floats() {
        if let Some(w) = parse_number(want) {
            let Some(g) = parse_number(got) else {
                return Some(format!(
                    "expected the number `{}`, got `{}`",
                    show(want),
                    show(got)
                ));
            };
            let diff = (w - g).abs();
            let abs_ok = o.float_abs.is_some_and(|e| diff <= e);
            let rel_ok = o.float_rel.is_some_and(|e| diff <= e * w.abs());
            if abs_ok || rel_ok || w == g {
                return None;
            }
            let mut tol = Vec::new();
            if let Some(e) = o.float_abs {
                tol.push(format!("absolute {e:e}"));
            }
            if let Some(e) = o.float_rel {
                tol.push(format!("relative {e:e}"));
            }
            return Some(format!(
                "expected `{}`, got `{}`: difference {diff:e} exceeds the tolerance ({})",
                show(want),
                show(got),
                tol.join(", ")
            ));
        }
    }
    let same = if o.case_sensitive {
        want == got
    } else {
        want.eq_ignore_ascii_case(got)
    };
    if same {
        None
    } else {
        Some(format!("expected `{}`, got `{}`", show(want), show(got)))
    }
}

/// A decimal number in the usual notation (`-12`, `3.5`, `.5`, `1e-9`); no `inf`, `nan` or
/// hexadecimal floats, which `str::parse` would accept.
pub fn parse_number(t: &[u8]) -> Option<f64> {
    let mut i = 0;
    if i < t.len() && (t[i] == b'+' || t[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < t.len() && t[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < t.len() && t[i] == b'.' {
        i += 1;
        let f = i;
        while i < t.len() && t[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - f;
    }
    if digits == 0 {
        return None;
    }
    if i < t.len() && (t[i] == b'e' || t[i] == b'E') {
        i += 1;
        if i < t.len() && (t[i] == b'+' || t[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < t.len() && t[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return None;
        }
    }
    if i != t.len() {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

/// A token for a message: at most 40 characters, lossy UTF-8.
fn show(t: &[u8]) -> String {
    let s = String::from_utf8_lossy(t);
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(flags: &str) -> TokenOptions {
        TokenOptions::parse(&flags.split_whitespace().collect::<Vec<_>>()).unwrap()
    }

    fn ok(a: &str, b: &str, flags: &str) -> bool {
        compare(a.as_bytes(), b.as_bytes(), &opts(flags)) == Check::Accepted
    }

    #[test]
    fn whitespace_and_case_are_ignored_by_default() {
        assert!(ok("1 2\n3\n", "1\n2 3", ""));
        assert!(ok("Yes\n", "  yes  \n\n", ""));
        assert!(!ok("Yes\n", "Yes No\n", ""));
        assert!(!ok("1 2\n", "1\n", ""));
        assert!(ok("", "\n \n", ""));
    }

    #[test]
    fn case_sensitive_flag() {
        assert!(!ok("Yes\n", "yes\n", "case_sensitive"));
        assert!(ok("Yes\n", "Yes\n", "case_sensitive"));
    }

    #[test]
    fn space_change_sensitive_flag() {
        assert!(ok("1 2\n", "1 2\n", "space_change_sensitive"));
        assert!(!ok("1 2\n", "1  2\n", "space_change_sensitive"));
        assert!(!ok("1 2\n", "1 2", "space_change_sensitive"));
        assert!(!ok("1 2\n", "1\n2\n", "space_change_sensitive"));
        assert!(ok("a B\n", "A b\n", "space_change_sensitive"));
        let m = compare(b"1 2\n", b"1 2 \n", &opts("space_change_sensitive"));
        assert!(
            matches!(&m, Check::WrongAnswer(s) if s.contains("whitespace differs")),
            "{m:?}"
        );
    }

    #[test]
    fn numbers_are_strings_without_a_tolerance() {
        assert!(!ok("1.0\n", "1\n", ""));
        assert!(ok("1.0\n", "1.0\n", ""));
    }

    #[test]
    fn absolute_and_relative_tolerances() {
        assert!(ok("1.0\n", "1.0000001\n", "float_absolute_tolerance 1e-6"));
        assert!(!ok("1.0\n", "1.00001\n", "float_absolute_tolerance 1e-6"));
        // Relative: 1e6 * 1e-6 = 1 absolute slack.
        assert!(ok(
            "1000000\n",
            "1000000.9\n",
            "float_relative_tolerance 1e-6"
        ));
        assert!(!ok(
            "1000000\n",
            "1000001.5\n",
            "float_relative_tolerance 1e-6"
        ));
        // Either tolerance suffices.
        assert!(ok("0\n", "1e-7\n", "float_tolerance 1e-6"));
        assert!(ok("1e9\n", "1000000100\n", "float_tolerance 1e-6"));
        assert!(ok("-2.5\n", "-2.5000000001\n", "float_tolerance 1e-9"));
        // Non-numeric judge tokens are compared as words.
        assert!(ok("x 1.5\n", "X 1.5000001\n", "float_tolerance 1e-6"));
        // A word where a number is due is wrong, as are inf/nan spellings.
        assert!(!ok("1.5\n", "one\n", "float_tolerance 1e-6"));
        assert!(!ok("1.5\n", "nan\n", "float_tolerance 1e-6"));
        assert!(!ok("1.5\n", "inf\n", "float_tolerance 1e6"));
        assert!(!ok("16\n", "0x10\n", "float_tolerance 1e-6"));
    }

    #[test]
    fn exact_mode_reports_presentation_errors() {
        assert!(ok("1 2\n", "1 2\n", "exact"));
        let r = compare(b"1 2\n", b"1  2\n", &opts("exact"));
        assert!(matches!(r, Check::PresentationError(_)), "{r:?}");
        let r = compare(b"1 2\n", b"1 3\n", &opts("exact"));
        assert!(matches!(r, Check::WrongAnswer(_)), "{r:?}");
        let r = compare(b"Yes\n", b"yes\n", &opts("exact"));
        assert!(matches!(r, Check::WrongAnswer(_)), "{r:?}");
    }

    #[test]
    fn messages_name_the_line_and_tokens() {
        let r = compare(b"1\n2\n3\n", b"1\n2\n4\n", &opts(""));
        assert_eq!(
            r,
            Check::WrongAnswer("line 3, token 3: expected `3`, got `4`".into())
        );
        let r = compare(b"1 2\n", b"1\n", &opts(""));
        assert_eq!(
            r,
            Check::WrongAnswer("output ended early: token 2 should be `2`".into())
        );
        let r = compare(b"1\n", b"1\n5\n", &opts(""));
        assert_eq!(
            r,
            Check::WrongAnswer("trailing output on line 2: `5` (token 2)".into())
        );
        let r = compare(b"1.5\n", b"1.6\n", &opts("float_absolute_tolerance 0.01"));
        assert!(
            matches!(&r, Check::WrongAnswer(m) if m.contains("exceeds the tolerance (absolute 1e-2)")),
            "{r:?}"
        );
    }

    #[test]
    fn flag_errors_name_the_flag() {
        assert!(TokenOptions::parse(&["float_tolerance"])
            .unwrap_err()
            .contains("needs a number"));
        assert!(TokenOptions::parse(&["float_tolerance", "x"])
            .unwrap_err()
            .contains("`x`"));
        assert!(TokenOptions::parse(&["bogus"])
            .unwrap_err()
            .contains("unknown flag `bogus`"));
        let o = TokenOptions::parse(&["float_tolerance", "1e-4", "case_sensitive"]).unwrap();
        assert_eq!(o.float_abs, Some(1e-4));
        assert_eq!(o.float_rel, Some(1e-4));
        assert!(o.case_sensitive);
    }

    #[test]
    fn number_syntax() {
        for good in ["1", "-1", "+1.5", ".5", "5.", "1e5", "1E-5", "-0.0"] {
            assert!(parse_number(good.as_bytes()).is_some(), "{good}");
        }
        for bad in [
            "", "-", ".", "e5", "1e", "inf", "nan", "0x1p3", "1.2.3", "1,5",
        ] {
            assert!(parse_number(bad.as_bytes()).is_none(), "{bad}");
        }
    }
}
