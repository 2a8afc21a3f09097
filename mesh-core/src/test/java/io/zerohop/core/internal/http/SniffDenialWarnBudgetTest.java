package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.internal.RateLimitedLog;
import io.zerohop.hbone.internal.Relay;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.policy.WorkloadRef;
import io.zerohop.testing.CapturedStderr;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The {@code denied plaintext … (not parsed as HTTP: …)} WARN of a plaintext connection on an {@code auto} port whose
 * first bytes are not HTTP and which {@code evaluateUnparsed} denies: a client can cause it at will, so it goes through
 * the refusal budget ({@link RateLimitedLog}, the mesh's 20 lines per 10 s shared with the other refusals), and is
 * DEBUG while the access log writes the connection's line; until 2 December every such connection wrote one WARN.
 * ztunnel writes an access line per connection and Envoy counts its RBAC denials without a log line per denial; the
 * access line stays unlimited, the WARN is bounded. Here a budget of 2 lines per hour (deterministic: no window ends in
 * the test), each client connection a Netty EmbeddedChannel (no socket is needed to sniff bytes and decide).
 */
class SniffDenialWarnBudgetTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: api-only, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules: [{to: [{operation: {paths: ["/api/*"]}}]}]
            """;

    @Test
    void junkInALoopWritesTheBudgetOfWarnsAndTheAccessLogCarriesTheRestAtDebug() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
        HttpEnforcement http = new HttpEnforcement(engine, null, null, null, 5_000);
        AtomicBoolean accessLogOn = new AtomicBoolean(false);
        http.logRefusals(new RateLimitedLog(LoggerFactory.getLogger("io.zerohop.core.Mesh"), "refusals", 2, Duration.ofHours(1)),
                accessLogOn::get);
        try (CapturedStderr err = new CapturedStderr()) {
            for (int i = 0; i < 10; i++) {
                junk(http, 41000 + i);
            }
            assertThat(err.count("denied plaintext 127.0.82.8:", "not parsed as HTTP")).as("the budget, not one per connection").isEqualTo(2);
            accessLogOn.set(true);
            junk(http, 42000);
            assertThat(err.count(":42000", "not parsed as HTTP")).as("DEBUG while the access log carries it").isZero();
        }
    }

    /** One plaintext connection from port {@code port} that sends non-HTTP bytes; returns once it is denied and closed. */
    private static void junk(HttpEnforcement http, int port) {
        EmbeddedChannel client = new EmbeddedChannel();
        // Denied on its bytes, never dialled.
        Relay.End end = http.plaintext(client, () -> {
                    throw new AssertionError("dialled");
                }, new InetSocketAddress("127.0.82.8", port), new InetSocketAddress("127.0.82.1", 8080),
                WorkloadRef.of("prod", "backend", Map.of("app", "backend")), SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/backend"),
                AppProtocol.AUTO);
        end.joinFrom(new Stub(client));
        client.writeInbound(Unpooled.copiedBuffer("\u0001\u0002junk\r\n", StandardCharsets.ISO_8859_1));
        client.runPendingTasks();
        assertThat(client.isOpen()).as("denied, closed").isFalse();
        assertThat(client.attr(HttpEnforcement.DENIED_UNPARSED).get()).isNotNull();
        Object m;
        while ((m = client.readOutbound()) != null) {
            ReferenceCountUtil.release(m);
        }
        client.finishAndReleaseAll();
    }

    /** A relay end over an EmbeddedChannel (the client's connection). */
    record Stub(Channel channel) implements Relay.End {
        @Override
        public void shutdownOutput() {
        }

        @Override
        public void reset() {
            channel.close();
        }

        @Override
        public void close() {
            channel.close();
        }
    }
}
