package io.zerohop.hbone;

import java.util.Objects;

/**
 * Outcome of an {@link Authorizer}. A deny carries the HTTP status the client gets; ztunnel answers an
 * authorization-policy deny with {@code 401 Unauthorized}, which {@link #deny(String)} uses.
 *
 * @param rejection for a deny by a policy engine, which kind of policy rejection it is
 *                  ({@link PolicyRejection}, reported to {@link HboneEvents#tunnelDenied}); null for
 *                  an allow and for any other deny
 */
public record AuthzDecision(boolean allowed, int status, String reason, PolicyRejection rejection) {
    private static final AuthzDecision ALLOW = new AuthzDecision(true, 200, "allowed");

    public AuthzDecision {
        Objects.requireNonNull(reason, "reason");
        if (allowed && status != 200) {
            throw new IllegalArgumentException("an allow decision has status 200, got " + status);
        }
        if (!allowed && (status < 400 || status > 599)) {
            throw new IllegalArgumentException("a deny status must be 4xx or 5xx, got " + status);
        }
        if (allowed && rejection != null) {
            throw new IllegalArgumentException("an allow decision has no policy rejection");
        }
    }

    /** A decision without a {@link PolicyRejection}. */
    public AuthzDecision(boolean allowed, int status, String reason) {
        this(allowed, status, reason, null);
    }

    /**
     * The two ways an authorization policy rejects a connection, as ztunnel tells them apart
     * (istio/ztunnel src/proxy.rs {@code AuthorizationRejectionError}, decided in src/state.rs
     * {@code assert_rbac}): a DENY policy matched ({@code ExplicitlyDenied}: {@code namespace} and
     * {@code name} of that policy, non-null, the namespace empty for a cluster-wide one), or allow
     * policies select the destination and none matched ({@code NotAllowed}: both null).
     */
    public record PolicyRejection(String namespace, String name) {
        public static final PolicyRejection NOT_ALLOWED = new PolicyRejection(null, null);

        public PolicyRejection {
            if ((namespace == null) != (name == null)) {
                throw new IllegalArgumentException("a policy's namespace and name are both set or both null");
            }
        }

        public static PolicyRejection explicitlyDenied(String namespace, String name) {
            return new PolicyRejection(Objects.requireNonNull(namespace, "namespace"), Objects.requireNonNull(name, "name"));
        }

        /** Whether a deny rule of the named policy matched (else: no allow rule did). */
        public boolean explicit() {
            return name != null;
        }
    }

    public static AuthzDecision allow() {
        return ALLOW;
    }

    /** Deny with 401, as ztunnel does for an RBAC deny. */
    public static AuthzDecision deny(String reason) {
        return new AuthzDecision(false, 401, reason);
    }

    /** Deny with 401 for a policy {@code rejection} (non-null); {@code reason} is the authorizer's own explanation. */
    public static AuthzDecision deny(String reason, PolicyRejection rejection) {
        return new AuthzDecision(false, 401, reason, Objects.requireNonNull(rejection, "rejection"));
    }

    public static AuthzDecision deny(int status, String reason) {
        return new AuthzDecision(false, status, reason);
    }
}
