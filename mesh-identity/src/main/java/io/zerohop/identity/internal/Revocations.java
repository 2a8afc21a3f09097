package io.zerohop.identity.internal;

import java.security.cert.CertPathValidatorException;
import java.security.cert.X509Certificate;

/** What a CRL refusal looks like, shared by the handshake verifier and the re-check of live connections. */
public final class Revocations {
    private Revocations() {}

    /** Whether {@code e} (or a cause) says a certificate of the path is revoked. */
    public static boolean isRevoked(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof CertPathValidatorException p && p.getReason() == CertPathValidatorException.BasicReason.REVOKED) {
                return true;
            }
        }
        return false;
    }

    /** The SPIFFE ID the leaf of {@code chain} names, for a log line; what it is when it names none. */
    public static String claimedId(X509Certificate[] chain) {
        if (chain == null || chain.length == 0) {
            return "<no certificate>";
        }
        try {
            return X509.spiffeId(chain[0]).toString();
        } catch (Exception e) {
            return "<leaf without a SPIFFE ID: " + chain[0].getSubjectX500Principal().getName() + ">";
        }
    }
}
