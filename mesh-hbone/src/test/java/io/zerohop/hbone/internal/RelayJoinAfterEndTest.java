package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.zerohop.testing.netty.Await;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A relayed TCP connection that ended before the relay joined it: with auto-read off, epoll still
 * reads a peer's bytes and FIN when the FIN comes (EPOLLRDHUP, netty#3709, AbstractEpollChannel
 * epollRdHupReady) and fires the input's end once, before any relay is there to see it. The relay
 * must pass that end on, as ztunnel's copy_bidirectional (istio/ztunnel src/copy.rs) does with a
 * read of 0 (FIN to the other side) or a read error (reset): before, it found the input shut down,
 * read nothing and ended nothing, and the other side waited forever. Real epoll sockets on
 * loopback; every check joins only once Netty has seen the end (waited for, not timed), so the order
 * needs no timing. The 10 s read timeouts are guards.
 */
@Timeout(60)
class RelayJoinAfterEndTest {
    static final byte[] BANNER = "220 banner\n".getBytes(StandardCharsets.US_ASCII);

    EventLoopGroup group;
    ServerSocket apps;

    @BeforeEach
    void start() throws Exception {
        assumeTrue(Transports.epoll(), "epoll reads with auto-read off; NIO leaves the end in the socket");
        group = Transports.newGroup(1, "relay-join");
        apps = new ServerSocket(0, 50, InetAddress.getByName("127.0.46.1"));
        apps.setSoTimeout(10_000);
    }

    @AfterEach
    void stop() throws Exception {
        if (group != null) {
            apps.close();
            group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).sync();
        }
    }

    /** A Netty connection to {@code apps} (auto-read off, half-closure allowed) with {@code handler}, and the app's end of it. */
    record Pair(SocketChannel ch, Socket app) {}

    Pair connect(ChannelHandler handler) throws Exception {
        return connect(handler, true);
    }

    Pair connect(ChannelHandler handler, boolean halfClosure) throws Exception {
        SocketChannel ch = (SocketChannel) new Bootstrap().group(group).channel(Transports.socketChannel(group))
                .option(ChannelOption.AUTO_READ, false).option(ChannelOption.ALLOW_HALF_CLOSURE, halfClosure)
                .handler(handler).connect(apps.getLocalSocketAddress()).sync().channel();
        Socket app = apps.accept();
        app.setSoTimeout(10_000);
        return new Pair(ch, app);
    }

    /** Joins {@code up} (then releases {@code hold}, if any) with {@code down} on their loop. */
    static void join(SocketChannel up, Hold hold, SocketChannel down) {
        up.eventLoop().submit(() -> {
            Relay.join(Relay.tcp(down), Relay.tcp(up));
            if (hold != null) {
                hold.release();
            }
        }).syncUninterruptibly();
    }

    @Test
    void aFinReadBeforeTheJoinHalfClosesTheOtherSide() throws Exception {
        Pair up = connect(new ChannelInboundHandlerAdapter());
        Pair down = connect(new ChannelInboundHandlerAdapter());
        try (Socket u = up.app(); Socket d = down.app()) {
            u.shutdownOutput();
            Await.until("the FIN read by epoll", up.ch()::isInputShutdown);
            join(up.ch(), null, down.ch());
            assertThat(d.getInputStream().read()).as("EOF, not a hang").isEqualTo(-1);
            // Half-closed, not reset: the other direction still carries bytes, then its own FIN ends the relay.
            d.getOutputStream().write(BANNER);
            d.shutdownOutput();
            assertThat(u.getInputStream().readAllBytes()).isEqualTo(BANNER);
        }
    }

    @Test
    void bytesAndFinHeldBeforeTheJoinArriveInOrder() throws Exception {
        Hold hold = new Hold();
        Pair up = connect(hold);
        Pair down = connect(new ChannelInboundHandlerAdapter());
        try (Socket u = up.app(); Socket d = down.app()) {
            OutputStream out = u.getOutputStream();
            out.write(BANNER);
            u.shutdownOutput();
            Await.until("the bytes and FIN read by epoll", up.ch()::isInputShutdown);
            assertThat(hold.heldBytes()).isEqualTo(BANNER.length);
            join(up.ch(), hold, down.ch());
            assertThat(d.getInputStream().readAllBytes()).as("the bytes, then EOF").isEqualTo(BANNER);
        }
    }

    /**
     * With half-closure allowed, epoll reports a read error (ECONNRESET) as an exception, then the
     * input's end, and the channel stays open: only a hold that keeps the failure tells the relay it
     * was a reset (without one the relay sees a FIN; its next write upstream fails and resets).
     */
    @Test
    void aResetHeldBeforeTheJoinResetsTheOtherSide() throws Exception {
        Hold hold = new Hold(Long.MAX_VALUE, true);
        Pair up = connect(hold);
        Pair down = connect(new ChannelInboundHandlerAdapter());
        try (Socket u = up.app(); Socket d = down.app()) {
            u.getOutputStream().write(BANNER);
            u.setSoLinger(true, 0);
            u.close();
            Await.until("the reset seen by epoll", () -> !up.ch().isActive() || up.ch().isInputShutdown());
            join(up.ch(), hold, down.ch());
            Throwable t = catchThrowable(() -> d.getInputStream().read());
            assertThat(t).isInstanceOf(SocketException.class).hasMessage("Connection reset");
        }
    }

    /**
     * Without half-closure a read error closes the channel, and Netty tells the pipeline once: a
     * relay joined to a connection already closed resets the other side.
     */
    @Test
    void aConnectionClosedBeforeTheJoinResetsTheOtherSide() throws Exception {
        Pair up = connect(new ChannelInboundHandlerAdapter(), false);
        Pair down = connect(new ChannelInboundHandlerAdapter());
        try (Socket u = up.app(); Socket d = down.app()) {
            u.setSoLinger(true, 0);
            u.close();
            // Deregistered: Netty's channelInactive went round before the relay was there to see it.
            Await.until("the close seen by epoll and reported", () -> !up.ch().isRegistered());
            join(up.ch(), null, down.ch());
            Throwable t = catchThrowable(() -> d.getInputStream().read());
            assertThat(t).isInstanceOf(SocketException.class).hasMessage("Connection reset");
        }
    }
}
