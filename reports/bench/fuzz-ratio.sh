#!/usr/bin/env bash
# Fuzz campaign ratios of issue 14, measured in one run on this machine, rounds interleaved
# (bare, then hatchery, then bare, ...), printed as a table:
#   1. libFuzzer campaign -j1 inside hatchery vs the same binary bare (execs/s over the wall
#      time of the whole command, and execs per CPU-second, which load on the host disturbs
#      less);
#   2. hatchery -j2 vs hatchery -j1 (and two bare processes side by side, for the machine's
#      own scaling);
#   3. `hatchery fuzz replay` of 1000 inputs (-j1 and -j2) vs the plain binary run once per
#      input, bare, and vs one bare process over all of them (libFuzzer's `-runs=1 A B ...`);
#   4. time to the first finding on a shallow bug (corpora/fuzz/targets/overflow.c, empty
#      corpus): bare libFuzzer until it stops vs hatchery until it prints the triaged finding.
# Bare processes start in a session of their own (setsid), as hatchery's cases do: with the
# kernel's autogroup scheduling (sched_autogroup_enabled=1) a new session gets its own CPU
# share, and a bare process left in the script's session would be starved on a loaded host
# (seen: bare 96k execs/s over the wall vs 1.3M per CPU-second).
#
# Usage: reports/bench/fuzz-ratio.sh [SECONDS_PER_CAMPAIGN] [ROUNDS]   (default 10 3)
# Needs clang (-fsanitize=fuzzer,address), python3, a cgroup (hatchery fuzz needs one).
# HATCHERY=path uses that binary instead of building `cargo build --release -p hatchery`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
rounds=${2:-3}
if [ -z "${HATCHERY:-}" ]; then
    (cd "$root" && cargo build --release -q -p hatchery)
    HATCHERY=${CARGO_TARGET_DIR:-$root/target}/release/hatchery
fi
work=$(mktemp -d /tmp/fuzz-ratio.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
for t in clean overflow; do
    clang -O1 -g -fsanitize=fuzzer,address "$root/corpora/fuzz/targets/$t.c" -o "$work/$t"
done
echo "host: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r); hatchery $HATCHERY"
echo "campaigns of ${secs}s, $rounds rounds"
exec python3 - "$HATCHERY" "$work" "$secs" "$rounds" <<'EOF'
import json, os, random, resource, signal, statistics, subprocess, sys, time

hatchery, work, secs, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
clean, overflow = f"{work}/clean", f"{work}/overflow"
n = 0

def fresh(name):
    global n
    n += 1
    d = f"{work}/{name}-{n}"
    os.makedirs(d)
    return d

def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

def bare_campaign(procs=1):
    # libFuzzer stops when its whole seconds since start exceed -max_total_time: T-1 runs
    # about T seconds, as hatchery's worker does with --max-total-time T.
    c0, t0 = children_cpu(), time.monotonic()
    ps = [subprocess.Popen([clean, f"-max_total_time={secs - 1}", f"-seed={i + 1}",
                            "-print_final_stats=1", fresh("bare-corpus")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
          for i in range(procs)]
    execs = 0
    for p in ps:
        _, err = p.communicate()
        for line in err.splitlines():
            if line.startswith("stat::number_of_executed_units:"):
                execs += int(line.split(":")[-1])
    return execs, time.monotonic() - t0, children_cpu() - c0

def hatchery_campaign(jobs):
    base = fresh("h")
    report = f"{base}/r.jsonl"
    t0 = time.monotonic()
    subprocess.run([hatchery, "fuzz", "run", "--binary", clean, "-j", str(jobs),
                    "--max-total-time", f"{secs}s", "--corpus", f"{base}/corpus",
                    "--artifacts", f"{base}/artifacts", "--no-minimize", "--report", report,
                    "--", "-seed=1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    wall = time.monotonic() - t0
    execs, cpu = 0, 0.0
    for line in open(report):
        e = json.loads(line)
        if e["type"] == "fuzz_finished":
            execs = e["data"]["execs"]
        elif e["type"] == "case_finished":
            cpu += e["data"]["usage"]["cpu_us"] / 1e6
    return execs, wall, cpu

rows = {}
def add(k, v):
    rows.setdefault(k, []).append(v)

for r in range(rounds):
    e, w, c = bare_campaign(); add("bare -j1", (e / w, e / c))
    e, w, c = hatchery_campaign(1); add("hatchery -j1", (e / w, e / c))
    e, w, c = hatchery_campaign(2); add("hatchery -j2", (e / w, e / c))
    e, w, c = bare_campaign(2); add("bare x2", (e / w, e / c))
    print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1][0]:,.0f}/s" for k, v in rows.items()),
          file=sys.stderr, flush=True)

# Replay: 1000 inputs of 1 to 64 random bytes (none of them crashes clean.c).
inputs = fresh("inputs")
rng = random.Random(14)
for i in range(1000):
    with open(f"{inputs}/in-{i:04}", "wb") as f:
        f.write(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 65))))
files = sorted(os.listdir(inputs))

def bare_replay():
    t0 = time.monotonic()
    for f in files:
        subprocess.run([clean, f"{inputs}/{f}"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True, start_new_session=True)
    return time.monotonic() - t0

def bare_list():
    # libFuzzer's own way with many files: one process runs them all (`-runs=1 A B ...`).
    t0 = time.monotonic()
    subprocess.run([clean, "-runs=1"] + [f"{inputs}/{f}" for f in files],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   start_new_session=True)
    return time.monotonic() - t0

def hatchery_replay(jobs, batch=False):
    t0 = time.monotonic()
    subprocess.run([hatchery, "fuzz", "replay", "--binary", clean, "-j", str(jobs), inputs]
                   + (["--batch"] if batch else []),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.monotonic() - t0

replay = {}
for r in range(rounds):
    for k, f in [("bare loop", bare_replay), ("bare, one process", bare_list),
                 ("hatchery replay -j1", lambda: hatchery_replay(1)),
                 ("hatchery replay -j2", lambda: hatchery_replay(2)),
                 ("hatchery replay --batch -j1", lambda: hatchery_replay(1, True)),
                 ("hatchery replay --batch -j2", lambda: hatchery_replay(2, True))]:
        replay.setdefault(k, []).append(f() / len(files) * 1000)

# Time to the first finding: bare libFuzzer stops at it; hatchery prints it once triaged.
def bare_first(seed):
    t0 = time.monotonic()
    subprocess.run([overflow, f"-seed={seed}", f"-artifact_prefix={fresh('bare-art')}/",
                    fresh("bare-oc")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   start_new_session=True)
    return time.monotonic() - t0

def hatchery_first(seed):
    base = fresh("hf")
    t0 = time.monotonic()
    p = subprocess.Popen([hatchery, "fuzz", "run", "--binary", overflow, "--max-total-time",
                          "60s", "--no-minimize", "--corpus", f"{base}/corpus", "--artifacts",
                          f"{base}/artifacts", "--", f"-seed={seed}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found = None
    for line in p.stderr:
        if line.lstrip("\r\x1b[2K").startswith(("CRASH", "LEAK")):
            found = time.monotonic() - t0
            p.send_signal(signal.SIGINT)
            break
    p.stderr.read()
    p.wait()
    return found if found is not None else float("nan")

first = {}
for r in range(rounds):
    first.setdefault("bare", []).append(bare_first(r + 1))
    first.setdefault("hatchery", []).append(hatchery_first(r + 1))

med = statistics.median
print()
print(f"{'campaign (clean.c, ' + str(secs) + 's)':<26} {'execs/s (wall)':>16} {'execs/CPU-s':>14}   rounds (execs/s)")
for k, v in rows.items():
    print(f"{k:<26} {med(x[0] for x in v):>16,.0f} {med(x[1] for x in v):>14,.0f}   "
          + " ".join(f"{x[0]:,.0f}" for x in v))
b, h1, h2, b2 = (med(x[0] for x in rows[k]) for k in ["bare -j1", "hatchery -j1", "hatchery -j2", "bare x2"])
bc, hc = (med(x[1] for x in rows[k]) for k in ["bare -j1", "hatchery -j1"])
print(f"ratio hatchery -j1 / bare:   {h1 / b:.2f} (wall)  {hc / bc:.2f} (per CPU-s)   target >= 0.95")
print(f"ratio hatchery -j2 / -j1:    {h2 / h1:.2f}   (bare x2 / bare: {b2 / b:.2f})   target >= 1.8")
print()
print(f"{'replay of 1000 inputs':<26} {'ms per input':>16}   rounds")
for k, v in replay.items():
    print(f"{k:<26} {med(v):>16.2f}   " + " ".join(f"{x:.2f}" for x in v))
print(f"ratio bare loop / hatchery -j1:   {med(replay['bare loop']) / med(replay['hatchery replay -j1']):.2f}   "
      f"-j2 (the default on 2 CPUs): {med(replay['bare loop']) / med(replay['hatchery replay -j2']):.2f}   target >= 1")
print(f"ratio bare loop / hatchery --batch -j1:   {med(replay['bare loop']) / med(replay['hatchery replay --batch -j1']):.2f}   "
      f"-j2: {med(replay['bare loop']) / med(replay['hatchery replay --batch -j2']):.2f}")
print(f"ratio bare one process / hatchery --batch -j1:   {med(replay['bare, one process']) / med(replay['hatchery replay --batch -j1']):.2f}   "
      f"-j2: {med(replay['bare, one process']) / med(replay['hatchery replay --batch -j2']):.2f}")
print()
print(f"{'first finding (overflow.c)':<26} {'seconds':>16}   rounds")
for k, v in first.items():
    print(f"{k:<26} {med(v):>16.2f}   " + " ".join(f"{x:.2f}" for x in v))
print(f"hatchery - bare:             {med(first['hatchery']) - med(first['bare']):.2f} s   target < 2 s plus start-up")
EOF
