package io.zerohop.hbone;

/**
 * Per-stream authorization, asked after the destination is known to be served and before any byte
 * reaches it. Called on an event loop: must be fast and must not block (policy evaluation is CPU-only).
 * An exception thrown here denies the stream (fail closed) with 401.
 */
@FunctionalInterface
public interface Authorizer {

    AuthzDecision authorize(AuthzRequest request);

    /** Allows everything (tests, demos; mesh-core plugs the policy engine in instead). */
    static Authorizer allowAll() {
        return r -> AuthzDecision.allow();
    }
}
