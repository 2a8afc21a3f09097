#!/bin/bash
# Issue 14 (a): where the CPU goes when 16 streams move bytes over plain TCP and over the zerohop
# node-proxy pair (LoadRunner --scenarios bulk16, both in one JVM: generator threads, the app's
# sink loops and both proxies share this machine's vCPUs). Besides LoadRunner's own MB/s and CPU
# per MB it records, for each path's measured window:
#   - perf stat --per-thread: task-clock, system calls and context switches per thread (LoadRunner's
#     ZEROHOP_BENCH_PERF hook; the window is exactly the measured one);
#   - every 0.5 s: /proc/stat (all CPUs: user, system, softirq, idle, steal) and utime/stime of each
#     JVM thread, so user and kernel time per thread group and whether both vCPUs are busy.
# benchmarks/ceilings/bulk_report.py turns the files into per-MB tables.
#   benchmarks/ceilings/bulk.sh [SECONDS] [WARMUP]    env: OUT (default /tmp/ceil/bulk), JAR, PATHS,
#   PERF_EVENTS (perf events per thread; default task-clock,raw_syscalls:sys_enter,context-switches;
#   add syscalls:sys_enter_<name> to count calls by name: bulk_calls.sh prints them per MB)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
JAR=${JAR:-$ROOT/benchmarks/target/benchmarks.jar}
SECONDS_=${1:-6}
WARMUP=${2:-10}
OUT=${OUT:-/tmp/ceil/bulk}
PATHS=${PATHS:-tcp,zerohop-node}
rm -rf "$OUT"; mkdir -p "$OUT"
echo "load before: $(cat /proc/loadavg)" > "$OUT/load.txt"
ZEROHOP_BENCH_PERF=${PERF_EVENTS:-task-clock,raw_syscalls:sys_enter,context-switches} ZEROHOP_BENCH_PERF_DIR=$OUT \
    nice -n 19 java -Xms1g -Xmx1g -cp "$JAR" io.zerohop.benchmarks.LoadRunner --paths "$PATHS" --scenarios bulk16 \
    --seconds "$SECONDS_" --warmup "$WARMUP" --out "$OUT/lr" > "$OUT/console.txt" 2>&1 &
JPID=$!
while kill -0 $JPID 2>/dev/null; do
    {
        echo "T $(date +%s.%N)"
        head -1 /proc/stat
        for t in /proc/$JPID/task/*; do
            # comm may hold spaces: take the fields after the last ')'; utime, stime are fields 14, 15.
            s=$(cat "$t/stat" 2>/dev/null) || continue
            rest=${s##*) }
            read -r -a f <<< "$rest"
            echo "K ${t##*/} ${f[11]} ${f[12]} $(tr ' ' _ < "$t/comm")"
        done
    } >> "$OUT/samples.txt"
    sleep 0.5
done
echo "load after: $(cat /proc/loadavg)" >> "$OUT/load.txt"
cat "$OUT/console.txt" | grep -i 'bulk\|MB/s' | head
python3 "$ROOT/benchmarks/ceilings/bulk_report.py" "$OUT" "$SECONDS_"
