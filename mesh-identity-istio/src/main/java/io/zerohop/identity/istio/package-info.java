/**
 * The Istio CA client: {@link IstioCaClient} asks {@code istio.v1.auth.IstioCertificateService}
 * for SVIDs as ztunnel does; pair it with {@link io.zerohop.identity.CertificateManager} for node mode.
 */
package io.zerohop.identity.istio;
