package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.internal.X509;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InMemoryCaTest {
    static final SpiffeId ID = SpiffeIds.istio("cluster.local", "prod", "frontend");

    /**
     * caTtl counts from now: the root's NotBefore is back-dated for peers' clocks, its NotAfter is not (newuser28:
     * caTtl(30s) built a CA whose root had expired, as it ended 30 s after the 2-minute back-date).
     */
    /**
     * X.509 times are whole seconds: a leaf's validity is counted from the next whole second and its ttl rounded up,
     * never truncated, so a ttl under a second still gives a leaf valid when issued (until 5 December {@code svidTtl(1 ns)} issued leaves that had already expired).
     */
    @Test
    void aSubSecondTtlGivesALeafValidUntilTheNextWholeSecond() throws Exception {
        Instant now = Instant.parse("2026-12-05T00:00:00.250Z");
        InMemoryCa ca = InMemoryCa.builder().trustDomain("ttl.test").svidTtl(Duration.ofNanos(1))
                .clock(java.time.Clock.fixed(now, java.time.ZoneOffset.UTC)).build();
        SpiffeId id = SpiffeId.parse("spiffe://ttl.test/ns/a/sa/b");
        // Counted from the next whole second (00:00:01), the ttl rounded up: validity is never shorter than asked.
        X509Certificate leaf = ca.issue(id).getLeaf();
        assertThat(leaf.getNotAfter().toInstant()).isEqualTo(Instant.parse("2026-12-05T00:00:02Z"));
        assertThat(leaf.getNotBefore().toInstant()).isEqualTo(Instant.parse("2026-12-05T00:00:01Z").minus(InMemoryCa.BACKDATE));
        assertThat(ca.issue(id, Duration.ofMillis(1500)).getLeaf().getNotAfter().toInstant())
                .isEqualTo(Instant.parse("2026-12-05T00:00:03Z"));
        assertThat(ca.svid(id).get(5, TimeUnit.SECONDS).getLeaf().getNotAfter().toInstant()).isAfter(now);
        ca.close();
    }

    @Test
    void aShortCaTtlStillIssuesAndLeavesEndWithTheRoot() throws Exception {
        java.time.Instant before = java.time.Instant.now();
        InMemoryCa ca = InMemoryCa.builder().trustDomain("cluster.local").caTtl(Duration.ofSeconds(30)).build();
        assertThat(ca.root().getNotAfter().toInstant()).isAfterOrEqualTo(before.plusSeconds(29));
        X509Svid svid = ca.svid(SpiffeId.parse("spiffe://cluster.local/ns/a/sa/b")).get(10, TimeUnit.SECONDS);
        assertThat(svid.getLeaf().getNotAfter()).as("cut to the root's end").isEqualTo(ca.root().getNotAfter());
    }

    @Test
    void aTrustDomainNotInCanonicalFormIsRefusedAsTheMeshRefusesIt() {
        // java-spiffe folds "Cluster.Local" to "cluster.local"; Mesh.Builder.trustDomain refuses it (new-user pass).
        assertThatThrownBy(() -> InMemoryCa.create("Cluster.Local")).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("invalid trust domain \"Cluster.Local\": not in canonical form (trust domain must be lower case)");
        assertThatThrownBy(() -> InMemoryCa.create("bad domain")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("invalid trust domain \"bad domain\": ");
        assertThatThrownBy(() -> InMemoryCa.create(null)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("null");
        assertThatThrownBy(() -> InMemoryCa.create("cluster.local/x")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("invalid trust domain \"cluster.local/x\": a trust domain has no '/'");
        assertThat(InMemoryCa.create("cluster.local").trustDomain().getName()).isEqualTo("cluster.local");
    }

    @Test
    void anIdWithoutAPathIsTheCallersMistakeInAFailedFuture() {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        java.util.concurrent.CompletableFuture<?> f = ca.svid(io.spiffe.spiffeid.SpiffeId.parse("spiffe://cluster.local"));
        org.assertj.core.api.Assertions.assertThatThrownBy(f::join).hasCauseInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("has no path").hasMessageContaining("spiffe://cluster.local/ns/NS/sa/SA");
    }

    /**
     * SPIFFE-ID.md section 2.3 (spiffe/spiffe standards): implementations MUST support SPIFFE IDs up to 2048 bytes and
     * SHOULD NOT generate longer ones. The CA generated any length; a longer ID is refused, one of 2048 bytes is issued,
     * and a peer's longer ID still verifies (go-spiffe's and ztunnel's parsers check no length).
     */
    @Test
    void idsOverTheSpecs2048BytesAreNotGeneratedButStillVerify() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        String prefix = "spiffe://cluster.local/ns/prod/sa/";
        SpiffeId atLimit = SpiffeId.parse(prefix + "a".repeat(2048 - prefix.length()));
        assertThat(ca.issue(atLimit).getSpiffeId()).isEqualTo(atLimit);
        SpiffeId over = SpiffeId.parse(prefix + "a".repeat(2049 - prefix.length()));
        assertThatThrownBy(() -> ca.issue(over)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("a SPIFFE ID of 2049 bytes (spiffe://cluster.local/ns/prod/sa/aaaaaa...): over the 2048 the SPIFFE"
                        + " ID spec allows a CA to generate (SPIFFE-ID.md 2.3)");
        assertThatThrownBy(() -> ca.svid(over).join()).hasCauseInstanceOf(IllegalArgumentException.class);
        // A longer ID from elsewhere (a LeafSpec signs exactly what it is given) is verified as any other.
        IssuedCertificate longer = ca.issue(LeafSpec.svid(over.toString(), Instant.now().minusSeconds(60),
                Instant.now().plus(Duration.ofHours(1))));
        assertThat(SvidVerifier.verify(longer.chain().toArray(X509Certificate[]::new), ca.bundles())).isEqualTo(over);
    }

    @Test
    void issuesSvidsThatObeyTheX509SvidRules() throws Exception {
        InMemoryCa ca = InMemoryCa.builder().trustDomain("cluster.local").svidTtl(Duration.ofHours(2)).build();
        X509Svid svid = ca.issue(ID);
        X509Certificate leaf = svid.getLeaf();
        assertThat(svid.getSpiffeId()).isEqualTo(ID);
        assertThat(X509.uriSans(leaf)).containsExactly(ID.toString());
        assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
        assertThat(leaf.getKeyUsage()[0]).as("digitalSignature").isTrue();
        assertThat(leaf.getKeyUsage()[5]).as("keyCertSign").isFalse();
        assertThat(leaf.getPublicKey().getAlgorithm()).isEqualTo("EC");
        assertThat(Duration.between(leaf.getNotBefore().toInstant(), leaf.getNotAfter().toInstant()))
                .isEqualTo(Duration.ofHours(2).plus(InMemoryCa.BACKDATE));
        assertThat(SvidVerifier.verify(svid.getChainArray(), ca.bundles())).isEqualTo(ID);
    }

    @Test
    void refusesIdentitiesOfOtherTrustDomains() {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        assertThatThrownBy(() -> ca.issue(SpiffeIds.istio("other.org", "a", "b")))
                .hasMessageContaining("not in trust domain cluster.local");
        assertThat(ca.svid(SpiffeIds.istio("other.org", "a", "b"))).isCompletedExceptionally();
    }

    /**
     * istiod signs any CSR whose signature verifies for the caller's identity (istio/istio security/pkg/pki/ca/ca.go
     * {@code sign}: {@code ParsePemEncodedCSR}, {@code CheckSignature}, then {@code GenCertFromCSR} with the caller's
     * SANs), whatever SANs the request carries: none, or several. Until 6 December {@code signCsr(csr, subject, ttl)},
     * which FakeIstioCa signs with, refused both ("CSR has 0 URI SANs"), against its own Javadoc.
     */
    @Test
    void aCsrIsSignedForTheGivenSubjectWhateverSansItNames() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        KeyPair keys = X509.newP256();
        var none = new org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder(
                new org.bouncycastle.asn1.x500.X500Name(""), keys.getPublic()).build(X509.signer(keys.getPrivate())).getEncoded();
        var gen = new org.bouncycastle.asn1.x509.ExtensionsGenerator();
        gen.addExtension(org.bouncycastle.asn1.x509.Extension.subjectAlternativeName, true, new org.bouncycastle.asn1.x509.GeneralNames(
                new org.bouncycastle.asn1.x509.GeneralName[] {
                    new org.bouncycastle.asn1.x509.GeneralName(org.bouncycastle.asn1.x509.GeneralName.uniformResourceIdentifier,
                            "spiffe://cluster.local/ns/a/sa/a"),
                    new org.bouncycastle.asn1.x509.GeneralName(org.bouncycastle.asn1.x509.GeneralName.uniformResourceIdentifier,
                            "spiffe://cluster.local/ns/b/sa/b")}));
        var two = new org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder(new org.bouncycastle.asn1.x500.X500Name(""),
                keys.getPublic()).addAttribute(org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, gen.generate())
                .build(X509.signer(keys.getPrivate())).getEncoded();
        for (byte[] csr : List.of(none, two)) {
            List<X509Certificate> chain = ca.signCsr(csr, ID, Duration.ofMinutes(30));
            assertThat(X509.uriSans(chain.get(0))).containsExactly(ID.toString());
            assertThat(chain.get(0).getPublicKey()).isEqualTo(keys.getPublic());
        }
        // Without a subject to sign for, the request's own one SPIFFE ID is still required.
        assertThatThrownBy(() -> ca.signCsr(none, Duration.ofMinutes(1))).isInstanceOf(CertificateParsingException.class)
                .hasMessageContaining("0 URI SANs");
        byte[] tampered = none.clone();
        tampered[tampered.length - 5] ^= 0x1;
        assertThatThrownBy(() -> ca.signCsr(tampered, ID, Duration.ofMinutes(1))).isInstanceOf(CertificateParsingException.class);
    }

    @Test
    void signsCsrsForItsTrustDomainOnly() throws Exception {
        InMemoryCa ca = InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build();
        KeyPair keys = X509.newP256();
        List<X509Certificate> chain = ca.signCsr(Csr.create(keys, ID), Duration.ofMinutes(30));
        assertThat(chain).hasSize(2);
        assertThat(chain.get(0).getPublicKey()).isEqualTo(keys.getPublic());
        assertThat(SvidVerifier.verify(chain.toArray(new X509Certificate[0]), ca.bundles())).isEqualTo(ID);

        byte[] foreign = Csr.create(keys, SpiffeIds.istio("evil.org", "a", "b"));
        assertThatThrownBy(() -> ca.signCsr(foreign, Duration.ofMinutes(1))).hasMessageContaining("not in trust domain");
        byte[] tampered = Csr.create(keys, ID);
        tampered[tampered.length - 5] ^= 0x1;
        assertThatThrownBy(() -> ca.signCsr(tampered, Duration.ofMinutes(1))).isInstanceOf(CertificateParsingException.class);
        assertThat(Csr.fromPem(Csr.toPem(Csr.create(keys, ID)))).isNotEmpty();
    }

    /**
     * A new-user pass: {@code issue(id, ZERO)} was refused, {@code signCsr(csr, ZERO)} signed a certificate expired on
     * arrival; a negative ttl failed naming notAfter and notBefore, a null one with the JDK's NPE about amountToAdd.
     */
    @Test
    void signCsrRefusesTheTtlsIssueRefusesWithIssuesMessage() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        byte[] csr = Csr.create(X509.newP256(), ID);
        for (Duration ttl : new Duration[] {Duration.ZERO, Duration.ofHours(-1), Duration.ofNanos(-1)}) {
            Throwable byIssue = catchThrowable(() -> ca.issue(ID, ttl));
            assertThat(byIssue).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("ttl must be positive, got " + ttl + " (");
            assertThatThrownBy(() -> ca.signCsr(csr, ttl)).as("%s", ttl)
                    .isInstanceOf(IllegalArgumentException.class).hasMessage(byIssue.getMessage());
            assertThatThrownBy(() -> ca.signCsr(csr, ID, ttl)).as("%s", ttl)
                    .isInstanceOf(IllegalArgumentException.class).hasMessage(byIssue.getMessage());
        }
        Throwable nullByIssue = catchThrowable(() -> ca.issue(ID, null));
        assertThat(nullByIssue).isInstanceOf(NullPointerException.class).hasMessageStartingWith("ttl");
        assertThatThrownBy(() -> ca.signCsr(csr, null)).isInstanceOf(NullPointerException.class).hasMessage(nullByIssue.getMessage());
        assertThatThrownBy(() -> ca.signCsr(csr, ID, null)).isInstanceOf(NullPointerException.class)
                .hasMessage(nullByIssue.getMessage());
        // The shortest positive ttl is still signed, as by issue: the leaf ends within the second it was asked for.
        assertThat(ca.signCsr(csr, Duration.ofSeconds(1)).get(0).getNotAfter().toInstant()).isAfter(java.time.Instant.now().minusSeconds(2));
    }

    /**
     * A new-user pass: these failed with the JDK's NPE about a method called on null ({@code memberOf},
     * {@code uriSans}, {@code getTrustDomain}) or with the message "null", naming no parameter; {@code svid(null)} threw
     * though its code said it never throws. Each names its parameter now; {@code svid} throws for a null id only,
     * as {@code CertificateManager.svid} does.
     */
    @Test
    void aNullArgumentIsRefusedNamingTheParameter() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        byte[] csr = Csr.create(X509.newP256(), ID);
        assertThatThrownBy(() -> ca.issue((SpiffeId) null)).isInstanceOf(NullPointerException.class).hasMessage("id must not be null");
        assertThatThrownBy(() -> ca.issue(null, Duration.ofHours(1))).isInstanceOf(NullPointerException.class)
                .hasMessage("id must not be null");
        assertThatThrownBy(() -> ca.issue(ID, null)).isInstanceOf(NullPointerException.class).hasMessage("ttl must not be null");
        assertThatThrownBy(() -> ca.issue((LeafSpec) null)).isInstanceOf(NullPointerException.class)
                .hasMessage("spec must not be null");
        // A typo is an IllegalArgumentException naming it, not "certificate signing failed: java.io.IOException: invalid
        // URI name" at issue time (a new-user pass).
        java.time.Instant now = java.time.Instant.now();
        assertThatThrownBy(() -> LeafSpec.svid("not a spiffe id", now, now.plusSeconds(60))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("URI SAN \"not a spiffe id\" is not a URI (");
        assertThatThrownBy(() -> LeafSpec.svid("cluster.local/ns/a/sa/b", now, now.plusSeconds(60)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("has no scheme");
        assertThatThrownBy(() -> ca.svid(null)).isInstanceOf(NullPointerException.class).hasMessage("id must not be null");
        assertThatThrownBy(() -> ca.forget(null)).isInstanceOf(NullPointerException.class).hasMessage("id must not be null");
        assertThatThrownBy(() -> ca.federate(null)).isInstanceOf(NullPointerException.class).hasMessage("bundle must not be null");
        assertThatThrownBy(() -> ca.signCsr(null, Duration.ofHours(1))).isInstanceOf(NullPointerException.class)
                .hasMessage("csrDer must not be null");
        assertThatThrownBy(() -> ca.signCsr(null, ID, Duration.ofHours(1))).isInstanceOf(NullPointerException.class)
                .hasMessage("csrDer must not be null");
        assertThatThrownBy(() -> ca.signCsr(csr, null, Duration.ofHours(1))).isInstanceOf(NullPointerException.class)
                .hasMessage("subject must not be null");
        assertThatThrownBy(() -> InMemoryCa.builder().clock(null)).isInstanceOf(NullPointerException.class)
                .hasMessage("clock must not be null");
        assertThatThrownBy(() -> InMemoryCa.builder().svidTtl(null)).isInstanceOf(NullPointerException.class)
                .hasMessage("svidTtl must not be null");
        assertThatThrownBy(() -> InMemoryCa.builder().caTtl(null)).isInstanceOf(NullPointerException.class)
                .hasMessage("caTtl must not be null");
        // Everything else svid refuses stays a failed future.
        assertThat(ca.svid(SpiffeIds.istio("other.org", "a", "b"))).isCompletedExceptionally();
    }

    /**
     * A new-user pass: {@code issue(id, FOREVER)} and {@code caTtl(FOREVER)} threw "long overflow" though the Javadoc
     * cut long ttls to the CA's lifetime; a caTtl past the year 9999 failed as "certificate time out of range".
     */
    @Test
    void aTtlOfAnyLengthIsCutToTheSignerAndACaTtlToTheLastX509Second() throws Exception {
        Duration forever = ChronoUnit.FOREVER.getDuration();
        byte[] csr = Csr.create(X509.newP256(), ID);
        for (boolean intermediate : new boolean[] {false, true}) {
            InMemoryCa ca = InMemoryCa.builder().trustDomain("cluster.local").intermediate(intermediate).build();
            for (Duration ttl : new Duration[] {forever, Duration.ofSeconds(Long.MAX_VALUE), Duration.ofDays(100_000)}) {
                X509Svid svid = ca.issue(ID, ttl);
                X509Certificate signer = intermediate ? svid.getChain().get(1) : ca.root();
                assertThat(svid.getLeaf().getNotAfter()).as("%s %s", intermediate, ttl).isEqualTo(signer.getNotAfter());
                assertThat(SvidVerifier.verify(svid.getChainArray(), ca.bundles())).isEqualTo(ID);
                assertThat(ca.signCsr(csr, ttl).get(0).getNotAfter()).isEqualTo(signer.getNotAfter());
            }
        }
        InMemoryCa longSvids = InMemoryCa.builder().trustDomain("cluster.local").svidTtl(forever).build();
        assertThat(longSvids.svid(ID).get(10, TimeUnit.SECONDS).getLeaf().getNotAfter()).isEqualTo(longSvids.root().getNotAfter());

        Instant max = Instant.parse("9999-12-31T23:59:59Z");
        assertThat(InMemoryCa.MAX_CA_NOT_AFTER).isEqualTo(max);
        for (Duration caTtl : new Duration[] {forever, Duration.ofDays(3_000_000)}) {
            InMemoryCa ca = InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).caTtl(caTtl).build();
            assertThat(ca.root().getNotAfter().toInstant()).as("%s", caTtl).isEqualTo(max);
            X509Svid svid = ca.issue(ID, forever);
            assertThat(svid.getChain().get(1).getNotAfter().toInstant()).isEqualTo(max);
            assertThat(svid.getLeaf().getNotAfter().toInstant()).isEqualTo(max);
            assertThat(SvidVerifier.verify(ca.issue(ID).getChainArray(), ca.bundles())).isEqualTo(ID);
            ca.rotateRoot();
            assertThat(ca.root().getNotAfter().toInstant()).as("a rotation cuts the same").isEqualTo(max);
        }
        // Shorter than that: taken as it is, to the second.
        Instant before = Instant.now();
        InMemoryCa millennium = InMemoryCa.builder().trustDomain("cluster.local").caTtl(Duration.ofDays(365_000)).build();
        assertThat(millennium.root().getNotAfter().toInstant()).isBetween(before.plus(Duration.ofDays(365_000)).minusSeconds(1),
                Instant.now().plus(Duration.ofDays(365_000)));
    }

    @Test
    void providerModeCachesAndNotifiesOnRootRotation() {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        X509Svid first = ca.svid(ID).join();
        assertThat(ca.svid(ID).join()).isSameAs(first);
        java.util.List<X509Svid> rotated = new java.util.ArrayList<>();
        ca.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                rotated.add(svid);
            }
        });
        ca.rotateRoot();
        assertThat(rotated).hasSize(1);
        assertThat(ca.svid(ID).join()).isSameAs(rotated.get(0)).isNotSameAs(first);
    }

    @Test
    void saveAndLoadRoundTripAndOpensslAgrees(@TempDir Path dir) throws Exception {
        InMemoryCa ca = InMemoryCa.builder().trustDomain("example.org").intermediate(true).build();
        ca.save(dir);
        InMemoryCa loaded = InMemoryCa.load(dir, Duration.ofHours(1));
        assertThat(loaded.trustDomain().getName()).isEqualTo("example.org");
        assertThat(loaded.root()).isEqualTo(ca.root());
        SpiffeId id = SpiffeIds.parse("spiffe://example.org/db");
        X509Svid svid = loaded.issue(id);
        assertThat(SvidVerifier.verify(svid.getChainArray(), ca.bundles())).isEqualTo(id);
        if (Files.exists(dir.resolve("root.key"))) {
            assertThat(Files.getPosixFilePermissions(dir.resolve("root.key")))
                    .containsExactlyInAnyOrder(java.nio.file.attribute.PosixFilePermission.OWNER_READ,
                            java.nio.file.attribute.PosixFilePermission.OWNER_WRITE);
            // Certificates get what any new file gets under this umask (0644 under 022), as openssl writes them; they were
            // forced to 0600 like the key.
            java.nio.file.Path fresh = Files.createFile(dir.resolve("fresh"));
            for (String cert : new String[] {"root.pem", "bundle.pem"}) {
                assertThat(Files.getPosixFilePermissions(dir.resolve(cert))).as(cert).isEqualTo(Files.getPosixFilePermissions(fresh));
            }
        }

        // An independent verifier: openssl checks the chain we wrote.
        Pem.write(dir.resolve("leaf.pem"), Pem.certificates(List.of(svid.getLeaf())), false);
        Pem.write(dir.resolve("inter.pem"), Pem.certificates(svid.getChain().subList(1, 2)), false);
        Process p = new ProcessBuilder("openssl", "verify", "-CAfile", dir.resolve("bundle.pem").toString(),
                "-untrusted", dir.resolve("inter.pem").toString(), dir.resolve("leaf.pem").toString())
                .redirectErrorStream(true).start();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(out).contains(": OK");
        assertThat(p.exitValue()).isZero();
    }

    /**
     * A new-user pass: after issue, rotateRoot and save, bundle.pem held both roots but load read root.pem alone, so
     * the loaded CA trusted the new root only and refused every peer still on the old one, the rotation the class
     * promises broken by a restart. Now the loaded CA is the saved one: same bundle, same signer, and saved again it
     * writes the same bytes.
     */
    @Test
    void saveAndLoadKeepARotationUnderWay(@TempDir Path dir) throws Exception {
        for (boolean intermediate : new boolean[] {false, true}) {
            InMemoryCa ca = InMemoryCa.builder().trustDomain("cluster.local").intermediate(intermediate).build();
            X509Svid old = ca.issue(ID);
            X509Certificate oldRoot = ca.root();
            ca.rotateRoot();
            Path saved = Files.createDirectories(dir.resolve("saved-" + intermediate));
            ca.save(saved);
            assertThat(Pem.parseCertificates(Pem.read(saved.resolve("bundle.pem")))).containsExactly(oldRoot, ca.root());

            InMemoryCa loaded = InMemoryCa.load(saved, Duration.ofHours(1));
            assertThat(loaded.bundle()).as("intermediate %s", intermediate).isEqualTo(ca.bundle());
            assertThat(loaded.bundle().getX509Authorities()).containsExactlyInAnyOrder(oldRoot, ca.root());
            assertThat(loaded.root()).isEqualTo(ca.root());
            assertThat(SvidVerifier.verify(old.getChainArray(), loaded.bundles())).as("an SVID of the old root").isEqualTo(ID);
            X509Svid fresh = loaded.issue(ID);
            assertThat(fresh.getChain().subList(1, fresh.getChain().size())).isEqualTo(ca.issue(ID).getChain().subList(1, fresh.getChain().size()));
            assertThat(SvidVerifier.verify(fresh.getChainArray(), ca.bundles())).isEqualTo(ID);

            Path again = Files.createDirectories(dir.resolve("again-" + intermediate));
            loaded.save(again);
            List<String> names;
            try (var files = Files.list(saved)) {
                names = files.map(f -> f.getFileName().toString()).sorted().toList();
            }
            try (var files = Files.list(again)) {
                assertThat(files.map(f -> f.getFileName().toString()).sorted().toList()).isEqualTo(names);
            }
            for (String name : names) {
                assertThat(Files.readAllBytes(again.resolve(name))).as(name).isEqualTo(Files.readAllBytes(saved.resolve(name)));
            }

            // The rotation goes on where it stopped: retiring drops the old root.
            loaded.retireOldRoots();
            assertThat(loaded.bundle().getX509Authorities()).containsExactly(ca.root());
            assertThatThrownBy(() -> SvidVerifier.verify(old.getChainArray(), loaded.bundles()))
                    .isInstanceOf(java.security.cert.CertificateException.class);
        }
    }

    /**
     * What save writes has not changed (root.pem, root.key, bundle.pem with every trusted root, the intermediate's two
     * files), so a directory the earlier code saved loads with its whole bundle. A directory without bundle.pem (made
     * by hand for {@code zerohop proxy --ca}) still loads, trusting its root alone; a bundle.pem without the root is an
     * error naming both files.
     */
    @Test
    void loadReadsTheDirectoriesTheEarlierSaveWroteAndNamesABundleWithoutTheRoot(@TempDir Path dir) throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        X509Certificate oldRoot = ca.root();
        X509Svid old = ca.issue(ID);
        ca.rotateRoot();
        ca.save(dir);
        try (var files = Files.list(dir)) {
            assertThat(files.map(f -> f.getFileName().toString())).containsExactlyInAnyOrder("root.pem", "root.key", "bundle.pem");
        }
        // As the save before this change wrote them: the signing root, its key, and the trusted roots in order.
        Path earlier = Files.createDirectories(dir.resolve("earlier"));
        Files.write(earlier.resolve("root.key"), Files.readAllBytes(dir.resolve("root.key")));
        Files.writeString(earlier.resolve("root.pem"), Pem.certificates(List.of(ca.root())));
        Files.writeString(earlier.resolve("bundle.pem"), Pem.certificates(List.of(oldRoot, ca.root())));
        InMemoryCa loaded = InMemoryCa.load(earlier, Duration.ofHours(1));
        assertThat(loaded.bundle()).isEqualTo(ca.bundle());
        assertThat(SvidVerifier.verify(old.getChainArray(), loaded.bundles())).isEqualTo(ID);

        Files.delete(earlier.resolve("bundle.pem"));
        assertThat(InMemoryCa.load(earlier, Duration.ofHours(1)).bundle().getX509Authorities()).containsExactly(ca.root());

        Files.writeString(earlier.resolve("bundle.pem"), Pem.certificates(List.of(oldRoot, InMemoryCa.create("cluster.local").root())));
        assertThatThrownBy(() -> InMemoryCa.load(earlier, Duration.ofHours(1)))
                .isInstanceOf(java.security.GeneralSecurityException.class)
                .hasMessageStartingWith(earlier.resolve("bundle.pem") + " does not hold the root in " + earlier.resolve("root.pem")
                        + " (" + ca.root().getSubjectX500Principal().getName() + "), it holds 2 other certificate(s)");
        Files.writeString(earlier.resolve("bundle.pem"), "");
        assertThatThrownBy(() -> InMemoryCa.load(earlier, Duration.ofHours(1)))
                .isInstanceOf(java.security.GeneralSecurityException.class).hasMessageContaining("it holds 0 other certificate(s)");
        Files.writeString(earlier.resolve("bundle.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assertThatThrownBy(() -> InMemoryCa.load(earlier, Duration.ofHours(1)))
                .isInstanceOf(java.security.GeneralSecurityException.class)
                .hasMessageStartingWith(earlier.resolve("bundle.pem") + ": unreadable certificates: ");
    }

    /**
     * A root.key (or intermediate.key) of another CA: load took it, zerohop ca issue wrote SVIDs that no holder of root.pem
     * accepts, and a proxy with --ca reported ready while every peer refused it ("signature check failed"; a new-user pass).
     */
    @Test
    void loadRefusesAKeyThatIsNotItsCertificates(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a");
        Path b = dir.resolve("b");
        InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build().save(a);
        InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build().save(b);
        java.nio.file.CopyOption replace = java.nio.file.StandardCopyOption.REPLACE_EXISTING;
        Files.copy(a.resolve("root.key"), dir.resolve("a-root.key"));
        Files.copy(b.resolve("root.key"), a.resolve("root.key"), replace);
        assertThatThrownBy(() -> InMemoryCa.load(a, Duration.ofHours(1))).isInstanceOf(java.security.GeneralSecurityException.class)
                .hasMessageStartingWith(a.resolve("root.key") + " is not the key of the certificate in " + a.resolve("root.pem"))
                .hasMessageEndingWith("the files are not a pair (another CA's key, or another key file's of this CA)");
        Files.copy(dir.resolve("a-root.key"), a.resolve("root.key"), replace);
        InMemoryCa.load(a, Duration.ofHours(1));
        Files.copy(b.resolve("intermediate.key"), a.resolve("intermediate.key"), replace);
        assertThatThrownBy(() -> InMemoryCa.load(a, Duration.ofHours(1))).isInstanceOf(java.security.GeneralSecurityException.class)
                .hasMessageStartingWith(a.resolve("intermediate.key") + " is not the key of the certificate in " + a.resolve("intermediate.pem"));
    }

    /**
     * The rest of what a round trip lost. The caTtl: save writes none, so a loaded CA's rotateRoot made 3650-day roots
     * whatever the CA was built with; load reads it from the root now. An earlier CA's intermediate: save over a
     * directory holding one left its files, load took them as the new CA's and signed SVIDs no bundle of it accepts;
     * save deletes them now, and load names an intermediate its root did not sign.
     */
    @Test
    void saveAndLoadKeepTheCaTtlAndNoEarlierCasIntermediate(@TempDir Path dir) throws Exception {
        InMemoryCa oneDay = InMemoryCa.builder().trustDomain("cluster.local").caTtl(Duration.ofDays(1)).build();
        oneDay.save(dir.resolve("one-day"));
        InMemoryCa loaded = InMemoryCa.load(dir.resolve("one-day"), Duration.ofHours(1));
        loaded.rotateRoot();
        assertThat(loaded.root()).isNotEqualTo(oneDay.root());
        assertThat(Duration.between(loaded.root().getNotBefore().toInstant(), loaded.root().getNotAfter().toInstant()))
                .isEqualTo(Duration.ofDays(1).plus(InMemoryCa.BACKDATE));

        Path reused = dir.resolve("reused");
        InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build().save(reused);
        Path stale = Files.createDirectories(dir.resolve("stale"));
        Files.copy(reused.resolve("intermediate.pem"), stale.resolve("intermediate.pem"));
        Files.copy(reused.resolve("intermediate.key"), stale.resolve("intermediate.key"));
        InMemoryCa plain = InMemoryCa.create("cluster.local");
        plain.save(reused);
        assertThat(reused.resolve("intermediate.pem")).doesNotExist();
        assertThat(reused.resolve("intermediate.key")).doesNotExist();
        X509Svid svid = InMemoryCa.load(reused, Duration.ofHours(1)).issue(ID);
        assertThat(svid.getChain()).hasSize(1);
        assertThat(SvidVerifier.verify(svid.getChainArray(), plain.bundles())).isEqualTo(ID);

        // A directory an earlier save left so.
        Files.copy(stale.resolve("intermediate.pem"), reused.resolve("intermediate.pem"));
        Files.copy(stale.resolve("intermediate.key"), reused.resolve("intermediate.key"));
        assertThatThrownBy(() -> InMemoryCa.load(reused, Duration.ofHours(1)))
                .isInstanceOf(java.security.GeneralSecurityException.class)
                .hasMessage(reused.resolve("intermediate.pem") + " was not issued by the root in " + reused.resolve("root.pem")
                        + " (" + plain.root().getSubjectX500Principal().getName() + "): the files are from different CAs");
    }

    /**
     * newuser23: a throwing listener made {@code rotateRoot} throw, made {@code svid(id)} throw instead of returning a
     * future, and kept the listeners after it from being told. Isolated now, as the other providers' listeners are.
     */
    @Test
    void aThrowingListenerIsIsolated() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        List<String> heard = new java.util.concurrent.CopyOnWriteArrayList<>();
        ca.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                throw new IllegalStateException("listener bug");
            }

            @Override
            public void svidForgotten(SpiffeId id) {
                throw new IllegalStateException("listener bug");
            }

            @Override
            public void bundlesChanged(io.spiffe.bundle.x509bundle.X509BundleSet bundles) {
                throw new IllegalStateException("listener bug");
            }
        });
        ca.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                heard.add("rotated " + svid.getSpiffeId());
            }

            @Override
            public void svidForgotten(SpiffeId id) {
                heard.add("forgotten " + id);
            }

            @Override
            public void bundlesChanged(io.spiffe.bundle.x509bundle.X509BundleSet bundles) {
                heard.add("bundles");
            }
        });
        SpiffeId id = SpiffeId.parse("spiffe://cluster.local/ns/a/sa/b");
        var f = ca.svid(id);
        assertThat(f.get(5, TimeUnit.SECONDS).getSpiffeId()).isEqualTo(id);
        ca.rotateRoot();
        ca.forget(id);
        assertThat(heard).containsExactly("rotated " + id, "bundles", "rotated " + id, "forgotten " + id);
    }

    /** certificateState (what /config_dump reads) signs nothing: only what svid issued, and no re-issue past half-life. */
    @Test
    void certificateStateSignsNothing() {
        io.zerohop.identity.testing.MutableClock clock = new io.zerohop.identity.testing.MutableClock(java.time.Instant.now());
        InMemoryCa c = InMemoryCa.builder().trustDomain("state.test").svidTtl(java.time.Duration.ofHours(2)).clock(clock).build();
        io.spiffe.spiffeid.SpiffeId id = io.spiffe.spiffeid.SpiffeId.parse("spiffe://state.test/ns/a/sa/b");
        assertThat(c.certificateState(id)).as("never issued").isEmpty();
        assertThat(c.certificateState(id)).isEmpty();
        io.spiffe.svid.x509svid.X509Svid issued = c.svid(id).join();
        clock.advance(java.time.Duration.ofMinutes(90));
        assertThat(c.certificateState(id)).hasValueSatisfying(st ->
                assertThat(((CertificateState.Available) st).svid()).isSameAs(issued));
        assertThat(c.svid(id).join()).as("svid re-issues past half-life; the reads did not").isNotSameAs(issued);
        assertThat(c.certificateState(io.spiffe.spiffeid.SpiffeId.parse("spiffe://other.test/ns/a/sa/b")))
                .hasValueSatisfying(st -> assertThat(st).isInstanceOf(CertificateState.Unavailable.class));
    }
}
