//! Spawn latency and throughput: the floor (bare vfork+exec+wait of a no-libc static no-op),
//! `unshare` per case, `bwrap` per case (when installed), and hatchery per tier through one
//! long-lived zygote each, end to end per case; then cases/s with 1 and 2 workers.
//!
//! `cargo build --release -p hatchery && cargo bench -p hatchery-benches`
//!
//! Every routine times each case on its own; the per-case timings of criterion's measurement
//! samples (its warm-up is dropped) give the median and p99 printed at the end and written to
//! `target/bench-spawn/summary.{md,json}`, next to criterion's own median estimate.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use hatchery_benches as hb;
use hatchery_sandbox::policy::CgroupMode;
use hatchery_sandbox::{CaseSpec, SandboxConfig, SeccompProfile, Tier};

const TIERS: [Tier; 3] = [Tier::None, Tier::Hardened, Tier::Lockdown];
/// Cases per throughput iteration.
const BATCH: usize = 500;

/// A variant of the hardened row: id, description, zygote configuration change, case.
type Ablation<'a> = (
    &'a str,
    &'a str,
    &'a dyn Fn(&mut SandboxConfig),
    &'a CaseSpec,
);

/// Per-case nanoseconds of every routine call, by benchmark; what each one measures; how
/// busy the rest of the machine was while it ran.
#[derive(Default)]
struct Recorder {
    calls: RefCell<BTreeMap<String, Vec<Vec<u64>>>>,
    /// A value each case reported (hatchery: the zygote-measured case wall time, µs).
    aux: RefCell<BTreeMap<String, Vec<Vec<u64>>>>,
    rows: RefCell<Vec<Row>>,
}

struct Row {
    group: String,
    id: String,
    what: String,
    /// Measurement samples criterion takes (the last calls of the routine).
    samples: usize,
    /// Cases per routine iteration (throughput) or 1.
    per_iter: usize,
    /// CPU use on the host while criterion ran this benchmark.
    noise: hb::CpuUse,
}

impl Row {
    fn key(&self) -> String {
        format!("{}/{}", self.group, self.id)
    }
}

/// A criterion group with the settings the recorder needs to know.
struct Group<'a> {
    g: criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>,
    name: String,
    samples: usize,
    per_iter: usize,
}

impl<'a> Group<'a> {
    fn new(c: &'a mut Criterion, name: &str, samples: usize, measure: Duration) -> Self {
        let mut g = c.benchmark_group(name);
        g.sample_size(samples)
            .warm_up_time(Duration::from_millis(800))
            .measurement_time(measure);
        Group {
            g,
            name: name.into(),
            samples,
            per_iter: 1,
        }
    }

    fn finish(self) {
        self.g.finish();
    }
}

impl Recorder {
    /// Runs one benchmark: `f` is one iteration (one case, or a batch of `per_iter` cases),
    /// timed on its own, and may return a value to keep per case. A failed case panics (a
    /// benchmark of failures would be meaningless).
    fn bench(
        &self,
        g: &mut Group<'_>,
        id: &str,
        what: &str,
        mut f: impl FnMut() -> Result<Option<u64>, String>,
    ) {
        let key = format!("{}/{id}", g.name);
        let before = hb::CpuMeter::now();
        g.g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut v = Vec::with_capacity(iters as usize);
                let mut aux = Vec::new();
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let r = f();
                    let d = t.elapsed();
                    match r {
                        Ok(a) => aux.extend(a),
                        Err(e) => panic!("{key}: {e}"),
                    }
                    total += d;
                    v.push(d.as_nanos() as u64);
                }
                self.calls
                    .borrow_mut()
                    .entry(key.clone())
                    .or_default()
                    .push(v);
                self.aux
                    .borrow_mut()
                    .entry(key.clone())
                    .or_default()
                    .push(aux);
                total
            })
        });
        self.rows.borrow_mut().push(Row {
            group: g.name.clone(),
            id: id.into(),
            what: what.into(),
            samples: g.samples,
            per_iter: g.per_iter,
            noise: hb::CpuMeter::now().since(&before),
        });
    }

    /// [`Recorder::bench`] for routines without a per-case value.
    fn bench0(
        &self,
        g: &mut Group<'_>,
        id: &str,
        what: &str,
        mut f: impl FnMut() -> Result<(), String>,
    ) {
        self.bench(g, id, what, || f().map(|()| None))
    }

    /// The per-iteration timings of the measurement phase, if it ran.
    fn measured(&self, r: &Row) -> Option<Vec<u64>> {
        last_calls(&self.calls.borrow(), r)
    }

    /// The per-case values of the measurement phase, if any.
    fn measured_aux(&self, r: &Row) -> Option<Vec<u64>> {
        last_calls(&self.aux.borrow(), r).filter(|v| !v.is_empty())
    }
}

fn last_calls(map: &BTreeMap<String, Vec<Vec<u64>>>, r: &Row) -> Option<Vec<u64>> {
    let c = map.get(&r.key())?;
    (c.len() >= r.samples).then(|| c[c.len() - r.samples..].concat())
}

fn floor(c: &mut Criterion, rec: &Recorder, noop: &Path) {
    let mut g = Group::new(c, "floor", 50, Duration::from_secs(3));
    let mut p = hb::Prog::new(noop, &[]).expect("no-op");
    rec.bench0(
        &mut g,
        "vfork-noop",
        "clone(CLONE_VM|CLONE_VFORK)+execveat+wait4 of the static no-op (hatchery_sys, the zygote's primitive)",
        || p.vfork_exec_wait(),
    );
    rec.bench0(
        &mut g,
        "posix_spawn-noop",
        "std Command::status of the static no-op: glibc posix_spawn (clone3(CLONE_VM|CLONE_VFORK)) + waitpid",
        || hb::std_spawn_wait(noop, &[]),
    );
    let dir = noop.parent().expect("dir").to_path_buf();
    let name = noop
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    rec.bench0(
        &mut g,
        "fork-noop",
        "std Command::status forced onto its fork path (PATH lookup): fork+execvp+waitpid of the static no-op",
        || hb::std_fork_exec_wait(&dir, &name),
    );
    let mut t = hb::Prog::new(Path::new("/bin/true"), &[]).expect("/bin/true");
    rec.bench0(
        &mut g,
        "vfork-bin_true",
        "vfork+execveat+wait4 of the dynamic glibc /bin/true",
        || t.vfork_exec_wait(),
    );
    let cpu = hb::last_allowed_cpu();
    let old = hb::pin_current_thread(cpu).expect("pin");
    rec.bench0(
        &mut g,
        "vfork-noop-pinned",
        &format!("vfork-noop with the caller (and so the child) pinned to CPU {cpu}"),
        || p.vfork_exec_wait(),
    );
    hb::restore_affinity(&old);
    g.finish();
}

fn unshare(c: &mut Criterion, rec: &Recorder, noop: &Path) {
    let Some(unshare) = hb::which("unshare") else {
        println!("unshare: skipped (no `unshare` in PATH; install util-linux)");
        return;
    };
    let mut g = Group::new(c, "unshare", 30, Duration::from_secs(3));
    let noop_s = noop.to_string_lossy().into_owned();
    let variants: [(&str, &[&str]); 5] = [
        ("tool-only", &["--fork"]),
        ("Upfi", &["-Upfi", "--fork"]),
        ("Upfim", &["-Upfim", "--fork"]),
        ("Upfin", &["-Upfin", "--fork"]),
        ("Upfimn", &["-Upfimn", "--fork"]),
    ];
    for (id, flags) in variants {
        let mut args: Vec<&str> = flags.to_vec();
        args.push(&noop_s);
        let mut p = hb::Prog::new(&unshare, &args).expect("unshare");
        if let Err(e) = p.vfork_exec_wait() {
            println!("unshare {id}: skipped ({e})");
            continue;
        }
        let what = format!(
            "vfork+exec+wait of `unshare {} NOOP` (dynamic glibc tool; forks, the child execs the no-op)",
            flags.join(" ")
        );
        rec.bench0(&mut g, id, &what, || p.vfork_exec_wait());
    }
    g.finish();
}

fn bwrap(c: &mut Criterion, rec: &Recorder, noop: &Path) {
    let Some(bwrap) = hb::which("bwrap") else {
        println!("bwrap: skipped (not installed: no `bwrap` in PATH)");
        return;
    };
    let mut g = Group::new(c, "bwrap", 30, Duration::from_secs(3));
    let noop_s = noop.to_string_lossy().into_owned();
    let base: &[&str] = &[
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
    ];
    for (id, extra) in [
        ("hardened-like", &[][..]),
        ("lockdown-like", &["--unshare-net"][..]),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        args.push("--");
        args.push(&noop_s);
        let mut p = hb::Prog::new(&bwrap, &args).expect("bwrap");
        if let Err(e) = p.vfork_exec_wait() {
            println!("bwrap {id}: skipped ({e})");
            continue;
        }
        let what = format!(
            "vfork+exec+wait of `bwrap {} NOOP`",
            args[..args.len() - 1].join(" ")
        );
        rec.bench0(&mut g, id, &what, || p.vfork_exec_wait());
    }
    g.finish();
}

fn hatchery(c: &mut Criterion, rec: &Recorder, noop: &Path, exe: &Path, cgroups: &mut Vec<String>) {
    let mut g = Group::new(c, "hatchery", 50, Duration::from_secs(3));
    let spec = hb::case_spec(noop);
    let cpu = hb::last_allowed_cpu();
    for tier in TIERS {
        let t = tier.as_str();
        let (mut sb, cg) = match hb::start_sandbox(tier, exe) {
            Ok(x) => x,
            Err(e) => {
                println!("hatchery {t}: skipped ({e})");
                continue;
            }
        };
        cgroups.push(format!("{t}: {cg}"));
        hb::run_case(&mut sb, &spec).expect("first case");
        let what = format!(
            "one warm {t} zygote (SandboxConfig::new defaults, cgroup required): prepare+run of the static no-op, seccomp default, end to end"
        );
        rec.bench(&mut g, t, &what, || hb::run_case(&mut sb, &spec).map(Some));
        if tier == Tier::Hardened {
            // Ablations on hardened: no seccomp at all; the default filter installed by each
            // case instead of once by the zygote; no cgroup.
            let mut no_filter = spec.clone();
            no_filter.seccomp = SeccompProfile::Off;
            let off_base = |c: &mut SandboxConfig| c.seccomp_base = SeccompProfile::Off;
            let no_cgroup = |c: &mut SandboxConfig| c.cgroup = CgroupMode::Off;
            let ablations: [Ablation; 3] = [
                ("hardened-seccomp_off", "hardened, zygote seccomp base `off` and case profile `off`: no filter at all", &off_base, &no_filter),
                ("hardened-filter_per_case", "hardened, zygote seccomp base `off`, case profile `default`: each case installs the default filter itself", &off_base, &spec),
                ("hardened-cgroup_off", "hardened, zygote started with cgroup `off` (rlimits only), seccomp default", &no_cgroup, &spec),
            ];
            for (id, what, adjust, case) in ablations {
                match hb::start_sandbox_with(tier, exe, adjust) {
                    Ok((mut other, _)) => {
                        hb::run_case(&mut other, case).expect("first case");
                        rec.bench(&mut g, id, what, || {
                            hb::run_case(&mut other, case).map(Some)
                        });
                    }
                    Err(e) => println!("hatchery {id}: skipped ({e})"),
                }
            }
            rec.bench0(
                &mut g,
                "prepare-only",
                "Sandbox::prepare alone (resolve, open and check the program, build the request) on the hardened zygote; not run",
                || hb::prepare_only(&sb, &spec),
            );
        }
        drop(sb);

        // The same with the supervisor thread, the zygote and its cases on one CPU (the
        // zygote inherits the mask of the thread that starts it).
        let old = hb::pin_current_thread(cpu).expect("pin");
        let id = format!("{t}-pinned");
        match hb::start_sandbox(tier, exe) {
            Ok((mut sb, _)) => {
                hb::run_case(&mut sb, &spec).expect("first case");
                let what =
                    format!("{t}, with supervisor thread, zygote and cases pinned to CPU {cpu}");
                rec.bench(&mut g, &id, &what, || {
                    hb::run_case(&mut sb, &spec).map(Some)
                });
            }
            Err(e) => println!("hatchery {id}: skipped ({e})"),
        }
        hb::restore_affinity(&old);
    }
    g.finish();

    let mut g = Group::new(c, "zygote_start", 10, Duration::from_secs(2));
    g.g.sampling_mode(SamplingMode::Flat);
    for tier in TIERS {
        let t = tier.as_str();
        if hb::start_sandbox(tier, exe).is_err() {
            continue;
        }
        let what = format!(
            "Sandbox::start of a {t} zygote (cgroup slot, namespaces, mounts, ready) and its drop"
        );
        rec.bench0(&mut g, t, &what, || hb::start_sandbox(tier, exe).map(drop));
    }
    g.finish();
}

fn throughput(c: &mut Criterion, rec: &Recorder, noop: &Path, exe: &Path) {
    let mut g = Group::new(c, "throughput", 10, Duration::from_secs(4));
    g.per_iter = BATCH;
    g.g.sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(BATCH as u64));
    for n in [1usize, 2] {
        let what = format!("{BATCH} vfork+exec+wait of the no-op shared by {n} thread(s)");
        rec.bench0(&mut g, &format!("bare-{n}"), &what, || {
            hb::bare_loop(noop, BATCH, n).map(drop)
        });
    }
    let units = hb::units(noop, BATCH);
    let bare = match hb::bare_pool(noop, 2) {
        Ok(p) => p,
        Err(e) => panic!("bare pool: {e}"),
    };
    for n in [1usize, 2] {
        let what = format!("{BATCH} units through hatchery_engine::run, {n} worker(s), executor = bare vfork+exec+wait (no sandbox)");
        rec.bench0(&mut g, &format!("sched-bare-{n}"), &what, || {
            hb::dispatch(&bare, &units, n).map(drop)
        });
    }
    for tier in TIERS {
        let t = tier.as_str();
        let tier_units = hb::on_tier(&units, tier);
        for pinned in [true, false] {
            let (suffix, how) = if pinned {
                ("", "each worker and its zygote pinned to a CPU of its own (the `hatchery batch` default)")
            } else {
                (
                    "-unpinned",
                    "workers and zygotes not pinned (`hatchery batch --no-pin`)",
                )
            };
            for n in [1usize, 2] {
                // The pool as `hatchery batch -jN` makes it (pinning depends on N).
                let pool = match hb::sandbox_pool(tier, exe, n, pinned) {
                    Ok(p) => p,
                    Err(e) => {
                        println!("throughput {t}: skipped ({e})");
                        continue;
                    }
                };
                let what = format!("{BATCH} units through hatchery_engine::run (SandboxExecutor), {n} warm {t} zygote(s), seccomp default, cgroup on; {how}");
                rec.bench0(&mut g, &format!("{t}-{n}{suffix}"), &what, || {
                    hb::dispatch(&pool, &tier_units, n).map(drop)
                });
            }
        }
    }
    g.finish();
}

/// criterion's median estimate (ns per iteration) from its output directory.
fn criterion_median(target: &Path, group: &str, id: &str) -> Option<f64> {
    let base = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("criterion"));
    let text =
        std::fs::read_to_string(base.join(group).join(id).join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// The commit of the workspace and which files of `runner/` differ from it (the zygote
/// binary is built from the working tree).
fn git_state() -> String {
    // The workspace this bench crate belongs to (the target directory may be elsewhere).
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(ws)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_owned())
    };
    let head = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain", "--", "runner"]).unwrap_or_default();
    if dirty.is_empty() {
        format!("commit {head}, runner/ clean")
    } else {
        let files: Vec<&str> = dirty.lines().map(|l| l.get(3..).unwrap_or(l)).collect();
        format!(
            "commit {head} + uncommitted changes in {}",
            files.join(", ")
        )
    }
}

fn us(ns: f64) -> String {
    format!("{:.1}", ns / 1000.0)
}

fn summary(rec: &Recorder, cgroups: &[String], noop: &Path, exe: &Path, load_at_start: &str) {
    let target = hb::target_dir().unwrap_or_else(|| PathBuf::from("target"));
    let mut md = String::new();
    let mut json = Vec::new();
    md.push_str("## Host\n\n");
    for (k, v) in hb::host_summary() {
        md.push_str(&format!("- {k}: {v}\n"));
    }
    md.push_str(&format!("- load average at start: {load_at_start}\n"));
    md.push_str(&format!("- source: {}\n", git_state()));
    md.push_str(&format!(
        "- hatchery zygote cgroup: {}\n",
        cgroups.join("; ")
    ));
    md.push_str(&format!(
        "- no-op: {} ; zygote exe: {}\n",
        noop.display(),
        exe.display()
    ));
    md.push_str("\n## Per case (µs; median and p99 of every timed case in criterion's measurement samples)\n\n");
    md.push_str("| group | variant | cases | median | p99 | mean | criterion median | case wall in zygote, median | others' CPU, % of one CPU | what |\n|---|---|---|---|---|---|---|---|---|---|\n");
    let mut medians: BTreeMap<String, f64> = BTreeMap::new();
    let mut tput = String::from("| variant | iterations | cases/s median | cases/s min | cases/s max | criterion median time/iter (ms) | others' CPU, % of one CPU | what |\n|---|---|---|---|---|---|---|---|\n");
    for e in rec.rows.borrow().iter() {
        let others = 100.0 * e.noise.foreign_s() / e.noise.wall_s.max(1e-9);
        let Some(mut v) = rec.measured(e) else {
            continue;
        };
        let Some(s) = hb::stats(&mut v) else { continue };
        let crit = criterion_median(&target, &e.group, &e.id);
        if e.per_iter == 1 {
            medians.insert(format!("{}/{}", e.group, e.id), s.median);
            let wall = rec
                .measured_aux(e)
                .and_then(|mut a| hb::stats(&mut a))
                .map(|a| a.median);
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {others:.0} | {} |\n",
                e.group,
                e.id,
                s.n,
                us(s.median),
                us(s.p99),
                us(s.mean),
                crit.map_or("-".into(), us),
                wall.map_or("-".into(), |w| format!("{w:.0}")),
                e.what
            ));
            if let Some(w) = wall {
                json.push(serde_json::json!({
                    "group": e.group, "id": format!("{}/zygote-wall", e.id),
                    "what": "usage.wall_us reported by the zygote (clone of the case to its exit)",
                    "median_us": w,
                }));
            }
        } else {
            let rate = |ns: f64| e.per_iter as f64 / (ns / 1e9);
            tput.push_str(&format!(
                "| {} | {} | {:.0} | {:.0} | {:.0} | {} | {others:.0} | {} |\n",
                e.id,
                s.n,
                rate(s.median),
                rate(s.max),
                rate(s.min),
                crit.map_or("-".into(), |c| format!("{:.1}", c / 1e6)),
                e.what
            ));
        }
        json.push(serde_json::json!({
            "group": e.group, "id": e.id, "what": e.what, "cases_per_iter": e.per_iter,
            "n": s.n, "min_ns": s.min, "median_ns": s.median, "mean_ns": s.mean,
            "p99_ns": s.p99, "max_ns": s.max, "criterion_median_ns": crit,
            "wall_s": e.noise.wall_s, "host_busy_cpu_s": e.noise.busy_s,
            "own_cpu_s": e.noise.own_s, "others_cpu_s": e.noise.foreign_s(),
            "steal_s": e.noise.steal_s,
        }));
    }
    md.push_str("\n## Overhead over the floor (per-case medians)\n\n| tier | floor | hatchery median | overhead µs | ratio |\n|---|---|---|---|---|\n");
    for t in TIERS {
        for (suffix, floor) in [
            ("", "floor/vfork-noop"),
            ("-pinned", "floor/vfork-noop-pinned"),
        ] {
            let (Some(h), Some(f)) = (
                medians.get(&format!("hatchery/{}{suffix}", t.as_str())),
                medians.get(floor),
            ) else {
                continue;
            };
            md.push_str(&format!(
                "| {}{suffix} | {floor} {} | {} | {} | {:.2}× |\n",
                t.as_str(),
                us(*f),
                us(*h),
                us(h - f),
                h / f
            ));
        }
    }
    md.push_str("\n## Against a fresh sandbox per case (per-case medians)\n\n| hatchery | per-case tool | tool median | hatchery median | tool / hatchery |\n|---|---|---|---|---|\n");
    for (tier, tools) in [
        ("hardened", ["unshare/Upfi", "bwrap/hardened-like"]),
        ("lockdown", ["unshare/Upfimn", "bwrap/lockdown-like"]),
    ] {
        for suffix in ["", "-pinned"] {
            for tool in tools {
                let (Some(h), Some(u)) = (
                    medians.get(&format!("hatchery/{tier}{suffix}")),
                    medians.get(tool),
                ) else {
                    continue;
                };
                md.push_str(&format!(
                    "| {tier}{suffix} | {tool} | {} | {} | {:.1}× |\n",
                    us(*u),
                    us(*h),
                    u / h
                ));
            }
        }
    }
    md.push_str(&format!(
        "\n## Throughput ({BATCH} cases per iteration)\n\n"
    ));
    md.push_str(&tput);
    md.push_str("\nothers' CPU: host busy time (/proc/stat) minus this benchmark's own (its process, reaped children, and the processes of its memory cgroup: zygotes and cases) while criterion ran the row, in % of one CPU.\n");
    println!("\n{md}");
    if medians.is_empty() {
        println!("nothing measured (filtered out?): summary not written");
        return;
    }
    let dir = target.join("bench-spawn");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("summary.md"), &md);
        let _ = std::fs::write(
            dir.join("summary.json"),
            serde_json::to_string_pretty(&json).unwrap_or_default(),
        );
        println!("summary written to {}", dir.display());
    }
}

fn main() {
    let noop = hb::noop().unwrap_or_else(|e| panic!("{e}"));
    let exe = hb::hatchery_bin().unwrap_or_else(|e| panic!("{e}"));
    println!(
        "no-op: {}\nzygote executable: {}",
        noop.display(),
        exe.display()
    );
    let load_at_start = hb::loadavg();
    let rec = Recorder::default();
    let mut cgroups = Vec::new();
    let mut c = Criterion::default().configure_from_args();
    floor(&mut c, &rec, &noop);
    unshare(&mut c, &rec, &noop);
    bwrap(&mut c, &rec, &noop);
    hatchery(&mut c, &rec, &noop, &exe, &mut cgroups);
    throughput(&mut c, &rec, &noop, &exe);
    c.final_summary();
    // `cargo bench` passes --bench; under `--test` or `--list` there is nothing to summarise.
    if std::env::args().any(|a| a == "--bench") {
        summary(&rec, &cgroups, &noop, &exe, &load_at_start);
    }
}
