package io.zerohop.testing.netty;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;

/** How a blocking socket's input ended, for tests that tell a clean close from a cut. */
public final class SocketEnds {
    private SocketEnds() {}

    /**
     * Reads {@code s} to its end, dropping what it reads.
     *
     * @return {@code "eof"} on a clean end of stream (a FIN), {@code "reset"} when reading fails (an RST,
     *     or the socket's read timeout)
     */
    public static String readUntilEnd(Socket s) {
        try {
            return readUntilEnd(s.getInputStream());
        } catch (IOException e) {
            return "reset";
        }
    }

    /** As {@link #readUntilEnd(Socket)}, for a stream already taken from its socket. */
    public static String readUntilEnd(InputStream in) {
        try {
            while (in.read() >= 0) {
                // until the end
            }
            return "eof";
        } catch (IOException e) {
            return "reset";
        }
    }
}
