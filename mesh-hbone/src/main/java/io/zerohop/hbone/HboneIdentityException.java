package io.zerohop.hbone;

import java.io.IOException;

/**
 * An outbound HBONE connection was not dialled because the client has no certificate for its
 * source identity: the identity provider's SVID (or the TLS context built from it) failed; the
 * cause is the provider's error. ztunnel's equivalent is a failed {@code fetch_certificate} in its
 * pool ({@code proxy::Error::Identity}, istio/ztunnel src/proxy/pool.rs {@code new_pool_conn}),
 * counted with {@code response_flags="IDENTITY_ERROR"}; when the cause chain holds an
 * {@link io.zerohop.identity.SvidKeyMismatchException} (an SVID whose key is not its certificate's)
 * ztunnel's equivalent is rustls refusing the pair in {@code outbound_connector}
 * (src/tls/certificate.rs), {@code proxy::Error::Tls}, counted with {@code TLS_FAILURE}.
 */
public final class HboneIdentityException extends IOException {
    private static final long serialVersionUID = 1L;

    public HboneIdentityException(String message, Throwable cause) {
        super(message, cause);
    }
}
