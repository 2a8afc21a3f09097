package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.Route;
import io.zerohop.testing.CapturedStderr;
import io.zerohop.testing.TestMesh;
import io.zerohop.testing.ZerohopTest;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * newuser23: in a {@code @ZerohopTest} class a mesh built without {@code drain(...)} drains for zero, not 10 s: an idle
 * keep-alive connection's tunnel held every test's close for the whole default. A test's own {@code drain(...)} wins.
 */
@ZerohopTest
class TestDrainDefaultTest {
    @Test
    void aMeshBuiltInAZerohopTestDrainsForZeroUnlessTheTestSaysOtherwise(TestMesh t) throws Exception {
        SpiffeId backend = t.identity("shop", "backend");
        HboneServer server = t.echoHboneServer(backend);
        try (CapturedStderr err = new CapturedStderr()) {
            closeWithAnIdleTunnel(Mesh.builder().identityProvider(t.ca()).threads(1).build(), t, server, backend);
            // The deadline's WARN names the drain: zero, with the tunnel still open at it.
            assertThat(err.awaitLine("drain deadline of ")).contains("drain deadline of 0s reached: resetting 1 tunnel still open");
            closeWithAnIdleTunnel(Mesh.builder().identityProvider(t.ca()).threads(1).drain(Duration.ofMillis(300)).build(), t, server, backend);
            assertThat(err.awaitLine("drain deadline of 300ms reached")).contains("resetting 1 tunnel still open");
        }
    }

    /** Opens a tunnel to the echo server that stays idle (a keep-alive connection's), then closes the mesh. */
    private static void closeWithAnIdleTunnel(Mesh mesh, TestMesh t, HboneServer server, SpiffeId backend) throws Exception {
        InetSocketAddress target = new InetSocketAddress("127.0.0.1", 8080);
        HboneStream s = mesh.connect(t.identity("shop", "web"), target, new Route(server.localAddress(), backend)).get(10, TimeUnit.SECONDS);
        assertThat(s).isNotNull();
        // Closed at once: the tunnel's open event can still be running on the event loop (it follows the future's
        // completion), and the drain must count it all the same (TunnelCount; until 2 December this test waited for it).
        mesh.close();
    }
}
