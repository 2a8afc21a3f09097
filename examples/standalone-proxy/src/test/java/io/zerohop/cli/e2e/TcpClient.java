package io.zerohop.cli.e2e;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The application client of the end-to-end test, run as its own process inside a namespace: plain
 * TCP, no knowledge of the mesh. {@code TcpClient SOURCE_IP[:PORT] IP:PORT=FILE...} connects from
 * {@code SOURCE_IP} (from {@code PORT} for every connection when given) to each target in turn, sends the file and half-closes while reading everything
 * back, and prints one line per connection:
 * {@code RESULT target=.. local=.. sent=N received=N receivedSha256=HEX writeError=.. readError=..}
 * (errors are {@code -} when none). A connect failure is a RESULT with {@code connectError}. A first argument
 * {@code --connect-timeout=MS} gives each connect MS milliseconds instead of 10 s: a test that expects the SYN to be
 * dropped (a fail-closed capture) need not wait 10 s for the timeout it asserts.
 */
public final class TcpClient {
    private TcpClient() {}

    public static void main(String[] args) throws Exception {
        int first = 0;
        int connectTimeoutMillis = 10_000;
        if (args[0].startsWith("--connect-timeout=")) {
            connectTimeoutMillis = Integer.parseInt(args[0].substring("--connect-timeout=".length()));
            first = 1;
        }
        String source = args[first];
        for (int i = first + 1; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            String target = args[i].substring(0, eq);
            byte[] payload = Files.readAllBytes(Path.of(args[i].substring(eq + 1)));
            System.out.println(exchange(source, target, payload, connectTimeoutMillis));
            System.out.flush();
        }
    }

    private static String exchange(String source, String target, byte[] payload, int connectTimeoutMillis) throws NoSuchAlgorithmException {
        int colon = target.lastIndexOf(':');
        InetSocketAddress dst = new InetSocketAddress(target.substring(0, colon), Integer.parseInt(target.substring(colon + 1)));
        Socket s = new Socket();
        String local = "-";
        try {
            s.setSoTimeout(20_000);
            s.setReuseAddress(true);
            // An IPv6 source in brackets, with or without a port: [fd00::1], [fd00::1]:40017.
            int sc = source.startsWith("[") ? (source.endsWith("]") ? -1 : source.lastIndexOf(':')) : source.indexOf(':');
            s.bind(sc < 0 ? new InetSocketAddress(source, 0)
                    : new InetSocketAddress(source.substring(0, sc), Integer.parseInt(source.substring(sc + 1))));
            local = EchoServer.authority((InetSocketAddress) s.getLocalSocketAddress());
            s.connect(dst, connectTimeoutMillis);
        } catch (IOException e) {
            close(s);
            return "RESULT target=" + target + " local=" + local + " connectError=" + describe(e);
        }
        AtomicReference<String> writeError = new AtomicReference<>("-");
        Thread writer = new Thread(() -> {
            try {
                OutputStream out = s.getOutputStream();
                for (int off = 0; off < payload.length; off += 16 * 1024) {
                    out.write(payload, off, Math.min(16 * 1024, payload.length - off));
                }
                out.flush();
                s.shutdownOutput();
            } catch (IOException e) {
                writeError.set(describe(e));
            }
        }, "writer");
        writer.start();
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        long received = 0;
        String readError = "-";
        try {
            InputStream in = s.getInputStream();
            byte[] buf = new byte[64 * 1024];
            for (int r; (r = in.read(buf)) >= 0; ) {
                sha.update(buf, 0, r);
                received += r;
            }
        } catch (IOException e) {
            readError = describe(e);
        }
        try {
            writer.join(20_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        close(s);
        return "RESULT target=" + target + " local=" + local + " sent=" + payload.length + " received=" + received
                + " receivedSha256=" + HexFormat.of().formatHex(sha.digest()) + " writeError=" + writeError.get()
                + " readError=" + readError;
    }

    private static String describe(IOException e) {
        return (e.getClass().getSimpleName() + ":" + e.getMessage()).replace(' ', '_');
    }

    private static void close(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }
}
