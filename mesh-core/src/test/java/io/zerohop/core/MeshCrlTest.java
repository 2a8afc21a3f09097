package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.Route;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SpiffeIds;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code Mesh.Builder.crlPath}, ztunnel's {@code CRL_PATH} for library users: the mesh's TLS enforces the file's CRLs
 * (tests/namespaced.rs {@code crl_inbound_rejects_revoked_cert}: the server's CRL revokes the client's leaf and the
 * tunnel fails, counted in {@code istio_crl_policy_rejections_total{reporter="destination"}}), and a file that does
 * not parse fails the build naming it (crl.rs {@code test_crl_manager_invalid_file}).
 */
class MeshCrlTest {
    private static final SpiffeId BACKEND = SpiffeIds.istio("cluster.local", "prod", "backend");
    private static final SpiffeId FRONTEND = SpiffeIds.istio("cluster.local", "prod", "frontend");

    @TempDir
    Path dir;

    @Test
    void aServerMeshWithACrlRevokingTheClientRefusesItsTunnelAndAcceptsOthers() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        SpiffeId other = SpiffeIds.istio("cluster.local", "prod", "other");
        Path crl = dir.resolve("crl.pem");
        Files.writeString(crl, Pem.crls(List.of(ca.crl(ca.root(), Instant.now().plus(Duration.ofDays(1)),
                ca.svid(FRONTEND).join().getLeaf().getSerialNumber()))));
        io.micrometer.core.instrument.simple.SimpleMeterRegistry metrics = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        try (HboneServerSocket sockets = new HboneServerSocket();
             Mesh server = Mesh.builder().identityProvider(ca).identity(BACKEND).crlPath(crl).threads(1).drain(Duration.ZERO)
                     .meterRegistry(metrics)
                     .inbound(new InetSocketAddress("127.0.207.71", 53971)).build();
             Mesh revoked = Mesh.builder().identityProvider(ca).identity(FRONTEND).threads(1).drain(Duration.ZERO).build();
             Mesh fine = Mesh.builder().identityProvider(ca).identity(other).threads(1).drain(Duration.ZERO).build()) {
            server.serve(new InetSocketAddress("127.0.207.71", 8080), sockets);
            server.start().get(10, TimeUnit.SECONDS);
            Route route = new Route(server.inboundAddress(), BACKEND);
            assertThatThrownBy(() -> revoked.connect(FRONTEND, new InetSocketAddress("127.0.207.71", 8080), route).get(10, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class);
            // ztunnel's istio_crl_policy_rejections_total{reporter="destination"}, counted before the alert is sent.
            assertThat(metrics.get("istio.crl.policy.rejections").tag("reporter", "destination").counter().count()).isEqualTo(1.0);
            HboneStream ok = fine.connect(other, new InetSocketAddress("127.0.207.71", 8080), route).get(10, TimeUnit.SECONDS);
            Socket out = ok.toSocket();
            out.getOutputStream().write(7);
            try (HboneSocket in = sockets.accept()) {
                assertThat(in.getInputStream().read()).isEqualTo(7);
            }
            out.close();
        }
    }

    /**
     * ztunnel's {@code istio_crl_untracked_connections_total{reporter}} ({@code src/proxy/metrics.rs}
     * {@code record_crl_untracked_connection}): a connection whose peer presented no certificate is not kept under the
     * CRLs ({@code src/tls/revocation.rs} {@code RevocationIndex::register}, "peer presented no certificates; connection
     * not tracked"), and counted. The engine is one of the mesh's own server contexts that no peer has shaken hands with,
     * the one way a chain mesh TLS accepted can be missing (mTLS requires a client certificate). Before helper 407
     * (7 December) the connection was only logged: no such meter.
     */
    @Test
    void aConnectionWhosePeerChainCannotBeReadIsCountedAsUntracked() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        Path crl = dir.resolve("crl.pem");
        Files.writeString(crl, "");
        io.micrometer.core.instrument.simple.SimpleMeterRegistry metrics = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(BACKEND).crlPath(crl).threads(1).drain(Duration.ZERO)
                .meterRegistry(metrics).build()) {
            javax.net.ssl.SSLEngine engine = server.tls().server(BACKEND).join().newEngine(io.netty.buffer.ByteBufAllocator.DEFAULT);
            try {
                Runnable forget = server.tls().closeWhenRevoked(engine, () -> { });
                forget.run();
            } finally {
                engine.closeInbound();
                engine.closeOutbound();
            }
            assertThat(metrics.find("istio.crl.untracked.connections").tag("reporter", "destination").counter())
                    .as("istio_crl_untracked_connections_total{reporter=\"destination\"}").isNotNull()
                    .extracting(io.micrometer.core.instrument.Counter::count).isEqualTo(1.0);
            assertThat(metrics.find("istio.crl.policy.rejections").counter()).as("nothing revoked").isNull();
        }
    }

    @Test
    void aCrlFileThatDoesNotParseFailsTheBuildNamingIt() throws Exception {
        Path crl = dir.resolve("crl.pem");
        Files.writeString(crl, "not a valid CRL");
        assertThatThrownBy(() -> Mesh.builder().trustDomain("cluster.local").crlPath(crl).threads(1).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("CRL file " + crl + ": neither PEM (it does not start with -----BEGIN) nor a DER CRL");
    }
}
