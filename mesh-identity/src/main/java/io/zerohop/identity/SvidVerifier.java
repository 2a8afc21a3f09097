package io.zerohop.identity;

import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.exception.BundleNotFoundException;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.internal.X509;
import java.security.GeneralSecurityException;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Verifies a peer's certificate chain as an X.509-SVID: the leaf rules of the SPIFFE spec first
 * (they give the clearest errors), then a PKIX path to the trust bundle of the leaf's own trust
 * domain — never to another domain's roots, so a rogue CA trusted for one domain cannot mint IDs
 * of another.
 *
 * <p>The leaf and signing-certificate rules are those java-spiffe's {@code X509Svid} applies to its
 * own SVIDs ({@code validateLeafSpiffeId}, {@code validateLeafCertificate},
 * {@code validateSigningCertificates} in java-spiffe-core; spiffe/spiffe standards/X509-SVID.md
 * sections 4.1 to 4.3): exactly one URI SAN holding a SPIFFE ID with a non-root path, not a CA,
 * keyUsage digitalSignature and neither keyCertSign nor cRLSign; every other certificate the peer
 * sends is a CA with keyCertSign. java-spiffe keeps those checks private and tied to a private key,
 * so they are repeated here for peer chains.
 */
public final class SvidVerifier {
    private SvidVerifier() {}

    /**
     * The TLS role a peer's chain is verified for. Where a certificate of the chain has an extendedKeyUsage extension, it
     * must name this purpose: spiffe/spiffe standards/X509-SVID.md section 4.4, and what ztunnel enforces through rustls'
     * webpki ({@code KeyUsage::client_auth()} for a client, {@code server_auth()} for a server, "required if present",
     * checked on the leaf and on every intermediate; {@code anyExtendedKeyUsage} is not either).
     */
    public enum Purpose {
        /** A TLS client's chain: {@code id-kp-clientAuth} (1.3.6.1.5.5.7.3.2). */
        CLIENT_AUTH("1.3.6.1.5.5.7.3.2", "clientAuth"),
        /** A TLS server's chain: {@code id-kp-serverAuth} (1.3.6.1.5.5.7.3.1). */
        SERVER_AUTH("1.3.6.1.5.5.7.3.1", "serverAuth");

        private final String oid;
        private final String label;

        Purpose(String oid, String label) {
            this.oid = oid;
            this.label = label;
        }
    }

    /**
     * {@link #verify(X509Certificate[], X509BundleSet, Date)}, and then every certificate the peer sent below the trust
     * bundle's root names {@code purpose} in its extendedKeyUsage when it has one. Until 4 December no purpose was checked,
     * so a certificate its CA issued for code signing, or for a server only, authenticated a TLS client (a review pass).
     *
     * @param purpose the role the peer plays in this handshake, not null
     * @throws CertificateException with a message a person can act on
     */
    public static SpiffeId verify(X509Certificate[] chain, X509BundleSet bundles, Date at, Purpose purpose)
            throws CertificateException {
        List<X509Certificate> path = verifiedPath(chain, bundles, at);
        SpiffeId id = X509.spiffeId(path.get(0));
        for (int i = 0; i < path.size(); i++) {
            X509Certificate c = path.get(i);
            List<String> eku = c.getExtendedKeyUsage();
            if (eku != null && !eku.contains(purpose.oid)) {
                throw new CertificateException(id + ": " + (i == 0 ? "leaf" : "chain certificate " + i + " ("
                        + c.getSubjectX500Principal() + ")") + " has extendedKeyUsage " + eku + " without "
                        + purpose.label + " (" + purpose.oid + "), so it may not authenticate a TLS "
                        + (purpose == Purpose.CLIENT_AUTH ? "client" : "server") + " (X509-SVID section 4.4)");
            }
        }
        return id;
    }

    /**
     * Returns the verified SPIFFE ID of {@code chain[0]}, whatever TLS role it plays (no extendedKeyUsage check: for a
     * workload's own SVID; a peer's chain is verified with {@link #verify(X509Certificate[], X509BundleSet, Date, Purpose)}).
     *
     * @throws CertificateException with a message a person can act on
     */
    public static SpiffeId verify(X509Certificate[] chain, X509BundleSet bundles, Date at) throws CertificateException {
        return X509.spiffeId(verifiedPath(chain, bundles, at).get(0));
    }

    /**
     * The path {@code chain} verified along: the leaf and the certificates that sign it up to (not including) a trust
     * anchor of the leaf's trust domain. The chain as sent is tried first; when it does not verify, the path is built from
     * it as RFC 8446 section 4.4.2 asks ("SHOULD be prepared to handle potentially extraneous certificates and arbitrary
     * orderings", which webpki under ztunnel and Go's crypto/x509 under go-spiffe do): from the leaf, each issuer by name
     * among the other certificates, until one is issued by a certificate of the bundle (a root, or an intermediate the
     * bundle holds). Until 5 December intermediates out of order, an extra certificate, or a bundle holding the
     * intermediate with the chain sent up to the root were refused (a new-user pass). The SVID rules apply to that path.
     */
    private static List<X509Certificate> verifiedPath(X509Certificate[] chain, X509BundleSet bundles, Date at) throws CertificateException {
        if (chain == null || chain.length == 0) {
            throw new CertificateException("peer sent no certificate");
        }
        X509Certificate leaf = chain[0];
        SpiffeId id = X509.spiffeId(leaf);
        if (id.getPath().isEmpty()) {
            throw new CertificateException(id + ": leaf SPIFFE ID has no path; an X.509-SVID leaf must name a workload"
                    + " (spiffe://trust-domain/path), not the trust domain itself");
        }
        if (leaf.getBasicConstraints() != -1) {
            throw new CertificateException(id + ": leaf certificate is a CA (basicConstraints CA=true); an X.509-SVID leaf must not be");
        }
        boolean[] ku = leaf.getKeyUsage();
        if (ku == null || !ku[0]) {
            throw new CertificateException(id + ": leaf lacks keyUsage digitalSignature");
        }
        if (ku.length > 6 && (ku[5] || ku[6])) {
            throw new CertificateException(id + ": leaf has keyCertSign or cRLSign");
        }
        try {
            leaf.checkValidity(at);
        } catch (CertificateExpiredException e) {
            throw new CertificateExpiredException(id + ": certificate expired at " + leaf.getNotAfter().toInstant());
        } catch (CertificateNotYetValidException e) {
            throw new CertificateNotYetValidException(id + ": certificate not valid before " + leaf.getNotBefore().toInstant());
        }
        X509Bundle bundle;
        try {
            bundle = bundles.getBundleForTrustDomain(id.getTrustDomain());
        } catch (BundleNotFoundException e) {
            throw new CertificateException(id + ": no trust bundle for trust domain " + id.getTrustDomain()
                    + " (trusted: " + bundles.getBundles().keySet() + ")", e);
        }
        Set<X509Certificate> roots = bundle.getX509Authorities();
        if (roots.isEmpty()) {
            throw new CertificateException(id + ": trust bundle of " + id.getTrustDomain() + " is empty");
        }
        List<X509Certificate> sent = Arrays.asList(chain);
        // A peer may append its root; PKIX wants the path without the anchor.
        if (sent.size() > 1 && roots.contains(sent.get(sent.size() - 1))) {
            sent = sent.subList(0, sent.size() - 1);
        }
        try {
            return validate(id, sent, roots, at);
        } catch (CertificateException asSent) {
            List<X509Certificate> built = buildPath(chain, roots);
            if (built.equals(sent)) {
                throw asSent;
            }
            try {
                return validate(id, built, roots, at);
            } catch (CertificateException e) {
                throw asSent; // the chain as sent says best what is wrong with it
            }
        }
    }

    /** {@code path} checked (signing certificates are CAs with keyCertSign; PKIX against {@code roots}) and returned. */
    private static List<X509Certificate> validate(SpiffeId id, List<X509Certificate> path, Set<X509Certificate> roots, Date at)
            throws CertificateException {
        for (int i = 1; i < path.size(); i++) {
            X509Certificate signer = path.get(i);
            boolean[] sku = signer.getKeyUsage();
            if (signer.getBasicConstraints() == -1) {
                throw new CertificateException(id + ": chain certificate " + i + " (" + signer.getSubjectX500Principal()
                        + ") is not a CA; an X.509-SVID signing certificate must have basicConstraints CA=true");
            }
            if (sku == null || sku.length <= 5 || !sku[5]) {
                throw new CertificateException(id + ": chain certificate " + i + " (" + signer.getSubjectX500Principal()
                        + ") lacks keyUsage keyCertSign");
            }
        }
        try {
            Set<TrustAnchor> anchors = new HashSet<>(roots.size() * 2);
            for (X509Certificate r : roots) {
                anchors.add(new TrustAnchor(r, null));
            }
            PKIXParameters params = new PKIXParameters(anchors);
            params.setRevocationEnabled(false);
            params.setDate(at);
            CertPath certPath = CertificateFactory.getInstance("X.509").generateCertPath(path);
            CertPathValidator.getInstance("PKIX").validate(certPath, params);
        } catch (CertPathValidatorException e) {
            throw new CertificateException(id + ": chain does not verify against the trust bundle of "
                    + id.getTrustDomain() + ": " + e.getMessage(), e);
        } catch (GeneralSecurityException e) {
            throw new CertificateException(id + ": chain verification failed: " + e.getMessage(), e);
        }
        return path;
    }

    /**
     * From {@code chain[0]}, each next certificate the one among the rest whose subject is the current one's issuer (each
     * used once), until the current one's issuer is the subject of a certificate of {@code roots} (which may hold an
     * intermediate) or none matches; the path PKIX then validates, or refuses. Names only, as PKIX checks each signature.
     */
    private static List<X509Certificate> buildPath(X509Certificate[] chain, Set<X509Certificate> roots) {
        List<X509Certificate> path = new java.util.ArrayList<>();
        path.add(chain[0]);
        List<X509Certificate> unused = new java.util.ArrayList<>(Arrays.asList(chain).subList(1, chain.length));
        X509Certificate current = chain[0];
        while (true) {
            javax.security.auth.x500.X500Principal issuer = current.getIssuerX500Principal();
            if (roots.stream().anyMatch(r -> r.getSubjectX500Principal().equals(issuer))) {
                return path;
            }
            X509Certificate next = null;
            for (X509Certificate c : unused) {
                if (c.getSubjectX500Principal().equals(issuer) && !roots.contains(c)) {
                    next = c;
                    break;
                }
            }
            if (next == null) {
                return path;
            }
            unused.remove(next);
            path.add(next);
            current = next;
        }
    }

    public static SpiffeId verify(X509Certificate[] chain, X509BundleSet bundles) throws CertificateException {
        return verify(chain, bundles, new Date());
    }
}
