package io.zerohop.core;

import static io.zerohop.core.LiveReauthorizationTest.accept;
import static io.zerohop.core.LiveReauthorizationTest.roundTrip;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import io.zerohop.identity.InMemoryCa;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code Mesh.Builder.localAddress}: an embedded mesh's HBONE connections leave from the workload's own address, so the
 * destination finds the caller's registry workload by it (a Cilium {@code fromEndpoints}, {@code ipBlocks}). Without it the
 * kernel picked 127.0.0.1 for a workload at another loopback address, and a {@code fromEndpoints} rule denied it (401, a
 * new-user pass). Loopback 127.0.86.x.
 */
@Timeout(60)
class MeshLocalAddressTest {
    @Test
    void tunnelsLeaveFromTheGivenAddress() throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.86.2");
        InetAddress webIp = InetAddress.getByName("127.0.86.3");
        Workload backend = new Workload("shop", "backend", "backend", Map.of("app", "backend"), List.of(backendIp),
                Workload.Protocol.HBONE, "b", "cluster.local");
        Workload web = new Workload("shop", "web", "web", Map.of("app", "web"), List.of(webIp), Workload.Protocol.HBONE, "a",
                "cluster.local");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, web), Map.of());
        CompletableFuture<TunnelInfo> seen = new CompletableFuture<>();
        try (ServerSocket app = new ServerSocket(0, 50, backendIp);
             Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).node("b")
                     .inbound(new InetSocketAddress(backendIp, 0)).threads(1)
                     .onTunnelClosed((TunnelResult r) -> seen.complete(r.info())).build();
             Mesh client = Mesh.builder().identityProvider(ca).identity(web.identity()).workloads(registry).node("a")
                     .localAddress(webIp).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            registry.replace(List.of(backend, web), Map.of("b", server.inboundAddress()));
            Socket s = client.socketFactory(web.identity()).createSocket(backendIp, app.getLocalPort());
            try (s; Socket a = accept(app)) {
                roundTrip(s, a, 1);
            }
            TunnelInfo t = seen.get(10, TimeUnit.SECONDS);
            assertThat(t.peerAddress().getAddress()).as("the HBONE connection's source at the destination").isEqualTo(webIp);
            assertThat(t.peerIdentity()).isEqualTo(web.identity());
        } finally {
            ca.close();
        }
    }

    @Test
    void aWildcardOrMulticastAddressIsRefused() {
        assertThatThrownBy(() -> Mesh.builder().localAddress(InetAddress.getByName("0.0.0.0")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("localAddress 0.0.0.0 is a wildcard address: give one of this host's IPs (null: the kernel's choice)");
        assertThatThrownBy(() -> Mesh.builder().localAddress(InetAddress.getByName("224.0.0.1")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is a multicast address");
    }
}
