package io.zerohop.identity.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSslCachingX509KeyManagerFactory;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.handler.ssl.util.KeyManagerFactoryWrapper;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.testing.Handshakes;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.Principal;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Arrays;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.security.auth.x500.X500Principal;
import org.bouncycastle.asn1.x500.X500Name;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link SvidKeyManager} against the JDK's SunX509 key manager (what MeshTls used, through a PKCS#12
 * store) on the same key and chain: every key type either asks, for six chain shapes, gets the same
 * answer; the peer's issuer hints are the one deliberate difference (ztunnel's rustls ignores them).
 * Then real handshakes, BoringSSL and the JDK, with an EC and an RSA leaf.
 */
class SvidKeyManagerTest {
    /** What Netty's key-material manager and the JDK's X509Authentication ask for, and some they never do. */
    private static final String[] KEY_TYPES = {
        "EC", "RSA", "RSASSA-PSS", "EC_EC", "EC_RSA", "RSA_EC", "RSA_RSA", "DH_RSA", "EdDSA", "Ed25519", "DSA",
        "ec", "EC_ec", "EC_", "_EC", "", "EC_EC_EC"
    };

    private static final String LEAF_ID = "spiffe://td/ns/a/sa/b";

    private static KeyPair ecCa;
    private static KeyPair rsaCa;
    private static KeyPair ecLeaf;
    private static KeyPair rsaLeaf;
    private static X509Certificate ecCaCert;
    private static X509Certificate rsaCaCert;

    @BeforeAll
    static void keys() throws Exception {
        ecCa = X509.newP256();
        ecLeaf = X509.newP256();
        KeyPairGenerator rsa = KeyPairGenerator.getInstance("RSA");
        rsa.initialize(2048);
        rsaCa = rsa.generateKeyPair();
        rsaLeaf = rsa.generateKeyPair();
        ecCaCert = ca("O=ec-ca", ecCa);
        rsaCaCert = ca("O=rsa-ca", rsaCa);
    }

    private static X509Certificate ca(String name, KeyPair k) {
        Instant now = Instant.now();
        return X509.sign(new X500Name(name), k.getPublic(), null, k.getPrivate(), List.of("spiffe://td"), true, false,
                now.minus(1, ChronoUnit.HOURS), now.plus(1, ChronoUnit.DAYS));
    }

    private static X509Certificate leaf(KeyPair k, X509Certificate issuer, KeyPair issuerKey) {
        Instant now = Instant.now();
        return X509.sign(new X500Name(new org.bouncycastle.asn1.x500.RDN[0]), k.getPublic(), issuer, issuerKey.getPrivate(),
                List.of(LEAF_ID), false, true, now.minus(1, ChronoUnit.HOURS), now.plus(1, ChronoUnit.DAYS));
    }

    private record Shape(String name, KeyPair key, X509Certificate[] chain) {}

    private static List<Shape> shapes() {
        X509Certificate ecByEc = leaf(ecLeaf, ecCaCert, ecCa);
        X509Certificate ecByRsa = leaf(ecLeaf, rsaCaCert, rsaCa);
        X509Certificate rsaByEc = leaf(rsaLeaf, ecCaCert, ecCa);
        X509Certificate rsaByRsa = leaf(rsaLeaf, rsaCaCert, rsaCa);
        return List.of(
                new Shape("EC leaf alone, ECDSA-signed", ecLeaf, new X509Certificate[] {ecByEc}),
                new Shape("EC leaf + EC issuer", ecLeaf, new X509Certificate[] {ecByEc, ecCaCert}),
                new Shape("EC leaf alone, RSA-signed", ecLeaf, new X509Certificate[] {ecByRsa}),
                new Shape("EC leaf + RSA issuer", ecLeaf, new X509Certificate[] {ecByRsa, rsaCaCert}),
                new Shape("RSA leaf + EC issuer", rsaLeaf, new X509Certificate[] {rsaByEc, ecCaCert}),
                new Shape("RSA leaf alone, RSA-signed", rsaLeaf, new X509Certificate[] {rsaByRsa}));
    }

    /** The JDK's own key manager over a PKCS#12 store holding the same entry under the same alias. */
    private static X509ExtendedKeyManager sunX509(Shape s) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setKeyEntry(SvidKeyManager.ALIAS, s.key().getPrivate(), new char[0], s.chain());
        KeyManagerFactory f = KeyManagerFactory.getInstance("SunX509");
        f.init(store, new char[0]);
        return (X509ExtendedKeyManager) f.getKeyManagers()[0];
    }

    @Test
    void everyKeyTypeGetsSunX509sAnswerWithoutHints() throws Exception {
        for (Shape s : shapes()) {
            X509ExtendedKeyManager jdk = sunX509(s);
            SvidKeyManager ours = new SvidKeyManager(s.key().getPrivate(), s.chain());
            for (Principal[] hints : new Principal[][] {null, new Principal[0]}) {
                for (String t : KEY_TYPES) {
                    String where = s.name() + ", key type " + t + ", hints " + Arrays.toString(hints);
                    assertEquals(jdk.chooseServerAlias(t, hints, null), ours.chooseServerAlias(t, hints, null), where);
                    assertEquals(jdk.chooseEngineServerAlias(t, hints, null), ours.chooseEngineServerAlias(t, hints, null), where);
                    assertArrayEquals(jdk.getServerAliases(t, hints), ours.getServerAliases(t, hints), where);
                    assertArrayEquals(jdk.getClientAliases(t, hints), ours.getClientAliases(t, hints), where);
                    assertEquals(jdk.chooseEngineClientAlias(new String[] {t}, hints, null),
                            ours.chooseEngineClientAlias(new String[] {t}, hints, null), where);
                }
                // A list of key types: the first one served wins in both, and none served is null in both.
                String[] list = {"DSA", "EC_RSA", "RSA", "EC"};
                assertEquals(jdk.chooseClientAlias(list, hints, null), ours.chooseClientAlias(list, hints, null), s.name());
                assertEquals(jdk.chooseClientAlias(new String[] {"DSA"}, hints, null),
                        ours.chooseClientAlias(new String[] {"DSA"}, hints, null), s.name());
                assertEquals(jdk.chooseClientAlias(null, hints, null), ours.chooseClientAlias(null, hints, null), s.name());
            }
            assertNull(ours.chooseServerAlias(null, null, null));
            // Not vacuous: each shape is served for its leaf's key type, as SunX509 serves it.
            String alg = s.chain()[0].getPublicKey().getAlgorithm();
            assertEquals(SvidKeyManager.ALIAS, ours.chooseServerAlias(alg, null, null), s.name());
            assertEquals(SvidKeyManager.ALIAS, jdk.chooseServerAlias(alg, null, null), s.name());
            assertArrayEquals(jdk.getCertificateChain(SvidKeyManager.ALIAS), ours.getCertificateChain(SvidKeyManager.ALIAS), s.name());
            assertEquals(jdk.getPrivateKey(SvidKeyManager.ALIAS), ours.getPrivateKey(SvidKeyManager.ALIAS), s.name());
            assertNull(ours.getPrivateKey("other"));
            assertNull(ours.getCertificateChain("other"));
        }
    }

    @Test
    void issuerHintsAreIgnoredAsZtunnelDoesWhereSunX509OfferedNothing() throws Exception {
        Shape s = shapes().get(1); // EC leaf + EC issuer "O=ec-ca"
        X509ExtendedKeyManager jdk = sunX509(s);
        SvidKeyManager ours = new SvidKeyManager(s.key().getPrivate(), s.chain());
        Principal[] own = {new X500Principal("O=ec-ca")};
        Principal[] other = {new X500Principal("O=someone else's CA")};
        assertEquals(SvidKeyManager.ALIAS, jdk.chooseEngineClientAlias(new String[] {"EC"}, own, null));
        assertEquals(SvidKeyManager.ALIAS, ours.chooseEngineClientAlias(new String[] {"EC"}, own, null));
        assertNull(jdk.chooseEngineClientAlias(new String[] {"EC"}, other, null), "SunX509 filters by hint");
        assertEquals(SvidKeyManager.ALIAS, ours.chooseEngineClientAlias(new String[] {"EC"}, other, null));
        assertEquals(SvidKeyManager.ALIAS, ours.chooseEngineServerAlias("EC", other, null));
        // The key type still decides.
        assertNull(ours.chooseEngineClientAlias(new String[] {"RSA"}, other, null));
    }

    @Test
    void theChainIsCopiedInAndOut() {
        Shape s = shapes().get(1);
        X509Certificate[] chain = s.chain().clone();
        SvidKeyManager km = new SvidKeyManager(s.key().getPrivate(), chain);
        chain[0] = chain[1];
        X509Certificate[] out = km.getCertificateChain(SvidKeyManager.ALIAS);
        assertEquals(s.chain()[0], out[0]);
        assertNotSame(out, km.getCertificateChain(SvidKeyManager.ALIAS));
        assertThrows(IllegalArgumentException.class, () -> new SvidKeyManager(s.key().getPrivate(), new X509Certificate[0]));
        assertThrows(NullPointerException.class, () -> new SvidKeyManager(null, s.chain()));
        assertThrows(NullPointerException.class, () -> new SvidKeyManager(s.key().getPrivate(), new X509Certificate[] {null}));
    }

    /** Mutual TLS 1.3 over loopback, each side presenting through an SvidKeyManager. */
    @ParameterizedTest
    @EnumSource(value = SslProvider.class, names = {"OPENSSL", "JDK"})
    void ecAndRsaLeavesHandshake(SslProvider provider) throws Exception {
        List<Shape> all = shapes();
        try (Handshakes handshakes = new Handshakes()) {
            for (Shape s : List.of(all.get(1), all.get(4))) {
                SslContext server = SslContextBuilder.forServer(factory(s, provider)).sslProvider(provider).protocols("TLSv1.3")
                        .trustManager(InsecureTrustManagerFactory.INSTANCE).clientAuth(ClientAuth.REQUIRE).build();
                SslContext client = SslContextBuilder.forClient().keyManager(factory(s, provider)).sslProvider(provider)
                        .protocols("TLSv1.3").trustManager(InsecureTrustManagerFactory.INSTANCE).build();
                try {
                    Handshakes.Outcome o = handshakes.run(server, client);
                    assertTrue(o.succeeded(), s.name() + ": " + o.errors());
                    assertEquals(SpiffeId.parse(LEAF_ID), o.serverSawPeer(), s.name());
                    assertEquals(SpiffeId.parse(LEAF_ID), o.clientSawPeer(), s.name());
                    assertEquals("TLSv1.3", o.protocol());
                } finally {
                    ReferenceCountUtil.release(client);
                    ReferenceCountUtil.release(server);
                }
            }
        }
    }

    private static KeyManagerFactory factory(Shape s, SslProvider provider) {
        KeyManagerFactory f = new KeyManagerFactoryWrapper(new SvidKeyManager(s.key().getPrivate(), s.chain()));
        return provider == SslProvider.OPENSSL ? new OpenSslCachingX509KeyManagerFactory(f) : f;
    }
}
