package io.zerohop.identity.internal;

import io.spiffe.spiffeid.SpiffeId;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x509.Time;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** Certificate building blocks shared by the CA and the CSR code. */
public final class X509 {
    private static final SecureRandom RANDOM = new SecureRandom();

    private X509() {}

    public static KeyPair newP256() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("EC P-256 unavailable in this JVM", e);
        }
    }

    public static ContentSigner signer(PrivateKey key) {
        return Signing.signer(key);
    }

    /**
     * Signs one certificate. {@code issuer == null} makes it self-signed. CA certificates carry the
     * trust domain's SPIFFE ID, as SPIRE's do. The SAN extension is critical exactly when {@code subject}
     * is empty (RFC 5280 section 4.2.1.6). basicConstraints and keyUsage are critical; a leaf's
     * keyUsage is keyEncipherment (plus digitalSignature when asked), its extendedKeyUsage serverAuth
     * and clientAuth; every certificate carries a subjectKeyIdentifier, and one with an issuer an
     * authorityKeyIdentifier. The serial is 127 random bits plus one: positive, never zero, at most 16
     * octets (RFC 5280 section 4.1.2.2 allows 20).
     */
    public static X509Certificate sign(
            X500Name subject, PublicKey subjectKey, X509Certificate issuer, PrivateKey issuerKey,
            List<String> uriSans, boolean ca, boolean digitalSignature, Instant notBefore, Instant notAfter) {
        return Signing.sign(subject, subjectKey, issuer, issuerKey, uriSans, ca, digitalSignature, notBefore, notAfter);
    }

    /** The URI SANs of a certificate, in order (empty when there are none). */
    public static List<String> uriSans(X509Certificate cert) throws CertificateParsingException {
        Collection<List<?>> sans = cert.getSubjectAlternativeNames();
        List<String> uris = new ArrayList<>(1);
        if (sans != null) {
            for (List<?> san : sans) {
                if (((Integer) san.get(0)) == GeneralName.uniformResourceIdentifier) {
                    uris.add((String) san.get(1));
                }
            }
        }
        return uris;
    }

    /** The SPIFFE ID of a leaf that carries exactly one URI SAN, or a message saying why not. */
    public static SpiffeId spiffeId(X509Certificate leaf) throws CertificateParsingException {
        List<String> uris = uriSans(leaf);
        if (uris.size() != 1) {
            throw new CertificateParsingException("certificate has " + uris.size()
                    + " URI SANs " + uris + "; an X.509-SVID has exactly one");
        }
        String uri = uris.get(0);
        SpiffeId id;
        try {
            id = SpiffeId.parse(uri);
        } catch (RuntimeException e) {
            // java-spiffe's InvalidSpiffeIdException is no IllegalArgumentException: escaping the verifier unchecked, it
            // made BoringSSL send internal_error, not certificate_unknown, and named no SAN (a review pass).
            throw new CertificateParsingException("URI SAN \"" + uri + "\" is not a SPIFFE ID: " + e.getMessage());
        }
        // java-spiffe 0.8.17 accepts SPIFFE:// and an upper-case trust domain and folds them to lower case; the
        // spec allows only lower case there, and ztunnel (Identity::from_str, a case-sensitive "spiffe://" and trust
        // domain) and go-spiffe refuse such a SAN. Accepting it would admit a peer ztunnel refuses.
        if (!id.toString().equals(uri)) {
            throw new CertificateParsingException("URI SAN \"" + uri + "\" is not a SPIFFE ID: the scheme and trust domain "
                    + "must be lower case (" + id + ")");
        }
        return id;
    }

    /**
     * BouncyCastle's certificate building, in a class of its own: the verifier loads the classes a
     * method body assigns to one another when its class is linked, so this code inside {@link X509}
     * loaded BouncyCastle into proxies that only read certificates (PEM files, a CA directory).
     */
    private static final class Signing {
        /**
         * {@code t} as RFC 5280 section 4.1.2.5 encodes a validity time, as BouncyCastle's {@code Time(Date)}
         * does: UTCTime {@code YYMMDDHHMMSSZ} for the years 1950–2049, GeneralizedTime
         * {@code YYYYMMDDHHMMSSZ} otherwise, whole seconds (a fraction is cut off). Built from the DER
         * bytes because {@code Time(Date)} and the time types' string constructors format or check the
         * text with {@code SimpleDateFormat}, whose locale data (~300 classes and ~1 MB of heap, kept for
         * the life of the process) nothing else in a node proxy needs.
         */
        static Time time(Instant t) throws java.io.IOException {
            LocalDateTime u = LocalDateTime.ofEpochSecond(t.getEpochSecond(), 0, ZoneOffset.UTC);
            int year = u.getYear();
            boolean utc = year >= 1950 && year <= 2049;
            if (year < 0 || year > 9999) {
                throw new IllegalArgumentException("certificate time out of range: " + t);
            }
            StringBuilder s = new StringBuilder(15);
            if (utc) {
                two(s, year % 100);
            } else {
                two(s, year / 100);
                two(s, year % 100);
            }
            two(s, u.getMonthValue());
            two(s, u.getDayOfMonth());
            two(s, u.getHour());
            two(s, u.getMinute());
            two(s, u.getSecond());
            s.append('Z');
            byte[] der = new byte[2 + s.length()];
            der[0] = (byte) (utc ? 0x17 : 0x18); // UTCTime, GeneralizedTime
            der[1] = (byte) s.length();
            for (int i = 0; i < s.length(); i++) {
                der[2 + i] = (byte) s.charAt(i);
            }
            return new Time(ASN1Primitive.fromByteArray(der));
        }

        private static void two(StringBuilder s, int v) {
            s.append((char) ('0' + v / 10)).append((char) ('0' + v % 10));
        }

        static ContentSigner signer(PrivateKey key) {
            try {
                String alg = key.getAlgorithm().equals("EC") ? "SHA256withECDSA" : "SHA256withRSA";
                return new JcaContentSignerBuilder(alg).build(key);
            } catch (Exception e) {
                throw new IllegalStateException("cannot sign with " + key.getAlgorithm() + " key", e);
            }
        }

        static X509Certificate sign(
                X500Name subject, PublicKey subjectKey, X509Certificate issuer, PrivateKey issuerKey,
                List<String> uriSans, boolean ca, boolean digitalSignature, Instant notBefore, Instant notAfter) {
            try {
                X500Name issuerName = issuer == null ? subject : X500Name.getInstance(issuer.getSubjectX500Principal().getEncoded());
                BigInteger serial = new BigInteger(127, RANDOM).add(BigInteger.ONE);
                X509v3CertificateBuilder b = new X509v3CertificateBuilder(issuerName, serial, time(notBefore), time(notAfter),
                        subject, SubjectPublicKeyInfo.getInstance(subjectKey.getEncoded()));
                JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
                b.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
                int usage = ca ? KeyUsage.keyCertSign | KeyUsage.cRLSign : KeyUsage.keyEncipherment;
                if (digitalSignature) {
                    usage |= KeyUsage.digitalSignature;
                }
                b.addExtension(Extension.keyUsage, true, new KeyUsage(usage));
                if (!ca) {
                    b.addExtension(Extension.extendedKeyUsage, false,
                            new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
                }
                b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(subjectKey));
                byte[] issuerKeyId = issuer == null ? null : issuer.getExtensionValue(Extension.subjectKeyIdentifier.getId());
                if (issuerKeyId != null) {
                    // Go's crypto/x509 CreateCertificate, as istiod signs: the issuer's subject key identifier as the
                    // key id, alone (no issuer name and serial, which BouncyCastle's createAuthorityKeyIdentifier(cert)
                    // adds); none when the issuer has none. Self-signed (issuer null): none, as Go without a template value.
                    byte[] keyId = org.bouncycastle.asn1.x509.SubjectKeyIdentifier.getInstance(
                            org.bouncycastle.asn1.ASN1OctetString.getInstance(issuerKeyId).getOctets()).getKeyIdentifier();
                    b.addExtension(Extension.authorityKeyIdentifier, false, new org.bouncycastle.asn1.x509.AuthorityKeyIdentifier(keyId));
                }
                if (!uriSans.isEmpty()) {
                    GeneralName[] names = new GeneralName[uriSans.size()];
                    for (int i = 0; i < names.length; i++) {
                        names[i] = new GeneralName(GeneralName.uniformResourceIdentifier, uriSans.get(i));
                    }
                    // RFC 5280 4.2.1.6: critical when the subject is empty (the workload leaves, as istiod's: istio/istio
                    // security/pkg/pki/util/san.go BuildSANExtension; SPIFFE X509-SVID 2), not critical beside a subject.
                    b.addExtension(Extension.subjectAlternativeName, subject.getRDNs().length == 0, new GeneralNames(names));
                }
                return new JcaX509CertificateConverter().getCertificate(b.build(signer(issuerKey)));
            } catch (Exception e) {
                throw new IllegalStateException("certificate signing failed: " + e.getMessage(), e);
            }
        }
    }
}
