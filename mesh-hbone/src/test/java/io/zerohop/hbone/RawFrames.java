package io.zerohop.hbone;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersEncoder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.zerohop.hbone.internal.Transports;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * An HTTP/2 peer at the frame level over real mTLS: it writes whatever frames a test asks for
 * (stream ids out of order, oversized header blocks, resets, no preface, a window never opened)
 * and records every frame the other side sends, header blocks decoded in order.
 */
final class RawFrames implements AutoCloseable {
    static final int DATA = 0, HEADERS = 1, PRIORITY = 2, RST_STREAM = 3, SETTINGS = 4, PING = 6, GOAWAY = 7, WINDOW_UPDATE = 8,
            CONTINUATION = 9;
    static final int END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4;
    static final int SETTINGS_INITIAL_WINDOW_SIZE = 4;
    private static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final int CHUNK = 16_384;

    /** One received frame; {@code headers} is the decoded block of HEADERS (CONTINUATION folded in). */
    record Frame(int type, int flags, int stream, byte[] payload, Http2Headers headers) {
        long errorCode() {
            int at = type == GOAWAY ? 4 : 0;
            return ((payload[at] & 0xffL) << 24) | ((payload[at + 1] & 0xff) << 16) | ((payload[at + 2] & 0xff) << 8) | (payload[at + 3] & 0xff);
        }

        String status() {
            return headers == null || headers.status() == null ? null : headers.status().toString();
        }
    }

    /** Its own event loop, or null when the caller's group runs it (and outlives it). */
    private final EventLoopGroup ownGroup;
    private final Channel ch;
    private final Http2HeadersEncoder encoder = new DefaultHttp2HeadersEncoder(Http2HeadersEncoder.NEVER_SENSITIVE, true);
    private final DefaultHttp2HeadersDecoder decoder = new DefaultHttp2HeadersDecoder(false, 16L << 20);
    final BlockingQueue<Frame> frames = new LinkedBlockingQueue<>();
    final CompletableFuture<Void> closed = new CompletableFuture<>();
    /** Event loop only: nothing but the preface may come first, so ACKs wait for it. */
    private boolean prefaceSent;
    private int settingsToAck;
    /** False: PINGs are recorded but never answered (a peer that went silent). */
    volatile boolean answerPings = true;

    RawFrames(SslContext tls, InetSocketAddress server) throws Exception {
        this(tls, server, null);
    }

    /**
     * On {@code shared}'s event loops when not null: many peers on one loop are many connections of
     * one attacking process, without a thread each taking CPU from the server under test.
     */
    RawFrames(SslContext tls, InetSocketAddress server, EventLoopGroup shared) throws Exception {
        ownGroup = shared == null ? Transports.newGroup(1, "raw-frames") : null;
        EventLoopGroup group = shared == null ? ownGroup : shared;
        SslHandler[] ssl = new SslHandler[1];
        // A write failing on a connection the server reset must not close the channel before what
        // arrived ahead of the reset is read: the server's GOAWAY precedes its close, and a server
        // that closes with our frames still unread sends RST (Linux), which fails the next write.
        // Netty flushes before it reads a ready socket, so with auto-close the GOAWAY was dropped
        // unread whenever a write was pending (RapidResetTest: 7 of 20 GOAWAYs seen with auto-close).
        // Without it the failed write only shuts our output; the read then gets the frames, and
        // the reset after them closes the channel.
        ch = new Bootstrap().group(group).channel(Transports.socketChannel(group))
                .option(io.netty.channel.ChannelOption.AUTO_CLOSE, false)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel c) {
                        ssl[0] = tls.newHandler(c.alloc());
                        c.pipeline().addLast(ssl[0], new Reader());
                        c.closeFuture().addListener(f -> closed.complete(null));
                    }
                }).connect(server).sync().channel();
        ssl[0].handshakeFuture().sync();
    }

    /** Client preface and an initial SETTINGS frame carrying {@code idValuePairs}; then SETTINGS held so far are ACKed. */
    RawFrames preface(long... idValuePairs) throws Exception {
        ch.eventLoop().submit(() -> {
            ch.write(Unpooled.wrappedBuffer(PREFACE));
            settings(idValuePairs);
            prefaceSent = true;
            for (; settingsToAck > 0; settingsToAck--) {
                ch.writeAndFlush(header(0, SETTINGS, ACK, 0));
            }
        }).sync();
        return this;
    }

    RawFrames settings(long... idValuePairs) {
        ByteBuf p = Unpooled.buffer(idValuePairs.length * 3);
        for (int i = 0; i < idValuePairs.length; i += 2) {
            p.writeShort((int) idValuePairs[i]).writeInt((int) idValuePairs[i + 1]);
        }
        return frame(SETTINGS, 0, 0, p);
    }

    /** A header block split into HEADERS and CONTINUATION frames of at most 16 KiB (the default max frame size). */
    RawFrames headers(int stream, Http2Headers headers, boolean endStream) throws Exception {
        ByteBuf block = Unpooled.buffer();
        encoder.encodeHeaders(stream, headers, block);
        CompositeByteBuf frames = Unpooled.compositeBuffer(Integer.MAX_VALUE);
        boolean first = true;
        while (first || block.isReadable()) {
            int n = Math.min(CHUNK, block.readableBytes());
            boolean last = n == block.readableBytes();
            int flags = (last ? END_HEADERS : 0) | (first && endStream ? END_STREAM : 0);
            frames.addComponents(true, header(n, first ? HEADERS : CONTINUATION, flags, stream), block.readRetainedSlice(n));
            first = false;
        }
        block.release();
        // One write for the whole header block: a SETTINGS or PING ACK the reader writes must not
        // land between its frames (RFC 9113 section 6.10: a connection PROTOCOL_ERROR).
        ch.writeAndFlush(frames);
        return this;
    }

    /** HEADERS (one frame) and RST_STREAM in one write and flush, as a rapid-reset attacker pipelines them. */
    RawFrames headersAndRst(int stream, Http2Headers headers, long code) throws Exception {
        ByteBuf block = Unpooled.buffer();
        encoder.encodeHeaders(stream, headers, block);
        ch.writeAndFlush(Unpooled.wrappedBuffer(header(block.readableBytes(), HEADERS, END_HEADERS, stream), block,
                header(4, RST_STREAM, 0, stream), Unpooled.buffer(4).writeInt((int) code)));
        return this;
    }

    RawFrames data(int stream, byte[] bytes, boolean endStream) {
        return frame(DATA, endStream ? END_STREAM : 0, stream, Unpooled.wrappedBuffer(bytes));
    }

    RawFrames rst(int stream, long code) {
        return frame(RST_STREAM, 0, stream, Unpooled.buffer(4).writeInt((int) code));
    }

    RawFrames windowUpdate(int stream, int increment) {
        return frame(WINDOW_UPDATE, 0, stream, Unpooled.buffer(4).writeInt(increment));
    }

    RawFrames frame(int type, int flags, int stream, ByteBuf payload) {
        ch.writeAndFlush(Unpooled.wrappedBuffer(header(payload.readableBytes(), type, flags, stream), payload));
        return this;
    }

    /** {@code count} frames of {@code size} zero bytes each, in one write and flush. */
    RawFrames frames(int count, int type, int flags, int stream, int size) {
        ByteBuf all = Unpooled.buffer(count * (9 + size));
        for (int i = 0; i < count; i++) {
            all.writeMedium(size).writeByte(type).writeByte(flags).writeInt(stream).writeZero(size);
        }
        ch.writeAndFlush(all);
        return this;
    }

    private static ByteBuf header(int length, int type, int flags, int stream) {
        return Unpooled.buffer(9).writeMedium(length).writeByte(type).writeByte(flags).writeInt(stream);
    }

    /** The next received frame matching {@code p} (others are skipped), or null after {@code timeout}. */
    Frame next(Predicate<Frame> p, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (long left; (left = deadline - System.nanoTime()) > 0; ) {
            Frame f = frames.poll(left, TimeUnit.NANOSECONDS);
            if (f != null && p.test(f)) {
                return f;
            }
        }
        return null;
    }

    /** Every frame received until the first matching {@code p} (last in the list), or until {@code timeout} (no match in the list). */
    java.util.List<Frame> until(Predicate<Frame> p, Duration timeout) throws InterruptedException {
        java.util.List<Frame> seen = new java.util.ArrayList<>();
        next(f -> seen.add(f) && p.test(f), timeout);
        return seen;
    }

    Frame next(int type, int stream, Duration timeout) throws InterruptedException {
        return next(f -> f.type() == type && f.stream() == stream, timeout);
    }

    /**
     * The server's next error answer, as text: "RST &lt;stream&gt; &lt;code&gt;" for a RST_STREAM on {@code stream} (any stream
     * when 0), "GOAWAY &lt;last-stream-id&gt; &lt;code&gt;" for a GOAWAY, else "none" (still open) or "closed without GOAWAY"
     * after {@code timeout}. zerohop's GOAWAY for a connection error names the last stream processed, as h2's does
     * (H2Codecs.Codec#goAway; Netty's own names 2^31-1, Http2ConnectionHandler.goAway, netty/netty#10670).
     */
    String nextError(int stream, Duration timeout) throws InterruptedException {
        Frame f = next(x -> x.type() == RST_STREAM && (stream == 0 || x.stream() == stream) || x.type() == GOAWAY, timeout);
        if (f == null) {
            return isOpen() ? "none" : "closed without GOAWAY";
        }
        if (f.type() == RST_STREAM) {
            return "RST " + f.stream() + " " + io.netty.handler.codec.http2.Http2Error.valueOf(f.errorCode());
        }
        int last = java.nio.ByteBuffer.wrap(f.payload()).getInt() & 0x7fffffff;
        return "GOAWAY " + last + " " + io.netty.handler.codec.http2.Http2Error.valueOf(f.errorCode());
    }

    boolean isOpen() {
        return ch.isActive();
    }

    @Override
    public void close() {
        ch.close().syncUninterruptibly();
        if (ownGroup != null) {
            ownGroup.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
        }
    }

    /** Splits the decrypted byte stream into frames; ACKs SETTINGS and PING as any HTTP/2 peer must. */
    private final class Reader extends ChannelInboundHandlerAdapter {
        private ByteBuf cumulation = Unpooled.EMPTY_BUFFER;
        private ByteBuf headerBlock;
        private int headerFlags;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
            ByteBuf in = (ByteBuf) msg;
            ByteBuf all = Unpooled.buffer(cumulation.readableBytes() + in.readableBytes());
            all.writeBytes(cumulation).writeBytes(in);
            cumulation.release();
            in.release();
            cumulation = all;
            while (cumulation.readableBytes() >= 9) {
                int length = cumulation.getUnsignedMedium(cumulation.readerIndex());
                if (cumulation.readableBytes() < 9 + length) {
                    break;
                }
                cumulation.skipBytes(3);
                int type = cumulation.readUnsignedByte();
                int flags = cumulation.readUnsignedByte();
                int stream = cumulation.readInt() & 0x7fffffff;
                byte[] payload = new byte[length];
                cumulation.readBytes(payload);
                onFrame(ctx, type, flags, stream, payload);
            }
        }

        private void onFrame(ChannelHandlerContext ctx, int type, int flags, int stream, byte[] payload) throws Exception {
            if (type == SETTINGS && (flags & ACK) == 0) {
                if (prefaceSent) {
                    ctx.writeAndFlush(header(0, SETTINGS, ACK, 0));
                } else {
                    settingsToAck++;
                }
            } else if (type == PING && (flags & ACK) == 0 && answerPings) {
                ctx.writeAndFlush(Unpooled.wrappedBuffer(header(8, PING, ACK, 0), Unpooled.wrappedBuffer(payload)));
            }
            if (type == HEADERS || type == CONTINUATION) {
                if (type == HEADERS) {
                    headerBlock = Unpooled.buffer();
                    headerFlags = flags;
                }
                headerBlock.writeBytes(payload);
                if ((flags & END_HEADERS) == 0) {
                    return;
                }
                Http2Headers decoded = decoder.decodeHeaders(stream, headerBlock);
                headerBlock.release();
                headerBlock = null;
                frames.add(new Frame(HEADERS, headerFlags | END_HEADERS, stream, new byte[0], decoded));
                return;
            }
            frames.add(new Frame(type, flags, stream, payload, null));
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            cumulation.release();
            cumulation = Unpooled.EMPTY_BUFFER;
            if (headerBlock != null) {
                headerBlock.release();
            }
            closed.complete(null);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
