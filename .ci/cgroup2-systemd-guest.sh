#!/usr/bin/env bash
# Runs inside the cgroup-v2-only VM booted with systemd as init (.ci/cgroup2-vm.sh -s), as a
# root service. Starts hatchery from real login sessions: `su -l` goes through PAM, and
# pam_systemd has logind put it in a new `session-N.scope` (and start the user's manager,
# user@UID.service), beside su itself. Such a scope holds other processes and belongs to
# root, so hatchery asks systemd over D-Bus for a delegated scope of its own:
#   d   root in a session scope: the system manager gives it one
#   e   a normal user in a session scope: the user's own manager gives it one
#   e'  the same user with HATCHERY_SYSTEMD_SCOPE=0: hatchery does not ask, changes nothing,
#       falls back to rlimits and says why
# Usage: cgroup2-systemd-guest.sh HATCHERY   (built on the host; nothing is built here)
# Prints PASS/FAIL lines and timings; exits 1 when anything failed.
set -uo pipefail
H=$1
# shellcheck source=cgroup2-checks.sh
. "$(dirname "$0")/cgroup2-checks.sh"
# login USER CMD...: CMD in a login session of USER (its output in this directory).
login() {
  local user=$1
  shift
  su -l "$user" -s /bin/bash -c "cd $W && $(printf '%q ' "$@")"
}


# No hatchery scope or cgroup is left once hatchery has exited (systemd collects an empty
# transient scope on its own, shortly after).
nothing_left() {
  local name=$1 left i
  for i in $(seq 50); do
    left=$(find /sys/fs/cgroup -type d -name 'hatchery-*')
    [ -z "$left" ] && break
    sleep 0.1
  done
  [ -z "$left" ] && pass "$name nothing left in the cgroup tree" || fail "$name left behind: $left"
}

works() {
  local name=$1 user=$2 t
  t=$(now)
  login "$user" cat /proc/self/cgroup > where.txt
  echo "=== $name: $user, a login session in $(cat where.txt)"
  expect "$name is in a login session scope" where.txt '^0::/user\.slice/.*/session-[0-9a-z]+\.scope$'
  login "$user" "$H" doctor --json > doctor.json
  grep -B3 -A1 '"name": "cgroup",' doctor.json > doctor-cgroup.txt
  expect "$name doctor" doctor-cgroup.txt '"ok": true' 'inside the scope hatchery-[0-9]+(-[0-9]+)?\.scope that systemd delegated'
  grep detail doctor-cgroup.txt
  login "$user" "$H" run --json --tier hardened --memory 64M -- perl -e "$ALLOC" > mem.json
  expect "$name --memory 64M of a 300 MiB allocation" mem.json \
    '"outcome":"memory_limit"' '"memory_source":"cgroup_v2_peak"' '"oom_kills":[1-9]'
  login "$user" "$H" run --json --tier hardened --pids 16 --wall-time 20s -- perl -e "$FORKS" > pids.json
  expect "$name --pids 16" pids.json '"limit":"pids"' '"text":"15\\n"' '"cgroup_pids":\{"level":"full"'
  if [ "$user" != root ]; then
    login "$user" "$H" selftest --tier hardened --filter mem_ > selftest.txt 2>&1
    expect "$name selftest (hardened, filter 'mem_')" selftest.txt ' passed, 0 failed, '
    tail -1 selftest.txt
  fi
  nothing_left "$name"
  echo "--- $name took $(echo "$(now) - $t" | bc)s"
}

T0=$(now)
echo "systemd $(systemctl --version | head -1 | cut -d' ' -f2), state: $(systemctl is-system-running)"
echo "slowest units of the boot:"; systemd-analyze blame --no-pager 2>/dev/null | head -8
id hatchtest > /dev/null 2>&1 || useradd -m -u 1500 -s /bin/bash hatchtest
works d root
works e hatchtest

echo "=== e': hatchtest with HATCHERY_SYSTEMD_SCOPE=0"
login hatchtest env HATCHERY_SYSTEMD_SCOPE=0 "$H" doctor --json > doctor.json
grep -B3 -A2 '"name": "cgroup",' doctor.json > doctor-cgroup.txt
expect "e' doctor says why and what fixes it" doctor-cgroup.txt '"ok": false' 'session-' \
  'systemd-run --user --scope -p Delegate=yes'
grep -E 'detail|fix' doctor-cgroup.txt
login hatchtest env HATCHERY_SYSTEMD_SCOPE=0 "$H" run --json --tier hardened --memory 64M \
  -- perl -e "$ALLOC" > mem.json
expect "e' falls back to rlimits and says so" mem.json '"memory_source":"rusage"' \
  'falling back to rlimits'
nothing_left "e'"

echo "=== cgroup v2 checks under systemd: $fails failed, $(echo "$(now) - $T0" | bc)s"
[ $fails = 0 ]
