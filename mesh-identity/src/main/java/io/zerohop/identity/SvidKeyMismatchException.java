package io.zerohop.identity;

import java.security.GeneralSecurityException;

/**
 * An SVID's private key cannot sign for its certificate: it is not the key of the leaf's public key, or of an
 * algorithm zerohop's TLS does not sign with (EC, RSA and Ed25519 are). Thrown where SVIDs are built from raw material
 * and checked: the Istio CA's answer whose leaf is not for the request's key (mesh-identity-istio), PEM files, the SPIRE
 * Workload API's SVIDs. {@link MeshTls} does not check the SVIDs a provider hands it (java-spiffe does not either: a
 * signature and its verification per SVID); a custom provider's mismatched pair fails in the TLS handshake, at the peer.
 *
 * <p>ztunnel's equivalent is rustls refusing the pair where ztunnel builds its TLS configuration for a connection
 * (rustls {@code CertifiedKey::from_der}: {@code InconsistentKeys::KeyMismatch}, or the key provider's
 * {@code load_private_key} failing), an error its outbound path reports as {@code proxy::Error::Tls} (istio/ztunnel
 * src/tls/certificate.rs {@code outbound_connector}, src/proxy/pool.rs {@code new_pool_conn}) and counts with
 * {@code response_flags="TLS_FAILURE"} (src/proxy/metrics.rs {@code extract_failure_reason}); mesh-core counts an
 * outbound open that failed for it so, where a missing SVID is {@code IDENTITY_ERROR}. On a re-issue (rotation) the
 * previous SVID keeps serving until its {@code notAfter} ({@link CertificateManager}), so opens succeed where ztunnel's
 * would fail: the flag is counted only while no valid SVID is held.
 *
 * <p>The Istio CA's provider fails an SVID request with it. A PEM file pair that does not match is refused at
 * load (the provider does not start) or, on a reload, left unread while the last good pair serves. The SPIRE provider
 * likewise keeps the last good SVID of that ID, or serves none; once nothing valid is left, its request fails with an
 * {@link IllegalStateException} naming the mismatch, this exception its cause, counted {@code TLS_FAILURE} (until
 * 6 December without it, counted {@code IDENTITY_ERROR}).
 */
public final class SvidKeyMismatchException extends GeneralSecurityException {
    private static final long serialVersionUID = 1L;

    public SvidKeyMismatchException(String message) {
        super(message);
    }
}
