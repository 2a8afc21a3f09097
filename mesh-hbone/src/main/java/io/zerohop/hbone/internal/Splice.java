package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Proxy-mode data path: splices a tunnel stream channel and a TCP channel. Buffers move as they are,
 * flushes are batched per read burst, each side stops reading while the other is not writable (HTTP/2
 * flow control then stops the remote sender), END_STREAM ⇔ FIN, RST_STREAM ⇔ TCP reset. Upstream bytes
 * queued toward the stream (behind its HTTP/2 window) are bounded per tunnel by the stream channel's
 * write watermark, per peer identity and server-wide by {@link Budgets}, and in time by the
 * stalled-window timeout.
 */
public final class Splice {
    private static final Logger log = LoggerFactory.getLogger(Splice.class);

    private final Channel stream;
    private final TunnelCodec codec;
    private final SocketChannel tcp;
    private boolean streamInputDone;
    private boolean tcpInputDone;
    private boolean tcpFailed;
    private final Budgets budgets;
    private final Budgets.Peer peer;
    /** Upstream bytes written to the stream whose write has not completed (queued behind its window). */
    private volatile long queued;
    private volatile long lastProgress = System.nanoTime();
    private boolean budgetPaused;
    private ScheduledFuture<?> stallTimer;

    private Splice(Channel stream, TunnelCodec codec, SocketChannel tcp, Budgets budgets, Budgets.Peer peer) {
        this.stream = stream;
        this.codec = codec;
        this.tcp = tcp;
        this.budgets = budgets;
        this.peer = peer;
    }

    /**
     * Joins both channels (both on the same event loop, both with auto-read off) and starts reading.
     * Upstream bytes queued toward the stream are counted against {@code peer}'s and the server's
     * budgets in {@code budgets}.
     */
    static void join(Channel stream, TunnelCodec codec, SocketChannel tcp, Budgets budgets, Budgets.Peer peer) {
        // The upstream socket may go on receiving after its FIN (Transports.keepEpollRegistered).
        Transports.keepEpollRegistered(tcp);
        Splice s = new Splice(stream, codec, tcp, budgets, peer);
        budgets.register(peer, s);
        stream.pipeline().addLast("hbone-splice", s.new StreamSide());
        tcp.pipeline().addLast("hbone-splice", s.new TcpSide());
        codec.open();
        stream.config().setAutoRead(true);
        if (budgets.overPeer(peer) || budgets.overGlobal()) {
            // Over budget already: this tunnel's upstream waits before its first read.
            s.budgetPaused = true;
            budgets.await(peer, s);
        } else {
            tcp.config().setAutoRead(true);
        }
    }

    long queuedBytes() {
        return queued;
    }

    long lastProgressNanos() {
        return lastProgress;
    }

    EventLoop eventLoop() {
        return tcp.eventLoop();
    }

    /** Reads the upstream only while the stream can take more and no budget is exceeded. Event loop only. */
    private void updateTcpRead() {
        if (!tcpInputDone) {
            tcp.config().setAutoRead(stream.isWritable() && !budgetPaused);
        }
    }

    private void charge(int n) {
        if (queued == 0) {
            lastProgress = System.nanoTime();
        }
        queued += n;
        budgets.charge(peer, n);
        if (stallTimer == null) {
            long ms = budgets.limits.stalledWindowTimeout().toMillis();
            stallTimer = tcp.eventLoop().schedule(this::checkStall, ms, TimeUnit.MILLISECONDS);
        }
    }

    private void discharge(int n) {
        queued -= n;
        lastProgress = System.nanoTime();
        budgets.discharge(peer, n);
    }

    /** A tunnel whose queued bytes made no progress for the stalled-window timeout is reset. */
    private void checkStall() {
        stallTimer = null;
        if (!stream.isActive() || queued == 0) {
            return;
        }
        long timeout = budgets.limits.stalledWindowTimeout().toNanos();
        long idle = System.nanoTime() - lastProgress;
        if (idle < timeout) {
            stallTimer = tcp.eventLoop().schedule(this::checkStall, timeout - idle, TimeUnit.NANOSECONDS);
            return;
        }
        long n = budgets.stallLog.admit();
        if (n >= 0) {
            log.info("HBONE tunnel {} reset: {} bytes queued and the peer's window made no progress for {}{}",
                    stream, queued, budgets.limits.stalledWindowTimeout(), LogBudget.note(n));
        }
        Streams.reset(stream);
    }

    /** Server budget exceeded and this tunnel stalled longest: reset it (any thread). */
    void shed() {
        tcp.eventLoop().execute(() -> Streams.reset(stream));
    }

    /** A budget covering this tunnel was crossed (any thread). */
    void pauseForBudget() {
        if (tcp.eventLoop().inEventLoop()) {
            pauseIfOverBudget();
        } else {
            tcp.eventLoop().execute(this::pauseIfOverBudget);
        }
    }

    private void pauseIfOverBudget() {
        if (!budgetPaused && tcp.isActive() && (budgets.overPeer(peer) || budgets.overGlobal())) {
            budgetPaused = true;
            tcp.config().setAutoRead(false);
            budgets.await(peer, this);
        }
    }

    /** A budget this tunnel waited for has room (any thread). */
    void wakeFromBudget() {
        tcp.eventLoop().execute(() -> {
            if (budgetPaused && tcp.isActive()) {
                if (budgets.overPeer(peer) || budgets.overGlobal()) {
                    budgets.await(peer, this);
                    return;
                }
                budgetPaused = false;
                updateTcpRead();
            }
            // Resumed, or gone: either way the next waiter may go.
            budgets.resumed(peer);
        });
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
            updateTcpRead();
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            budgets.unregister(peer, Splice.this);
            if (stallTimer != null) {
                stallTimer.cancel(false);
                stallTimer = null;
            }
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
            if (msg instanceof ByteBuf buf && stream.isActive()) {
                int n = buf.readableBytes();
                ChannelPromise written = stream.newPromise();
                charge(n);
                written.addListener(f -> discharge(n));
                stream.write(buf, written);
                if (!stream.isWritable()) {
                    tcp.config().setAutoRead(false);
                }
                pauseIfOverBudget();
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
