package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.testing.netty.HalfClosingPeer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * A connection's tunnels share its timers (internal TunnelSet): the CONNECT response deadline and
 * the graceful close's linger cost no timer per tunnel (issue 14: per tunnel they were a
 * priority-queue insert and remove and three objects each). The client runs on a
 * {@link CountingLoopGroup}; own mechanics, no upstream to cite.
 */
class TunnelTimersTest {
    static final int TUNNELS = 32;
    static CountedClient rig;

    @BeforeAll
    static void start() throws Exception {
        rig = new CountedClient(HalfClosingPeer.discard(HboneStream::shutdownOutput));
    }

    @AfterAll
    static void stop() throws Exception {
        rig.close();
    }

    private static void openAndClose(int n) throws Exception {
        List<CompletableFuture<Void>> closed = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            closed.add(done);
            rig.client.connect(Mesh.loopback(8080), rig.mesh.expectServer(), rig.server.localAddress()).whenComplete((s, err) -> {
                if (err != null) {
                    done.completeExceptionally(err);
                    return;
                }
                // We end first: the tunnel lingers until the server's END_STREAM arrives.
                s.close();
                s.channel().closeFuture().addListener(f -> done.complete(null));
            });
        }
        CompletableFuture.allOf(closed.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
    }

    @Test
    @DisplayName("32 tunnels opened and gracefully closed together arm a handful of timers on the client loop, not two per tunnel")
    void tunnelsShareTheirConnectionsTimers() throws Exception {
        openAndClose(1); // the connection, its handshake, its own timers
        rig.loop.resetCounts();
        openAndClose(TUNNELS);
        // At most: one response timer, one linger timer, the connection's idle check and keep-alive.
        assertThat(rig.loop.scheduled()).as("timers scheduled for %d tunnels", TUNNELS).isLessThanOrEqualTo(4);
    }

    @Test
    @DisplayName("CONNECTs left unanswered fail after the client's connect timeout, each with its own SocketTimeoutException, from the shared timer")
    void unansweredConnectsTimeOut() throws Exception {
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        // The server decides nothing until released: its loop is held in the authorizer (a stuck
        // server, for this test only), so no 200 can come.
        HboneServer stuck = rig.mesh.server((dst, id, local) -> Destination.embedded((ch, info) -> { }))
                .authorizer(request -> {
                    try {
                        release.await(30, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return AuthzDecision.allow();
                }).build().start().get(10, TimeUnit.SECONDS);
        HboneClient impatient = rig.mesh.client().connectTimeout(java.time.Duration.ofMillis(300)).build();
        try {
            List<CompletableFuture<HboneStream>> opens = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                opens.add(impatient.connect(Mesh.loopback(8080 + i), rig.mesh.expectServer(), stuck.localAddress()));
            }
            for (int i = 0; i < 3; i++) {
                int port = 8080 + i;
                assertThat(opens.get(i)).failsWithin(20, TimeUnit.SECONDS).withThrowableOfType(java.util.concurrent.ExecutionException.class)
                        .havingCause().isInstanceOf(java.net.SocketTimeoutException.class)
                        .withMessageContaining("no CONNECT response").withMessageContaining(":" + port);
            }
        } finally {
            release.countDown();
            impatient.close();
            stuck.close();
        }
    }
}
