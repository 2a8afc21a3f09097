package io.zerohop.policy;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The verified JWT of a request, as the RBAC filter of a sidecar sees it: Envoy's {@code jwt_authn} filter puts the
 * verified payload into the request's dynamic metadata ({@code envoy.filters.http.jwt_authn} / {@code payload},
 * istio/istio pilot/pkg/security/authn/policy_applier.go {@code PayloadInMetadata}), and istiod's RBAC config matches
 * {@code requestPrincipals} and {@code request.auth.*} against it (pilot/pkg/security/authz/model/generator.go).
 * mesh-core builds one per request whose token verified and sets it as {@link HttpAttributes#auth()}.
 *
 * @param principal  {@code <iss>/<sub>} of the token; null when its {@code iss} or {@code sub} is absent or no string.
 *                   Informational: {@code requestPrincipals} and {@code request.auth.principal} are matched on the
 *                   {@code iss} and {@code sub} claims, as istiod's generator does
 * @param audiences  the {@code aud} claim (a string or an array of strings); immutable, never null, may be empty.
 *                   Informational, as {@code principal}: {@code request.auth.audiences} is matched on the {@code aud}
 *                   claim in {@code claims}
 * @param presenter  the {@code azp} claim, {@code ""} when absent (null is read as {@code ""}); informational, as
 *                   {@code audiences}
 * @param claims     the payload as parsed JSON: values are {@link String}, {@link Number} ({@link Long} or
 *                   {@link Double}), {@link Boolean}, {@code List<Object>}, {@code Map<String, Object>} or null;
 *                   copied deeply into an immutable map, never null; the whole verified payload (matching reads
 *                   {@code iss}, {@code sub}, {@code aud}, {@code azp} and any claim from it). The top-level
 *                   {@code scope} and {@code permission} may be given as sent (a space-delimited string) or as the
 *                   list Envoy's {@code NormalizePayload} makes of it: matching splits a string of theirs at spaces
 */
public record RequestAuth(String principal, List<String> audiences, String presenter, Map<String, Object> claims) {

    public RequestAuth {
        audiences = audiences == null ? List.of() : List.copyOf(audiences);
        presenter = presenter == null ? "" : presenter;
        claims = claims == null ? Map.of() : copyMap(claims);
    }

    private static Map<String, Object> copyMap(Map<?, ?> m) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : m.entrySet()) {
            out.put(Objects.requireNonNull((String) e.getKey(), "claim name"), copy(e.getValue()));
        }
        return Collections.unmodifiableMap(out);
    }

    private static Object copy(Object v) {
        if (v instanceof Map<?, ?> m) {
            return copyMap(m);
        }
        if (v instanceof List<?> l) {
            List<Object> out = new ArrayList<>(l.size());
            for (Object o : l) {
                out.add(copy(o));
            }
            return Collections.unmodifiableList(out);
        }
        if (v == null || v instanceof String || v instanceof Number || v instanceof Boolean) {
            return v;
        }
        throw new IllegalArgumentException("claim value of type " + v.getClass().getName() + " is no JSON value");
    }
}
