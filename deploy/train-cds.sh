#!/bin/sh
# Builds the launcher's class-data-sharing archive (the image runs it at build time; benchmarks run
# it to measure the proxy as shipped): starts `zerohop proxy` once through the launcher, with its
# flags, on loopback with a throw-away CA, waits until /healthz/ready answers, stops it, and keeps
# the archive of every class it loaded. The archive is tied to that jar and that JRE.
#   train-cds.sh ARCHIVE        ZEROHOP (launcher, default /usr/local/bin/zerohop), ZEROHOP_JAR,
#                               TRAIN_PORT_BASE (default 15000: ports BASE..BASE+80 on 127.0.0.1)
set -eu
OUT=$1
LAUNCHER=${ZEROHOP:-/usr/local/bin/zerohop}
B=${TRAIN_PORT_BASE:-15000}
rm -f "$OUT"
ZEROHOP_CDS_ARCHIVE=/nonexistent ZEROHOP_JAVA_OPTS_EXTRA="${ZEROHOP_JAVA_OPTS_EXTRA:-} -XX:ArchiveClassesAtExit=$OUT" \
  "$LAUNCHER" proxy --in-memory-ca --inbound=127.0.0.1:$((B + 8)) --readiness=127.0.0.1:$((B + 21)) \
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
test -s "$OUT"
