package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.testing.Loopback;
import io.zerohop.testing.netty.CapturedStderr;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Certificate revocation lists on mesh TLS, replaying ztunnel's CRL tests over real handshakes on loopback:
 * istio/ztunnel {@code tests/namespaced.rs} {@code crl_inbound_rejects_revoked_cert},
 * {@code crl_outbound_rejects_revoked_cert}, {@code crl_inbound_terminates_existing_connection_on_revocation},
 * {@code crl_outbound_terminates_existing_connection_on_revocation}; {@code src/tls/certificate.rs}
 * {@code outbound_rejects_revoked_server_cert}, {@code outbound_rejects_revoked_intermediate_cert};
 * {@code src/tls/crl.rs} {@code test_crl_manager_missing_file}, {@code _invalid_file}, {@code _empty_file},
 * {@code _valid_crl}; {@code src/tls/revocation.rs} {@code index_closes_leaf_revoked_by_its_ia},
 * {@code index_bulk_drops_subtree_on_ia_revocation}, {@code index_register_self_check_no_op_when_not_revoked}.
 */
class CrlTest {
    static final SpiffeId SERVER = SpiffeIds.istio("cluster.local", "prod", "backend");
    static final SpiffeId CLIENT = SpiffeIds.istio("cluster.local", "prod", "frontend");

    @TempDir
    Path dir;

    private InMemoryCa ca;
    private Path crlPath;
    private CapturedStderr stderr;

    @BeforeEach
    void setUp() {
        ca = InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build();
        crlPath = dir.resolve("crl.pem");
        stderr = new CapturedStderr();
    }

    @AfterEach
    void tearDown() {
        stderr.close();
        ca.close();
    }

    private String logged() {
        return stderr.text();
    }

    private X509Svid svid(SpiffeId id) {
        return ca.svid(id).join();
    }

    private X509Certificate intermediate() {
        return svid(SERVER).getChainArray()[1];
    }

    private void writeCrls(X509CRL... crls) throws Exception {
        Path tmp = dir.resolve("crl.pem.tmp");
        Files.writeString(tmp, Pem.crls(List.of(crls)));
        Files.move(tmp, crlPath, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private X509CRL revoking(X509Certificate issuer, BigInteger... serials) {
        return ca.crl(issuer, Instant.now().plus(Duration.ofDays(1)), serials);
    }

    private MeshTls tls(CrlFile crl) {
        return MeshTls.builder(ca).crl(crl).build();
    }

    @Test
    void aServerRefusesAClientWhoseLeafIsRevokedNamingBothIdentities() throws Exception {
        writeCrls(revoking(intermediate(), svid(CLIENT).getLeaf().getSerialNumber()));
        try (CrlFile crl = CrlFile.load(crlPath);
             MeshTls server = tls(crl); MeshTls client = tls(null);
             Loopback net = new Loopback(41, server.server(SERVER).join())) {
            Loopback.Conn c = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
            assertThat(c.serverError()).as("handshake with a revoked client").isNotNull();
            assertThat(c.errors()).contains("is revoked");
            // TLS 1.3: the client's handshake is done before the server reads its certificate; the server's alert closes it.
            assertThat(c.client().closeFuture().await(10, TimeUnit.SECONDS)).as("client closed by the server's alert").isTrue();
            assertThat(logged()).contains("CRL: refused inbound peer " + CLIENT + " of " + SERVER + ": " + CLIENT
                    + ": leaf serial " + svid(CLIENT).getLeaf().getSerialNumber().toString(16) + " is revoked by the CRL of "
                    + intermediate().getSubjectX500Principal().getName());
        }
    }

    /**
     * A revoked client that keeps retrying: one WARN per refused handshake, as ztunnel's access log writes one
     * ({@code src/proxy/metrics.rs} {@code log_early_deny}), but at most 20 per 10 s, the rest counted into the next line
     * written, as mesh-hbone bounds the connections it refuses ({@code LogBudget}); every refusal still reaches the
     * revocation listeners ({@code istio_crl_policy_rejections_total}). The budget's clock is held still, so no
     * assertion depends on how fast the handshakes run. Before helper 407 (7 December): 25 lines for 25 refusals.
     */
    @Test
    void aRevokedClientRetryingIsLoggedAtMostTwentyTimesPerTenSecondsThenTheCountOfTheRest() throws Exception {
        writeCrls(revoking(intermediate(), svid(CLIENT).getLeaf().getSerialNumber()));
        java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong();
        String line = "CRL: refused inbound peer " + CLIENT + " of " + SERVER + ": " + CLIENT + ": leaf serial "
                + svid(CLIENT).getLeaf().getSerialNumber().toString(16) + " is revoked";
        try (CrlFile crl = CrlFile.load(crlPath);
             MeshTls server = MeshTls.builder(ca).crl(crl).logClock(now::get).build(); MeshTls client = tls(null);
             Loopback net = new Loopback("127.0.211.11", 54700, 54719, server.server(SERVER).join())) {
            List<SvidVerifier.Purpose> counted = new java.util.concurrent.CopyOnWriteArrayList<>();
            server.onRevoked(counted::add);
            for (int i = 0; i < 25; i++) {
                assertThat(net.connect(client.client(CLIENT, Set.of(SERVER)).join()).serverError()).as("refusal " + i).isNotNull();
            }
            assertThat(counted).hasSize(25);
            assertThat(logged().split(java.util.regex.Pattern.quote(line), -1).length - 1).as(logged()).isEqualTo(20);
            assertThat(logged()).doesNotContain("suppressed");

            now.addAndGet(Duration.ofSeconds(10).toNanos());
            assertThat(net.connect(client.client(CLIENT, Set.of(SERVER)).join()).serverError()).isNotNull();
            assertThat(logged().split(java.util.regex.Pattern.quote(line), -1).length - 1).isEqualTo(21);
            assertThat(logged()).contains(" (5 similar lines suppressed before this one)");
            assertThat(counted).hasSize(26);
        }
    }

    @Test
    void aClientRefusesAServerWhoseLeafIsRevokedNamingBothIdentities() throws Exception {
        writeCrls(revoking(intermediate(), svid(SERVER).getLeaf().getSerialNumber()));
        try (CrlFile crl = CrlFile.load(crlPath);
             MeshTls server = tls(null); MeshTls client = tls(crl);
             Loopback net = new Loopback(42, server.server(SERVER).join())) {
            Loopback.Conn c = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
            assertThat(c.clientError()).as("handshake with a revoked server").isNotNull();
            assertThat(c.errors()).contains("is revoked");
            // rustls sends CertificateError::Revoked as certificate_revoked; so does BoringSSL for X509_V_ERR_CERT_REVOKED.
            assertThat(c.serverError()).as(c.errors()).hasStackTraceContaining("CERTIFICATE_REVOKED");
            assertThat(logged()).contains("CRL: refused outbound peer " + SERVER + " of " + CLIENT + ": ");
        }
    }

    @Test
    void aRevokedIntermediateRefusesEveryLeafItSigned() throws Exception {
        writeCrls(revoking(ca.root(), intermediate().getSerialNumber()));
        try (CrlFile crl = CrlFile.load(crlPath);
             MeshTls server = tls(null); MeshTls client = tls(crl);
             Loopback net = new Loopback(43, server.server(SERVER).join())) {
            Loopback.Conn c = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
            assertThat(c.succeeded()).isFalse();
            assertThat(logged()).contains("intermediate " + intermediate().getSubjectX500Principal().getName() + " serial "
                    + intermediate().getSerialNumber().toString(16) + " is revoked by the CRL of " + ca.root().getSubjectX500Principal().getName());
        }
    }

    @Test
    void peersTheCrlsDoNotListAreAcceptedBothWays() throws Exception {
        // Another workload's leaf is revoked, and the root's CRL lists nothing of this chain.
        writeCrls(revoking(intermediate(), BigInteger.valueOf(12345)), revoking(ca.root(), BigInteger.valueOf(99)));
        try (CrlFile crl = CrlFile.load(crlPath);
             MeshTls server = tls(crl); MeshTls client = tls(crl);
             Loopback net = new Loopback(44, server.server(SERVER).join())) {
            Loopback.Conn c = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
            assertThat(c.succeeded()).as(c.errors()).isTrue();
            assertThat(crl.crls()).hasSize(2);
        }
    }

    @Test
    void anExpiredCrlStillRevokesAsZtunnelIgnoresNextUpdate() throws Exception {
        // ExpirationPolicy::Ignore (src/tls/revocation.rs verify_cert_chain; rustls' verifier builder's default inbound).
        writeCrls(ca.crl(intermediate(), Instant.now().minus(Duration.ofDays(1)), svid(CLIENT).getLeaf().getSerialNumber()));
        try (CrlFile crl = CrlFile.load(crlPath);
             MeshTls server = tls(crl); MeshTls client = tls(null);
             Loopback net = new Loopback(45, server.server(SERVER).join())) {
            assertThat(net.connect(client.client(CLIENT, Set.of(SERVER)).join()).succeeded()).isFalse();
        }
    }

    @Test
    void aCrlOfAnotherIssuerIsUnknownStatusWhichIsAllowed() throws Exception {
        // UnknownStatusPolicy::Allow: a CRL of another CA (another name), listing the very serial, does not apply.
        try (InMemoryCa other = InMemoryCa.builder().trustDomain("other.local").build()) {
            writeCrls(other.crl(other.root(), Instant.now().plus(Duration.ofDays(1)), svid(CLIENT).getLeaf().getSerialNumber()));
        }
        try (CrlFile crl = CrlFile.load(crlPath);
             MeshTls server = tls(crl); MeshTls client = tls(null);
             Loopback net = new Loopback(46, server.server(SERVER).join())) {
            Loopback.Conn c = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
            assertThat(c.succeeded()).as(c.errors()).isTrue();
        }
    }

    @Test
    void aCrlUnderTheIssuersNameSignedByAnotherKeyRefusesThePeerAsWebpkiDoes() throws Exception {
        // webpki picks the CRL by issuer name (CertRevocationList::authoritative), then its signature must verify with
        // the issuer's key (InvalidCrlSignatureForPublicKey): a CA re-keyed under the same name must re-sign its CRL.
        java.time.Clock fixed = java.time.Clock.fixed(Instant.now(), java.time.ZoneOffset.UTC);
        try (InMemoryCa a = InMemoryCa.builder().trustDomain("cluster.local").clock(fixed).build();
             InMemoryCa b = InMemoryCa.builder().trustDomain("cluster.local").clock(fixed).build()) {
            assertThat(b.root().getSubjectX500Principal()).isEqualTo(a.root().getSubjectX500Principal());
            writeCrls(b.crl(b.root(), Instant.now().plus(Duration.ofDays(1))));
            try (CrlFile crl = CrlFile.load(crlPath);
                 MeshTls server = MeshTls.builder(a).crl(crl).build(); MeshTls client = MeshTls.builder(a).build();
                 Loopback net = new Loopback(51, server.server(SERVER).join())) {
                Loopback.Conn c = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
                assertThat(c.serverError()).as("refused").isNotNull();
                assertThat(c.errors()).contains("the CRL of " + a.root().getSubjectX500Principal().getName()
                        + " (cRLNumber 1) that applies to the leaf does not verify with its issuer's key");
            }
        }
    }

    @Test
    void ofTwoCrlsOfOneIssuerTheHigherCrlNumberApplies() throws Exception {
        // webpki's RevocationOptions::check keeps the highest cRLNumber: the newer CRL, which no longer lists the leaf.
        X509CRL older = revoking(intermediate(), svid(CLIENT).getLeaf().getSerialNumber());
        X509CRL newer = revoking(intermediate());
        writeCrls(newer, older);
        try (CrlFile crl = CrlFile.load(crlPath);
             MeshTls server = tls(crl); MeshTls client = tls(null);
             Loopback net = new Loopback(47, server.server(SERVER).join())) {
            Loopback.Conn c = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
            assertThat(c.succeeded()).as(c.errors()).isTrue();
        }
    }

    @Test
    void aFileThatIsNotACrlIsAStartErrorNamingTheFile() throws Exception {
        // test_crl_manager_invalid_file
        Files.writeString(crlPath, "not a valid CRL");
        assertThatThrownBy(() -> CrlFile.load(crlPath)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("CRL file " + crlPath + ": neither PEM");
        Files.write(crlPath, new byte[] {0x30, 0x03, 0x02, 0x01, 0x00});
        assertThatThrownBy(() -> CrlFile.load(crlPath)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("CRL file " + crlPath + ": CRL 1 does not parse as an X.509 CRL");
        Files.writeString(crlPath, Pem.crls(List.of(revoking(intermediate()))) + "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
        assertThatThrownBy(() -> CrlFile.load(crlPath)).hasMessageContaining("CRL file " + crlPath + ": CRL 2 of 2 does not parse");
    }

    /**
     * A new user's pass (h406): bytes that are neither PEM nor DER were refused with the JDK's "Empty input", which a
     * 300-byte file does not explain. ztunnel refuses them too (webpki's from_der fails); the message now says why.
     */
    @Test
    void bytesNeitherPemNorDerAreRefusedSayingSo() throws Exception {
        Files.writeString(crlPath, "hello world, not a CRL\n");
        assertThatThrownBy(() -> CrlFile.load(crlPath)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("CRL file " + crlPath + ": neither PEM (it does not start with -----BEGIN) nor a DER CRL (its first byte"
                        + " is 0x68, not an ASN.1 SEQUENCE, 0x30)");
    }

    /**
     * ztunnel's parse_crl_file reads a PEM file without a CRL block as no revocations (a debug line): so does zerohop, but
     * the CA certificate given for its CRL file is a likely mistake that leaves revocation off, so it is a WARN naming
     * what the file holds (h406's new-user pass found it silent).
     */
    @Test
    void aPemFileWithoutACrlBlockRevokesNothingAndIsWarnedNamingItsBlocks() throws Exception {
        Files.writeString(crlPath, Pem.certificates(List.of(ca.root())));
        try (CrlFile crl = CrlFile.builder(crlPath).watch(false).build()) {
            assertThat(crl.crls()).isEmpty();
            assertThat(logged()).contains("CRL file " + crlPath + " holds no X509 CRL block, only [CERTIFICATE]: nothing is revoked");
        }
    }

    @Test
    void aCrlWithoutCrlNumberIsRefusedAsWebpkiRefusesIt() throws Exception {
        var b = new org.bouncycastle.cert.X509v2CRLBuilder(
                org.bouncycastle.asn1.x500.X500Name.getInstance(ca.root().getSubjectX500Principal().getEncoded()), new java.util.Date());
        b.setNextUpdate(new java.util.Date(System.currentTimeMillis() + 86_400_000L));
        X509Svid any = svid(SERVER);
        // Signed by a throwaway key: the refusal is about the missing extension, found before any signature check.
        var keys = java.security.KeyPairGenerator.getInstance("EC");
        keys.initialize(256);
        var crl = new org.bouncycastle.cert.jcajce.JcaX509CRLConverter().getCRL(
                b.build(new org.bouncycastle.operator.jcajce.JcaContentSignerBuilder("SHA256withECDSA").build(keys.generateKeyPair().getPrivate())));
        assertThat(any).isNotNull();
        Files.writeString(crlPath, Pem.crls(List.of(crl)));
        assertThatThrownBy(() -> CrlFile.load(crlPath)).hasMessageContaining("CRL file " + crlPath + ": CRL 1")
                .hasMessageContaining("has no cRLNumber extension");
    }

    @Test
    void anEmptyFileOrAMissingOneRevokesNothing() throws Exception {
        // test_crl_manager_empty_file, test_crl_manager_missing_file (a warning; enforced once the file appears)
        Files.writeString(crlPath, "");
        try (CrlFile crl = CrlFile.load(crlPath)) {
            assertThat(crl.crls()).isEmpty();
        }
        try (CrlFile crl = CrlFile.load(dir.resolve("absent.pem"))) {
            assertThat(crl.crls()).isEmpty();
            assertThat(logged()).contains("CRL file " + dir.resolve("absent.pem") + " not found");
        }
    }

    @Test
    void aReloadThatRevokesALivePeerClosesItsConnectionBothWays() throws Exception {
        // crl_inbound/outbound_terminates_existing_connection_on_revocation: the file starts empty, a connection is
        // made, then the CRL revoking the client is written; the server closes it. And the client, holding a
        // connection to a server then revoked, closes its own.
        Files.writeString(crlPath, "");
        try (CrlFile crl = CrlFile.builder(crlPath).settleTime(Duration.ZERO).pollInterval(Duration.ofMillis(200)).build();
             MeshTls server = tls(crl); MeshTls client = tls(crl);
             Loopback net = new Loopback(48, server.server(SERVER).join())) {
            Loopback.Conn in = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
            Loopback.Conn out = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
            assertThat(in.succeeded() && out.succeeded()).isTrue();
            List<SvidVerifier.Purpose> serverSaw = new java.util.concurrent.CopyOnWriteArrayList<>();
            List<SvidVerifier.Purpose> clientSaw = new java.util.concurrent.CopyOnWriteArrayList<>();
            server.onRevoked(serverSaw::add);
            client.onRevoked(clientSaw::add);
            Runnable forgetIn = server.closeWhenRevoked(in.serverSsl().engine(), () -> in.server().close());
            client.closeWhenRevoked(out.clientSsl().engine(), () -> out.client().close());
            assertThat(server.liveConnections()).isEqualTo(1);

            writeCrls(revoking(intermediate(), svid(CLIENT).getLeaf().getSerialNumber()));
            assertThat(in.client().closeFuture().await(10, TimeUnit.SECONDS)).as("inbound connection closed").isTrue();
            assertThat(logged()).contains("CRL: closing inbound connection of " + SERVER + " with peer " + CLIENT + ": ");
            assertThat(out.client().isOpen()).as("the client's own leaf is revoked, not its peer's").isTrue();

            writeCrls(revoking(intermediate(), svid(CLIENT).getLeaf().getSerialNumber(), svid(SERVER).getLeaf().getSerialNumber()));
            assertThat(out.client().closeFuture().await(10, TimeUnit.SECONDS)).as("outbound connection closed").isTrue();
            assertThat(logged()).contains("CRL: closing outbound connection of " + CLIENT + " with peer " + SERVER + ": ");
            forgetIn.run();
            assertThat(server.liveConnections()).isZero();
            // What mesh-core counts as istio_crl_policy_rejections_total, reporter destination and source.
            assertThat(serverSaw).containsExactly(SvidVerifier.Purpose.CLIENT_AUTH);
            assertThat(clientSaw).containsExactly(SvidVerifier.Purpose.SERVER_AUTH);
        }
    }

    /**
     * A reload verifies again only the live connections whose chain has a serial a CRL of its issuer lists, as ztunnel's
     * {@code RevocationIndex::navigate} probes only what {@code collect_work}/{@code serial_in_any} find
     * ({@code src/tls/revocation.rs}), with the same outcome as verifying every one. Before helper 407 (7 December)
     * every connection was verified in full at each reload: 2 re-checks for a CRL listing neither chain.
     */
    @Test
    void aReloadVerifiesAgainOnlyTheConnectionsWhoseSerialACrlOfTheirIssuerLists() throws Exception {
        Files.writeString(crlPath, "");
        SpiffeId other = SpiffeIds.istio("cluster.local", "prod", "other");
        try (CrlFile crl = CrlFile.builder(crlPath).watch(false).build();
             MeshTls server = tls(crl); MeshTls client = tls(null);
             Loopback net = new Loopback("127.0.211.12", 54720, 54739, server.server(SERVER).join())) {
            Loopback.Conn a = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
            Loopback.Conn b = net.connect(client.client(other, Set.of(SERVER)).join());
            assertThat(a.succeeded() && b.succeeded()).isTrue();
            server.closeWhenRevoked(a.serverSsl().engine(), () -> a.server().close());
            server.closeWhenRevoked(b.serverSsl().engine(), () -> b.server().close());
            long before = server.rechecks();

            writeCrls(revoking(intermediate(), BigInteger.valueOf(424242)));
            assertThat(crl.reload()).isTrue();
            assertThat(server.rechecks() - before).as("a CRL listing neither chain's serial").isZero();
            assertThat(server.liveConnections()).isEqualTo(2);

            writeCrls(revoking(intermediate(), BigInteger.valueOf(424242), svid(CLIENT).getLeaf().getSerialNumber()));
            assertThat(crl.reload()).isTrue();
            assertThat(server.rechecks() - before).as("only the connection whose leaf is listed").isEqualTo(1);
            assertThat(a.client().closeFuture().await(10, TimeUnit.SECONDS)).as("the revoked client's connection closed").isTrue();
            assertThat(b.client().isOpen()).isTrue();
            assertThat(server.liveConnections()).isEqualTo(1);
        }
    }

    @Test
    void aKubernetesSymlinkSwapIsReloaded() throws Exception {
        // A ConfigMap volume: crl.pem -> ..data/crl.pem, ..data -> ..<timestamp>; an update swaps ..data (ztunnel's
        // FileIdMap comment in src/tls/crl.rs). Polling is an hour here, so only the directory watch can see it.
        Path v1 = Files.createDirectory(dir.resolve("..2026_12_07_1"));
        Files.writeString(v1.resolve("crl.pem"), "");
        Files.createSymbolicLink(dir.resolve("..data"), v1.getFileName());
        Files.createSymbolicLink(crlPath, Path.of("..data", "crl.pem"));
        try (CrlFile crl = CrlFile.builder(crlPath).settleTime(Duration.ZERO).pollInterval(Duration.ofHours(1)).build();
             MeshTls server = tls(crl); MeshTls client = tls(null);
             Loopback net = new Loopback(49, server.server(SERVER).join())) {
            Loopback.Conn c = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
            assertThat(c.succeeded()).as(c.errors()).isTrue();
            server.closeWhenRevoked(c.serverSsl().engine(), () -> c.server().close());

            Path v2 = Files.createDirectory(dir.resolve("..2026_12_07_2"));
            Files.writeString(v2.resolve("crl.pem"), Pem.crls(List.of(revoking(intermediate(), svid(CLIENT).getLeaf().getSerialNumber()))));
            Files.createSymbolicLink(dir.resolve("..data_tmp"), v2.getFileName());
            Files.move(dir.resolve("..data_tmp"), dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE);

            assertThat(c.client().closeFuture().await(10, TimeUnit.SECONDS)).as("closed after the swap").isTrue();
            assertThat(crl.crls()).hasSize(1);
            Loopback.Conn again = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
            if (again.serverError() == null) {
                // A resumed session runs no verifier; mesh-hbone's Negotiator asks MeshTls.verifiedPeerIdentity, which
                // checks the chain again, CRLs included.
                assertThatThrownBy(() -> server.verifiedPeerIdentity(again.serverSsl().engine())).hasMessageContaining("is revoked");
            } else {
                assertThat(again.errors()).contains("is revoked");
            }
        }
    }

    @Test
    void aReloadThatDoesNotParseKeepsThePreviousCrls() throws Exception {
        // ztunnel's watcher: load_crl fails, "failed to reload crl", the set read before stays.
        writeCrls(revoking(intermediate(), svid(CLIENT).getLeaf().getSerialNumber()));
        try (CrlFile crl = CrlFile.builder(crlPath).watch(false).pollInterval(Duration.ofHours(1)).build()) {
            Files.writeString(crlPath, "garbage");
            assertThatThrownBy(crl::reload).hasMessageContaining("CRL file " + crlPath + ": neither PEM");
            assertThat(crl.crls()).hasSize(1);
            assertThat(logged()).contains("the 1 CRL(s) read before stay in force");
        }
    }

    @Test
    void aConnectionRegisteredAfterAReloadItsHandshakeMissedIsCheckedAtOnce() throws Exception {
        // ztunnel's revoked_after_reload: the CRL changed between the handshake and the registration.
        Files.writeString(crlPath, "");
        try (CrlFile crl = CrlFile.builder(crlPath).watch(false).pollInterval(Duration.ofHours(1)).build();
             MeshTls server = tls(crl); MeshTls client = tls(null);
             Loopback net = new Loopback(50, server.server(SERVER).join())) {
            Loopback.Conn c = net.connect(client.client(CLIENT, Set.of(SERVER)).join());
            assertThat(c.succeeded()).isTrue();
            writeCrls(revoking(intermediate(), svid(CLIENT).getLeaf().getSerialNumber()));
            assertThat(crl.reload()).isTrue();
            server.closeWhenRevoked(c.serverSsl().engine(), () -> c.server().close());
            assertThat(c.client().closeFuture().await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(server.liveConnections()).isZero();
        }
    }
}
