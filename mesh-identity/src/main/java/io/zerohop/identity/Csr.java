package io.zerohop.identity;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.internal.X509;
import java.io.IOException;
import java.security.KeyPair;
import java.security.PublicKey;
import java.security.cert.CertificateParsingException;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/** PKCS#10 requests for SPIFFE IDs: what the Istio CA client sends and what the in-memory CA signs. */
public final class Csr {
    private Csr() {}

    /** A DER CSR for {@code id}, signed by {@code keys}, carrying the ID as its one URI SAN. */
    public static byte[] create(KeyPair keys, SpiffeId id) {
        try {
            ExtensionsGenerator ext = new ExtensionsGenerator();
            // Critical, as ztunnel's (src/tls/csr.rs) and RFC 5280 4.2.1.6 require with an empty subject.
            ext.addExtension(Extension.subjectAlternativeName, true,
                    new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, id.toString())));
            return new JcaPKCS10CertificationRequestBuilder(new X500Name(""), keys.getPublic())
                    .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate())
                    .build(X509.signer(keys.getPrivate()))
                    .getEncoded();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String toPem(byte[] der) {
        return Pem.encode("CERTIFICATE REQUEST", der);
    }

    public static byte[] fromPem(String pem) {
        try (var parser = new org.bouncycastle.openssl.PEMParser(new java.io.StringReader(pem))) {
            Object o = parser.readObject();
            if (!(o instanceof PKCS10CertificationRequest csr)) {
                throw new IllegalArgumentException("no CERTIFICATE REQUEST block in PEM");
            }
            return csr.getEncoded();
        } catch (IOException e) {
            throw new IllegalArgumentException("unreadable CSR PEM: " + e.getMessage(), e);
        }
    }

    /**
     * The public key of a request whose signature verifies, whatever names it carries: what istiod reads of a CSR
     * (istio/istio security/pkg/pki/ca/ca.go {@code sign}: {@code ParsePemEncodedCSR}, {@code CheckSignature}; the
     * certificate names the caller, not the request's SANs).
     */
    public static PublicKey publicKey(byte[] der) throws CertificateParsingException {
        try {
            return verifiedKey(new JcaPKCS10CertificationRequest(der));
        } catch (CertificateParsingException e) {
            throw e;
        } catch (Exception e) {
            throw new CertificateParsingException("unreadable CSR: " + e.getMessage(), e);
        }
    }

    private static PublicKey verifiedKey(JcaPKCS10CertificationRequest csr) throws Exception {
        PublicKey key = new org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter().getPublicKey(csr.getSubjectPublicKeyInfo());
        if (!csr.isSignatureValid(new JcaContentVerifierProviderBuilder().build(key))) {
            throw new CertificateParsingException("CSR signature does not verify");
        }
        return key;
    }

    /** A CSR that was checked: its signature is valid and it names exactly one SPIFFE ID. */
    public record Parsed(SpiffeId spiffeId, PublicKey publicKey) {}

    public static Parsed parse(byte[] der) throws CertificateParsingException {
        try {
            JcaPKCS10CertificationRequest csr = new JcaPKCS10CertificationRequest(der);
            PublicKey key = verifiedKey(csr);
            List<String> uris = new ArrayList<>();
            var ext = csr.getRequestedExtensions();
            GeneralNames names = ext == null ? null : GeneralNames.fromExtensions(ext, Extension.subjectAlternativeName);
            if (names != null) {
                for (GeneralName n : names.getNames()) {
                    if (n.getTagNo() == GeneralName.uniformResourceIdentifier) {
                        uris.add(n.getName().toString());
                    }
                }
            }
            if (uris.size() != 1) {
                throw new CertificateParsingException("CSR has " + uris.size() + " URI SANs " + uris + "; exactly one SPIFFE ID is required");
            }
            return new Parsed(SpiffeIds.parse(uris.get(0)), key);
        } catch (CertificateParsingException e) {
            throw e;
        } catch (Exception e) {
            throw new CertificateParsingException("unreadable CSR: " + e.getMessage(), e);
        }
    }
}
