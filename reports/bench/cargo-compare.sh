#!/bin/sh
# Wall time of `cargo nextest run` vs `cargo hatchery test` (and `cargo test` for reference)
# on real crates' suites, interleaved runs, medians, counts (passed/failed, leaky) side by side,
# printed as a markdown table. One go, one machine: run it on a quiet host.
#
#   sh reports/bench/cargo-compare.sh [RUNS]          (default RUNS=5; crossbeam-channel and
#                                                       bytes use fewer, they take minutes)
#
# Shapes: slab (many tiny tests), byteorder (680 quickcheck tests of ~40 ms each), rangemap
# (CPU-bound proptest suite), bytes (one big binary, a 126 MB-stderr test), crossbeam-channel
# (threaded, timer-bound), shared_child (process-spawning). Sources: a manifest depending on
# bytes =1.12.2, slab 0.4, crossbeam-channel 0.5, shared_child 1, byteorder 1, rangemap 1;
# `cargo vendor`, then each crate copied out of vendor/ into $CRATES/<name> (checksum file
# removed). Each has its own target dir ($CRATES/target-<name>); the tests are built once
# before timing (compare.py). cargo-hatchery is built from this checkout (release) and put first
# on PATH so `cargo hatchery` is this branch's.
set -eu
RUNS=${1:-5}
here=$(cd "$(dirname "$0")/../.." && pwd)
CRATES=${CRATES:-/work/crates}
# HATCHERY_BIN=path: use this cargo-hatchery instead of building the release one.
# ONLY="slab bytes": run only these crates.
if [ -z "${HATCHERY_BIN:-}" ]; then
  tdir=${CARGO_TARGET_DIR:-$here/target}
  (cd "$here" && CARGO_TARGET_DIR=$tdir cargo build -q --release -p cargo-hatchery)
  HATCHERY_BIN=$tdir/release/cargo-hatchery
fi
bin=$(mktemp -d)
chmod 755 "$bin"
trap 'rm -rf "$bin"' EXIT
cp "$HATCHERY_BIN" "$bin/"
export PATH="$bin:$PATH"
echo "date: $(date -u)  host: $(uname -r)  cpus: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(cargo nextest --version | head -1); $(cargo hatchery --version)"
few=$(( RUNS > 3 ? 3 : RUNS ))
for spec in "slab $RUNS" "byteorder $RUNS" "shared_child $RUNS" "rangemap $few" \
  "crossbeam-channel $few" "bytes 1"; do
  set -- $spec
  case " ${ONLY:-$1} " in *" $1 "*) ;; *) continue ;; esac
  [ -d "$CRATES/$1" ] || { echo "skip $1: no $CRATES/$1"; continue; }
  CARGO_TARGET_DIR="$CRATES/target-$1" python3 "$here/harness/cargo/bench/compare.py" \
    --runs "$2" "$CRATES/$1"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
