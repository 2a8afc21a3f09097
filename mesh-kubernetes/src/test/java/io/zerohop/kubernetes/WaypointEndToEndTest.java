package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Capture;
import io.zerohop.core.GatewayAddress;
import io.zerohop.core.Mesh;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * A waypoint end to end in Kubernetes mode: the mock API server holds what {@code istioctl waypoint apply -n app
 * --enroll-namespace} and istiod's deployment controller leave in a cluster (istio/istio istioctl/pkg/waypoint/waypoint.go
 * {@code makeGateway}: the Gateway {@code waypoint} of class {@code istio-waypoint} with one listener {@code mesh} HBONE on
 * 15008 and no {@code istio.io/waypoint-for}; pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go
 * {@code extractServicePorts} and manifests/.../files/waypoint.yaml: the waypoint's Service with ports {@code status-port}
 * 15021 and {@code mesh} 15008, its pod labelled {@code istio.io/dataplane-mode: none} and
 * {@code gateway.networking.k8s.io/gateway-name: waypoint}; pilot/pkg/config/kube/gateway/conversion.go: the waypoint class
 * reports both addresses, the ClusterIP then {@code waypoint.app.svc.cluster.local}), the namespace labelled
 * {@code istio.io/use-waypoint: waypoint}, and a Service {@code backend} with its pod on another node.
 *
 * <p>Node A's proxy ({@link KubernetesDiscovery#forNode}, a forward capture standing in for its redirection) relays a
 * client pod's connection to the backend's VIP; node B's proxy serves the backend pod (its policies from the API server).
 * The waypoint's Envoy is a recording HBONE acceptor presenting the waypoint's SPIFFE identity that forwards each stream
 * to the backend pod through a zerohop mesh of the waypoint's identity, dialling from the waypoint pod's address.
 *
 * <p>Two things differ from a cluster, both because these tests may use ports 51900-51999 only: the waypoint Service's
 * {@code mesh} port targets 51910 (istiod's template leaves targetPort to default to 15008), and node B's proxy listens
 * on 127.0.250.2:51902 where ztunnel listens on the pod's 15008, so node A's proxy and the waypoint use a copy of node
 * A's registry, refreshed on every install, that adds only where node B's pods are dialled (the workloads and Services,
 * with the waypoints mesh-kubernetes set, are the discovery's own instances). Sockets on 127.0.250.x only.
 */
class WaypointEndToEndTest {
    static final String TD = "cluster.local";
    static final SpiffeId CLIENT = SpiffeIds.istio(TD, "front", "client");
    static final SpiffeId WAYPOINT = SpiffeIds.istio(TD, "app", "waypoint");
    static final GatewayAddress WAYPOINT_ADDRESS = GatewayAddress.of("app", "waypoint.app.svc.cluster.local");

    static InetAddress ip(String s) {
        try {
            return InetAddress.getByName(s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static final InetAddress CLIENT_IP = ip("127.0.250.3");
    static final InetAddress BACKEND_IP = ip("127.0.250.2");
    static final InetAddress WAYPOINT_IP = ip("127.0.250.10");
    static final InetAddress VIP = ip("127.0.250.100");
    static final InetAddress WAYPOINT_VIP = ip("127.0.250.101");
    static final InetSocketAddress BACKEND_APP = new InetSocketAddress(BACKEND_IP, 51901);
    static final InetSocketAddress NODE_B = new InetSocketAddress(BACKEND_IP, 51902);
    static final int WAYPOINT_PORT = 51910;

    /** The recording waypoint: each CONNECT it accepted, and each onward leg that failed. */
    final List<TunnelInfo> atWaypoint = new CopyOnWriteArrayList<>();
    final List<Throwable> onwardFailures = new CopyOnWriteArrayList<>();
    final AtomicInteger backendAccepted = new AtomicInteger();

    @Test
    @DisplayName("istioctl's waypoint for a labelled namespace: the VIP reaches the waypoint (authority VIP:port, the waypoint's"
            + " identity verified), whose own tunnel to the pod is accepted; an ALLOW for the waypoint's principal admits it and"
            + " denies the client direct; without the namespace label traffic goes direct")
    void aNamespaceWaypointEndToEnd() throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        MeshTls waypointTls = MeshTls.builder(ca).build();
        HboneServerSocket waypointSockets = new HboneServerSocket();
        SimpleMeterRegistry nodeBMetrics = new SimpleMeterRegistry();
        try (MockCluster k8s = new MockCluster(); ServerSocket app = backendApp()) {
            k8s.client.resource(namespace("front", Map.of("kubernetes.io/metadata.name", "front",
                    "istio.io/dataplane-mode", "ambient"))).create();
            k8s.client.resource(namespace("app", appLabels(true))).create();
            k8s.apply(WaypointManifestsTest.ISTIO_WAYPOINT_CLASS);
            // istioctl waypoint generate -n app, with the status the deployment controller writes once the pod is ready.
            k8s.apply("""
                    apiVersion: gateway.networking.k8s.io/v1
                    kind: Gateway
                    metadata: {name: waypoint, namespace: app}
                    spec:
                      gatewayClassName: istio-waypoint
                      listeners:
                      - {name: mesh, port: 15008, protocol: HBONE}
                    status:
                      addresses:
                      - {type: IPAddress, value: '%s'}
                      - {type: Hostname, value: waypoint.app.svc.cluster.local}
                    """.formatted(WAYPOINT_VIP.getHostAddress()));
            Map<String, String> gatewayLabels = Map.of("gateway.networking.k8s.io/gateway-name", "waypoint",
                    "gateway.networking.k8s.io/gateway-class-name", "istio-waypoint");
            Map<String, String> serviceLabels = new HashMap<>(gatewayLabels);
            serviceLabels.put("gateway.istio.io/managed", "istio.io-mesh-controller");
            k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("app").withName("waypoint")
                    .withLabels(serviceLabels).endMetadata()
                    .withNewSpec().withType("ClusterIP").withClusterIP(WAYPOINT_VIP.getHostAddress())
                    .withSelector(Map.of("gateway.networking.k8s.io/gateway-name", "waypoint"))
                    .addNewPort().withName("status-port").withPort(15021).withProtocol("TCP").withAppProtocol("tcp").endPort()
                    .addNewPort().withName("mesh").withPort(15008).withTargetPort(new IntOrString(WAYPOINT_PORT))
                    .withProtocol("TCP").withAppProtocol("hbone").endPort()
                    .endSpec().build()).create();
            Map<String, String> waypointPodLabels = new HashMap<>(gatewayLabels);
            waypointPodLabels.putAll(Map.of("istio.io/dataplane-mode", "none", "sidecar.istio.io/inject", "false",
                    "service.istio.io/canonical-name", "waypoint", "service.istio.io/canonical-revision", "latest"));
            waypointPodLabels.put("pod-template-hash", "5d9c8b7f6");
            // The Deployment's pod (its ReplicaSet's): telemetry names the workload "waypoint", as istiod's workloadName.
            k8s.create(pod("app", "waypoint-5d9c8b7f6-x2x4q", "node-a", "waypoint", waypointPodLabels, WAYPOINT_IP.getHostAddress())
                    .editMetadata().withGenerateName("waypoint-5d9c8b7f6-").addNewOwnerReference().withApiVersion("apps/v1")
                    .withKind("ReplicaSet").withName("waypoint-5d9c8b7f6").withUid("rs-uid").withController(true).endOwnerReference()
                    .endMetadata().build());
            k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("app").withName("backend").endMetadata()
                    .withNewSpec().withClusterIP(VIP.getHostAddress()).withSelector(Map.of("app", "backend"))
                    .addNewPort().withName("http").withPort(80).withTargetPort(new IntOrString(BACKEND_APP.getPort()))
                    .withProtocol("TCP").endPort().endSpec().build()).create();
            k8s.create(pod("app", "backend-7c6b9d-q8r2s", "node-b", "backend", Map.of("app", "backend"),
                    BACKEND_IP.getHostAddress()).build());
            k8s.create(pod("front", "client-6f7d-k2m9p", "node-a", "client", Map.of("app", "client"),
                    CLIENT_IP.getHostAddress()).build());

            KubernetesDiscovery nodeA = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a")
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            PolicyEngine nodeBPolicies = PolicyEngine.builder().rootNamespace("istio-system").build();
            KubernetesDiscovery nodeB = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-b").policies(nodeBPolicies)
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            nodeA.synced().get(30, TimeUnit.SECONDS);
            nodeB.synced().get(30, TimeUnit.SECONDS);
            await(nodeA, "the backend's Service with its waypoint, the waypoint's Service with its pod", () ->
                    nodeA.registry().serviceAt(VIP).map(s -> WAYPOINT_ADDRESS.equals(s.waypoint())).orElse(false)
                            && nodeA.registry().serviceAt(WAYPOINT_VIP).map(s -> nodeA.registry().endpoints(s).size() == 1).orElse(false)
                            && nodeA.registry().byAddress(CLIENT_IP).isPresent() && nodeA.registry().byAddress(BACKEND_IP).isPresent());
            // What mesh-kubernetes made of istiod's objects: the waypoint's own Service and pod use no waypoint.
            assertThat(nodeA.registry().serviceAt(WAYPOINT_VIP).orElseThrow().waypoint()).isNull();
            assertThat(nodeA.registry().byAddress(WAYPOINT_IP).orElseThrow().waypoint()).isNull();
            assertThat(nodeA.registry().byAddress(BACKEND_IP).orElseThrow().waypoint()).as("waypoint-for: service (the default)")
                    .isNull();

            WorkloadRegistry view = WorkloadRegistry.empty();
            Runnable mirror = () -> view.replace(nodeA.registry().all(), Map.of("node-b", NODE_B), Map.of(),
                    nodeA.registry().services());
            k8s.closeLater(nodeA.onInstalled(mirror));
            mirror.run();

            Mesh nodeBProxy = k8s.closeLater(nodeB.applyTo(Mesh.builder()).identityProvider(ca).inbound(NODE_B)
                    .meterRegistry(nodeBMetrics).threads(1).build());
            nodeBProxy.start().get(10, TimeUnit.SECONDS);
            Mesh nodeAProxy = k8s.closeLater(nodeA.applyTo(Mesh.builder()).workloads(view).identityProvider(ca)
                    .identity(SpiffeIds.istio(TD, "istio-system", "ztunnel")).threads(1).build());
            InetSocketAddress via = nodeAProxy.capture(Capture.forward(new InetSocketAddress(ip("127.0.250.1"), 51920),
                    new InetSocketAddress(VIP, 80)));
            Mesh waypointMesh = k8s.closeLater(Mesh.builder().identityProvider(ca).identity(WAYPOINT).workloads(view)
                    .localAddress(WAYPOINT_IP).threads(1).build());
            HboneServer waypointServer = k8s.closeLater(HboneServer.builder().tls(waypointTls).identity(WAYPOINT)
                    .bind(new InetSocketAddress(WAYPOINT_IP, WAYPOINT_PORT))
                    .destinations((d, id, l) -> Destination.embedded(waypointSockets))
                    .authorizer(Authorizer.allowAll()).threads(1).build());
            waypointServer.start().get(10, TimeUnit.SECONDS);
            startWaypoint(waypointSockets, waypointMesh);

            // 1. Through the waypoint.
            assertThat(read(via)).isEqualTo("backend");
            TunnelInfo t = lastAtWaypoint(0);
            assertThat(t.destination()).as("CONNECT authority: the VIP and port dialled").isEqualTo(new InetSocketAddress(VIP, 80));
            assertThat(t.peerIdentity()).as("the client pod's identity, which node A's proxy presented").isEqualTo(CLIENT);
            assertThat(t.headers().get("forwarded")).isEqualTo("for=\"" + CLIENT_IP.getHostAddress() + ":" + lastClientPort
                    + "\";host=backend.app.svc.cluster.local");
            assertThat(onwardFailures).as("the waypoint's own tunnel to the pod").isEmpty();
            assertThat(backendAccepted.get()).isEqualTo(1);
            // Node B's proxy accepted the waypoint's tunnel: the waypoint pod is its source.
            assertThat(opened(nodeBMetrics)).containsEntry("source_principal", WAYPOINT.toString())
                    .containsEntry("source_workload", "waypoint").containsEntry("destination_workload", "backend-7c6b9d-q8r2s");

            // 2. Istio's recommended pattern: the backend admits its waypoint only. Via the waypoint: still allowed.
            k8s.apply("""
                    apiVersion: security.istio.io/v1
                    kind: AuthorizationPolicy
                    metadata: {name: backend-from-waypoint, namespace: app}
                    spec:
                      selector: {matchLabels: {app: backend}}
                      action: ALLOW
                      rules:
                      - from:
                        - source: {principals: [cluster.local/ns/app/sa/waypoint]}
                    """);
            await(nodeB, "the ALLOW in force", () -> !allowed(nodeBPolicies, CLIENT) && allowed(nodeBPolicies, WAYPOINT));
            assertThat(read(via)).isEqualTo("backend");
            assertThat(atWaypoint).hasSize(2);
            assertThat(backendAccepted.get()).isEqualTo(2);

            // 3. Without the namespace label the Service has no waypoint: direct, and the client is denied by that ALLOW.
            k8s.client.namespaces().withName("app").edit(n -> {
                n.getMetadata().setLabels(appLabels(false));
                return n;
            });
            await(nodeA, "the backend's Service without waypoint", () -> view.serviceAt(VIP).map(s -> s.waypoint() == null).orElse(false));
            assertThat(read(via)).as("direct to the backend pod, the client's identity denied there").isEmpty();
            assertThat(atWaypoint).as("not through the waypoint").hasSize(2);
            assertThat(backendAccepted.get()).isEqualTo(2);

            // 4. Without the ALLOW: direct, reaching the pod with the client's identity.
            k8s.delete("security.istio.io/v1", "AuthorizationPolicy", "app", "backend-from-waypoint");
            await(nodeB, "the ALLOW gone", () -> allowed(nodeBPolicies, CLIENT));
            assertThat(read(via)).isEqualTo("backend");
            assertThat(atWaypoint).hasSize(2);
            assertThat(backendAccepted.get()).isEqualTo(3);
        } finally {
            waypointSockets.close();
            waypointTls.close();
            ca.close();
        }
    }

    static Map<String, String> appLabels(boolean waypoint) {
        Map<String, String> l = new HashMap<>(Map.of("kubernetes.io/metadata.name", "app", "istio.io/dataplane-mode", "ambient"));
        if (waypoint) {
            l.put("istio.io/use-waypoint", "waypoint");
        }
        return l;
    }

    /** node B's decision for a tunnel from {@code source} to the backend pod's port. */
    static boolean allowed(PolicyEngine engine, SpiffeId source) {
        return engine.evaluate(AccessRequest.builder().sourcePrincipal(source.toString()).sourceAddress("127.0.250.9")
                .destinationAddress(BACKEND_IP).destinationPort(BACKEND_APP.getPort())
                .destination(new WorkloadRef("app", "backend-7c6b9d-q8r2s", "backend", Map.of("app", "backend"))).build()).allowed();
    }

    /** The backend: answers "backend" to each connection's first byte, counting them. */
    ServerSocket backendApp() throws IOException {
        ServerSocket s = new ServerSocket();
        s.bind(BACKEND_APP, 50);
        Thread t = new Thread(() -> {
            while (!s.isClosed()) {
                try (Socket c = s.accept()) {
                    backendAccepted.incrementAndGet();
                    c.setSoTimeout(10_000);
                    c.getInputStream().read();
                    c.getOutputStream().write("backend".getBytes(StandardCharsets.US_ASCII));
                } catch (IOException e) {
                    // closed
                }
            }
        }, "backend-app");
        t.setDaemon(true);
        t.start();
        return s;
    }

    /**
     * The waypoint's Envoy: records each CONNECT, then sends the client's byte on to the endpoint it picks for the
     * backend Service (its one pod) over HBONE as the waypoint, and relays the answer back.
     */
    void startWaypoint(HboneServerSocket sockets, Mesh mesh) {
        Thread w = new Thread(() -> {
            while (true) {
                HboneSocket s;
                try {
                    s = sockets.accept();
                } catch (IOException e) {
                    return;
                }
                try (s) {
                    atWaypoint.add(s.tunnel());
                    s.setSoTimeout(10_000);
                    int b = s.getInputStream().read();
                    try (Socket out = mesh.socketFactory(WAYPOINT).createSocket()) {
                        out.connect(BACKEND_APP, 10_000);
                        out.setSoTimeout(10_000);
                        out.getOutputStream().write(b);
                        s.getOutputStream().write(out.getInputStream().readAllBytes());
                    } catch (IOException e) {
                        onwardFailures.add(e);
                    }
                } catch (IOException e) {
                    // the test sees the missing answer
                }
            }
        }, "test-waypoint");
        w.setDaemon(true);
        w.start();
    }

    volatile int lastClientPort;

    /** What a connection from the client pod's address through node A's capture reads; "" when refused. */
    String read(InetSocketAddress via) throws IOException {
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(CLIENT_IP, 0));
            lastClientPort = s.getLocalPort();
            try {
                s.connect(via, 10_000);
                s.setSoTimeout(10_000);
                s.getOutputStream().write('x');
                return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            } catch (java.net.SocketException reset) {
                return "";
            }
        }
    }

    /** The CONNECT the waypoint recorded after {@code before} of them (its accept thread records it: waited for, 10 s). */
    TunnelInfo lastAtWaypoint(int before) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (atWaypoint.size() <= before && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(atWaypoint).as("CONNECTs at the waypoint").hasSize(before + 1);
        return atWaypoint.get(before);
    }

    /** The tags of node B's destination-reported opened-connections counter (waited for: it counts as the tunnel opens). */
    static Map<String, String> opened(SimpleMeterRegistry metrics) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            for (Counter c : metrics.find("istio.tcp.connections.opened").counters()) {
                if ("destination".equals(c.getId().getTag("reporter")) && c.count() > 0) {
                    Map<String, String> tags = new HashMap<>();
                    for (Tag tag : c.getId().getTags()) {
                        tags.put(tag.getKey(), tag.getValue());
                    }
                    return tags;
                }
            }
            Thread.sleep(5);
        }
        throw new AssertionError("no destination-reported connection opened: " + metrics.getMeters());
    }
}
