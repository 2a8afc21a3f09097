package io.zerohop.hbone.interop;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneServer;
import io.zerohop.identity.SpiffeIds;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interop: a benign HTTP/2 client (Node.js {@code http2}, nghttp2) whose frames cross the server's, on one mTLS
 * connection, keeps that connection: the server's connection errors for DATA after the peer's END_STREAM and its
 * GOAWAY naming the last stream processed (as hyperium/h2, src/proto/streams/recv.rs {@code recv_data}) must not fire
 * for a race. Each upstream writes 16 KiB and resets (SO_LINGER 0) once it reads the client's first bytes or end, so
 * the server sends 200, DATA and, for half the streams, RST_STREAM CONNECT_ERROR: those answer the 200 with 4 KiB and
 * their END_STREAM a turn later, which crosses that RST_STREAM; the other half cancel on their first DATA while the
 * server still sends. Binds 127.0.176.1, ports chosen by the kernel.
 */
@Timeout(120)
class NodeClientRaceTest {
    static final String HOST = "127.0.176.1";
    static final SpiffeId SERVER = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "server");
    static final SpiffeId CLIENT = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "node-client");
    static final int STREAMS = 400;

    @TempDir
    Path dir;

    @Test
    void nodeStreamsCrossingTheServersResetsKeepTheConnection() throws Exception {
        Peers.node();
        Path script = Peers.nodeScript("race-client.js");
        Pki pki = new Pki(dir);
        Pki.PemFiles client = pki.write("node-client", CLIENT);
        AtomicInteger accepted = new AtomicInteger();
        try (ServerSocket upstream = new ServerSocket()) {
            upstream.bind(new InetSocketAddress(HOST, 0), 512);
            java.util.concurrent.ExecutorService conns = java.util.concurrent.Executors.newCachedThreadPool();
            Thread acceptor = new Thread(() -> {
                while (!upstream.isClosed()) {
                    Socket s;
                    try {
                        s = upstream.accept();
                    } catch (java.io.IOException e) {
                        return; // closed at the end of the test
                    }
                    accepted.incrementAndGet();
                    conns.execute(() -> {
                        // 16 KiB, then a reset once the client's first bytes (or its end) arrive.
                        try (s) {
                            OutputStream out = s.getOutputStream();
                            out.write(new byte[16 * 1024]);
                            out.flush();
                            s.getInputStream().read();
                            s.setSoLinger(true, 0);
                        } catch (java.io.IOException e) {
                            // the tunnel's own reset
                        }
                    });
                }
            }, "race-upstream");
            acceptor.setDaemon(true);
            acceptor.start();
            InetSocketAddress up = (InetSocketAddress) upstream.getLocalSocketAddress();
            HboneServer server = HboneServer.builder().tls(pki.tls).identity(SERVER)
                    .bind(new InetSocketAddress(HOST, 0)).destinations((dst, id, local) -> Destination.proxy(up))
                    .authorizer(io.zerohop.hbone.Authorizer.allowAll()).threads(2).build().start().get(10, TimeUnit.SECONDS);
            try {
                List<String> cmd = List.of(Peers.node().toString(), script.toString(),
                        HOST + ":" + server.localAddress().getPort(), HOST + ":" + up.getPort(),
                        client.certPath(), client.keyPath(), pki.caFile.toString(), SERVER.toString(), Integer.toString(STREAMS));
                try (PeerProcess p = PeerProcess.start("node-race", cmd, dir)) {
                    int exit = p.awaitExit(Duration.ofSeconds(60));
                    String last = p.stdoutLines().stream().filter(l -> l.startsWith("{")).reduce((a, b) -> b)
                            .orElseThrow(() -> new AssertionError("race-client.js printed no JSON (exit " + exit + ")\n" + p.output()));
                    Map<String, Object> report = Json.object(last);
                    assertThat(report.get("goaway")).as("%s", p.output()).isNull();
                    assertThat(report.get("session")).as("%s", p.output()).isEqualTo("open");
                    assertThat(((Number) report.get("closed")).intValue()).as("streams closed").isEqualTo(STREAMS);
                    assertThat(((Number) report.get("answered")).intValue()).as("streams answered 200: %s", last).isEqualTo(STREAMS);
                }
                assertThat(accepted.get()).as("upstream connections").isEqualTo(STREAMS);
            } finally {
                server.close();
                pki.close();
                conns.shutdownNow();
            }
        }
    }
}
