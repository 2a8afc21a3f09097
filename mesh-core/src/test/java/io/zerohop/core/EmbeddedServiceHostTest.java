package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * A workload behind two Services on one port, reached by the embedded API ({@code Mesh.connect}, {@code socketFactory})
 * at the second Service's VIP, over real tunnels between two meshes on 127.0.195.x. ztunnel's destination tells the
 * Services apart by the {@code host=} of the CONNECT's {@code forwarded} (istio/ztunnel src/proxy/inbound.rs
 * {@code parse_forwarded_host}, src/proxy.rs {@code guess_inbound_service}: "if the client told us what Service they
 * were reaching, look for that"), else takes the first Service with a port targeting the connection's. Until
 * 6 December the embedded client sent no {@code forwarded} (it had no captured client for {@code for=}), so both sides
 * labelled such a connection with the wrong Service (destination) or none (source).
 */
class EmbeddedServiceHostTest {
    static final String TD = "cluster.local";

    @Test
    void aConnectToTheSecondServicesVipIsLabelledWithThatServiceOnBothSides() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.195.2");
        InetAddress clientIp = InetAddress.getByName("127.0.195.3");
        InetAddress vipAlpha = InetAddress.getByName("127.0.195.100");
        InetAddress vipBeta = InetAddress.getByName("127.0.195.101");
        int appPort = 58510;
        InMemoryCa ca = InMemoryCa.create(TD);
        // Both Services target the app's port; alpha comes first, so a guess by port alone names alpha.
        Workload backend = new Workload("prod", "backend-0", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", TD, Map.of(), null, null, List.of(
                new WorkloadService("alpha", "prod", "alpha.prod.svc.cluster.local", Set.of(appPort)),
                new WorkloadService("beta", "prod", "beta.prod.svc.cluster.local", Set.of(appPort))));
        Workload frontend = new Workload("prod", "frontend-0", "frontend", Map.of("app", "frontend"), List.of(clientIp),
                Workload.Protocol.HBONE, null, TD);
        List<Service> services = List.of(
                new Service("prod", "alpha", "alpha.prod.svc.cluster.local", List.of(vipAlpha), List.of(Service.Port.of(80, appPort))),
                new Service("prod", "beta", "beta.prod.svc.cluster.local", List.of(vipBeta), List.of(Service.Port.of(80, appPort))));
        WorkloadRegistry registry = WorkloadRegistry.empty();
        registry.replace(List.of(backend, frontend), Map.of(), Map.of(), services);
        SimpleMeterRegistry dst = new SimpleMeterRegistry();
        SimpleMeterRegistry src = new SimpleMeterRegistry();
        try (ServerSocket app = new ServerSocket(appPort, 50, ip);
             Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry)
                     .inbound(new InetSocketAddress(ip, 58511)).meterRegistry(dst).threads(2).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            registry.replace(List.of(backend, frontend), Map.of("b", server.inboundAddress()));
            Thread t = new Thread(() -> {
                while (!app.isClosed()) {
                    try (Socket s = app.accept()) {
                        s.getInputStream().read();
                        s.getOutputStream().write("ok".getBytes(StandardCharsets.US_ASCII));
                    } catch (Exception closed) {
                        // closed at the end
                    }
                }
            }, "backend-app");
            t.setDaemon(true);
            t.start();
            try (Mesh clients = Mesh.builder().identityProvider(ca).workloads(registry).meterRegistry(src).threads(2).build()) {
                InetSocketAddress beta = new InetSocketAddress(vipBeta, 80);
                HboneStream stream = clients.connect(frontend.identity(), beta).get(20, TimeUnit.SECONDS);
                try {
                    // ztunnel's build_forwarded names the Service dialled in host=; there is no captured client for for=.
                    assertThat(stream.info().headers()).containsEntry("forwarded", "host=beta.prod.svc.cluster.local");
                } finally {
                    stream.close();
                }
                try (Socket s = clients.socketFactory(frontend.identity()).createSocket(vipBeta, 80)) {
                    s.setSoTimeout(10_000);
                    s.getOutputStream().write('x');
                    assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).isEqualTo("ok");
                }
                await(() -> opened(dst, "destination") >= 2 && opened(src, "source") >= 2);
                assertThat(services(dst, "destination")).as("the destination's series").containsExactly("beta.prod.svc.cluster.local");
                assertThat(services(src, "source")).as("the source's series").containsExactly("beta.prod.svc.cluster.local");
            } finally {
                app.close();
            }
        }
    }

    static double opened(SimpleMeterRegistry m, String reporter) {
        return m.find("istio.tcp.connections.opened").tag("reporter", reporter).counters().stream()
                .mapToDouble(Counter::count).sum();
    }

    /** The destination_service of every opened series of {@code reporter}, with its count. */
    static Map<String, Double> servicesCounted(SimpleMeterRegistry m, String reporter) {
        Map<String, Double> out = new TreeMap<>();
        for (Counter c : m.find("istio.tcp.connections.opened").tag("reporter", reporter).counters()) {
            out.merge(c.getId().getTag("destination_service"), c.count(), Double::sum);
        }
        return out;
    }

    static Set<String> services(SimpleMeterRegistry m, String reporter) {
        return servicesCounted(m, reporter).keySet();
    }

    static void await(Supplier<Boolean> condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.get()) {
            assertThat(System.nanoTime()).as("condition within 10 s").isLessThan(deadline);
            Thread.sleep(10);
        }
    }
}
