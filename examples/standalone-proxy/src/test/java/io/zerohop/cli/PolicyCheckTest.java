package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@code zerohop policy check} builds the request the proxy would build: source workload, host, headers, SNI, addresses. */
class PolicyCheckTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @TempDir
    Path dir;

    static final String WORKLOADS = """
            trustDomain: cluster.local
            workloads:
              - {namespace: prod, name: backend, serviceAccount: backend, addresses: [10.0.0.2], labels: {app: backend}}
              - {namespace: prod, name: frontend, serviceAccount: frontend, addresses: [10.0.0.1], labels: {app: frontend}}
              - {namespace: prod, name: batch, serviceAccount: frontend, addresses: [10.0.0.3], labels: {app: batch}}
            """;

    private int check(String policies, String... args) throws Exception {
        return check(dir, std, WORKLOADS, policies, args);
    }

    /** Runs {@code zerohop policy check} in-process on {@code policies} and {@code workloads} written under {@code dir}. */
    static int check(Path dir, StdStreams std, String workloads, String policies, String... args) throws Exception {
        Path p = Files.createDirectories(dir.resolve("policies"));
        Files.writeString(p.resolve("p.yaml"), policies);
        Path w = Files.writeString(dir.resolve("workloads.yaml"), workloads);
        String[] all = new String[args.length + 6];
        all[0] = "policy";
        all[1] = "check";
        all[2] = "--policies";
        all[3] = p.toString();
        all[4] = "--workloads";
        all[5] = w.toString();
        System.arraycopy(args, 0, all, 6, args.length);
        std.out.reset();
        std.err.reset();
        return Zerohop.run(all);
    }

    static final String FROM_FRONTEND = """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: from-frontend, namespace: prod}
            spec:
              endpointSelector: {matchLabels: {app: backend}}
              ingress:
              - fromEndpoints: [{matchLabels: {app: frontend}}]
            """;

    /** The seed article's AuthorizationPolicy with its selector's label value mistyped (checkout as checkuot). */
    static final String MISTYPED_SELECTOR = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-internal-only, namespace: prod}
            spec:
              selector:
                matchLabels:
                  app: backnd
              action: ALLOW
              rules:
              - from:
                - source:
                    principals: ["cluster.local/ns/prod/sa/frontend"]
            """;

    /**
     * A typo in a selector's label value is valid YAML and a valid policy that selects nothing, so the
     * destination it was meant to protect is open ("ALLOW by default"), as in istiod and ztunnel (the
     * decision stays upstream's). New-user pass: policy check said only "ALLOW by default: no ALLOW
     * AuthorizationPolicy applies", exit 0, with no hint that the namespace's one ALLOW policy missed
     * its workload. With --workloads it now names, on stderr, each ALLOW policy of the destination's
     * namespace that selects no workload of the registry, with its labels and the destination's.
     */
    /**
     * A plaintext caller at a node's address (the --workloads file's nodes[].addresses) is Cilium's host when that node is
     * the destination's (its proxy enforces), remote-node otherwise, as the proxy's TunnelSource decides; never world, so
     * a fromCIDR allow does not admit it (mesh-policy CiliumNodeSourceTest).
     */
    @Test
    void aPlaintextCallerAtANodesAddressIsHostOrRemoteNode() throws Exception {
        Path p = Files.createDirectories(dir.resolve("node-policies"));
        Files.writeString(p.resolve("p.yaml"), """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: backend-in, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {app: backend}}
                  ingress:
                  - fromEntities: [host]
                  - fromCIDR: [192.168.0.0/16]
                """);
        Path w = Files.writeString(dir.resolve("node-workloads.yaml"), """
                trustDomain: cluster.local
                nodes: [{name: node-a, addresses: [192.168.0.1]}, {name: node-b, addresses: [192.168.0.2]}]
                workloads:
                  - {namespace: prod, name: backend, serviceAccount: backend, addresses: [10.0.0.2], labels: {app: backend}, node: node-a}
                """);
        java.util.function.Function<String, Integer> from = ip -> Zerohop.run("policy", "check", "--policies", p.toString(),
                "--workloads", w.toString(), "--source-ip", ip, "--dest", "prod/backend:8080");
        assertThat(from.apply("192.168.0.1")).as("node-a: the destination's own node, host").isZero();
        assertThat(from.apply("192.168.0.2")).as("node-b: remote-node, which neither rule selects").isEqualTo(3);
        assertThat(std.out.toString()).contains("another node's (Cilium's reserved:remote-node)");
        assertThat(from.apply("192.168.0.9")).as("no node's: world, in the CIDR").isZero();
    }

    @Test
    void anAllowPolicyWhoseSelectorMatchesNoWorkloadIsNamedWhenItLeavesTheDestinationOpen() throws Exception {
        assertThat(check(MISTYPED_SELECTOR, "--source", "spiffe://cluster.local/ns/prod/sa/batch", "--source-ip", "10.0.0.3",
                "--dest", "prod/backend:8080")).as("upstream's decision: the policy selects nothing").isZero();
        assertThat(std.out.toString()).startsWith("ALLOW by default");
        assertThat(std.err.toString().lines().toList()).contains("warning: " + dir.resolve("policies").resolve("p.yaml") + ":7: AuthorizationPolicy prod/allow-internal-only (ALLOW) "
                + "selects no workload in " + dir.resolve("workloads.yaml") + " (its selector app=backnd; prod/backend has app=backend), "
                + "so it allows nothing and the policy has no effect: a mistyped selector label leaves the workload it was written"
                + " for open (allowed by default) unless another ALLOW policy selects it");
        // The policy spelt right: it selects backend and denies batch; nothing to warn about.
        assertThat(check(MISTYPED_SELECTOR.replace("app: backnd", "app: backend"), "--source", "spiffe://cluster.local/ns/prod/sa/batch",
                "--source-ip", "10.0.0.3", "--dest", "prod/backend:8080")).isEqualTo(3);
        assertThat(std.err.toString()).doesNotContain("selects no workload");
        // An ALLOW policy for another workload of the namespace (frontend) selects one: no warning either.
        assertThat(check(MISTYPED_SELECTOR.replace("app: backnd", "app: frontend"), "--source", "spiffe://cluster.local/ns/prod/sa/batch",
                "--source-ip", "10.0.0.3", "--dest", "prod/backend:8080")).isZero();
        assertThat(std.err.toString()).doesNotContain("selects no workload");
    }

    /**
     * As Istio's analyzer IST0127 NoMatchingWorkloadsFound (istio/istio
     * pkg/config/analysis/analyzers/authz/authorizationpolicies.go analyzeNoMatchingWorkloads), whatever the
     * action: a DENY with a mistyped selector, a policy in a namespace with no workload (with its selector, or
     * selectorless), a root-namespace policy whose selector matches no workload of any namespace; and a
     * CiliumNetworkPolicy's endpointSelector the same way. New-user pass: only ALLOW policies were named, so a
     * typo that drops a denial was silent. The decisions stay upstream's (exit codes unchanged).
     */
    @Test
    void everyPolicyThatSelectsNoWorkloadIsNamedWhateverItsActionOrKind() throws Exception {
        String w = dir.resolve("workloads.yaml").toString();
        String[] batch = {"--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.3", "--dest", "prod/backend:8080"};
        String deny = MISTYPED_SELECTOR.replace("allow-internal-only", "deny-batch").replace("action: ALLOW", "action: DENY");
        assertThat(check(deny, batch)).as("upstream's decision: the DENY selects nothing").isZero();
        assertThat(std.err.toString().lines().toList()).contains("warning: " + dir.resolve("policies").resolve("p.yaml") + ":7: AuthorizationPolicy prod/deny-batch (DENY) selects no "
                + "workload in " + w + " (its selector app=backnd; prod/backend has app=backend), so it denies nothing: "
                + "a mistyped selector label leaves the workload it was written for without the denial");
        assertThat(check(deny.replace("app: backnd", "app: backend"), batch)).isEqualTo(3);
        assertThat(std.err.toString()).doesNotContain("selects no workload");

        String prdo = MISTYPED_SELECTOR.replace("app: backnd", "app: backend").replace("namespace: prod", "namespace: prdo");
        assertThat(check(prdo, batch)).isZero();
        assertThat(std.err.toString().lines().toList()).contains("warning: " + dir.resolve("policies").resolve("p.yaml") + ":7: AuthorizationPolicy prdo/allow-internal-only (ALLOW) "
                + "selects no workload in " + w + " (its selector app=backend), so it allows nothing and the policy has no effect:"
                + " a mistyped metadata.namespace (prdo has no workload; did you mean prod?) leaves the workload it was written"
                + " for open (allowed by default) unless another ALLOW policy selects it");
        String selectorless = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-all, namespace: prdo}
                spec: {action: DENY, rules: [{}]}
                """;
        assertThat(check(selectorless, batch)).isZero();
        assertThat(std.err.toString().lines().toList()).contains("warning: " + dir.resolve("policies").resolve("p.yaml") + ":3: AuthorizationPolicy prdo/deny-all (DENY) applies to no "
                + "workload in " + w + ": namespace prdo has none (did you mean prod?), so it denies nothing: a mistyped"
                + " metadata.namespace leaves the workloads it was written for without the denial");
        // The wording follows the action (new-user pass: a selectorless ALLOW in a mistyped namespace got the DENY's
        // "applies to nothing ... without it", and no namespace to try).
        assertThat(check(selectorless.replace("DENY", "ALLOW"), batch)).isZero();
        assertThat(std.err.toString().lines().toList()).contains("warning: " + dir.resolve("policies").resolve("p.yaml") + ":3: AuthorizationPolicy prdo/deny-all (ALLOW) applies to no "
                + "workload in " + w + ": namespace prdo has none (did you mean prod?), so it allows nothing and the policy has no"
                + " effect: a mistyped metadata.namespace leaves the workloads it was written for open (allowed by default) unless"
                + " another ALLOW policy selects it");
        assertThat(check(selectorless.replace("DENY", "AUDIT"), batch)).isZero();
        assertThat(std.err.toString()).contains("namespace prdo has none (did you mean prod?), so it audits nothing (AUDIT never"
                + " allows or denies): a mistyped metadata.namespace leaves the workloads it was written for unaudited");
        assertThat(check(selectorless.replace("DENY", "CUSTOM").replace("rules:", "provider: {name: ext}, rules:"), batch)).isZero();
        assertThat(std.err.toString()).contains("namespace prdo has none (did you mean prod?), so it sends nothing to its extension"
                + " provider: a mistyped metadata.namespace leaves the workloads it was written for without that external check");
        // Nothing within two edits: no suggestion.
        assertThat(check(selectorless.replace("prdo", "payments"), batch)).isZero();
        assertThat(std.err.toString()).contains("namespace payments has none, so it denies nothing").doesNotContain("did you mean");
        assertThat(check(selectorless.replace("prdo", "prod"), batch)).isEqualTo(3);
        assertThat(std.err.toString()).doesNotContain("no workload");
        // The root namespace's policies are mesh-wide: a selector matching a workload of any namespace selects it,
        // and a selectorless one is no mistake (istio-system has no workload here).
        assertThat(check(deny.replace("app: backnd", "app: backend").replace("namespace: prod", "namespace: istio-system"), batch))
                .isEqualTo(3);
        assertThat(check(selectorless.replace("prdo", "istio-system"), batch)).isEqualTo(3);
        assertThat(std.err.toString()).doesNotContain("no workload");
        assertThat(check(deny.replace("namespace: prod", "namespace: istio-system"), batch)).isZero();
        assertThat(std.err.toString()).contains("AuthorizationPolicy istio-system/deny-batch (DENY) selects no workload in " + w
                + " (its selector app=backnd)");

        assertThat(check(FROM_FRONTEND.replace("{app: backend}", "{app: backnd}"), batch)).isZero();
        assertThat(std.err.toString().lines().toList()).contains("warning: " + dir.resolve("policies").resolve("p.yaml") + ":5: CiliumNetworkPolicy prod/from-frontend selects no "
                + "workload in " + w + " (its endpointSelector app=backnd; prod/backend has app=backend), so it applies to "
                + "nothing: a mistyped selector label leaves the workload it was written for without it");
        // Cilium's k8s: source prefix and its namespace pseudo-label are understood: these select prod/backend.
        assertThat(check(FROM_FRONTEND.replace("{app: backend}", "{k8s:app: backend, k8s:io.kubernetes.pod.namespace: prod}"),
                batch)).isEqualTo(3);
        assertThat(std.err.toString()).doesNotContain("no workload");
        assertThat(check(FROM_FRONTEND.replace("namespace: prod", "namespace: prdo"), batch)).isZero();
        assertThat(std.err.toString()).contains("CiliumNetworkPolicy prdo/from-frontend selects no workload in " + w
                + " (its endpointSelector app=backend), so it applies to nothing: a mistyped metadata.namespace (prdo has no "
                + "workload; did you mean prod?) leaves the workload it was written for without it");
        assertThat(check(FROM_FRONTEND.replace("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")
                .replace(", namespace: prod", "").replace("{app: frontend}", "{app: frontend, k8s:io.kubernetes.pod.namespace: prod}"),
                batch)).isEqualTo(3);
        assertThat(std.err.toString()).doesNotContain("no workload");
    }

    /**
     * The session's closing note: the selector warning read Cilium's {@code spec} only, so a mistyped label in an entry
     * of {@code specs} (each entry a rule with its own endpointSelector, cilium/cilium pkg/k8s/apis/cilium.io/v2
     * CiliumNetworkPolicy.Parse) was silent; and an AuthorizationPolicy with {@code targetRefs} was taken for a
     * selectorless one, "namespace X has none" when X had no pod, although targetRefs attach it to a Service, Gateway
     * or ServiceEntry, never to pods (istio.io AuthorizationPolicy targetRefs): no workload warning can be true of it.
     */
    @Test
    void aCiliumSpecsEntryIsCheckedAndATargetRefsPolicyIsNotTakenForASelectorlessOne() throws Exception {
        String w = dir.resolve("workloads.yaml").toString();
        String[] batch = {"--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.3", "--dest", "prod/backend:8080"};
        String specs = """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: two-rules, namespace: prod}
                specs:
                - endpointSelector: {matchLabels: {app: backend}}
                  ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]
                - endpointSelector: {matchLabels: {app: frontnd}}
                  ingress: [{fromEndpoints: [{matchLabels: {app: batch}}]}]
                """;
        check(specs, batch);
        assertThat(std.err.toString().lines().toList()).contains("warning: " + dir.resolve("policies").resolve("p.yaml") + ":7: CiliumNetworkPolicy prod/two-rules rule specs[1] selects no "
                + "workload in " + w + " (its endpointSelector app=frontnd; prod/backend has app=backend), so it applies"
                + " to nothing: a mistyped selector label leaves the workload it was written for without it");
        assertThat(std.err.toString()).as("specs[0] selects prod/backend").doesNotContain("specs[0]");
        check(specs.replace("app: frontnd", "app: frontend"), batch);
        assertThat(std.err.toString()).doesNotContain("no workload");

        String routed = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: via-waypoint, namespace: payments}
                spec:
                  targetRefs: [{kind: Service, group: "", name: ledger}]
                  action: DENY
                  rules: [{}]
                """;
        assertThat(check(routed, batch)).isZero();
        assertThat(std.err.toString()).doesNotContain("no workload").doesNotContain("has none");
    }

    @Test
    void theSourceWorkloadComesFromTheSourceIpAsInTheProxy() throws Exception {
        String id = "spiffe://cluster.local/ns/prod/sa/frontend";
        assertThat(check(FROM_FRONTEND, "--source", id, "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080")).isZero();
        assertThat(std.out.toString()).startsWith("ALLOW by prod/from-frontend (CiliumNetworkPolicy ingress, rule 0)");
        // Same service account, other pod: its labels are app=batch.
        assertThat(check(FROM_FRONTEND, "--source", id, "--source-ip", "10.0.0.3", "--dest", "prod/backend:8080")).isEqualTo(3);
        assertThat(std.out.toString()).startsWith("DENY by prod/from-frontend");
        // Another identity at frontend's address: as the proxy (mesh-core TunnelSource), not frontend's labels.
        assertThat(check(FROM_FRONTEND, "--source", "spiffe://cluster.local/ns/prod/sa/backend", "--source-ip", "10.0.0.1",
                "--dest", "prod/backend:8080")).isEqualTo(3);
        assertThat(std.out.toString()).contains("the source has no known workload").endsWith(" (--source-ip 10.0.0.1 is prod/frontend, whose "
                + "identity spiffe://cluster.local/ns/prod/sa/frontend is not --source's: as in the proxy, a workload of another identity "
                + "is not the source)" + System.lineSeparator());
        // An address no workload owns: no labels, and the explanation says so.
        assertThat(check(FROM_FRONTEND, "--source", id, "--source-ip", "10.9.9.9", "--dest", "prod/backend:8080")).isEqualTo(3);
        assertThat(std.out.toString()).isEqualTo("DENY by prod/from-frontend (CiliumNetworkPolicy ingress, default deny): endpoint "
                + "selected by app=backend for ingress and no ingress rule allowed; the source has no known workload, so "
                + "fromEndpoints selectors on pod labels cannot match it (no workload in " + dir.resolve("workloads.yaml")
                + " has --source-ip 10.9.9.9)" + System.lineSeparator());
    }

    /**
     * Without --source-ip the default 10.0.0.1 is frontend's address in WORKLOADS: a new-user pass got ALLOW for
     * a caller with another identity from frontend's labels. The caller is the workload with --source's identity
     * when exactly one has it; with several (frontend and batch share the frontend service account), none.
     */
    @Test
    void withoutSourceIpTheSourceIsTheWorkloadWithTheSourcesIdentity() throws Exception {
        String backendSa = "spiffe://cluster.local/ns/prod/sa/backend";
        assertThat(check(FROM_FRONTEND, "--source", backendSa, "--dest", "prod/batch:8080")).isZero();   // not selected: control
        assertThat(check(FROM_FRONTEND.replace("app: backend}", "app: batch}"), "--source", backendSa, "--dest", "prod/batch:8080"))
                .as(std.out.toString()).isEqualTo(3);
        assertThat(std.out.toString()).startsWith("DENY by prod/from-frontend (CiliumNetworkPolicy ingress, default deny)")
                .doesNotContain("no known workload");
        // Two workloads hold the frontend identity: which one calls decides fromEndpoints and ipBlocks, so the
        // command asks rather than deciding on the default 10.0.0.1 (frontend's; new-user pass): exit 2, naming them.
        assertThat(check(FROM_FRONTEND, "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:8080"))
                .isEqualTo(2);
        assertThat(std.out.toString()).isEmpty();
        assertThat(std.err.toString()).startsWith("zerohop policy check: --source-ip: --source spiffe://cluster.local/ns/prod/sa/frontend "
                + "has 2 workloads in " + dir.resolve("workloads.yaml") + " (prod/batch 10.0.0.3, prod/frontend 10.0.0.1): give "
                + "--source-ip to say which one calls" + System.lineSeparator());
        // --source-ip still decides, as in the proxy.
        assertThat(check(FROM_FRONTEND, "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.1",
                "--dest", "prod/backend:8080")).isZero();
    }

    static final String FRONTEND_IPS = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: frontend-ips, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              rules:
              - from: [{source: {ipBlocks: [10.0.0.1/32]}}]
            """;

    /**
     * A --source no workload has (a caller outside the registry, or a typo): no source workload, as in the proxy.
     * The default --source-ip 10.0.0.1 is frontend's in WORKLOADS, and an ipBlocks rule for frontend's address
     * allowed such a caller (new-user pass); now the command asks for the caller's address. Once no workload owns
     * the address, the default stands.
     */
    @Test
    void aSourceWithoutWorkloadIsNotGivenAnotherWorkloadsAddress() throws Exception {
        String outsider = "spiffe://cluster.local/ns/legacy/sa/old";
        assertThat(check(FRONTEND_IPS, "--source", outsider, "--dest", "prod/backend:8080")).as(std.out.toString()).isEqualTo(2);
        assertThat(std.out.toString()).isEmpty();
        assertThat(std.err.toString()).startsWith("zerohop policy check: --source-ip: no workload in " + dir.resolve("workloads.yaml")
                + " has --source " + outsider + ", and the default --source-ip 10.0.0.1 is prod/frontend's address: give the "
                + "caller's --source-ip (ipBlocks and source.ip match it)" + System.lineSeparator());
        // Given, the address decides, as in the proxy: a control that the rule matches 10.0.0.1 and nothing else.
        assertThat(check(FRONTEND_IPS, "--source", outsider, "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080")).isZero();
        assertThat(check(FRONTEND_IPS, "--source", outsider, "--source-ip", "10.9.9.9", "--dest", "prod/backend:8080")).isEqualTo(3);
        // The default owned by no workload: it stands, and the source has no workload.
        Path p = Files.createDirectories(dir.resolve("policies"));
        Files.writeString(p.resolve("p.yaml"), FRONTEND_IPS);
        Path w = Files.writeString(dir.resolve("others.yaml"), WORKLOADS.replace("addresses: [10.0.0.1]", "addresses: [10.0.0.4]"));
        std.out.reset();
        assertThat(Zerohop.run("policy", "check", "--policies", p.toString(), "--workloads", w.toString(), "--source", outsider,
                "--dest", "prod/backend:8080")).as(std.err.toString()).isZero();
        assertThat(std.out.toString()).startsWith("ALLOW by prod/frontend-ips");
    }

    /** A plaintext caller (no --source) is the workload owning its address; the default's owner is no caller's choice. */
    @Test
    void aPlaintextCallerIsNotGivenTheDefaultAddresssWorkload() throws Exception {
        assertThat(check(FRONTEND_IPS, "--dest", "prod/backend:8080")).as(std.out.toString()).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --source-ip: a plaintext caller (no --source) is the workload "
                + "owning its address, and the default --source-ip 10.0.0.1 is prod/frontend's in " + dir.resolve("workloads.yaml")
                + ": give the caller's --source-ip" + System.lineSeparator());
        assertThat(check(FRONTEND_IPS, "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080")).as(std.err.toString()).isZero();
    }

    /** New-user pass: deny.YAML was skipped without a word and the caller allowed; now it is loaded and named once. */
    @Test
    void aCapitalisedPolicyFileIsEnforcedAndNamedOnceOnStderr() throws Exception {
        Path p = Files.createDirectories(dir.resolve("policies"));
        Files.writeString(p.resolve("deny.YAML"), DENY_ADMIN.replace("rules: [{to: [{operation: {paths: [/admin]}}]}]", "rules: [{}]"));
        Files.writeString(p.resolve("old.yaml.bak"), FROM_FRONTEND);
        // p.yaml holds an ALLOW (a file with no object is a load error, as kubectl apply refuses it): DENY still wins.
        assertThat(check(FROM_FRONTEND, "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080"))
                .as(std.out.toString()).isEqualTo(3);
        assertThat(std.out.toString()).startsWith("DENY by prod/deny-admin");
        String kubectl = "deny.YAML: loaded, but kubectl apply -f";
        assertThat(std.err.toString().split(java.util.regex.Pattern.quote(kubectl), -1)).hasSize(2);
        assertThat(std.err.toString()).contains("old.yaml.bak: skipped: not a policy file");
    }

    static final String L7 = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: l7, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              rules:
              - to: [{operation: {hosts: [api.example.com], methods: [GET]}}]
                when:
                - {key: "request.headers[x-tenant]", values: [blue]}
                - {key: connection.sni, values: [api.example.com]}
                - {key: destination.ip, values: [10.0.0.2]}
            """;

    static final String XFCC = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: by-xfcc, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              rules:
              - to: [{operation: {methods: [GET]}}]
                when: [{key: "request.headers[x-forwarded-client-cert]", values: ["*URI=spiffe://cluster.local/ns/prod/sa/web"]}]
            """;

    static final String FORWARDED = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: forwarded, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              rules:
              - to: [{operation: {methods: [GET]}}]
                when:
                - {key: "request.headers[x-request-id]", values: ["*"]}
                - {key: "request.headers[x-forwarded-proto]", values: ["http"]}
              - to: [{operation: {methods: [POST]}}]
                when: [{key: "request.headers[x-request-id]", values: ["trace-7"]}]
            """;

    static final String DENY_ADMIN_USER = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-admin-user, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - when: [{key: "request.headers[x-user]", values: [admin]}]
            """;

    /**
     * {@code request.headers[:scheme]} is decided on the :scheme the proxy's HTTP/1 filter sets (mesh-core
     * {@code HeaderValidation.http1Scheme}, as Envoy's {@code getScheme}): {@code x-forwarded-proto} when http or https,
     * else http. Until 6 December the check, as the proxy, had none: a DENY on it denied nothing.
     */
    @Test
    void aDenyOnSchemeIsDecidedOnTheSchemeTheProxySets() throws Exception {
        String denyHttp = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-http, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules:
                  - when: [{key: "request.headers[:scheme]", values: ["http"]}]
                """;
        String[] web = {"--source", "spiffe://cluster.local/ns/prod/sa/web", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080",
                "--method", "GET"};
        assertThat(check(denyHttp, web)).as(std.out.toString()).isEqualTo(3);
        assertThat(check(denyHttp, concat(web, "--header", "x-forwarded-proto=https"))).as(std.out.toString()).isZero();
    }

    /**
     * On a port declared {@code http2} or {@code grpc} the proxy serves HTTP/1 clients too (Envoy's {@code AUTO} codec,
     * mesh-core {@code H2Upstream}), whose {@code request.headers[:scheme]} it takes from {@code x-forwarded-proto}: the check
     * decides for such a client, as on an {@code http} port, and its note says that an h2c client's {@code :scheme} is its
     * own (H2Proxy; Envoy trusts an HTTP/2 request's {@code :scheme}, conn_manager_utility.cc {@code mutateRequestHeaders}).
     * From helper 328's change until HTTP/1 was served there the check took {@code http} on those ports (exit 0), where
     * curl's HTTP/1.1 request with {@code x-forwarded-proto: https} now meets the DENY. {@code --header :scheme=...} names
     * the option that sets it, where it was refused as no field name.
     */
    @Test
    void anHttp2PortsSchemeIsDecidedForAnHttp1ClientWithANote() throws Exception {
        String denyHttps = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-https, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules:
                  - when: [{key: "request.headers[:scheme]", values: ["https"]}]
                """;
        Path p = Files.createDirectories(dir.resolve("policies"));
        Files.writeString(p.resolve("p.yaml"), denyHttps);
        Path w = Files.writeString(dir.resolve("h2-workloads.yaml"), """
                trustDomain: cluster.local
                workloads:
                  - {namespace: prod, name: backend, serviceAccount: backend, addresses: [10.0.0.2], labels: {app: backend},
                     ports: {8080: http, 9090: grpc, 9091: http2}}
                  - {namespace: prod, name: frontend, serviceAccount: frontend, addresses: [10.0.0.1], labels: {app: frontend}}
                """);
        for (String port : new String[] {"9090", "9091"}) {
            std.out.reset();
            std.err.reset();
            assertThat(Zerohop.run("policy", "check", "--policies", p.toString(), "--workloads", w.toString(),
                    "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:" + port,
                    "--method", "POST", "--path", "/x", "--header", "x-forwarded-proto=https")).as(std.out + " " + std.err).isEqualTo(3);
            assertThat(std.err.toString()).contains("note: --header x-forwarded-proto=https: decided for an HTTP/1 client, whose"
                    + " request.headers[:scheme] the proxy takes from it (https); the port is declared "
                    + (port.equals("9090") ? "grpc" : "http2") + ", and an h2c client's :scheme is its own");
        }
        // On an http port the same, with no note: HTTP/1 is its usual client.
        std.out.reset();
        assertThat(Zerohop.run("policy", "check", "--policies", p.toString(), "--workloads", w.toString(),
                "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:8080",
                "--method", "POST", "--path", "/x", "--header", "x-forwarded-proto=https")).as(std.out.toString()).isEqualTo(3);
        std.err.reset();
        assertThat(Zerohop.run("policy", "check", "--policies", p.toString(), "--workloads", w.toString(),
                "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:8080",
                "--header", ":scheme=https")).isEqualTo(2);
        assertThat(std.err.toString()).contains(":scheme is the request's own field: give it as --header x-forwarded-proto=");
    }

    /**
     * The proxy's HTTP/1 side removes the headers a {@code Connection} header nominates before any policy reads them
     * (mesh-core NominatedHeaders, as Envoy's codec): {@code Connection: x-user} with {@code X-User: admin} is served 200
     * past a DENY on {@code request.headers[x-user]}. The check took both headers and answered DENY, exit 3 (a new-user
     * pass, helper 312); then it refused such a --header connection (exit 2). It now decides as the proxy does, the
     * header left out with a note; exit 2 stays for what the proxy answers 400.
     */
    @Test
    void aHeaderTheConnectionHeaderNominatesIsLeftOutAsTheProxyDropsIt() throws Exception {
        String[] web = {"--source", "spiffe://cluster.local/ns/prod/sa/web", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080",
                "--method", "GET", "--header", "x-user=admin"};
        assertThat(check(DENY_ADMIN_USER, web)).as(std.out.toString()).isEqualTo(3);
        assertThat(check(DENY_ADMIN_USER, concat(web, "--header", "connection=x-user"))).as(std.err.toString()).isZero();
        assertThat(std.err.toString()).contains("note: --header connection=x-user nominates x-user: the proxy removes a header the"
                + " Connection header nominates before any policy reads it");
        // Tokens that nominate no header the proxy removes leave the decision as it was.
        assertThat(check(DENY_ADMIN_USER, concat(web, "--header", "connection=keep-alive, close"))).as(std.err.toString()).isEqualTo(3);
        assertThat(check(DENY_ADMIN_USER, concat(web, "--header", "connection=te", "--header", "te=trailers"))).as(std.err.toString())
                .isEqualTo(3);
        assertThat(check(DENY_ADMIN_USER, concat(web, "--header", "connection=x-forwarded-for", "--header", "x-forwarded-for=10.1.1.1")))
                .as("answered 400 by the proxy").isEqualTo(2);
        assertThat(std.err.toString()).contains("--header: connection=x-forwarded-for: the proxy answers such a request 400 before any"
                + " policy: Invalid nominated headers in Connection");
        assertThat(check(DENY_ADMIN_USER, concat(web, "--header", "connection=a,b,c,d,e,f,g,h,i,j"))).as("10 tokens: 400").isEqualTo(2);
    }

    static final String ALLOW_KEEP_ALIVE = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: keep-alive-only, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - when: [{key: "request.headers[keep-alive]", values: ["timeout=5"]}]
              - when: [{key: "request.headers[te]", values: ["trailers"]}]
            """;

    /**
     * The hop-by-hop headers the proxy removes before any policy (Envoy's connection manager, conn_manager_utility.cc
     * {@code mutateRequestHeaders}) are left out of the check's decision too, with a note: an ALLOW on
     * {@code request.headers[keep-alive]} admits no request at the proxy, and a {@code TE} listing {@code trailers} is
     * read as exactly {@code trailers}.
     */
    @Test
    void hopByHopHeadersAreLeftOutAsTheProxyRemovesThem() throws Exception {
        String[] web = {"--source", "spiffe://cluster.local/ns/prod/sa/web", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080",
                "--method", "GET"};
        assertThat(check(ALLOW_KEEP_ALIVE, concat(web, "--header", "keep-alive=timeout=5"))).as(std.err.toString()).isEqualTo(3);
        assertThat(std.err.toString()).contains("note: --header keep-alive: hop-by-hop, which the proxy removes before any policy");
        assertThat(check(ALLOW_KEEP_ALIVE, concat(web, "--header", "te=gzip, trailers"))).as(std.err.toString()).isZero();
        assertThat(check(ALLOW_KEEP_ALIVE, concat(web, "--header", "te=gzip"))).as(std.err.toString()).isEqualTo(3);
        // An Upgrade without Connection: upgrade is one of them too; --help listed the others only (a new-user pass, helper 321).
        assertThat(check(ALLOW_KEEP_ALIVE, concat(web, "--header", "upgrade=websocket"))).as(std.err.toString()).isEqualTo(3);
        assertThat(std.err.toString()).contains("note: --header upgrade: hop-by-hop");
        std.out.reset();
        assertThat(Zerohop.run("policy", "check", "--help")).isZero();
        assertThat(std.out.toString().replaceAll("\\s+", " ")).contains("proxy-connection, transfer-encoding, te but trailers,"
                + " upgrade) and those a connection header nominates are left out")
                .contains("an upgrade request (connection: upgrade, an upgrade other than h2c) keeps its upgrade and the headers");
    }

    /**
     * An upgrade request's headers are left as sent (mesh-core NominatedHeaders, as Envoy's codec): the header its
     * {@code Connection} nominates beside {@code upgrade} reaches the policy, at the proxy (403 from a DENY on it, seen
     * with curl through a real proxy) and in the check; an h2c upgrade, which the proxy removes, is no upgrade there.
     */
    @Test
    void anUpgradeRequestKeepsTheHeadersItsConnectionNominates() throws Exception {
        String[] web = {"--source", "spiffe://cluster.local/ns/prod/sa/web", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080",
                "--method", "GET", "--header", "x-user=admin", "--header", "connection=x-user, upgrade"};
        assertThat(check(DENY_ADMIN_USER, concat(web, "--header", "upgrade=websocket"))).as(std.err.toString()).isEqualTo(3);
        assertThat(check(DENY_ADMIN_USER, concat(web, "--header", "upgrade=h2c"))).as(std.err.toString()).isZero();
        assertThat(std.err.toString()).contains("note: --header connection=x-user, upgrade nominates x-user");
        // Any other upgrade is the proxy's 403 before any policy (Envoy's upgrade_failed): not a decision the check makes.
        assertThat(check(DENY_ADMIN_USER, "--source", "spiffe://cluster.local/ns/prod/sa/web", "--source-ip", "10.0.0.1",
                "--dest", "prod/backend:8080", "--method", "GET", "--header", "connection=upgrade", "--header", "upgrade=foo"))
                .as("the proxy's 403 before policy").isEqualTo(2);
        assertThat(std.err.toString()).contains("the proxy answers such a request 403 before any policy: upgrade to \"foo\" is not"
                + " allowed (websocket only)");
    }

    /**
     * As the proxy, which sets {@code x-request-id} (a client's kept, else a new UUIDv4) and {@code x-forwarded-proto}
     * (a client's kept, else {@code http}) before any policy reads them, as Envoy's connection manager under Istio
     * (envoyproxy/envoy conn_manager_utility.cc {@code mutateRequestHeaders}; mesh-core L7ForwardedRequestIdTest). Until
     * 7 December the check had neither: a rule requiring them denied a request the proxy allows.
     */
    @Test
    void requestIdAndForwardedProtoAsTheProxySetsThem() throws Exception {
        String[] get = {"--source-ip", "10.0.0.1", "--dest", "prod/backend:8080", "--method", "GET"};
        assertThat(check(FORWARDED, get)).as(std.out.toString()).isZero();
        assertThat(check(FORWARDED, concat(get, "--header", "x-forwarded-proto=https"))).as(std.out.toString()).isEqualTo(3);
        String[] post = {"--source-ip", "10.0.0.1", "--dest", "prod/backend:8080", "--method", "POST"};
        assertThat(check(FORWARDED, concat(post, "--header", "x-request-id=trace-7"))).as("kept").isZero();
        assertThat(check(FORWARDED, post)).isEqualTo(3);
        // Under Cilium's HTTP rules its Envoy, in front, overwrites a client's x-forwarded-proto with http (mesh-core
        // HeaderValidation.ciliumEdgeRequest): a rule on https never matches.
        String httpsOnly = """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: https-only, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {app: backend}}
                  ingress:
                  - toPorts:
                    - ports: [{port: "8080", protocol: TCP}]
                      rules: {http: [{headerMatches: [{name: x-forwarded-proto, value: https}]}]}
                """;
        assertThat(check(httpsOnly, concat(get, "--header", "x-forwarded-proto=https"))).as(std.out.toString()).isEqualTo(3);
    }

    /**
     * A header the check was given and then replaced, as Cilium's Envoy in front replaces it (mesh-core
     * {@code HeaderValidation.ciliumEdgeRequest}; cilium/cilium pkg/envoy/xds_server.go {@code GetHttpFilterChainProto},
     * envoyproxy/envoy conn_manager_utility.cc {@code mutateRequestHeaders}), is named in a note: a new-user pass (helper
     * 347) gave {@code --header x-request-id=my-trace-1} from a source outside Cilium's internal ranges and read only
     * "the request matches none of its rules.http", with nothing saying the id decided on was not the one given.
     */
    @Test
    void aGivenHeaderCiliumsEnvoyReplacesIsNamedInANote() throws Exception {
        String traced = """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: traced, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {app: backend}}
                  ingress:
                  - toPorts:
                    - ports: [{port: "8080", protocol: TCP}]
                      rules: {http: [{headers: ["x-request-id: my-trace-1"]}]}
                """;
        String[] get = {"--dest", "prod/backend:8080", "--method", "GET", "--path", "/", "--header", "x-request-id=my-trace-1"};
        assertThat(check(traced, concat(get, "--source-ip", "203.0.113.7"))).as(std.out.toString()).isEqualTo(3);
        assertThat(std.err.toString()).contains("note: --header x-request-id=my-trace-1: replaced by a new id before any policy"
                + " reads it, as Cilium's Envoy in front replaces a client's id");
        // From an internal address without x-forwarded-for the id is kept: no note.
        assertThat(check(traced, concat(get, "--source-ip", "10.0.0.1"))).as(std.out.toString()).isZero();
        assertThat(std.err.toString()).doesNotContain("replaced");
        assertThat(check(traced, concat(get, "--source-ip", "10.0.0.1", "--header", "x-forwarded-proto=https")))
                .as(std.out.toString()).isZero();
        assertThat(std.err.toString()).contains("note: --header x-forwarded-proto=https: replaced by http before any policy reads"
                + " it, as Cilium's Envoy in front");
    }

    /**
     * As the proxy, which sets {@code x-forwarded-client-cert} from the connection before any policy reads it (Envoy's
     * connection manager): the check builds it from {@code --source}, and refuses one given as a header. A new-user pass
     * (helper 257) got the proxy's opposite both ways: ALLOW for a forged header, DENY for the real peer without one.
     */
    @Test
    void xfccIsBuiltFromTheSourceAsTheProxySetsIt() throws Exception {
        String[] web = {"--source", "spiffe://cluster.local/ns/prod/sa/web", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080",
                "--method", "GET"};
        assertThat(check(XFCC, web)).as(std.out.toString()).isZero();
        String[] evil = {"--source", "spiffe://cluster.local/ns/prod/sa/evil", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080",
                "--method", "GET"};
        assertThat(check(XFCC, evil)).isEqualTo(3);
        assertThat(check(XFCC, concat(evil, "--header", "x-forwarded-client-cert=URI=spiffe://cluster.local/ns/prod/sa/web"))).isEqualTo(2);
        assertThat(std.err.toString()).contains("--header: x-forwarded-client-cert is set by the proxy from the connection");
        assertThat(check(XFCC, "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080", "--method", "GET")).as("plaintext: none")
                .isEqualTo(3);
        // By= names the destination, the one --dest names without --workloads (service account WORKLOAD; helper 258).
        String byBackend = XFCC.replace("[\"*URI=spiffe://cluster.local/ns/prod/sa/web\"]", "[\"By=spiffe://cluster.local/ns/prod/sa/backend;*\"]");
        assertThat(byBackend).isNotEqualTo(XFCC);
        assertThat(check(byBackend, web)).as(std.out.toString()).isZero();
        // A trust domain alone names no peer (X509-SVID: a leaf's ID has a path), as `ca issue` and every handshake refuse it.
        assertThat(check(XFCC, "--source", "spiffe://cluster.local", "--dest", "prod/backend:8080", "--method", "GET")).isEqualTo(2);
        assertThat(std.err.toString()).contains("a trust domain alone names no workload");
    }

    @Test
    void hostHeaderSniAndDestIpReachTheDecision() throws Exception {
        String[] base = {"--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080",
                "--method", "GET", "--dest-ip", "10.0.0.2"};
        assertThat(check(L7, concat(base, "--host", "api.example.com", "--header", "X-Tenant=blue", "--sni", "api.example.com")))
                .as(std.out.toString()).isZero();
        assertThat(std.out.toString()).startsWith("ALLOW by prod/l7");
        assertThat(check(L7, concat(base, "--host", "other.example.com", "--header", "X-Tenant=blue", "--sni", "api.example.com")))
                .isEqualTo(3);
        assertThat(check(L7, concat(base, "--host", "api.example.com", "--header", "X-Tenant=red", "--sni", "api.example.com")))
                .isEqualTo(3);
        assertThat(check(L7, concat(base, "--host", "api.example.com", "--header", "X-Tenant=blue"))).as("no SNI").isEqualTo(3);
        // Repeated headers are joined as the proxy joins them: "blue,red" is not "blue".
        assertThat(check(L7, concat(base, "--host", "api.example.com", "--header", "x-tenant=blue", "--header", "x-tenant=red",
                "--sni", "api.example.com"))).isEqualTo(3);
        // The whitespace around a field value is no part of it (RFC 9110 5.5): the proxy never sees " blue" (a new-user pass).
        assertThat(check(L7, concat(base, "--host", "api.example.com", "--header", "X-Tenant= \tblue ", "--sni", "api.example.com")))
                .as(std.out.toString()).isZero();
        assertThat(check(L7, concat(base, "--host", "api.example.com", "--header", "X-Tenant=blue\r\nx-admin: 1",
                "--sni", "api.example.com"))).isEqualTo(2);
        assertThat(std.err.toString()).contains("zerohop policy check: --header: a field value holds no CR, LF or NUL");
        String[] otherIp = base.clone();
        otherIp[otherIp.length - 1] = "10.0.0.7";
        assertThat(check(L7, concat(otherIp, "--host", "api.example.com", "--header", "X-Tenant=blue", "--sni", "api.example.com")))
                .isEqualTo(3);
        assertThat(check(L7, concat(base, "--header", "novalue"))).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --header: must be NAME=VALUE");
        // The request's own fields are not headers: `--header host=x` decided for no Host at all (a new-user pass).
        for (String[] own : new String[][] {{"Host=api.example.com", "host", "--host"}, {":authority=a", ":authority", "--host"},
                {":method=GET", ":method", "--method"}, {":path=/", ":path", "--path"}}) {
            assertThat(check(L7, concat(base, "--header", own[0]))).as(own[0]).isEqualTo(2);
            assertThat(std.err.toString()).as(own[0]).contains("zerohop policy check: --header: " + own[1]
                    + " is the request's own field: give it as " + own[2]);
        }
        assertThat(check(L7, concat(base, "--header", "host =api.example.com"))).isEqualTo(2);
        assertThat(std.err.toString()).contains("zerohop policy check: --header: \"host \" is no HTTP field name");
    }

    @Test
    void repeatedHeadersAreJoinedAsTheProxyJoinsThem() throws Exception {
        // HttpEnforcement.authorize (and Envoy's header matcher) join repeats with "," and no space; the check
        // joined them with ", ", so it answered ALLOW for a request the proxy denies (new-user pass, 3 December).
        String deny = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-pair, namespace: prod}
                spec:
                  action: DENY
                  rules: [{when: [{key: "request.headers[x-user]", values: ["alice,mallory"]}]}]
                """;
        String[] base = {"--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080",
                "--method", "GET", "--path", "/"};
        assertThat(check(deny, concat(base, "--header", "x-user=alice", "--header", "X-User=mallory"))).as(std.out.toString()).isEqualTo(3);
        assertThat(std.out.toString()).startsWith("DENY by prod/deny-pair");
        assertThat(check(deny, concat(base, "--header", "x-user=alice, mallory"))).as("one value with a space is another value").isZero();
        assertThat(check(deny, concat(base, "--header", "x-user=alice"))).isZero();
    }

    @Test
    void aMissingMethodOrPathIsFilledInAndSaidSo() throws Exception {
        // A new-user pass asked "is /admin protected?" with --path alone and read ALLOW with no word that it was GET's.
        String deny = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: p, namespace: prod}
                spec:
                  action: DENY
                  rules: [{to: [{operation: {methods: ["POST"], paths: ["/admin"]}}]}]
                """;
        String[] base = {"--source", "spiffe://cluster.local/ns/x/sa/y", "--source-ip", "10.9.0.1", "--dest", "prod/backend:8080"};
        assertThat(check(deny, concat(base, "--path", "/admin"))).as(std.err.toString()).isZero();
        assertThat(std.err.toString()).contains("note: decided for --method GET (not given) and --path /admin; give both for the"
                + " request you mean");
        assertThat(check(deny, concat(base, "--method", "POST"))).isZero();
        assertThat(std.err.toString()).contains("note: decided for --method POST and --path / (not given)");
        assertThat(check(deny, concat(base, "--method", "POST", "--path", "/admin"))).isEqualTo(3);
        assertThat(std.err.toString()).doesNotContain("note: decided for");
    }

    @Test
    void istiodWarningsArePrinted() throws Exception {
        String deny = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-post, namespace: prod}
                spec:
                  action: DENY
                  rules: [{to: [{operation: {methods: [POST]}}]}]
                """;
        // Exit 3: port 8080 is auto, so a connection whose first bytes are not HTTP is denied (second line; until 2 December exit 0).
        assertThat(check(deny, "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080")).isEqualTo(3);
        // zerohop's behaviour first, so the waypoint sentence is not read as zerohop refusing the policy (new-user pass);
        // then istiod's status text as istiod sets it (pilot/pkg/serviceregistry/ambient/authorization.go), quoted.
        assertThat(std.err.toString()).containsPattern("note: [^\\n]*\\.yaml:\\d+: AuthorizationPolicy prod/deny-post: spec\\.rules\\[0\\]\\.to\\[0\\]\\.operation\\.methods: HTTP")
                .contains(": AuthorizationPolicy prod/deny-post: spec.rules[0].to[0].operation.methods: HTTP attributes (methods): zerohop"
                + " enforces them itself, per request, on ports it parses as HTTP (no waypoint needed); on ports it does not parse"
                + " (opaque TCP) it applies this policy at L4 as ztunnel does, where istiod's ambient status for it holds:"
                + " \"ztunnel does not support HTTP attributes (found: methods). In ambient mode you must use a waypoint proxy to"
                + " enforce HTTP rules. After omitting unsupported HTTP attributes, this DENY policy has no enforceable rules at"
                + " ztunnel and will have no effect. Deploy a waypoint proxy and use a targetRef to enforce this policy.\"\n");
        assertThat(check(deny, "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080",
                "--method", "POST")).isEqualTo(3);
    }

    static final String DENY_ADMIN = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-admin, namespace: prod}
            spec:
              action: DENY
              rules: [{to: [{operation: {paths: [/admin]}}]}]
            """;

    /**
     * {@code --path} is the {@code :path} as sent, decided as the proxy decides it (both hand it unchanged to
     * {@code PolicyEngine.evaluate}; mesh-core HttpEnforcement.authorize), normalised as istiod's default
     * configures Envoy: istio.io docs "Authorization Policy Normalization" (BASE: RFC 3986 plus backslash,
     * no slash merging, %2F kept) and envoyproxy/envoy test/common/http/path_utility_test.cc
     * ({@code InvalidPaths}: a path with {@code %00} fails normalisation, which the connection manager answers with 400).
     */
    @Test
    void encodedAndMalformedPathsAsEnvoyNormalisesThem() throws Exception {
        String[] base = {"--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080", "--method", "GET"};
        assertThat(check(DENY_ADMIN, concat(base, "--path", "/admin%00"))).isEqualTo(3);
        assertThat(std.out.toString()).startsWith("DENY by default: request path contains %00");
        assertThat(check(DENY_ADMIN, concat(base, "--path", "/public/%2e%2e/admin"))).as("%2e%2e is a dot-dot segment").isEqualTo(3);
        assertThat(std.out.toString()).startsWith("DENY by prod/deny-admin");
        assertThat(check(DENY_ADMIN, concat(base, "--path", "/%61dmin?x=1"))).as("%61 is a, query dropped").isEqualTo(3);
        assertThat(check(DENY_ADMIN, concat(base, "--path", "/admin%2F"))).as("%2F stays encoded under BASE").isZero();
        assertThat(check(DENY_ADMIN, concat(base, "--path", "//admin"))).as("slashes are not merged under BASE").isZero();
    }

    static final String ALLOW_CHARGE = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-charge, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              rules: [{to: [{operation: {methods: [POST], paths: [/charge]}}]}]
            """;

    /**
     * A {@code --path} that is not origin-form is a request the proxy refuses with 400 before any policy reads it
     * (mesh-core RequestTarget and H2Proxy; envoyproxy/envoy source/common/http/http1/codec_impl.cc {@code handlePath},
     * test/common/http/http1/codec_impl_test.cc's invalid-URL cases; RFC 9112 section 3.2, RFC 9113 section 8.3.1). The
     * engine normalises {@code charge} to {@code /charge}, so the check printed ALLOW for it (a new-user pass): now a
     * usage error naming {@code --path}, and an absolute-form target is asked for as the path and host the proxy's
     * HTTP/1 filter decides it on (RFC 9112 section 3.2.2).
     */
    @Test
    void aPathThatIsNotOriginFormIsAUsageErrorAsTheProxyRefusesIt() throws Exception {
        String[] base = {"--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080"};
        assertThat(check(ALLOW_CHARGE, concat(base, "--method", "POST", "--path", "/charge"))).as(std.err.toString()).isZero();
        assertThat(check(ALLOW_CHARGE, concat(base, "--method", "POST", "--path", "charge"))).as(std.out.toString()).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --path: a request's path starts with /")
                .contains("give --path /charge");
        assertThat(std.out.toString()).isEmpty();
        assertThat(check(ALLOW_CHARGE, concat(base, "--method", "POST", "--path", "http://backend.prod:8080/charge?x=1"))).isEqualTo(2);
        assertThat(std.err.toString()).contains("--path: an absolute-form target is decided as its path and authority")
                .contains("give --path /charge?x=1 --host backend.prod:8080");
        assertThat(check(ALLOW_CHARGE, concat(base, "--method", "POST", "--path", "*"))).isEqualTo(2);
        assertThat(std.err.toString()).contains("--path: \"*\" is the request target of OPTIONS only");
        assertThat(check(ALLOW_CHARGE, concat(base, "--method", "OPTIONS", "--path", "*"))).as("OPTIONS * is a request").isEqualTo(3);
        assertThat(std.out.toString()).startsWith("DENY by prod/allow-charge");
        // Where no policy has HTTP fields the proxy relays the bytes unparsed and refuses no target: the check leaves
        // --path out with its note, as before.
        assertThat(check(FROM_FRONTEND, concat(base, "--method", "POST", "--path", "charge"))).as(std.err.toString()).isZero();
        assertThat(std.err.toString()).contains("note: no policy has HTTP fields for port 8080");
    }

    /**
     * A {@code --path} with a fragment or a space, or a {@code --host} with a character outside Envoy's authority table, is
     * a request the proxy refuses before any policy reads it (mesh-core RequestTarget {@code invalidPath},
     * {@code invalidCharacters}, {@code invalidAuthority}; H2Proxy's {@code malformedH2Path} and authority reset; envoyproxy/envoy
     * source/common/http/header_validation.cc {@code check_authority_h1_h2}, the {@code http_reject_path_with_fragment}
     * default; RFC 9112 section 3.2, RFC 9113 section 8.3.1). The engine dropped the fragment and matched the space and
     * the host as written, so the check printed ALLOW for them (a review pass): now exit 2 naming the option.
     */
    @Test
    void aFragmentASpaceOrABadHostIsAUsageErrorAsTheProxyRefusesThem() throws Exception {
        String[] base = {"--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080",
            "--method", "POST"};
        assertThat(check(ALLOW_CHARGE, concat(base, "--path", "/charge#x"))).as(std.out.toString()).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --path: a request target has no fragment")
                .contains("give --path /charge");
        assertThat(std.out.toString()).isEmpty();
        assertThat(check(ALLOW_CHARGE, concat(base, "--path", "/charge?x=1#y"))).as(std.out.toString()).isEqualTo(2);
        assertThat(std.err.toString()).contains("give --path /charge?x=1");
        assertThat(check(ALLOW_CHARGE, concat(base, "--path", "/charge x"))).as(std.out.toString()).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --path: a request target has no space")
                .contains("give --path /charge%20x");
        assertThat(check(ALLOW_CHARGE, concat(base, "--path", "/charge", "--host", "a b"))).as(std.out.toString()).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --host: the proxy refuses it before any policy reads it: Host has a character Envoy refuses (0x20 at 1)");
        assertThat(check(ALLOW_CHARGE, concat(base, "--path", "/charge", "--host", "blocked.example/"))).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --host: the proxy refuses it before any policy reads it: Host has a character Envoy refuses (0x2f at 15)");
        assertThat(check(ALLOW_CHARGE, concat(base, "--path", "/charge", "--host", "backend.prod:8080"))).as(std.err.toString()).isZero();
        // On a port the proxy relays unparsed, neither is refused: left out with the note, as --path's other checks.
        assertThat(check(FROM_FRONTEND, concat(base, "--path", "/charge#x", "--host", "a b"))).as(std.err.toString()).isZero();
        assertThat(std.err.toString()).contains("note: no policy has HTTP fields for port 8080");
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = new String[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    @org.junit.jupiter.api.DisplayName("--dest's port is named as the user typed it (--dest and the port), a usage error: exit 2")
    void aBadDestPortNamesDest() throws Exception {
        assertThat(check(FROM_FRONTEND, "--dest", "prod/backend:99999")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --dest: port 99999 out of range 1..65535" + System.lineSeparator())
                .doesNotContain("destinationPort");
        assertThat(check(FROM_FRONTEND, "--dest", "prod/backend:0")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --dest: port 0 out of range 1..65535");
        assertThat(check(FROM_FRONTEND, "--dest", "prod/backend:http")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --dest: port \"http\" is not a number (NS/WORKLOAD[:PORT])");
        assertThat(check(FROM_FRONTEND, "--dest", "prod/backend", "--source-ip", "10.0.0")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --source-ip: \"10.0.0\" is not an IP address literal");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("with --workloads, the destination IP is the workload's own unless --dest-ip says otherwise (new-user pass: 10.0.0.2 was used)")
    void theDestinationIpIsTheWorkloadsOwn() throws Exception {
        String batchOnly = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: batch-ip, namespace: prod}
                spec:
                  selector: {matchLabels: {app: batch}}
                  rules:
                  - when: [{key: destination.ip, values: [10.0.0.3]}]
                """;
        String[] base = {"--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.1", "--dest", "prod/batch:8080"};
        assertThat(check(batchOnly, base)).as(std.out.toString()).isZero();
        assertThat(std.out.toString()).startsWith("ALLOW by prod/batch-ip");
        assertThat(check(batchOnly, concat(base, "--dest-ip", "10.0.0.9"))).isEqualTo(3);
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a --dest the --workloads registry does not hold names --dest and the workloads it has: exit 2")
    void aDestOutsideTheRegistryNamesDestAndTheChoices() throws Exception {
        assertThat(check(FROM_FRONTEND, "--dest", "prod/nothere:8080")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --dest: workload prod/nothere is not in " + dir.resolve("workloads.yaml")
                + " (it has prod/backend, prod/batch, prod/frontend)" + System.lineSeparator());
    }

    @Test
    @org.junit.jupiter.api.DisplayName("--source in a policy's principal form (no spiffe://) is a usage error that shows the SPIFFE ID to write")
    void aPrincipalWithoutTheSchemeShowsTheSpiffeId() throws Exception {
        assertThat(check(FROM_FRONTEND, "--source", "cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:8080")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --source: \"cluster.local/ns/prod/sa/frontend\" is not a SPIFFE ID: "
                + "write spiffe://cluster.local/ns/prod/sa/frontend");
        // A bare workload name is no principal either: the SPIFFE ID's form, not "spiffe://frontend" (new-user pass).
        assertThat(check(FROM_FRONTEND, "--source", "frontend", "--dest", "prod/backend:8080")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --source: \"frontend\" is not a SPIFFE ID: write the caller's SPIFFE ID, "
                + "spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT (e.g. spiffe://cluster.local/ns/prod/sa/frontend)" + System.lineSeparator());
    }

    /**
     * The proxy parses HTTP only on ports not declared tcp (mesh-core README, L7 enforcement); on a tcp port an
     * ALLOW through rules.http matches nothing at L4. A new-user pass got ALLOW from --method POST --path /charge
     * for such a port, which the proxy refuses.
     */
    @Test
    @org.junit.jupiter.api.DisplayName("on a port declared tcp, --method/--path are left out with a warning and the decision is the proxy's L4 one")
    void httpAttributesOnATcpPortAreDecidedAtL4AsTheProxyDoes() throws Exception {
        String httpOnly = FROM_FRONTEND.replace("- fromEndpoints: [{matchLabels: {app: frontend}}]",
                "- fromEndpoints: [{matchLabels: {app: frontend}}]\n    toPorts: [{ports: [{port: \"8080\", protocol: TCP}], rules: {http: [{method: POST}]}}]");
        String id = "spiffe://cluster.local/ns/prod/sa/frontend";
        String[] request = {"--source", id, "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080", "--method", "POST"};
        assertThat(check(httpOnly, request)).as(std.out.toString()).isZero();   // the control: port 8080 is auto, parsed
        assertThat(std.err.toString()).doesNotContain("is tcp");
        Path p = dir.resolve("policies");
        Path tcp = Files.writeString(dir.resolve("tcp.yaml"), WORKLOADS.replace("labels: {app: backend}}", "labels: {app: backend}, ports: {8080: tcp}}"));
        std.out.reset();
        std.err.reset();
        String[] all = concat(new String[] {"policy", "check", "--policies", p.toString(), "--workloads", tcp.toString()}, request);
        assertThat(Zerohop.run(all)).as(std.out.toString()).isEqualTo(3);
        assertThat(std.out.toString()).startsWith("DENY by prod/from-frontend (CiliumNetworkPolicy ingress, rule 0): port allowed only through rules.http");
        assertThat(std.err.toString()).startsWith("warning: port 8080 of prod/backend is tcp in " + tcp + ": the proxy does not parse HTTP there");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a --dest not in a registry without workloads says the registry has none, not \"(it has )\"")
    void aDestInARegistryWithoutWorkloads() throws Exception {
        Path p = Files.createDirectories(dir.resolve("policies"));
        Files.writeString(p.resolve("p.yaml"), FROM_FRONTEND);
        Path w = Files.writeString(dir.resolve("none.yaml"), "workloads: []\n");
        assertThat(Zerohop.run("policy", "check", "--policies", p.toString(), "--workloads", w.toString(), "--dest", "prod/backend:8080"))
                .isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --dest: workload prod/backend is not in " + w + " (it has no workloads)"
                + System.lineSeparator());
    }

    @Test
    @org.junit.jupiter.api.DisplayName("an empty policy directory still decides (ALLOW by default) and says on stderr that nothing was loaded")
    void anEmptyDirectoryIsNamed() throws Exception {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        std.out.reset();
        std.err.reset();
        assertThat(Zerohop.run("policy", "check", "--policies", empty.toString(), "--dest", "prod/backend:8080")).isZero();
        assertThat(std.out.toString()).startsWith("ALLOW by default");
        assertThat(std.err.toString()).isEqualTo("warning: " + empty + ": no policy loaded from it: it holds no *.yaml, *.yml or *.json"
                + " file; every authenticated peer is allowed until one holds a policy" + System.lineSeparator());
    }

    @Test
    void aMissingPolicyDirectoryIsNamedAsMissing() throws Exception {
        Path nope = dir.resolve("nope");
        std.out.reset();
        std.err.reset();
        assertThat(Zerohop.run("policy", "check", "--policies", nope + "/", "--dest", "prod/backend")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --policies: " + nope + " does not exist" + System.lineSeparator());
    }

    static final String MESH_DENY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-legacy, namespace: istio-system}
            spec:
              action: DENY
              rules:
              - from: [{source: {principals: [cluster.local/ns/prod/sa/frontend]}}]
            """;

    /**
     * A root-namespace typo that is still a namespace name turns a mesh-wide DENY into one for a namespace
     * nobody runs in: the decision says ALLOW (as istiod would decide), and a warning names the likely cause.
     */
    @Test
    void aMistypedRootNamespaceIsNamedWithoutChangingTheDecision() throws Exception {
        String id = "spiffe://cluster.local/ns/prod/sa/frontend";
        assertThat(check(MESH_DENY, "--source", id, "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080")).isEqualTo(3);
        assertThat(std.out.toString()).startsWith("DENY by istio-system/deny-legacy");
        assertThat(std.err.toString()).doesNotContain("root namespace");

        assertThat(check(MESH_DENY, "--source", id, "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080", "--root-namespace", "istio-sytem")).isZero();
        assertThat(std.out.toString()).startsWith("ALLOW by default");
        assertThat(std.err.toString().lines().toList()).contains("warning: root namespace istio-sytem (--root-namespace) holds no"
                + " AuthorizationPolicy or PeerAuthentication, but 1 in istio-system: those apply to their own namespace only,"
                + " not mesh-wide; is the root namespace or their namespace mistyped?");
    }

    /**
     * New-user pass: a DENY with only HTTP fields on an auto port makes the proxy reset every connection whose first
     * bytes are not HTTP (PolicyEngine.evaluateUnparsed, fail closed: mesh-policy README "beyond ztunnel"), but policy
     * check without --method/--path printed only "ALLOW by default" and exited 0. It now prints that connection's
     * decision on a second line and exits 3.
     */
    @Test
    @org.junit.jupiter.api.DisplayName("without HTTP attributes on an auto port, the decision for a non-HTTP connection comes on a second line, exit 3")
    void anOpaqueConnectionOnAnAutoPortIsShownAsTheProxyDecidesIt() throws Exception {
        String[] l4 = {"--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--source-ip", "10.0.0.1", "--dest", "prod/backend:8080"};
        assertThat(check(DENY_ADMIN, l4)).as(std.out.toString()).isEqualTo(3);
        String[] lines = std.out.toString().split(System.lineSeparator());
        assertThat(lines).hasSize(2);
        assertThat(lines[0]).startsWith("ALLOW by default");
        assertThat(lines[1]).startsWith("a connection whose first bytes are not HTTP: DENY by prod/deny-admin (AuthorizationPolicy DENY, rule 0)")
                .contains("(fail closed: port 8080 is auto and a policy decides it per request");
        // An HTTP request the DENY misses: one line, exit 0.
        assertThat(check(DENY_ADMIN, concat(l4, new String[] {"--method", "GET", "--path", "/"}))).isZero();
        assertThat(std.out.toString().split(System.lineSeparator())).hasSize(1);
        // A port declared tcp is never parsed: the proxy decides it at L4 as ztunnel does, one line, exit 0.
        Path p = dir.resolve("policies");
        Path tcp = Files.writeString(dir.resolve("tcp.yaml"), WORKLOADS.replace("labels: {app: backend}}", "labels: {app: backend}, ports: {8080: tcp}}"));
        std.out.reset();
        assertThat(Zerohop.run(concat(new String[] {"policy", "check", "--policies", p.toString(), "--workloads", tcp.toString()}, l4))).isZero();
        assertThat(std.out.toString().split(System.lineSeparator())).hasSize(1);
        // An ALLOW with HTTP fields only: denied at L4 and unparsed alike, but an HTTP request may be allowed: a hint says so.
        std.out.reset();
        Files.writeString(p.resolve("p.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-get, namespace: prod}
                spec:
                  action: ALLOW
                  rules: [{to: [{operation: {methods: [GET]}}]}]
                """);
        assertThat(Zerohop.run(concat(new String[] {"policy", "check", "--policies", p.toString(), "--workloads",
                dir.resolve("workloads.yaml").toString()}, l4))).isEqualTo(3);
        String[] hinted = std.out.toString().split(System.lineSeparator());
        assertThat(hinted).hasSize(2);
        assertThat(hinted[0]).startsWith("DENY by prod/allow-get (AuthorizationPolicy ALLOW, default deny)");
        assertThat(hinted[1]).isEqualTo("an HTTP request: decided per request on port 8080 (a policy has HTTP fields for it):"
                + " give --method/--path (and --host/--header) for its decision");
        std.out.reset();
        assertThat(Zerohop.run(concat(new String[] {"policy", "check", "--policies", p.toString(), "--workloads",
                dir.resolve("workloads.yaml").toString(), "--method", "GET"}, l4))).isZero();
        std.out.reset();
        assertThat(Zerohop.run("policy", "check", "--help")).isZero();
        assertThat(std.out.toString().replaceAll("\\s+", " ")).contains("a connection whose first bytes are not HTTP when it differs")
                .contains("exit 3 when either line denies");
    }
}
