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
