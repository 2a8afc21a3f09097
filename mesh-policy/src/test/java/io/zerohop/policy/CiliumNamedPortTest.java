package io.zerohop.policy;

import static io.zerohop.policy.Upstream.ccnp;
import static io.zerohop.policy.Upstream.cnp;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Cilium's named ports ({@code toPorts: [{ports: [{port: http}]}]}): on ingress the name resolves against the
 * destination pod's own container ports, so the same name may be another number on another pod, and a pod without it
 * is not reached through it. Until 2 December zerohop refused every named port at load.
 *
 * <p>Where each fact comes from (cilium/cilium, read 2 December 2026):
 * <ul>
 * <li>pkg/policy/api/rule_validation.go {@code PortProtocol.sanitize}: an IANA service name is a port name, lower-cased
 * ("Normalize for case insensitive comparison"), so {@code 0x1F90} is a name, not 8080.
 * <li>pkg/policy/l4.go {@code createL4Filter} keeps the name and the endPort; {@code toMapState} resolves the name with
 * {@code PolicyOwner.GetNamedPort} and adds nothing when it does not resolve ("nothing to be done for undefined named
 * port"), then covers {@code PortRangeToMaskedPorts(port, endPort)} (an end at or below the start is the single port).
 * <li>pkg/endpoint {@code Endpoint.GetNamedPort}: "Ingress only needs the ports of the POD itself".
 * <li>pkg/policy/types/namedports.go {@code NamedPortMap.GetNamedPort}: the protocol must match the container port's;
 * pkg/policy/rule.go {@code mergeIngress} splits ANY into TCP, UDP and SCTP, so ANY reaches a TCP container port.
 * <li>pkg/policy/rule_test.go {@code TestIngressAllowAllNamedPort}, {@code TestIngressAllowAllL4OverlapNamedPort},
 * {@code TestIngressL4AllowAllNamedPort} (named ports {@code port-80: 80, port-90: 90}).
 * </ul>
 * zerohop's own addition: a destination whose named ports are not known ({@link WorkloadRef#namedPorts} null) is
 * reached by no named allow port and denied by every named ingressDeny port (fail closed).
 */
class CiliumNamedPortTest extends UpstreamTable {

    static final Upstream T = new Upstream();

    static final String RULE_TEST = "cilium/cilium pkg/policy/rule_test.go";
    static final String ALLOW_ALL_NAMED = RULE_TEST + " (TestIngressAllowAllNamedPort)";
    static final String OVERLAP_NAMED = RULE_TEST + " (TestIngressAllowAllL4OverlapNamedPort)";
    static final String L4_NAMED = RULE_TEST + " (TestIngressL4AllowAllNamedPort)";
    static final String SANITIZE = "cilium/cilium pkg/policy/api/rule_validation.go (PortProtocol.sanitize: IANA service name,"
            + " lower-cased)";
    static final String PER_POD = "cilium/cilium pkg/endpoint (Endpoint.GetNamedPort: ingress resolves against the pod's own"
            + " ports) + pkg/policy/l4.go (toMapState: an undefined named port adds nothing)";
    static final String RANGE = "cilium/cilium pkg/policy/l4.go (createL4Filter keeps EndPort; toMapState:"
            + " PortRangeToMaskedPorts(resolved port, endPort))";
    static final String L7 = "cilium/cilium pkg/envoy/xds_server.go (getDirectionNetworkPolicy: a named port's L7 rules go to"
            + " the port ep.GetNamedPort resolves)";
    static final String ZEROHOP_UNKNOWN = "zerohop: a destination whose named ports are not known (fail closed)";

    /** TestIngress*NamedPort's named ports. */
    static final Map<String, Integer> PORTS_80_90 = Map.of("port-80", 80, "port-90", 90);

    static List<Upstream.Case> cases() {
        return T.cases;
    }

    static {
        ruleTests();
        sanitize();
        perPod();
        ranges();
        l7();
        unknown();
    }

    /** A request from prod/frontend (mTLS) to {@code dest} on {@code port}, L4 or with {@code method path}. */
    static AccessRequest req(WorkloadRef dest, int port, String method, String path) {
        return AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend").sourceAddress("10.0.0.1")
                .destinationAddress("10.0.0.2").destinationPort(port).destination(dest)
                .sourceWorkload(new WorkloadRef("prod", "frontend", "frontend", Map.of("app", "frontend")))
                .http(method == null ? null : HttpAttributes.of(method, path)).build();
    }

    static WorkloadRef pod(String name, Map<String, String> labels, Map<String, Integer> namedPorts) {
        return new WorkloadRef("prod", name, name, labels, namedPorts);
    }

    static void decide(String source, String name, String yaml, AccessRequest request, boolean allowed, String policy) {
        T.add(source, name, () -> {
            Decision d = PolicyEngine.builder().policies(PolicyLoader.fromString("case.yaml", yaml)).build().evaluate(request);
            assertThat(d.allowed()).as("allowed: %s", d).isEqualTo(allowed);
            assertThat(d.policy() == null ? null : d.policy().qualifiedName()).as("deciding policy: %s", d).isEqualTo(policy);
        });
    }

    /** rule_test.go's endpoints: C (id=t, the subject) and B (id1=b), both with port-80 and port-90; the default deny of every pod. */
    static void ruleTests() {
        String defaultDeny = ccnp("default-deny", "{endpointSelector: {}, ingress: [{}]}");
        WorkloadRef c = pod("c", Map.of("id", "t"), PORTS_80_90);
        WorkloadRef b = pod("b", Map.of("id1", "b"), PORTS_80_90);
        String allowAll = defaultDeny + cnp("prod", "c", "{endpointSelector: {matchLabels: {id: t}}, ingress: [{fromEndpoints: [{}],"
                + " toPorts: [{ports: [{port: port-80, protocol: TCP}]}]}]}");
        decide(ALLOW_ALL_NAMED, "flowAToC (port 80, named port-80): allowed", allowAll, req(c, 80, null, null), true, "prod/c");
        decide(ALLOW_ALL_NAMED, "flowAToB: denied (B is not selected)", allowAll, req(b, 80, null, null), false, "default-deny");
        decide(ALLOW_ALL_NAMED, "flowAToC90: denied (port-80 is 80 on C)", allowAll, req(c, 90, null, null), false, "prod/c");
        String overlap = defaultDeny + cnp("prod", "c", "{endpointSelector: {matchLabels: {id: t}}, ingress: [{fromEndpoints: [{}]},"
                + " {fromEndpoints: [{}], toPorts: [{ports: [{port: port-80, protocol: TCP}]}]}]}");
        decide(OVERLAP_NAMED, "flowAToC: allowed", overlap, req(c, 80, null, null), true, "prod/c");
        decide(OVERLAP_NAMED, "flowAToC90: allowed (the L3 rule is not narrowed to port-80)", overlap, req(c, 90, null, null), true,
                "prod/c");
        String l4 = cnp("prod", "c", "{endpointSelector: {matchLabels: {id: t}}, ingress: [{toPorts: [{ports: [{port: port-80,"
                + " protocol: TCP}]}]}]}");
        decide(L4_NAMED, "flowAToC: allowed", l4, req(c, 80, null, null), true, "prod/c");
        decide(L4_NAMED, "flowAToC90: denied", l4, req(c, 90, null, null), false, "prod/c");
    }

    static void sanitize() {
        WorkloadRef web = pod("web", Map.of("app", "web"), Map.of("http", 8080));
        String upper = cnp("prod", "c", "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: HTTP, protocol: TCP}]}]}]}");
        decide(SANITIZE, "port: HTTP is the container port http (case-insensitive)", upper, req(web, 8080, null, null), true, "prod/c");
        String hex = cnp("prod", "c", "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: '0x1F90'}]}]}]}");
        decide(SANITIZE, "port: 0x1F90 is a name, not 8080: a pod without such a port is not reached", hex, req(web, 8080, null, null),
                false, "prod/c");
        decide(SANITIZE, "port: 0x1F90 reaches a container port named 0x1f90", hex,
                req(pod("odd", Map.of("app", "odd"), Map.of("0x1f90", 7000)), 7000, null, null), true, "prod/c");
        String any = cnp("prod", "c", "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: http}]}]}]}");
        decide(SANITIZE, "protocol ANY (omitted) reaches the TCP container port (mergeIngress splits ANY)", any,
                req(web, 8080, null, null), true, "prod/c");
        String udp = cnp("prod", "c", "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: http, protocol: UDP}]}]}]}");
        decide(SANITIZE, "protocol UDP: no TCP connection matches", udp, req(web, 8080, null, null), false, "prod/c");
    }

    static void perPod() {
        String yaml = cnp("prod", "c", "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: http, protocol: TCP}]}]}]}");
        WorkloadRef a = pod("a", Map.of("app", "a"), Map.of("http", 8080));
        WorkloadRef b = pod("b", Map.of("app", "b"), Map.of("http", 9090, "metrics", 8080));
        WorkloadRef none = pod("none", Map.of("app", "none"), Map.of());
        decide(PER_POD, "pod a (http 8080) on 8080: allowed", yaml, req(a, 8080, null, null), true, "prod/c");
        decide(PER_POD, "pod a on 9090: denied", yaml, req(a, 9090, null, null), false, "prod/c");
        decide(PER_POD, "pod b (http 9090) on 9090: allowed", yaml, req(b, 9090, null, null), true, "prod/c");
        decide(PER_POD, "pod b on 8080 (its metrics port): denied", yaml, req(b, 8080, null, null), false, "prod/c");
        decide(PER_POD, "a pod with no named ports: http covers nothing", yaml, req(none, 8080, null, null), false, "prod/c");
        String deny = cnp("prod", "d", "{endpointSelector: {}, ingress: [{fromEndpoints: [{}]}], ingressDeny: [{toPorts: [{ports:"
                + " [{port: http, protocol: TCP}]}]}]}");
        decide(PER_POD, "ingressDeny http: pod a's 8080 denied", deny, req(a, 8080, null, null), false, "prod/d");
        decide(PER_POD, "ingressDeny http: pod b's 8080 (metrics) allowed", deny, req(b, 8080, null, null), true, "prod/d");
        decide(PER_POD, "ingressDeny http: a pod without http is not denied (nothing to resolve)", deny, req(none, 8080, null, null),
                true, "prod/d");
    }

    static void ranges() {
        String yaml = cnp("prod", "c", "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: http, endPort: 8090, protocol: TCP}]}]}]}");
        WorkloadRef a = pod("a", Map.of("app", "a"), Map.of("http", 8080));
        WorkloadRef high = pod("high", Map.of("app", "high"), Map.of("http", 9000));
        decide(RANGE, "http (8080) to endPort 8090: 8085 allowed", yaml, req(a, 8085, null, null), true, "prod/c");
        decide(RANGE, "http (8080) to endPort 8090: 8091 denied", yaml, req(a, 8091, null, null), false, "prod/c");
        decide(RANGE, "http (8080) to endPort 8090: 8079 denied", yaml, req(a, 8079, null, null), false, "prod/c");
        decide(RANGE, "http (9000), endPort 8090 below it: the single port 9000", yaml, req(high, 9000, null, null), true, "prod/c");
        decide(RANGE, "http (9000), endPort 8090 below it: 8085 denied", yaml, req(high, 8085, null, null), false, "prod/c");
    }

    static void l7() {
        String yaml = cnp("prod", "c", "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: http, protocol: TCP}],"
                + " rules: {http: [{method: GET, path: /public}]}}]}]}");
        WorkloadRef a = pod("a", Map.of("app", "a"), Map.of("http", 8080));
        decide(L7, "GET /public on the resolved port: allowed", yaml, req(a, 8080, "GET", "/public"), true, "prod/c");
        decide(L7, "POST /public on the resolved port: denied", yaml, req(a, 8080, "POST", "/public"), false, "prod/c");
        decide(L7, "GET /public on another port: denied", yaml, req(a, 9090, "GET", "/public"), false, "prod/c");
        T.add(L7, "ciliumHttp and requiresHttp name the resolved port only", () -> {
            PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("case.yaml", yaml)).build();
            assertThat(e.ciliumHttp(a, 8080)).isTrue();
            assertThat(e.ciliumHttp(a, 9090)).isFalse();
            assertThat(e.requiresHttp(a, 8080)).isTrue();
            assertThat(e.ciliumHttp(pod("b", Map.of(), Map.of("http", 9090)), 9090)).isTrue();
        });
    }

    static void unknown() {
        WorkloadRef unknown = new WorkloadRef("prod", "u", "u", Map.of("app", "u"));
        String allow = cnp("prod", "c", "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: http, protocol: TCP}]}]}]}");
        decide(ZEROHOP_UNKNOWN, "allow http: a destination with unknown named ports is not reached", allow, req(unknown, 8080, null, null),
                false, "prod/c");
        T.add(ZEROHOP_UNKNOWN, "the default deny says the named ports are not known", () -> {
            Decision d = PolicyEngine.builder().policies(PolicyLoader.fromString("case.yaml", allow)).build()
                    .evaluate(req(unknown, 8080, null, null));
            assertThat(d.reason()).contains("ingress rule 0 (toPorts http/TCP)").contains("named ports are not known");
        });
        String deny = cnp("prod", "d", "{endpointSelector: {}, ingress: [{fromEndpoints: [{}]}], ingressDeny: [{toPorts: [{ports:"
                + " [{port: http, protocol: TCP}]}]}]}");
        decide(ZEROHOP_UNKNOWN, "ingressDeny http: a destination with unknown named ports is denied on every port", deny,
                req(unknown, 1234, null, null), false, "prod/d");
        T.add(ZEROHOP_UNKNOWN, "the denial says why", () -> {
            Decision d = PolicyEngine.builder().policies(PolicyLoader.fromString("case.yaml", deny)).build()
                    .evaluate(req(unknown, 1234, null, null));
            assertThat(d.reason()).contains("named ports are not known").contains("fail closed").contains("http/TCP");
        });
        decide(ZEROHOP_UNKNOWN, "ingressDeny http: a numbered port of another rule still decides as before", deny,
                req(pod("known", Map.of(), Map.of("grpc", 9090)), 1234, null, null), true, "prod/d");
        // authentication on a named port: the mode is kept in the policy-map entry of the resolved port, so a named port
        // the destination may have is taken to be this port, as an ingressDeny's is. Until 4 December the mode did not
        // apply there and the broader allow-all rule admitted a peer without a SPIFFE identity (fail open).
        String allowAll = cnp("prod", "all", "{endpointSelector: {}, ingress: [{fromEntities: [all]}]}");
        for (String mode : new String[] {"required", "test-always-fail"}) {
            String auth = allowAll + "---\n" + cnp("prod", "auth", "{endpointSelector: {}, ingress: [{fromEntities: [all], "
                    + "toPorts: [{ports: [{port: http, protocol: TCP}]}], authentication: {mode: " + mode + "}}]}");
            AccessRequest plaintext = AccessRequest.builder().sourceAddress("10.0.0.1").destinationAddress("10.0.0.2")
                    .destinationPort(1234).destination(unknown).build();
            decide(ZEROHOP_UNKNOWN, "authentication " + mode + " on port http: a peer without a SPIFFE identity to a destination"
                    + " with unknown named ports is denied (was: allowed by fromEntities [all])", auth, plaintext, false, "prod/auth");
            T.add(ZEROHOP_UNKNOWN, "authentication " + mode + " on port http: the denial names the mode and the unknown named ports",
                    () -> {
                        Decision d = PolicyEngine.builder().policies(PolicyLoader.fromString("case.yaml", auth)).build().evaluate(plaintext);
                        assertThat(d.outcome()).isEqualTo(Decision.Outcome.DENIED_AUTHENTICATION);
                        assertThat(d.reason()).contains("authentication.mode " + mode).contains("named ports are not known")
                                .contains("http/TCP").contains("fail closed");
                    });
            decide(PER_POD, "authentication " + mode + " on port http: a destination whose http is another port is not"
                    + " affected", auth, AccessRequest.builder().sourceAddress("10.0.0.1").destinationAddress("10.0.0.2")
                    .destinationPort(1234).destination(pod("known", Map.of(), Map.of("http", 80))).build(), true, "prod/all");
            decide(PER_POD, "authentication " + mode + " on port http: a destination whose http is this port needs the mode", auth,
                    AccessRequest.builder().sourceAddress("10.0.0.1").destinationAddress("10.0.0.2").destinationPort(80)
                            .destination(pod("known", Map.of(), Map.of("http", 80))).build(), false, "prod/auth");
        }
        String required = allowAll + "---\n" + cnp("prod", "auth", "{endpointSelector: {}, ingress: [{fromEntities: [all], "
                + "toPorts: [{ports: [{port: http, protocol: TCP}]}], authentication: {mode: required}}]}");
        decide(ZEROHOP_UNKNOWN, "authentication required on port http: an authenticated peer is allowed", required,
                req(unknown, 1234, null, null), true, "prod/all");
    }

    @Test
    void workloadRefChecksNamedPortsAsKubernetesDoes() {
        assertThat(new WorkloadRef("prod", "a", "a", Map.of(), Map.of("http", 80, "http-alt-2", 8080)).namedPorts())
                .containsEntry("http", 80);
        assertThat(new WorkloadRef("prod", "a", "a", Map.of()).namedPorts()).isNull();
        for (String bad : new String[] {"HTTP", "8080", "-http", "http-", "ht--tp", "a-very-long-port-name", "h_t"}) {
            assertThatThrownBy(() -> new WorkloadRef("prod", "a", "a", Map.of(), Map.of(bad, 80)))
                    .as(bad).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("named port \"" + bad + "\"");
        }
        assertThatThrownBy(() -> new WorkloadRef("prod", "a", "a", Map.of(), Map.of("http", 0)))
                .hasMessageContaining("out of range 1-65535");
    }

    @Test
    void countsPerSource() {
        T.counts().forEach((k, v) -> System.out.println("conformance cases: " + v + "  " + k));
        assertThat(T.counts()).containsKeys(ALLOW_ALL_NAMED, OVERLAP_NAMED, L4_NAMED, SANITIZE, PER_POD, RANGE, L7, ZEROHOP_UNKNOWN);
    }
}
