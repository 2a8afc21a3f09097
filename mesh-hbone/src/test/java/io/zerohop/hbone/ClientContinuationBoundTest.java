package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.internal.Transports;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The HBONE client's bound on CONTINUATION frames, against a frame-level server that answers the CONNECT with a 200
 * whose header block it splits into many small fragments. hyperium/h2, ztunnel's client, allows
 * {@code max(5, 1.25 * max_header_list_size / max_frame_size)} CONTINUATION frames without END_HEADERS
 * (src/codec/framed_read.rs {@code calc_max_continuation_frames}; its client sets its own advertised settings on its
 * reader, src/client.rs {@code handshake2}): 5 with ztunnel's client settings (istio/ztunnel src/proxy/h2/client.rs:
 * {@code max_header_list_size(1024 * 16)}, {@code max_frame_size} 1 MiB), zerohop's client defaults too. At the sixth it
 * ends the connection with GOAWAY ENHANCE_YOUR_CALM, "too_many_continuations" (h2's server-side test of the same
 * reader: tests/h2-tests/tests/server.rs {@code too_many_continuation_frames_sends_goaway}), and the request fails.
 * The client kept Netty's 16 small fragments, so a 200 in 8 fragments opened the tunnel. Binds 127.0.130.1:48100.
 */
@Timeout(60)
class ClientContinuationBoundTest {
    static final String HOST = "127.0.130.1";
    static final int PORT = 48100;

    EventLoopGroup serverLoop;
    Mesh mesh;
    Channel listener;
    /** Header block fragments of the 200: HEADERS, then CONTINUATION frames, END_HEADERS on the last. */
    volatile int fragments;
    /** The error code of the first GOAWAY the client sent. */
    final CompletableFuture<Long> clientGoAway = new CompletableFuture<>();
    final CompletableFuture<Channel> serverConnection = new CompletableFuture<>();

    @BeforeEach
    void start() throws Exception {
        serverLoop = Transports.newGroup(1, "continuation-server");
        mesh = new Mesh();
        SslContext tls = mesh.tls.server(mesh.serverId).get(10, TimeUnit.SECONDS);
        listener = new ServerBootstrap().group(serverLoop).channel(Transports.serverChannel(serverLoop))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel c) {
                        serverConnection.complete(c);
                        c.pipeline().addLast(tls.newHandler(c.alloc()), Http2FrameCodecBuilder.forServer().build(), new Answer());
                    }
                }).bind(new InetSocketAddress(HOST, PORT)).sync().channel();
    }

    @AfterEach
    void stop() {
        listener.close().syncUninterruptibly();
        serverLoop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
        mesh.close();
    }

    /** Answers each CONNECT with the 200 in {@link #fragments} frames, written below Netty's codec. */
    final class Answer extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2HeadersFrame h && h.stream() != null && !h.isEndStream()) {
                    ctx.pipeline().context(Http2FrameCodec.class).writeAndFlush(fragmented200(h.stream().id(), fragments));
                } else if (msg instanceof Http2GoAwayFrame g) {
                    clientGoAway.complete(g.errorCode());
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // the test reads the outcome
        }
    }

    /**
     * A 200 (HPACK static index 8) and an {@code x-pad} field as a literal without indexing (RFC 7541 section 6.2.2,
     * so no dynamic table entry the server's own encoder would not know of), split into {@code n} frames.
     */
    static ByteBuf fragmented200(int stream, int n) {
        ByteBuf block = Unpooled.buffer();
        byte[] name = "x-pad".getBytes(StandardCharsets.US_ASCII);
        byte[] value = "p".repeat(100).getBytes(StandardCharsets.US_ASCII);
        block.writeByte(0x88).writeByte(0x00).writeByte(name.length).writeBytes(name).writeByte(value.length).writeBytes(value);
        ByteBuf frames = Unpooled.buffer();
        int size = block.readableBytes() / n;
        for (int i = 0; i < n; i++) {
            boolean last = i == n - 1;
            int length = last ? block.readableBytes() : size;
            frames.writeMedium(length).writeByte(i == 0 ? 1 : 9).writeByte(last ? 0x4 : 0).writeInt(stream);
            frames.writeBytes(block, length);
        }
        block.release();
        return frames;
    }

    /** HEADERS, 5 CONTINUATION frames without END_HEADERS and one with it: the longest block h2's client takes. */
    @Test
    void aResponseInAsManyFragmentsAsH2AllowsOpensTheTunnel() throws Exception {
        fragments = 7;
        try (HboneClient client = mesh.client().build()) {
            HboneStream stream = client.connect(Mesh.loopback(9), mesh.expectServer(), (InetSocketAddress) listener.localAddress())
                    .get(10, TimeUnit.SECONDS);
            assertThat(stream).isNotNull();
            assertThat(clientGoAway).as("no GOAWAY from the client").isNotDone();
            stream.close();
        }
    }

    /**
     * HEADERS, 6 CONTINUATION frames without END_HEADERS and one with it: h2 refuses it at the sixth CONTINUATION frame,
     * zerohop at the seventh (Netty reads a fragment before it checks its count), so neither opens the tunnel.
     */
    @Test
    void aResponseInMoreFragmentsThanH2AllowsEndsTheConnection() throws Exception {
        fragments = 8;
        try (HboneClient client = mesh.client().build()) {
            Throwable failure = catchThrowable(() -> client.connect(Mesh.loopback(9), mesh.expectServer(),
                    (InetSocketAddress) listener.localAddress()).get(10, TimeUnit.SECONDS));
            assertThat(failure).as("the open").isInstanceOf(ExecutionException.class);
            assertThat(failure.getCause()).as("the open's failure").isInstanceOf(java.io.IOException.class)
                    .hasMessageContaining("failed before a CONNECT response");
            assertThat(clientGoAway.get(10, TimeUnit.SECONDS)).as("the client's GOAWAY code")
                    .isEqualTo(Http2Error.ENHANCE_YOUR_CALM.code());
            assertThat(serverConnection.get(10, TimeUnit.SECONDS).closeFuture().await(10, TimeUnit.SECONDS))
                    .as("the connection closed").isTrue();
        }
    }
}
