//! Problem packages in the Kattis/ICPC problem package format — the legacy version, 2025-09 and
//! 2023-07 — and DOMjudge's variant (`domjudge-problem.ini`, `.timelimit`).
//!
//! Everything read here comes from the package author: every file has a size cap, and every
//! error names the file and the field.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use yaml_rust2::{Yaml, YamlLoader};

use crate::checker::TokenOptions;

/// Largest `problem.yaml`, `testdata.yaml`, `domjudge-problem.ini` or `.timelimit` read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

const MIB: u64 = 1 << 20;

/// A package that cannot be used, naming the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{}: {field}: {message}", file.display())]
    Field {
        file: PathBuf,
        field: String,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn field_err(file: &Path, field: &str, message: impl Into<String>) -> PackageError {
    PackageError::Field {
        file: file.to_path_buf(),
        field: field.to_owned(),
        message: message.into(),
    }
}

fn invalid(path: &Path, message: impl Into<String>) -> PackageError {
    PackageError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Which version of the format the package declares (`problem_format_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatVersion {
    Legacy,
    /// `2023-07-draft` or `2023-07`.
    V2023_07,
    /// `2025-09`, the released successor of 2023-07.
    V2025_09,
}

impl FormatVersion {
    /// 2023-07 or later (not legacy).
    pub fn modern(self) -> bool {
        self != FormatVersion::Legacy
    }
}

/// How the output is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidatorProtocol {
    /// `validator input answer feedback_dir [args] < output`; exit 42 = AC, 43 = WA.
    Kattis,
    /// `checker input output answer`; exit 0 OK, 1 WA, 2 PE, 3 FAIL, 7 points.
    Testlib,
}

/// A custom output validator's sources.
#[derive(Debug, Clone)]
pub struct ValidatorSource {
    /// `output_validator/`, `output_validators/<name>/` or a single-file validator.
    pub path: PathBuf,
    /// Every file that belongs to it (sources and headers).
    pub files: Vec<PathBuf>,
    pub protocol: ValidatorProtocol,
}

/// Limits of the package (`limits` in `problem.yaml`), with the format's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemLimits {
    /// CPU time per test case. None when the package gives none (then `--time-limit` must).
    pub time_limit: Option<Duration>,
    /// Where the time limit came from, e.g. `problem.yaml limits.time_limit`.
    pub time_limit_source: String,
    pub memory_bytes: u64,
    pub output_bytes: u64,
    pub compilation_time: Duration,
    pub compilation_memory_bytes: u64,
    pub validation_time: Duration,
    pub validation_memory_bytes: u64,
    pub validation_output_bytes: u64,
    /// Deriving the time limit: the slowest accepted run is multiplied by this (legacy
    /// `time_multiplier`, default 5; 2023-07 `time_multipliers.ac_to_time_limit`, default 2).
    pub ac_to_time_limit: f64,
    /// ... and time_limit_exceeded submissions must need this many times the limit (legacy
    /// `time_safety_margin`, default 2; 2023-07 `time_multipliers.time_limit_to_tle`,
    /// default 1.5).
    pub time_limit_to_tle: f64,
    /// 2023-07 `time_resolution` (default 1 s): a derived limit is a multiple of it. Legacy
    /// packages round up to a whole second.
    pub time_resolution: f64,
    /// Multi-pass problems: at most this many passes (`validation_passes`, default 2).
    pub validation_passes: u32,
}

impl Default for ProblemLimits {
    fn default() -> Self {
        ProblemLimits {
            time_limit: None,
            time_limit_source: String::new(),
            memory_bytes: 2048 * MIB,
            output_bytes: 8 * MIB,
            compilation_time: Duration::from_secs(60),
            compilation_memory_bytes: 2048 * MIB,
            validation_time: Duration::from_secs(60),
            validation_memory_bytes: 2048 * MIB,
            validation_output_bytes: 8 * MIB,
            ac_to_time_limit: 5.0,
            time_limit_to_tle: 2.0,
            time_resolution: 1.0,
            validation_passes: 2,
        }
    }
}

impl ProblemLimits {
    /// The format's defaults.
    pub fn defaults(format: FormatVersion) -> ProblemLimits {
        match format {
            FormatVersion::Legacy => ProblemLimits::default(),
            FormatVersion::V2023_07 | FormatVersion::V2025_09 => ProblemLimits {
                ac_to_time_limit: 2.0,
                time_limit_to_tle: 1.5,
                ..ProblemLimits::default()
            },
        }
    }
}

/// How a group's score is computed from its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// 2025-09 `score_aggregation: pass-fail`: the group's whole maximum when every case is
    /// accepted, else 0.
    PassFail,
    Sum,
    Min,
    Max,
    Avg,
}

/// How a group's verdict is computed from its children's (Kattis' default grader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictRule {
    /// The worst verdict of any child (JE, SV, RTE, MLE, TLE, OLE, WA, PE, AC): the legacy
    /// default (`worst_error`, also `no_errors`).
    Worst,
    /// The verdict of the first rejected child (`first_error`): the 2023-07 rule.
    First,
    /// Always AC (`always_accept`); only a judge error stays one.
    AlwaysAccept,
}

/// The verdict part of a group's `grader_flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraderFlags {
    pub rule: VerdictRule,
    /// `accept_if_any_accepted`: AC when any child is AC.
    pub accept_if_any: bool,
    /// `ignore_sample`: the `sample` group does not count towards the verdict.
    pub ignore_sample: bool,
}

impl GraderFlags {
    /// The format's default: worst error (legacy, Kattis' default grader) or first error
    /// (2023-07).
    pub fn default_for(format: FormatVersion) -> GraderFlags {
        GraderFlags {
            rule: match format {
                FormatVersion::Legacy => VerdictRule::Worst,
                FormatVersion::V2023_07 | FormatVersion::V2025_09 => VerdictRule::First,
            },
            accept_if_any: false,
            ignore_sample: false,
        }
    }

    /// Whether the group may turn a rejected child into an accepted group verdict.
    pub fn may_accept_rejection(&self) -> bool {
        self.rule == VerdictRule::AlwaysAccept || self.accept_if_any
    }
}

/// A group on the way from `data/` down to a test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Ancestor {
    /// Path under `data/` (the root is ``).
    pub name: String,
    /// The group stops at a rejection (`on_reject: break`).
    pub breaks: bool,
    /// The group may accept although a child was rejected (`always_accept`,
    /// `accept_if_any_accepted`).
    pub may_accept: bool,
}

/// One test case.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// Path under `data/` without `.in`, e.g. `secret/group1/03`.
    pub name: String,
    pub input: PathBuf,
    pub answer: PathBuf,
    pub sample: bool,
    /// Output validator flags in force for this case (problem-level, then testdata.yaml).
    pub validator_flags: Vec<String>,
    /// Legacy scoring: score of an accepted / rejected case.
    pub accept_score: f64,
    pub reject_score: f64,
    /// Arguments for the input validators (`input_validator_flags` / `input_validator_args`).
    pub input_validator_args: InputValidatorArgs,
    /// The groups the case is in, from `data/` down to its own.
    pub ancestors: Vec<Ancestor>,
    /// 2025-09 `args`: command-line arguments for the submission (and, after the input
    /// validator arguments, for the input validators).
    pub args: Vec<String>,
    /// 2025-09: what the case may score.
    pub score_max: CaseMax,
    /// A static validation test case (2025-09): the static validator's arguments. It runs
    /// the static validator on the submission's files instead of the submission; it has no
    /// input or answer.
    pub static_args: Option<Vec<String>>,
}

/// What a test case of a 2025-09 scoring problem may score.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum CaseMax {
    /// Not scored: a pass-fail problem, an older format, or a sample (a `score.txt` there
    /// is ignored).
    #[default]
    NotScored,
    /// In a group with `pass-fail` aggregation: a `score.txt` or `score_multiplier.txt` is
    /// a judge error.
    PassFail,
    /// At most this much: `score.txt` (at most this) or `score_multiplier.txt` (in [0, 1]).
    Bounded(f64),
    /// Unbounded: an accepted case must have a `score.txt`.
    Unbounded,
}

/// Input validator arguments of a test case or group.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum InputValidatorArgs {
    /// The same arguments for every input validator.
    #[default]
    None,
    All(Vec<String>),
    /// Arguments for the named validators; the others get none.
    Named(Vec<(String, Vec<String>)>),
}

impl InputValidatorArgs {
    /// The arguments for the input validator called `name`.
    pub fn for_validator(&self, name: &str) -> Vec<String> {
        match self {
            InputValidatorArgs::None => Vec::new(),
            InputValidatorArgs::All(a) => a.clone(),
            InputValidatorArgs::Named(m) => m
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, a)| a.clone())
                .unwrap_or_default(),
        }
    }
}

/// A program of the package (an input validator): one file or a directory.
#[derive(Debug, Clone)]
pub struct ProgramSource {
    /// Its name: the file or directory name.
    pub name: String,
    pub path: PathBuf,
}

/// A program of the package this judge does not run, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SkippedProgram {
    pub path: String,
    pub reason: String,
}

/// An input that every input validator run must reject (2023-07 `data/invalid_input/`).
#[derive(Debug, Clone)]
pub struct InvalidInput {
    /// Path under `data/` without `.in`, e.g. `invalid_input/negative`.
    pub name: String,
    pub input: PathBuf,
    pub input_validator_args: InputValidatorArgs,
}

/// An output the output validator must reject (`data/invalid_output/`, 2025-09) or accept
/// (`data/valid_output/`): a case (its `.in`, `.ans` and validator arguments) and the
/// `.out` to check.
#[derive(Debug, Clone)]
pub struct OutputCheck {
    /// The case; its name is the path under `data/` without `.in`.
    pub case: TestCase,
    pub output: PathBuf,
    /// `valid_output`: must be accepted; `invalid_output`: must be rejected.
    pub valid: bool,
}

/// A test group (a directory under `data/`).
#[derive(Debug, Clone)]
pub struct Group {
    /// Path under `data/`, e.g. `secret/group1` (the root is ``).
    pub name: String,
    pub aggregation: Aggregation,
    /// 2023-07 `scoring.score`: the group's maximum score.
    pub max_score: Option<f64>,
    /// Legacy `range: MIN MAX`: the scores the group may get; a finite MAX is the group's
    /// full score (problemtools' rule for accepted submissions).
    pub range: Option<(f64, f64)>,
    /// Judging of the group stops at its first rejected case or subgroup (legacy
    /// `on_reject: break`, the default there; 2023-07: pass-fail problems and groups that
    /// aggregate with `min`).
    pub on_reject_break: bool,
    /// How the group's verdict is computed (`grader_flags`).
    pub grader: GraderFlags,
    /// 2025-09 `require_pass`: groups (or `sample`) every case of which must be accepted for
    /// this group to score.
    pub require_pass: Vec<String>,
    pub children: Vec<Node>,
}

/// A member of a group: a test case (index into [`Problem::cases`]) or a subgroup.
#[derive(Debug, Clone)]
pub enum Node {
    Case(usize),
    Group(Group),
}

/// A parsed problem package.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Absolute path of the package.
    pub dir: PathBuf,
    pub name: String,
    pub format: FormatVersion,
    pub scoring: bool,
    pub interactive: bool,
    /// Multi-pass: the output validator may write `nextpass.in`, and the submission runs
    /// again on it.
    pub multi_pass: bool,
    /// The output validator may give scores (`score.txt`): legacy `validation: custom
    /// score` (where it must), a 2023-07 scoring problem (where it may). Otherwise a
    /// `score.txt` is a judge error, as in problemtools.
    pub custom_score: bool,
    /// Legacy `validation: custom score`: every accepted case must have a `score.txt`.
    pub custom_score_required: bool,
    /// Set when validation is custom (and always for interactive problems).
    pub validator: Option<ValidatorSource>,
    /// 2025-09 `static_validator/`, run by the static validation test cases.
    pub static_validator: Option<ValidatorSource>,
    pub limits: ProblemLimits,
    /// Every test case in judging order: samples, then secret; groups and cases in
    /// lexicographic order of their names.
    pub cases: Vec<TestCase>,
    /// The tree under `data/` (`sample` and `secret` groups).
    pub root: Group,
    /// Input validators (`input_validators/`, or the older `input_format_validators/`).
    pub input_validators: Vec<ProgramSource>,
    /// Input validators this judge cannot run (Checktestdata, VIVA).
    pub skipped_input_validators: Vec<SkippedProgram>,
    /// `data/invalid_input/*.in`: inputs the input validators must reject.
    pub invalid_inputs: Vec<InvalidInput>,
    /// `data/invalid_output/` and `data/valid_output/` (2025-09, BAPCtools).
    pub output_checks: Vec<OutputCheck>,
    /// Things the package contains that this judge ignores.
    pub notes: Vec<String>,
    /// 2025-09 `constants`, substituted for `{{name}}` in validators, included files,
    /// example submissions and `test_group.yaml`.
    pub constants: Constants,
    /// 2025-09 `include/`: files copied into every submission before it is built.
    pub include_dir: Option<PathBuf>,
    /// `languages` of problem.yaml, unless `all`: the languages submissions may use.
    pub languages: Option<Vec<String>>,
    /// `limits.code`: the largest total size of a submission's files.
    pub code_limit_bytes: Option<u64>,
}

/// `constants` of a 2025-09 `problem.yaml`: each name with its `value` and variants.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Constants(pub Vec<(String, Vec<(String, String)>)>);

impl Constants {
    /// The value of `name` or `name.variant`.
    pub fn lookup(&self, key: &str) -> Option<&str> {
        let (name, variant) = key.split_once('.').unwrap_or((key, "value"));
        let (_, vars) = self.0.iter().find(|(n, _)| n == name)?;
        vars.iter()
            .find(|(v, _)| v == variant)
            .map(|(_, x)| x.as_str())
    }

    /// `text` with every `{{name}}` / `{{name.variant}}` of a defined constant replaced by
    /// its value; other `{{...}}` stay as they are (as the format says).
    pub fn substitute(&self, text: &str) -> String {
        if self.0.is_empty() || !text.contains("{{") {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("{{") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            match after.find("}}") {
                Some(end) if is_constant_key(&after[..end]) => {
                    match self.lookup(&after[..end]) {
                        Some(v) => out.push_str(v),
                        None => out.push_str(&rest[at..at + 4 + end]),
                    }
                    rest = &after[end + 2..];
                }
                _ => {
                    out.push_str("{{");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// [`Constants::substitute`] on a file's bytes when they are UTF-8 text; other files
    /// (binaries, images) are left alone.
    pub fn substitute_bytes(&self, data: Vec<u8>) -> Vec<u8> {
        if self.0.is_empty() {
            return data;
        }
        match String::from_utf8(data) {
            Ok(t) => self.substitute(&t).into_bytes(),
            Err(e) => e.into_bytes(),
        }
    }
}

/// `name` or `name.variant`, names matching `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_constant_key(k: &str) -> bool {
    let ident = |s: &str| {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    };
    match k.split_once('.') {
        Some((n, v)) => ident(n) && ident(v),
        None => ident(k),
    }
}

impl Problem {
    /// Whether a rejection of case `failed` stops judging case `later` (a later case): the
    /// smallest group holding both stops at a rejection (`on_reject: break`), and no group
    /// between it and the failed case may turn the rejection into an acceptance
    /// (`always_accept`, `accept_if_any_accepted`). Conservative: when this says false, the
    /// later case may still not count (see [`crate::grade`]).
    pub fn breaks_between(&self, failed: usize, later: usize) -> bool {
        let a = &self.cases[failed].ancestors;
        let b = &self.cases[later].ancestors;
        let common = a
            .iter()
            .zip(b)
            .take_while(|(x, y)| x.name == y.name)
            .count();
        common > 0 && a[common - 1].breaks && !a[common..].iter().any(|g| g.may_accept)
    }

    /// The groups along the path to the group `name` (the root first, `name` last).
    fn group_chain(&self, name: &str) -> Vec<&Group> {
        let mut chain = vec![&self.root];
        while let Some(g) = chain.last().copied() {
            if g.name == name {
                return chain;
            }
            let next = g.children.iter().find_map(|c| match c {
                Node::Group(s) if name.starts_with(&format!("{}/", s.name)) || s.name == name => {
                    Some(s)
                }
                _ => None,
            });
            match next {
                Some(s) => chain.push(s),
                None => break,
            }
        }
        Vec::new()
    }

    /// 2025-09 `require_pass`: the groups every case of which must be accepted before the
    /// group `name` runs: those its own and its ancestors' `require_pass` name, and
    /// (transitively) what those require.
    pub fn requirements(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut todo = vec![name.to_owned()];
        while let Some(n) = todo.pop() {
            for g in self.group_chain(&n) {
                for r in &g.require_pass {
                    if !out.contains(r) {
                        out.push(r.clone());
                        todo.push(r.clone());
                    }
                }
            }
        }
        out
    }

    /// Whether case `case` is in the group `group` (or a group inside it).
    pub fn case_in(&self, case: usize, group: &str) -> bool {
        self.cases[case].ancestors.iter().any(|a| a.name == group)
    }

    /// Whether a rejection of case `failed` keeps case `later` from being judged because a
    /// group of `later` requires (`require_pass`) a group holding `failed`.
    pub fn requires_between(&self, failed: usize, later: usize) -> bool {
        let own = self.cases[later]
            .ancestors
            .last()
            .map_or("", |a| a.name.as_str());
        self.requirements(own)
            .iter()
            .any(|r| self.case_in(failed, r))
    }

    /// The `data/secret` group, if any.
    pub fn secret(&self) -> Option<&Group> {
        self.root.children.iter().find_map(|n| match n {
            Node::Group(g) if g.name == "secret" => Some(g),
            _ => None,
        })
    }
}

/// Reads a file of at most [`MAX_CONFIG_BYTES`] as UTF-8.
pub(crate) fn read_capped(path: &Path) -> Result<String, PackageError> {
    let io = |source| PackageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = fs::File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    f.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 > MAX_CONFIG_BYTES {
        return Err(invalid(
            path,
            format!("larger than {MAX_CONFIG_BYTES} bytes"),
        ));
    }
    String::from_utf8(buf).map_err(|_| invalid(path, "not valid UTF-8"))
}

fn load_yaml(path: &Path) -> Result<Yaml, PackageError> {
    load_yaml_text(path, &read_capped(path)?)
}

/// Parses `text`, read from `path`, as a YAML mapping.
fn load_yaml_text(path: &Path, text: &str) -> Result<Yaml, PackageError> {
    let docs = YamlLoader::load_from_str(text)
        .map_err(|e| invalid(path, format!("malformed YAML: {e}")))?;
    match docs.into_iter().next() {
        None | Some(Yaml::Null) => Ok(Yaml::Hash(Default::default())),
        Some(y @ Yaml::Hash(_)) => Ok(y),
        Some(_) => Err(invalid(path, "expected a mapping at the top level")),
    }
}

/// A YAML mapping being read, with the file and the field path for errors.
struct Map<'a> {
    file: &'a Path,
    prefix: String,
    hash: &'a yaml_rust2::yaml::Hash,
}

impl<'a> Map<'a> {
    fn top(file: &'a Path, y: &'a Yaml) -> Map<'a> {
        static EMPTY: std::sync::OnceLock<yaml_rust2::yaml::Hash> = std::sync::OnceLock::new();
        let hash = match y {
            Yaml::Hash(h) => h,
            _ => EMPTY.get_or_init(Default::default),
        };
        Map {
            file,
            prefix: String::new(),
            hash,
        }
    }

    fn field(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn get(&self, key: &str) -> Option<&'a Yaml> {
        match self.hash.get(&Yaml::String(key.to_owned())) {
            None | Some(Yaml::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn err(&self, key: &str, msg: impl Into<String>) -> PackageError {
        field_err(self.file, &self.field(key), msg)
    }

    fn keys(&self) -> Vec<String> {
        self.hash
            .keys()
            .map(|k| match k {
                Yaml::String(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn map(&self, key: &str) -> Result<Option<Map<'a>>, PackageError> {
        match self.get(key) {
            None => Ok(None),
            Some(Yaml::Hash(h)) => Ok(Some(Map {
                file: self.file,
                prefix: format!("{}{key}.", self.prefix),
                hash: h,
            })),
            Some(v) => Err(self.err(key, format!("expected a mapping, found {}", show(v)))),
        }
    }

    fn str(&self, key: &str) -> Result<Option<&'a str>, PackageError> {
        match self.get(key) {
            None => Ok(None),
            Some(Yaml::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.err(key, format!("expected a string, found {}", show(v)))),
        }
    }

    fn number(&self, key: &str) -> Result<Option<f64>, PackageError> {
        let v = match self.get(key) {
            None => return Ok(None),
            Some(v) => v,
        };
        let x = match v {
            Yaml::Integer(i) => Some(*i as f64),
            Yaml::Real(r) => r.parse::<f64>().ok(),
            Yaml::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match x {
            Some(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(self.err(key, format!("expected a number, found {}", show(v)))),
        }
    }

    fn positive(&self, key: &str, unit: &str) -> Result<Option<f64>, PackageError> {
        match self.number(key)? {
            Some(x) if x > 0.0 => Ok(Some(x)),
            Some(x) => Err(self.err(
                key,
                format!("expected a positive number of {unit}, found {x}"),
            )),
            None => Ok(None),
        }
    }

    /// A list of words given as a string (`"a b c"`) or a sequence of strings/numbers.
    fn words(&self, key: &str) -> Result<Option<Vec<String>>, PackageError> {
        match self.get(key) {
            None => Ok(None),
            Some(Yaml::String(s)) => Ok(Some(s.split_whitespace().map(str::to_owned).collect())),
            Some(Yaml::Array(a)) => {
                let mut out = Vec::new();
                for (i, v) in a.iter().enumerate() {
                    match v {
                        Yaml::String(s) => out.push(s.clone()),
                        Yaml::Integer(n) => out.push(n.to_string()),
                        Yaml::Real(r) => out.push(r.clone()),
                        other => {
                            return Err(self.err(
                                &format!("{key}[{i}]"),
                                format!("expected a string, found {}", show(other)),
                            ))
                        }
                    }
                }
                Ok(Some(out))
            }
            Some(v) => Err(self.err(
                key,
                format!("expected a string or a list of strings, found {}", show(v)),
            )),
        }
    }
}

fn show(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => format!("`{s}`"),
        Yaml::Integer(i) => format!("`{i}`"),
        Yaml::Real(r) => format!("`{r}`"),
        Yaml::Boolean(b) => format!("`{b}`"),
        Yaml::Array(_) => "a list".into(),
        Yaml::Hash(_) => "a mapping".into(),
        Yaml::Alias(_) => "an alias".into(),
        Yaml::Null => "nothing".into(),
        Yaml::BadValue => "an invalid value".into(),
    }
}

fn secs(x: f64) -> Duration {
    Duration::from_secs_f64(x)
}

const PROBLEM_YAML_KEYS: &[&str] = &[
    "problem_format_version",
    "type",
    "name",
    "uuid",
    "version",
    "author",
    "credits",
    "source",
    "source_url",
    "license",
    "rights_owner",
    "embargo_until",
    "validation",
    "validator_flags",
    "output_validator_args",
    "limits",
    "keywords",
    "languages",
    "grading",
    "allow_file_writing",
    "constants",
    "validator_protocol",
];

const LIMIT_KEYS: &[&str] = &[
    "time_limit",
    "time_multiplier",
    "time_safety_margin",
    "time_multipliers",
    "time_resolution",
    "memory",
    "output",
    "code",
    "compilation_time",
    "compilation_memory",
    "validation_time",
    "validation_memory",
    "validation_output",
    "validation_passes",
];

/// Reads a problem package.
pub fn load(dir: &Path) -> Result<Problem, PackageError> {
    // The real path: cases see the package by it (a `..` may pass through directories their
    // view does not have).
    let dir = std::fs::canonicalize(dir).map_err(|source| PackageError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !dir.is_dir() {
        return Err(invalid(&dir, "not a directory"));
    }
    links_stay_inside(&dir)?;
    let yaml_path = dir.join("problem.yaml");
    let ini_path = dir.join("domjudge-problem.ini");
    let has_yaml = yaml_path.is_file();
    let has_ini = ini_path.is_file();
    if !has_yaml && !has_ini {
        return Err(invalid(
            &dir,
            "not a problem package: no problem.yaml (Kattis/ICPC format) and no \
             domjudge-problem.ini (DOMjudge)",
        ));
    }
    if !dir.join("data").is_dir() {
        return Err(invalid(
            &dir,
            "not a problem package: no data/ directory with test cases",
        ));
    }
    let mut notes = Vec::new();
    let yaml = if has_yaml {
        load_yaml(&yaml_path)?
    } else {
        Yaml::Hash(Default::default())
    };
    let py = Map::top(&yaml_path, &yaml);
    for k in py.keys() {
        if !PROBLEM_YAML_KEYS.contains(&k.as_str()) {
            notes.push(format!("problem.yaml: unknown key `{k}` ignored"));
        }
    }
    let format = match py.get("problem_format_version") {
        None => FormatVersion::Legacy,
        Some(Yaml::String(s)) if s == "legacy" || s == "legacy-icpc" => FormatVersion::Legacy,
        Some(Yaml::String(s)) if s == "2023-07-draft" || s == "2023-07" => FormatVersion::V2023_07,
        Some(Yaml::String(s)) if s == "2025-09" => FormatVersion::V2025_09,
        Some(v) => {
            return Err(py.err(
                "problem_format_version",
                format!(
                    "unsupported version {} (expected legacy, legacy-icpc, 2023-07-draft, \
                     2023-07 or 2025-09)",
                    show(v)
                ),
            ))
        }
    };
    let v2025 = format == FormatVersion::V2025_09;
    let constants = if v2025 {
        read_constants(&py)?
    } else {
        Constants::default()
    };
    if v2025 {
        // Keys 2025-09 dropped: what they said is said otherwise there.
        for (key, instead) in [
            (
                "validation",
                "a custom output validator is used when output_validator/ exists; `type` \
                 says scoring, interactive and multi-pass",
            ),
            (
                "validator_flags",
                "give `output_validator_args` in test_group.yaml",
            ),
            ("grading", "give `score_aggregation` in test_group.yaml"),
        ] {
            if py.get(key).is_some() {
                return Err(py.err(key, format!("not part of the 2025-09 format: {instead}")));
            }
        }
        if matches!(py.get("allow_file_writing"), Some(Yaml::Boolean(true))) {
            return Err(py.err(
                "allow_file_writing",
                "`true` is not supported: submissions run in a read-only working directory",
            ));
        }
    }
    let languages = match py.get("languages") {
        None => None,
        Some(Yaml::String(s)) if s.trim() == "all" => None,
        Some(_) => Some(py.words("languages")?.unwrap_or_default()),
    };
    let include_dir = Some(dir.join("include")).filter(|d| v2025 && d.is_dir());
    let ini = if has_ini {
        Some(parse_domjudge_ini(&ini_path, &read_capped(&ini_path)?)?)
    } else {
        None
    };

    // Name.
    let name = match py.get("name") {
        Some(Yaml::String(s)) => s.clone(),
        Some(Yaml::Hash(h)) => {
            let en = h
                .get(&Yaml::String("en".into()))
                .or_else(|| h.values().next());
            match en {
                Some(Yaml::String(s)) => s.clone(),
                _ => return Err(py.err("name", "expected a string or a map of strings")),
            }
        }
        Some(v) => return Err(py.err("name", format!("expected a string, found {}", show(v)))),
        None => ini
            .as_ref()
            .and_then(|i| i.name.clone())
            .unwrap_or_else(|| {
                dir.file_name()
                    .map_or("problem".into(), |n| n.to_string_lossy().into_owned())
            }),
    };

    // Type and validation.
    let mut scoring = false;
    let mut interactive = false;
    let mut multi_pass = false;
    let mut custom = false;
    let mut legacy_custom_score = false;
    match py.get("type") {
        None => {}
        Some(v) => {
            let words: Vec<String> = match v {
                Yaml::String(s) => s.split_whitespace().map(str::to_owned).collect(),
                Yaml::Array(_) => py.words("type")?.unwrap_or_default(),
                other => {
                    return Err(py.err(
                        "type",
                        format!("expected a string or a list, found {}", show(other)),
                    ))
                }
            };
            for w in words {
                match w.as_str() {
                    "pass-fail" => {}
                    "scoring" => scoring = true,
                    "interactive" if format.modern() => interactive = true,
                    "multi-pass" if format.modern() => multi_pass = true,
                    "submit-answer" => {
                        return Err(py.err("type", format!("`{w}` problems are not supported")))
                    }
                    other => {
                        return Err(py.err(
                            "type",
                            format!(
                                "unknown problem type `{other}` (expected pass-fail or scoring{})",
                                if format.modern() {
                                    ", optionally with interactive or multi-pass"
                                } else {
                                    ""
                                }
                            ),
                        ))
                    }
                }
            }
        }
    }
    if let Some(v) = py.str("validation")? {
        let mut words = v.split_whitespace();
        match words.next() {
            Some("default") if words.clone().next().is_none() => {}
            Some("custom") => {
                custom = true;
                for w in words {
                    match w {
                        "interactive" => interactive = true,
                        "score" => {
                            scoring = true;
                            legacy_custom_score = true;
                        }
                        // Drafts of 2023-07 spelled multi-pass as a validation option.
                        "multi-pass" | "multi_pass" => multi_pass = true,
                        other => {
                            return Err(py.err(
                                "validation",
                                format!(
                                    "unknown option `{other}` (expected `default` or `custom` \
                                     followed by `interactive`, `multi-pass` and/or `score`)"
                                ),
                            ))
                        }
                    }
                }
            }
            _ => {
                return Err(py.err(
                    "validation",
                    format!(
                        "`{v}` is not a validation mode (expected default, custom, custom \
                         interactive, custom score or custom interactive score)"
                    ),
                ))
            }
        }
    }

    // Validator sources.
    let found = find_validator(&dir)?;
    if format.modern() && py.get("validation").is_none() && found.is_some() {
        custom = true;
    }
    if interactive && multi_pass {
        return Err(py.err(
            "type",
            "interactive multi-pass problems are not supported (multi-pass works with \
             non-interactive problems)",
        ));
    }
    if interactive || multi_pass {
        custom = true;
    }
    if let Some(ini) = &ini {
        for (k, v) in [
            ("special_compare", &ini.special_compare),
            ("special_run", &ini.special_run),
        ] {
            if let Some(v) = v {
                return Err(field_err(
                    &ini_path,
                    k,
                    format!(
                        "`{v}` names a DOMjudge executable, which this judge cannot use; put the \
                         validator's sources in output_validators/ and set `validation: custom` \
                         in problem.yaml"
                    ),
                ));
            }
        }
    }
    let validator = if custom {
        let Some((path, files)) = found else {
            return Err(py.err(
                if py.get("validation").is_some() {
                    "validation"
                } else {
                    "type"
                },
                "custom validation needs an output validator, but there is no \
                 output_validator/ or output_validators/ directory",
            ));
        };
        let protocol = match py.str("validator_protocol")? {
            Some("kattis") => ValidatorProtocol::Kattis,
            Some("testlib") => ValidatorProtocol::Testlib,
            Some(other) => {
                return Err(py.err(
                    "validator_protocol",
                    format!("unknown protocol `{other}` (expected kattis or testlib)"),
                ))
            }
            None if uses_testlib(&files) => ValidatorProtocol::Testlib,
            None => ValidatorProtocol::Kattis,
        };
        if (interactive || multi_pass) && protocol == ValidatorProtocol::Testlib {
            return Err(py.err(
                "validator_protocol",
                "interactive and multi-pass problems need a Kattis-protocol validator, not a \
                 testlib checker",
            ));
        }
        Some(ValidatorSource {
            path,
            files,
            protocol,
        })
    } else {
        None
    };

    // Validator flags: problem level.
    let mut flags = Vec::new();
    for key in ["validator_flags", "output_validator_args"] {
        if let Some(w) = py.words(key)? {
            flags.extend(w);
        }
    }
    if validator.is_none() {
        TokenOptions::parse(&flags).map_err(|m| {
            py.err(
                if py.get("validator_flags").is_some() {
                    "validator_flags"
                } else {
                    "output_validator_args"
                },
                m,
            )
        })?;
    }

    // Limits.
    let mut limits = ProblemLimits::defaults(format);
    let mut code_limit_bytes = None;
    if let Some(l) = py.map("limits")? {
        for k in l.keys() {
            if !LIMIT_KEYS.contains(&k.as_str()) {
                notes.push(format!("problem.yaml: unknown key `limits.{k}` ignored"));
            }
        }
        if let Some(t) = l.positive("time_limit", "seconds")? {
            limits.time_limit = Some(secs(t));
            limits.time_limit_source = "problem.yaml limits.time_limit".into();
        }
        if let Some(m) = l.positive("memory", "MiB")? {
            limits.memory_bytes = (m * MIB as f64) as u64;
        }
        if let Some(m) = l.positive("output", "MiB")? {
            limits.output_bytes = (m * MIB as f64) as u64;
        }
        if let Some(t) = l.positive("compilation_time", "seconds")? {
            limits.compilation_time = secs(t);
        }
        if let Some(m) = l.positive("compilation_memory", "MiB")? {
            limits.compilation_memory_bytes = (m * MIB as f64) as u64;
        }
        if let Some(t) = l.positive("validation_time", "seconds")? {
            limits.validation_time = secs(t);
        }
        if let Some(m) = l.positive("validation_memory", "MiB")? {
            limits.validation_memory_bytes = (m * MIB as f64) as u64;
        }
        if let Some(m) = l.positive("validation_output", "MiB")? {
            limits.validation_output_bytes = (m * MIB as f64) as u64;
        }
        // Time-limit derivation: legacy keys, then 2023-07's (either is read in either
        // version; the defaults are the declared version's).
        if let Some(m) = l.positive("time_multiplier", "times")? {
            limits.ac_to_time_limit = m;
        }
        if let Some(m) = l.positive("time_safety_margin", "times")? {
            limits.time_limit_to_tle = m;
        }
        if let Some(tm) = l.map("time_multipliers")? {
            for k in tm.keys() {
                if k != "ac_to_time_limit" && k != "time_limit_to_tle" {
                    notes.push(format!(
                        "problem.yaml: unknown key `limits.time_multipliers.{k}` ignored"
                    ));
                }
            }
            for (key, slot) in [
                ("ac_to_time_limit", &mut limits.ac_to_time_limit),
                ("time_limit_to_tle", &mut limits.time_limit_to_tle),
            ] {
                match tm.number(key)? {
                    Some(x) if x >= 1.0 => *slot = x,
                    Some(x) => {
                        return Err(tm.err(key, format!("expected a number >= 1, found {x}")))
                    }
                    None => {}
                }
            }
        }
        if let Some(r) = l.positive("time_resolution", "seconds")? {
            limits.time_resolution = r;
            // 2025-09: a given time limit is a multiple of the resolution.
            if let (true, Some(t)) = (v2025, limits.time_limit) {
                let k = t.as_secs_f64() / r;
                if (k - k.round()).abs() > 1e-6 {
                    return Err(l.err(
                        "time_limit",
                        format!(
                            "{} s is not a multiple of time_resolution ({r} s)",
                            t.as_secs_f64()
                        ),
                    ));
                }
            }
        }
        if let Some(c) = l.positive("code", "KiB")? {
            code_limit_bytes = Some((c * 1024.0) as u64);
        }
        match l.number("validation_passes")? {
            Some(n) if n >= 2.0 && n.fract() == 0.0 && n <= 1000.0 => {
                limits.validation_passes = n as u32
            }
            Some(n) => {
                return Err(l.err(
                    "validation_passes",
                    format!("expected a whole number from 2 to 1000, found {n}"),
                ))
            }
            None => {}
        }
    }
    if limits.time_limit.is_none() {
        let tl = dir.join(".timelimit");
        if tl.is_file() {
            let text = read_capped(&tl)?;
            match text.trim().parse::<f64>() {
                Ok(t) if t.is_finite() && t > 0.0 => {
                    limits.time_limit = Some(secs(t));
                    limits.time_limit_source = ".timelimit".into();
                }
                _ => {
                    return Err(invalid(
                        &tl,
                        format!(
                            "`{}` is not a positive number of seconds",
                            text.trim().chars().take(40).collect::<String>()
                        ),
                    ))
                }
            }
        }
    }
    if limits.time_limit.is_none() {
        if let Some(t) = ini.as_ref().and_then(|i| i.timelimit) {
            limits.time_limit = Some(secs(t));
            limits.time_limit_source = "domjudge-problem.ini timelimit".into();
        }
    }

    // Test data.
    // Deprecated problem-level `grading.on_reject` (legacy): first_error = break,
    // grade = continue.
    let mut on_reject = None;
    if let Some(g) = py.map("grading")? {
        match g.str("on_reject")? {
            None => {}
            Some("first_error") => on_reject = Some(true),
            Some("grade") => on_reject = Some(false),
            Some(o) => {
                return Err(g.err(
                    "on_reject",
                    format!("`{o}` is not supported (expected first_error or grade)"),
                ))
            }
        }
    }
    let base = Settings {
        validator_flags: flags,
        accept_score: 1.0,
        reject_score: 0.0,
        aggregation: Aggregation::Sum,
        check_flags: validator.is_none(),
        on_reject,
        input_args: InputValidatorArgs::None,
        grader: GraderFlags::default_for(format),
        args: Vec::new(),
    };
    let ctx = Ctx { format, scoring };
    let mut cases = Vec::new();
    let data = dir.join("data");
    let (root_settings, root_score) =
        read_group_settings(&data, &base, format, &constants, &mut notes)?;
    let mut root = Group {
        name: String::new(),
        aggregation: root_settings.aggregation,
        max_score: None,
        range: root_score.range,
        // 2023-07 scoring problems judge the secret data even after a failed sample.
        on_reject_break: root_settings.on_reject.unwrap_or(match format {
            FormatVersion::Legacy => true,
            FormatVersion::V2023_07 | FormatVersion::V2025_09 => !scoring,
        }),
        grader: root_settings.grader,
        require_pass: Vec::new(),
        children: Vec::new(),
    };
    let root_path = vec![Ancestor {
        name: String::new(),
        breaks: root.on_reject_break,
        may_accept: root.grader.may_accept_rejection(),
    }];
    let mut invalid_inputs = Vec::new();
    let mut output_checks = Vec::new();
    for entry in sorted_entries(&data)? {
        let name = entry.file_name().map(|n| n.to_string_lossy().into_owned());
        match name.as_deref() {
            Some("sample") | Some("secret") if entry.is_dir() => {}
            Some("invalid_input") if entry.is_dir() => {
                collect_invalid_inputs(
                    &entry,
                    "invalid_input",
                    &root_settings,
                    format,
                    &mut invalid_inputs,
                    &mut notes,
                )?;
            }
            Some(n @ ("invalid_output" | "valid_output")) if entry.is_dir() => {
                collect_output_checks(
                    &entry,
                    n,
                    &root_settings,
                    format,
                    &mut output_checks,
                    &mut notes,
                )?;
            }
            Some(n) if entry.is_dir() => {
                notes.push(format!(
                    "data/{n}/ ignored (only sample and secret are judged)"
                ));
            }
            _ => {}
        }
    }
    for part in ["sample", "secret"] {
        let p = data.join(part);
        if p.is_dir() {
            let g = if v2025 {
                walk_2025(
                    &p,
                    part,
                    &root_settings,
                    ctx,
                    &constants,
                    &root_path,
                    &mut cases,
                    &mut notes,
                )?
            } else {
                walk_group(
                    &p,
                    part,
                    &root_settings,
                    part == "sample",
                    ctx,
                    &root_path,
                    &mut cases,
                    &mut notes,
                )?
            };
            root.children.push(Node::Group(g));
        }
    }
    if v2025 {
        check_require_pass(&root)?;
    }
    if cases.is_empty() {
        return Err(invalid(
            &data,
            "no test cases: expected *.in files with matching *.ans in data/sample/ or \
             data/secret/",
        ));
    }
    let (input_validators, skipped_input_validators) = find_input_validators(&dir, &mut notes)?;
    let static_validator = static_validator(&dir, &cases, &mut notes)?;
    Ok(Problem {
        dir,
        name,
        format,
        scoring,
        interactive,
        multi_pass,
        custom_score: match format {
            FormatVersion::Legacy => legacy_custom_score,
            FormatVersion::V2023_07 | FormatVersion::V2025_09 => scoring || legacy_custom_score,
        },
        custom_score_required: format == FormatVersion::Legacy && legacy_custom_score,
        validator,
        limits,
        cases,
        root,
        input_validators,
        skipped_input_validators,
        invalid_inputs,
        output_checks,
        static_validator,
        notes,
        constants,
        include_dir,
        languages,
        code_limit_bytes,
    })
}

/// `constants` of problem.yaml (2025-09): a map from names to a scalar, or to a map with
/// `value` and variants.
fn read_constants(py: &Map<'_>) -> Result<Constants, PackageError> {
    let Some(m) = py.map("constants")? else {
        return Ok(Constants::default());
    };
    let scalar = |m: &Map<'_>, key: &str| -> Result<String, PackageError> {
        match m.get(key) {
            Some(Yaml::String(s)) => Ok(s.clone()),
            Some(Yaml::Integer(i)) => Ok(i.to_string()),
            Some(Yaml::Real(r)) => Ok(r.clone()),
            Some(v) => Err(m.err(
                key,
                format!(
                    "expected an integer, a float or a string, found {}",
                    show(v)
                ),
            )),
            None => Err(m.err(key, "missing")),
        }
    };
    let mut out = Vec::new();
    for name in m.keys() {
        if !is_constant_key(&name) || name.contains('.') {
            return Err(m.err(
                &name,
                "not a constant name (expected [a-zA-Z_][a-zA-Z0-9_]*)",
            ));
        }
        let vars = match m.get(&name) {
            Some(Yaml::Hash(_)) => {
                let v = m.map(&name)?.expect("a mapping");
                if v.get("value").is_none() {
                    return Err(v.err("value", "missing (a constant's map needs a `value`)"));
                }
                let mut vars = Vec::new();
                for k in v.keys() {
                    vars.push((k.clone(), scalar(&v, &k)?));
                }
                vars
            }
            _ => vec![("value".to_owned(), scalar(&m, &name)?)],
        };
        out.push((name, vars));
    }
    Ok(Constants(out))
}

/// What walking the test data needs to know about the problem.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    format: FormatVersion,
    scoring: bool,
}

/// Finds the input validators: `input_validators/` or else the older
/// `input_format_validators/`. Each file or directory in it is one program; Checktestdata
/// (`.ctd`) and VIVA (`.viva`) files are listed as skipped.
fn find_input_validators(
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<(Vec<ProgramSource>, Vec<SkippedProgram>), PackageError> {
    let new = dir.join("input_validators");
    let old = dir.join("input_format_validators");
    let chosen = if new.is_dir() {
        if old.is_dir() {
            notes
                .push("input_format_validators/ ignored: input_validators/ is used instead".into());
        }
        new
    } else if old.is_dir() {
        old
    } else {
        return Ok((Vec::new(), Vec::new()));
    };
    let dir_name = chosen
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut programs = Vec::new();
    let mut skipped = Vec::new();
    for p in sorted_entries(&chosen)? {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        let reason = match ext {
            "ctd" => Some("a Checktestdata script: this judge does not run checktestdata"),
            "viva" => Some("a VIVA script: this judge does not run VIVA"),
            _ => None,
        };
        if let (Some(reason), true) = (reason, p.is_file()) {
            skipped.push(SkippedProgram {
                path: format!("{dir_name}/{name}"),
                reason: reason.into(),
            });
            continue;
        }
        let stem = if p.is_dir() {
            name.clone()
        } else {
            p.file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        programs.push(ProgramSource {
            name: stem,
            path: p,
        });
    }
    Ok((programs, skipped))
}

/// `data/invalid_input/` (2023-07): `*.in` files, in groups, with their validator arguments.
fn collect_invalid_inputs(
    dir: &Path,
    name: &str,
    parent: &Settings,
    format: FormatVersion,
    out: &mut Vec<InvalidInput>,
    notes: &mut Vec<String>,
) -> Result<(), PackageError> {
    let (settings, _) = read_group_settings(dir, parent, format, &Constants::default(), notes)?;
    for p in sorted_entries(dir)? {
        let file = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.is_dir() {
            collect_invalid_inputs(&p, &format!("{name}/{file}"), &settings, format, out, notes)?;
        } else if let Some(stem) = file.strip_suffix(".in") {
            out.push(InvalidInput {
                name: format!("{name}/{stem}"),
                input: p.clone(),
                input_validator_args: settings.input_args.clone(),
            });
        }
    }
    Ok(())
}

/// `static_validator/` (2025-09: a program, like the output validator) when there is one;
/// static validation test cases need it, and it is noted when none uses it.
fn static_validator(
    dir: &Path,
    cases: &[TestCase],
    notes: &mut Vec<String>,
) -> Result<Option<ValidatorSource>, PackageError> {
    let path = dir.join("static_validator");
    let used = cases.iter().find(|c| c.static_args.is_some());
    if !path.exists() {
        return match used {
            Some(c) => Err(invalid(
                &dir.join("data").join(&c.name),
                "static_validation_score is set, but there is no static_validator/",
            )),
            None => Ok(None),
        };
    }
    if used.is_none() {
        notes.push(
            "static_validator/ is not run (no test group sets static_validation_score)".into(),
        );
        return Ok(None);
    }
    let files = if path.is_dir() {
        files_in(&path)?
    } else {
        vec![path.clone()]
    };
    if files.is_empty() {
        return Err(invalid(&path, "the static validator directory is empty"));
    }
    Ok(Some(ValidatorSource {
        path,
        files,
        protocol: ValidatorProtocol::Kattis,
    }))
}

/// `data/invalid_output/` or `data/valid_output/` (`kind`): cases of three files, `.in`,
/// `.ans` and `.out`, with the groups' and their own (`<name>.yaml`) validator arguments.
fn collect_output_checks(
    dir: &Path,
    name: &str,
    parent: &Settings,
    format: FormatVersion,
    out: &mut Vec<OutputCheck>,
    notes: &mut Vec<String>,
) -> Result<(), PackageError> {
    let (settings, _) = read_group_settings(dir, parent, format, &Constants::default(), notes)?;
    let valid = name.starts_with("valid_output");
    for (p, file) in visible_entries(dir)? {
        if p.is_dir() {
            collect_output_checks(&p, &format!("{name}/{file}"), &settings, format, out, notes)?;
            continue;
        }
        let Some(stem) = file.strip_suffix(".in") else {
            continue;
        };
        let (ans, output) = (
            dir.join(format!("{stem}.ans")),
            dir.join(format!("{stem}.out")),
        );
        for need in [&ans, &output] {
            if !need.is_file() {
                return Err(invalid(
                    &p,
                    format!(
                        "a case of data/{} needs {} too",
                        name.split('/').next().unwrap_or(name),
                        need.display()
                    ),
                ));
            }
        }
        let mut s = settings.clone();
        let yaml = dir.join(format!("{stem}.yaml"));
        if yaml.is_file() {
            case_yaml(&yaml, &mut s, notes)?;
        }
        out.push(OutputCheck {
            case: TestCase {
                name: format!("{name}/{stem}"),
                input: p.clone(),
                answer: ans,
                sample: false,
                validator_flags: s.validator_flags,
                accept_score: 1.0,
                reject_score: 0.0,
                input_validator_args: s.input_args,
                ancestors: Vec::new(),
                args: s.args,
                score_max: CaseMax::NotScored,
                static_args: None,
            },
            output,
            valid,
        });
    }
    Ok(())
}

/// Settings inherited down the test data tree.
#[derive(Debug, Clone)]
struct Settings {
    validator_flags: Vec<String>,
    accept_score: f64,
    reject_score: f64,
    aggregation: Aggregation,
    /// The default validator is used: its flags are checked where they are given.
    check_flags: bool,
    /// `on_reject` given here or above: true = break.
    on_reject: Option<bool>,
    input_args: InputValidatorArgs,
    grader: GraderFlags,
    /// 2025-09 `args` for the submission.
    args: Vec<String>,
}

/// A group's own score settings (not inherited).
#[derive(Debug, Clone, Default)]
struct GroupScore {
    /// 2023-07 `scoring.score`, 2025-09 `max_score`.
    max: Option<f64>,
    /// 2025-09 `max_score: unbounded`.
    unbounded: bool,
    /// 2025-09 `score_aggregation` (or 2023-07 `scoring.aggregation`) given here.
    aggregation: Option<Aggregation>,
    /// 2025-09 `require_pass`.
    require_pass: Vec<String>,
    /// Legacy `range`.
    range: Option<(f64, f64)>,
    /// 2025-09 `static_validation_score`: `None` for `pass-fail`, else the maximum.
    static_score: Option<Option<f64>>,
    /// 2025-09 `static_validator_args`.
    static_args: Option<Vec<String>>,
    /// The file read, if any.
    file: Option<PathBuf>,
}

/// Reads `testdata.yaml` (legacy) or `test_group.yaml` (2023-07) of a directory, on top of
/// the parent's settings. Returns the settings and the group's own score bounds.
fn read_group_settings(
    dir: &Path,
    parent: &Settings,
    format: FormatVersion,
    constants: &Constants,
    notes: &mut Vec<String>,
) -> Result<(Settings, GroupScore), PackageError> {
    let mut s = parent.clone();
    let candidates = match format {
        FormatVersion::V2023_07 | FormatVersion::V2025_09 => ["test_group.yaml", "testdata.yaml"],
        FormatVersion::Legacy => ["testdata.yaml", "test_group.yaml"],
    };
    let Some(path) = candidates.iter().map(|c| dir.join(c)).find(|p| p.is_file()) else {
        return Ok((s, GroupScore::default()));
    };
    // 2025-09: constants are substituted in test_group.yaml.
    let y = load_yaml_text(&path, &constants.substitute(&read_capped(&path)?))?;
    let m = Map::top(&path, &y);
    let mut score = GroupScore {
        file: Some(path.clone()),
        ..GroupScore::default()
    };
    for k in m.keys() {
        match k.as_str() {
            "max_score" => match m.get("max_score") {
                Some(Yaml::String(u)) if u == "unbounded" => score.unbounded = true,
                _ => match m.number("max_score")? {
                    Some(x) if x >= 0.0 => score.max = Some(x),
                    Some(x) => {
                        return Err(m.err(
                            "max_score",
                            format!("expected a non-negative integer or `unbounded`, found {x}"),
                        ))
                    }
                    None => {}
                },
            },
            "score_aggregation" => {
                let a = match m.str("score_aggregation")? {
                    Some("pass-fail") => Aggregation::PassFail,
                    Some("sum") => Aggregation::Sum,
                    Some("min") => Aggregation::Min,
                    None => continue,
                    Some(o) => {
                        return Err(m.err(
                            "score_aggregation",
                            format!("`{o}` is not pass-fail, sum or min"),
                        ))
                    }
                };
                score.aggregation = Some(a);
                s.aggregation = a;
            }
            "require_pass" => score.require_pass = m.words("require_pass")?.unwrap_or_default(),
            "args" => s.args = m.words("args")?.unwrap_or_default(),
            "static_validation_score" => {
                score.static_score = Some(match m.get("static_validation_score") {
                    Some(Yaml::String(t)) if t == "pass-fail" => None,
                    Some(Yaml::Integer(n)) if *n >= 0 => Some(*n as f64),
                    Some(Yaml::Real(r)) if r.parse::<f64>().is_ok_and(|x| x >= 0.0) => {
                        r.parse::<f64>().ok()
                    }
                    _ => return Err(m.err(&k, "expected a non-negative number or `pass-fail`")),
                })
            }
            "static_validator_args" => {
                score.static_args = Some(m.words("static_validator_args")?.unwrap_or_default())
            }
            "input_visualizer_args" | "output_visualizer_args" | "description" => {}
            "on_reject" => match m.str("on_reject")? {
                Some("break") => s.on_reject = Some(true),
                Some("continue") => s.on_reject = Some(false),
                None => {}
                Some(o) => {
                    return Err(m.err("on_reject", format!("`{o}` is not break or continue")))
                }
            },
            "input_validator_flags" | "input_validator_args" => {
                s.input_args = input_args(&m, &k)?;
            }
            "grading" => match m.str("grading")? {
                Some("default") | None => {}
                Some(o) => {
                    return Err(m.err(
                        "grading",
                        format!("`{o}` graders are not supported (only default)"),
                    ))
                }
            },
            "grader_flags" => {
                // As in Kattis, a group's grader_flags replace its parent's as a whole: what
                // they do not name is the default (sum, worst error).
                s.aggregation = Aggregation::Sum;
                s.grader = GraderFlags::default_for(FormatVersion::Legacy);
                for f in m.words("grader_flags")?.unwrap_or_default() {
                    match f.as_str() {
                        "sum" => s.aggregation = Aggregation::Sum,
                        "min" => s.aggregation = Aggregation::Min,
                        "max" => s.aggregation = Aggregation::Max,
                        "avg" => s.aggregation = Aggregation::Avg,
                        "first_error" => s.grader.rule = VerdictRule::First,
                        "worst_error" | "no_errors" => s.grader.rule = VerdictRule::Worst,
                        "always_accept" => s.grader.rule = VerdictRule::AlwaysAccept,
                        "accept_if_any_accepted" => s.grader.accept_if_any = true,
                        "ignore_sample" => s.grader.ignore_sample = true,
                        other => {
                            return Err(m.err(
                                "grader_flags",
                                format!(
                                    "flag `{other}` is not supported (supported: sum, min, max, \
                                     avg, first_error, worst_error, no_errors, always_accept, \
                                     accept_if_any_accepted, ignore_sample)"
                                ),
                            ))
                        }
                    }
                }
            }
            "accept_score" => s.accept_score = m.number("accept_score")?.unwrap_or(1.0),
            "reject_score" => s.reject_score = m.number("reject_score")?.unwrap_or(0.0),
            "output_validator_flags" | "output_validator_args" => {
                let w = m.words(&k)?.unwrap_or_default();
                if s.check_flags {
                    TokenOptions::parse(&w).map_err(|e| m.err(&k, e))?;
                }
                s.validator_flags = w;
            }
            "scoring" => {
                if let Some(sc) = m.map("scoring")? {
                    for sk in sc.keys() {
                        match sk.as_str() {
                            "score" => match sc.get("score") {
                                Some(Yaml::String(u)) if u == "unbounded" => {}
                                _ => score.max = sc.number("score")?,
                            },
                            "aggregation" => {
                                s.aggregation = match sc.str("aggregation")? {
                                    Some("sum") | None => Aggregation::Sum,
                                    Some("min") => Aggregation::Min,
                                    Some("pass-fail") if format == FormatVersion::V2025_09 => {
                                        Aggregation::PassFail
                                    }
                                    Some(o) => {
                                        return Err(sc.err(
                                            "aggregation",
                                            format!("`{o}` is not sum or min"),
                                        ))
                                    }
                                };
                                score.aggregation = Some(s.aggregation);
                            }
                            other => notes.push(format!(
                                "{}: unknown key `scoring.{other}` ignored",
                                path.display()
                            )),
                        }
                    }
                }
            }
            "range" => {
                let text = match m.get("range") {
                    Some(Yaml::String(t)) => t.clone(),
                    Some(v) => show(v),
                    None => String::new(),
                };
                let bounds: Vec<Option<f64>> = text
                    .split_whitespace()
                    .map(|w| w.parse::<f64>().ok().filter(|x| !x.is_nan()))
                    .collect();
                match bounds.as_slice() {
                    [Some(lo), Some(hi)] if lo <= hi => score.range = Some((*lo, *hi)),
                    _ => {
                        return Err(m.err(
                            "range",
                            format!("`{text}` is not two numbers MIN MAX with MIN <= MAX"),
                        ))
                    }
                }
            }
            "full_feedback" | "static_validation" => {}
            other => notes.push(format!("{}: unknown key `{other}` ignored", path.display())),
        }
    }
    Ok((s, score))
}

/// `input_validator_flags` (legacy: a string, or a map with `name` and `flags`) or
/// `input_validator_args` (2023-07: a list or string, or a map from validator name to its
/// arguments).
fn input_args(m: &Map<'_>, key: &str) -> Result<InputValidatorArgs, PackageError> {
    match m.get(key) {
        None => Ok(InputValidatorArgs::None),
        Some(Yaml::String(_)) | Some(Yaml::Array(_)) => {
            Ok(InputValidatorArgs::All(m.words(key)?.unwrap_or_default()))
        }
        Some(Yaml::Hash(_)) => {
            let sub = m.map(key)?.expect("a mapping");
            let keys = sub.keys();
            // Legacy: {name: validator, flags: "..."}.
            if keys.iter().any(|k| k == "name") && keys.iter().all(|k| k == "name" || k == "flags")
            {
                let name = sub.str("name")?.unwrap_or_default().to_owned();
                let flags = sub.words("flags")?.unwrap_or_default();
                return Ok(InputValidatorArgs::Named(vec![(name, flags)]));
            }
            let mut named = Vec::new();
            for k in keys {
                named.push((k.clone(), sub.words(&k)?.unwrap_or_default()));
            }
            Ok(InputValidatorArgs::Named(named))
        }
        Some(v) => Err(m.err(
            key,
            format!(
                "expected a string, a list of strings or a mapping, found {}",
                show(v)
            ),
        )),
    }
}

/// Most entries of a package [`links_stay_inside`] looks at.
const MAX_PACKAGE_ENTRIES: usize = 1_000_000;

/// Refuses a package with a symbolic link that resolves outside it (or nowhere): everything
/// the judge reads from a package it reads with its own rights, and shows to cases and in
/// messages, so a link to `/etc/shadow` or to another package's answers must not work. Links
/// that stay inside the package are allowed, as the format allows them. The walk never
/// follows a link.
fn links_stay_inside(dir: &Path) -> Result<(), PackageError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PackageError::Io { path, source }
    };
    let root = dir.canonicalize().map_err(io(dir))?;
    let mut todo = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).map_err(io(&d))? {
            let e = e.map_err(io(&d))?;
            seen += 1;
            if seen > MAX_PACKAGE_ENTRIES {
                return Err(invalid(
                    dir,
                    format!("more than {MAX_PACKAGE_ENTRIES} files and directories"),
                ));
            }
            let p = e.path();
            let ft = e.file_type().map_err(io(&p))?;
            if ft.is_dir() {
                todo.push(p);
            } else if ft.is_symlink() {
                match p.canonicalize() {
                    // A link to a directory that holds the link: walking the test data
                    // through it would never end.
                    Ok(t) if t.is_dir() && d.canonicalize().is_ok_and(|c| c.starts_with(&t)) => {
                        return Err(invalid(
                            &p,
                            format!(
                                "a symbolic link to {}, a directory that contains the link (a \
                                 cycle)",
                                t.display()
                            ),
                        ))
                    }
                    Ok(t) if t.starts_with(&root) => {}
                    Ok(_) => {
                        return Err(invalid(
                            &p,
                            "a symbolic link that leads outside the package (refused: the \
                             judge reads package files with its own rights)",
                        ))
                    }
                    Err(e) => {
                        return Err(invalid(
                            &p,
                            format!("a symbolic link that does not resolve ({e})"),
                        ))
                    }
                }
            }
        }
    }
    Ok(())
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, PackageError> {
    let rd = fs::read_dir(dir).map_err(|source| PackageError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    v.sort_by(|a, b| {
        a.file_name()
            .unwrap_or_default()
            .cmp(b.file_name().unwrap_or_default())
    });
    Ok(v)
}

#[allow(clippy::too_many_arguments)]
fn walk_group(
    dir: &Path,
    name: &str,
    parent: &Settings,
    sample: bool,
    ctx: Ctx,
    ancestors: &[Ancestor],
    cases: &mut Vec<TestCase>,
    notes: &mut Vec<String>,
) -> Result<Group, PackageError> {
    let (settings, score) =
        read_group_settings(dir, parent, ctx.format, &Constants::default(), notes)?;
    // Without `on_reject`: legacy breaks (its default); 2023-07 breaks in pass-fail
    // problems, and in scoring problems only where a rejection already decides the group's
    // score (aggregation min), so that no score depends on what was skipped.
    let on_reject_break = settings.on_reject.unwrap_or(match ctx.format {
        FormatVersion::Legacy => true,
        FormatVersion::V2023_07 | FormatVersion::V2025_09 => {
            !ctx.scoring || settings.aggregation == Aggregation::Min
        }
    });
    let mut path = ancestors.to_vec();
    path.push(Ancestor {
        name: name.to_owned(),
        breaks: on_reject_break,
        may_accept: settings.grader.may_accept_rejection(),
    });
    let mut group = Group {
        name: name.to_owned(),
        aggregation: settings.aggregation,
        max_score: score.max,
        range: score.range,
        on_reject_break,
        grader: settings.grader,
        require_pass: Vec::new(),
        children: Vec::new(),
    };
    // Cases (by their stem) and subgroups (by their name), in one lexicographic order.
    let mut items: Vec<(String, PathBuf, bool)> = Vec::new();
    for p in sorted_entries(dir)? {
        let file = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.is_dir() {
            items.push((file, p, true));
        } else if let Some(stem) = file.strip_suffix(".in") {
            if !p.is_file() {
                continue;
            }
            let ans = dir.join(format!("{stem}.ans"));
            if !ans.is_file() {
                return Err(invalid(
                    &p,
                    format!("test case has no answer file {}", ans.display()),
                ));
            }
            items.push((stem.to_owned(), p, false));
        }
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    for (stem, p, is_dir) in items {
        let child_name = format!("{name}/{stem}");
        if is_dir {
            let g = walk_group(&p, &child_name, &settings, sample, ctx, &path, cases, notes)?;
            group.children.push(Node::Group(g));
        } else {
            cases.push(TestCase {
                name: child_name,
                answer: p.with_extension("ans"),
                input: p,
                sample,
                validator_flags: settings.validator_flags.clone(),
                accept_score: settings.accept_score,
                reject_score: settings.reject_score,
                input_validator_args: settings.input_args.clone(),
                ancestors: path.clone(),
                args: Vec::new(),
                score_max: CaseMax::NotScored,
                static_args: None,
            });
            group.children.push(Node::Case(cases.len() - 1));
        }
    }
    Ok(group)
}

/// Walks `data/sample` or `data/secret` of a 2025-09 package: test data groups are the
/// subdirectories of `secret` with a `test_group.yaml` (then every subdirectory must be one
/// and no case may sit directly in `secret`); other directories only hold cases of the
/// group they are in. Scores: `secret` has `max_score` 100 and `score_aggregation: sum`
/// unless it says otherwise, a group `pass-fail` aggregation and the `max_score` it names.
#[allow(clippy::too_many_arguments)]
fn walk_2025(
    dir: &Path,
    part: &str,
    parent: &Settings,
    ctx: Ctx,
    constants: &Constants,
    ancestors: &[Ancestor],
    cases: &mut Vec<TestCase>,
    notes: &mut Vec<String>,
) -> Result<Group, PackageError> {
    let format = FormatVersion::V2025_09;
    let (settings, score) = read_group_settings(dir, parent, format, constants, notes)?;
    let sample = part == "sample";
    check_score_keys(&score, ctx.scoring, sample)?;
    let subdirs: Vec<PathBuf> = sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir() && !is_hidden(p))
        .collect();
    let grouped = !sample && subdirs.iter().any(|d| d.join("test_group.yaml").is_file());
    let (agg, max) = if sample {
        (Aggregation::PassFail, None)
    } else {
        let max = (!score.unbounded).then(|| score.max.unwrap_or(100.0));
        (score.aggregation.unwrap_or(Aggregation::Sum), max)
    };
    let level = |name: &str, agg: Aggregation, grader: GraderFlags| {
        let breaks = !ctx.scoring || matches!(agg, Aggregation::Min | Aggregation::PassFail);
        (
            Group {
                name: name.to_owned(),
                aggregation: agg,
                max_score: None,
                range: None,
                on_reject_break: breaks,
                grader,
                require_pass: Vec::new(),
                children: Vec::new(),
            },
            Ancestor {
                name: name.to_owned(),
                breaks,
                may_accept: false,
            },
        )
    };
    let (mut top, anc) = level(part, agg, settings.grader);
    top.max_score = max;
    top.require_pass = score.require_pass.clone();
    let mut path = ancestors.to_vec();
    path.push(anc);
    if !grouped {
        let found = cases_2025(dir, part, &settings, notes)?;
        push_cases_2025(found, &mut top, &path, (sample, ctx.scoring), &score, cases)?;
        return Ok(top);
    }
    if score.static_score.is_some() {
        return Err(field_err(
            &score.file.clone().unwrap_or_default(),
            "static_validation_score",
            "not supported in a secret with test data groups (give it to a group)",
        ));
    }
    if let Some(p) = sorted_entries(dir)?
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "in"))
    {
        return Err(invalid(
            &p,
            "data/secret has test data groups, so no test case may be directly in it",
        ));
    }
    for d in subdirs {
        let gname = format!(
            "{part}/{}",
            d.file_name().unwrap_or_default().to_string_lossy()
        );
        if !d.join("test_group.yaml").is_file() {
            return Err(invalid(
                &d,
                "data/secret has test data groups (directories with a test_group.yaml), so \
                 every directory in it must be one: add a test_group.yaml",
            ));
        }
        let (gs, gscore) = read_group_settings(&d, &settings, format, constants, notes)?;
        check_score_keys(&gscore, ctx.scoring, false)?;
        let gfile = gscore
            .file
            .clone()
            .unwrap_or_else(|| d.join("test_group.yaml"));
        let gagg = gscore.aggregation.unwrap_or(Aggregation::PassFail);
        let gmax = if gscore.unbounded {
            if max.is_some() || gagg == Aggregation::PassFail {
                return Err(field_err(
                    &gfile,
                    "max_score",
                    "`unbounded` needs an unbounded secret and sum or min aggregation",
                ));
            }
            None
        } else {
            match (gscore.max, max, ctx.scoring) {
                (Some(m), _, _) => Some(m),
                (None, Some(_), true) => {
                    return Err(field_err(
                        &gfile,
                        "max_score",
                        "missing: every test data group of a secret with a bounded \
                         max_score needs one",
                    ))
                }
                _ => None,
            }
        };
        if agg == Aggregation::PassFail && gagg != Aggregation::PassFail {
            return Err(field_err(
                &gfile,
                "score_aggregation",
                "secret aggregates pass-fail, so its groups must too",
            ));
        }
        let (mut g, ganc) = level(&gname, gagg, gs.grader);
        g.max_score = gmax;
        g.require_pass = gscore.require_pass.clone();
        let mut gpath = path.clone();
        gpath.push(ganc);
        let found = cases_2025(&d, &gname, &gs, notes)?;
        if found.is_empty() {
            return Err(invalid(&d, "a test data group without test cases"));
        }
        push_cases_2025(found, &mut g, &gpath, (false, ctx.scoring), &gscore, cases)?;
        top.children.push(Node::Group(g));
    }
    Ok(top)
}

/// The score keys of `test_group.yaml` are for the groups of scoring problems only.
fn check_score_keys(score: &GroupScore, scoring: bool, sample: bool) -> Result<(), PackageError> {
    let Some(file) = &score.file else {
        return Ok(());
    };
    let given = [
        ("max_score", score.max.is_some() || score.unbounded),
        ("score_aggregation", score.aggregation.is_some()),
        ("require_pass", !score.require_pass.is_empty()),
    ];
    for (key, set) in given {
        if set && sample {
            return Err(field_err(file, key, "not permitted in data/sample"));
        }
        if set && !scoring {
            return Err(field_err(
                file,
                key,
                "only scoring problems (`type: scoring`) may set it",
            ));
        }
    }
    Ok(())
}

/// The entries of `dir` not hidden (no leading `.`), sorted, with their file names.
fn visible_entries(dir: &Path) -> Result<Vec<(PathBuf, String)>, PackageError> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .map(|p| {
            let f = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (p, f)
        })
        .filter(|(_, f)| !f.starts_with('.'))
        .collect())
}

/// A test case found by [`cases_2025`]: name, input, its settings.
type Found2025 = (String, PathBuf, Settings);

/// The cases of a 2025-09 group: `*.in` in `dir` and in its plain subdirectories, sorted by
/// name, each with its own `<name>.yaml` applied.
fn cases_2025(
    dir: &Path,
    name: &str,
    settings: &Settings,
    notes: &mut Vec<String>,
) -> Result<Vec<Found2025>, PackageError> {
    let mut out = Vec::new();
    for (p, file) in visible_entries(dir)? {
        if p.is_dir() {
            if file.ends_with(".files") {
                return Err(invalid(
                    &p,
                    "test case input files (`.files`) are not supported: this judge gives \
                     submissions stdin and `args` only",
                ));
            }
            if p.join("test_group.yaml").is_file() {
                return Err(invalid(
                    &p,
                    "a test_group.yaml below a test data group (groups do not nest in 2025-09)",
                ));
            }
            out.extend(cases_2025(&p, &format!("{name}/{file}"), settings, notes)?);
        } else if let Some(stem) = file.strip_suffix(".in") {
            let ans = dir.join(format!("{stem}.ans"));
            if !ans.is_file() {
                return Err(invalid(
                    &p,
                    format!("test case has no answer file {}", ans.display()),
                ));
            }
            let mut s = settings.clone();
            let yaml = dir.join(format!("{stem}.yaml"));
            if yaml.is_file() {
                case_yaml(&yaml, &mut s, notes)?;
            }
            out.push((format!("{name}/{stem}"), p, s));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A test case's `<name>.yaml` (2025-09): `args`, `output_validator_args`,
/// `input_validator_args`; `full_feedback`, `hint`, `description` and the visualizers'
/// arguments do not change judging.
fn case_yaml(path: &Path, s: &mut Settings, notes: &mut Vec<String>) -> Result<(), PackageError> {
    let y = load_yaml(path)?;
    let m = Map::top(path, &y);
    for k in m.keys() {
        match k.as_str() {
            "args" => s.args = m.words("args")?.unwrap_or_default(),
            "output_validator_args" => {
                let w = m.words(&k)?.unwrap_or_default();
                if s.check_flags {
                    TokenOptions::parse(&w).map_err(|e| m.err(&k, e))?;
                }
                s.validator_flags = w;
            }
            "input_validator_args" => s.input_args = input_args(&m, &k)?,
            "full_feedback"
            | "hint"
            | "description"
            | "input_visualizer_args"
            | "output_visualizer_args" => {}
            other => notes.push(format!("{}: unknown key `{other}` ignored", path.display())),
        }
    }
    Ok(())
}

/// Adds the cases of a 2025-09 group to it and to `cases`, with what each may score.
fn push_cases_2025(
    found: Vec<Found2025>,
    g: &mut Group,
    path: &[Ancestor],
    (sample, scoring): (bool, bool),
    score: &GroupScore,
    cases: &mut Vec<TestCase>,
) -> Result<(), PackageError> {
    let file = score.file.clone().unwrap_or_default();
    if score.static_args.is_some() && score.static_score.is_none() {
        return Err(field_err(
            &file,
            "static_validator_args",
            "given without static_validation_score",
        ));
    }
    let pass_fail = sample || !scoring || g.aggregation == Aggregation::PassFail;
    let static_max = match score.static_score {
        None => None,
        Some(Some(_)) if pass_fail => {
            return Err(field_err(
                &file,
                "static_validation_score",
                "a number needs a scoring problem and a group with sum or min aggregation \
                 (else `pass-fail`)",
            ))
        }
        Some(None) if !pass_fail => {
            return Err(field_err(
                &file,
                "static_validation_score",
                "`pass-fail` needs pass-fail aggregation or a pass-fail problem",
            ))
        }
        Some(m) => Some(m),
    };
    let n = found.len().max(1) as f64;
    // The static validation test case's maximum comes off the cases' share (sum groups).
    let static_part = static_max.flatten().unwrap_or(0.0);
    let score_max = if sample || !scoring {
        CaseMax::NotScored
    } else {
        match (g.aggregation, g.max_score) {
            (Aggregation::PassFail, _) => CaseMax::PassFail,
            (_, None) => CaseMax::Unbounded,
            (Aggregation::Min | Aggregation::Max, Some(m)) => CaseMax::Bounded(m),
            (Aggregation::Sum | Aggregation::Avg, Some(m)) => {
                CaseMax::Bounded((m - static_part).max(0.0) / n)
            }
        }
    };
    if let Some(m) = static_max {
        // First in its group: the submission's source is judged before it runs.
        cases.push(TestCase {
            name: format!("{}/static_validation", g.name),
            input: PathBuf::new(),
            answer: PathBuf::new(),
            sample,
            validator_flags: Vec::new(),
            accept_score: 1.0,
            reject_score: 0.0,
            input_validator_args: InputValidatorArgs::default(),
            ancestors: path.to_vec(),
            args: Vec::new(),
            score_max: match m {
                _ if sample || !scoring => CaseMax::NotScored,
                None => CaseMax::PassFail,
                Some(x) => CaseMax::Bounded(x),
            },
            static_args: Some(score.static_args.clone().unwrap_or_default()),
        });
        g.children.push(Node::Case(cases.len() - 1));
    }
    for (name, input, s) in found {
        cases.push(TestCase {
            name,
            answer: input.with_extension("ans"),
            input,
            sample,
            validator_flags: s.validator_flags,
            accept_score: 1.0,
            reject_score: 0.0,
            input_validator_args: s.input_args,
            ancestors: path.to_vec(),
            args: s.args,
            score_max,
            static_args: None,
        });
        g.children.push(Node::Case(cases.len() - 1));
    }
    Ok(())
}

/// `require_pass` names `sample` or test data groups with pass-fail aggregation that come
/// earlier; `secret` may only depend on `sample`.
fn check_require_pass(root: &Group) -> Result<(), PackageError> {
    let mut groups: Vec<&Group> = Vec::new();
    fn all<'g>(g: &'g Group, out: &mut Vec<&'g Group>) {
        out.push(g);
        for c in &g.children {
            if let Node::Group(s) = c {
                all(s, out);
            }
        }
    }
    all(root, &mut groups);
    for g in &groups {
        for r in &g.require_pass {
            let target = groups.iter().find(|x| &x.name == r);
            let problem = match target {
                None => Some("no such test data group".to_owned()),
                Some(_) if g.name == "secret" && r != "sample" => {
                    Some("secret may only depend on sample".into())
                }
                Some(t) if t.name != "sample" && t.aggregation != Aggregation::PassFail => {
                    Some(format!("{r} must have pass-fail aggregation"))
                }
                Some(_) if r.as_str() >= g.name.as_str() && r != "sample" => {
                    Some(format!("{r} does not come before {}", g.name))
                }
                Some(_) => None,
            };
            if let Some(m) = problem {
                return Err(PackageError::Field {
                    file: PathBuf::from(format!("data/{}/test_group.yaml", g.name)),
                    field: "require_pass".into(),
                    message: format!("`{r}`: {m}"),
                });
            }
        }
    }
    Ok(())
}

/// Finds `output_validator/` (2023-07) or `output_validators/<name>/` / a single-file
/// validator in `output_validators/` (legacy). Returns its path and files.
fn find_validator(dir: &Path) -> Result<Option<(PathBuf, Vec<PathBuf>)>, PackageError> {
    let single = dir.join("output_validator");
    if single.is_dir() {
        let files = files_in(&single)?;
        if !files.is_empty() {
            return Ok(Some((single, files)));
        }
        // `output_validator/<name>/`, as problemtools' own examples ship it: the one
        // subdirectory is the validator.
        let subdirs: Vec<PathBuf> = sorted_entries(&single)?
            .into_iter()
            .filter(|p| p.is_dir() && !is_hidden(p))
            .collect();
        return match subdirs.as_slice() {
            [] => Err(invalid(&single, "the output validator directory is empty")),
            [one] => {
                let files = files_in(one)?;
                if files.is_empty() {
                    return Err(invalid(one, "the output validator directory is empty"));
                }
                Ok(Some((one.clone(), files)))
            }
            many => Err(invalid(
                &single,
                format!(
                    "no files and more than one subdirectory ({}): the output validator is \
                     either the files of output_validator/ or its one subdirectory",
                    names(many)
                ),
            )),
        };
    }
    let multi = dir.join("output_validators");
    if !multi.is_dir() {
        return Ok(None);
    }
    let entries = sorted_entries(&multi)?;
    let entries: Vec<PathBuf> = entries.into_iter().filter(|p| !is_hidden(p)).collect();
    match entries.as_slice() {
        [] => Err(invalid(&multi, "no output validator in this directory")),
        [one] if one.is_dir() => {
            let files = files_in(one)?;
            if files.is_empty() {
                return Err(invalid(one, "the output validator directory is empty"));
            }
            Ok(Some((one.clone(), files)))
        }
        [one] => Ok(Some((one.clone(), vec![one.clone()]))),
        many => Err(invalid(
            &multi,
            format!(
                "more than one output validator ({}); keep exactly one",
                names(many)
            ),
        )),
    }
}

fn is_hidden(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The file names of `paths`, comma-separated.
fn names(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

fn files_in(dir: &Path) -> Result<Vec<PathBuf>, PackageError> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_file())
        .collect())
}

fn uses_testlib(files: &[PathBuf]) -> bool {
    files.iter().any(|f| {
        let is_src = f
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "cpp" | "cc" | "cxx" | "c" | "C"));
        is_src
            && read_capped(f).is_ok_and(|t| {
                t.lines().any(|l| {
                    let l = l.trim_start();
                    l.starts_with("#include") && l.contains("testlib.h")
                })
            })
    })
}

/// The fields of `domjudge-problem.ini` this judge reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomjudgeIni {
    pub name: Option<String>,
    pub timelimit: Option<f64>,
    pub special_compare: Option<String>,
    pub special_run: Option<String>,
}

/// Parses `key = value` lines; values may be quoted; `;` and `#` start comments.
pub fn parse_domjudge_ini(path: &Path, text: &str) -> Result<DomjudgeIni, PackageError> {
    let mut out = DomjudgeIni::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(invalid(
                path,
                format!("line {}: expected `key = value`, found `{line}`", i + 1),
            ));
        };
        let k = k.trim();
        let mut v = v.trim();
        if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v = &v[1..v.len() - 1];
        }
        let field = format!("line {}: {k}", i + 1);
        match k {
            "timelimit" => match v.parse::<f64>() {
                Ok(t) if t.is_finite() && t > 0.0 => out.timelimit = Some(t),
                _ => {
                    return Err(field_err(
                        path,
                        &field,
                        format!("`{v}` is not a positive number of seconds"),
                    ))
                }
            },
            "name" => out.name = Some(v.to_owned()),
            "special_compare" if !v.is_empty() => out.special_compare = Some(v.to_owned()),
            "special_run" if !v.is_empty() => out.special_run = Some(v.to_owned()),
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pkg(tempfile::TempDir);

    impl Pkg {
        fn new() -> Pkg {
            let p = Pkg(tempfile::tempdir().unwrap());
            p.file("data/sample/1.in", "1 2\n");
            p.file("data/sample/1.ans", "3\n");
            p
        }
        fn file(&self, rel: &str, text: &str) -> &Self {
            let p = self.0.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
            self
        }
        fn load(&self) -> Result<Problem, PackageError> {
            load(self.0.path())
        }
        fn err(&self) -> String {
            self.load().unwrap_err().to_string()
        }
    }

    #[test]
    fn legacy_package_with_domjudge_time_limit_and_flags() {
        let p = Pkg::new();
        p.file(
            "problem.yaml",
            "name: Sum\nvalidator_flags: float_tolerance 1e-6\nlimits:\n  memory: 64\n",
        )
        .file("domjudge-problem.ini", "probid = A\ntimelimit = '2.5'\n")
        .file("data/secret/b.in", "")
        .file("data/secret/b.ans", "")
        .file("data/secret/a.in", "")
        .file("data/secret/a.ans", "");
        let pr = p.load().unwrap();
        assert_eq!(pr.format, FormatVersion::Legacy);
        assert_eq!(pr.name, "Sum");
        assert!(!pr.scoring && !pr.interactive && pr.validator.is_none());
        assert_eq!(pr.limits.time_limit, Some(Duration::from_millis(2500)));
        assert_eq!(
            pr.limits.time_limit_source,
            "domjudge-problem.ini timelimit"
        );
        assert_eq!(pr.limits.memory_bytes, 64 << 20);
        assert_eq!(pr.limits.output_bytes, 8 << 20);
        let names: Vec<_> = pr.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["sample/1", "secret/a", "secret/b"]);
        assert!(pr.cases[0].sample && !pr.cases[1].sample);
        assert_eq!(pr.cases[1].validator_flags, ["float_tolerance", "1e-6"]);
    }

    #[test]
    fn timelimit_file_beats_the_ini_and_problem_yaml_beats_both() {
        let p = Pkg::new();
        p.file("problem.yaml", "")
            .file(".timelimit", "3\n")
            .file("domjudge-problem.ini", "timelimit=5");
        let pr = p.load().unwrap();
        assert_eq!(pr.limits.time_limit, Some(Duration::from_secs(3)));
        assert_eq!(pr.limits.time_limit_source, ".timelimit");
        p.file(
            "problem.yaml",
            "problem_format_version: 2023-07-draft\nlimits:\n  time_limit: 0.5\n",
        );
        let pr = p.load().unwrap();
        assert_eq!(pr.format, FormatVersion::V2023_07);
        assert_eq!(pr.limits.time_limit, Some(Duration::from_millis(500)));
    }

    #[test]
    fn no_time_limit_anywhere_is_none() {
        let p = Pkg::new();
        p.file("problem.yaml", "name: x\n");
        assert_eq!(p.load().unwrap().limits.time_limit, None);
    }

    #[test]
    fn nested_groups_scoring_and_inheritance_2023() {
        let p = Pkg::new();
        p.file(
            "problem.yaml",
            "problem_format_version: 2023-07\ntype: scoring\nlimits: {time_limit: 1}\n",
        )
        .file(
            "data/secret/test_group.yaml",
            "output_validator_args: [case_sensitive]\n",
        )
        .file(
            "data/secret/g2/test_group.yaml",
            "scoring:\n  score: 60\n  aggregation: min\n",
        )
        .file(
            "data/secret/g1/test_group.yaml",
            "scoring: {score: 40}\noutput_validator_args: float_tolerance 0.1\n",
        );
        for g in ["g1", "g2"] {
            for c in ["2", "1"] {
                p.file(&format!("data/secret/{g}/{c}.in"), "")
                    .file(&format!("data/secret/{g}/{c}.ans"), "");
            }
        }
        let pr = p.load().unwrap();
        assert!(pr.scoring);
        let names: Vec<_> = pr.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sample/1",
                "secret/g1/1",
                "secret/g1/2",
                "secret/g2/1",
                "secret/g2/2"
            ]
        );
        assert_eq!(pr.cases[1].validator_flags, ["float_tolerance", "0.1"]);
        assert_eq!(pr.cases[3].validator_flags, ["case_sensitive"]);
        let secret = pr.secret().unwrap();
        let groups: Vec<_> = secret
            .children
            .iter()
            .map(|n| match n {
                Node::Group(g) => (g.name.clone(), g.max_score, g.aggregation),
                Node::Case(_) => panic!("no cases directly in secret"),
            })
            .collect();
        assert_eq!(
            groups,
            [
                ("secret/g1".to_string(), Some(40.0), Aggregation::Sum),
                ("secret/g2".to_string(), Some(60.0), Aggregation::Min)
            ]
        );
    }

    #[test]
    fn legacy_testdata_yaml_scores() {
        let p = Pkg::new();
        p.file("problem.yaml", "type: scoring\n")
            .file(
                "data/secret/testdata.yaml",
                "grader_flags: min\naccept_score: 25\non_reject: continue\n",
            )
            .file("data/secret/1.in", "")
            .file("data/secret/1.ans", "");
        let pr = p.load().unwrap();
        assert_eq!(pr.cases[1].accept_score, 25.0);
        assert_eq!(pr.secret().unwrap().aggregation, Aggregation::Min);
    }

    #[test]
    fn custom_validators_legacy_and_2023() {
        let p = Pkg::new();
        p.file("problem.yaml", "validation: custom\n")
            .file("output_validators/check/validate.cpp", "int main(){}")
            .file("output_validators/check/helper.h", "");
        let pr = p.load().unwrap();
        let v = pr.validator.unwrap();
        assert_eq!(v.protocol, ValidatorProtocol::Kattis);
        assert_eq!(v.files.len(), 2);
        assert!(v.path.ends_with("output_validators/check"));

        let p = Pkg::new();
        p.file("problem.yaml", "problem_format_version: 2023-07-draft\n")
            .file(
                "output_validator/checker.cpp",
                "#include \"testlib.h\"\nint main(){}",
            );
        let pr = p.load().unwrap();
        assert_eq!(pr.validator.unwrap().protocol, ValidatorProtocol::Testlib);

        let p = Pkg::new();
        p.file(
            "problem.yaml",
            "problem_format_version: 2023-07\ntype: [pass-fail, interactive]\n",
        )
        .file("output_validator/v.py", "");
        let pr = p.load().unwrap();
        assert!(pr.interactive);
        assert!(pr.validator.is_some());

        let p = Pkg::new();
        p.file("problem.yaml", "validation: custom interactive score\n")
            .file("output_validators/v.cpp", "");
        let pr = p.load().unwrap();
        assert!(pr.interactive && pr.scoring);
        assert!(pr
            .validator
            .unwrap()
            .path
            .ends_with("output_validators/v.cpp"));
    }

    #[test]
    fn links_inside_the_package_work_and_links_outside_are_refused() {
        let p = Pkg::new();
        p.file("problem.yaml", "name: links\n")
            .file("data/sample/1.in", "1\n")
            .file("data/sample/1.ans", "1\n");
        let secret = p.0.path().join("data/secret");
        fs::create_dir_all(&secret).unwrap();
        // Inside (relative and absolute): allowed, as the format allows.
        std::os::unix::fs::symlink("../sample/1.in", secret.join("1.in")).unwrap();
        std::os::unix::fs::symlink(p.0.path().join("data/sample/1.ans"), secret.join("1.ans"))
            .unwrap();
        let loaded = p.load().unwrap();
        assert_eq!(loaded.cases.len(), 2);
        // Outside: refused, whatever file it is.
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::os::unix::fs::symlink(outside.path(), secret.join("2.ans")).unwrap();
        p.file("data/secret/2.in", "2\n");
        let e = p.err();
        assert!(
            e.contains("2.ans: a symbolic link that leads outside the package"),
            "{e}"
        );
        fs::remove_file(secret.join("2.ans")).unwrap();
        // A dangling link or a link to a directory outside: refused too.
        std::os::unix::fs::symlink("/nonexistent/hatchery", secret.join("2.ans")).unwrap();
        assert!(p.err().contains("does not resolve"), "{}", p.err());
        fs::remove_file(secret.join("2.ans")).unwrap();
        std::os::unix::fs::symlink("/etc", p.0.path().join("submissions")).unwrap();
        assert!(p
            .err()
            .contains("submissions: a symbolic link that leads outside"));
    }

    #[test]
    fn malformed_packages_name_file_and_field() {
        let p = Pkg::new();
        p.file("problem.yaml", "limits:\n  memory: lots\n");
        let e = p.err();
        assert!(
            e.contains("problem.yaml: limits.memory: expected a number, found `lots`"),
            "{e}"
        );

        p.file("problem.yaml", "problem_format_version: 2019\n");
        assert!(p
            .err()
            .contains("problem_format_version: unsupported version"));

        p.file("problem.yaml", "validation: fancy\n");
        assert!(p
            .err()
            .contains("validation: `fancy` is not a validation mode"));

        p.file("problem.yaml", "validation: custom\n");
        assert!(p.err().contains("needs an output validator"));

        p.file("problem.yaml", "validator_flags: float_tolerance x\n");
        let e = p.err();
        assert!(e.contains("validator_flags: flag `float_tolerance`"), "{e}");

        p.file("problem.yaml", "limits: [1, 2]\n");
        assert!(p.err().contains("limits: expected a mapping"));

        p.file("problem.yaml", "type: sorting\n");
        assert!(p.err().contains("type: unknown problem type `sorting`"));

        p.file("problem.yaml", "name: [x\n");
        assert!(p.err().contains("malformed YAML"));

        p.file("problem.yaml", "").file(".timelimit", "fast\n");
        assert!(p
            .err()
            .contains(".timelimit: `fast` is not a positive number"));

        let p = Pkg::new();
        p.file("domjudge-problem.ini", "timelimit = soon\n");
        let e = p.err();
        assert!(
            e.contains("domjudge-problem.ini: line 1: timelimit: `soon`"),
            "{e}"
        );

        let p = Pkg::new();
        p.file("problem.yaml", "").file("data/secret/1.in", "");
        assert!(p.err().contains("has no answer file"));

        let p = Pkg::new();
        p.file("problem.yaml", "")
            .file("data/secret/testdata.yaml", "grader_flags: worst_eror\n");
        assert!(p
            .err()
            .contains("testdata.yaml: grader_flags: flag `worst_eror` is not supported"));

        let p = Pkg::new();
        assert!(p.err().contains("not a problem package"));

        let p = Pkg::new();
        p.file("problem.yaml", "")
            .file("output_validators/a.cpp", "")
            .file("output_validators/b.cpp", "")
            .file("problem.yaml", "validation: custom\n");
        assert!(p.err().contains("more than one output validator"));

        let p = Pkg::new();
        p.file(
            "domjudge-problem.ini",
            "timelimit = 1\nspecial_compare = float\n",
        );
        assert!(p.err().contains("special_compare: `float`"));
    }

    #[test]
    fn time_multipliers_passes_and_their_defaults() {
        let p = Pkg::new();
        p.file("problem.yaml", "name: x\n");
        let l = p.load().unwrap().limits;
        assert_eq!((l.ac_to_time_limit, l.time_limit_to_tle), (5.0, 2.0));
        p.file(
            "problem.yaml",
            "limits: {time_multiplier: 3, time_safety_margin: 4}\n",
        );
        let l = p.load().unwrap().limits;
        assert_eq!((l.ac_to_time_limit, l.time_limit_to_tle), (3.0, 4.0));
        p.file("problem.yaml", "problem_format_version: 2023-07\n");
        let l = p.load().unwrap().limits;
        assert_eq!(
            (l.ac_to_time_limit, l.time_limit_to_tle, l.time_resolution),
            (2.0, 1.5, 1.0)
        );
        assert_eq!(l.validation_passes, 2);
        p.file(
            "problem.yaml",
            "problem_format_version: 2023-07\ntype: [pass-fail, multi-pass]\nlimits:\n  \
             time_multipliers: {ac_to_time_limit: 3, time_limit_to_tle: 1.25}\n  \
             time_resolution: 0.5\n  validation_passes: 5\n",
        )
        .file("output_validator/v.py", "");
        let pr = p.load().unwrap();
        assert!(pr.multi_pass && pr.validator.is_some());
        let l = pr.limits;
        assert_eq!(
            (l.ac_to_time_limit, l.time_limit_to_tle, l.time_resolution),
            (3.0, 1.25, 0.5)
        );
        assert_eq!(l.validation_passes, 5);
        p.file(
            "problem.yaml",
            "problem_format_version: 2023-07\nlimits: {time_multipliers: {ac_to_time_limit: 0.5}}\n",
        );
        assert!(p
            .err()
            .contains("limits.time_multipliers.ac_to_time_limit: expected a number >= 1"));
        p.file(
            "problem.yaml",
            "problem_format_version: 2023-07\ntype: multi-pass\nlimits: {validation_passes: 1}\n",
        );
        assert!(p
            .err()
            .contains("limits.validation_passes: expected a whole number"));
        p.file(
            "problem.yaml",
            "problem_format_version: 2023-07\ntype: [multi-pass, interactive]\n",
        );
        assert!(p
            .err()
            .contains("interactive multi-pass problems are not supported"));
    }

    #[test]
    fn on_reject_defaults_and_inheritance() {
        let p = Pkg::new();
        p.file("problem.yaml", "type: scoring\n")
            .file("data/secret/testdata.yaml", "on_reject: continue\n")
            .file("data/secret/a/testdata.yaml", "accept_score: 2\n")
            .file("data/secret/b/testdata.yaml", "on_reject: break\n");
        for g in ["a", "b"] {
            for c in ["1", "2"] {
                p.file(&format!("data/secret/{g}/{c}.in"), "")
                    .file(&format!("data/secret/{g}/{c}.ans"), "");
            }
        }
        let pr = p.load().unwrap();
        // cases: sample/1, secret/a/1, secret/a/2, secret/b/1, secret/b/2
        assert!(pr.root.on_reject_break, "legacy default: break");
        assert!(
            pr.breaks_between(0, 1),
            "a failed sample stops the secret data"
        );
        assert!(!pr.breaks_between(1, 2), "a inherits continue");
        assert!(!pr.breaks_between(1, 3), "secret continues");
        assert!(pr.breaks_between(3, 4), "b breaks");
        // 2023-07 scoring: only min groups break; the root continues.
        let p = Pkg::new();
        p.file(
            "problem.yaml",
            "problem_format_version: 2023-07\ntype: scoring\n",
        )
        .file(
            "data/secret/a/test_group.yaml",
            "scoring: {score: 50, aggregation: min}\n",
        )
        .file("data/secret/b/test_group.yaml", "scoring: {score: 50}\n");
        for g in ["a", "b"] {
            for c in ["1", "2"] {
                p.file(&format!("data/secret/{g}/{c}.in"), "")
                    .file(&format!("data/secret/{g}/{c}.ans"), "");
            }
        }
        let pr = p.load().unwrap();
        assert!(!pr.breaks_between(0, 1));
        assert!(pr.breaks_between(1, 2));
        assert!(!pr.breaks_between(3, 4));
        // 2023-07 pass-fail: everything breaks.
        let p = Pkg::new();
        p.file("problem.yaml", "problem_format_version: 2023-07\n")
            .file("data/secret/1.in", "")
            .file("data/secret/1.ans", "");
        assert!(p.load().unwrap().breaks_between(0, 1));
    }

    #[test]
    fn input_validators_and_their_arguments() {
        let p = Pkg::new();
        p.file("problem.yaml", "")
            .file("input_format_validators/check.py", "")
            .file("input_format_validators/format.ctd", "")
            .file("input_format_validators/dir/main.cpp", "")
            .file("input_format_validators/dir/helper.h", "")
            .file(
                "data/secret/testdata.yaml",
                "input_validator_flags: {name: check, flags: max_n=5 strict}\n",
            )
            .file("data/secret/1.in", "")
            .file("data/secret/1.ans", "");
        let pr = p.load().unwrap();
        let names: Vec<_> = pr
            .input_validators
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(names, ["check", "dir"]);
        assert_eq!(pr.skipped_input_validators.len(), 1);
        assert!(pr.skipped_input_validators[0]
            .reason
            .contains("Checktestdata"));
        let args = &pr.cases[1].input_validator_args;
        assert_eq!(args.for_validator("check"), ["max_n=5", "strict"]);
        assert!(args.for_validator("dir").is_empty());
        assert_eq!(pr.cases[0].input_validator_args, InputValidatorArgs::None);

        let p = Pkg::new();
        p.file("problem.yaml", "problem_format_version: 2023-07\n")
            .file("input_validators/v.py", "")
            .file("input_format_validators/old.py", "")
            .file("data/test_group.yaml", "input_validator_args: [a, b]\n")
            .file(
                "data/invalid_input/test_group.yaml",
                "input_validator_args: {v: [--strict]}\n",
            )
            .file("data/invalid_input/neg.in", "-1\n");
        let pr = p.load().unwrap();
        assert_eq!(pr.input_validators.len(), 1);
        assert!(pr
            .notes
            .iter()
            .any(|n| n.contains("input_format_validators/ ignored")));
        assert_eq!(
            pr.cases[0].input_validator_args.for_validator("v"),
            ["a", "b"]
        );
        assert_eq!(pr.invalid_inputs.len(), 1);
        assert_eq!(pr.invalid_inputs[0].name, "invalid_input/neg");
        assert_eq!(
            pr.invalid_inputs[0].input_validator_args.for_validator("v"),
            ["--strict"]
        );
    }

    #[test]
    fn ini_parsing() {
        let i = parse_domjudge_ini(
            Path::new("x.ini"),
            "; comment\nprobid = A\nname = \"Hello World\"\ntimelimit=1.5\ncolor=#ff0000\n",
        )
        .unwrap();
        assert_eq!(i.name.as_deref(), Some("Hello World"));
        assert_eq!(i.timelimit, Some(1.5));
        assert!(parse_domjudge_ini(Path::new("x.ini"), "garbage\n").is_err());
    }

    #[test]
    fn constants_substitution() {
        let c = Constants(vec![
            (
                "k".into(),
                vec![
                    ("value".into(), "5000000".into()),
                    ("tex".into(), "5,000,000".into()),
                ],
            ),
            ("n".into(), vec![("value".into(), "7".into())]),
        ]);
        assert_eq!(c.substitute("{{k}} {{k.tex}} {{n}}"), "5000000 5,000,000 7");
        // Undefined constants and non-names stay; so do Markdown's sample commands.
        assert_eq!(
            c.substitute("{{m}} {{ k }} {{nextsample}} {{"),
            "{{m}} {{ k }} {{nextsample}} {{"
        );
        assert_eq!(
            c.substitute_bytes(vec![0xff, b'{', b'{']),
            vec![0xff, b'{', b'{']
        );
    }

    fn v2025(p: &Pkg, extra: &str) -> Result<Problem, PackageError> {
        p.file(
            "problem.yaml",
            &format!("problem_format_version: 2025-09\n{extra}"),
        );
        p.load()
    }

    #[test]
    fn v2025_test_data_and_scores() {
        let p = Pkg::new();
        p.file("data/secret/g1/test_group.yaml", "max_score: {{a}}\n")
            .file("data/secret/g1/1.in", "1\n")
            .file("data/secret/g1/1.ans", "1\n")
            .file("data/secret/g1/more/2.in", "1\n")
            .file("data/secret/g1/more/2.ans", "1\n")
            .file(
                "data/secret/g2/test_group.yaml",
                "max_score: 60\nscore_aggregation: sum\nrequire_pass: [sample, secret/g1]\nargs: [x]\n",
            )
            .file("data/secret/g2/1.in", "1\n")
            .file("data/secret/g2/1.ans", "1\n")
            .file("data/secret/g2/2.in", "1\n")
            .file("data/secret/g2/2.ans", "1\n")
            .file("data/secret/g2/2.yaml", "args: [y, z]\nhint: h\n");
        let pr = v2025(&p, "type: scoring\nconstants: {a: 40}\n").unwrap();
        assert_eq!(pr.format, FormatVersion::V2025_09);
        let names: Vec<&str> = pr.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sample/1",
                "secret/g1/1",
                "secret/g1/more/2",
                "secret/g2/1",
                "secret/g2/2"
            ]
        );
        let secret = pr.secret().unwrap();
        assert_eq!(secret.max_score, Some(100.0));
        assert_eq!(secret.aggregation, Aggregation::Sum);
        let Node::Group(g1) = &secret.children[0] else {
            panic!()
        };
        assert_eq!(
            (g1.max_score, g1.aggregation),
            (Some(40.0), Aggregation::PassFail)
        );
        assert_eq!(
            g1.children.len(),
            2,
            "plain directories belong to their group"
        );
        assert_eq!(pr.cases[1].score_max, CaseMax::PassFail);
        assert_eq!(pr.cases[3].score_max, CaseMax::Bounded(30.0));
        assert_eq!(pr.cases[0].score_max, CaseMax::NotScored);
        assert_eq!(pr.cases[3].args, ["x"]);
        assert_eq!(pr.cases[4].args, ["y", "z"]);
        // Groups of a bounded secret need a max_score; require_pass only earlier groups.
        p.file(
            "data/secret/g1/test_group.yaml",
            "score_aggregation: pass-fail\n",
        );
        let e = v2025(&p, "type: scoring\n").unwrap_err().to_string();
        assert!(e.contains("g1/test_group.yaml: max_score: missing"), "{e}");
        p.file(
            "data/secret/g1/test_group.yaml",
            "max_score: 40\nrequire_pass: secret/g2\n",
        );
        let e = v2025(&p, "type: scoring\n").unwrap_err().to_string();
        assert!(
            e.contains("require_pass: `secret/g2`: secret/g2 must have pass-fail"),
            "{e}"
        );
        // Pass-fail problems take no score keys.
        p.file("data/secret/g1/test_group.yaml", "max_score: 40\n");
        let e = v2025(&p, "").unwrap_err().to_string();
        assert!(e.contains("max_score: only scoring problems"), "{e}");
    }

    #[test]
    fn v2025_refusals_name_the_field() {
        let p = Pkg::new();
        p.file("data/secret/1.in", "1\n")
            .file("data/secret/1.ans", "1\n");
        assert!(v2025(&p, "").is_ok());
        for (extra, want) in [
            (
                "validation: custom\n",
                "problem.yaml: validation: not part of the 2025-09 format",
            ),
            (
                "allow_file_writing: true\n",
                "allow_file_writing: `true` is not supported",
            ),
            (
                "limits: {time_limit: 1.5, time_resolution: 1}\n",
                "limits.time_limit: 1.5 s is not a multiple of time_resolution",
            ),
            ("constants: {1x: 3}\n", "constants.1x: not a constant name"),
        ] {
            let e = v2025(&p, extra).unwrap_err().to_string();
            assert!(e.contains(want), "{extra}: {e}");
        }
        p.file(
            "data/secret/test_group.yaml",
            "static_validation_score: 10\n",
        );
        // Static validation: the validator must exist; the score's kind must fit the group.
        let e = v2025(&p, "type: scoring\n").unwrap_err().to_string();
        assert!(e.contains("there is no static_validator/"), "{e}");
        p.file("static_validator/check.py", "import sys\nsys.exit(42)\n");
        let pr = v2025(&p, "type: scoring\n").unwrap();
        let st = pr.cases.iter().find(|c| c.static_args.is_some()).unwrap();
        assert_eq!(st.name, "secret/static_validation");
        assert_eq!(st.score_max, CaseMax::Bounded(10.0));
        assert!(pr.static_validator.is_some());
        let e = v2025(&p, "").unwrap_err().to_string();
        assert!(e.contains("a number needs a scoring problem"), "{e}");
        p.file(
            "data/secret/test_group.yaml",
            "static_validator_args: [x]\n",
        );
        let e = v2025(&p, "type: scoring\n").unwrap_err().to_string();
        assert!(e.contains("given without static_validation_score"), "{e}");
        fs::remove_dir_all(p.0.path().join("static_validator")).unwrap();
        fs::remove_file(p.0.path().join("data/secret/test_group.yaml")).unwrap();
        p.file("data/secret/1.files/x.txt", "x");
        let e = v2025(&p, "").unwrap_err().to_string();
        assert!(e.contains("`.files`) are not supported"), "{e}");
        fs::remove_dir_all(p.0.path().join("data/secret/1.files")).unwrap();
        p.file("problem.yaml", "problem_format_version: 2026-01\n");
        let e = p.load().unwrap_err().to_string();
        assert!(e.contains("unsupported version `2026-01`"), "{e}");
        // Limits: code, languages.
        let pr = v2025(&p, "limits: {code: 2}\nlanguages: [python3, cpp]\n").unwrap();
        assert_eq!(pr.code_limit_bytes, Some(2048));
        assert_eq!(pr.languages, Some(vec!["python3".to_owned(), "cpp".into()]));
    }
}
