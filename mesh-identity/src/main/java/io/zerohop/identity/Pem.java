package io.zerohop.identity;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/** PEM in and out: certificates and PKCS#8 keys, the formats cert-manager, Vault and SPIRE write. */
public final class Pem {
    private Pem() {}

    public static String encode(String type, byte[] der) {
        String b64 = Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der);
        return "-----BEGIN " + type + "-----\n" + b64 + "\n-----END " + type + "-----\n";
    }

    public static String certificates(List<X509Certificate> certs) {
        StringBuilder sb = new StringBuilder();
        for (X509Certificate c : certs) {
            try {
                sb.append(encode("CERTIFICATE", c.getEncoded()));
            } catch (CertificateException e) {
                throw new IllegalStateException(e);
            }
        }
        return sb.toString();
    }

    /** CRLs as PEM {@code X509 CRL} blocks, one after the other: the file ztunnel's {@code CRL_PATH} and {@link CrlFile} read. */
    public static String crls(List<java.security.cert.X509CRL> crls) {
        StringBuilder sb = new StringBuilder();
        for (java.security.cert.X509CRL c : crls) {
            try {
                sb.append(encode("X509 CRL", c.getEncoded()));
            } catch (java.security.cert.CRLException e) {
                throw new IllegalStateException(e);
            }
        }
        return sb.toString();
    }

    public static String privateKey(PrivateKey key) {
        return encode("PRIVATE KEY", key.getEncoded());
    }

    /** Every CERTIFICATE block, in order; anything else in the text is ignored. */
    public static List<X509Certificate> parseCertificates(String pem) throws CertificateException {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        List<X509Certificate> out = new ArrayList<>();
        for (byte[] der : blocks(pem, "CERTIFICATE")) {
            out.add((X509Certificate) cf.generateCertificate(new ByteArrayInputStream(der)));
        }
        return out;
    }

    /** The first PKCS#8 PRIVATE KEY block (EC or RSA). */
    public static PrivateKey parsePrivateKey(String pem) throws GeneralSecurityException {
        List<byte[]> keys = blocks(pem, "PRIVATE KEY");
        if (keys.isEmpty()) {
            throw new GeneralSecurityException("no \"-----BEGIN PRIVATE KEY-----\" (PKCS#8) block found");
        }
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(keys.get(0));
        for (String alg : new String[] {"EC", "RSA", "Ed25519"}) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(spec);
            } catch (GeneralSecurityException ignored) {
                // try the next algorithm: PKCS#8 names it, but parsing the OID ourselves is not worth it
            }
        }
        throw new GeneralSecurityException("PKCS#8 key is neither EC, RSA nor Ed25519");
    }

    static List<byte[]> blocks(String pem, String type) {
        String begin = "-----BEGIN " + type + "-----";
        String end = "-----END " + type + "-----";
        List<byte[]> out = new ArrayList<>();
        int from = 0;
        while (true) {
            int b = pem.indexOf(begin, from);
            if (b < 0) {
                return out;
            }
            int e = pem.indexOf(end, b);
            if (e < 0) {
                throw new IllegalArgumentException("unterminated PEM block " + begin);
            }
            out.add(Base64.getMimeDecoder().decode(pem.substring(b + begin.length(), e)));
            from = e + end.length();
        }
    }

    public static String read(Path file) throws IOException {
        return Files.readString(file, StandardCharsets.US_ASCII);
    }

    /**
     * Write-then-rename, so a watcher never sees half a file. Where POSIX, a key ({@code secret}) is created 0600 and a
     * certificate or bundle as any new file is (0666 less the umask: 0644 under the usual 022), as {@code openssl} writes
     * them: {@code createTempFile}'s 0600 was kept for both, so a process of another user (a proxy run as non-root) could
     * not read a CA's bundle (a new-user pass), and a forced 0644 would have ignored a stricter umask (the final pass).
     */
    public static void write(Path file, String content, boolean secret) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        long unique = java.util.concurrent.ThreadLocalRandom.current().nextLong();
        Path tmp = dir.resolve("." + file.getFileName() + "." + Long.toUnsignedString(unique, 36) + ".tmp");
        if (secret) {
            try {
                Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (UnsupportedOperationException notPosix) {
                Files.createFile(tmp); // not a POSIX file system: nothing finer to set
            }
        } else {
            Files.createFile(tmp);
        }
        try {
            Files.writeString(tmp, content, StandardCharsets.US_ASCII);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
