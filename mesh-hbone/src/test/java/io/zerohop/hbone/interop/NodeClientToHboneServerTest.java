package io.zerohop.hbone.interop;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.AuthzRequest;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.identity.SpiffeIds;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interop, inbound direction: an independent HBONE client (Node.js {@code http2}, OpenSSL's TLS 1.3)
 * opens CONNECT tunnels to our {@link HboneServer}, in embedded mode (echo on the stream channel) and
 * in proxy mode (spliced to a TCP echo), with half-close; identities are checked both ways.
 */
@Timeout(60)
class NodeClientToHboneServerTest {
    static final int EMBEDDED_PORT = 7001;
    static final SpiffeId SERVER = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "server");
    static final SpiffeId CLIENT = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "node-client");
    static final SpiffeId INTRUDER = SpiffeIds.istio(Pki.TRUST_DOMAIN, "other", "intruder");

    @TempDir
    static Path dir;
    static Pki pki;
    static Pki.PemFiles client;
    static Pki.PemFiles intruder;
    static JavaEcho echo;
    static final EmbeddedEcho embedded = new EmbeddedEcho();
    static final Queue<AuthzRequest> authz = new ConcurrentLinkedQueue<>();
    static HboneServer server;

    @BeforeAll
    static void start() throws Exception {
        Peers.node();
        Peers.nodeScript("hbone-client.js");
        pki = new Pki(dir);
        client = pki.write("node-client", CLIENT);
        intruder = pki.write("intruder", INTRUDER);
        echo = new JavaEcho();
        InetSocketAddress echoAddress = echo.address();
        server = HboneServer.builder()
                .tls(pki.tls)
                .identity(SERVER)
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .destinations((dst, id, local) -> {
                    if (dst.equals(embeddedTarget())) {
                        return Destination.embedded(embedded);
                    }
                    return dst.equals(echoAddress) ? Destination.proxy(echoAddress) : null;
                })
                .authorizer(r -> {
                    authz.add(r);
                    return r.peer().equals(CLIENT) ? AuthzDecision.allow() : AuthzDecision.deny("only " + CLIENT + " may connect");
                })
                .threads(2)
                .build().start().get(10, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() throws Exception {
        Peers.closeAll(server, echo, pki);
    }

    @BeforeEach
    void clear() {
        authz.clear();
        embedded.tunnels.clear();
    }

    static InetSocketAddress embeddedTarget() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), EMBEDDED_PORT);
    }

    static String hbone() {
        return "127.0.0.1:" + server.localAddress().getPort();
    }

    static String authority(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    @Test
    void embeddedEchoOf8MiBOnOneTunnelWithHalfClose() throws Exception {
        long bytes = 8L << 20;
        NodeRun run = NodeRun.client(dir, hbone(), authority(embeddedTarget()), client, pki.caFile, SERVER.toString(), bytes, 1, "halfclose");

        assertThat(run.exit()).as("%s", run).isZero();
        assertThat(run.report().get("ok")).as("%s", run).isEqualTo(true);
        assertThat(run.report().get("statuses")).as("%s", run).isEqualTo(List.of(200L));
        assertThat(run.first().get("received")).as("%s", run).isEqualTo(bytes);
        assertThat(run.first().get("got")).as("sha256 of the echo vs of what was sent: %s", run).isEqualTo(run.first().get("sent"));
        // Our server saw the Node client's verified SPIFFE ID, and the tunnel went to the embedded handler.
        assertThat(embedded.tunnels).singleElement().satisfies(t -> {
            assertThat(t.peerIdentity()).isEqualTo(CLIENT);
            assertThat(t.localIdentity()).isEqualTo(SERVER);
            assertThat(t.destination()).isEqualTo(embeddedTarget());
            assertThat(t.direction()).isEqualTo(TunnelInfo.Direction.INBOUND);
        });
    }

    @Test
    void proxiedEchoOf1MiBOn64ConcurrentTunnelsOfOneConnection() throws Exception {
        int acceptedBefore = echo.accepted.get();
        NodeRun run = NodeRun.client(dir, hbone(), authority(echo.address()), client, pki.caFile, SERVER.toString(), 1 << 20, 64, "halfclose");

        assertThat(run.exit()).as("%s", run).isZero();
        assertThat(run.report().get("ok")).as("%s", run).isEqualTo(true);
        assertThat(run.report().get("streams")).isEqualTo(64L);
        // The client receives as an HBONE peer does (ztunnel's 16 MiB connection window), not at HTTP/2's
        // 65,535-byte default: else the echo is paced by ~1,000 extra WINDOW_UPDATE round trips, each a
        // wake-up of the Node process, and under load it ran into NodeRun's bound.
        assertThat(run.report().get("connectionWindow")).as("%s", run).isEqualTo((long) (16 << 20));
        assertThat(run.report().get("statuses")).as("%s", run).isEqualTo(List.of(200L));
        assertThat(run.first().get("got")).as("%s", run).isEqualTo(run.first().get("sent"));
        assertThat(echo.accepted.get() - acceptedBefore).as("one upstream TCP connection per tunnel").isEqualTo(64);
        assertThat(authz).hasSize(64).allSatisfy(r -> {
            assertThat(r.peer()).isEqualTo(CLIENT);
            assertThat(r.destination()).isEqualTo(echo.address());
        });
        assertThat(authz.stream().map(AuthzRequest::peerAddress).distinct())
                .as("all 64 tunnels multiplexed on the Node client's one HTTP/2 connection").hasSize(1);
    }

    @Test
    void peerDeniedByTheAuthorizerGets401AndNoTunnel() throws Exception {
        NodeRun run = NodeRun.client(dir, hbone(), authority(embeddedTarget()), intruder, pki.caFile, SERVER.toString(), 1024, 1, "halfclose");

        assertThat(run.exit()).as("%s", run).isEqualTo(1);
        assertThat(run.report().get("ok")).as("%s", run).isEqualTo(false);
        assertThat(run.report().get("statuses")).as("%s", run).isEqualTo(List.of(401L));
        assertThat(authz).singleElement().satisfies(r -> assertThat(r.peer()).isEqualTo(INTRUDER));
        assertThat(embedded.tunnels).as("a refused stream never reaches the destination").isEmpty();
    }

    @Test
    void nodeClientExpectingAnotherServerIdentityRefusesOurServer() throws Exception {
        SpiffeId expected = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "someone-else");
        NodeRun run = NodeRun.client(dir, hbone(), authority(embeddedTarget()), client, pki.caFile, expected.toString(), 1024, 1, "halfclose");

        assertThat(run.exit()).as("%s", run).isEqualTo(1);
        assertThat((String) run.report().get("error")).as("%s", run)
                .contains("server identity " + SERVER)
                .contains(expected.toString());
        assertThat(authz).as("no CONNECT is sent to a server with the wrong identity").isEmpty();
    }
}
