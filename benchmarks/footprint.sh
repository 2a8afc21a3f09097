#!/bin/bash
# Idle footprint and start-to-ready of `zerohop proxy --in-memory-ca` under JVM flag sets, back to
# back (issue 14). Prints one row per run: label, ready ms (start -> first 200 from /healthz/ready),
# CPU ms of the JVM at that moment, VmRSS / RssAnon / RssFile MB after IDLE seconds, threads, and
# loaded classes (jcmd, when available).
#
#   benchmarks/footprint.sh [JAR]            JAR: the shaded CLI, default examples/standalone-proxy/target/zerohop.jar
# Environment: IDLE (seconds, default 10), RUNS (repeats of the whole list, default 1),
#              FLAGSETS (newline-separated "label|JVM flags"; default: the launcher's flags),
#              CDS_DIR (where per-set AppCDS archives are built, see @CDS@ below).
# MALLOC_ARENA_MAX=2 is set for every run, as the launcher sets it.
set -u
JAR=${1:-examples/standalone-proxy/target/zerohop.jar}
IDLE=${IDLE:-10}
RUNS=${RUNS:-1}
PROXY_ARGS="proxy --in-memory-ca --inbound=127.0.0.1:2628 --metrics=127.0.0.1:26220 --readiness=127.0.0.1:26221 --admin=127.0.0.1:26200 --socks5=127.0.0.1:26280 --drain=0s"
SHIPPED="-XX:+UseSerialGC -Xms8m -Xmx128m -XX:MaxDirectMemorySize=64m -XX:TieredStopAtLevel=1 -Xss256k -XX:ReservedCodeCacheSize=32m -XX:MaxMetaspaceSize=96m -XX:+ExitOnOutOfMemoryError"
export MALLOC_ARENA_MAX=2
CLK=$(getconf CLK_TCK)

start_proxy() { # flags... ; sets PID
    # shellcheck disable=SC2086
    java $1 -jar "$JAR" $PROXY_ARGS >/tmp/footprint-proxy.log 2>&1 &
    PID=$!
}

wait_ready() { # prints ms to ready or -1
    local t0=$1 i
    for i in $(seq 1 3000); do
        if curl -fs -o /dev/null http://127.0.0.1:26221/healthz/ready; then
            echo $(( ($(date +%s%N) - t0) / 1000000 ))
            return
        fi
        kill -0 "$PID" 2>/dev/null || { echo -1; return; }
        sleep 0.01
    done
    echo -1
}

# "@CDS@" in a flag set: an AppCDS archive trained with that set's own flags (as deploy/Dockerfile
# trains with the launcher's), built once per set into $CDS_DIR and substituted.
CDS_DIR=${CDS_DIR:-/tmp/zerohop-footprint-cds}
mkdir -p "$CDS_DIR"
archive_for() { # label flags -> prints flags with @CDS@ replaced
    local label=$1 flags=$2 jsa
    if [[ $flags != *@CDS@* ]]; then echo "$flags"; return; fi
    jsa="$CDS_DIR/$(echo -n "$label" | tr -c 'A-Za-z0-9' '_').jsa"
    if [ ! -s "$jsa" ]; then
        start_proxy "${flags//@CDS@/} -XX:ArchiveClassesAtExit=$jsa"
        wait_ready "$(date +%s%N)" >/dev/null
        kill -TERM "$PID"; wait "$PID" 2>/dev/null
    fi
    echo "${flags//@CDS@/-XX:SharedArchiveFile=$jsa -Xshare:auto}"
}

mapfile -t FLAGSETS <<EOF
${FLAGSETS:-shipped (deploy/zerohop.sh)|$SHIPPED @CDS@}
EOF

printf '# %s  load %s\n' "$(date -u +%FT%TZ)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| flags | ready ms | CPU ms to ready | VmRSS MB | RssAnon MB | RssFile MB | threads | classes |\n|---|---:|---:|---:|---:|---:|---:|---:|\n'
for run in $(seq 1 "$RUNS"); do
    for line in "${FLAGSETS[@]}"; do
        label=${line%%|*}
        flags=$(archive_for "$label" "${line#*|}")
        t0=$(date +%s%N)
        start_proxy "$flags"
        ready=$(wait_ready "$t0")
        read -r -a st < /proc/$PID/stat
        cpu=$(( (st[13] + st[14]) * 1000 / CLK ))
        sleep "$IDLE"
        rss=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
        anon=$(awk '/RssAnon/{print $2}' /proc/$PID/status)
        file=$(awk '/RssFile/{print $2}' /proc/$PID/status)
        thr=$(awk '/Threads/{print $2}' /proc/$PID/status)
        classes=$(jcmd "$PID" PerfCounter.print 2>/dev/null | awk -F= '/^java.cls.loadedClasses=|^java.cls.sharedLoadedClasses=/{n+=$2} END {print n}')
        printf '| %s | %s | %s | %.1f | %.1f | %.1f | %s | %s |\n' "$label" "$ready" "$cpu" \
            "$(echo "$rss/1024" | bc -l)" "$(echo "$anon/1024" | bc -l)" "$(echo "$file/1024" | bc -l)" "$thr" "${classes:-?}"
        kill -TERM "$PID"; wait "$PID" 2>/dev/null
    done
done
printf '# end load %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
