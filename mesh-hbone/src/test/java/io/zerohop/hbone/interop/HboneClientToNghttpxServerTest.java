package io.zerohop.hbone.interop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.SpiffeIds;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
 * Interop, outbound direction with a second independent server: nghttpx in HTTP/2 proxy mode
 * ({@code -s}) terminates our client's mutual TLS 1.3 (it requires and verifies our client SVID
 * against the bundle), accepts the HTTP/2 {@code CONNECT ip:port} streams and hands each to its
 * HTTP/1.1 backend, a CONNECT proxy that opens the TCP connection to an echo server.
 *
 * <p>nghttpx cannot check a SPIFFE ID (no URI SAN matching), so the identity check in this direction
 * is ours: the client pins nghttpx's SVID. nghttpx does not forward a half-close, so tunnels are
 * echoed by count.
 */
@Timeout(60)
class HboneClientToNghttpxServerTest {
    static final SpiffeId NGHTTPX = SpiffeIds.istio(Pki.TRUST_DOMAIN, "edge", "nghttpx");
    static final SpiffeId CLIENT = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "client");

    @TempDir
    static Path dir;
    static Pki pki;
    static JavaEcho echo;
    static ConnectProxy backend;
    static Nghttpx nghttpx;
    static HboneClient client;

    @BeforeAll
    static void start() throws Exception {
        Peers.nghttpx();
        pki = new Pki(dir);
        Pki.PemFiles server = pki.write("nghttpx-server", NGHTTPX);
        echo = new JavaEcho();
        backend = new ConnectProxy(echo.address());
        nghttpx = Nghttpx.start(port -> List.of(
                "-s",
                "--frontend=127.0.0.1," + port,
                "--backend=127.0.0.1," + backend.address().getPort(),
                "--tls-min-proto-version=TLSv1.3",
                "--backend-connections-per-host=256", // default 8: the 200-tunnel test would queue in nghttpx
                "--verify-client",
                "--verify-client-cacert=" + pki.caFile,
                server.keyPath(),
                server.certPath()), dir);
        client = HboneClient.builder().tls(pki.tls).identity(CLIENT).threads(2).build();
    }

    @AfterAll
    static void stop() throws Exception {
        Peers.closeAll(client, nghttpx, backend, echo, pki);
    }

    @Test
    void eightMiBThroughOneTunnel() throws Exception {
        byte[] payload = Bytes.random(new SplittableRandom(8), 8 << 20);
        HboneStream stream;
        try {
            stream = client.connect(echo.address(), Set.of(NGHTTPX), nghttpx.address()).get(15, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("no tunnel through nghttpx; backend saw " + backend.requests + "\n" + nghttpx.process.output(), e);
        }
        assertThat(stream.peerIdentity()).isEqualTo(NGHTTPX);
        assertThat(ChannelEcho.run(stream, payload, false).get(30, TimeUnit.SECONDS))
                .as("sha256 of the echo vs of what was sent").isEqualTo(Bytes.sha256(payload));
        String authority = echo.address().getAddress().getHostAddress() + ":" + echo.address().getPort();
        assertThat(backend.requests).anySatisfy(head -> assertThat(head.get(0))
                .as("nghttpx forwarded our CONNECT authority unchanged").isEqualTo("CONNECT " + authority + " HTTP/1.1"));
    }

    @Test
    void twoHundredConcurrentTunnelsOnPooledConnections() throws Exception {
        int tunnels = 200;
        SplittableRandom rnd = new SplittableRandom(200);
        List<byte[]> payloads = new ArrayList<>();
        List<CompletableFuture<String>> echoes = new ArrayList<>();
        for (int i = 0; i < tunnels; i++) {
            byte[] payload = Bytes.random(rnd, 8 * 1024 + i);
            payloads.add(payload);
            echoes.add(client.connect(echo.address(), Set.of(NGHTTPX), nghttpx.address())
                    .thenCompose(s -> ChannelEcho.run(s, payload, false)));
        }
        CompletableFuture.allOf(echoes.toArray(CompletableFuture[]::new)).get(40, TimeUnit.SECONDS);
        for (int i = 0; i < tunnels; i++) {
            assertThat(echoes.get(i).get()).as("tunnel %d echo", i).isEqualTo(Bytes.sha256(payloads.get(i)));
        }
        assertThat(Inspect.connectionCount(client, Set.of(NGHTTPX), nghttpx.address()))
                .as("streams are multiplexed: nghttpx allows 100 concurrent streams per connection").isBetween(1, 3);
    }

    @Test
    void connectToAnAuthorityTheBackendRefusesFailsWithItsStatus() {
        InetSocketAddress elsewhere = new InetSocketAddress(InetAddress.getLoopbackAddress(), 9);
        Throwable t = catchThrowable(() -> client.connect(elsewhere, Set.of(NGHTTPX), nghttpx.address()).get(15, TimeUnit.SECONDS));
        assertThat(t).isInstanceOf(ExecutionException.class);
        assertThat(t.getCause()).isInstanceOf(HboneRefusedException.class);
        assertThat(((HboneRefusedException) t.getCause()).status()).as("%s", t.getCause()).isGreaterThanOrEqualTo(400);
    }

    @Test
    void nghttpxPresentingAnotherIdentityIsRefusedByOurClient() {
        SpiffeId expected = SpiffeIds.istio(Pki.TRUST_DOMAIN, "prod", "payments");
        Throwable t = catchThrowable(() -> client.connect(echo.address(), Set.of(expected), nghttpx.address()).get(15, TimeUnit.SECONDS));
        assertThat(t).isInstanceOf(ExecutionException.class);
        assertThat(t.getCause()).isInstanceOf(SSLHandshakeException.class);
        assertThat(t.getCause().getMessage()).contains(expected.toString()).contains(NGHTTPX.toString());
    }
}
