package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.zerohop.hbone.internal.Transports;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A closed HBONE connection leaves nothing scheduled on its event loop. Its idle check (default 10 minutes) stayed in the
 * loop's queue after the close and held the connection, its channel, TLS engine and buffers, until it fired: a peer that
 * opened and closed connections, each with one refused CONNECT, grew the heap by a connection each and a shipped proxy
 * (128 MB heap) ran out of memory after ~24,000 of them in under 4 minutes (a hostile-peer pass). ztunnel keeps no
 * per-connection timer past the connection (src/proxy/h2/server.rs). Counted here as the server loop's scheduled tasks
 * (Netty's queue, read reflectively on the loop): before, one more per connection ever closed.
 */
@Timeout(120)
class ClosedConnectionRetentionTest {
    private static final int CONNECTIONS = 40;

    @Test
    void aClosedConnectionLeavesNoTimerOnItsLoop() throws Exception {
        EventLoopGroup serverLoop = Transports.newGroup(1, "retention");
        try (Mesh mesh = new Mesh()) {
            HboneServer server = mesh.server((dst, id, local) -> Destination.refuse(400, "not served here"))
                    .eventLoopGroup(serverLoop).build().start().get();
            try {
                EventLoop loop = serverLoop.next();
                int before = scheduled(loop);
                for (int i = 0; i < CONNECTIONS; i++) {
                    try (HboneClient client = mesh.client().threads(1).build()) {
                        try {
                            mesh.open(client, server);
                        } catch (ExecutionException refused) {
                            // 400: the CONNECT is refused, the connection was made
                        }
                    }
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (server.openConnections() > 0 && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                assertThat(server.openConnections()).as("every connection closed").isZero();
                assertThat(scheduled(loop) - before).as("timers left on the loop by %d closed connections", CONNECTIONS)
                        .isLessThan(CONNECTIONS / 4);
            } finally {
                server.close();
            }
        } finally {
            serverLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /** The loop's scheduled tasks (Netty's {@code AbstractScheduledEventExecutor.scheduledTaskQueue}), read on the loop. */
    private static int scheduled(EventLoop loop) throws Exception {
        return loop.submit(() -> {
            Class<?> c = loop.getClass();
            while (c != null && !c.getName().equals("io.netty.util.concurrent.AbstractScheduledEventExecutor")) {
                c = c.getSuperclass();
            }
            java.lang.reflect.Field f = c.getDeclaredField("scheduledTaskQueue");
            f.setAccessible(true);
            java.util.Collection<?> q = (java.util.Collection<?>) f.get(loop);
            return q == null ? 0 : q.size();
        }).get(10, TimeUnit.SECONDS);
    }
}
