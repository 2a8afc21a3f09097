package io.zerohop.benchmarks;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * The application at the far end of every path: one Netty handler that works on a TCP channel and
 * on an HBONE stream channel alike. The first byte picks the mode: {@code 'E'} echo, {@code 'S'} sink
 * (bytes are counted in {@link #SINK} and dropped). A leading HTTP/1.1 {@code CONNECT} request (from
 * an nghttpx backend connection) is answered 200 and then the mode byte follows. A connection that
 * starts with {@code G}, {@code P} or {@code H} (GET, POST, PUT, HEAD) is HTTP/1.1: Netty's server
 * codec, every request answered {@code 200 ok} (3 bytes), keep-alive and pipelining as the client asks.
 */
final class AppServer implements AutoCloseable {
    /** Bytes received by every sink-mode connection, all paths (the bulk scenario reads deltas). */
    static final LongAdder SINK = new LongAdder();

    private final EventLoopGroup group;
    private final List<Channel> listeners = new ArrayList<>();

    AppServer(int threads) {
        IoHandlerFactory io = Epoll.isAvailable() ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        group = new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory("app", true), io);
    }

    InetSocketAddress bind(InetSocketAddress addr) throws InterruptedException {
        Channel ch = new ServerBootstrap().group(group)
                .channel(Epoll.isAvailable() ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 4096)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new Handler());
                    }
                })
                .bind(addr).sync().channel();
        listeners.add(ch);
        return (InetSocketAddress) ch.localAddress();
    }

    @Override
    public void close() {
        listeners.forEach(Channel::close);
        group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
    }

    /** Echo / sink handler; usable as an embedded HBONE stream handler too. */
    static final class Handler extends ChannelInboundHandlerAdapter {
        private static final byte[] CONNECT_OK = "HTTP/1.1 200 Connection established\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        private static final int MODE = 0;
        private static final int ECHO = 1;
        private static final int SINK_MODE = 2;
        private static final int CONNECT_HEADER = 3;
        private int state = MODE;
        private int headerTail; // rolling last 4 bytes of the CONNECT header
        private boolean pendingFlush;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof ByteBuf b)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            while (b.isReadable() && (state == MODE || state == CONNECT_HEADER)) {
                byte c = b.readByte();
                if (state == CONNECT_HEADER) {
                    headerTail = (headerTail << 8) | (c & 0xff);
                    if (headerTail == 0x0d0a0d0a) {
                        ctx.write(Unpooled.wrappedBuffer(CONNECT_OK));
                        pendingFlush = true;
                        state = MODE;
                    }
                } else if (c == 'E') {
                    state = ECHO;
                } else if (c == 'S') {
                    state = SINK_MODE;
                } else if (c == 'C') {
                    state = CONNECT_HEADER;
                } else if ((c == 'G' || c == 'P' || c == 'H') && !pendingFlush) {
                    // An HTTP client: hand the whole connection, this byte included, to the HTTP codec.
                    b.readerIndex(b.readerIndex() - 1);
                    ctx.pipeline().addAfter(ctx.name(), "http", new HttpServerCodec());
                    ctx.pipeline().addAfter("http", "ok", new HttpOk());
                    ctx.pipeline().remove(this);
                    ctx.fireChannelRead(b);
                    return;
                } else {
                    b.release();
                    ctx.close();
                    return;
                }
            }
            if (state == ECHO && b.isReadable()) {
                ctx.write(b);
                pendingFlush = true;
                if (!ctx.channel().isWritable()) {
                    ctx.channel().config().setAutoRead(false);
                }
                return;
            }
            if (state == SINK_MODE) {
                SINK.add(b.readableBytes());
            }
            b.release();
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (pendingFlush) {
                pendingFlush = false;
                ctx.flush();
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable()) {
                ctx.channel().config().setAutoRead(true);
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                if (ctx.channel() instanceof io.netty.handler.codec.http2.Http2StreamChannel) {
                    // An HBONE stream: END_STREAM back, then close (closing first would reset the stream).
                    io.zerohop.hbone.HboneStream.shutdownOutput(ctx.channel()).addListener(f -> ctx.close());
                } else {
                    ctx.close();
                }
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /** Answers every HTTP/1.1 request {@code 200 ok}; responses to pipelined requests flush together. */
    static final class HttpOk extends io.netty.channel.SimpleChannelInboundHandler<HttpObject> {
        private static final byte[] OK = "ok\n".getBytes(StandardCharsets.US_ASCII);
        private boolean keepAlive;
        private boolean pendingFlush;

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
            if (msg instanceof HttpRequest req) {
                keepAlive = HttpUtil.isKeepAlive(req);
            }
            if (msg instanceof LastHttpContent) {
                FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, Unpooled.wrappedBuffer(OK));
                resp.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain").setInt(HttpHeaderNames.CONTENT_LENGTH, OK.length);
                HttpUtil.setKeepAlive(resp, keepAlive);
                if (keepAlive) {
                    ctx.write(resp, ctx.voidPromise());
                    pendingFlush = true;
                } else {
                    ctx.writeAndFlush(resp).addListener(io.netty.channel.ChannelFutureListener.CLOSE);
                }
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (pendingFlush) {
                pendingFlush = false;
                ctx.flush();
            }
            ctx.fireChannelReadComplete();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                ctx.close();
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
