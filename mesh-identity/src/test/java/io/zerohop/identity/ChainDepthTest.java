package io.zerohop.identity;

import static io.zerohop.identity.ExtendedKeyUsageTest.BOTH;
import static io.zerohop.identity.ExtendedKeyUsageTest.ID;
import static io.zerohop.identity.ExtendedKeyUsageTest.mint;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.ExtendedKeyUsageTest.Cert;
import io.zerohop.identity.testing.FixedIdentityProvider;
import io.zerohop.identity.testing.Handshakes;
import java.io.ByteArrayOutputStream;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Date;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A peer's path holds at most 6 intermediates between its leaf and the trust bundle, as rustls' webpki under ztunnel
 * allows ({@code MAX_SUB_CA_COUNT} in src/verify_cert.rs, {@code Error::MaximumPathDepthExceeded}). The JDK's PKIX has
 * no such limit, so a peer with 7 intermediates, sent in order, was accepted until a break-it pass (helper 381).
 */
class ChainDepthTest {
    static Handshakes handshakes;
    static Cert root;
    static X509BundleSet bundles;

    @BeforeAll
    static void setUp() throws Exception {
        handshakes = new Handshakes();
        root = mint("O=cluster.local, CN=root", null, true, null);
        bundles = X509BundleSet.of(List.of(new X509Bundle(TrustDomain.parse("cluster.local"), Set.of(root.cert()))));
    }

    @AfterAll
    static void tearDown() {
        handshakes.close();
    }

    /** A leaf under {@code n} intermediates (the first under the root), and its chain: leaf, then the bottom intermediate up. */
    record Chain(Cert leaf, List<X509Certificate> certs) {}

    static Chain under(int n) throws Exception {
        Cert issuer = root;
        List<X509Certificate> intermediates = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            issuer = mint("O=cluster.local, CN=intermediate " + i, issuer, true, null);
            intermediates.add(0, issuer.cert());
        }
        Cert leaf = mint("", issuer, false, BOTH);
        List<X509Certificate> certs = new ArrayList<>(List.of(leaf.cert()));
        certs.addAll(intermediates);
        return new Chain(leaf, certs);
    }

    private static String verify(List<X509Certificate> chain, SvidVerifier.Purpose p) throws CertificateException {
        return SvidVerifier.verify(chain.toArray(new X509Certificate[0]), bundles, new Date(), p).toString();
    }

    @Test
    void sixIntermediatesVerifySevenDoNotInOrderShuffledOrWithTheRoot() throws Exception {
        Chain six = under(6);
        Chain seven = under(7);
        for (SvidVerifier.Purpose p : SvidVerifier.Purpose.values()) {
            assertThat(verify(six.certs(), p)).isEqualTo(ID);
            List<X509Certificate> withRoot = new ArrayList<>(six.certs());
            withRoot.add(root.cert());
            assertThat(verify(withRoot, p)).as("the root appended").isEqualTo(ID);

            assertThatThrownBy(() -> verify(seven.certs(), p)).as("as sent").isInstanceOf(CertificateException.class)
                    .hasMessageContaining("chain has 7 intermediates").hasMessageContaining("at most 6");
            List<X509Certificate> shuffled = new ArrayList<>(seven.certs().subList(1, 8));
            Collections.reverse(shuffled);
            shuffled.add(0, seven.certs().get(0));
            assertThatThrownBy(() -> verify(shuffled, p)).as("out of order, the path built").isInstanceOf(CertificateException.class);
        }
        // A workload's own SVID (no TLS role): ztunnel checks nothing of its own chain, so a deeper one is still served.
        assertThat(SvidVerifier.verify(seven.certs().toArray(new X509Certificate[0]), bundles, new Date()).toString()).isEqualTo(ID);
    }

    @ParameterizedTest
    @EnumSource(value = SslProvider.class, names = {"OPENSSL", "JDK"})
    void aPeerWithSevenIntermediatesFailsTheHandshakeOnBothSides(SslProvider provider) throws Exception {
        Chain own = under(1);
        X509Svid svid = X509Svid.parseRaw(der(own.certs()), own.leaf().key().getPrivate().getEncoded());
        SpiffeId id = SpiffeId.parse(ID);
        try (MeshTls tls = MeshTls.builder(new FixedIdentityProvider(svid, bundles)).sslProvider(provider).build()) {
            Chain six = under(6);
            Chain seven = under(7);
            assertThat(handshakes.run(tls.server(id).join(), rawClient(six)).succeeded()).as("6 intermediates").isTrue();
            Handshakes.Outcome client = handshakes.run(tls.server(id).join(), rawClient(seven));
            assertThat(client.serverError()).as("the server refuses the client").isNotNull();
            assertThat(client.errors()).contains("chain has 7 intermediates");

            assertThat(handshakes.run(rawServer(six), tls.client(id, Set.of(id)).join()).succeeded()).isTrue();
            Handshakes.Outcome server = handshakes.run(rawServer(seven), tls.client(id, Set.of(id)).join());
            assertThat(server.clientError()).as("the client refuses the server").isNotNull();
            assertThat(server.errors()).contains("chain has 7 intermediates");
        }
    }

    private static SslContext rawClient(Chain c) throws Exception {
        return SslContextBuilder.forClient().protocols("TLSv1.3").trustManager(InsecureTrustManagerFactory.INSTANCE)
                .keyManager(c.leaf().key().getPrivate(), c.certs().toArray(new X509Certificate[0])).build();
    }

    /** Asks for the client's certificate (trusting any), so both sides of an accepted handshake have a peer to read. */
    private static SslContext rawServer(Chain c) throws Exception {
        return SslContextBuilder.forServer(c.leaf().key().getPrivate(), c.certs().toArray(new X509Certificate[0]))
                .protocols("TLSv1.3").clientAuth(ClientAuth.REQUIRE).trustManager(InsecureTrustManagerFactory.INSTANCE).build();
    }

    private static byte[] der(List<X509Certificate> certs) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (X509Certificate c : certs) {
            out.write(c.getEncoded());
        }
        return out.toByteArray();
    }
}
