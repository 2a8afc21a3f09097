package io.zerohop.identity.istio.internal;

import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SvidVerifier;
import io.zerohop.identity.internal.Svids;
import io.zerohop.identity.internal.X509;
import io.zerohop.identity.istio.internal.IstioCaMessages.CertificateResponse;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashSet;
import java.util.List;

/**
 * Turns the Istio CA's {@code CreateCertificate} answer into an SVID, checking it first.
 *
 * <p>istiod answers leaf first and its root bundle last (istio/istio security/pkg/server/ca/server.go
 * {@code CreateCertificate} appends {@code rootCertBytes}, possibly several concatenated roots during a
 * rotation, as one element). ztunnel takes that last element as the peer trust roots (istio/ztunnel
 * src/tls/certificate.rs {@code WorkloadCertificate::new}); here it is never trusted: the leaf must
 * verify against the roots the caller trusts (the root file), and the roots the CA sent only explain a
 * leaf that does not ({@link UnknownRootException}).
 *
 * <p>An answer whose {@code cert_chain} has a single element is refused ({@link NoRootException}), as
 * ztunnel refuses it: its {@code fetch_certificate} (src/identity/caclient.rs) warns {@code no chain certs
 * for: <id>} and {@code WorkloadCertificate::new} then fails with {@code no root certificate present}. That
 * covers a lone leaf and a whole chain sent as one PEM string (ztunnel reads only the first certificate of
 * that element). istiod never sends either: it sends one certificate per element and its root bundle as a
 * separate last element.
 */
public final class IstioCaResponses {
    private IstioCaResponses() {}

    /**
     * The leaf does not verify against the trusted roots but does against {@link #root()}, one the CA
     * sent: the CA signs under a root the caller does not trust (yet), e.g. istiod after a root rotation
     * before the root file was updated.
     */
    public static final class UnknownRootException extends GeneralSecurityException {
        private static final long serialVersionUID = 1L;
        private final transient X509Certificate root;

        UnknownRootException(String message, X509Certificate root, Throwable cause) {
            super(message, cause);
            this.root = root;
        }

        public X509Certificate root() {
            return root;
        }
    }

    /**
     * The answer's {@code cert_chain} has one element only, so no separate root element: a lone leaf, or
     * leaf, intermediates and root concatenated in one PEM string. istio/ztunnel src/identity/caclient.rs
     * {@code fetch_certificate} warns {@code no chain certs for: <id>} and src/tls/certificate.rs
     * {@code WorkloadCertificate::new} refuses it ({@code InvalidRootCert("no root certificate present")}).
     */
    public static final class NoRootException extends GeneralSecurityException {
        private static final long serialVersionUID = 1L;

        NoRootException(String message) {
            super(message);
        }
    }

    /**
     * The SVID for {@code keys} from {@code response}: the chain without its self-signed root(s), whose
     * leaf names {@code id}, holds the request's public key and verifies against {@code meshRoots} at {@code now}.
     * {@code cert_chain} must have at least two elements, the last one the CA's root bundle, as ztunnel requires.
     *
     * @throws NoRootException when {@code cert_chain} has a single element
     * @throws GeneralSecurityException (or a RuntimeException from parsing) saying what is wrong
     */
    public static X509Svid toSvid(SpiffeId id, KeyPair keys, CertificateResponse response,
            List<X509Certificate> meshRoots, Instant now) throws GeneralSecurityException {
        List<String> elements = response.certChain();
        if (elements.size() == 1) {
            // ztunnel: "no chain certs for: <id>", then WorkloadCertificate::new: "no root certificate present".
            int n = Pem.parseCertificates(elements.get(0)).size();
            throw new NoRootException("no root certificate present: cert_chain has one element (" + n + " certificate"
                    + (n == 1 ? "" : "s") + " in it), and the Istio CA API puts the root bundle in an element of its own, the last"
                    + " (istiod always does, one certificate per element before it); ztunnel refuses such an answer too");
        }
        List<X509Certificate> all = new ArrayList<>();
        for (String pem : elements) {
            all.addAll(Pem.parseCertificates(pem));
        }
        if (all.isEmpty()) {
            throw new GeneralSecurityException("empty certificate chain");
        }
        // Istio appends the root(s) last; an SVID chain carries leaf and intermediates only.
        List<X509Certificate> chain = new ArrayList<>(all.size());
        List<X509Certificate> sentRoots = new ArrayList<>();
        chain.add(all.get(0));
        for (X509Certificate c : all.subList(1, all.size())) {
            if (!selfSigned(c)) {
                chain.add(c);
            } else {
                sentRoots.add(c);
            }
        }
        // The newer root_cert field (istio/api ca.proto Roots), from servers that fill it.
        for (String pem : response.rootCerts()) {
            sentRoots.addAll(Pem.parseCertificates(pem));
        }
        SpiffeId got = X509.spiffeId(chain.get(0));
        if (!got.equals(id)) {
            throw new GeneralSecurityException("leaf names " + got + ", not the requested " + id);
        }
        if (!chain.get(0).getPublicKey().equals(keys.getPublic())) {
            // Typed: ztunnel stores such an answer (src/identity/caclient.rs checks no key) and rustls then refuses the pair
            // for each outbound connection, a TLS error (TLS_FAILURE), not an identity one; mesh-core counts it so.
            throw new io.zerohop.identity.SvidKeyMismatchException("leaf is not for the key of this request");
        }
        X509Certificate[] path = chain.toArray(new X509Certificate[0]);
        try {
            SvidVerifier.verify(path, bundle(id, meshRoots), Date.from(now));
        } catch (CertificateException e) {
            for (X509Certificate sent : sentRoots) {
                if (!meshRoots.contains(sent) && verifies(path, id, sent, now)) {
                    throw new UnknownRootException(e.getMessage(), sent, e);
                }
            }
            throw e;
        }
        return Svids.of(chain, keys.getPrivate());
    }

    private static X509BundleSet bundle(SpiffeId id, List<X509Certificate> roots) {
        return X509BundleSet.of(List.of(new X509Bundle(id.getTrustDomain(), new HashSet<>(roots))));
    }

    private static boolean verifies(X509Certificate[] path, SpiffeId id, X509Certificate root, Instant now) {
        try {
            SvidVerifier.verify(path, bundle(id, List.of(root)), Date.from(now));
            return true;
        } catch (CertificateException e) {
            return false;
        }
    }

    private static boolean selfSigned(X509Certificate c) {
        if (!c.getSubjectX500Principal().equals(c.getIssuerX500Principal())) {
            return false;
        }
        try {
            c.verify(c.getPublicKey());
            return true;
        } catch (GeneralSecurityException e) {
            return false;
        }
    }
}
