package io.zerohop.identity;

import static io.zerohop.identity.ExtendedKeyUsageTest.BOTH;
import static io.zerohop.identity.ExtendedKeyUsageTest.ID;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.TrustDomain;
import io.zerohop.identity.internal.X509;
import java.math.BigInteger;
import java.security.KeyPair;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Set;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralSubtree;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.NameConstraints;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.junit.jupiter.api.Test;

/**
 * URI name constraints on a signing certificate (spiffe/spiffe standards/X509-SVID.md section 4.2: "a namespace within
 * which all SPIFFE IDs in subsequent certificates ... MUST be located") are honoured on intermediates, by host, as Go's
 * crypto/x509 (go-spiffe) and BoringSSL (Envoy's SPIFFE validator) honour them; ztunnel's webpki refuses every URI SAN
 * under any URI constraint (its {@code GeneralName::Unsupported} arm, {@code NameConstraintViolation}), which the spec
 * foresees ("Libraries which don't support them will reject such certificates"). A decision pinned by a break-it pass
 * (helper 381), not a fix: a permitted subtree of the peer's trust domain is accepted here and refused by ztunnel; every
 * chain ztunnel accepts is accepted here. A bundle root's own constraints are not read (the JDK's PKIX does not read a
 * trust anchor's), as the mesh-identity README says.
 */
class NameConstraintsTest {
    private static long serial = 5000;
    private static final Instant NOW = Instant.now();

    record Cert(X509Certificate cert, KeyPair key) {}

    /** A CA under {@code issuer} (null: self-signed), with a URI name constraint when {@code subtree} is not null. */
    static Cert ca(String name, Cert issuer, Boolean permitted, String subtree) throws Exception {
        KeyPair key = X509.newP256();
        X500Name subject = new X500Name(name);
        X500Name iss = issuer == null ? subject : X500Name.getInstance(issuer.cert().getSubjectX500Principal().getEncoded());
        X509v3CertificateBuilder b = new X509v3CertificateBuilder(iss, BigInteger.valueOf(serial++), Date.from(NOW.minusSeconds(60)),
                Date.from(NOW.plusSeconds(3600)), subject, SubjectPublicKeyInfo.getInstance(key.getPublic().getEncoded()));
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        if (subtree != null) {
            GeneralSubtree[] t = {new GeneralSubtree(new GeneralName(GeneralName.uniformResourceIdentifier, subtree))};
            b.addExtension(Extension.nameConstraints, true, permitted ? new NameConstraints(t, null) : new NameConstraints(null, t));
        }
        return new Cert(new JcaX509CertificateConverter().getCertificate(
                b.build(X509.signer((issuer == null ? key : issuer.key()).getPrivate()))), key);
    }

    private static String verifyUnder(Cert root, Cert intermediate) throws Exception {
        ExtendedKeyUsageTest.Cert signer = new ExtendedKeyUsageTest.Cert(intermediate.cert(), intermediate.key());
        X509Certificate leaf = ExtendedKeyUsageTest.mint("", signer, false, BOTH).cert();
        X509BundleSet bundles = X509BundleSet.of(List.of(new X509Bundle(TrustDomain.parse("cluster.local"), Set.of(root.cert()))));
        return SvidVerifier.verify(new X509Certificate[] {leaf, intermediate.cert()}, bundles, new Date(),
                SvidVerifier.Purpose.CLIENT_AUTH).toString();
    }

    @Test
    void uriConstraintsOnAnIntermediateAreHonouredByHost() throws Exception {
        Cert root = ca("O=cluster.local, CN=root", null, null, null);
        assertThat(verifyUnder(root, ca("CN=permits ours", root, true, "cluster.local"))).isEqualTo(ID);
        assertThat(verifyUnder(root, ca("CN=excludes another", root, false, "other.example"))).isEqualTo(ID);
        assertThatThrownBy(() -> verifyUnder(root, ca("CN=permits another", root, true, "other.example")))
                .isInstanceOf(CertificateException.class).hasMessageContaining("name constraints check failed");
        assertThatThrownBy(() -> verifyUnder(root, ca("CN=excludes ours", root, false, "cluster.local")))
                .isInstanceOf(CertificateException.class).hasMessageContaining("name constraints check failed");
    }

    @Test
    void aBundleRootsOwnConstraintsAreNotRead() throws Exception {
        Cert root = ca("O=cluster.local, CN=root excluding us", null, false, "cluster.local");
        assertThat(verifyUnder(root, ca("CN=plain", root, null, null))).isEqualTo(ID);
    }
}
