#!/bin/bash
# Where the RSS of `zerohop proxy --kubernetes --node node-0` as shipped goes (launcher deploy/zerohop.sh
# and its default flags, a Kubernetes-trained class-data-sharing archive) against fabric8's CRUD mock
# API server (io.zerohop.benchmarks.k8s.MockApiServer, its own JVM) holding N realistic pods, as
# benchmarks/k8s/memory.sh. For each N the mock is filled once, then each jar runs in turn
# (interleaved, RUNS times), twice per turn:
#   plain: SETTLE s after /healthz/ready, before anything forces a GC: VmRSS, RssAnon, RssFile,
#          threads, the Java heap's committed and used bytes (GC.heap_info), the RSS of the heap's
#          own mappings (/proc/PID/smaps), metaspace committed (GC.heap_info; with the archive most class metadata is in its mapping),
#          code cache used; then a full GC (GC.class_histogram: the live heap) and, 2 s later,
#          VmRSS, heap committed and heap RSS again (what a full GC gives back: SerialGC shrinks
#          the generations by MaxHeapFreeRatio after a full collection).
#   nmt:   the same start with -XX:NativeMemoryTracking=summary and -Xlog:class+load (files only):
#          NMT summary (committed KB per category) and the loaded classes by origin.
#
#   benchmarks/k8s/footprint.sh LABEL=JAR@ARCHIVE [LABEL=JAR@ARCHIVE ...]     (ARCHIVE optional)
# Environment: PODS (default "0 1000 10000"), POLICIES (Istio AuthorizationPolicies in the mock, 0; POLICY_MIX=1: a third each AuthorizationPolicy, PeerAuthentication, CiliumNetworkPolicy), RUNS (1), SETTLE (seconds after ready, 10), HOST
# (127.0.91.1; the mock on HOST:27443, the proxy on HOST:270xx), EXTRA (flags after the launcher's;
# LABEL_EXTRA_<label> adds per jar), LABEL_LAUNCHER_<label> (another launcher script for that jar, e.g.
# an older deploy/zerohop.sh for before/after), MODES ("plain nmt"), BENCH_JAR, OUT (/tmp/zerohop-k8sfoot).
# Output: one markdown row per plain run and per nmt run on stdout; raw jcmd output in OUT.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PODS=${PODS:-0 1000 10000}
RUNS=${RUNS:-1}
SETTLE=${SETTLE:-10}
HOST=${HOST:-127.0.91.1}
EXTRA=${EXTRA:-}
MODES=${MODES:-plain nmt}
BENCH_JAR=${BENCH_JAR:-$ROOT/benchmarks/target/benchmarks.jar}
OUT=${OUT:-/tmp/zerohop-k8sfoot}
API_PORT=27443
[ $# -gt 0 ] || { echo "usage: $0 LABEL=JAR[@ARCHIVE] ..." >&2; exit 2; }

# shellcheck source=benchmarks/k8s/lib.sh
. "$ROOT/benchmarks/k8s/lib.sh"
status_mb() { awk -v k="$2:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
# GC.heap_info (SerialGC): "def new generation total 2432K, used 1113K [0x..., 0x..., 0x...)" and
# "tenured generation total 5504K, used ...": committed and used KB of both generations, and the
# heap's reserved range (start of the young generation to the end of the old one).
heap_kb() { awk '/generation +total/ {gsub(/K,?/, "", $4); gsub(/K/, "", $6); c += $4; u += $6} END {print c, u}' "$1"; }
heap_range() { sed -n 's/.*generation.*\[\(0x[0-9a-f]*\), *0x[0-9a-f]*, *\(0x[0-9a-f]*\)).*/\1 \2/p' "$1" | awk 'NR == 1 {s = $1} {e = $2} END {print s, e}'; }
# RSS (KB) of the mappings inside [start, end): the Java heap's resident pages.
range_rss_kb() {
    perl -ne 'BEGIN { ($s, $e) = (hex($ARGV[1]), hex($ARGV[2])); splice(@ARGV, 1) }
        if (/^([0-9a-f]+)-[0-9a-f]+ /) { $a = hex($1); $in = ($a >= $s && $a < $e); next }
        $t += $1 if $in && /^Rss:\s+(\d+)/;
        END { print $t + 0, "\n" }' "/proc/$1/smaps" "$2" "$3"
}

start_proxy() { # label jar cds extra log
    ZEROHOP_JAR=$2 ZEROHOP_CDS_ARCHIVE=$3 ZEROHOP_NATIVE_DIR=/nonexistent \
    ZEROHOP_JAVA_OPTS_EXTRA="-Dkubernetes.master=http://$HOST:$API_PORT -Dkubernetes.auth.tryKubeConfig=false \
-Dkubernetes.auth.tryServiceAccount=false $EXTRA $4" \
        "${LAUNCHER_FOR:-$ROOT/deploy/zerohop.sh}" proxy --kubernetes --node node-0 --in-memory-ca \
        --inbound="$HOST:27008" --metrics="$HOST:27020" --readiness="$HOST:27021" --admin=off \
        --socks5="$HOST:27080" --drain=0s > "$5" 2>&1 &
    PROXY=$!
}
wait_ready() { # -> sets READY_MS, CPU_MS; returns 1 if the proxy died
    local t0=$1
    READY_MS=-1
    for _ in $(seq 1 30000); do
        if curl -fs -o /dev/null "http://$HOST:27021/healthz/ready"; then
            READY_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
            CPU_MS=$(cpu_ms "$PROXY")
            return 0
        fi
        kill -0 "$PROXY" 2>/dev/null || return 1
        sleep 0.01
    done
    return 1
}
stop_proxy() { kill -TERM "$PROXY"; wait "$PROXY" 2>/dev/null; PROXY=""; }

printf '| jar | pods | CPU ms to ready | VmRSS MB | anon / file MB | threads | heap committed / used MB | heap RSS MB | archive RSS MB | live heap MB | after full GC: VmRSS / heap committed / heap RSS MB | metaspace committed MB | code cache used MB | load |\n'
printf '|---|---:|---:|---:|---|---:|---|---:|---:|---:|---|---|---:|---|\n'
for n in $PODS; do
    start_mock "$n"
    for run in $(seq 1 "$RUNS"); do
        for spec in "$@"; do
            label=${spec%%=*}
            jar=${spec#*=}
            cds=/nonexistent
            case $jar in *@*) cds=$(realpath "${jar#*@}"); jar=${jar%%@*} ;; esac
            jar=$(realpath "$jar")
            xvar="LABEL_EXTRA_$label"
            lextra=${!xvar:-}
            lvar="LABEL_LAUNCHER_$label"
            LAUNCHER_FOR=${!lvar:-}
            for mode in $MODES; do
                p="$OUT/$label-$n-$run-$mode"
                extra=$lextra
                [ "$mode" = nmt ] && extra="$extra -XX:NativeMemoryTracking=summary -Xlog:class+load=info:file=$p.classes.txt"
                t0=$(date +%s%N)
                start_proxy "$label" "$jar" "$cds" "$extra" "$p.log"
                if ! wait_ready "$t0"; then
                    printf '| %s | %s | died (%s) |\n' "$label" "$n" "$(grep -m1 -o 'OutOfMemoryError[^"]*' "$p.log" || tail -1 "$p.log")"
                    wait "$PROXY" 2>/dev/null; PROXY=""; continue
                fi
                sleep "$SETTLE"
                load=$(cut -d' ' -f1-3 /proc/loadavg)
                if [ "$mode" = nmt ]; then
                    jcmd "$PROXY" VM.native_memory summary > "$p.nmt.txt" 2>&1
                    rss=$(status_mb "$PROXY" VmRSS)
                    stop_proxy
                    printf '| %s (NMT) | %s | %s | %s | | | | | | | | | %s |\n' "$label" "$n" "$CPU_MS" "$rss" "$load"
                    continue
                fi
                rss=$(status_mb "$PROXY" VmRSS); anon=$(status_mb "$PROXY" RssAnon); file=$(status_mb "$PROXY" RssFile)
                thr=$(awk '$1 == "Threads:" {print $2}' "/proc/$PROXY/status")
                cp "/proc/$PROXY/smaps" "$p.smaps1.txt"
                arss=$(awk -v f="$cds" '/^[0-9a-f]+-[0-9a-f]+ / {in_a = ($NF == f); next} in_a && $1 == "Rss:" {t += $2} END {printf "%.1f", t / 1024}' "$p.smaps1.txt")
                jcmd "$PROXY" GC.heap_info > "$p.heap1.txt" 2>&1
                jcmd "$PROXY" Compiler.codecache > "$p.code.txt" 2>&1
                read -r hc hu < <(heap_kb "$p.heap1.txt")
                read -r hs he < <(heap_range "$p.heap1.txt")
                hrss=$(range_rss_kb "$PROXY" "$hs" "$he")
                jcmd "$PROXY" GC.class_histogram > "$p.histo.txt" 2>&1
                live=$(awk '$1 == "Total" {print $3}' "$p.histo.txt")
                sleep 2
                rss2=$(status_mb "$PROXY" VmRSS)
                jcmd "$PROXY" GC.heap_info > "$p.heap2.txt" 2>&1
                read -r hc2 _ < <(heap_kb "$p.heap2.txt")
                hrss2=$(range_rss_kb "$PROXY" "$hs" "$he")
                cp "/proc/$PROXY/smaps" "$p.smaps2.txt"
                mc=$(awk '$1 == "Metaspace" {gsub(/[K,]/, "", $5); m = $5} $1 == "class" {gsub(/[K,]/, "", $6); c = $6} END {printf "%.1f (class %.1f)", m / 1024, c / 1024}' "$p.heap1.txt")
                cc=$(awk -F'used=' '/^CodeCache/ || /^CodeHeap/ {split($2, a, "K"); t += a[1]} END {printf "%.1f", t / 1024}' "$p.code.txt")
                stop_proxy
                printf '| %s | %s | %s | %s | %s / %s | %s | %s / %s | %s | %s | %s | %s / %s / %s | %s | %s | %s |\n' \
                    "$label" "$n" "$CPU_MS" "$rss" "$anon" "$file" "$thr" "$(mb $((hc * 1024)))" "$(mb $((hu * 1024)))" \
                    "$(mb $((hrss * 1024)))" "$arss" "$(mb "$live")" "$rss2" "$(mb $((hc2 * 1024)))" "$(mb $((hrss2 * 1024)))" \
                    "${mc:-?}" "$cc" "$load"
            done
        done
    done
    kill -TERM "$MOCK"; wait "$MOCK" 2>/dev/null
    MOCK=""
done
