package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.zerohop.core.AppProtocol;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.testing.CapturedStderr;
import io.zerohop.testing.netty.Await;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What the L7 HTTP/1 path holds, node-wide, of request bodies an application does not read ({@link H2HeldBudget}, its
 * HTTP/1 share: {@link Http1Filter}, {@link TcpUpstream#queuedBytes}, {@link H2Upstream#queuedBytes}): N client connections each post a body to an
 * application that accepts and never reads, over the plaintext inbound path. Each connection's application connection
 * queues up to its write watermark (64 KiB) and one client read past it before the filter stops reading the client, so
 * without a node-wide bound N connections hold N times that (10,000: 640 MB, where the node proxy has 64 MiB of direct
 * memory). Held bytes are read from the client connections' own unpooled allocator, whose count is exact (the bodies
 * queued toward the application are slices of their reads). Addresses 127.0.231.1-2, ports 46500-46501.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7H1UnreadBodiesTest {
    static final String PROXY = "127.0.231.1";
    static final String APP = "127.0.231.2";
    static final int PROXY_PORT = 46500;
    static final int APP_PORT = 46501;
    static final int CONNECTIONS = 64;
    static final UnpooledByteBufAllocator ALLOC = new UnpooledByteBufAllocator(true);

    /**
     * 64 connections posting 100 MB bodies, not read, with a budget of 1 MiB: before the HTTP/1 path counted (until
     * 7 December) the proxy held N x the queued bytes, measured here 6.2 MB (97 KB per connection) and no connection was
     * reset; with it, the connections holding the most are reset (both ends, the request logged {@code OM} with
     * {@code overload}) and what the proxy holds stays within twice the budget (the queued slices keep their whole read
     * buffers), measured 1.4-1.5 MB with 50 of the 64 connections reset.
     */
    @Test
    void connectionsPostingToAnApplicationThatDoesNotReadHoldNoMoreThanTheBudget() throws Exception {
        postToAnApplicationThatDoesNotRead(AppProtocol.HTTP, PROXY, PROXY_PORT, APP, APP_PORT);
    }

    /**
     * The same toward an application that speaks HTTP/2 (an {@code http2} port, {@link H2Upstream}): each request goes on
     * a stream of an h2c connection to an application that never reads, its body waiting behind the application's windows
     * in the stream's writes ({@link H2Upstream#queuedBytes}). Until 7 December that count was 0: no connection was reset
     * and the proxy held 64 times the stream channel's write watermark. Addresses 127.0.236.1-2, ports 49000-49001.
     */
    @Test
    void http1ConnectionsPostingToAnHttp2ApplicationThatDoesNotReadHoldNoMoreThanTheBudget() throws Exception {
        postToAnApplicationThatDoesNotRead(AppProtocol.HTTP2, "127.0.236.1", 49000, "127.0.236.2", 49001);
    }

    private static void postToAnApplicationThatDoesNotRead(AppProtocol protocol, String proxyAddress, int proxyPort, String appHost,
                                                           int appPort) throws Exception {
        long budget = 1L << 20;
        long before = H2HeldBudget.limit();
        H2HeldBudget.limit(budget);
        H2HeldBudget.logAgain();
        // Each proxy connection's end (Ends.close) closes its application connection and releases what it queued there.
        try (PlaintextL7.Ends ends = new PlaintextL7.Ends(2, "l7-h1-unread-bodies"); CapturedStderr err = new CapturedStderr()) {
            EventLoopGroup group = ends.group;
            List<Channel> appConnections = ends.appConnections;
            List<Channel> accepted = ends.accepted;
            List<java.nio.channels.SocketChannel> clients = ends.clients;
            // The application: accepts, never reads.
            ends.app = PlaintextL7.application(group, new InetSocketAddress(appHost, appPort),
                    b -> b.childOption(ChannelOption.AUTO_READ, false).childOption(ChannelOption.SO_RCVBUF, 16 * 1024), appConnections::add);
            HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().build(), group, null, null, 1000);
            InetSocketAddress appAddress = new InetSocketAddress(appHost, appPort);
            ends.listener = PlaintextL7.listen(http, group, new InetSocketAddress(proxyAddress, proxyPort), appAddress, protocol,
                    b -> b.childOption(ChannelOption.ALLOCATOR, ALLOC).childOption(ChannelOption.SO_RCVBUF, 16 * 1024), accepted::add,
                    PlaintextL7.dial(appAddress, b -> b.option(ChannelOption.SO_SNDBUF, 16 * 1024), up -> { }));

            long base = ALLOC.metric().usedDirectMemory();
            long resetsBefore = H2HeldBudget.resets();
            byte[] head = ("POST /upload HTTP/1.1\r\nhost: backend\r\ncontent-length: 100000000\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            ByteBuffer body = ByteBuffer.allocateDirect(64 * 1024);
            for (int i = 0; i < CONNECTIONS; i++) {
                java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open();
                c.setOption(StandardSocketOptions.SO_SNDBUF, 16 * 1024);
                c.connect(new InetSocketAddress(proxyAddress, proxyPort));
                c.configureBlocking(false);
                ByteBuffer h = ByteBuffer.wrap(head);
                while (h.hasRemaining()) {
                    c.write(h);
                }
                clients.add(c);
            }
            // Writes until, three times in a row, every request reached the application, the proxy reads none of the client
            // connections (each stopped at its application's back-pressure, or was reset) and a round of writes takes nothing.
            int[] quiet = {0};
            int[] cut = {0};
            Await.until("every client connection stopped by back-pressure or reset", Duration.ofSeconds(30), () -> {
                long wrote = 0;
                for (java.nio.channels.SocketChannel c : clients) {
                    if (!c.isOpen()) {
                        continue;
                    }
                    try {
                        int n;
                        while ((n = c.write(body.duplicate())) > 0) {
                            wrote += n;
                        }
                    } catch (IOException e) {
                        cut[0]++;
                        try {
                            c.close();
                        } catch (IOException ignored) {
                            // closing a reset socket
                        }
                    }
                }
                boolean stopped = appConnections.size() == CONNECTIONS && accepted.size() == CONNECTIONS
                        && accepted.stream().allMatch(ch -> !ch.isActive() || !ch.config().isAutoRead());
                quiet[0] = wrote == 0 && stopped ? quiet[0] + 1 : 0;
                return quiet[0] >= 3;
            });
            long held = ALLOC.metric().usedDirectMemory() - base;
            long resets = H2HeldBudget.resets() - resetsBefore;
            System.out.printf("L7H1UnreadBodiesTest: %s: %d connections: direct memory in use +%d bytes (%d per connection), counted held %d, "
                    + "%d connections reset (%d seen by the clients)%n", protocol, CONNECTIONS, held, held / CONNECTIONS, H2HeldBudget.held(), resets, cut[0]);
            assertThat(resets).as("connections reset for the budget").isPositive();
            assertThat(held).as("direct memory the proxy holds for bodies not read")
                    .isLessThanOrEqualTo(2 * budget);
            assertThat(H2HeldBudget.held()).as("what the budget counts: within it, but for one read per connection")
                    .isLessThanOrEqualTo(budget + CONNECTIONS * 64 * 1024L);
            // The request of a reset connection is logged with Envoy's overload flag, and the operator's line says what to do.
            assertThat(err.awaitLine("-http src=", " method=POST path=\"/upload\"", " reason=\"overload\" response_flags=OM "))
                    .doesNotContain(" bytes_received=0 ");
            assertThat(err.awaitLine("L7 HTTP/1: ", " request streams of ")).contains(" over its budget of " + budget + " ")
                    .contains("raise it, ZEROHOP_JAVA_OPTS_EXTRA");
        } finally {
            H2HeldBudget.limit(before);
        }
    }
}
