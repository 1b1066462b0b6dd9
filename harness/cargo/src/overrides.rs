//! A profile's filtersets compiled once, and what they decide per test: whether it is
//! selected (`-E`, `default-filter`) and its settings from `[[profile.X.overrides]]` (for each
//! setting, the first override that matches the test and sets it, as in nextest).

use std::time::Duration;

use nextest_filtering::{Filterset, FiltersetKind};

use crate::config::{
    HatcheryCfg, LeakCfg, OverrideCfg, PlatformCfg, Profile, RetriesCfg, SlowCfg, ThreadsCfg,
};
use crate::filter::{Eval, Graph, TestFacts};

/// One test's settings from the overrides that match it (unset: the profile's).
#[derive(Debug, Clone, Default)]
pub struct PerTest {
    pub retries: Option<RetriesCfg>,
    pub threads_required: Option<ThreadsCfg>,
    pub slow_timeout: Option<SlowCfg>,
    pub leak_timeout: Option<LeakCfg>,
    pub test_group: Option<String>,
    pub success_output: Option<String>,
    pub failure_output: Option<String>,
    pub store_success_output: Option<bool>,
    pub store_failure_output: Option<bool>,
    pub priority: Option<crate::config::Priority>,
    pub hatchery: HatcheryCfg,
    /// Why the filtersets refuse the test (set by the caller, from [`Compiled::refuses`]).
    pub refused: Option<crate::select::Skip>,
}

struct CompiledOverride {
    filter: Option<Filterset>,
    /// The `platform` of the override holds for the platform the tests run on (native: host
    /// and target are this machine).
    platform_ok: bool,
    cfg: OverrideCfg,
}

pub struct Compiled {
    graph: Option<Graph>,
    default_filter: Option<Filterset>,
    cli: Vec<Filterset>,
    overrides: Vec<CompiledOverride>,
}

/// Whether an override's `platform` holds here.
fn platform_holds(p: &PlatformCfg) -> Result<bool, String> {
    let here = target_spec::Platform::build_target()
        .map_err(|e| format!("cannot tell this platform: {e}"))?;
    let eval = |s: &str| -> Result<bool, String> {
        let spec = target_spec::TargetSpec::new(s.to_owned())
            .map_err(|e| format!("invalid platform `{s}`: {e}"))?;
        Ok(spec.eval(&here).unwrap_or(false))
    };
    match p {
        PlatformCfg::Target(s) => eval(s),
        PlatformCfg::Table { host, target } => {
            Ok(host.as_deref().map_or(Ok(true), eval)?
                && target.as_deref().map_or(Ok(true), eval)?)
        }
    }
}

impl Compiled {
    /// Compiles `-E` expressions, the profile's default filter (unless ignored) and its
    /// override filters. The package graph is read only when one of them exists.
    pub fn new(
        profile: &Profile,
        cli: &[String],
        ignore_default_filter: bool,
        cargo: &crate::cargo::CargoOpts,
    ) -> Result<Compiled, String> {
        let default_expr = profile
            .default_filter
            .as_deref()
            .filter(|_| !ignore_default_filter);
        let needed = !cli.is_empty()
            || default_expr.is_some()
            || profile.overrides.iter().any(|o| o.cfg.filter.is_some());
        let graph = needed.then(|| Graph::load(cargo)).transpose()?;
        let groups = profile.group_names();
        let mut c = Compiled {
            graph: None,
            default_filter: None,
            cli: Vec::new(),
            overrides: Vec::new(),
        };
        if let Some(g) = &graph {
            if let Some(d) = default_expr {
                c.default_filter = Some(
                    g.compile(d, FiltersetKind::DefaultFilter, None)
                        .map_err(|e| format!("profile `{}`: default-filter: {e}", profile.name))?,
                );
            }
            for e in cli {
                c.cli
                    .push(g.compile(e, FiltersetKind::Test, Some(&groups))?);
            }
        }
        for o in &profile.overrides {
            let filter = match (&o.cfg.filter, &graph) {
                (Some(f), Some(g)) => Some(
                    g.compile(f, FiltersetKind::OverrideFilter, None)
                        .map_err(|e| format!("{}: {e}", o.at))?,
                ),
                _ => None,
            };
            let platform_ok = match &o.cfg.platform {
                None => true,
                Some(p) => platform_holds(p).map_err(|e| format!("{}: {e}", o.at))?,
            };
            c.overrides.push(CompiledOverride {
                filter,
                platform_ok,
                cfg: o.cfg.clone(),
            });
        }
        c.graph = graph;
        Ok(c)
    }

    fn eval<T>(&self, f: impl FnOnce(&Eval<'_>) -> T) -> Option<T> {
        let g = self.graph.as_ref()?;
        let all;
        let d = match &self.default_filter {
            Some(d) => d,
            None => {
                all = g.all();
                &all
            }
        };
        Some(f(&Eval {
            default_filter: &d.compiled,
        }))
    }

    /// The settings the overrides give a test.
    pub fn per_test(&self, t: &TestFacts) -> PerTest {
        let mut p = PerTest::default();
        let mut hatchery: Vec<&HatcheryCfg> = Vec::new();
        for o in &self.overrides {
            if !o.platform_ok {
                continue;
            }
            if let Some(f) = &o.filter {
                if self.eval(|e| e.matches(f, t)) != Some(true) {
                    continue;
                }
            }
            let c = &o.cfg;
            p.retries = p.retries.or(c.retries);
            p.threads_required = p.threads_required.take().or(c.threads_required.clone());
            p.slow_timeout = p.slow_timeout.or(c.slow_timeout);
            p.leak_timeout = p.leak_timeout.or(c.leak_timeout);
            p.test_group = p.test_group.take().or(c.test_group.clone());
            p.success_output = p.success_output.take().or(c.success_output.clone());
            p.failure_output = p.failure_output.take().or(c.failure_output.clone());
            p.priority = p.priority.or(c.priority);
            if let Some(j) = &c.junit {
                p.store_success_output = p.store_success_output.or(j.store_success_output);
                p.store_failure_output = p.store_failure_output.or(j.store_failure_output);
            }
            if let Some(h) = &c.hatchery {
                hatchery.push(h);
            }
        }
        // The first override that sets a field wins: fold from the last.
        for h in hatchery.into_iter().rev() {
            p.hatchery = h.clone().or_cfg(&p.hatchery);
        }
        p
    }

    /// Why the filtersets refuse a test, if they do: no `-E` expression matches it (when there
    /// are some; `group()` answered from `per`), or the default filter does not.
    pub fn refuses(&self, t: &TestFacts, per: &PerTest) -> Option<crate::select::Skip> {
        use crate::select::Skip;
        if !self.cli.is_empty() {
            let group = per.test_group.clone().unwrap_or_else(|| "@global".into());
            let any = self.cli.iter().any(|f| {
                self.eval(|e| e.matches_with_groups(f, t, &|_| group.clone())) == Some(true)
            });
            if !any {
                return Some(Skip::Expression);
            }
        }
        match &self.default_filter {
            Some(d) if self.eval(|e| e.matches(d, t)) != Some(true) => Some(Skip::DefaultFilter),
            _ => None,
        }
    }
}

/// The wall-clock limit `terminate-after` gives, combined with an explicit one.
pub fn wall_limit(explicit_us: Option<u64>, slow: &SlowCfg) -> Option<u64> {
    let t = slow.terminate().map(|d: Duration| d.as_micros() as u64);
    match (explicit_us, t) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
