package io.zerohop.identity;

import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.exception.BundleNotFoundException;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.internal.Crls;
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
 * keyUsage digitalSignature and neither keyCertSign nor cRLSign; every certificate of the path from
 * the leaf to the bundle is a CA with keyCertSign (java-spiffe requires it of every certificate above
 * its own leaf; a peer's certificate that the path does not use is ignored, as webpki and Go's
 * crypto/x509 ignore it). java-spiffe keeps those checks private and tied to a private key, so they
 * are repeated here for peer chains.
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
     * {@link #verify(X509Certificate[], X509BundleSet, Date)}, and every certificate of the path below the trust bundle's
     * root names {@code purpose} in its extendedKeyUsage when it has one (a path that does not is not taken; another one
     * may be). Until 4 December no purpose was checked, so a certificate its CA issued for code signing, or for a server
     * only, authenticated a TLS client (a review pass).
     *
     * @param purpose the role the peer plays in this handshake, not null
     * @throws CertificateException with a message a person can act on
     */
    public static SpiffeId verify(X509Certificate[] chain, X509BundleSet bundles, Date at, Purpose purpose)
            throws CertificateException {
        return X509.spiffeId(verifiedPath(chain, bundles, at, java.util.Objects.requireNonNull(purpose, "purpose"), Crls.NONE).get(0));
    }

    /**
     * {@link #verify(X509Certificate[], X509BundleSet, Date, Purpose)}, and no certificate of the path (leaf and
     * intermediates; not the trust anchor) revoked by {@code crls} as ztunnel checks them ({@link CrlFile}). A path with
     * a revoked certificate is not taken, another one may be, as webpki moves to the next candidate path after a failed
     * one (rustls/webpki {@code src/verify_cert.rs} {@code check_signed_chain}).
     *
     * @param crls the CRL file whose CRLs in force now are applied; null: none
     * @throws CertificateException with a message a person can act on; a revoked certificate's has a
     *     {@link java.security.cert.CertPathValidatorException} of reason {@code REVOKED} as its cause
     */
    public static SpiffeId verify(X509Certificate[] chain, X509BundleSet bundles, Date at, Purpose purpose, CrlFile crls)
            throws CertificateException {
        return X509.spiffeId(verifiedPath(chain, bundles, at, java.util.Objects.requireNonNull(purpose, "purpose"),
                crls == null ? Crls.NONE : crls.current()).get(0));
    }

    /**
     * Returns the verified SPIFFE ID of {@code chain[0]}, whatever TLS role it plays (no extendedKeyUsage check: for a
     * workload's own SVID; a peer's chain is verified with {@link #verify(X509Certificate[], X509BundleSet, Date, Purpose)}).
     * A leaf whose NotBefore is after {@code at} is verified as of its NotBefore rather than refused: its issuer's clock
     * is ahead of this node's (istiod back-dates by 2 minutes, a skew beyond that left a node with no identity on every
     * retry, a review pass), and peers with the issuer's time accept it. ztunnel checks no dates on its own certificate
     * (istio/ztunnel src/tls/certificate.rs {@code WorkloadCertificate::new}); an expired leaf is still refused here.
     *
     * @throws CertificateException with a message a person can act on
     */
    public static SpiffeId verify(X509Certificate[] chain, X509BundleSet bundles, Date at) throws CertificateException {
        if (chain != null && chain.length > 0 && chain[0] != null && chain[0].getNotBefore().after(at)) {
            at = chain[0].getNotBefore();
        }
        return X509.spiffeId(verifiedPath(chain, bundles, at, null, Crls.NONE).get(0));
    }

    /**
     * The path {@code chain} verified along: the leaf and the certificates that sign it up to (not including) a trust
     * anchor of the leaf's trust domain. The chain as sent is tried first; when it does not verify, paths are built from
     * it as RFC 8446 section 4.4.2 asks ("SHOULD be prepared to handle potentially extraneous certificates and arbitrary
     * orderings"): from the leaf, each issuer among the other certificates whose subject is the current issuer's name,
     * every such candidate in turn (a re-keyed intermediate shares its name with the old one), each path tried as soon as
     * a certificate of the bundle (a root, or an intermediate the bundle holds) bears its issuer's name, and the first that
     * passes every check (PKIX signatures and validity, the SVID rules, {@code purpose}) is taken, as webpki under ztunnel
     * moves to the next candidate after a failed one and Go's crypto/x509 under go-spiffe accepts any chain that verifies.
     * The search is bounded ({@link #MAX_DEPTH} certificates, {@link #MAX_INTERMEDIATES} intermediates on any path, {@link #MAX_STEPS} steps), so a chain of decoys costs at most
     * that. A refusal gives the reason of the first path that reached a certificate of the bundle by name, else the chain
     * as sent's. Until 5 December intermediates out of order, an extra certificate, or a bundle holding the intermediate
     * with the chain sent up to the root were refused (a new-user pass).
     *
     * @param purpose the peer's role, checked on the path; null for a workload's own SVID (no extendedKeyUsage check)
     */
    private static List<X509Certificate> verifiedPath(X509Certificate[] chain, X509BundleSet bundles, Date at, Purpose purpose,
                                                      Crls crls)
            throws CertificateException {
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
            return validate(id, chain, sent, roots, at, purpose, crls);
        } catch (CertificateException asSent) {
            Search search = new Search(id, chain, roots, at, purpose, sent, crls);
            List<X509Certificate> path = new java.util.ArrayList<>(List.of(chain[0]));
            List<X509Certificate> found = search.from(path, new boolean[chain.length]);
            if (found != null) {
                return found;
            }
            throw search.firstAnchored != null ? search.firstAnchored : asSent;
        }
    }

    /**
     * The most intermediates a path may hold between the leaf and the trust bundle: rustls' webpki under ztunnel stops at
     * 6 ({@code MAX_SUB_CA_COUNT} in src/verify_cert.rs, {@code Error::MaximumPathDepthExceeded}, which rustls sends as
     * {@code certificate_unknown}), on any path it builds. The JDK's PKIX has no limit (its {@code maxPathLength} is -1),
     * so until 7 December a peer sending its leaf with 7 or more intermediates in order was accepted, and the path search
     * went to 7 (a break-it pass, helper 381, {@code ChainDepthTest}). A workload's own SVID is not held to it (no purpose).
     */
    static final int MAX_INTERMEDIATES = 6;
    /** The most certificates a built path holds, leaf included. */
    static final int MAX_DEPTH = 1 + MAX_INTERMEDIATES;
    /** The most candidates a search looks at before it gives up. */
    static final int MAX_STEPS = 256;
    /**
     * The most paths a search validates (PKIX, each a signature check or more) after the chain as sent. webpki, under
     * ztunnel, stops a verification after 100 signature checks (rustls/webpki src/verify_cert.rs {@code Budget::default});
     * a JDK validation costs far more than a signature, so the bound is lower: until 5 December a client without any
     * key of the mesh made a server run ~258 validations per handshake, 70-150 ms of the event loop, with 8 decoys named
     * as the bundle's root (a review pass, helper 253). A legitimate chain needs a second candidate only where a CA was
     * re-keyed or cross-signed under the same name.
     */
    static final int MAX_VALIDATIONS = 8;
    /** PKIX validations run, for tests of the bound. */
    static final java.util.concurrent.atomic.LongAdder PKIX_RUNS = new java.util.concurrent.atomic.LongAdder();

    /** A depth-first search of the paths {@link #verifiedPath} builds. */
    private static final class Search {
        private final SpiffeId id;
        private final X509Certificate[] chain;
        private final Set<X509Certificate> roots;
        private final Date at;
        private final Purpose purpose;
        private final List<X509Certificate> sent;
        private final Crls crls;
        private int steps;
        private int validations;
        /** The reason of the first path tried that reached a certificate of the bundle by name (other than the sent one). */
        CertificateException firstAnchored;

        Search(SpiffeId id, X509Certificate[] chain, Set<X509Certificate> roots, Date at, Purpose purpose, List<X509Certificate> sent,
               Crls crls) {
            this.crls = crls;
            this.id = id;
            this.chain = chain;
            this.roots = roots;
            this.at = at;
            this.purpose = purpose;
            this.sent = sent;
        }

        /** A verified path that extends {@code path}, or null; {@code used[i]}: chain[i] is on {@code path}. */
        List<X509Certificate> from(List<X509Certificate> path, boolean[] used) {
            javax.security.auth.x500.X500Principal issuer = path.get(path.size() - 1).getIssuerX500Principal();
            if (roots.stream().anyMatch(r -> r.getSubjectX500Principal().equals(issuer)) && !path.equals(sent)) {
                if (validations++ >= MAX_VALIDATIONS) {
                    steps = MAX_STEPS; // the budget is spent: no other path is tried
                    return null;
                }
                try {
                    return validate(id, chain, List.copyOf(path), roots, at, purpose, crls);
                } catch (CertificateException e) {
                    if (firstAnchored == null) {
                        firstAnchored = e;
                    }
                    // a cross-signed or re-keyed certificate of the same name may still lead to another anchor
                }
            }
            if (path.size() >= MAX_DEPTH) {
                return null;
            }
            for (int i = 1; i < chain.length && steps < MAX_STEPS; i++) {
                X509Certificate c = chain[i];
                if (used[i] || roots.contains(c) || !c.getSubjectX500Principal().equals(issuer)) {
                    continue;
                }
                steps++;
                used[i] = true;
                path.add(c);
                List<X509Certificate> found = from(path, used);
                path.remove(path.size() - 1);
                used[i] = false;
                if (found != null) {
                    return found;
                }
            }
            return null;
        }
    }

    /**
     * {@code path} checked and returned: signing certificates are CAs with keyCertSign, PKIX against {@code roots}, and
     * with {@code purpose} every certificate's extendedKeyUsage names it when present. A certificate is named by its place
     * in {@code chain} as the peer sent it.
     */
    private static List<X509Certificate> validate(SpiffeId id, X509Certificate[] chain, List<X509Certificate> path,
                                                  Set<X509Certificate> roots, Date at, Purpose purpose, Crls crls)
            throws CertificateException {
        // A peer's path only: ztunnel checks nothing of its own chain (src/tls/certificate.rs WorkloadCertificate::new), and
        // a workload whose SVID is deeper (nested SPIRE servers) still reaches Envoy and Go peers, which set no such limit.
        if (purpose != null && path.size() - 1 > MAX_INTERMEDIATES) {
            throw new CertificateException(id + ": chain has " + (path.size() - 1) + " intermediates between the leaf and the trust"
                    + " bundle of " + id.getTrustDomain() + "; ztunnel's TLS (webpki) takes at most " + MAX_INTERMEDIATES
                    + " (MaximumPathDepthExceeded)");
        }
        for (int i = 1; i < path.size(); i++) {
            X509Certificate signer = path.get(i);
            boolean[] sku = signer.getKeyUsage();
            if (signer.getBasicConstraints() == -1) {
                throw new CertificateException(id + ": chain certificate " + sentIndex(chain, signer) + " (" + signer.getSubjectX500Principal()
                        + ") is not a CA; an X.509-SVID signing certificate must have basicConstraints CA=true");
            }
            if (sku == null || sku.length <= 5 || !sku[5]) {
                throw new CertificateException(id + ": chain certificate " + sentIndex(chain, signer) + " (" + signer.getSubjectX500Principal()
                        + ") lacks keyUsage keyCertSign");
            }
        }
        if (purpose != null) {
            for (X509Certificate c : path) {
                List<String> eku = c.getExtendedKeyUsage();
                if (eku != null && !eku.contains(purpose.oid)) {
                    throw new CertificateException(id + ": " + (c == path.get(0) ? "leaf" : "chain certificate " + sentIndex(chain, c) + " ("
                            + c.getSubjectX500Principal() + ")") + " has extendedKeyUsage " + eku + " without "
                            + purpose.label + " (" + purpose.oid + "), so it may not authenticate a TLS "
                            + (purpose == Purpose.CLIENT_AUTH ? "client" : "server") + " (X509-SVID section 4.4)");
                }
            }
        }
        X509Certificate anchor;
        try {
            Set<TrustAnchor> anchors = new HashSet<>(roots.size() * 2);
            for (X509Certificate r : roots) {
                anchors.add(new TrustAnchor(r, null));
            }
            PKIXParameters params = new PKIXParameters(anchors);
            params.setRevocationEnabled(false);
            params.setDate(at);
            CertPath certPath = CertificateFactory.getInstance("X.509").generateCertPath(path);
            PKIX_RUNS.increment();
            java.security.cert.PKIXCertPathValidatorResult result =
                    (java.security.cert.PKIXCertPathValidatorResult) CertPathValidator.getInstance("PKIX").validate(certPath, params);
            algorithms(id, chain, path, result.getTrustAnchor().getTrustedCert());
            anchor = result.getTrustAnchor().getTrustedCert();
        } catch (CertPathValidatorException e) {
            throw new CertificateException(id + ": chain does not verify against the trust bundle of "
                    + id.getTrustDomain() + ": " + e.getMessage(), e);
        } catch (GeneralSecurityException e) {
            throw new CertificateException(id + ": chain verification failed: " + e.getMessage(), e);
        }
        try {
            crls.check(path, anchor);
        } catch (CertificateException e) {
            throw new CertificateException(id + ": " + e.getMessage(), e.getCause() != null ? e.getCause() : e);
        }
        return path;
    }

    /**
     * The signature algorithms and keys ztunnel's TLS accepts, on every signature of {@code path} and every key that makes
     * one (the leaf's own signs the handshake): rustls' aws-lc-rs provider's {@code SUPPORTED_SIG_ALGS}
     * (rustls/src/crypto/aws_lc_rs/mod.rs), webpki's algorithms (src/aws_lc_rs_algs.rs): ECDSA with SHA-256 or SHA-384 by
     * a P-256, P-384 or P-521 key, SHA-512 by a P-521 key; RSA PKCS#1 v1.5 or PSS with SHA-256, -384 or -512 by a key of
     * 2048 to 8192 bits; Ed25519. So no SHA-1 or MD5 and no RSA key under 2048 bits, which the JDK's PKIX accepts under a
     * root of the mesh's own (its {@code jdk.certpath.disabledAlgorithms} bans SHA-1 only under the JDK's own CAs): until
     * 5 December such a peer was accepted (a review pass, helper 253). The root's own self-signature is not read, as
     * webpki does not.
     */
    private static void algorithms(SpiffeId id, X509Certificate[] chain, List<X509Certificate> path, X509Certificate anchor)
            throws CertificateException {
        for (int i = 0; i < path.size(); i++) {
            X509Certificate c = path.get(i);
            java.security.PublicKey signer = i + 1 < path.size() ? path.get(i + 1).getPublicKey() : anchor.getPublicKey();
            String what = i == 0 ? "leaf" : "chain certificate " + sentIndex(chain, c) + " (" + c.getSubjectX500Principal() + ")";
            String why = signatureProblem(c.getSigAlgOID(), signer);
            if (why == null && RSA_PSS.equals(c.getSigAlgOID())) {
                why = pssProblem(c.getSigAlgParams());
            }
            if (why != null) {
                throw new CertificateException(id + ": " + what + " is signed with " + c.getSigAlgName() + ": " + why);
            }
            if (i == 0 && (why = keyProblem(c.getPublicKey())) != null) {
                throw new CertificateException(id + ": leaf key " + why);
            }
        }
    }

    private static final String ECDSA_SHA256 = "1.2.840.10045.4.3.2", ECDSA_SHA384 = "1.2.840.10045.4.3.3",
            ECDSA_SHA512 = "1.2.840.10045.4.3.4", RSA_SHA256 = "1.2.840.113549.1.1.11", RSA_SHA384 = "1.2.840.113549.1.1.12",
            RSA_SHA512 = "1.2.840.113549.1.1.13", RSA_PSS = "1.2.840.113549.1.1.10", ED25519 = "1.3.101.112";

    /** Why a signature of algorithm {@code oid} by {@code signer} is not one ztunnel accepts, or null. */
    static String signatureProblem(String oid, java.security.PublicKey signer) {
        String key = keyProblem(signer);
        if (key != null) {
            return "its signer's key " + key;
        }
        boolean ec = signer instanceof java.security.interfaces.ECPublicKey;
        boolean rsa = signer instanceof java.security.interfaces.RSAPublicKey;
        boolean ok = switch (oid) {
            case ECDSA_SHA256, ECDSA_SHA384 -> ec;
            case ECDSA_SHA512 -> ec && ((java.security.interfaces.ECPublicKey) signer).getParams().getCurve().getField().getFieldSize() == 521;
            case RSA_SHA256, RSA_SHA384, RSA_SHA512, RSA_PSS -> rsa;
            case ED25519 -> !ec && !rsa;
            default -> false;
        };
        return ok ? null : "not an algorithm ztunnel's TLS accepts (ECDSA with SHA-256/384, or SHA-512 by a P-521 key; RSA"
                + " PKCS#1 or PSS with SHA-256/384/512; Ed25519: rustls' SUPPORTED_SIG_ALGS), so no SHA-1 or MD5";
    }

    /**
     * Why RSASSA-PSS parameters {@code der} are not ones webpki takes, or null: SHA-256, SHA-384 or SHA-512, MGF1 with the
     * same hash, and a salt as long as the hash (webpki's {@code RSA_PSS_2048_8192_SHA256_LEGACY_KEY} and its kin take
     * only these encodings). A new-user pass (helper 257) had a leaf signed PSS with SHA-1 accepted, on either side.
     */
    static String pssProblem(byte[] der) {
        java.security.spec.PSSParameterSpec spec;
        try {
            java.security.AlgorithmParameters params = java.security.AlgorithmParameters.getInstance("RSASSA-PSS");
            params.init(der);
            spec = params.getParameterSpec(java.security.spec.PSSParameterSpec.class);
        } catch (GeneralSecurityException | java.io.IOException | RuntimeException e) {
            return "RSASSA-PSS parameters that do not parse (" + e.getMessage() + ")";
        }
        String hash = spec.getDigestAlgorithm().replace("-", "").toUpperCase(java.util.Locale.ROOT);
        int bytes = switch (hash) {
            case "SHA256" -> 32;
            case "SHA384" -> 48;
            case "SHA512" -> 64;
            default -> -1;
        };
        String mgfHash = spec.getMGFParameters() instanceof java.security.spec.MGF1ParameterSpec m
                ? m.getDigestAlgorithm().replace("-", "").toUpperCase(java.util.Locale.ROOT) : null;
        if (bytes < 0 || !"MGF1".equalsIgnoreCase(spec.getMGFAlgorithm()) || !hash.equals(mgfHash) || spec.getSaltLength() != bytes) {
            return "RSASSA-PSS with " + spec.getDigestAlgorithm() + ", " + spec.getMGFAlgorithm() + (mgfHash == null ? "" : " " + mgfHash)
                    + " and a " + spec.getSaltLength() + "-byte salt, which ztunnel's TLS does not accept (SHA-256, -384 or -512,"
                    + " MGF1 with the same hash, a salt as long as the hash)";
        }
        return null;
    }

    /** Why {@code key} may make no signature ztunnel accepts, or null: P-256, P-384, P-521, RSA of 2048 to 8192 bits, Ed25519. */
    static String keyProblem(java.security.PublicKey key) {
        if (key instanceof java.security.interfaces.ECPublicKey ec) {
            int bits = ec.getParams().getCurve().getField().getFieldSize();
            return bits == 256 || bits == 384 || bits == 521 ? null
                    : "is an EC key on a " + bits + "-bit curve (ztunnel's TLS takes P-256, P-384 and P-521)";
        }
        if (key instanceof java.security.interfaces.RSAPublicKey rsa) {
            int bits = rsa.getModulus().bitLength();
            return bits >= 2048 && bits <= 8192 ? null
                    : "is a " + bits + "-bit RSA key (ztunnel's TLS takes 2048 to 8192 bits)";
        }
        return "Ed25519".equals(key.getAlgorithm()) || "EdDSA".equals(key.getAlgorithm()) ? null
                : "is a " + key.getAlgorithm() + " key (ztunnel's TLS takes ECDSA, RSA and Ed25519)";
    }

    private static int sentIndex(X509Certificate[] chain, X509Certificate c) {
        for (int i = 0; i < chain.length; i++) {
            if (chain[i] == c) {
                return i;
            }
        }
        return -1;
    }

    public static SpiffeId verify(X509Certificate[] chain, X509BundleSet bundles) throws CertificateException {
        return verify(chain, bundles, new Date());
    }
}
