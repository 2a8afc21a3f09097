package io.zerohop.identity.istio;

import io.zerohop.identity.Pem;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Istio root certificate file ({@code root-cert.pem} of the {@code istio-ca-root-cert}
 * ConfigMap), re-read when its content changes. ztunnel's {@code RootCertManager} (istio/ztunnel
 * src/tls/control.rs) watches the file's directory and marks itself dirty; its {@code CaClient}
 * (src/identity/caclient.rs {@code fetch_certificate}) then rebuilds the channel to istiod before
 * the next request. Here the content itself is compared, not a change event or a modification time:
 * the file is a few kilobytes, reading it follows the kubelet's {@code ..data} symlink swap, and a
 * rewrite within one timestamp tick is not missed.
 *
 * <p>A file that cannot be read, is empty or holds no certificate keeps the last good roots, as
 * ztunnel keeps its old channel when the rebuild fails: a ConfigMap being rewritten must not cost
 * the node its trust. Each such problem is logged once (WARN, naming the file) until the file is
 * good again, since the file is checked for every request and on every poll.
 */
final class RootCertFile {
    private static final Logger log = LoggerFactory.getLogger(IstioCaClient.class);

    private final Path file;
    // Guarded by this.
    private byte[] lastGood;
    private List<X509Certificate> roots;
    private String reported;

    /** Reads {@code file} now; unlike later reads, a bad file here is an error (the builder's). */
    RootCertFile(Path file) {
        this.file = file;
        List<X509Certificate> certs;
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
            certs = Pem.parseCertificates(new String(bytes, StandardCharsets.US_ASCII));
        } catch (IOException | CertificateException | RuntimeException e) {
            throw new IllegalArgumentException("cannot read CA certificates from " + file + ": " + e.getMessage(), e);
        }
        if (certs.isEmpty()) {
            throw new IllegalArgumentException(file + ": no CERTIFICATE block found");
        }
        this.roots = List.copyOf(certs);
        this.lastGood = bytes;
    }

    Path path() {
        return file;
    }

    /** The roots of the last good content, without reading the file. */
    synchronized List<X509Certificate> roots() {
        return roots;
    }

    /**
     * Reads the file and returns its roots, or the last good ones when it cannot be used now.
     * Cheap when nothing changed: one small read and a byte comparison.
     */
    synchronized List<X509Certificate> read() {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            report("cannot be read (" + e.getClass().getSimpleName() + " " + e.getMessage() + ")");
            return roots;
        }
        if (Arrays.equals(bytes, lastGood)) {
            recovered();
            return roots;
        }
        List<X509Certificate> fresh;
        try {
            fresh = parse(bytes);
        } catch (CertificateException | RuntimeException e) {
            // Also a file caught half-written by a writer that does not rename (the kubelet does).
            report("holds no usable certificate (" + e.getMessage() + ")");
            return roots;
        }
        lastGood = bytes;
        recovered();
        if (!new HashSet<>(fresh).equals(new HashSet<>(roots))) {
            log.info("Istio root certificates in {} changed: {} root(s) now, {} before", file, fresh.size(), roots.size());
            roots = fresh;
        }
        return roots;
    }

    private List<X509Certificate> parse(byte[] bytes) throws CertificateException {
        List<X509Certificate> certs = Pem.parseCertificates(new String(bytes, StandardCharsets.US_ASCII));
        if (certs.isEmpty()) {
            throw new CertificateException(bytes.length == 0 ? "the file is empty" : "no CERTIFICATE block found");
        }
        return List.copyOf(certs);
    }

    private void report(String problem) {
        if (!problem.equals(reported)) {
            reported = problem;
            log.warn("Istio root certificate file {} {}; keeping the {} root(s) read before", file, problem, roots.size());
        }
    }

    private void recovered() {
        if (reported != null) {
            log.info("Istio root certificate file {} is usable again", file);
            reported = null;
        }
    }
}
