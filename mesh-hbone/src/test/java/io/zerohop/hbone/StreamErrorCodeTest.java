package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.END_HEADERS;
import static io.zerohop.hbone.RawFrames.END_STREAM;
import static io.zerohop.hbone.RawFrames.GOAWAY;
import static io.zerohop.hbone.RawFrames.HEADERS;
import static io.zerohop.hbone.RawFrames.RST_STREAM;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.zerohop.hbone.internal.Transports;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A stream error in what a peer sends on an open tunnel is reset with that error's own code (RFC 9113 section 5.4.2,
 * as hyperium/h2, ztunnel's, answers), not CONNECT_ERROR; the upstream is reset and the connection's other tunnel goes
 * on. Raw frames over real mutual TLS to a real HboneServer in proxy mode, a recording echo upstream (a review pass,
 * helper 266, which also recorded ~60 other malformed sequences: mesh-hbone README, "Protocol faults").
 */
@Timeout(120)
class StreamErrorCodeTest {
    static final Duration WAIT = Duration.ofSeconds(5);
    static final String HOST = "127.0.115.1";
    static Mesh mesh;
    static Upstream upstream;
    static HboneServer server;
    static String authority;

    /** A TCP echo that records, per accepted connection, its bytes and how it ended (FIN, RST, closed). */
    static final class Upstream implements AutoCloseable {
        final EventLoopGroup group = Transports.newGroup(1, "stream-error-upstream");
        final BlockingQueue<Conn> accepted = new LinkedBlockingQueue<>();
        final Channel listener;

        static final class Conn {
            final AtomicLong bytes = new AtomicLong();
            final CompletableFuture<String> end = new CompletableFuture<>();
        }

        Upstream(int port) throws Exception {
            this(HOST, port);
        }

        Upstream(String host, int port) throws Exception {
            listener = new ServerBootstrap().group(group).channel(Transports.serverChannel(group))
                    .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            Conn c = new Conn();
                            accepted.add(c);
                            ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                                @Override
                                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                    c.bytes.addAndGet(((ByteBuf) msg).readableBytes());
                                    ctx.writeAndFlush(msg);
                                }

                                @Override
                                public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                                    if (evt instanceof ChannelInputShutdownEvent) {
                                        c.end.complete("FIN");
                                        ((SocketChannel) ctx.channel()).shutdownOutput();
                                    }
                                }

                                @Override
                                public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                    c.end.complete("RST(" + cause.getMessage() + ")");
                                    ctx.close();
                                }

                                @Override
                                public void channelInactive(ChannelHandlerContext ctx) {
                                    c.end.complete("closed");
                                }
                            });
                        }
                    }).bind(new InetSocketAddress(host, port)).sync().channel();
        }

        @Override
        public void close() {
            listener.close().syncUninterruptibly();
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
        }
    }

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        upstream = new Upstream(46661);
        InetSocketAddress up = new InetSocketAddress(HOST, 46661);
        authority = HOST + ":46661";
        server = mesh.server((dst, id, local) -> dst.equals(up) ? Destination.proxy(up) : null)
                .bind(new InetSocketAddress(HOST, 46660)).build().start().get();
    }

    @AfterAll
    static void stop() {
        server.close();
        upstream.close();
        mesh.close();
    }

    static RawFrames peer() throws Exception {
        return mesh.rawPeer(server);
    }

    static Http2Headers connect() {
        return new DefaultHttp2Headers().method("CONNECT").authority(authority);
    }

    /** An HPACK block of literal fields without indexing, new names, no Huffman: any names, order and repeats. */
    static ByteBuf block(String... nameValues) {
        ByteBuf b = Unpooled.buffer();
        for (int i = 0; i < nameValues.length; i += 2) {
            b.writeByte(0);
            string(b, nameValues[i]);
            string(b, nameValues[i + 1]);
        }
        return b;
    }

    private static void string(ByteBuf b, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.ISO_8859_1);
        int n = bytes.length;
        if (n < 127) {
            b.writeByte(n);
        } else {
            b.writeByte(127);
            n -= 127;
            while (n >= 128) {
                b.writeByte((n & 0x7f) | 0x80);
                n >>>= 7;
            }
            b.writeByte(n);
        }
        b.writeBytes(bytes);
    }

    /** The server's first answer on {@code stream}: ":status N", "RST CODE" or "GOAWAY CODE", or "none". */
    static String answer(RawFrames p, int stream) throws InterruptedException {
        RawFrames.Frame f = p.next(x -> x.stream() == stream && (x.type() == HEADERS || x.type() == RST_STREAM) || x.type() == GOAWAY, WAIT);
        if (f == null) {
            return p.isOpen() ? "none" : "connection closed";
        }
        if (f.type() == HEADERS) {
            return ":status " + f.status() + ((f.flags() & END_STREAM) != 0 ? " +END_STREAM" : "");
        }
        return (f.type() == RST_STREAM ? "RST " : "GOAWAY ") + Http2Error.valueOf(f.errorCode());
    }

    /** A sentinel tunnel on stream 1 that must keep echoing. */
    static RawFrames withSentinel() throws Exception {
        upstream.accepted.clear();
        RawFrames p = peer().preface();
        p.headers(1, connect(), false);
        assertThat(answer(p, 1)).isEqualTo(":status 200");
        H2ProtocolTest.assertEchoes(p, 1, "sentinel");
        upstream.accepted.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        return p;
    }

    static String sentinelAlive(RawFrames p) {
        try {
            if (!p.isOpen()) {
                return "connection gone";
            }
            H2ProtocolTest.assertEchoes(p, 1, "still");
            return "sentinel ok";
        } catch (Throwable t) {
            return "sentinel FAILED: " + t.getMessage();
        }
    }

    /** Every RST_STREAM on {@code stream} within half a second, as codes. */
    static java.util.List<Http2Error> resets(RawFrames p, int stream) throws InterruptedException {
        java.util.List<Http2Error> codes = new java.util.ArrayList<>();
        long deadline = System.nanoTime() + Duration.ofMillis(500).toNanos();
        for (long left; (left = deadline - System.nanoTime()) > 0; ) {
            RawFrames.Frame f = p.next(RST_STREAM, stream, Duration.ofNanos(left));
            if (f != null) {
                codes.add(Http2Error.valueOf(f.errorCode()));
            }
        }
        return codes;
    }

    /**
     * RFC 9113 section 5.4.2: a stream error is answered with RST_STREAM carrying its code. Netty's codec finds these
     * in what the peer sent on an open tunnel and fires them into the stream's pipeline before resetting the stream
     * itself; the relay's abort reset it first with CONNECT_ERROR, which tells the client its destination's TCP
     * connection failed (section 8.5) when its own frames were at fault. hyperium/h2 (ztunnel) sends PROTOCOL_ERROR
     * (recv.rs: a second HEADERS without END_STREAM, pseudo-headers in trailers) or FLOW_CONTROL_ERROR. The upstream
     * still sees a reset, and the connection's other tunnel lives on. (A WINDOW_UPDATE of 0 was among these until helper
     * 304: {@link #aWindowUpdateOfZeroIsAConnectionErrorAsInH2}.)
     */
    @Test
    void aStreamErrorOnAnOpenTunnelIsResetWithItsOwnCode() throws Exception {
        record Fault(String name, Http2Error code, java.util.function.Consumer<RawFrames> send) {}
        java.util.List<Fault> faults = java.util.List.of(
                new Fault("second HEADERS without END_STREAM", Http2Error.PROTOCOL_ERROR,
                        p -> p.frame(HEADERS, END_HEADERS, 3, block("x-second", "1"))),
                new Fault("trailers with a pseudo-header", Http2Error.PROTOCOL_ERROR,
                        p -> p.frame(HEADERS, END_HEADERS | END_STREAM, 3, block(":authority", authority))),
                new Fault("WINDOW_UPDATE past 2^31-1", Http2Error.FLOW_CONTROL_ERROR, p -> p.windowUpdate(3, 0x7fffffff)));
        for (Fault fault : faults) {
            try (RawFrames p = withSentinel()) {
                p.headers(3, connect(), false);
                assertThat(answer(p, 3)).isEqualTo(":status 200");
                Upstream.Conn up = upstream.accepted.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
                assertThat(up).isNotNull();
                H2ProtocolTest.assertEchoes(p, 3, "hi");
                fault.send().accept(p);
                assertThat(resets(p, 3)).as(fault.name()).containsExactly(fault.code());
                assertThat(up.end.get(5, TimeUnit.SECONDS)).as(fault.name() + ": the upstream is aborted").startsWith("RST");
                assertThat(sentinelAlive(p)).as(fault.name()).isEqualTo("sentinel ok");
            }
        }
        // DATA past the request's content-length: Netty's check, before the bytes reach the upstream.
        try (RawFrames p = withSentinel()) {
            p.frame(HEADERS, END_HEADERS, 3, block(":method", "CONNECT", ":authority", authority, "content-length", "3"));
            assertThat(answer(p, 3)).isEqualTo(":status 200");
            Upstream.Conn up = upstream.accepted.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            p.data(3, "0123456789".getBytes(StandardCharsets.UTF_8), false);
            assertThat(resets(p, 3)).containsExactly(Http2Error.PROTOCOL_ERROR);
            assertThat(up.end.get(5, TimeUnit.SECONDS)).startsWith("RST");
            assertThat(up.bytes.get()).isZero();
            assertThat(sentinelAlive(p)).isEqualTo("sentinel ok");
        }
    }

    /**
     * A WINDOW_UPDATE with an increment of 0 ends the connection with GOAWAY PROTOCOL_ERROR whatever its stream, as
     * hyperium/h2's frame reader answers it (src/frame/window_update.rs {@code load}, {@code InvalidWindowUpdateValue};
     * src/codec/framed_read.rs, {@code library_go_away(PROTOCOL_ERROR)}) before it looks at any stream: on an open tunnel
     * (its upstream is aborted with the connection), on a stream the server reset less than a second ago, on the
     * connection. RFC 9113 section 6.9 names a stream error for a stream's, and section 5.4.1 lets an endpoint treat a
     * stream error as a connection error; a 0 increment is no peer's mistake but a way to make this side reset streams
     * (MadeYouReset, CVE-2025-8671). Until helper 304 (6 December) Netty's stream error reset the tunnel only, and the one
     * on a held stream was ignored.
     */
    @Test
    void aWindowUpdateOfZeroIsAConnectionErrorAsInH2() throws Exception {
        try (RawFrames p = withSentinel()) {
            p.headers(3, connect(), false);
            assertThat(answer(p, 3)).isEqualTo(":status 200");
            Upstream.Conn up = upstream.accepted.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(up).isNotNull();
            H2ProtocolTest.assertEchoes(p, 3, "hi");
            p.windowUpdate(3, 0);
            assertThat(p.nextError(0, WAIT)).as("on an open tunnel").isEqualTo("GOAWAY 3 PROTOCOL_ERROR");
            assertThat(up.end.get(5, TimeUnit.SECONDS)).as("the upstream").isNotNull();
            p.closed.get(10, TimeUnit.SECONDS);
        }
        try (RawFrames p = withSentinel()) {
            p.frame(HEADERS, END_HEADERS, 3, block(":method", "CONNECT", ":authority", authority, ":path", "/"));
            assertThat(p.nextError(3, WAIT)).isEqualTo("RST 3 PROTOCOL_ERROR");
            p.windowUpdate(3, 0);
            assertThat(p.nextError(0, WAIT)).as("on a stream reset a moment ago").isEqualTo("GOAWAY 3 PROTOCOL_ERROR");
            p.closed.get(10, TimeUnit.SECONDS);
        }
        try (RawFrames p = withSentinel()) {
            p.windowUpdate(0, 0);
            assertThat(p.nextError(0, WAIT)).as("on the connection").isEqualTo("GOAWAY 1 PROTOCOL_ERROR");
            p.closed.get(10, TimeUnit.SECONDS);
        }
    }
}
