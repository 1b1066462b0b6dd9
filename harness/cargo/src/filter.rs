//! nextest filtersets (`-E 'test(foo) & package(bar)'`, override `filter = ...`,
//! `default-filter`), parsed and evaluated by nextest's own crate (`nextest-filtering`) over
//! guppy's package graph of the workspace (`cargo metadata` with dependencies, read once and
//! only when a filterset is used).

use std::collections::HashSet;

use guppy::graph::cargo::BuildPlatform;
use guppy::graph::PackageGraph;
use guppy::PackageId;
use nextest_filtering::{
    BinaryQuery, CompiledExpr, EvalContext, Filterset, FiltersetKind, GroupLookup, KnownGroups,
    NameMatcher, ParseContext, TestQuery,
};
use nextest_metadata::{RustBinaryId, RustTestBinaryKind, TestCaseName};

use crate::cargo::CargoOpts;

/// The package graph filtersets are evaluated over.
pub struct Graph {
    graph: PackageGraph,
}

impl Graph {
    /// `cargo metadata --format-version 1` (with dependencies: `deps()`/`rdeps()` need them),
    /// with the run's manifest, feature and lockfile options.
    pub fn load(opts: &CargoOpts) -> Result<Graph, String> {
        if let Some(json) = crate::archive::ARCHIVED_METADATA.get() {
            let graph = PackageGraph::from_json(json)
                .map_err(|e| format!("cannot read the archive's package graph: {e}"))?;
            return Ok(Graph { graph });
        }
        let json = metadata_json(opts)?;
        let graph = PackageGraph::from_json(json)
            .map_err(|e| format!("cannot read the package graph: {e}"))?;
        Ok(Graph { graph })
    }

    /// Compiles one filterset. `groups`: the custom test groups `group()` may name (`None`:
    /// `group()` is not allowed, as in override filters).
    pub fn compile(
        &self,
        expr: &str,
        kind: FiltersetKind,
        groups: Option<&HashSet<String>>,
    ) -> Result<Filterset, String> {
        let cx = ParseContext::new(&self.graph);
        let known = match groups {
            Some(g) => KnownGroups::Known {
                custom_groups: g.clone(),
            },
            None => KnownGroups::Unavailable,
        };
        Filterset::parse(expr.to_owned(), &cx, kind, &known).map_err(|e| {
            let errs: Vec<String> = e.errors.iter().map(|x| x.to_string()).collect();
            format!("invalid filterset `{expr}`: {}", errs.join("; "))
        })
    }

    /// `all()`, the default filter when a profile sets none.
    pub fn all(&self) -> Filterset {
        self.compile("all()", FiltersetKind::DefaultFilter, None)
            .expect("all() parses")
    }
}

/// `cargo metadata --format-version 1` with dependencies, as text (what guppy reads and what
/// nextest archives).
pub fn metadata_json(opts: &CargoOpts) -> Result<String, String> {
    let out = std::process::Command::new(crate::cargo::cargo_exe())
        .args(["metadata", "--format-version", "1"])
        .args(opts.common_args())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata exited with {}", out.status));
    }
    String::from_utf8(out.stdout).map_err(|_| "cargo metadata printed non-UTF-8 output".to_owned())
}

/// What a filterset sees of one test.
pub struct TestFacts {
    package_id: PackageId,
    binary_id: RustBinaryId,
    binary_name: String,
    kind: RustTestBinaryKind,
    name: TestCaseName,
}

impl TestFacts {
    /// A test of a binary: `kind` is cargo's target kind (`rlib`, `cdylib`, ... are `lib`),
    /// `name` the test's name (for a whole-binary case, the binary id).
    pub fn new(
        package_id: &str,
        binary_id: &str,
        binary_name: &str,
        kind: &str,
        name: &str,
    ) -> Self {
        let kind = match kind {
            "rlib" | "dylib" | "cdylib" | "staticlib" => "lib",
            k => k,
        };
        TestFacts {
            package_id: PackageId::new(package_id),
            binary_id: RustBinaryId::new(binary_id),
            binary_name: binary_name.to_owned(),
            kind: RustTestBinaryKind::new(kind.to_owned()),
            name: TestCaseName::new(name),
        }
    }

    fn query(&self) -> TestQuery<'_> {
        TestQuery {
            binary_query: BinaryQuery {
                package_id: &self.package_id,
                binary_id: &self.binary_id,
                binary_name: &self.binary_name,
                kind: &self.kind,
                platform: BuildPlatform::Target,
            },
            test_name: &self.name,
        }
    }
}

/// Evaluation of filtersets against one test (the default filter is `default()`).
pub struct Eval<'a> {
    pub default_filter: &'a CompiledExpr,
}

/// `group()` in a `-E` filterset: the test group each test was put in by the overrides.
struct Groups<'a>(&'a dyn Fn(&TestQuery<'_>) -> String);

impl std::fmt::Debug for Groups<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Groups")
    }
}

impl GroupLookup for Groups<'_> {
    fn is_member_test(&self, test: &TestQuery<'_>, matcher: &NameMatcher) -> bool {
        matcher.is_match(&(self.0)(test))
    }
}

impl Eval<'_> {
    pub fn matches(&self, f: &Filterset, t: &TestFacts) -> bool {
        let cx = EvalContext {
            default_filter: self.default_filter,
        };
        f.matches_test(&t.query(), &cx)
    }

    /// Like [`Eval::matches`], with `group()` answered by `group_of` (`@global` for tests in
    /// no custom group).
    pub fn matches_with_groups(
        &self,
        f: &Filterset,
        t: &TestFacts,
        group_of: &dyn Fn(&TestFacts) -> String,
    ) -> bool {
        let cx = EvalContext {
            default_filter: self.default_filter,
        };
        let g = group_of(t);
        let lookup = |_: &TestQuery<'_>| g.clone();
        f.matches_test_with_groups(&t.query(), &cx, &Groups(&lookup))
    }
}
