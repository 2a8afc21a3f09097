package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.TrustDomain;
import io.zerohop.identity.internal.SpiffeTrustManager;
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
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.junit.jupiter.api.Test;

/**
 * A peer's extendedKeyUsage, where present, names the role it plays: spiffe/spiffe standards/X509-SVID.md section 4.4,
 * and what ztunnel enforces through rustls' webpki (client certificates with {@code KeyUsage::client_auth()}, server
 * certificates with {@code server_auth()}, "required if present", on the leaf and every intermediate, the trust anchor
 * not checked; {@code anyExtendedKeyUsage} is neither). Until 4 December no purpose was checked (a review pass).
 */
class ExtendedKeyUsageTest {
    static final String ID = "spiffe://cluster.local/ns/prod/sa/frontend";
    private static long serial = 100;

    record Cert(X509Certificate cert, KeyPair key) {}

    /** A leaf ({@code ca} false, with the SPIFFE ID {@link #ID}) or a CA under {@code issuer} (null: self-signed); also ChainPathTest's. */
    static Cert mint(String subject, Cert issuer, boolean ca, KeyPurposeId[] eku) throws Exception {
        KeyPair key = X509.newP256();
        X500Name subj = new X500Name(subject);
        X500Name iss = issuer == null ? subj : X500Name.getInstance(issuer.cert().getSubjectX500Principal().getEncoded());
        Instant now = Instant.now();
        X509v3CertificateBuilder b = new X509v3CertificateBuilder(iss, BigInteger.valueOf(serial++), Date.from(now.minusSeconds(60)),
                Date.from(now.plusSeconds(3600)), subj, SubjectPublicKeyInfo.getInstance(key.getPublic().getEncoded()));
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(ca ? KeyUsage.keyCertSign | KeyUsage.cRLSign
                : KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
        if (eku != null) {
            b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(eku));
        }
        if (!ca) {
            b.addExtension(Extension.subjectAlternativeName, true,
                    new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, ID)));
        }
        return new Cert(new JcaX509CertificateConverter().getCertificate(
                b.build(X509.signer((issuer == null ? key : issuer.key()).getPrivate()))), key);
    }

    /** {@code subject}'s certificate (its name and key) issued again by {@code issuer}: a cross-signature. */
    static X509Certificate crossSign(Cert subject, Cert issuer) throws Exception {
        X500Name subj = X500Name.getInstance(subject.cert().getSubjectX500Principal().getEncoded());
        X500Name iss = X500Name.getInstance(issuer.cert().getSubjectX500Principal().getEncoded());
        Instant now = Instant.now();
        X509v3CertificateBuilder b = new X509v3CertificateBuilder(iss, BigInteger.valueOf(serial++), Date.from(now.minusSeconds(60)),
                Date.from(now.plusSeconds(3600)), subj, SubjectPublicKeyInfo.getInstance(subject.key().getPublic().getEncoded()));
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        return new JcaX509CertificateConverter().getCertificate(b.build(X509.signer(issuer.key().getPrivate())));
    }

    static final KeyPurposeId[] BOTH = {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth};

    @Test
    void eachCertificateBelowTheRootNamesThePurposeWhenItHasExtendedKeyUsage() throws Exception {
        Cert root = mint("O=cluster.local, CN=root", null, true, new KeyPurposeId[] {KeyPurposeId.id_kp_codeSigning});
        X509BundleSet bundles = X509BundleSet.of(List.of(new X509Bundle(TrustDomain.parse("cluster.local"), Set.of(root.cert()))));
        Date now = new Date();
        X509Certificate both = mint("", root, false, BOTH).cert();
        X509Certificate none = mint("", root, false, null).cert();
        X509Certificate serverOnly = mint("", root, false, new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth}).cert();
        X509Certificate codeSigning = mint("", root, false, new KeyPurposeId[] {KeyPurposeId.id_kp_codeSigning}).cert();
        X509Certificate any = mint("", root, false, new KeyPurposeId[] {KeyPurposeId.anyExtendedKeyUsage}).cert();
        for (SvidVerifier.Purpose p : SvidVerifier.Purpose.values()) {
            // istiod's leaves carry both; a leaf without the extension is any purpose's; the root (the anchor) is not read.
            assertThat(SvidVerifier.verify(new X509Certificate[] {both}, bundles, now, p).toString()).isEqualTo(ID);
            assertThat(SvidVerifier.verify(new X509Certificate[] {none, root.cert()}, bundles, now, p).toString()).isEqualTo(ID);
            for (X509Certificate wrong : List.of(codeSigning, any)) {
                assertThatThrownBy(() -> SvidVerifier.verify(new X509Certificate[] {wrong}, bundles, now, p))
                        .isInstanceOf(CertificateException.class).hasMessageContaining("leaf has extendedKeyUsage");
            }
            // The purpose-free form, for a workload's own SVID, reads no extendedKeyUsage.
            assertThat(SvidVerifier.verify(new X509Certificate[] {codeSigning}, bundles, now).toString()).isEqualTo(ID);
        }
        assertThat(SvidVerifier.verify(new X509Certificate[] {serverOnly}, bundles, now, SvidVerifier.Purpose.SERVER_AUTH)
                .toString()).isEqualTo(ID);
        assertThatThrownBy(() -> SvidVerifier.verify(new X509Certificate[] {serverOnly}, bundles, now, SvidVerifier.Purpose.CLIENT_AUTH))
                .hasMessageContaining("without clientAuth (1.3.6.1.5.5.7.3.2), so it may not authenticate a TLS client");

        // An intermediate with the extension must name the purpose too.
        Cert emailInter = mint("O=cluster.local, CN=inter", root, true, new KeyPurposeId[] {KeyPurposeId.id_kp_emailProtection});
        X509Certificate underEmail = mint("", emailInter, false, BOTH).cert();
        assertThatThrownBy(() -> SvidVerifier.verify(new X509Certificate[] {underEmail, emailInter.cert()}, bundles, now,
                SvidVerifier.Purpose.CLIENT_AUTH)).hasMessageContaining("chain certificate 1 (CN=inter, O=cluster.local)");
        Cert okInter = mint("O=cluster.local, CN=inter2", root, true, BOTH);
        assertThat(SvidVerifier.verify(new X509Certificate[] {mint("", okInter, false, BOTH).cert(), okInter.cert()}, bundles, now,
                SvidVerifier.Purpose.CLIENT_AUTH).toString()).isEqualTo(ID);

        // The trust manager checks a client's chain for clientAuth and a server's for serverAuth.
        SpiffeTrustManager tm = new SpiffeTrustManager(() -> bundles, Set.of(), null);
        tm.checkServerTrusted(new X509Certificate[] {serverOnly}, "EC");
        assertThatThrownBy(() -> tm.checkClientTrusted(new X509Certificate[] {serverOnly}, "EC"))
                .hasMessageContaining("may not authenticate a TLS client");
    }
}
