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
#                               ZEROHOP_NATIVE_DIR, TRAIN_IDENTITY (identity-source options, default --in-memory-ca),
#                               TRAIN_KUBERNETES (see below)
# Kubernetes mode (TRAIN_KUBERNETES=DIR, DIR holding the compiled deploy/train/TrainingApiServer.java)
# trains `zerohop proxy --kubernetes --node train` instead, against that throw-away API server on
# loopback (one Namespace, Service and Pod; empty policy lists; silent watches): an image build
# reaches no cluster. The archive then also holds the fabric8 client, Jackson and the Kubernetes
# model classes (48 MB instead of 28), which a proxy without --kubernetes would carry for nothing
# (archived classes are resident whether used or not: benchmarks/results/diet-59b6ebc.md); so
# Kubernetes mode gets its own archive, which the launcher picks for --kubernetes
# (ZEROHOP_KUBERNETES_CDS_ARCHIVE; benchmarks/results/k8scompact-2f9bc1c.md).
# The training proxy listens on ports the kernel picks (127.0.0.1:0) and says which in its ready
# line: fixed ports failed whenever one was taken, by a listener or by any connection's ephemeral
# port (LauncherE2EIT under load: "proxy not ready" after 4 s, the proxy had exited with "--metrics
# 127.0.0.1:36022: cannot listen: Address already in use").
set -eu
OUT=$1
LAUNCHER=${ZEROHOP:-/usr/local/bin/zerohop}
LIST=$OUT.classlist
LOG=$OUT.train.log
rm -f "$OUT" "$LIST" "$LOG"
MODE=""
TRAIN_OPTS=""
api=""
if [ -n "${TRAIN_KUBERNETES:-}" ]; then
  java -cp "$TRAIN_KUBERNETES" TrainingApiServer >"$LOG.api" 2>&1 &
  api=$!
  i=0
  until master=$(sed -n 's/^training api server on \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$LOG.api") && [ -n "$master" ]; do
    i=$((i + 1))
    [ $i -lt 300 ] && kill -0 $api 2>/dev/null || {
      echo "train-cds: training API server did not start:" >&2; cat "$LOG.api" >&2; kill $api 2>/dev/null; exit 1; }
    sleep 0.1
  done
  MODE="--kubernetes --node train"
  # Only this run: the flags that point fabric8 at the throw-away server and at no kubeconfig or
  # service-account token of the build machine.
  TRAIN_OPTS="-Dkubernetes.master=http://$master -Dkubernetes.auth.tryKubeConfig=false -Dkubernetes.auth.tryServiceAccount=false"
fi
ZEROHOP_CDS_ARCHIVE=/nonexistent ZEROHOP_JAVA_OPTS_EXTRA="${ZEROHOP_JAVA_OPTS_EXTRA:-} $TRAIN_OPTS -XX:DumpLoadedClassList=$LIST" \
  "$LAUNCHER" proxy $MODE ${TRAIN_IDENTITY:---in-memory-ca} --inbound=127.0.0.1:0 --readiness=127.0.0.1:0 \
  --metrics=127.0.0.1:0 --admin=127.0.0.1:0 --socks5=127.0.0.1:0 --drain=0s >"$LOG" 2>&1 &
pid=$!
[ -z "$api" ] || trap 'kill $api 2>/dev/null || true' EXIT
i=0
until ready=$(grep -m 1 '^zerohop proxy ready: ' "$LOG"); do
  i=$((i + 1))
  [ $i -lt 600 ] && kill -0 $pid 2>/dev/null || {
    echo "train-cds: proxy not ready; its last lines:" >&2; tail -5 "$LOG" >&2; kill $pid 2>/dev/null; exit 1; }
  sleep 0.1
done
# The ready line shows each listener on the port it got: "... readiness 127.0.0.1:41021, ...".
port=$(echo "$ready" | sed -n 's/.*readiness 127\.0\.0\.1:\([0-9]*\).*/\1/p')
curl -fs -o /dev/null "http://127.0.0.1:$port/healthz/ready" \
  || { echo "train-cds: /healthz/ready on 127.0.0.1:$port did not answer 200 ($ready)" >&2; kill $pid; exit 1; }
kill -TERM $pid
wait $pid || true
if [ -n "$api" ]; then
  kill $api 2>/dev/null
  wait $api 2>/dev/null || true
  rm -f "$LOG.api"
fi
test -s "$LIST"
# The launcher's own flags and class path (-jar JAR), so that the JVM accepts the archive at run
# time; -Xshare:dump writes the archive and exits without running the command.
ZEROHOP_CDS_ARCHIVE=/nonexistent ZEROHOP_JAVA_OPTS_EXTRA="${ZEROHOP_JAVA_OPTS_EXTRA:-} -Xshare:dump \
-XX:SharedClassListFile=$LIST -XX:SharedArchiveFile=$OUT" "$LAUNCHER" >"$LIST.log" 2>&1 \
  || { echo "train-cds: dump failed" >&2; tail -20 "$LIST.log" >&2; exit 1; }
rm -f "$LIST" "$LIST.log" "$LOG"
test -s "$OUT"
