package io.zerohop.identity.internal;

import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.SvidVerifier;
import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Set;
import java.util.function.Supplier;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Trust decisions for both sides of an mTLS handshake. Bundles are read at each handshake, so a
 * rotated bundle applies to the next connection without rebuilding any SSL context.
 */
public final class SpiffeTrustManager extends X509ExtendedTrustManager {
    private static final X509Certificate[] NO_ISSUERS = new X509Certificate[0];

    private final Supplier<X509BundleSet> bundles;
    private final Set<SpiffeId> expected;

    /** {@code expected} empty: any identity that chains to its own domain's bundle. */
    public SpiffeTrustManager(Supplier<X509BundleSet> bundles, Set<SpiffeId> expected) {
        this.bundles = bundles;
        this.expected = Set.copyOf(expected);
    }

    private void check(X509Certificate[] chain) throws CertificateException {
        SpiffeId id = SvidVerifier.verify(chain, bundles.get());
        if (!expected.isEmpty() && !expected.contains(id)) {
            throw new CertificateException("peer identity " + id + " is not the expected "
                    + (expected.size() == 1 ? expected.iterator().next() : "one of " + expected));
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        check(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        check(chain);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        check(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        check(chain);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        check(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        check(chain);
    }

    /** Empty: advertising every root in CertificateRequest only costs bytes; peers send their SVID anyway. */
    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return NO_ISSUERS;
    }
}
