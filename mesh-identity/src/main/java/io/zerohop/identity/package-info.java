/**
 * SPIFFE identities: SPIFFE IDs, X.509-SVID providers ({@link IdentityProvider}: {@link InMemoryCa},
 * {@link PemFileIdentityProvider}, {@link CertificateManager}), CSRs, PEM and the TLS 1.3 contexts
 * of {@link MeshTls}. The SPIRE and Istio CA providers live in the modules
 * {@code io.zerohop.identity.spire} and {@code io.zerohop.identity.istio}.
 */
package io.zerohop.identity;
