package io.zerohop.testing.netty;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;

/**
 * A port on 127.0.0.1 that refuses connections and that no other socket of any process on this
 * host can bind while this is open: a socket bound to {@code 127.0.0.1:0} that never listens, so a
 * SYN to it is answered with RST (connection refused), and the kernel gives its number to no
 * {@code bind(0)} on 127.0.0.1 or the wildcard and refuses an explicit bind to it.
 *
 * <p>Use it where a test needs "a port where nothing listens". Binding port 0 and closing
 * ("a free port") frees the number: the next {@code bind(0)} of this JVM (a listener the test
 * starts later) or of a child process can get it, about once in 14,000 binds on Linux, and then
 * the "closed" port answers. Also for a port a server takes later: hold it until just before.
 */
public final class ClosedPort implements AutoCloseable {
    private final Socket socket = new Socket();

    /** Reserves a port on 127.0.0.1. */
    public ClosedPort() {
        try {
            socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot bind 127.0.0.1:0", e);
        }
    }

    /** The reserved port number (1-65535). */
    public int port() {
        return socket.getLocalPort();
    }

    /** {@code 127.0.0.1:}{@link #port()}. */
    public InetSocketAddress address() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), port());
    }

    /** Frees the number: from now on anyone may bind it. */
    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
