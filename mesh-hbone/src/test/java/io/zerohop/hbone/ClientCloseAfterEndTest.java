package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SingleThreadIoEventLoop;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.zerohop.testing.netty.Await;
import io.zerohop.hbone.internal.Transports;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A client that reads the tunnel to its end, closes the socket and at once the client (what
 * {@code zerohop connect} does when stdin is empty or already read: its stdin thread's half-close and
 * the download's EOF race). Closing the socket puts our END_STREAM on the loop; closing the client
 * closed the connection from the pipeline's head in a task queued before that END_STREAM's batched
 * flush, so the frame never left, the server saw its connection end with our direction still open
 * and logged a tunnel that had delivered everything as {@code end=reset error="reset"}, counted in
 * {@code istio_tcp_connections_failed_total{response_flags="CONNECT"}} (newuser7, about 1 tunnel in
 * 3 against a banner-and-close upstream). The client's loop is held by a latch while both closes are
 * queued, so the order is fixed, not left to chance. (The same END_STREAM could also be overtaken
 * when the half-close ran on another thread, between its flag and its write: TunnelSocket now does
 * both under the lock its close reads; {@link #aHalfCloseOnAnotherThreadIsQueuedBeforeTheCloseReturns}
 * stops that thread inside the window, at its hand-off of the END_STREAM to the loop, with a loop
 * group of the test's whose {@code execute} waits on a latch for that one thread.)
 *
 * <p>The server's rule is ztunnel's for both ends (istio/ztunnel src/copy.rs copy_bidirectional: each
 * direction ends on its read of 0, the tunnel is a success when both did): END_STREAM both ways is a
 * clean end. ztunnel's server would also have let this one pass (a connection's EOF reaches its
 * stream read as BrokenPipe, which copy.rs {@code ignore_io_errors} swallows); zerohop's server does
 * not guess that a direction that never ended was complete, so the client must say it was.
 */
@Timeout(60)
class ClientCloseAfterEndTest {
    static final byte[] BANNER = "220 banner\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    Mesh mesh;
    BannerUpstream upstream;
    HboneServer server;
    final RecordingEvents serverEvents = new RecordingEvents();
    EventLoopGroup clientLoop;
    HboneClient client;

    @BeforeEach
    void start() throws Exception {
        mesh = new Mesh();
        upstream = new BannerUpstream("127.0.51.1", BANNER, s -> {});
        InetSocketAddress up = upstream.address();
        server = mesh.server((dst, id, local) -> Destination.proxy(up)).listener(serverEvents).build().start().get(10, TimeUnit.SECONDS);
        clientLoop = Transports.newGroup(1, "client-close");
    }

    @AfterEach
    void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        server.close();
        upstream.close();
        clientLoop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).sync();
        mesh.close();
    }

    /** A tunnel read to its end; then the socket closed (our END_STREAM) and the client, both while the loop waits. */
    void readThenCloseSocketAndClient(boolean halfCloseFirst) throws Exception {
        client = mesh.client().eventLoopGroup(clientLoop).build();
        HboneStream s = client.connect(Mesh.loopback(25), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
        HboneSocket socket = s.toSocket();
        socket.setSoTimeout(10_000);
        assertThat(socket.getInputStream().readAllBytes()).as("the banner, then EOF").isEqualTo(BANNER);
        EventLoop loop = s.channel().eventLoop();
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        loop.execute(() -> {
            held.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertThat(held.await(10, TimeUnit.SECONDS)).isTrue();
        if (halfCloseFirst) {
            socket.shutdownOutput();
        }
        socket.close();
        var closed = client.closeAsync();
        release.countDown();
        closed.get(10, TimeUnit.SECONDS);
    }

    @Test
    void aTunnelClosedRightBeforeItsClientEndsCleanlyOnTheServer() throws Exception {
        readThenCloseSocketAndClient(false);
        TunnelResult r = RecordingEvents.next(serverEvents.closed);
        assertThat(r.bytesSent()).as("the banner went to the client").isEqualTo(BANNER.length);
        assertThat(r.reset()).as("END_STREAM both ways: %s", r).isFalse();
        assertThat(r.error()).isNull();
    }

    /**
     * A one-thread client loop whose {@code execute} stops the thread named in {@link #gate} as it
     * hands its task to the loop, until {@link #release}: a real loop otherwise (tests only).
     */
    static final class GatedLoopGroup extends MultiThreadIoEventLoopGroup {
        volatile Thread gate;
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        GatedLoopGroup() {
            super(1, new DefaultThreadFactory("client-gated", true),
                    Transports.epoll() ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
        }

        @Override
        protected IoEventLoop newChild(Executor executor, IoHandlerFactory factory, Object... args) {
            return new SingleThreadIoEventLoop(this, executor, factory) {
                @Override
                public void execute(Runnable task) {
                    if (Thread.currentThread() == gate) {
                        gate = null;
                        entered.countDown();
                        try {
                            release.await(10, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    super.execute(task);
                }
            };
        }
    }

    /**
     * The half-close on one thread, the socket's close on another (zerohop connect's stdin thread and
     * main thread). The half-closing thread is stopped where it hands its END_STREAM to the loop, its
     * flag already set; the closing thread then either returns from {@code close()} (nothing held
     * it: it found both directions ended and queued nothing) or waits for the socket's lock. Only
     * then does the END_STREAM go on. What the closer does next (here a task on the loop; in zerohop
     * connect the client's close) must find our END_STREAM already out: the stream's state, read by
     * that task, is closed on our side. Without the lock around both steps of
     * {@code TunnelSocket.shutdownOutput}, the closer's next step overtook the END_STREAM (newuser7's
     * race (b), benchmarks/results/endreset-601efca.md: then the client's close cut the connection
     * before it). The server's count no longer shows it: {@code HboneClient.close()} now says it is
     * closing (GOAWAY, close_notify), which the server reads as the client's end.
     */
    @Test
    void aHalfCloseOnAnotherThreadIsQueuedBeforeTheCloseReturns() throws Exception {
        GatedLoopGroup gated = new GatedLoopGroup();
        try {
            client = mesh.client().eventLoopGroup(gated).build();
            HboneStream s = mesh.open(client, server);
            HboneSocket socket = Mesh.socket(s);
            assertThat(socket.getInputStream().readAllBytes()).as("the banner, then EOF").isEqualTo(BANNER);
            Thread halfClose = new Thread(() -> {
                try {
                    socket.shutdownOutput();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, "half-close");
            gated.gate = halfClose;
            halfClose.start();
            assertThat(gated.entered.await(10, TimeUnit.SECONDS)).as("the half-close reached the loop").isTrue();
            assertThat(socket.isOutputShutdown()).as("its flag is set").isTrue();
            Http2StreamChannel stream = (Http2StreamChannel) s.channel();
            CompletableFuture<Http2Stream.State> afterClose = new CompletableFuture<>();
            Thread close = new Thread(() -> {
                try {
                    socket.close();
                    stream.eventLoop().execute(() -> afterClose.complete(stream.stream().state()));
                } catch (Exception e) {
                    afterClose.completeExceptionally(e);
                }
            }, "close");
            close.start();
            Await.until("the close returned or waiting for the socket's lock",
                    () -> afterClose.isDone() || close.getState() == Thread.State.WAITING);
            gated.release.countDown();
            halfClose.join(10_000);
            assertThat(afterClose.get(10, TimeUnit.SECONDS)).as("the stream, seen by what the closer does next")
                    .isIn(Http2Stream.State.HALF_CLOSED_LOCAL, Http2Stream.State.CLOSED);
            TunnelResult r = RecordingEvents.next(serverEvents.closed);
            assertThat(r.reset()).as("END_STREAM both ways: %s", r).isFalse();
        } finally {
            gated.release.countDown();
            client.close();
            client = null;
            gated.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).sync();
        }
    }

    @Test
    void aHalfCloseRightBeforeTheClientEndsCleanlyOnTheServer() throws Exception {
        readThenCloseSocketAndClient(true);
        TunnelResult r = RecordingEvents.next(serverEvents.closed);
        assertThat(r.reset()).as("END_STREAM both ways: %s", r).isFalse();
        assertThat(r.error()).isNull();
    }
}
