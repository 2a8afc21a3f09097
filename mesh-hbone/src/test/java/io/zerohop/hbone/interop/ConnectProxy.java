package io.zerohop.hbone.interop;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * A tiny HTTP/1.1 {@code CONNECT} forward proxy (nghttpx's backend in proxy mode): reads
 * {@code CONNECT host:port HTTP/1.1} and its headers, answers {@code 200 Connection established} and
 * relays both ways to {@code upstream} — only when the requested authority is exactly that upstream
 * (403 otherwise: not an open proxy). Records every request head it read.
 */
final class ConnectProxy implements AutoCloseable {
    private final ServerSocket server;
    private final InetSocketAddress upstream;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    /** Request heads (request line, then header lines), in arrival order. */
    final Queue<List<String>> requests = new ConcurrentLinkedQueue<>();

    ConnectProxy(InetSocketAddress upstream) throws IOException {
        this.upstream = upstream;
        server = new ServerSocket(0, 256, InetAddress.getLoopbackAddress());
        daemon(this::acceptLoop, "connect-proxy-accept");
    }

    InetSocketAddress address() {
        return (InetSocketAddress) server.getLocalSocketAddress();
    }

    private static void daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        t.start();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            Socket s;
            try {
                s = server.accept();
            } catch (IOException e) {
                return;
            }
            open.add(s);
            daemon(() -> handle(s), "connect-proxy");
        }
    }

    private void handle(Socket client) {
        Socket up = null;
        try {
            InputStream in = client.getInputStream();
            OutputStream out = client.getOutputStream();
            List<String> head = readHead(in);
            if (head == null) {
                return;
            }
            requests.add(head);
            String[] line = head.get(0).split(" ");
            if (line.length != 3 || !line[0].equals("CONNECT") || !line[2].startsWith("HTTP/1.")) {
                reply(out, "405 Method Not Allowed");
                return;
            }
            String expected = upstream.getAddress().getHostAddress() + ":" + upstream.getPort();
            if (!line[1].equals(expected)) {
                reply(out, "403 Forbidden");
                return;
            }
            up = new Socket();
            open.add(up);
            up.connect(upstream, 5000);
            reply(out, "200 Connection established");
            Socket upstreamSocket = up;
            daemon(() -> relay(upstreamSocket, client), "connect-proxy-down");
            relay(client, upstreamSocket);
            return;
        } catch (IOException e) {
            // client or upstream gone
        } finally {
            if (up == null) {
                close(client);
            }
        }
    }

    /** Copies until EOF, then half-closes {@code to}; closes both on an error or when both halves ended. */
    private void relay(Socket from, Socket to) {
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            byte[] buf = new byte[64 * 1024];
            int n;
            while ((n = in.read(buf)) >= 0) {
                out.write(buf, 0, n);
            }
            to.shutdownOutput();
            if (to.isInputShutdown() || from.isOutputShutdown()) {
                close(from);
                close(to);
            }
        } catch (IOException e) {
            close(from);
            close(to);
        }
    }

    private static void reply(OutputStream out, String status) throws IOException {
        out.write(("HTTP/1.1 " + status + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }

    /** Reads a request head up to the empty line (16 KiB at most); null on EOF before it. */
    static List<String> readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int state = 0;
        while (state < 4) {
            int b = in.read();
            if (b < 0) {
                return null;
            }
            head.write(b);
            if (head.size() > 16 * 1024) {
                throw new IOException("request head too long");
            }
            state = (b == '\r' && (state == 0 || state == 2)) || (b == '\n' && (state == 1 || state == 3)) ? state + 1
                    : (b == '\r' ? 1 : 0);
        }
        String text = head.toString(StandardCharsets.ISO_8859_1);
        return List.of(text.substring(0, text.length() - 4).split("\r\n"));
    }

    private void close(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing
        }
        open.remove(s);
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : open) {
            close(s);
        }
    }
}
