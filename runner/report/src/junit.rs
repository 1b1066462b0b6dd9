//! JUnit XML for CI systems (GitLab, Jenkins, GitHub test reporters), via quick-junit.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use crate::events::CaseFinished;

/// Builds a JUnit report from the finished attempts of a run (retries become reruns of the
/// same test case).
pub fn junit_xml(name: &str, attempts: &[CaseFinished]) -> String {
    let mut report = Report::new(name);
    let mut suite = TestSuite::new(name);
    let mut by_index: std::collections::BTreeMap<u64, Vec<&CaseFinished>> = Default::default();
    for a in attempts {
        by_index.entry(a.index).or_default().push(a);
    }
    for (_, mut tries) in by_index {
        tries.sort_by_key(|t| t.attempt);
        let last = *tries.last().expect("at least one attempt");
        let mut status = if last.passed {
            TestCaseStatus::success()
        } else {
            let kind = match last.result.outcome {
                crate::Outcome::SandboxError => NonSuccessKind::Error,
                _ => NonSuccessKind::Failure,
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(format!(
                "{} (expected {}): {}",
                last.result.outcome, last.expected, last.result.reason
            ));
            s.set_type(last.result.outcome.as_str());
            s
        };
        for earlier in &tries[..tries.len() - 1] {
            let kind = match earlier.result.outcome {
                crate::Outcome::SandboxError => NonSuccessKind::Error,
                _ => NonSuccessKind::Failure,
            };
            let mut r = TestRerun::new(kind);
            r.set_message(format!(
                "{}: {}",
                earlier.result.outcome, earlier.result.reason
            ));
            r.set_time(Duration::from_micros(earlier.result.usage.wall_us));
            r.set_system_out_lossy(&earlier.result.stdout.data);
            r.set_system_err_lossy(&earlier.result.stderr.data);
            status.add_rerun(r);
        }
        let mut tc = TestCase::new(last.id.clone(), status);
        tc.set_classname(name);
        tc.set_time(Duration::from_micros(last.result.usage.wall_us));
        if !last.passed {
            tc.set_system_out_lossy(&last.result.stdout.data);
            tc.set_system_err_lossy(&last.result.stderr.data);
        }
        tc.extra
            .insert("outcome".into(), last.result.outcome.as_str().into());
        suite.add_test_case(tc);
    }
    report.add_test_suite(suite);
    report.to_string().expect("JUnit XML serializes")
}
