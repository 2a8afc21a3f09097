package io.zerohop.hbone;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * A server-first upstream that answers and closes at once (an SMTP/FTP refusal banner): each
 * accepted connection gets the banner, then {@link End#beforeClose} runs, then it is closed (a FIN
 * unless that hook set SO_LINGER 0). Port 0 on one loopback address of the caller's.
 */
final class BannerUpstream implements AutoCloseable {
    /** What happens between the banner and the close, on the accepting thread. */
    interface End {
        void beforeClose(Socket s) throws Exception;
    }

    private final ServerSocket listener;
    private final Thread acceptor;

    BannerUpstream(String ip, byte[] banner, End end) throws IOException {
        listener = new ServerSocket(0, 50, InetAddress.getByName(ip));
        acceptor = new Thread(() -> {
            while (!listener.isClosed()) {
                try (Socket s = listener.accept()) {
                    OutputStream out = s.getOutputStream();
                    out.write(banner);
                    out.flush();
                    end.beforeClose(s);
                } catch (Exception closed) {
                    return;
                }
            }
        }, "banner-upstream");
        acceptor.start();
    }

    InetSocketAddress address() {
        return (InetSocketAddress) listener.getLocalSocketAddress();
    }

    @Override
    public void close() throws Exception {
        listener.close();
        acceptor.join(10_000);
    }
}
