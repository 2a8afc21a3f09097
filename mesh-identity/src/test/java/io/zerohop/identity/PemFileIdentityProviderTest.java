package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
import io.spiffe.svid.x509svid.X509Svid;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.bouncycastle.asn1.sec.SECObjectIdentifiers;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PemFileIdentityProviderTest {
    private static final SpiffeId ID = SpiffeIds.istio("pem.test", "default", "app");
    private static InMemoryCa ca;
    private static InMemoryCa otherCa;

    @TempDir
    Path dir;

    private final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeAll
    static void cas() {
        ca = InMemoryCa.builder().trustDomain("pem.test").intermediate(true).build();
        otherCa = InMemoryCa.create("pem.test");
    }

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
    }

    private PemFileIdentityProvider open(PemFileIdentityProvider.Builder b) {
        PemFileIdentityProvider p = b.build();
        toClose.add(p);
        return p;
    }

    /** A provider that only reloads when the test says so. */
    private PemFileIdentityProvider manual() {
        return open(PemFileIdentityProvider.builder().directory(dir).watch(false).pollInterval(Duration.ofHours(1)));
    }

    private void writeSvid(X509Svid svid) throws Exception {
        Pem.write(dir.resolve("tls.key"), Pem.privateKey(svid.getPrivateKey()), true);
        Pem.write(dir.resolve("tls.crt"), Pem.certificates(svid.getChain()), false);
    }

    private void writeBundle(X509Bundle bundle) throws Exception {
        Pem.write(dir.resolve("ca.crt"), Pem.certificates(List.copyOf(bundle.getX509Authorities())), false);
    }

    private X509Svid writeFresh() throws Exception {
        X509Svid svid = ca.issue(ID);
        writeSvid(svid);
        writeBundle(ca.bundle());
        return svid;
    }

    @Test
    void servesCertManagerLayoutWithIntermediate() throws Exception {
        X509Svid issued = writeFresh();
        PemFileIdentityProvider p = manual();

        assertThat(p.defaultIdentity()).contains(ID);
        X509Svid served = p.svid(ID).get(5, TimeUnit.SECONDS);
        assertThat(served.getChain()).isEqualTo(issued.getChain()).hasSize(2);
        assertThat(served.getPrivateKey().getEncoded()).isEqualTo(issued.getPrivateKey().getEncoded());
        assertThat(p.bundles().getBundleForTrustDomain(TrustDomain.parse("pem.test")).getX509Authorities())
                .containsExactly(ca.root());
    }

    /** A provider over fresh files (not watched) whose clock stands a second before the SVID's notAfter. */
    private record Expiring(PemFileIdentityProvider provider, io.zerohop.identity.testing.MutableClock clock, java.time.Instant notAfter) {}

    private Expiring expiring() throws Exception {
        java.time.Instant notAfter = writeFresh().getLeaf().getNotAfter().toInstant();
        io.zerohop.identity.testing.MutableClock clock = new io.zerohop.identity.testing.MutableClock(notAfter.minusSeconds(1));
        return new Expiring(open(PemFileIdentityProvider.builder().directory(dir).watch(false).pollInterval(Duration.ofHours(1))
                .clock(clock)), clock, notAfter);
    }

    /**
     * An SVID past its notAfter is not handed out, as SpireIdentityProvider's and ztunnel's (src/identity/manager.rs keeps a
     * certificate until it expires). A new-user pass found a proxy on PEM files presenting its expired certificate at
     * every handshake, each failing at the peer ("certificate expired"), and nothing logged.
     */
    @Test
    void anExpiredSvidIsNotHandedOut() throws Exception {
        Expiring e = expiring();
        assertThat(e.provider().svid(ID).get(5, TimeUnit.SECONDS)).isSameAs(e.provider().svid(ID).get(5, TimeUnit.SECONDS));
        e.clock().advance(Duration.ofSeconds(2));
        assertThatThrownBy(() -> e.provider().svid(ID).get(5, TimeUnit.SECONDS)).cause().isInstanceOf(IllegalStateException.class)
                .hasMessage("no SVID for " + ID + ": the one in " + dir.resolve("tls.crt") + " expired at " + e.notAfter()
                        + " and the files have not been renewed (they are read again when they change)");
    }

    /** The state /config_dump reads (ztunnel's CertState): what svid answers, Available or Unavailable with its error. */
    @Test
    void certificateStateIsWhatSvidAnswers() throws Exception {
        Expiring e = expiring();
        X509Svid held = e.provider().svid(ID).get(5, TimeUnit.SECONDS);
        assertThat(e.provider().certificateState(ID)).hasValueSatisfying(st ->
                assertThat(((CertificateState.Available) st).svid()).isSameAs(held));
        SpiffeId other = SpiffeId.parse("spiffe://pem.test/other");
        assertThat(e.provider().certificateState(other)).hasValueSatisfying(st ->
                assertThat(((CertificateState.Unavailable) st).error()).hasMessageContaining("hold only " + ID));
        e.clock().advance(Duration.ofSeconds(2));
        assertThat(e.provider().certificateState(ID)).hasValueSatisfying(st ->
                assertThat(((CertificateState.Unavailable) st).error()).hasMessageContaining("expired at " + e.notAfter()));
    }

    /**
     * The expiry is said at WARN, at most once a minute: refused handshakes were only access lines at INFO, with readiness
     * still green (a lifecycle pass, helper 231), where ztunnel warns at each retry of its fetch (src/identity/manager.rs).
     */
    @Test
    void anExpiredUnrenewedSvidIsWarnedOfOnceAMinute() throws Exception {
        Expiring e = expiring();
        PemFileIdentityProvider p = e.provider();
        java.time.Instant notAfter = e.notAfter();
        e.clock().advance(Duration.ofSeconds(2));
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        java.io.PrintStream old = System.err;
        System.setErr(new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            for (int i = 0; i < 3; i++) {
                assertThatThrownBy(() -> p.svid(ID).get(5, TimeUnit.SECONDS)).cause().isInstanceOf(IllegalStateException.class);
            }
            e.clock().advance(Duration.ofSeconds(61));
            assertThatThrownBy(() -> p.svid(ID).get(5, TimeUnit.SECONDS)).cause().isInstanceOf(IllegalStateException.class);
        } finally {
            System.setErr(old);
        }
        List<String> warnings = err.toString(java.nio.charset.StandardCharsets.UTF_8).lines().filter(l -> l.contains("WARN")).toList();
        assertThat(warnings).hasSize(2).allSatisfy(l -> assertThat(l).contains("no SVID for " + ID + ": the one in "
                + dir.resolve("tls.crt") + " expired at " + notAfter).contains("every new connection of " + ID + " fails until they are"));
    }

    @Test
    void svidForAnotherIdentityFailsClearly() throws Exception {
        writeFresh();
        PemFileIdentityProvider p = manual();
        SpiffeId other = SpiffeIds.istio("pem.test", "default", "other");

        assertThatThrownBy(() -> p.svid(other).get(5, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .cause().isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(other.toString())
                .hasMessageContaining("hold only " + ID);
        // A null id is the caller's mistake, thrown as every provider throws it (IdentityProvider.svid); until 5 December
        // this one returned a failed future.
        assertThatThrownBy(() -> p.svid(null)).isInstanceOf(NullPointerException.class).hasMessage("id must not be null");
    }

    @Test
    void bundleFileWithSeveralRoots() throws Exception {
        InMemoryCa rotating = InMemoryCa.create("pem.test");
        X509Svid svid = rotating.issue(ID);
        rotating.rotateRoot();
        writeSvid(svid);
        writeBundle(rotating.bundle());
        PemFileIdentityProvider p = manual();

        assertThat(p.bundles().getBundleForTrustDomain(TrustDomain.parse("pem.test")).getX509Authorities()).hasSize(2);
    }

    @Test
    void reloadsWhenWatchedFilesChange() throws Exception {
        writeFresh();
        PemFileIdentityProvider p = open(PemFileIdentityProvider.builder().directory(dir).pollInterval(Duration.ofHours(1)));
        LinkedBlockingQueue<X509Svid> rotated = new LinkedBlockingQueue<>();
        p.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                rotated.add(svid);
            }
        });

        X509Svid next = ca.issue(ID);
        writeSvid(next);

        X509Svid seen = rotated.poll(10, TimeUnit.SECONDS);
        assertThat(seen).as("svidRotated after the files changed").isNotNull();
        assertThat(seen.getLeaf()).isEqualTo(next.getLeaf());
        assertThat(p.svid(ID).get(5, TimeUnit.SECONDS).getLeaf()).isEqualTo(next.getLeaf());
        assertThat(p.current().getPrivateKey().getEncoded()).isEqualTo(next.getPrivateKey().getEncoded());
    }

    /**
     * A directory removed and made again (a day-2 pass, 5 December: {@code rm -rf pem; cp -r pem.good pem}) is watched
     * again: the watch on the old directory ended with it, and until then every later change waited for the poll
     * (30 s by default; here an hour, so only the watch can see it).
     */
    @Test
    void aReplacedDirectoryIsWatchedAgain() throws Exception {
        Path certs = Files.createDirectory(dir.resolve("certs"));
        X509Svid first = ca.issue(ID);
        writeSvid(certs, first);
        PemFileIdentityProvider p = open(PemFileIdentityProvider.builder().directory(certs).pollInterval(Duration.ofHours(1)));
        LinkedBlockingQueue<X509Svid> rotated = new LinkedBlockingQueue<>();
        p.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                rotated.add(svid);
            }
        });
        // rm -rf certs; mkdir certs (a directory moved away keeps its watch, on the moved directory: not covered)
        try (java.util.stream.Stream<Path> files = Files.list(certs)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(certs);
        Thread.sleep(300);
        Files.createDirectory(certs);
        X509Svid second = ca.issue(ID);
        writeSvid(certs, second);
        X509Svid seen = rotated.poll(10, TimeUnit.SECONDS);
        assertThat(seen).as("svidRotated after the directory was replaced").isNotNull();
        assertThat(seen.getLeaf()).isEqualTo(second.getLeaf());
        // The new directory is watched: a later change is seen too.
        X509Svid third = ca.issue(ID);
        writeSvid(certs, third);
        X509Svid later = rotated.poll(10, TimeUnit.SECONDS);
        while (later != null && !later.getLeaf().equals(third.getLeaf())) {
            later = rotated.poll(10, TimeUnit.SECONDS);
        }
        assertThat(later).as("svidRotated after a change in the new directory").isNotNull();
    }

    private void writeSvid(Path in, X509Svid svid) throws Exception {
        Pem.write(in.resolve("tls.key"), Pem.privateKey(svid.getPrivateKey()), true);
        Pem.write(in.resolve("tls.crt"), Pem.certificates(svid.getChain()), false);
        Pem.write(in.resolve("ca.crt"), Pem.certificates(List.copyOf(ca.bundle().getX509Authorities())), false);
    }

    @Test
    void pollingFindsChangesWithoutWatchService() throws Exception {
        writeFresh();
        PemFileIdentityProvider p = open(PemFileIdentityProvider.builder().directory(dir)
                .watch(false).pollInterval(Duration.ofMillis(50)));
        CountDownLatch latch = new CountDownLatch(1);
        p.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                latch.countDown();
            }
        });
        X509Svid next = ca.issue(ID);
        writeSvid(next);

        assertThat(latch.await(10, TimeUnit.SECONDS)).as("poll picked up the new files").isTrue();
        assertThat(p.current().getLeaf()).isEqualTo(next.getLeaf());
    }

    @Test
    void keyFromAnotherPairIsRejectedAndOldKeepsServing() throws Exception {
        X509Svid old = writeFresh();
        PemFileIdentityProvider p = manual();
        CountDownLatch fired = new CountDownLatch(1);
        p.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                fired.countDown();
            }
        });

        // cert-manager's order of writes can leave a new certificate next to the old key
        Pem.write(dir.resolve("tls.crt"), Pem.certificates(ca.issue(ID).getChain()), false);

        assertThatThrownBy(p::reload).isInstanceOf(GeneralSecurityException.class)
                .hasMessageContaining("tls.crt").hasMessageContaining("tls.key")
                .hasMessageContaining("does not match");
        assertThat(p.current().getLeaf()).isEqualTo(old.getLeaf());
        assertThat(fired.getCount()).isEqualTo(1);
    }

    @Test
    void halfWrittenCertificateIsRejected() throws Exception {
        X509Svid old = writeFresh();
        PemFileIdentityProvider p = manual();
        String pem = Pem.certificates(ca.issue(ID).getChain());
        Files.writeString(dir.resolve("tls.crt"), pem.substring(0, pem.length() / 3), StandardCharsets.US_ASCII);

        assertThatThrownBy(p::reload).isInstanceOf(GeneralSecurityException.class).hasMessageContaining("tls.crt");
        assertThat(p.current().getLeaf()).isEqualTo(old.getLeaf());
    }

    @Test
    void certificateThatIsNotAnSvidIsRejected() throws Exception {
        X509Svid old = writeFresh();
        PemFileIdentityProvider p = manual();
        Instant now = Instant.now();
        IssuedCertificate twoSans = ca.issue(LeafSpec.svid(ID.toString(), now.minusSeconds(60), now.plusSeconds(3600))
                .withUriSans(ID.toString(), "spiffe://pem.test/second"));
        Pem.write(dir.resolve("tls.key"), twoSans.keyPem(), true);
        Pem.write(dir.resolve("tls.crt"), twoSans.chainPem(), false);

        assertThatThrownBy(p::reload).isInstanceOf(GeneralSecurityException.class)
                .hasMessageContaining("not an X.509-SVID");
        assertThat(p.current().getLeaf()).isEqualTo(old.getLeaf());
    }

    /**
     * A URI SAN java-spiffe's parser refuses (an empty segment, a trailing slash, an upper-case trust domain) is the same
     * checked "not an X.509-SVID" as a second SAN, naming the SAN: it escaped as java-spiffe's unchecked
     * InvalidSpiffeIdException, so {@code zerohop proxy --cert} printed its bare text and exited 1, not 4 (a new-user pass).
     */
    @Test
    void uriSanThatIsNoSpiffeIdIsRejectedNamingIt() throws Exception {
        X509Svid old = writeFresh();
        PemFileIdentityProvider p = manual();
        Instant now = Instant.now();
        for (String san : List.of("spiffe://pem.test/ns//sa/app", "spiffe://pem.test/ns/default/sa/app/", "spiffe://PEM.test/ns/default/sa/app")) {
            IssuedCertificate bad = ca.issue(LeafSpec.svid(ID.toString(), now.minusSeconds(60), now.plusSeconds(3600)).withUriSans(san));
            Pem.write(dir.resolve("tls.key"), bad.keyPem(), true);
            Pem.write(dir.resolve("tls.crt"), bad.chainPem(), false);
            assertThatThrownBy(p::reload).as(san).isInstanceOf(GeneralSecurityException.class)
                    .hasMessageContaining("not an X.509-SVID").hasMessageContaining("URI SAN \"" + san + "\"");
            assertThat(p.current().getLeaf()).isEqualTo(old.getLeaf());
            assertThatThrownBy(() -> PemFileIdentityProvider.builder().directory(dir).watch(false).build()).as(san)
                    .isInstanceOf(IllegalStateException.class).cause().isInstanceOf(GeneralSecurityException.class)
                    .hasMessageContaining("URI SAN \"" + san + "\"");
        }
    }

    @Test
    void certificateFromAnUntrustedCaIsRejected() throws Exception {
        X509Svid old = writeFresh();
        PemFileIdentityProvider p = manual();
        writeSvid(otherCa.issue(ID));

        assertThatThrownBy(p::reload).isInstanceOf(GeneralSecurityException.class)
                .hasMessageContaining("ca.crt").hasMessageContaining("does not verify");
        assertThat(p.current().getLeaf()).isEqualTo(old.getLeaf());
    }

    @Test
    void identityChangeIsRejected() throws Exception {
        writeFresh();
        PemFileIdentityProvider p = manual();
        writeSvid(ca.issue(SpiffeIds.istio("pem.test", "default", "someone-else")));

        assertThatThrownBy(p::reload).isInstanceOf(GeneralSecurityException.class).hasMessageContaining("SPIFFE ID changed");
        assertThat(p.defaultIdentity()).contains(ID);
    }

    @Test
    void backgroundFailureIsReportedAndALaterValidWriteRecovers() throws Exception {
        X509Svid old = writeFresh();
        AtomicReference<Exception> failure = new AtomicReference<>();
        CountDownLatch failed = new CountDownLatch(1);
        PemFileIdentityProvider p = open(PemFileIdentityProvider.builder().directory(dir)
                .pollInterval(Duration.ofMillis(100))
                .onReloadFailure(e -> {
                    failure.set(e);
                    failed.countDown();
                }));
        CountDownLatch rotated = new CountDownLatch(1);
        p.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                rotated.countDown();
            }
        });

        Files.writeString(dir.resolve("tls.key"), "-----BEGIN PRIVATE KEY-----\nAAAA", StandardCharsets.US_ASCII);
        assertThat(failed.await(10, TimeUnit.SECONDS)).as("failure reported").isTrue();
        assertThat(failure.get()).hasMessageContaining("tls.key");
        assertThat(p.current().getLeaf()).isEqualTo(old.getLeaf());
        assertThat(rotated.getCount()).isEqualTo(1);

        X509Svid next = ca.issue(ID);
        writeSvid(next);
        assertThat(rotated.await(10, TimeUnit.SECONDS)).as("valid files installed after the bad ones").isTrue();
        assertThat(p.current().getLeaf()).isEqualTo(next.getLeaf());
    }

    @Test
    void bundleChangeFiresBundlesChangedOnly() throws Exception {
        writeFresh();
        PemFileIdentityProvider p = manual();
        LinkedBlockingQueue<X509BundleSet> bundles = new LinkedBlockingQueue<>();
        CountDownLatch svidFired = new CountDownLatch(1);
        p.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                svidFired.countDown();
            }

            @Override
            public void bundlesChanged(X509BundleSet set) {
                bundles.add(set);
            }
        });
        X509Bundle extra = new X509Bundle(TrustDomain.parse("pem.test"), new java.util.HashSet<>(List.of(ca.root(), otherCa.root())));
        writeBundle(extra);

        assertThat(p.reload()).isTrue();
        assertThat(bundles).hasSize(1);
        assertThat(bundles.peek().getBundleForTrustDomain(TrustDomain.parse("pem.test")).getX509Authorities())
                .containsExactlyInAnyOrder(ca.root(), otherCa.root());
        assertThat(svidFired.getCount()).isEqualTo(1);
        assertThat(p.reload()).as("unchanged files are not reloaded").isFalse();
    }

    @Test
    void federatedBundleFile() throws Exception {
        writeFresh();
        InMemoryCa partner = InMemoryCa.create("partner.test");
        Path partnerFile = dir.resolve("partner.pem");
        Pem.write(partnerFile, Pem.certificates(List.of(partner.root())), false);
        PemFileIdentityProvider p = open(PemFileIdentityProvider.builder().directory(dir)
                .federatedBundle("partner.test", partnerFile).watch(false).pollInterval(Duration.ofHours(1)));

        assertThat(p.bundles().getBundles()).hasSize(2);
        assertThat(p.bundles().getBundleForTrustDomain(TrustDomain.parse("partner.test")).getX509Authorities())
                .containsExactly(partner.root());
        X509Svid peer = partner.issue(SpiffeId.parse("spiffe://partner.test/peer"));
        assertThat(SvidVerifier.verify(peer.getChainArray(), p.bundles())).isEqualTo(peer.getSpiffeId());
    }

    /**
     * A new-user pass: java-spiffe's {@code TrustDomain.parse} folded {@code Partner.Example} to lower case and took
     * {@code spiffe://partner.example}, names {@code SpiffeIds.trustDomain}, {@code InMemoryCa} and {@code Mesh.Builder}
     * refuse. The same check now, with the same message.
     */
    @Test
    void federatedBundleTakesATrustDomainInCanonicalFormOnlyAsTheRestOfTheMesh() throws Exception {
        Path partnerFile = dir.resolve("partner.pem");
        for (String name : new String[] {"Partner.Example", "spiffe://partner.example", "partner.example/x", "Not A Domain!", null}) {
            String expected = catchThrowable(() -> SpiffeIds.trustDomain(name)).getMessage();
            assertThat(expected).startsWith(name == null ? "invalid trust domain: null" : "invalid trust domain \"" + name + "\": ");
            assertThatThrownBy(() -> PemFileIdentityProvider.builder().federatedBundle(name, partnerFile))
                    .as(name).isInstanceOf(IllegalArgumentException.class).hasMessage(expected);
        }
        assertThat(catchThrowable(() -> SpiffeIds.trustDomain("Partner.Example")))
                .hasMessage("invalid trust domain \"Partner.Example\": not in canonical form (trust domain must be lower case)");

        writeFresh();
        InMemoryCa partner = InMemoryCa.create("partner.example");
        Pem.write(partnerFile, Pem.certificates(List.of(partner.root())), false);
        PemFileIdentityProvider p = open(PemFileIdentityProvider.builder().directory(dir)
                .federatedBundle("partner.example", partnerFile).watch(false).pollInterval(Duration.ofHours(1)));
        assertThat(p.bundles().getBundles().keySet()).containsExactlyInAnyOrder(TrustDomain.parse("pem.test"),
                TrustDomain.parse("partner.example"));
    }

    @Test
    void sec1EcKeyAsCertManagerWritesByDefault() throws Exception {
        X509Svid svid = ca.issue(ID);
        // SEC1 with the curve named inside, as Go's x509.MarshalECPrivateKey writes it
        java.security.interfaces.ECPrivateKey k = (java.security.interfaces.ECPrivateKey) svid.getPrivateKey();
        String sec1 = Pem.encode("EC PRIVATE KEY",
                new org.bouncycastle.asn1.sec.ECPrivateKey(256, k.getS(), SECObjectIdentifiers.secp256r1).getEncoded());
        Pem.write(dir.resolve("tls.key"), sec1, true);
        Pem.write(dir.resolve("tls.crt"), Pem.certificates(svid.getChain()), false);
        writeBundle(ca.bundle());

        assertThat(manual().current().getLeaf()).isEqualTo(svid.getLeaf());
    }

    @Test
    void builderSaysWhatIsMissingOrWrong() throws Exception {
        assertThatThrownBy(() -> PemFileIdentityProvider.builder().certificateChain(dir.resolve("a")).build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("privateKey").hasMessageContaining("trustBundle");
        assertThatThrownBy(() -> PemFileIdentityProvider.builder().pollInterval(Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("pollInterval");
        assertThatThrownBy(() -> PemFileIdentityProvider.builder().federatedBundle("Not A Domain!", dir))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Not A Domain!");
        assertThatThrownBy(() -> PemFileIdentityProvider.certManager(dir))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining(dir.resolve("tls.crt").toString()).hasMessageContaining("not found");
    }

    /**
     * cert-manager's CA issuer writes NotBefore as its own now: a node whose clock is a few seconds behind the controller's
     * reads a certificate that starts a moment from now. It is served (ztunnel checks no dates on its own certificate,
     * src/tls/certificate.rs {@code WorkloadCertificate::new}); before 5 December the provider refused to start (helper 253).
     */
    @Test
    void aCertificateFromAClockAheadIsServed() throws Exception {
        InMemoryCa plain = InMemoryCa.create("pem.test");
        Instant now = Instant.now();
        IssuedCertificate c = plain.issue(LeafSpec.svid(ID.toString(), now.plusSeconds(30), now.plus(Duration.ofHours(1))));
        Files.writeString(dir.resolve("tls.crt"), c.chainPem());
        Files.writeString(dir.resolve("tls.key"), c.keyPem());
        Files.writeString(dir.resolve("ca.crt"), Pem.certificates(List.of(plain.root())));
        PemFileIdentityProvider p = open(PemFileIdentityProvider.builder().directory(dir).watch(false).pollInterval(Duration.ofHours(1)));
        assertThat(p.current().getSpiffeId()).isEqualTo(ID);
        assertThat(p.current().getLeaf().getNotBefore().toInstant()).isAfter(now);
    }
}
