package io.zerohop.cli.e2e;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * The application server of the end-to-end test, run as its own process inside the server pod's
 * namespace: {@code EchoServer IP:PORT...} echoes every connection until the peer half-closes, then
 * half-closes too. Prints {@code READY} once all ports are bound and
 * {@code ACCEPT <local> <- <remote>} for every connection, so the test sees who connected.
 */
public final class EchoServer {
    private EchoServer() {}

    public static void main(String[] args) throws IOException {
        for (String a : args) {
            int colon = a.lastIndexOf(':');
            ServerSocket ss = new ServerSocket();
            ss.setReuseAddress(true);
            ss.bind(new InetSocketAddress(a.substring(0, colon), Integer.parseInt(a.substring(colon + 1))), 64);
            Thread t = new Thread(() -> accept(ss), "accept-" + a);
            t.start();
        }
        System.out.println("READY");
        System.out.flush();
    }

    private static void accept(ServerSocket ss) {
        while (true) {
            Socket s;
            try {
                s = ss.accept();
            } catch (IOException e) {
                System.out.println("ACCEPT-FAILED " + e);
                return;
            }
            System.out.println("ACCEPT " + authority((InetSocketAddress) s.getLocalSocketAddress()) + " <- "
                    + authority((InetSocketAddress) s.getRemoteSocketAddress()));
            System.out.flush();
            Thread t = new Thread(() -> echo(s), "echo");
            t.setDaemon(true);
            t.start();
        }
    }

    private static void echo(Socket s) {
        try (s) {
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            byte[] buf = new byte[64 * 1024];
            long n = 0;
            for (int r; (r = in.read(buf)) >= 0; ) {
                out.write(buf, 0, r);
                n += r;
            }
            out.flush();
            s.shutdownOutput();
            System.out.println("ECHOED " + n + " from " + authority((InetSocketAddress) s.getRemoteSocketAddress()));
        } catch (IOException e) {
            System.out.println("ECHO-FAILED " + e);
        }
        System.out.flush();
    }

    static String authority(InetSocketAddress a) {
        String h = a.getAddress().getHostAddress();
        return (a.getAddress() instanceof java.net.Inet6Address ? "[" + h + "]" : h) + ":" + a.getPort();
    }
}
