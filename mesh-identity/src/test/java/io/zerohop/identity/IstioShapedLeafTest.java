package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.internal.X509;
import io.zerohop.identity.testing.MutableClock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The in-memory CA's workload certificates have the shape istiod's CA gives them, property by property, as
 * {@link InMemoryCa} documents. The cases come from istio/istio {@code security/pkg/pki/util/generate_cert_test.go}
 * ({@code TestGenCertFromCSR}: no subject, the IDs as SANs, verifiable under the signer;
 * {@code TestGenCertFromCSRWithTTLClamping}: a TTL past the signing certificate is clamped to it, an expired signing
 * certificate issues nothing), {@code security/pkg/pki/util/san.go} ({@code BuildSANExtension}: the SAN is critical
 * because the subject is empty) and {@code generate_cert.go} ({@code genCertTemplateFromCSR}: digitalSignature and
 * keyEncipherment, serverAuth and clientAuth, CA false, NotBefore {@code ClockSkewGracePeriod} = 2 min early), and
 * from spiffe/spiffe {@code standards/X509-SVID.md} (§2: a critical URI SAN when the subject is omitted; §4.1 cA false;
 * §4.3 key usage critical with digitalSignature; §4.4 serverAuth and clientAuth). Each certificate is read twice: by
 * the JDK's parser and by {@code openssl x509 -text}, and {@code openssl verify -x509_strict} (which refuses an empty
 * subject with a non-critical SAN, RFC 5280 §4.2.1.6) checks the chain for both TLS purposes.
 */
class IstioShapedLeafTest {
    static final SpiffeId ID = SpiffeIds.istio("cluster.local", "prod", "frontend");
    static final String SAN = "2.5.29.17";
    static final String KEY_USAGE = "2.5.29.15";
    static final String EXT_KEY_USAGE = "2.5.29.37";
    static final String BASIC_CONSTRAINTS = "2.5.29.19";

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}, intermediate {1}")
    @CsvSource({"issue, false", "issue, true", "signCsr, false", "signCsr, true"})
    void leafIsShapedAsIstiodIssuesIt(String how, boolean intermediate) throws Exception {
        Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
        MutableClock clock = new MutableClock(now);
        InMemoryCa ca = InMemoryCa.builder().trustDomain("cluster.local").intermediate(intermediate).clock(clock).build();
        List<X509Certificate> chain = issue(ca, how, Duration.ofHours(1));
        X509Certificate leaf = chain.get(0);

        // TestGenCertFromCSR: "Common name should be empty", "Organization should be empty"; the subject is an empty
        // SEQUENCE, which Envoy's XFCC prints as Subject="".
        assertThat(leaf.getSubjectX500Principal().getEncoded()).containsExactly(0x30, 0x00);
        assertThat(leaf.getSubjectX500Principal().getName()).isEmpty();
        // san.go BuildSANExtension: critical; X509-SVID §2: exactly one URI SAN, the SPIFFE ID, and nothing else.
        assertThat(leaf.getCriticalExtensionOIDs()).contains(SAN);
        assertThat(leaf.getSubjectAlternativeNames()).hasSize(1);
        assertThat(X509.uriSans(leaf)).containsExactly(ID.toString());
        // genCertTemplateFromCSR keyUsage DigitalSignature|KeyEncipherment (Go marks it critical; X509-SVID §4.3 MUST).
        assertThat(leaf.getCriticalExtensionOIDs()).contains(KEY_USAGE);
        boolean[] ku = leaf.getKeyUsage();
        List<Integer> set = new ArrayList<>();
        for (int i = 0; i < ku.length; i++) {
            if (ku[i]) {
                set.add(i);
            }
        }
        assertThat(set).as("digitalSignature(0), keyEncipherment(2)").containsExactly(0, 2);
        // ExtKeyUsageServerAuth, ExtKeyUsageClientAuth, not critical (X509-SVID §4.4).
        assertThat(leaf.getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
        assertThat(leaf.getNonCriticalExtensionOIDs()).contains(EXT_KEY_USAGE);
        // IsCA false with BasicConstraintsValid: the extension is there, critical, CA:FALSE (X509-SVID §4.1).
        assertThat(leaf.getCriticalExtensionOIDs()).contains(BASIC_CONSTRAINTS);
        assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
        // NotBefore: now - ClockSkewGracePeriod (2 min); NotAfter: now + ttl.
        assertThat(InMemoryCa.BACKDATE).isEqualTo(Duration.ofMinutes(2));
        assertThat(leaf.getNotBefore().toInstant()).isEqualTo(now.minus(Duration.ofMinutes(2)));
        assertThat(leaf.getNotAfter().toInstant()).isEqualTo(now.plus(Duration.ofHours(1)));
        // v3, a positive serial of at most 20 octets (RFC 5280 §4.1.2.2), issued by the signer.
        assertThat(leaf.getVersion()).isEqualTo(3);
        assertThat(leaf.getSerialNumber().signum()).isPositive();
        assertThat(leaf.getSerialNumber().bitLength()).isLessThanOrEqualTo(159);
        X509Certificate signer = intermediate ? chain.get(1) : ca.root();
        assertThat(chain).hasSize(intermediate ? 2 : 1);
        assertThat(leaf.getIssuerX500Principal()).isEqualTo(signer.getSubjectX500Principal());
        // Go's crypto/x509 CreateCertificate (x509.go: authorityKeyId = parent.SubjectKeyId), which istiod's CA calls:
        // the signer's SubjectKeyId, the key id alone.
        org.bouncycastle.asn1.x509.AuthorityKeyIdentifier aki = org.bouncycastle.asn1.x509.AuthorityKeyIdentifier.getInstance(
                org.bouncycastle.asn1.ASN1OctetString.getInstance(leaf.getExtensionValue("2.5.29.35")).getOctets());
        assertThat(aki.getAuthorityCertIssuer()).as("no issuer name").isNull();
        assertThat(aki.getAuthorityCertSerialNumber()).as("no issuer serial").isNull();
        assertThat(aki.getKeyIdentifier()).isEqualTo(org.bouncycastle.asn1.x509.SubjectKeyIdentifier.getInstance(
                org.bouncycastle.asn1.ASN1OctetString.getInstance(signer.getExtensionValue("2.5.29.14")).getOctets()).getKeyIdentifier());
        assertThat(SvidVerifier.verify(chain.toArray(new X509Certificate[0]), ca.bundles())).isEqualTo(ID);

        // The same, as OpenSSL reads it.
        Path leafPem = pem("leaf", List.of(leaf));
        List<String> text = openssl("x509", "-noout", "-text", "-in", leafPem.toString()).lines().map(String::strip).toList();
        assertThat(text).contains("Subject:");
        assertThat(after(text, "X509v3 Subject Alternative Name: critical")).isEqualTo("URI:" + ID);
        assertThat(after(text, "X509v3 Key Usage: critical")).isEqualTo("Digital Signature, Key Encipherment");
        assertThat(after(text, "X509v3 Extended Key Usage:"))
                .isEqualTo("TLS Web Server Authentication, TLS Web Client Authentication");
        assertThat(after(text, "X509v3 Basic Constraints: critical")).isEqualTo("CA:FALSE");

        List<String> verify = new ArrayList<>(List.of("verify", "-x509_strict", "-CAfile", pem("root", List.of(ca.root())).toString()));
        if (intermediate) {
            verify.addAll(List.of("-untrusted", pem("intermediate", chain.subList(1, 2)).toString()));
        }
        for (String purpose : List.of("sslclient", "sslserver")) {
            List<String> args = new ArrayList<>(verify);
            args.addAll(List.of("-purpose", purpose, leafPem.toString()));
            assertThat(openssl(args.toArray(new String[0]))).isEqualTo(leafPem + ": OK\n");
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"issue", "signCsr"})
    void aTtlPastTheSigningCertificateIsClampedToIt(String how) throws Exception {
        // TestGenCertFromCSRWithTTLClamping: a CA valid for 1 h; 30 min is kept, 2 h is clamped to the CA's NotAfter.
        Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
        InMemoryCa ca = InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).caTtl(Duration.ofHours(1))
                .clock(new MutableClock(now)).build();
        List<X509Certificate> shorter = issue(ca, how, Duration.ofMinutes(30));
        assertThat(shorter.get(0).getNotAfter().toInstant()).isEqualTo(now.plus(Duration.ofMinutes(30)));
        List<X509Certificate> longer = issue(ca, how, Duration.ofHours(2));
        X509Certificate signer = longer.get(1);
        assertThat(longer.get(0).getNotAfter()).isEqualTo(signer.getNotAfter());
        assertThat(SvidVerifier.verify(longer.toArray(new X509Certificate[0]), ca.bundles())).isEqualTo(ID);
    }

    @Test
    void anExpiredSigningCertificateIssuesNothing() throws Exception {
        // TestGenCertFromCSRWithTTLClamping "Expired signing certificate - error".
        MutableClock clock = new MutableClock(Instant.now());
        InMemoryCa ca = InMemoryCa.builder().trustDomain("cluster.local").caTtl(Duration.ofHours(1)).clock(clock).build();
        clock.advance(Duration.ofHours(2));
        assertThatThrownBy(() -> issue(ca, "issue", Duration.ofMinutes(30)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("signing certificate")
                .hasMessageContaining("expired at").hasMessageContaining("rotateRoot");
        assertThatThrownBy(() -> issue(ca, "signCsr", Duration.ofMinutes(30)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("expired at");
        assertThatThrownBy(() -> ca.svid(ID).join()).isInstanceOf(CompletionException.class)
                .hasMessageContaining("expired at");
        // A new root signs again.
        ca.rotateRoot();
        assertThat(ca.svid(ID).join().getLeaf().getNotAfter().toInstant()).isAfter(clock.instant());
    }

    private static List<X509Certificate> issue(InMemoryCa ca, String how, Duration ttl) throws Exception {
        if (how.equals("issue")) {
            return ca.issue(ID, ttl).getChain();
        }
        KeyPair keys = X509.newP256();
        return ca.signCsr(Csr.create(keys, ID), ttl);
    }

    /** The line after {@code header} in {@code openssl x509 -text}'s output (an extension's value). */
    private static String after(List<String> text, String header) {
        int i = text.indexOf(header);
        assertThat(i).as("\"%s\" in %s", header, text).isNotNegative();
        return text.get(i + 1);
    }

    private Path pem(String name, List<X509Certificate> certs) throws Exception {
        Path p = dir.resolve(name + ".pem");
        Files.writeString(p, Pem.certificates(certs));
        return p;
    }

    private static String openssl(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(String.join(" ", cmd) + ": " + out).isZero();
        return out;
    }
}
