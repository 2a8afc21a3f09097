package io.zerohop.hbone.interop;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.Http2Error;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneServer;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.netty.SilentPort;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interop: an independent HTTP/2 client (Node.js {@code http2}, nghttp2) that floods CONNECT+RST
 * past our reset budget reads GOAWAY ENHANCE_YOUR_CALM (11), its {@code 'goaway'} event, not a
 * connection error: our server closes lingering after a GOAWAY with an error code (LingeringClose),
 * as Go's HTTP/2 server does ({@code goAwayTimeout}, golang.org/issue/18701).
 */
@Timeout(120)
class NodeClientGoAwayTest {
    static final SpiffeId SERVER = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "server");
    static final SpiffeId CLIENT = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "node-client");
    static final int ROUNDS = 5;

    @TempDir
    static Path dir;
    static Pki pki;
    static Pki.PemFiles client;
    /**
     * Completes no connect (its accept queue is full, so the kernel drops further SYNs): the dials
     * the CONNECTs make stay pending, and every reset is one before the answer, which the budget counts.
     */
    static SilentPort full;
    static HboneServer server;

    @BeforeAll
    static void start() throws Exception {
        Peers.node();
        Peers.nodeScript("goaway-flood.js");
        pki = new Pki(dir);
        client = pki.write("node-client", CLIENT);
        full = new SilentPort(64);
        InetSocketAddress upstream = full.address();
        server = HboneServer.builder()
                .tls(pki.tls)
                .identity(SERVER)
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .destinations((dst, id, local) -> Destination.proxy(upstream))
                .authorizer(io.zerohop.hbone.Authorizer.allowAll())
                .upstreamConnectTimeout(Duration.ofSeconds(60))
                .resetBudget(5, Duration.ofMinutes(10))
                .threads(2)
                .build().start().get(10, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() throws Exception {
        Peers.closeAll(server, pki);
        full.close();
    }

    @Test
    void nodeFloodingConnectAndResetReadsEnhanceYourCalm() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            List<String> cmd = List.of(Peers.node().toString(), Peers.nodeScript("goaway-flood.js").toString(),
                    "127.0.0.1:" + server.localAddress().getPort(), "127.0.0.1:" + full.port(),
                    client.certPath(), client.keyPath(), pki.caFile.toString(), SERVER.toString(), "3000");
            try (PeerProcess p = PeerProcess.start("node-flood", cmd, dir)) {
                int exit = p.awaitExit(Duration.ofSeconds(40));
                String last = p.stdoutLines().stream().filter(l -> l.startsWith("{")).reduce((a, b) -> b)
                        .orElseThrow(() -> new AssertionError("goaway-flood.js printed no JSON (exit " + exit + ")\n" + p.output()));
                Map<String, Object> report = Json.object(last);
                assertThat(report.get("goaway")).as("round %d: %s", round, p.output()).isEqualTo(Http2Error.ENHANCE_YOUR_CALM.code());
            }
        }
    }
}
