package io.zerohop.testing.netty;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;

/**
 * A port on 127.0.0.1 where a connect neither completes nor fails: a listener with a backlog of
 * one whose accept queue is filled with connections that are never accepted, so the kernel drops
 * further SYNs and a dial waits out its own timeout. For upstream connect timeouts and for dials
 * that must stay pending (a reset before the answer).
 */
public final class SilentPort implements AutoCloseable {
    private final ServerSocket full;
    private final List<Socket> fillers = new ArrayList<>();

    /** @param fillers at most this many connections to fill the queue (the kernel's queue ends first) */
    public SilentPort(int fillers) {
        try {
            full = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
            for (int i = 0; i < fillers; i++) {
                Socket s = new Socket();
                try {
                    s.connect(full.getLocalSocketAddress(), 500);
                    this.fillers.add(s);
                } catch (SocketTimeoutException queueFull) {
                    s.close();
                    break;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot fill a backlog on 127.0.0.1", e);
        }
    }

    /** The port number (1-65535). */
    public int port() {
        return full.getLocalPort();
    }

    /** {@code 127.0.0.1:}{@link #port()}. */
    public InetSocketAddress address() {
        return (InetSocketAddress) full.getLocalSocketAddress();
    }

    @Override
    public void close() {
        try {
            for (Socket s : fillers) {
                s.close();
            }
            full.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
