#!/usr/bin/env bash
# Third-party target with a known fuzz-found bug: semver 0.11.0 (crates.io) panics in
# VersionReq::parse on a number that does not fit in u64 (an unwrap on the number's parse
# error), found by afl.rs (dtolnay/semver#227), fixed in 1.0.0. Only this script is
# committed: it writes a cargo-fuzz crate whose one target calls the public API, then
#   1. `hatchery fuzz run vreq` builds it as cargo fuzz build does and fuzzes it sandboxed
#      from three ordinary requirements as seeds, until the panic is found, triaged to one
#      signature, minimized and reported (JSON Lines, JUnit, HTML);
#   2. `hatchery fuzz replay --target vreq --fail-on-crash` turns the corpus and artifacts
#      into regression cases (exit 1: the artifacts still fail).
# Usage: corpora/fuzz/thirdparty/semver-0.11.sh [SECONDS] [HATCHERY]   (default 300, `hatchery`)
# Needs a nightly toolchain (rustup), crates.io, and what hatchery fuzz needs (a cgroup).
set -euo pipefail
secs=${1:-300}
hatchery=${2:-hatchery}
work=${WORK:-$(mktemp -d /tmp/semver-fuzz.XXXXXX)}
chmod 755 "$work"
mkdir -p "$work/fuzz/fuzz_targets" "$work/fuzz/corpus/vreq"
cat > "$work/fuzz/Cargo.toml" <<'TOML'
[package]
name = "semver-fuzz"
version = "0.0.0"
publish = false
edition = "2021"

[package.metadata]
cargo-fuzz = true

[dependencies]
libfuzzer-sys = "0.4"
semver = "=0.11.0"

[[bin]]
name = "vreq"
path = "fuzz_targets/vreq.rs"
test = false
doc = false

[workspace]
members = ["."]
TOML
cat > "$work/fuzz/fuzz_targets/vreq.rs" <<'RS'
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = semver::VersionReq::parse(s);
    }
});
RS
printf '>=1.2.3' > "$work/fuzz/corpus/vreq/seed-1"
printf '^0.4.10, <0.5' > "$work/fuzz/corpus/vreq/seed-2"
printf '~1.2.3-alpha.1' > "$work/fuzz/corpus/vreq/seed-3"
cd "$work"
echo "== hatchery fuzz run vreq --max-total-time ${secs}s -j 2 (in $work)"
set +e
"$hatchery" fuzz run vreq --max-total-time "${secs}s" -j 2 --stats-interval 5s \
    --report "$work/report.jsonl" --junit "$work/junit.xml" --html "$work/report.html" \
    2>&1 | grep -v '^\[' 
run=${PIPESTATUS[0]}
echo "== exit $run (1: a finding reproduced)"
echo "== artifacts"; ls fuzz/artifacts/vreq/
echo "== hatchery fuzz replay --target vreq --fail-on-crash"
"$hatchery" fuzz replay --target vreq --fail-on-crash 2>&1 | grep -E 'FAIL|Summary'
echo "== exit ${PIPESTATUS[0]} (1: the artifacts still fail)"
set -e
python3 - "$work/report.jsonl" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
uniq = [e["data"] for e in ev if e["type"] == "crash_found" and e["data"]["new_signature"]]
fin = [e["data"] for e in ev if e["type"] == "fuzz_finished"][0]
print(f"== {fin['execs']} execs in {fin['duration_ms'] / 1000:.1f} s, {fin['crashes']} finding(s), "
      f"{fin['unique_crashes']} unique")
for c in uniq:
    print(f"   {c['signature']}\n   {c['reason']}\n   minimized: {c['minimized']} "
          f"({c['minimized_size']} bytes)")
PY
