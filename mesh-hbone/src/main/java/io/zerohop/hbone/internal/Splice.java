package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Proxy-mode data path: splices a tunnel stream channel and a TCP channel. Buffers move as they are,
 * flushes are batched per read burst, each side stops reading while the other is not writable (HTTP/2
 * flow control then stops the remote sender), END_STREAM ⇔ FIN, RST_STREAM ⇔ TCP reset.
 */
public final class Splice {
    private static final Logger log = LoggerFactory.getLogger(Splice.class);

    private final Channel stream;
    private final TunnelCodec codec;
    private final SocketChannel tcp;
    private boolean streamInputDone;
    private boolean tcpInputDone;
    private boolean tcpFailed;

    private Splice(Channel stream, TunnelCodec codec, SocketChannel tcp) {
        this.stream = stream;
        this.codec = codec;
        this.tcp = tcp;
    }

    /** Joins both channels (both on the same event loop, both with auto-read off) and starts reading. */
    public static void join(Channel stream, TunnelCodec codec, SocketChannel tcp) {
        Splice s = new Splice(stream, codec, tcp);
        stream.pipeline().addLast("hbone-splice", s.new StreamSide());
        tcp.pipeline().addLast("hbone-splice", s.new TcpSide());
        codec.open();
        stream.config().setAutoRead(true);
        tcp.config().setAutoRead(true);
    }

    private void maybeFinish() {
        if (streamInputDone && tcpInputDone && tcp.isActive()) {
            tcp.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    private static void resetTcp(SocketChannel tcp) {
        if (tcp.isActive()) {
            try {
                tcp.config().setOption(ChannelOption.SO_LINGER, 0);
            } catch (RuntimeException e) {
                log.debug("SO_LINGER 0 not applied to {}", tcp, e);
            }
        }
        tcp.close();
    }

    private final class StreamSide extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof ByteBuf && tcp.isActive() && !tcp.isOutputShutdown()) {
                tcp.write(msg, tcp.voidPromise());
                if (!tcp.isWritable()) {
                    stream.config().setAutoRead(false);
                }
            } else {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            tcp.flush();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                streamInputDone = true;
                if (tcp.isActive()) {
                    tcp.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> {
                        if (tcp.isActive()) {
                            tcp.shutdownOutput();
                        }
                    });
                }
                maybeFinish();
            } else if (evt instanceof HboneStream.Reset) {
                resetTcp(tcp);
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (!tcpInputDone) {
                tcp.config().setAutoRead(stream.isWritable());
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (tcp.isActive()) {
                if (codec.completed()) {
                    tcp.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
                } else {
                    resetTcp(tcp);
                }
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("tunnel stream {} failed", stream, cause);
            Streams.reset(stream);
        }
    }

    private final class TcpSide extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof ByteBuf && stream.isActive()) {
                stream.write(msg, stream.voidPromise());
                if (!stream.isWritable()) {
                    tcp.config().setAutoRead(false);
                }
            } else {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            stream.flush();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                tcpInputDone = true;
                if (stream.isActive()) {
                    HboneStream.shutdownOutput(stream);
                }
                maybeFinish();
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            stream.config().setAutoRead(tcp.isWritable());
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (!(cause instanceof IOException)) {
                log.debug("upstream {} failed", tcp, cause);
            }
            tcpFailed = true;
            tcp.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (stream.isActive() && (tcpFailed || !tcpInputDone || !streamInputDone)) {
                // Upstream reset or vanished while the tunnel still ran: reset the stream.
                Streams.reset(stream);
            }
        }
    }
}
