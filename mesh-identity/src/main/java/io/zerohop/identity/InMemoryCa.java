package io.zerohop.identity;

import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.exception.X509SvidException;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.internal.X509;
import io.zerohop.identity.internal.ListenerSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;

/**
 * A real certificate authority held in memory: ECDSA P-256 root, optional intermediate, X.509-SVID
 * leaves. Tests, the demo and {@code zerohop ca} use it; it is also a node-mode
 * {@link IdentityProvider} that issues an SVID for any identity of its trust domain on first use
 * and re-issues it past half its lifetime.
 *
 * <p>Root rotation follows SPIRE's shape: {@link #rotateRoot()} starts signing with a new root while
 * the bundle holds old and new, so peers holding either keep verifying; {@link #retireOldRoots()}
 * drops the old ones once every SVID has rolled. {@link #save} and {@link #load} keep a rotation under way: the
 * loaded CA signs with the new root and trusts the old ones until it retires them.
 *
 * <h2>Workload certificates, as istiod's CA issues them</h2>
 * What {@link #issue(SpiffeId, Duration)}, {@link #signCsr} and the provider mode sign has the shape of a
 * workload certificate from Istio's CA (istio/istio {@code security/pkg/pki/util/generate_cert.go}
 * {@code genCertTemplateFromCSR}, called by {@code security/pkg/pki/ca/ca.go} {@code IstioCA.sign}), so peers
 * and anything reading the certificate (an XFCC header's {@code Subject=""}, a log, a policy on the subject)
 * see what a real mesh gives them. Property by property:
 * <ul>
 * <li><b>Subject: empty</b> (an empty SEQUENCE), as Istio's; SPIFFE X509-SVID §2 allows omitting it. Until
 *     2 December 2026 it was {@code O=<trust domain>}, which Envoy printed as {@code Subject="O=cluster.local"}.
 *     Istio puts a CN (the first SAN) only when the CSR asks for one ("dual use", {@code DualUseCommonName});
 *     zerohop's and ztunnel's CSRs carry no subject, so that legacy option is not followed: the CSR's subject
 *     is ignored.</li>
 * <li><b>Subject alternative name: critical</b>, one URI, the SPIFFE ID (RFC 5280 §4.2.1.6 requires critical
 *     with an empty subject; Istio's {@code san.go BuildSANExtension} always marks it so; X509-SVID §2).</li>
 * <li><b>Key usage: critical, digitalSignature and keyEncipherment</b>, as Istio's (X509-SVID §4.3: MUST
 *     digitalSignature, MAY keyEncipherment, MUST NOT keyCertSign or cRLSign).</li>
 * <li><b>Extended key usage: serverAuth and clientAuth, not critical</b>, as Istio's (X509-SVID §4.4).</li>
 * <li><b>Basic constraints: critical, CA:FALSE</b>, as Go writes Istio's ({@code BasicConstraintsValid};
 *     X509-SVID §4.1).</li>
 * <li><b>Validity: from {@link #BACKDATE} (2 minutes, Istio's {@code ClockSkewGracePeriod}) before now to now
 *     plus the TTL, cut to the signing certificate's NotAfter</b>, and nothing is signed once the signing
 *     certificate has expired (an {@link IllegalStateException} naming it; {@link #rotateRoot()} makes a new
 *     one), as Istio's since its TTL clamping. {@link #issue(LeafSpec)} signs exactly the validity it is
 *     given.</li>
 * <li><b>Serial: not Istio's exactly.</b> Istio draws uniformly below 2^128 (zero possible, up to 17 octets);
 *     zerohop keeps 127 random bits plus one (positive, at most 16 octets, RFC 5280 §4.1.2.2). Nobody can tell
 *     the two apart.</li>
 * <li><b>Subject key identifier: kept, unlike Istio's.</b> Go writes one only on CA certificates, so Istio's
 *     leaves have none; RFC 5280 §4.2.1.2 says a leaf SHOULD have one, and no peer reads it. The authority key
 *     identifier is there as on Istio's, the issuer's key id alone (as Go writes it; until 3 December 2026 it
 *     carried the issuer's name and serial too).</li>
 * <li>Key and signature: ECDSA P-256 keys (ztunnel's CSRs too), signed SHA256withECDSA, X.509 v3.</li>
 * </ul>
 * The root and intermediate stay zerohop's: subject {@code O=<trust domain>, CN=zerohop root <epoch>}, the trust
 * domain's SPIFFE ID as a non-critical URI SAN (X509-SVID §3 SHOULD; {@link #load} reads the trust domain from
 * it), keyCertSign and cRLSign. Istio's self-signed root has {@code O=<trust domain>}, no SAN and keyCertSign
 * only; peers only chain to it, so the difference is not worth losing the SAN.
 */
public final class InMemoryCa implements IdentityProvider {
    /**
     * Leaves (and the CA certificates) are back-dated by this much so a peer whose clock is slightly behind
     * accepts them: Istio's {@code ClockSkewGracePeriod} (security/pkg/pki/util/generate_cert.go).
     */
    static final Duration BACKDATE = Duration.ofMinutes(2);

    /**
     * The latest NotAfter of the CA's own certificates: {@code 99991231235959Z}, which RFC 5280 §4.1.2.5 assigns to a
     * certificate with "no well-defined expiration date", and the last second X.509 can encode. A longer
     * {@link Builder#caTtl} is cut to it.
     */
    // 9999-12-31T23:59:59Z as epoch seconds: Instant.parse would load java.time's formatters at every start of the
    // proxy (StartFootprintTest keeps DateTimeFormatter out of the start-up classes).
    static final Instant MAX_CA_NOT_AFTER = Instant.ofEpochSecond(253_402_300_799L);

    /** The workload leaves' subject: none, as istiod's (see the class comment). */
    private static final X500Name LEAF_SUBJECT = new X500Name(new RDN[0]);

    private record Signer(X509Certificate cert, PrivateKey key) {}

    private final TrustDomain trustDomain;
    private final boolean withIntermediate;
    private final Duration svidTtl;
    private final Duration caTtl;
    private final Clock clock;
    /** Isolated as the other providers' ({@code PemFileIdentityProvider}, {@code CertificateManager}): a listener that throws is logged and the next one still hears. */
    private final ListenerSet listeners = new ListenerSet();
    private final Map<SpiffeId, X509Svid> issued = new ConcurrentHashMap<>();
    private final Set<X509Bundle> federated = ConcurrentHashMap.newKeySet();

    // Guarded by this: the signing chain and the set of trusted roots change together.
    private Signer root;
    private Signer intermediate;
    private final LinkedHashSet<X509Certificate> trustedRoots = new LinkedHashSet<>();
    private volatile boolean closed;

    private void requireOpen(String what) {
        if (closed) {
            throw new IllegalStateException(what + ": this InMemoryCa was closed; build or load a new one");
        }
    }

    /** {@code trusted}: the bundle {@link #load} read, the root among them; null for a new CA (its root alone). */
    private InMemoryCa(Builder b, Signer root, Signer intermediate, List<X509Certificate> trusted) {
        this.trustDomain = b.trustDomain;
        this.withIntermediate = b.intermediate;
        this.svidTtl = b.svidTtl;
        this.caTtl = b.caTtl;
        this.clock = b.clock;
        if (root == null) {
            Signer[] chain = newChain();
            root = chain[0];
            intermediate = chain[1];
        }
        this.root = root;
        this.intermediate = intermediate;
        if (trusted != null) {
            trustedRoots.addAll(trusted);
        }
        trustedRoots.add(root.cert());
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A CA for {@code trustDomain} with defaults: no intermediate, 24 h SVIDs. */
    public static InMemoryCa create(String trustDomain) {
        return builder().trustDomain(trustDomain).build();
    }

    public TrustDomain trustDomain() {
        return trustDomain;
    }

    public Duration svidTtl() {
        return svidTtl;
    }

    /** The trusted roots (old and new during a rotation) as a java-spiffe bundle. */
    public synchronized X509Bundle bundle() {
        return new X509Bundle(trustDomain, new HashSet<>(trustedRoots));
    }

    /** The root that signs now. */
    public synchronized X509Certificate root() {
        return root.cert();
    }

    /**
     * Trust another domain's bundle too (SPIFFE federation); providers built on this CA serve it. A bundle for a
     * trust domain already federated replaces it.
     *
     * @throws NullPointerException     {@code bundle must not be null}
     * @throws IllegalArgumentException when {@code bundle} is this CA's own trust domain's
     * @throws IllegalStateException    when this CA was closed
     */
    public void federate(X509Bundle bundle) {
        requireOpen("federate");
        Objects.requireNonNull(bundle, "bundle must not be null");
        if (bundle.getTrustDomain().equals(trustDomain)) {
            throw new IllegalArgumentException("cannot federate with own trust domain " + trustDomain);
        }
        federated.removeIf(b -> b.getTrustDomain().equals(bundle.getTrustDomain()));
        federated.add(bundle);
        fireBundles();
    }

    /**
     * A fresh SVID for {@code id} valid for the configured TTL ({@link Builder#svidTtl}); as
     * {@link #issue(SpiffeId, Duration)}.
     *
     * @throws NullPointerException     {@code id must not be null}
     * @throws IllegalArgumentException when {@code id} is outside this CA's trust domain, has no path or is longer
     *                                  than 2048 bytes (SPIFFE-ID.md 2.3: not generated)
     * @throws IllegalStateException    when the signing certificate has expired, or this CA was closed
     */
    public X509Svid issue(SpiffeId id) {
        return issue(id, svidTtl);
    }

    /**
     * A fresh SVID for {@code id}, valid from two minutes ago ({@link #BACKDATE}, clock skew) for {@code ttl}
     * from now (counted from the next whole second and rounded up, as X.509 counts whole seconds: never shorter), or until the signing certificate expires if that comes first (istiod's clamping): a ttl of any
     * length, {@code ChronoUnit.FOREVER.getDuration()} included, gives an SVID that ends with the signing
     * certificate (to the second, as X.509 counts). For a
     * certificate that is already expired or not yet valid (tests of refusals), use
     * {@link #issue(LeafSpec)}, which signs exactly the validity it is given.
     *
     * @throws NullPointerException     {@code id must not be null}, {@code ttl must not be null}
     * @throws IllegalArgumentException when {@code ttl} is zero or negative (the SVID would be expired
     *                                  on arrival), or {@code id} is outside this CA's trust domain, has no path
     *                                  or is longer than 2048 bytes (SPIFFE-ID.md 2.3: not generated)
     * @throws IllegalStateException    when the signing certificate has expired, or this CA was closed
     */
    public X509Svid issue(SpiffeId id, Duration ttl) {
        requireOpen("issue");
        Objects.requireNonNull(id, "id must not be null");
        requirePositive(ttl);
        requireMember(id);
        KeyPair keys = X509.newP256();
        try {
            return new IssuedCertificate(signWorkload(id, ttl, keys.getPublic()), keys.getPrivate()).toSvid();
        } catch (X509SvidException e) {
            throw new IllegalStateException("issued certificate is not a valid X.509-SVID: " + e.getMessage(), e);
        }
    }

    /**
     * Issues exactly what {@code spec} says, valid X.509-SVID or not.
     *
     * @throws NullPointerException  {@code spec must not be null}
     * @throws IllegalStateException when this CA was closed
     */
    public IssuedCertificate issue(LeafSpec spec) {
        requireOpen("issue");
        Objects.requireNonNull(spec, "spec must not be null");
        KeyPair keys = X509.newP256();
        return new IssuedCertificate(signLeaf(spec, keys.getPublic()), keys.getPrivate());
    }

    /**
     * Signs a PKCS#10 request (DER) whose one URI SAN is a SPIFFE ID of this trust domain; returns
     * the chain leaf first, root excluded. The validity is {@link #issue(SpiffeId, Duration)}'s.
     *
     * @throws NullPointerException       {@code csrDer must not be null}, {@code ttl must not be null}
     * @throws IllegalArgumentException   when {@code ttl} is zero or negative (as {@code issue}), or the request's
     *                                    SPIFFE ID is outside this CA's trust domain or has no path
     * @throws CertificateParsingException when the request is unreadable, its signature wrong, or it has no one
     *                                    SPIFFE ID
     * @throws IllegalStateException      when the signing certificate has expired, or this CA was closed
     */
    public List<X509Certificate> signCsr(byte[] csrDer, Duration ttl) throws CertificateParsingException {
        requireOpen("signCsr");
        Objects.requireNonNull(csrDer, "csrDer must not be null");
        requirePositive(ttl);
        return signCsr(csrDer, Csr.parse(csrDer).spiffeId(), ttl);
    }

    /**
     * Signs the request's public key for {@code subject}, whatever SANs the request names (one, several or none), as
     * istiod's CreateCertificate names the authenticated caller (istio/istio security/pkg/server/ca/server.go) and its
     * CA checks only the request's signature (pki/ca/ca.go {@code sign}). The validity is
     * {@link #issue(SpiffeId, Duration)}'s.
     *
     * @throws NullPointerException       {@code csrDer must not be null}, {@code subject must not be null},
     *                                    {@code ttl must not be null}
     * @throws IllegalArgumentException   when {@code ttl} is zero or negative (as {@code issue}), or {@code subject}
     *                                    is outside this CA's trust domain or has no path
     * @throws CertificateParsingException when the request is unreadable or its signature wrong
     * @throws IllegalStateException      when the signing certificate has expired, or this CA was closed
     */
    public List<X509Certificate> signCsr(byte[] csrDer, SpiffeId subject, Duration ttl) throws CertificateParsingException {
        requireOpen("signCsr");
        // Checked here as issue checks it: a zero ttl signed a certificate expired on arrival, a negative one failed
        // in LeafSpec naming notAfter and notBefore, a null one with the JDK's NPE about amountToAdd (a new-user pass).
        Objects.requireNonNull(csrDer, "csrDer must not be null");
        Objects.requireNonNull(subject, "subject must not be null");
        requirePositive(ttl);
        // Its signature only, as istiod's sign (pki/ca/ca.go): the SANs it asks for, if any, are not what is signed.
        PublicKey key = Csr.publicKey(csrDer);
        requireMember(subject);
        return signWorkload(subject, ttl, key);
    }

    /** The workload ttl check {@code issue} and {@code signCsr} share, with one message. */
    private static void requirePositive(Duration ttl) {
        Objects.requireNonNull(ttl, "ttl must not be null");
        if (ttl.isZero() || ttl.isNegative()) {
            throw new IllegalArgumentException("ttl must be positive, got " + ttl
                    + " (for an expired certificate use issue(LeafSpec.svid(id, notBefore, notAfter)))");
        }
    }

    /**
     * A workload leaf as istiod's {@code genCertTemplateFromCSR}: NotBefore {@link #BACKDATE} before now, NotAfter
     * now plus {@code ttl} cut to the signing certificate's, and nothing once the signing certificate has expired.
     */
    private synchronized List<X509Certificate> signWorkload(SpiffeId id, Duration ttl, PublicKey publicKey) {
        Signer issuer = intermediate != null ? intermediate : root;
        Instant now = clock.instant();
        Instant signerEnd = issuer.cert().getNotAfter().toInstant();
        if (!now.isBefore(signerEnd)) {
            throw new IllegalStateException("cannot issue for " + id + ": the signing certificate (" + (intermediate != null
                    ? "intermediate" : "root") + " " + issuer.cert().getSubjectX500Principal().getName() + ") expired at "
                    + signerEnd + "; rotateRoot() starts signing with a new one");
        }
        // Compared before any addition: now.plus(ChronoUnit.FOREVER.getDuration()) threw "long overflow" where the
        // Javadoc promised the signer's end (a new-user pass).
        // X.509 encodes whole seconds and the encoding truncates: counted from the next whole second instead, so that a
        // leaf is never valid for less than its ttl and its validity is exactly ttl + BACKDATE (until 5 December a ttl
        // under a second gave a leaf that had expired when issued). The signer's end is a whole second already.
        Instant base = ceilSecond(now);
        Instant notAfter = ttl.compareTo(Duration.between(now, signerEnd)) >= 0 ? signerEnd : ceilSecond(base.plus(ttl));
        return signLeaf(LeafSpec.svid(id.toString(), base.minus(BACKDATE), notAfter), publicKey);
    }

    private static Instant ceilSecond(Instant t) {
        return t.getNano() == 0 ? t : Instant.ofEpochSecond(t.getEpochSecond() + 1);
    }

    private synchronized List<X509Certificate> signLeaf(LeafSpec spec, PublicKey publicKey) {
        Signer issuer = intermediate != null ? intermediate : root;
        X509Certificate leaf = X509.sign(LEAF_SUBJECT, publicKey, issuer.cert(), issuer.key(),
                spec.uriSans(), spec.ca(), spec.digitalSignature(), spec.notBefore(), spec.notAfter());
        List<X509Certificate> chain = new ArrayList<>(2);
        chain.add(leaf);
        if (intermediate != null) {
            chain.add(intermediate.cert());
        }
        return chain;
    }

    /** The next cRLNumber this CA writes; CRLs of one issuer must count up (RFC 5280 section 5.2.3). */
    private final java.util.concurrent.atomic.AtomicLong crlNumber = new java.util.concurrent.atomic.AtomicLong(1);

    /**
     * A CRL that {@code issuer}, this CA's current root or intermediate, signs, listing {@code revoked} serials: a v2 CRL
     * with thisUpdate now, {@code nextUpdate}, a cRLNumber one higher than this CA's last, and the issuer's key
     * identifier as authorityKeyIdentifier, what RFC 5280 section 5 requires and webpki under ztunnel accepts
     * ({@code CRL_PATH}, {@link CrlFile}). Write it with {@link Pem#crls}. To revoke a leaf, sign with the CA that
     * issued it (the intermediate when there is one); to revoke the intermediate, with the root.
     *
     * @throws IllegalArgumentException when {@code issuer} is not this CA's current root or intermediate
     */
    public X509CRL crl(X509Certificate issuer, Instant nextUpdate, java.math.BigInteger... revoked) {
        requireOpen("crl");
        Objects.requireNonNull(issuer, "issuer must not be null");
        Objects.requireNonNull(nextUpdate, "nextUpdate must not be null");
        Signer s;
        synchronized (this) {
            s = issuer.equals(root.cert()) ? root : intermediate != null && issuer.equals(intermediate.cert()) ? intermediate : null;
        }
        if (s == null) {
            throw new IllegalArgumentException("cannot sign a CRL for " + issuer.getSubjectX500Principal().getName()
                    + ": not this CA's current root or intermediate");
        }
        Instant now = clock.instant();
        try {
            var b = new org.bouncycastle.cert.X509v2CRLBuilder(
                    X500Name.getInstance(s.cert().getSubjectX500Principal().getEncoded()), java.util.Date.from(now));
            b.setNextUpdate(java.util.Date.from(nextUpdate));
            for (java.math.BigInteger serial : revoked) {
                b.addCRLEntry(serial, java.util.Date.from(now), org.bouncycastle.asn1.x509.CRLReason.keyCompromise);
            }
            b.addExtension(org.bouncycastle.asn1.x509.Extension.cRLNumber, false,
                    new org.bouncycastle.asn1.x509.CRLNumber(java.math.BigInteger.valueOf(crlNumber.getAndIncrement())));
            b.addExtension(org.bouncycastle.asn1.x509.Extension.authorityKeyIdentifier, false,
                    new org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils().createAuthorityKeyIdentifier(s.cert().getPublicKey()));
            return new org.bouncycastle.cert.jcajce.JcaX509CRLConverter().getCRL(b.build(X509.signer(s.key())));
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("CRL signing failed: " + e.getMessage(), e);
        }
    }

    /**
     * Starts signing with a new root (and intermediate); the bundle now trusts old and new. SVIDs
     * this CA serves as a provider are re-issued under the new root and listeners told.
     */
    public void rotateRoot() {
        requireOpen("rotateRoot");
        synchronized (this) {
            Signer[] chain = newChain();
            root = chain[0];
            intermediate = chain[1];
            trustedRoots.add(root.cert());
        }
        fireBundles();
        for (SpiffeId id : List.copyOf(issued.keySet())) {
            reissue(id);
        }
    }

    /** Trusts only the current root from now on. */
    public void retireOldRoots() {
        requireOpen("retireOldRoots");
        synchronized (this) {
            trustedRoots.retainAll(Set.of(root.cert()));
        }
        fireBundles();
    }

    private Signer[] newChain() {
        // Back-dated for a peer's clock, but caTtl counts from now: a short caTtl (tests) must not start expired
        // (newuser28: caTtl(30s) built a CA whose root had ended 90 s before).
        Instant current = clock.instant();
        Instant now = current.minus(BACKDATE);
        // Cut before any addition: current.plus(ChronoUnit.FOREVER.getDuration()) threw "long overflow", and a caTtl
        // past the year 9999 failed as "certificate time out of range" (a new-user pass).
        Instant end = caTtl.compareTo(Duration.between(current, MAX_CA_NOT_AFTER)) >= 0 ? MAX_CA_NOT_AFTER : current.plus(caTtl);
        KeyPair rootKeys = X509.newP256();
        X500Name rootName = new X500Name("O=" + trustDomain.getName() + ",CN=zerohop root " + now.getEpochSecond());
        String tdId = trustDomain.newSpiffeId().toString();
        X509Certificate rootCert = X509.sign(rootName, rootKeys.getPublic(), null, rootKeys.getPrivate(),
                List.of(tdId), true, false, now, end);
        Signer r = new Signer(rootCert, rootKeys.getPrivate());
        if (!withIntermediate) {
            return new Signer[] {r, null};
        }
        KeyPair interKeys = X509.newP256();
        X509Certificate interCert = X509.sign(
                new X500Name("O=" + trustDomain.getName() + ",CN=zerohop intermediate " + now.getEpochSecond()),
                interKeys.getPublic(), rootCert, rootKeys.getPrivate(), List.of(tdId), true, false, now, end);
        return new Signer[] {r, new Signer(interCert, interKeys.getPrivate())};
    }

    private void requireMember(SpiffeId id) {
        if (!id.memberOf(trustDomain)) {
            throw new IllegalArgumentException(id + " is not in trust domain " + trustDomain + " of this CA");
        }
        if (id.getPath().isEmpty()) {
            // An X509-SVID's ID must have a path (SPIFFE X509-SVID spec 2): the certificate would be refused anyway.
            throw new IllegalArgumentException(id + " has no path: a workload's SPIFFE ID needs one, such as spiffe://"
                    + trustDomain + "/ns/NS/sa/SA");
        }
        // SPIFFE-ID.md 2.3: implementations SHOULD NOT generate URIs longer than 2048 bytes (and MUST accept up to it).
        // A CA is what generates them; a peer's longer ID is still verified and accepted, as go-spiffe and ztunnel
        // accept it (neither checks a length).
        int bytes = id.toString().length();  // RFC 3986 URIs are ASCII: one byte per char
        if (bytes > MAX_SPIFFE_ID_BYTES) {
            throw new IllegalArgumentException("a SPIFFE ID of " + bytes + " bytes (" + id.toString().substring(0, 40)
                    + "...): over the 2048 the SPIFFE ID spec allows a CA to generate (SPIFFE-ID.md 2.3)");
        }
    }

    /** SPIFFE-ID.md section 2.3: the longest SPIFFE ID implementations must take and should generate. */
    static final int MAX_SPIFFE_ID_BYTES = 2048;

    // ---- IdentityProvider: node mode, any identity of the trust domain ----

    @Override
    public Optional<SpiffeId> defaultIdentity() {
        return Optional.empty();
    }

    /**
     * The SVID held for {@code id}, issued (for {@link Builder#svidTtl}) on first use and re-issued past half its
     * lifetime. Every refusal is a failed future, never a throw: {@link IllegalArgumentException} for an identity
     * outside this CA's trust domain or without a path, {@link IllegalStateException} once the signing certificate
     * expired or this CA was closed.
     *
     * @throws NullPointerException {@code id must not be null}: a caller's bug, not an outcome, thrown as
     *                              {@link CertificateManager#svid} throws it
     */
    @Override
    public CompletableFuture<X509Svid> svid(SpiffeId id) {
        // The one throw: a null id failed with the JDK's NPE about memberOf, though the comment below said this never
        // throws (a new-user pass).
        Objects.requireNonNull(id, "id must not be null");
        try {
            requireOpen("svid(" + id + ")");
            requireMember(id);
        } catch (IllegalArgumentException | IllegalStateException e) {
            return CompletableFuture.failedFuture(e);
        }
        X509Svid current = issued.get(id);
        if (current == null || pastHalfLife(current)) {
            try {
                current = reissue(id);
            } catch (RuntimeException e) {
                // An expired signing certificate: the caller's future says so; nothing but a null id throws.
                return CompletableFuture.failedFuture(e);
            }
        }
        return CompletableFuture.completedFuture(current);
    }

    /**
     * The SVID issued for {@code id} and held ({@code Available}, even past half its lifetime: {@link #svid} re-issues it,
     * this does not); {@code Unavailable} with {@link #svid}'s error for an identity this CA cannot serve or once closed;
     * empty when none was issued yet or it was forgotten. Signs nothing.
     */
    @Override
    public Optional<CertificateState> certificateState(SpiffeId id) {
        Objects.requireNonNull(id, "id must not be null");
        try {
            requireOpen("svid(" + id + ")");
            requireMember(id);
        } catch (IllegalArgumentException | IllegalStateException e) {
            return Optional.of(new CertificateState.Unavailable(e));
        }
        return Optional.ofNullable(issued.get(id)).map(CertificateState.Available::new);
    }

    /**
     * Drops the SVID issued for {@code id} and tells listeners; a later {@link #svid} issues a new one.
     *
     * @throws NullPointerException {@code id must not be null}
     */
    @Override
    public void forget(SpiffeId id) {
        Objects.requireNonNull(id, "id must not be null");
        if (issued.remove(id) != null) {
            listeners.svidForgotten(id);
        }
    }

    /**
     * Past half of the lifetime the SVID was issued for: from its issue (its NotBefore less the {@link #BACKDATE} every
     * leaf of this CA carries) to its NotAfter. Counted from the back-dated NotBefore, an SVID of under 2 minutes was past
     * half when issued, and every {@link #svid} call re-issued it (a lifecycle pass, helper 231).
     */
    private boolean pastHalfLife(X509Svid svid) {
        long from = svid.getLeaf().getNotBefore().getTime() + BACKDATE.toMillis();
        long to = svid.getLeaf().getNotAfter().getTime();
        return clock.millis() > from + (to - from) / 2;
    }

    private X509Svid reissue(SpiffeId id) {
        X509Svid fresh = issue(id);
        issued.put(id, fresh);
        listeners.svidRotated(fresh);
        return fresh;
    }

    @Override
    public X509BundleSet bundles() {
        List<X509Bundle> all = new ArrayList<>(federated);
        all.add(bundle());
        return X509BundleSet.of(all);
    }

    private void fireBundles() {
        X509BundleSet set = bundles();
        listeners.bundlesChanged(set);
    }

    @Override
    public void addListener(IdentityListener listener) {
        listeners.add(listener);
    }

    @Override
    public void removeListener(IdentityListener listener) {
        listeners.remove(listener);
    }

    /**
     * Forgets its listeners and stops signing; terminal. From then on {@code issue}, {@code signCsr},
     * {@code svid}, {@code rotateRoot}, {@code retireOldRoots} and {@code federate} fail with an
     * {@link IllegalStateException} saying this InMemoryCa was closed ({@code svid} as a failed
     * future); before, they went on signing. What it already issued stays valid, and the read-only
     * accessors ({@link #bundle()}, {@link #bundles()}, {@link #root()}, {@code save}) still answer, so
     * a drain that reads the bundle after the close does not fail. Idempotent.
     */
    @Override
    public void close() {
        closed = true;
        listeners.clear();
    }

    // ---- persistence for `zerohop ca init` / `ca issue` ----

    /**
     * Writes the CA into {@code dir} (created if missing): {@code root.pem} and {@code root.key}, the root that signs
     * now; {@code intermediate.pem} and {@code intermediate.key} when it has an intermediate; {@code bundle.pem},
     * every root it trusts (during a rotation the old ones, then the new one). Certificates are PEM, keys PKCS#8 PEM
     * (mode 0600 where POSIX); each file is replaced whole (write, then rename), and the intermediate's files of a CA
     * saved there before are deleted when this one has none. {@link #load} reads them back to the same CA. Answers
     * after {@link #close()} too.
     *
     * @throws NullPointerException {@code dir must not be null}
     * @throws IOException          when a file cannot be written
     */
    public synchronized void save(Path dir) throws IOException {
        Objects.requireNonNull(dir, "dir must not be null");
        Pem.write(dir.resolve("root.pem"), Pem.certificates(List.of(root.cert())), false);
        Pem.write(dir.resolve("root.key"), Pem.privateKey(root.key()), true);
        if (intermediate != null) {
            Pem.write(dir.resolve("intermediate.pem"), Pem.certificates(List.of(intermediate.cert())), false);
            Pem.write(dir.resolve("intermediate.key"), Pem.privateKey(intermediate.key()), true);
        } else {
            // An earlier CA's intermediate left in dir (`zerohop ca init --force` without --intermediate over one with
            // it) was loaded as this CA's, and signed SVIDs under a root the bundle no longer holds.
            Files.deleteIfExists(dir.resolve("intermediate.pem"));
            Files.deleteIfExists(dir.resolve("intermediate.key"));
        }
        Pem.write(dir.resolve("bundle.pem"), Pem.certificates(List.copyOf(trustedRoots)), false);
    }

    /**
     * Loads a CA written by {@link #save}: it signs with the root (and intermediate) there and trusts every root in
     * {@code bundle.pem}, so a CA saved during a rotation still accepts the SVIDs its old roots signed, until
     * {@link #retireOldRoots()}. The trust domain is read from the root's URI SAN; {@code caTtl} (the lifetime
     * {@link #rotateRoot()} gives a new root) is the root's own, its NotAfter less its NotBefore and
     * {@link #BACKDATE}, to the second (the default when that is not positive). A directory without
     * {@code bundle.pem} trusts its root alone, as every directory did before that file was read.
     *
     * @param svidTtl the SVIDs' lifetime, as {@link Builder#svidTtl}; positive
     * @throws NullPointerException     {@code dir must not be null}, {@code svidTtl must not be null}
     * @throws IllegalArgumentException when {@code svidTtl} is zero or negative
     * @throws IOException              when a file cannot be read ({@code root.pem}, {@code root.key} missing included)
     * @throws GeneralSecurityException when a file does not hold what it should, naming it: not one certificate in
     *                                  {@code root.pem}, no trust domain in its SAN, an unreadable key, a
     *                                  {@code root.key} or {@code intermediate.key} that is not its certificate's, an
     *                                  {@code intermediate.pem} the root did not sign, or a {@code bundle.pem} that does
     *                                  not hold the root of {@code root.pem} (files from two different CAs)
     */
    public static InMemoryCa load(Path dir, Duration svidTtl) throws IOException, GeneralSecurityException {
        Objects.requireNonNull(dir, "dir must not be null");
        Objects.requireNonNull(svidTtl, "svidTtl must not be null");
        Path rootFile = dir.resolve("root.pem");
        X509Certificate rootCert = single(rootFile);
        Signer root = new Signer(rootCert, keyOf(rootCert, rootFile, dir.resolve("root.key")));
        Signer inter = null;
        if (Files.exists(dir.resolve("intermediate.pem"))) {
            Path interFile = dir.resolve("intermediate.pem");
            X509Certificate interCert = single(interFile);
            inter = new Signer(interCert, keyOf(interCert, interFile, dir.resolve("intermediate.key")));
            try {
                inter.cert().verify(rootCert.getPublicKey());
            } catch (GeneralSecurityException e) {
                // Signing under it would issue SVIDs whose chain ends at a root nobody here trusts.
                throw new GeneralSecurityException(interFile + " was not issued by the root in " + rootFile + " ("
                        + rootCert.getSubjectX500Principal().getName() + "): the files are from different CAs", e);
            }
        }
        List<String> sans = X509.uriSans(rootCert);
        if (sans.size() != 1) {
            throw new GeneralSecurityException(rootFile + ": root must carry its trust domain as one URI SAN, found " + sans);
        }
        List<X509Certificate> trusted = trustedRoots(dir.resolve("bundle.pem"), rootFile, rootCert);
        Builder b = builder().trustDomain(SpiffeIds.parse(sans.get(0)).getTrustDomain().getName())
                .intermediate(inter != null).svidTtl(svidTtl);
        // save writes no caTtl: the root carries it. Without this a loaded CA's rotateRoot made 3650-day roots whatever
        // the CA was built with.
        Duration caTtl = Duration.between(rootCert.getNotBefore().toInstant().plus(BACKDATE), rootCert.getNotAfter().toInstant());
        if (caTtl.compareTo(Duration.ZERO) > 0) {
            b.caTtl(caTtl);
        }
        return new InMemoryCa(b, root, inter, trusted);
    }

    /**
     * The private key in {@code keyFile}, which must be {@code cert}'s: a root.key of another CA signed SVIDs that no peer
     * holding root.pem accepts ("signature check failed" at every handshake), while `zerohop ca issue` reported them
     * written and the proxy reported ready (a new-user pass).
     */
    private static java.security.PrivateKey keyOf(X509Certificate cert, Path certFile, Path keyFile)
            throws IOException, GeneralSecurityException {
        java.security.PrivateKey key = Pem.parsePrivateKey(Pem.read(keyFile));
        try {
            io.zerohop.identity.internal.Svids.requireKeyMatches(key, cert);
        } catch (GeneralSecurityException e) {
            throw new GeneralSecurityException(keyFile + " is not the key of the certificate in " + certFile + " ("
                    + cert.getSubjectX500Principal().getName() + "): " + e.getMessage() + "; the files are not a pair (another CA's"
                    + " key, or another key file's of this CA)", e);
        }
        return key;
    }

    /**
     * {@code bundle.pem} as {@link #save} wrote it, in its order. Before, load read root.pem alone: a CA saved during a
     * rotation came back trusting only its new root, and refused every peer still on the old one (a new-user pass).
     */
    private static List<X509Certificate> trustedRoots(Path bundleFile, Path rootFile, X509Certificate rootCert)
            throws IOException, GeneralSecurityException {
        if (!Files.exists(bundleFile)) {
            // A directory made by hand for `zerohop proxy --ca` (root.pem, root.key): load never needed bundle.pem.
            return List.of(rootCert);
        }
        List<X509Certificate> certs;
        try {
            certs = Pem.parseCertificates(Pem.read(bundleFile));
        } catch (CertificateException | IllegalArgumentException e) {
            throw new GeneralSecurityException(bundleFile + ": unreadable certificates: " + e.getMessage(), e);
        }
        if (!certs.contains(rootCert)) {
            // Signing with a root the bundle does not trust would issue SVIDs no peer holding the bundle accepts.
            throw new GeneralSecurityException(bundleFile + " does not hold the root in " + rootFile + " ("
                    + rootCert.getSubjectX500Principal().getName() + "), it holds " + certs.size() + " other certificate(s):"
                    + " the files are from different CAs; write them together (InMemoryCa.save, zerohop ca init) or add the root"
                    + " to " + bundleFile.getFileName());
        }
        return certs;
    }

    private static X509Certificate single(Path file) throws IOException, GeneralSecurityException {
        List<X509Certificate> certs = Pem.parseCertificates(Pem.read(file));
        if (certs.size() != 1) {
            throw new GeneralSecurityException(file + ": expected one certificate, found " + certs.size());
        }
        return certs.get(0);
    }

    public static final class Builder {
        private TrustDomain trustDomain;
        private boolean intermediate;
        private Duration svidTtl = Duration.ofHours(24);
        private Duration caTtl = Duration.ofDays(3650);
        private Clock clock = Clock.systemUTC();

        private Builder() {}

        public Builder trustDomain(String td) {
            // Canonical form, as Mesh.Builder.trustDomain checks it: java-spiffe folded "Cluster.Local", so a CA was made
            // for a trust domain the mesh beside it refuses (a new-user pass).
            this.trustDomain = SpiffeIds.trustDomain(td);
            return this;
        }

        /** Sign leaves with an intermediate CA under the root, as most production CAs do. */
        public Builder intermediate(boolean on) {
            this.intermediate = on;
            return this;
        }

        /**
         * Lifetime of the SVIDs this CA serves as a provider, and of {@link InMemoryCa#issue(SpiffeId)}'s; default
         * 24 h; re-issued past half of it. Cut to the signing certificate's end, as
         * {@link InMemoryCa#issue(SpiffeId, Duration)}'s ttl. X.509 times are whole seconds: a leaf's validity is
         * counted from the issue time rounded up to the next whole second, and ends {@code ttl} later rounded up to a whole
         * second, so it is never shorter than {@code ttl} (a ttl under a second gives a leaf of one to two seconds, never
         * one expired when issued).
         *
         * @throws NullPointerException     {@code svidTtl must not be null}
         * @throws IllegalArgumentException when {@code ttl} is zero or negative
         */
        public Builder svidTtl(Duration ttl) {
            Objects.requireNonNull(ttl, "svidTtl must not be null");
            if (ttl.isNegative() || ttl.isZero()) {
                throw new IllegalArgumentException("svidTtl must be positive, got " + ttl);
            }
            this.svidTtl = ttl;
            return this;
        }

        /**
         * The root's (and intermediate's) validity, counted from now (its NotBefore is back-dated {@link #BACKDATE});
         * default 3650 days; {@link InMemoryCa#rotateRoot()} gives each new root the same. Workload leaves are cut to
         * it (as istiod's), and nothing is issued once it ended. Any length is taken: one that would end after
         * 9999-12-31T23:59:59Z ({@code ChronoUnit.FOREVER.getDuration()}, say) ends then, RFC 5280 §4.1.2.5's
         * NotAfter for a certificate with no well-defined expiration, and the last second X.509 can encode.
         *
         * @throws NullPointerException     {@code caTtl must not be null}
         * @throws IllegalArgumentException when {@code ttl} is zero or negative
         */
        public Builder caTtl(Duration ttl) {
            Objects.requireNonNull(ttl, "caTtl must not be null");
            if (ttl.isNegative() || ttl.isZero()) {
                throw new IllegalArgumentException("caTtl must be positive, got " + ttl);
            }
            this.caTtl = ttl;
            return this;
        }

        /**
         * The clock validity is counted from (default the system's, UTC); tests move it by hand.
         *
         * @throws NullPointerException {@code clock must not be null}
         */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock must not be null");
            return this;
        }

        public InMemoryCa build() {
            if (trustDomain == null) {
                throw new IllegalStateException("trustDomain is required");
            }
            return new InMemoryCa(this, null, null, null);
        }
    }
}
