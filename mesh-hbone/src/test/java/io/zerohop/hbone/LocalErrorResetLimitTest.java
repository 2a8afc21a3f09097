package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.END_HEADERS;
import static io.zerohop.hbone.RawFrames.GOAWAY;
import static io.zerohop.hbone.RawFrames.HEADERS;
import static io.zerohop.hbone.RawFrames.RST_STREAM;
import static io.zerohop.hbone.StreamErrorCodeTest.block;
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
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.internal.Inspect;
import io.zerohop.hbone.internal.Transports;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * hyperium/h2's lifetime limit on the streams a connection resets for the peer's errors, the "MadeYouReset"
 * (CVE-2025-8671) defence: {@code max_local_error_reset_streams}, {@code DEFAULT_LOCAL_RESET_COUNT_MAX} = 1,024 on client
 * and server (src/proto/mod.rs), which ztunnel leaves as it is. h2 counts each stream error it finds in a received frame
 * (src/proto/streams/streams.rs {@code Actions::send_reset} with {@code Initiator::Library},
 * {@code reset_on_recv_stream_err}); at the 1,025th it sends GOAWAY ENHANCE_YOUR_CALM, "too_many_internal_resets", in
 * place of the reset. Resets the application asks for are not counted. The cases follow h2's own tests:
 * tests/h2-tests/tests/flow_control.rs {@code too_many_window_update_resets_causes_go_away} and tests/server.rs
 * {@code send_reset_explicitly_does_not_affect_local_limit}: the server's first two cases at h2's real limit, the
 * others at {@link #SMALL} (h2's tests lower it to 10 and 3; until helper 315 all ran at 1,024).
 * Until helper 304 (6 December) zerohop bounded such resets per second only ({@code H2Codecs.MAX_RST_FRAMES_PER_SECOND}):
 * the 1,025th got its RST_STREAM like the first. Binds 127.0.160.1:50300-50306.
 */
@Timeout(180)
class LocalErrorResetLimitTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    static final String HOST = "127.0.160.1";
    /** h2's {@code DEFAULT_LOCAL_RESET_COUNT_MAX}, zerohop's limit, proved at its value by the server's first case. */
    static final int LIMIT = 1024;
    /**
     * The limit the cases other than the server's first give their connections ({@code Inspect.localErrorResetLimit}), as
     * h2's own tests lower it to 10 and 3: 1,025 tunnels opened one after another took some 5 s per client case. What is
     * counted and what is not does not depend on the limit; the production one is proved by the server's first case.
     */
    static final int SMALL = 16;
    static ResetServers servers;
    static Mesh mesh;
    static HboneServer server;
    /** The same server with room for one tunnel per connection: what passes it is refused with REFUSED_STREAM. */
    static HboneServer oneStream;
    static String authority;

    @BeforeAll
    static void start() throws Exception {
        // The hold of reset streams never ends here: what is held does not depend on how fast the machine is.
        servers = new ResetServers(HOST, 50300, () -> 0L);
        mesh = servers.mesh;
        server = servers.server;
        oneStream = servers.oneStream;
        authority = servers.authority;
    }

    @AfterAll
    static void stop() {
        servers.close();
    }

    static io.netty.handler.codec.http2.Http2Headers connect() {
        return servers.connect();
    }

    /**
     * A request the server resets with PROTOCOL_ERROR for the peer's error: an upper-case field name, which Netty's
     * codec refuses (h2's frame reader too, {@code MalformedMessage}), or, {@code zerohop}, a CONNECT with {@code :path},
     * which zerohop's InboundTunnel answers 400 and resets (h2's server.rs {@code convert_poll_message}, {@code malformed!}).
     */
    static void malformed(RawFrames p, int stream, boolean zerohop) {
        p.frame(HEADERS, END_HEADERS, stream, zerohop ? block(":method", "CONNECT", ":authority", authority, ":path", "/")
                : block(":method", "CONNECT", ":authority", authority, "X-Upper", "1"));
    }

    /** A sentinel tunnel on stream 1 that echoes. */
    static RawFrames withSentinel(HboneServer s) throws Exception {
        return servers.withSentinel(s);
    }

    /** The GOAWAY's debug data. */
    static String debugData(RawFrames.Frame goAway) {
        return new String(goAway.payload(), 8, goAway.payload().length - 8, StandardCharsets.US_ASCII);
    }

    /**
     * A WINDOW_UPDATE past 2^31-1 on an open tunnel (h2's own case), then 1,023 malformed requests, half refused by
     * Netty's codec and half by zerohop's handler: 1,024 RST_STREAM, the sentinel tunnel still echoes. The 1,025th
     * malformed request gets GOAWAY ENHANCE_YOUR_CALM "too_many_internal_resets" and no RST_STREAM, and the connection
     * closes. A new connection starts from 0.
     */
    @Test
    void theServerEndsAConnectionAtTheThousandAndTwentyFifthResetForThePeersErrors() throws Exception {
        try (RawFrames p = withSentinel(server)) {
            p.headers(3, connect(), false);
            assertThat(p.next(HEADERS, 3, WAIT).status()).isEqualTo("200");
            p.windowUpdate(3, 0x7fffffff);
            assertThat(p.nextError(3, WAIT)).isEqualTo("RST 3 FLOW_CONTROL_ERROR");
            int stream = 5;
            for (int i = 1; i < LIMIT; i++, stream += 2) {
                malformed(p, stream, i % 2 == 0);
                assertThat(p.nextError(stream, WAIT)).as("reset %d", i + 1).isEqualTo("RST " + stream + " PROTOCOL_ERROR");
            }
            H2ProtocolTest.assertEchoes(p, 1, "after 1,024 resets");
            malformed(p, stream, false);
            int last = stream;
            RawFrames.Frame answer = p.next(f -> f.type() == GOAWAY || f.type() == RST_STREAM && f.stream() == last, WAIT);
            assertThat(answer).as("the answer to the 1,025th").isNotNull();
            assertThat(answer.type()).as("the answer to the 1,025th").isEqualTo(GOAWAY);
            assertThat(Http2Error.valueOf(answer.errorCode())).isEqualTo(Http2Error.ENHANCE_YOUR_CALM);
            assertThat(debugData(answer)).isEqualTo("too_many_internal_resets");
            // The last stream processed, as h2's GOAWAY names it (src/proto/connection.rs go_away_now_data,
            // last_processed_id): the last request zerohop answered 400; Netty refused the next one's header block, and this one's,
            // before it created the stream, as h2's frame reader refuses a malformed block. Netty's 2^31-1 until helper 315.
            assertThat(java.nio.ByteBuffer.wrap(answer.payload()).getInt()).as("last-stream-id").isEqualTo(last - 4);
            p.closed.get(10, TimeUnit.SECONDS);
            assertThat(p.frames).noneMatch(f -> f.type() == RST_STREAM && f.stream() == last);
        }
        try (RawFrames p = mesh.peer(server)) {
            malformed(p, 1, true);
            assertThat(p.nextError(1, WAIT)).as("a new connection's first").isEqualTo("RST 1 PROTOCOL_ERROR");
        }
    }

    /**
     * An error h2's frame reader finds on a stream this side already reset counts though no second RST_STREAM goes out:
     * h2's {@code Actions::send_reset} counts before send.rs {@code send_reset} declines to "double reset". A stream
     * reset for a malformed request, then 1,023 PRIORITY frames naming that stream as its own dependency (a stream error
     * PROTOCOL_ERROR, framed_read.rs), which get no answer while the stream is held; the next malformed request gets the
     * GOAWAY.
     */
    @Test
    void errorsOnAStreamAlreadyResetCountThoughNothingIsSent() throws Exception {
        try (RawFrames p = withSentinel(server)) {
            malformed(p, 3, false);
            assertThat(p.nextError(3, WAIT)).isEqualTo("RST 3 PROTOCOL_ERROR");
            for (int i = 1; i < LIMIT; i++) {
                p.frame(RawFrames.PRIORITY, 0, 3, Unpooled.buffer(5).writeInt(3).writeByte(15));
            }
            p.data(1, "after".getBytes(StandardCharsets.US_ASCII), false);
            java.util.List<RawFrames.Frame> seen = p.until(f -> f.type() == RawFrames.DATA && f.stream() == 1, WAIT);
            assertThat(seen).as("the echo after the PRIORITY frames").isNotEmpty().last().matches(f -> f.type() == RawFrames.DATA);
            assertThat(seen).as("answers to the PRIORITY frames").noneMatch(f -> f.type() == RST_STREAM || f.type() == GOAWAY);
            malformed(p, 5, false);
            RawFrames.Frame answer = p.next(f -> f.type() == GOAWAY || f.type() == RST_STREAM && f.stream() == 5, WAIT);
            assertThat(answer).as("the answer to the 1,025th").isNotNull();
            assertThat(answer.type()).as("the answer to the 1,025th").isEqualTo(GOAWAY);
            assertThat(Http2Error.valueOf(answer.errorCode())).isEqualTo(Http2Error.ENHANCE_YOUR_CALM);
            p.closed.get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * Resets that are no error of the peer's are not counted, as in h2 (tests/server.rs
     * {@code send_reset_explicitly_does_not_affect_local_limit}; REFUSED_STREAM goes out through recv.rs
     * {@code send_pending_refusal}, not {@code send_reset}): three times the limit of well-formed requests the server
     * refuses (400, then RST_STREAM NO_ERROR), as many streams refused for SETTINGS_MAX_CONCURRENT_STREAMS; a malformed
     * request after them still gets its RST_STREAM. On connections with the limit {@link #SMALL}: 2,200 refusals at
     * 1,024 took some 4 s.
     */
    @Test
    void refusalsAreNotCounted() throws Exception {
        Inspect.localErrorResetLimit(server, SMALL);
        Inspect.localErrorResetLimit(oneStream, SMALL);
        try {
            try (RawFrames p = withSentinel(server)) {
                int stream = 3;
                for (int i = 0; i < 3 * SMALL; i++, stream += 2) {
                    p.frame(HEADERS, END_HEADERS, stream, block(":method", "GET", ":scheme", "https", ":path", "/", ":authority", authority));
                    assertThat(p.nextError(stream, WAIT)).isEqualTo("RST " + stream + " NO_ERROR");
                }
                malformed(p, stream, false);
                assertThat(p.nextError(stream, WAIT)).isEqualTo("RST " + stream + " PROTOCOL_ERROR");
                H2ProtocolTest.assertEchoes(p, 1, "still here");
            }
            try (RawFrames p = withSentinel(oneStream)) {
                int stream = 3;
                for (int i = 0; i < 3 * SMALL; i++, stream += 2) {
                    p.headers(stream, connect(), false);
                    assertThat(p.nextError(stream, WAIT)).isEqualTo("RST " + stream + " REFUSED_STREAM");
                }
                malformed(p, stream, false);
                assertThat(p.nextError(stream, WAIT)).isEqualTo("RST " + stream + " PROTOCOL_ERROR");
                H2ProtocolTest.assertEchoes(p, 1, "still here");
            }
        } finally {
            Inspect.localErrorResetLimit(server, LIMIT);
            Inspect.localErrorResetLimit(oneStream, LIMIT);
        }
    }

    /**
     * The client's side, against a frame-level server (Netty's codec over real mutual TLS) that answers each CONNECT
     * with a 200 and then, written below its codec, {@link #mode}'s fault: a WINDOW_UPDATE past 2^31-1 on the stream
     * (the client resets it FLOW_CONTROL_ERROR, Netty's codec's find), which counts; h2's client has the same limit
     * (src/client.rs, {@code max_local_error_reset_streams}). DATA before the 200 no longer counts: it is a connection
     * error, as in h2 (ClientResponseParityTest).
     */
    static final class FaultyServer implements AutoCloseable {
        final EventLoopGroup loop = Transports.newGroup(1, "reset-limit-server");
        final Channel listener;
        final BlockingQueue<Channel> connections = new LinkedBlockingQueue<>();
        /** RST_STREAM error codes received, in order. */
        final BlockingQueue<Long> resets = new LinkedBlockingQueue<>();
        /** The client's first GOAWAY: "CODE last-stream-id debug-data". */
        final CompletableFuture<String> goAway = new CompletableFuture<>();
        /**
         * "overflow", "zero" (a WINDOW_UPDATE of 0 after the 200), "none" (a plain 200) or "late-data" (a plain
         * 200, and a DATA frame on each stream the client resets, right after its RST_STREAM).
         */
        volatile String mode = "none";

        FaultyServer(Mesh mesh, int port) throws Exception {
            SslContext tls = mesh.tls.server(mesh.serverId).get(10, TimeUnit.SECONDS);
            listener = new ServerBootstrap().group(loop).channel(Transports.serverChannel(loop))
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel c) {
                            connections.add(c);
                            // Netty's own RST_STREAM flood guard (200 per 30 s) off: the client's resets are what is counted here.
                            c.pipeline().addLast(tls.newHandler(c.alloc()),
                                    Http2FrameCodecBuilder.forServer().decoderEnforceMaxRstFramesPerWindow(0, 0).build(), new Answer());
                        }
                    }).bind(new InetSocketAddress(HOST, port)).sync().channel();
        }

        final class Answer extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                try {
                    if (msg instanceof Http2HeadersFrame h && h.stream() != null) {
                        int id = h.stream().id();
                        ChannelHandlerContext below = ctx.pipeline().context(Http2FrameCodec.class);
                        String m = mode;
                        ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")).stream(h.stream()));
                        if (m.equals("overflow") || m.equals("zero")) {
                            ByteBuf update = Unpooled.buffer().writeMedium(4).writeByte(8).writeByte(0).writeInt(id)
                                    .writeInt(m.equals("zero") ? 0 : 0x7fffffff);
                            below.writeAndFlush(update);
                        }
                    } else if (msg instanceof Http2ResetFrame r) {
                        if (mode.equals("late-data")) {
                            // DATA this server had on its way when the client's RST_STREAM came: written below the codec,
                            // which would not send on a stream it closed.
                            ByteBuf data = Unpooled.buffer().writeMedium(1).writeByte(0).writeByte(0).writeInt(r.stream().id()).writeByte('x');
                            ctx.pipeline().context(Http2FrameCodec.class).writeAndFlush(data);
                        }
                        resets.add(r.errorCode());
                    } else if (msg instanceof Http2GoAwayFrame g) {
                        goAway.complete(Http2Error.valueOf(g.errorCode()) + " " + g.lastStreamId() + " "
                                + g.content().toString(StandardCharsets.US_ASCII));
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

        @Override
        public void close() {
            listener.close().syncUninterruptibly();
            loop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
        }
    }

    /**
     * Opens a tunnel to the faulty server, and aborts it when {@code abort}; the open's failure (a malformed response
     * fails it) is not the test's. Without {@code abort} the tunnel is left to the fault that follows its 200.
     */
    static void open(HboneClient client, FaultyServer s, boolean abort) {
        catchThrowable(() -> {
            HboneStream stream = client.connect(Mesh.loopback(9), mesh.expectServer(), (InetSocketAddress) s.listener.localAddress())
                    .get(10, TimeUnit.SECONDS);
            if (abort) {
                stream.reset();
            }
        });
    }

    /**
     * A fault after what came before still gets the client's RST_STREAM, and no connection went away: no GOAWAY, every
     * connection the server accepted still open. Not "one connection": a round of opens that started while the last
     * round's aborted tunnels were still leaving the pool took a second one now and then (twice in some 35 runs, with no
     * GOAWAY and nothing counted; seen once the rounds got short).
     */
    static void assertAFaultIsStillReset(HboneClient client, FaultyServer s) throws Exception {
        s.mode = "overflow";
        open(client, s, false);
        assertThat(s.resets.poll(10, TimeUnit.SECONDS)).isEqualTo(Http2Error.FLOW_CONTROL_ERROR.code());
        assertThat(s.goAway).isNotDone();
        assertThat(s.connections).isNotEmpty().allMatch(Channel::isActive);
    }

    /** A client of {@link #mesh}'s whose connections go away past {@link #SMALL} resets for the server's errors. */
    static HboneClient smallLimitClient() {
        HboneClient client = mesh.client().build();
        Inspect.localErrorResetLimit(client, SMALL);
        return client;
    }

    /**
     * {@link #SMALL} streams the client resets for the server's faults keep the connection; the next fault gets the
     * client's GOAWAY ENHANCE_YOUR_CALM "too_many_internal_resets" naming last-stream-id 0 (the server opened no stream;
     * h2's client names its last processed one) and no RST_STREAM, and the connection closes. At 1,024 until helper 315,
     * some 5 s.
     */
    @Test
    void theClientEndsAConnectionPastItsLimitOfResetsForThePeersErrors() throws Exception {
        try (FaultyServer s = new FaultyServer(mesh, 50303); HboneClient client = smallLimitClient()) {
            s.mode = "overflow";
            for (int i = 0; i < SMALL; i++) {
                open(client, s, false);
                assertThat(s.resets.poll(10, TimeUnit.SECONDS)).as("reset %d", i + 1).isEqualTo(Http2Error.FLOW_CONTROL_ERROR.code());
            }
            assertThat(s.goAway).as("no GOAWAY after %d", SMALL).isNotDone();
            open(client, s, false);
            assertThat(s.goAway.get(10, TimeUnit.SECONDS)).isEqualTo("ENHANCE_YOUR_CALM 0 too_many_internal_resets");
            Channel connection = s.connections.poll(10, TimeUnit.SECONDS);
            assertThat(connection.closeFuture().await(10, TimeUnit.SECONDS)).as("the connection closed").isTrue();
            assertThat(s.connections).as("one connection carried them all").isEmpty();
            assertThat(s.resets).as("resets after the limit").isEmpty();
        }
    }

    /**
     * The client's own resets, tunnels its application aborts (RST_STREAM CONNECT_ERROR), three times the limit, are not
     * counted (h2's {@code Initiator::User}): a fault after them is still answered with RST_STREAM.
     */
    @Test
    void theClientsOwnResetsAreNotCounted() throws Exception {
        try (FaultyServer s = new FaultyServer(mesh, 50304); HboneClient client = smallLimitClient()) {
            for (int i = 0; i < 3 * SMALL; i++) {
                open(client, s, true);
                assertThat(s.resets.poll(10, TimeUnit.SECONDS)).isEqualTo(Http2Error.CONNECT_ERROR.code());
            }
            assertAFaultIsStillReset(client, s);
        }
    }

    /**
     * DATA the server had on its way when the client's application aborted its tunnels is not counted, although past the
     * client's hold of 50 reset streams it gets RST_STREAM STREAM_CLOSED (hyperium/h2 counts it, hyperium/h2#856): 300
     * tunnels aborted 100 at a time, each followed by the server's DATA, keep the one connection (the hold has no room
     * for some 50 of each hundred: ten times the limit), and a fault after them still gets its RST_STREAM. Until helper
     * 309 (6 December) the DATA on the 50 streams of each hundred the hold had no room for counted, and some 21 hundreds
     * ended a connection at 1,024 with GOAWAY ENHANCE_YOUR_CALM (2,500 tunnels until helper 315, here the first hundred).
     */
    @Test
    void dataTheServerSentBeforeTheClientsAbortsIsNotCounted() throws Exception {
        try (FaultyServer s = new FaultyServer(mesh, 50306); HboneClient client = smallLimitClient()) {
            s.mode = "late-data";
            for (int round = 0; round < 3; round++) {
                java.util.List<CompletableFuture<HboneStream>> opens = new java.util.ArrayList<>();
                for (int i = 0; i < 100; i++) {
                    opens.add(client.connect(Mesh.loopback(9), mesh.expectServer(), (InetSocketAddress) s.listener.localAddress()));
                }
                for (CompletableFuture<HboneStream> open : opens) {
                    open.get(10, TimeUnit.SECONDS).reset();
                }
                for (int i = 0; i < 100; i++) {
                    assertThat(s.resets.poll(10, TimeUnit.SECONDS)).as("round %d, abort %d", round, i + 1).isEqualTo(Http2Error.CONNECT_ERROR.code());
                }
                assertThat(s.goAway).as("after round %d", round).isNotDone();
            }
            assertAFaultIsStillReset(client, s);
        }
    }

    /**
     * The client's codec answers a WINDOW_UPDATE of 0 on a tunnel as the server's does (StreamErrorCodeTest
     * {@code aWindowUpdateOfZeroIsAConnectionErrorAsInH2}): GOAWAY PROTOCOL_ERROR, as h2's client, whose frame reader is
     * the server's (src/codec/framed_read.rs). Until helper 304 (6 December) it reset the tunnel only.
     */
    @Test
    void aWindowUpdateOfZeroEndsTheClientsConnection() throws Exception {
        try (FaultyServer s = new FaultyServer(mesh, 50305); HboneClient client = mesh.client().build()) {
            s.mode = "zero";
            open(client, s, false);
            // Last-stream-id 0, as h2's client names it (src/proto/connection.rs go_away_now, last_processed_id); Netty's 2^31-1
            // until helper 315.
            assertThat(s.goAway.get(10, TimeUnit.SECONDS)).startsWith("PROTOCOL_ERROR 0 ");
            Channel connection = s.connections.poll(10, TimeUnit.SECONDS);
            assertThat(connection.closeFuture().await(10, TimeUnit.SECONDS)).as("the connection closed").isTrue();
            assertThat(s.resets).as("no RST_STREAM").isEmpty();
        }
    }
}
