package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.MtlsMode;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
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
 * istiod's ambient index scenario {@code TestAmbientIndex_Policy} (istio/istio
 * pilot/pkg/serviceregistry/ambient/ambientindex_test.go, 86c9f01f) replayed against fabric8's CRUD mock API server: pods
 * and PeerAuthentications / AuthorizationPolicies created, updated and deleted over the list/watch protocol, and for each
 * step of upstream's the workload policies istiod sends ztunnel read as the mTLS mode per port: the static STRICT policy
 * ({@code istio_converted_static_strict}) is STRICT on every port, no policy PERMISSIVE on every port, and a converted
 * workload PeerAuthentication its ports' modes (authorization.go {@code convertPeerAuthentication}). The workloads are
 * the registry's, built from the pods (their labels, namespace and service account), not hand-made refs.
 */
@Timeout(120)
class AmbientIndexPolicyParityTest {
    static final String ROOT = "istio-system";
    static final String NS = "ns1";

    MockCluster k8s;
    KubernetesDiscovery d;
    final WorkloadRegistry registry = WorkloadRegistry.empty();
    final PolicyEngine engine = PolicyEngine.builder().rootNamespace(ROOT).build();

    @BeforeEach
    void start() throws Exception {
        k8s = new MockCluster();
        k8s.client.resource(namespace(NS, Map.of("istio.io/dataplane-mode", "ambient"))).create();
        k8s.client.resource(namespace(ROOT, Map.of())).create();
        d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry).policies(engine)
                .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
        d.synced().get(20, TimeUnit.SECONDS);
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

    /** The mode on 8080 and on 9090 of the pod at {@code address}, as "8080/9090" ("S" STRICT, "P" PERMISSIVE). */
    String modes(String address) {
        Optional<Workload> w = at(address);
        if (w.isEmpty()) {
            return "absent";
        }
        WorkloadRef ref = w.get().ref();
        return letter(engine.mtlsMode(ref, 8080)) + "/" + letter(engine.mtlsMode(ref, 9090));
    }

    static String letter(MtlsMode m) {
        return m == MtlsMode.STRICT ? "S" : m == MtlsMode.PERMISSIVE ? "P" : m.name();
    }

    void awaitModes(String address, String want) throws Exception {
        await(d, address + " at " + want, () -> want.equals(modes(address)));
    }

    void pa(String name, String ns, String selectorApp, String mtls, String portLevel) {
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: %s, namespace: %s}
                spec: {%s%s%s}
                """.formatted(name, ns,
                selectorApp == null ? "" : "selector: {matchLabels: {app: " + selectorApp + "}}, ",
                mtls == null ? "" : "mtls: {mode: " + mtls + "}, ",
                portLevel == null ? "" : "portLevelMtls: {" + portLevel + "}"));
    }

    void deletePa(String ns, String name) {
        k8s.delete("security.istio.io/v1", "PeerAuthentication", ns, name);
    }

    void putPod(String name, String app, String ip) {
        Pod live = k8s.client.pods().inNamespace(NS).withName(name).get();
        if (live == null) {
            k8s.create(pod(NS, name, "node-a", "sa1", Map.of("app", app), ip).build());
        } else {
            live.getMetadata().setLabels(Map.of("app", app));
            k8s.client.resource(live).update();
        }
    }

    @Test
    @DisplayName("TestAmbientIndex_Policy, PeerAuthentication steps: mesh, namespace and workload layering, port-level modes, UNSET")
    void peerAuthenticationSteps() throws Exception {
        String pod1 = "127.0.147.1";
        String pod2 = "127.0.147.2";
        putPod("pod1", "a", pod1);
        await(d, "pod1", () -> at(pod1).isPresent());

        pa("global", ROOT, null, "PERMISSIVE", null);
        pa("namespace", NS, null, "STRICT", null);
        // "Should add the static policy to all pods in the ns1 namespace since the effective mode is STRICT"
        awaitModes(pod1, "S/S");

        pa("selector", NS, "a", "STRICT", null);
        // "Expect no event since the effective policy doesn't change"
        awaitModes(pod1, "S/S");

        pa("selector", NS, "a", "PERMISSIVE", null);
        // "Static policy should be removed since it isn't STRICT"
        awaitModes(pod1, "P/P");

        pa("selector", NS, "a", "PERMISSIVE", "9090: {mode: STRICT}");
        // "Selector policy should be added back since there is now a STRICT exception"
        awaitModes(pod1, "P/S");

        // "Pod not in selector policy, but namespace policy should take effect (hence static policy)"
        putPod("pod2", "not-a", pod2);
        awaitModes(pod2, "S/S");
        // "Add it to the policy by updating its selector"
        putPod("pod2", "a", pod2);
        awaitModes(pod2, "P/S");

        // "Add global selector policy; nothing should happen since PeerAuthentication doesn't support global mesh wide
        // selectors"
        pa("global-selector", ROOT, "a", "STRICT", null);
        pa("marker", "other", null, "STRICT", null); // installed after global-selector: once it is in force, so is that
        await(d, "global-selector installed", () -> engine.policies().policies().stream().anyMatch(p -> p.name().equals("marker")));
        assertThat(modes(pod1)).isEqualTo("P/S");
        deletePa(ROOT, "global-selector");

        pa("selector", NS, "a", "PERMISSIVE", "9090: {mode: PERMISSIVE}");
        // "There should be an event since effective policy moves to PERMISSIVE"
        awaitModes(pod1, "P/P");
        awaitModes(pod2, "P/P");

        pa("namespace", NS, null, "PERMISSIVE", null);
        // "All pods have an event ... but still no policies attached"
        await(d, "namespace PERMISSIVE installed", () -> engine.policies().policies().stream()
                .noneMatch(p -> p.name().equals("global-selector")));
        awaitModes(pod1, "P/P");

        pa("selector", NS, "a", "STRICT", null);
        // "Effective mode is STRICT so set policy"
        awaitModes(pod1, "S/S");

        pa("selector", NS, "a", "STRICT", "9090: {mode: PERMISSIVE}");
        awaitModes(pod1, "S/P");

        pa("selector", NS, "a", null, "9090: {mode: STRICT}");
        // "The policy should still be added since the effective policy is PERMISSIVE"
        awaitModes(pod1, "P/S");

        pa("namespace", NS, null, "STRICT", null);
        // "Effective mode is STRICT so set static policy"
        awaitModes(pod1, "S/S");

        pa("selector", NS, "a", null, "9090: {mode: PERMISSIVE}");
        // "There should be no static strict policy because the permissive override should have the strict part in-line"
        awaitModes(pod1, "S/P");

        deletePa(NS, "selector");
        // "Effective policy is still STRICT so the static policy should still be set"
        awaitModes(pod1, "S/S");

        deletePa(NS, "namespace");
        deletePa(ROOT, "global");
        awaitModes(pod1, "P/P");
    }

    @Test
    @DisplayName("TestAmbientIndex_PeerAuthenticationNamespacePolicyChange: a workload UNSET with 9090 PERMISSIVE under a namespace"
            + " STRICT, then the namespace relaxed")
    void peerAuthenticationNamespacePolicyChange() throws Exception {
        String pod1 = "127.0.147.1";
        putPod("pod1", "a", pod1);
        pa("namespace", NS, null, "STRICT", null);
        pa("selector", NS, "a", null, "9090: {mode: PERMISSIVE}");
        // "A workload policy with an unset mode and one permissive port needs an explicit exemption from the namespace's
        // strictness, so it converts to a policy of its own."
        awaitModes(pod1, "S/P");
        pa("namespace", NS, null, "PERMISSIVE", null);
        // "Relax the namespace policy. There is nothing left to exempt the port from, so the conversion produces nothing"
        awaitModes(pod1, "P/P");
    }

    @Test
    @DisplayName("TestPodLifecycleWorkloadGates: a ready pod, an unready one and a Pending one with an IP are workloads (the last"
            + " two no healthy endpoints); a Pending one without an IP is none")
    void podLifecycleWorkloadGates() throws Exception {
        k8s.create(pod(NS, "pod1", "node-a", "sa1", Map.of("app", "a"), "127.0.147.1").build());
        k8s.create(pod(NS, "pod2", "node-a", "sa1", Map.of("app", "a", "other", "label"), "127.0.147.2")
                .editStatus().editFirstCondition().withStatus("False").endCondition().endStatus().build());
        k8s.create(pod(NS, "pod3", "node-a", "sa1", Map.of("app", "other"), "127.0.147.3")
                .editStatus().withPhase("Pending").editFirstCondition().withStatus("False").endCondition().endStatus().build());
        k8s.create(pod(NS, "pod4", "node-a", "sa1", Map.of("app", "another"))
                .editStatus().withPhase("Pending").editFirstCondition().withStatus("False").endCondition().endStatus().build());
        k8s.client.resource(new io.fabric8.kubernetes.api.model.ServiceBuilder().withNewMetadata().withNamespace(NS)
                .withName("svc").endMetadata().withNewSpec().withSelector(Map.of("app", "a")).withClusterIP("10.96.147.1")
                .addNewPort().withPort(80).endPort().endSpec().build()).create();
        await(d, "pods 1-3", () -> at("127.0.147.1").isPresent() && at("127.0.147.2").isPresent()
                && at("127.0.147.3").isPresent() && d.podState(NS, "pod4").isPresent());
        assertThat(registry.all()).extracting(Workload::name).containsExactlyInAnyOrder("pod1", "pod2", "pod3");
        // "Still healthy" / "Unhealthy": of the Service selecting pod1 and pod2, only pod1 is a healthy endpoint.
        await(d, "svc", () -> at("127.0.147.1").map(w -> !w.services().isEmpty()).orElse(false)
                && at("127.0.147.2").map(w -> !w.services().isEmpty()).orElse(false));
        assertThat(at("127.0.147.1").orElseThrow().services().get(0).healthy()).isTrue();
        assertThat(at("127.0.147.2").orElseThrow().services().get(0).healthy()).isFalse();
    }

    /** The names of the endpoints of the Service at {@code vip}, sorted; "absent" without one. */
    String endpointsAt(String vip) {
        try {
            return registry.serviceAt(InetAddress.getByName(vip)).map(s -> registry.endpoints(s).stream().map(Workload::name)
                    .sorted().collect(java.util.stream.Collectors.joining(","))).orElse("absent");
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    void putService(Map<String, String> selector) {
        io.fabric8.kubernetes.api.model.Service svc = new io.fabric8.kubernetes.api.model.ServiceBuilder().withNewMetadata()
                .withNamespace(NS).withName("svc1").endMetadata().withNewSpec().withSelector(selector)
                .withClusterIP("10.96.147.1").addNewPort().withPort(80).endPort().endSpec().build();
        if (k8s.client.services().inNamespace(NS).withName("svc1").get() == null) {
            k8s.client.resource(svc).create();
        } else {
            k8s.client.resource(svc).update();
        }
    }

    void putPod(String name, Map<String, String> labels, String ip) {
        Pod live = k8s.client.pods().inNamespace(NS).withName(name).get();
        if (live == null) {
            k8s.create(pod(NS, name, "node-a", "sa1", labels, ip).build());
        } else {
            live.getMetadata().setLabels(labels);
            k8s.client.resource(live).update();
        }
    }

    @Test
    @DisplayName("TestAmbientIndex_ServiceSelectsCorrectWorkloads: a Service's endpoints follow its selector and its pods' labels")
    void serviceSelectsCorrectWorkloads() throws Exception {
        String vip = "10.96.147.1";
        // "Add 2 pods with the "a" label, and one without."
        putPod("pod1", Map.of("app", "a"), "127.0.147.1");
        putPod("pod2", Map.of("app", "a", "other", "label"), "127.0.147.2");
        putPod("pod3", Map.of("app", "other"), "127.0.147.3");
        // "Now add a service that will select pods with label "a"."
        putService(Map.of("app", "a"));
        await(d, "svc1: pod1, pod2", () -> "pod1,pod2".equals(endpointsAt(vip)));
        // "Add a new pod to the service, we should see it"
        putPod("pod4", Map.of("app", "a"), "127.0.147.4");
        await(d, "svc1: + pod4", () -> "pod1,pod2,pod4".equals(endpointsAt(vip)));
        // "Delete it, should remove from the Service as well"
        k8s.client.pods().inNamespace(NS).withName("pod4").delete();
        await(d, "svc1: - pod4", () -> "pod1,pod2".equals(endpointsAt(vip)) && at("127.0.147.4").isEmpty());
        // "Update Service to have a more restrictive label selector"
        putService(Map.of("app", "a", "other", "label"));
        await(d, "svc1: pod2", () -> "pod2".equals(endpointsAt(vip)));
        // "Update a pod to add it to the service"
        putPod("pod3", Map.of("app", "a", "other", "label"), "127.0.147.3");
        await(d, "svc1: pod2, pod3", () -> "pod2,pod3".equals(endpointsAt(vip)));
        // "And remove it again"
        putPod("pod3", Map.of("app", "a"), "127.0.147.3");
        await(d, "svc1: pod2", () -> "pod2".equals(endpointsAt(vip)));
        // "Delete the service entirely"
        k8s.client.services().inNamespace(NS).withName("svc1").delete();
        await(d, "svc1 gone", () -> "absent".equals(endpointsAt(vip))
                && at("127.0.147.2").map(w -> w.services().isEmpty()).orElse(false));
        assertThat(registry.all()).extracting(Workload::name).containsExactlyInAnyOrder("pod1", "pod2", "pod3");
    }

    static AccessRequest from(WorkloadRef dest, String src, int port) {
        return AccessRequest.builder().sourcePrincipal(src).sourceAddress("127.0.147.99").destinationAddress("127.0.147.1")
                .destinationPort(port).destination(dest).build();
    }

    boolean allowed(String address, String srcPrincipal) {
        return at(address).map(w -> engine.evaluate(from(w.ref(), srcPrincipal, 8080)).allowed()).orElse(false);
    }

    void ap(String name, String ns, String selectorApp, String extra) {
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: %s, namespace: %s}
                spec: {%s%s}
                """.formatted(name, ns, selectorApp == null ? "" : "selector: {matchLabels: {app: " + selectorApp + "}}, ",
                extra == null ? "" : extra));
    }

    @Test
    @DisplayName("TestAmbientIndex_Policy, AuthorizationPolicy steps: a root-namespace selector selects pods of every namespace by"
            + " their labels, a relabelled pod joins it, a gateway-targeted policy never reaches the workload")
    void authorizationPolicySteps() throws Exception {
        String pod1 = "127.0.147.1";
        String pod3 = "127.0.147.3";
        String sa1 = "spiffe://cluster.local/ns/ns1/sa/sa1";
        putPod("pod1", "a", pod1);
        putPod("pod3", "not-a", pod3);
        await(d, "pods", () -> at(pod1).isPresent() && at(pod3).isPresent());
        assertThat(allowed(pod1, sa1)).isTrue();

        // upstream's "global-selector" (root namespace, app: a), made observable as a DENY of everything.
        ap("global-selector", ROOT, "a", "action: DENY, rules: [{}]");
        await(d, "root selector DENY on pod1", () -> !allowed(pod1, sa1));
        assertThat(allowed(pod3, sa1)).as("pod3 is app: not-a").isTrue();
        // "Add it to the policy by updating its selector" (the pod's labels)
        putPod("pod3", "a", pod3);
        await(d, "relabelled pod3 selected", () -> !allowed(pod3, sa1));
        // "Update selector to not select"
        ap("global-selector", ROOT, "not-a", "action: DENY, rules: [{}]");
        await(d, "root selector moved", () -> allowed(pod1, sa1) && allowed(pod3, sa1));

        // "there should be no event for creation of a gateway-targeted policy because we should not configure WDS with a
        // policy when expressed user intent is specifically to have that policy enforced by a gateway"
        ap("gateway-targeted", NS, null, "targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: dummy-waypoint},"
                + " action: DENY, rules: [{}]");
        await(d, "gateway-targeted installed", () -> engine.policies().policies().stream()
                .anyMatch(p -> p.name().equals("gateway-targeted")));
        assertThat(allowed(pod1, sa1)).isTrue();
    }
}
