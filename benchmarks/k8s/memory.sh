#!/bin/bash
# Memory of `zerohop proxy --kubernetes --node node-0` as shipped (launcher deploy/zerohop.sh, its
# default flags: -Xmx128m, -XX:+ExitOnOutOfMemoryError) against fabric8's CRUD mock API server
# (io.zerohop.benchmarks.k8s.MockApiServer, its own JVM) holding N realistic pods (one Service per
# 10 pods, 100 pods per namespace, 100 nodes). For each N the mock is filled once, then each jar is
# started in turn (interleaved, RUNS times). One row per run: jar, pods, ms to ready
# (/healthz/ready 200: every informer listed, first install done), CPU ms of the JVM to ready, then
# after a full GC (jcmd GC.class_histogram collects first): live heap MB (the histogram's total),
# heap bytes per pod over the N=0 run of the same jar, VmRSS MB, and the load average. A proxy that
# exits before ready (OOM with -XX:+ExitOnOutOfMemoryError) is reported as "died".
#
#   benchmarks/k8s/memory.sh LABEL=JAR[@ARCHIVE] [LABEL=JAR[@ARCHIVE] ...]
# ARCHIVE: a class-data-sharing archive trained for that JAR (deploy/train-cds.sh), given to the
#   launcher as ZEROHOP_CDS_ARCHIVE; without one the run has none.
# Environment: PODS (default "0 1000 5000 10000"), RUNS (default 1), SETTLE (seconds after ready
#   before measuring, default 5), HOST (default 127.0.81.1; the mock on HOST:26443, the proxy's
#   listeners on HOST:260xx), EXTRA (flags after the launcher's, e.g. -Xmx256m), BENCH_JAR
#   (default benchmarks/target/benchmarks.jar), OUT (directory for logs and histograms,
#   default /tmp/zerohop-k8smem). Without @ARCHIVE no class-data-sharing archive (ZEROHOP_CDS_ARCHIVE
#   points nowhere): an archive moves start-up, RSS and class metadata, not the live heap.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PODS=${PODS:-0 1000 5000 10000}
RUNS=${RUNS:-1}
SETTLE=${SETTLE:-5}
HOST=${HOST:-127.0.81.1}
EXTRA=${EXTRA:-}
BENCH_JAR=${BENCH_JAR:-$ROOT/benchmarks/target/benchmarks.jar}
OUT=${OUT:-/tmp/zerohop-k8smem}
API_PORT=26443
[ $# -gt 0 ] || { echo "usage: $0 LABEL=JAR [LABEL=JAR ...]" >&2; exit 2; }

# shellcheck source=benchmarks/k8s/lib.sh
. "$ROOT/benchmarks/k8s/lib.sh"

declare -A BASE
printf '| jar | pods | ready ms | CPU ms to ready | live heap MB | heap B/pod | VmRSS MB | load |\n|---|---:|---:|---:|---:|---:|---:|---|\n'
for n in $PODS; do
    start_mock "$n"
    for run in $(seq 1 "$RUNS"); do
        for spec in "$@"; do
            label=${spec%%=*}
            jar=${spec#*=}
            cds=/nonexistent
            case $jar in *@*) cds=$(realpath "${jar#*@}"); jar=${jar%%@*} ;; esac
            jar=$(realpath "$jar")
            log="$OUT/proxy-$label-$n-$run.log"
            t0=$(date +%s%N)
            ZEROHOP_JAR=$jar ZEROHOP_CDS_ARCHIVE=$cds ZEROHOP_NATIVE_DIR=/nonexistent \
            ZEROHOP_JAVA_OPTS_EXTRA="-Dkubernetes.master=http://$HOST:$API_PORT -Dkubernetes.auth.tryKubeConfig=false \
-Dkubernetes.auth.tryServiceAccount=false $EXTRA" \
                "$ROOT/deploy/zerohop.sh" proxy --kubernetes --node node-0 --in-memory-ca \
                --inbound="$HOST:26008" --metrics="$HOST:26020" --readiness="$HOST:26021" --admin=off \
                --socks5="$HOST:26080" --drain=0s > "$log" 2>&1 &
            PROXY=$!
            ready=-1
            cpu=""
            for _ in $(seq 1 30000); do
                if curl -fs -o /dev/null "http://$HOST:26021/healthz/ready"; then
                    ready=$(( ($(date +%s%N) - t0) / 1000000 ))
                    cpu=$(cpu_ms "$PROXY")
                    break
                fi
                kill -0 "$PROXY" 2>/dev/null || break
                sleep 0.01
            done
            if [ "$ready" -lt 0 ]; then
                printf '| %s | %s | died (%s) | | | | | %s |\n' "$label" "$n" \
                    "$(grep -m1 -o 'OutOfMemoryError[^"]*' "$log" || tail -1 "$log")" "$(cut -d' ' -f1-3 /proc/loadavg)"
                wait "$PROXY" 2>/dev/null
                PROXY=""
                continue
            fi
            sleep "$SETTLE"
            jcmd "$PROXY" GC.class_histogram > "$OUT/histo-$label-$n-$run.txt" 2>/dev/null
            heap=$(awk '$1 == "Total" {print $3}' "$OUT/histo-$label-$n-$run.txt")
            rss=$(awk '/VmRSS/{print $2}' "/proc/$PROXY/status")
            [ "$n" = 0 ] && BASE[$label]=$heap
            perpod=""
            [ "$n" != 0 ] && [ -n "${BASE[$label]:-}" ] && perpod=$(( (heap - BASE[$label]) / n ))
            printf '| %s | %s | %s | %s | %.1f | %s | %.1f | %s |\n' "$label" "$n" "$ready" "$cpu" \
                "$(echo "$heap / 1048576" | bc -l)" "$perpod" "$(echo "$rss / 1024" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
            kill -TERM "$PROXY"; wait "$PROXY" 2>/dev/null
            PROXY=""
        done
    done
    kill -TERM "$MOCK"; wait "$MOCK" 2>/dev/null
    MOCK=""
done
