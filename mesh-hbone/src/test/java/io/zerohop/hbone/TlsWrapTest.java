package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An HBONE connection's SslHandler wraps 64 KiB of plaintext at a time (four TLS records in one
 * output buffer, {@code H2Codecs.WRAP_DATA_SIZE}) instead of Netty's 16 KiB (one record per buffer,
 * each with its own wrap, promise and {@code writev} entry; issue 14). Counted on a real connection:
 * the encrypted buffers the client's SslHandler writes toward its socket while 1 MiB goes through a
 * tunnel. Netty mechanics, beyond upstream (ztunnel's rustls has no per-wrap cost).
 */
@Timeout(60)
class TlsWrapTest {

    @Test
    @DisplayName("1 MiB through a tunnel leaves the client in at most 24 TLS buffers (Netty's default: 64 or more)")
    void aMebibyteLeavesInFewTlsBuffers() throws Exception {
        try (Mesh mesh = new Mesh()) {
            HboneServer server = mesh.server((dst, id, local) -> Destination.embedded((stream, tunnel) ->
                    stream.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            ReferenceCountUtil.release(msg);
                        }
                    }))).build().start().get();
            HboneClient client = mesh.client().build();
            try {
                HboneStream stream = client.connect(Mesh.loopback(8080), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
                Channel connection = stream.channel().parent();
                AtomicInteger dataBuffers = new AtomicInteger();
                AtomicLong dataBytes = new AtomicLong();
                // At the socket end of the pipeline: sees each buffer SslHandler writes.
                connection.eventLoop().submit(() -> connection.pipeline().addFirst(new ChannelOutboundHandlerAdapter() {
                    @Override
                    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
                        if (msg instanceof ByteBuf b && b.readableBytes() > 1024) { // not PING, SETTINGS or WINDOW_UPDATE records
                            dataBuffers.incrementAndGet();
                            dataBytes.addAndGet(b.readableBytes());
                        }
                        ctx.write(msg, promise);
                    }
                })).get(10, TimeUnit.SECONDS);
                stream.channel().writeAndFlush(Unpooled.wrappedBuffer(new byte[1024 * 1024])).get(30, TimeUnit.SECONDS);
                assertThat(dataBytes.get()).as("encrypted bytes of the 1 MiB").isGreaterThan(1024 * 1024);
                assertThat(dataBuffers.get()).as("TLS buffers written for 1 MiB").isBetween(16, 24);
            } finally {
                client.close();
                server.close();
            }
        }
    }
}
