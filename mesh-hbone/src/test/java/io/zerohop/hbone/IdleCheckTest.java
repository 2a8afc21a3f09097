package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.zerohop.testing.netty.EchoServer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Idle close with one idle check per connection (re-armed for the rest of the timeout) instead of a
 * timer scheduled and cancelled per tunnel (issue 14): a connection kept busy for longer than its
 * idle timeout, with tunnels one after another, is never closed under them, and it closes once it
 * has really been idle for the timeout, on the client (pool) side and on the server side.
 */
@Timeout(60)
class IdleCheckTest {
    static Mesh mesh;
    static EchoServer echo;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        echo = new EchoServer();
    }

    @AfterAll
    static void stop() {
        echo.close();
        mesh.close();
    }

    /** Opens and gracefully closes tunnels one after another for {@code busy}; all must use one connection. */
    private static Channel churn(HboneClient client, HboneServer server, Duration busy) throws Exception {
        Channel parent = null;
        long end = System.nanoTime() + busy.toNanos();
        int n = 0;
        while (System.nanoTime() < end || n < 3) {
            HboneStream s = client.connect(echo.address(), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
            if (parent == null) {
                parent = s.channel().parent();
            }
            assertThat(s.channel().parent()).as("tunnel %d on the first connection", n).isSameAs(parent);
            s.close();
            assertThat(s.channel().closeFuture().await(10, TimeUnit.SECONDS)).isTrue();
            n++;
        }
        assertThat(parent.isActive()).as("the connection is open right after its last tunnel").isTrue();
        return parent;
    }

    @Test
    void clientPoolClosesOnlyAfterAFullIdleTimeout() throws Exception {
        try (HboneServer server = mesh.server(DestinationResolver.sameIp()).build().start().get();
             HboneClient client = mesh.client().idleTimeout(Duration.ofMillis(300)).build()) {
            Channel parent = churn(client, server, Duration.ofMillis(1_000));
            assertThat(parent.closeFuture().await(10, TimeUnit.SECONDS)).as("closed once idle").isTrue();
        }
    }

    @Test
    void serverClosesOnlyAfterAFullIdleTimeout() throws Exception {
        try (HboneServer server = mesh.server(DestinationResolver.sameIp()).idleTimeout(Duration.ofMillis(300)).build().start().get();
             HboneClient client = mesh.client().build()) {
            Channel parent = churn(client, server, Duration.ofMillis(1_000));
            assertThat(parent.closeFuture().await(10, TimeUnit.SECONDS)).as("closed by the server once idle").isTrue();
        }
    }
}
