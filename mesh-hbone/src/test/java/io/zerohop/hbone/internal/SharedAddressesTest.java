package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * {@link Transports#shareLocalAddress} / {@link Transports#shareRemoteAddress} on real epoll sockets
 * over loopback: Netty's epoll channel reads its addresses from the socket, a new object per channel
 * (issue 14); after sharing, the channel answers with the given equal instance, or with its own port
 * around an IP address object shared with other channels, and reads as before.
 * Own mechanics, no upstream to cite.
 */
class SharedAddressesTest {

    @Test
    @DisplayName("an accepted channel keeps its listener's local address object, an upstream channel the address it dialled; both read as before")
    void equalAddressesAreShared() throws Exception {
        assumeTrue(Transports.epoll(), "epoll transport");
        EventLoopGroup group = Transports.newGroup(1, "shared-addresses");
        try {
            CompletableFuture<SocketChannel> accepted = new CompletableFuture<>();
            CompletableFuture<String> localBefore = new CompletableFuture<>();
            Channel listener = new ServerBootstrap().group(group).channel(Transports.serverChannel(group))
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            // As the capture listener does, before anything else reads the address.
                            localBefore.complete(ch.localAddress().toString());
                            Transports.shareLocalAddress(ch, ch.parent().localAddress());
                            accepted.complete(ch);
                        }
                    })
                    .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
            InetSocketAddress listening = (InetSocketAddress) listener.localAddress();
            // A dial address with its host string fixed, as TunnelSet.dialAddress makes it.
            InetSocketAddress dial = new InetSocketAddress(InetAddress.getByAddress(listening.getHostString(),
                    listening.getAddress().getAddress()), listening.getPort());
            Channel upstream = new Bootstrap().group(group).channel(Transports.socketChannel(group))
                    .handler(new ChannelInboundHandlerAdapter()).connect(dial).sync().channel();
            SocketChannel child = accepted.get(10, TimeUnit.SECONDS);

            InetSocketAddress remoteBefore = (InetSocketAddress) upstream.remoteAddress();
            assertThat(remoteBefore).as("Netty's own copy").isEqualTo(dial).isNotSameAs(dial);
            group.submit(() -> Transports.shareRemoteAddress(upstream, dial)).sync();
            assertThat(upstream.remoteAddress()).isSameAs(dial).hasToString(remoteBefore.toString());

            assertThat(child.localAddress()).isSameAs(listening).hasToString(localBefore.get());
            // Ephemeral ports: rebuilt around one IP address object, port and text kept.
            InetSocketAddress childRemote = child.remoteAddress();
            InetSocketAddress upstreamLocal = (InetSocketAddress) upstream.localAddress();
            group.submit(() -> {
                Transports.shareLocalAddress(upstream, null);
                Transports.shareRemoteAddress(child, null);
            }).sync();
            InetSocketAddress childShared = child.remoteAddress();
            InetSocketAddress upstreamShared = (InetSocketAddress) upstream.localAddress();
            assertThat(childShared).isEqualTo(childRemote).hasToString(childRemote.toString());
            assertThat(upstreamShared).isEqualTo(upstreamLocal).hasToString(upstreamLocal.toString());
            assertThat(childShared.getAddress()).isSameAs(upstreamShared.getAddress());
            assertThat(childRemote.getAddress()).as("Netty's own, one per channel").isNotSameAs(upstreamLocal.getAddress());
            // Equal but not the same text (a host string): not used; the address stays as it is.
            InetSocketAddress named = new InetSocketAddress(InetAddress.getByAddress("some-host", childRemote.getAddress().getAddress()),
                    childRemote.getPort());
            assertThat(named).isEqualTo(childRemote);
            group.submit(() -> Transports.shareRemoteAddress(child, named)).sync();
            assertThat(child.remoteAddress()).isSameAs(childShared).hasToString(childRemote.toString());

            upstream.close().sync();
            child.close().sync();
            listener.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
