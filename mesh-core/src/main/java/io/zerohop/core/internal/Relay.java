package io.zerohop.core.internal;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Joins two byte streams that may live on different event loops: a captured TCP connection and an
 * HBONE stream (outbound capture), or two TCP connections (passthrough, plaintext inbound). Each
 * side reads one burst, hands it to the other and reads again only when that write has been
 * flushed, so neither buffers more than a read burst: HTTP/2 flow control or the TCP window then
 * pushes back on the sender. FIN ⇔ END_STREAM/FIN, errors ⇔ RST_STREAM/RST.
 */
public final class Relay {

    /** One side of a relay: how to half-close and how to abort it. */
    public interface End {
        Channel channel();

        void shutdownOutput();

        void reset();

        /** Gracefully closes once both directions ended. */
        void close();

        /** Called once when the relay ended, cleanly or not (for plain relays' access log). */
        default void ended(Stats stats) {}

        /** Joins a captured client connection to this end; an end that parses the bytes (L7) overrides it. */
        default void joinFrom(End client) {
            Relay.join(client, this);
        }
    }

    /** What one relay carried: bytes read from side a (written to b) and from side b, and how it ended. */
    public record Stats(long bytesFromA, long bytesFromB, Duration duration, boolean reset) {}

    public static End tcp(DuplexChannel ch) {
        // A relayed socket goes on writing after its peer's FIN; Netty 4.2.18-20's epoll fails such
        // writes once the fd's interest set was empty (see Transports.keepEpollRegistered).
        io.zerohop.hbone.internal.Transports.keepEpollRegistered(ch);
        return new End() {
            @Override
            public Channel channel() {
                return ch;
            }

            @Override
            public void shutdownOutput() {
                // Netty's shutdownOutput fails the writes still queued (ChannelOutboundBuffer.failFlushed):
                // the FIN goes after the last byte, as hbone's Splice does it.
                ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> {
                    if (f.isSuccess()) {
                        ch.shutdownOutput();
                    }
                });
            }

            @Override
            public void reset() {
                if (ch.isActive()) {
                    ch.config().setOption(ChannelOption.SO_LINGER, 0);
                    ch.close();
                }
            }

            @Override
            public void close() {
                ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            }
        };
    }

    public static End hbone(HboneStream stream) {
        return new End() {
            @Override
            public Channel channel() {
                return stream.channel();
            }

            @Override
            public void shutdownOutput() {
                stream.shutdownOutput();
            }

            @Override
            public void reset() {
                stream.reset();
            }

            @Override
            public void close() {
                stream.close();
            }
        };
    }

    private final End a;
    private final End b;
    private final long startNanos = System.nanoTime();
    private final AtomicLong fromA = new AtomicLong();
    private final AtomicLong fromB = new AtomicLong();
    private int eofs;
    private boolean aborted;
    private boolean reported;

    private Relay(End a, End b) {
        this.a = a;
        this.b = b;
    }

    /** Both channels must have auto-read off; reading starts here. */
    public static void join(End a, End b) {
        Relay r = new Relay(a, b);
        a.channel().pipeline().addLast("zerohop-relay", r.new Side(a, b));
        b.channel().pipeline().addLast("zerohop-relay", r.new Side(b, a));
        read(a.channel());
        read(b.channel());
    }

    /**
     * Asks for more unless the input already ended: with epoll, a read request on a socket whose
     * input was shut down while auto-read was off fails (epoll_ctl ENOENT) and closes the channel,
     * which would reset a connection that had only half-closed.
     */
    private static void read(Channel ch) {
        // Decided on the channel's own loop: asked from the other side's loop (a write listener),
        // the input could end between the check and the read.
        if (!ch.eventLoop().inEventLoop()) {
            ch.eventLoop().execute(() -> read(ch));
            return;
        }
        if (ch instanceof DuplexChannel d && d.isInputShutdown()) {
            return;
        }
        ch.read();
    }

    private synchronized boolean eof() {
        return ++eofs == 2;
    }

    private synchronized boolean finished() {
        return eofs == 2;
    }

    private void abort() {
        synchronized (this) {
            if (aborted) {
                return;
            }
            aborted = true;
        }
        a.reset();
        b.reset();
        report(true);
    }

    private void report(boolean reset) {
        synchronized (this) {
            if (reported) {
                return;
            }
            reported = true;
        }
        Stats s = new Stats(fromA.get(), fromB.get(), Duration.ofNanos(System.nanoTime() - startNanos), reset);
        a.ended(s);
        b.ended(s);
    }

    private final class Side extends ChannelInboundHandlerAdapter {
        private final End in;
        private final End out;

        Side(End in, End out) {
            this.in = in;
            this.out = out;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            Channel o = out.channel();
            if (msg instanceof io.netty.buffer.ByteBuf buf) {
                (in == a ? fromA : fromB).addAndGet(buf.readableBytes());
            }
            if (!o.isActive()) {
                ReferenceCountUtil.release(msg);
                return;
            }
            o.writeAndFlush(msg).addListener(f -> {
                if (f.isSuccess()) {
                    read(in.channel());
                } else {
                    abort();
                }
            });
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                // Counted before the FIN goes on: the two sides run on different event loops, and
                // the peer's answering FIN (then the stream's close) must never find this EOF
                // uncounted, or a clean end would look like an abort and reset the connection.
                boolean both = eof();
                out.shutdownOutput();
                if (both) {
                    a.close();
                    b.close();
                    report(false);
                }
                return;
            }
            if (evt instanceof HboneStream.Reset) {
                abort();
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            // Closed before both directions ended: the other side cannot finish cleanly either.
            if (!finished()) {
                abort();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            abort();
        }
    }
}
