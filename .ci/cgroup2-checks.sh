# Sourced by the guest scripts of the cgroup v2 VMs: a working directory every uid may use,
# and PASS/FAIL bookkeeping (`fails` counts the failures).
W=/srv/hatchery-v2
mkdir -p "$W" && chmod 1777 "$W" && cd "$W" || exit 1
fails=0
now() { cut -d' ' -f1 /proc/uptime; }
pass() { echo "PASS $*"; }
fail() {
  echo "FAIL $*"
  fails=$((fails + 1))
}
# expect WHAT FILE REGEX...: every regex must match the file.
expect() {
  local what=$1 f=$2
  shift 2
  for re in "$@"; do
    if ! grep -Eq -- "$re" "$f"; then
      fail "$what: no /$re/ in: $(head -c 1500 "$f")"
      return
    fi
  done
  pass "$what"
}
ALLOC='$x = "x" x (300 << 20); print length $x'
FORKS='my $n = 0; while (defined(my $p = fork)) { if (!$p) { sleep 60; exit } last if ++$n > 200 } print "$n\n"'
