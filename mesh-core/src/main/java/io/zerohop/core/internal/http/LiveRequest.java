package io.zerohop.core.internal.http;

/**
 * An open, allowed HTTP request (an HTTP/2 stream, or an HTTP/1 connection's request in progress or its upgraded
 * connection) that a policy change decides again ({@link HttpEnforcement#redecideRequests}): ended when the policies
 * now deny it. Beyond Envoy, which decides a request once, on its headers.
 */
interface LiveRequest {
    /** Decides the request again on its own event loop, and ends it when it is now denied. Any thread; never blocks. */
    void redecide();

    /** Where the filters register their open requests; the authorizers the filters are given implement it. */
    interface Registry {
        /**
         * Whether the policies in force deny {@code conn} whatever its requests ({@code PolicyEngine.denialBeforeHttp}):
         * then the connection's own re-authorization resets it, as ztunnel's {@code PolicyWatcher} does, and its
         * requests are left to that.
         */
        default boolean connectionDenied(Conn conn) {
            return false;
        }

        /** {@code r} is open until {@link #untrack}: a policy change decides it again. */
        default void track(LiveRequest r) {
        }

        default void untrack(LiveRequest r) {
        }
    }
}
