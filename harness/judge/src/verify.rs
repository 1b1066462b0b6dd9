//! `--verify-submissions`: judge every submission under `submissions/` and check each
//! verdict against its directory (or a DOMjudge `@EXPECTED_RESULTS@:` annotation).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::judge::{Judge, JudgeReport, Submission, SubmissionKind};
use crate::lang::LanguageTable;
use crate::problem::{FormatVersion, Problem};
use crate::report::Events;
use crate::subyaml::{SubmissionSpec, SubmissionsYaml};
use crate::verdict::{expected_for_dir, expected_from_source, Expected, Verdict};

/// A submission of the package and what it should get.
pub struct Planned {
    pub submission: Submission,
    pub expected: Expected,
    /// 2025-09: the requirements of `submissions.yaml` and the format's defaults, which
    /// decide instead of `expected`.
    pub spec: Option<SubmissionSpec>,
}

impl Planned {
    /// How the submission bounds a derived time limit: (lower, upper). 2025-09: as its
    /// requirements say; before: `accepted/` bounds from below, `time_limit_exceeded/`
    /// from above.
    pub fn time_limit_bounds(&self) -> (bool, bool) {
        match &self.spec {
            Some(s) => s.time_limit_bounds(),
            None => {
                let l = &self.submission.label;
                (
                    l.starts_with("submissions/accepted/"),
                    l.starts_with("submissions/time_limit_exceeded/"),
                )
            }
        }
    }

    /// Whether a derivation requires it to be accepted (else it only gives a run time).
    pub fn must_accept(&self) -> bool {
        self.spec.as_ref().is_none_or(SubmissionSpec::must_accept)
    }
}

/// A file under `submissions/` that is not judged, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// Lists `submissions/<expected>/<file or directory>`, sorted. Directories of an unknown
/// name and files of an unknown language are skipped (and reported).
pub fn list(
    problem: &Problem,
    langs: &LanguageTable,
    filter: Option<&str>,
) -> Result<(Vec<Planned>, Vec<Skipped>), String> {
    let problem_dir = &problem.dir;
    let v2025 = problem.format == FormatVersion::V2025_09;
    let yaml = if v2025 {
        SubmissionsYaml::load(problem_dir, &problem.constants)?
    } else {
        SubmissionsYaml::default()
    };
    let root = problem_dir.join("submissions");
    if !root.is_dir() {
        return Err(format!(
            "{}: no submissions/ directory to verify",
            problem_dir.display()
        ));
    }
    let mut planned = Vec::new();
    let mut skipped = Vec::new();
    for dir in sorted(&root)? {
        if !dir.is_dir() {
            continue;
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A directory of an unknown name (DOMjudge's `no_output`, `mixed-verdicts`,
        // `check_manually`, ...) says nothing by itself: its submissions are judged when
        // they carry an @EXPECTED_RESULTS@ or @EXPECTED_SCORE@ annotation, and skipped
        // (named) otherwise.
        let by_dir = expected_for_dir(&name);
        let mut untagged = Vec::new();
        for entry in sorted(&dir)? {
            let fname = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if fname.starts_with('.') {
                continue;
            }
            let rel = format!("submissions/{name}/{fname}");
            if filter.is_some_and(|f| !rel.contains(f)) {
                continue;
            }
            let spec = v2025.then(|| yaml.spec_for(&format!("{name}/{fname}")));
            let language = spec.as_ref().and_then(|s| s.language.as_deref());
            let made = Submission::from_path(&entry, language, langs).and_then(|s| {
                match spec.as_ref().and_then(|s| s.entrypoint.as_deref()) {
                    Some(e) => with_entrypoint(s, e),
                    None => Ok(s),
                }
            });
            let mut s = match made {
                Ok(s) => s,
                Err(e) => {
                    skipped.push(Skipped {
                        path: rel,
                        reason: e,
                    });
                    continue;
                }
            };
            // As verifyproblem does: a language whose toolchain is not installed here is
            // not judged (a JE would blame the package).
            if let SubmissionKind::Source { language, .. } = &s.kind {
                if let Some(p) = language.missing_program() {
                    skipped.push(Skipped {
                        path: rel,
                        reason: format!("language {}: `{p}` is not installed here", language.name),
                    });
                    continue;
                }
            }
            s.label = rel.clone();
            s.from_package = true;
            // One bad annotation skips its submission, not the package.
            let expected = match annotation(&s) {
                Err(e) => {
                    skipped.push(Skipped {
                        path: rel,
                        reason: e,
                    });
                    continue;
                }
                Ok(Some(e)) => {
                    planned.push(Planned {
                        submission: s,
                        expected: e,
                        spec: None,
                    });
                    continue;
                }
                Ok(None) => match (&by_dir, spec.filter(|s| !s.rules.is_empty())) {
                    // 2025-09: the requirements decide.
                    (_, Some(spec)) => {
                        planned.push(Planned {
                            submission: s,
                            expected: by_dir.clone().unwrap_or(Expected::Verdicts(Vec::new())),
                            spec: Some(spec),
                        });
                        continue;
                    }
                    (Some(e), None) => e.clone(),
                    (None, None) => {
                        untagged.push(rel);
                        continue;
                    }
                },
            };
            planned.push(Planned {
                submission: s,
                expected,
                spec: None,
            });
        }
        if !untagged.is_empty() {
            skipped.push(Skipped {
                path: format!("submissions/{name}/"),
                reason: format!(
                    "{} without @EXPECTED_RESULTS@/@EXPECTED_SCORE@ in a directory whose \
                     name gives no expected verdict (known: accepted, slow_accepted, \
                     partially_accepted, wrong_answer, time_limit_exceeded, run_time_error, \
                     rejected, brute_force, compile_error, memory_limit_exceeded, \
                     output_limit_exceeded, presentation_error, security_violation): {}",
                    if untagged.len() == 1 {
                        "1 submission".to_owned()
                    } else {
                        format!("{} submissions", untagged.len())
                    },
                    untagged.join(", ")
                ),
            });
        }
    }
    Ok((planned, skipped))
}

/// `entrypoint` of submissions.yaml: the file (or, for Java and Kotlin, the class) the
/// submission starts at.
fn with_entrypoint(mut s: Submission, entry: &str) -> Result<Submission, String> {
    if let SubmissionKind::Source { files, main, .. } = &mut s.kind {
        let found = files
            .iter()
            .find(|f| f.file_name().is_some_and(|n| n == entry))
            .or_else(|| {
                files
                    .iter()
                    .find(|f| f.file_stem().is_some_and(|n| n == entry))
            });
        match found {
            Some(f) => *main = f.clone(),
            None => {
                return Err(format!(
                    "entrypoint `{entry}` (submissions.yaml) is not one of its files"
                ))
            }
        }
    }
    Ok(s)
}

/// A submission's DOMjudge annotation, looked for in each of its source files (at most
/// one file may carry one, as in DOMjudge).
fn annotation(s: &Submission) -> Result<Option<Expected>, String> {
    let files: Vec<PathBuf> = match &s.kind {
        SubmissionKind::Source { files, .. } => files.clone(),
        _ => Vec::new(),
    };
    let mut found: Option<(String, Expected)> = None;
    for f in &files {
        let Ok(text) = crate::problem::read_capped(f) else {
            continue;
        };
        let file = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match expected_from_source(&text) {
            None => {}
            Some(Err(e)) => return Err(format!("{file}: {e}")),
            Some(Ok(e)) => {
                if let Some((first, _)) = &found {
                    return Err(format!(
                        "annotations in more than one file ({first} and {file})"
                    ));
                }
                found = Some((file, e));
            }
        }
    }
    Ok(found.map(|f| f.1))
}

/// The id prefix of a submission's units in the event stream.
pub fn prefix(s: &Submission) -> String {
    format!("{}:", s.label)
}

fn sorted(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    Ok(v)
}

/// One verified submission.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub path: String,
    pub expected: String,
    pub verdict: Verdict,
    pub score: Option<f64>,
    pub max_score: Option<f64>,
    pub matched: bool,
    /// 2025-09: the requirements the result does not meet.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<String>,
    pub judgement: JudgeReport,
}

/// The result of verifying a package.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub problem: String,
    pub time_limit_us: u64,
    pub time_limit_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_limit_derivation: Option<crate::timelimit::Derivation>,
    /// The input validation that ran first (when the package has input validators).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_validation: Option<crate::inputs::InputReport>,
    pub submissions: Vec<Verified>,
    pub skipped: Vec<Skipped>,
    pub matched: usize,
    pub total: usize,
    pub all_matched: bool,
    pub duration_us: u64,
}

/// Builds every submission (in parallel), then judges them one after another (each over
/// all workers). Unit ids are prefixed with the submission's path (`submissions/accepted/
/// a.c:secret/01`); events go to `events`. `on_done` sees each result as it is ready.
pub fn verify(
    judge: &Judge<'_>,
    planned: &[Planned],
    skipped: Vec<Skipped>,
    events: &mut Events,
    mut on_done: impl FnMut(&Verified),
) -> VerifyReport {
    let start = Instant::now();
    let subs: Vec<(&Submission, String)> = planned
        .iter()
        .map(|p| (&p.submission, prefix(&p.submission)))
        .collect();
    let built = judge.build_all(&subs, events);
    let mut out = Vec::new();
    for ((p, b), (_, prefix)) in planned.iter().zip(built).zip(&subs) {
        // Requirements about some of the cases need every case judged.
        let all = judge.run_all_cases || p.spec.as_ref().is_some_and(SubmissionSpec::scoped);
        let report = judge.judge_built_with(&p.submission, b, Instant::now(), prefix, events, all);
        let (matched, unmet, expected) = match &p.spec {
            Some(spec) => {
                let unmet = spec.unmet(&report);
                (unmet.is_empty(), unmet, spec.describe())
            }
            None => (
                p.expected
                    .matches(report.verdict, report.score, report.max_score),
                Vec::new(),
                p.expected.describe(),
            ),
        };
        let v = Verified {
            path: p.submission.label.clone(),
            expected,
            verdict: report.verdict,
            score: report.score,
            max_score: report.max_score,
            matched,
            unmet,
            judgement: report,
        };
        on_done(&v);
        out.push(v);
    }
    let matched = out.iter().filter(|v| v.matched).count();
    VerifyReport {
        problem: judge.problem.name.clone(),
        time_limit_us: judge.time_limit.as_micros() as u64,
        time_limit_source: judge.time_limit_source.clone(),
        time_limit_derivation: judge.derivation.clone(),
        input_validation: None,
        total: out.len(),
        // Nothing judged (every submission skipped, or --filter matched none) is not a
        // mismatch: the run says so, and only a mismatch fails it.
        all_matched: matched == out.len(),
        matched,
        submissions: out,
        skipped,
        duration_us: start.elapsed().as_micros() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_accepted_known_and_unknown_directories_skipped() {
        let d = tempfile::tempdir().unwrap();
        for (p, t) in [
            ("submissions/slow_accepted/a.py", "print(1)\n"),
            ("submissions/accepted/b.c", "int main(){}\n"),
            ("submissions/accepted/c.unknownlang", "?\n"),
            ("submissions/needs_review/d.c", "int main(){}\n"),
        ] {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, t).unwrap();
        }
        std::fs::create_dir_all(d.path().join("data/secret")).unwrap();
        std::fs::write(d.path().join("problem.yaml"), "name: x\n").unwrap();
        std::fs::write(d.path().join("data/secret/1.in"), "").unwrap();
        std::fs::write(d.path().join("data/secret/1.ans"), "").unwrap();
        let problem = crate::problem::load(d.path()).unwrap();
        let (planned, skipped) = list(&problem, &LanguageTable::builtin(), None).unwrap();
        let got: Vec<(String, Expected)> = planned
            .iter()
            .map(|p| (p.submission.label.clone(), p.expected.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "submissions/accepted/b.c".to_string(),
                    Expected::Verdicts(vec![Verdict::AC])
                ),
                (
                    "submissions/slow_accepted/a.py".to_string(),
                    Expected::Verdicts(vec![Verdict::AC, Verdict::TLE])
                ),
            ]
        );
        let skipped: Vec<&str> = skipped.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "submissions/accepted/c.unknownlang",
                "submissions/needs_review/"
            ]
        );
    }
}
