#!/usr/bin/env bash
# Interleaved A/B of hbone's opt-in latency mode (issue 14): the same jar, switches off and on,
# back to back, PAIRS times. Prints per run: the time, the load average, JMH's sample-mode
# p50/p99 (us) per method, and the benchmark's own lines (tunnel threads' CPU per op, sleeps per op).
#
#   benchmarks/spin-ab.sh [PAIRS] [MODES...]
#   MODES: name=SPIN_US/POLL_US, e.g. off=0/0 spin=100/0 poll=0/100 both=100/100 (default: off=0/0 both=100/100)
#
# Environment: JAR (default benchmarks/target/benchmarks.jar), METHODS (a JMH regexp, default the
# lone-op methods), JMH (extra JMH options), OUT (a file the raw output is appended to).
set -euo pipefail
cd "$(dirname "$0")/.."
JAR=${JAR:-benchmarks/target/benchmarks.jar}
METHODS=${METHODS:-'StreamOpenBenchmark.(echo|echoTcp|openStream|openEcho)$'}
JMH=${JMH:--p loops=separate -f 1 -wi 4 -w 1s -i 4 -r 1s -bm sample -tu us}
OUT=${OUT:-/dev/null}
PAIRS=${1:-3}
shift || true
MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(off=0/0 both=100/100)

for ((p = 1; p <= PAIRS; p++)); do
  for m in "${MODES[@]}"; do
    name=${m%%=*}; v=${m#*=}; spin=${v%/*}; poll=${v#*/}
    log=$(mktemp)
    echo "== pair $p $name spinMicros=$spin loopPollMicros=$poll $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
    # shellcheck disable=SC2086
    java -jar "$JAR" "$METHODS" $JMH \
        -jvmArgsAppend "-Dzerohop.hbone.spinMicros=$spin -Dzerohop.hbone.loopPollMicros=$poll" >"$log" 2>&1 || { tail -20 "$log"; exit 1; }
    cat "$log" >>"$OUT"
    # Per method: p50 / p99 of the samples, and the last measured iteration's CPU and sleeps per op.
    awk -v name="$name" '
      /^# Benchmark: / { split($3, a, "."); method = a[length(a)] }
      /^Iteration/ && /tunnel threads CPU/ { match($0, /CPU [0-9.]+ us\/op/); cpu = substr($0, RSTART + 4, RLENGTH - 10);
                                             match($0, /sleeps [0-9.-]+\/op/); sl = substr($0, RSTART + 7, RLENGTH - 10);
                                             cpus[method] = cpus[method] " " cpu; sls[method] = sls[method] " " sl }
      /^StreamOpenBenchmark\.[a-zA-Z0-9]+:p0\.50 / { split($1, a, /[.:]/); p50[a[2]] = $4 }
      /^StreamOpenBenchmark\.[a-zA-Z0-9]+:p0\.99 / { split($1, a, /[.:]/); p99[a[2]] = $4 }
      END { for (m in p50) printf "   %-5s %-10s p50 %8s us  p99 %8s us  cpu/op%s  sleeps/op%s\n", name, m, p50[m], p99[m], cpus[m], sls[m] }
    ' "$log" | sort -k2 | tee -a "$OUT"
    rm -f "$log"
  done
done
