#!/bin/bash
# Builds wake.c and runs it RUNS times (default 3), each with the load average beside it.
#   benchmarks/ceilings/wake.sh [ITERATIONS]
set -eu
DIR=$(cd "$(dirname "$0")" && pwd)
gcc -O2 -pthread -o /tmp/ceil-wake "$DIR/wake.c"
for r in $(seq 1 "${RUNS:-3}"); do
    echo "# run $r, $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    /tmp/ceil-wake "${1:-10000}"
done
echo "# end load $(cut -d' ' -f1-3 /proc/loadavg)"
