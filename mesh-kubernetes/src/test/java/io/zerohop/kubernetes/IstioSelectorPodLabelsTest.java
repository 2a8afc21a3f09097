package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.MtlsMode;
import io.zerohop.policy.PolicyEngine;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Istio selectors select a pod by its own labels: istiod's ambient index hands {@code p.Labels} to
 * {@code buildWorkloadPolicies} and {@code fetchPeerAuthentications} (istio/istio pilot/pkg/serviceregistry/ambient/
 * workloads.go, 86c9f01f). A registry workload built from a pod also carries its namespace's labels as Cilium endpoint
 * labels ({@code io.cilium.k8s.namespace.labels.<key>}, for Cilium selectors); an Istio selector on such a key selected
 * the pod through them. The cases follow upstream's {@code TestAmbientIndex_Policy} (ambientindex_test.go): "Pod not in
 * selector policy, but namespace policy should take effect (hence static policy)", and a workload ALLOW next to another.
 * Pods and policies go through fabric8's CRUD mock API server.
 */
@Timeout(120)
class IstioSelectorPodLabelsTest {
    static final String POD1 = "127.0.147.11";

    MockCluster k8s;
    KubernetesDiscovery d;
    final WorkloadRegistry registry = WorkloadRegistry.empty();
    final PolicyEngine engine = PolicyEngine.builder().rootNamespace("istio-system").build();

    @BeforeEach
    void start() throws Exception {
        k8s = new MockCluster();
        k8s.client.resource(namespace("ns1", Map.of("istio.io/dataplane-mode", "ambient", "team", "pay"))).create();
        d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry).policies(engine)
                .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
        d.synced().get(20, TimeUnit.SECONDS);
        k8s.create(pod("ns1", "pod1", "node-a", "sa1", Map.of("app", "a"), POD1).build());
        await(d, "pod1 with its namespace's labels", () -> at(POD1)
                .map(w -> "pay".equals(w.labels().get("io.cilium.k8s.namespace.labels.team"))).orElse(false));
    }

    @AfterEach
    void stop() throws Exception {
        k8s.close();
    }

    Optional<Workload> at(String address) {
        try {
            return registry.byAddress(InetAddress.getByName(address));
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    Workload pod1() {
        return at(POD1).orElseThrow();
    }

    boolean allowed(String principal) {
        return engine.evaluate(AccessRequest.builder().sourcePrincipal(principal).sourceAddress("127.0.147.99")
                .destinationAddress(POD1).destinationPort(8080).destination(pod1().ref()).build()).allowed();
    }

    @Test
    @DisplayName("a workload PERMISSIVE PeerAuthentication on a namespace label in Cilium's form selects no pod: the namespace's STRICT holds")
    void peerAuthenticationOnCiliumNamespaceLabel() throws Exception {
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: namespace, namespace: ns1}
                spec: {mtls: {mode: STRICT}}
                """);
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: selector, namespace: ns1}
                spec:
                  selector: {matchLabels: {io.cilium.k8s.namespace.labels.team: pay}}
                  mtls: {mode: PERMISSIVE}
                """);
        await(d, "both installed", () -> engine.policies().size() == 2);
        assertThat(d.rejectedPolicies()).as("istiod accepts the selector: loaded, with a warning, not rejected").isEmpty();
        // istiod: pod1 does not carry the label, so only the namespace policy applies (the static STRICT policy).
        // Before: PERMISSIVE, plaintext admitted.
        assertThat(engine.mtlsMode(pod1().ref(), 8080)).isEqualTo(MtlsMode.STRICT);

        // The pod's own label selects it, as in istiod.
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: selector, namespace: ns1}
                spec:
                  selector: {matchLabels: {app: a}}
                  mtls: {mode: PERMISSIVE}
                """);
        await(d, "selector on the pod's own label", () -> engine.mtlsMode(pod1().ref(), 8080) == MtlsMode.PERMISSIVE);
    }

    @Test
    @DisplayName("an ALLOW on a namespace label in Cilium's form selects no pod: it does not widen the pod's own ALLOW")
    void authorizationPolicyOnCiliumNamespaceLabel() throws Exception {
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: selector, namespace: ns1}
                spec:
                  selector: {matchLabels: {app: a}}
                  rules: [{from: [{source: {principals: ["cluster.local/ns/ns1/sa/good"]}}]}]
                """);
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: team, namespace: ns1}
                spec:
                  selector: {matchLabels: {io.cilium.k8s.namespace.labels.team: pay}}
                  rules: [{from: [{source: {principals: ["cluster.local/ns/other/sa/other"]}}]}]
                """);
        await(d, "both installed", () -> engine.policies().size() == 2);
        assertThat(allowed("spiffe://cluster.local/ns/ns1/sa/good")).isTrue();
        // istiod attaches only ns1/selector to pod1. Before: ns1/team applied too and admitted other.
        assertThat(allowed("spiffe://cluster.local/ns/other/sa/other")).isFalse();
    }

    @Test
    @DisplayName("Cilium selectors still read the namespace's labels in Cilium's form")
    void ciliumSelectorOnNamespaceLabelUnchanged() throws Exception {
        k8s.apply("""
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: team, namespace: ns1}
                spec:
                  endpointSelector: {matchLabels: {k8s:io.cilium.k8s.namespace.labels.team: pay}}
                  ingress: [{fromEntities: [none]}]
                """);
        await(d, "installed", () -> engine.policies().size() == 1);
        assertThat(allowed("spiffe://cluster.local/ns/ns1/sa/good")).isFalse();
    }

    /**
     * An ALLOW written {@code selector: {}} (no {@code matchLabels}) beside another ALLOW: istiod's ambient index attaches
     * it to no workload ({@code buildWorkloadPolicies} keeps a selector policy only when {@code GetLabelSelector() != nil};
     * scope {@code WORKLOAD_SELECTOR}), so ztunnel decides by the other alone. {@code selector: {matchLabels: {}}} is a
     * non-nil empty map, attached to every workload of the namespace (krt {@code FilterSelects}: an empty selector matches).
     */
    @Test
    @DisplayName("an ALLOW with selector: {} does not widen another ALLOW (ztunnel: attached to no workload); alone it still applies")
    void bareSelectorAllowBesideAnotherAllow() throws Exception {
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: selector, namespace: ns1}
                spec:
                  selector: {matchLabels: {app: a}}
                  rules: [{from: [{source: {principals: ["cluster.local/ns/ns1/sa/good"]}}]}]
                """);
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: all, namespace: ns1}
                spec:
                  selector: {}
                  rules: [{from: [{source: {namespaces: [other]}}]}]
                """);
        await(d, "both installed", () -> engine.policies().size() == 2);
        assertThat(allowed("spiffe://cluster.local/ns/ns1/sa/good")).isTrue();
        // Before: ns1/all applied too and admitted the namespace other.
        assertThat(allowed("spiffe://cluster.local/ns/other/sa/x")).isFalse();

        // Alone (the other ALLOW gone) it is read as written: its callers only (ztunnel would leave pod1 open).
        k8s.delete("security.istio.io/v1", "AuthorizationPolicy", "ns1", "selector");
        await(d, "selector: {} alone", () -> engine.policies().size() == 1);
        assertThat(allowed("spiffe://cluster.local/ns/other/sa/x")).isTrue();
        assertThat(allowed("spiffe://cluster.local/ns/ns1/sa/good")).isFalse();

        // matchLabels: {} is attached to every workload upstream: beside another ALLOW it widens it there too.
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: selector, namespace: ns1}
                spec:
                  selector: {matchLabels: {app: a}}
                  rules: [{from: [{source: {principals: ["cluster.local/ns/ns1/sa/good"]}}]}]
                """);
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: all, namespace: ns1}
                spec:
                  selector: {matchLabels: {}}
                  rules: [{from: [{source: {namespaces: [other]}}]}]
                """);
        await(d, "matchLabels: {} applies beside the other ALLOW", () -> allowed("spiffe://cluster.local/ns/ns1/sa/good")
                && allowed("spiffe://cluster.local/ns/other/sa/x"));
    }
}
