#!/bin/bash
# Idle footprint and start-to-ready of `zerohop proxy --in-memory-ca` as shipped (issue 14): every
# run goes through the launcher deploy/zerohop.sh with a class-data-sharing archive that
# deploy/train-cds.sh trained with the same JRE and flags, as deploy/Dockerfile builds the image.
# Prints one row per run: label, ready ms (start -> first 200 from /healthz/ready), CPU ms of the
# JVM and of its main thread at that moment, VmRSS / RssAnon / RssFile MB after IDLE seconds, threads, loaded classes,
# and the size of the class-data-sharing archive (resident in full: relocation writes every page; it moves with the
# classes loaded at start, without the run-to-run noise of VmRSS).
#
#   benchmarks/footprint.sh [JAR]            JAR: the shaded CLI, default examples/standalone-proxy/target/zerohop.jar
# Environment: LAUNCHER (default deploy/zerohop.sh), IDLE (seconds, default 10), RUNS (repeats of the whole list, default 1),
#   FLAGSETS: newline-separated "label|[launcher=PATH] [jdk=JAVA_HOME] [nocds] [flags]"; the flags are added after
#             the launcher's (ZEROHOP_JAVA_OPTS_EXTRA, the later flag wins); "launcher=" runs another
#             launcher script (an older deploy/zerohop.sh, for before/after); "jdk=" runs the launcher
#             on another JRE; "nocds" runs without an archive; "defaults" replaces the launcher's
#             flags by the JVM's own (JAVA_OPTS empty); "jar=PATH" runs another shaded jar (A/B of
#             code changes in one interleaved run); "nonative" leaves the jar's native libraries
#             packed (Netty then extracts them at every start, as before the image unpacked them).
#             Default: one set, the launcher as shipped.
#   IDENTITY: the proxy's identity-source options (default --in-memory-ca; e.g. "--cert C --key K --trust-bundle B");
#   TRAIN_IDENTITY: those the archive is trained with (default IDENTITY; train-cds.sh's TRAIN_IDENTITY).
#   NICE: run the proxy at this nice value (e.g. -10 as root): on a machine shared with other work it
#         gets most of the CPU it would get on a quiet one, so its wall time to ready means something.
#   CDS_DIR: where the per-set archives and unpacked native libraries are kept (reused while the jar is unchanged).
#   HOST: the loopback address the proxy listens on (default 127.0.0.1), so that two runs on one machine do not collide.
#   HEAP=1: after the RSS columns, one more: the live heap in MB after a full collection (the total of
#           `jcmd GC.class_histogram`, which collects first). Heap-only changes of a few hundred KB
#           (the jar's central directory, a cache) show there; VmRSS moves ~0.5 MB between runs of one jar.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JAR=$(realpath "${1:-$ROOT/examples/standalone-proxy/target/zerohop.jar}")
IDLE=${IDLE:-10}
RUNS=${RUNS:-1}
LAUNCHER=${LAUNCHER:-$ROOT/deploy/zerohop.sh}
IDENTITY=${IDENTITY:---in-memory-ca}
HOST=${HOST:-127.0.0.1}
PROXY_ARGS="proxy $IDENTITY --inbound=$HOST:2628 --metrics=$HOST:26220 --readiness=$HOST:26221 --admin=$HOST:26200 --socks5=$HOST:26280 --drain=0s"
CLK=$(getconf CLK_TCK)
CDS_DIR=${CDS_DIR:-/tmp/zerohop-footprint-cds}
mkdir -p "$CDS_DIR"
export ZEROHOP_JAR=$JAR

# CPU ms of the launcher's thread that creates the JVM and runs main() (named "java", like the
# primordial thread, which only waits): start-up's critical path, which the load of other
# processes distorts less than wall time.
main_cpu() {
    local t n=0 f
    for t in /proc/$1/task/*; do
        [ "$(cat "$t/comm" 2>/dev/null)" = java ] || continue
        read -r -a f < "$t/stat"
        n=$(( n + f[13] + f[14] ))
    done
    echo $(( n * 1000 / CLK ))
}

wait_ready() { # t0 -> prints ms to ready or -1
    local i
    for i in $(seq 1 3000); do
        if curl -fs -o /dev/null "http://$HOST:26221/healthz/ready"; then
            echo $(( ($(date +%s%N) - $1) / 1000000 ))
            return
        fi
        kill -0 "$PID" 2>/dev/null || { echo -1; return; }
        sleep 0.01
    done
    echo -1
}

# Parses a flag set into the environment the launcher reads: JAVA_HOME/PATH, ZEROHOP_JAVA_OPTS_EXTRA,
# JAVA_OPTS, ZEROHOP_CDS_ARCHIVE (trained on first use).
configure() { # label spec
    local label=$1 spec=$2 word extra="" cds=1 jdk="" native=1
    unset JAVA_OPTS
    RUN_LAUNCHER=$LAUNCHER
    RUN_JAR=$JAR
    for word in $spec; do
        case $word in
            jdk=*) jdk=${word#jdk=} ;;
            jar=*) RUN_JAR=$(realpath "${word#jar=}") ;;
            nonative) native=0 ;;
            launcher=*) RUN_LAUNCHER=$(realpath "${word#launcher=}") ;;
            nocds) cds=0 ;;
            defaults) export JAVA_OPTS=""; cds=0 ;;
            *) extra="$extra $word" ;;
        esac
    done
    export PATH=${jdk:+$jdk/bin:}$BASE_PATH
    export ZEROHOP_JAVA_OPTS_EXTRA=$extra
    export ZEROHOP_JAR=$RUN_JAR
    export ZEROHOP_NATIVE_DIR=/nonexistent
    if [ $native = 1 ]; then
        # As deploy/Dockerfile does: the jar's Linux JNI libraries, unpacked once per jar.
        ZEROHOP_NATIVE_DIR="$CDS_DIR/native-$(echo -n "$RUN_JAR" | md5sum | cut -c1-8)-$(stat -c %Y "$RUN_JAR")"
        [ -d "$ZEROHOP_NATIVE_DIR" ] || unzip -q -o -j "$RUN_JAR" 'META-INF/native/*.so' -d "$ZEROHOP_NATIVE_DIR"
    fi
    export ZEROHOP_CDS_ARCHIVE=/nonexistent
    if [ $cds = 1 ]; then
        local jsa
        jsa="$CDS_DIR/$(echo -n "$label" | tr -c 'A-Za-z0-9' '_')-$(stat -c %Y "$RUN_JAR").jsa"
        [ -s "$jsa" ] || ZEROHOP=$RUN_LAUNCHER TRAIN_PORT_BASE=26000 TRAIN_IDENTITY="${TRAIN_IDENTITY:-$IDENTITY}" \
            "$ROOT/deploy/train-cds.sh" "$jsa" \
            || echo "training the archive for $label failed" >&2
        export ZEROHOP_CDS_ARCHIVE=$jsa
    fi
}

BASE_PATH=$PATH
mapfile -t SETS <<EOF
${FLAGSETS:-shipped (deploy/zerohop.sh)|}
EOF

printf '# %s  load %s  jar %s  nice %s\n' "$(date -u +%FT%TZ)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$JAR" "${NICE:-0}"
if [ "${HEAP:-0}" = 1 ]; then
    printf '| flags | ready ms | CPU ms to ready | main thread CPU ms | VmRSS MB | RssAnon MB | RssFile MB | threads | classes | archive MB | load | live heap MB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
else
    printf '| flags | ready ms | CPU ms to ready | main thread CPU ms | VmRSS MB | RssAnon MB | RssFile MB | threads | classes | archive MB | load |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
fi
for run in $(seq 1 "$RUNS"); do
    for line in "${SETS[@]}"; do
        label=${line%%|*}
        configure "$label" "${line#*|}"
        t0=$(date +%s%N)
        # shellcheck disable=SC2086
        nice -n "${NICE:-0}" "$RUN_LAUNCHER" $PROXY_ARGS >/tmp/footprint-proxy.log 2>&1 &
        PID=$!
        ready=$(wait_ready "$t0")
        read -r -a st < /proc/$PID/stat
        cpu=$(( (st[13] + st[14]) * 1000 / CLK ))
        main=$(main_cpu "$PID")
        sleep "$IDLE"
        rss=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
        anon=$(awk '/RssAnon/{print $2}' /proc/$PID/status)
        file=$(awk '/RssFile/{print $2}' /proc/$PID/status)
        thr=$(awk '/Threads/{print $2}' /proc/$PID/status)
        classes=$(jcmd "$PID" PerfCounter.print 2>/dev/null | awk -F= '/^java.cls.loadedClasses=|^java.cls.sharedLoadedClasses=/{n+=$2} END {print n}')
        jsa=$(stat -c %s "$ZEROHOP_CDS_ARCHIVE" 2>/dev/null || echo 0)
        printf '| %s | %s | %s | %s | %.1f | %.1f | %.1f | %s | %s | %.2f | %s |' "$label" "$ready" "$cpu" "$main" \
            "$(echo "$rss/1024" | bc -l)" "$(echo "$anon/1024" | bc -l)" "$(echo "$file/1024" | bc -l)" "$thr" \
            "${classes:-?}" "$(echo "$jsa/1048576" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
        if [ "${HEAP:-0}" = 1 ]; then
            heap=$(jcmd "$PID" GC.class_histogram 2>/dev/null | awk '$1 == "Total" {print $3}')
            printf ' %.2f |' "$(echo "${heap:-0}/1048576" | bc -l)"
        fi
        printf '\n'
        kill -TERM "$PID"; wait "$PID" 2>/dev/null
    done
done
printf '# end load %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
