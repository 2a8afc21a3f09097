package io.zerohop.hbone;

/**
 * Per-stream authorization, asked after the destination is known to be served and before any byte
 * reaches it. Called on an event loop: must be fast and must not block (policy evaluation is CPU-only).
 * An exception thrown here denies the stream (fail closed) with 401.
 *
 * <p>The server calls {@link #authorize(AuthzRequest, Destination)}, which by default ignores the
 * destination and calls {@link #authorize(AuthzRequest)}; an authorizer whose decision depends on how
 * the stream is delivered (e.g. mesh-core's, which leaves an L7-enforced stream to its requests)
 * overrides it.
 */
@FunctionalInterface
public interface Authorizer {

    /**
     * @param request the CONNECT, never null
     * @return the decision; null denies with 401
     */
    AuthzDecision authorize(AuthzRequest request);

    /**
     * The decision for a CONNECT whose delivery the {@link DestinationResolver} has already chosen;
     * the one the server calls. By default {@code authorize(request)}.
     *
     * @param request     the CONNECT, never null
     * @param destination what the resolve phase returned for it: a {@link Destination.Proxy} or
     *                    {@link Destination.Embedded}, never null and never {@link Destination.Refused}
     * @return the decision; null denies with 401
     */
    default AuthzDecision authorize(AuthzRequest request, Destination destination) {
        return authorize(request);
    }

    /** Allows everything (tests, demos; mesh-core plugs the policy engine in instead). */
    static Authorizer allowAll() {
        return r -> AuthzDecision.allow();
    }
}
