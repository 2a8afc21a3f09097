#!/bin/bash
# Issue 14 (b): what a lone tunnel open + close costs in system calls, sleeps (wake-ups) and CPU,
# against a plain TCP connect + graceful close, on this machine. Runs OpenCeiling (benchmarks jar)
# in each mode and prints its per-thread table, then perf's per-thread system-call counts per op.
#   benchmarks/ceilings/open.sh [OPS] [WARM]     (OUT dir, default /tmp/ceil; JAR default benchmarks/target/benchmarks.jar)
#   PIN=0: run the JVM on vCPU 0 only (taskset), so every hand-off between the caller and the two
#   event loops is a same-CPU context switch (no inter-processor wake-up of a halted vCPU).
#   MODES: which runs (default "open-default open-latency tcp"; also "open-shared": client and server
#   on one event loop; "open32": 32 tunnels in flight per call, counts per tunnel; use an OPS that is a multiple of 32).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
JAR=${JAR:-$ROOT/benchmarks/target/benchmarks.jar}
OPS=${1:-20000}
WARM=${2:-20}
OUT=${OUT:-/tmp/ceil}
mkdir -p "$OUT"
LAT="-Dzerohop.hbone.spinMicros=100 -Dzerohop.hbone.loopPollMicros=100"
run() { # label mode flags...
    local label=$1 mode=$2; shift 2
    echo "## $label${PIN:+ (JVM pinned to vCPU $PIN)}"
    PERF_OUT=$OUT/open-$label${PIN:+-pin$PIN}.csv nice -n 19 ${PIN:+taskset -c $PIN} java -Xms512m -Xmx512m "$@" -cp "$JAR" io.zerohop.benchmarks.OpenCeiling "$mode" "$WARM" "$OPS" 2>&1 \
        | grep -v 'SLF4J\|INFO\|WARN'
    echo "system calls / context switches per op (perf stat --per-thread, measured window):"
    grep -v '^#' "$OUT/open-$label${PIN:+-pin$PIN}.csv" | awk -F, -v n="$OPS" '
        $4=="raw_syscalls:sys_enter" || $4=="context-switches" {
            t=$1; sub(/-[0-9]+$/, "", t); gsub(/[0-9]+$/, "#", t); c[t","$4]+=$2; tot[$4]+=$2 }
        END { for (k in c) if (c[k] / n >= 0.01) printf "  %-40s %8.2f\n", k, c[k] / n;
              for (e in tot) printf "  %-40s %8.2f\n", "TOTAL," e, tot[e] / n }' | sort
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
for m in ${MODES:-open-default open-latency tcp}; do
    case $m in
        open-default) run open-default open ;;
        open-latency) run open-latency open $LAT ;;
        open-shared) run open-shared open-shared ;;
        open32) run open32 open32 ;;
        tcp) run tcp tcp ;;
    esac
done
if [ -n "${TRACE:-}" ]; then
    # The calls by name; perf trace slows each call, so only the counts mean anything here.
    for m in open tcp; do
        PERF_TRACE=1 PERF_OUT=$OUT/trace-$m.txt nice -n 19 java -Xms512m -Xmx512m -cp "$JAR" io.zerohop.benchmarks.OpenCeiling $m "$WARM" "$TRACE" >/dev/null 2>&1
        echo "## perf trace -s, $m, $TRACE ops"; grep -v '^$' "$OUT/trace-$m.txt" | grep -v 'msec\|-----' | head -60
    done
fi
