package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.ssl.SslHandler;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.internal.Authority;
import io.zerohop.hbone.internal.Inspect;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.netty.EchoServer;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.Timeout;

/**
 * A pooled connection outlives the certificates it was made with: a new tunnel must not ride a
 * connection whose leaf certificate (ours or the peer's) has expired (newuser25 RotationTest).
 * Real TLS with 4 s SVIDs; the tests wait past the expiry read from the connection itself.
 */
@Timeout(60)
class CertificateExpiryTest {
    static final SpiffeId serverId = SpiffeIds.istio("cluster.local", "prod", "server");
    static final SpiffeId clientId = SpiffeIds.istio("cluster.local", "prod", "client");

    /** The JVM's first handshake (native TLS loading, class loading) can take seconds on a loaded machine: not within an SVID's 4 s. */
    @org.junit.jupiter.api.BeforeAll
    static void warmUp() throws Exception {
        try (Mesh mesh = new Mesh(); EchoServer app = new EchoServer()) {
            HboneServer srv = server(mesh.tls);
            try (HboneClient client = mesh.client().build()) {
                client.connect(app.address(), Set.of(serverId), srv.localAddress()).get(30, TimeUnit.SECONDS).reset();
            } finally {
                srv.close();
            }
        }
    }

    static InMemoryCa shortLivedCa() {
        return InMemoryCa.builder().trustDomain("cluster.local").svidTtl(Duration.ofSeconds(4)).build();
    }

    static HboneServer server(MeshTls tls) throws Exception {
        return HboneServer.builder().tls(tls).identity(serverId).bind(new InetSocketAddress("127.0.0.1", 0))
                .destinations(DestinationResolver.sameIp()).authorizer(Authorizer.allowAll()).threads(1).build().start().get();
    }

    /** Waits until both leaf certificates of {@code connection} have expired. */
    static void awaitExpiry(Channel connection) throws Exception {
        var session = connection.pipeline().get(SslHandler.class).engine().getSession();
        long notAfter = Math.max(((X509Certificate) session.getPeerCertificates()[0]).getNotAfter().getTime(),
                ((X509Certificate) session.getLocalCertificates()[0]).getNotAfter().getTime());
        while (System.currentTimeMillis() <= notAfter + 200) {
            Thread.sleep(100);
        }
    }

    static String echo(HboneSocket s, String m) throws Exception {
        s.getOutputStream().write(m.getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
        InputStream in = s.getInputStream();
        byte[] b = new byte[m.length()];
        for (int n = 0; n < b.length; ) {
            int r = in.read(b, n, b.length - n);
            assertThat(r).as("echo").isPositive();
            n += r;
        }
        return new String(b, StandardCharsets.US_ASCII);
    }

    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void aNewTunnelTakesANewConnectionOnceACertificateOfThePooledOneExpired() throws Exception {
        try (InMemoryCa ca = shortLivedCa(); MeshTls tls = MeshTls.builder(ca).build(); EchoServer app = new EchoServer()) {
            HboneServer srv = server(tls);
            try (HboneClient client = HboneClient.builder().tls(tls).identity(clientId).threads(1).build()) {
                HboneStream a = client.connect(app.address(), Set.of(serverId), srv.localAddress()).get(10, TimeUnit.SECONDS);
                HboneSocket sa = Mesh.socket(a);
                assertThat(echo(sa, "a1")).isEqualTo("a1");
                Channel old = a.channel().parent();
                awaitExpiry(old);

                HboneStream b = client.connect(app.address(), Set.of(serverId), srv.localAddress()).get(10, TimeUnit.SECONDS);
                HboneSocket sb = Mesh.socket(b);
                assertThat(echo(sb, "b1")).isEqualTo("b1");
                assertThat(b.channel().parent()).as("the tunnel opened after expiry").isNotSameAs(old);
                // The open tunnel is not touched: it goes on over the old connection, which drains.
                assertThat(echo(sa, "a2")).isEqualTo("a2");
                assertThat(old.isActive()).isTrue();
                assertThat(Inspect.connectionCount(client, Set.of(serverId), srv.localAddress())).isEqualTo(2);
                sa.close();
                // Its last tunnel ended: the retired connection closes (GOAWAY, close_notify).
                assertThat(old.closeFuture().await(10, TimeUnit.SECONDS)).as("old connection closed").isTrue();
                assertThat(echo(sb, "b2")).isEqualTo("b2");
                sb.close();
            } finally {
                srv.close();
            }
        }
    }

    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void anIdleExpiredConnectionIsClosedWhenTheNextTunnelPassesItBy() throws Exception {
        try (InMemoryCa ca = shortLivedCa(); MeshTls tls = MeshTls.builder(ca).build(); EchoServer app = new EchoServer()) {
            HboneServer srv = server(tls);
            try (HboneClient client = HboneClient.builder().tls(tls).identity(clientId).threads(1).build()) {
                HboneStream a = client.connect(app.address(), Set.of(serverId), srv.localAddress()).get(10, TimeUnit.SECONDS);
                Channel old = a.channel().parent();
                HboneSocket sa = Mesh.socket(a);
                assertThat(echo(sa, "a1")).isEqualTo("a1");
                sa.close();
                awaitExpiry(old);
                HboneStream b = client.connect(app.address(), Set.of(serverId), srv.localAddress()).get(10, TimeUnit.SECONDS);
                assertThat(b.channel().parent()).isNotSameAs(old);
                assertThat(old.closeFuture().await(10, TimeUnit.SECONDS)).as("old connection closed").isTrue();
                HboneSocket sb = Mesh.socket(b);
                assertThat(echo(sb, "b1")).isEqualTo("b1");
                sb.close();
            } finally {
                srv.close();
            }
        }
    }

    /**
     * An SVID its provider withdraws ({@code svidForgotten}: SPIRE's PERMISSION_DENIED, an update without it, a workload
     * that left) retires the pooled connections made with it as an expiry does: a new tunnel takes a new connection
     * (and a new SVID, or fails without one), the open one goes on, and the old connection closes after it. A new-user
     * pass saw new tunnels ride a withdrawn SPIRE SVID's pooled connection. Plain SVIDs: nothing here waits for time.
     */
    @Test
    void aWithdrawnSvidRetiresItsPooledConnections() throws Exception {
        try (InMemoryCa ca = InMemoryCa.create("cluster.local"); MeshTls tls = MeshTls.builder(ca).build(); EchoServer app = new EchoServer()) {
            HboneServer srv = server(tls);
            try (HboneClient client = HboneClient.builder().tls(tls).identity(clientId).threads(1).build()) {
                HboneStream a = client.connect(app.address(), Set.of(serverId), srv.localAddress()).get(10, TimeUnit.SECONDS);
                HboneSocket sa = Mesh.socket(a);
                assertThat(echo(sa, "a1")).isEqualTo("a1");
                Channel old = a.channel().parent();

                ca.forget(serverId); // another identity's: nothing of this client changes
                HboneStream same = client.connect(app.address(), Set.of(serverId), srv.localAddress()).get(10, TimeUnit.SECONDS);
                assertThat(same.channel().parent()).isSameAs(old);
                same.reset();

                ca.forget(clientId);
                HboneStream b = client.connect(app.address(), Set.of(serverId), srv.localAddress()).get(10, TimeUnit.SECONDS);
                HboneSocket sb = Mesh.socket(b);
                assertThat(echo(sb, "b1")).isEqualTo("b1");
                assertThat(b.channel().parent()).as("the tunnel opened after the withdrawal").isNotSameAs(old);
                assertThat(echo(sa, "a2")).as("the open tunnel goes on").isEqualTo("a2");
                sa.close();
                assertThat(old.closeFuture().await(10, TimeUnit.SECONDS)).as("old connection closed after its last tunnel").isTrue();
                sb.close();
            } finally {
                srv.close();
            }
        }
    }

    /** A client that does not check (ztunnel's pool reuses connections whatever their certificates). */
    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void theServerRefusesANewConnectOnAConnectionWhoseClientCertificateExpired() throws Exception {
        try (InMemoryCa ca = shortLivedCa(); MeshTls tls = MeshTls.builder(ca).build(); EchoServer app = new EchoServer()) {
            HboneServer srv = server(tls);
            try (RawH2 raw = new RawH2(tls, clientId, Set.of(serverId), srv.localAddress())) {
                // The SVID the raw client's handshake presented (a fresh CA reissues only past half its life).
                long notAfter = ca.svid(clientId).get().getLeaf().getNotAfter().getTime();
                String authority = Authority.format(app.address());
                assertThat(raw.request(new DefaultHttp2Headers().method("CONNECT").authority(authority)).get()).isEqualTo("200");
                while (System.currentTimeMillis() <= notAfter + 200) {
                    Thread.sleep(100);
                }
                assertThat(raw.request(new DefaultHttp2Headers().method("CONNECT").authority(authority)).get()).isEqualTo("401");
            } finally {
                srv.close();
            }
        }
    }
}
