package io.zerohop.core.internal.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.zerohop.policy.Decision;
import io.zerohop.policy.HttpAttributes;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether one HTTP/1 request may go upstream, decided on its head before any of its bytes leave:
 * Envoy's RBAC filter (allowed, or answered {@code 403 RBAC: access denied} locally; an authorizer
 * that fails denies) and, for an allowed request, its request target normalised as Envoy's
 * {@code normalize_path} forwards it ({@link HttpAttributes#normalizedTarget}; for a destination only Cilium's
 * HTTP rules decide, as Cilium's Envoy forwards it, {@link HttpAttributes#ciliumTarget}, and a path with an
 * escaped slash answered 307 as its {@code UNESCAPE_AND_REDIRECT} does) and the connection manager's
 * {@code forward_client_cert_details: SANITIZE_SET} (whatever {@code x-forwarded-client-cert} the
 * client sent is replaced by this connection's, {@link Conn#xfcc}), with the {@code x-forwarded-proto} and
 * {@code x-request-id} it sets in the same step ({@link ForwardedRequestHeaders}). Between the two, the destination's
 * RequestAuthentication step ({@link JwtAuthn}, Envoy's {@code jwt_authn} before RBAC): a token that fails is answered
 * 401 (403 for its audience) and no policy decides the request; a verified one's payload is what the policy reads.
 * Logs under {@link Http1Filter}'s name, as before this was split out of it.
 */
final class RequestAdmission {
    private static final Logger log = LoggerFactory.getLogger(Http1Filter.class);

    /** Decides one request; never null. */
    interface Authorizer extends LiveRequest.Registry {
        /**
         * @param scheme the request's {@code :scheme} as Envoy's header map holds it ({@code HeaderValidation.http1Scheme}
         *               of the target as sent, before an absolute form is made origin-form)
         */
        Decision authorize(Conn conn, HttpRequest request, String scheme);

        /** The same with the request's verified JWT ({@code auth}, null for none). By default without it. */
        default Decision authorize(Conn conn, HttpRequest request, String scheme, io.zerohop.policy.RequestAuth auth) {
            return authorize(conn, request, scheme);
        }

        /**
         * The same on a request's parts: method, target, Host, headers (names lower case, repeated values joined with
         * ","), for a re-decision on what a request was decided on. By default a request head rebuilt from them.
         */
        default Decision authorize(Conn conn, String method, String path, String host, java.util.Map<String, String> headers) {
            HttpRequest req = new io.netty.handler.codec.http.DefaultHttpRequest(io.netty.handler.codec.http.HttpVersion.HTTP_1_1,
                    io.netty.handler.codec.http.HttpMethod.valueOf(method), path);
            headers.forEach((name, value) -> {
                if (!name.startsWith(":")) {
                    req.headers().set(name, value);
                }
            });
            return authorize(conn, req, headers.getOrDefault(":scheme", "http"));
        }

        /**
         * Whether the destination's requests are decided by Cilium's HTTP rules alone, so paths are
         * forwarded (and escaped slashes redirected) as Cilium's Envoy does, not as Istio's.
         */
        default boolean ciliumPaths(Conn conn) {
            return false;
        }
    }

    private RequestAdmission() {}

    /**
     * The exchange {@code req} starts on {@code conn}, decided. Allowed: XFCC, {@code x-forwarded-proto} and
     * {@code x-request-id} set on {@code req} (before the decision), to be forwarded. Denied: its 403 is the response (status, size and whether the connection closes
     * after it set), for the caller to write.
     */
    static Http1Exchange admit(Conn conn, Authorizer authorizer, HttpRequest req, String scheme) {
        Http1Exchange x = new Http1Exchange(req);
        x.scheme = scheme;
        boolean cilium = authorizer.ciliumPaths(conn);
        if (cilium && HttpAttributes.hasEscapedSlash(req.uri())) {
            // Cilium's Envoy (UNESCAPE_AND_REDIRECT) answers before any filter: 307 to the unescaped, normalised path.
            x.location = HttpAttributes.ciliumTarget(req.uri());
            if (x.location != null) {
                x.closeAfter = !HttpUtil.isKeepAlive(req) || HttpUtil.is100ContinueExpected(req)
                        || req.headers().contains(HttpHeaderNames.UPGRADE);
                x.status = 307;
                x.responseDone = true;
                x.responseBytes = 0;
                return x;
            }
        }
        if (cilium) {
            // Decided, as forwarded, on what Cilium's Envoy passes on (every rule, an AuthorizationPolicy's too).
            String passed = HttpAttributes.ciliumTarget(req.uri());
            if (passed != null && !passed.equals(req.uri())) {
                req.setUri(passed);
            }
        }
        // Envoy's connection manager sets x-forwarded-client-cert before any filter (conn_manager_utility.cc
        // mutateRequestHeaders -> mutateXfccRequestHeader): RBAC reads what the application will. Until 5 December the
        // client's own header was decided on and replaced after, so a forged one met an XFCC rule (helper 251).
        HttpHeaders h = req.headers();
        h.remove("x-forwarded-client-cert");
        String xfcc = conn.xfcc();
        if (xfcc != null) {
            h.set("x-forwarded-client-cert", xfcc);
        }
        // x-forwarded-proto and x-request-id, set in the same step of Envoy's connection manager (ForwardedRequestHeaders):
        // a rule on them reads what the application will. Until 7 December neither was set.
        ForwardedRequestHeaders.apply(h, conn, cilium);
        x.ciliumPaths = cilium;
        return authenticated(conn, authorizer, req, x, null);
    }

    /**
     * Decides {@code x}, which {@link #admit} left {@link Http1Exchange#held} (its token waited for its rule's first key
     * fetch), now that the fetch answered or the hold's timeout passed: the JWT step runs again after the hold, and the
     * request is then refused, or decided, as {@link #admit} would have. Never held again.
     */
    static Http1Exchange resume(Conn conn, Authorizer authorizer, HttpRequest req, Http1Exchange x) {
        JwtAuthn.Hold after = x.held;
        x.held = null;
        return authenticated(conn, authorizer, req, x, after);
    }

    /**
     * The JWT step and what follows it. Held ({@link JwtAuthn.Outcome#held()}): {@code x} is returned undecided with
     * {@link Http1Exchange#held} set, for the caller to {@link #resume} once the keys have their answer.
     */
    private static Http1Exchange authenticated(Conn conn, Authorizer authorizer, HttpRequest req, Http1Exchange x, JwtAuthn.Hold after) {
        String scheme = x.scheme;
        boolean cilium = x.ciliumPaths;
        // Envoy's jwt_authn filter comes before RBAC (istiod's filter order, pilot/pkg/networking/core/listener_builder.go):
        // a token that fails is answered 401 (403 for its audience) and no policy decides the request.
        JwtAuthn.Outcome jwt;
        String beforeJwt = req.uri();
        try {
            jwt = authorizer.authenticate(conn, JwtAuthn.of(req), scheme, req.headers().get(HttpHeaderNames.HOST, ""), after);
        } catch (RuntimeException e) {
            log.warn("JWT verification failed for {} {} {}, denying", conn.peer(), x.method, x.path, e);
            jwt = null;
        }
        if (jwt != null && jwt.held()) {
            x.held = jwt.hold();
            return x;
        }
        if (jwt != null && jwt.refused()) {
            x.jwt = jwt;
            x.refusal = jwt.details();
            x.closeAfter = !HttpUtil.isKeepAlive(req) || HttpUtil.is100ContinueExpected(req)
                    || req.headers().contains(HttpHeaderNames.UPGRADE);
            x.upgrade = req.headers().contains(HttpHeaderNames.UPGRADE);
            x.status = jwt.status();
            x.responseDone = true;
            x.responseBytes = jwt.body().length;
            return x;
        }
        x.auth = jwt == null ? null : jwt.auth();
        if (jwt != null && !req.uri().equals(beforeJwt)) {
            // A verified token's query parameter was removed (JwtParamLocation::removeJwt): logged as forwarded, as
            // Envoy's access log reads the :path its filters left, so the token is not written there.
            x.path = req.uri();
        }
        Decision d;
        try {
            d = jwt == null ? null : authorizer.authorize(conn, req, scheme, x.auth);
        } catch (RuntimeException e) {
            log.warn("authorization failed for {} {} {}, denying", conn.peer(), x.method, x.path, e);
            d = null;
        }
        x.decision = d;
        x.allowed = d != null && d.allowed();
        if (!HttpUtil.isKeepAlive(req)) {
            x.closeAfter = true;
        }
        x.upgrade = req.headers().contains(HttpHeaderNames.UPGRADE);
        if (x.allowed) {
            String target = cilium ? HttpAttributes.ciliumTarget(req.uri()) : HttpAttributes.normalizedTarget(req.uri());
            if (target == null) {
                // Checked before (RequestTarget): Envoy never gets this far with such a path.
                x.allowed = false;
            } else {
                // What the application reads is what was decided (Envoy's normalize_path rewrites :path).
                req.setUri(target);
            }
        }
        if (x.allowed) {
            return x;
        }
        log.debug("denied {} {} {} -> {}: {}", conn.peer(), x.method, x.path, conn.destination(), d == null ? "error" : d.explain());
        if (HttpUtil.is100ContinueExpected(req) || x.upgrade) {
            // The client may or may not send the body now: the framing of what follows is unknown.
            x.closeAfter = true;
        }
        x.status = 403;
        x.responseDone = true;
        x.responseBytes = LocalReplies.DENIED.length;
        return x;
    }
}
