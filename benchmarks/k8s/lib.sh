# Shared by benchmarks/k8s/memory.sh and footprint.sh (sourced; bash). Needs BENCH_JAR, HOST, API_PORT,
# OUT; sets CLK, creates OUT, and kills the mock API server (MOCK) and the proxy (PROXY) on exit.

CLK=$(getconf CLK_TCK)
mkdir -p "$OUT"
MOCK=""
PROXY=""
cleanup() {
    [ -n "$PROXY" ] && kill -KILL "$PROXY" 2>/dev/null
    [ -n "$MOCK" ] && kill -KILL "$MOCK" 2>/dev/null
}
trap cleanup EXIT

cpu_ms() { # pid -> utime+stime of the process in ms
    local f
    read -r -a f < <(sed 's/^.*) //' "/proc/$1/stat")
    echo $(( (f[11] + f[12]) * 1000 / CLK ))
}

# Starts MockApiServer with $1 pods (and POLICIES AuthorizationPolicies, default 0; with POLICY_MIX=1 a third each
# AuthorizationPolicy, PeerAuthentication, CiliumNetworkPolicy) in its own JVM (MOCK = its pid), waits until it is filled (up to
# 10 min: 10,000 pods take minutes on a loaded machine), prints its ready line as an HTML comment.
start_mock() {
    java -Xmx3g -XX:+UseParallelGC -cp "$BENCH_JAR" io.zerohop.benchmarks.k8s.MockApiServer "$HOST" "$API_PORT" "$1" "${POLICIES:-0}" ${POLICY_MIX:+mixed} \
        > "$OUT/mock-$1.log" 2>&1 &
    MOCK=$!
    for _ in $(seq 1 3000); do
        grep -q '^mock api ready' "$OUT/mock-$1.log" && break
        kill -0 "$MOCK" 2>/dev/null || { echo "mock died: $(tail -5 "$OUT/mock-$1.log")" >&2; exit 1; }
        sleep 0.2
    done
    echo "<!-- $(grep '^mock api ready' "$OUT/mock-$1.log") -->"
}
