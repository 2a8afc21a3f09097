package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.policy.PolicyEngine;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What a CONNECT may reach on a connection to one workload's address, as istio/ztunnel src/proxy/inbound.rs decides it
 * (a review pass against ztunnel found all three open): another workload's address is refused even for a replica of the
 * same identity ({@code validate_destination}, {@code Error::IPMismatch}, 400; its test "to server ip mismatch"); so is an
 * in-process handler at another workload's address; a workload outside the mesh ({@code protocol: TCP}) has no HBONE
 * endpoint at all (istio-cni enrolls only mesh pods). Real mutual TLS and HBONE over loopback, real echo applications.
 */
class InboundDestinationTest {

    private static ServerSocket appA;
    private static ServerSocket appB;
    private static ServerSocket appLegacy;
    private static final AtomicInteger ACCEPTED_B = new AtomicInteger();
    private static final AtomicInteger ACCEPTED_LEGACY = new AtomicInteger();
    private static Workload apiA;
    private static InMemoryCa ca;
    private static Mesh server;
    private static HboneClient client;
    private static final AtomicInteger SERVED = new AtomicInteger();

    @BeforeAll
    static void start() throws Exception {
        InetAddress a = InetAddress.getByName("127.0.78.2");
        InetAddress b = InetAddress.getByName("127.0.78.3");
        InetAddress legacyIp = InetAddress.getByName("127.0.78.4");
        InetAddress dbIp = InetAddress.getByName("127.0.78.5");
        apiA = new Workload("prod", "api-a", "api", Map.of("app", "api"), List.of(a), Workload.Protocol.HBONE, null, "cluster.local");
        Workload apiB = new Workload("prod", "api-b", "api", Map.of("app", "api"), List.of(b), Workload.Protocol.HBONE, null, "cluster.local");
        Workload legacy = new Workload("prod", "legacy", "api", Map.of("app", "legacy"), List.of(legacyIp), Workload.Protocol.TCP, null,
                "cluster.local");
        Workload db = new Workload("prod", "db", "db", Map.of("app", "db"), List.of(dbIp), Workload.Protocol.HBONE, null, "cluster.local");
        Workload web = new Workload("prod", "web", "web", Map.of("app", "web"), List.of(InetAddress.getByName("127.0.78.11")),
                Workload.Protocol.HBONE, null, "cluster.local");
        appA = echoOn(a, new AtomicInteger());
        appB = echoOn(b, ACCEPTED_B);
        appLegacy = echoOn(legacyIp, ACCEPTED_LEGACY);
        ca = InMemoryCa.create("cluster.local");
        server = Mesh.builder().identityProvider(ca).identity(apiA.identity())
                .workloads(WorkloadRegistry.of(List.of(apiA, apiB, legacy, db, web), Map.of()))
                .policies(PolicyEngine.builder().build()).inbound(new InetSocketAddress(a, 0)).threads(2).build();
        server.start().get(10, TimeUnit.SECONDS);
        server.serve(new InetSocketAddress(dbIp, 7000), (stream, tunnel) -> {
            SERVED.incrementAndGet();
            stream.pipeline().addLast(new io.netty.channel.ChannelInboundHandlerAdapter());
        });
        client = HboneClient.builder().tls(MeshTls.builder(ca).build()).identity(web.identity())
                .localAddress(InetAddress.getByName("127.0.78.11")).threads(1).build();
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        server.close();
        appA.close();
        appB.close();
        appLegacy.close();
        ca.close();
    }

    private static ServerSocket echoOn(InetAddress ip, AtomicInteger accepted) throws IOException {
        ServerSocket s = new ServerSocket(0, 50, ip);
        Thread t = new Thread(() -> {
            while (!s.isClosed()) {
                try {
                    Socket c = s.accept();
                    accepted.incrementAndGet();
                    Thread h = new Thread(() -> {
                        try (c; InputStream in = c.getInputStream(); OutputStream out = c.getOutputStream()) {
                            in.transferTo(out);
                        } catch (IOException ignored) {
                            // the test closed it
                        }
                    });
                    h.setDaemon(true);
                    h.start();
                } catch (IOException e) {
                    return;
                }
            }
        });
        t.setDaemon(true);
        t.start();
        return s;
    }

    /** "echo" when the tunnel opened and echoed a byte, else "HTTP nnn: reason" or the failure. */
    private static String open(InetSocketAddress target) {
        Throwable t = catchThrowable(() -> {
            HboneStream s = client.connect(target, Set.of(apiA.identity()), server.inboundAddress(), Map.of()).get(10, TimeUnit.SECONDS);
            try (Socket sock = s.toSocket()) {
                sock.setSoTimeout(10_000);
                sock.getOutputStream().write('x');
                if (sock.getInputStream().read() != 'x') {
                    throw new IOException("no echo");
                }
            }
        });
        if (t == null) {
            return "echo";
        }
        return t.getCause() instanceof HboneRefusedException r ? "HTTP " + r.status() : t.toString();
    }

    @Test
    void theDialledWorkloadsOwnAddressIsServed() {
        assertThat(open((InetSocketAddress) appA.getLocalSocketAddress())).isEqualTo("echo");
    }

    @Test
    void aReplicaOfTheSameIdentityAtAnotherAddressIsRefused() {
        int before = ACCEPTED_B.get();
        assertThat(open((InetSocketAddress) appB.getLocalSocketAddress())).isEqualTo("HTTP 400");
        assertThat(ACCEPTED_B.get()).isEqualTo(before);
    }

    @Test
    void anInProcessHandlerAtAnotherWorkloadsAddressIsRefused() throws Exception {
        assertThat(open(new InetSocketAddress(InetAddress.getByName("127.0.78.5"), 7000))).isEqualTo("HTTP 400");
        assertThat(SERVED.get()).isZero();
    }

    @Test
    void aWorkloadOutsideTheMeshIsRefused() {
        int before = ACCEPTED_LEGACY.get();
        assertThat(open((InetSocketAddress) appLegacy.getLocalSocketAddress())).isEqualTo("HTTP 400");
        assertThat(ACCEPTED_LEGACY.get()).isEqualTo(before);
    }
}
