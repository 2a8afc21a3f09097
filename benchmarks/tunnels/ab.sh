#!/bin/bash
# Interleaved before/after of tunnels.sh (issue 14): JAR_A JAR_B JAR_A JAR_B ..., each jar with its
# own CDS archive trained once up front (as the image would ship it), the load average and the time
# printed with every row. On a shared machine only rows taken back to back compare.
#
#   benchmarks/tunnels/ab.sh OLD.jar NEW.jar [RUNS]      RUNS pairs (default 2); N, IDLE, LAUNCHER,
#                                                        ZEROHOP_JAVA_OPTS_EXTRA, NET, PORT_BASE as tunnels.sh reads them
# LABEL_A / LABEL_B name the rows (default: the jar file names). LAUNCHER_A / LAUNCHER_B run each side
# through its own launcher (default LAUNCHER), e.g. main's deploy/zerohop.sh against a changed one on one
# jar: each side's archive is then trained by its own launcher, with its flags.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
A=$(realpath "$1"); B=$(realpath "$2"); RUNS=${3:-2}
LAUNCHER=${LAUNCHER:-$ROOT/deploy/zerohop.sh}
W=$(mktemp -d /tmp/zerohop-tunnels-ab.XXXXXX)
trap 'rm -rf "$W"' EXIT
LAUNCHER_A=$(realpath "${LAUNCHER_A:-$LAUNCHER}"); LAUNCHER_B=$(realpath "${LAUNCHER_B:-$LAUNCHER}")
for j in A B; do
    jar=${!j}; launcher_var=LAUNCHER_$j
    ZEROHOP="${!launcher_var}" ZEROHOP_JAR="$jar" TRAIN_PORT_BASE=${PORT_BASE:-27000} "$ROOT/deploy/train-cds.sh" "$W/$j.jsa" >/dev/null
done
echo "| jar | idle A MB | idle B MB | A with N tunnels MB | B with N tunnels MB | opened | open time | notes |"
echo "|---|---|---|---|---|---|---|---|"
for i in $(seq 1 "$RUNS"); do
    for j in A B; do
        label_var=LABEL_$j
        label=${!label_var:-$(basename "${!j}")}
        echo "<!-- $(date -u +%H:%M:%S) $(uptime | sed 's/.*load/load/') -->"
        launcher_var=LAUNCHER_$j
        LAUNCHER="${!launcher_var}" LABEL="$label" ZEROHOP_CDS_ARCHIVE="$W/$j.jsa" "$HERE/tunnels.sh" "${!j}" | tail -1
    done
done
