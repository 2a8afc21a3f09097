package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.zerohop.core.AppProtocol;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.testing.CapturedStderr;
import io.zerohop.testing.netty.Await;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A client's FIN while zerohop is not reading it (h387, 7 December). An HTTP/1 client uploads to an application that
 * never reads, so the proxy stops reading the client (its application connection unwritable: {@code Http1Filter}
 * turns the client's auto-read off); the client then shuts its output down. Envoy's connection, read-disabled, still
 * watches for the peer's close unless half-close is enabled (envoyproxy/envoy source/common/network/connection_impl.cc
 * {@code readDisable}: {@code detect_early_close_ && !enable_half_close_} enables {@code FileReadyType::Closed}, EPOLLRDHUP;
 * {@code onFileEvent}: "remote early close", {@code closeSocket(ConnectionEvent::RemoteClose)}), and its HTTP connection
 * manager, which never enables half-close, resets the stream on that close (conn_manager_impl.cc {@code onEvent}
 * {@code RemoteClose}: {@code resetAllStreams}, {@code DownstreamRemoteDisconnect}): the upstream request is reset and
 * the line says {@code DC downstream_remote_disconnect}. Addresses 127.0.247.1-2, ports 51600-51601.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7Http1EarlyCloseTest {
    static final String PROXY = "127.0.247.1";
    static final String APP = "127.0.247.2";
    static final int PROXY_PORT = 51600;
    static final int APP_PORT = 51601;

    /**
     * Before (h387): the FIN went on to the application as a half-close behind the upload, the application's connection
     * open (and the request unlogged) until the application read or a shed reset it; a Netty application without
     * half-closure closed on it, and the client was answered 503 {@code UC}.
     */
    @Test
    void aClientsFinWhileItsReadsArePausedEndsTheRequestAsEnvoysRemoteEarlyClose() throws Exception {
        EventLoopGroup group = Transports.newGroup(1, "l7-early-close");
        List<Channel> appConnections = new CopyOnWriteArrayList<>();
        List<Channel> accepted = new CopyOnWriteArrayList<>();
        long base = H2HeldBudget.held();
        InetSocketAddress appAddress = new InetSocketAddress(APP, APP_PORT);
        Channel app = PlaintextL7.application(group, appAddress,
                // Half-closable, as a real application that does not read: a FIN passed on leaves its connection open.
                b -> b.childOption(ChannelOption.AUTO_READ, false).childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                        .childOption(ChannelOption.SO_RCVBUF, 16 * 1024)
                        .childOption(ChannelOption.SO_SNDBUF, 16 * 1024), ch -> {
                    appConnections.add(ch);
                    // Never reads; a reset (the read RDHUP makes fails) closes it, a FIN leaves it open.
                    ch.pipeline().addLast(new io.netty.channel.ChannelInboundHandlerAdapter() {
                        @Override
                        public void exceptionCaught(io.netty.channel.ChannelHandlerContext ctx, Throwable cause) {
                            ctx.close();
                        }
                    });
                });
        HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().build(), group, null, null, 1000);
        Channel listener = PlaintextL7.listen(http, group, new InetSocketAddress(PROXY, PROXY_PORT), appAddress, AppProtocol.HTTP,
                b -> b.childOption(ChannelOption.SO_SNDBUF, 16 * 1024), accepted::add,
                PlaintextL7.dial(appAddress, b -> b.option(ChannelOption.SO_SNDBUF, 16 * 1024), ch -> { }));
        try (CapturedStderr err = new CapturedStderr();
             java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open()) {
            c.setOption(StandardSocketOptions.SO_RCVBUF, 16 * 1024);
            c.setOption(StandardSocketOptions.SO_SNDBUF, 16 * 1024);
            c.connect(new InetSocketAddress(PROXY, PROXY_PORT));
            c.configureBlocking(false);
            ByteBuffer head = ByteBuffer.wrap("POST /early-close HTTP/1.1\r\nhost: backend\r\ncontent-length: 100000000\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            while (head.hasRemaining()) {
                c.write(head);
            }
            // Written a chunk at a time until the proxy stops reading, and no further: what the client's socket still
            // holds then fits the proxy's receive buffer (emptied by the reads before the pause), so the FIN behind it
            // reaches the proxy's kernel; a client that filled both would hold its FIN itself, unseen by any proxy.
            ByteBuffer chunk = ByteBuffer.allocate(8 * 1024);
            Await.until("the proxy stopped reading the client", () -> {
                try {
                    // Body bytes toward the application (the filter installed, past the sniff's own pause) and no reading.
                    if (H2HeldBudget.held() > base && !accepted.isEmpty() && !accepted.get(0).config().isAutoRead()) {
                        return true;
                    }
                    c.write(chunk.clear());
                    Thread.sleep(2);
                    return false;
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            });
            c.shutdownOutput();
            Await.until("the application's connection closed", () -> !appConnections.isEmpty() && !appConnections.get(0).isActive());
            Await.until("the proxy's client connection closed", () -> !accepted.get(0).isActive());
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/early-close\" "))
                    .contains(" reason=\"downstream_remote_disconnect\" response_flags=DC ");
            Await.until("the node's count back to what it was", () -> H2HeldBudget.held() == base);
        } finally {
            listener.close().sync();
            app.close().sync();
            Transports.shutdown(group, TimeUnit.SECONDS.toMillis(1)).sync();
        }
    }
}
