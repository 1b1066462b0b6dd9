#!/usr/bin/env bash
# `hatchery serve` against `hatchery run` and `hatchery batch` on one machine, in one go:
# a static no-libc no-op as the case. Prints
#   - `hatchery run` per invocation (median of R runs: process start, zygote start, one case),
#   - `hatchery batch -j1/-j2` per case and cases/s (warm zygotes),
#   - `POST /run` through wrk: median/p99 latency with 1 connection, and requests/s with
#     C connections, against a server with -j1 and -j2 (pinned workers).
# Usage: reports/bench/serve.sh [N cases for batch, default 5000] [seconds per wrk row, 10]
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
for j in 1 2; do
  s=$(date +%s.%N)
  "$HATCHERY" batch -j "$j" "$work/jobs.jsonl" > /dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
  e=$(date +%s.%N)
  echo "hatchery batch -j$j: $(python3 -c "print(f'{$N/($e-$s):.0f} cases/s ({($e-$s)/$N*1e6:.1f} us per case, whole run incl. zygote start)')")"
done

cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"cmd":[{"args":["$work/noop"],"files":[{"content":""},{"name":"stdout","max":1024},{"name":"stderr","max":1024}],"cpuLimit":1000000000,"memoryLimit":268435456,"procLimit":16}]}'
LUA
for j in 1 2; do
  "$HATCHERY" serve -j "$j" --listen 127.0.0.1:0 --store "$work/store-$j" 2> "$work/serve-$j.log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$work/serve-$j.log" && break; sleep 0.1; done
  url=$(sed -n 's/.*listening on //p' "$work/serve-$j.log")
  # Warm-up (zygotes start on first use).
  wrk -t1 -c2 -d1 -s "$work/post.lua" "$url/run" > /dev/null
  out=$(wrk -t1 -c1 -d"$D" --latency -s "$work/post.lua" "$url/run")
  p50=$(echo "$out" | awk '$1=="50%" {print $2}'); p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  echo "serve -j$j, 1 connection : median $p50, p99 $p99, $rps req/s"
  for c in 2 4 8; do
    out=$(wrk -t2 -c"$c" -d"$D" --latency -s "$work/post.lua" "$url/run")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}'); p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    echo "serve -j$j, $c connections: $rps req/s (median $p50)${non2xx:+, NON-2xx: $non2xx}"
  done
  kill "${pids[-1]}"; wait "${pids[-1]}" || true; unset 'pids[-1]'
done
