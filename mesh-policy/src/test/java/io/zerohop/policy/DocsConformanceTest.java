package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The policies upstream's own documentation prints, loaded as a user would paste them (indentation, quoting and
 * missing namespaces as printed), and decided as the page says, or as upstream's code decides where the page and the
 * code disagree (each such case says so). Where zerohop deliberately decides otherwise (it parses HTTP itself, so
 * HTTP rules that ztunnel can only omit are enforced per request) the case name starts with "zerohop:" and
 * mesh-policy/README.md ("Compared with upstream") explains why.
 */
class DocsConformanceTest extends UpstreamTable {

    static final Upstream T = new Upstream();

    static final String ISTIO_AP_REFERENCE = "istio/api security/v1beta1/authorization_policy.proto examples "
            + "(istio.io docs/reference/config/security/authorization-policy)";
    static final String ISTIO_PA_REFERENCE = "istio/api security/v1beta1/peer_authentication.proto examples "
            + "(istio.io docs/reference/config/security/peer_authentication)";
    static final String ISTIO_CONCEPTS = "istio.io content/en/docs/concepts/security/index.md (Authorization)";
    static final String ISTIO_CONDITIONS = "istio.io content/en/docs/reference/config/security/conditions/index.md";
    static final String ISTIO_AMBIENT_L4 = "istio.io content/en/docs/ambient/usage/l4-policy/index.md";
    static final String ISTIO_AUTHZ_TCP = "istio.io content/en/docs/tasks/security/authorization/authz-tcp (snips.sh: the task's "
            + "expected outputs, sidecar mode)";
    static final String ISTIO_AUTHZ_DENY = "istio.io content/en/docs/tasks/security/authorization/authz-deny (snips.sh: expected "
            + "HTTP codes)";
    static final String ISTIO_AUTHZ_HTTP = "istio.io content/en/docs/tasks/security/authorization/authz-http (Bookinfo policies)";
    static final String ISTIO_BEST_PRACTICES = "istio.io content/en/docs/ops/best-practices/security/index.md (Authorization "
            + "policies, path normalization)";
    static final String CILIUM_EXAMPLES = "cilium/cilium examples/policies/** (literalinclude'd by Documentation/security/policy"
            + "/language.rst, layer7.rst, kubernetes.rst)";
    static final String CILIUM_LANGUAGE = "cilium/cilium Documentation/security/policy/language.rst + layer7.rst (text)";

    static {
        istioReference();
        peerAuthenticationReference();
        istioConcepts();
        istioConditions();
        ambientL4Page();
        authzTcpTask();
        authzDenyTask();
        authzHttpTask();
        bestPractices();
        ciliumExamples();
        ciliumLanguage();
    }

    static final String SLEEP = "spiffe://cluster.local/ns/default/sa/sleep";

    /** The examples of the AuthorizationPolicy reference page, as printed there. */
    static void istioReference() {
        String s = ISTIO_AP_REFERENCE;
        String httpbin = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: httpbin
                  namespace: foo
                spec:
                  action: ALLOW
                  rules:
                  - from:
                    - source:
                        principals: ["cluster.local/ns/default/sa/sleep"]
                    - source:
                        namespaces: ["test"]
                    to:
                    - operation:
                        methods: ["GET"]
                        paths: ["/info*"]
                    - operation:
                        methods: ["POST"]
                        paths: ["/data"]
                    when:
                    - key: request.auth.claims[iss]
                      values: ["https://accounts.google.com"]
                """;
        R foo = r().dest("foo", "httpbin", Map.of("app", "httpbin"));
        T.warns(s, "httpbin ALLOW: istiod's ztunnel status names the HTTP attributes", httpbin,
                "ztunnel does not support HTTP attributes (found: methods, paths, request.auth.claims[iss])");
        T.decide(s, "httpbin ALLOW at L4: the only rule has HTTP attributes, ztunnel omits it: sleep is denied", httpbin,
                foo.principal(SLEEP), false, "foo/httpbin");
        T.decide(s, "httpbin ALLOW at L7: GET /info from sleep without a JWT is denied (the iss claim is absent; "
                + "no RequestAuthentication selects httpbin here, so no request carries a verified JWT, as Envoy without one)", httpbin,
                r().dest("foo", "httpbin", Map.of("app", "httpbin")).principal(SLEEP).http("GET", "/info"), false, "foo/httpbin");

        String denyDev = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: httpbin
                  namespace: foo
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source:
                        namespaces: ["dev"]
                    to:
                    - operation:
                        methods: ["POST"]
                """;
        String dev = "spiffe://cluster.local/ns/dev/sa/app";
        T.decide(s, "DENY dev POST at L7: POST from dev is denied", denyDev, r().dest("foo", "w", Map.of()).principal(dev)
                .http("POST", "/"), false, "foo/httpbin");
        T.decide(s, "DENY dev POST at L7: GET from dev passes", denyDev, r().dest("foo", "w", Map.of()).principal(dev)
                .http("GET", "/"), true, null);
        T.decide(s, "DENY dev POST at L7: POST from test passes", denyDev, r().dest("foo", "w", Map.of())
                .principal("spiffe://cluster.local/ns/test/sa/app").http("POST", "/"), true, null);
        T.decide(Upstream.ISTIO_AMBIENT_TEST, "DENY dev POST at L4: the to clause is empty for ztunnel, the rule never fires", denyDev,
                r().dest("foo", "w", Map.of()).principal(dev), true, null);
        T.warns(Upstream.ISTIO_AMBIENT_TEST, "DENY dev POST: istiod says it has no effect at ztunnel", denyDev, "will have no effect");

        String denyPort = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: httpbin
                  namespace: foo
                spec:
                  action: DENY
                  rules:
                  - to:
                    - operation:
                        methods: ["POST"]
                        ports: ["8080"]
                """;
        T.decide(s, "DENY POST on 8080: \"all TCP traffic on port 8080 would be denied\"", denyPort,
                r().dest("foo", "w", Map.of()).port(8080), false, "foo/httpbin");
        T.decide(s, "DENY POST on 8080: TCP on 9090 passes", denyPort, r().dest("foo", "w", Map.of()).port(9090), true, null);
        T.decide(s, "DENY POST on 8080 at L7: GET on 8080 passes", denyPort, r().dest("foo", "w", Map.of()).port(8080)
                .http("GET", "/"), true, null);
        T.decide(s, "DENY POST on 8080 at L7: POST on 8080 is denied", denyPort, r().dest("foo", "w", Map.of()).port(8080)
                .http("POST", "/"), false, "foo/httpbin");
        T.warns(s, "DENY POST on 8080: enforced without the HTTP rules at ztunnel", denyPort, "is enforced without the HTTP rules");
        // "If we were to remove the ports match, all TCP traffic would be denied": the sidecar's TCP filter. istiod's
        // ambient conversion leaves that rule an empty match, which ztunnel skips, and zerohop follows ztunnel at L4.
        String denyPost = denyPort.replace("        ports: [\"8080\"]\n", "");
        T.decide(Upstream.ISTIO_AMBIENT_TEST, "zerohop: DENY POST without ports on TCP: no effect, as at ztunnel (a sidecar "
                + "denies all TCP traffic)", denyPost, r().dest("foo", "w", Map.of()).port(9090), true, null);
        T.warns(Upstream.ISTIO_AMBIENT_TEST, "DENY POST without ports: istiod's status says it has no effect at ztunnel", denyPost,
                "this DENY policy has no enforceable rules at ztunnel and will have no effect");
        T.decide(s, "DENY POST without ports at L7: POST denied on any port", denyPost, r().dest("foo", "w", Map.of()).port(9090)
                .http("POST", "/"), false, "foo/httpbin");

        String audit = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  namespace: ns1
                  name: anyname
                spec:
                  selector:
                    matchLabels:
                      app: myapi
                  action: AUDIT
                  rules:
                  - to:
                    - operation:
                        methods: ["GET"]
                        paths: ["/user/profile/*"]
                """;
        T.decide(s, "AUDIT: \"do not affect whether requests are allowed or denied\"", audit,
                r().dest("ns1", "api", Map.of("app", "myapi")).http("GET", "/user/profile/x"), true, null);
        T.warns(s, "AUDIT: ztunnel does not support it", audit, "ztunnel does not support the AUDIT action");

        // The two allow-nothing examples indent by one space where the others use two, as printed.
        String allowNothing = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n name: allow-nothing\n"
                + " namespace: foo\nspec:\n  {}\n";
        T.decide(s, "allow-nothing (spec: {}) denies every request to foo, at L4", allowNothing, r().dest("foo", "w", Map.of()),
                false, "foo/allow-nothing");
        T.decide(s, "allow-nothing (spec: {}) denies every request to foo, at L7", allowNothing, r().dest("foo", "w", Map.of())
                .http("GET", "/"), false, "foo/allow-nothing");
        T.decide(s, "allow-nothing in foo leaves bar open", allowNothing, r().dest("bar", "w", Map.of()), true, null);
        String allowAll = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n name: allow-all\n"
                + " namespace: foo\nspec:\n rules:\n - {}\n";
        T.decide(s, "allow-all (rules: [{}]) allows every request to foo", allowAll, r().dest("foo", "w", Map.of()).plaintext(),
                true, "foo/allow-all");
        String bar = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: allow-nothing
                  namespace: bar
                spec:
                  selector:
                    matchLabels:
                      app: httpbin
                """;
        T.decide(s, "allow-nothing on bar app=httpbin: httpbin is denied", bar, r().dest("bar", "httpbin", Map.of("app", "httpbin")),
                false, "bar/allow-nothing");
        T.decide(s, "allow-nothing on bar app=httpbin: another workload of bar is open", bar,
                r().dest("bar", "other", Map.of("app", "other")), true, null);
        String root = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n name: allow-nothing\n"
                + " namespace: istio-system\nspec:\n selector:\n   matchLabels:\n     version: v1\n";
        T.decide(s, "allow-nothing in the root namespace on version=v1: a v1 workload of any namespace is denied", root,
                r().dest("shop", "cart", Map.of("app", "cart", "version", "v1")), false, "istio-system/allow-nothing");
        T.decide(s, "allow-nothing in the root namespace on version=v1: a v2 workload is open", root,
                r().dest("shop", "cart", Map.of("app", "cart", "version", "v2")), true, null);

        String dryRun = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: dry-run-example
                  annotations:
                    "istio.io/dry-run": "true"
                spec:
                  selector:
                    matchLabels:
                      app: httpbin
                  action: DENY
                  rules:
                  - to:
                    - operation:
                        paths: ["/headers"]
                """;
        T.add(s, "dry-run-example (no namespace: default): GET /headers passes, the decision says it would be denied", () -> {
            Decision d = PolicyEngine.builder().policies(PolicyLoader.fromString("case.yaml", dryRun)).build()
                    .evaluate(r().dest("default", "httpbin", Map.of("app", "httpbin")).http("GET", "/headers").build());
            assertThat(d.allowed()).isTrue();
            assertThat(d.dryRun()).startsWith("DENY by default/dry-run-example");
        });
    }

    static String paDoc(String body) {
        return "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n" + body;
    }

    static void plaintext(String source, String name, String yaml, String ns, Map<String, String> labels, int port, boolean allowed) {
        T.add(source, name, () -> {
            PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("case.yaml", yaml)).build();
            Decision d = e.evaluate(r().plaintext().source(null).dest(ns, "w", labels).port(port).build());
            assertThat(d.allowed()).as("plaintext to %s:%d: %s", ns, port, d).isEqualTo(allowed);
        });
    }

    /** The examples of the PeerAuthentication reference page. */
    static void peerAuthenticationReference() {
        String s = ISTIO_PA_REFERENCE;
        String strict = paDoc("metadata:\n  name: default\n  namespace: foo\nspec:\n  mtls:\n    mode: STRICT\n");
        plaintext(s, "namespace foo STRICT: plaintext refused", strict, "foo", Map.of(), 8080, false);
        plaintext(s, "namespace foo STRICT: other namespaces untouched", strict, "bar", Map.of(), 8080, true);
        String finance = paDoc("metadata:\n  name: default\n  namespace: foo\nspec:\n  mtls:\n    mode: PERMISSIVE\n---\n")
                + paDoc("metadata:\n  name: finance\n  namespace: foo\nspec:\n  selector:\n    matchLabels:\n      app: finance\n"
                + "  mtls:\n    mode: STRICT\n");
        plaintext(s, "foo PERMISSIVE, finance STRICT: plaintext to finance refused", finance, "foo", Map.of("app", "finance"), 8080, false);
        plaintext(s, "foo PERMISSIVE, finance STRICT: plaintext to another workload accepted", finance, "foo", Map.of("app", "web"),
                8080, true);
        String port = paDoc("metadata:\n  name: default\n  namespace: foo\nspec:\n  selector:\n    matchLabels:\n      app: finance\n"
                + "  mtls:\n    mode: STRICT\n  portLevelMtls:\n    8080:\n      mode: DISABLE\n");
        plaintext(s, "finance STRICT, port 8080 DISABLE (key unquoted, as printed): plaintext to 8080 accepted", port, "foo",
                Map.of("app", "finance"), 8080, true);
        plaintext(s, "finance STRICT, port 8080 DISABLE: plaintext to 9090 refused", port, "foo", Map.of("app", "finance"), 9090, false);
        String unset = paDoc("metadata:\n  name: default\n  namespace: foo\nspec:\n  selector:\n    matchLabels:\n      app: finance\n"
                + "  mtls:\n    mode: UNSET\n  portLevelMtls:\n    8080:\n      mode: DISABLE\n");
        String nsStrict = paDoc("metadata:\n  name: ns\n  namespace: foo\nspec:\n  mtls:\n    mode: STRICT\n---\n");
        // The page says "disables mTLS for workload port 8080"; istiod's ambient conversion sends the port exception only
        // when the policy has a PERMISSIVE port, so ztunnel keeps 8080 STRICT (README "PeerAuthentication", ambient).
        plaintext(Upstream.ISTIO_AMBIENT_CONVERSION, "finance UNSET, port 8080 DISABLE, under namespace STRICT: ztunnel keeps "
                + "8080 STRICT (the page's sidecar reading would accept plaintext)", nsStrict + unset, "foo", Map.of("app", "finance"),
                8080, false);
        T.warns(Upstream.ISTIO_AMBIENT_CONVERSION, "finance UNSET, port 8080 DISABLE, under namespace STRICT: warned",
                nsStrict + unset, "portLevelMtls 8080 DISABLE has no effect when the workload inherits STRICT");
        plaintext(s, "finance UNSET, port 8080 DISABLE, no namespace policy: PERMISSIVE anyway", unset, "foo",
                Map.of("app", "finance"), 8080, true);
    }

    /** The Authorization section of the security concepts page. */
    static void istioConcepts() {
        String s = ISTIO_CONCEPTS;
        String allowRead = """
                apiVersion: security.istio.io/v1beta1
                kind: AuthorizationPolicy
                metadata:
                  name: allow-read
                  namespace: default
                spec:
                  selector:
                    matchLabels:
                      app: products
                  rules:
                  - to:
                    - operation:
                         methods: ["GET", "HEAD"]
                """;
        R products = r().dest("default", "products", Map.of("app", "products"));
        T.decide(s, "allow-read: GET allowed", allowRead, products.http("GET", "/"), true, "default/allow-read");
        T.decide(s, "allow-read: HEAD allowed", allowRead, r().dest("default", "products", Map.of("app", "products"))
                .http("HEAD", "/"), true, "default/allow-read");
        T.decide(s, "allow-read: POST denied", allowRead, r().dest("default", "products", Map.of("app", "products"))
                .http("POST", "/"), false, "default/allow-read");
        T.decide(Upstream.ISTIO_AMBIENT_TEST, "allow-read at L4: the methods rule is omitted, the connection is denied",
                allowRead, r().dest("default", "products", Map.of("app", "products")), false, "default/allow-read");
        String tester = """
                apiVersion: security.istio.io/v1beta1
                kind: AuthorizationPolicy
                metadata:
                  name: tester
                  namespace: default
                spec:
                  selector:
                    matchLabels:
                      app: products
                  rules:
                  - to:
                    - operation:
                        paths: ["/test/*", "*/info"]
                """;
        for (String[] c : new String[][] {{"/test/a/b", "true", "prefix"}, {"/test/", "true", "prefix, nothing after"},
                {"/api/v1/info", "true", "suffix"}, {"/info", "true", "suffix alone"}, {"/testing", "false", "not the prefix /test/"},
                {"/info/x", "false", "not the suffix"}}) {
            T.decide(s, "tester paths /test/* and */info: " + c[0] + " (" + c[2] + ")", tester,
                    r().dest("default", "products", Map.of("app", "products")).http("GET", c[0]), Boolean.parseBoolean(c[1]),
                    "default/tester");
        }
        String denyAll = "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata:\n  name: deny-all\n"
                + "  namespace: admin\nspec:\n  {}\n";
        T.decide(s, "deny-all (spec: {}) in admin denies", denyAll, r().dest("admin", "w", Map.of()), false, "admin/deny-all");
        String version = """
                apiVersion: security.istio.io/v1beta1
                kind: AuthorizationPolicy
                metadata:
                 name: httpbin
                 namespace: foo
                spec:
                 selector:
                   matchLabels:
                     app: httpbin
                     version: v1
                 rules:
                 - from:
                   - source:
                       principals: ["cluster.local/ns/default/sa/sleep"]
                   to:
                   - operation:
                       methods: ["GET"]
                   when:
                   - key: request.headers[version]
                     values: ["v1", "v2"]
                """;
        Map<String, String> v1 = Map.of("app", "httpbin", "version", "v1");
        T.decide(s, "custom condition request.headers[version] v1: allowed", version,
                r().dest("foo", "httpbin", v1).principal(SLEEP).http("GET", "/", "", Map.of("version", "v1")), true, "foo/httpbin");
        T.decide(s, "custom condition request.headers[version] v3: denied", version,
                r().dest("foo", "httpbin", v1).principal(SLEEP).http("GET", "/", "", Map.of("version", "v3")), false, "foo/httpbin");
        T.decide(s, "custom condition: the selector needs both labels (version v2 workload is open)", version,
                r().dest("foo", "httpbin", Map.of("app", "httpbin", "version", "v2")).http("GET", "/"), true, null);
        String anyone = """
                apiVersion: security.istio.io/v1beta1
                kind: AuthorizationPolicy
                metadata:
                 name: httpbin
                 namespace: foo
                spec:
                 selector:
                   matchLabels:
                     app: httpbin
                     version: v1
                 rules:
                 - to:
                   - operation:
                       methods: ["GET", "POST"]
                """;
        T.decide(s, "no source: authenticated and unauthenticated callers (plaintext GET allowed)", anyone,
                r().dest("foo", "httpbin", v1).plaintext().http("GET", "/"), true, "foo/httpbin");
        String authenticated = anyone.replace(" - to:", " - from:\n   - source:\n       principals: [\"*\"]\n   to:");
        T.decide(s, "principals [\"*\"]: only authenticated callers (plaintext GET denied)", authenticated,
                r().dest("foo", "httpbin", v1).plaintext().http("GET", "/"), false, "foo/httpbin");
        T.decide(s, "principals [\"*\"]: an mTLS caller's GET is allowed", authenticated,
                r().dest("foo", "httpbin", v1).http("GET", "/"), true, "foo/httpbin");
        String mongo = """
                apiVersion: "security.istio.io/v1beta1"
                kind: AuthorizationPolicy
                metadata:
                  name: mongodb-policy
                  namespace: default
                spec:
                 selector:
                   matchLabels:
                     app: mongodb
                 rules:
                 - from:
                   - source:
                       principals: ["cluster.local/ns/default/sa/bookinfo-ratings-v2"]
                   to:
                   - operation:
                       ports: ["27017"]
                """;
        R mongodb = r().dest("default", "mongodb", Map.of("app", "mongodb")).port(27017);
        T.decide(s, "mongodb-policy (plain TCP): ratings-v2 on 27017 allowed", mongo,
                mongodb.principal("spiffe://cluster.local/ns/default/sa/bookinfo-ratings-v2"), true, "default/mongodb-policy");
        T.decide(s, "mongodb-policy: another service account denied", mongo,
                r().dest("default", "mongodb", Map.of("app", "mongodb")).port(27017).principal(SLEEP), false, "default/mongodb-policy");
        T.decide(s, "mongodb-policy: ratings-v2 on another port denied", mongo,
                r().dest("default", "mongodb", Map.of("app", "mongodb")).port(27018)
                        .principal("spiffe://cluster.local/ns/default/sa/bookinfo-ratings-v2"), false, "default/mongodb-policy");
        T.noWarnings(s, "mongodb-policy has only L4 fields: no ztunnel status", mongo);
    }

    static String whenDoc(String action, String key, String values) {
        return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: c\n  namespace: prod\nspec:\n"
                + "  action: " + action + "\n  rules:\n  - when:\n    - key: " + key + "\n      values: " + values + "\n";
    }

    /**
     * Each row of the conditions table, with its example: valid, and enforced at L4 when istiod's ambient conversion
     * keeps it for ztunnel (l4WhenAttributes), else an ALLOW rule with it is omitted there. The page's warning that
     * "unsupported keys and values are silently ignored" predates istiod's validation, which refuses them.
     */
    static void istioConditions() {
        String s = ISTIO_CONDITIONS;
        R l4 = r().principal("spiffe://cluster.local/ns/default/sa/productpage").src("10.1.2.3").dst("10.2.0.7").port(443);
        String[][] l4Rows = {{"source.ip", "[\"10.1.2.3\"]"}, {"source.namespace", "[\"default\"]"},
                {"source.principal", "[\"cluster.local/ns/default/sa/productpage\"]"}, {"destination.ip", "[\"10.1.2.3\", \"10.2.0.0/16\"]"},
                {"destination.port", "[\"80\", \"443\"]"}};
        for (String[] row : l4Rows) {
            String allow = whenDoc("ALLOW", row[0], row[1]);
            T.noWarnings(s, row[0] + " (HTTP and TCP): no ztunnel status", allow);
            T.decide(s, row[0] + " " + row[1] + " is enforced on a TCP connection", allow, l4, true, "prod/c");
        }
        T.decide(s, "source.ip 10.1.2.3: another source is not admitted", whenDoc("ALLOW", "source.ip", "[\"10.1.2.3\"]"),
                r().src("10.1.2.4"), false, "prod/c");
        T.decide(s, "destination.port 80, 443: port 8080 is not admitted", whenDoc("ALLOW", "destination.port", "[\"80\", \"443\"]"),
                r().port(8080), false, "prod/c");
        T.invalid(s, "destination.port must be in the range [0, 65535]", whenDoc("ALLOW", "destination.port", "[\"65536\"]"), "bad port");
        String[][] httpRows = {{"request.headers[User-Agent]", "[\"Mozilla/*\"]"}, {"request.auth.principal",
                "[\"accounts.my-svc.com/104958560606\"]"}, {"request.auth.audiences", "[\"my-svc.com\"]"},
                {"request.auth.presenter", "[\"123456789012.my-svc.com\"]"}, {"request.auth.claims[iss]", "[\"*@foo.com\"]"},
                {"connection.sni", "[\"www.example.com\"]"}, {"experimental.envoy.filters.network.mysql_proxy[db.table]", "[\"[update]\"]"}};
        for (String[] row : httpRows) {
            String allow = whenDoc("ALLOW", row[0], row[1]);
            T.warns(Upstream.ISTIO_AMBIENT_HANDLE_RULE, row[0] + ": not sent to ztunnel (ALLOW rule omitted)", allow,
                    "ztunnel does not support HTTP attributes (found: " + row[0] + ")");
            T.decide(Upstream.ISTIO_AMBIENT_HANDLE_RULE, row[0] + ": an ALLOW on it admits no TCP connection", allow, r(), false, "prod/c");
            T.decide(Upstream.ISTIO_AMBIENT_HANDLE_RULE, row[0] + ": a DENY on it has no effect on a TCP connection",
                    whenDoc("DENY", row[0], row[1]), r(), true, null);
        }
        T.decide(s, "request.headers[User-Agent] Mozilla/* at L7 (the header's name is case-insensitive)",
                whenDoc("ALLOW", "request.headers[User-Agent]", "[\"Mozilla/*\"]"),
                r().http("GET", "/", "", Map.of("user-agent", "Mozilla/5.0")), true, "prod/c");
        T.decide(s, "request.headers[User-Agent] Mozilla/* at L7: curl is not admitted",
                whenDoc("ALLOW", "request.headers[User-Agent]", "[\"Mozilla/*\"]"),
                r().http("GET", "/", "", Map.of("user-agent", "curl/8.0")), false, "prod/c");
        T.decide(s, "connection.sni www.example.com at L7", whenDoc("ALLOW", "connection.sni", "[\"www.example.com\"]"),
                r().http("GET", "/").sni("www.example.com"), true, "prod/c");
        T.decide(s, "request.auth.claims[iss] at L7: no JWT, no claim (zerohop validates no JWT)",
                whenDoc("ALLOW", "request.auth.claims[iss]", "[\"*@foo.com\"]"), r().http("GET", "/"), false, "prod/c");
        T.decide(s, "experimental.envoy.filters.* at L7: no filter metadata, never matches",
                whenDoc("ALLOW", "experimental.envoy.filters.network.mysql_proxy[db.table]", "[\"[update]\"]"),
                r().http("GET", "/"), false, "prod/c");
        T.invalid(Upstream.ISTIO_VALIDATION_TEST, "an unsupported key is refused, not silently ignored (the page's warning)",
                whenDoc("ALLOW", "request.header[User-Agent]", "[\"Mozilla/*\"]"), "unknown attribute");
    }

    /** The ambient "Use Layer 4 security policy" page. Its examples have no namespace (default) and one-space indents. */
    static void ambientL4Page() {
        String s = ISTIO_AMBIENT_L4;
        String basic = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n name: allow-sleep-to-httpbin\nspec:\n"
                + " selector:\n   matchLabels:\n     app: httpbin\n action: ALLOW\n rules:\n - from:\n   - source:\n       principals:\n"
                + "       - cluster.local/ns/ambient-demo/sa/sleep\n";
        R httpbin = r().dest("default", "httpbin", Map.of("app", "httpbin"));
        String sleep = "spiffe://cluster.local/ns/ambient-demo/sa/sleep";
        T.decide(s, "basic L4 policy: sleep is allowed", basic, httpbin.principal(sleep), true, "default/allow-sleep-to-httpbin");
        T.decide(s, "basic L4 policy: \"Traffic from all other sources will be denied\"", basic,
                r().dest("default", "httpbin", Map.of("app", "httpbin")), false, "default/allow-sleep-to-httpbin");
        T.decide(s, "basic L4 policy: plaintext denied", basic, r().dest("default", "httpbin", Map.of("app", "httpbin")).plaintext(),
                false, "default/allow-sleep-to-httpbin");
        T.decide(s, "basic L4 policy: pods without app=httpbin are open (no policy)", basic,
                r().dest("default", "other", Map.of("app", "other")), true, null);
        String get = basic.replace("apiVersion: security.istio.io/v1\n", "apiVersion: security.istio.io/v1beta1\n")
                .replace("sa/sleep\n", "sa/sleep\n   to:\n   - operation:\n       methods: [\"GET\"]\n");
        T.decide(s, "L7 policy without a waypoint: ztunnel denies the connection of sleep (\"exit code 56\")", get,
                r().dest("default", "httpbin", Map.of("app", "httpbin")).principal(sleep), false, "default/allow-sleep-to-httpbin");
        T.decide(s, "zerohop: on an HTTP port zerohop is its own waypoint: sleep's GET is allowed per request", get,
                r().dest("default", "httpbin", Map.of("app", "httpbin")).principal(sleep).http("GET", "/"), true,
                "default/allow-sleep-to-httpbin");
        T.decide(s, "zerohop: ... and sleep's POST denied", get,
                r().dest("default", "httpbin", Map.of("app", "httpbin")).principal(sleep).http("POST", "/"), false,
                "default/allow-sleep-to-httpbin");
        // "Attachment style" table: no selector = the namespace; targetRefs = the waypoint, not ztunnel.
        String ns = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n name: ns\nspec:\n rules:\n - from:\n"
                + "   - source:\n       principals: [cluster.local/ns/ambient-demo/sa/sleep]\n";
        T.decide(s, "attachment: no selector is namespace scoped, enforced by the destination ztunnel", ns,
                r().dest("default", "any", Map.of("app", "any")), false, "default/ns");
        String svc = ns.replace(" rules:", " targetRefs:\n - kind: Service\n   group: \"\"\n   name: httpbin\n rules:");
        T.decide(s, "attachment: targetRefs Service is enforced by the waypoint, not by ztunnel (no effect here)", svc,
                r().dest("default", "httpbin", Map.of("app", "httpbin")), true, null);
    }

    static String tcpPolicy(String action, String operation) {
        return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: tcp-policy\n  namespace: foo\nspec:\n"
                + "  selector:\n    matchLabels:\n      app: tcp-echo\n  action: " + action + "\n  rules:\n  - to:\n    - operation:\n"
                + operation;
    }

    /** The "Authorization for TCP traffic" task: sleep calls tcp-echo on 9000, 9001 and 9002 after each policy. */
    static void authzTcpTask() {
        String s = ISTIO_AUTHZ_TCP;
        String sleep = "spiffe://cluster.local/ns/foo/sa/sleep";
        String ports = tcpPolicy("ALLOW", "        ports: [\"9000\", \"9001\"]\n");
        for (int[] c : new int[][] {{9000, 1}, {9001, 1}, {9002, 0}}) {
            T.decide(s, "ALLOW ports 9000, 9001: port " + c[0] + (c[1] == 1 ? " connection succeeded" : " connection rejected"), ports,
                    r().dest("foo", "tcp-echo", Map.of("app", "tcp-echo")).principal(sleep).port(c[0]), c[1] == 1, "foo/tcp-policy");
        }
        String allowGet = tcpPolicy("ALLOW", "        methods: [\"GET\"]\n        ports: [\"9000\"]\n");
        for (int port : new int[] {9000, 9001}) {
            T.decide(s, "ALLOW GET on 9000 (an HTTP-only field on TCP): port " + port + " connection rejected", allowGet,
                    r().dest("foo", "tcp-echo", Map.of("app", "tcp-echo")).principal(sleep).port(port), false, "foo/tcp-policy");
        }
        String denyGet = tcpPolicy("DENY", "        methods: [\"GET\"]\n");
        for (int port : new int[] {9000, 9001}) {
            // The sidecar's TCP filter denies every TCP connection for this DENY; istiod's ambient conversion leaves ztunnel
            // an empty match, which never fires, and zerohop follows ztunnel (README "At L4").
            T.decide(Upstream.ISTIO_AMBIENT_TEST, "zerohop: DENY GET without ports, port " + port + ": connection succeeds, as at "
                    + "ztunnel (the task's sidecar rejects it)", denyGet,
                    r().dest("foo", "tcp-echo", Map.of("app", "tcp-echo")).principal(sleep).port(port), true, null);
        }
        String denyGet9000 = tcpPolicy("DENY", "        methods: [\"GET\"]\n        ports: [\"9000\"]\n");
        T.decide(s, "DENY GET on 9000: port 9000 connection rejected", denyGet9000,
                r().dest("foo", "tcp-echo", Map.of("app", "tcp-echo")).principal(sleep).port(9000), false, "foo/tcp-policy");
        T.decide(s, "DENY GET on 9000: port 9001 connection succeeded", denyGet9000,
                r().dest("foo", "tcp-echo", Map.of("app", "tcp-echo")).principal(sleep).port(9001), true, null);
    }

    static R httpbin(String method, String path, Map<String, String> headers) {
        return r().dest("foo", "httpbin", Map.of("app", "httpbin")).principal("spiffe://cluster.local/ns/foo/sa/sleep").port(8080)
                .http(method, path, "httpbin.foo:8000", headers);
    }

    /** The "Explicit deny" task: sleep curls httpbin; 403 is denied, 200 allowed. */
    static void authzDenyTask() {
        String s = ISTIO_AUTHZ_DENY;
        String head = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: NAME\n  namespace: foo\nspec:\n"
                + "  selector:\n    matchLabels:\n      app: httpbin\n";
        String denyGet = head.replace("NAME", "deny-method-get") + "  action: DENY\n  rules:\n  - to:\n    - operation:\n"
                + "        methods: [\"GET\"]\n";
        T.decide(s, "deny-method-get: GET /get 403", denyGet, httpbin("GET", "/get", Map.of()), false, "foo/deny-method-get");
        T.decide(s, "deny-method-get: POST /post 200", denyGet, httpbin("POST", "/post", Map.of()), true, null);
        String token = denyGet + "    when:\n    - key: request.headers[x-token]\n      notValues: [\"admin\"]\n";
        T.decide(s, "deny GET unless x-token admin: GET /get with x-token admin 200", token, httpbin("GET", "/get", Map.of("x-token", "admin")),
                true, null);
        T.decide(s, "deny GET unless x-token admin: GET /get with x-token guest 403", token, httpbin("GET", "/get", Map.of("x-token", "guest")),
                false, "foo/deny-method-get");
        T.decide(s, "deny GET unless x-token admin: GET /get without x-token 403 (Envoy: not(header == admin) holds)", token,
                httpbin("GET", "/get", Map.of()), false, "foo/deny-method-get");
        String both = token + "---\n" + head.replace("NAME", "allow-path-ip") + "  action: ALLOW\n  rules:\n  - to:\n    - operation:\n"
                + "        paths: [\"/ip\"]\n";
        T.decide(s, "with allow-path-ip: GET /ip with x-token guest 403 (the DENY first)", both, httpbin("GET", "/ip", Map.of("x-token", "guest")),
                false, "foo/deny-method-get");
        T.decide(s, "with allow-path-ip: GET /ip with x-token admin 200", both, httpbin("GET", "/ip", Map.of("x-token", "admin")), true,
                "foo/allow-path-ip");
        T.decide(s, "with allow-path-ip: GET /get with x-token admin 403 (no ALLOW matches)", both,
                httpbin("GET", "/get", Map.of("x-token", "admin")), false, "foo/allow-path-ip");
        T.decide(Upstream.ISTIO_AMBIENT_TEST, "deny-method-get on a TCP connection: no effect at ztunnel (nor here)", denyGet,
                r().dest("foo", "httpbin", Map.of("app", "httpbin")).principal("spiffe://cluster.local/ns/foo/sa/sleep"), true, null);
    }

    static String viewer(String name, String app, String principal) {
        return "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: \"" + name + "\"\n  namespace: default\n"
                + "spec:\n  selector:\n    matchLabels:\n      " + app + "\n  action: ALLOW\n  rules:\n"
                + (principal == null ? "" : "  - from:\n    - source:\n        principals: [\"" + principal + "\"]\n    to:\n")
                + (principal == null ? "  - to:\n" : "") + "    - operation:\n        methods: [\"GET\"]\n";
    }

    /** The HTTP traffic task on Bookinfo: allow-nothing, then one viewer policy per service. */
    static void authzHttpTask() {
        String s = ISTIO_AUTHZ_HTTP;
        String all = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: allow-nothing\n  namespace: default\n"
                + "spec:\n  {}\n" + viewer("productpage-viewer", "app: productpage", null)
                + viewer("bookinfo-gateway-viewer", "gateway.networking.k8s.io/gateway-name: bookinfo-gateway", null)
                + viewer("details-viewer", "app: details", "cluster.local/ns/default/sa/bookinfo-productpage")
                + viewer("reviews-viewer", "app: reviews", "cluster.local/ns/default/sa/bookinfo-productpage")
                + viewer("ratings-viewer", "app: ratings", "cluster.local/ns/default/sa/bookinfo-reviews");
        String productpage = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage";
        String reviews = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews";
        T.decide(s, "productpage-viewer: anyone's GET", all, r().dest("default", "pp", Map.of("app", "productpage")).http("GET", "/productpage"),
                true, "default/productpage-viewer");
        T.decide(s, "productpage-viewer: POST denied", all, r().dest("default", "pp", Map.of("app", "productpage")).http("POST", "/login"),
                false, "default/allow-nothing");
        T.decide(s, "bookinfo-gateway-viewer: the gateway pod (selected by gateway.networking.k8s.io/gateway-name) takes GET", all,
                r().dest("default", "gw", Map.of("gateway.networking.k8s.io/gateway-name", "bookinfo-gateway")).plaintext().http("GET", "/"),
                true, "default/bookinfo-gateway-viewer");
        T.decide(s, "details-viewer: productpage's GET", all, r().dest("default", "d", Map.of("app", "details")).principal(productpage)
                .http("GET", "/details/0"), true, "default/details-viewer");
        T.decide(s, "details-viewer: reviews' GET denied", all, r().dest("default", "d", Map.of("app", "details")).principal(reviews)
                .http("GET", "/details/0"), false, "default/allow-nothing");
        T.decide(s, "ratings-viewer: reviews' GET", all, r().dest("default", "rt", Map.of("app", "ratings")).principal(reviews)
                .http("GET", "/ratings/0"), true, "default/ratings-viewer");
        T.decide(s, "ratings-viewer: productpage's GET denied", all, r().dest("default", "rt", Map.of("app", "ratings")).principal(productpage)
                .http("GET", "/ratings/0"), false, "default/allow-nothing");
        T.decide(Upstream.ISTIO_AMBIENT_TEST, "on TCP connections every viewer rule (methods) is omitted at ztunnel: details denied", all,
                r().dest("default", "d", Map.of("app", "details")).principal(productpage), false, "default/allow-nothing");
    }

    /** "Use ALLOW-with-positive-matching and DENY-with-negative-match patterns", and the path normalization table (BASE). */
    static void bestPractices() {
        String s = ISTIO_BEST_PRACTICES;
        String allow = "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata:\n  name: foo\nspec:\n  action: ALLOW\n"
                + "  rules:\n  - to:\n    - operation:\n        paths: [\"/public\"]\n";
        String deny = "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata:\n  name: foo\nspec:\n  action: DENY\n"
                + "  rules:\n  - to:\n    - operation:\n        notPaths: [\"/public\"]\n";
        // "The following is another example using the DENY-with-negative-matching pattern to achieve the same result".
        String[][] paths = {{"/public", "true"}, {"/public?page=2", "true"}, {"/a/../public", "true"}, {"/public/x", "false"},
                {"/PUBLIC", "false"}, {"/private", "false"}};
        for (String[] c : paths) {
            boolean ok = Boolean.parseBoolean(c[1]);
            T.decide(s, "ALLOW paths [/public]: " + c[0] + (ok ? " allowed" : " denied"), allow,
                    r().dest("default", "w", Map.of()).http("GET", c[0]), ok, "default/foo");
            T.decide(s, "DENY notPaths [/public], the same result: " + c[0] + (ok ? " allowed" : " denied"), deny,
                    r().dest("default", "w", Map.of()).http("GET", c[0]), ok, ok ? null : "default/foo");
        }
        T.decide(Upstream.ISTIO_AMBIENT_TEST, "zerohop: DENY notPaths on a TCP connection has no effect, as at ztunnel (its only field "
                + "is HTTP): the two patterns differ there, the ALLOW denies", deny, r().dest("default", "w", Map.of()), true, null);
        T.decide(Upstream.ISTIO_AMBIENT_TEST, "ALLOW paths on a TCP connection: the rule is omitted, denied", allow,
                r().dest("default", "w", Map.of()), false, "default/foo");
        String denyB = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: foo\nspec:\n  action: DENY\n"
                + "  rules:\n  - to:\n    - operation:\n        paths: [\"/b\", \"/da\", \"/a/b\"]\n";
        T.decide(s, "BASE (the default): /a/../b is normalized to /b", denyB, r().dest("default", "w", Map.of()).http("GET", "/a/../b"), false, "default/foo");
        T.decide(s, "BASE: \\da is normalized to /da", denyB, r().dest("default", "w", Map.of()).http("GET", "\\da"), false, "default/foo");
        T.decide(s, "MERGE_SLASHES is not the default: /a//b stays", denyB, r().dest("default", "w", Map.of()).http("GET", "/a//b"), true, null);
        T.decide(s, "DECODE_AND_MERGE_SLASHES is not the default: /a%2fb stays", denyB, r().dest("default", "w", Map.of()).http("GET", "/a%2fb"), true, null);
    }

    static final String CROSS_CLUSTER_DESCRIPTION = "  description: \"Allow x-wing in cluster1 to contact rebel-base in cluster2\"\n";

    static final String EXAMPLES_PIN = " (examples/policies at 669f18e3)";

    /** The example files Cilium's policy documentation includes, as printed (no namespace: default). */
    static void ciliumExamples() {
        String s = CILIUM_EXAMPLES;
        String l34 = """
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "l4-rule"
                spec:
                  endpointSelector:
                    matchLabels:
                      role: backend
                  ingress:
                  - fromEndpoints:
                    - matchLabels:
                        role: frontend
                    toPorts:
                    - ports:
                      - port: "80"
                        protocol: TCP
                """;
        String dflt = "spiffe://cluster.local/ns/default/sa/web";
        R backend = r().dest("default", "b", Map.of("role", "backend")).principal(dflt);
        T.decide(s, "l4/l3_l4_combined.yaml: frontend on 80/TCP allowed" + EXAMPLES_PIN, l34,
                backend.port(80).sourceLabels("default", Map.of("role", "frontend")), true, "default/l4-rule");
        T.decide(s, "l4/l3_l4_combined.yaml: frontend on 81 denied", l34, r().dest("default", "b", Map.of("role", "backend"))
                .principal(dflt).port(81).sourceLabels("default", Map.of("role", "frontend")), false, "default/l4-rule");
        T.decide(s, "l4/l3_l4_combined.yaml: other labels on 80 denied", l34, r().dest("default", "b", Map.of("role", "backend"))
                .principal(dflt).port(80).sourceLabels("default", Map.of("role", "db")), false, "default/l4-rule");
        // At 0b47e871 the file indented `role: frontend` as a sibling of `matchLabels:`: kubectl's strict field validation
        // refuses it (pruned, the selector would be {} and admit the whole namespace).
        String l34Old = l34.replace("    - matchLabels:\n        role: frontend\n", "    - matchLabels:\n      role: frontend\n");
        T.invalid(s, "l4/l3_l4_combined.yaml at 0b47e871 (role beside matchLabels): refused naming the field, as kubectl does",
                l34Old, "case.yaml:12: spec.ingress[0].fromEndpoints[0].role: unknown field");

        String http = """
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "l7-rule"
                spec:
                  endpointSelector:
                    matchLabels:
                      app: myService
                  ingress:
                  - toPorts:
                    - ports:
                      - port: '80'
                        protocol: TCP
                      rules:
                        http:
                        - method: GET
                          path: "/path1$"
                        - method: PUT
                          path: "/path2$"
                          headers:
                          - 'X-My-Header: true'
                """;
        R svc = r().dest("default", "s", Map.of("app", "myService")).port(80);
        T.decide(s, "l7/http/http.yaml: GET /path1 allowed", http, svc.http("GET", "/path1"), true, "default/l7-rule");
        T.decide(s, "l7/http/http.yaml: PUT /path2 with X-My-Header: true allowed", http, r().dest("default", "s",
                Map.of("app", "myService")).port(80).http("PUT", "/path2", "", Map.of("x-my-header", "true")), true, "default/l7-rule");
        T.decide(s, "l7/http/http.yaml: PUT /path2 without the header denied", http, r().dest("default", "s",
                Map.of("app", "myService")).port(80).http("PUT", "/path2"), false, "default/l7-rule");
        T.decide(s, "l7/http/http.yaml: GET /path2 denied", http, r().dest("default", "s", Map.of("app", "myService")).port(80)
                .http("GET", "/path2"), false, "default/l7-rule");
        T.decide(s, "l7/http/http.yaml: \"only be able to receive packets on port 80\": 81 denied", http,
                r().dest("default", "s", Map.of("app", "myService")).port(81), false, "default/l7-rule");
        T.decide(s, "l7/http/http.yaml: an opaque connection to 80 fails closed (zerohop parses HTTP to decide)", http,
                r().dest("default", "s", Map.of("app", "myService")).port(80), false, "default/l7-rule");
        T.invalid(s, "l7/http/http.yaml at 0b47e871 (`HTTP:`): refused as an unknown field, as kubectl does",
                http.replace("        http:\n", "        HTTP:\n"), "rules.HTTP: unknown field");

        String l7 = """
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "rule1"
                spec:
                  description: "Allow HTTP GET /public from env=prod to app=service"
                  endpointSelector:
                    matchLabels:
                      app: service
                  ingress:
                  - fromEndpoints:
                    - matchLabels:
                        env: prod
                    toPorts:
                    - ports:
                      - port: "80"
                        protocol: TCP
                      rules:
                        http:
                        - method: "GET"
                          path: "/public"
                """;
        R service = r().dest("default", "svc", Map.of("app", "service")).principal(dflt).port(80);
        T.decide(s, "l7/http/simple/l7.yaml: env=prod GET /public allowed", l7,
                service.sourceLabels("default", Map.of("env", "prod")).http("GET", "/public"), true, "default/rule1");
        T.decide(s, "l7/http/simple/l7.yaml: env=prod GET /public?x=1 denied (the regex sees the query)", l7,
                r().dest("default", "svc", Map.of("app", "service")).principal(dflt).port(80)
                        .sourceLabels("default", Map.of("env", "prod")).http("GET", "/public?x=1"), false, "default/rule1");
        T.decide(s, "l7/http/simple/l7.yaml: env=prod POST /public denied", l7,
                r().dest("default", "svc", Map.of("app", "service")).principal(dflt).port(80)
                        .sourceLabels("default", Map.of("env", "prod")).http("POST", "/public"), false, "default/rule1");
        T.decide(s, "l7/http/simple/l7.yaml: env=dev GET /public denied", l7,
                r().dest("default", "svc", Map.of("app", "service")).principal(dflt).port(80)
                        .sourceLabels("default", Map.of("env", "dev")).http("GET", "/public"), false, "default/rule1");
        // At 08649f13 the file made fromEndpoints and toPorts two rules: env=prod is allowed at L3 (every port; Cilium
        // wildcards L7 for peers allowed at L3: once repository.go wildcardL3L4Rule, today the L3 rule is a wildcard-port
        // rule without L7 that cilium/proxy's PortPolicy::for_range checks beside the port's HTTP rules), and GET /public
        // on 80 is open to all.
        String split = l7.replace("    toPorts:\n", "  - toPorts:\n").replace("  description: \"Allow HTTP GET /public from env=prod "
                + "to app=service\"\n", "");
        T.decide(s, "l7/http/simple/l7.yaml at 08649f13 (two rules): env=prod POST /x on 80 allowed by the L3 rule", split,
                r().dest("default", "svc", Map.of("app", "service")).principal(dflt).port(80)
                        .sourceLabels("default", Map.of("env", "prod")).http("POST", "/x"), true, "default/rule1");
        T.decide(s, "l7/http/simple/l7.yaml at 08649f13: env=dev GET /public on 80 allowed by the L7 rule", split,
                r().dest("default", "svc", Map.of("app", "service")).principal(dflt).port(80)
                        .sourceLabels("default", Map.of("env", "dev")).http("GET", "/public"), true, "default/rule1");
        T.decide(s, "l7/http/simple/l7.yaml at 08649f13: env=dev POST /public denied", split,
                r().dest("default", "svc", Map.of("app", "service")).principal(dflt).port(80)
                        .sourceLabels("default", Map.of("env", "dev")).http("POST", "/public"), false, "default/rule1");
        T.decide(s, "l7/http/simple/l7.yaml at 08649f13: env=dev on 81 denied", split,
                r().dest("default", "svc", Map.of("app", "service")).principal(dflt).port(81)
                        .sourceLabels("default", Map.of("env", "dev")), false, "default/rule1");
        T.invalid(s, "l7/http/simple/l7.yaml at 08649f13 (description beside metadata): refused as an unknown field",
                split.replace("kind: CiliumNetworkPolicy\n", "kind: CiliumNetworkPolicy\ndescription: \"Allow HTTP GET /public\"\n"),
                "case.yaml:3: description: unknown field");

        String worldDeny = """
                apiVersion: "cilium.io/v2"
                kind: CiliumClusterwideNetworkPolicy
                metadata:
                  name: "external-lockdown"
                spec:
                  endpointSelector: {}
                  ingressDeny:
                  - fromEntities:
                    - "world"
                  ingress:
                  - fromEntities:
                    - "all"
                """;
        T.decide(s, "l3/entities/from_world_deny.yaml: a peer outside the cluster is denied", worldDeny,
                r().plaintext().source(null).src("203.0.113.9"), false, "external-lockdown");
        T.decide(s, "l3/entities/from_world_deny.yaml: \"inter-cluster\" traffic (a mesh peer) still allowed", worldDeny, r(), true,
                "external-lockdown");
        T.decide(s, "l3/entities/from_world_deny.yaml: a plaintext pod of the cluster (known workload) still allowed", worldDeny,
                r().plaintext().src("10.0.0.7"), true, "external-lockdown");

        String sa = """
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "k8s-svc-account"
                spec:
                  endpointSelector:
                    matchLabels:
                      io.cilium.k8s.policy.serviceaccount: leia
                  ingress:
                  - fromEndpoints:
                    - matchLabels:
                        io.cilium.k8s.policy.serviceaccount: luke
                """;
        T.decide(s, "kubernetes/serviceaccount/serviceaccount-policy.yaml: luke reaches leia", sa,
                r().dest("default", "leia", Map.of()).sa("leia").principal("spiffe://cluster.local/ns/default/sa/luke"), true,
                "default/k8s-svc-account");
        T.decide(s, "serviceaccount-policy.yaml: han does not", sa,
                r().dest("default", "leia", Map.of()).sa("leia").principal("spiffe://cluster.local/ns/default/sa/han"), false,
                "default/k8s-svc-account");
        T.decide(s, "serviceaccount-policy.yaml: luke of another namespace does not (implicit namespace)", sa,
                r().dest("default", "leia", Map.of()).sa("leia").principal("spiffe://cluster.local/ns/other/sa/luke"), false,
                "default/k8s-svc-account");

        String isolate = """
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "isolate-ns1"
                  namespace: ns1
                spec:
                  endpointSelector:
                    matchLabels:
                      {}
                  ingress:
                  - fromEndpoints:
                    - matchLabels:
                        {}
                ---
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "isolate-ns1"
                  namespace: ns2
                spec:
                  endpointSelector:
                    matchLabels:
                      {}
                  ingress:
                  - fromEndpoints:
                    - matchLabels:
                        {}
                """;
        T.decide(s, "kubernetes/namespace/isolate-namespaces.yaml: ns1 to ns1 allowed", isolate,
                r().dest("ns1", "w", Map.of()).principal("spiffe://cluster.local/ns/ns1/sa/a"), true, "ns1/isolate-ns1");
        T.decide(s, "isolate-namespaces.yaml: ns2 to ns1 denied", isolate,
                r().dest("ns1", "w", Map.of()).principal("spiffe://cluster.local/ns/ns2/sa/a"), false, "ns1/isolate-ns1");

        String alliance = """
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "alliance-only"
                spec:
                  endpointSelector:
                    matchLabels:
                      name: rebel-base
                  ingress:
                  - fromEndpoints:
                    - matchLabels:
                        io.cilium.k8s.namespace.labels.faction: "alliance"
                  egress:
                  - toEndpoints:
                    - matchLabels:
                        io.cilium.k8s.namespace.labels.faction: "alliance"
                """;
        T.decide(s, "kubernetes/namespace/namespace-labels-policy.yaml: a pod of any namespace labelled faction=alliance", alliance,
                r().dest("default", "base", Map.of("name", "rebel-base")).principal("spiffe://cluster.local/ns/hoth/sa/x")
                        .sourceLabels("hoth", Map.of("io.cilium.k8s.namespace.labels.faction", "alliance")), true, "default/alliance-only");
        T.decide(s, "namespace-labels-policy.yaml: a namespace labelled faction=empire", alliance,
                r().dest("default", "base", Map.of("name", "rebel-base")).principal("spiffe://cluster.local/ns/death-star/sa/x")
                        .sourceLabels("death-star", Map.of("io.cilium.k8s.namespace.labels.faction", "empire")), false,
                "default/alliance-only");
        T.warns(s, "namespace-labels-policy.yaml: its egress section is not enforced here", alliance, "egress");

        String crossNs = """
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "k8s-expose-across-namespace"
                  namespace: ns1
                spec:
                  endpointSelector:
                    matchLabels:
                      name: leia
                  ingress:
                  - fromEndpoints:
                    - matchLabels:
                        k8s:io.kubernetes.pod.namespace: ns2
                        name: luke
                """;
        R leia = r().dest("ns1", "leia", Map.of("name", "leia"));
        T.decide(s, "kubernetes/namespace/namespace-policy.yaml: luke of ns2 reaches leia of ns1", crossNs,
                leia.principal("spiffe://cluster.local/ns/ns2/sa/luke").sourceLabels("ns2", Map.of("name", "luke")), true,
                "ns1/k8s-expose-across-namespace");
        T.decide(s, "namespace-policy.yaml: luke of ns1 does not (the selector names ns2)", crossNs,
                r().dest("ns1", "leia", Map.of("name", "leia")).principal("spiffe://cluster.local/ns/ns1/sa/luke")
                        .sourceLabels("ns1", Map.of("name", "luke")), false, "ns1/k8s-expose-across-namespace");
        String clusterScope = """
                apiVersion: "cilium.io/v2"
                kind: CiliumClusterwideNetworkPolicy
                metadata:
                  name: "clusterwide-policy-example"
                spec:
                  description: "Policy for selective ingress allow to a pod from only a pod with given label"
                  endpointSelector:
                    matchLabels:
                      name: leia
                  ingress:
                  - fromEndpoints:
                    - matchLabels:
                        name: luke
                """;
        T.decide(s, "kubernetes/clusterwide/clusterscope-policy.yaml: luke of any namespace reaches leia of any namespace", clusterScope,
                r().dest("rebels", "leia", Map.of("name", "leia")).principal("spiffe://cluster.local/ns/hoth/sa/luke")
                        .sourceLabels("hoth", Map.of("name", "luke")), true, "clusterwide-policy-example");
        T.decide(s, "clusterscope-policy.yaml: han does not", clusterScope,
                r().dest("rebels", "leia", Map.of("name", "leia")).principal("spiffe://cluster.local/ns/hoth/sa/han")
                        .sourceLabels("hoth", Map.of("name", "han")), false, "clusterwide-policy-example");
        String crossCluster = """
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "allow-cross-cluster"
                  description: "Allow x-wing in cluster1 to contact rebel-base in cluster2"
                spec:
                  endpointSelector:
                    matchLabels:
                      name: x-wing
                      io.cilium.k8s.policy.cluster: cluster1
                  egress:
                  - toEndpoints:
                    - matchLabels:
                        name: rebel-base
                        io.cilium.k8s.policy.cluster: cluster2
                """;
        T.invalid(s, "kubernetes/clustermesh/cross-cluster-policy.yaml (description under metadata): refused as kubectl's strict "
                + "validation refuses it", crossCluster, "case.yaml:5: metadata.description: unknown field");
        T.warns(s, "cross-cluster-policy.yaml with the description under spec: loaded, its egress not enforced",
                crossCluster.replace(CROSS_CLUSTER_DESCRIPTION, "").replace("spec:\n", "spec:\n" + CROSS_CLUSTER_DESCRIPTION),
                "egress");

        String kubeDns = """
                apiVersion: "cilium.io/v2"
                kind: CiliumClusterwideNetworkPolicy
                metadata:
                  name: "wildcard-from-endpoints"
                spec:
                  endpointSelector:
                    matchLabels:
                      k8s:io.kubernetes.pod.namespace: kube-system
                      k8s-app: kube-dns
                  ingress:
                  - fromEndpoints:
                    - {}
                    toPorts:
                    - ports:
                      - port: "53"
                        protocol: UDP
                """;
        T.decide(s, "kubernetes/clusterwide/wildcard-from-endpoints.yaml: TCP 53 over HBONE is not UDP 53: denied", kubeDns,
                r().dest("kube-system", "coredns", Map.of("k8s-app", "kube-dns")).port(53), false, "wildcard-from-endpoints");
        T.decide(s, "wildcard-from-endpoints.yaml: other workloads are not selected", kubeDns, r(), true, null);

        String requires = """
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "requires-rule"
                specs:
                  - endpointSelector:
                      matchLabels:
                        env: prod
                    ingress:
                    - fromRequires:
                      - matchLabels:
                          env: prod
                """;
        T.invalid(s, "l3/requires/requires.yaml: fromRequires is not supported (deprecated upstream): refused naming it", requires,
                "specs[0].ingress[0].fromRequires");

        String cidr = """
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "cidr-rule"
                spec:
                  endpointSelector:
                    matchLabels:
                      app: myService
                  egress:
                  - toCIDR:
                    - 20.1.1.1/32
                  - toCIDRSet:
                    - cidr: 10.0.0.0/8
                      except:
                      - 10.96.0.0/12
                """;
        T.warns(s, "l3/cidr/cidr.yaml (egress only): loaded, egress not enforced", cidr, "egress");
        T.decide(s, "l3/cidr/cidr.yaml: an egress-only policy leaves ingress open", cidr,
                r().dest("default", "s", Map.of("app", "myService")), true, null);

        String and = """
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "and-statement-policy"
                spec:
                  endpointSelector: {}
                  ingress:
                  - fromEndpoints:
                    - matchExpressions:
                      - key: "k8s:io.kubernetes.pod.namespace"
                        operator: "in"
                        values:
                        - "production"
                      - key: "k8s:cilium.example.com/policy"
                        operator: "in"
                        values:
                        - "strict"
                """;
        T.invalid(Upstream.CILIUM_LABEL_VALUE, "l3/match-expressions/and-statement.yaml (operator \"in\"): refused, as the CRD's enum "
                + "refuses it", and, "unknown operator \"in\"");
        String andFixed = and.replace("\"in\"", "In");
        R prodPeer = r().dest("default", "w", Map.of()).principal("spiffe://cluster.local/ns/production/sa/x");
        T.decide(s, "and-statement.yaml with operator In: a production pod labelled policy=strict", andFixed,
                prodPeer.sourceLabels("production", Map.of("cilium.example.com/policy", "strict")), true, "default/and-statement-policy");
        T.decide(s, "and-statement.yaml with operator In: a production pod without the label (both must hold)", andFixed,
                r().dest("default", "w", Map.of()).principal("spiffe://cluster.local/ns/production/sa/x")
                        .sourceLabels("production", Map.of("app", "x")), false, "default/and-statement-policy");
        String auth = """
                apiVersion: "cilium.io/v2"
                kind: CiliumNetworkPolicy
                metadata:
                  name: "l3-egress-rule"
                spec:
                  endpointSelector:
                    matchLabels:
                      run: ssh-client
                  egress:
                  - toEndpoints:
                    - matchLabels:
                        run: sshd
                    auth:
                      type: "null"
                """;
        T.invalid(s, "auth/auth.yaml (the pre-1.14 `auth: {type}`): refused as an unknown field (today's field is authentication.mode)",
                auth, "spec.egress[0].auth: unknown field");
    }

    /** Statements of language.rst and layer7.rst, decided. */
    static void ciliumLanguage() {
        String s = CILIUM_LANGUAGE;
        String frontend = "spiffe://cluster.local/ns/prod/sa/frontend";
        String shadow = Upstream.cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{}], toPorts: [{ports: [{port: '80',"
                + " protocol: TCP}]}]}, {fromEndpoints: [{}], toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {http: [{method: GET}]}}]}]}");
        T.decide(s, "\"a similar layer 4 rule with layer 7 rules ... the layer 7 portions of the latter rule will have no effect\": POST",
                shadow, r().principal(frontend).port(80).http("POST", "/"), true, "prod/c");
        String deny = Upstream.cnp("prod", "c", "{endpointSelector: {}, ingressDeny: [{fromEndpoints: [{}], toPorts: [{ports: [{port: '80',"
                + " protocol: TCP}]}]}], ingress: [{fromEndpoints: [{}]}]}");
        T.decide(s, "\"Deny policies take precedence over allow policies\"", deny, r().principal(frontend).port(80), false, "prod/c");
        T.decide(s, "a deny on 80/TCP leaves 81 allowed", deny, r().principal(frontend).port(81), true, "prod/c");
        T.decide(s, "\"Pods will enter default-deny mode as soon a single policy selects it\" (an ingressDeny alone)",
                Upstream.cnp("prod", "c", "{endpointSelector: {}, ingressDeny: [{fromEntities: [world]}]}"), r().principal(frontend), false,
                "prod/c");
        T.decide(s, "\"Layer 7 rules support port ranges\": GET on 85 in 80-90", Upstream.cnp("prod", "c", "{endpointSelector: {}, "
                + "ingress: [{toPorts: [{ports: [{port: '80', endPort: 90, protocol: TCP}], rules: {http: [{method: GET}]}}]}]}"),
                r().principal(frontend).port(85).http("GET", "/"), true, "prod/c");
        T.decide(s, "\"Layer 7 rules support port ranges\": POST on 85 denied", Upstream.cnp("prod", "c", "{endpointSelector: {}, "
                + "ingress: [{toPorts: [{ports: [{port: '80', endPort: 90, protocol: TCP}], rules: {http: [{method: GET}]}}]}]}"),
                r().principal(frontend).port(85).http("POST", "/"), false, "prod/c");
        T.decide(s, "host regex: \"foo.bar.com will match the host fooXbar.com\"", Upstream.cnp("prod", "c", "{endpointSelector: {}, "
                + "ingress: [{toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {http: [{host: foo.bar.com}]}}]}]}"),
                r().principal(frontend).port(80).http("GET", "/", "fooXbar.com", Map.of()), true, "prod/c");
        T.decide(s, "host regex: \"foo\\.bar\\.com will only match the host foo.bar.com\"", Upstream.cnp("prod", "c",
                "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {http: [{host: 'foo\\.bar\\.com'}]}}]}]}"),
                r().principal(frontend).port(80).http("GET", "/", "fooXbar.com", Map.of()), false, "prod/c");
    }

    static java.util.List<Upstream.Case> cases() {
        return T.cases;
    }

    @Test
    void countsPerSource() {
        T.counts().forEach((k, v) -> System.out.println("conformance cases: " + v + "  " + k));
        assertThat(T.counts()).containsKeys(ISTIO_BEST_PRACTICES, ISTIO_AUTHZ_DENY, ISTIO_AUTHZ_HTTP, ISTIO_AUTHZ_TCP, ISTIO_AP_REFERENCE, ISTIO_PA_REFERENCE, ISTIO_CONCEPTS, ISTIO_CONDITIONS,
                ISTIO_AMBIENT_L4, CILIUM_EXAMPLES, CILIUM_LANGUAGE);
    }
}
