package io.zerohop.identity;

import static io.zerohop.identity.ExtendedKeyUsageTest.BOTH;
import static io.zerohop.identity.ExtendedKeyUsageTest.ID;
import static io.zerohop.identity.ExtendedKeyUsageTest.mint;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.TrustDomain;
import io.zerohop.identity.ExtendedKeyUsageTest.Cert;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Date;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * A peer's chain is verified along the path built from it, as RFC 8446 section 4.4.2 asks of a TLS 1.3 implementation
 * ("SHOULD be prepared to handle potentially extraneous certificates and arbitrary orderings") and as webpki (under
 * ztunnel) and Go's crypto/x509 (under go-spiffe) do. A new-user pass found three valid chains refused, each of which
 * {@code openssl verify} accepts: intermediates out of order, an unrelated certificate sent along, and the layout Vault
 * agent writes (the chain up to the root, the bundle holding the intermediate). What the path must be is unchanged.
 */
class ChainPathTest {
    private static final Date NOW = new Date();

    private static X509BundleSet trusting(X509Certificate... anchors) {
        return X509BundleSet.of(List.of(new X509Bundle(TrustDomain.parse("cluster.local"), Set.of(anchors))));
    }

    private static String verify(X509BundleSet bundles, X509Certificate... chain) throws CertificateException {
        return SvidVerifier.verify(chain, bundles, NOW, SvidVerifier.Purpose.CLIENT_AUTH).toString();
    }

    @Test
    void intermediatesInAnyOrderAndExtraCertificatesVerify() throws Exception {
        Cert root = mint("O=cluster.local, CN=root", null, true, null);
        Cert top = mint("O=cluster.local, CN=top", root, true, null);
        Cert bottom = mint("O=cluster.local, CN=bottom", top, true, null);
        Cert stranger = mint("O=elsewhere, CN=stranger", null, true, null);
        X509Certificate leaf = mint("", bottom, false, BOTH).cert();
        X509BundleSet bundles = trusting(root.cert());
        assertThat(verify(bundles, leaf, bottom.cert(), top.cert())).as("in order").isEqualTo(ID);
        assertThat(verify(bundles, leaf, top.cert(), bottom.cert())).as("out of order").isEqualTo(ID);
        assertThat(verify(bundles, leaf, stranger.cert(), bottom.cert(), top.cert(), root.cert())).as("an extra certificate").isEqualTo(ID);
        assertThat(verify(bundles, leaf, bottom.cert(), top.cert(), stranger.cert())).as("an extra one at the end").isEqualTo(ID);
        // Vault agent: the chain up to the root, the bundle holding only the intermediate (openssl verify -partial_chain).
        assertThat(verify(trusting(bottom.cert()), leaf, bottom.cert(), top.cert(), root.cert())).isEqualTo(ID);
    }

    /**
     * Candidates of the same name are each tried, as webpki tries every issuer candidate and moves on after a failed one
     * (a final new-user pass: the first name match was taken and the rest never tried).
     */
    @Test
    void everyCandidateOfTheIssuersNameIsTried() throws Exception {
        Cert root = mint("O=cluster.local, CN=root", null, true, null);
        X509BundleSet bundles = trusting(root.cert());
        // A re-keyed intermediate: the old and the new one share their name; the leaf is the new one's.
        Cert oldInt = mint("O=cluster.local, CN=int", root, true, null);
        Cert newInt = mint("O=cluster.local, CN=int", root, true, null);
        X509Certificate leaf = mint("", newInt, false, BOTH).cert();
        assertThat(verify(bundles, leaf, newInt.cert(), oldInt.cert())).isEqualTo(ID);
        assertThat(verify(bundles, leaf, oldInt.cert(), newInt.cert())).isEqualTo(ID);
        assertThat(verify(bundles, leaf, root.cert(), oldInt.cert(), newInt.cert())).isEqualTo(ID);
        // A candidate whose extendedKeyUsage excludes the peer's role, before one that names it.
        Cert serverOnly = mint("O=cluster.local, CN=top", root, true, new org.bouncycastle.asn1.x509.KeyPurposeId[] {
                org.bouncycastle.asn1.x509.KeyPurposeId.id_kp_serverAuth});
        Cert top = mint("O=cluster.local, CN=top", root, true, null);
        Cert bottom = mint("O=cluster.local, CN=bottom", top, true, null);
        X509Certificate underBottom = mint("", bottom, false, BOTH).cert();
        assertThat(verify(bundles, underBottom, serverOnly.cert(), bottom.cert(), top.cert())).isEqualTo(ID);
        // A root re-keyed under the same name, cross-signed by the one in the bundle, after an unrelated certificate.
        Cert newRoot = mint("O=cluster.local, CN=root", null, true, null);
        X509Certificate crossSigned = ExtendedKeyUsageTest.crossSign(newRoot, root);
        X509Certificate underNewRoot = mint("", newRoot, false, BOTH).cert();
        assertThat(verify(bundles, underNewRoot, mint("O=elsewhere, CN=x", null, true, null).cert(), crossSigned)).isEqualTo(ID);
    }

    /** Many decoys of the issuer's name cost a bounded search and end in a refusal. */
    @Test
    void decoysCostABoundedSearch() throws Exception {
        Cert root = mint("O=cluster.local, CN=root", null, true, null);
        Cert decoyCa = mint("O=cluster.local, CN=int", null, true, null);
        X509Certificate leaf = mint("", decoyCa, false, BOTH).cert();
        X509Certificate[] chain = new X509Certificate[41];
        chain[0] = leaf;
        for (int i = 1; i < chain.length; i++) {
            chain[i] = mint("O=cluster.local, CN=int", decoyCa, true, null).cert(); // each named as its own issuer
        }
        assertThatThrownBy(() -> verify(trusting(root.cert()), chain)).isInstanceOf(CertificateException.class);
    }

    @Test
    void aPathThatCannotBeBuiltIsStillRefusedWithTheChainAsSentsReason() throws Exception {
        Cert root = mint("O=cluster.local, CN=root", null, true, null);
        Cert top = mint("O=cluster.local, CN=top", root, true, null);
        Cert bottom = mint("O=cluster.local, CN=bottom", top, true, null);
        X509Certificate leaf = mint("", bottom, false, BOTH).cert();
        X509BundleSet bundles = trusting(root.cert());
        // An intermediate missing.
        assertThatThrownBy(() -> verify(bundles, leaf, bottom.cert())).isInstanceOf(CertificateException.class)
                .hasMessageStartingWith(ID + ": chain does not verify against the trust bundle of cluster.local");
        // Another CA's root of the same name: the signatures decide, not the names.
        Cert impostor = mint("O=cluster.local, CN=root", null, true, null);
        assertThatThrownBy(() -> verify(trusting(impostor.cert()), leaf, bottom.cert(), top.cert()))
                .hasMessageStartingWith(ID + ": chain does not verify against the trust bundle of cluster.local");
        // A signing certificate on the path must still be a CA with keyCertSign (X509-SVID section 4.3).
        Cert notCa = mint("O=cluster.local, CN=notca", root, false, BOTH);
        X509Certificate underNotCa = mint("", notCa, false, BOTH).cert();
        assertThatThrownBy(() -> verify(bundles, underNotCa, notCa.cert())).hasMessageContaining("is not a CA");
    }
}
