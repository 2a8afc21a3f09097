package io.zerohop.policy.internal;

import io.zerohop.policy.RequestAuth;
import java.util.List;
import java.util.Map;

/**
 * Matching of an AuthorizationPolicy's request-authentication attributes against a request's verified JWT
 * ({@link io.zerohop.policy.HttpAttributes#auth()}), as the RBAC config istiod generates does on the payload Envoy's
 * {@code jwt_authn} filter puts into the request's metadata ({@code envoy.filters.http.jwt_authn}, key
 * {@code payload}: istio/istio pilot/pkg/security/authz/model/generator.go and util.go):
 *
 * <ul>
 *   <li>{@code requestPrincipals}, {@code notRequestPrincipals} and {@code request.auth.principal}
 *       ({@code requestPrincipalGenerator}): each value is cut at its last {@code /} into an issuer and a subject
 *       matcher, the payload's {@code iss} and {@code sub} claims must both match; {@code *} is "any non-empty
 *       {@code iss} and {@code sub}" (regex {@code .+}), and a leading or trailing {@code *} makes the issuer a suffix
 *       or the subject a prefix match (see {@link #principals});
 *   <li>{@code request.auth.audiences} ({@code aud}), {@code request.auth.presenter} ({@code azp}) and
 *       {@code request.auth.claims[a][b]...} ({@code MetadataListValueMatcherForJWTClaims}): the claim at that path
 *       (each step into a JSON object) matches when it is a string one of the values matches, or a list one of whose
 *       string elements one of the values matches. A number, boolean, object or null claim never matches: Envoy's
 *       {@code string_match} only matches a string value, and the payload keeps JSON's types;
 *   <li>the top-level claims {@code scope} and {@code permission}, when strings, are read as the list of their
 *       space-separated parts, as Envoy's {@code NormalizePayload} ({@code space_delimited_claims}, which istiod always
 *       sets to them: policy_applier.go {@code buildSpaceDelimitedClaims}) stores them.
 * </ul>
 *
 * <p>A request without a verified JWT ({@code auth} null) has no payload: nothing matches, so a {@code values} list
 * never matches and a {@code notValues} list always does. Nothing here allocates.
 */
final class RequestAuthMatch {

    private RequestAuthMatch() {
    }

    /** One {@code requestPrincipals} value: the matchers on {@code iss} and {@code sub}. */
    record Principal(StringMatch iss, StringMatch sub) {
    }

    static final Principal[] NO_PRINCIPALS = new Principal[0];
    private static final StringMatch ANY = StringMatch.of(StringMatch.Kind.PRESENCE, "");

    /**
     * istiod's {@code requestPrincipalGenerator.extendedPrincipal}: the value cut at its last {@code /}
     * ({@code iss/sub}; issuers may be URLs), then
     * {@code *} → any iss, any sub;
     * {@code *X/S} → iss suffix X ({@code * /S}: any iss), sub exactly S;
     * {@code *X} (no {@code /}) → any iss, sub suffix X;
     * {@code I/S*} → iss exactly I, sub prefix S ({@code I/*}: any sub);
     * {@code X*} (no {@code /}) → iss prefix X, any sub;
     * {@code I/S} → both exact; {@code X} (no {@code /}) → iss exactly X and sub exactly empty.
     */
    static Principal[] principals(List<String> values) {
        if (values.isEmpty()) {
            return NO_PRINCIPALS;
        }
        Principal[] out = new Principal[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = principal(values.get(i));
        }
        return out;
    }

    static Principal principal(String value) {
        int idx = value.lastIndexOf('/');
        boolean found = idx >= 0;
        String iss = found ? value.substring(0, idx) : value;
        String sub = found ? value.substring(idx + 1) : "";
        if (value.equals("*")) {
            return new Principal(ANY, ANY);
        }
        if (value.startsWith("*")) {
            if (found) {
                return new Principal(iss.equals("*") ? ANY : StringMatch.of(StringMatch.Kind.SUFFIX, iss.substring(1)),
                        StringMatch.of(StringMatch.Kind.EXACT, sub));
            }
            return new Principal(ANY, StringMatch.of(StringMatch.Kind.SUFFIX, value.substring(1)));
        }
        if (value.endsWith("*")) {
            if (found) {
                return new Principal(StringMatch.of(StringMatch.Kind.EXACT, iss),
                        sub.equals("*") ? ANY : StringMatch.of(StringMatch.Kind.PREFIX, sub.substring(0, sub.length() - 1)));
            }
            return new Principal(StringMatch.of(StringMatch.Kind.PREFIX, value.substring(0, value.length() - 1)), ANY);
        }
        return new Principal(StringMatch.of(StringMatch.Kind.EXACT, iss), StringMatch.of(StringMatch.Kind.EXACT, sub));
    }

    /** Whether one of {@code ps} matches the payload's {@code iss} and {@code sub}; false without a JWT. */
    static boolean anyPrincipal(Principal[] ps, RequestAuth auth) {
        if (auth == null) {
            return false;
        }
        Map<String, Object> claims = auth.claims();
        Object iss = claims.get("iss");
        Object sub = claims.get("sub");
        if (!(iss instanceof String i) || !(sub instanceof String s)) {
            return false;
        }
        for (Principal p : ps) {
            if (matches(p.iss, i) && matches(p.sub, s)) {
                return true;
            }
        }
        return false;
    }

    /**
     * {@code m} on {@code s}; {@link #ANY} is istiod's regex {@code .+} for a {@code *} (generator.go
     * {@code requestPrincipalGenerator}, matcher {@code StringMatcherRegex(".+")}), which Envoy's RE2 matches whole:
     * a non-empty value without a line feed, RE2's {@code .} not matching {@code \n}.
     */
    private static boolean matches(StringMatch m, String s) {
        return m == ANY ? !s.isEmpty() && s.indexOf('\n') < 0 : m.matches(s);
    }

    static final String[] AUDIENCES = {"aud"};
    static final String[] PRESENTER = {"azp"};

    /**
     * The claim path of {@code request.auth.claims<rest>}, as istiod's {@code extractNameInNestedBrackets} (util.go):
     * {@code [a][b]} is {@code a}, {@code b}; anything else in brackets as a whole ({@code [a.b]} is one claim
     * {@code a.b}, {@code [a]x[b]} is one claim {@code a]x[b}).
     *
     * @param rest what follows {@code request.auth.claims}: starts with {@code [} and ends with {@code ]}
     */
    static String[] claimPath(String rest) {
        java.util.List<String> claims = new java.util.ArrayList<>();
        int begin = 0;
        while (begin < rest.length()) {
            int end = endBracket(rest, begin);
            if (end < 0) {
                return new String[] {rest.substring(1, rest.length() - 1)};
            }
            claims.add(rest.substring(begin + 1, end));
            begin = end + 1;
        }
        return claims.toArray(new String[0]);
    }

    private static int endBracket(String s, int begin) {
        if (begin >= s.length() || s.charAt(begin) != '[') {
            return -1;
        }
        for (int i = begin + 1; i < s.length(); i++) {
            if (s.charAt(i) == '[') {
                return -1;
            }
            if (s.charAt(i) == ']') {
                return i;
            }
        }
        return -1;
    }

    /** Whether the claim at {@code path} matches one of {@code ms} (see the class comment); false without a JWT. */
    static boolean claim(String[] path, StringMatch[] ms, RequestAuth auth) {
        if (auth == null) {
            return false;
        }
        Object v = auth.claims().get(path[0]);
        if (path.length == 1 && v instanceof String s && (path[0].equals("scope") || path[0].equals("permission"))) {
            return spaceDelimited(s, ms);
        }
        for (int i = 1; i < path.length; i++) {
            if (!(v instanceof Map<?, ?> m)) {
                return false;
            }
            v = m.get(path[i]);
        }
        if (v instanceof String s) {
            return StringMatch.any(ms, s);
        }
        if (v instanceof List<?> l) {
            for (int i = 0; i < l.size(); i++) {
                if (l.get(i) instanceof String e && StringMatch.any(ms, e)) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Envoy's {@code NormalizePayload} of a space-delimited claim (source/extensions/filters/http/jwt_authn
     * authenticator.cc {@code setPayloadMetadata}: {@code absl::StrSplit(value, ' ', absl::SkipEmpty())} into a list,
     * the string kept when there is no part), then the list's or the string's match; on regions, without copying.
     */
    private static boolean spaceDelimited(String s, StringMatch[] ms) {
        boolean anyPart = false;
        int i = 0;
        int n = s.length();
        while (i < n) {
            while (i < n && s.charAt(i) == ' ') {
                i++;
            }
            if (i == n) {
                break;
            }
            int end = s.indexOf(' ', i);
            if (end < 0) {
                end = n;
            }
            anyPart = true;
            for (StringMatch m : ms) {
                if (m.matches(s, i, end)) {
                    return true;
                }
            }
            i = end;
        }
        return !anyPart && StringMatch.any(ms, s);
    }
}
