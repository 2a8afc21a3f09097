package io.zerohop.identity.internal;

import io.netty.handler.ssl.OpenSslCertificateException;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.internal.tcnative.CertificateVerifier;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.exception.BundleNotFoundException;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
import io.zerohop.identity.CrlFile;
import io.zerohop.identity.SvidVerifier;
import java.net.Socket;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Set;
import java.util.function.Supplier;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Trust decisions for both sides of an mTLS handshake. Bundles are read at each handshake, so a
 * rotated bundle applies to the next connection without rebuilding any SSL context.
 *
 * <p>The TLS alert a refusal sends is ztunnel's (rustls' {@code AlertDescription} from the
 * {@code CertificateError} ztunnel's verifiers return, istio/ztunnel {@code src/tls/workload.rs}):
 * an identity outside the expected set or the local trust domain is {@code certificate_unknown}
 * ({@code CertificateError::Other(SanError | SanTrustDomainError)}), a chain no bundle vouches for
 * is {@code unknown_ca} ({@code UnknownIssuer}), an expired certificate {@code certificate_expired},
 * any other SVID rule {@code certificate_unknown} ({@code Other}). On BoringSSL the alert follows
 * from the X.509 error code handed back to netty-tcnative ({@code SSL_alert_from_verify_result});
 * a plain {@link CertificateException} would be {@code X509_V_ERR_UNSPECIFIED}, which BoringSSL
 * sends as {@code internal_error}, so the peer's log would blame itself.
 */
public final class SpiffeTrustManager extends X509ExtendedTrustManager {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(SpiffeTrustManager.class);
    private static final X509Certificate[] NO_ISSUERS = new X509Certificate[0];

    private final Supplier<X509BundleSet> bundles;
    private final Set<SpiffeId> expected;
    private final TrustDomain localDomain;
    /** Null: no CRLs. */
    private final CrlFile crls;
    /** This side's identity, named in a revocation's log line; null when not known. */
    private final SpiffeId self;
    /** Told the peer's role each time a peer is refused for a revoked certificate; null: nobody. */
    private final java.util.function.Consumer<SvidVerifier.Purpose> onRevoked;
    /** Bounds the refusal lines a revoked peer causes by retrying; shared by every trust manager of one MeshTls. */
    private final LogBudget refusalLog;

    /**
     * {@code expected} empty: any identity that chains to its own domain's bundle. {@code localDomain}
     * non-null: only peers of that trust domain (no federation); null: any domain with a bundle.
     */
    public SpiffeTrustManager(Supplier<X509BundleSet> bundles, Set<SpiffeId> expected, TrustDomain localDomain) {
        this(bundles, expected, localDomain, null, null, null, new LogBudget());
    }

    /**
     * With {@code crls} (null: none) applied to every peer chain; {@code self} is named when a peer is refused as revoked,
     * in at most as many lines as {@code refusalLog} admits.
     */
    public SpiffeTrustManager(Supplier<X509BundleSet> bundles, Set<SpiffeId> expected, TrustDomain localDomain, CrlFile crls,
                              SpiffeId self, java.util.function.Consumer<SvidVerifier.Purpose> onRevoked, LogBudget refusalLog) {
        this.onRevoked = onRevoked;
        this.refusalLog = java.util.Objects.requireNonNull(refusalLog, "refusalLog");
        this.bundles = bundles;
        this.expected = Set.copyOf(expected);
        this.localDomain = localDomain;
        this.crls = crls;
        this.self = self;
    }

    /** A verified SVID whose identity is not one this side accepts. */
    private static final class IdentityMismatch extends CertificateException {
        private static final long serialVersionUID = 1L;

        IdentityMismatch(String message) {
            super(message);
        }
    }

    private void check(X509Certificate[] chain, SvidVerifier.Purpose purpose) throws CertificateException {
        SpiffeId id;
        try {
            id = SvidVerifier.verify(chain, bundles.get(), new java.util.Date(), purpose, crls);
        } catch (CertificateException e) {
            if (Revocations.isRevoked(e)) {
                // One line naming both ends, as ztunnel's access log names both when a handshake fails on a revoked
                // certificate (its crl_policy_rejections counts it); the peer's ID is read from its leaf unverified,
                // which is only for the log.
                // Bounded (LogBudget): a revoked peer that retries at once would otherwise write a line per handshake.
                long dropped = refusalLog.admit();
                if (dropped >= 0) {
                    log.warn("CRL: refused {} peer {} of {}: {}{}", purpose == SvidVerifier.Purpose.CLIENT_AUTH ? "inbound" : "outbound",
                            Revocations.claimedId(chain), self == null ? "this workload" : self, e.getMessage(), LogBudget.note(dropped));
                }
                if (onRevoked != null) {
                    onRevoked.accept(purpose);
                }
            }
            throw e;
        }
        if (localDomain != null && !localDomain.equals(id.getTrustDomain())) {
            throw new IdentityMismatch(id + ": trust domain " + id.getTrustDomain() + " is not the local trust domain "
                    + localDomain + " and federation is off (Mesh.Builder.federation(true), or MeshTls.Builder.federation(true)"
                    + " without a Mesh, accepts federated domains)");
        }
        if (!expected.isEmpty() && !expected.contains(id)) {
            throw new IdentityMismatch("peer identity " + id + " is not the expected "
                    + (expected.size() == 1 ? expected.iterator().next() : "one of " + expected));
        }
    }

    /**
     * The engines whose peer chain a trust manager verified in this process (weakly held; an engine has identity
     * equality): a handshake that resumed a session calls no trust manager, so {@code MeshTls.verifiedPeerIdentity}
     * verifies again the peer of an engine not in here. Sessions are not used: a resumed session may equal the one it
     * resumes (session ids). Netty's JDK engine is a wrapper around the engine the JDK hands the trust manager, so with
     * the JDK provider every peer is verified twice, once here and once there (the fallback provider; BoringSSL's
     * engine is the one the trust manager sees).
     */
    private static final Set<SSLEngine> VERIFIED =
            java.util.Collections.synchronizedSet(java.util.Collections.newSetFromMap(new java.util.WeakHashMap<>()));

    /**
     * The CRL set in force when a trust manager began verifying {@code engine}'s peer (weakly held): a live connection is
     * checked again when it is registered for revocation and the set has changed since (a reload between the handshake
     * and the registration would otherwise be missed, ztunnel's {@code revoked_after_reload}).
     */
    private static final java.util.Map<SSLEngine, Object> VERIFIED_WITH =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /**
     * The CRLs ({@link CrlFile#crls()}, the same list object until a reload) {@code engine}'s peer was verified with at
     * its handshake; null when not verified here with CRLs.
     */
    public static Object verifiedWith(SSLEngine engine) {
        return VERIFIED_WITH.get(engine);
    }

    /** Records that {@code engine}'s peer was verified with {@code crls} (a resumed session verified outside a trust manager). */
    public static void verifiedWith(SSLEngine engine, Object crls) {
        VERIFIED_WITH.put(engine, crls);
    }

    /** Whether a trust manager verified {@code engine}'s peer chain in its handshake (false for a resumed session). */
    public static boolean verified(SSLEngine engine) {
        return VERIFIED.contains(engine);
    }

    /** {@link #check(X509Certificate[], SvidVerifier.Purpose)}, its refusal carrying the X.509 error code of ztunnel's alert on BoringSSL. */
    private void check(X509Certificate[] chain, SvidVerifier.Purpose purpose, SSLEngine engine) throws CertificateException {
        try {
            // The set's list is one object per reload, so its identity tells whether a reload came in between.
            Object before = crls == null ? null : crls.crls();
            check(chain, purpose);
            VERIFIED.add(engine);
            if (before != null) {
                VERIFIED_WITH.put(engine, before);
            }
        } catch (CertificateException e) {
            if (!(engine instanceof ReferenceCountedOpenSslEngine)) {
                throw e; // the JDK's engine picks the alert itself
            }
            int code = errorCode(e);
            // e's own cause, not e: the logs print each cause's message, and e's is the same as this one's.
            throw code == CertificateVerifier.X509_V_OK ? e : new OpenSslCertificateException(e.getMessage(), e.getCause(), code);
        }
    }

    /** The X.509 error code whose BoringSSL alert is ztunnel's for {@code e}; X509_V_OK: netty's own mapping is right. */
    private static int errorCode(CertificateException e) {
        if (e instanceof java.security.cert.CertificateExpiredException || e instanceof java.security.cert.CertificateNotYetValidException) {
            return CertificateVerifier.X509_V_OK; // netty: certificate_expired, as rustls' Expired / NotValidYet
        }
        Throwable cause = e.getCause();
        if (cause instanceof CertPathValidatorException p) {
            CertPathValidatorException.Reason r = p.getReason();
            if (r == CertPathValidatorException.BasicReason.EXPIRED || r == CertPathValidatorException.BasicReason.NOT_YET_VALID
                    || r == CertPathValidatorException.BasicReason.REVOKED) {
                return CertificateVerifier.X509_V_OK; // netty maps these reasons: certificate_expired / certificate_revoked
            }
            return CertificateVerifier.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY; // unknown_ca
        }
        if (cause instanceof BundleNotFoundException) {
            return CertificateVerifier.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY; // unknown_ca
        }
        // No X.509 code means "identity not accepted"; a name-constraint violation is the nearest, and
        // BoringSSL sends every code it does not list as certificate_unknown.
        return CertificateVerifier.X509_V_ERR_PERMITTED_VIOLATION;
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        check(chain, SvidVerifier.Purpose.CLIENT_AUTH);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        check(chain, SvidVerifier.Purpose.SERVER_AUTH);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        check(chain, SvidVerifier.Purpose.CLIENT_AUTH);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        check(chain, SvidVerifier.Purpose.SERVER_AUTH);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        check(chain, SvidVerifier.Purpose.CLIENT_AUTH, engine);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        check(chain, SvidVerifier.Purpose.SERVER_AUTH, engine);
    }

    /** Empty: advertising every root in CertificateRequest only costs bytes; peers send their SVID anyway. */
    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return NO_ISSUERS;
    }
}
