package io.zerohop.cli;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A YAML input file's bytes as UTF-8, YAML's encoding here. The JDK's decoder names a malformed sequence only by its
 * length ({@code Input length = 1}), which tells an operator neither the file nor the cause; a Latin-1 save of a file
 * with one accented comment is the usual case, so the line and the byte are named instead.
 */
final class Utf8Text {
    private Utf8Text() {
    }

    /**
     * {@code bytes} decoded, or {@link IllegalArgumentException}
     * {@code FILE:LINE: not UTF-8 text (byte 0xNN is no UTF-8 sequence): save the file as UTF-8}.
     */
    static String decode(Path file, byte[] bytes) {
        ByteBuffer in = ByteBuffer.wrap(bytes);
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(in).toString();
        } catch (CharacterCodingException e) {
            int at = in.position();
            int line = 1;
            for (int i = 0; i < at && i < bytes.length; i++) {
                line += bytes[i] == '\n' ? 1 : 0;
            }
            throw new IllegalArgumentException(file + ":" + line + ": not UTF-8 text (byte 0x"
                    + (at < bytes.length ? String.format("%02X", bytes[at] & 0xff) : "??") + " is no UTF-8 sequence): save the file as UTF-8", e);
        }
    }

    /**
     * {@code file}'s registry, as {@link io.zerohop.core.WorkloadRegistry#load(Path, String)} reads it; a file that is not
     * UTF-8 reached the user as the decoder's bare {@code Input length = 1} (mesh-core's reader gives no file), so it is
     * named here as {@link #decode} names it, an input file's content (exit 1).
     */
    static io.zerohop.core.WorkloadRegistry workloads(Path file, String clusterDomain) throws java.io.IOException {
        try {
            return io.zerohop.core.WorkloadRegistry.load(file, clusterDomain);
        } catch (CharacterCodingException e) {
            decode(file, java.nio.file.Files.readAllBytes(file));
            throw e; // the file changed between the two reads: the decoder's own message is all there is
        }
    }
}
