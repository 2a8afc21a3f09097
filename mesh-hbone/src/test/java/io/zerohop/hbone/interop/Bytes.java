package io.zerohop.hbone.interop;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.SplittableRandom;

/** Pseudo-random payloads and SHA-256 over everything sent and received. */
final class Bytes {
    private Bytes() {}

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    static String hex(MessageDigest d) {
        return HexFormat.of().formatHex(d.digest());
    }

    static byte[] random(SplittableRandom rnd, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i += 8) {
            long v = rnd.nextLong();
            for (int j = 0; j < 8 && i + j < n; j++) {
                b[i + j] = (byte) (v >>> (8 * j));
            }
        }
        return b;
    }

    static String sha256(byte[] b) {
        MessageDigest d = sha256();
        d.update(b);
        return hex(d);
    }

    /** Writes {@code total} pseudo-random bytes in 64 KiB chunks; returns their SHA-256. */
    static String send(OutputStream out, long total, long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        MessageDigest d = sha256();
        long left = total;
        while (left > 0) {
            byte[] chunk = random(rnd, (int) Math.min(left, 64 * 1024));
            d.update(chunk);
            out.write(chunk);
            left -= chunk.length;
        }
        out.flush();
        return hex(d);
    }

    /** Reads exactly {@code total} bytes (fails on an early end); returns their SHA-256. */
    static String receive(InputStream in, long total) throws IOException {
        MessageDigest d = sha256();
        byte[] buf = new byte[64 * 1024];
        long left = total;
        while (left > 0) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                throw new IOException("end of stream after " + (total - left) + " of " + total + " bytes");
            }
            d.update(buf, 0, n);
            left -= n;
        }
        return hex(d);
    }

    /** Reads to end of stream; returns {count, sha256}. */
    static Object[] receiveAll(InputStream in) throws IOException {
        MessageDigest d = sha256();
        byte[] buf = new byte[64 * 1024];
        long count = 0;
        int n;
        while ((n = in.read(buf)) >= 0) {
            d.update(buf, 0, n);
            count += n;
        }
        return new Object[] {count, hex(d)};
    }
}
