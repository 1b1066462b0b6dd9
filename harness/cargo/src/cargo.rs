//! The build phase: `cargo metadata` for the packages, `cargo test --no-run --message-format
//! json-render-diagnostics` for the test binaries, and the environment cargo would give each
//! binary at run time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

/// Options forwarded to cargo.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Cargo options (forwarded to `cargo test --no-run`)")]
pub struct CargoOpts {
    /// Package(s) to test.
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub package: Vec<String>,
    /// Test every package of the workspace.
    #[arg(long, visible_alias = "all")]
    pub workspace: bool,
    /// Exclude packages (with --workspace).
    #[arg(long, value_name = "SPEC")]
    pub exclude: Vec<String>,
    /// Test only the library's unit tests.
    #[arg(long)]
    pub lib: bool,
    /// Test only this binary's unit tests.
    #[arg(long, value_name = "NAME")]
    pub bin: Vec<String>,
    /// Test every binary's unit tests.
    #[arg(long)]
    pub bins: bool,
    /// Test only this integration test.
    #[arg(long, value_name = "NAME")]
    pub test: Vec<String>,
    /// Test every integration test.
    #[arg(long)]
    pub tests: bool,
    /// Test this example.
    #[arg(long, value_name = "NAME")]
    pub example: Vec<String>,
    /// Test every example.
    #[arg(long)]
    pub examples: bool,
    /// Test this bench target (in test mode).
    #[arg(long, value_name = "NAME")]
    pub bench: Vec<String>,
    /// Test every bench target (in test mode).
    #[arg(long)]
    pub benches: bool,
    /// Test every target (no doctests, as with cargo).
    #[arg(long)]
    pub all_targets: bool,
    /// Test only the library's documentation (doctests, each its own case).
    #[arg(long)]
    pub doc: bool,
    /// Do not run doctests (they run by default, as with `cargo test`, unless a target
    /// selection such as `--lib` or `--tests` is given).
    #[arg(long, conflicts_with = "doc")]
    pub no_doc: bool,
    /// Build for this target triple (cargo's `--target`). Tests run here, so it must be one
    /// this host executes natively (same architecture, Linux).
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Features to activate (space or comma separated).
    #[arg(short = 'F', long, value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Activate every feature.
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the `default` feature.
    #[arg(long)]
    pub no_default_features: bool,
    /// Build in release mode.
    #[arg(short = 'r', long)]
    pub release: bool,
    /// Build with this cargo profile (`--profile` names the nextest profile, as under
    /// nextest).
    #[arg(long = "cargo-profile", value_name = "NAME")]
    pub cargo_profile: Option<String>,
    /// Number of parallel build jobs (cargo's `--jobs`).
    #[arg(long, value_name = "N")]
    pub build_jobs: Option<String>,
    /// Directory for all generated artifacts.
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Require Cargo.lock to be up to date.
    #[arg(long)]
    pub locked: bool,
    /// Run without accessing the network.
    #[arg(long)]
    pub offline: bool,
    /// --locked and --offline.
    #[arg(long)]
    pub frozen: bool,
    /// Override a cargo configuration value (KEY=VALUE or a file).
    #[arg(long, value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Do not print cargo's build output.
    #[arg(long)]
    pub cargo_quiet: bool,
    /// Use cargo verbose output.
    #[arg(long)]
    pub cargo_verbose: bool,
}

impl CargoOpts {
    /// Options every cargo command accepts (metadata and build).
    pub fn common_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        if let Some(m) = &self.manifest_path {
            a.push("--manifest-path".into());
            a.push(m.into());
        }
        for (flag, on) in [
            ("--locked", self.locked),
            ("--offline", self.offline),
            ("--frozen", self.frozen),
        ] {
            if on {
                a.push(flag.into());
            }
        }
        for c in &self.config {
            a.push("--config".into());
            a.push(c.into());
        }
        a
    }

    /// Whether a target selection (`--lib`, `--tests`, `--bin x`, ...) was given: cargo then
    /// runs no doctests.
    pub fn selects_targets(&self) -> bool {
        self.lib
            || self.bins
            || self.tests
            || self.examples
            || self.benches
            || self.all_targets
            || !self.bin.is_empty()
            || !self.test.is_empty()
            || !self.example.is_empty()
            || !self.bench.is_empty()
    }

    /// Whether doctests run: as with `cargo test` (not with a target selection), or only
    /// them with `--doc`; never with `--no-doc`.
    pub fn runs_doctests(&self) -> bool {
        self.doc || (!self.no_doc && !self.selects_targets())
    }

    /// Whether the unit, integration, ... test binaries are built (not with `--doc`).
    pub fn runs_binaries(&self) -> bool {
        !self.doc
    }

    /// Options about packages, features and profile: shared by the build and the doctests.
    fn package_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = self.common_args();
        for (flag, vals) in [
            ("--package", &self.package),
            ("--exclude", &self.exclude),
            ("--features", &self.features),
        ] {
            for v in vals {
                a.push(flag.into());
                a.push(v.into());
            }
        }
        for (flag, on) in [
            ("--workspace", self.workspace),
            ("--all-features", self.all_features),
            ("--no-default-features", self.no_default_features),
            ("--release", self.release),
            ("--verbose", self.cargo_verbose),
        ] {
            if on {
                a.push(flag.into());
            }
        }
        for (flag, val) in [
            ("--profile", self.cargo_profile.as_ref().map(OsString::from)),
            ("--jobs", self.build_jobs.as_ref().map(OsString::from)),
            ("--target-dir", self.target_dir.as_ref().map(OsString::from)),
            ("--target", self.target.as_ref().map(OsString::from)),
        ] {
            if let Some(v) = val {
                a.push(flag.into());
                a.push(v);
            }
        }
        a
    }

    /// Arguments of `cargo test --doc` (after `--doc`).
    pub fn doc_args(&self) -> Vec<OsString> {
        self.package_args()
    }

    /// Arguments of `cargo test --no-run` (after the subcommand).
    pub fn build_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec![
            "--no-run".into(),
            "--message-format".into(),
            "json-render-diagnostics".into(),
        ];
        a.extend(self.package_args());
        for (flag, vals) in [
            ("--bin", &self.bin),
            ("--test", &self.test),
            ("--example", &self.example),
            ("--bench", &self.bench),
        ] {
            for v in vals {
                a.push(flag.into());
                a.push(v.into());
            }
        }
        for (flag, on) in [
            ("--lib", self.lib),
            ("--bins", self.bins),
            ("--tests", self.tests),
            ("--examples", self.examples),
            ("--benches", self.benches),
            ("--all-targets", self.all_targets),
            ("--quiet", self.cargo_quiet),
        ] {
            if on {
                a.push(flag.into());
            }
        }
        a
    }
}

/// The host's target triple (`rustc -vV`).
pub fn host_triple() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
}

/// Whether binaries built for `target` run natively on `host`: the same architecture and
/// Linux (gnu or musl). Anything else needs an emulator, which the sandbox does not provide.
pub fn runs_natively(target: &str, host: &str) -> bool {
    let arch = |t: &str| t.split('-').next().unwrap_or("").to_owned();
    target == host || (arch(target) == arch(host) && target.contains("-linux-"))
}

/// One test binary, ready to list and run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBinary {
    /// nextest-style id: `pkg` (lib), `pkg::test-name`, `pkg::bin/name`, `pkg::bench/name`,
    /// `pkg::example/name`.
    pub binary_id: String,
    pub path: PathBuf,
    pub package: String,
    /// First kind of the target (`lib`, `bin`, `test`, `bench`, `example`, `proc-macro`, ...).
    pub kind: String,
    pub target_name: String,
    /// The package root: the working directory of its tests.
    pub cwd: PathBuf,
    /// The environment cargo gives the binary at run time (see [`binary_env`]).
    pub env: BTreeMap<String, String>,
    /// False for `harness = false` targets (custom harnesses).
    pub harness: bool,
}

/// Why the build phase failed.
#[derive(Debug)]
pub enum BuildError {
    /// `cargo metadata` failed (exit code 102).
    Metadata(String),
    /// `cargo test --no-run` failed (exit code 101).
    Build(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Metadata(m) => write!(f, "cargo metadata failed: {m}"),
            BuildError::Build(m) => write!(f, "building the tests failed: {m}"),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub packages: Vec<Package>,
    pub target_directory: PathBuf,
    #[serde(default)]
    pub workspace_root: PathBuf,
}

#[derive(Debug, Deserialize)]
pub struct Package {
    pub id: String,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub authors: Vec<String>,
    pub description: Option<String>,
    pub homepage: Option<String>,
    pub repository: Option<String>,
    pub license: Option<String>,
    pub license_file: Option<String>,
    pub rust_version: Option<String>,
    pub readme: Option<String>,
    pub manifest_path: PathBuf,
    #[serde(default)]
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    pub name: String,
    pub kind: Vec<String>,
}

/// The subset of cargo's JSON messages we read.
#[derive(Debug, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
enum Message {
    CompilerArtifact(Artifact),
    BuildScriptExecuted(BuildScript),
    BuildFinished {
        success: bool,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct Artifact {
    package_id: String,
    target: Target,
    profile: Profile,
    executable: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct Profile {
    test: bool,
}

#[derive(Debug, Deserialize)]
struct BuildScript {
    package_id: String,
    out_dir: PathBuf,
    #[serde(default)]
    linked_paths: Vec<String>,
}

/// What the build produced, per package id.
#[derive(Debug, Default)]
pub struct BuildOutput {
    /// (package id, target, executable), in the order cargo reported them, deduplicated.
    pub tests: Vec<(String, Target, PathBuf)>,
    /// Executables of `bin` targets, per package id: name → path (for `CARGO_BIN_EXE_*`).
    pub bins: HashMap<String, BTreeMap<String, PathBuf>>,
    /// `OUT_DIR` of packages with a build script.
    pub out_dirs: HashMap<String, PathBuf>,
    /// Directories build scripts added to the library search path (`KIND=PATH`, kind dropped).
    pub linked_paths: BTreeSet<PathBuf>,
    /// The toolchain's library directory (its `libstd-*.so`, for `-C prefer-dynamic`): the
    /// host's, or the copy in an archive.
    pub toolchain_libdir: Option<PathBuf>,
    pub success: Option<bool>,
}

/// The host toolchain's library directory (`rustc --print target-libdir`; `$RUSTC` if set),
/// where `libstd-*.so` is.
pub fn host_libdir() -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "target-libdir"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let dir = PathBuf::from(dir.trim());
    (out.status.success() && dir.is_dir()).then_some(dir)
}

/// The standard library's shared object in a toolchain library directory, if it has one.
pub fn std_dylib(libdir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(libdir).ok()?.flatten().find_map(|e| {
        let name = e.file_name();
        let name = name.to_str()?;
        (name.starts_with("libstd-") && name.ends_with(".so")).then(|| e.path())
    })
}

/// Parses cargo's JSON message stream (one message per line; other lines are ignored).
pub fn parse_messages(lines: impl Iterator<Item = String>) -> BuildOutput {
    let mut out = BuildOutput::default();
    let mut seen = BTreeSet::new();
    for line in lines {
        let Ok(m) = serde_json::from_str::<Message>(&line) else {
            continue;
        };
        match m {
            Message::CompilerArtifact(a) => {
                let Some(exe) = a.executable else { continue };
                if a.profile.test {
                    if seen.insert(exe.clone()) {
                        out.tests.push((a.package_id, a.target, exe));
                    }
                } else if a.target.kind.iter().any(|k| k == "bin") {
                    out.bins
                        .entry(a.package_id)
                        .or_default()
                        .insert(a.target.name, exe);
                }
            }
            Message::BuildScriptExecuted(b) => {
                for l in &b.linked_paths {
                    let path = l.split_once('=').map_or(l.as_str(), |(_, p)| p);
                    out.linked_paths.insert(PathBuf::from(path));
                }
                out.out_dirs.insert(b.package_id, b.out_dir);
            }
            Message::BuildFinished { success } => out.success = Some(success),
            Message::Other => {}
        }
    }
    out
}

/// The cargo executable: `$CARGO` (set when cargo runs us as a subcommand) or `cargo`.
pub fn cargo_exe() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

/// Runs `cargo metadata --no-deps`.
pub fn metadata(opts: &CargoOpts) -> Result<Metadata, BuildError> {
    let out = Command::new(cargo_exe())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .args(opts.common_args())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| BuildError::Metadata(format!("cannot run cargo: {e}")))?;
    if !out.status.success() {
        return Err(BuildError::Metadata(format!(
            "cargo exited with {}",
            out.status
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| BuildError::Metadata(format!("cannot parse its output: {e}")))
}

/// What the build phase produced.
#[derive(Debug)]
pub struct Built {
    pub meta: Metadata,
    pub binaries: Vec<TestBinary>,
    pub output: BuildOutput,
    /// The target directory (absolute).
    pub target_dir: PathBuf,
}

/// Builds the test binaries (unless only doctests run) and describes each one.
pub fn build(opts: &CargoOpts) -> Result<Built, BuildError> {
    if !opts.runs_binaries() {
        let meta = metadata(opts)?;
        let target_dir = target_dir_of(opts, &meta);
        return Ok(Built {
            meta,
            binaries: Vec::new(),
            output: BuildOutput::default(),
            target_dir,
        });
    }
    // The build and `cargo metadata` run at the same time (an up-to-date build is mostly
    // cargo's own start-up and fingerprint checks, like metadata itself).
    // rustc answers while cargo builds.
    let libdir = std::thread::spawn(host_libdir);
    let mut child = Command::new(cargo_exe())
        .arg("test")
        .args(opts.build_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| BuildError::Build(format!("cannot run cargo: {e}")))?;
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let meta = match metadata(opts) {
        Ok(m) => m,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            let _ = reader.join();
            return Err(e);
        }
    };
    let target_dir = target_dir_of(opts, &meta);
    let lines = reader
        .join()
        .map_err(|_| BuildError::Build("reading cargo's output failed".into()))?;
    let mut built = parse_messages(lines.into_iter());
    built.toolchain_libdir = libdir.join().ok().flatten();
    let status = child
        .wait()
        .map_err(|e| BuildError::Build(format!("cannot wait for cargo: {e}")))?;
    if !status.success() || built.success == Some(false) {
        return Err(BuildError::Build(format!("cargo exited with {status}")));
    }
    let binaries = describe(&meta, &built, &target_dir);
    Ok(Built {
        meta,
        binaries,
        output: built,
        target_dir,
    })
}

/// `cargo metadata` knows CARGO_TARGET_DIR and config files but has no `--target-dir`.
fn target_dir_of(opts: &CargoOpts, meta: &Metadata) -> PathBuf {
    match &opts.target_dir {
        Some(t) => std::path::absolute(t).unwrap_or_else(|_| t.clone()),
        None => meta.target_directory.clone(),
    }
}

/// Turns build output into test binaries with their environment, sorted by binary id.
pub fn describe(meta: &Metadata, built: &BuildOutput, target_dir: &Path) -> Vec<TestBinary> {
    let pkgs: HashMap<&str, &Package> = meta.packages.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut no_harness_cache: HashMap<&str, BTreeSet<(String, String)>> = HashMap::new();
    let mut out = Vec::new();
    for (pkg_id, target, exe) in &built.tests {
        let Some(pkg) = pkgs.get(pkg_id.as_str()) else {
            continue;
        };
        let kind = target.kind.first().cloned().unwrap_or_else(|| "lib".into());
        let no_harness = no_harness_cache
            .entry(pkg.id.as_str())
            .or_insert_with(|| harness_false_targets(&pkg.manifest_path));
        let key = if is_lib_kind(&kind) {
            ("lib".to_owned(), String::new())
        } else {
            (section_of(&kind).to_owned(), target.name.clone())
        };
        let harness = !no_harness.contains(&key);
        let env = binary_env(pkg, target, &kind, exe, built, target_dir);
        out.push(TestBinary {
            binary_id: binary_id(&pkg.name, &kind, &target.name),
            path: exe.clone(),
            package: pkg.name.clone(),
            kind,
            target_name: target.name.clone(),
            cwd: pkg
                .manifest_path
                .parent()
                .map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
            env,
            harness,
        });
    }
    out.sort_by(|a, b| a.binary_id.cmp(&b.binary_id));
    out
}

fn is_lib_kind(kind: &str) -> bool {
    matches!(
        kind,
        "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"
    )
}

/// The manifest section a target kind is declared in.
fn section_of(kind: &str) -> &'static str {
    match kind {
        "bin" => "bin",
        "test" => "test",
        "bench" => "bench",
        "example" => "example",
        _ => "lib",
    }
}

/// nextest's binary id: `pkg` for the library, `pkg::name` for an integration test,
/// `pkg::bin/name`, `pkg::bench/name`, `pkg::example/name`.
pub fn binary_id(package: &str, kind: &str, target: &str) -> String {
    match kind {
        "test" => format!("{package}::{target}"),
        "bin" | "bench" | "example" => format!("{package}::{kind}/{target}"),
        _ => package.to_owned(),
    }
}

/// Targets declared with `harness = false`, as (section, name); the library as ("lib", "").
pub fn harness_false_targets(manifest: &Path) -> BTreeSet<(String, String)> {
    let Ok(text) = std::fs::read_to_string(manifest) else {
        return BTreeSet::new();
    };
    harness_false_in(&text)
}

/// See [`harness_false_targets`].
pub fn harness_false_in(manifest_text: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let Ok(doc) = manifest_text.parse::<toml::Table>() else {
        return out;
    };
    let off = |t: &toml::Table| t.get("harness").and_then(toml::Value::as_bool) == Some(false);
    if let Some(lib) = doc.get("lib").and_then(toml::Value::as_table) {
        if off(lib) {
            out.insert(("lib".into(), String::new()));
        }
    }
    for section in ["bin", "test", "bench", "example"] {
        for t in doc
            .get(section)
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_table)
        {
            if let (true, Some(name)) = (off(t), t.get("name").and_then(toml::Value::as_str)) {
                out.insert((section.into(), name.to_owned()));
            }
        }
    }
    out
}

/// Splits a semver version into cargo's CARGO_PKG_VERSION_{MAJOR,MINOR,PATCH,PRE}.
pub fn version_parts(v: &str) -> (String, String, String, String) {
    let core_pre = v.split('+').next().unwrap_or(v);
    let (core, pre) = core_pre.split_once('-').unwrap_or((core_pre, ""));
    let mut it = core.split('.');
    let mut next = || it.next().unwrap_or("0").to_owned();
    let (ma, mi, pa) = (next(), next(), next());
    (ma, mi, pa, pre.to_owned())
}

/// Variables passed through from our own environment when set.
pub const PASSTHROUGH_ENV: &[&str] = &[
    "RUST_BACKTRACE",
    "RUST_LIB_BACKTRACE",
    "RUST_LOG",
    "RUST_MIN_STACK",
    "RUST_TEST_TIME_UNIT",
    "RUST_TEST_TIME_INTEGRATION",
    "RUST_TEST_TIME_DOCTEST",
];

/// The environment `cargo test` gives a test binary at run time.
pub fn binary_env(
    pkg: &Package,
    target: &Target,
    kind: &str,
    exe: &Path,
    built: &BuildOutput,
    target_dir: &Path,
) -> BTreeMap<String, String> {
    let bins = built.bins.get(&pkg.id);
    let out_dir = built.out_dirs.get(&pkg.id);
    let mut e = BTreeMap::new();
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let dir = pkg.manifest_path.parent().unwrap_or(Path::new("/"));
    let (ma, mi, pa, pre) = version_parts(&pkg.version);
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    for (k, v) in [
        ("CARGO", s(&cargo_exe())),
        ("CARGO_MANIFEST_DIR", s(dir)),
        ("CARGO_MANIFEST_PATH", s(&pkg.manifest_path)),
        ("CARGO_PKG_NAME", pkg.name.clone()),
        ("CARGO_PKG_VERSION", pkg.version.clone()),
        ("CARGO_PKG_VERSION_MAJOR", ma),
        ("CARGO_PKG_VERSION_MINOR", mi),
        ("CARGO_PKG_VERSION_PATCH", pa),
        ("CARGO_PKG_VERSION_PRE", pre),
        ("CARGO_PKG_AUTHORS", pkg.authors.join(":")),
        ("CARGO_PKG_DESCRIPTION", opt(&pkg.description)),
        ("CARGO_PKG_HOMEPAGE", opt(&pkg.homepage)),
        ("CARGO_PKG_REPOSITORY", opt(&pkg.repository)),
        ("CARGO_PKG_LICENSE", opt(&pkg.license)),
        ("CARGO_PKG_LICENSE_FILE", opt(&pkg.license_file)),
        ("CARGO_PKG_RUST_VERSION", opt(&pkg.rust_version)),
        ("CARGO_PKG_README", opt(&pkg.readme)),
        ("CARGO_CRATE_NAME", target.name.replace('-', "_")),
    ] {
        e.insert(k.to_owned(), v);
    }
    if kind == "bin" {
        e.insert("CARGO_BIN_NAME".into(), target.name.clone());
    }
    if kind == "test" || kind == "bench" {
        e.insert("CARGO_TARGET_TMPDIR".into(), s(&target_dir.join("tmp")));
    }
    // nextest's runtime names for them too (the path where the binary is now: after an
    // archive's extraction, not the one compiled into the test), also with `-` as `_`.
    for (name, path) in bins.into_iter().flatten() {
        e.insert(format!("CARGO_BIN_EXE_{name}"), s(path));
        e.insert(format!("NEXTEST_BIN_EXE_{name}"), s(path));
        if name.contains('-') {
            e.insert(
                format!("NEXTEST_BIN_EXE_{}", name.replace('-', "_")),
                s(path),
            );
        }
    }
    if let Some(o) = out_dir {
        e.insert("OUT_DIR".into(), s(o));
    }
    // cargo puts the output directories on the dynamic library path (dylib dependencies),
    // then the build scripts' linked paths and the toolchain's libraries (`-C prefer-dynamic`).
    let mut ld: Vec<PathBuf> = Vec::new();
    if let Some(deps) = exe.parent() {
        ld.push(deps.to_path_buf());
        if let Some(profile) = deps.parent() {
            ld.push(profile.to_path_buf());
        }
    }
    ld.extend(
        (built.linked_paths.iter())
            .filter(|p| p.starts_with(target_dir))
            .cloned(),
    );
    ld.extend(built.toolchain_libdir.clone());
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        ld.extend(std::env::split_paths(&old));
    }
    if let Ok(joined) = std::env::join_paths(ld) {
        e.insert(
            "LD_LIBRARY_PATH".into(),
            joined.to_string_lossy().into_owned(),
        );
    }
    for k in PASSTHROUGH_ENV {
        if let Ok(v) = std::env::var(k) {
            e.insert((*k).to_owned(), v);
        }
    }
    e.extend(toolchain_env());
    e
}

/// Shows the cases what [`toolchain_env`] points them to, read-only where they could not
/// reach it (a toolchain under a root-only home): cargo and rustc (a rustup proxy with its
/// homes), as `cwd` would find them, and the toolchain's library directory.
pub fn show_toolchain(
    view: &mut hatchery_sandbox::policy::View,
    libdir: Option<&Path>,
    cwd: &Path,
) {
    view.show_command(cargo_exe().as_os_str(), cwd);
    view.show_command(std::ffi::OsStr::new("rustc"), cwd);
    if let Some(d) = libdir {
        view.show_read_only(d);
    }
}

/// What a test that runs the toolchain itself (`env!("CARGO")`, trybuild, `rustc` from
/// `PATH`) needs, as `cargo test` gives it: cargo's `PATH`, rustup's toolchain pin, and
/// rustup's and cargo's homes, named outright because `HOME` is elsewhere in the sandbox.
pub fn toolchain_env() -> Vec<(String, String)> {
    let mut e = Vec::new();
    for k in ["PATH", "RUSTUP_TOOLCHAIN"] {
        if let Ok(v) = std::env::var(k) {
            e.push((k.to_owned(), v));
        }
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    for (var, default) in [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")] {
        let dir = std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
            .filter(|d| d.is_dir());
        if let Some(d) = dir {
            e.push((var.to_owned(), d.to_string_lossy().into_owned()));
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctests_run_as_with_cargo_test() {
        let o = |f: fn(&mut CargoOpts)| {
            let mut c = CargoOpts::default();
            f(&mut c);
            (c.runs_doctests(), c.runs_binaries())
        };
        assert_eq!(o(|_| {}), (true, true));
        assert_eq!(o(|c| c.lib = true), (false, true));
        assert_eq!(o(|c| c.all_targets = true), (false, true));
        assert_eq!(o(|c| c.test = vec!["it".into()]), (false, true));
        assert_eq!(o(|c| c.no_doc = true), (false, true));
        assert_eq!(o(|c| c.doc = true), (true, false));
        let c = CargoOpts {
            lib: true,
            release: true,
            target: Some("x86_64-unknown-linux-musl".into()),
            package: vec!["p".into()],
            ..Default::default()
        };
        let doc: Vec<String> = c
            .doc_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(!doc.contains(&"--lib".to_owned()), "{doc:?}");
        for want in [
            "--release",
            "--target",
            "x86_64-unknown-linux-musl",
            "--package",
        ] {
            assert!(doc.contains(&want.to_owned()), "{want}: {doc:?}");
        }
        let build: Vec<String> = c
            .build_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(build.contains(&"--lib".to_owned()) && build.contains(&"--target".to_owned()));
    }

    #[test]
    fn native_targets() {
        let h = "x86_64-unknown-linux-gnu";
        assert!(runs_natively(h, h));
        assert!(runs_natively("x86_64-unknown-linux-musl", h));
        assert!(!runs_natively("aarch64-unknown-linux-gnu", h));
        assert!(!runs_natively("x86_64-pc-windows-gnu", h));
        assert!(!runs_natively("wasm32-unknown-unknown", h));
    }

    #[test]
    fn binary_ids_follow_nextest() {
        assert_eq!(binary_id("foo", "lib", "foo"), "foo");
        assert_eq!(binary_id("foo", "proc-macro", "foo"), "foo");
        assert_eq!(binary_id("foo", "test", "integration"), "foo::integration");
        assert_eq!(binary_id("foo", "bin", "foo-cli"), "foo::bin/foo-cli");
        assert_eq!(binary_id("foo", "bench", "b"), "foo::bench/b");
        assert_eq!(binary_id("foo", "example", "e"), "foo::example/e");
    }

    #[test]
    fn versions_split_like_cargo() {
        assert_eq!(
            version_parts("1.22.3"),
            ("1".into(), "22".into(), "3".into(), "".into())
        );
        assert_eq!(
            version_parts("0.3.0-beta.2+build.7"),
            ("0".into(), "3".into(), "0".into(), "beta.2".into())
        );
    }

    #[test]
    fn harness_false_is_read_from_the_manifest() {
        let m = r#"
            [package]
            name = "x"
            [lib]
            harness = false
            [[test]]
            name = "custom"
            harness = false
            [[test]]
            name = "normal"
            [[bench]]
            name = "b"
            harness = false
        "#;
        let got = harness_false_in(m);
        let want: BTreeSet<(String, String)> = [
            ("lib".to_owned(), String::new()),
            ("test".to_owned(), "custom".to_owned()),
            ("bench".to_owned(), "b".to_owned()),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want);
        assert!(harness_false_in("not [ toml").is_empty());
    }

    #[test]
    fn messages_give_test_executables_bins_and_out_dirs() {
        let lines = [
            r#"{"reason":"compiler-artifact","package_id":"p#1.0.0","manifest_path":"/x/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"p","src_path":"/x/src/lib.rs"},"profile":{"test":true},"features":[],"filenames":[],"executable":"/t/debug/deps/p-1","fresh":false}"#,
            r#"{"reason":"compiler-artifact","package_id":"p#1.0.0","target":{"kind":["lib"],"name":"p"},"profile":{"test":false},"executable":null}"#,
            r#"{"reason":"compiler-artifact","package_id":"p#1.0.0","target":{"kind":["bin"],"name":"p-cli"},"profile":{"test":false},"executable":"/t/debug/p-cli"}"#,
            r#"{"reason":"compiler-artifact","package_id":"p#1.0.0","target":{"kind":["test"],"name":"it"},"profile":{"test":true},"executable":"/t/debug/deps/it-2"}"#,
            r#"{"reason":"compiler-artifact","package_id":"p#1.0.0","target":{"kind":["test"],"name":"it"},"profile":{"test":true},"executable":"/t/debug/deps/it-2"}"#,
            r#"{"reason":"build-script-executed","package_id":"p#1.0.0","linked_libs":[],"linked_paths":[],"cfgs":[],"env":[],"out_dir":"/t/debug/build/p-3/out"}"#,
            r#"{"reason":"compiler-message","package_id":"p#1.0.0","message":{}}"#,
            "not json",
            r#"{"reason":"build-finished","success":true}"#,
        ];
        let b = parse_messages(lines.iter().map(|s| s.to_string()));
        assert_eq!(b.tests.len(), 2, "{:?}", b.tests);
        assert_eq!(b.tests[0].2, PathBuf::from("/t/debug/deps/p-1"));
        assert_eq!(b.tests[1].1.name, "it");
        assert_eq!(b.bins["p#1.0.0"]["p-cli"], PathBuf::from("/t/debug/p-cli"));
        assert_eq!(
            b.out_dirs["p#1.0.0"],
            PathBuf::from("/t/debug/build/p-3/out")
        );
        assert_eq!(b.success, Some(true));
    }
}
