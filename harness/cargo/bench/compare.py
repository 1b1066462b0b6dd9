#!/usr/bin/env python3
"""Wall time of `cargo test`, `cargo nextest run` and `cargo hatchery test` on crates' own
test suites, in one run on one machine (runs interleaved; medians reported).

usage: compare.py [--runs N] [--jobs J] CRATE_DIR...

Each CRATE_DIR is a crate source with its own Cargo.toml (standalone: `[workspace]` added).
The tests are built once first (`cargo test --tests --no-run`); the timed commands then only
check freshness, list and run. `cargo-hatchery` must be on PATH (so that `cargo hatchery`
works). All three run the same targets (`--tests`: lib, bins and integration tests; no
doctests, which nextest and hatchery do not run) with `--no-fail-fast`.
"""
import argparse, os, re, statistics, subprocess, sys, time

def counts_cargo(out):
    p = f = i = 0
    for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", out):
        p += int(m[1]); f += int(m[2]); i += int(m[3])
    return p, f

def counts_summary(out):
    m = re.search(r"Summary \[.*?\] (\d+) tests? run: (\d+) passed(?: \([^)]*\))?(?:, (\d+) failed)?", out)
    if not m:
        return None
    return int(m[2]), int(m[3] or 0)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("crates", nargs="+")
    a = ap.parse_args()
    j = str(a.jobs)
    tools = {
        "cargo test": (["cargo", "test", "--tests", "--no-fail-fast"], counts_cargo),
        "cargo nextest run": (["cargo", "nextest", "run", "--tests", "--no-fail-fast", "-j", j,
                               "--color", "never"], counts_summary),
        "cargo hatchery test": (["cargo", "hatchery", "test", "--tests", "--no-fail-fast", "-j", j,
                                 "--color", "never", "--status-level", "fail"], counts_summary),
    }
    env = dict(os.environ, RUST_BACKTRACE="0")
    rows = []
    for crate in a.crates:
        name = os.path.basename(os.path.normpath(crate))
        subprocess.run(["cargo", "test", "--tests", "--no-run", "-q"], cwd=crate, env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times = {t: [] for t in tools}
        results = {}
        for _ in range(a.runs):
            for t, (cmd, count) in tools.items():
                s = time.monotonic()
                p = subprocess.run(cmd, cwd=crate, env=env, capture_output=True, text=True)
                times[t].append(time.monotonic() - s)
                c = count(p.stdout + p.stderr)
                if c is None:
                    sys.exit(f"{name}: cannot read the counts of {t}:\n{p.stdout}\n{p.stderr}")
                if results.setdefault(t, c) != c:
                    print(f"warning: {name}: {t} counts changed: {results[t]} then {c}", file=sys.stderr)
        med = {t: statistics.median(v) for t, v in times.items()}
        rows.append((name, results, med, times))
        print(f"{name}: " + "; ".join(
            f"{t} {med[t]:.2f}s {results[t][0]}/{results[t][1]} (runs: {' '.join(f'{x:.2f}' for x in times[t])})"
            for t in tools), file=sys.stderr, flush=True)
    print("| crate | passed/failed (cargo test · nextest · hatchery) | cargo test | cargo nextest run -j%s | cargo hatchery test -j%s | hatchery / cargo test | hatchery / nextest |" % (j, j))
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, results, med, _ in rows:
        pf = " · ".join(f"{results[t][0]}/{results[t][1]}" for t in tools)
        ct, nx, hy = med["cargo test"], med["cargo nextest run"], med["cargo hatchery test"]
        print(f"| {name} | {pf} | {ct:.2f} s | {nx:.2f} s | {hy:.2f} s | {hy/ct:.2f}× | {hy/nx:.2f}× |")

if __name__ == "__main__":
    main()
