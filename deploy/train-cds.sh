#!/bin/sh
# Builds the launcher's class-data-sharing archive (the image runs it at build time; benchmarks run
# it to measure the proxy as shipped): starts `zerohop proxy` once through the launcher, with its
# flags, on loopback with a throw-away CA, waits until /healthz/ready answers, stops it, and dumps a
# static archive of every class it loaded (the JDK's and the jar's, lambda forms and proxies
# included). The archive is tied to that jar and that JRE.
# Why a static archive (-Xshare:dump with the training run's class list) and not a dynamic one
# (-XX:ArchiveClassesAtExit) on top of the JDK's: JDK 17's dynamic archive cannot hold classes
# compiled for Java 5 (picocli's 177, parsed and verified again at every start), and the JDK's
# default archive brings classes the proxy never loads; the static one is 3 MB smaller resident and
# starts with less CPU (benchmarks/results/footprint-5771f1d.md).
# The archive holds the classes of the identity source it was trained with (TRAIN_IDENTITY): every
# archived class is resident whether the proxy uses it or not, and a class outside it is parsed at
# start. The default, a throw-away in-memory CA, archives BouncyCastle's certificate building (~190
# classes) that PEM-file and CA-directory proxies do not load (benchmarks/results/diet-59b6ebc.md).
#   train-cds.sh ARCHIVE        ZEROHOP (launcher, default /usr/local/bin/zerohop), ZEROHOP_JAR,
#                               ZEROHOP_NATIVE_DIR, TRAIN_PORT_BASE (default 15000: ports BASE..BASE+80 on 127.0.0.1),
#                               TRAIN_IDENTITY (identity-source options, default --in-memory-ca)
set -eu
OUT=$1
LAUNCHER=${ZEROHOP:-/usr/local/bin/zerohop}
B=${TRAIN_PORT_BASE:-15000}
LIST=$OUT.classlist
rm -f "$OUT" "$LIST"
ZEROHOP_CDS_ARCHIVE=/nonexistent ZEROHOP_JAVA_OPTS_EXTRA="${ZEROHOP_JAVA_OPTS_EXTRA:-} -XX:DumpLoadedClassList=$LIST" \
  "$LAUNCHER" proxy ${TRAIN_IDENTITY:---in-memory-ca} --inbound=127.0.0.1:$((B + 8)) --readiness=127.0.0.1:$((B + 21)) \
  --metrics=127.0.0.1:$((B + 20)) --admin=127.0.0.1:$B --socks5=127.0.0.1:$((B + 80)) --drain=0s >/dev/null 2>&1 &
pid=$!
i=0
until curl -fs -o /dev/null "http://127.0.0.1:$((B + 21))/healthz/ready"; do
  i=$((i + 1))
  [ $i -lt 600 ] && kill -0 $pid 2>/dev/null || { echo "train-cds: proxy not ready" >&2; kill $pid 2>/dev/null; exit 1; }
  sleep 0.1
done
kill -TERM $pid
wait $pid || true
test -s "$LIST"
# The launcher's own flags and class path (-jar JAR), so that the JVM accepts the archive at run
# time; -Xshare:dump writes the archive and exits without running the command.
ZEROHOP_CDS_ARCHIVE=/nonexistent ZEROHOP_JAVA_OPTS_EXTRA="${ZEROHOP_JAVA_OPTS_EXTRA:-} -Xshare:dump \
-XX:SharedClassListFile=$LIST -XX:SharedArchiveFile=$OUT" "$LAUNCHER" >"$LIST.log" 2>&1 \
  || { echo "train-cds: dump failed" >&2; tail -20 "$LIST.log" >&2; exit 1; }
rm -f "$LIST" "$LIST.log"
test -s "$OUT"
