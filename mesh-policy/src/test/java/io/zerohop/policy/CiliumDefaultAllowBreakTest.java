package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static io.zerohop.policy.Upstream.ccnp;
import static io.zerohop.policy.Upstream.cnp;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.List;
import java.util.Map;

/**
 * A break-it review of the default-allow HTTP wildcard (helper 415, 7 December): where may the allow-all that Cilium's
 * {@code createL4Filter} appends to an allow rule's HTTP rules ({@code ensureWildcard}, cilium/cilium#38841, 1.17 backport
 * #39375) let through what Cilium denies? Cilium's condition, from the pull request's pkg/policy/l4.go: the rule has L7
 * rules, default deny is off for the filter's direction in the rule's own policy ({@code policyCtx.DefaultDenyIngress()}),
 * and the rule is an allow. So: ingress only where {@code enableDefaultDeny.ingress} is false (an {@code egress: false}
 * leaves ingress default deny on), per port of the rule's toPorts entry with HTTP rules, whatever other policies do (the
 * L7 rules of one port and selector are a union across policies, pkg/policy/l4.go {@code mergePortProto}); never for
 * deny rules (which carry no L7 rules: the CRD's PortDenyRule has no {@code rules}); never lifting
 * {@code authentication.mode} (the auth requirement of the peer's port entry, pkg/policy/mapstate.go), nor an
 * {@code ingressDeny}. Each row asserts only the verdict (which policy zerohop names is its explanation, not Cilium's).
 */
class CiliumDefaultAllowBreakTest extends UpstreamTable {

    static final Upstream T = new Upstream();

    static final String PR = "cilium/cilium#38841 pkg/policy/l4.go createL4Filter (hasL7Rules && isDefaultDenyDisabled && isAllowPolicy)";
    static final String MERGE = "cilium/cilium pkg/policy/l4.go mergePortProto (L7 rules of one port and selector merged across rules)";
    static final String AUTH = "cilium/cilium pkg/policy/mapstate.go (auth requirement of the peer's key) + #38841";
    static final String DENY = "cilium/cilium pkg/policy/api/rules.go PortDenyRule (no rules field) + repository.go (deny first)";
    static final String SANITIZE = "cilium/cilium pkg/policy/api/rule.go Sanitize (EnableDefaultDeny per direction, default: has rules)";

    static final String GET_API = "rules: {http: [{method: GET, path: /api}]}";

    static List<Upstream.Case> cases() {
        return T.cases;
    }

    static R peer(String value) {
        return r().sourceLabels("prod", Map.of("id", value)).principal("spiffe://cluster.local/ns/prod/sa/" + value);
    }

    static String from(String value) {
        return "fromEndpoints: [{matchLabels: {id: " + value + "}}]";
    }

    /** A policy selecting every pod of prod, {@code dd} its enableDefaultDeny (null: not written). */
    static String pol(String name, String dd, String... ingress) {
        return cnp("prod", name, "{endpointSelector: {}" + (dd == null ? "" : ", enableDefaultDeny: " + dd) + ", ingress: ["
                + String.join(", ", ingress) + "]}");
    }

    static final String OFF = "{ingress: false}";

    static void verdict(String source, String name, String yaml, R request, boolean allowed) {
        T.add(source, name, () -> {
            Decision d = PolicyEngine.builder().policies(PolicyLoader.fromString("case.yaml", yaml)).build().evaluate(request.build());
            assertThat(d.allowed()).as("allowed for %s: %s", request, d).isEqualTo(allowed);
        });
    }

    /** An L4 connection: whether zerohop may refuse it before its HTTP request is read (a certain denial). */
    static void l4Refused(String source, String name, String yaml, R request, boolean refused) {
        T.add(source, name + " (L4, before HTTP)", () -> {
            PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("case.yaml", yaml)).build();
            assertThat(e.evaluate(request.build()).allowed()).as("an L4-only check of an HTTP port never allows").isFalse();
            assertThat(e.denialBeforeHttp(request.build()) != null).as("refused before HTTP: %s", request).isEqualTo(refused);
        });
    }

    static {
        direction();
        authentication();
        deny();
        merge();
        ports();
    }

    static void direction() {
        String egressOff = pol("eg", "{egress: false}", "{" + from("foo") + ", toPorts: [{ports: [{port: '80', protocol: TCP}], " + GET_API
                + "}]}");
        verdict(SANITIZE, "enableDefaultDeny {egress: false} leaves ingress default deny on: POST /x denied", egressOff,
                peer("foo").port(80).http("POST", "/x"), false);
        verdict(SANITIZE, "enableDefaultDeny {egress: false}: GET /api allowed", egressOff, peer("foo").port(80).http("GET", "/api"), true);
        String bothOn = pol("ddon", "{ingress: true, egress: false}", "{" + from("foo") + ", toPorts: [{ports: [{port: '80', protocol:"
                + " TCP}], " + GET_API + "}]}");
        verdict(PR, "enableDefaultDeny.ingress true: no wildcard, POST /x denied", bothOn, peer("foo").port(80).http("POST", "/x"), false);
        // A CNP's specs are rules of their own, each with its own enableDefaultDeny (Cilium's policyCtx is per rule).
        String specs = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: two, namespace: prod}\nspecs:\n"
                + "- {endpointSelector: {}, enableDefaultDeny: {ingress: false}, ingress: [{" + from("foo") + ", toPorts: [{ports:"
                + " [{port: '80', protocol: TCP}], " + GET_API + "}]}]}\n"
                + "- {endpointSelector: {}, ingress: [{" + from("bar") + ", toPorts: [{ports: [{port: '80', protocol: TCP}], " + GET_API
                + "}]}]}\n";
        verdict(PR, "specs: the default-allow spec's peer foo POST /x allowed", specs, peer("foo").port(80).http("POST", "/x"), true);
        verdict(PR, "specs: the default-deny spec's peer bar POST /x denied (its HTTP rules keep narrowing)", specs,
                peer("bar").port(80).http("POST", "/x"), false);
        verdict(PR, "specs: a third peer on 80 denied (the second spec turns default deny on)", specs,
                peer("baz").port(80).http("GET", "/api"), false);
        // Only default-allow policies: a peer no HTTP rule selects is allowed at L4 (the allow-all, no proxy); one that a
        // rule selects goes through the proxy, so its L4 check waits and its request passes (the appended allow-all).
        String onlyOff = pol("ddoff", OFF, "{" + from("foo") + ", toPorts: [{ports: [{port: '80', protocol: TCP}], " + GET_API + "}]}");
        verdict(PR, "only default-allow: baz at L4 on 80 allowed (no proxy for it)", onlyOff, peer("baz").port(80), true);
        l4Refused(PR, "only default-allow: foo on 80 goes through the proxy", onlyOff, peer("foo").port(80), false);
        verdict(PR, "only default-allow: foo DELETE /api on 80 allowed", onlyOff, peer("foo").port(80).http("DELETE", "/api"), true);
        String cw = ccnp("cw", "{endpointSelector: {}, enableDefaultDeny: {ingress: false}, ingress: [{" + from("foo") + ", toPorts:"
                + " [{ports: [{port: '80', protocol: TCP}], " + GET_API + "}]}]}");
        String onBar = pol("ddon", null, "{" + from("bar") + ", toPorts: [{ports: [{port: '80', protocol: TCP}], " + GET_API + "}]}");
        verdict(PR, "CCNP default-allow beside a CNP with default deny: foo POST /x allowed", cw + onBar,
                peer("foo").port(80).http("POST", "/x"), true);
        verdict(PR, "CCNP default-allow beside a CNP with default deny: bar POST /x denied", cw + onBar,
                peer("bar").port(80).http("POST", "/x"), false);
    }

    static void authentication() {
        String authOff = pol("a", OFF, "{" + from("foo") + ", authentication: {mode: required}, toPorts: [{ports: [{port: '80', protocol:"
                + " TCP}], " + GET_API + "}]}");
        verdict(AUTH, "default-allow rule with mode required: foo without a SPIFFE identity, POST /x denied", authOff,
                r().sourceLabels("prod", Map.of("id", "foo")).plaintext().port(80).http("POST", "/x"), false);
        verdict(AUTH, "default-allow rule with mode required: foo without a SPIFFE identity, GET /api denied", authOff,
                r().sourceLabels("prod", Map.of("id", "foo")).plaintext().port(80).http("GET", "/api"), false);
        verdict(AUTH, "default-allow rule with mode required: foo with its SPIFFE identity, POST /x allowed", authOff,
                peer("foo").port(80).http("POST", "/x"), true);
        String on = pol("ddon", null, "{" + from("ops") + "}");
        verdict(AUTH, "mode required, another policy's default deny on: foo without identity POST /x denied", authOff + on,
                r().sourceLabels("prod", Map.of("id", "foo")).plaintext().port(80).http("POST", "/x"), false);
        String failing = pol("f", OFF, "{" + from("foo") + ", authentication: {mode: test-always-fail}, toPorts: [{ports: [{port: '80',"
                + " protocol: TCP}], " + GET_API + "}]}");
        verdict(AUTH, "mode test-always-fail in a default-allow rule: foo POST /x denied", failing, peer("foo").port(80).http("POST", "/x"),
                false);
    }

    static void deny() {
        String both = pol("d", OFF, "{" + from("foo") + ", toPorts: [{ports: [{port: '80', protocol: TCP}], " + GET_API + "}]}")
                + cnp("prod", "deny", "{endpointSelector: {}, ingressDeny: [{" + from("foo") + ", toPorts: [{ports: [{port: '80',"
                + " protocol: TCP}]}]}]}");
        verdict(DENY, "an ingressDeny of foo on 80 beats the wildcard: POST /x denied", both, peer("foo").port(80).http("POST", "/x"), false);
        verdict(DENY, "an ingressDeny of foo on 80 beats the wildcard: GET /api denied", both, peer("foo").port(80).http("GET", "/api"),
                false);
        String same = pol("d", OFF, "{" + from("foo") + ", toPorts: [{ports: [{port: '80', protocol: TCP}], " + GET_API + "}]}")
                .replace("ingress: [", "ingressDeny: [{" + from("foo") + ", toPorts: [{ports: [{port: '80', protocol: TCP}]}]}], ingress: [");
        verdict(DENY, "an ingressDeny in the same default-allow policy: POST /x denied", same, peer("foo").port(80).http("POST", "/x"), false);
        // No L7 in deny rules: a policy that writes one would otherwise deny less than the port it names.
        T.add(DENY, "ingressDeny toPorts with rules.http is refused (invalid)", () -> {
            PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("case.yaml",
                    cnp("prod", "dl7", "{endpointSelector: {}, enableDefaultDeny: {ingress: false}, ingressDeny: [{" + from("foo")
                            + ", toPorts: [{ports: [{port: '80', protocol: TCP}], " + GET_API + "}]}]}")));
            assertThat(e).as("load must fail").isNotNull();
            assertThat(e.getMessage()).startsWith("case.yaml:").contains("rules");
        });
    }

    static void merge() {
        String off = pol("ddoff", OFF, "{" + from("foo") + ", toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {http: [{method: GET,"
                + " path: /other}]}}]}");
        String onAll = pol("ddon", null, "{fromEndpoints: [{}], toPorts: [{ports: [{port: '80', protocol: TCP}], " + GET_API + "}]}");
        verdict(MERGE, "foo: the union of [GET /api] and [GET /other, {}] on 80: POST /x allowed", off + onAll,
                peer("foo").port(80).http("POST", "/x"), true);
        verdict(MERGE, "bar, selected only by the default-deny policy: POST /x denied", off + onAll,
                peer("bar").port(80).http("POST", "/x"), false);
        verdict(MERGE, "bar GET /api allowed", off + onAll, peer("bar").port(80).http("GET", "/api"), true);
        verdict(MERGE, "bar GET /other denied (that rule selects foo only)", off + onAll, peer("bar").port(80).http("GET", "/other"), false);
        l4Refused(MERGE, "bar on 80 may still send GET /api", off + onAll, peer("bar").port(80), false);
        l4Refused(MERGE, "foo on 81: no rule covers it under default deny", off + onAll, peer("foo").port(81), true);
        verdict(MERGE, "foo on 81 denied (default deny from the other policy)", off + onAll, peer("foo").port(81).http("GET", "/api"), false);
        // The default-allow policy's rule for a wildcard peer widens every peer's requests on its port.
        String offAll = pol("ddoff", OFF, "{fromEndpoints: [{}], toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {http: [{method:"
                + " GET, path: /other}]}}]}");
        String onFoo = pol("ddon", null, "{" + from("foo") + ", toPorts: [{ports: [{port: '80', protocol: TCP}], " + GET_API + "}]}");
        verdict(MERGE, "wildcard default-allow rule on 80: bar POST /x allowed", offAll + onFoo, peer("bar").port(80).http("POST", "/x"),
                true);
        verdict(MERGE, "wildcard default-allow rule on 80: bar on 81 denied", offAll + onFoo, peer("bar").port(81).http("GET", "/"), false);
    }

    static void ports() {
        String on = pol("ddon", null, "{" + from("ops") + "}");
        String two = pol("ddoff", OFF, "{" + from("foo") + ", toPorts: [{ports: [{port: '80', protocol: TCP}, {port: '8080', protocol: TCP}],"
                + " " + GET_API + "}, {ports: [{port: '9090', protocol: TCP}]}]}");
        verdict(PR, "every port of the entry: foo POST /x on 8080 allowed", two + on, peer("foo").port(8080).http("POST", "/x"), true);
        verdict(PR, "the L4-only entry: foo on 9090 allowed", two + on, peer("foo").port(9090).http("POST", "/x"), true);
        verdict(PR, "a port of no entry: foo on 9091 denied (default deny from the other policy)", two + on,
                peer("foo").port(9091).http("GET", "/api"), false);
        String range = pol("ddoff", OFF, "{" + from("foo") + ", toPorts: [{ports: [{port: '80', endPort: 90, protocol: TCP}], " + GET_API
                + "}]}");
        verdict(PR, "a port range: foo POST /x on 85 allowed", range + on, peer("foo").port(85).http("POST", "/x"), true);
        verdict(PR, "a port range: foo on 91 denied", range + on, peer("foo").port(91).http("GET", "/api"), false);
        // An empty http list is no L7 rule (L7Rules.IsEmpty): the entry is L4-only in Cilium, default deny on or off.
        String emptyOn = pol("e", null, "{" + from("foo") + ", toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {http: []}}]}");
        verdict("cilium/cilium pkg/policy/api/l4.go L7Rules.IsEmpty", "rules.http [] with default deny on: foo POST /x allowed"
                + " (L4-only)", emptyOn, peer("foo").port(80).http("POST", "/x"), true);
        verdict("cilium/cilium pkg/policy/api/l4.go L7Rules.IsEmpty", "rules.http [] with default deny on: bar denied", emptyOn,
                peer("bar").port(80).http("POST", "/x"), false);
    }
}
