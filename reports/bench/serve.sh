#!/usr/bin/env bash
# `hatchery serve` against `hatchery run` and `hatchery batch` on one machine, in one go:
# a static no-libc no-op as the case. Prints
#   - `hatchery run` per invocation (median of R runs: process start, zygote start, one case),
#   - `hatchery batch -j1/-j2` per case and cases/s (warm zygotes),
#   - `POST /run` through wrk: median/p99 latency with 1 connection, and requests/s with
#     C connections, against a server with -j1 and -j2 (pinned workers),
#   - per round and -j: the best requests/s as a share of batch's cases/s, and the median
#     request over batch's per-case time.
# Batch and serve alternate in ROUNDS rounds (default 2).
# Usage: [ROUNDS=2] reports/bench/serve.sh [N cases for batch, default 5000] [seconds per wrk row, 10]
set -euo pipefail
N=${1:-5000}
D=${2:-10}
R=${R:-50}
HATCHERY=${HATCHERY:-target/release/hatchery}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 1; }
work=$(mktemp -d "${PWD}/.serve-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cat > "$work/noop.c" <<'C'
void _start(void) { __asm__ volatile("mov $231, %eax\n xor %edi, %edi\n syscall"); }
C
gcc -nostdlib -static -O2 -o "$work/noop" "$work/noop.c"
chmod 755 "$work" "$work/noop"
echo "machine: $(uname -r), $(nproc) CPUs, tier hardened"

ts=()
for i in $(seq "$R"); do
  s=$(date +%s%N); "$HATCHERY" run --json -- "$work/noop" > /dev/null; e=$(date +%s%N)
  ts+=($(( (e - s) / 1000 )))
done
echo "hatchery run, one process per case: median $(printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') us over $R runs"

for i in $(seq "$N"); do echo "{\"id\":\"c$i\",\"argv\":[\"$work/noop\"]}"; done > "$work/jobs.jsonl"
batch() {
  local j=$1 s e
  s=$(date +%s.%N)
  "$HATCHERY" batch -j "$j" "$work/jobs.jsonl" > /dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
  e=$(date +%s.%N)
  python3 -c "print(f'{$N/($e-$s):.0f} {($e-$s)/$N*1e6:.1f}')"
}

cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"cmd":[{"args":["$work/noop"],"files":[{"content":""},{"name":"stdout","max":1024},{"name":"stderr","max":1024}],"cpuLimit":1000000000,"memoryLimit":268435456,"procLimit":16}]}'
LUA
# One server per -j, kept for every round.
declare -A url
for j in 1 2; do
  "$HATCHERY" serve -j "$j" --listen 127.0.0.1:0 --store "$work/store-$j" 2> "$work/serve-$j.log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$work/serve-$j.log" && break; sleep 0.1; done
  url[$j]=$(sed -n 's/.*listening on //p' "$work/serve-$j.log")
  # Warm-up (zygotes start on first use).
  wrk -t1 -c2 -d1 -s "$work/post.lua" "${url[$j]}/run" > /dev/null
done

# Rounds: the baseline (batch) and the service interleaved, so that a change of load on the
# host hits both.
ROUNDS=${ROUNDS:-2}
summary=()
for round in $(seq "$ROUNDS"); do
  echo "── round $round"
  for j in 1 2; do
    read -r bcps bus < <(batch "$j")
    echo "hatchery batch -j$j: $bcps cases/s ($bus us per case, whole run incl. zygote start)"
    out=$(wrk -t1 -c1 -d"$D" --latency -s "$work/post.lua" "${url[$j]}/run")
    p50=$(echo "$out" | awk '$1=="50%" {print $2}'); p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    echo "serve -j$j, 1 connection : median $p50, p99 $p99, $rps req/s"
    best=0
    for c in 2 4 8; do
      out=$(wrk -t2 -c"$c" -d"$D" --latency -s "$work/post.lua" "${url[$j]}/run")
      r=$(echo "$out" | awk '/Requests\/sec/ {print $2}'); m=$(echo "$out" | awk '$1=="50%" {print $2}')
      non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
      echo "serve -j$j, $c connections: $r req/s (median $m)${non2xx:+, NON-2xx: $non2xx}"
      best=$(python3 -c "print(max($best, $r))")
    done
    # The median with one connection in us (wrk prints us or ms), over batch's per case.
    p50us=$(python3 -c "v='$p50'; print(float(v[:-2])*1000 if v.endswith('ms') else float(v[:-2]))")
    line=$(python3 -c "print(f'-j$j: best serve {$best:.0f} req/s = {100*$best/$bcps:.0f}% of batch -j$j ($bcps cases/s); median request {$p50us:.0f} us = batch per case + {$p50us-$bus:.0f} us')")
    echo "$line"
    summary+=("round $round $line")
  done
done
echo "── summary (target: >= 80% of batch -j1; <= 1000 us added at the median)"
printf '%s\n' "${summary[@]}"
