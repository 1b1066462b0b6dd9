#!/usr/bin/env bash
# AFL++ inside hatchery vs bare afl-fuzz (issue 14: >= 0.8x bare execs/s, forkserver and
# persistent), measured in one run on this machine, rounds interleaved (bare forkserver,
# hatchery forkserver, bare persistent, hatchery persistent, ...), printed as a table.
#   - The targets are built here by afl-cc: the same small parser (a header, a length, a
#     checksum over the body, a few branches per byte) in forkserver mode (input on stdin) and
#     in persistent mode (__AFL_LOOP(10000), test cases in shared memory). Neither crashes,
#     so no triage or minimization runs inside the measured campaigns.
#   - Both sides run `afl-fuzz -i seeds -V SECONDS -m none -d` with AFL_NO_UI and
#     AFL_SKIP_CPUFREQ, one fuzzer (`-M main` inside hatchery, `-S default` bare; `-d` skips
#     the deterministic stages a main would run, so the mutation mix is the same). Bare
#     afl-fuzz starts in a session of its own (setsid), as hatchery's cases do (autogroup
#     scheduling gives a new session its own CPU share), and binds itself to a free CPU;
#     hatchery binds its worker to the CPU it started on.
#   - execs/s (wall): AFL++'s execs_done at the end over the wall time of the whole command
#     (start-up, sandbox and calibration included); execs/s (AFL++): AFL++'s own
#     execs_per_sec from fuzzer_stats (its execs over its own run time).
#
# Usage: reports/bench/fuzz-afl.sh [SECONDS_PER_CAMPAIGN] [ROUNDS]   (default 10 3)
# Needs afl++ (afl-cc, afl-fuzz), python3, a cgroup (hatchery fuzz needs one).
# HATCHERY=path uses that binary instead of building `cargo build --release -p hatchery`
# (inside hatchery the hot path is afl-fuzz and the target; hatchery itself only polls).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
rounds=${2:-3}
if [ -z "${HATCHERY:-}" ]; then
    (cd "$root" && cargo build --release -q -p hatchery)
    HATCHERY=${CARGO_TARGET_DIR:-$root/target}/release/hatchery
fi
command -v afl-fuzz >/dev/null && command -v afl-cc >/dev/null || {
    echo "afl++ is needed (apt-get install afl++)" >&2
    exit 2
}
work=$(mktemp -d /tmp/fuzz-afl.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
cat >"$work/parse.h" <<'C'
#include <stddef.h>
/* A record: "REC" magic, a length byte, a body whose bytes are summed with a few branches,
 * a checksum byte at the end. Returns a small status; never crashes. */
static int parse(const unsigned char *b, size_t n) {
    if (n < 5 || b[0] != 'R' || b[1] != 'E' || b[2] != 'C')
        return 1;
    size_t len = b[3];
    if (len + 5 > n)
        return 2;
    unsigned sum = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = b[4 + i];
        if (c >= '0' && c <= '9')
            sum += c - '0';
        else if (c >= 'a' && c <= 'z')
            sum ^= c;
        else if (c == '\n')
            sum = sum * 31;
        else
            sum += 7;
    }
    return (sum & 0xff) == b[4 + len] ? 0 : 3;
}
C
cat >"$work/forkserver.c" <<'C'
#include <unistd.h>
#include "parse.h"
int main(void) {
    unsigned char buf[4096];
    ssize_t n = read(0, buf, sizeof buf);
    return n < 0 ? 1 : parse(buf, (size_t)n) > 3;
}
C
cat >"$work/persistent.c" <<'C'
#include <unistd.h>
#include "parse.h"
__AFL_FUZZ_INIT();
int main(void) {
    __AFL_INIT();
    unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
    int bad = 0;
    while (__AFL_LOOP(10000))
        bad += parse(buf, __AFL_FUZZ_TESTCASE_LEN) > 3;
    return bad;
}
C
for t in forkserver persistent; do
    AFL_QUIET=1 afl-cc -O1 -I"$work" -o "$work/$t" "$work/$t.c"
done
mkdir "$work/seeds"
printf 'REC\x03ab1\x00' >"$work/seeds/rec"
echo "host: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r); $(afl-fuzz -h 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g'); hatchery $HATCHERY"
echo "campaigns of ${secs}s, $rounds rounds"
exec python3 - "$HATCHERY" "$work" "$secs" "$rounds" <<'EOF'
import json, os, statistics, subprocess, sys, time

hatchery, work, secs, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
env = dict(os.environ, AFL_NO_UI="1", AFL_SKIP_CPUFREQ="1")
n = 0

def fresh(name):
    global n
    n += 1
    d = f"{work}/{name}-{n}"
    os.makedirs(d)
    return d

def stats(path):
    out = {}
    for line in open(path):
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out

def bare(target):
    out = fresh("bare")
    t0 = time.monotonic()
    subprocess.run(["afl-fuzz", "-i", f"{work}/seeds", "-o", out, "-V", str(secs), "-m", "none",
                    "-d", "--", f"{work}/{target}"], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True, start_new_session=True)
    wall = time.monotonic() - t0
    st = stats(f"{out}/default/fuzzer_stats")
    return int(st["execs_done"]) / wall, float(st["execs_per_sec"])

def inside(target):
    base = fresh("h")
    report = f"{base}/r.jsonl"
    # hatchery copies the queue back into --corpus: a copy, so that every run starts alike.
    os.makedirs(f"{base}/corpus")
    for f in os.listdir(f"{work}/seeds"):
        with open(f"{work}/seeds/{f}", "rb") as src, open(f"{base}/corpus/{f}", "wb") as dst:
            dst.write(src.read())
    t0 = time.monotonic()
    subprocess.run([hatchery, "fuzz", "run", "--afl", "--binary", f"{work}/{target}",
                    "--max-total-time", f"{secs}s", "--corpus", f"{base}/corpus",
                    "--artifacts", f"{base}/artifacts", "--no-minimize", "--report", report,
                    "--", "-d"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    wall = time.monotonic() - t0
    execs, afl_rate = 0, 0.0
    for line in open(report):
        e = json.loads(line)
        if e["type"] == "fuzz_finished":
            execs = e["data"]["execs"]
        elif e["type"] == "fuzz_stats":
            afl_rate = e["data"]["execs_per_s"]
    return execs / wall, afl_rate

rows = {}
for r in range(rounds):
    for target in ["forkserver", "persistent"]:
        for side, f in [("bare", bare), ("hatchery", inside)]:
            rows.setdefault((target, side), []).append(f(target))
    print(f"round {r + 1}: " + "  ".join(f"{t} {s} {v[-1][0]:,.0f}/s" for (t, s), v in rows.items()),
          file=sys.stderr, flush=True)

med = statistics.median
print()
print(f"{'AFL++ ' + str(secs) + 's campaign':<24} {'execs/s (wall)':>15} {'execs/s (AFL++)':>16}   rounds (wall)")
for (t, s), v in rows.items():
    print(f"{t + ' ' + s:<24} {med(x[0] for x in v):>15,.0f} {med(x[1] for x in v):>16,.0f}   "
          + " ".join(f"{x[0]:,.0f}" for x in v))
for t in ["forkserver", "persistent"]:
    b, h = rows[(t, "bare")], rows[(t, "hatchery")]
    print(f"ratio hatchery / bare, {t:<11} {med(x[0] for x in h) / med(x[0] for x in b):.2f} (wall)  "
          f"{med(x[1] for x in h) / med(x[1] for x in b):.2f} (AFL++'s own)   target >= 0.8")
EOF
