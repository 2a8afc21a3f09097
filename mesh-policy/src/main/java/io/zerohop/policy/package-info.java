/**
 * Istio {@code AuthorizationPolicy} / {@code PeerAuthentication} and Cilium network policy:
 * {@link PolicyLoader} reads YAML, {@link PolicyEngine} evaluates {@link AccessRequest}s into
 * {@link Decision}s with upstream semantics.
 */
package io.zerohop.policy;
