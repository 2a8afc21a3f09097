package io.zerohop.identity.internal;

import io.spiffe.exception.X509SvidException;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.Pem;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/** Building and comparing SVIDs from raw material, with the checks java-spiffe leaves out. */
public final class Svids {
    private static final SecureRandom RANDOM = new SecureRandom();

    private Svids() {}

    /**
     * An SVID from a chain (leaf first) and its key. java-spiffe checks the X.509-SVID rules but
     * not that the key belongs to the leaf; a mismatched pair would only fail later, in a TLS
     * handshake, so it is checked here.
     */
    public static X509Svid of(List<X509Certificate> chain, PrivateKey key) throws GeneralSecurityException {
        if (chain.isEmpty()) {
            throw new GeneralSecurityException("no certificate");
        }
        requireKeyMatches(key, chain.get(0));
        try {
            // java-spiffe's own parse throws its unchecked InvalidSpiffeIdException for such a SAN, and folds an upper-case
            // trust domain a peer's check refuses: the one check for both sides, with its message naming the SAN.
            X509.spiffeId(chain.get(0));
        } catch (java.security.cert.CertificateParsingException e) {
            throw new GeneralSecurityException("not an X.509-SVID: " + e.getMessage(), e);
        }
        try {
            return X509Svid.parse(Pem.certificates(chain).getBytes(StandardCharsets.US_ASCII),
                    Pem.privateKey(key).getBytes(StandardCharsets.US_ASCII));
        } catch (X509SvidException e) {
            throw new GeneralSecurityException("not an X.509-SVID: " + e.getMessage(), e);
        }
    }

    /**
     * Signs a random challenge with {@code key} and verifies it with the certificate's public key.
     *
     * @throws io.zerohop.identity.SvidKeyMismatchException when the key is of another algorithm than the certificate's
     *                                                      public key, of one not supported, or does not verify
     */
    public static void requireKeyMatches(PrivateKey key, X509Certificate leaf) throws GeneralSecurityException {
        String alg = switch (key.getAlgorithm()) {
            case "EC" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            case "Ed25519", "EdDSA" -> "Ed25519";
            default -> throw new io.zerohop.identity.SvidKeyMismatchException("unsupported private key algorithm " + key.getAlgorithm());
        };
        if (!leaf.getPublicKey().getAlgorithm().equals(key.getAlgorithm())) {
            throw new io.zerohop.identity.SvidKeyMismatchException("private key (" + key.getAlgorithm() + ") does not match the certificate's public key ("
                    + leaf.getPublicKey().getAlgorithm() + ")");
        }
        byte[] challenge = new byte[32];
        RANDOM.nextBytes(challenge);
        Signature s = Signature.getInstance(alg);
        s.initSign(key);
        s.update(challenge);
        byte[] sig = s.sign();
        Signature v = Signature.getInstance(alg);
        v.initVerify(leaf.getPublicKey());
        v.update(challenge);
        if (!v.verify(sig)) {
            throw new io.zerohop.identity.SvidKeyMismatchException("private key does not match the certificate's public key");
        }
    }

    /**
     * A private key in any of the PEM encodings cert-manager and Vault write: PKCS#8
     * ({@code PRIVATE KEY}), SEC1 ({@code EC PRIVATE KEY}) or PKCS#1 ({@code RSA PRIVATE KEY}).
     */
    public static PrivateKey parsePrivateKey(String pem) throws GeneralSecurityException {
        if (firstKeyBlockIsPkcs8(pem)) {
            // The JDK reads PKCS#8 alone; BouncyCastle's PEM parser would load ~110 classes into every
            // PEM-file proxy (benchmarks/results/diet-59b6ebc.md). It still reads what the JDK does not.
            try {
                return Pem.parsePrivateKey(pem);
            } catch (GeneralSecurityException | IllegalArgumentException e) {
                // an algorithm Pem does not try, or a damaged block: BouncyCastle reads it or says why
            }
        }
        return BouncyCastlePem.parsePrivateKey(pem);
    }

    /**
     * BouncyCastle's PEM reading, in a class of its own: the verifier checks a method's types when
     * its class is linked, so this code inside {@link Svids} loaded BouncyCastle classes even when
     * the JDK read the key.
     */
    private static final class BouncyCastlePem {
        static PrivateKey parsePrivateKey(String pem) throws GeneralSecurityException {
            try (PEMParser parser = new PEMParser(new StringReader(pem))) {
                JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
                for (Object o; (o = parser.readObject()) != null; ) {
                    if (o instanceof PrivateKeyInfo info) {
                        return converter.getPrivateKey(info);
                    }
                    if (o instanceof PEMKeyPair pair) {
                        // SEC1 keys often omit the public key, which getKeyPair would need
                        return converter.getPrivateKey(pair.getPrivateKeyInfo());
                    }
                    if (o instanceof org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo
                            || o instanceof org.bouncycastle.openssl.PEMEncryptedKeyPair) {
                        // Was "no PRIVATE KEY ... block found" beside the ENCRYPTED one (a new-user pass): no password is
                        // taken, as none is by ztunnel, cert-manager's or Vault's files.
                        throw new GeneralSecurityException("the private key is encrypted (ENCRYPTED PRIVATE KEY, or Proc-Type: 4,ENCRYPTED):"
                                + " give it unencrypted (openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pem), as cert-manager and Vault"
                                + " agent write it");
                    }
                }
            } catch (IOException | RuntimeException e) {
                throw new GeneralSecurityException("unreadable private key PEM: " + e.getMessage(), e);
            }
            throw new GeneralSecurityException("no PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block found");
        }
    }

    /**
     * Whether the first private-key block BouncyCastle's parser would return is a PKCS#8
     * {@code PRIVATE KEY} one (not SEC1, PKCS#1 or DSA), so that reading it with the JDK gives the same key.
     */
    private static boolean firstKeyBlockIsPkcs8(String pem) {
        int pkcs8 = pem.indexOf("-----BEGIN PRIVATE KEY-----");
        if (pkcs8 < 0) {
            return false;
        }
        for (String other : new String[] {"EC", "RSA", "DSA"}) {
            int at = pem.indexOf("-----BEGIN " + other + " PRIVATE KEY-----");
            if (at >= 0 && at < pkcs8) {
                return false;
            }
        }
        return true;
    }

    /** Same certificates in the same order (keys follow certificates once checked by {@link #of}). */
    public static boolean sameChain(X509Svid a, X509Svid b) {
        return a == b || (a != null && b != null && a.getChain().equals(b.getChain()));
    }

    /** The instant {@code fraction} of the way through the leaf's validity window. */
    public static Instant lifetimePoint(X509Svid svid, double fraction) {
        long from = svid.getLeaf().getNotBefore().getTime();
        long to = svid.getLeaf().getNotAfter().getTime();
        return Instant.ofEpochMilli(from + (long) ((to - from) * fraction));
    }

    public static Instant notAfter(X509Svid svid) {
        return svid.getLeaf().getNotAfter().toInstant();
    }
}
