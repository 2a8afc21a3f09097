package io.zerohop.identity;

import io.spiffe.exception.X509SvidException;
import io.spiffe.svid.x509svid.X509Svid;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * A certificate chain (leaf first, root excluded) with its key, as issued, before any X.509-SVID
 * rule is applied: {@link InMemoryCa#issue(LeafSpec)} can deliberately break those rules.
 */
public record IssuedCertificate(List<X509Certificate> chain, PrivateKey privateKey) {
    public IssuedCertificate {
        chain = List.copyOf(chain);
        if (chain.isEmpty()) {
            throw new IllegalArgumentException("chain must hold at least the leaf");
        }
    }

    public X509Certificate leaf() {
        return chain.get(0);
    }

    public String chainPem() {
        return Pem.certificates(chain);
    }

    public String keyPem() {
        return Pem.privateKey(privateKey);
    }

    /** Parses into a java-spiffe SVID, which enforces the X.509-SVID rules. */
    public X509Svid toSvid() throws X509SvidException {
        return X509Svid.parse(chainPem().getBytes(StandardCharsets.US_ASCII), keyPem().getBytes(StandardCharsets.US_ASCII));
    }
}
