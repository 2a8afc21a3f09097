package io.zerohop.core.internal.http;

/**
 * An open, allowed HTTP request (an HTTP/2 stream, or an HTTP/1 connection's request in progress or its upgraded
 * connection) that a policy change decides again ({@link HttpEnforcement#redecideRequests}): ended when the policies
 * now deny it. Beyond Envoy, which decides a request once, on its headers.
 */
interface LiveRequest {
    /** Decides the request again on its own event loop, and ends it when it is now denied. Any thread; never blocks. */
    void redecide();

    /**
     * The mesh began to drain: end the connection cleanly once nothing is in progress on it (an HTTP/1 connection
     * between requests at once, one with a request in progress after its response). Any thread; never blocks. By default
     * nothing: the drain's deadline ends what is still open.
     */
    default void drain() {
    }

    /** {@code decide} on {@code loop}, later; nothing when the loop has terminated (its connections went with it). */
    static void later(java.util.concurrent.Executor loop, Runnable decide) {
        try {
            loop.execute(decide);
        } catch (java.util.concurrent.RejectedExecutionException gone) {
            // nothing left to decide
        }
    }

    /** What a policy change decides of an open request: go on, or end with {@code decision} (null: the authorizer failed). */
    record Redecision(boolean ended, io.zerohop.policy.Decision decision) {}

    Redecision KEPT = new Redecision(false, null);

    /**
     * The request {@code method path} on {@code conn} decided again on what it was decided on ({@code decidedPath},
     * {@code authority}, {@code headers}, and {@code auth}, the JWT verified at its start, not verified again): {@link #KEPT} when allowed, and when the connection as a whole is now denied
     * (its own re-decision resets it, as ztunnel's {@code PolicyWatcher}); else ended, logged at WARN with both
     * identities and the deciding policy. An authorizer that throws ends it (never fail open). Event loop only.
     */
    static Redecision decideAgain(Registry r, Conn conn, String method, String path, String decidedPath, String authority,
                                  java.util.Map<String, String> headers, io.zerohop.policy.RequestAuth auth) {
        try {
            if (r.connectionDenied(conn)) {
                return KEPT;
            }
        } catch (RuntimeException e) {
            // Decided below: a failure there ends the request.
        }
        io.zerohop.policy.Decision d;
        try {
            d = r.authorize(conn, method, decidedPath, authority, headers, auth);
        } catch (RuntimeException e) {
            LOG.warn("authorization failed for {} {} {} after a policy update, ending it (never fail open)", conn.peer(), method, path, e);
            d = null;
        }
        if (d != null && d.allowed()) {
            return KEPT;
        }
        LOG.warn("request {} {} from {} to {} ({}) ended because it is no longer allowed after a policy update: {}", method, path,
                conn.peer() == null ? "plaintext " + io.zerohop.core.Addresses.authority(conn.source()) : conn.peer(),
                io.zerohop.core.Addresses.authority(conn.destination()), conn.localId(), d == null ? "authorization failed" : d.explain());
        return new Redecision(true, d);
    }

    org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(LiveRequest.class);

    /** Where the filters register their open requests; the authorizers the filters are given implement it. */
    interface Registry {
        /** One request's decision on its parts: method, target, authority, headers (names lower case, repeated values joined with ","). */
        io.zerohop.policy.Decision authorize(Conn conn, String method, String path, String authority, java.util.Map<String, String> headers);

        /** The same with the request's verified JWT ({@code auth}, null for none). By default without it. */
        default io.zerohop.policy.Decision authorize(Conn conn, String method, String path, String authority,
                                                    java.util.Map<String, String> headers, io.zerohop.policy.RequestAuth auth) {
            return authorize(conn, method, path, authority, headers);
        }

        /**
         * The RequestAuthentication step of a request ({@link JwtAuthn}) on the destination's JWT rules, before its
         * decision: {@code request} is changed as Envoy's {@code jwt_authn} filter changes it. By default none applies.
         */
        default JwtAuthn.Outcome authenticate(Conn conn, JwtAuthn.Message request, String scheme, String authority) {
            return JwtAuthn.Outcome.NONE;
        }

        /**
         * The same, run again after the {@link JwtAuthn.Hold} a first run gave ({@code after}; null for a first run). By
         * default as a first run.
         */
        default JwtAuthn.Outcome authenticate(Conn conn, JwtAuthn.Message request, String scheme, String authority,
                                              JwtAuthn.Hold after) {
            return authenticate(conn, request, scheme, authority);
        }

        /**
         * Whether the policies in force deny {@code conn} whatever its requests ({@code PolicyEngine.denialBeforeHttp}):
         * then the connection's own re-authorization resets it, as ztunnel's {@code PolicyWatcher} does, and its
         * requests are left to that.
         */
        default boolean connectionDenied(Conn conn) {
            return false;
        }

        /**
         * Whether the mesh is draining ({@code HttpEnforcement.drainConnections} was called): a connection parsed from now
         * on (its first bytes came during the drain) is drained from its start, as those told then were.
         */
        default boolean draining() {
            return false;
        }

        /** {@code r} is open until {@link #untrack}: a policy change decides it again. */
        default void track(LiveRequest r) {
        }

        default void untrack(LiveRequest r) {
        }
    }
}
