package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.nio.NioIoHandler;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.DestinationResolver;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneServer;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.testing.LinuxCapabilities;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@code Mesh.Builder.inboundTransparent} / {@code HboneServer.Builder.transparent}: an
 * IP_TRANSPARENT HBONE listener (what a host-network node proxy needs for TPROXY of POD_IP:15008;
 * the TPROXY path itself is proven in examples/standalone-proxy's NodeProxyE2EIT). Here: it still
 * serves tunnels, and it refuses to start where the option cannot be set instead of binding a
 * listener TPROXY would never reach.
 */
class TransparentInboundTest {
    @Test
    void aTransparentListenerOnANioGroupFailsToStartNamingWhy() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        EventLoopGroup nio = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            HboneServer s = HboneServer.builder().tls(MeshTls.builder(ca).build()).identity(io.spiffe.spiffeid.SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/backend"))
                    .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).eventLoopGroup(nio)
                    .destinations(DestinationResolver.sameIp()).authorizer(Authorizer.allowAll()).transparent(true).build();
            Throwable t = catchThrowable(() -> s.start().get(10, TimeUnit.SECONDS));
            assertThat(t).hasRootCauseInstanceOf(IllegalStateException.class)
                    .rootCause().hasMessageContaining("transparent (IP_TRANSPARENT) listener needs the Linux epoll transport");
            assertThat(s.localAddress()).as("nothing bound").isNull();
        } finally {
            nio.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).sync();
            ca.close();
        }
    }

    @Test
    void aTransparentInboundListenerServesTunnelsDialledToItsOwnAddress() throws Exception {
        // The capability, not uid 0: a container's root may lack it (Docker's default set has neither).
        assumeTrue(Epoll.isAvailable() && (LinuxCapabilities.has(LinuxCapabilities.NET_ADMIN) || LinuxCapabilities.has(LinuxCapabilities.NET_RAW)),
                "IP_TRANSPARENT needs epoll and CAP_NET_ADMIN or CAP_NET_RAW");
        InetAddress ip = InetAddress.getByName("127.0.0.2");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        Workload backend = new Workload("prod", "backend", "backend", Map.of(), List.of(ip), Workload.Protocol.HBONE, "b", "cluster.local");
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of(), List.of(InetAddress.getByName("127.0.0.3")),
                Workload.Protocol.HBONE, null, "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend), Map.of());
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry)
                .inbound(new InetSocketAddress(ip, 0)).inboundTransparent(true).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            registry.replace(List.of(backend, frontend), Map.of("b", server.inboundAddress()));
            try (Mesh client = Mesh.builder().identityProvider(ca).workloads(registry).threads(1).build()) {
                // mTLS with backend's SVID and a CONNECT answered: the proxy's own port gets 503.
                Throwable t = catchThrowable(() -> client.connect(frontend.identity(),
                        new InetSocketAddress(ip, server.inboundAddress().getPort())).get(10, TimeUnit.SECONDS));
                assertThat(t).hasCauseInstanceOf(HboneRefusedException.class);
                assertThat(((HboneRefusedException) t.getCause()).status()).isEqualTo(503);
            }
        } finally {
            ca.close();
        }
    }
}
