#!/usr/bin/env python3
"""Wall time of `cargo test`, `cargo nextest run` and `cargo hatchery test` on crates' own
test suites, in one run on one machine (runs interleaved; medians reported).

usage: compare.py [--runs N] [--jobs J] [--doc] CRATE_DIR...

Each CRATE_DIR is a crate source with its own Cargo.toml (standalone: `[workspace]` added).
The tests are built once first (`cargo test --tests --no-run`); the timed commands then only
check freshness, list and run. `cargo-hatchery` must be on PATH (so that `cargo hatchery`
works). All three run the same targets with `--no-fail-fast`: by default `--tests` (lib,
bins and integration tests; no doctests). With `--doc`, everything `cargo test` runs,
doctests included: `cargo test`, `cargo nextest run` followed by `cargo test --doc` (nextest
runs no doctests; this pair is what its documentation recommends), and `cargo hatchery test`
(doctests included, each its own case). Doctests are compiled by every timed run, as with
`cargo test`.
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

def leaky(out):
    """Leaky tests counted in a nextest-style summary line (`N passed (K leaky)`)."""
    m = re.search(r"Summary \[.*?\] \d+ tests? run: \d+ passed \(([^)]*)\)", out)
    if not m:
        return 0
    k = re.search(r"(\d+) leaky", m[1])
    return int(k[1]) if k else 0

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--doc", action="store_true")
    ap.add_argument("crates", nargs="+")
    a = ap.parse_args()
    j = str(a.jobs)
    sel = [] if a.doc else ["--tests"]
    nextest = ["cargo", "nextest", "run", "--no-fail-fast", "-j", j, "--color", "never"]
    tools = {
        "cargo test": ([["cargo", "test", *sel, "--no-fail-fast"]], [counts_cargo]),
        "cargo nextest run": ([nextest + sel], [counts_summary]),
        "cargo hatchery test": ([["cargo", "hatchery", "test", *sel, "--no-fail-fast", "-j", j,
                                  "--color", "never", "--status-level", "fail"]], [counts_summary]),
    }
    if a.doc:
        tools["cargo nextest run"] = (
            [nextest, ["cargo", "test", "--doc", "--no-fail-fast"]],
            [counts_summary, counts_cargo])
    env = dict(os.environ, RUST_BACKTRACE="0")
    rows = []
    for crate in a.crates:
        name = os.path.basename(os.path.normpath(crate))
        subprocess.run(["cargo", "test", *sel, "--no-run", "-q"], cwd=crate, env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times = {t: [] for t in tools}
        results = {}
        leaks = {t: 0 for t in tools}
        for _ in range(a.runs):
            for t, (cmds, counters) in tools.items():
                s = time.monotonic()
                outs = [subprocess.run(cmd, cwd=crate, env=env, capture_output=True, text=True)
                        for cmd in cmds]
                times[t].append(time.monotonic() - s)
                c = (0, 0)
                for p, count in zip(outs, counters):
                    ci = count(p.stdout + p.stderr)
                    leaks[t] = max(leaks[t], leaky(p.stdout + p.stderr))
                    if ci is None:
                        sys.exit(f"{name}: cannot read the counts of {t}:\n{p.stdout}\n{p.stderr}")
                    c = (c[0] + ci[0], c[1] + ci[1])
                if results.setdefault(t, c) != c:
                    print(f"warning: {name}: {t} counts changed: {results[t]} then {c}", file=sys.stderr)
        med = {t: statistics.median(v) for t, v in times.items()}
        rows.append((name, results, med, times, leaks))
        print(f"{name}: " + "; ".join(
            f"{t} {med[t]:.2f}s {results[t][0]}/{results[t][1]} (runs: {' '.join(f'{x:.2f}' for x in times[t])})"
            for t in tools), file=sys.stderr, flush=True)
    nx_name = "cargo nextest run -j%s%s" % (j, " + cargo test --doc" if a.doc else "")
    print("| crate | passed/failed (cargo test · nextest · hatchery) | leaky (nextest · hatchery) | cargo test | %s | cargo hatchery test -j%s | hatchery / cargo test | hatchery / nextest |" % (nx_name, j))
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for name, results, med, _, leaks in rows:
        pf = " · ".join(f"{results[t][0]}/{results[t][1]}" for t in tools)
        ct, nx, hy = med["cargo test"], med["cargo nextest run"], med["cargo hatchery test"]
        lk = f"{leaks['cargo nextest run']} · {leaks['cargo hatchery test']}"
        print(f"| {name} | {pf} | {lk} | {ct:.2f} s | {nx:.2f} s | {hy:.2f} s | {hy/ct:.2f}× | {hy/nx:.2f}× |")

if __name__ == "__main__":
    main()
