package io.zerohop.hbone;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.spiffe.spiffeid.SpiffeId;
import java.io.IOException;

/**
 * An open HBONE tunnel on the client side (the CONNECT got its 200).
 *
 * <p><b>As a Netty channel</b> ({@link #channel()}): an {@code Http2StreamChannel} whose pipeline
 * carries {@link io.netty.buffer.ByteBuf}s: write buffers (they become DATA frames, flushed on
 * {@code flush()}), read buffers. The channel is handed over with <b>auto-read off</b> so no byte is
 * lost before your handlers are in place: add them, then {@code channel().config().setAutoRead(true)}
 * or call {@code channel().read()}. The peer's END_STREAM arrives as a
 * {@link io.netty.channel.socket.ChannelInputShutdownEvent} user event, a peer reset as {@link Reset}.
 * {@code isWritable()} follows the stream's HTTP/2 flow-control window and the connection's socket
 * buffer: stop writing when it is false and resume on {@code channelWritabilityChanged}.
 *
 * <p>Add your handlers with {@link #attach}: the peer may reset or close the stream, or the
 * connection may die, right after its 200 and before your handlers are in place (one read can carry
 * the 200 and the reset). Netty closes the channel then, and handlers added to a closed channel with
 * {@code pipeline().addLast} get no event at all; {@code attach} gives them what the tunnel
 * delivered before it ended (its bytes, unless the peer aborted, then the
 * {@link io.netty.channel.socket.ChannelInputShutdownEvent} or the {@link Reset}) and
 * {@code channelInactive}. Handlers added before the end but without a read yet get the same at
 * the end. The metrics and access-log event ({@link HboneEvents#tunnelClosed}) fires at the end
 * either way. What the tunnel keeps for handlers not attached yet (up to the stream window) is
 * released once nobody can read it: {@link #close()} or {@link #reset()} before a read, the
 * client's close, or this object becoming unreachable without an attach.
 *
 * <p><b>As a socket</b> ({@link #toSocket()}): blocking streams; use one or the other, not both.
 *
 * <p><b>Spliced with a TCP connection</b>: {@link HboneRelay#splice(HboneStream, io.netty.channel.socket.DuplexChannel)}
 * (half-close, resets and back-pressure both ways), instead of handlers or a socket.
 */
public interface HboneStream extends AutoCloseable {

    /** User event fired in the stream pipeline when the peer reset the stream (RST_STREAM). */
    record Reset(long errorCode) {}

    /**
     * The tunnel's stream channel, handed over with auto-read off (see the class comment). Add
     * handlers with {@link #attach}, not with {@code channel().pipeline().addLast}: that is only
     * safe on the channel's event loop and while the tunnel is still open, and even then a tunnel
     * that ended before the add gives the new handlers nothing. From another thread it can lose
     * events even on an open tunnel: Netty links the handler at once but runs its
     * {@code handlerAdded} later on the loop, and until then passes every event by it (an ordered
     * executor skips a handler whose add is pending), so the tunnel's end, its bytes or its reset,
     * fired in between, never reach it; and a close that lands between the link and Netty's removal
     * of a closed channel's handlers removes it with no event at all. {@code attach} adds on the
     * loop and replays an end that came first. Never null.
     */
    Channel channel();

    TunnelInfo info();

    default SpiffeId peerIdentity() {
        return info().peerIdentity();
    }

    /** Half-close: END_STREAM (the peer sees FIN). */
    default ChannelFuture shutdownOutput() {
        return shutdownOutput(channel());
    }

    /** Sends END_STREAM on any tunnel stream channel (client or server side). */
    static ChannelFuture shutdownOutput(Channel stream) {
        return stream.writeAndFlush(new DefaultHttp2DataFrame(true));
    }

    /**
     * Adds {@code handlers} at the end of {@link #channel()}'s pipeline, on its event loop (in order
     * with a {@code channel().read()} the caller makes afterwards); when the tunnel has already ended,
     * replays its end to them as the class comment says. Any thread. Then read as usual
     * ({@code setAutoRead(true)} or {@code read()}).
     *
     * @throws NullPointerException if a handler is null
     * @throws IllegalStateException when the tunnel's client (or {@code Mesh}) is already closed: its
     *         event loop is gone, so no handler could run; or after {@link #toSocket()}, whose socket reads the tunnel
     *         (the handlers got nothing)
     */
    void attach(ChannelHandler... handlers);

    /**
     * A blocking {@link java.net.Socket} over this tunnel; call before enabling auto-read on
     * {@link #channel()} and do not also add channel handlers. Once per tunnel.
     *
     * @throws java.net.SocketException when the tunnel's client (or {@code Mesh}) is already closed
     * @throws IllegalStateException on a second call (until 5 December it returned a second socket that never read a byte)
     */
    HboneSocket toSocket() throws IOException;

    /** Aborts the tunnel like a TCP reset: RST_STREAM(CONNECT_ERROR), which the peer passes on as a reset. */
    void reset();

    /**
     * Aborts the tunnel {@code stream} (a {@link #channel()}, or the channel a {@link StreamHandler}
     * got) like a TCP reset: RST_STREAM(CONNECT_ERROR), which the peer passes on as a reset (its
     * socket reads throw {@code SocketException("Connection reset")}). Use it when a response cannot
     * be completed: a plain {@code close()} sends RST_STREAM(CANCEL), which zerohop's and ztunnel's
     * peers read as a clean end (src/proxy/h2.rs), so a cut response would look complete. No-op on an
     * inactive channel; after a peer's own reset it only closes (RFC 9113 §5.4.2).
     */
    static void reset(Channel stream) {
        io.zerohop.hbone.internal.Tunnels.reset(stream);
    }

    /**
     * Graceful close: END_STREAM if not sent yet, then the stream is released once written (a peer that
     * has not finished sending is reset, like closing a TCP socket with unread data). Any thread;
     * a no-op once the tunnel's client (or {@code Mesh}) is closed, whose close ended the tunnel.
     */
    @Override
    void close();
}
