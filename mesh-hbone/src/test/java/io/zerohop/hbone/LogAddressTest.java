package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.HEADERS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * hbone's log lines and messages print socket addresses as ztunnel's access log prints them
 * ({@code src.addr}/{@code dst.addr}, Rust's {@code SocketAddr} display, istio/ztunnel
 * src/proxy/metrics.rs): {@code 127.0.0.1:15008}, {@code [::1]:6999}, never
 * {@code InetSocketAddress.toString()}'s {@code /127.0.0.1:15008}. The lines are read from stderr
 * (slf4j-simple) with {@link ServerNoiseTest#logLines}, which copies them with zerohop-testing-netty's
 * {@code CapturedStderr} (a test dependency of mesh-hbone: it needs no zerohop module, where zerohop-testing's class of
 * that name, a subclass kept for users' imports, sits above mesh-hbone).
 */
class LogAddressTest {
    static Mesh mesh;

    @BeforeAll
    static void start() {
        mesh = new Mesh();
    }

    @AfterAll
    static void stop() {
        mesh.close();
    }

    @Test
    void refusalLineNamesSourceAndDestinationWithoutSlash() throws Exception {
        try (HboneServer server = mesh.server((dst, id, local) -> null).build().start().get(10, TimeUnit.SECONDS)) {
            List<String> lines = ServerNoiseTest.logLines(() -> {
                try (RawFrames p = mesh.rawPeer(server)) {
                    p.preface();
                    p.headers(1, new DefaultHttp2Headers().method("CONNECT").authority("[::1]:6999"), false);
                    RawFrames.Frame f = p.next(HEADERS, 1, Duration.ofSeconds(10));
                    assertThat(f).isNotNull();
                    assertThat(f.status()).isEqualTo("400");
                }
            });
            String line = lines.stream().filter(l -> l.contains("HBONE CONNECT refused")).findFirst().orElseThrow();
            assertThat(line).contains(" src=127.0.0.1:", " dst=[::1]:6999 ")
                    .doesNotContain("/127.0.0.1").doesNotContain("0:0:0:0:0:0:0:1");
        }
    }

    /**
     * A listener that writes its own line for every refusal ({@link HboneEvents#logsRefusals}, as
     * mesh-core's access log) gets the refusal; the server's own line is then DEBUG, not INFO, so a
     * refusal is said once (ztunnel writes one access line for it, istio/ztunnel src/proxy/inbound.rs).
     */
    @Test
    void aListenerThatLogsRefusalsTakesTheServersInfoLine() throws Exception {
        List<Integer> refused = new java.util.concurrent.CopyOnWriteArrayList<>();
        HboneEvents events = new HboneEvents() {
            @Override
            public void tunnelRefused(TunnelInfo tunnel, int status, String reason) {
                refused.add(status);
            }

            @Override
            public boolean logsRefusals() {
                return true;
            }
        };
        try (HboneServer server = mesh.server((dst, id, local) -> null).listener(events).build().start().get(10, TimeUnit.SECONDS)) {
            List<String> lines = ServerNoiseTest.logLines(() -> {
                try (RawFrames p = mesh.rawPeer(server)) {
                    p.preface();
                    p.headers(1, new DefaultHttp2Headers().method("CONNECT").authority("[::1]:6999"), false);
                    RawFrames.Frame f = p.next(HEADERS, 1, Duration.ofSeconds(10));
                    assertThat(f.status()).isEqualTo("400");
                }
            });
            assertThat(refused).as("the listener was told").containsExactly(400);
            assertThat(lines).noneMatch(l -> l.contains("HBONE CONNECT refused"));
        }
    }

    @Test
    void failedHandshakeLineNamesBothEndsWithoutSlash() throws Exception {
        RecordingEvents events = new RecordingEvents();
        try (HboneServer server = mesh.server((dst, id, local) -> null).listener(events).build().start().get(10, TimeUnit.SECONDS);
             InMemoryCa other = InMemoryCa.create("other.local");
             MeshTls strangerTls = MeshTls.builder(other).build()) {
            List<String> lines = ServerNoiseTest.logLines(() -> {
                try (RawFrames stranger = new RawFrames(
                        strangerTls.client(SpiffeIds.istio("other.local", "x", "y"), Set.of()).get(), server.localAddress())) {
                    stranger.closed.get(10, TimeUnit.SECONDS);
                } catch (Exception expected) {
                    // the handshake fails on one side or the other; the server logs it
                }
                RecordingEvents.next(events.failed);
            });
            String line = lines.stream().filter(l -> l.contains("HBONE TLS handshake from")).findFirst().orElseThrow();
            int port = server.localAddress().getPort();
            assertThat(line).containsPattern("HBONE TLS handshake from 127\\.0\\.0\\.1:\\d+ to 127\\.0\\.0\\.1:" + port + " ")
                    .doesNotContain("/127.0.0.1");
        }
    }

    @Test
    void clientRefusalMessageNamesTargetAndHboneAddressWithoutSlash() throws Exception {
        try (HboneServer server = mesh.server((dst, id, local) -> null).build().start().get(10, TimeUnit.SECONDS);
             HboneClient client = mesh.client().build()) {
            InetSocketAddress target = new InetSocketAddress("::1", 6999);
            Throwable t = catchThrowable(() -> client.connect(target, mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS));
            assertThat(t).isInstanceOf(ExecutionException.class);
            assertThat(t.getCause()).isInstanceOf(HboneRefusedException.class)
                    .hasMessageContaining("HBONE CONNECT to [::1]:6999 via 127.0.0.1:" + server.localAddress().getPort() + " ");
        }
    }

    @Test
    void connectSocketTimeoutAndInterruptNameTheTargetWithoutSlash() throws Exception {
        try (HboneServer server = mesh.server((dst, id, local) -> null).build().start().get(10, TimeUnit.SECONDS)) {
            InetSocketAddress target = new InetSocketAddress("::1", 6999);
            try (HboneClient client = mesh.client().build()) {
                // A fresh client: the TLS handshake alone outlasts a 1 ns timeout (zero is refused: ConnectArgumentsTest).
                assertThat(catchThrowable(() -> client.connectSocket(target, mesh.expectServer(), server.localAddress(), Duration.ofNanos(1))))
                        .isInstanceOf(java.net.SocketTimeoutException.class).hasMessageStartingWith("HBONE connect to [::1]:6999 timed out");
            }
            try (HboneClient client = mesh.client().build()) {
                Thread.currentThread().interrupt();
                Throwable t = catchThrowable(() -> client.connectSocket(target, mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10)));
                assertThat(Thread.interrupted()).isTrue();
                assertThat(t).isInstanceOf(java.io.InterruptedIOException.class).hasMessage("interrupted while connecting to [::1]:6999");
            }
        }
    }

    /**
     * The three messages a new user's custom proxy met with {@code InetSocketAddress.toString()}'s form (3 December): an
     * unresolved connect target or HBONE address (named, and which one), a listener that cannot bind, and an unresolved
     * bind address, now refused by the builder where {@code start()} failed with a message ending in "null".
     */
    @Test
    void connectBindAndUnresolvedMessagesNameAddressesWithoutSlash() throws Exception {
        try (HboneServer server = mesh.server((dst, id, local) -> null).build().start().get(10, TimeUnit.SECONDS);
             HboneClient client = mesh.client().build()) {
            Throwable target = catchThrowable(() -> client.connect(InetSocketAddress.createUnresolved("backend.prod", 9), mesh.expectServer(),
                    server.localAddress()).get(10, TimeUnit.SECONDS));
            assertThat(target).isInstanceOf(ExecutionException.class).cause().isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("HBONE addresses must be resolved IPs: target backend.prod:9 is unresolved (resolve the host name first)");
            Throwable hbone = catchThrowable(() -> client.connect(new InetSocketAddress("127.0.0.1", 9), mesh.expectServer(),
                    InetSocketAddress.createUnresolved("node-b", 15008)).get(10, TimeUnit.SECONDS));
            assertThat(hbone).cause().hasMessage("HBONE addresses must be resolved IPs: hbone address node-b:15008 is unresolved"
                    + " (resolve the host name first)");

            HboneServer second = mesh.server((dst, id, local) -> null).bind(server.localAddress()).build();
            Throwable bind = catchThrowable(() -> second.start().get(10, TimeUnit.SECONDS));
            assertThat(bind).cause().hasMessageStartingWith("cannot bind HBONE listener to 127.0.0.1:" + server.localAddress().getPort() + ": ")
                    .hasMessageNotContaining("/127.0.0.1");
            second.close();
        }
        assertThat(catchThrowable(() -> mesh.server((dst, id, local) -> null).bind(InetSocketAddress.createUnresolved("nowhere.invalid", 0))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("bind address nowhere.invalid:0 is unresolved: give an IP address (resolve the host name first)");
        // It bound 224.0.0.1 and started (a new-user pass), where no peer can dial; Mesh.Builder.inbound refuses it too.
        for (String group : new String[] {"224.0.0.1", "255.255.255.255", "ff02::1"}) {
            assertThat(catchThrowable(() -> mesh.server((dst, id, local) -> null).bind(new InetSocketAddress(group, 0))))
                    .as(group).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("is a multicast or the broadcast address, which no peer can dial");
        }
    }
}
