package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HostIP;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodIP;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.Route;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Node addresses from the API server: each node's are the {@code status.hostIPs} (else {@code hostIP})
 * of its pods, which the kubelet writes from the node's own addresses (kubernetes/kubernetes
 * pkg/kubelet/kubelet_pods.go {@code generateAPIPodStatus}). They bind a node proxy's
 * {@code forwarded: for=} claims to the claimed pod's node (mesh-core {@code TunnelSource}); before,
 * {@code --kubernetes} filled no node address, so a peer holding a service account's key could name
 * any pod of that service account on any node. fabric8's CRUD mock is the API server, over its real
 * list/watch protocol.
 */
class KubernetesNodeAddressesTest {

    static PodBuilder withHostIps(PodBuilder p, String... hostIps) {
        List<HostIP> ips = new ArrayList<>();
        for (String ip : hostIps) {
            ips.add(new HostIP(ip));
        }
        return p.editStatus().withHostIP(hostIps[0]).withHostIPs(ips).endStatus();
    }

    static InetAddress ip(String s) throws Exception {
        return InetAddress.getByName(s);
    }

    @Test
    @DisplayName("each node's addresses are its pods' status.hostIPs (dual stack), else hostIP; host-network pods count, "
            + "pending pods without one and terminal pods do not; an address change and the last pod's deletion follow")
    void nodeAddressesFollowThePodsHostIps() throws Exception {
        WorkloadRegistry registry = WorkloadRegistry.empty();
        try (CapturedStderr err = new CapturedStderr(); MockCluster k8s = new MockCluster()) {
            k8s.client.resource(namespace("prod", Map.of("istio.io/dataplane-mode", "ambient"))).create();
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry)
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            d.synced().get(30, TimeUnit.SECONDS);

            // Kubernetes 1.28+: hostIPs has both families of a dual-stack node.
            k8s.create(withHostIps(pod("prod", "web", "node-b", "web", Map.of(), "10.0.1.2", "fd00:1::2"),
                    "10.0.0.2", "fd00::2").build());
            // Before 1.28 (or the PodHostIPs gate off): hostIP alone, the primary family.
            k8s.create(pod("prod", "db", "node-c", "db", Map.of(), "10.0.1.3")
                    .editStatus().withHostIP("10.0.0.3").endStatus().build());
            // The node proxy's own pod: host network, no workload, but its node's address.
            k8s.create(withHostIps(pod("zerohop-system", "zerohop-node-d", "node-d", "zerohop-node", Map.of(), "10.0.0.4")
                    .editSpec().withHostNetwork(true).endSpec(), "10.0.0.4").build());
            // Scheduled, not started: neither a pod IP nor a host IP yet.
            k8s.create(pod("prod", "pending", "node-e", "web", Map.of())
                    .editStatus().withPhase("Pending").withPodIPs(List.<PodIP>of()).endStatus().build());
            // A finished Job pod keeps the hostIP of when it ran.
            k8s.create(withHostIps(pod("prod", "job", "node-f", "job", Map.of(), "10.0.1.6")
                    .editStatus().withPhase("Succeeded").endStatus(), "10.0.0.6").build());
            // Not an IP literal (the API server validates hostIPs; a mock does not): left out, one WARN.
            k8s.create(withHostIps(pod("prod", "odd", "node-h", "web", Map.of(), "10.0.1.8"), "10.0.0.o8", "10.0.0.8").build());
            k8s.create(withHostIps(pod("prod", "sync-marker", "node-g", "web", Map.of(), "10.0.1.7"), "10.0.0.7").build());
            // Pod events arrive in order and a node's addresses install with its pods, in one replace.
            await(d, "every pod seen", () -> registry.byAddress(addr("10.0.1.7")).isPresent());

            assertThat(registry.nodeAddresses("node-b")).containsExactly(ip("10.0.0.2"), ip("fd00::2"));
            assertThat(registry.nodeAddresses("node-c")).containsExactly(ip("10.0.0.3"));
            assertThat(registry.nodeAddresses("node-d")).containsExactly(ip("10.0.0.4"));
            assertThat(registry.byAddress(ip("10.0.0.4"))).as("a host-network pod is no workload").isEmpty();
            assertThat(registry.nodeAddresses("node-e")).isEmpty();
            assertThat(registry.nodeAddresses("node-f")).as("a terminal pod's hostIP is history").isEmpty();
            assertThat(registry.nodeAddresses("node-h")).containsExactly(ip("10.0.0.8"));
            assertThat(err.awaitLine("WARN", "not a node address, left out: Pod/prod/odd: status.hostIPs")).contains("10.0.0.o8");

            // The node's address changes: the kubelet rewrites hostIP at the pod's next status update.
            Pod db = k8s.client.pods().inNamespace("prod").withName("db").get();
            db.getStatus().setHostIP("10.0.0.33");
            k8s.client.resource(db).update();
            await(d, "node-c's new address", () -> registry.nodeAddresses("node-c").equals(List.of(addr("10.0.0.33"))));

            // A second pod on node-b reporting the same addresses changes nothing; the last one leaving empties the node.
            k8s.client.pods().inNamespace("prod").withName("web").delete();
            await(d, "node-b without pods", () -> registry.nodeAddresses("node-b").isEmpty());
            assertThat(registry.nodeAddresses("node-c")).containsExactly(ip("10.0.0.33"));
            assertThat(err.count("not a node address")).as("once, not at every install").isEqualTo(1);
        }
    }

    @Test
    @DisplayName("nodeAddresses(false): no node gets an address (claims believed on identity alone, as before), and no self-check")
    void optedOut() throws Exception {
        WorkloadRegistry registry = WorkloadRegistry.empty();
        try (CapturedStderr err = new CapturedStderr(); MockCluster k8s = new MockCluster()) {
            KubernetesDiscovery d = twoNodes(k8s, registry, false);
            await(d, "remote pod known", () -> registry.byAddress(addr("127.0.0.30")).isPresent());
            assertThat(registry.nodeAddresses("node-a")).isEmpty();
            assertThat(registry.nodeAddresses("node-b")).isEmpty();
            assertThat(err.count("this node's proxy reaches")).isZero();
        }
    }

    /**
     * node-a's proxy pod (host network, hostIP 127.0.0.29, which no loopback route picks as its source)
     * and a pod on node-b at 127.0.0.30; node-a's discovery, synced.
     */
    static KubernetesDiscovery twoNodes(MockCluster k8s, WorkloadRegistry registry, boolean nodeAddresses) throws Exception {
        k8s.client.resource(namespace("prod", Map.of("istio.io/dataplane-mode", "ambient"))).create();
        k8s.create(withHostIps(pod("zerohop-system", "zerohop-node-a", "node-a", "zerohop-node", Map.of(), "127.0.0.29")
                .editSpec().withHostNetwork(true).endSpec(), "127.0.0.29").build());
        k8s.create(withHostIps(pod("prod", "remote", "node-b", "web", Map.of(), "127.0.0.30"), "127.0.0.31").build());
        KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry)
                .nodeAddresses(nodeAddresses).debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
        d.synced().get(30, TimeUnit.SECONDS);
        return d;
    }

    static InetAddress addr(String s) {
        try {
            return InetAddress.getByName(s);
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * CrossNodeSourceTest's node binding, with the registry from the API server: node proxy B (a real
     * Mesh wired by {@link KubernetesDiscovery#forNode}, in-memory CA, HBONE on loopback) guards the
     * backend pod with a CiliumNetworkPolicy admitting {@code app: frontend}. Two pods of service
     * account frontend, on node-a (hostIP 127.0.0.1, where every tunnel of this test comes from, as
     * a node proxy's from its host address) and on node-d (hostIP 127.0.0.28). A tunnel with
     * frontend's SVID naming node-d's pod in {@code forwarded: for=} is not believed (its labels stay
     * unknown: Cilium's allow fails closed, 401); naming node-a's pod, it is (200). Once node-d's
     * pods report 127.0.0.1 too, the claim of node-d's pod is believed from there.
     */
    @Test
    @DisplayName("--kubernetes: a forwarded for= naming a pod on another node is not believed from this node's address; "
            + "the right node's claim is, and a node address change is followed")
    void aClaimIsBelievedOnlyFromTheClaimedPodsNode() throws Exception {
        InetAddress backendIp = ip("127.0.0.24");
        String nodeA = "127.0.0.1";
        String nodeD = "127.0.0.28";
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (CapturedStderr err = new CapturedStderr(); MockCluster k8s = new MockCluster();
             NodeProxyServingTest.Echo app = new NodeProxyServingTest.Echo(backendIp)) {
            k8s.client.resource(namespace("prod", Map.of("istio.io/dataplane-mode", "ambient"))).create();
            k8s.create(withHostIps(pod("prod", "backend", "node-b", "backend", Map.of("app", "backend"),
                    backendIp.getHostAddress()), nodeA).build()); // node-b's proxy dials from its node IP too: no overlay
            k8s.create(withHostIps(pod("prod", "frontend-a", "node-a", "frontend", Map.of("app", "frontend"), "127.0.0.25"),
                    nodeA).build());
            k8s.create(withHostIps(pod("prod", "frontend-d", "node-d", "frontend", Map.of("app", "frontend"), "127.0.0.26"),
                    nodeD).build());
            k8s.apply("""
                    apiVersion: cilium.io/v2
                    kind: CiliumNetworkPolicy
                    metadata: {name: backend, namespace: prod}
                    spec:
                      endpointSelector: {matchLabels: {app: backend}}
                      ingress:
                      - fromEndpoints: [{matchLabels: {app: frontend}}]
                    """);
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-b")
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            d.synced().get(30, TimeUnit.SECONDS);
            await(d, "pods known (their nodes' addresses install with them)", () -> d.registry().all().size() == 3);

            Mesh proxy = k8s.closeLater(d.applyTo(Mesh.builder()).identityProvider(ca)
                    .inbound(new InetSocketAddress(ip("0.0.0.0"), 0)).threads(1).build());
            proxy.start().get(10, TimeUnit.SECONDS);
            Workload backend = d.registry().byAddress(backendIp).orElseThrow();
            Workload frontendA = d.registry().byAddress(ip("127.0.0.25")).orElseThrow();
            // Node A's proxy: it tunnels from 127.0.0.1 (the loopback route's source), with frontend's SVID.
            Mesh nodeAProxy = k8s.closeLater(Mesh.builder().identityProvider(ca).threads(1).build());
            Route toB = new Route(new InetSocketAddress(backendIp, proxy.inboundAddress().getPort()),
                    Set.of(backend.identity()), Map.of());
            InetSocketAddress target = new InetSocketAddress(backendIp, app.socket.getLocalPort());

            // Only a believed claim gives the tunnel frontend's labels, which the allow needs (the access
            // log, which names the source workload, is at INFO: below these tests' WARN level).
            assertThat(connectClaiming(nodeAProxy, frontendA, toB, target, "for=\"127.0.0.25:40000\""))
                    .as("frontend-a's claim from its own node's address").isEqualTo(200);

            assertThat(connectClaiming(nodeAProxy, frontendA, toB, target, "for=\"127.0.0.26:40000\""))
                    .as("frontend-d (node-d, 127.0.0.28) claimed from node-a's 127.0.0.1: same identity, not its node").isEqualTo(401);
            assertThat(err.awaitLine("untrusted forwarded claim from 127.0.0.1:", "for=127.0.0.26")).contains(
                    "is prod/frontend-d", "on node node-d, whose proxy dials from 127.0.0.28");

            // node-d's address changes to the one the tunnels come from: its pod's status follows, and so does the binding.
            Pod fd = k8s.client.pods().inNamespace("prod").withName("frontend-d").get();
            fd.getStatus().setHostIP(nodeA);
            fd.getStatus().setHostIPs(List.of(new HostIP(nodeA)));
            k8s.client.resource(fd).update();
            await(d, "node-d's new address", () -> d.registry().nodeAddresses("node-d").equals(List.of(addr(nodeA))));
            assertThat(connectClaiming(nodeAProxy, frontendA, toB, target, "for=\"127.0.0.26:40000\""))
                    .as("frontend-d's claim once node-d is at 127.0.0.1").isEqualTo(200);
        } finally {
            ca.close();
        }
    }

    /**
     * The node proxy asks the kernel which source address it would dial another node's pod from (a
     * UDP connect, no packet sent). Here every loopback route's source is 127.0.0.1: with node-a's
     * pods reporting hostIP 127.0.0.29 (as an overlay's interface address would differ from the node
     * IP) it warns once, naming both; once they report 127.0.0.1 the check finds nothing.
     */
    @Test
    @DisplayName("a node proxy warns when it reaches other nodes' pods from an address its own pods' hostIPs do not name (overlay CNIs)")
    void warnsWhenItsOwnSourceAddressIsNotItsNodes() throws Exception {
        WorkloadRegistry registry = WorkloadRegistry.empty();
        try (CapturedStderr err = new CapturedStderr(); MockCluster k8s = new MockCluster()) {
            KubernetesDiscovery d = twoNodes(k8s, registry, true);
            assertThat(err.awaitLine("WARN", "this node's proxy reaches pods on other nodes (such as 127.0.0.30) from 127.0.0.1"))
                    .contains("not an address of node node-a in its pods' status.hostIPs ([127.0.0.29])",
                            "forwarded claims are NOT bound to the claimed pod's node");
            assertThat(new io.zerohop.kubernetes.internal.SourceAddressCheck("node-a").check(registry, List.of(addr("127.0.0.29"))))
                    .containsExactly(addr("127.0.0.1"));
            // An overlay: binding claims to hostIPs would refuse every cross-node claim, so no node gets an address.
            assertThat(registry.nodeAddresses("node-a")).as("node-a unbound on an overlay").isEmpty();
            assertThat(registry.nodeAddresses("node-b")).as("node-b unbound on an overlay").isEmpty();

            Pod self = k8s.client.pods().inNamespace("zerohop-system").withName("zerohop-node-a").get();
            self.getStatus().setHostIP("127.0.0.1");
            self.getStatus().setHostIPs(List.of(new HostIP("127.0.0.1")));
            k8s.client.resource(self).update();
            await(d, "node-a at 127.0.0.1", () -> registry.nodeAddresses("node-a").equals(List.of(addr("127.0.0.1"))));
            assertThat(registry.nodeAddresses("node-b")).as("bound again once this proxy dials from its node's address")
                    .isNotEmpty();
            assertThat(new io.zerohop.kubernetes.internal.SourceAddressCheck("node-a").check(registry, List.of(addr("127.0.0.1"))))
                    .isEmpty();
        }
    }

    /**
     * The route to this node's own pods is checked too (an operator pass): on a single-node cluster whose local-pod
     * route leaves from an address its pods' hostIPs do not name (a bridge CNI's cni0, cilium_host; here loopback's
     * 127.0.0.1 against hostIP 127.0.0.29), the proxy's tunnels to its own pods carried claims its own inbound did not
     * believe, and every label or ipBlocks rule between them denied. Now it warns and the binding is off, as on an overlay.
     */
    @Test
    @DisplayName("a node proxy whose route to its own node's pods leaves from an address outside hostIPs warns and binds no claims")
    void aLocalPodRouteOutsideHostIpsTurnsTheBindingOff() throws Exception {
        WorkloadRegistry registry = WorkloadRegistry.empty();
        try (CapturedStderr err = new CapturedStderr(); MockCluster k8s = new MockCluster()) {
            k8s.client.resource(namespace("prod", Map.of("istio.io/dataplane-mode", "ambient"))).create();
            k8s.create(withHostIps(pod("prod", "local", "node-a", "web", Map.of(), "127.0.0.32"), "127.0.0.29").build());
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry)
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            d.synced().get(30, TimeUnit.SECONDS);
            assertThat(err.awaitLine("WARN", "this node's proxy reaches its own node's pods (such as 127.0.0.32) from 127.0.0.1"))
                    .contains("not an address of node node-a in its pods' status.hostIPs ([127.0.0.29])");
            assertThat(new io.zerohop.kubernetes.internal.SourceAddressCheck("node-a").check(registry, List.of(addr("127.0.0.29"))))
                    .containsExactly(addr("127.0.0.1"));
            assertThat(registry.nodeAddresses("node-a")).as("unbound").isEmpty();
        }
    }

    /** A tunnel as {@code source}'s identity with {@code forwarded} set; the refusal's status, or 200. */
    static int connectClaiming(Mesh from, Workload source, Route route, InetSocketAddress target, String forwarded)
            throws Exception {
        Route claiming = new Route(route.hboneAddress(), route.expectedIdentities(), Map.of("forwarded", forwarded));
        try {
            HboneStream s = from.connect(source.identity(), target, claiming).get(10, TimeUnit.SECONDS);
            s.close();
            return 200;
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(HboneRefusedException.class);
            return ((HboneRefusedException) e.getCause()).status();
        }
    }
}
