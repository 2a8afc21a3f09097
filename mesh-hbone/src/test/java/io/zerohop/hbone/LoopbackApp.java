package io.zerohop.hbone;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An application behind the server under test, on loopback: one that accepts and never reads (a small receive buffer, so
 * that little of what it is sent hides in the kernel), or one that reads slowly, 64 KiB then a pause (25 ms: about
 * 2.5 MB/s per connection; 60 ms: about 1 MB/s). Closing it closes every connection it accepted.
 */
final class LoopbackApp implements AutoCloseable {
    final List<Socket> accepted = new CopyOnWriteArrayList<>();
    /** Bytes read, by a slow reader. */
    final AtomicLong read = new AtomicLong();
    private final ServerSocket server;

    private final long pauseMillis;

    private LoopbackApp(boolean reads, long pauseMillis) throws IOException {
        this.pauseMillis = pauseMillis;
        server = new ServerSocket();
        if (!reads) {
            server.setReceiveBufferSize(4096);
        }
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        Thread t = new Thread(() -> {
            try {
                while (true) {
                    Socket s = server.accept();
                    accepted.add(s);
                    if (reads) {
                        Thread r = new Thread(() -> readSlowly(s), "slow-reader");
                        r.setDaemon(true);
                        r.start();
                    }
                }
            } catch (IOException closed) {
                // closed by the test
            }
        }, reads ? "slow-reader-accept" : "no-reader-accept");
        t.setDaemon(true);
        t.start();
    }

    static LoopbackApp neverReading() throws IOException {
        return new LoopbackApp(false, 0);
    }

    static LoopbackApp readingSlowly(long pauseMillis) throws IOException {
        return new LoopbackApp(true, pauseMillis);
    }

    private void readSlowly(Socket s) {
        try (s) {
            byte[] b = new byte[64 * 1024];
            for (int n; (n = s.getInputStream().read(b)) >= 0; ) {
                read.addAndGet(n);
                Thread.sleep(pauseMillis);
            }
        } catch (IOException | InterruptedException ended) {
            // the connection ended
        }
    }

    int port() {
        return server.getLocalPort();
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : accepted) {
            s.close();
        }
    }
}
