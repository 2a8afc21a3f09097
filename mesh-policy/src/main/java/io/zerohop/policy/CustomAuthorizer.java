package io.zerohop.policy;

/**
 * Extension point for Istio {@code action: CUSTOM}. Istio delegates such requests to an
 * external authorizer named by {@code provider.name}; without one configured, zerohop
 * denies whatever a CUSTOM policy matches so that no rule is silently ignored.
 */
@FunctionalInterface
public interface CustomAuthorizer {

    /** Returns true to let evaluation continue with DENY and ALLOW policies, false to deny. */
    boolean check(String provider, AccessRequest request);
}
