#!/usr/bin/env bash
# The cgroup v2 checks of CI: builds on this host what they run (the hatchery binary and the
# test binaries that use cgroups, found in cargo's JSON messages), then runs
# .ci/cgroup2-guest.sh in a cgroup-v2-only VM (.ci/cgroup2-vm.sh), which builds nothing.
# Fails when any check fails. Prints the VM's boot and run times.
set -euo pipefail
cd "$(dirname "$0")/.."
TESTS=(run_outcomes)
args=()
for t in "${TESTS[@]}"; do args+=(--test "$t"); done
json=$(cargo test -q -p hatchery "${args[@]}" --no-run --message-format=json)
# "kind":["bin"|"test"], "name", "executable" of each built artifact.
arts=$(printf '%s\n' "$json" | sed -n \
  's/.*"target":{"kind":\["\([a-z]*\)"\][^}]*"name":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2 \3/p')
H=$(printf '%s\n' "$arts" | awk '$1 == "bin" && $2 == "hatchery" {print $3}')
bins=$(printf '%s\n' "$arts" | awk '$1 == "test" {print $3}')
[ -x "$H" ] && [ -n "$bins" ] || { echo "cgroup2: cannot find the built binaries in: $arts" >&2; exit 1; }
t0=$(date +%s)
# shellcheck disable=SC2086 # one test binary per word
V2VM_QUIET_BOOT=1 bash .ci/cgroup2-vm.sh -m 3072 -c 2 -t 1500 -- \
  bash "$PWD/.ci/cgroup2-guest.sh" "$H" $bins
echo "cgroup2: VM step took $(($(date +%s) - t0)) s in all"
