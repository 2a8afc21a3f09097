package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.InMemoryCa;
import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.HexFormat;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ClientCertDetails} on certificates built here: the subject as OpenSSL's {@code -nameopt RFC2253} prints it
 * (the same {@code X509_NAME_print_ex(XN_FLAG_RFC2253)} Envoy calls through BoringSSL), asked of the real
 * {@code openssl} binary, and the SAN fields in Envoy's order. Upstream sources of the cases: envoyproxy/envoy
 * source/common/http/conn_manager_utility.cc {@code mutateXfccRequestHeader} (By and Hash first, {@code Subject}
 * always quoted, one {@code URI=}/{@code DNS=} per SAN, a bare {@code URI=} without one), the detail order of
 * source/extensions/filters/network/http_connection_manager/config.cc, {@code sha256PeerCertificateDigest} in
 * source/common/tls/connection_info_impl_base.cc (Hash), and the fields istiod enables on a waypoint, istio/istio
 * pilot/pkg/networking/core/listener_waypoint.go {@code buildHCMConnectTerminateChain} (subject, uri, dns).
 */
class ClientCertDetailsTest {

    @TempDir
    Path dir;

    @Test
    void emptySubjectIsAnEmptyQuotedStringAndTheHashIsTheLeafDersSha256() throws Exception {
        X509Certificate cert = cert(new X500Name(new org.bouncycastle.asn1.x500.RDN[0]),
                new GeneralName(GeneralName.uniformResourceIdentifier, "spiffe://cluster.local/ns/foo/sa/sleep"));
        String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(cert.getEncoded()));
        assertThat(ClientCertDetails.of(cert)).isEqualTo("Hash=" + hash + ";Subject=\"\";URI=spiffe://cluster.local/ns/foo/sa/sleep");
        assertThat(openssl(cert)).isEmpty();
    }

    @Test
    void theInMemoryCasLeafReadsAsIstiodsSubjectEmpty() throws Exception {
        // InMemoryCa issues as istiod does (istio/istio security/pkg/pki/util/generate_cert.go genCertTemplateFromCSR:
        // no subject), so the header is what Envoy writes in an Istio mesh; it said Subject="O=cluster.local" before.
        X509Certificate leaf = InMemoryCa.create("cluster.local").issue(SpiffeId.parse("spiffe://cluster.local/ns/foo/sa/sleep")).getLeaf();
        String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(leaf.getEncoded()));
        assertThat(ClientCertDetails.of(leaf)).isEqualTo("Hash=" + hash + ";Subject=\"\";URI=spiffe://cluster.local/ns/foo/sa/sleep");
        assertThat(openssl(leaf)).isEmpty();
    }

    @Test
    void subjectIsPrintedAsOpenSslsRfc2253LastRdnFirstWithItsEscapes() throws Exception {
        X500NameBuilder b = new X500NameBuilder(BCStyle.INSTANCE);
        b.addRDN(BCStyle.C, "US");
        b.addRDN(BCStyle.O, "Sue, Grabbit and Runn");
        b.addMultiValuedRDN(new ASN1ObjectIdentifier[] {BCStyle.OU, BCStyle.CN}, new String[] {"Sales", "J. Smith"});
        b.addRDN(BCStyle.L, " #lead\"q\"<a>;b\\c+d trail ");
        b.addRDN(BCStyle.EmailAddress, "ops@example.com");
        b.addRDN(BCStyle.CN, "caf\u00e9 \u4e2d");
        b.addRDN(new ASN1ObjectIdentifier("1.3.6.1.4.1.99999.1"), "x");
        X509Certificate cert = cert(b.build(), new GeneralName(GeneralName.uniformResourceIdentifier, "spiffe://td/ns/a/sa/b"));
        String subject = ClientCertDetails.subject(cert.getSubjectX500Principal().getEncoded());
        assertThat(subject).isEqualTo(openssl(cert));
        assertThat(subject).isEqualTo("1.3.6.1.4.1.99999.1=#0C0178,CN=caf\\C3\\A9 \\E4\\B8\\AD,emailAddress=ops@example.com,"
                + "L=\\ #lead\\\"q\\\"\\<a\\>\\;b\\\\c\\+d trail\\ ,CN=J. Smith+OU=Sales,O=Sue\\, Grabbit and Runn,C=US");
        assertThat(ClientCertDetails.of(cert)).contains(";Subject=\"" + subject + "\";URI=spiffe://td/ns/a/sa/b");
    }

    @Test
    void everyUriSanThenEveryDnsSanInCertificateOrderAndABareUriWhenThereIsNone() throws Exception {
        X500Name o = new X500Name("O=cluster.local");
        X509Certificate both = cert(o,
                new GeneralName(GeneralName.dNSName, "b.example"),
                new GeneralName(GeneralName.uniformResourceIdentifier, "spiffe://td/one"),
                new GeneralName(GeneralName.dNSName, "a.example"),
                new GeneralName(GeneralName.uniformResourceIdentifier, "spiffe://td/two"));
        String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(both.getEncoded()));
        assertThat(ClientCertDetails.of(both)).isEqualTo("Hash=" + hash
                + ";Subject=\"O=cluster.local\";URI=spiffe://td/one;URI=spiffe://td/two;DNS=b.example;DNS=a.example");
        X509Certificate dnsOnly = cert(o, new GeneralName(GeneralName.dNSName, "c.example"));
        assertThat(ClientCertDetails.of(dnsOnly)).endsWith(";Subject=\"O=cluster.local\";URI=;DNS=c.example");
    }

    private static X509Certificate cert(X500Name subject, GeneralName... sans) throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(256);
        KeyPair kp = g.generateKeyPair();
        Instant now = Instant.now();
        var builder = new JcaX509v3CertificateBuilder(new X500Name("CN=test issuer"), BigInteger.valueOf(now.toEpochMilli()),
                Date.from(now.minusSeconds(60)), Date.from(now.plusSeconds(3600)), subject, kp.getPublic());
        // Critical, as Istio's (RFC 5280 requires it with an empty subject).
        builder.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(sans));
        byte[] der = builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate())).getEncoded();
        return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(der));
    }

    /** What {@code openssl x509 -noout -subject -nameopt RFC2253} prints after {@code subject=}. */
    private String openssl(X509Certificate cert) throws Exception {
        Path pem = Files.createTempFile(dir, "cert", ".pem");
        Files.writeString(pem, "-----BEGIN CERTIFICATE-----\n" + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                .encodeToString(cert.getEncoded()) + "\n-----END CERTIFICATE-----\n");
        Process p = new ProcessBuilder("openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", pem.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(out).isZero();
        assertThat(out).startsWith("subject=");
        return out.substring("subject=".length()).stripTrailing();
    }
}
