package io.zerohop.example.library;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.policy.WorkloadRef;
import io.zerohop.testing.TestMesh;
import io.zerohop.testing.ZerohopTest;
import io.zerohop.testing.netty.EchoServer;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The custom proxy (mesh-hbone + mesh-policy, no Mesh) in front of a real TCP echo server. */
@ZerohopTest
class TinyProxyTest {
    static final WorkloadRef ECHO = new WorkloadRef("shop", "echo", "echo", Map.of("app", "orders"));

    @Test
    void thePolicyDecidesEachTunnelAndAllowedBytesReachTheUpstream(TestMesh t) throws Exception {
        EchoServer echo = t.echoServer();
        InetSocketAddress served = new InetSocketAddress("192.0.2.20", 8080);
        SpiffeId self = t.identity("shop", "echo");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", OrdersServiceTest.POLICY)).build();
        HboneServer proxy = t.closeLater(TinyProxy.start(t.tls(), self, new InetSocketAddress("127.0.0.1", 0),
                new TinyProxy.Service(ECHO, Map.of(served, echo.address())), policy).get());

        HboneClient web = t.client(t.identity("shop", "web"));
        try (HboneSocket s = web.connectSocket(served, Set.of(self), proxy.localAddress(), Duration.ofSeconds(10))) {
            s.getOutputStream().write("ping".getBytes(US_ASCII));
            s.shutdownOutput();
            assertThat(s.getInputStream().readAllBytes()).asString(US_ASCII).isEqualTo("ping");
        }

        HboneClient batch = t.client(t.identity("shop", "batch"));
        assertThatThrownBy(() -> batch.connectSocket(served, Set.of(self), proxy.localAddress(), Duration.ofSeconds(10)))
                .isInstanceOf(HboneRefusedException.class)
                .satisfies(e -> assertThat(((HboneRefusedException) e).status()).isEqualTo(401));

        // A target the table does not name is never dialled: 400, whoever asks.
        assertThatThrownBy(() -> web.connectSocket(new InetSocketAddress("192.0.2.21", 8080), Set.of(self),
                proxy.localAddress(), Duration.ofSeconds(10)))
                .isInstanceOf(HboneRefusedException.class)
                .satisfies(e -> assertThat(((HboneRefusedException) e).status()).isEqualTo(400));
    }
}
