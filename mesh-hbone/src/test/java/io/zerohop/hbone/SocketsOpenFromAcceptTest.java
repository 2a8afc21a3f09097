package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.EventLoopGroup;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.identity.IdentityListener;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.netty.Await;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link HboneServer#openConnections()} (mesh-core's {@code istio_tcp_sockets_open{reporter="destination"}}) counts a
 * connection from accept, as ztunnel's HBONE listener does: istio/ztunnel src/proxy/inbound.rs calls
 * {@code record_socket_open} right after {@code listener.accept()}, before {@code acceptor.accept(raw_socket)} (the TLS
 * handshake, inside which the served certificate is fetched), and its {@code SocketCloseGuard} ends the count with the
 * connection's task. Until 6 December the count began once the served identity's TLS context was there, so a
 * connection waiting for the CA's first certificate, or closed before TLS, was not counted.
 */
@Timeout(60)
class SocketsOpenFromAcceptTest {
    static final InetSocketAddress BIND = new InetSocketAddress("127.0.149.10", 0);

    /** InMemoryCa's SVIDs, held back until {@link #gate} completes: a CA that has not issued the first certificate yet. */
    static final class GatedProvider implements IdentityProvider {
        final InMemoryCa ca;
        final CompletableFuture<Void> gate = new CompletableFuture<>();

        GatedProvider(InMemoryCa ca) {
            this.ca = ca;
        }

        @Override
        public Optional<SpiffeId> defaultIdentity() {
            return ca.defaultIdentity();
        }

        @Override
        public CompletableFuture<X509Svid> svid(SpiffeId id) {
            return gate.thenCompose(v -> ca.svid(id));
        }

        @Override
        public X509BundleSet bundles() {
            return ca.bundles();
        }

        @Override
        public void addListener(IdentityListener listener) {
            ca.addListener(listener);
        }

        @Override
        public void removeListener(IdentityListener listener) {
            ca.removeListener(listener);
        }

        @Override
        public void close() {}
    }

    @Test
    void aConnectionWaitingForTheServedCertificateIsCountedFromAccept() throws Exception {
        SpiffeId server = SpiffeIds.istio("cluster.local", "prod", "server");
        try (InMemoryCa ca = InMemoryCa.create("cluster.local")) {
            GatedProvider provider = new GatedProvider(ca);
            try (MeshTls tls = MeshTls.builder(provider).build();
                 HboneServer s = HboneServer.builder().tls(tls).identitySelector(local -> server).bind(BIND)
                         .destinations((dst, id, local) -> null).authorizer(Authorizer.allowAll()).threads(2).build()
                         .start().get()) {
                try (Socket raw = new Socket(s.localAddress().getAddress(), s.localAddress().getPort())) {
                    // ztunnel: counted at accept, while its handshake waits for fetch_certificate.
                    Await.until("the accepted connection counted while its certificate is pending", Duration.ofSeconds(20),
                            () -> s.openConnections() == 1);
                }
                // ztunnel's count ends when its task does, after fetch_certificate (src/tls/workload.rs InboundAcceptor
                // fetches before reading the socket). Netty's epoll sees the peer's close while the certificate is pending
                // (EPOLLRDHUP), NIO only once reads begin: the certificate comes first so the test holds on both.
                provider.gate.complete(null);
                Await.until("the closed connection no longer counted", Duration.ofSeconds(20), () -> s.openConnections() == 0);
            }
        }
    }

    /**
     * The server's close ends a connection still waiting for the served certificate, on an event loop group the caller
     * owns too (mesh-core's): it was in neither the drain's GOAWAY list nor its final close (only a {@code ServerConnection}
     * was), so it outlived the server, stayed in {@link HboneServer#openConnections()}, and once the certificate came went
     * on to a TLS handshake on a closed server. ztunnel's drain ends its inbound listener's tasks with the proxy
     * (istio/ztunnel src/proxy/inbound.rs: {@code run_with_drain}; the {@code SocketCloseGuard} in each connection's task
     * ends the count, src/proxy/metrics.rs).
     */
    @Test
    void closeEndsAConnectionWaitingForTheServedCertificate() throws Exception {
        SpiffeId server = SpiffeIds.istio("cluster.local", "prod", "server");
        EventLoopGroup shared = Transports.newGroup(2, "sockets-open-shared");
        try (InMemoryCa ca = InMemoryCa.create("cluster.local")) {
            GatedProvider provider = new GatedProvider(ca);
            try (MeshTls tls = MeshTls.builder(provider).build()) {
                HboneServer s = HboneServer.builder().tls(tls).identitySelector(local -> server)
                        .bind(new InetSocketAddress("127.0.155.10", 50150)).eventLoopGroup(shared)
                        .destinations((dst, id, local) -> null).authorizer(Authorizer.allowAll()).build().start().get();
                try (Socket raw = new Socket(s.localAddress().getAddress(), s.localAddress().getPort())) {
                    Await.until("the accepted connection counted while its certificate is pending", Duration.ofSeconds(20),
                            () -> s.openConnections() == 1);
                    s.close();
                    assertThat(s.openConnections()).as("no connection of the closed server is counted").isZero();
                    raw.setSoTimeout(20_000);
                    int read;
                    try {
                        read = raw.getInputStream().read();
                    } catch (java.net.SocketException reset) {
                        read = -1;
                    }
                    assertThat(read).as("the server closed the connection").isEqualTo(-1);
                }
                provider.gate.complete(null); // releases what waited on it; the server is closed, nothing more is counted
            }
        } finally {
            shared.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).sync();
        }
    }
}
