package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * {@link TunnelSet}: a connection's open tunnels (closed with it) and its deadline queues, on a real
 * client HTTP/2 connection (hbone's codec and Netty's multiplexer) on an {@link EmbeddedChannel}.
 * Own mechanics (issue 14: one timer and one close listener per connection, not per tunnel).
 */
class TunnelSetTest {
    private final EmbeddedChannel connection = new EmbeddedChannel(
            H2Codecs.client(Http2Settings.defaultSettings()),
            new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));

    @AfterEach
    void release() {
        connection.finishAndReleaseAll();
    }

    private Http2StreamChannel tunnel() {
        Http2StreamChannel ch = new Http2StreamChannelBootstrap(connection).open().syncUninterruptibly().getNow();
        HbonePipeline.tunnel(ch, new TunnelCodec(new TunnelCodec.Listener() {
            @Override
            public void onHeaders(ChannelHandlerContext ctx, Http2Headers headers, boolean endStream) {
            }

            @Override
            public void onClosed(TunnelCodec codec) {
            }
        }));
        return ch;
    }

    @Test
    @DisplayName("closed tunnels leave their connection's set, and the connection's close closes the ones left")
    void tunnelsLeaveTheSetAndCloseWithTheConnection() {
        List<Http2StreamChannel> tunnels = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            tunnels.add(tunnel());
        }
        TunnelSet set = TunnelSet.of(tunnels.get(0));
        assertThat(set.size()).isEqualTo(100);
        // Closed out of order: first, last, and every other one in between.
        for (int i = 0; i < 100; i += 2) {
            tunnels.get(i).close();
        }
        tunnels.get(99).close();
        connection.runPendingTasks();
        assertThat(set.size()).isEqualTo(49);
        connection.close();
        connection.runPendingTasks();
        assertThat(tunnels).allSatisfy(t -> assertThat(t.isOpen()).isFalse());
        assertThat(set.size()).isZero();
    }

    @Test
    @DisplayName("deadlines expire in order, removed ones never, under one timer that waits for the head")
    void deadlinesExpireInOrderUnderOneTimer() {
        connection.freezeTime();
        TunnelSet.Deadlines d = TunnelSet.of(tunnel()).responses(TimeUnit.SECONDS.toNanos(10));
        List<Integer> expired = new ArrayList<>();
        AtomicInteger made = new AtomicInteger();
        List<TunnelSet.Deadline> all = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            int n = made.getAndIncrement();
            TunnelSet.Deadline e = new TunnelSet.Deadline() {
                @Override
                void expire() {
                    expired.add(n);
                }
            };
            all.add(e);
            d.add(e);
            connection.advanceTimeBy(1, TimeUnit.SECONDS);
        }
        all.get(0).cancel(); // the head leaves: the timer stays, fires early, waits for the next
        connection.advanceTimeBy(8, TimeUnit.SECONDS); // t = 11 s: #1 (due 11 s) expires, #2 (12 s) not yet
        connection.runScheduledPendingTasks();
        assertThat(expired).containsExactly(1);
        assertThat(d.size()).isEqualTo(1);
        connection.advanceTimeBy(1, TimeUnit.SECONDS);
        connection.runScheduledPendingTasks();
        assertThat(expired).containsExactly(1, 2);
        assertThat(d.size()).isZero();
        assertThat(connection.runScheduledPendingTasks()).as("no timer left once nothing waits").isEqualTo(-1);
    }

    /**
     * Netty's epoll channel names its connected remote address after the requested one's host string
     * (UnixChannelUtil.computeRemoteAddr); the dial address makes that one string for all the
     * connection's upstream channels, not a new one each, and the address reads as before.
     */
    @Test
    @DisplayName("upstream channels of one connection share the dial address's host string; the remote address reads as before")
    void upstreamDialsShareTheHostString() throws Exception {
        TunnelSet set = TunnelSet.of(tunnel());
        for (String ip : List.of("10.0.0.7", "fd00::7")) {
            java.net.InetSocketAddress upstream = new java.net.InetSocketAddress(java.net.InetAddress.getByName(ip), 8080);
            java.net.InetSocketAddress dial = set.dialAddress(upstream);
            assertThat(set.dialAddress(new java.net.InetSocketAddress(java.net.InetAddress.getByName(ip), 8080))).isSameAs(dial);
            assertThat(dial).isEqualTo(upstream);
            java.net.InetSocketAddress os = new java.net.InetSocketAddress(java.net.InetAddress.getByName(ip), 8080);
            java.net.InetSocketAddress before = io.netty.channel.unix.UnixChannelUtil.computeRemoteAddr(upstream, os);
            java.net.InetSocketAddress first = io.netty.channel.unix.UnixChannelUtil.computeRemoteAddr(dial, os);
            java.net.InetSocketAddress second = io.netty.channel.unix.UnixChannelUtil.computeRemoteAddr(dial, os);
            assertThat(first).hasToString(before.toString()).isEqualTo(before);
            assertThat(first.getAddress().getHostName()).as(ip).isSameAs(second.getAddress().getHostName());
            assertThat(io.netty.channel.unix.UnixChannelUtil.computeRemoteAddr(upstream, os).getAddress().getHostName())
                    .as("without the dial address: a new string per channel").isNotSameAs(before.getAddress().getHostName());
        }
        java.net.InetSocketAddress other = new java.net.InetSocketAddress(java.net.InetAddress.getByName("10.0.0.8"), 8080);
        assertThat(set.dialAddress(other)).isEqualTo(other);
    }
}
