#!/usr/bin/env bash
# The cgroup v2 checks of CI: builds on this host what they run (the hatchery binary and the
# test binaries that use cgroups, found in cargo's JSON messages), then runs
# .ci/cgroup2-guest.sh in a cgroup-v2-only VM (.ci/cgroup2-vm.sh), which builds nothing, and
# .ci/cgroup2-systemd-guest.sh in one booted with systemd (login sessions, D-Bus).
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
# A VM that reported no status (125: its kernel died before the command finished, as TCG's
# emulation of live kernel text patching has made it do at boot, "Oops: int3" in
# sched_clock_cpu) is booted once more; a check that fails is never retried.
vm() {
  local s=0
  V2VM_QUIET_BOOT=1 bash .ci/cgroup2-vm.sh "$@" || s=$?
  if [ "$s" = 125 ]; then
    echo "cgroup2: the VM reported no status (it died before its command finished); booting it once more" >&2
    s=0
    V2VM_QUIET_BOOT=1 bash .ci/cgroup2-vm.sh "$@" || s=$?
  fi
  return "$s"
}
t0=$(date +%s)
rc=0
# shellcheck disable=SC2086 # one test binary per word
vm -m 3072 -c 2 -t 1500 -- bash "$PWD/.ci/cgroup2-guest.sh" "$H" $bins || rc=1
t1=$(date +%s)
echo "cgroup2: the VM without systemd took $((t1 - t0)) s"
# Login sessions: systemd as the guest's init, hatchery started through su -l.
vm -s -m 3072 -c 2 -t 900 -- bash "$PWD/.ci/cgroup2-systemd-guest.sh" "$H" || rc=1
echo "cgroup2: the VM with systemd took $(($(date +%s) - t1)) s; VM step $(($(date +%s) - t0)) s in all"
exit $rc
