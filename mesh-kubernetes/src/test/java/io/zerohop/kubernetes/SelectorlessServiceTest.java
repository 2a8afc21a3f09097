package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * A Service without a selector whose endpoints are a hand-written EndpointSlice (an external database), end to end: the
 * mock API server serves the Service and the slice, a node proxy ({@link KubernetesDiscovery#forNode}) relays a connection
 * captured for the Service's VIP ({@link Capture#forward}) in plain TCP to the slice's endpoint on the slice's port, names
 * the Service as {@code destination_service}, and follows the slice's updates (an endpoint unready, one removed). Until
 * EndpointSlices were read such a VIP was refused "no healthy upstream". Sockets on 127.0.84.x only.
 */
class SelectorlessServiceTest {
    static final String NS = "prod";

    /** Answers each connection with its tag, then closes it. */
    static final class Tagged implements AutoCloseable {
        final ServerSocket socket;

        Tagged(InetSocketAddress at, String tag) throws IOException {
            socket = new ServerSocket();
            socket.bind(at, 50);
            Thread t = new Thread(() -> {
                while (!socket.isClosed()) {
                    try (Socket c = socket.accept()) {
                        c.getOutputStream().write(tag.getBytes(StandardCharsets.US_ASCII));
                    } catch (IOException e) {
                        // closed
                    }
                }
            }, "tagged-" + tag);
            t.setDaemon(true);
            t.start();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    static EndpointSlice slice(int port, io.fabric8.kubernetes.api.model.discovery.v1.Endpoint... endpoints) {
        return new EndpointSliceBuilder().withNewMetadata().withNamespace(NS).withName("db-manual")
                .withLabels(Map.of("kubernetes.io/service-name", "db")).endMetadata()
                .withAddressType("IPv4").addNewPort().withName("pg").withProtocol("TCP").withPort(port).endPort()
                .withEndpoints(endpoints).build();
    }

    static io.fabric8.kubernetes.api.model.discovery.v1.Endpoint endpoint(String ip, boolean ready) {
        return new EndpointBuilder().withAddresses(ip).withNewConditions().withReady(ready).endConditions().build();
    }

    /** What a client of the forward capture reads: the endpoint's tag, or "" when the proxy closed it (no upstream). */
    static String read(InetSocketAddress via) throws IOException {
        return read(InetAddress.getByName("127.0.84.2"), via);
    }

    /** {@link #read(InetSocketAddress)} from {@code from}. */
    static String read(InetAddress from, InetSocketAddress via) throws IOException {
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(from, 0));
            s.connect(via, 5000);
            s.setSoTimeout(10_000);
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        } catch (java.net.SocketException reset) {
            return "";
        }
    }

    @Test
    @DisplayName("a selectorless Service's hand-written EndpointSlice: its VIP reaches the slice's endpoint in plain TCP, and slice updates take effect")
    void aSelectorlessServiceIsReachableThroughItsSlice() throws Exception {
        InetAddress vip = InetAddress.getByName("127.0.84.10");
        InetAddress dbA = InetAddress.getByName("127.0.84.21");
        InetAddress dbB = InetAddress.getByName("127.0.84.22");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        SimpleMeterRegistry metrics = new SimpleMeterRegistry();
        try (MockCluster k8s = new MockCluster(); Tagged a = new Tagged(new InetSocketAddress(dbA, 0), "a")) {
            int port = a.socket.getLocalPort();
            Tagged b = k8s.closeLater(new Tagged(new InetSocketAddress(dbB, port), "b"));
            // The Service: no selector, service port 5432 (the slice says where it goes: its own port).
            k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace(NS).withName("db").endMetadata()
                    .withNewSpec().withClusterIP(vip.getHostAddress()).addNewPort().withName("pg").withPort(5432)
                    .withTargetPort(new IntOrString(5432)).withProtocol("TCP").endPort().endSpec().build()).create();
            k8s.client.resource(slice(port, endpoint(dbA.getHostAddress(), true))).create();
            // A slice the EndpointSlice controller wrote (it writes only pod endpoints, for Services with a selector): the
            // informer's label selector leaves it out, so even this hand-forged one adds nothing.
            k8s.client.resource(new EndpointSliceBuilder(slice(port, endpoint("127.0.84.23", true))).editMetadata()
                    .withName("db-controller").addToLabels("endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io")
                    .endMetadata().build()).create();
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a")
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            d.synced().get(30, TimeUnit.SECONDS);
            await(d, "the slice's endpoint known", () -> d.registry().byAddress(dbA).isPresent());
            Workload w = d.registry().byAddress(dbA).orElseThrow();
            assertThat(w.protocol()).isEqualTo(Workload.Protocol.TCP);
            assertThat(w.identity()).as("no identity is made up for it").isNull();
            assertThat(w.workloadName()).isEqualTo("db-manual");
            assertThat(d.registry().byAddress(InetAddress.getByName("127.0.84.23"))).as("the controller's slice is not read").isEmpty();

            Mesh proxy = k8s.closeLater(d.applyTo(Mesh.builder()).identityProvider(ca)
                    .identity(SpiffeIds.istio("cluster.local", "zerohop-system", "zerohop-node"))
                    .meterRegistry(metrics).threads(1).build());
            InetSocketAddress via = proxy.capture(Capture.forward(new InetSocketAddress(InetAddress.getByName("127.0.84.1"), 0),
                    new InetSocketAddress(vip, 5432)));

            assertThat(read(via)).as("relayed to the slice's endpoint on the slice's port").isEqualTo("a");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            boolean labelled = false;
            while (System.nanoTime() < deadline && !labelled) {
                labelled = metrics.find("istio.tcp.connections.opened").counters().stream()
                        .anyMatch(c -> "db.prod.svc.cluster.local".equals(c.getId().getTag("destination_service"))
                                && "db".equals(c.getId().getTag("destination_service_name"))
                                && "db-manual".equals(c.getId().getTag("destination_workload")));
                Thread.sleep(20);
            }
            assertThat(labelled).as("destination_service db: %s", metrics.find("istio.tcp.connections.opened").counters()
                    .stream().map(c -> c.getId().getTags().toString()).toList()).isTrue();

            // a unready, b added: only b is picked.
            k8s.client.resource(slice(port, endpoint(dbA.getHostAddress(), false), endpoint(dbB.getHostAddress(), true))).update();
            io.zerohop.core.Service svc = d.registry().serviceAt(vip).orElseThrow();
            await(d, "b the only endpoint", () -> d.registry().serviceAt(vip)
                    .map(s -> d.registry().endpoints(s).stream().map(x -> x.addresses().get(0)).toList())
                    .orElse(List.of()).equals(List.of(dbB)));
            for (int i = 0; i < 5; i++) {
                assertThat(read(via)).isEqualTo("b");
            }

            // b removed, a still unready: no healthy upstream, the capture closes the connection.
            k8s.client.resource(slice(port, endpoint(dbA.getHostAddress(), false))).update();
            await(d, "b gone", () -> d.registry().byAddress(dbB).isEmpty());
            assertThat(read(via)).isEmpty();
            assertThat(svc.name()).isEqualTo("db");
        } finally {
            ca.close();
        }
    }

    /**
     * A role from before EndpointSlices were read (no {@code endpointslices} in {@code discovery.k8s.io}): their list is 403.
     * The discovery still syncs, with one WARN, and a selectorless Service keeps no endpoints (fails closed, as before), so
     * that a proxy or an embedded mesh upgraded without its role re-applied still becomes ready; Pods, Services and
     * policies forbidden still block the sync.
     */
    @Test
    @DisplayName("EndpointSlices forbidden (403, an old role): the discovery syncs anyway, selectorless Services without endpoints")
    void forbiddenSlicesCountAsEmpty() throws Exception {
        try (MockCluster k8s = new MockCluster()) {
            String selector = java.net.URLEncoder.encode("kubernetes.io/service-name,endpointslice.kubernetes.io/managed-by"
                    + "!=endpointslice-controller.k8s.io", StandardCharsets.UTF_8);
            for (String query : List.of("?labelSelector=" + selector + "&resourceVersion=0", "?resourceVersion=0&labelSelector=" + selector,
                    "?labelSelector=" + selector)) {
                k8s.server.expect().get().withPath("/apis/discovery.k8s.io/v1/endpointslices" + query)
                        .andReturn(403, new io.fabric8.kubernetes.api.model.StatusBuilder().withCode(403).withReason("Forbidden")
                                .withMessage("endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:zerohop-system:"
                                        + "zerohop\" cannot list resource \"endpointslices\" in API group \"discovery.k8s.io\" at the"
                                        + " cluster scope").build())
                        .always();
            }
            InetAddress vip = InetAddress.getByName("127.0.84.11");
            k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace(NS).withName("db").endMetadata()
                    .withNewSpec().withClusterIP(vip.getHostAddress()).addNewPort().withName("pg").withPort(5432)
                    .withTargetPort(new IntOrString(5432)).withProtocol("TCP").endPort().endSpec().build()).create();
            try (KubernetesDiscovery d = KubernetesDiscovery.forNode(k8s.client, "node-a")
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start()) {
                d.synced().get(30, TimeUnit.SECONDS);
                await(d, "the Service known", () -> d.registry().serviceAt(vip).isPresent());
                assertThat(d.registry().endpoints(d.registry().serviceAt(vip).orElseThrow())).isEmpty();
            }
        }
    }
}
