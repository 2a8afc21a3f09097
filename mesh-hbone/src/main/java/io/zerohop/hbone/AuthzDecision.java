package io.zerohop.hbone;

import java.util.Objects;

/**
 * Outcome of an {@link Authorizer}. A deny carries the HTTP status the client gets; ztunnel answers an
 * authorization-policy deny with {@code 401 Unauthorized}, which {@link #deny(String)} uses.
 */
public record AuthzDecision(boolean allowed, int status, String reason) {
    private static final AuthzDecision ALLOW = new AuthzDecision(true, 200, "allowed");

    public AuthzDecision {
        Objects.requireNonNull(reason, "reason");
        if (allowed && status != 200) {
            throw new IllegalArgumentException("an allow decision has status 200, got " + status);
        }
        if (!allowed && (status < 400 || status > 599)) {
            throw new IllegalArgumentException("a deny status must be 4xx or 5xx, got " + status);
        }
    }

    public static AuthzDecision allow() {
        return ALLOW;
    }

    /** Deny with 401, as ztunnel does for an RBAC deny. */
    public static AuthzDecision deny(String reason) {
        return new AuthzDecision(false, 401, reason);
    }

    public static AuthzDecision deny(int status, String reason) {
        return new AuthzDecision(false, status, reason);
    }
}
