package io.zerohop.hbone.interop;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.AuthzRequest;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.identity.SpiffeIds;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interop, inbound direction with a second independent client: nghttpx as the HBONE client. An app
 * speaks HTTP/1.1 {@code CONNECT ip:port} to nghttpx (forward proxy, plain frontend); nghttpx opens
 * an HTTP/2 CONNECT stream over mutual TLS, presenting its SVID, to our {@link HboneServer}.
 *
 * <p>nghttpx does not forward a half-close through a tunnel (the app's FIN tears it down), so the
 * app sends everything, reads the whole echo back by count, then closes.
 */
@Timeout(60)
class NghttpxClientToHboneServerTest {
    static final int ECHO_PORT = 7001;
    static final int DENIED_PORT = 7002;
    static final SpiffeId SERVER = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "server");
    static final SpiffeId NGHTTPX = SpiffeIds.istio(Pki.TRUST_DOMAIN, "edge", "nghttpx");

    @TempDir
    static Path dir;
    static Pki pki;
    static final EmbeddedEcho embedded = new EmbeddedEcho();
    static final Queue<AuthzRequest> authz = new ConcurrentLinkedQueue<>();
    static HboneServer server;
    static Nghttpx nghttpx;
    static ExecutorService threads;

    @BeforeAll
    static void start() throws Exception {
        Peers.nghttpx();
        pki = new Pki(dir);
        Pki.PemFiles client = pki.write("nghttpx-client", NGHTTPX);
        server = HboneServer.builder()
                .tls(pki.tls)
                .identity(SERVER)
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .destinations((dst, id, local) -> dst.getAddress().isLoopbackAddress()
                        && (dst.getPort() == ECHO_PORT || dst.getPort() == DENIED_PORT) ? Destination.embedded(embedded) : null)
                .authorizer(r -> {
                    authz.add(r);
                    if (!r.peer().equals(NGHTTPX)) {
                        return AuthzDecision.deny("only " + NGHTTPX + " may connect");
                    }
                    return r.destination().getPort() == DENIED_PORT ? AuthzDecision.deny("port " + DENIED_PORT + " is closed by policy")
                            : AuthzDecision.allow();
                })
                .threads(2)
                .build().start().get(10, TimeUnit.SECONDS);
        int hbonePort = server.localAddress().getPort();
        nghttpx = Nghttpx.start(port -> List.of(
                "-s", // forward proxy: the app's CONNECT becomes an HTTP/2 CONNECT to the backend
                "--frontend=127.0.0.1," + port + ";no-tls",
                "--backend=127.0.0.1," + hbonePort + ";;proto=h2;tls",
                "--client-private-key-file=" + client.keyPath(),
                "--client-cert-file=" + client.certPath(),
                "--cacert=" + pki.caFile,
                "--insecure"), // skips only nghttpx's host name check (SVIDs carry URI SANs); the chain is still ours to verify
                dir);
        threads = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "app");
            t.setDaemon(true);
            return t;
        });
    }

    @AfterAll
    static void stop() throws Exception {
        Peers.closeAll(nghttpx, server, threads == null ? null : threads::shutdownNow, pki);
    }

    @BeforeEach
    void clear() {
        authz.clear();
        embedded.tunnels.clear();
    }

    /** An app connection through nghttpx: sends the HTTP/1.1 CONNECT, returns the response head. */
    static List<String> appConnect(Socket s, int port) throws IOException {
        s.connect(nghttpx.address(), 5000);
        s.setSoTimeout(30_000);
        String authority = "127.0.0.1:" + port;
        OutputStream out = s.getOutputStream();
        out.write(("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
        List<String> head = ConnectProxy.readHead(s.getInputStream());
        assertThat(head).as("nghttpx response to CONNECT\n%s", nghttpx.process.output()).isNotNull();
        return head;
    }

    /** Sends {@code bytes} (sender thread) and reads the echo back by count; returns {sent, got} SHA-256. */
    static String[] echoByCount(Socket s, long bytes, long seed) throws Exception {
        OutputStream out = s.getOutputStream();
        InputStream in = s.getInputStream();
        CompletableFuture<String> sent = CompletableFuture.supplyAsync(() -> {
            try {
                return Bytes.send(out, bytes, seed);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, threads);
        String got = Bytes.receive(in, bytes);
        return new String[] {sent.get(30, TimeUnit.SECONDS), got};
    }

    @Test
    void appTunnelsEightMiBThroughNghttpxAndOurServerSeesItsSvid() throws Exception {
        try (Socket s = new Socket()) {
            List<String> head = appConnect(s, ECHO_PORT);
            assertThat(head.get(0)).as("%s", head).startsWith("HTTP/1.1 200");
            String[] sums = echoByCount(s, 8L << 20, 8);
            assertThat(sums[1]).as("sha256 of the echo vs of what was sent").isEqualTo(sums[0]);
        }
        assertThat(embedded.tunnels).singleElement().satisfies(t -> {
            assertThat(t.peerIdentity()).as("nghttpx's client SVID, verified by our server").isEqualTo(NGHTTPX);
            assertThat(t.localIdentity()).isEqualTo(SERVER);
            assertThat(t.destination()).isEqualTo(new InetSocketAddress(InetAddress.getLoopbackAddress(), ECHO_PORT));
            assertThat(t.direction()).isEqualTo(TunnelInfo.Direction.INBOUND);
        });
    }

    @Test
    void sixteenConcurrentAppConnectionsAreMultiplexedByNghttpx() throws Exception {
        int n = 16;
        List<CompletableFuture<String[]>> runs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long seed = 100 + i;
            runs.add(CompletableFuture.supplyAsync(() -> {
                try (Socket s = new Socket()) {
                    List<String> head = appConnect(s, ECHO_PORT);
                    if (!head.get(0).startsWith("HTTP/1.1 200")) {
                        throw new AssertionError("CONNECT refused: " + head);
                    }
                    return echoByCount(s, 256 * 1024 + seed, seed);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, threads));
        }
        CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new)).get(40, TimeUnit.SECONDS);
        for (int i = 0; i < n; i++) {
            String[] sums = runs.get(i).get();
            assertThat(sums[1]).as("connection %d", i).isEqualTo(sums[0]);
        }
        assertThat(embedded.tunnels).hasSize(n).allSatisfy(t -> assertThat(t.peerIdentity()).isEqualTo(NGHTTPX));
        assertThat(embedded.tunnels.stream().map(TunnelInfo::peerAddress).distinct())
                .as("nghttpx multiplexes the app connections as streams of its HTTP/2 backend connection").hasSize(1);
    }

    @Test
    void connectDeniedByOurAuthorizerIsRefusedThroughNghttpx() throws Exception {
        try (Socket s = new Socket()) {
            List<String> head = appConnect(s, DENIED_PORT);
            assertThat(head.get(0)).as("%s", head).isEqualTo("HTTP/1.1 401 Unauthorized");
        }
        assertThat(authz).singleElement().satisfies(r -> {
            assertThat(r.peer()).isEqualTo(NGHTTPX);
            assertThat(r.destination().getPort()).isEqualTo(DENIED_PORT);
        });
        assertThat(embedded.tunnels).as("a refused stream never reaches the destination").isEmpty();
    }
}
