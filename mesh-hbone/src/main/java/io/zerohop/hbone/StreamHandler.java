package io.zerohop.hbone;

import io.netty.channel.Channel;

/**
 * Embedded-mode delivery of an accepted tunnel to in-process code, {@code ChannelInitializer}-style.
 *
 * <p>{@link #initStream} runs on the stream's event loop after the 200 was sent. The channel reads
 * and writes {@link io.netty.buffer.ByteBuf}s (written buffers become DATA frames); the peer's
 * END_STREAM arrives as a {@link io.netty.channel.socket.ChannelInputShutdownEvent} user event; a
 * peer reset arrives as {@link HboneStream.Reset}; {@link HboneStream#shutdownOutput(Channel)} sends
 * END_STREAM; {@code close()} before both directions ended sends RST_STREAM(CANCEL), which the
 * client reads as a clean end of the response (as ztunnel does): to abort, so that the client sees a
 * reset, use {@link HboneStream#reset(Channel)}. Auto-read is off during
 * {@code initStream} and turned on after it returns when {@link #autoRead()} is true.
 *
 * <p>For blocking code, {@link HboneServerSocket} implements this interface and offers {@code accept()}.
 * To pass the tunnel on to a TCP connection (a proxy's inbound side), splice the two with
 * {@link HboneRelay#splice(Channel, io.netty.channel.socket.DuplexChannel)} and answer false from
 * {@link #autoRead()}.
 */
@FunctionalInterface
public interface StreamHandler {

    void initStream(Channel stream, TunnelInfo tunnel) throws Exception;

    /** Whether the server turns auto-read on after {@link #initStream} (default true). */
    default boolean autoRead() {
        return true;
    }
}
