package io.zerohop.hbone;

import java.io.IOException;

/**
 * An outbound HBONE connection was not dialled because the client has no certificate for its
 * source identity: the identity provider's SVID (or the TLS context built from it) failed; the
 * cause is the provider's error. ztunnel's equivalent is a failed {@code fetch_certificate} in its
 * pool ({@code proxy::Error::Identity}, istio/ztunnel src/proxy/pool.rs {@code new_pool_conn}),
 * counted with {@code response_flags="IDENTITY_ERROR"}.
 */
public final class HboneIdentityException extends IOException {
    private static final long serialVersionUID = 1L;

    public HboneIdentityException(String message, Throwable cause) {
        super(message, cause);
    }
}
