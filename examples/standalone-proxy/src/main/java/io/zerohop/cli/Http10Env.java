package io.zerohop.cli;

import java.util.Map;

/**
 * Whether {@code zerohop proxy} accepts HTTP/1.0 requests where it parses HTTP ({@code Mesh.Builder.acceptHttp10}),
 * read from the environment variables an Istio operator sets for it: istiod's {@code PILOT_HTTP10} (every proxy)
 * and a proxy's {@code ISTIO_META_HTTP10} metadata; either on turns it on, as istiod decides
 * {@code features.HTTP10 || enableHTTP10(node.Metadata.HTTP10)} (istio/istio pilot/pkg/networking/core/listener.go,
 * listener_waypoint.go). Values are read as Istio reads them, except that what Istio would read silently as off is
 * an error here: {@code PILOT_HTTP10} takes Go's {@code strconv.ParseBool} forms (pkg/env/var.go, where anything
 * else is a warning and the default, off); {@code ISTIO_META_HTTP10} is on only for {@code "1"} ({@code enableHTTP10}),
 * so {@code "true"} there, off in Istio, is refused rather than taken either way.
 */
final class Http10Env {
    static final String PILOT = "PILOT_HTTP10";
    static final String META = "ISTIO_META_HTTP10";

    private Http10Env() {}

    /**
     * @param env the process environment (never null)
     * @return whether HTTP/1.0 is accepted; false when neither variable is set (or both are empty)
     * @throws IllegalArgumentException naming the variable and its value when a value is neither on nor off
     */
    static boolean acceptHttp10(Map<String, String> env) {
        return pilot(env.get(PILOT)) | meta(env.get(META));
    }

    /**
     * Whether istiod's own {@code PILOT_HTTP10} is on ({@code Mesh.Builder.pilotHttp10}): then an {@code auto} port
     * parses an HTTP/1.0 request line as HTTP too, which the proxy's metadata alone does not do (istio/istio
     * pilot/pkg/networking/core/match/match.go {@code NewAppProtocol} reads only {@code features.HTTP10}).
     *
     * @param env the process environment (never null)
     * @throws IllegalArgumentException as {@link #acceptHttp10}
     */
    static boolean pilotHttp10(Map<String, String> env) {
        return pilot(env.get(PILOT));
    }

    private static boolean pilot(String v) {
        if (v == null || v.isEmpty()) {
            return false;
        }
        switch (v) {
            case "1", "t", "T", "TRUE", "true", "True":
                return true;
            case "0", "f", "F", "FALSE", "false", "False":
                return false;
            default:
                throw new IllegalArgumentException("$" + PILOT + ": \"" + v + "\" must be true or false (or 1, 0, t, f, as istiod"
                        + " reads it); HTTP/1.0 requests are refused with 426 unless it is true");
        }
    }

    private static boolean meta(String v) {
        if (v == null || v.isEmpty() || v.equals("0")) {
            return false;
        }
        if (v.equals("1")) {
            return true;
        }
        throw new IllegalArgumentException("$" + META + ": \"" + v + "\" must be \"1\" to accept HTTP/1.0 (istiod reads only \"1\""
                + " as on, so this value would leave HTTP/1.0 refused with 426 there), or \"0\" or empty for off");
    }
}
