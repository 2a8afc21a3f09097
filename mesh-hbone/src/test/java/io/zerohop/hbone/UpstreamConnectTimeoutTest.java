package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.testing.netty.SilentPort;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * A proxy-mode tunnel whose upstream never answers the connect is refused with 503 after the
 * server's upstream connect timeout (ztunnel's status for an upstream it cannot reach,
 * src/proxy/inbound.rs), with the reason Netty's connect timeout gave. The timeout is a deadline of
 * the HBONE connection, no timer per dial (issue 14); this pins that it still fires. The upstream
 * is a listener whose accept queue is full, so the kernel drops further SYNs.
 */
class UpstreamConnectTimeoutTest {
    static Mesh mesh;
    static SilentPort full;
    static HboneServer server;
    static HboneClient client;
    static final RecordingEvents events = new RecordingEvents();

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        full = new SilentPort(16);
        server = mesh.server((dst, id, local) -> Destination.proxy(Mesh.loopback(full.port())))
                .upstreamConnectTimeout(Duration.ofSeconds(1)).listener(events).build().start().get(10, TimeUnit.SECONDS);
        client = mesh.client().build();
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        server.close();
        full.close();
        mesh.close();
    }

    @Test
    @DisplayName("two tunnels to an upstream that never answers: each refused with 503 after the upstream connect timeout")
    void anUnansweredUpstreamConnectTimesOut() throws Exception {
        var first = client.connect(Mesh.loopback(9), mesh.expectServer(), server.localAddress());
        var second = client.connect(Mesh.loopback(9), mesh.expectServer(), server.localAddress());
        for (var tunnel : List.of(first, second)) {
            assertThatThrownBy(() -> tunnel.get(30, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOfSatisfying(HboneRefusedException.class, e -> assertThat(e.status()).isEqualTo(503));
        }
        for (int i = 0; i < 2; i++) {
            RecordingEvents.Refusal r = events.refused.poll(10, TimeUnit.SECONDS);
            assertThat(r).isNotNull();
            assertThat(r.status()).isEqualTo(503);
            // Addresses as ztunnel prints them (no leading '/').
            String upstream = io.zerohop.hbone.internal.Authority.text(Mesh.loopback(full.port()));
            assertThat(r.reason()).isEqualTo("upstream " + upstream + " unreachable: connection timed out after 1s: " + upstream);
        }
        assertThat(io.zerohop.hbone.internal.Inspect.pendingDials(server)).isZero();
    }
}
