package io.zerohop.core.http;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;

/**
 * The frames of the hand-written HTTP/2 applications some tests put behind the proxy, where the test needs frame by frame
 * control no real server gives (a GOAWAY or RST_STREAM at an exact point): RFC 9113 section 4.1's frame header.
 */
final class RawH2 {
    /** A frame's header, its payload read and dropped. */
    record Frame(int type, int flags, int stream) {
        /** A SETTINGS frame without ACK, which {@link #SETTINGS_ACK} answers. */
        boolean isSettings() {
            return type == 4 && (flags & 1) == 0;
        }
    }

    /** SETTINGS with ACK (RFC 9113 section 6.5). */
    static final byte[] SETTINGS_ACK = {0, 0, 0, 4, 1, 0, 0, 0, 0};

    private RawH2() {}

    /** Reads the client's connection preface and sends the server's, an empty SETTINGS frame. */
    static void serverPreface(DataInputStream in, OutputStream out) throws IOException {
        in.readNBytes(24);
        out.write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0});
        out.flush();
    }

    /** The next frame, or null when the connection ended. */
    static Frame next(DataInputStream in) throws IOException {
        byte[] header = in.readNBytes(9);
        if (header.length < 9) {
            return null;
        }
        int length = ((header[0] & 0xff) << 16) | ((header[1] & 0xff) << 8) | (header[2] & 0xff);
        int stream = ((header[5] & 0x7f) << 24) | ((header[6] & 0xff) << 16) | ((header[7] & 0xff) << 8) | (header[8] & 0xff);
        in.readNBytes(length);
        return new Frame(header[3], header[4], stream);
    }

    /** HEADERS with END_STREAM and END_HEADERS on {@code stream}: {@code :status 200} from HPACK's static table (index 8). */
    static byte[] ok(int stream) {
        return new byte[] {0, 0, 1, 1, 5, (byte) (stream >>> 24), (byte) (stream >>> 16), (byte) (stream >>> 8), (byte) stream,
            (byte) 0x88};
    }
}
