package io.zerohop.identity.internal;

import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.CRLException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.x509.CRLDistPoint;
import org.bouncycastle.asn1.x509.DistributionPoint;
import org.bouncycastle.asn1.x509.DistributionPointName;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.IssuingDistributionPoint;

/**
 * A parsed, immutable set of certificate revocation lists and the revocation check ztunnel runs with them.
 *
 * <p>ztunnel ({@code src/tls/crl.rs} {@code CrlManager::parse_crl_file}) reads a file of PEM CRL blocks (other PEM
 * items skipped), or one DER CRL when the file does not start with {@code -----BEGIN}; an empty file, or one with no
 * CRL block, is "no revocations". Each CRL is parsed by webpki ({@code OwnedCertRevocationList::from_der},
 * rustls/webpki {@code src/crl/types.rs}), which refuses what it cannot use; the JDK parses here and the same refusals
 * follow: a version other than v2, no nextUpdate, no cRLNumber (or one over 20 octets), a delta CRL, an unknown
 * critical extension (CRL or entry), an indirect CRL (issuingDistributionPoint indirectCRL, or an entry's
 * certificateIssuer), one partitioned by reasons, an issuingDistributionPoint without a full name, or one for
 * attribute certificates.
 *
 * <p>The check is webpki's {@code RevocationOptions::check} with ztunnel's options ({@code src/tls/revocation.rs}
 * {@code verify_cert_chain}: {@code RevocationCheckDepth::Chain}, {@code UnknownStatusPolicy::Allow},
 * {@code ExpirationPolicy::Ignore}; inbound, rustls' {@code WebPkiClientVerifier} built in
 * {@code src/tls/certificate.rs} with {@code allow_unknown_revocation_status()} has the same three): every certificate
 * of the verified path but the trust anchor is looked up in the CRLs issued under its issuer's name (and, with an
 * issuingDistributionPoint, in scope for it); none is "unknown", allowed; of several, the highest cRLNumber among those
 * of the first one's issuer and distribution point; that CRL's signature must verify with the issuer's key, an issuer
 * that is not the trust anchor must allow cRLSign when it has a keyUsage, and nextUpdate is not looked at (an expired
 * CRL still revokes). A serial it lists is revoked, whatever the reason code.
 */
public final class Crls {
    public static final Crls NONE = new Crls(List.of(), List.of());

    private static final String CRL_NUMBER = "2.5.29.20"; // RFC 5280 OIDs as text: BouncyCastle loads at the first CRL, not at start
    private static final String DELTA = "2.5.29.27";
    private static final String IDP = "2.5.29.28";
    private static final String AKI = "2.5.29.35";
    private static final String REASON = "2.5.29.21";
    private static final String INVALIDITY = "2.5.29.24";
    private static final String CERT_ISSUER = "2.5.29.29";
    private static final Set<String> KNOWN_CRL_EXTENSIONS = Set.of(CRL_NUMBER, DELTA, IDP, AKI);
    private static final Set<String> KNOWN_ENTRY_EXTENSIONS = Set.of(REASON, INVALIDITY, CERT_ISSUER);

    private record Entry(X509CRL crl, BigInteger number, byte[] idp, IssuingDistributionPoint parsedIdp) {}

    private final List<Entry> crls;
    private final List<X509CRL> list;

    private final List<String> otherPemBlocks;

    private Crls(List<Entry> crls, List<String> otherPemBlocks) {
        this.crls = List.copyOf(crls);
        this.list = crls.stream().map(Entry::crl).toList();
        this.otherPemBlocks = List.copyOf(otherPemBlocks);
    }

    /**
     * The labels of the PEM blocks that were not CRLs ({@code CERTIFICATE}, ...), in file order; empty for a DER file.
     * ztunnel skips them silently (a debug line when no CRL is left); a file holding only these is almost always the
     * wrong file (a CA certificate given as the CRL file), so {@link io.zerohop.identity.CrlFile} warns, naming them.
     */
    public List<String> otherPemBlocks() {
        return otherPemBlocks;
    }

    /** How many CRLs the set holds. */
    public int size() {
        return crls.size();
    }

    /** The CRLs, in file order; the same list object for the life of this set. */
    public List<X509CRL> crls() {
        return list;
    }

    /**
     * Parses a CRL file's bytes as ztunnel does.
     *
     * @param source named in the error (the file)
     * @throws IllegalArgumentException naming {@code source}, the CRL (1-based, in file order) and what is wrong
     */
    public static Crls parse(byte[] data, String source) {
        if (data.length == 0) {
            return NONE;
        }
        List<byte[]> ders = new ArrayList<>();
        List<String> others = new ArrayList<>();
        String text = new String(data, StandardCharsets.ISO_8859_1);
        if (text.startsWith("-----BEGIN")) {
            int at = 0;
            while (true) {
                int begin = text.indexOf("-----BEGIN ", at);
                if (begin < 0) {
                    break;
                }
                int labelEnd = text.indexOf("-----", begin + 11);
                if (labelEnd < 0) {
                    throw new IllegalArgumentException(source + ": PEM block at offset " + begin + " has an unterminated BEGIN line");
                }
                String label = text.substring(begin + 11, labelEnd);
                String endLine = "-----END " + label + "-----";
                int end = text.indexOf(endLine, labelEnd);
                if (end < 0) {
                    throw new IllegalArgumentException(source + ": PEM block \"" + label + "\" at offset " + begin + " has no " + endLine);
                }
                if (label.equals("X509 CRL")) {
                    String b64 = text.substring(labelEnd + 5, end).replaceAll("\\s", "");
                    try {
                        ders.add(Base64.getDecoder().decode(b64));
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException(source + ": CRL " + (ders.size() + 1) + " is not valid base64: " + e.getMessage(), e);
                    }
                } else {
                    others.add(label);
                }
                at = end + endLine.length();
            }
        } else if ((data[0] & 0xff) != 0x30) {
            // The JDK's own message for these bytes is "Empty input", which a 300-byte file does not explain (h406).
            throw new IllegalArgumentException(source + ": neither PEM (it does not start with -----BEGIN) nor a DER CRL"
                    + " (its first byte is 0x" + String.format("%02x", data[0] & 0xff) + ", not an ASN.1 SEQUENCE, 0x30)");
        } else {
            ders.add(data);
        }
        List<Entry> out = new ArrayList<>(ders.size());
        CertificateFactory cf;
        try {
            cf = CertificateFactory.getInstance("X.509");
        } catch (CertificateException e) {
            throw new IllegalStateException(e);
        }
        for (int i = 0; i < ders.size(); i++) {
            String what = source + ": CRL " + (i + 1) + (ders.size() > 1 ? " of " + ders.size() : "");
            X509CRL crl;
            try {
                crl = (X509CRL) cf.generateCRL(new ByteArrayInputStream(ders.get(i)));
            } catch (CRLException | RuntimeException e) {
                throw new IllegalArgumentException(what + " does not parse as an X.509 CRL: " + e.getMessage(), e);
            }
            out.add(validate(crl, what));
        }
        return new Crls(out, others);
    }

    private static Entry validate(X509CRL crl, String what) {
        String issuer = " (issuer " + crl.getIssuerX500Principal().getName() + ")";
        if (crl.getVersion() != 2) {
            throw new IllegalArgumentException(what + issuer + " is version " + crl.getVersion() + "; only v2 CRLs are accepted (webpki UnsupportedCrlVersion)");
        }
        if (crl.getNextUpdate() == null) {
            throw new IllegalArgumentException(what + issuer + " has no nextUpdate (RFC 5280 section 5.1.2.5; webpki requires it)");
        }
        for (String oid : nonNull(crl.getCriticalExtensionOIDs())) {
            if (!KNOWN_CRL_EXTENSIONS.contains(oid)) {
                throw new IllegalArgumentException(what + issuer + " has an unsupported critical extension " + oid + " (webpki UnsupportedCriticalExtension)");
            }
        }
        if (crl.getExtensionValue(DELTA) != null) {
            throw new IllegalArgumentException(what + issuer + " is a delta CRL, which webpki does not support (UnsupportedDeltaCrl)");
        }
        BigInteger number;
        byte[] n = crl.getExtensionValue(CRL_NUMBER);
        if (n == null) {
            throw new IllegalArgumentException(what + issuer + " has no cRLNumber extension (RFC 5280 section 5.2.3; webpki MissingCrlNumber)");
        }
        try {
            number = ASN1Integer.getInstance(ASN1OctetString.getInstance(n).getOctets()).getValue();
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(what + issuer + " has a cRLNumber that does not parse (webpki InvalidCrlNumber)", e);
        }
        if (number.signum() < 0 || number.toByteArray().length > 21 || (number.toByteArray().length == 21 && number.toByteArray()[0] != 0)) {
            throw new IllegalArgumentException(what + issuer + " has a negative cRLNumber or one over 20 octets (webpki InvalidCrlNumber)");
        }
        byte[] idpBytes = null;
        IssuingDistributionPoint idp = null;
        byte[] rawIdp = crl.getExtensionValue(IDP);
        if (rawIdp != null) {
            idpBytes = ASN1OctetString.getInstance(rawIdp).getOctets();
            try {
                idp = IssuingDistributionPoint.getInstance(ASN1Primitive.fromByteArray(idpBytes));
            } catch (Exception e) {
                throw new IllegalArgumentException(what + issuer + " has an issuingDistributionPoint that does not parse", e);
            }
            if (idp.onlyContainsAttributeCerts()) {
                throw new IllegalArgumentException(what + issuer + " is for attribute certificates only (webpki MalformedExtensions)");
            }
            if (idp.isIndirectCRL()) {
                throw new IllegalArgumentException(what + issuer + " is an indirect CRL, which webpki does not support (UnsupportedIndirectCrl)");
            }
            if (idp.getOnlySomeReasons() != null) {
                throw new IllegalArgumentException(what + issuer + " is partitioned by revocation reasons, which webpki does not support");
            }
            DistributionPointName dp = idp.getDistributionPoint();
            if (dp == null || dp.getType() != DistributionPointName.FULL_NAME) {
                throw new IllegalArgumentException(what + issuer + " has an issuingDistributionPoint without a full name"
                        + " (webpki UnsupportedCrlIssuingDistributionPoint)");
            }
        }
        if (crl.getRevokedCertificates() != null) {
            for (var entry : crl.getRevokedCertificates()) {
                if (entry.getExtensionValue(CERT_ISSUER) != null) {
                    throw new IllegalArgumentException(what + issuer + " entry " + entry.getSerialNumber().toString(16)
                            + " names a certificateIssuer (indirect CRL, webpki UnsupportedIndirectCrl)");
                }
                for (String oid : nonNull(entry.getCriticalExtensionOIDs())) {
                    if (!KNOWN_ENTRY_EXTENSIONS.contains(oid)) {
                        throw new IllegalArgumentException(what + issuer + " entry " + entry.getSerialNumber().toString(16)
                                + " has an unsupported critical extension " + oid);
                    }
                }
            }
        }
        return new Entry(crl, number, idpBytes, idp);
    }

    private static Set<String> nonNull(Set<String> s) {
        return s == null ? Set.of() : s;
    }

    /**
     * Checks {@code path} (leaf first, then the certificates that sign it, not the trust anchor) against these CRLs.
     *
     * @param anchor the trust anchor the path was verified to (its key checks the CRL of the path's last certificate)
     * @throws CertificateException with a {@link CertPathValidatorException} of reason {@code REVOKED} as its cause when
     *     a certificate is listed (BoringSSL then sends {@code certificate_revoked}, as rustls does for
     *     {@code CertificateError::Revoked}), or naming the CRL that cannot be used for it (bad signature, issuer
     *     without cRLSign), which webpki also refuses the path for
     */
    public void check(List<X509Certificate> path, X509Certificate anchor) throws CertificateException {
        if (crls.isEmpty()) {
            return;
        }
        for (int i = 0; i < path.size(); i++) {
            X509Certificate cert = path.get(i);
            boolean endEntity = i == 0;
            X509Certificate issuer = i + 1 < path.size() ? path.get(i + 1) : anchor;
            boolean issuerIsAnchor = i + 1 >= path.size();
            Entry best = null;
            for (Entry e : crls) {
                if (!authoritative(e, cert, endEntity)) {
                    continue;
                }
                if (best == null) {
                    best = e;
                    continue;
                }
                if (!e.crl().getIssuerX500Principal().equals(best.crl().getIssuerX500Principal()) || !Arrays.equals(e.idp(), best.idp())) {
                    continue;
                }
                if (e.number().compareTo(best.number()) > 0) {
                    best = e;
                }
            }
            if (best == null) {
                continue; // UnknownStatusPolicy::Allow
            }
            String which = endEntity ? "leaf" : "intermediate " + cert.getSubjectX500Principal().getName();
            try {
                best.crl().verify(issuer.getPublicKey());
            } catch (GeneralSecurityException | RuntimeException e) {
                throw new CertificateException("the CRL of " + best.crl().getIssuerX500Principal().getName() + " (cRLNumber " + best.number()
                        + ") that applies to the " + which + " does not verify with its issuer's key: " + e.getMessage(), e);
            }
            if (!issuerIsAnchor) {
                boolean[] ku = issuer.getKeyUsage();
                if (ku != null && (ku.length <= 6 || !ku[6])) {
                    throw new CertificateException("the CRL of " + best.crl().getIssuerX500Principal().getName() + " that applies to the "
                            + which + " was signed by a CA whose keyUsage lacks cRLSign (webpki IssuerNotCrlSigner)");
                }
            }
            var revoked = best.crl().getRevokedCertificate(cert.getSerialNumber());
            if (revoked != null) {
                String msg = which + " serial " + cert.getSerialNumber().toString(16) + " is revoked by the CRL of "
                        + best.crl().getIssuerX500Principal().getName() + " (cRLNumber " + best.number() + ", revoked "
                        + revoked.getRevocationDate().toInstant()
                        + (revoked.getRevocationReason() != null ? ", " + revoked.getRevocationReason() : "") + ")";
                throw new CertificateException(msg, new CertPathValidatorException(msg, null, null, -1,
                        CertPathValidatorException.BasicReason.REVOKED));
            }
        }
    }

    /** webpki's {@code CertRevocationList::authoritative}: same issuer name, and an issuingDistributionPoint in scope. */
    private static boolean authoritative(Entry e, X509Certificate cert, boolean endEntity) {
        if (!e.crl().getIssuerX500Principal().equals(cert.getIssuerX500Principal())) {
            return false;
        }
        IssuingDistributionPoint idp = e.parsedIdp();
        if (idp == null) {
            return true;
        }
        if (idp.onlyContainsCACerts() && endEntity || idp.onlyContainsUserCerts() && !endEntity) {
            return false;
        }
        byte[] dpExt = cert.getExtensionValue("2.5.29.31"); // cRLDistributionPoints
        if (dpExt == null) {
            return true;
        }
        CRLDistPoint dps;
        try {
            dps = CRLDistPoint.getInstance(ASN1OctetString.getInstance(dpExt).getOctets());
        } catch (RuntimeException ex) {
            return false;
        }
        GeneralName[] idpNames = GeneralNames.getInstance(idp.getDistributionPoint().getName()).getNames();
        for (DistributionPoint dp : dps.getDistributionPoints()) {
            if (dp.getCRLIssuer() != null || dp.getReasons() != null || dp.getDistributionPoint() == null
                    || dp.getDistributionPoint().getType() != DistributionPointName.FULL_NAME) {
                continue;
            }
            for (GeneralName name : GeneralNames.getInstance(dp.getDistributionPoint().getName()).getNames()) {
                if (name.getTagNo() != GeneralName.uniformResourceIdentifier) {
                    continue;
                }
                for (GeneralName in : idpNames) {
                    if (in.getTagNo() == GeneralName.uniformResourceIdentifier && in.getName().equals(name.getName())) {
                        return true;
                    }
                }
            }
        }
        return false;
    }
}
