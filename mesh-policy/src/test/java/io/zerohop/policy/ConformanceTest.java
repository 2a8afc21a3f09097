package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.Decision.Outcome;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Table of behaviours documented by Istio (ztunnel at L4, Envoy at L7) and Cilium. Each case
 * names the policy expected to decide, so a right answer for the wrong reason fails too.
 */
class ConformanceTest {

    record Case(String name, String yaml, String root, R request, boolean allowed, String policy, Outcome outcome) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static final List<Case> CASES = new ArrayList<>();

    static String ap(String ns, String name, String spec) {
        return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: " + name
                + ", namespace: " + ns + "}\nspec: " + spec + "\n---\n";
    }

    static String pa(String ns, String name, String spec) {
        return "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: " + name
                + ", namespace: " + ns + "}\nspec: " + spec + "\n---\n";
    }

    static String cnp(String ns, String name, String spec) {
        return "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: " + name
                + ", namespace: " + ns + "}\nspec: " + spec + "\n---\n";
    }

    static String ccnp(String name, String spec) {
        return "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: " + name
                + "}\nspec: " + spec + "\n---\n";
    }

    static void allow(String name, String yaml, R req, String policy) {
        CASES.add(new Case(name, yaml, "istio-system", req, true, policy,
                policy == null ? Outcome.ALLOWED_NO_POLICY : Outcome.ALLOWED_BY_RULE));
    }

    static void deny(String name, String yaml, R req, String policy, Outcome outcome) {
        CASES.add(new Case(name, yaml, "istio-system", req, false, policy, outcome));
    }

    static void deny(String name, String yaml, R req, String policy) {
        deny(name, yaml, req, policy, Outcome.DENIED_DEFAULT);
    }

    static void denyRule(String name, String yaml, R req, String policy) {
        deny(name, yaml, req, policy, Outcome.DENIED_BY_RULE);
    }

    static final String SEL = "selector: {matchLabels: {app: backend}}";
    static final String FRONTEND = "cluster.local/ns/prod/sa/frontend";
    static final String LEGACY = "spiffe://cluster.local/ns/legacy/sa/old";

    static String allowFrom(String source) {
        return ap("prod", "p", "{" + SEL + ", rules: [{from: [{source: " + source + "}]}]}");
    }

    static String allowTo(String op) {
        return ap("prod", "p", "{" + SEL + ", rules: [{to: [{operation: " + op + "}]}]}");
    }

    static String allowWhen(String cond) {
        return ap("prod", "p", "{" + SEL + ", rules: [{when: [" + cond + "]}]}");
    }

    static {
        // ---------------------------------------------------------------- Istio basics
        allow("no policy at all", "", r(), null);
        deny("allow-nothing: ALLOW without rules", ap("prod", "allow-nothing", "{action: ALLOW}"), r(), "prod/allow-nothing");
        deny("allow-nothing: empty spec", ap("prod", "allow-nothing", "{}"), r(), "prod/allow-nothing");
        deny("allow-nothing covers every workload of the namespace", ap("prod", "allow-nothing", "{}"),
                r().dest("prod", "other", Map.of("app", "other")), "prod/allow-nothing");
        allow("allow-nothing does not reach other namespaces", ap("prod", "allow-nothing", "{}"),
                r().dest("dev", "backend", Map.of("app", "backend")), null);
        denyRule("deny-all: DENY rules [{}]", ap("prod", "deny-all", "{action: DENY, rules: [{}]}"), r(), "prod/deny-all");
        denyRule("deny-all hits plaintext too", ap("prod", "deny-all", "{action: DENY, rules: [{}]}"), r().plaintext(), "prod/deny-all");
        allow("allow-all: rules [{}]", ap("prod", "allow-all", "{rules: [{}]}"), r(), "prod/allow-all");
        allow("allow-all admits plaintext", ap("prod", "allow-all", "{rules: [{}]}"), r().plaintext(), "prod/allow-all");
        String denyLegacy = ap("prod", "deny-legacy", "{action: DENY, rules: [{from: [{source: {principals: [cluster.local/ns/legacy/sa/old]}}]}]}");
        denyRule("DENY wins over ALLOW", ap("prod", "allow-all", "{rules: [{}]}") + denyLegacy, r().principal(LEGACY), "prod/deny-legacy");
        allow("DENY not matching leaves ALLOW", ap("prod", "allow-all", "{rules: [{}]}") + denyLegacy, r(), "prod/allow-all");
        allow("only DENY policies: unmatched is allowed", denyLegacy, r(), null);
        allow("AUDIT never changes the decision", ap("prod", "audit", "{action: AUDIT, rules: [{}]}"), r(), null);
        // ztunnel never receives CUSTOM (pilot/pkg/serviceregistry/ambient/authorization.go): no effect at L4 ...
        allow("CUSTOM without an authorizer has no effect at L4",
                ap("prod", "ext", "{action: CUSTOM, provider: {name: opa}, rules: [{}]}"), r(), null);
        // ... and at L7, without the external authorizer, what it matches is denied (fail closed).
        deny("CUSTOM without an authorizer denies what it matches at L7",
                ap("prod", "ext", "{action: CUSTOM, provider: {name: opa}, rules: [{}]}"), r().http("GET", "/"), "prod/ext",
                Outcome.DENIED_CUSTOM);
        allow("CUSTOM not matching is skipped",
                ap("prod", "ext", "{action: CUSTOM, provider: {name: opa}, rules: [{to: [{operation: {ports: ['9999']}}]}]}"), r(), null);
        allow("targetRefs policies are recorded, not enforced on workloads",
                ap("prod", "waypoint", "{targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}], action: DENY, rules: [{}]}"),
                r(), null);

        // ---------------------------------------------------------------- scope
        allow("selector scope: other workload untouched", ap("prod", "p", "{" + SEL + "}"),
                r().dest("prod", "other", Map.of("app", "other")), null);
        deny("selector scope: selected workload", ap("prod", "p", "{" + SEL + "}"), r(), "prod/p");
        allow("selector needs every label", ap("prod", "p", "{selector: {matchLabels: {app: backend, tier: db}}}"), r(), null);
        deny("selector with every label present", ap("prod", "p", "{selector: {matchLabels: {app: backend, tier: db}}}"),
                r().dest("prod", "backend", Map.of("app", "backend", "tier", "db")), "prod/p");
        denyRule("root namespace DENY applies mesh-wide", ap("istio-system", "global-deny", "{action: DENY, rules: [{}]}"),
                r(), "istio-system/global-deny");
        allow("root namespace ALLOW with selector applies in every namespace",
                ap("istio-system", "global-allow", "{" + SEL + ", rules: [{from: [{source: {namespaces: [prod]}}]}]}")
                        + ap("dev", "nothing", "{}"),
                r(), "istio-system/global-allow");
        deny("root ALLOW makes unmatched workloads default-deny too",
                ap("istio-system", "global-allow", "{rules: [{from: [{source: {namespaces: [prod]}}]}]}"),
                r().principal("spiffe://cluster.local/ns/dev/sa/x"), "istio-system/global-allow");
        CASES.add(new Case("configurable root namespace: istio-system is then an ordinary namespace",
                ap("istio-system", "global-deny", "{action: DENY, rules: [{}]}"), "mesh-root", r(), true, null,
                Outcome.ALLOWED_NO_POLICY));
        CASES.add(new Case("configurable root namespace applies mesh-wide",
                ap("mesh-root", "global-deny", "{action: DENY, rules: [{}]}"), "mesh-root", r(), false, "mesh-root/global-deny",
                Outcome.DENIED_BY_RULE));

        // ---------------------------------------------------------------- from
        allow("principals exact", allowFrom("{principals: [" + FRONTEND + "]}"), r(), "prod/p");
        deny("principals exact mismatch", allowFrom("{principals: [" + FRONTEND + "]}"), r().principal(LEGACY), "prod/p");
        deny("principals never match plaintext", allowFrom("{principals: [" + FRONTEND + "]}"), r().plaintext(), "prod/p");
        allow("principals prefix", allowFrom("{principals: ['cluster.local/ns/prod/*']}"), r(), "prod/p");
        allow("principals suffix", allowFrom("{principals: ['*/sa/frontend']}"), r(), "prod/p");
        allow("principals presence with mTLS", allowFrom("{principals: ['*']}"), r(), "prod/p");
        deny("principals presence rejects plaintext", allowFrom("{principals: ['*']}"), r().plaintext(), "prod/p");
        allow("notPrincipals admits plaintext", allowFrom("{notPrincipals: [" + FRONTEND + "]}"), r().plaintext(), "prod/p");
        deny("notPrincipals excludes", allowFrom("{notPrincipals: [" + FRONTEND + "]}"), r(), "prod/p");
        allow("namespaces exact", allowFrom("{namespaces: [prod]}"), r(), "prod/p");
        deny("namespaces mismatch", allowFrom("{namespaces: [dev]}"), r(), "prod/p");
        allow("namespaces prefix", allowFrom("{namespaces: ['pro*']}"), r(), "prod/p");
        deny("namespaces need an identity", allowFrom("{namespaces: [prod]}"), r().plaintext(), "prod/p");
        deny("notNamespaces excludes", allowFrom("{notNamespaces: [legacy]}"), r().principal(LEGACY), "prod/p");
        allow("serviceAccounts relative to the policy namespace", allowFrom("{serviceAccounts: [frontend]}"), r(), "prod/p");
        deny("serviceAccounts ns/name mismatch", allowFrom("{serviceAccounts: [dev/frontend]}"), r(), "prod/p");
        allow("ipBlocks CIDR", allowFrom("{ipBlocks: [10.0.0.0/24]}"), r(), "prod/p");
        deny("ipBlocks mismatch", allowFrom("{ipBlocks: [192.168.0.0/16]}"), r(), "prod/p");
        allow("ipBlocks single address", allowFrom("{ipBlocks: [10.0.0.1]}"), r(), "prod/p");
        deny("notIpBlocks excludes", allowFrom("{notIpBlocks: [10.0.0.1/32]}"), r(), "prod/p");
        allow("ipBlocks IPv6", allowFrom("{ipBlocks: ['fd00::/8']}"), r().src("fd00::1").dst("fd00::2"), "prod/p");
        deny("IPv4 block never matches IPv6", allowFrom("{ipBlocks: [0.0.0.0/0]}"), r().src("fd00::1"), "prod/p");
        deny("fields of one source are ANDed", allowFrom("{principals: [" + FRONTEND + "], ipBlocks: [192.168.0.0/16]}"), r(), "prod/p");
        allow("sources are ORed", ap("prod", "p", "{" + SEL + ", rules: [{from: [{source: {namespaces: [dev]}}, {source: {ipBlocks: [10.0.0.0/8]}}]}]}"),
                r(), "prod/p");

        // ---------------------------------------------------------------- to
        allow("ports", allowTo("{ports: ['8080']}"), r(), "prod/p");
        deny("ports mismatch", allowTo("{ports: ['8080']}"), r().port(9090), "prod/p");
        deny("notPorts", allowTo("{notPorts: ['8080']}"), r(), "prod/p");
        allow("DENY on another port", ap("prod", "d", "{action: DENY, rules: [{to: [{operation: {ports: ['9090']}}]}]}"), r(), null);
        denyRule("DENY on this port", ap("prod", "d", "{action: DENY, rules: [{to: [{operation: {ports: ['8080']}}]}]}"), r(), "prod/d");

        // ---------------------------------------------------------------- when
        allow("when source.ip", allowWhen("{key: source.ip, values: [10.0.0.0/8]}"), r(), "prod/p");
        deny("when source.namespace notValues", allowWhen("{key: source.namespace, notValues: [prod]}"), r(), "prod/p");
        allow("when source.principal", allowWhen("{key: source.principal, values: [" + FRONTEND + "]}"), r(), "prod/p");
        allow("when destination.port", allowWhen("{key: destination.port, values: ['8080']}"), r(), "prod/p");
        deny("when destination.port mismatch", allowWhen("{key: destination.port, values: ['80']}"), r(), "prod/p");
        allow("when destination.ip", allowWhen("{key: destination.ip, values: [10.0.0.2/32]}"), r(), "prod/p");
        deny("when conditions are ANDed", ap("prod", "p", "{" + SEL + ", rules: [{when: [{key: destination.port, values: ['8080']}, {key: source.ip, values: [1.1.1.1]}]}]}"),
                r(), "prod/p");
        allow("second rule matches", ap("prod", "p", "{" + SEL + ", rules: [{from: [{source: {namespaces: [dev]}}]}, {to: [{operation: {ports: ['8080']}}]}]}"),
                r(), "prod/p");

        // ---------------------------------------------------------------- L7 fields at L4 (ztunnel) and at L7 (Envoy)
        deny("ALLOW with methods matches nothing at L4", allowTo("{methods: [GET]}"), r(), "prod/p");
        allow("ALLOW with methods at L7", allowTo("{methods: [GET]}"), r().http("GET", "/"), "prod/p");
        deny("ALLOW with methods at L7, other method", allowTo("{methods: [GET]}"), r().http("POST", "/"), "prod/p");
        allow("DENY with only methods has no effect at L4 (ztunnel skips the empty match)",
                ap("prod", "d", "{action: DENY, rules: [{to: [{operation: {methods: [POST]}}]}]}"), r(), null);
        allow("DENY with methods at L7, other method", ap("prod", "d", "{action: DENY, rules: [{to: [{operation: {methods: [POST]}}]}]}"), r().http("GET", "/"), null);
        denyRule("DENY with methods at L7", ap("prod", "d", "{action: DENY, rules: [{to: [{operation: {methods: [POST]}}]}]}"), r().http("POST", "/"), "prod/d");
        allow("DENY keeps its L4 part at L4", ap("prod", "d", "{action: DENY, rules: [{to: [{operation: {ports: ['9090'], methods: [POST]}}]}]}"), r(), null);
        allow("paths prefix at L7", allowTo("{paths: ['/api/*']}"), r().http("GET", "/api/users"), "prod/p");
        deny("paths prefix at L7 mismatch", allowTo("{paths: ['/api/*']}"), r().http("GET", "/admin"), "prod/p");
        allow("notPaths at L7", allowTo("{notPaths: ['/admin*']}"), r().http("GET", "/api"), "prod/p");
        allow("hosts match case-insensitively", allowTo("{hosts: ['Backend.prod.svc']}"),
                r().http("GET", "/", "backend.prod.SVC", Map.of()), "prod/p");
        deny("request.headers at L4 fails closed", allowWhen("{key: 'request.headers[x-user]', values: [alice]}"), r(), "prod/p");
        allow("request.headers at L7", allowWhen("{key: 'request.headers[X-User]', values: [alice]}"),
                r().http("GET", "/", "", Map.of("x-user", "alice")), "prod/p");
        allow("request.headers notValues with header absent", allowWhen("{key: 'request.headers[x-user]', notValues: [mallory]}"),
                r().http("GET", "/"), "prod/p");
        deny("remoteIpBlocks is L7-only", allowFrom("{remoteIpBlocks: [10.0.0.0/8]}"), r(), "prod/p");
        allow("remoteIpBlocks at L7", allowFrom("{remoteIpBlocks: [10.0.0.0/8]}"), r().http("GET", "/"), "prod/p");
        deny("requestPrincipals never match without JWT", allowFrom("{requestPrincipals: ['*']}"), r().http("GET", "/"), "prod/p");
        deny("connection.sni is not an L4 key in ztunnel", allowWhen("{key: connection.sni, values: ['backend.prod']}"),
                r().sni("backend.prod"), "prod/p");
        allow("connection.sni at L7", allowWhen("{key: connection.sni, values: ['*.prod']}"),
                r().sni("backend.prod").http("GET", "/"), "prod/p");

        // ---------------------------------------------------------------- PeerAuthentication in evaluate
        deny("STRICT rejects plaintext", pa("prod", "default", "{mtls: {mode: STRICT}}"), r().plaintext(), "prod/default",
                Outcome.DENIED_AUTHENTICATION);
        allow("STRICT admits mTLS", pa("prod", "default", "{mtls: {mode: STRICT}}"), r(), null);
        allow("PERMISSIVE admits plaintext", pa("prod", "default", "{mtls: {mode: PERMISSIVE}}"), r().plaintext(), null);
        deny("mesh-wide STRICT", pa("istio-system", "mesh", "{mtls: {mode: STRICT}}"), r().plaintext(), "istio-system/mesh",
                Outcome.DENIED_AUTHENTICATION);
        allow("port-level PERMISSIVE under STRICT", pa("prod", "default", "{mtls: {mode: STRICT}}")
                + pa("prod", "backend", "{" + SEL + ", portLevelMtls: {'8080': {mode: PERMISSIVE}}}"), r().plaintext(), null);

        // ---------------------------------------------------------------- Cilium
        String fromFrontend = cnp("prod", "c", "{endpointSelector: {matchLabels: {app: backend}}, ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]}");
        allow("fromEndpoints matchLabels", fromFrontend, r(), "prod/c");
        deny("default deny once selected for ingress", fromFrontend, r().sourceLabels("prod", Map.of("app", "other")), "prod/c");
        allow("unselected endpoint is open", fromFrontend, r().dest("prod", "db", Map.of("app", "db")), null);
        deny("fromEndpoints is namespace-local in a CNP", fromFrontend,
                r().principal("spiffe://cluster.local/ns/dev/sa/frontend").sourceLabels("dev", Map.of("app", "frontend")), "prod/c");
        allow("fromEndpoints with namespace label",
                cnp("prod", "c", "{endpointSelector: {matchLabels: {app: backend}}, ingress: [{fromEndpoints: [{matchLabels: {'k8s:io.kubernetes.pod.namespace': dev, app: frontend}}]}]}"),
                r().principal("spiffe://cluster.local/ns/dev/sa/frontend").sourceLabels("dev", Map.of("app", "frontend")), "prod/c");
        deny("peer namespace comes from the verified SPIFFE ID, not the registry",
                cnp("prod", "c", "{endpointSelector: {matchLabels: {app: backend}}, ingress: [{fromEndpoints: [{matchLabels: {'k8s:io.kubernetes.pod.namespace': dev}}]}]}"),
                r().sourceLabels("dev", Map.of("app", "frontend")), "prod/c");
        allow("fromEndpoints {} is the whole namespace",
                cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{}]}]}"), r(), "prod/c");
        deny("fromEndpoints never matches an unknown peer",
                cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{}]}]}"), r().plaintext().source(null), "prod/c");
        allow("matchExpressions In",
                cnp("prod", "c", "{endpointSelector: {matchExpressions: [{key: app, operator: In, values: [backend, api]}]}, ingress: [{fromEndpoints: [{matchExpressions: [{key: app, operator: In, values: [frontend]}]}]}]}"),
                r(), "prod/c");
        deny("matchExpressions NotIn",
                cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{matchExpressions: [{key: app, operator: NotIn, values: [frontend]}]}]}]}"),
                r(), "prod/c");
        allow("matchExpressions Exists",
                cnp("prod", "c", "{endpointSelector: {matchExpressions: [{key: app, operator: Exists}]}, ingress: [{fromEndpoints: [{matchExpressions: [{key: app, operator: Exists}]}]}]}"),
                r(), "prod/c");
        deny("matchExpressions DoesNotExist",
                cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{matchExpressions: [{key: app, operator: DoesNotExist}]}]}]}"),
                r(), "prod/c");
        allow("serviceaccount pseudo-label from the SPIFFE ID",
                cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{matchLabels: {io.cilium.k8s.policy.serviceaccount: frontend}}]}]}"),
                r().source(null), "prod/c");
        String ports = cnp("prod", "c", "{endpointSelector: {matchLabels: {app: backend}}, ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}], toPorts: [{ports: [{port: '8080', protocol: TCP}]}]}]}");
        allow("toPorts", ports, r(), "prod/c");
        deny("toPorts other port", ports, r().port(9090), "prod/c");
        deny("toPorts UDP does not cover TCP",
                cnp("prod", "c", "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: '8080', protocol: UDP}]}]}]}"), r(), "prod/c");
        allow("toPorts endPort range",
                cnp("prod", "c", "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: '8000', endPort: 8100}]}]}]}"), r(), "prod/c");
        allow("toPorts without from* admits any peer",
                cnp("prod", "c", "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: '8080'}]}]}]}"), r().plaintext().source(null), "prod/c");
        deny("ingress [{}] is default deny",
                cnp("prod", "c", "{endpointSelector: {}, ingress: [{}]}"), r(), "prod/c");
        allow("egress-only policy leaves ingress open",
                cnp("prod", "c", "{endpointSelector: {}, egress: [{}]}"), r(), null);
        allow("enableDefaultDeny.ingress false",
                cnp("prod", "c", "{endpointSelector: {}, enableDefaultDeny: {ingress: false}, ingress: [{fromEndpoints: [{matchLabels: {app: nobody}}]}]}"),
                r(), null);
        denyRule("ingressDeny wins over ingress",
                cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{}]}], ingressDeny: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]}"),
                r(), "prod/c");
        String http = cnp("prod", "c", "{endpointSelector: {matchLabels: {app: backend}}, ingress: [{toPorts: [{ports: [{port: '8080', protocol: TCP}], rules: {http: [{method: GET, path: '/api/v[0-9]+/items'}, {method: 'GET|HEAD', path: '/health'}]}}]}]}");
        allow("http regex", http, r().http("GET", "/api/v2/items"), "prod/c");
        deny("http regex is anchored", http, r().http("GET", "/api/v2/items/7"), "prod/c");
        deny("http method", http, r().http("POST", "/api/v2/items"), "prod/c");
        allow("http method alternation", http, r().http("HEAD", "/health"), "prod/c");
        deny("http rules at L4 fail closed", http, r(), "prod/c");
        String auth = cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{}], authentication: {mode: required}}]}");
        allow("authentication required with mTLS", auth, r(), "prod/c");
        deny("authentication required without identity", auth, r().plaintext(), "prod/c", Outcome.DENIED_AUTHENTICATION);
        String spiffe = cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{}], authentication: {mode: required, spiffe: {trustDomain: cluster.local, identities: ['spiffe://cluster.local/ns/prod/sa/front*']}}}]}");
        allow("spiffe identities prefix", spiffe, r(), "prod/c");
        deny("spiffe identities mismatch", spiffe, r().principal("spiffe://cluster.local/ns/prod/sa/batch"), "prod/c",
                Outcome.DENIED_AUTHENTICATION);
        deny("spiffe trust domain mismatch",
                cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{}], authentication: {mode: required, spiffe: {trustDomain: example.org}}}]}"),
                r(), "prod/c", Outcome.DENIED_AUTHENTICATION);
        allow("fromEntities all", cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEntities: [all]}]}"),
                r().plaintext().source(null), "prod/c");
        allow("fromEntities world admits unknown peers", cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEntities: [world]}]}"),
                r().plaintext().source(null), "prod/c");
        deny("fromEntities world excludes cluster endpoints", cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEntities: [world]}]}"),
                r(), "prod/c");
        allow("fromEntities cluster", cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEntities: [cluster]}]}"), r(), "prod/c");
        allow("fromCIDR for outside peers", cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromCIDR: [10.0.0.0/8]}]}"),
                r().plaintext().source(null), "prod/c");
        deny("fromCIDRSet except", cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromCIDRSet: [{cidr: 10.0.0.0/8, except: [10.0.0.0/24]}]}]}"),
                r().plaintext().source(null), "prod/c");
        String cluster = ccnp("cw", "{endpointSelector: {matchLabels: {'k8s:io.kubernetes.pod.namespace': prod}}, ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]}");
        allow("CCNP selects by namespace label; peers from any namespace", cluster,
                r().principal("spiffe://cluster.local/ns/dev/sa/frontend").sourceLabels("dev", Map.of("app", "frontend")), "cw");
        allow("CCNP does not select other namespaces", cluster, r().dest("dev", "backend", Map.of("app", "backend")).plaintext(), null);
        deny("CCNP default deny", cluster, r().sourceLabels("prod", Map.of("app", "x")), "cw");

        // ---------------------------------------------------------------- Istio + Cilium together
        denyRule("Istio denies first", denyLegacy + fromFrontend, r().principal(LEGACY), "prod/deny-legacy");
        deny("Istio allows, Cilium denies", ap("prod", "allow-all", "{rules: [{}]}") + fromFrontend,
                r().sourceLabels("prod", Map.of("app", "other")), "prod/c");
        allow("both allow: the Istio policy is named", ap("prod", "allow-all", "{rules: [{}]}") + fromFrontend, r(), "prod/allow-all");
        allow("only Cilium allows: it is named", denyLegacy + fromFrontend, r(), "prod/c");
    }

    static List<Case> cases() {
        return CASES;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void decides(Case c) throws PolicyLoadException {
        PolicyEngine engine = PolicyEngine.builder().rootNamespace(c.root())
                .policies(PolicyLoader.fromString("case.yaml", c.yaml())).build();
        Decision d = engine.evaluate(c.request().build());
        assertThat(d.allowed()).as("allowed for %s: %s", c.request(), d).isEqualTo(c.allowed());
        assertThat(d.policy() == null ? null : d.policy().qualifiedName()).as("deciding policy: %s", d).isEqualTo(c.policy());
        assertThat(d.outcome()).as("outcome: %s", d).isEqualTo(c.outcome());
    }

    @org.junit.jupiter.api.Test
    void tableIsLargeEnough() {
        assertThat(CASES).hasSizeGreaterThanOrEqualTo(80);
    }
}
