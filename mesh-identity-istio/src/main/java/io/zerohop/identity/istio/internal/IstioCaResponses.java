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
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashSet;
import java.util.List;

/** Turns the Istio CA's {@code CreateCertificate} answer into an SVID, checking it first. */
public final class IstioCaResponses {
    private IstioCaResponses() {}

    /**
     * The SVID for {@code keys} from {@code response}: the chain without its self-signed root(s), whose
     * leaf names {@code id}, holds the request's public key and verifies against {@code meshRoots} at {@code now}.
     *
     * @throws GeneralSecurityException (or a RuntimeException from parsing) saying what is wrong
     */
    public static X509Svid toSvid(SpiffeId id, KeyPair keys, CertificateResponse response,
            List<X509Certificate> meshRoots, Instant now) throws GeneralSecurityException {
        List<X509Certificate> all = new ArrayList<>();
        for (String pem : response.certChain()) {
            all.addAll(Pem.parseCertificates(pem));
        }
        if (all.isEmpty()) {
            throw new GeneralSecurityException("empty certificate chain");
        }
        // Istio appends the root(s) last; an SVID chain carries leaf and intermediates only.
        List<X509Certificate> chain = new ArrayList<>(all.size());
        chain.add(all.get(0));
        for (X509Certificate c : all.subList(1, all.size())) {
            if (!selfSigned(c)) {
                chain.add(c);
            }
        }
        SpiffeId got = X509.spiffeId(chain.get(0));
        if (!got.equals(id)) {
            throw new GeneralSecurityException("leaf names " + got + ", not the requested " + id);
        }
        if (!chain.get(0).getPublicKey().equals(keys.getPublic())) {
            throw new GeneralSecurityException("leaf is not for the key of this request");
        }
        X509BundleSet bundles = X509BundleSet.of(List.of(new X509Bundle(id.getTrustDomain(), new HashSet<>(meshRoots))));
        SvidVerifier.verify(chain.toArray(new X509Certificate[0]), bundles, Date.from(now));
        return Svids.of(chain, keys.getPrivate());
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
