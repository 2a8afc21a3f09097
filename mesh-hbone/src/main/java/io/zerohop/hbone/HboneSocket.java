package io.zerohop.hbone;

import io.spiffe.spiffeid.SpiffeId;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketImpl;

/**
 * A blocking {@link Socket} whose bytes travel through an HBONE tunnel. Returned by
 * {@link HboneStream#toSocket()}, by {@link HboneServerSocket#accept()} and by
 * {@link HboneClient#socketFactory}. {@code shutdownOutput()} sends END_STREAM, a peer END_STREAM
 * reads as end of stream, a reset reads as {@code SocketException("Connection reset")}. TCP options
 * ({@code setTcpNoDelay}, buffer sizes, ...) are accepted and ignored; {@code setSoTimeout} applies to
 * reads (and to connect when no timeout is passed). A read that would wait, called on the event
 * loop of the tunnel's connection (for example in a callback of the future that opened it), throws
 * an {@link java.io.IOException} at once: the bytes it waits for could only arrive on that thread.
 * So does a write there that would wait for the peer's flow-control window (what it wrote before
 * stays queued), and a socket-factory socket's {@code connect} called on one of its client's event loops.
 */
public abstract class HboneSocket extends Socket {

    protected HboneSocket() throws SocketException {
        super((SocketImpl) null);
    }

    /** The tunnel, or null while not connected. */
    public abstract TunnelInfo tunnel();

    /** The verified identity of the other end, or null while not connected. */
    public SpiffeId peerIdentity() {
        TunnelInfo t = tunnel();
        return t == null ? null : t.peerIdentity();
    }
}
