package io.zerohop.policy.internal;

import java.math.BigInteger;
import java.time.Duration;
import java.util.Map;

/**
 * A duration written as Go's {@code time.ParseDuration} reads it ({@code "1m30s"}, {@code "500ms"}, {@code ".5s"},
 * {@code "+2h"}): istiod decodes a google.protobuf.Duration field of its CRDs with golang/protobuf v1.5.4
 * {@code jsonpb/decode.go} (istio/api's {@code *_json.gen.go} unmarshalers), which calls {@code time.ParseDuration},
 * and the CRDs' CEL {@code duration(self)} reads the same syntax. Written from Go's documented grammar and behaviour
 * (src/time/format.go): an optional sign, then one or more decimal numbers each with an optional fraction and a unit
 * ({@code ns}, {@code us}, {@code µs}, {@code μs}, {@code ms}, {@code s}, {@code m}, {@code h}); {@code "0"} alone needs
 * no unit; the total must fit in a signed 64-bit count of nanoseconds; fraction digits beyond that precision are
 * dropped, and a fraction is scaled in floating point, as Go does.
 */
final class GoDuration {

    private static final BigInteger LIMIT = BigInteger.ONE.shiftLeft(63);
    private static final Map<String, Long> UNITS = Map.of("ns", 1L, "us", 1_000L, "\u00b5s", 1_000L, "\u03bcs", 1_000L,
            "ms", 1_000_000L, "s", 1_000_000_000L, "m", 60_000_000_000L, "h", 3_600_000_000_000L);

    private GoDuration() {
    }

    /**
     * @return the duration, negative when written with {@code -}
     * @throws IllegalArgumentException with Go's own message ({@code time: invalid duration "x"}, {@code time: missing
     *         unit in duration "x"}, {@code time: unknown unit "u" in duration "x"}), quoted as Go's {@code %q} would
     *         for printable text
     */
    static Duration parse(String text) {
        String s = text;
        boolean negative = false;
        if (!s.isEmpty() && (s.charAt(0) == '-' || s.charAt(0) == '+')) {
            negative = s.charAt(0) == '-';
            s = s.substring(1);
        }
        if (s.equals("0")) {
            return Duration.ZERO;
        }
        if (s.isEmpty()) {
            throw invalid(text);
        }
        BigInteger total = BigInteger.ZERO;
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c != '.' && !isDigit(c)) {
                throw invalid(text);
            }
            int start = i;
            BigInteger whole = BigInteger.ZERO;
            while (i < s.length() && isDigit(s.charAt(i))) {
                whole = whole.multiply(BigInteger.TEN).add(BigInteger.valueOf(s.charAt(i) - '0'));
                if (whole.compareTo(LIMIT) > 0) {
                    throw invalid(text);
                }
                i++;
            }
            boolean before = i > start;
            BigInteger fraction = BigInteger.ZERO;
            double scale = 1;
            boolean after = false;
            if (i < s.length() && s.charAt(i) == '.') {
                i++;
                int fracStart = i;
                boolean overflow = false;
                while (i < s.length() && isDigit(s.charAt(i))) {
                    // Go stops taking digits once one more could pass 2^63 and ignores the rest (below a nanosecond).
                    if (!overflow) {
                        BigInteger next = fraction.multiply(BigInteger.TEN).add(BigInteger.valueOf(s.charAt(i) - '0'));
                        if (fraction.compareTo(LIMIT.divide(BigInteger.TEN)) > 0 || next.compareTo(LIMIT) > 0) {
                            overflow = true;
                        } else {
                            fraction = next;
                            scale *= 10;
                        }
                    }
                    i++;
                }
                after = i > fracStart;
            }
            if (!before && !after) {
                throw invalid(text);
            }
            int unitStart = i;
            while (i < s.length() && s.charAt(i) != '.' && !isDigit(s.charAt(i))) {
                i++;
            }
            if (unitStart == i) {
                throw new IllegalArgumentException("time: missing unit in duration " + quote(text));
            }
            String u = s.substring(unitStart, i);
            Long unit = UNITS.get(u);
            if (unit == null) {
                throw new IllegalArgumentException("time: unknown unit " + quote(u) + " in duration " + quote(text));
            }
            BigInteger v = whole.multiply(BigInteger.valueOf(unit));
            if (v.compareTo(LIMIT) > 0) {
                throw invalid(text);
            }
            if (fraction.signum() > 0) {
                v = v.add(BigInteger.valueOf((long) (fraction.doubleValue() * ((double) unit / scale))));
                if (v.compareTo(LIMIT) > 0) {
                    throw invalid(text);
                }
            }
            total = total.add(v);
            if (total.compareTo(LIMIT) > 0) {
                throw invalid(text);
            }
        }
        if (negative) {
            return Duration.ofNanos(total.negate().longValueExact());
        }
        if (total.compareTo(LIMIT) >= 0) {
            throw invalid(text);
        }
        return Duration.ofNanos(total.longValueExact());
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private static IllegalArgumentException invalid(String text) {
        return new IllegalArgumentException("time: invalid duration " + quote(text));
    }

    private static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
