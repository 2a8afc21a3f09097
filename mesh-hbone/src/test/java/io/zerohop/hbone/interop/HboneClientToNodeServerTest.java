package io.zerohop.hbone.interop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.SpiffeIds;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import io.zerohop.hbone.internal.Inspect;

/**
 * Interop, outbound direction: our {@link HboneClient} opens tunnels to an independent HBONE server
 * (Node.js {@code http2}, {@code hbone-server.js}) that requires a client certificate, checks the
 * client's SPIFFE ID and echoes each tunnel, half-close included.
 */
@Timeout(60)
class HboneClientToNodeServerTest {
    static final SpiffeId NODE_SERVER = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "node-server");
    static final SpiffeId CLIENT = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "client");
    static final SpiffeId INTRUDER = SpiffeIds.istio(Pki.TRUST_DOMAIN, "other", "intruder");
    /** The Node server echoes whatever the authority; it is what a ztunnel would get: a pod ip:port. */
    static final InetSocketAddress TARGET = new InetSocketAddress(InetAddress.getLoopbackAddress(), 8080);

    @TempDir
    static Path dir;
    static Pki pki;
    static PeerProcess nodeServer;
    static InetSocketAddress nodeAddress;
    static HboneClient client;

    @BeforeAll
    static void start() throws Exception {
        Path node = Peers.node();
        Path script = Peers.nodeScript("hbone-server.js");
        pki = new Pki(dir);
        Pki.PemFiles server = pki.write("node-server", NODE_SERVER);
        nodeServer = PeerProcess.start("node-server", List.of(node.toString(), script.toString(),
                server.certPath(), server.keyPath(), pki.caFile.toString(), CLIENT.toString()), dir);
        String line = nodeServer.awaitStdout(l -> l.startsWith("{"), Duration.ofSeconds(15));
        int port = ((Long) Json.object(line).get("port")).intValue();
        nodeAddress = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
        client = HboneClient.builder().tls(pki.tls).identity(CLIENT).threads(2).build();
    }

    @AfterAll
    static void stop() throws Exception {
        Peers.closeAll(client, nodeServer, pki);
    }

    /** The Node server's per-stream log lines (JSON on stderr) for a peer and status. */
    static List<Map<String, Object>> nodeLog(SpiffeId peer, long status, int atLeast) throws InterruptedException {
        String p = "\"peer\":\"" + peer + "\"";
        String s = "\"status\":" + status + ",";
        return nodeServer.awaitStderrCount(l -> l.contains(p) && l.contains(s), atLeast, Duration.ofSeconds(10))
                .stream().map(Json::object).toList();
    }

    @Test
    void sixteenMiBThroughOneTunnelWithHalfClose() throws Exception {
        long bytes = 16L << 20;
        HboneStream stream = client.connect(TARGET, Set.of(NODE_SERVER), nodeAddress).get(15, TimeUnit.SECONDS);
        assertThat(stream.peerIdentity()).isEqualTo(NODE_SERVER);
        try (Socket socket = stream.toSocket()) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            CompletableFuture<String> sent = CompletableFuture.supplyAsync(() -> {
                try {
                    String sha = Bytes.send(out, bytes, 16);
                    socket.shutdownOutput(); // END_STREAM: Node ends its side once it echoed everything
                    return sha;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            InputStream in = socket.getInputStream();
            Object[] got = Bytes.receiveAll(in); // to the Node server's END_STREAM
            assertThat(got[0]).as("bytes echoed").isEqualTo(bytes);
            assertThat(got[1]).as("sha256 of the echo vs of what was sent").isEqualTo(sent.get(30, TimeUnit.SECONDS));
        }
        assertThat(nodeLog(CLIENT, 200, 1).get(0).get("authority")).isEqualTo("127.0.0.1:8080");
    }

    @Test
    void twoHundredConcurrentTunnelsMultiplexed() throws Exception {
        int tunnels = 200;
        int before = nodeLog(CLIENT, 200, 0).size();
        SplittableRandom rnd = new SplittableRandom(200);
        List<byte[]> payloads = new ArrayList<>();
        List<CompletableFuture<String>> echoes = new ArrayList<>();
        for (int i = 0; i < tunnels; i++) {
            byte[] payload = Bytes.random(rnd, 16 * 1024 + i);
            payloads.add(payload);
            echoes.add(client.connect(TARGET, Set.of(NODE_SERVER), nodeAddress)
                    .thenCompose(s -> ChannelEcho.run(s, payload, true)));
        }
        CompletableFuture.allOf(echoes.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
        for (int i = 0; i < tunnels; i++) {
            assertThat(echoes.get(i).get()).as("tunnel %d echo", i).isEqualTo(Bytes.sha256(payloads.get(i)));
        }
        assertThat(Inspect.connectionCount(client, Set.of(NODE_SERVER), nodeAddress))
                .as("200 tunnels share pooled HTTP/2 connections (at most 100 streams each)").isBetween(1, 2);
        assertThat(nodeLog(CLIENT, 200, before + tunnels)).hasSizeGreaterThanOrEqualTo(before + tunnels);
    }

    @Test
    void identityTheNodeServerDoesNotExpectGets401() throws Exception {
        try (HboneClient other = HboneClient.builder().tls(pki.tls).identity(INTRUDER).threads(1).build()) {
            Throwable t = catchThrowable(() -> other.connect(TARGET, Set.of(NODE_SERVER), nodeAddress).get(15, TimeUnit.SECONDS));
            assertThat(t).isInstanceOf(ExecutionException.class);
            assertThat(t.getCause()).isInstanceOf(HboneRefusedException.class);
            assertThat(((HboneRefusedException) t.getCause()).status()).isEqualTo(401);
        }
        assertThat(nodeLog(INTRUDER, 401, 1)).isNotEmpty();
    }

    @Test
    void wrongExpectedServerIdentityFailsNamingBothIdentities() throws Exception {
        SpiffeId expected = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "payments");
        Throwable t = catchThrowable(() -> client.connect(TARGET, Set.of(expected), nodeAddress).get(15, TimeUnit.SECONDS));
        assertThat(t).isInstanceOf(ExecutionException.class);
        assertThat(t.getCause()).isInstanceOf(SSLHandshakeException.class);
        assertThat(t.getCause().getMessage()).as("names the expected and the presented identity")
                .contains(expected.toString())
                .contains(NODE_SERVER.toString());
    }
}
