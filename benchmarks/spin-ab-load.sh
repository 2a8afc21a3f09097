#!/usr/bin/env bash
# Interleaved A/B of hbone's opt-in latency mode in the load runner: the same jar, switches off and
# on, back to back, PAIRS times. Prints per run the time, the load average and the result rows.
#
#   benchmarks/spin-ab-load.sh [PAIRS] [MODES...]      (MODES as in spin-ab.sh; default off=0/0 both=100/100)
#
# Environment: JAR (default benchmarks/target/benchmarks.jar), SCENARIOS (default latency,open;
# bulk1,bulk16 for CPU per MB), PATHS (default tcp,zerohop-embedded), SECONDS_ (default 4),
# WARMUP (default 5), OUT (a directory; each run's results.md is kept there as <pair>-<mode>.md).
set -euo pipefail
cd "$(dirname "$0")/.."
JAR=${JAR:-benchmarks/target/benchmarks.jar}
SCENARIOS=${SCENARIOS:-latency,open}
PATHS_=${PATHS:-tcp,zerohop-embedded}
OUT=${OUT:-$(mktemp -d)}
PAIRS=${1:-2}
shift || true
MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(off=0/0 both=100/100)
mkdir -p "$OUT"

for ((p = 1; p <= PAIRS; p++)); do
  for m in "${MODES[@]}"; do
    name=${m%%=*}; v=${m#*=}; spin=${v%/*}; poll=${v#*/}
    dir=$(mktemp -d)
    echo "== pair $p $name spinMicros=$spin loopPollMicros=$poll $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
    java -Xms1g -Xmx1g -Dzerohop.hbone.spinMicros="$spin" -Dzerohop.hbone.loopPollMicros="$poll" \
        -cp "$JAR" io.zerohop.benchmarks.LoadRunner --paths "$PATHS_" --scenarios "$SCENARIOS" \
        --seconds "${SECONDS_:-4}" --warmup "${WARMUP:-5}" --out "$dir" >"$dir/console.txt" 2>&1 || { tail -20 "$dir/console.txt"; exit 1; }
    cp "$dir/results.md" "$OUT/$p-$name.md"
    cp "$dir/console.txt" "$OUT/$p-$name-console.txt"
    grep -E '^\| *(tcp|zerohop)' "$dir/results.md" || true
    grep -iE 'cpu|us/MB|per MB' "$dir/console.txt" | head -20 || true
    rm -rf "$dir"
  done
done
echo "results in $OUT"
