#!/bin/bash
# RSS of two node proxies, as shipped, holding N open tunnels (issue 14: <= 100 MB with 10,000).
#
#   benchmarks/tunnels/tunnels.sh [JAR]     JAR: the shaded CLI, default examples/standalone-proxy/target/zerohop.jar
# Environment: N (tunnels, default 10000); LAUNCHER (default deploy/zerohop.sh); LABEL (row label); ZEROHOP_CDS_ARCHIVE (default: one
# trained here with deploy/train-cds.sh); JAVA_OPTS / ZEROHOP_JAVA_OPTS_EXTRA as the launcher reads
# them; JAVA_HOME (the JRE the launcher runs); DIAG (a directory for jcmd/pmap summaries at the
# peak, and an idle snapshot (*-idle.txt: heap, pmap, NMT baseline) that the peak's NMT summary.diff
# is taken against; add -XX:NativeMemoryTracking=summary to ZEROHOP_JAVA_OPTS_EXTRA for the native part);
# NET (default 127.0.0) and PORT_BASE (default 27000) move every address and port below (NET.2,
# NET.3, PORT_BASE + n), so that two runs on one machine do not collide.
# BULK_MB (with STREAMS, default 1): before the tunnels, send BULK_MB MiB from 127.0.x.3 through A -> B to a
# sink app and print a row of the proxies' CPU (user + system, /proc/PID/stat) per MiB: the flags' throughput
# cost, measured as work per byte rather than as a rate on a shared machine. N=0 runs only that. BULK_WARM_MB
# (default 500) MiB go through first, unmeasured, so that the window holds compiled code, not the JIT's work.
# BULK_AFTER=1: the same, but after the N tunnels are open and their row is printed (what a young-generation cap
# costs a proxy whose old generation holds N tunnels); the row adds each proxy's young and full collections and RSS after it.
# DUMP=1 with DIAG: also a heap dump of each proxy idle (a-idle.hprof, b-idle.hprof) and at the peak
# (a.hprof, b.hprof); `hprof.py diff a-idle.hprof a.hprof N` lists what one tunnel adds.
#
# Both proxies run through deploy/zerohop.sh with a CA from `zerohop ca init`:
#   A (node-a): --forward 127.0.0.1:27500=127.0.0.2:27900, no HBONE listener
#   B (node-b): HBONE inbound on 127.0.0.2:15008 for the echo app on 127.0.0.2:27900
# tunnels.py opens N connections from 127.0.0.3 (workload "client" on node-a) to A's forward, proves
# each by a 1-byte echo through A -> HBONE/mTLS -> B -> app, and holds them; one HBONE connection
# carries them all as HTTP/2 streams. RSS is read IDLE s after the last echo.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
JAR=$(realpath "${1:-$ROOT/examples/standalone-proxy/target/zerohop.jar}")
N=${N:-10000}
NET=${NET:-127.0.0}
P=${PORT_BASE:-27000}
IDLE=${IDLE:-10}
LABEL=${LABEL:-shipped}
LAUNCHER=${LAUNCHER:-$ROOT/deploy/zerohop.sh}
W=$(mktemp -d /tmp/zerohop-tunnels.XXXXXX)
PIDS=()
cleanup() {
    exec 9>&- 2>/dev/null || true
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
[ -n "${JAVA_HOME:-}" ] && export PATH="$JAVA_HOME/bin:$PATH"
ulimit -n "$(ulimit -Hn)"
export ZEROHOP_JAR=$JAR
if [ -z "${ZEROHOP_CDS_ARCHIVE:-}" ]; then
    ZEROHOP="$LAUNCHER" TRAIN_PORT_BASE=$P "$ROOT/deploy/train-cds.sh" "$W/zerohop.jsa"
    export ZEROHOP_CDS_ARCHIVE=$W/zerohop.jsa
fi

java -jar "$JAR" ca init --out "$W/ca" --trust-domain cluster.local >/dev/null
cat > "$W/workloads.yaml" <<YAML
trustDomain: cluster.local
nodes:
  - {name: node-a}
  - {name: node-b}
workloads:
  - {namespace: bench, name: client, serviceAccount: client, addresses: [$NET.3], protocol: HBONE, node: node-a}
  - {namespace: bench, name: echo, serviceAccount: echo, addresses: [$NET.2], protocol: HBONE, node: node-b}
YAML

python3 "$HERE/tunnels.py" echo $NET.2 $((P + 900)) & PIDS+=($!)
FORWARDS=$NET.1:$((P + 500))=$NET.2:$((P + 900))
if [ -n "${BULK_MB:-}" ]; then
    python3 "$HERE/tunnels.py" sink $NET.2 $((P + 901)) & PIDS+=($!)
    FORWARDS=$FORWARDS,$NET.1:$((P + 501))=$NET.2:$((P + 901))
fi
start() { # name, args...
    local name=$1; shift
    "$LAUNCHER" proxy --ca "$W/ca" --workloads "$W/workloads.yaml" --drain=0s "$@" >"$W/$name.log" 2>&1 &
    PIDS+=($!)
}
ready() { # port
    local i
    for i in $(seq 1 600); do curl -fs -o /dev/null "http://$1/healthz/ready" && return; sleep 0.1; done
    echo "proxy on $1 never ready" >&2; exit 1
}
start b --node node-b --inbound $NET.2:15008 --readiness $NET.2:$((P + 121)) --metrics off --admin $NET.2:$((P + 100))
PB=${PIDS[-1]}
start a --node node-a --inbound off --forward "$FORWARDS" --readiness $NET.3:$((P + 121)) --metrics off --admin $NET.3:$((P + 100))
PA=${PIDS[-1]}
ready $NET.2:$((P + 121)); ready $NET.3:$((P + 121))
sleep "$IDLE"
rss() { awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} /^Threads/{t=$2} END {printf "%.1f (anon %.1f, %d threads)", r/1024, a/1024, t}' "/proc/$1/status"; }
idle_a=$(rss "$PA"); idle_b=$(rss "$PB")
if [ -n "${DIAG:-}" ]; then # idle snapshots to compare the peak with (NMT baseline when NMT is on)
    mkdir -p "$DIAG"
    for p in a:$PA b:$PB; do
        { jcmd "${p#*:}" GC.heap_info; jcmd "${p#*:}" VM.native_memory baseline; pmap -x "${p#*:}"; } >"$DIAG/${p%%:*}-idle.txt" 2>&1
        [ -z "${DUMP:-}" ] || jcmd "${p#*:}" GC.heap_dump "$DIAG/${p%%:*}-idle.hprof" >/dev/null || true
    done
fi

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system clock ticks
gcs() { # "young-count young-seconds full-count full-seconds" so far (empty without jstat)
    jstat -gc "$1" 2>/dev/null | awk 'NR == 1 {for (i = 1; i <= NF; i++) {if ($i == "YGC") c = i; if ($i == "YGCT") t = i; if ($i == "FGC") f = i; if ($i == "FGCT") g = i}}
        NR == 2 {print $c, $t, $f, $g}'
}
gc_delta() { # before after -> "young n (t ms), full n (t ms)"
    echo "$1 $2" | awk 'NF == 8 {printf "young %d (%.0f ms), full %d (%.0f ms)", $5 - $1, ($6 - $2) * 1000, $7 - $3, ($8 - $4) * 1000} NF != 8 {printf "?"}'
}
bulk() { # the proxies' CPU per MiB relayed; $1: when (before or with N tunnels open)
    python3 "$HERE/tunnels.py" send "${BULK_WARM_MB:-500}" "${STREAMS:-1}" $NET.3 $NET.1 $((P + 501))
    local clk a0 b0 t0 a1 b1 t1 ga0 gb0
    clk=$(getconf CLK_TCK); ga0=$(gcs "$PA"); gb0=$(gcs "$PB"); a0=$(ticks "$PA"); b0=$(ticks "$PB"); t0=$(date +%s%N)
    python3 "$HERE/tunnels.py" send "$BULK_MB" "${STREAMS:-1}" $NET.3 $NET.1 $((P + 501))
    t1=$(date +%s%N); a1=$(ticks "$PA"); b1=$(ticks "$PB")
    printf '| %s | bulk %s MiB, %s streams, %s | %.0f MiB/s | A %.0f µs/MiB | B %.0f µs/MiB | GCs A %s; B %s | RSS after A %s, B %s | load %s |\n' \
        "$LABEL" "$BULK_MB" "${STREAMS:-1}" "$1" \
        "$(echo "$BULK_MB * 1000000000 / ($t1 - $t0)" | bc -l)" "$(echo "($a1 - $a0) * 1000000 / $clk / $BULK_MB" | bc -l)" \
        "$(echo "($b1 - $b0) * 1000000 / $clk / $BULK_MB" | bc -l)" \
        "$(gc_delta "$ga0" "$(gcs "$PA")")" "$(gc_delta "$gb0" "$(gcs "$PB")")" \
        "$(rss "$PA")" "$(rss "$PB")" "$(cut -d' ' -f1 /proc/loadavg)"
}
if [ -n "${BULK_MB:-}" ] && [ -z "${BULK_AFTER:-}" ]; then
    bulk "no tunnels open"
fi

oa=$(ticks "$PA"); ob=$(ticks "$PB")
exec 9> >(python3 "$HERE/tunnels.py" hold "$N" $NET.3 $NET.1 $((P + 500)) "$W/open")
t0=$(date +%s)
until [ -s "$W/open" ]; do sleep 0.5; [ $(( $(date +%s) - t0 )) -lt 300 ] || { echo "tunnels not open after 300 s" >&2; exit 1; }; done
opened=$(cat "$W/open")
# The proxies' CPU while the tunnels opened (GC and JIT included), per tunnel: what heap and compiler flags cost.
open_cpu=$(awk -v a="$(( $(ticks "$PA") - oa ))" -v b="$(( $(ticks "$PB") - ob ))" -v n="$N" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { if (n > 0) printf "open CPU A %.0f, B %.0f µs/tunnel", a * 1e6 / hz / n, b * 1e6 / hz / n }')
sleep "$IDLE"
fds=$(ls "/proc/$PA/fd" | wc -l)
if [ -n "${DIAG:-}" ]; then # a directory: heap and native-memory summaries of both proxies at the peak
    mkdir -p "$DIAG"
    set +o pipefail # head closes the histogram's pipe early
    for p in a:$PA b:$PB; do
        { jcmd "${p#*:}" GC.heap_info; jstat -gc "${p#*:}"; jcmd "${p#*:}" VM.native_memory summary.diff; jcmd "${p#*:}" GC.class_histogram | head -40
          pmap -x "${p#*:}" | sort -k3 -n -r | head -20; } >"$DIAG/${p%%:*}.txt" 2>&1
        pmap -x "${p#*:}" >"$DIAG/${p%%:*}-pmap.txt" 2>&1
        [ -z "${DUMP:-}" ] || jcmd "${p#*:}" GC.heap_dump "$DIAG/${p%%:*}.hprof" >/dev/null || true
    done
fi
printf '| %s | %s | %s | %s | %s | %s | %s s | %s |\n' "$LABEL" "$idle_a" "$idle_b" "$(rss "$PA")" "$(rss "$PB")" \
    "$opened" "$(( $(date +%s) - t0 - IDLE ))" "$fds fds on A, ${open_cpu:+$open_cpu, }load $(cut -d' ' -f1 /proc/loadavg)"
if [ -n "${BULK_MB:-}" ] && [ -n "${BULK_AFTER:-}" ]; then
    bulk "$opened"
fi
