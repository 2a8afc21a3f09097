package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DuplexChannel;
import io.zerohop.testing.netty.Await;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A relay's TCP end closed gracefully while its application does not read what it was sent (a review pass, 5 December:
 * a peer ending its tunnels one after another to such an application made the server hold ~1 MB each, past the inbound
 * budgets, since the streams had closed, until it shut down). Bounded in bytes (the newest over the budget is reset at
 * once) and in time (one still flushing after the timeout is reset). Real sockets on loopback.
 */
@Timeout(60)
class RelayFlushingTest {
    private final List<Socket> accepted = new CopyOnWriteArrayList<>();
    private ServerSocket app;
    private EventLoopGroup group;
    private long budget;
    private long timeout;

    @BeforeEach
    void start() throws IOException {
        budget = Relay.flushingBudget;
        timeout = Relay.flushTimeoutNanos;
        app = new ServerSocket();
        app.setReceiveBufferSize(4096);
        app.bind(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        Thread t = new Thread(() -> {
            try {
                while (true) {
                    accepted.add(app.accept()); // and never read
                }
            } catch (IOException closed) {
                // the test closed it
            }
        }, "no-reader");
        t.setDaemon(true);
        t.start();
        group = Transports.newGroup(1, "flushing-test");
    }

    @AfterEach
    void stop() throws IOException {
        Relay.flushingBudget = budget;
        Relay.flushTimeoutNanos = timeout;
        Transports.shutdown(group, 0).syncUninterruptibly();
        app.close();
        for (Socket s : accepted) {
            s.close();
        }
    }

    /** A connection to the application with {@code bytes} queued that the application will never read, closed gracefully. */
    private Channel closedWithQueuedBytes(int bytes) throws Exception {
        Channel ch = new Bootstrap().group(group).channel(Transports.socketChannel(group))
                .option(ChannelOption.SO_SNDBUF, 4096)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                    }
                }).connect(app.getLocalSocketAddress()).sync().channel();
        ch.writeAndFlush(Unpooled.wrappedBuffer(new byte[bytes]));
        Await.until("bytes queued in user space", Duration.ofSeconds(10),
                () -> ch.unsafe().outboundBuffer() != null && ch.unsafe().outboundBuffer().totalPendingWriteBytes() > bytes / 2);
        ch.eventLoop().submit(() -> Relay.tcp((DuplexChannel) ch).close()).get(10, TimeUnit.SECONDS);
        return ch;
    }

    @Test
    void overTheBudgetTheNewestIsResetAndTheTimeoutResetsTheRest() throws Exception {
        Relay.flushingBudget = 3L << 19; // 1.5 MiB: room for one connection holding 1 MiB, not two
        Relay.flushTimeoutNanos = TimeUnit.SECONDS.toNanos(2);
        Channel first = closedWithQueuedBytes(1 << 20);
        assertThat(Relay.FLUSHING).containsKey(first);
        Channel second = closedWithQueuedBytes(1 << 20);
        Await.until("the connection over the budget reset", Duration.ofSeconds(10), () -> !second.isOpen());
        assertThat(first.isOpen()).as("the one within the budget still flushing").isTrue();
        // Its application never reads: the timeout resets it, and nothing is left counted.
        Await.until("the one within the budget reset at the timeout", Duration.ofSeconds(20), () -> !first.isOpen());
        // Forgotten by the close future's listener, which runs after isOpen() is already false (a loaded CI run read the
        // map in between).
        Await.until("both forgotten", Duration.ofSeconds(5), () -> !Relay.FLUSHING.containsKey(first) && !Relay.FLUSHING.containsKey(second));
        Await.until("no queued byte counted", Duration.ofSeconds(5), () -> Relay.FLUSHING.isEmpty() ? Relay.flushingBytes.get() == 0 : true);
    }
}
