#!/bin/bash
# Issue 14 (a): where the node proxies' CPU goes during bulk16, by binary: the kernel, BoringSSL
# (libnetty_tcnative), Netty's epoll JNI library, libjvm, and JIT-compiled Java (anonymous
# executable memory, "[unknown]"/perf-*.map). perf record samples cpu-clock (a software timer; this
# VM has no hardware counters) on the LoadRunner JVM for PERF_SECONDS inside the measured window,
# then perf report sorts the samples by thread and binary.
#   benchmarks/ceilings/bulk_profile.sh     env: OUT (default /tmp/ceil/prof), JAR, START (s after launch, default 24), PERF_SECONDS (8)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
JAR=${JAR:-$ROOT/benchmarks/target/benchmarks.jar}
OUT=${OUT:-/tmp/ceil/prof}
rm -rf "$OUT"; mkdir -p "$OUT"
echo "load before: $(cat /proc/loadavg)" > "$OUT/load.txt"
nice -n 19 java -Xms1g -Xmx1g -cp "$JAR" io.zerohop.benchmarks.LoadRunner --paths zerohop-node --scenarios bulk16 \
    --seconds 14 --warmup 8 --out "$OUT/lr" > "$OUT/console.txt" 2>&1 &
JPID=$!
sleep "${START:-24}"
echo "perf start: $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"
perf record -e cpu-clock -F 999 -p $JPID -o "$OUT/perf.data" -- sleep "${PERF_SECONDS:-8}" > "$OUT/record.log" 2>&1
wait $JPID
echo "load after: $(cat /proc/loadavg)" >> "$OUT/load.txt"
grep 'bulk 16' "$OUT/console.txt"
# By thread and binary: the share of all samples in the window.
perf report -i "$OUT/perf.data" --no-children --sort comm,dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
