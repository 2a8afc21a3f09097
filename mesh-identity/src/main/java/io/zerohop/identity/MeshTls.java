package io.zerohop.identity;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslCachingX509KeyManagerFactory;
import io.netty.handler.ssl.OpenSslContextOption;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.KeyManagerFactoryWrapper;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.internal.SpiffeTrustManager;
import io.zerohop.identity.internal.SvidKeyManager;
import io.zerohop.identity.internal.X509;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Netty TLS contexts for the mesh: TLS 1.3 only, ALPN {@code h2}, mutual authentication with
 * X.509-SVIDs, BoringSSL through netty-tcnative (JDK provider only when the native library cannot
 * load).
 *
 * <p>Contexts are cached per (role, own identity, expected peers) and dropped when the provider
 * rotates that identity's SVID, so the next handshake presents the new certificate; bundles are read
 * per handshake by the trust manager, so a rotated root applies at once. Established connections
 * are never touched. A handshake past half of the presented SVID's validity (NotBefore plus half of
 * NotAfter less NotBefore, ztunnel's {@code refresh_at}, istio/ztunnel src/tls/certificate.rs) asks the
 * provider again, at most once a second per identity, without waiting for the answer: a provider that
 * issues on demand ({@link InMemoryCa}) re-issues then, and the handshakes after it present the new
 * SVID; one that rotates on its own schedule (istiod's, SPIRE's) answers the SVID it holds, and nothing
 * changes. Connections made before keep theirs. Until 5 December the provider was asked again only once
 * the SVID had expired, so an in-memory CA's certificate was presented to its last second.
 */
public final class MeshTls implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(MeshTls.class);
    private static final String TLS13 = "TLSv1.3";
    private static final ApplicationProtocolConfig ALPN_H2 = new ApplicationProtocolConfig(
            ApplicationProtocolConfig.Protocol.ALPN,
            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
            ApplicationProtocolNames.HTTP_2);

    /** Key exchange groups offered with BoringSSL, most preferred first. */
    static final String[] KEY_EXCHANGE_GROUPS = {"X25519MLKEM768", "X25519", "P-256", "P-384"};

    private enum Role { SERVER, CLIENT }

    /**
     * A context's cache key. {@code equals}/{@code hashCode} are written out, not generated: the generated
     * ones bootstrap java.lang.runtime.ObjectMethods (~160 hidden classes and ~0.5 MB in a node proxy, CPU
     * on its first connection; benchmarks/results/mem10k-7a61d72.md). Every component is compared
     * (RecordMethodsTest).
     */
    private record Key(Role role, SpiffeId self, Set<SpiffeId> expected) {
        @Override
        public boolean equals(Object other) {
            return other == this || other instanceof Key o
                    && role == o.role && self.equals(o.self) && Objects.equals(expected, o.expected);
        }

        @Override
        public int hashCode() {
            return (31 * role.hashCode() + self.hashCode()) * 31 + Objects.hashCode(expected);
        }
    }

    /**
     * One SVID's key managers, shared by every context presenting it; {@code refreshAt}: when a handshake asks the
     * provider again (epoch milliseconds; see the class comment).
     */
    private record KeyMaterial(X509Svid svid, KeyManagerFactory factory, long notAfter, long refreshAt) {
        KeyMaterial asked(long now) {
            return new KeyMaterial(svid, factory, notAfter, now + REFRESH_RETRY_MILLIS);
        }
    }

    /** The least time between two refresh asks for one identity, so that a provider answering the same SVID is not asked per handshake. */
    static final long REFRESH_RETRY_MILLIS = 1_000;

    private final IdentityProvider provider;
    private final SslProvider sslProvider;
    private final boolean sessionResumption;
    private final boolean federation;
    /**
     * Made at the first context asked for ({@link #contexts()}), not here: Caffeine's cache is ~80 classes
     * (~0.6 MB resident, archived or not) that an idle proxy, which builds a MeshTls at start, would
     * otherwise load before its first connection (benchmarks/results/classes-*.md). Null until then.
     */
    private volatile AsyncCache<Key, SslContext> contexts;
    private final long maxContexts;
    private final ConcurrentHashMap<SpiffeId, KeyMaterial> keyMaterial = new ConcurrentHashMap<>();
    private final IdentityListener rotation;
    private volatile X509BundleSet bundles;
    private volatile boolean closed;
    /** Null: no CRLs. */
    private final CrlFile crls;
    private final Runnable crlReloaded;
    /** Live connections to re-check when the CRLs change, each its own key (identity). */
    private final java.util.Set<LiveConnection> live = ConcurrentHashMap.newKeySet();
    /**
     * The CRL refusal lines of this instance's handshakes, one budget for all its contexts: at most 20 per 10 s, the rest
     * counted into the next line written, as mesh-hbone bounds its refused connections ({@code LogBudget}). A revoked
     * peer retrying in a loop wrote one WARN per handshake until helper 407 (7 December). The lines of a reload closing
     * live connections are not budgeted: a reload is the operator's act and closes each connection once.
     */
    private final io.zerohop.identity.internal.LogBudget refusalLog;

    /** A connection registered by {@link #closeWhenRevoked}: what its peer was verified with at its handshake. */
    private record LiveConnection(X509Certificate[] chain, X509BundleSet bundles, java.util.Date established,
                                  SvidVerifier.Purpose purpose, SpiffeId peer, SpiffeId self, Runnable close) {
        @Override
        public boolean equals(Object o) {
            return this == o;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(this);
        }
    }

    private MeshTls(Builder b) {
        this.provider = b.provider;
        this.crls = b.crls;
        this.refusalLog = new io.zerohop.identity.internal.LogBudget(io.zerohop.identity.internal.LogBudget.BURST,
                io.zerohop.identity.internal.LogBudget.WINDOW, b.nanoTime);
        this.crlReloaded = this::recheckLive;
        if (crls != null) {
            crls.addListener(crlReloaded);
        }
        this.sslProvider = b.sslProvider != null ? b.sslProvider : defaultProvider();
        this.sessionResumption = b.sessionResumption;
        this.federation = b.federation;
        this.maxContexts = b.maxContexts;
        this.bundles = provider.bundles();
        this.rotation = new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                SpiffeId id = svid.getSpiffeId();
                forget(id);
                keyMaterial.remove(id);
            }

            @Override
            public void svidForgotten(SpiffeId id) {
                forget(id);
                keyMaterial.remove(id);
            }

            @Override
            public void bundlesChanged(X509BundleSet set) {
                bundles = set;
            }
        };
        provider.addListener(rotation);
        // A change between reading bundles above and registering the listener must not be lost.
        this.bundles = provider.bundles();
    }

    /** The context cache, made on first use (see {@link #contexts}). */
    private AsyncCache<Key, SslContext> contexts() {
        AsyncCache<Key, SslContext> c = contexts;
        if (c == null) {
            synchronized (this) {
                c = contexts;
                if (c == null) {
                    c = Caffeine.newBuilder()
                            .maximumSize(maxContexts)
                            .expireAfterAccess(Duration.ofHours(1))
                            .buildAsync();
                    contexts = c;
                }
            }
        }
        return c;
    }

    /** Drops the cached contexts presenting {@code id}; nothing to drop before the cache is made. */
    private void forget(SpiffeId id) {
        AsyncCache<Key, SslContext> c = contexts;
        if (c != null) {
            c.synchronous().asMap().keySet().removeIf(k -> k.self().equals(id));
        }
    }

    public static Builder builder(IdentityProvider provider) {
        return new Builder(provider);
    }

    /** OpenSSL (BoringSSL via tcnative) when it loads; otherwise the JDK, with a warning saying why. */
    public static SslProvider defaultProvider() {
        return ProviderHolder.DEFAULT;
    }

    private static final class ProviderHolder {
        static final SslProvider DEFAULT = choose();

        private static SslProvider choose() {
            if (OpenSsl.isAvailable() && SslProvider.isTlsv13Supported(SslProvider.OPENSSL)) {
                log.debug("TLS provider: {} via netty-tcnative", OpenSsl.versionString());
                return SslProvider.OPENSSL;
            }
            Throwable cause = OpenSsl.unavailabilityCause();
            // On the module path Netty finds tcnative's native library only in its platform module,
            // which nothing requires by name: the usual cause there (zerohop-bom's README).
            log.warn("netty-tcnative BoringSSL unavailable ({}); falling back to the JDK TLS provider, expect slower handshakes{}",
                    cause == null ? "no TLS 1.3 support" : cause.toString(), MeshTls.class.getModule().isNamed()
                            ? " (on the module path add --add-modules io.netty.internal.tcnative.openssl.linux.x86_64, or the"
                            + " module of your platform's netty-tcnative-boringssl-static jar: see zerohop-bom's README)" : "");
            return SslProvider.JDK;
        }
    }

    public SslProvider sslProvider() {
        return sslProvider;
    }

    public IdentityProvider identityProvider() {
        return provider;
    }

    /** The trust bundles handshakes verify against right now. */
    public X509BundleSet bundles() {
        return bundles;
    }

    /**
     * Server context presenting {@code self}'s SVID and requiring a client SVID from any trusted
     * domain; authorization of that identity is the caller's business. The future fails with the identity provider's
     * error when it gives no SVID for {@code self} (an {@code InMemoryCa}'s {@link IllegalArgumentException} for
     * another trust domain), and with {@link IllegalStateException} once this {@code MeshTls} is closed.
     *
     * @throws NullPointerException at once when {@code self} is null
     */
    public CompletableFuture<SslContext> server(SpiffeId self) {
        return context(new Key(Role.SERVER, self, Set.of()));
    }

    /**
     * Client context presenting {@code self}'s SVID and accepting only a server whose SPIFFE ID is in
     * {@code expectedPeers} (empty: any identity that chains to its domain's bundle). The future fails as
     * {@link #server}'s does.
     *
     * @throws NullPointerException at once when {@code self} or {@code expectedPeers} is null, or {@code expectedPeers}
     *                              holds a null, naming which
     */
    public CompletableFuture<SslContext> client(SpiffeId self, Set<SpiffeId> expectedPeers) {
        // Named: Set.copyOf's own NPE said only 'Cannot invoke "java.util.Collection.size()" because "c" is null' (a
        // new-user pass). An empty set is the documented "any identity of a trusted domain", never a null.
        Objects.requireNonNull(expectedPeers, "expectedPeers (Set.of() accepts any identity of a trusted domain)");
        for (SpiffeId peer : expectedPeers) {
            Objects.requireNonNull(peer, "expectedPeers must not contain null");
        }
        return context(new Key(Role.CLIENT, self, Set.copyOf(expectedPeers)));
    }

    private CompletableFuture<SslContext> context(Key key) {
        Objects.requireNonNull(key.self(), "own SPIFFE ID");
        if (closed) {
            return CompletableFuture.failedFuture(new IllegalStateException(
                    (key.role() == Role.SERVER ? "server" : "client") + "(" + key.self() + "): this MeshTls was closed; build a new one"));
        }
        KeyMaterial km = keyMaterial.get(key.self());
        long now = System.currentTimeMillis();
        if (km != null && km.notAfter() <= now) {
            // A provider that issues on demand (InMemoryCa) announces no rotation until asked, so the
            // cached contexts would present the expired SVID (and resume its sessions) forever: ask
            // the provider again, as a rotation would.
            rotation.svidRotated(km.svid());
        } else if (km != null && km.refreshAt() <= now && keyMaterial.replace(key.self(), km, km.asked(now))) {
            refresh(km.svid());
        }
        // A failure is the caller's to report (a mesh logs "identity ... not ready"): not Caffeine's (QuietLoads).
        // Caffeine drops a failed load, so the next lookup asks the provider again: that is cheap, as a node-mode
        // provider (CertificateManager) remembers a failed fetch and answers its stored error until the identity's
        // retry (ztunnel's CertState::Unavailable, src/identity/manager.rs), no CSR per lookup; and a context is
        // built as soon as the provider holds the SVID, where a failure kept here would outlive that retry.
        return io.zerohop.identity.internal.QuietLoads.unwrapped(contexts().get(key,
                (k, executor) -> io.zerohop.identity.internal.QuietLoads.quiet(provider.svid(k.self()).thenApply(svid -> build(k, svid)))));
    }

    /**
     * Asks the provider for {@code presented}'s identity past its refresh time; an SVID other than {@code presented}
     * replaces it for the handshakes after this one, unless a rotation already did. A failure keeps {@code presented}
     * (still valid; the next ask is a second away at the earliest): the provider reports its own failures.
     */
    private void refresh(X509Svid presented) {
        SpiffeId id = presented.getSpiffeId();
        CompletableFuture<X509Svid> answer;
        try {
            answer = provider.svid(id);
        } catch (RuntimeException e) {
            log.debug("refresh of {}'s SVID failed: {}", id, e.toString());
            return;
        }
        answer.whenComplete((svid, error) -> {
            if (svid == null || svid == presented || svid.getLeaf().equals(presented.getLeaf())) {
                return;
            }
            KeyMaterial current = keyMaterial.get(id);
            if (current != null && current.svid() == presented) {
                rotation.svidRotated(svid);
            }
        });
    }

    private SslContext build(Key key, X509Svid svid) {
        if (!svid.getSpiffeId().equals(key.self())) {
            // Fail closed: presented, the peer would authenticate this side as someone else (a new-user pass: the request
            // went out as C and got a 403 that named C, with no word of the provider's mistake).
            throw new IllegalStateException("identity provider " + provider.getClass().getName() + " returned an SVID for "
                    + svid.getSpiffeId() + " when asked for " + key.self() + "; not presenting it");
        }
        java.util.Date notAfter = svid.getLeaf().getNotAfter();
        if (!notAfter.after(new java.util.Date())) {
            // Fail closed here, where the reason is known: presented, it made every handshake fail at the peer with
            // certificate_expired and this side say only that it received that alert (a break-it pass, helper 381).
            // ztunnel's certificate manager keeps a certificate only until it expires (src/identity/manager.rs).
            throw new IllegalStateException("identity provider " + provider.getClass().getName() + " returned an SVID for "
                    + key.self() + " that expired at " + notAfter.toInstant() + "; not presenting it");
        }
        SpiffeTrustManager trust = new SpiffeTrustManager(this::bundles, key.expected(),
                federation ? null : key.self().getTrustDomain(), crls, key.self(), this::revoked, refusalLog);
        try {
            KeyManagerFactory keys = keyManagers(svid);
            SslContextBuilder b = key.role() == Role.SERVER
                    ? SslContextBuilder.forServer(keys).clientAuth(ClientAuth.REQUIRE)
                    : SslContextBuilder.forClient().keyManager(keys);
            b.sslProvider(sslProvider)
                    .protocols(TLS13)
                    .trustManager(trust)
                    .applicationProtocolConfig(ALPN_H2);
            if (sslProvider == SslProvider.OPENSSL) {
                // Post-quantum hybrid first, so a ztunnel in COMPLIANCE_POLICY=pqc mode (X25519MLKEM768 only,
                // src/tls/lib.rs) interoperates; classic groups after it for everyone else.
                b.option(OpenSslContextOption.GROUPS, KEY_EXCHANGE_GROUPS);
            }
            if (!sessionResumption) {
                b.sessionCacheSize(1).sessionTimeout(1);
            }
            return b.build();
        } catch (SSLException e) {
            throw new IllegalStateException("cannot build TLS context for " + key.self() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Key managers for {@code svid}, built once per SVID: {@link SvidKeyManager}, the SVID's key and
     * chain as they are. Netty given the key and chain, or the JDK's factory given a PKCS#12 store,
     * encrypts and decrypts the key with PBKDF2 (about 4.8 ms of CPU per SVID, and ~60 JDK classes at
     * the first one). With BoringSSL the caching factory converts the key to native form once per
     * context rather than per handshake.
     */
    private KeyManagerFactory keyManagers(X509Svid svid) {
        KeyMaterial km = keyMaterial.get(svid.getSpiffeId());
        if (km != null && km.svid() == svid) {
            return km.factory();
        }
        KeyManagerFactory keys = new KeyManagerFactoryWrapper(new SvidKeyManager(svid.getPrivateKey(), svid.getChainArray()));
        KeyManagerFactory factory = sslProvider == SslProvider.OPENSSL ? new OpenSslCachingX509KeyManagerFactory(keys) : keys;
        long notBefore = svid.getLeaf().getNotBefore().getTime();
        long notAfter = svid.getLeaf().getNotAfter().getTime();
        // ztunnel's refresh_at; not before a second from now, as a provider that answers the same SVID is asked at most
        // once a second (an in-memory CA's SVID of less than its 2-minute back-dating is past half from its issue).
        long refreshAt = Math.max(notBefore + (notAfter - notBefore) / 2, System.currentTimeMillis() + REFRESH_RETRY_MILLIS);
        keyMaterial.put(svid.getSpiffeId(), new KeyMaterial(svid, factory, notAfter, refreshAt));
        return factory;
    }

    /**
     * The SPIFFE ID of the peer of {@code engine}'s completed handshake, verified against the trust bundles as they are now.
     * A handshake that resumed a TLS session runs no certificate verification: with the JDK provider a peer whose root
     * had been dropped from the bundle since its first handshake was accepted on its next connection for the ticket's
     * lifetime (a review pass; ztunnel never resumes, src/tls/certificate.rs {@code Resumption::disabled()}). So a
     * peer no trust manager of this process verified in this handshake is verified here: its chain as
     * {@link SvidVerifier} verifies it for its TLS role, and its trust domain the local one unless federation is on.
     *
     * @param engine the engine of a completed mutual-TLS handshake made with one of this instance's contexts
     * @return the peer's SPIFFE ID, never null
     * @throws SSLPeerUnverifiedException naming what failed, when the peer sent no SVID or its chain no longer verifies
     */
    public SpiffeId verifiedPeerIdentity(javax.net.ssl.SSLEngine engine) throws SSLPeerUnverifiedException {
        SSLSession session = engine.getSession();
        SpiffeId id = peerIdentity(session);
        if (io.zerohop.identity.internal.SpiffeTrustManager.verified(engine)) {
            return id;
        }
        try {
            Certificate[] certs = session.getPeerCertificates();
            X509Certificate[] chain = new X509Certificate[certs.length];
            for (int i = 0; i < certs.length; i++) {
                chain[i] = (X509Certificate) certs[i];
            }
            Object crlsUsed = crls == null ? null : crls.crls();
            SvidVerifier.verify(chain, bundles(), new java.util.Date(),
                    engine.getUseClientMode() ? SvidVerifier.Purpose.SERVER_AUTH : SvidVerifier.Purpose.CLIENT_AUTH, crls);
            if (crlsUsed != null) {
                SpiffeTrustManager.verifiedWith(engine, crlsUsed);
            }
            Certificate[] local = session.getLocalCertificates();
            if (!federation && local != null && local.length > 0 && local[0] instanceof X509Certificate own
                    && !X509.spiffeId(own).getTrustDomain().equals(id.getTrustDomain())) {
                throw new CertificateException(id + ": trust domain " + id.getTrustDomain() + " is not the local trust domain"
                        + " and federation is off");
            }
        } catch (CertificateException | ClassCastException e) {
            if (io.zerohop.identity.internal.Revocations.isRevoked(e)) {
                SvidVerifier.Purpose role = engine.getUseClientMode() ? SvidVerifier.Purpose.SERVER_AUTH : SvidVerifier.Purpose.CLIENT_AUTH;
                long dropped = refusalLog.admit();
                if (dropped >= 0) {
                    log.warn("CRL: refused {} peer {} of a resumed TLS session: {}{}", role == SvidVerifier.Purpose.CLIENT_AUTH
                            ? "inbound" : "outbound", id, e.getMessage(), io.zerohop.identity.internal.LogBudget.note(dropped));
                }
                revoked(role);
            }
            SSLPeerUnverifiedException u = new SSLPeerUnverifiedException("resumed TLS session's peer no longer verifies: "
                    + e.getMessage());
            u.initCause(e);
            throw u;
        }
        return id;
    }

    private final java.util.concurrent.CopyOnWriteArrayList<java.util.function.Consumer<SvidVerifier.Purpose>> revocationListeners =
            new java.util.concurrent.CopyOnWriteArrayList<>();

    /**
     * Tells {@code listener} each time a peer is refused at its handshake, or a live connection closed, because a CRL
     * revokes a certificate of its chain: the peer's role, {@code CLIENT_AUTH} for an inbound connection (ztunnel's
     * {@code reporter="destination"}), {@code SERVER_AUTH} for an outbound one ({@code "source"}). mesh-core counts
     * these as ztunnel's {@code istio_crl_policy_rejections_total} ({@code src/proxy/metrics.rs}
     * {@code record_crl_rejection}). On the handshake's or the CRL watcher's thread: it must not block.
     */
    public void onRevoked(java.util.function.Consumer<SvidVerifier.Purpose> listener) {
        revocationListeners.add(Objects.requireNonNull(listener, "listener"));
    }

    private final java.util.concurrent.CopyOnWriteArrayList<java.util.function.Consumer<SvidVerifier.Purpose>> untrackedListeners =
            new java.util.concurrent.CopyOnWriteArrayList<>();

    /**
     * Tells {@code listener} each time {@link #closeWhenRevoked} cannot keep a connection under the CRLs (its peer chain
     * cannot be read: no certificate, one that does not parse), so that no reload can close it: the peer's role, as for
     * {@link #onRevoked}. mesh-core counts these as ztunnel's {@code istio_crl_untracked_connections_total}
     * ({@code src/proxy/metrics.rs} {@code record_crl_untracked_connection}, called by {@code src/tls/revocation.rs}
     * {@code RevocationIndex::register}). Never called without a CRL file, as ztunnel tracks nothing then. On the
     * registering thread (an event loop): it must not block.
     */
    public void onUntracked(java.util.function.Consumer<SvidVerifier.Purpose> listener) {
        untrackedListeners.add(Objects.requireNonNull(listener, "listener"));
    }

    private void revoked(SvidVerifier.Purpose peerRole) {
        for (var l : revocationListeners) {
            try {
                l.accept(peerRole);
            } catch (RuntimeException e) {
                log.warn("revocation listener {} failed: {}", l, e.toString());
            }
        }
    }

    /** The CRL file this instance enforces, if any ({@link Builder#crl}). */
    public java.util.Optional<CrlFile> crl() {
        return java.util.Optional.ofNullable(crls);
    }

    /**
     * Keeps {@code engine}'s connection under the CRLs for its lifetime: when the CRL file is reloaded and its peer's
     * chain (leaf or an intermediate) is now revoked, a WARN line names both identities and {@code close} runs, on the
     * CRL watcher's thread, as ztunnel tears down a tunnel whose peer a CRL update revoked ({@code src/tls/revocation.rs}
     * {@code RevocationIndex::navigate}, {@code src/proxy/h2/server.rs} and {@code client.rs}: abruptly, not drained).
     * The chain is checked as of the handshake's time, so the certificate's expiry never counts here (ztunnel's
     * {@code established}), and only a revocation closes (another failure, a bundle change, does not). When the CRLs
     * changed between the handshake and this call the chain is checked at once (ztunnel's {@code revoked_after_reload}).
     * Without a CRL file nothing is tracked.
     *
     * @param engine the engine of a completed handshake made with one of this instance's contexts
     * @param close closes the connection; must be safe to call from any thread
     * @return forgets the connection; call it when the connection closes
     */
    public Runnable closeWhenRevoked(javax.net.ssl.SSLEngine engine, Runnable close) {
        Objects.requireNonNull(close, "close");
        if (crls == null) {
            return () -> { };
        }
        SSLSession session = engine.getSession();
        X509Certificate[] chain;
        SpiffeId peer;
        SpiffeId self = null;
        try {
            Certificate[] certs = session.getPeerCertificates();
            chain = new X509Certificate[certs.length];
            for (int i = 0; i < certs.length; i++) {
                chain[i] = (X509Certificate) certs[i];
            }
            peer = peerIdentity(session);
            Certificate[] local = session.getLocalCertificates();
            if (local != null && local.length > 0 && local[0] instanceof X509Certificate own) {
                self = X509.spiffeId(own);
            }
        } catch (javax.net.ssl.SSLPeerUnverifiedException | CertificateParsingException | ClassCastException e) {
            // ztunnel's RevocationIndex::register: a peer without certificates, or a chain it cannot parse, is not tracked,
            // said at WARN and counted (istio_crl_untracked_connections_total): a reload cannot close this connection.
            SvidVerifier.Purpose role = engine.getUseClientMode() ? SvidVerifier.Purpose.SERVER_AUTH : SvidVerifier.Purpose.CLIENT_AUTH;
            log.warn("CRL: {} connection not tracked for revocation, its peer chain cannot be read: {}",
                    role == SvidVerifier.Purpose.CLIENT_AUTH ? "inbound" : "outbound", e.toString());
            for (var l : untrackedListeners) {
                try {
                    l.accept(role);
                } catch (RuntimeException ex) {
                    log.warn("untracked-connection listener {} failed: {}", l, ex.toString());
                }
            }
            return () -> { };
        }
        LiveConnection c = new LiveConnection(chain, bundles(), new java.util.Date(),
                engine.getUseClientMode() ? SvidVerifier.Purpose.SERVER_AUTH : SvidVerifier.Purpose.CLIENT_AUTH, peer, self, close);
        Object verifiedWith = SpiffeTrustManager.verifiedWith(engine);
        live.add(c);
        if (verifiedWith != crls.crls()) {
            recheck(c);
        }
        return () -> live.remove(c);
    }

    /** The connections {@link #closeWhenRevoked} tracks now. */
    int liveConnections() {
        return live.size();
    }

    /**
     * After a reload, only the connections a CRL can now revoke are verified again: those whose chain has a certificate
     * whose serial a CRL of its issuer's name lists, as ztunnel's {@code RevocationIndex::navigate} probes only the
     * leaves and intermediates {@code serial_in_any} finds under a CRL's issuer ({@code collect_work}). The outcome is
     * the one of verifying every connection ({@link io.zerohop.identity.internal.Crls#check} finds a certificate revoked
     * only through that lookup, and only a revocation closes); the cost is a map lookup per certificate instead of a PKIX
     * validation per connection (measured by helper 407: 0.3 to 0.5 ms each on a loaded 2-vCPU host, 3 to 5 s of the
     * watcher's thread for 10,000 connections, during which a revoked peer's connection could wait its turn).
     */
    private void recheckLive() {
        List<java.security.cert.X509CRL> now = crls.crls();
        if (now.isEmpty()) {
            return; // ztunnel's navigate returns on an empty set: nothing can be revoked
        }
        for (LiveConnection c : live) {
            if (listed(c.chain(), now)) {
                recheck(c);
            }
        }
    }

    /** Whether a CRL of its issuer's name lists a certificate of {@code chain} (the anchor's, if sent, is harmless). */
    private static boolean listed(X509Certificate[] chain, List<java.security.cert.X509CRL> crls) {
        for (X509Certificate cert : chain) {
            for (java.security.cert.X509CRL crl : crls) {
                if (crl.getIssuerX500Principal().equals(cert.getIssuerX500Principal())
                        && crl.getRevokedCertificate(cert.getSerialNumber()) != null) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Live connections verified again since this instance was made (tests: which ones a reload re-checks). */
    long rechecks() {
        return rechecks.get();
    }

    private final java.util.concurrent.atomic.AtomicLong rechecks = new java.util.concurrent.atomic.AtomicLong();

    private void recheck(LiveConnection c) {
        rechecks.incrementAndGet();
        try {
            SvidVerifier.verify(c.chain(), c.bundles(), c.established(), c.purpose(), crls);
        } catch (CertificateException e) {
            if (!io.zerohop.identity.internal.Revocations.isRevoked(e)) {
                return; // ztunnel acts on CertRevoked only
            }
            if (live.remove(c)) {
                log.warn("CRL: closing {} connection of {} with peer {}: {}",
                        c.purpose() == SvidVerifier.Purpose.CLIENT_AUTH ? "inbound" : "outbound",
                        c.self() == null ? "this workload" : c.self(), c.peer(), e.getMessage());
                revoked(c.purpose());
                try {
                    c.close().run();
                } catch (RuntimeException ex) {
                    log.warn("CRL: closing the connection with {} failed: {}", c.peer(), ex.toString());
                }
            }
        }
    }

    /** The verified SPIFFE ID of the peer of a completed handshake. */
    public static SpiffeId peerIdentity(SSLSession session) throws SSLPeerUnverifiedException {
        Certificate[] certs = session.getPeerCertificates();
        if (certs.length == 0 || !(certs[0] instanceof X509Certificate leaf)) {
            throw new SSLPeerUnverifiedException("peer presented no X.509 certificate");
        }
        try {
            return X509.spiffeId(leaf);
        } catch (CertificateParsingException e) {
            throw new SSLPeerUnverifiedException(e.getMessage());
        }
    }

    /** The cipher/protocol list this class negotiates, for logs and benchmark reports. */
    public static List<String> protocols() {
        return List.of(TLS13);
    }

    /**
     * Stops listening to the provider and drops every cached context and key; terminal. From then
     * on {@link #server} and {@link #client} fail with an {@link IllegalStateException} saying this
     * MeshTls was closed (before, they answered a context that no longer followed rotations). Contexts
     * already handed out, and the connections made with them, are not touched; {@link #bundles()},
     * {@link #sslProvider()} and {@link #identityProvider()} still answer. The provider is not
     * closed (it is the caller's). Idempotent.
     */
    @Override
    public void close() {
        closed = true;
        provider.removeListener(rotation);
        if (crls != null) {
            crls.removeListener(crlReloaded);
        }
        AsyncCache<Key, SslContext> c = contexts;
        if (c != null) {
            c.synchronous().invalidateAll();
        }
        keyMaterial.clear();
    }

    public static final class Builder {
        private final IdentityProvider provider;
        private SslProvider sslProvider;
        private boolean sessionResumption = true;
        private boolean federation;
        private long maxContexts = 10_000;
        private CrlFile crls;
        private java.util.function.LongSupplier nanoTime = System::nanoTime;

        private Builder(IdentityProvider provider) {
            this.provider = Objects.requireNonNull(provider, "identity provider");
        }

        /** Force a provider (benchmarks compare them); default {@link #defaultProvider()}. */
        public Builder sslProvider(SslProvider p) {
            if (p == SslProvider.OPENSSL_REFCNT) {
                throw new IllegalArgumentException("OPENSSL_REFCNT contexts need explicit release; use OPENSSL");
            }
            if (p == SslProvider.OPENSSL && !OpenSsl.isAvailable()) {
                throw new IllegalArgumentException("OPENSSL requested but netty-tcnative is unavailable: " + OpenSsl.unavailabilityCause());
            }
            this.sslProvider = p;
            return this;
        }

        /** TLS session resumption (on by default); benchmarks turn it off to measure full handshakes. */
        public Builder sessionResumption(boolean on) {
            this.sessionResumption = on;
            return this;
        }

        /**
         * Accept peers of other trust domains whose bundles the provider serves (SPIFFE federation).
         * Off by default: a peer must belong to the trust domain of the identity it talks to, even when
         * the provider also carries federated bundles (a federated bundle never silently widens access).
         */
        public Builder federation(boolean on) {
            this.federation = on;
            return this;
        }

        /** Bound on cached contexts (one per own identity and expected peer set). */
        public Builder maxContexts(long n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxContexts must be >= 1, got " + n);
            }
            this.maxContexts = n;
            return this;
        }

        /** The monotonic clock of the CRL refusal lines' budget (tests: one held still). */
        Builder logClock(java.util.function.LongSupplier nanoTime) {
            this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
            return this;
        }

        /**
         * Enforce {@code crl}'s certificate revocation lists on every peer, inbound and outbound, as ztunnel with
         * {@code CRL_PATH} set: a peer whose leaf or intermediate is revoked fails the handshake (TLS alert
         * {@code certificate_revoked}; a WARN line naming both identities and the revoked serial, at most 20 per 10 s
         * for one instance, the rest counted into the next line written), and connections registered with
         * {@link #closeWhenRevoked} are closed when a reload revokes their peer. The file is the caller's to close.
         * Null: none (the default).
         */
        public Builder crl(CrlFile crl) {
            this.crls = crl;
            return this;
        }

        public MeshTls build() {
            return new MeshTls(this);
        }
    }
}
