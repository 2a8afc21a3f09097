package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.zerohop.core.Capture;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.testing.netty.Await;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The capture side of the window between a connection's accept and its relay's join (the inbound
 * side is hbone's ServerFirstUpstreamTest): with auto-read off, epoll still reads what a client sent
 * when its FIN or reset comes (EPOLLRDHUP, netty#3709). A SOCKS5 client that sends its greeting,
 * CONNECT and request and half-closes in one go lost the request and the FIN (the decoders handed
 * them to the pipeline's tail) and the app waited forever; a forwarded client that sent bytes and
 * reset before its tunnel opened reached the app as those bytes and a clean FIN. Now as ztunnel's
 * copy_bidirectional (istio/ztunnel src/copy.rs) relays them: the bytes and the FIN, or a reset.
 * Real epoll sockets on loopback; the opener completes only once the listener has seen the
 * client's end (waited for, not timed). 10 s read timeouts are guards.
 */
@Timeout(60)
class CaptureEndBeforeJoinTest {
    static final byte[] REQUEST = "EHLO x\r\n".getBytes(StandardCharsets.US_ASCII);

    EventLoopGroup group;
    ServerSocket app;
    Channel listener;
    final AtomicReference<SocketChannel> accepted = new AtomicReference<>();

    @BeforeEach
    void start() throws Exception {
        assumeTrue(Transports.epoll(), "epoll reads with auto-read off; NIO leaves the end in the socket");
        group = Transports.newGroup(2, "capture-end");
        app = new ServerSocket(0, 50, InetAddress.getByName("127.0.46.1"));
        app.setSoTimeout(10_000);
    }

    @AfterEach
    void stop() throws Exception {
        if (group != null) {
            if (listener != null) {
                listener.close().sync();
            }
            app.close();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /** Dials the app once the accepted connection's input ended (FIN or reset seen). */
    final CaptureListener.Opener afterTheEnd = (src, dst, loop) -> CompletableFuture
            .runAsync(() -> Await.until("the client's end seen", () -> accepted.get() != null
                    && (!accepted.get().isActive() || accepted.get().isInputShutdown())))
            .thenCompose(x -> CaptureListener.connectTcp(loop, (InetSocketAddress) app.getLocalSocketAddress()));

    InetSocketAddress bind(Capture capture) throws Exception {
        listener = CaptureListener.bind(group, capture, afterTheEnd, accepted::set);
        return (InetSocketAddress) listener.localAddress();
    }

    @Test
    void aSocks5RequestSentWithTheConnectAndAFinReachesTheApp() throws Exception {
        InetSocketAddress socks = bind(Capture.socks5(new InetSocketAddress("127.0.46.1", 0)));
        int port = app.getLocalPort();
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.write(new byte[] {5, 1, 0}); // greeting: no authentication
        all.write(new byte[] {5, 1, 0, 1, 127, 0, 46, 1, (byte) (port >> 8), (byte) port}); // CONNECT 127.0.46.1:port
        all.write(REQUEST);
        try (Socket client = new Socket(socks.getAddress(), socks.getPort())) {
            client.setSoTimeout(10_000);
            client.getOutputStream().write(all.toByteArray());
            client.shutdownOutput();
            try (Socket s = app.accept()) {
                s.setSoTimeout(10_000);
                assertThat(s.getInputStream().readAllBytes()).as("the request, then EOF").isEqualTo(REQUEST);
            }
            InputStream in = client.getInputStream();
            assertThat(in.readNBytes(2)).containsExactly(5, 0);
            assertThat(in.readNBytes(2)).as("CONNECT succeeded").containsExactly(5, 0);
        }
    }

    @Test
    void aResetBeforeTheJoinResetsTheApp() throws Exception {
        InetSocketAddress fwd = bind(Capture.forward(new InetSocketAddress("127.0.46.1", 0),
                (InetSocketAddress) app.getLocalSocketAddress()));
        try (Socket client = new Socket(fwd.getAddress(), fwd.getPort())) {
            client.getOutputStream().write(REQUEST);
            client.setSoLinger(true, 0);
            client.close();
            try (Socket s = app.accept()) {
                s.setSoTimeout(10_000);
                Throwable t = catchThrowable(() -> s.getInputStream().readAllBytes());
                assertThat(t).as("a reset, not the bytes and a clean FIN").isInstanceOf(SocketException.class).hasMessage("Connection reset");
            }
        }
    }
}
