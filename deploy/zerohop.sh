#!/bin/sh
# zerohop launcher (the image's entrypoint). The default JVM flags size the node proxy on purpose;
# each flag's measured effect is in benchmarks/README.md ("Footprint") and benchmarks/results/.
#   JAVA_OPTS               replaces the defaults entirely (set it empty for the JVM's own defaults): the sizing
#                           flags and everything else added below, the CDS archive, java.library.path for
#                           ZEROHOP_NATIVE_DIR and, for `proxy`, -XX:+ExitOnOutOfMemoryError (exit 3 out of heap)
#   ZEROHOP_JAVA_OPTS_EXTRA added after the defaults, keeping all of them (e.g. -Xmx512m for very many tunnels):
#                           the way to change one flag, since the later flag wins
#   ZEROHOP_JAR             the shaded CLI jar, default /opt/zerohop/zerohop.jar
#   ZEROHOP_CDS_ARCHIVE     AppCDS archive built for that jar, default /opt/zerohop/zerohop.jsa;
#                           used when readable (a stale one is ignored by the JVM, never fatal)
#   ZEROHOP_KUBERNETES_CDS_ARCHIVE  the archive for Kubernetes mode (--kubernetes, or kubernetes: true in
#                           the --config file) when ZEROHOP_CDS_ARCHIVE is unset,
#                           default /opt/zerohop/zerohop-kubernetes.jsa, used when readable
#   ZEROHOP_NATIVE_DIR      the jar's META-INF/native/*.so unpacked (the image does it at build time),
#                           default /opt/zerohop/native; used when it is a directory. It must come
#                           from the same jar (the JNI code must match the Java classes).
JAR=${ZEROHOP_JAR:-/opt/zerohop/zerohop.jar}
CDS=${ZEROHOP_CDS_ARCHIVE:-/opt/zerohop/zerohop.jsa}
# Kubernetes mode has an archive of its own, trained against a throw-away API server (deploy/train-cds.sh
# TRAIN_KUBERNETES): the fabric8 client, Jackson and the model classes the default archive lacks
# (parsed at every start otherwise: ~0.6-1.2 s more start-up CPU, 3-5 MB more idle RSS,
# benchmarks/results/k8scompact-2f9bc1c.md), and which a proxy without --kubernetes should not carry.
# An explicit ZEROHOP_CDS_ARCHIVE wins.
# Kubernetes mode is --kubernetes, or `kubernetes: true` in the --config file (what the DaemonSets run:
# `proxy --config /etc/zerohop/proxy.yaml`, deploy/node-proxy/configmap.yaml); a command-line flag wins
# over the file, as in the proxy. The key is recognised at the start of a line, quoted or not, with the
# value true (quoted or not); a file written otherwise (a flow mapping, a tag) runs with the other
# modes' archive and flags, and the proxy then warns at start (-Dzerohop.launcher.kubernetes=false).
KUBERNETES=""
CONFIG=""
prev=""
for arg in "$@"; do
    case $arg in
        --kubernetes | --kubernetes=true) KUBERNETES=1 ;;
        --kubernetes=false) KUBERNETES=0 ;;
        --config=*) CONFIG=${arg#--config=} ;;
    esac
    [ "$prev" = "--config" ] && CONFIG=$arg
    prev=$arg
done
if [ -z "$KUBERNETES" ] && [ -n "$CONFIG" ] && [ -r "$CONFIG" ] \
    && grep -Eq "^[\"']?kubernetes[\"']?[[:space:]]*:[[:space:]]*[\"']?true[\"']?[[:space:]]*(#.*)?$" "$CONFIG"; then
    KUBERNETES=1
fi
[ "$KUBERNETES" = 1 ] || KUBERNETES=""
if [ -n "$KUBERNETES" ] && [ -z "${ZEROHOP_CDS_ARCHIVE:-}" ]; then
    KUBE_CDS=${ZEROHOP_KUBERNETES_CDS_ARCHIVE:-/opt/zerohop/zerohop-kubernetes.jsa}
    [ -r "$KUBE_CDS" ] && CDS=$KUBE_CDS
fi
NATIVE=${ZEROHOP_NATIVE_DIR:-/opt/zerohop/native}
# SerialGC: one GC thread, no remembered-set/region overhead; a proxy's heap is small.
# -Xms8m/-Xmx128m: idle live heap is ~10 MB; ~4 KB of heap per open tunnel (benchmarks/results/
# tunnels-fc729fd.md), so 10,000 tunnels fit.
# MaxNewSize=4m: SerialGC otherwise lets the young generation grow to a third of the heap, and
# eden is touched end to end between collections: with 10,000 tunnels ~25 MB of it was resident.
# A cap of 8m cut ~12-19 MB RSS there (benchmarks/results/footprint-xmn.md), 4m another 1.9-2.8 MB
# (10,000 tunnels; 16-18 more young collections per 10,000 opens, the same total pause, since a
# collection's cost is what survives; benchmarks/results/records-acc2fda.md); bulk through a proxy holding
# 10,000 tunnels: 1.6-2x the young collections, a few ms each, no full GC, the RSS gain kept
# (benchmarks/results/bulk10k-91e5148.md). The young generation
# still starts small (below: a ninth of the heap), so idle RSS and a small heap's collections are
# unchanged (a fixed -Xmn8m cost +5 MB idle). For far more tunnels raise -Xmx and -XX:MaxNewSize together.
# NewRatio=8: below that cap the young generation is a ninth of the heap instead of a third. Idle,
# the heap is ~14 MB and its eden is touched end to end: ~1.6 MB of young generation instead of
# ~4.7. Idle RSS -0.9 MB (--in-memory-ca) to -2.3 MB (--ca --workloads); with 10,000 tunnels
# unchanged within noise, CPU per tunnel opened and per MiB relayed unchanged
# (benchmarks/results/mem10k-7a61d72.md).
# MaxDirectMemorySize: bounds Netty's direct buffers (also Netty's own limit, io.netty.maxDirectMemory). The HBONE
# server's and clients' budgets are fractions of it (mesh-hbone README, "Resource limits"): at 64m, 16 MiB of outbound
# bytes queued behind closed windows, 16 MiB of inbound bytes local applications have not read on the server side and
# 16 MiB on the client side (past 8 MiB tunnels whose application read nothing for 10 s are reset), 8 MiB left queued
# by ended tunnels and, beside HBONE's, 8 MiB of HTTP/2 and HTTP/1 request bodies the L7 proxy holds for applications that do not
# read them (mesh-core README, H2HeldBudget): 64 MiB in all. Raise it with ZEROHOP_JAVA_OPTS_EXTRA for nodes
# whose applications read slowly from many peers at once.
# TieredStopAtLevel=1: C1 only; less compile CPU and code cache at start-up (throughput cost measured).
# -Xss256k, ReservedCodeCacheSize, MaxMetaspaceSize: caps well above what the proxy uses.
# io.netty.jfr.enabled=false: Netty 4.2's buffer events would start the JDK's Flight Recorder
# classes (~130 classes, 2.7 MB RSS, ~0.2 s of start-up CPU) in every proxy; a JFR recording
# started with -XX:StartFlightRecording still works, only Netty's allocator events are off.
# --enable-native-access=ALL-UNNAMED: netty-tcnative and Netty's epoll load JNI libraries from the
# class path; JDK 22+ warns about that without it (accepted and without effect on JDK 17).
ZEROHOP_DEFAULT_OPTS="-XX:+UseSerialGC -Xms8m -Xmx128m -XX:MaxNewSize=4m -XX:NewRatio=8 -XX:MaxDirectMemorySize=64m \
-XX:TieredStopAtLevel=1 -Xss256k -XX:ReservedCodeCacheSize=32m -XX:MaxMetaspaceSize=96m \
-Dio.netty.jfr.enabled=false --enable-native-access=ALL-UNNAMED"
# TrimNativeHeapInterval=5000: every 5 s the JVM returns glibc's free native memory to the kernel (malloc_trim), which
# glibc keeps after start-up and after a burst of connections (BoringSSL's handshakes, the JIT). Idle RSS -1.1 to -2.2 MB,
# 10,000 tunnels A -2.5 to -2.8 MB, B -3.1 to -3.2 MB; a trim takes 0.1-2 ms (9 ms once, amid 10,000 opens) on the
# trimmer's own thread, and the node pair's echo p99 / p99.9 did not move beyond their run-to-run spread
# (benchmarks/results/trim-native-c14cd60c.md). JDK 22+, 21.0.1+ and 17.0.9+ have the flag (JDK-8293114 and its
# backports); any other JVM would refuse to start with it, so it is added only when the JRE's release file names one
# of those versions.
trim_native_supported() {
    java_bin=$(command -v java) || return 1
    release=$(dirname "$(dirname "$(readlink -f "$java_bin")")")/release
    [ -r "$release" ] || return 1
    version=$(sed -n 's/^JAVA_VERSION="\([0-9][0-9.]*\).*/\1/p' "$release")
    major=${version%%.*}
    rest=${version#"$major"}
    rest=${rest#.}
    minor=${rest%%.*}
    rest=${rest#"$minor"}
    rest=${rest#.}
    update=${rest%%.*}
    case $major in '' | *[!0-9]*) return 1 ;; esac
    [ "$major" -ge 22 ] && return 0
    [ "$major" -eq 21 ] && [ "${update:-0}" -ge 1 ] 2>/dev/null && return 0
    [ "$major" -eq 17 ] && [ "${update:-0}" -ge 9 ] 2>/dev/null && return 0
    return 1
}
if trim_native_supported; then
    ZEROHOP_DEFAULT_OPTS="$ZEROHOP_DEFAULT_OPTS -XX:TrimNativeHeapInterval=5000"
fi
# -XX:+ExitOnOutOfMemoryError for `proxy` only: a proxy out of heap exits (status 3) and is restarted rather than limping.
# Any other command fails with the error and status 1: `policy check`'s 3 means "deny", and a new-user pass read an
# out-of-memory exit of it as a DENY.
SUBCOMMAND=""
for arg in "$@"; do
    case $arg in
        -*) ;;
        *) SUBCOMMAND=$arg; break ;;
    esac
done
if [ "$SUBCOMMAND" = proxy ]; then
    ZEROHOP_DEFAULT_OPTS="$ZEROHOP_DEFAULT_OPTS -XX:+ExitOnOutOfMemoryError"
fi
if [ -r "$CDS" ]; then
    ZEROHOP_DEFAULT_OPTS="$ZEROHOP_DEFAULT_OPTS -XX:SharedArchiveFile=$CDS -Xshare:auto"
fi
# Kubernetes mode: the first sync parses every pod of the cluster (pages of 500 pods, megabytes of
# garbage at a time) and SerialGC grows the old generation for it; with its defaults (MaxHeapFreeRatio=70,
# and ShrinkHeapInSteps: no shrink at the first full collection after growing) that heap stayed committed
# and resident: 10,000 pods, 56-61 MB live in 106-120 MB committed, 114-127 MB of heap RSS. With these,
# each full collection leaves the old generation at 1.1-1.4x what is live, and the proxy runs one
# (System.gc) once its first sync is installed: RSS 1,000 pods 185-186 -> 141-142 MB, 10,000 pods
# 217-220 -> 174-176 MB. Cost: more full collections during the sync, CPU to ready at 10,000 pods
# +1.5-2.8 s at load 9-11 (paid back by the parser skipping stripped fields, KubernetesDiscovery.
# nodeProxySerialization). MinHeapFreeRatio=30/MaxHeapFreeRatio=40 was measured too: +5-7 MB RSS.
# benchmarks/results/k8sfoot-78fcc95.md. Not for the other modes: their heap has no such transient.
if [ -n "$KUBERNETES" ]; then
    ZEROHOP_DEFAULT_OPTS="$ZEROHOP_DEFAULT_OPTS -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30 -XX:-ShrinkHeapInSteps"
else
    # What this script decided, so that a Kubernetes mode it did not see in the file is not silent.
    ZEROHOP_DEFAULT_OPTS="$ZEROHOP_DEFAULT_OPTS -Dzerohop.launcher.kubernetes=false"
fi
# Netty loads netty-tcnative (BoringSSL) and epoll from java.library.path when they are there, and
# only otherwise inflates the .so from the jar into a temporary file at every start (~3 MB:
# benchmarks/results/footprint-5771f1d.md). It replaces the JRE's default path (which differs by
# distribution and holds no library zerohop loads; the JDK's own libraries are found without it).
if [ -d "$NATIVE" ]; then
    ZEROHOP_DEFAULT_OPTS="$ZEROHOP_DEFAULT_OPTS -Djava.library.path=$NATIVE"
fi
# glibc's per-thread malloc arenas hold native memory (BoringSSL, JVM) the proxy never gives back.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
# shellcheck disable=SC2086 # word splitting of the option lists is intended
exec java ${JAVA_OPTS-$ZEROHOP_DEFAULT_OPTS} ${ZEROHOP_JAVA_OPTS_EXTRA:-} -jar "$JAR" "$@"
