package io.zerohop.identity.internal;

import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
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
    private final TrustDomain localDomain;

    /**
     * {@code expected} empty: any identity that chains to its own domain's bundle. {@code localDomain}
     * non-null: only peers of that trust domain (no federation); null: any domain with a bundle.
     */
    public SpiffeTrustManager(Supplier<X509BundleSet> bundles, Set<SpiffeId> expected, TrustDomain localDomain) {
        this.bundles = bundles;
        this.expected = Set.copyOf(expected);
        this.localDomain = localDomain;
    }

    private void check(X509Certificate[] chain) throws CertificateException {
        SpiffeId id = SvidVerifier.verify(chain, bundles.get());
        if (localDomain != null && !localDomain.equals(id.getTrustDomain())) {
            throw new CertificateException(id + ": trust domain " + id.getTrustDomain() + " is not the local trust domain "
                    + localDomain + " and federation is off (MeshTls.Builder.federation(true) accepts federated domains)");
        }
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
