#!/usr/bin/env bash
# The Redis fault test as a measurement: 1000 trivial runs across three workers (own
# redis-server on loopback), one worker SIGKILLed in the middle; prints the total time and
# the time to recover (until every run the killed worker held was finished elsewhere).
# Usage: reports/bench/redis-fault.sh [REPEATS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-3}
for i in $(seq 1 "$n"); do
  HATCHERY_TEST_REQUIRE=all cargo test -q -p hatchery-serve --test redis \
    redis_fault_kill_a_worker_mid_run -- --nocapture 2>&1 | grep '^redis fault test:'
done
