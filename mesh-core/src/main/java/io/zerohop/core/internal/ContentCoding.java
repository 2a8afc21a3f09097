package io.zerohop.core.internal;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Locale;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;

/**
 * The response content coding ztunnel's metrics server negotiates: its stats service is wrapped in tower-http 0.7's
 * {@code CompressionLayer} (istio/ztunnel {@code src/metrics/server.rs}; tower-rs/tower-http
 * {@code src/content_encoding.rs} {@code from_headers}, {@code src/compression/future.rs} and {@code predicate.rs}),
 * restricted to the codings the JDK writes: {@code gzip} and {@code deflate} (zlib, as HTTP names it). ztunnel also
 * writes {@code br} and {@code zstd}; here those are unknown codings, which tower-http ignores in a request, as it
 * ignores any coding it was built without.
 *
 * <p>Negotiation ({@link #negotiate}): every {@code Accept-Encoding} field's comma-separated entries, a coding
 * compared without case ({@code x-gzip} is {@code gzip}) with an optional {@code ;q=} weight (0 to 1, at most three
 * decimals; an entry whose weight does not parse is ignored). Without a {@code *} entry the highest weight above 0
 * among the known codings wins, ties going to the first of {@code gzip}, {@code deflate}, {@code identity};
 * none left means {@code identity}, unless the request gave {@code identity;q=0}: then nothing is acceptable (406).
 * With {@code *} (its first entry), each of {@code identity}, {@code gzip} and {@code deflate} has the weight of its
 * first entry, or the wildcard's when it has none, and nothing above 0 is 406.
 */
public enum ContentCoding {
    // Declared in tower-http's order of preference for equal weights, lowest first (its Encoding enum's order).
    IDENTITY("identity"),
    DEFLATE("deflate"),
    GZIP("gzip");

    /** tower-http's {@code SizeAbove::DEFAULT_MIN_SIZE}: a body shorter than this is sent as it is. */
    public static final int MIN_SIZE = 32;

    private final String token;

    ContentCoding(String token) {
        this.token = token;
    }

    /** The {@code Content-Encoding} token. */
    public String token() {
        return token;
    }

    /**
     * The coding for a request whose {@code Accept-Encoding} fields, joined with {@code ", "}, are
     * {@code acceptEncoding} (null: no such field, which is {@code identity}); null when no coding is acceptable
     * (the answer is then 406 Not Acceptable, as tower-http's).
     */
    public static ContentCoding negotiate(String acceptEncoding) {
        if (acceptEncoding == null) {
            return IDENTITY;
        }
        // Per coding: the highest weight of its entries (what tower-http's maximum sees without a *), and the first
        // entry's (what it reads for that coding when a * is there).
        int[] max = {-1, -1, -1};
        int[] first = {-1, -1, -1};
        boolean identityRejected = false;
        int wildcard = -1;
        for (String entry : acceptEncoding.split(",", -1)) {
            int semi = entry.indexOf(';');
            String coding = (semi < 0 ? entry : entry.substring(0, semi)).trim();
            int weight = semi < 0 ? 1000 : weight(entry.substring(semi + 1).trim());
            if (weight < 0) {
                continue; // an entry whose weight does not parse is ignored, a * one too
            }
            if (coding.equals("*")) {
                if (wildcard < 0) {
                    wildcard = weight;
                }
                continue;
            }
            ContentCoding c = known(coding);
            if (c == null) {
                continue;
            }
            int i = c.ordinal();
            max[i] = Math.max(max[i], weight);
            if (first[i] < 0) {
                first[i] = weight;
            }
            identityRejected |= c == IDENTITY && weight == 0;
        }
        int[] q = max;
        if (wildcard >= 0) {
            q = first;
            for (int i = 0; i < q.length; i++) {
                if (q[i] < 0) {
                    q[i] = wildcard;
                }
            }
        }
        ContentCoding best = null;
        int bestQ = 0;
        for (ContentCoding c : values()) {
            // >=: of equal weights the later constant wins, as tower-http's max_by_key over (weight, coding).
            if (q[c.ordinal()] > 0 && q[c.ordinal()] >= bestQ) {
                best = c;
                bestQ = q[c.ordinal()];
            }
        }
        if (best != null || wildcard >= 0) {
            return best;
        }
        return identityRejected ? null : IDENTITY;
    }

    private static ContentCoding known(String coding) {
        if (coding.equalsIgnoreCase("gzip") || coding.equalsIgnoreCase("x-gzip")) {
            return GZIP;
        }
        if (coding.equalsIgnoreCase("deflate")) {
            return DEFLATE;
        }
        return coding.equalsIgnoreCase("identity") ? IDENTITY : null;
    }

    /** The weight of {@code q=V} in thousandths, or -1 when it is not one (tower-http's {@code QValue::parse}). */
    private static int weight(String param) {
        if (param.length() < 3 || (param.charAt(0) != 'q' && param.charAt(0) != 'Q') || param.charAt(1) != '=') {
            return -1;
        }
        String v = param.substring(2);
        char lead = v.charAt(0);
        if (lead != '0' && lead != '1') {
            return -1;
        }
        int value = lead == '1' ? 1000 : 0;
        if (v.length() == 1) {
            return value;
        }
        if (v.charAt(1) != '.' || v.length() > 5) {
            return -1;
        }
        int factor = 100;
        for (int i = 2; i < v.length(); i++) {
            char d = v.charAt(i);
            if (d < '0' || d > '9') {
                return -1;
            }
            value += factor * (d - '0');
            factor /= 10;
        }
        return value > 1000 ? -1 : value;
    }

    /**
     * Whether tower-http's default predicate lets a body of {@code length} bytes and this content type be compressed:
     * at least {@link #MIN_SIZE} bytes, and not gRPC, an image (SVG excepted) or server-sent events. A null content type
     * (no header) is "", as tower-http's {@code NotForContentType} reads a missing one.
     */
    public static boolean compressible(String contentType, int length) {
        String t = contentType == null ? "" : contentType.toLowerCase(Locale.ROOT);
        return length >= MIN_SIZE && !t.startsWith("application/grpc") && !(t.startsWith("image/") && !t.startsWith("image/svg+xml"))
                && !t.startsWith("text/event-stream");
    }

    /** {@code body} in this coding (a copy; {@code body} itself for identity). */
    public byte[] encode(byte[] body) {
        if (this == IDENTITY) {
            return body;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(64, body.length / 4));
        try (OutputStream z = this == GZIP ? new GZIPOutputStream(out) : new DeflaterOutputStream(out)) {
            z.write(body);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
        }
        return out.toByteArray();
    }
}
