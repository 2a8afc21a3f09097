package io.zerohop.hbone;

import io.netty.channel.Channel;
import io.zerohop.hbone.internal.TunnelSocket;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Embedded mode for blocking code: a {@link StreamHandler} that queues accepted tunnels, and a
 * {@code ServerSocket}-like {@link #accept()}.
 *
 * <pre>{@code
 * HboneServerSocket sockets = new HboneServerSocket();
 * HboneServer.builder()...destinations((dst, id, local) -> dst.getPort() == 8080 ? Destination.embedded(sockets) : null)...
 * try (HboneSocket s = sockets.accept()) { SpiffeId caller = s.peerIdentity(); ... }
 * }</pre>
 *
 * When the backlog is full, further tunnels are reset, and so are tunnels that arrive after {@link #close()} and those
 * still queued at it: RST_STREAM(CONNECT_ERROR), which the client reads as a TCP reset ({@code SocketException:
 * Connection reset}). Until 5 December they were closed with RST_STREAM(CANCEL), which zerohop's and ztunnel's clients
 * read as a clean end: a refused tunnel looked like an empty, complete answer (a new-user pass).
 */
public final class HboneServerSocket implements StreamHandler, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HboneServerSocket.class);
    private static final HboneSocket CLOSED;

    static {
        try {
            CLOSED = TunnelSocket.unconnected(null, null);
        } catch (SocketException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final BlockingQueue<HboneSocket> backlog;
    private volatile boolean closed;
    private volatile int soTimeout;

    /** With a backlog of 1,024 tunnels. */
    public HboneServerSocket() {
        this(1024);
    }

    /**
     * @param backlog how many accepted tunnels wait for {@link #accept()} before further ones are reset, 1 to
     *                {@code Integer.MAX_VALUE - 1}; nothing is allocated for it up front (a new-user pass: a backlog of
     *                100 million was an {@code OutOfMemoryError}, {@code Integer.MAX_VALUE} an unexplained exception)
     * @throws IllegalArgumentException when {@code backlog} is out of that range
     */
    public HboneServerSocket(int backlog) {
        if (backlog < 1 || backlog == Integer.MAX_VALUE) {
            throw new IllegalArgumentException("backlog must be 1 to " + (Integer.MAX_VALUE - 1) + ", got " + backlog);
        }
        // One slot more than the backlog: close() wakes a waiting accept() with CLOSED even when the backlog is full.
        this.backlog = new LinkedBlockingQueue<>(backlog + 1);
    }

    @Override
    public void initStream(Channel stream, TunnelInfo tunnel) throws Exception {
        if (closed) {
            HboneStream.reset(stream);
            return;
        }
        HboneSocket s = TunnelSocket.attach(stream, tunnel);
        if (backlog.remainingCapacity() <= 1 || !backlog.offer(s)) {
            log.warn("HBONE accept backlog full, resetting tunnel {}", tunnel);
            abort(s);
        } else if (closed && backlog.remove(s)) {
            // close() ran between the check above and the offer: it may have drained the queue before this tunnel was in
            // it, and nothing would reset it (a final new-user pass, by reading).
            abort(s);
        }
    }

    /** Closes {@code s} as a TCP socket with SO_LINGER 0 closes: a reset, never a clean end. */
    private static void abort(HboneSocket s) throws IOException {
        s.setSoLinger(true, 0);
        s.close();
    }

    /** The socket manages reads itself. */
    @Override
    public boolean autoRead() {
        return false;
    }

    /**
     * Waits for the next tunnel (bounded by {@link #setSoTimeout}, 0 = forever), as {@link java.net.ServerSocket#accept()};
     * the tunnel was authorized before it was queued. Never returns null.
     *
     * @throws SocketException          "Socket is closed" once {@link #close()} was called, also to an accept waiting then
     * @throws SocketTimeoutException   "Accept timed out" when the {@link #setSoTimeout} bound passes with no tunnel
     * @throws InterruptedIOException   when the waiting thread is interrupted (its interrupt status is set again)
     */
    public HboneSocket accept() throws IOException {
        if (closed) {
            throw new SocketException("Socket is closed");
        }
        HboneSocket s;
        try {
            int t = soTimeout;
            s = t > 0 ? backlog.poll(t, TimeUnit.MILLISECONDS) : backlog.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted in accept");
        }
        if (s == null) {
            throw new SocketTimeoutException("Accept timed out");
        }
        if (s == CLOSED || closed) {
            backlog.offer(CLOSED);
            if (s != CLOSED) {
                abort(s);
            }
            throw new SocketException("Socket is closed");
        }
        return s;
    }

    /**
     * Bounds each later {@link #accept()} to {@code timeoutMillis}, 0 for none, as {@link java.net.ServerSocket#setSoTimeout}.
     *
     * @throws SocketException "Socket is closed" after {@link #close()}, as {@code ServerSocket}'s (until 6 December it
     *                         was taken silently)
     * @throws IllegalArgumentException "timeout &lt; 0", as {@code ServerSocket}'s
     */
    public void setSoTimeout(int timeoutMillis) throws SocketException {
        if (closed) {
            throw new SocketException("Socket is closed");
        }
        if (timeoutMillis < 0) {
            throw new IllegalArgumentException("timeout < 0");
        }
        this.soTimeout = timeoutMillis;
    }

    /**
     * The {@link #accept()} timeout in milliseconds, 0 for none, as {@link java.net.ServerSocket#getSoTimeout()}.
     *
     * @throws SocketException "Socket is closed" after {@link #close()}, as {@code ServerSocket}'s (which declares the
     *                         wider {@code IOException}; until 6 December the value was answered)
     */
    public int getSoTimeout() throws SocketException {
        if (closed) {
            throw new SocketException("Socket is closed");
        }
        return soTimeout;
    }

    /** True once {@link #close()} was called, as {@link java.net.ServerSocket#isClosed()}. */
    public boolean isClosed() {
        return closed;
    }

    /** Stops accepting: queued tunnels are reset, blocked {@link #accept()} calls throw. */
    @Override
    public void close() throws IOException {
        closed = true;
        HboneSocket s;
        while ((s = backlog.poll()) != null) {
            if (s != CLOSED) {
                abort(s);
            }
        }
        backlog.offer(CLOSED);
    }
}
