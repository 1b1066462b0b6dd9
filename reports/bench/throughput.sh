#!/usr/bin/env bash
# Throughput of `hatchery batch` on a static no-libc no-op (cases/s, -j1 and -j2, per tier),
# next to a bare vfork+execve+waitpid loop of the same binary (1 and 2 loops in parallel),
# all in one run. Usage: reports/bench/throughput.sh [N cases, default 5000]
set -euo pipefail
N=${1:-5000}
HATCHERY=${HATCHERY:-target/release/hatchery}
work=$(mktemp -d "${PWD}/.throughput.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/noop.c" <<'C'
void _start(void) { __asm__ volatile("mov $231, %eax\n xor %edi, %edi\n syscall"); }
C
cat > "$work/floor.c" <<'C'
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    char *args[] = {argv[2], 0}, *env[] = {0};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        pid_t p = vfork();
        if (p == 0) { execve(argv[2], args, env); _exit(127); }
        int st; waitpid(p, &st, 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
C
gcc -nostdlib -static -O2 -o "$work/noop" "$work/noop.c"
gcc -O2 -o "$work/floor" "$work/floor.c"
chmod 755 "$work" "$work/noop"
for i in $(seq "$N"); do echo "{\"id\":\"c$i\",\"argv\":[\"$work/noop\"]}"; done > "$work/jobs.jsonl"
echo "machine: $(uname -r), $(nproc) CPUs; N=$N cases per row"
s=$("$work/floor" "$N" "$work/noop"); echo "floor vfork+exec, 1 loop : $(python3 -c "print(f'{$N/$s:.0f} cases/s ({$s/$N*1e6:.1f} us each)')")"
start=$(date +%s.%N); "$work/floor" "$N" "$work/noop" >/dev/null & "$work/floor" "$N" "$work/noop" >/dev/null; wait; end=$(date +%s.%N)
echo "floor vfork+exec, 2 loops: $(python3 -c "print(f'{2*$N/($end-$start):.0f} cases/s')")"
for tier in none hardened lockdown; do
  for j in 1 2; do
    start=$(date +%s.%N)
    "$HATCHERY" batch -j "$j" --tier "$tier" "$work/jobs.jsonl" > /dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    end=$(date +%s.%N)
    echo "hatchery $tier -j$j: $(python3 -c "print(f'{$N/($end-$start):.0f} cases/s ({($end-$start)/$N*1e6:.1f} us per case, whole run incl. zygote start)')")"
  done
done
