#!/bin/sh
# Verdict agreement and timing: problemtools' `verifyproblem` next to
# `hatchery judge --verify-submissions -j2`, on trusted packages only (verifyproblem runs
# submissions unsandboxed): problemtools' own examples and the problem package format
# specification's example problems.
#
# Usage: reports/bench/judge-verifyproblem.sh [OUT.md]
#   HATCHERY     the hatchery binary (default: $CARGO_TARGET_DIR/release/hatchery, else
#                target/release/hatchery; built with `cargo build --release -p hatchery`)
#   VERIFYPROBLEM  verifyproblem (default: from PATH; PyPI problemtools)
#   PT_EXAMPLES  problemtools' examples/ (default /work/pkgs/examples, else the mirror below)
#   PT_GIT       git directory of Kattis/problemtools (default /work/.mirror/Kattis+problemtools/repo)
#   PPF_GIT      git directory of Kattis/problem-package-format
#                (default /work/.mirror/Kattis+problem-package-format/repo)
#   SCRATCH      where packages are copied and logs go (default ./judge-vp-scratch; must not
#                be under /tmp: the judge refuses work directories there); removed at the end
#                unless KEEP=1.
#
# For each package, verifyproblem runs first, then hatchery (interleaved, one package after
# the other); each prints per-submission verdicts that are parsed into one table: expected
# (from the submission's directory), verifyproblem's, hatchery's. The output (stdout, and
# OUT.md when given) is Markdown.
set -eu

repo=$(cd "$(dirname "$0")/../.." && pwd)
HATCHERY=${HATCHERY:-}
if [ -z "$HATCHERY" ]; then
    for c in "${CARGO_TARGET_DIR:-$repo/target}/release/hatchery" "$repo/target/release/hatchery"; do
        if [ -x "$c" ]; then HATCHERY=$c; break; fi
    done
fi
[ -n "$HATCHERY" ] && [ -x "$HATCHERY" ] || {
    echo "no hatchery binary: cargo build --release -p hatchery, or set HATCHERY" >&2
    exit 2
}
VERIFYPROBLEM=${VERIFYPROBLEM:-$(command -v verifyproblem || true)}
[ -n "$VERIFYPROBLEM" ] || { echo "verifyproblem not found (pip install problemtools)" >&2; exit 2; }
PT_GIT=${PT_GIT:-/work/.mirror/Kattis+problemtools/repo}
PPF_GIT=${PPF_GIT:-/work/.mirror/Kattis+problem-package-format/repo}
PT_EXAMPLES=${PT_EXAMPLES:-/work/pkgs/examples}
SCRATCH=${SCRATCH:-$PWD/judge-vp-scratch}
case "$SCRATCH" in /tmp/*) echo "SCRATCH must not be under /tmp" >&2; exit 2;; esac
out_md=${1:-}

rm -rf "$SCRATCH"
mkdir -p "$SCRATCH/pkgs" "$SCRATCH/logs"
trap '[ "${KEEP:-0}" = 1 ] || rm -rf "$SCRATCH"' EXIT

# problemtools' examples (different, guess, hello, oddecho).
if [ -d "$PT_EXAMPLES/different" ]; then
    for p in different guess hello oddecho; do cp -r "$PT_EXAMPLES/$p" "$SCRATCH/pkgs/$p"; done
else
    git --git-dir="$PT_GIT" archive HEAD examples | tar -x -C "$SCRATCH"
    for p in different guess hello oddecho; do mv "$SCRATCH/examples/$p" "$SCRATCH/pkgs/$p"; done
fi
# The specification's example problems that have test data (their short names do not
# collide with problemtools'; a name must be [a-z0-9]+ for verifyproblem).
git --git-dir="$PPF_GIT" archive HEAD examples/problems | tar -x -C "$SCRATCH"
for p in passfail scoring maximal; do
    mv "$SCRATCH/examples/problems/$p" "$SCRATCH/pkgs/$p"
done
rm -rf "$SCRATCH/examples"

hv=$("$HATCHERY" --version 2>/dev/null || echo hatchery)
vv=$(pip show problemtools 2>/dev/null | sed -n 's/^Version: //p')
for p in "$SCRATCH"/pkgs/*; do
    name=$(basename "$p")
    s=$(date +%s.%N)
    # All parts but the statement (LaTeX), two threads as hatchery's -j2.
    "$VERIFYPROBLEM" "$p" -j 2 -l info -p config data graders validators submissions \
        >"$SCRATCH/logs/$name.vp" 2>&1 || true
    e=$(date +%s.%N)
    echo "$s $e" >"$SCRATCH/logs/$name.vp.time"
    s=$(date +%s.%N)
    (cd "$SCRATCH" && "$HATCHERY" judge "$p" --verify-submissions -j2 --json) \
        >"$SCRATCH/logs/$name.hj" 2>"$SCRATCH/logs/$name.hj.err" || true
    e=$(date +%s.%N)
    echo "$s $e" >"$SCRATCH/logs/$name.hj.time"
done

python3 - "$SCRATCH" "$hv" "$vv" "$out_md" <<'PY'
import json, os, re, sys

scratch, hv, vv, out_md = sys.argv[1:5]
pk = os.path.join(scratch, "pkgs")
logs = os.path.join(scratch, "logs")
DIRS = {
    "accepted": "AC", "wrong_answer": "WA", "time_limit_exceeded": "TLE",
    "run_time_error": "RTE", "partially_accepted": "PAC", "rejected": "rejected",
    "brute_force": "brute_force", "compile_error": "CE",
}
# verifyproblem: "   accepted/x.c (C) OK: AC [...]", "... OK with extra time: AC",
# "ERROR in ...: accepted/x.c (C) got WA [...]" / "... got RTE", "Compile error for ... x".
ok_re = re.compile(r"(?:^|\s)(?:(?:AC|WA|TLE|RTE|PAC|JE) submission )?(\S+/\S+?)(?: \([^)]*\))? OK(?: with extra time)?: (\w+)")
got_re = re.compile(r"(?:(?:AC|WA|TLE|RTE|PAC|JE) submission )?(\S+/\S+?)(?: \([^)]*\))? got (\w+)")
ce_re = re.compile(r"Compile error for (?:\w+ submission )?(\S+/\S+)(?: \(([^)]*)\))?")
def t(f):
    s, e = open(f).read().split()
    return float(e) - float(s)

rows, tot = [], {"n": 0, "vp_exp": 0, "hj_exp": 0, "agree": 0, "both": 0}
times = []
ORIGIN = {"different": "problemtools", "guess": "problemtools", "hello": "problemtools",
          "oddecho": "problemtools", "passfail": "spec", "scoring": "spec", "maximal": "spec"}
for name in sorted(os.listdir(pk), key=lambda n: (ORIGIN.get(n, ""), n)):
    vp, vp_unsupported = {}, ""
    for line in open(os.path.join(logs, name + ".vp"), errors="replace"):
        if "Failed to load problem" in line:
            vp_unsupported = line.split("Failed to load problem:", 1)[1].strip()
        if " sensitive to time limit" in line or "did not attain full score" in line or " on sample:" in line:
            continue
        m = ce_re.search(line)
        if m:
            reason = "CE"
            if "could not find compiler" in line or "Unable to proceed" in line:
                reason = "no compiler"
            vp[m.group(1)] = reason
            continue
        m = ok_re.search(line) or got_re.search(line)
        if m and m.group(1).split("/")[0] in DIRS:
            vp.setdefault(m.group(1), m.group(2))
    hj, hjskip, err = {}, {}, ""
    try:
        j = json.load(open(os.path.join(logs, name + ".hj")))
        for s in j.get("submissions", []):
            p = s["path"].removeprefix("submissions/")
            hj[p] = s["verdict"] + ("" if s["matched"] else " (unexpected)")
        for s in j.get("skipped", []):
            hjskip[s["path"].removeprefix("submissions/").rstrip("/")] = s["reason"]
        if "error" in j:
            err = j["error"]
    except (ValueError, OSError) as e:
        err = "no JSON: " + open(os.path.join(logs, name + ".hj.err")).read().strip()[:200]
    subs = sorted(set(vp) | set(hj) | set(hjskip))
    for s in subs:
        exp = DIRS.get(s.split("/")[0], "?")
        v = vp.get(s, "refused" if vp_unsupported else "-")
        h = hj.get(s, "skipped: " + hjskip[s].rsplit(": ", 1)[-1][:60] if s in hjskip else "-")
        hv_ = h.split()[0] if h and h[0].isupper() else None
        tot["n"] += 1
        def meets(x):
            if x is None: return False
            if exp == "PAC": return x in ("AC", "PAC")
            if exp == "rejected": return x != "AC"
            if exp == "brute_force": return x in ("TLE", "RTE")
            return x == exp
        vp_ok = v not in ("-", "no compiler", "refused") and meets(v)
        hj_ok = hv_ is not None and "unexpected" not in h
        tot["vp_exp"] += vp_ok
        tot["hj_exp"] += hj_ok
        if v not in ("-", "no compiler", "refused") and hv_ is not None:
            tot["both"] += 1
            tot["agree"] += (v == hv_) or (vp_ok and hj_ok)
        rows.append((f"{ORIGIN.get(name, '?')}/{name}", s, exp, v, h))
    times.append((name, t(os.path.join(logs, name + ".vp.time")), t(os.path.join(logs, name + ".hj.time")), err, vp_unsupported))

out = []
out.append(f"# verifyproblem ({vv or 'problemtools'}) vs {hv} judge --verify-submissions -j2\n")
out.append("Expected: from the submission's directory (PAC: partially accepted, AC also allowed "
           "by the check; brute_force: TLE or RTE). `-`: the tool did not report it; "
           "`no compiler`: verifyproblem found no compiler for the language here; `refused`: "
           "verifyproblem refused the package (see the timing table). hatchery "
           "verdicts marked `(unexpected)` did not match the package's expectations "
           "(directory, annotations or submissions.yaml).\n")
out.append("| package | submission | expected | verifyproblem | hatchery |")
out.append("|---|---|---|---|---|")
for r in rows:
    out.append("| " + " | ".join(x.replace("|", "\\|") for x in r) + " |")
out.append("")
out.append(f"Submissions: {tot['n']}; as expected: verifyproblem {tot['vp_exp']}, hatchery "
           f"{tot['hj_exp']}; judged by both: {tot['both']}, of which the two agree (same "
           f"verdict, or both as expected) on {tot['agree']}.\n")
out.append("Wall time per package (each tool's whole run: build, input validation, judging, "
           "time-limit derivation; both with 2 threads):\n")
out.append("| package | verifyproblem s | hatchery s | note |")
out.append("|---|---|---|---|")
for n, a, b, e, u in times:
    note = (f"verifyproblem: {u}" if u else "") + (f" hatchery: {e[:80]}" if e else "")
    out.append(f"| {n} | {a:.2f} | {b:.2f} | {note.strip()} |")
both = [x for x in times if not x[4] and not x[3]]
out.append(f"| total, packages both judged ({len(both)}) | {sum(x[1] for x in both):.2f} | "
           f"{sum(x[2] for x in both):.2f} | |")
text = "\n".join(out) + "\n"
sys.stdout.write(text)
if out_md:
    open(out_md, "w").write(text)
PY
