package io.zerohop.policy;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * One {@code jwtRules} entry of a RequestAuthentication ({@code security.istio.io/v1} or {@code v1beta1}), as istiod
 * reads it (istio/api security/v1beta1/request_authentication.proto {@code JWTRule}) and turns it into one Envoy
 * {@code jwt_authn} provider (istio/istio pilot/pkg/security/authn/policy_applier.go {@code convertToEnvoyJwtConfig}).
 * {@link PolicyEngine#jwtRules} returns the rules that apply to a workload; mesh-core verifies tokens against them.
 *
 * @param issuer                the {@code iss} a token must carry; non-null. Empty (a rule with {@code jwksUri} and no
 *                              {@code issuer}, which istiod's {@code validateJwtRule} accepts) for a token of any
 *                              issuer, its {@code iss} absent too, as Envoy's provider without {@code issuer}
 *                              (envoyproxy/envoy jwt_authn extractor.cc {@code JwtIssuerChecker::add}: an empty issuer
 *                              allows all)
 * @param audiences             the {@code aud} values a token may carry (one must match); immutable, never null, empty
 *                              for any audience
 * @param jwksUri               where the JSON Web Key Set is fetched ({@code http} or {@code https} URL); null when
 *                              absent (then {@code jwks} inline, or OpenID discovery from {@code issuer} as istiod's
 *                              pilot/pkg/model/jwks_resolver.go does when both are absent)
 * @param jwks                  the JSON Web Key Set inline, as JSON text; null when absent
 * @param fromHeaders           the headers a token is read from; immutable, never null. When it, {@code fromParams}
 *                              and {@code fromCookies} are all empty, Envoy's default locations apply
 *                              ({@code Authorization: Bearer <token>} and the {@code access_token} query parameter)
 * @param fromParams            the query parameters a token is read from; immutable, never null
 * @param fromCookies           the cookies a token is read from; immutable, never null
 * @param outputPayloadToHeader the header the verified payload is forwarded in (base64url of its JSON); null when
 *                              absent
 * @param forwardOriginalToken  whether the token is kept in the request forwarded to the application (Envoy's
 *                              {@code forward}; false: the header or parameter it was read from is removed)
 * @param outputClaimToHeaders  claims copied to request headers; immutable, never null
 * @param timeout               the JWKS fetch timeout; null for istiod's default (5 s)
 * @param origin                {@code namespace/name} of the RequestAuthentication the rule comes from, for logs; never
 *                              put in a response body
 * @param spaceDelimitedClaims  the rule's {@code spaceDelimitedClaims}, as written: top-level claims whose string value
 *                              is matched by {@code request.auth.claims[...]} as its space-separated parts, besides
 *                              {@code scope} and {@code permission}, which always are (istio/istio
 *                              pilot/pkg/security/authn/policy_applier.go {@code buildSpaceDelimitedClaims}, into Envoy's
 *                              {@code normalize_payload_in_metadata}); immutable, never null
 */
public record JwtRule(
        String issuer,
        List<String> audiences,
        String jwksUri,
        String jwks,
        List<FromHeader> fromHeaders,
        List<String> fromParams,
        List<String> fromCookies,
        String outputPayloadToHeader,
        boolean forwardOriginalToken,
        List<ClaimToHeader> outputClaimToHeaders,
        Duration timeout,
        String origin,
        List<String> spaceDelimitedClaims) {

    /** A rule without custom {@code spaceDelimitedClaims} (only {@code scope} and {@code permission} are split). */
    public JwtRule(String issuer, List<String> audiences, String jwksUri, String jwks, List<FromHeader> fromHeaders,
                   List<String> fromParams, List<String> fromCookies, String outputPayloadToHeader, boolean forwardOriginalToken,
                   List<ClaimToHeader> outputClaimToHeaders, Duration timeout, String origin) {
        this(issuer, audiences, jwksUri, jwks, fromHeaders, fromParams, fromCookies, outputPayloadToHeader, forwardOriginalToken,
                outputClaimToHeaders, timeout, origin, List.of());
    }

    /**
     * @throws NullPointerException     naming {@code issuer} or {@code origin} when null
     * @throws IllegalArgumentException when {@code issuer} is empty and there is no {@code jwksUri} (istiod's
     *                                  {@code validateJwtRule}: "issuer or jwksUri must be non-empty string")
     */
    public JwtRule {
        Objects.requireNonNull(issuer, "issuer");
        if (issuer.isEmpty() && (jwksUri == null || jwksUri.isEmpty())) {
            throw new IllegalArgumentException("issuer or jwksUri must be non-empty string");
        }
        Objects.requireNonNull(origin, "origin");
        audiences = audiences == null ? List.of() : List.copyOf(audiences);
        fromHeaders = fromHeaders == null ? List.of() : List.copyOf(fromHeaders);
        fromParams = fromParams == null ? List.of() : List.copyOf(fromParams);
        fromCookies = fromCookies == null ? List.of() : List.copyOf(fromCookies);
        outputClaimToHeaders = outputClaimToHeaders == null ? List.of() : List.copyOf(outputClaimToHeaders);
        spaceDelimitedClaims = spaceDelimitedClaims == null ? List.of() : List.copyOf(spaceDelimitedClaims);
    }

    /**
     * A {@code fromHeaders} entry (istio/api {@code JWTHeader}): the token is the value of header {@code name}, after
     * {@code prefix} (e.g. {@code "Bearer "}) when one is given.
     *
     * @param name   the header name, non-null, non-empty (as written; header names compare case-insensitively)
     * @param prefix the value prefix to strip, {@code ""} when absent (null is read as {@code ""})
     */
    public record FromHeader(String name, String prefix) {
        public FromHeader {
            Objects.requireNonNull(name, "name");
            prefix = prefix == null ? "" : prefix;
        }
    }

    /**
     * An {@code outputClaimToHeaders} entry (istio/api {@code ClaimToHeader}): Envoy's {@code claim_to_headers} sets
     * request header {@code header} to the value of claim {@code claim} of the verified token.
     *
     * @param header the header name, non-null
     * @param claim  the claim name, non-null; nested claims written {@code a.b}
     */
    public record ClaimToHeader(String header, String claim) {
        public ClaimToHeader {
            Objects.requireNonNull(header, "header");
            Objects.requireNonNull(claim, "claim");
        }
    }
}
