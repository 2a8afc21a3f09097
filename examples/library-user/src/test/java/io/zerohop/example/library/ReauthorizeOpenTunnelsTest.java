package io.zerohop.example.library;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.TestMesh;
import io.zerohop.testing.ZerohopTest;
import io.zerohop.testing.netty.EchoServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * mesh-hbone README's "Re-authorizing open tunnels" snippet, pasted as written (so that it compiles), in a custom
 * proxy like {@link TinyProxy}: after a policy change that denies an open tunnel's peer, the tunnel is reset (the
 * client reads a reset) and a new CONNECT gets 401, as a new user proved with the public API alone.
 */
@ZerohopTest
class ReauthorizeOpenTunnelsTest {
    /** The authorizer's check, on what the tunnel's open event says. */
    static boolean allows(PolicyEngine engine, TunnelInfo t) {
        return engine.evaluate(AccessRequest.builder()
                .sourcePrincipal(t.peerIdentity().toString())
                .sourceAddress(t.peerAddress().getAddress())
                .destinationAddress(t.destination().getAddress())
                .destinationPort(t.destination().getPort())
                .destination(TinyProxyTest.ECHO)
                .build()).allowed();
    }

    @Test
    void aPolicyChangeResetsTheTunnelsItNowDenies(TestMesh tm) throws Exception {
        EchoServer echo = tm.echoServer();
        InetSocketAddress served = new InetSocketAddress("192.0.2.20", 8080);
        SpiffeId self = tm.identity("shop", "echo");
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", OrdersServiceTest.POLICY)).build();

        java.util.function.Predicate<TunnelInfo> allowed = t -> allows(engine, t);
        // --- mesh-hbone README, "Re-authorizing open tunnels" ---
        Map<TunnelInfo, TunnelCounters> open = new ConcurrentHashMap<>();
        HboneEvents reauthorize = new HboneEvents() {
            @Override
            public void tunnelOpened(TunnelInfo t, TunnelCounters live) {
                open.put(t, live);
            }

            @Override
            public void tunnelClosed(TunnelResult r) {
                open.remove(r.info());
            }
        };
        engine.addChangeListener(policies -> open.forEach((t, live) -> {
            if (!allowed.test(t)) { // your authorizer's check, on the tunnel's peer and destination
                live.abort();       // RST_STREAM(CONNECT_ERROR) to the client, a reset of the upstream connection
            }
        }));
        // --- end of the snippet ---

        HboneServer proxy = tm.closeLater(HboneServer.builder().tls(tm.tls()).identity(self)
                .bind(new InetSocketAddress("127.0.0.1", 0)).threads(1)
                .destinations((target, localId, local) -> target.equals(served) ? Destination.proxy(echo.address()) : Destination.notServed())
                .authorizer(r -> TinyProxy.decide(engine, TinyProxyTest.ECHO, r))
                .listener(reauthorize)
                .build().start().get());
        HboneClient web = tm.client(tm.identity("shop", "web"));
        try (HboneSocket s = web.connectSocket(served, Set.of(self), proxy.localAddress(), Duration.ofSeconds(10))) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write("ping".getBytes(US_ASCII));
            InputStream in = s.getInputStream();
            assertThat(in.readNBytes(4)).asString(US_ASCII).isEqualTo("ping");

            // Now only batch may call: web's open tunnel is reset, not left to run.
            engine.replace(PolicyLoader.fromString("p.yaml", OrdersServiceTest.POLICY.replace("sa/web", "sa/batch")));
            assertThatThrownBy(() -> {
                while (in.read() >= 0) {
                    // drain until the reset
                }
            }).isInstanceOf(IOException.class);
        }
        assertThatThrownBy(() -> web.connectSocket(served, Set.of(self), proxy.localAddress(), Duration.ofSeconds(10)))
                .isInstanceOf(HboneRefusedException.class)
                .satisfies(e -> assertThat(((HboneRefusedException) e).status()).isEqualTo(401));
    }
}
