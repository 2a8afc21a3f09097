package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.testing.FixedIdentityProvider;
import io.zerohop.identity.testing.Handshakes;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Real TLS 1.3 handshakes on loopback: what the mesh accepts and what it rejects, and why. */
class MeshTlsTest {
    static final SpiffeId SERVER = SpiffeIds.istio("cluster.local", "prod", "backend");
    static final SpiffeId CLIENT = SpiffeIds.istio("cluster.local", "prod", "frontend");

    static Handshakes handshakes;
    static InMemoryCa ca;
    static MeshTls tls;

    @BeforeAll
    static void setUp() {
        handshakes = new Handshakes();
        ca = InMemoryCa.create("cluster.local");
        tls = MeshTls.builder(ca).build();
    }

    @AfterAll
    static void tearDown() {
        tls.close();
        handshakes.close();
    }

    static SslContext server(MeshTls t) {
        return t.server(SERVER).join();
    }

    /** A peer outside our stack presenting whatever chain it likes and trusting anything. */
    static SslContext rawClient(IssuedCertificate cert) throws Exception {
        SslContextBuilder b = SslContextBuilder.forClient().protocols("TLSv1.3")
                .trustManager(InsecureTrustManagerFactory.INSTANCE);
        if (cert != null) {
            b.keyManager(cert.privateKey(), cert.chain().toArray(new java.security.cert.X509Certificate[0]));
        }
        return b.build();
    }

    static SslContext rawServer(IssuedCertificate cert) throws Exception {
        return SslContextBuilder.forServer(cert.privateKey(), cert.chain().toArray(new java.security.cert.X509Certificate[0]))
                .protocols("TLSv1.3").build();
    }

    static LeafSpec validFor(SpiffeId id) {
        Instant now = Instant.now();
        return LeafSpec.svid(id.toString(), now.minusSeconds(60), now.plus(Duration.ofHours(1)));
    }

    @ParameterizedTest
    @EnumSource(value = SslProvider.class, names = {"OPENSSL", "JDK"})
    void mutualHandshakeNegotiatesTls13AndH2AndSeesBothIdentities(SslProvider provider) throws Exception {
        try (MeshTls t = MeshTls.builder(ca).sslProvider(provider).build()) {
            Handshakes.Outcome o = handshakes.run(server(t), t.client(CLIENT, Set.of(SERVER)).join());
            assertThat(o.succeeded()).as(o.errors()).isTrue();
            assertThat(o.serverSawPeer()).isEqualTo(CLIENT);
            assertThat(o.clientSawPeer()).isEqualTo(SERVER);
            assertThat(o.protocol()).isEqualTo("TLSv1.3");
            assertThat(o.alpn()).isEqualTo("h2");
        }
    }

    /**
     * ztunnel in COMPLIANCE_POLICY=pqc mode offers and accepts only X25519MLKEM768 (src/tls/lib.rs).
     * A server restricted to that group completes a handshake with our client; a JDK 17 client, which
     * has no ML-KEM, fails against the same server (so the restriction is real).
     */
    @Test
    void postQuantumOnlyPeerInteroperates() throws Exception {
        IssuedCertificate cert = ca.issue(validFor(SERVER));
        SslContext pqOnly = SslContextBuilder.forServer(cert.privateKey(), cert.chain().toArray(new java.security.cert.X509Certificate[0]))
                .sslProvider(SslProvider.OPENSSL).protocols("TLSv1.3")
                .clientAuth(io.netty.handler.ssl.ClientAuth.OPTIONAL).trustManager(InsecureTrustManagerFactory.INSTANCE)
                .option(io.netty.handler.ssl.OpenSslContextOption.GROUPS, new String[] {"X25519MLKEM768"}).build();
        Handshakes.Outcome ours = handshakes.run(pqOnly, tls.client(CLIENT, Set.of(SERVER)).join());
        assertThat(ours.clientError()).as(ours.errors()).isNull();
        assertThat(ours.clientSawPeer()).isEqualTo(SERVER);
        SslContext jdk = SslContextBuilder.forClient().sslProvider(SslProvider.JDK).protocols("TLSv1.3")
                .trustManager(InsecureTrustManagerFactory.INSTANCE).build();
        assertThat(handshakes.run(pqOnly, jdk).clientError()).as("control: a client without ML-KEM fails").isNotNull();
    }

    /** A new-user pass: a provider that answered B's request with C's SVID made this side present C, unnoticed. */
    @Test
    void anSvidForAnotherIdentityIsNotPresented() {
        FixedIdentityProvider base = new FixedIdentityProvider(ca.issue(CLIENT), ca.bundles());
        IdentityProvider wrong = new IdentityProvider() {
            @Override
            public java.util.Optional<SpiffeId> defaultIdentity() {
                return java.util.Optional.empty();
            }

            @Override
            public java.util.concurrent.CompletableFuture<io.spiffe.svid.x509svid.X509Svid> svid(SpiffeId id) {
                return base.svid(CLIENT);
            }

            @Override
            public X509BundleSet bundles() {
                return base.bundles();
            }

            @Override
            public void addListener(IdentityListener listener) {
            }

            @Override
            public void removeListener(IdentityListener listener) {
            }

            @Override
            public void close() {
            }
        };
        try (MeshTls t = MeshTls.builder(wrong).build()) {
            for (java.util.concurrent.CompletableFuture<SslContext> f : List.of(t.server(SERVER), t.client(SERVER, Set.of(CLIENT)))) {
                org.assertj.core.api.Assertions.assertThatThrownBy(f::join).hasRootCauseInstanceOf(IllegalStateException.class)
                        .rootCause().hasMessageContaining("returned an SVID for " + CLIENT + " when asked for " + SERVER + "; not presenting it");
            }
            assertThat(t.client(CLIENT, Set.of(SERVER)).join()).as("its own identity is served").isNotNull();
        }
    }

    /**
     * A null {@code expectedPeers} is named (no upstream case: a Java argument check of this API). It threw JDK's
     * {@code Cannot invoke "java.util.Collection.size()" because "c" is null} from {@code Set.copyOf}.
     */
    @Test
    void aNullExpectedPeersSetIsNamed() {
        try (MeshTls t = MeshTls.builder(ca).build()) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> t.client(CLIENT, null))
                    .isInstanceOf(NullPointerException.class).hasMessageStartingWith("expectedPeers");
            java.util.Set<SpiffeId> withNull = new java.util.HashSet<>();
            withNull.add(null);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> t.client(CLIENT, withNull))
                    .isInstanceOf(NullPointerException.class).hasMessage("expectedPeers must not contain null");
            assertThat(t.client(CLIENT, Set.of()).join()).as("empty: any identity of a trusted domain").isNotNull();
        }
    }

    @Test
    void defaultProviderIsBoringSsl() {
        assertThat(MeshTls.defaultProvider()).isEqualTo(SslProvider.OPENSSL);
    }

    @Test
    void intermediateChainsVerify() throws Exception {
        InMemoryCa withInter = InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build();
        assertThat(withInter.issue(CLIENT).getChain()).hasSize(2);
        try (MeshTls t = MeshTls.builder(withInter).build()) {
            Handshakes.Outcome o = handshakes.run(server(t), t.client(CLIENT, Set.of(SERVER)).join());
            assertThat(o.succeeded()).as(o.errors()).isTrue();
            assertThat(o.serverSawPeer()).isEqualTo(CLIENT);
        }
    }

    @Test
    void rotatedRootIsTrustedAlongsideTheOldUntilRetired() throws Exception {
        InMemoryCa rotating = InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build();
        // A client that will keep its SVID from the old root throughout.
        FixedIdentityProvider oldClient = new FixedIdentityProvider(rotating.issue(CLIENT), rotating.bundles());
        try (MeshTls serverTls = MeshTls.builder(rotating).build(); MeshTls clientTls = MeshTls.builder(oldClient).build()) {
            var before = serverTls.server(SERVER).join();
            rotating.rotateRoot();
            oldClient.bundles(rotating.bundles()); // the client learns the new root, as SPIRE would push it
            var after = serverTls.server(SERVER).join();
            assertThat(after).as("rotation must rebuild the server context").isNotSameAs(before);

            Handshakes.Outcome o = handshakes.run(after, clientTls.client(CLIENT, Set.of(SERVER)).join());
            assertThat(o.succeeded()).as(o.errors()).isTrue();
            assertThat(rotating.bundle().getX509Authorities()).hasSize(2);

            rotating.retireOldRoots();
            Handshakes.Outcome retired = handshakes.run(serverTls.server(SERVER).join(), clientTls.client(CLIENT, Set.of(SERVER)).join());
            assertThat(retired.serverError()).isNotNull();
            assertThat(retired.errors()).contains("does not verify against the trust bundle of cluster.local");
        }
    }

    @Test
    void svidRotationAppliesToTheNextHandshake() throws Exception {
        FixedIdentityProvider p = new FixedIdentityProvider(ca.issue(SERVER), ca.bundles());
        try (MeshTls t = MeshTls.builder(p).build()) {
            SslContext first = t.server(SERVER).join();
            p.rotate(ca.issue(SERVER));
            assertThat(t.server(SERVER).join()).isNotSameAs(first);
            Handshakes.Outcome o = handshakes.run(t.server(SERVER).join(), tls.client(CLIENT, Set.of(SERVER)).join());
            assertThat(o.succeeded()).as(o.errors()).isTrue();
        }
    }

    /**
     * ztunnel's refresh_at (src/tls/certificate.rs: NotBefore plus half the validity): a handshake past it asks the
     * provider again, and an in-memory CA re-issues then (helper 231: the same serial was presented until its last
     * second, then replaced only once expired). A 4 s SVID's refresh_at is long past at its issue (its NotBefore is
     * back-dated 2 minutes), so MeshTls asks from a second after the context was built, and the CA re-issues past half
     * of the 4 s it issued the SVID for; on the old code the context stayed until the SVID expired.
     */
    @Test
    void aHandshakePastHalfTheSvidsLifeGetsTheProvidersNewOne() throws Exception {
        InMemoryCa shortLived = InMemoryCa.builder().trustDomain("cluster.local").svidTtl(Duration.ofSeconds(4)).build();
        // Issues are counted by listening: asking the CA itself (svid) past half the life would re-issue.
        List<java.math.BigInteger> issued = new java.util.concurrent.CopyOnWriteArrayList<>();
        shortLived.addListener(new IdentityListener() {
            @Override
            public void svidRotated(io.spiffe.svid.x509svid.X509Svid svid) {
                issued.add(svid.getLeaf().getSerialNumber());
            }
        });
        try (MeshTls t = MeshTls.builder(shortLived).build()) {
            SslContext first = t.server(SERVER).join();
            assertThat(t.server(SERVER).join()).as("within the first second: not asked again").isSameAs(first);
            assertThat(issued).hasSize(1);
            Thread.sleep(3_100); // past half of the 4 s (its validity starts up to 1 s after the issue, in whole seconds), not expired
            t.server(SERVER).join(); // past refresh_at: asks the provider, which re-issues
            SslContext next = t.server(SERVER).join();
            assertThat(next).as("the next handshake presents the re-issued SVID").isNotSameAs(first);
            assertThat(issued).hasSize(2).doesNotHaveDuplicates();
            try (MeshTls clientTls = MeshTls.builder(shortLived).build()) {
                Handshakes.Outcome o = handshakes.run(next, clientTls.client(CLIENT, Set.of(SERVER)).join());
                assertThat(o.succeeded()).as(o.errors()).isTrue();
            }
        }
    }

    /** A provider that answers the SVID it already gave (istiod's and SPIRE's rotate on their own schedule) keeps its contexts. */
    @Test
    void aProviderAnsweringTheSameSvidPastHalfItsLifeKeepsTheContexts() throws Exception {
        InMemoryCa shortLived = InMemoryCa.builder().trustDomain("cluster.local").svidTtl(Duration.ofSeconds(30)).build();
        FixedIdentityProvider same = new FixedIdentityProvider(shortLived.issue(SERVER), shortLived.bundles());
        try (MeshTls t = MeshTls.builder(same).build()) {
            SslContext first = t.server(SERVER).join();
            assertThat(same.asked()).as("the context's build").isEqualTo(1);
            Thread.sleep(MeshTls.REFRESH_RETRY_MILLIS + 200);
            long start = System.nanoTime();
            for (int i = 0; i < 1_000; i++) {
                assertThat(t.server(SERVER).join()).as("asked, answered the same SVID: the same context").isSameAs(first);
            }
            long seconds = java.util.concurrent.TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
            // Asked again past refresh_at, then at most once a second, not per handshake (1,000 here).
            assertThat(same.asked()).as("asks").isBetween(2, 2 + (int) seconds + 1);
        }
    }

    @Test
    void aForgottenIdentitysContextsAreDroppedAndTheNextOneCarriesANewCertificate() throws Exception {
        InMemoryCa node = InMemoryCa.create("cluster.local");
        try (MeshTls t = MeshTls.builder(node).build()) {
            SslContext first = t.server(SERVER).join();
            SslContext other = t.server(CLIENT).join();
            java.math.BigInteger serial = node.svid(SERVER).join().getLeaf().getSerialNumber();
            node.forget(SERVER);
            assertThat(t.server(CLIENT).join()).as("another identity's context stays").isSameAs(other);
            SslContext next = t.server(SERVER).join();
            assertThat(next).as("no context presents a forgotten certificate").isNotSameAs(first);
            assertThat(node.svid(SERVER).join().getLeaf().getSerialNumber()).isNotEqualTo(serial);
        }
    }

    /**
     * A TLS context for an identity the provider refuses fails with the provider's error, and Caffeine
     * (whose cache holds the contexts) logs nothing: it printed "Exception thrown during asynchronous
     * load" with a stack trace through java.util.logging (a library user's pass), beside the mesh's own line.
     */
    @Test
    void aContextForARefusedIdentityFailsWithTheProvidersErrorAndNothingIsLogged() throws Exception {
        try (CaffeineWarnings caffeine = new CaffeineWarnings();
             MeshTls one = MeshTls.builder(new FixedIdentityProvider(ca.issue(SERVER), ca.bundles())).build()) {
            java.util.concurrent.CompletableFuture<SslContext> f = one.client(CLIENT, Set.of(SERVER));
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> f.get(10, java.util.concurrent.TimeUnit.SECONDS))
                    .isInstanceOf(java.util.concurrent.ExecutionException.class).cause().isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("this provider serves only " + SERVER + ", not " + CLIENT);
            assertThat(f.isCancelled()).isFalse();
            assertThat(one.server(SERVER).get(10, java.util.concurrent.TimeUnit.SECONDS)).isNotNull();
            assertThat(caffeine.seen).as("nothing logged by the cache").isEmpty();
        }
    }

    @Test
    void rogueCaClaimingAValidIdentityIsRejected() throws Exception {
        InMemoryCa rogue = InMemoryCa.create("cluster.local");
        Handshakes.Outcome o = handshakes.run(server(tls), rawClient(rogue.issue(validFor(CLIENT))));
        assertThat(o.serverError()).isNotNull();
        assertThat(o.errors()).contains(CLIENT + ": chain does not verify against the trust bundle of cluster.local");
    }

    @Test
    void rogueServerIsRejectedByTheClient() throws Exception {
        InMemoryCa rogue = InMemoryCa.create("cluster.local");
        Handshakes.Outcome o = handshakes.run(rawServer(rogue.issue(validFor(SERVER))), tls.client(CLIENT, Set.of(SERVER)).join());
        assertThat(o.clientError()).isNotNull();
        assertThat(o.errors()).contains("chain does not verify");
    }

    /**
     * The alert the refusing side sends is ztunnel's: its client verifier returns
     * {@code CertificateError::Other(SanError)} for an unexpected identity (istio/ztunnel
     * src/tls/workload.rs {@code verify_full_san}), which rustls sends as {@code certificate_unknown};
     * webpki's {@code UnknownIssuer} is {@code unknown_ca}. Before, BoringSSL sent
     * {@code internal_error}, and the server's log read TLSV1_ALERT_INTERNAL_ERROR.
     */
    @Test
    @org.junit.jupiter.api.DisplayName("an unexpected identity is refused with certificate_unknown, an unknown issuer with unknown_ca (ztunnel src/tls/workload.rs via rustls)")
    void theRefusingSideSendsZtunnelsAlert() throws Exception {
        SpiffeId expected = SpiffeIds.istio("cluster.local", "prod", "payments");
        Handshakes.Outcome wrongId = handshakes.run(server(tls), tls.client(CLIENT, Set.of(expected)).join());
        assertThat(wrongId.clientError()).hasStackTraceContaining("peer identity " + SERVER + " is not the expected " + expected);
        assertThat(wrongId.serverError()).as(wrongId.errors()).hasStackTraceContaining("ALERT_CERTIFICATE_UNKNOWN");

        InMemoryCa rogue = InMemoryCa.create("cluster.local");
        Handshakes.Outcome rogueServer = handshakes.run(rawServer(rogue.issue(validFor(SERVER))), tls.client(CLIENT, Set.of(SERVER)).join());
        assertThat(rogueServer.serverError()).as(rogueServer.errors()).hasStackTraceContaining("ALERT_UNKNOWN_CA");

        // Another trust domain with federation off: ztunnel's SanTrustDomainError, also certificate_unknown.
        InMemoryCa other = InMemoryCa.create("other.local");
        SpiffeId foreign = SpiffeIds.istio("other.local", "prod", "backend");
        try (MeshTls both = MeshTls.builder(new FixedIdentityProvider(ca.issue(CLIENT),
                X509BundleSet.of(List.of(ca.bundle(), other.bundle())))).build()) {
            Handshakes.Outcome o = handshakes.run(rawServer(other.issue(validFor(foreign))), both.client(CLIENT, Set.of()).join());
            assertThat(o.clientError()).hasStackTraceContaining("is not the local trust domain");
            assertThat(o.serverError()).as(o.errors()).hasStackTraceContaining("ALERT_CERTIFICATE_UNKNOWN");
        }
    }

    @Test
    void wrongServerIdentityIsRejectedByTheClient() throws Exception {
        SpiffeId expected = SpiffeIds.istio("cluster.local", "prod", "payments");
        Handshakes.Outcome o = handshakes.run(server(tls), tls.client(CLIENT, Set.of(expected)).join());
        assertThat(o.clientError()).isNotNull();
        assertThat(o.errors()).contains("peer identity " + SERVER + " is not the expected " + expected);
    }

    @Test
    void anyOfSeveralExpectedIdentitiesIsAccepted() throws Exception {
        SpiffeId other = SpiffeIds.istio("cluster.local", "prod", "payments");
        Handshakes.Outcome o = handshakes.run(server(tls), tls.client(CLIENT, Set.of(other, SERVER)).join());
        assertThat(o.succeeded()).as(o.errors()).isTrue();
    }

    @Test
    void expiredCertificateIsRejected() throws Exception {
        Instant past = Instant.now().minus(Duration.ofDays(2));
        IssuedCertificate expired = ca.issue(LeafSpec.svid(CLIENT.toString(), past, past.plus(Duration.ofHours(1))));
        Handshakes.Outcome o = handshakes.run(server(tls), rawClient(expired));
        assertThat(o.serverError()).isNotNull();
        assertThat(o.errors()).contains(CLIENT + ": certificate expired at");
    }

    @Test
    void notYetValidCertificateIsRejected() throws Exception {
        Instant future = Instant.now().plus(Duration.ofDays(2));
        IssuedCertificate early = ca.issue(LeafSpec.svid(CLIENT.toString(), future, future.plus(Duration.ofHours(1))));
        Handshakes.Outcome o = handshakes.run(server(tls), rawClient(early));
        assertThat(o.serverError()).isNotNull();
        assertThat(o.errors()).contains(CLIENT + ": certificate not valid before");
    }

    @Test
    void caCertificateUsedAsLeafIsRejected() throws Exception {
        Handshakes.Outcome o = handshakes.run(server(tls), rawClient(ca.issue(validFor(CLIENT).withCa(true))));
        assertThat(o.serverError()).isNotNull();
        assertThat(o.errors()).contains("leaf certificate is a CA");
    }

    @Test
    void twoUriSansAreRejected() throws Exception {
        IssuedCertificate two = ca.issue(validFor(CLIENT).withUriSans(CLIENT.toString(), SERVER.toString()));
        Handshakes.Outcome o = handshakes.run(server(tls), rawClient(two));
        assertThat(o.serverError()).isNotNull();
        assertThat(o.errors()).contains("certificate has 2 URI SANs");
    }

    @Test
    void leafWithoutDigitalSignatureIsRejected() throws Exception {
        Handshakes.Outcome o = handshakes.run(server(tls), rawClient(ca.issue(validFor(CLIENT).withDigitalSignature(false))));
        assertThat(o.serverError()).isNotNull();
    }

    /** spiffe/spiffe X509-SVID.md 4.1 and java-spiffe X509Svid.validateLeafSpiffeId: a leaf names a workload. */
    @Test
    void leafWithoutPathIsRejectedByTheServer() throws Exception {
        IssuedCertificate domainOnly = ca.issue(validFor(CLIENT).withUriSans("spiffe://cluster.local"));
        Handshakes.Outcome o = handshakes.run(server(tls), rawClient(domainOnly));
        assertThat(o.serverError()).isNotNull();
        assertThat(o.serverSawPeer()).isNull();
        assertThat(o.errors()).contains("spiffe://cluster.local: leaf SPIFFE ID has no path");
    }

    @Test
    void leafWithoutPathIsRejectedByTheClientEvenWhenExpected() throws Exception {
        IssuedCertificate domainOnly = ca.issue(validFor(SERVER).withUriSans("spiffe://cluster.local"));
        SpiffeId bare = SpiffeId.parse("spiffe://cluster.local");
        for (Set<SpiffeId> expected : List.of(Set.<SpiffeId>of(), Set.of(bare))) {
            Handshakes.Outcome o = handshakes.run(rawServer(domainOnly), tls.client(CLIENT, expected).join());
            assertThat(o.clientError()).as("expected %s", expected).isNotNull();
            assertThat(o.clientSawPeer()).isNull();
            assertThat(o.errors()).contains("leaf SPIFFE ID has no path");
        }
    }

    /**
     * A URI SAN with an upper-case scheme or trust domain is not a SPIFFE ID: istio/ztunnel
     * src/identity/manager.rs {@code Identity::from_str} requires a case-sensitive {@code spiffe://} and
     * compares the trust domain as written, so ztunnel refuses such a peer; go-spiffe
     * ({@code spiffeid.FromString}) and java-spiffe's own error text ("Trust domain characters are limited
     * to lowercase letters...") say the same. java-spiffe 0.8.17 would fold it to lower case and accept it.
     */
    @Test
    void nonCanonicalSpiffeIdInTheLeafIsRejected() throws Exception {
        for (String san : List.of("spiffe://CLUSTER.LOCAL/ns/prod/sa/frontend", "SPIFFE://cluster.local/ns/prod/sa/frontend",
                "spiffe://Cluster.Local/ns/prod/sa/frontend")) {
            IssuedCertificate upper = ca.issue(validFor(CLIENT).withUriSans(san));
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> SvidVerifier.verify(
                            new java.security.cert.X509Certificate[] {upper.leaf()}, ca.bundles()))
                    .as(san).isInstanceOf(java.security.cert.CertificateException.class)
                    .hasMessageContaining("must be lower case");
            Handshakes.Outcome o = handshakes.run(server(tls), rawClient(upper));
            assertThat(o.serverError()).as("server must refuse %s", san).isNotNull();
            assertThat(o.serverSawPeer()).isNull();
        }
        // The path keeps its case: it is part of the identity, not folded.
        IssuedCertificate mixedPath = ca.issue(validFor(CLIENT).withUriSans("spiffe://cluster.local/ns/prod/sa/Frontend"));
        assertThat(SvidVerifier.verify(new java.security.cert.X509Certificate[] {mixedPath.leaf()}, ca.bundles()).toString())
                .isEqualTo("spiffe://cluster.local/ns/prod/sa/Frontend");
    }

    /**
     * A URI SAN java-spiffe refuses (percent-encoding, a trailing slash, a port, an empty segment, another scheme) is a
     * {@link java.security.cert.CertificateException} naming the SAN, so the handshake fails with certificate_unknown:
     * java-spiffe's InvalidSpiffeIdException is unchecked and escaped the verifier (BoringSSL then sent internal_error;
     * a review pass). spiffe/spiffe standards/SPIFFE-ID.md section 2.
     */
    @Test
    void aUriSanThatIsNoSpiffeIdIsACertificateError() throws Exception {
        for (String san : List.of("spiffe://cluster.local/ns/prod/sa/a%2Fb", "spiffe://cluster.local/ns/prod/sa/frontend/",
                "spiffe://cluster.local:15008/ns/prod/sa/frontend", "spiffe://cluster.local/ns//sa/frontend",
                "https://backend.prod/")) {
            IssuedCertificate bad = ca.issue(validFor(CLIENT).withUriSans(san));
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> SvidVerifier.verify(
                            new java.security.cert.X509Certificate[] {bad.leaf()}, ca.bundles()))
                    .as(san).isInstanceOf(java.security.cert.CertificateException.class)
                    .hasMessageContaining("URI SAN \"" + san + "\" is not a SPIFFE ID");
            Handshakes.Outcome o = handshakes.run(server(tls), rawClient(bad));
            assertThat(o.serverError()).as("server must refuse %s", san).isNotNull();
            assertThat(o.serverSawPeer()).isNull();
        }
    }

    /**
     * A peer's chain: every certificate on the path is a CA (X509-SVID section 4.3); one the path does not use is ignored,
     * as go-spiffe's x509svid.Verify (crypto/x509 with the rest as intermediates) and webpki do.
     */
    @Test
    void nonCaCertificateAboveTheLeafThatSignsNothingIsIgnored() throws Exception {
        IssuedCertificate leaf = ca.issue(validFor(CLIENT));
        IssuedCertificate other = ca.issue(validFor(SERVER));
        // Neither BoringSSL nor the JDK will send such a chain, so the verifier is called as the trust manager would. The
        // leaf is the root's: the other leaf is an extraneous certificate, which RFC 8446 section 4.4.2 asks a peer to
        // tolerate and webpki (ztunnel) ignores; until 5 December it was refused as a signing certificate that is no CA.
        // A non-CA certificate that does sign the leaf is still refused (ChainPathTest).
        java.security.cert.X509Certificate[] chain = {leaf.leaf(), other.leaf()};
        assertThat(SvidVerifier.verify(chain, ca.bundles())).isEqualTo(CLIENT);
    }

    @Test
    void missingClientCertificateIsRejected() throws Exception {
        Handshakes.Outcome o = handshakes.run(server(tls), rawClient(null));
        assertThat(o.serverError()).as("server must require a client certificate").isNotNull();
        assertThat(o.serverSawPeer()).isNull();
    }

    @Test
    void otherTrustDomainIsRejectedUnlessFederated() throws Exception {
        InMemoryCa other = InMemoryCa.create("other.example");
        SpiffeId stranger = SpiffeIds.istio("other.example", "prod", "frontend");
        try (MeshTls otherTls = MeshTls.builder(other).federation(true).build()) {
            // The stranger trusts us, so only our server's check can fail.
            other.federate(ca.bundle());
            Handshakes.Outcome o = handshakes.run(server(tls), otherTls.client(stranger, Set.of(SERVER)).join());
            assertThat(o.serverError()).isNotNull();
            assertThat(o.errors()).contains(stranger + ": no trust bundle for trust domain other.example");

            InMemoryCa ours = InMemoryCa.create("cluster.local");
            ours.federate(other.bundle());
            other.federate(ours.bundle());
            try (MeshTls local = MeshTls.builder(ours).build()) {
                // A federated bundle alone does not widen access: federation is an explicit option.
                Handshakes.Outcome off = handshakes.run(local.server(SERVER).join(), otherTls.client(stranger, Set.of(SERVER)).join());
                assertThat(off.serverError()).isNotNull();
                assertThat(off.errors()).contains("is not the local trust domain cluster.local and federation is off");
            }
            other.federate(InMemoryCa.create("cluster.local").bundle());
            try (MeshTls federated = MeshTls.builder(ours).federation(true).build()) {
                Handshakes.Outcome ok = handshakes.run(federated.server(SERVER).join(), otherTls.client(stranger, Set.of()).join());
                // The stranger does not trust `ours` yet; federate both ways for a clean handshake.
                other.federate(ours.bundle());
                Handshakes.Outcome both = handshakes.run(federated.server(SERVER).join(), otherTls.client(stranger, Set.of(SERVER)).join());
                assertThat(both.succeeded()).as(both.errors()).isTrue();
                assertThat(both.serverSawPeer()).isEqualTo(stranger);
                assertThat(ok.clientError()).isNotNull();
            }
        }
    }

    /**
     * A client holding a resumable TLS 1.3 session (same client context, same host:port) is verified
     * against the bundle of the moment: a root removed from the bundle cuts it too. The test does not
     * observe whether BoringSSL resumed; it proves the property either way.
     */
    @Test
    void resumedSessionIsVerifiedAgainstTheCurrentBundle() throws Exception {
        FixedIdentityProvider p = new FixedIdentityProvider(ca.issue(SERVER), ca.bundles());
        try (MeshTls t = MeshTls.builder(p).build(); MeshTls c = MeshTls.builder(ca).build()) {
            SslContext server = t.server(SERVER).join();
            SslContext client = c.client(CLIENT, Set.of(SERVER)).join();
            List<Handshakes.Outcome> o = handshakes.series(server, client, 2,
                    () -> p.bundles(X509BundleSet.of(List.of(InMemoryCa.create("cluster.local").bundle()))));
            assertThat(o.get(0).succeeded()).as(o.get(0).errors()).isTrue();
            assertThat(o.get(1).succeeded()).as(o.get(1).errors()).isTrue();
            assertThat(o.get(2).succeeded()).as("a resumed session must not skip verification").isFalse();
        }
    }

    @Test
    void bundleSetIsReadPerHandshake() throws Exception {
        FixedIdentityProvider p = new FixedIdentityProvider(ca.issue(SERVER), ca.bundles());
        try (MeshTls t = MeshTls.builder(p).build()) {
            SslContext ctx = t.server(SERVER).join();
            assertThat(handshakes.run(ctx, tls.client(CLIENT, Set.of(SERVER)).join()).succeeded()).isTrue();
            p.bundles(X509BundleSet.of(List.of(InMemoryCa.create("cluster.local").bundle())));
            Handshakes.Outcome o = handshakes.run(ctx, tls.client(CLIENT, Set.of(SERVER)).join());
            assertThat(o.serverError()).as("the same context must see the new bundle").isNotNull();
        }
    }
}
