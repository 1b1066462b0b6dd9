#!/bin/bash
# Per tier: CPU-limit overshoot (300ms limit, spinner), wall-limit overshoot (200ms, sleep),
# peak-memory accuracy (program touching 100 MiB), 15 runs each; prints medians.
H=${HATCHERY:-target/release/hatchery}
P=${PROGS:-target/tmp/progs}
for t in none hardened lockdown; do
  cpu=(); wall=(); mem=()
  for i in $(seq 15); do
    cpu+=($($H run --json --tier $t --cwd / --cpu-time 300ms -- $P/spin | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["usage"]["cpu_us"]-300000)'))
    wall+=($($H run --json --tier $t --cwd / --wall-time 200ms -- /bin/sleep 5 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["usage"]["wall_us"]-200000)'))
    mem+=($($H run --json --tier $t --cwd / --memory 512M -- $P/alloc 100 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["usage"]["peak_memory_bytes"]-100*1024*1024)'))
  done
  med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)] " (min " a[1] ", max " a[NR] ")"}'; }
  echo "$t: cpu overshoot us: $(med "${cpu[@]}")"
  echo "$t: wall overshoot us: $(med "${wall[@]}")"
  echo "$t: peak - 100MiB bytes: $(med "${mem[@]}")"
done
