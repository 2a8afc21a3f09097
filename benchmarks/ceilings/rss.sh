#!/bin/bash
# Issue 14 (c): the idle-RSS floor under `zerohop proxy` on this machine, tier by tier, each with the
# launcher's exact JVM flags (read from deploy/zerohop.sh, MALLOC_ARENA_MAX=2, the jar's native
# libraries unpacked as the image does):
#   hello   a Java main that sleeps (TlsIdle hello)
#   epoll   + one Netty epoll event loop and a bound server socket
#   tls     + netty-tcnative BoringSSL, a server SslContext, a bound TLS server socket, one handshake
#   proxy   `zerohop proxy --in-memory-ca` through deploy/zerohop.sh with its trained CDS archive
# Each tier on JDK 17 (the default java) and on JDK 25 with -XX:+UseCompactObjectHeaders added.
# Every tier runs on a static CDS archive of the classes it loads (APPCDS=0: hello/epoll/tls on the
# JDK's default archive instead), as the launcher runs the proxy on one trained for it.
# Per run after IDLE seconds: VmRSS / RssAnon / RssFile / RssShmem, then smaps Rss grouped by mapping
# (libjvm, CDS archive, other .so, anonymous, ...). With NMT=1 a second run of each tier adds
# -XX:NativeMemoryTracking=summary and prints jcmd VM.native_memory's committed sizes (NMT's own
# overhead is in its "Native Memory Tracking" line; RSS of that run is not the headline).
#   benchmarks/ceilings/rss.sh [tiers...]   env: JAR, IDLE (default 10), NMT, JDKS ("17 25"), CDS_DIR,
#   EXTRA (JVM flags added to every run, e.g. "-XX:+UnlockDiagnosticVMOptions -XX:ArchiveRelocationMode=0")
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
JAR=$(realpath "${JAR:-$ROOT/examples/standalone-proxy/target/zerohop.jar}")
IDLE=${IDLE:-10}
TIERS=${*:-hello epoll tls proxy}
JDKS=${JDKS:-17 25}
J25=/usr/lib/jvm/temurin-25-jdk-amd64
CDS_DIR=${CDS_DIR:-/tmp/ceil/cds}
mkdir -p "$CDS_DIR" /tmp/ceil/cls
FLAGS=$(sed -n '/^ZEROHOP_DEFAULT_OPTS="-XX/,/"$/p' "$ROOT/deploy/zerohop.sh" | tr -d '\\\n' | sed 's/^ZEROHOP_DEFAULT_OPTS="//; s/"$//')
NATIVE=$CDS_DIR/native
[ -d "$NATIVE" ] || unzip -q -o -j "$JAR" 'META-INF/native/*.so' -d "$NATIVE"
# In a jar: CDS archives classes from jars only (not from a class directory).
javac -nowarn -d /tmp/ceil/cls -cp "$JAR" "$ROOT/benchmarks/ceilings/TlsIdle.java" 2>/dev/null
(cd /tmp/ceil/cls && jar cf /tmp/ceil/tlsidle.jar TlsIdle*.class)
export MALLOC_ARENA_MAX=2
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) jar $JAR"
echo "# launcher flags: $FLAGS -Djava.library.path=$NATIVE (+ -XX:SharedArchiveFile for proxy)"

smaps_groups() { # pid -> "group MB" lines, by Rss
    awk '/^[0-9a-f]+-[0-9a-f]+ / { name = (NF >= 6 ? $6 : "[anon]");
             if (name ~ /libjvm/) g="libjvm.so"; else if (name ~ /\.jsa$/) g="CDS archive (.jsa)";
             else if (name ~ /tcnative/) g="libnetty_tcnative.so"; else if (name ~ /\.so/) g="other .so";
             else if (name ~ /modules$/) g="lib/modules (jimage)"; else if (name ~ /\.jar$/) g="jar";
             else if (name ~ /\[heap\]/) g="[heap] (malloc main arena)"; else if (name ~ /\[stack/) g="[stack]";
             else if (name == "[anon]") g="anonymous (Java heap, metaspace, code cache, malloc arenas, thread stacks)"; else g=name; next }
         /^Rss:/ { r[g] += $2 }
         END { for (k in r) if (r[k] >= 100) printf "    %7.1f MB  %s\n", r[k] / 1024, k }' "/proc/$1/smaps" | sort -rn
}

run() { # jdk tier nmt
    local jdk=$1 tier=$2 nmt=$3 java=$(command -v java) extra="" coh="" pid log=/tmp/ceil/rss-run.log cds=""
    if [ "$jdk" = 25 ]; then java=$J25/bin/java; coh="-XX:+UseCompactObjectHeaders"; extra=$coh; fi
    [ "$nmt" = 1 ] && extra="$extra -XX:NativeMemoryTracking=summary"
    extra="$extra ${EXTRA:-}"
    if [ "$tier" = proxy ]; then
        cds=$CDS_DIR/proxy-$jdk-$(stat -c %Y "$JAR").jsa
        if [ ! -s "$cds" ]; then
            PATH=$(dirname "$java"):$PATH ZEROHOP="$ROOT/deploy/zerohop.sh" ZEROHOP_JAR=$JAR ZEROHOP_NATIVE_DIR=$NATIVE \
                ZEROHOP_JAVA_OPTS_EXTRA="$coh" \
                "$ROOT/deploy/train-cds.sh" "$cds" >/dev/null 2>&1 || echo "    (CDS training failed for JDK $jdk)"
        fi
        PATH=$(dirname "$java"):$PATH ZEROHOP_JAR=$JAR ZEROHOP_NATIVE_DIR=$NATIVE ZEROHOP_CDS_ARCHIVE=$cds ZEROHOP_JAVA_OPTS_EXTRA="$extra" \
            "$ROOT/deploy/zerohop.sh" proxy --in-memory-ca --inbound=127.0.0.1:0 --metrics=127.0.0.1:0 --readiness=127.0.0.1:0 \
            --admin=127.0.0.1:0 --socks5=127.0.0.1:0 --drain=0s >"$log" 2>&1 &
        pid=$!
    else
        if [ "${APPCDS:-1}" = 1 ]; then
            # As deploy/train-cds.sh does for the proxy: a static archive of exactly the classes this
            # tier loads (a class list from one run, then -Xshare:dump), so each tier is compared
            # with the proxy on equal terms (the JDK's default archive holds ~1,300 classes a
            # hello world never loads; without an archive the jar's classes are parsed into metaspace).
            cds=$CDS_DIR/$tier-$jdk.jsa
            if [ ! -s "$cds" ]; then
                # shellcheck disable=SC2086
                $java $FLAGS -Djava.library.path=$NATIVE $coh -XX:DumpLoadedClassList=$cds.classlist -cp "$JAR:/tmp/ceil/tlsidle.jar" TlsIdle "$tier" >"$log" 2>&1 &
                pid=$!
                for _ in $(seq 100); do grep -q ready "$log" && break; sleep 0.1; done
                sleep 1; kill $pid; wait $pid 2>/dev/null
                # shellcheck disable=SC2086
                $java $FLAGS $coh -Xshare:dump -XX:SharedClassListFile=$cds.classlist -XX:SharedArchiveFile=$cds \
                    -cp "$JAR:/tmp/ceil/tlsidle.jar" >"$cds.dump.log" 2>&1 || { echo "    (CDS dump failed for $tier $jdk)"; rm -f "$cds"; }
            fi
            extra="$extra -XX:SharedArchiveFile=$cds -Xshare:auto"
        fi
        # shellcheck disable=SC2086
        $java $FLAGS -Djava.library.path=$NATIVE $extra -cp "$JAR:/tmp/ceil/tlsidle.jar" TlsIdle "$tier" >"$log" 2>&1 &
        pid=$!
    fi
    local i=0
    until grep -q 'ready' "$log"; do i=$((i + 1)); [ $i -lt 300 ] && kill -0 $pid 2>/dev/null || { echo "  $jdk $tier: not ready"; tail -3 "$log"; kill $pid; return; }; sleep 0.1; done
    sleep "$IDLE"
    printf '| JDK %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %s | %s |\n' "$jdk${extra:+ $extra}" "$tier" "$nmt" \
        "$(awk '/VmRSS/{print $2/1024}' /proc/$pid/status)" "$(awk '/RssAnon/{print $2/1024}' /proc/$pid/status)" \
        "$(awk '/RssFile/{print $2/1024}' /proc/$pid/status)" "$(awk '/RssShmem/{print $2/1024}' /proc/$pid/status)" \
        "$(awk '/Threads/{print $2}' /proc/$pid/status)" "$(cut -d' ' -f1 /proc/loadavg)"
    smaps_groups $pid
    if [ "$nmt" = 1 ]; then
        "$(dirname "$java")/jcmd" $pid VM.native_memory summary scale=KB 2>/dev/null \
            | grep -E '^(Total|-)|^ *- *[A-Z]' | sed -n 's/^ *-* *\([A-Za-z ]*[a-z)]\) *(reserved=[0-9]*KB, committed=\([0-9]*\)KB).*/\1 \2/p; s/^Total: reserved=[0-9]*KB, committed=\([0-9]*\)KB.*/Total \1/p' \
            | awk '{c=$NF; $NF=""; if (c >= 256) printf "    NMT committed %7.1f MB  %s\n", c/1024, $0}'
    fi
    kill $pid; wait $pid 2>/dev/null
}

echo "| JVM (+ flags beyond the launcher's) | tier | NMT | VmRSS MB | RssAnon MB | RssFile MB | RssShmem MB | threads | load |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
for jdk in $JDKS; do
    for tier in $TIERS; do
        run "$jdk" "$tier" 0
        [ -n "${NMT:-}" ] && run "$jdk" "$tier" 1
    done
done
echo "# end load $(cut -d' ' -f1-3 /proc/loadavg)"
