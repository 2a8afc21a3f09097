package io.zerohop.cli;

import io.zerohop.identity.PemFileIdentityProvider;
import io.zerohop.identity.SvidVerifier;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** Small shared pieces of the CLI. */
final class Cli {
    private Cli() {}

    /** A refusal with a specific exit code (TLS, identity, HTTP status...). */
    static final class RefusedException extends RuntimeException {
        private final int exitCode;

        RefusedException(String message, int exitCode) {
            super(message);
            this.exitCode = exitCode;
        }

        int exitCode() {
            return exitCode;
        }
    }

    /**
     * The identity in PEM files ({@code connect}, {@code proxy}). Files that are not an X.509-SVID
     * for their own trust bundle (a certificate that does not chain to it, an expired leaf, the key of
     * another certificate, no SPIFFE ID) are an identity failure, exit 4, as a certificate refused in
     * a handshake is; the message names the file and the reason.
     *
     * @throws RefusedException exit 4, when the files are no valid identity
     * @throws IllegalStateException when a file cannot be read (exit 1)
     */
    static PemFileIdentityProvider pemIdentity(Path cert, Path key, Path bundle, boolean watch) {
        try {
            return PemFileIdentityProvider.builder().certificateChain(cert).privateKey(key).trustBundle(bundle).watch(watch).build();
        } catch (IllegalStateException e) {
            if (e.getCause() instanceof GeneralSecurityException invalid) {
                throw new RefusedException("no usable identity in the PEM files: " + invalid.getMessage(), 4);
            }
            throw e;
        }
    }

    /**
     * Why peers will refuse the PEM identity's chain in TLS role {@code purpose} (an extendedKeyUsage without it, X509-SVID
     * section 4.4, as zerohop's and ztunnel's peers check it), or null when they will not. Checked at start because the
     * refused side hears only {@code certificate_unknown} from its peer.
     */
    static String purposeProblem(PemFileIdentityProvider ids, Path cert, SvidVerifier.Purpose purpose) {
        try {
            java.security.cert.X509Certificate[] chain = ids.current().getChainArray();
            // As of the leaf's NotBefore when that is still ahead, as the provider took it (SvidVerifier: an own SVID from
            // an issuer whose clock is ahead); `connect` refused what `proxy` served (a new-user pass, helper 257).
            java.util.Date now = new java.util.Date();
            java.util.Date at = chain.length > 0 && chain[0].getNotBefore().after(now) ? chain[0].getNotBefore() : now;
            SvidVerifier.verify(chain, ids.bundles(), at, purpose);
            return null;
        } catch (java.security.cert.CertificateException e) {
            return cert + ": " + e.getMessage();
        }
    }

    /** The innermost useful message of a failure, on one line. */
    static String describe(Throwable e) {
        Throwable t = e;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        // The JDK's file exceptions carry only the path as their message ("zerohop proxy: /x.yaml").
        if (t instanceof java.nio.file.NoSuchFileException f) {
            return "no such file: " + f.getFile();
        }
        if (t instanceof java.nio.file.AccessDeniedException f) {
            return "permission denied: " + f.getFile();
        }
        String msg = t.getMessage();
        // Prefer the deepest cause that has our own wording (certificate checks carry the reason).
        for (Throwable c = t.getCause(); c != null; c = c.getCause()) {
            if (c.getMessage() != null && c instanceof java.security.cert.CertificateException) {
                msg = c.getMessage();
            }
        }
        return (msg == null ? t.getClass().getSimpleName() : msg).lines().findFirst().orElse("");
    }

    /**
     * What the operating system said, for one line a person reads: the deepest cause's message
     * without Netty's native prefix ({@code "finishConnect(..) failed with error(-111): "}), so
     * {@code "Connection refused"}, {@code "Address already in use"}. Netty's exceptions repeat
     * their cause's text (an annotated exception carries it plus the address), so printing the chain
     * said it twice.
     */
    static String reason(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String m = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
        return m.replaceFirst("^\\w+\\(\\.\\.\\) failed with error\\(-?\\d+\\): ", "").lines().findFirst().orElse("");
    }

    /** {@link #reason} when {@code e} is a listener's failure to bind (epoll's {@code bind(..)} or the JDK's), else null. */
    static String bindFailure(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof java.net.BindException || c.getMessage() != null && c.getMessage().startsWith("bind(..) failed")) {
                return reason(c);
            }
        }
        return null;
    }

    /** The longest duration any option takes: the library builders' limit (36500 days). */
    static final Duration MAX_DURATION = Duration.ofDays(36_500);

    /** What a duration looks like, in each error about one. */
    private static final String DURATION_EXAMPLES = " (examples: 500ms, 90s, 15m, 24h, 7d)";

    /**
     * Durations as people write them: 500ms, 90s, 15m, 24h, 7d (Go's and Kubernetes' {@code ms} too: a
     * new-user pass wrote {@code --handshake-timeout 500ms} and was refused). The number is ASCII
     * digits, no sign: {@link Long#parseLong} also took {@code +5s}, {@code -0s} and other scripts'
     * digits ({@code ٥s}), which the proxy then printed as typed ({@code draining for up to +5s}).
     */
    static Duration duration(String s) {
        if (s == null || s.length() < 2 || s.matches("[-+]?[0-9]+")) {
            throw new RefusedException("bad duration \"" + s + "\"" + (s != null && s.matches("[-+]?[0-9]+") ? ": no unit" : "") + DURATION_EXAMPLES, 2);
        }
        int unit = s.endsWith("ms") ? 2 : 1;
        String number = s.substring(0, s.length() - unit);
        if (number.matches("-[0-9]*[1-9][0-9]*")) {
            throw new RefusedException("duration \"" + s + "\" is negative", 2);
        }
        if (number.matches("[-+][0-9]+")) {
            throw new RefusedException("bad duration \"" + s + "\": write the number without a sign" + DURATION_EXAMPLES, 2);
        }
        long n;
        try {
            if (!number.matches("[0-9]+")) {
                throw new NumberFormatException(number);
            }
            n = Long.parseLong(number);
        } catch (NumberFormatException e) {
            throw new RefusedException("bad duration \"" + s + "\"" + DURATION_EXAMPLES, 2);
        }
        try {
            Duration d = unit == 2 ? Duration.ofMillis(n) : switch (s.charAt(s.length() - 1)) {
                case 's' -> Duration.ofSeconds(n);
                case 'm' -> Duration.ofMinutes(n);
                case 'h' -> Duration.ofHours(n);
                case 'd' -> Duration.ofDays(n);
                default -> throw new RefusedException("bad duration \"" + s + "\"" + DURATION_EXAMPLES, 2); // a usage error
            };
            // The library's limit for every timeout, interval and drain (mesh-hbone's DurationLimit: timers run in ns):
            // past it the builder refused the value only after the proxy had started, exit 1, naming its Java setter
            // (a new-user pass); past ~106751d a long of ns overflowed. Checked here, it is a usage error naming the option.
            if (d.compareTo(MAX_DURATION) > 0) {
                throw new ArithmeticException();
            }
            return d;
        } catch (ArithmeticException e) {
            throw new RefusedException("duration \"" + s + "\" is too long (at most 36500d, 100 years)", 2);
        }
    }

    /**
     * {@code d} in {@link #duration}'s grammar, in the largest of its units that holds it exactly:
     * {@code 90s}, {@code 1m}, {@code 1500ms}, {@code 0s}; what the proxy prints of a duration it parsed
     * ({@code 0010s} prints as {@code 10s}). Sub-millisecond parts are dropped (the grammar has none).
     */
    /** {@code 1 workload}, {@code 2 workloads}, as the modules' log lines count (the CLI uses public API only). */
    static String count(long n, String one, String many) {
        return n + " " + (n == 1 ? one : many);
    }

    static String format(Duration d) {
        long ms = d.toMillis();
        if (ms == 0) {
            return "0s";
        }
        long[] sizes = {86_400_000L, 3_600_000L, 60_000L, 1_000L};
        String[] units = {"d", "h", "m", "s"};
        for (int i = 0; i < sizes.length; i++) {
            if (ms % sizes[i] == 0) {
                return ms / sizes[i] + units[i];
            }
        }
        return ms + "ms";
    }
}
