package io.zerohop.policy;

/**
 * Extension point for Istio {@code action: CUSTOM}. Istio delegates such requests to an
 * external authorizer named by {@code provider.name}; without one configured, zerohop
 * denies whatever a CUSTOM policy matches so that no rule is silently ignored.
 *
 * <p>It is not asked when the CUSTOM policies selecting a destination name more than one provider: whatever
 * one of their rules matches is then denied, as istiod builds them for Envoy without
 * {@code PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS} (its default; istio/istio
 * pilot/pkg/security/authz/builder/builder.go {@code getBadCustomDenyRules}).
 */
@FunctionalInterface
public interface CustomAuthorizer {

    /**
     * Returns true to let evaluation continue with DENY and ALLOW policies, false to deny.
     * {@code request.http()} is null for a connection decided without HTTP attributes: at L4, and by
     * {@code PolicyEngine.evaluateUnparsed}, which asks for every CUSTOM policy that may match an
     * unparsed connection (as a gRPC provider's network {@code ext_authz} filter is asked on a sidecar's
     * TCP filter chain).
     */
    boolean check(String provider, AccessRequest request);
}
