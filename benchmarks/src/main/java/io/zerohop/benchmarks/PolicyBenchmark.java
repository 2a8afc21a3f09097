package io.zerohop.benchmarks;

import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.HttpAttributes;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.policy.WorkloadRef;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * ns per policy decision with 10, 1,000 and 10,000 policies loaded. The synthetic set puts every
 * policy in one namespace (the worst case for namespace bucketing): one AuthorizationPolicy per
 * workload selecting {@code app=svc-i}, a namespace-wide DENY, a STRICT PeerAuthentication and
 * one CiliumNetworkPolicy per ten workloads. {@code allowL7}, {@code allowL4} and {@code denyL4} send
 * one fixed request to a workload in the middle, the same objects every time (the easy case: every
 * branch predicted, every string's hash cached, one destination).
 *
 * <p>{@code mixed} is closer to a node proxy: it cycles through {@value #MIXED} requests to 16
 * workloads spread over the set, five shapes each (allowed at L7 with a query string, allowed at L4,
 * denied at L4 by the default deny, denied at L7 by method, denied by the namespace-wide DENY), in a
 * shuffled order, each request with its own {@link WorkloadRef}, as mesh-core builds them per
 * connection: {@code Workload.ref()} makes a new ref from the workload's own namespace, service
 * account and labels map, and the peer's principal is one shared, interned string per identity
 * ({@code WorkloadStrings.text}), so the engine's identity checks succeed. {@code mixedFreshStrings}
 * is the same requests with every string a new copy (a caller that rebuilds strings per connection,
 * which mesh-core does not): each comparison then reads the strings' bytes. {@code allowList} decides
 * a peer against an ALLOW listing {@value #ALLOW_LIST} exact principals (another namespace). {@code httpList} decides,
 * with an engine of its own (one CiliumNetworkPolicy, whatever {@code policies} says), a GET that only the last of
 * {@value #HTTP_LIST} {@code rules.http} entries of its port allows: the cost of a long HTTP rule list.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class PolicyBenchmark extends ThreadCpuPerOp {
    public PolicyBenchmark() {
        super(false);
    }


    @Param({"10", "1000", "10000"})
    public int policies;

    private PolicyEngine engine;
    private AccessRequest allowedL4;
    private AccessRequest deniedL4;
    private AccessRequest allowedL7;
    private AccessRequest[] mixedRequests;
    private AccessRequest[] mixedFresh;
    private int next;
    private AccessRequest allowListed;

    static final int MIXED = 4096;
    static final int ALLOW_LIST = 200;
    static final int HTTP_LIST = 8;

    private PolicyEngine httpListEngine;
    private AccessRequest httpListLast;

    /** One CiliumNetworkPolicy whose port 8080 has {@link #HTTP_LIST} HTTP entries, GET on /v1/entry-i/.* each. */
    public static String httpListPolicy() {
        StringBuilder sb = new StringBuilder("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: api, namespace: bench}\n")
                .append("spec:\n  endpointSelector: {matchLabels: {app: api}}\n  ingress:\n  - fromEndpoints: [{matchLabels: {app: client}}]\n")
                .append("    toPorts: [{ports: [{port: \"8080\", protocol: TCP}], rules: {http: [");
        for (int i = 0; i < HTTP_LIST; i++) {
            sb.append(i == 0 ? "" : ", ").append("{method: GET, path: \"/v1/entry-").append(i).append("/.*\"}");
        }
        return sb.append("]}}]\n").toString();
    }

    /** Synthetic policy YAML; shared with the mesh-policy measurement harness. */
    public static String syntheticPolicies(int n) {
        StringBuilder sb = new StringBuilder(n * 400);
        sb.append("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: bench}\n")
                .append("spec: {mtls: {mode: STRICT}}\n---\n");
        sb.append("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-legacy, namespace: bench}\n")
                .append("spec: {action: DENY, rules: [{from: [{source: {namespaces: [legacy]}}]}]}\n---\n");
        for (int i = 0; i < n; i++) {
            sb.append("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-").append(i)
                    .append(", namespace: bench}\nspec:\n  selector: {matchLabels: {app: svc-").append(i).append("}}\n")
                    .append("  rules:\n  - from: [{source: {principals: [\"cluster.local/ns/bench/sa/client-").append(i)
                    .append("\"]}}]\n    to: [{operation: {ports: [\"8080\"], methods: [GET]}}]\n  - to: [{operation: {ports: [\"9090\"]}}]\n---\n");
            if (i % 10 == 0) {
                sb.append("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: cnp-").append(i)
                        .append(", namespace: bench}\nspec:\n  endpointSelector: {matchLabels: {app: svc-").append(i).append("}}\n")
                        .append("  ingress:\n  - fromEndpoints: [{matchLabels: {app: client-").append(i).append("}}]\n")
                        .append("    toPorts: [{ports: [{port: \"8080\", protocol: TCP}], rules: {http: [{method: GET, path: \"/api/.*\"}]}}, {ports: [{port: \"9090\"}]}]\n---\n");
            }
        }
        sb.append("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-list, namespace: shop}\n")
                .append("spec:\n  rules:\n  - from: [{source: {principals: [");
        for (int i = 0; i < ALLOW_LIST; i++) {
            sb.append(i == 0 ? "" : ", ").append("\"cluster.local/ns/shop/sa/buyer-").append(i).append('"');
        }
        sb.append("]}}]\n---\n");
        return sb.toString();
    }

    /** {@link #ALLOW_LIST}'s 150th principal to a workload of namespace {@code shop}, at L4: allowed. */
    public static AccessRequest allowListRequest() {
        return AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/shop/sa/buyer-" + (ALLOW_LIST * 3 / 4))
                .sourceAddress("10.1.0.9").destinationAddress("10.1.0.10").destinationPort(8080)
                .destination(new WorkloadRef("shop", "cart", "cart", Map.of("app", "cart"))).build();
    }

    /**
     * {@link #MIXED} requests as described in the class comment, shuffled with a fixed seed, with
     * {@code expected[i]} the intended verdict of {@code requests[i]}.
     *
     * @param freshStrings false: a workload's strings and a peer's principal are one instance each, as
     *     mesh-core shares them; true: every request gets its own copies
     */
    public static AccessRequest[] mixedRequests(int n, boolean[] expected, boolean freshStrings) {
        int workloads = 16;
        java.util.List<Object[]> out = new java.util.ArrayList<>();
        java.util.Map<Integer, Map<String, String>> labelsOf = new java.util.HashMap<>();
        java.util.Map<String, String> shared = new java.util.HashMap<>();
        // Shared: interned, as mesh-core's are (WorkloadStrings.text for a principal, Workload for labels).
        java.util.function.UnaryOperator<String> str = freshStrings ? String::new : v -> shared.computeIfAbsent(v, String::intern);
        // Built in the order they are decided, as a proxy builds each request just before deciding it: built in k order and
        // then shuffled, the objects' addresses were in random order against the benchmark's, and in the forks where no
        // young collection had copied them in the array's order every request cost cache misses (mixed 131-136 ns against
        // 70-80 in the others). Collections.shuffle with the same seed over the same size gives the same permutation.
        java.util.List<Integer> order = new java.util.ArrayList<>();
        for (int k = 0; k < MIXED; k++) {
            order.add(k);
        }
        java.util.Collections.shuffle(order, new java.util.Random(14));
        for (int k : order) {
            int j = k % workloads;
            int target = (int) ((long) j * n / workloads);
            // One labels map per workload, as mesh-core's Workload holds it and shares with every ref it makes.
            Map<String, String> labels = labelsOf.computeIfAbsent(target, t -> Map.of("app", str.apply("svc-" + t)));
            Map<String, String> clientLabels = labelsOf.computeIfAbsent(-1 - target, t -> Map.of("app", str.apply("client-" + (-1 - t))));
            int shape = (k / workloads) % 5;
            // A new ref per request: what a node proxy builds per connection.
            WorkloadRef dest = new WorkloadRef(str.apply("bench"), str.apply("svc-" + target), str.apply("svc-" + target), labels);
            WorkloadRef client = new WorkloadRef(str.apply("bench"), str.apply("client-" + target), str.apply("client-" + target), clientLabels);
            String principal = str.apply("spiffe://cluster.local/ns/bench/sa/client-" + target);
            AccessRequest.Builder b = AccessRequest.builder().sourcePrincipal(principal).sourceAddress("10.1.0.7")
                    .destinationAddress("10.1.0.8").destination(dest).sourceWorkload(client).destinationPort(8080);
            boolean allowed;
            switch (shape) {
                case 0 -> { b.http(HttpAttributes.of("GET", "/api/orders?id=" + k)); allowed = true; }
                case 1 -> { b.destinationPort(9090); allowed = true; }
                case 2 -> { b.sourcePrincipal(str.apply("spiffe://cluster.local/ns/bench/sa/intruder")); allowed = false; }
                case 3 -> { b.http(HttpAttributes.of("POST", "/api/orders")); allowed = false; }
                default -> { b.sourcePrincipal(str.apply("spiffe://cluster.local/ns/legacy/sa/old")).destinationPort(9090); allowed = false; }
            }
            out.add(new Object[] {b.build(), allowed});
        }
        AccessRequest[] r = new AccessRequest[out.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = (AccessRequest) out.get(i)[0];
            expected[i] = (Boolean) out.get(i)[1];
        }
        return r;
    }

    /** Requests against workload {@code svc-target}: [allowed at L7, allowed at L4 (port 9090), denied at L4]. */
    public static AccessRequest[] requests(int n) {
        int target = (n / 20) * 10;
        // Labels and principal interned, as mesh-core interns them (Workload, WorkloadStrings.text).
        WorkloadRef dest = new WorkloadRef("bench", "svc-" + target, "svc-" + target, Map.of("app", ("svc-" + target).intern()));
        WorkloadRef client = new WorkloadRef("bench", "client-" + target, "client-" + target,
                Map.of("app", ("client-" + target).intern()));
        AccessRequest.Builder b = AccessRequest.builder()
                .sourcePrincipal(("spiffe://cluster.local/ns/bench/sa/client-" + target).intern())
                .sourceAddress("10.1.0.7").destinationAddress("10.1.0.8").destination(dest).sourceWorkload(client);
        AccessRequest l7 = b.destinationPort(8080).http(HttpAttributes.of("GET", "/api/orders")).build();
        AccessRequest l4 = b.http(null).destinationPort(9090).build();
        AccessRequest denied = b.destinationPort(8080).sourcePrincipal("spiffe://cluster.local/ns/bench/sa/intruder").build();
        return new AccessRequest[] {l7, l4, denied};
    }

    @Setup
    public void setUp() throws Exception {
        engine = PolicyEngine.builder().policies(PolicyLoader.fromString("synthetic", syntheticPolicies(policies))).build();
        AccessRequest[] r = requests(policies);
        allowedL7 = r[0];
        allowedL4 = r[1];
        deniedL4 = r[2];
        if (!engine.evaluate(allowedL7).allowed() || !engine.evaluate(allowedL4).allowed() || engine.evaluate(deniedL4).allowed()) {
            throw new IllegalStateException("synthetic policies do not decide as intended");
        }
        boolean[] expected = new boolean[MIXED];
        mixedRequests = mixedRequests(policies, expected, false);
        mixedFresh = mixedRequests(policies, expected, true);
        for (int i = 0; i < MIXED; i++) {
            for (AccessRequest[] set : new AccessRequest[][] {mixedRequests, mixedFresh}) {
                if (engine.evaluate(set[i]).allowed() != expected[i]) {
                    throw new IllegalStateException("mixed request " + i + " not decided as intended: " + engine.evaluate(set[i]).explain());
                }
            }
        }
        httpListEngine = PolicyEngine.builder().policies(PolicyLoader.fromString("http-list", httpListPolicy())).build();
        httpListLast = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/bench/sa/client").sourceAddress("10.1.0.7")
                .destinationAddress("10.1.0.8").destinationPort(8080)
                .destination(new WorkloadRef("bench", "api", "api", Map.of("app", "api")))
                .sourceWorkload(new WorkloadRef("bench", "client", "client", Map.of("app", "client")))
                .http(HttpAttributes.of("GET", "/v1/entry-" + (HTTP_LIST - 1) + "/items")).build();
        if (!httpListEngine.evaluate(httpListLast).allowed() || httpListEngine.evaluate(AccessRequest.builder()
                .sourcePrincipal(httpListLast.sourcePrincipal()).sourceAddress("10.1.0.7").destinationAddress("10.1.0.8")
                .destinationPort(8080).destination(httpListLast.destination()).sourceWorkload(httpListLast.sourceWorkload())
                .http(HttpAttributes.of("GET", "/v2/items")).build()).allowed()) {
            throw new IllegalStateException("the HTTP list policy does not decide as intended");
        }
        allowListed = allowListRequest();
        if (!engine.evaluate(allowListed).allowed()) {
            throw new IllegalStateException("allow-list request denied");
        }
        // A full collection compacts in address order, so the requests stay in the order they are decided whatever young
        // collections ran during set-up (see mixedRequests); every fork starts from the same layout.
        System.gc();
    }

    @Benchmark
    public Decision allowL7() {
        ops++;
        return engine.evaluate(allowedL7);
    }

    @Benchmark
    public Decision allowL4() {
        ops++;
        return engine.evaluate(allowedL4);
    }

    /** One of {@link #MIXED} shuffled requests per call (see the class comment). */
    @Benchmark
    public Decision mixed() {
        ops++;
        int i = next;
        next = (i + 1) & (MIXED - 1);
        return engine.evaluate(mixedRequests[i]);
    }

    /** {@link #mixed} with a new copy of every string in every request (see the class comment). */
    @Benchmark
    public Decision mixedFreshStrings() {
        ops++;
        int i = next;
        next = (i + 1) & (MIXED - 1);
        return engine.evaluate(mixedFresh[i]);
    }

    @Benchmark
    public Decision allowList() {
        ops++;
        return engine.evaluate(allowListed);
    }

    @Benchmark
    public Decision denyL4() {
        ops++;
        return engine.evaluate(deniedL4);
    }

    /** The last of {@link #HTTP_LIST} HTTP entries allows it (see the class comment). */
    @Benchmark
    public Decision httpList() {
        ops++;
        return httpListEngine.evaluate(httpListLast);
    }
}
