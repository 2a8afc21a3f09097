package io.zerohop.core;

import io.zerohop.policy.JwtRule;
import io.zerohop.policy.RequestAuth;
import java.util.List;
import java.util.Map;

/**
 * The proxy's RequestAuthentication step for one request, outside any connection: what {@code zerohop policy check}
 * runs (the token from {@code --jwt}, {@code --header} or {@code --path}) so that an operator can check a token and the {@code requestPrincipals} / {@code request.auth.*} rules it
 * meets offline. The step is the one the proxy runs before the authorization (Envoy's {@code jwt_authn} as istiod
 * configures it, mesh-core README "JWT"): the same locations, checks, refusal texts and header changes. Keys of a rule
 * with {@code jwksUri} (or OpenID discovery) are fetched as the proxy fetches them, waiting at most the rule's
 * {@code timeout} (then {@code 401 Jwks remote fetch is failed}, as the proxy's first request).
 */
public final class JwtCheck {
    private JwtCheck() {
    }

    /**
     * The step's answer.
     *
     * @param status  0 when the request goes on; else the proxy's local reply, 401 (403 for an audience not allowed)
     * @param failure Envoy's status text when refused ({@code Jwt is expired}, ...), else null
     * @param auth    the verified token's {@link RequestAuth}, null when no token was found (or refused)
     * @param headers the request's headers as the authorization reads them after the step (names lower case; a token's
     *                header removed unless {@code forwardOriginalToken}, output headers added); unchanged when refused
     * @param path    the request target after the step (a verified token's query parameter removed)
     */
    public record Result(int status, String failure, RequestAuth auth, Map<String, String> headers, String path) {
        public boolean refused() {
            return failure != null;
        }
    }

    /**
     * Runs the step on one request.
     *
     * @param rules     the destination's rules, {@code PolicyEngine.jwtRules}
     * @param method    the request's method
     * @param path      the request target, query included
     * @param authority the request's host, for the {@code www-authenticate} realm (may be null)
     * @param headers   the request's headers, names lower case, a repeated header's values joined with ","
     */
    public static Result check(List<JwtRule> rules, String method, String path, String authority, Map<String, String> headers) {
        return io.zerohop.core.internal.http.OfflineJwt.check(rules, method, path, authority, headers);
    }
}
