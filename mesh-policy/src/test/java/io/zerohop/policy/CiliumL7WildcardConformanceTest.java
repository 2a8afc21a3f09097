package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static io.zerohop.policy.Upstream.cnp;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A peer that one rule selects without L7 rules (L3-only: {@code fromEndpoints}/{@code fromCIDR} without
 * {@code toPorts}; or L4-only: {@code toPorts} without {@code rules}) while another rule gives the same peer
 * {@code rules.http} on a port: Cilium lets every request of that peer through on that port, and zerohop does.
 *
 * <p>How current Cilium gets there (read 2 December 2026):
 * <ul>
 * <li>Same port, same selector, one rule with HTTP rules and one without: {@code mergePortProto} (pkg/policy/l4.go)
 * appends an empty HTTP rule, {@code {}}, which matches every request ({@code TestMinikubeGettingStarted}, whose
 * expected filter is {@code HTTP: [{GET /}, {}]}).
 * <li>Same port, different selectors (L4-only for one, L7 for another, or L4-only for every peer): the L4 filter keeps
 * a nil (allow-all) policy per selector ({@code TestWildcardL4RulesIngress}, {@code TestL4WildcardMerge}: "L4-only rule
 * implicitly allows all traffic at L7", {@code TestL3L4L7Merge}); pkg/envoy/xds_server.go turns a nil policy into a
 * rule without HTTP rules, which cilium/proxy's {@code PortNetworkPolicyRule::getVerdict} allows.
 * <li>L3-only rule (no toPorts) for the same selector as an L7 rule: Cilium no longer copies a wildcard into the port's
 * L7 rules ({@code TestWildcardL3RulesIngress}, {@code TestWildcardCIDRRulesEgress}: "Port 80 policy does not need the
 * wildcard, as the "0" port policy will allow the traffic"). The port-0 filter reaches Envoy as wildcard-port rules
 * (xds_server.go {@code getWildcardPortNetworkPolicyRules}), and cilium/proxy appends them to every port's rules
 * (cilium/network_policy.cc, "Apply wildcard port rules to all ranges"; {@code findPortRules}: "the returned policy
 * also contains all the wildcard port rules"). A request the HTTP rule does not match gets no verdict there and goes
 * on to the L3-only rule, which allows it.
 * </ul>
 * Until 2 December this was zerohop's reading, not checked against Cilium's current sources: these cases check it.
 * Kafka, {@code l7proto} and ICMP rules of the upstream tests are left out (zerohop refuses them); egress tests are
 * read on ingress where the merge code is the same for both directions (said in the case's source).
 */
class CiliumL7WildcardConformanceTest extends UpstreamTable {

    static final Upstream T = new Upstream();

    static final String REPO_TEST = "cilium/cilium pkg/policy/repository_test.go";
    static final String RULE_TEST = "cilium/cilium pkg/policy/rule_test.go";
    static final String WILD_L3 = REPO_TEST + " (TestWildcardL3RulesIngress: 0/ANY {bar1: nil}, 80/TCP {bar2: GET /})";
    static final String WILD_L4 = REPO_TEST + " (TestWildcardL4RulesIngress: 80/TCP {bar1: nil, bar2: GET /})";
    static final String MINIKUBE = REPO_TEST + " (TestMinikubeGettingStarted: 80/TCP {b: HTTP [GET /, {}]})";
    static final String SAME_SELECTOR = REPO_TEST + " (TestWildcardCIDRRulesEgress: 0/ANY and 80/TCP GET / for the same"
            + " selector) + pkg/envoy/xds_server.go (getWildcardPortNetworkPolicyRules) + cilium/proxy"
            + " cilium/network_policy.cc (wildcard port rules appended to every port's rules)";
    static final String L4_WILDCARD_MERGE = RULE_TEST + " (TestL4WildcardMerge: 80/TCP {wildcard: nil, c: GET /})";
    static final String L3L4L7_MERGE = RULE_TEST + " (TestL3L4L7Merge: 80/TCP {c: nil, wildcard: GET /})";
    static final String MULTI_SELECTORS = RULE_TEST + " (TestMergeL7PolicyEgressWithMultipleSelectors, read on ingress:"
            + " 80/TCP {b: nil, c: HTTP [GET, host foo]})";
    static final String DISTILLERY = "cilium/cilium pkg/policy/distillery_test.go (Test_MergeRules cases 9 and 10: the L4+L7"
            + " key redirects to the proxy) + cilium/proxy tests/cilium_network_policy_test.cc (Precedence, 1st update:"
            + " default allow rule combined with an HTTP rule)";
    static final String ENVOY_OVERLAP = "cilium/proxy tests/cilium_network_policy_test.cc (HttpOverlappingPortRanges)";
    static final String ZEROHOP_L4 = "zerohop: an L4-only check (no HTTP attributes) on an L7 port";

    static final String PORT80_GET_ROOT = "toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {http: [{method: GET, path: /}]}}]";
    static final String PORT80 = "toPorts: [{ports: [{port: '80', protocol: TCP}]}]";

    /** TestWildcardL3RulesIngress's l3Rule and httpRule (kafka, l7proto and ICMP left out). */
    static final String WILD_L3_RULES = rule("l3", "{" + from("id", "bar1") + "}")
            + rule("http", "{" + from("id", "bar2") + ", " + PORT80_GET_ROOT + "}");

    static List<Upstream.Case> cases() {
        return T.cases;
    }

    static {
        wildcardL3();
        wildcardL4();
        minikube();
        sameSelector();
        l4WildcardMerge();
        l3l4l7Merge();
        multipleSelectors();
        distillery();
        envoyOverlap();
        l4Checks();
    }

    /** A pod of namespace prod labelled {@code key=value}, calling with its own verified identity. */
    static R peer(String key, String value) {
        return r().sourceLabels("prod", Map.of(key, value)).principal("spiffe://cluster.local/ns/prod/sa/peer");
    }

    static String from(String key, String value) {
        return "fromEndpoints: [{matchLabels: {" + key + ": " + value + "}}]";
    }

    /** Cilium's test rules have no subject of their own here: each is a policy selecting every pod of prod. */
    static String rule(String name, String ingress) {
        return cnp("prod", name, "{endpointSelector: {}, ingress: [" + ingress + "]}");
    }

    static void wildcardL3() {
        String yaml = WILD_L3_RULES;
        T.decide(WILD_L3, "bar1 (L3-only) POST /x on 80: allowed", yaml, peer("id", "bar1").port(80).http("POST", "/x"), true, "prod/l3");
        T.decide(WILD_L3, "bar1 (L3-only) on any other port: allowed", yaml, peer("id", "bar1").port(9092).http("PUT", "/"), true,
                "prod/l3");
        T.decide(WILD_L3, "bar2 GET / on 80: allowed by its HTTP rule", yaml, peer("id", "bar2").port(80).http("GET", "/"), true,
                "prod/http");
        T.decide(WILD_L3, "bar2 POST / on 80: denied (its rule is GET /)", yaml, peer("id", "bar2").port(80).http("POST", "/"), false,
                "prod/l3");
        T.decide(WILD_L3, "bar2 GET /x on 80: denied (the path is matched in full)", yaml, peer("id", "bar2").port(80).http("GET", "/x"),
                false, "prod/l3");
        T.decide(WILD_L3, "bar2 GET / on 8080: denied (80 only)", yaml, peer("id", "bar2").port(8080).http("GET", "/"), false, "prod/l3");
        T.decide(WILD_L3, "a peer neither rule selects: denied", yaml, peer("id", "baz").port(80).http("GET", "/"), false, "prod/l3");
    }

    static void wildcardL4() {
        String yaml = rule("l4-9092", "{" + from("id", "bar1") + ", toPorts: [{ports: [{port: '9092', protocol: TCP}]}]}")
                + rule("l4-80", "{" + from("id", "bar1") + ", " + PORT80 + "}")
                + rule("http", "{" + from("id", "bar2") + ", " + PORT80_GET_ROOT + "}");
        T.decide(WILD_L4, "bar1 (L4-only on 80) POST /x on 80: allowed", yaml, peer("id", "bar1").port(80).http("POST", "/x"), true,
                "prod/l4-80");
        T.decide(WILD_L4, "bar1 on 9092: allowed", yaml, peer("id", "bar1").port(9092), true, "prod/l4-9092");
        T.decide(WILD_L4, "bar1 on 8080: denied (no rule for the port)", yaml, peer("id", "bar1").port(8080).http("GET", "/"), false,
                "prod/l4-9092");
        T.decide(WILD_L4, "bar2 GET / on 80: allowed", yaml, peer("id", "bar2").port(80).http("GET", "/"), true, "prod/http");
        T.decide(WILD_L4, "bar2 POST / on 80: denied (bar1's L4-only rule does not reach bar2)", yaml,
                peer("id", "bar2").port(80).http("POST", "/"), false, "prod/l4-9092");
    }

    static void minikube() {
        String yaml = cnp("prod", "rule1", "{endpointSelector: {matchLabels: {id: a}}, ingress: [{" + from("id1", "b") + ", " + PORT80 + "}]}")
                + cnp("prod", "rule2", "{endpointSelector: {matchLabels: {id: app1}}, ingress: [{" + from("id1", "b") + ", "
                + PORT80_GET_ROOT + "}]}")
                + cnp("prod", "rule3", "{endpointSelector: {matchLabels: {id: a}}, ingress: [{" + from("id1", "b") + ", "
                + PORT80_GET_ROOT + "}]}");
        Map<String, String> a = Map.of("id", "a");
        T.decide(MINIKUBE, "b -> a POST /x on 80: allowed (the merged {} rule matches every request)", yaml,
                peer("id1", "b").dest("prod", "a", a).port(80).http("POST", "/x"), true, "prod/rule1");
        T.decide(MINIKUBE, "b -> a GET / on 80: allowed", yaml, peer("id1", "b").dest("prod", "a", a).port(80).http("GET", "/"), true,
                "prod/rule1");
        T.decide(MINIKUBE, "t -> a GET / on 80: denied (neither rule selects it)", yaml,
                peer("id", "t").dest("prod", "a", a).port(80).http("GET", "/"), false, "prod/rule1");
        Map<String, String> app1 = Map.of("id", "app1");
        T.decide(MINIKUBE, "b -> app1 POST /x on 80: denied (rule1 does not select app1, rule2 is GET /)", yaml,
                peer("id1", "b").dest("prod", "app1", app1).port(80).http("POST", "/x"), false, "prod/rule2");
        T.decide(MINIKUBE, "b -> app1 GET / on 80: allowed", yaml, peer("id1", "b").dest("prod", "app1", app1).port(80).http("GET", "/"),
                true, "prod/rule2");
    }

    static void sameSelector() {
        String endpoints = rule("l3", "{" + from("id", "bar2") + "}") + rule("http", "{" + from("id", "bar2") + ", " + PORT80_GET_ROOT + "}");
        T.decide(SAME_SELECTOR, "bar2 L3-only and bar2 GET / on 80: POST /x on 80 allowed", endpoints,
                peer("id", "bar2").port(80).http("POST", "/x"), true, "prod/l3");
        T.decide(SAME_SELECTOR, "the same in one policy (two rules)", rule("one", "{" + from("id", "bar2") + "}, {" + from("id", "bar2")
                + ", " + PORT80_GET_ROOT + "}"), peer("id", "bar2").port(80).http("DELETE", "/admin"), true, "prod/one");
        T.decide(SAME_SELECTOR, "bar1, which neither rule selects: denied", endpoints, peer("id", "bar1").port(80).http("GET", "/"), false,
                "prod/l3");
        // TestWildcardCIDRRulesEgress itself, read on ingress: toCIDR 192.0.0.0/3 L3-only, and on 80 GET / with a header.
        String cidr = rule("l3", "{fromCIDR: [192.0.0.0/3]}") + rule("http", "{fromCIDR: [192.0.0.0/3], toPorts: [{ports: [{port: '80',"
                + " protocol: TCP}], rules: {http: [{method: GET, path: /, headers: ['X-My-Header: true']}]}}]}");
        T.decide(SAME_SELECTOR, "fromCIDR 192.0.0.0/3 L3-only + GET / X-My-Header on 80: POST /x without the header allowed", cidr,
                r().plaintext().source(null).src("192.0.2.10").port(80).http("POST", "/x"), true, "prod/l3");
        T.decide(SAME_SELECTOR, "an address outside 192.0.0.0/3: denied", cidr,
                r().plaintext().source(null).src("10.1.2.3").port(80).http("GET", "/", null, Map.of("x-my-header", "true")), false,
                "prod/l3");
    }

    static void l4WildcardMerge() {
        Map<String, String> a = Map.of("id", "a");
        String rule1 = cnp("prod", "rule1", "{endpointSelector: {matchLabels: {id: a}}, ingress: [{" + from("id", "t") + ", "
                + PORT80_GET_ROOT + "}, {" + PORT80 + "}]}");
        T.decide(L4_WILDCARD_MERGE, "c (GET / on 80) POST /x on 80: allowed by the L4-only rule for every peer", rule1,
                peer("id", "t").dest("prod", "a", a).port(80).http("POST", "/x"), true, "prod/rule1");
        T.decide(L4_WILDCARD_MERGE, "b POST /x on 80: allowed", rule1, peer("id1", "b").dest("prod", "a", a).port(80).http("POST", "/x"),
                true, "prod/rule1");
        T.decide(L4_WILDCARD_MERGE, "b on 81: denied", rule1, peer("id1", "b").dest("prod", "a", a).port(81).http("GET", "/"), false,
                "prod/rule1");
        String rule2 = cnp("prod", "rule2", "{endpointSelector: {matchLabels: {id: a}}, ingress: [{" + PORT80 + "}, {" + from("id", "t")
                + ", " + PORT80_GET_ROOT + "}]}");
        T.decide(L4_WILDCARD_MERGE, "the reverse order: c POST /x on 80 allowed", rule2,
                peer("id", "t").dest("prod", "a", a).port(80).http("POST", "/x"), true, "prod/rule2");
        String rule3 = cnp("prod", "rule3", "{endpointSelector: {matchLabels: {id: a}}, ingress: [{" + from("id", "t") + ", "
                + PORT80_GET_ROOT + "}, {fromEndpoints: [{}], " + PORT80 + "}]}");
        T.decide(L4_WILDCARD_MERGE, "explicit wildcard fromEndpoints [{}] on 80: c POST /x allowed", rule3,
                peer("id", "t").dest("prod", "a", a).port(80).http("POST", "/x"), true, "prod/rule3");
    }

    static void l3l4l7Merge() {
        Map<String, String> a = Map.of("id", "a");
        String rule1 = cnp("prod", "rule1", "{endpointSelector: {matchLabels: {id: a}}, ingress: [{" + PORT80_GET_ROOT + "}, {"
                + from("id", "t") + ", " + PORT80 + "}]}");
        T.decide(L3L4L7_MERGE, "c (L4-only on 80) POST /x on 80: allowed", rule1, peer("id", "t").dest("prod", "a", a).port(80)
                .http("POST", "/x"), true, "prod/rule1");
        T.decide(L3L4L7_MERGE, "any other peer GET / on 80: allowed", rule1, peer("id1", "b").dest("prod", "a", a).port(80)
                .http("GET", "/"), true, "prod/rule1");
        T.decide(L3L4L7_MERGE, "any other peer POST /x on 80: denied (the TODO's reading: only c gets everything)", rule1,
                peer("id1", "b").dest("prod", "a", a).port(80).http("POST", "/x"), false, "prod/rule1");
    }

    static void multipleSelectors() {
        String yaml = rule("rule1", "{" + from("id1", "b") + ", " + PORT80 + "}, {" + from("id", "t") + ", toPorts: [{ports: [{port: '80',"
                + " protocol: TCP}], rules: {http: [{method: GET}]}}]}, {" + from("id", "t") + ", toPorts: [{ports: [{port: '80',"
                + " protocol: TCP}], rules: {http: [{host: foo}]}}]}");
        T.decide(MULTI_SELECTORS, "c POST with host foo: allowed (second rule)", yaml,
                peer("id", "t").port(80).http("POST", "/", "foo", Map.of()), true, "prod/rule1");
        T.decide(MULTI_SELECTORS, "c GET with host bar: allowed (first rule)", yaml,
                peer("id", "t").port(80).http("GET", "/", "bar", Map.of()), true, "prod/rule1");
        T.decide(MULTI_SELECTORS, "c POST with host bar: denied", yaml, peer("id", "t").port(80).http("POST", "/", "bar", Map.of()), false,
                "prod/rule1");
        T.decide(MULTI_SELECTORS, "b POST with host bar: allowed (L4-only, b's merge does not touch c's rules)", yaml,
                peer("id1", "b").port(80).http("POST", "/", "bar", Map.of()), true, "prod/rule1");
    }

    static void distillery() {
        String l4l7 = rule("l4l7", "{" + PORT80_GET_ROOT + "}");
        String case9 = l4l7 + rule("l3", "{" + from("foo", "''") + "}");
        T.decide(DISTILLERY, "case 9, L4L7 for every peer + L3 foo: foo POST /x on 80 allowed", case9,
                peer("foo", "").port(80).http("POST", "/x"), true, "prod/l3");
        T.decide(DISTILLERY, "case 9: bar POST /x on 80 denied", case9, peer("bar", "").port(80).http("POST", "/x"), false, "prod/l4l7");
        T.decide(DISTILLERY, "case 9: bar GET / on 80 allowed", case9, peer("bar", "").port(80).http("GET", "/"), true, "prod/l4l7");
        String case10 = l4l7 + rule("l4", "{" + PORT80 + "}");
        T.decide(DISTILLERY, "case 10, L4L7 + L4 for every peer: bar POST /x on 80 allowed", case10,
                peer("bar", "").port(80).http("POST", "/x"), true, "prod/l4");
        T.decide(DISTILLERY, "case 10: bar on 8080 denied", case10, peer("bar", "").port(8080).http("GET", "/"), false, "prod/l4l7");
    }

    static void envoyOverlap() {
        String first = rule("o", "{" + from("id", "r43") + ", toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {http: [{path:"
                + " /allowed}]}}, {ports: [{port: '80', protocol: TCP}], rules: {http: [{method: GET}]}}]}");
        T.decide(ENVOY_OVERLAP, "1st update: PUSH /allowed on 80 allowed", first, peer("id", "r43").port(80).http("PUSH", "/allowed"), true,
                "prod/o");
        T.decide(ENVOY_OVERLAP, "1st update: GET /also_allowed on 80 allowed", first,
                peer("id", "r43").port(80).http("GET", "/also_allowed"), true, "prod/o");
        T.decide(ENVOY_OVERLAP, "1st update: another remote denied", first, peer("id", "r40").port(80).http("GET", "/allowed"), false,
                "prod/o");
        T.decide(ENVOY_OVERLAP, "1st update: port 8080 denied", first, peer("id", "r43").port(8080).http("GET", "/allowed"), false,
                "prod/o");
        T.decide(ENVOY_OVERLAP, "1st update: POST /notallowed denied", first, peer("id", "r43").port(80).http("POST", "/notallowed"), false,
                "prod/o");
        String second = rule("o", "{" + from("id", "r43") + ", toPorts: [{ports: [{port: '70', endPort: 90, protocol: TCP}], rules: "
                + "{http: [{path: /allowed}]}}, {ports: [{port: '80', protocol: TCP}], rules: {http: [{method: GET}]}}]}");
        for (int port : new int[] {70, 80, 90}) {
            T.decide(ENVOY_OVERLAP, "2nd update: PUSH /allowed on " + port + " allowed", second,
                    peer("id", "r43").port(port).http("PUSH", "/allowed"), true, "prod/o");
        }
        T.decide(ENVOY_OVERLAP, "2nd update: GET /also_allowed on 80 allowed", second,
                peer("id", "r43").port(80).http("GET", "/also_allowed"), true, "prod/o");
        T.decide(ENVOY_OVERLAP, "2nd update: GET /also_allowed on 70 denied", second,
                peer("id", "r43").port(70).http("GET", "/also_allowed"), false, "prod/o");
        T.decide(ENVOY_OVERLAP, "2nd update: GET /also_allowed on 90 denied", second,
                peer("id", "r43").port(90).http("GET", "/also_allowed"), false, "prod/o");
    }

    /**
     * Beyond Cilium (which decides such a port per request in its proxy): zerohop's L4 check of a peer an L3-only or
     * L4-only rule admits on an L7 port allows, since no request of it can be denied; a peer admitted only through
     * rules.http fails closed until the request is read.
     */
    static void l4Checks() {
        String yaml = WILD_L3_RULES;
        T.decide(ZEROHOP_L4, "bar1 (L3-only) at L4 on 80: allowed", yaml, peer("id", "bar1").port(80), true, "prod/l3");
        T.decide(ZEROHOP_L4, "bar2 (HTTP only) at L4 on 80: denied until the request is read", yaml, peer("id", "bar2").port(80), false,
                "prod/http");
    }

    @Test
    void countsPerSource() {
        T.counts().forEach((k, v) -> System.out.println("conformance cases: " + v + "  " + k));
        assertThat(T.counts()).containsKeys(WILD_L3, WILD_L4, MINIKUBE, SAME_SELECTOR, L4_WILDCARD_MERGE, L3L4L7_MERGE, MULTI_SELECTORS,
                DISTILLERY, ENVOY_OVERLAP);
    }
}
