//! The judge's vocabulary: a verdict per test case and per submission. Front ends map
//! outcomes to verdicts; the engine compares a unit's verdict with the one it expected.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The judge's vocabulary.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Verdict {
    /// Accepted.
    AC,
    /// Wrong answer.
    WA,
    /// Presentation error (testlib exit 2; `exact` comparison with only whitespace differing).
    PE,
    /// Time limit exceeded (CPU time over the limit, or wall time over 2x the limit + 1 s).
    TLE,
    /// Memory limit exceeded.
    MLE,
    /// Output limit exceeded.
    OLE,
    /// Run-time error: a signal or a non-zero exit status.
    RTE,
    /// Security violation: a system call the seccomp policy forbids.
    SV,
    /// Compilation error.
    CE,
    /// Judge error: a broken checker or a sandbox failure, never the submission's fault.
    JE,
}

impl Verdict {
    pub const ALL: [Verdict; 10] = [
        Verdict::AC,
        Verdict::WA,
        Verdict::PE,
        Verdict::TLE,
        Verdict::MLE,
        Verdict::OLE,
        Verdict::RTE,
        Verdict::SV,
        Verdict::CE,
        Verdict::JE,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::AC => "AC",
            Verdict::WA => "WA",
            Verdict::PE => "PE",
            Verdict::TLE => "TLE",
            Verdict::MLE => "MLE",
            Verdict::OLE => "OLE",
            Verdict::RTE => "RTE",
            Verdict::SV => "SV",
            Verdict::CE => "CE",
            Verdict::JE => "JE",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Verdict::AC => "accepted",
            Verdict::WA => "wrong answer",
            Verdict::PE => "presentation error",
            Verdict::TLE => "time limit exceeded",
            Verdict::MLE => "memory limit exceeded",
            Verdict::OLE => "output limit exceeded",
            Verdict::RTE => "run-time error",
            Verdict::SV => "security violation",
            Verdict::CE => "compilation error",
            Verdict::JE => "judge error",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verdict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown verdict `{s}`"))
    }
}
