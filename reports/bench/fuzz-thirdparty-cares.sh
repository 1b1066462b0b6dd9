#!/usr/bin/env bash
# Third-party C target with a known sanitizer-detectable bug, found end to end by
# `hatchery fuzz run`: c-ares CVE-2016-5180, a one-byte heap-buffer-overflow WRITE in
# ares_create_query on a name that ends in an escaped dot (google/fuzzer-test-suite's
# c-ares-CVE-2016-5180 benchmark: libFuzzer finds it in under a second).
#
# Nothing of c-ares is committed: the script takes a c-ares git repository (a clone or a
# bare mirror), extracts the vulnerable commit fuzzer-test-suite names (51fbb479), and
#   1. compiles the library's sources (Makefile.inc's CSOURCES) directly with clang
#      -fsanitize=address,fuzzer-no-link and fuzzer-test-suite's flags, with ares_build.h
#      from ares_build.h.dist and an ares_config.h written here for Linux/glibc (what
#      configure finds there), so no autotools are needed; links a harness written here
#      (the input, cut at its first NUL, is the name to encode) with -fsanitize=fuzzer,address;
#   2. runs `hatchery fuzz run --binary ... -j 2 --max-total-time 5m` RUNS times (default 3)
#      from the same three seed names. hatchery has no stop-at-first-finding option: the
#      budget is bounded by the 5 minutes and by the worker restarts (a worker that stops on
#      a finding is started again, 16 starts per worker slot); every artifact is replayed,
#      triaged and deduplicated; the first of a signature is minimized;
#   3. prints per run: time to the first finding (the worker case that stopped on it, its
#      wall time in the sandbox; and when hatchery printed the triaged, minimized finding),
#      kinds and signatures, whether minimization kept the signature (a minimized input is
#      only kept when its replay has the same signature; the script replays it once more
#      with `hatchery fuzz repro`), and `hatchery fuzz replay --fail-on-crash` over the
#      artifacts;
#   4. runs the same binary bare BARE times (plain libFuzzer until it stops, one process,
#      same seeds) for the time-to-finding comparison.
#
# Usage: reports/bench/fuzz-thirdparty-cares.sh [C_ARES_GIT]
#   C_ARES_GIT (or env CARES_GIT): default /work/.mirror/c-ares+c-ares/repo
#   env: HATCHERY=path (default: cargo build --release -p hatchery), WORK=dir, RUNS=3, BARE=5,
#        BUDGET=5m
# Needs git, clang with -fsanitize=fuzzer (clang 14 here), python3, and a cgroup.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cares_git=${1:-${CARES_GIT:-/work/.mirror/c-ares+c-ares/repo}}
rev=51fbb479f7948fca2ace3ff34a15ff27e796afdd
runs=${RUNS:-3}
bare=${BARE:-5}
budget=${BUDGET:-5m}
if [ -z "${HATCHERY:-}" ]; then
    (cd "$root" && cargo build --release -q -p hatchery)
    HATCHERY=${CARGO_TARGET_DIR:-$root/target}/release/hatchery
fi
work=${WORK:-$(mktemp -d /tmp/cares-fuzz.XXXXXX)}
mkdir -p "$work"
chmod 755 "$work"
src=$work/c-ares-${rev:0:8}
rm -rf "$src" && mkdir -p "$src"
git -C "$cares_git" archive "$rev" | tar -x -C "$src"
echo "c-ares $rev ($(git -C "$cares_git" log -1 --format='%cs %s' "$rev"))"

# -- 1. build ---------------------------------------------------------------------------
cp "$src/ares_build.h.dist" "$src/ares_build.h"
cat > "$src/ares_config.h" <<'H'
/* What c-ares' configure finds on Linux with glibc (written by fuzz-thirdparty-cares.sh). */
#define HAVE_ARPA_INET_H 1
#define HAVE_ARPA_NAMESER_H 1
#define HAVE_ARPA_NAMESER_COMPAT_H 1
#define HAVE_ASSERT_H 1
#define HAVE_ERRNO_H 1
#define HAVE_FCNTL_H 1
#define HAVE_LIMITS_H 1
#define HAVE_NETDB_H 1
#define HAVE_NETINET_IN_H 1
#define HAVE_NETINET_TCP_H 1
#define HAVE_NET_IF_H 1
#define HAVE_STDBOOL_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRING_H 1
#define HAVE_STRINGS_H 1
#define HAVE_SYS_IOCTL_H 1
#define HAVE_SYS_PARAM_H 1
#define HAVE_SYS_SELECT_H 1
#define HAVE_SYS_SOCKET_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_SYS_UIO_H 1
#define HAVE_TIME_H 1
#define HAVE_UNISTD_H 1
#define TIME_WITH_SYS_TIME 1
#define HAVE_BOOL_T 1
#define HAVE_STRUCT_TIMEVAL 1
#define HAVE_SIG_ATOMIC_T 1
#define HAVE_AF_INET6 1
#define HAVE_PF_INET6 1
#define HAVE_STRUCT_IN6_ADDR 1
#define HAVE_STRUCT_SOCKADDR_IN6 1
#define HAVE_STRUCT_ADDRINFO 1
#define HAVE_SOCKADDR_IN6_SIN6_SCOPE_ID 1
#define HAVE_CLOCK_GETTIME_MONOTONIC 1
#define HAVE_FCNTL_O_NONBLOCK 1
#define HAVE_GETENV 1
#define HAVE_GETHOSTNAME 1
#define HAVE_GETSERVBYPORT_R 1
#define GETSERVBYPORT_R_ARGS 6
#define HAVE_GETTIMEOFDAY 1
#define HAVE_IF_INDEXTONAME 1
#define HAVE_INET_NTOP 1
#define HAVE_INET_PTON 1
#define HAVE_IOCTL_FIONBIO 1
#define HAVE_MSG_NOSIGNAL 1
#define HAVE_STRCASECMP 1
#define HAVE_STRDUP 1
#define HAVE_STRNCASECMP 1
#define HAVE_WRITEV 1
#define HAVE_RECV 1
#define RECV_TYPE_ARG1 int
#define RECV_TYPE_ARG2 void *
#define RECV_TYPE_ARG3 size_t
#define RECV_TYPE_ARG4 int
#define RECV_TYPE_RETV ssize_t
#define HAVE_RECVFROM 1
#define RECVFROM_TYPE_ARG1 int
#define RECVFROM_TYPE_ARG2 void
#define RECVFROM_TYPE_ARG3 size_t
#define RECVFROM_TYPE_ARG4 int
#define RECVFROM_TYPE_ARG5 struct sockaddr
#define RECVFROM_TYPE_ARG6 socklen_t
#define RECVFROM_TYPE_RETV ssize_t
#define HAVE_SEND 1
#define SEND_QUAL_ARG2 const
#define SEND_TYPE_ARG1 int
#define SEND_TYPE_ARG2 void *
#define SEND_TYPE_ARG3 size_t
#define SEND_TYPE_ARG4 int
#define SEND_TYPE_RETV ssize_t
#define GETNAMEINFO_QUAL_ARG1 const
#define GETNAMEINFO_TYPE_ARG1 struct sockaddr *
#define GETNAMEINFO_TYPE_ARG2 socklen_t
#define GETNAMEINFO_TYPE_ARG46 socklen_t
#define GETNAMEINFO_TYPE_ARG7 int
#define CARES_SYMBOL_HIDING 1
#define STDC_HEADERS 1
#define _GNU_SOURCE 1
H
# fuzzer-test-suite's flags for FUZZING_ENGINE=fsanitize_fuzzer (common.sh).
cflags=(-O2 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address,fuzzer-no-link
        -fsanitize-address-use-after-scope -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        -DHAVE_CONFIG_H -DCARES_STATICLIB -w)
csources=$(sed -n '/^CSOURCES/,/^$/p' "$src/Makefile.inc" | grep -o '[a-z_0-9]*\.c')
mkdir -p "$src/obj"
t0=$(date +%s.%N)
# Two at a time (xargs fails when one compile fails).
printf '%s\n' $csources | xargs -P 2 -I{} clang "${cflags[@]}" -I"$src" -c "$src/{}" \
    -o "$src/obj/{}.o"
ar rcs "$src/libcares.a" "$src"/obj/*.o
cat > "$work/create_query_fuzzer.c" <<'C'
/* The input, cut at its first NUL, is a domain name that ares_create_query encodes as a DNS
 * query for its A record (class IN). The query is freed whatever the result: this version
 * sets *buf before it rejects a bad name (ARES_EBADNAME) and leaves it allocated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ares.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *name = malloc(size + 1);
  unsigned char *query = NULL;
  int query_len = 0;
  if (name == NULL)
    return 0;
  memcpy(name, data, size);
  name[size] = '\0';
  ares_create_query(name, 1 /* C_IN */, 1 /* T_A */, 0xbeef, 1, &query, &query_len, 0);
  ares_free_string(query);
  free(name);
  return 0;
}
C
bin=$work/cares_create_query_fuzzer
clang "${cflags[@]}" -fsanitize=fuzzer,address -I"$src" "$work/create_query_fuzzer.c" \
    "$src/libcares.a" -o "$bin"
echo "built $(echo "$csources" | wc -l) c-ares sources + harness in $(echo "$(date +%s.%N) - $t0" | bc) s: $bin"
mkdir -p "$work/seeds"
printf 'www.example.com' > "$work/seeds/a"
printf '_http._tcp.example.org.' > "$work/seeds/b"
printf 'xn--bcher-kva.example' > "$work/seeds/c"
echo "host: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r), $(clang --version | head -1)"
echo "hatchery: $HATCHERY"

# -- 2-4. campaigns, replays, bare runs -------------------------------------------------
exec python3 - "$HATCHERY" "$work" "$bin" "$runs" "$bare" "$budget" <<'PY'
import base64, json, os, shutil, statistics, subprocess, sys, time

hatchery, work, binary, runs, bare, budget = sys.argv[1:7]
runs, bare = int(runs), int(bare)
seeds = f"{work}/seeds"

def fresh(name, seeds=seeds):
    d = f"{work}/{name}"
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(seeds, f"{d}/corpus")
    return d

def campaign(name, jobs=2, seeds=seeds, budget=budget):
    d = fresh(name, seeds)
    cmd = [hatchery, "fuzz", "run", "--binary", binary, "-j", str(jobs), "--max-total-time",
           budget, "--corpus", f"{d}/corpus", "--artifacts", f"{d}/artifacts", "--report",
           f"{d}/report.jsonl", "--junit", f"{d}/junit.xml", "--html", f"{d}/report.html"]
    print(f"\n== {name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    printed = None
    tail = []
    for line in p.stderr:
        # Text mode turns the progress line's "\r" into a line break; drop the erase code.
        line = line.replace("\x1b[2K", "").rstrip("\n")
        if not line.strip():
            continue
        if printed is None and line.startswith(("CRASH", "LEAK", "TIMEOUT", "OOM")):
            printed = time.monotonic() - t0
        if not line.startswith("["):
            tail.append(line)
    code = p.wait()
    wall = time.monotonic() - t0
    ev = [json.loads(l) for l in open(f"{d}/report.jsonl")]
    fin = next(e["data"] for e in ev if e["type"] == "fuzz_finished")
    found = [e["data"] for e in ev if e["type"] == "crash_found"]
    workers = [e["data"] for e in ev if e["type"] == "case_finished"
               and e["data"]["id"].startswith("worker")]
    # The first worker case that stopped on a finding (libFuzzer exits non-zero then).
    first = next((w for w in workers if w.get("exit_code") not in (0, None)
                  or w["outcome"] != "ok"), None)
    dup = sum(1 for l in tail if "(duplicate)" in l)
    for l in tail:
        if "(duplicate)" not in l:
            print("   " + l)
    if dup:
        print(f"   ... and {dup} '(duplicate)' line(s)")
    print(f"-- exit {code} (1: a finding reproduced); {wall:.1f} s in all; "
          f"{len(workers)} worker case(s)")
    if first:
        print(f"-- first finding: worker case '{first['id']}' stopped on it after "
              f"{first['usage']['wall_us'] / 1e6:.2f} s (wall, in the sandbox, libFuzzer "
              f"start-up included)")
    if printed is not None:
        print(f"-- hatchery printed the triaged, minimized finding {printed:.2f} s after it "
              f"was started")
    kinds = sorted({(c["kind"], c["signature"]) for c in found})
    print(f"-- {fin['execs']} execs, {len(found)} finding(s), {fin['unique_crashes']} unique; "
          f"kinds/signatures seen:")
    for k, s in kinds:
        n = sum(1 for c in found if c["signature"] == s)
        print(f"   {n:3} x {s}")
    minimized = None
    for c in found:
        if c["new_signature"]:
            minimized = c["minimized"]
            if minimized:
                print(f"-- minimized: {c['size']} -> {c['minimized_size']} bytes, kept: its "
                      f"replay had the same signature")
            else:
                print(f"-- minimized: nothing kept (the {c['size']}-byte input "
                      f"{base64.b64decode(c['input_base64'])!r} has nothing smaller with the "
                      f"same signature, or minimization changed it)")
            if minimized:
                r = subprocess.run([hatchery, "fuzz", "repro", "--binary", binary, minimized],
                                   capture_output=True, text=True)
                sig = next((l.split(None, 1)[1] for l in r.stdout.splitlines()
                            if l.startswith("signature")), "?")
                data = open(minimized, "rb").read()
                print(f"   minimized input {data!r}; `hatchery fuzz repro` exit {r.returncode}: "
                      f"{sig} ({'same' if sig == c['signature'] else 'DIFFERENT'})")
    r = subprocess.run([hatchery, "fuzz", "replay", "--binary", binary, "--fail-on-crash",
                        f"{d}/artifacts"], capture_output=True, text=True)
    summary = [l for l in r.stderr.splitlines() if "Summary" in l]
    print(f"-- fuzz replay --fail-on-crash artifacts/: exit {r.returncode}; "
          f"{summary[-1].strip() if summary else r.stderr[-300:]}")
    sigs = {c["signature"] for c in found if c["kind"] != "not_reproduced"}
    return dict(first=first["usage"]["wall_us"] / 1e6 if first else None, printed=printed,
                sigs=sigs, wall=wall)

results = [campaign(f"run-{i + 1}") for i in range(runs)]

# The first finding is often already minimal ("\\." is 2 bytes): minimization is shown on a
# campaign whose one seed crashes as libFuzzer loads it.
long_seed = f"{work}/seeds-long"
os.makedirs(long_seed, exist_ok=True)
with open(f"{long_seed}/crashing", "wb") as f:
    f.write(b"mail.example.com.subdomain.example.net\\.")
print("\n== minimization: a campaign from one seed that crashes (a 40-byte name ending in an "
      "escaped dot)")
mini = campaign("minimize", jobs=1, seeds=long_seed, budget="1m")

print(f"\n== bare: the same binary, plain libFuzzer until it stops, 1 process, same seeds, "
      f"{bare} runs")
times = []
for i in range(bare):
    d = fresh(f"bare-{i + 1}")
    os.makedirs(f"{d}/artifacts")
    t0 = time.monotonic()
    r = subprocess.run([binary, f"-artifact_prefix={d}/artifacts/", "-max_total_time=300",
                        f"{d}/corpus"], capture_output=True, text=True, start_new_session=True)
    t = time.monotonic() - t0
    err = r.stderr
    what = next((l.split("ERROR: ", 1)[1] for l in err.splitlines()
                 if "ERROR: AddressSanitizer" in l), "no finding")
    frame = next((l.strip() for l in err.splitlines() if l.strip().startswith("#0 ")), "")
    execs = next((l.split()[1] for l in err.splitlines() if l.startswith("#") and "pulse" not in l
                  and l.split()[1:2] and l.split()[1].isdigit()), "?")
    print(f"   bare {i + 1}: {t:.2f} s, exit {r.returncode}: {what.split(' on address')[0]}; {frame.split(' (')[0]}")
    times.append(t)

print("\n== summary")
firsts = [r["first"] for r in results if r["first"] is not None]
printed = [r["printed"] for r in results if r["printed"] is not None]
print(f"   time to first finding, hatchery -j2, the worker case (sandboxed libFuzzer): "
      f"median {statistics.median(firsts):.2f} s of {['%.2f' % x for x in firsts]}" if firsts
      else "   hatchery found nothing")
if printed:
    print(f"   ... until hatchery printed it triaged and minimized: median "
          f"{statistics.median(printed):.2f} s of {['%.2f' % x for x in printed]}")
print(f"   time to finding, bare libFuzzer (1 process): median {statistics.median(times):.2f} s "
      f"of {['%.2f' % x for x in times]}")
allsigs = set().union(*(r["sigs"] for r in results))
print(f"   minimization run's signature: {', '.join(sorted(mini['sigs']))} "
      f"({'same' if mini['sigs'] == allsigs else 'DIFFERENT'})")
print(f"   signatures over {runs} hatchery runs: {len(allsigs)} distinct "
      f"({'stable' if len(allsigs) == 1 and all(r['sigs'] == allsigs for r in results) else 'UNSTABLE'})")
for s in sorted(allsigs):
    print(f"     {s}")
PY
