package io.zerohop.identity.internal;

import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.Locale;
import java.util.Objects;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * The key manager of one X.509-SVID: one alias, {@value #ALIAS}, holding the SVID's private key and
 * chain (leaf first).
 *
 * <p>Why not the JDK's: {@code KeyManagerFactory} ("SunX509") reads its keys from a {@code KeyStore},
 * and a PKCS#12 store encrypts the key on the way in and decrypts it on the way out (PBKDF2, 10,000
 * iterations each way on JDK 17): ~4.8 ms of CPU per SVID warm and ~60 JDK classes (PKCS#12, the
 * JCE policy, PBKDF2, SunX509) loaded at a node proxy's first tunnel, for a
 * key that never leaves the process (benchmarks/results/keymanager-*.md).
 *
 * <p>Which key types it answers for is SunX509's rule ({@code sun.security.ssl.SunX509KeyManagerImpl
 * .getAliases}), so that the TLS stack (Netty's BoringSSL key-material manager and the JDK's
 * {@code X509Authentication} ask per key type) picks the same signature scheme as before: {@code
 * keyType} equal to the leaf's public-key algorithm ({@code "EC"}, {@code "RSA"}, ...); the form
 * {@code "EC_EC"} / {@code "EC_RSA"} additionally requires the issuer's key algorithm (the second
 * certificate of the chain) or, for a chain of one, the leaf's signature algorithm name ({@code
 * ...WITH<sig>}) to match. {@code null} key types get no alias.
 *
 * <p>Where it differs from SunX509, on purpose: the peer's certificate-authority hints ({@code
 * issuers}, from a CertificateRequest's {@code certificate_authorities}) are ignored and the SVID is
 * always offered, as ztunnel's rustls configuration does ({@code with_client_auth_cert} /
 * {@code with_single_cert} resolve to the one certificate whatever the hints). SunX509 offered no
 * certificate when no issuer in the chain was hinted, so the handshake failed at the peer with
 * "certificate required" instead of the peer's own chain verdict; the peer verifies the chain either
 * way, so nothing is accepted that was refused.
 *
 * <p>Immutable and thread-safe; {@link #getCertificateChain} returns a copy.
 */
public final class SvidKeyManager extends X509ExtendedKeyManager {
    /** The one alias. */
    public static final String ALIAS = "svid";

    private final PrivateKey key;
    private final X509Certificate[] chain;
    private final String keyAlgorithm;
    private final String issuerKeyAlgorithm;
    private final String signatureAlgorithm;
    private final String[] aliases = {ALIAS};

    /**
     * @param key the leaf's private key, non-null
     * @param chain the leaf first, then its issuers; non-empty, no null element
     * @throws NullPointerException if {@code key}, {@code chain} or an element is null
     * @throws IllegalArgumentException if {@code chain} is empty
     */
    public SvidKeyManager(PrivateKey key, X509Certificate[] chain) {
        this.key = Objects.requireNonNull(key, "key");
        this.chain = Objects.requireNonNull(chain, "chain").clone();
        if (this.chain.length == 0) {
            throw new IllegalArgumentException("an SVID chain holds at least its leaf");
        }
        for (X509Certificate c : this.chain) {
            Objects.requireNonNull(c, "chain element");
        }
        this.keyAlgorithm = this.chain[0].getPublicKey().getAlgorithm();
        this.issuerKeyAlgorithm = this.chain.length > 1 ? this.chain[1].getPublicKey().getAlgorithm() : null;
        this.signatureAlgorithm = this.chain[0].getSigAlgName().toUpperCase(Locale.ENGLISH);
    }

    /** Whether the SVID serves {@code keyType}, by SunX509's rule (class comment). */
    boolean serves(String keyType) {
        if (keyType == null) {
            return false;
        }
        int sep = keyType.indexOf('_');
        if (sep < 0) {
            return keyType.equals(keyAlgorithm);
        }
        if (!keyType.substring(0, sep).equals(keyAlgorithm)) {
            return false;
        }
        String sigType = keyType.substring(sep + 1);
        return issuerKeyAlgorithm != null
                ? sigType.equals(issuerKeyAlgorithm)
                : signatureAlgorithm.contains("WITH" + sigType.toUpperCase(Locale.ENGLISH));
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        return serves(keyType) ? aliases.clone() : null;
    }

    @Override
    public String chooseClientAlias(String[] keyTypes, Principal[] issuers, Socket socket) {
        if (keyTypes != null) {
            for (String t : keyTypes) {
                if (serves(t)) {
                    return ALIAS;
                }
            }
        }
        return null;
    }

    @Override
    public String chooseEngineClientAlias(String[] keyTypes, Principal[] issuers, SSLEngine engine) {
        return chooseClientAlias(keyTypes, issuers, null);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        return getClientAliases(keyType, issuers);
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return serves(keyType) ? ALIAS : null;
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        return chooseServerAlias(keyType, issuers, null);
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
        return ALIAS.equals(alias) ? chain.clone() : null;
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
        return ALIAS.equals(alias) ? key : null;
    }
}
