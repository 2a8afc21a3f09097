package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * A real node proxy (Mesh + HBONE listener, in-memory CA) wired by {@link KubernetesDiscovery#forNode}:
 * it tunnels to its own node's pod and refuses a pod of another node, though it knows both.
 */
class NodeProxyServingTest {

    static final class Echo implements AutoCloseable {
        final ServerSocket socket;
        final AtomicInteger accepted = new AtomicInteger();

        Echo(InetAddress at) throws IOException {
            socket = new ServerSocket(9090, 50, at);
            Thread t = new Thread(() -> {
                while (!socket.isClosed()) {
                    try (Socket c = socket.accept()) {
                        accepted.incrementAndGet();
                        c.getInputStream().transferTo(c.getOutputStream());
                    } catch (IOException e) {
                        // closed
                    }
                }
            }, "echo");
            t.setDaemon(true);
            t.start();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    @Test
    @DisplayName("--kubernetes --node node-a: tunnels to node-a's pod are served, to node-b's pod refused; both stay known")
    void servesOnlyItsNodesPods() throws Exception {
        InetAddress hereIp = InetAddress.getByName("127.0.0.21");
        InetAddress thereIp = InetAddress.getByName("127.0.0.22");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (MockCluster k8s = new MockCluster(); Echo here = new Echo(hereIp); Echo there = new Echo(thereIp)) {
            k8s.client.resource(namespace("prod", Map.of("istio.io/dataplane-mode", "ambient"))).create();
            k8s.create(pod("prod", "here", "node-a", "here", Map.of("app", "here"), hereIp.getHostAddress()).build());
            k8s.create(pod("prod", "there", "node-b", "there", Map.of("app", "there"), thereIp.getHostAddress()).build());
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a")
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            d.synced().get(30, TimeUnit.SECONDS);
            await(d, "both pods known", () -> d.registry().all().size() == 2);

            // The node proxy: any address, so the SVID it presents follows the pod address dialled.
            Mesh proxy = k8s.closeLater(d.applyTo(Mesh.builder()).identityProvider(ca)
                    .inbound(new InetSocketAddress(InetAddress.getByName("0.0.0.0"), 0)).threads(1).build());
            proxy.start().get(10, TimeUnit.SECONDS);
            int port = proxy.inboundAddress().getPort();

            // A client that believes both pods sit behind this proxy (as a misrouted tunnel would).
            Workload hereW = d.registry().byAddress(hereIp).orElseThrow();
            Workload thereW = d.registry().byAddress(thereIp).orElseThrow();
            WorkloadRegistry view = WorkloadRegistry.of(java.util.List.of(hereW, thereW),
                    Map.of("node-a", new InetSocketAddress(hereIp, port), "node-b", new InetSocketAddress(thereIp, port)));
            Mesh client = k8s.closeLater(Mesh.builder().identityProvider(ca).workloads(view).threads(1).build());
            var source = io.zerohop.identity.SpiffeIds.istio("cluster.local", "prod", "client");

            try (Socket s = client.socketFactory(source).createSocket(hereIp, 9090)) {
                s.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
                s.shutdownOutput();
                assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).isEqualTo("ping");
            }
            Throwable refused = catchThrowable(() -> {
                try (Socket s = client.socketFactory(source).createSocket(thereIp, 9090)) {
                    s.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
                    s.shutdownOutput();
                    s.getInputStream().readAllBytes();
                }
            });
            assertThat(refused).as("node-b's pod is not served by node-a's proxy").isInstanceOf(IOException.class);
            assertThat(here.accepted.get()).isEqualTo(1);
            assertThat(there.accepted.get()).isZero();
            assertThat(d.registry().byAddress(thereIp)).isPresent();
        } finally {
            ca.close();
        }
    }
}
