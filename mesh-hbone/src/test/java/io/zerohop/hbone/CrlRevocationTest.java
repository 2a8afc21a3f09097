package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.channel.Channel;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.CrlFile;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SpiffeIds;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A CRL reload closes the HBONE connections whose peer it revokes, both ways, as ztunnel's
 * {@code tests/namespaced.rs} {@code crl_inbound_terminates_existing_connection_on_revocation} and
 * {@code crl_outbound_terminates_existing_connection_on_revocation}: a tunnel is open and echoes, the CRL file (empty
 * at start) is rewritten to revoke the peer, and the connection is torn down (the tunnel's socket reads its end); a
 * new tunnel to the revoked peer fails its handshake. The tunnel's result on the side whose CRL revoked the peer says
 * so ({@link TunnelResult#CERT_REVOKED}, ztunnel's {@code Error::CertificateRevoked}; until h414, 7 December, a bare
 * "reset"), the other side's does not.
 */
@Timeout(60)
class CrlRevocationTest {
    static final SpiffeId SERVER = SpiffeIds.istio("cluster.local", "prod", "server");
    static final SpiffeId CLIENT = SpiffeIds.istio("cluster.local", "prod", "client");

    @TempDir
    Path dir;

    /** A blocking echo server on 127.0.207.{@code host} at a free port of 53900-54099. */
    private static ServerSocket echo(int host) throws Exception {
        ServerSocket ss = null;
        for (int port = 53900; port <= 54099 && ss == null; port++) {
            try {
                ss = new ServerSocket(port, 50, InetAddress.getByName("127.0.207." + host));
            } catch (java.io.IOException e) {
                // in use
            }
        }
        ServerSocket listening = ss;
        Thread t = new Thread(() -> {
            while (!listening.isClosed()) {
                try {
                    Socket s = listening.accept();
                    Thread c = new Thread(() -> {
                        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                            in.transferTo(out);
                        } catch (java.io.IOException e) {
                            // peer gone
                        }
                    });
                    c.setDaemon(true);
                    c.start();
                } catch (java.io.IOException e) {
                    return;
                }
            }
        });
        t.setDaemon(true);
        t.start();
        return ss;
    }

    private static HboneServer server(MeshTls tls, int host, HboneEvents events) throws Exception {
        for (int port = 53900; port <= 54099; port++) {
            try {
                return HboneServer.builder().tls(tls).identity(SERVER).bind(new InetSocketAddress("127.0.207." + host, port))
                        .destinations(DestinationResolver.sameIp()).authorizer(Authorizer.allowAll()).listener(events).threads(1)
                        .build().start().get();
            } catch (java.util.concurrent.ExecutionException e) {
                // in use: next port
            }
        }
        throw new IllegalStateException("no free port");
    }

    private static String echo(HboneSocket s, String m) throws Exception {
        s.getOutputStream().write(m.getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
        byte[] b = s.getInputStream().readNBytes(m.length());
        return new String(b, StandardCharsets.US_ASCII);
    }

    private void revoke(InMemoryCa ca, Path crl, BigInteger serial) throws Exception {
        Path tmp = dir.resolve("crl.tmp");
        Files.writeString(tmp, Pem.crls(List.of(ca.crl(ca.root(), Instant.now().plus(Duration.ofDays(1)), serial))));
        Files.move(tmp, crl, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Both sides 127.0.207.{@code host}: the echo app and the HBONE server share it (DestinationResolver.sameIp). */
    private void run(int host, boolean serverRevokesClient) throws Exception {
        Path crlPath = dir.resolve("crl.pem");
        Files.writeString(crlPath, "");
        try (InMemoryCa ca = InMemoryCa.create("cluster.local");
             CrlFile crl = CrlFile.builder(crlPath).settleTime(Duration.ZERO).pollInterval(Duration.ofMillis(500)).build();
             MeshTls serverTls = MeshTls.builder(ca).crl(serverRevokesClient ? crl : null).build();
             MeshTls clientTls = MeshTls.builder(ca).crl(serverRevokesClient ? null : crl).build();
             ServerSocket app = echo(host)) {
            RecordingEvents serverEvents = new RecordingEvents();
            RecordingEvents clientEvents = new RecordingEvents();
            HboneServer srv = server(serverTls, host, serverEvents);
            try (HboneClient client = HboneClient.builder().tls(clientTls).identity(CLIENT).listener(clientEvents).threads(1).build()) {
                InetSocketAddress target = new InetSocketAddress(app.getInetAddress(), app.getLocalPort());
                HboneStream a = client.connect(target, Set.of(SERVER), srv.localAddress()).get(10, TimeUnit.SECONDS);
                HboneSocket sa = a.toSocket();
                sa.setSoTimeout(10_000);
                assertThat(echo(sa, "a1")).isEqualTo("a1");
                Channel connection = a.channel().parent();

                SpiffeId revoked = serverRevokesClient ? CLIENT : SERVER;
                revoke(ca, crlPath, ca.svid(revoked).join().getLeaf().getSerialNumber());

                assertThat(connection.closeFuture().await(10, TimeUnit.SECONDS)).as("connection closed by the reload").isTrue();
                assertThatThrownBy(() -> {
                    if (sa.getInputStream().read() >= 0) {
                        throw new AssertionError("tunnel still delivers");
                    }
                    throw new java.io.EOFException("tunnel ended");
                }).isInstanceOf(java.io.IOException.class);
                assertThat(client.connect(target, Set.of(SERVER), srv.localAddress()))
                        .as("a new tunnel to or from the revoked peer").failsWithin(10, TimeUnit.SECONDS);
                // ztunnel's handle_connection! ends each tunnel of the revoked connection with Error::CertificateRevoked on
                // the side whose CRL revoked the peer (src/proxy/connection_manager.rs, await_revocation); the other side
                // only lost its connection, a reset ztunnel ignores (src/copy.rs ignore_io_errors).
                TunnelResult revoking = RecordingEvents.next(serverRevokesClient ? serverEvents.closed : clientEvents.closed);
                TunnelResult other = RecordingEvents.next(serverRevokesClient ? clientEvents.closed : serverEvents.closed);
                assertThat(revoking.reset()).isTrue();
                assertThat(revoking.error()).isEqualTo(TunnelResult.CERT_REVOKED)
                        .isEqualTo("connection closed: peer certificate revoked by CRL");
                assertThat(other.error()).isNotEqualTo(TunnelResult.CERT_REVOKED);
            } finally {
                srv.close();
            }
        }
    }

    @Test
    void aReloadRevokingTheClientClosesTheServersInboundConnection() throws Exception {
        run(61, true);
    }

    @Test
    void aReloadRevokingTheServerClosesTheClientsOutboundConnection() throws Exception {
        run(62, false);
    }
}
