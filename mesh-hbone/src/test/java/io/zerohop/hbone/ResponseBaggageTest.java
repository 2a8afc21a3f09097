package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.HEADERS;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.zerohop.testing.netty.EchoServer;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The 200 carries the {@code baggage} a resolver gives ({@link Destination#proxy(java.net.InetSocketAddress, String)}),
 * as ztunnel's carries the destination workload's (istio/ztunnel src/proxy/inbound.rs {@code build_response}, under
 * {@code ENABLE_RESPONSE_BAGGAGE}, on by default); a refusal carries none, and without one the 200 is the status alone.
 */
@Timeout(60)
class ResponseBaggageTest {
    static final String BAGGAGE = "k8s.cluster.name=Kubernetes,k8s.namespace.name=prod,k8s.deployment.name=backend,"
            + "service.name=backend,service.version=latest";

    @Test
    void theResolversBaggageIsOnThe200() throws Exception {
        try (Mesh mesh = new Mesh(); EchoServer echo = new EchoServer()) {
            int withBaggage = echo.address().getPort();
            HboneServer server = mesh.server((dst, id, local) -> dst.getPort() == withBaggage ? Destination.proxy(echo.address(), BAGGAGE)
                    : dst.getPort() == 1 ? Destination.refuse(503, "refused")
                    : dst.getPort() == 3 ? Destination.embedded((stream, tunnel) -> {}, BAGGAGE) : Destination.proxy(echo.address())).build().start().get();
            try (RawFrames peer = mesh.rawPeer(server)) {
                peer.preface();
                // One at a time: a frame of another stream than the one awaited is passed over.
                peer.headers(1, new DefaultHttp2Headers().method("CONNECT").authority("127.0.0.1:" + withBaggage), false);
                RawFrames.Frame first = peer.next(HEADERS, 1, Duration.ofSeconds(10));
                assertThat(first.headers().status()).hasToString("200");
                assertThat(first.headers().get("baggage")).hasToString(BAGGAGE);
                peer.headers(3, new DefaultHttp2Headers().method("CONNECT").authority("127.0.0.1:2"), false);
                RawFrames.Frame plain = peer.next(HEADERS, 3, Duration.ofSeconds(10));
                assertThat(plain.headers().status()).hasToString("200");
                assertThat(plain.headers().names()).hasSize(1);
                peer.headers(5, new DefaultHttp2Headers().method("CONNECT").authority("127.0.0.1:1"), false);
                RawFrames.Frame refused = peer.next(HEADERS, 5, Duration.ofSeconds(10));
                assertThat(refused.headers().status()).hasToString("503");
                assertThat(refused.headers().contains("baggage")).isFalse();
                // An in-process handler's 200 carries it too (helper 268: dropping it there passed this test).
                peer.headers(7, new DefaultHttp2Headers().method("CONNECT").authority("127.0.0.1:3"), false);
                RawFrames.Frame embedded = peer.next(HEADERS, 7, Duration.ofSeconds(10));
                assertThat(embedded.headers().status()).hasToString("200");
                assertThat(embedded.headers().get("baggage")).hasToString(BAGGAGE);
            } finally {
                server.close();
            }
        }
    }
}
