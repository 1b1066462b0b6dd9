//! `submissions/submissions.yaml` of 2025-09 packages: what each example submission must
//! get, per test case, and how it bounds the time limit.
//!
//! Top-level keys are glob patterns over submission paths relative to `submissions/` (a
//! pattern also matches everything below a directory it matches: `accepted` and
//! `accepted/*` both match `accepted/a.py`); `*` and `?` match within one path component,
//! braces expand (`{a,b}.py`). Each maps to `language`, `entrypoint`, `authors`,
//! `model_solution`, and the requirements `permitted`, `required` (subsets of `AC`, `WA`,
//! `TLE`, `RTE`), `score`, `message`, `use_for_time_limit` — given for all test cases, or
//! under a key naming test data groups or cases (a glob over names relative to `data/`).
//! The format's default requirements for `accepted`, `rejected`, `wrong_answer`,
//! `time_limit_exceeded`, `run_time_error` and `brute_force` always apply; a key that is
//! exactly such a directory's name replaces the keys it gives.

use std::path::Path;

use serde::Serialize;
use yaml_rust2::{Yaml, YamlLoader};

use crate::judge::JudgeReport;
use crate::verdict::Verdict;

/// `use_for_time_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeLimitUse {
    /// `false`: not used.
    No,
    /// `true`: used as the other keys imply.
    Implied,
    /// `lower`: as `permitted: [AC, WA, RTE]`.
    Lower,
    /// `upper`: as `required: [TLE]`.
    Upper,
}

/// One requirement on a submission.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rule {
    /// The test cases it is about (a glob over names under `data/`); None = all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cases: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permitted: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<Vec<String>>,
    /// Inclusive range (equal ends for one score).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<(f64, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_for_time_limit: Option<TimeLimitUse>,
}

impl Rule {
    fn has_requirement(&self) -> bool {
        self.permitted.is_some()
            || self.required.is_some()
            || self.score.is_some()
            || self.message.is_some()
            || self.use_for_time_limit.is_some()
    }

    /// Takes the keys `o` gives.
    fn overlay(&mut self, o: &Rule) {
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f.clone(); } )* };
        }
        take!(permitted, required, score, message, use_for_time_limit);
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.cases {
            parts.push(format!("{c}:"));
        }
        if let Some(p) = &self.permitted {
            parts.push(format!("permitted [{}]", p.join(", ")));
        }
        if let Some(r) = &self.required {
            parts.push(format!("required [{}]", r.join(", ")));
        }
        if let Some((a, b)) = self.score {
            parts.push(if a == b {
                format!("score {a}")
            } else {
                format!("score [{a}, {b}]")
            });
        }
        if let Some(m) = &self.message {
            parts.push(format!("message `{m}`"));
        }
        parts.join(" ")
    }
}

/// What `submissions.yaml` and the defaults say about one submission.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubmissionSpec {
    pub language: Option<String>,
    pub entrypoint: Option<String>,
    pub rules: Vec<Rule>,
}

impl SubmissionSpec {
    /// Some rule is about a subset of the test cases (then every case must run).
    pub fn scoped(&self) -> bool {
        self.rules.iter().any(|r| r.cases.is_some())
    }

    /// How the submission bounds the time limit: (lower, upper).
    pub fn time_limit_bounds(&self) -> (bool, bool) {
        let (mut lower, mut upper) = (false, false);
        for r in &self.rules {
            match r.use_for_time_limit {
                Some(TimeLimitUse::No) => continue,
                Some(TimeLimitUse::Lower) => lower = true,
                Some(TimeLimitUse::Upper) => upper = true,
                _ => {}
            }
            // A lower bound from a rule about some cases only is not used (the derivation
            // bounds by a submission's slowest case over all cases).
            if r.cases.is_none()
                && r.permitted
                    .as_ref()
                    .is_some_and(|p| !p.iter().any(|v| v == "TLE"))
            {
                lower = true;
            }
            if r.required
                .as_ref()
                .is_some_and(|q| q.len() == 1 && q[0] == "TLE")
            {
                upper = true;
            }
        }
        (lower, upper)
    }

    /// Whether it may only get AC (then a derivation requires AC from it).
    pub fn must_accept(&self) -> bool {
        self.rules.iter().any(|r| {
            r.cases.is_none()
                && r.permitted
                    .as_ref()
                    .is_some_and(|p| p.len() == 1 && p[0] == "AC")
        })
    }

    pub fn describe(&self) -> String {
        let d: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.has_requirement())
            .map(Rule::describe)
            .filter(|s| !s.is_empty())
            .collect();
        if d.is_empty() {
            "anything".into()
        } else {
            d.join("; ")
        }
    }

    /// The requirements `report` does not meet (empty: it matches). `group_scores` are the
    /// scores of `secret` and its groups.
    pub fn unmet(&self, report: &JudgeReport) -> Vec<String> {
        let mut out = Vec::new();
        if report.cases.is_empty() && report.verdict != Verdict::AC {
            out.push(format!(
                "no test case ran: {} {}",
                report.verdict.as_str(),
                report.message.lines().next().unwrap_or("")
            ));
            return out;
        }
        for r in &self.rules {
            let in_scope = |name: &str| r.cases.as_deref().is_none_or(|g| matches_path(g, name));
            let cases: Vec<_> = report.cases.iter().filter(|c| in_scope(&c.name)).collect();
            let scope = r.cases.as_deref().unwrap_or("all test cases");
            if let Some(p) = &r.permitted {
                if let Some(c) = cases
                    .iter()
                    .find(|c| !p.iter().any(|v| v == class(c.verdict)))
                {
                    out.push(format!(
                        "{}: {} on {}, not permitted ({})",
                        scope,
                        c.verdict.as_str(),
                        c.name,
                        r.describe()
                    ));
                }
            }
            if let Some(q) = &r.required {
                if !cases
                    .iter()
                    .any(|c| q.iter().any(|v| v == class(c.verdict)))
                {
                    out.push(format!(
                        "{scope}: no test case got one of [{}]{}",
                        q.join(", "),
                        if cases.is_empty() {
                            " (none of them ran)"
                        } else {
                            ""
                        }
                    ));
                }
            }
            if let Some(m) = &r.message {
                if !cases.iter().any(|c| c.message.contains(m.as_str())) {
                    out.push(format!("{scope}: no judge message contains `{m}`"));
                }
            }
            if let Some((lo, hi)) = r.score {
                let got = match &r.cases {
                    None => report.score,
                    Some(g) => report
                        .group_scores
                        .iter()
                        .find(|s| matches_path(g, &s.name))
                        .map(|s| s.score),
                };
                match got {
                    Some(s) if s >= lo - 1e-6 && s <= hi + 1e-6 => {}
                    Some(s) => out.push(format!("{scope}: score {s}, expected {}", r.describe())),
                    None => out.push(format!("{scope}: no score to compare ({})", r.describe())),
                }
            }
        }
        out
    }
}

/// A case's verdict as the format's four: AC, WA (also PE), TLE, RTE (also MLE, OLE, SV).
fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::AC => "AC",
        Verdict::WA | Verdict::PE => "WA",
        Verdict::TLE => "TLE",
        Verdict::RTE | Verdict::MLE | Verdict::OLE | Verdict::SV => "RTE",
        Verdict::CE => "CE",
        Verdict::JE => "JE",
    }
}

/// The parsed `submissions.yaml` (empty without one).
#[derive(Debug, Clone, Default)]
pub struct SubmissionsYaml {
    entries: Vec<(String, Entry)>,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    language: Option<String>,
    entrypoint: Option<String>,
    rule: Rule,
    /// Requirements for test data groups or cases.
    scoped: Vec<Rule>,
}

const DEFAULT_DIRS: &[&str] = &[
    "accepted",
    "rejected",
    "wrong_answer",
    "time_limit_exceeded",
    "run_time_error",
    "brute_force",
];

/// The format's default requirements for a directory of `submissions/`.
fn default_rule(dir: &str) -> Option<Rule> {
    let l = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect());
    let (permitted, required) = match dir {
        "accepted" => (l(&["AC"]), None),
        "rejected" => (None, l(&["RTE", "TLE", "WA"])),
        "wrong_answer" => (l(&["AC", "WA"]), l(&["WA"])),
        "time_limit_exceeded" => (l(&["AC", "TLE"]), l(&["TLE"])),
        "run_time_error" => (l(&["AC", "RTE"]), l(&["RTE"])),
        // Not used for the time limit unless asked.
        "brute_force" => {
            return Some(Rule {
                permitted: l(&["AC", "RTE", "TLE"]),
                required: l(&["RTE", "TLE"]),
                use_for_time_limit: Some(TimeLimitUse::No),
                ..Rule::default()
            })
        }
        _ => return None,
    };
    Some(Rule {
        permitted,
        required,
        ..Rule::default()
    })
}

impl SubmissionsYaml {
    /// Reads `submissions/submissions.yaml` (none: only the defaults), with the package's
    /// constants substituted.
    pub fn load(
        problem_dir: &Path,
        constants: &crate::problem::Constants,
    ) -> Result<SubmissionsYaml, String> {
        let path = problem_dir.join("submissions/submissions.yaml");
        if !path.is_file() {
            return Ok(SubmissionsYaml::default());
        }
        let text = crate::problem::read_capped(&path).map_err(|e| e.to_string())?;
        let shown = "submissions/submissions.yaml";
        let docs = YamlLoader::load_from_str(&constants.substitute(&text))
            .map_err(|e| format!("{shown}: malformed YAML: {e}"))?;
        let top = match docs.into_iter().next() {
            None | Some(Yaml::Null) => return Ok(SubmissionsYaml::default()),
            Some(Yaml::Hash(h)) => h,
            Some(_) => return Err(format!("{shown}: expected a mapping at the top level")),
        };
        let mut entries = Vec::new();
        for (k, v) in top {
            let pat = key_string(&k).ok_or_else(|| format!("{shown}: a key is not a string"))?;
            let Yaml::Hash(h) = v else {
                return Err(format!("{shown}: {pat}: expected a mapping"));
            };
            let mut e = Entry::default();
            for (fk, fv) in h {
                let f = key_string(&fk)
                    .ok_or_else(|| format!("{shown}: {pat}: a key is not a string"))?;
                let field = format!("{shown}: {pat}.{f}");
                match f.as_str() {
                    "language" => e.language = Some(string(&fv, &field)?),
                    "entrypoint" => e.entrypoint = Some(string(&fv, &field)?),
                    "authors" | "model_solution" => {}
                    _ if read_requirement(&mut e.rule, &f, &fv, &field)? => {}
                    _ => match fv {
                        Yaml::Hash(sub) => {
                            let mut r = Rule {
                                cases: Some(f.clone()),
                                ..Rule::default()
                            };
                            for (sk, sv) in sub {
                                let s = key_string(&sk).unwrap_or_default();
                                let sfield = format!("{field}.{s}");
                                if !read_requirement(&mut r, &s, &sv, &sfield)? {
                                    return Err(format!(
                                        "{sfield}: unknown key (expected permitted, required, \
                                         score, message or use_for_time_limit)"
                                    ));
                                }
                            }
                            e.scoped.push(r);
                        }
                        _ => {
                            return Err(format!(
                                "{field}: unknown key (expected language, entrypoint, authors, \
                                 model_solution, permitted, required, score, message, \
                                 use_for_time_limit, or a test data group with requirements)"
                            ))
                        }
                    },
                }
            }
            entries.push((pat, e));
        }
        Ok(SubmissionsYaml { entries })
    }

    /// What applies to the submission at `rel` (relative to `submissions/`).
    pub fn spec_for(&self, rel: &str) -> SubmissionSpec {
        let dir = rel.split('/').next().unwrap_or("");
        let mut spec = SubmissionSpec::default();
        let mut dir_rule = default_rule(dir);
        for (pat, e) in &self.entries {
            // A key naming a default directory replaces the default's keys.
            let replaces_default = DEFAULT_DIRS.contains(&pat.as_str()) && pat == dir;
            if !replaces_default && !matches_path(pat, rel) {
                continue;
            }
            if e.language.is_some() {
                spec.language = e.language.clone();
            }
            if e.entrypoint.is_some() {
                spec.entrypoint = e.entrypoint.clone();
            }
            match (&mut dir_rule, replaces_default) {
                (Some(d), true) => d.overlay(&e.rule),
                _ if e.rule.has_requirement() => spec.rules.push(e.rule.clone()),
                _ => {}
            }
            spec.rules.extend(e.scoped.iter().cloned());
        }
        if let Some(d) = dir_rule {
            spec.rules.insert(0, d);
        }
        spec
    }
}

fn key_string(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

fn string(y: &Yaml, field: &str) -> Result<String, String> {
    key_string(y).ok_or_else(|| format!("{field}: expected a string"))
}

/// Reads a requirement key into `r`; false when `key` is not one.
fn read_requirement(r: &mut Rule, key: &str, v: &Yaml, field: &str) -> Result<bool, String> {
    let verdicts = |v: &Yaml| -> Result<Vec<String>, String> {
        let items: Vec<&Yaml> = match v {
            Yaml::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        let mut out = Vec::new();
        for i in items {
            match i {
                Yaml::String(s) if matches!(s.as_str(), "AC" | "WA" | "TLE" | "RTE") => {
                    out.push(s.clone())
                }
                other => {
                    return Err(format!(
                        "{field}: `{}` is not one of AC, WA, TLE, RTE",
                        key_string(other).unwrap_or_else(|| format!("{other:?}"))
                    ))
                }
            }
        }
        Ok(out)
    };
    let num = |y: &Yaml| -> Option<f64> {
        match y {
            Yaml::Integer(i) => Some(*i as f64),
            // A constant substituted in quotes.
            Yaml::Real(s) | Yaml::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    };
    match key {
        "permitted" => r.permitted = Some(verdicts(v)?),
        "required" => r.required = Some(verdicts(v)?),
        "message" => r.message = Some(string(v, field)?),
        "score" => {
            r.score = Some(match v {
                Yaml::Array(a) => match a.as_slice() {
                    [lo, hi] => match (num(lo), num(hi)) {
                        (Some(lo), Some(hi)) if lo <= hi => (lo, hi),
                        _ => return Err(format!("{field}: expected two numbers, low then high")),
                    },
                    _ => return Err(format!("{field}: expected a number or two numbers")),
                },
                one => match num(one) {
                    Some(x) => (x, x),
                    None => return Err(format!("{field}: expected a number or two numbers")),
                },
            })
        }
        "use_for_time_limit" => {
            r.use_for_time_limit = Some(match v {
                Yaml::Boolean(false) => TimeLimitUse::No,
                Yaml::Boolean(true) => TimeLimitUse::Implied,
                Yaml::String(s) if s == "lower" => TimeLimitUse::Lower,
                Yaml::String(s) if s == "upper" => TimeLimitUse::Upper,
                _ => return Err(format!("{field}: expected true, false, lower or upper")),
            })
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Expands `{a,b}` alternatives (nested ones too).
fn expand_braces(p: &str) -> Vec<String> {
    let Some(open) = p.find('{') else {
        return vec![p.to_owned()];
    };
    let mut depth = 0;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, ch) in p[open..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(open + i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return vec![p.to_owned()];
    };
    let mut bounds = vec![open];
    bounds.extend(commas);
    bounds.push(close);
    let (pre, post) = (&p[..open], &p[close + 1..]);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let alt = &p[w[0] + 1..w[1]];
        out.extend(expand_braces(&format!("{pre}{alt}{post}")));
    }
    out
}

/// `*` (any run of characters) and `?` (one character) within one path component.
fn matches_component(pat: &[u8], s: &[u8]) -> bool {
    match (pat.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            matches_component(&pat[1..], s) || (!s.is_empty() && matches_component(pat, &s[1..]))
        }
        (Some(b'?'), Some(_)) => matches_component(&pat[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => matches_component(&pat[1..], &s[1..]),
        _ => false,
    }
}

/// Whether glob `pat` matches `path` or one of its parent directories.
pub fn matches_path(pat: &str, path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    expand_braces(pat.trim_end_matches('/')).iter().any(|p| {
        let pp: Vec<&str> = p.split('/').collect();
        pp.len() <= parts.len()
            && pp
                .iter()
                .zip(&parts)
                .all(|(a, b)| matches_component(a.as_bytes(), b.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_braces_and_parents() {
        assert!(matches_path("accepted", "accepted/a.py"));
        assert!(matches_path("accepted/*", "accepted/a.py"));
        assert!(matches_path("accepted/*.php", "accepted/with_include.php"));
        assert!(!matches_path("accepted/*.php", "accepted/a.py"));
        assert!(matches_path(
            "*/{simple,complex}.py",
            "wrong_answer/complex.py"
        ));
        assert!(!matches_path(
            "*/{simple,complex}.py",
            "wrong_answer/other.py"
        ));
        assert!(matches_path("secret/*-easy", "secret/01-easy"));
        assert!(!matches_path("secret/*-easy", "secret/01-hard"));
        assert!(matches_path("secret/group1", "secret/group1/3"));
        assert!(!matches_path("*", "a/b") || matches_path("*", "a/b"));
        assert!(!matches_path("acc*", "wrong_answer/acc.py"));
        assert_eq!(expand_braces("a.{py,{c,cpp}}").len(), 3);
    }

    #[test]
    fn spec_example_and_defaults() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("submissions")).unwrap();
        std::fs::write(
            d.path().join("submissions/submissions.yaml"),
            "time_limit_exceeded/solves_easy_cases.py:\n  sample:\n    permitted: [AC]\n  \
             secret/*-easy:\n    permitted: [AC]\n  secret/*-hard:\n    permitted: [AC, TLE]\n    \
             required: [TLE]\nrun_time_error/not_defined:\n  language: python3\n  entrypoint: \
             main.py\ntime_limit_exceeded:\n  permitted: [AC, WA, TLE]\n",
        )
        .unwrap();
        let y = SubmissionsYaml::load(d.path(), &Default::default()).unwrap();
        let s = y.spec_for("time_limit_exceeded/solves_easy_cases.py");
        // The overridden default (permitted AC, WA, TLE; required TLE), then three scoped.
        assert_eq!(s.rules.len(), 4);
        assert_eq!(
            s.rules[0].permitted.as_deref(),
            Some(&["AC".to_owned(), "WA".into(), "TLE".into()][..])
        );
        assert_eq!(
            s.rules[0].required.as_deref(),
            Some(&["TLE".to_owned()][..])
        );
        assert!(s.scoped());
        assert_eq!(s.time_limit_bounds(), (false, true));
        let n = y.spec_for("run_time_error/not_defined");
        assert_eq!(n.language.as_deref(), Some("python3"));
        assert_eq!(n.entrypoint.as_deref(), Some("main.py"));
        assert_eq!(
            y.spec_for("accepted/x.py").time_limit_bounds(),
            (true, false)
        );
        assert!(y.spec_for("accepted/x.py").must_accept());
        assert_eq!(
            y.spec_for("brute_force/x.py").time_limit_bounds(),
            (false, false)
        );
        assert!(y.spec_for("partially_accepted/x.py").rules.is_empty());
        std::fs::write(
            d.path().join("submissions/submissions.yaml"),
            "accepted/*:\n  permitted: [AC, OK]\n",
        )
        .unwrap();
        let e = SubmissionsYaml::load(d.path(), &Default::default()).unwrap_err();
        assert!(
            e.contains("accepted/*.permitted") && e.contains("`OK`"),
            "{e}"
        );
    }
}
