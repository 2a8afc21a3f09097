package io.zerohop.policy.internal;

import static io.zerohop.policy.internal.IstioPolicy.NO_PATHS;
import static io.zerohop.policy.internal.IstioPolicy.NO_PORTS;
import static io.zerohop.policy.internal.IstioPolicy.NO_STRINGS;
import static io.zerohop.policy.internal.IstioPolicy.portIn;

import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.HttpAttributes;

/**
 * One {@code to.operation} of an Istio AuthorizationPolicy rule, compiled: ports (which ztunnel
 * receives) and hosts, methods and paths (which only Envoy evaluates), matched as the RBAC
 * permissions istiod generates ({@code pilot/pkg/security/authz/model} generator.go).
 */
final class IstioOperation {
    int[] ports = NO_PORTS;
    int[] notPorts = NO_PORTS;
    StringMatch[] hosts = NO_STRINGS;
    StringMatch[] notHosts = NO_STRINGS;
    StringMatch[] methods = NO_STRINGS;
    StringMatch[] notMethods = NO_STRINGS;
    PathMatch[] paths = NO_PATHS;
    PathMatch[] notPaths = NO_PATHS;
    boolean http;
    /** Same as {@link #http}; the earlier name, kept for code written against it. */
    boolean l7;
    boolean l4Empty;

    void finish() {
        l7 = hosts.length + notHosts.length + methods.length + notMethods.length + paths.length + notPaths.length > 0;
        http = hosts.length + notHosts.length + methods.length + notMethods.length + paths.length + notPaths.length > 0;
        l4Empty = ports.length + notPorts.length == 0;
    }

    /** At L4 ({@code l4}) the ports only, an operation without ports never matching (ztunnel); else every field. */
    boolean matches(AccessRequest r, String path, boolean l4) {
        return l4 ? !l4Empty && matchesPorts(r) : matchesPorts(r) && matchesHttp(r.http(), path);
    }

    /** On an unparsed connection: its ports as at L4, its HTTP fields as matched ({@link IstioPolicy.Rule#matchesUnparsed}). */
    boolean matchesUnparsed(AccessRequest r) {
        return matchesPorts(r);
    }

    boolean matchesPorts(AccessRequest r) {
        int port = r.destinationPort();
        if (ports.length > 0 && !portIn(ports, port)) {
            return false;
        }
        return notPorts.length == 0 || !portIn(notPorts, port);
    }

    /** {@code path}: the request path normalised as Envoy does for Istio, null if it cannot be. */
    boolean matchesHttp(HttpAttributes h, String path) {
        if (hosts.length > 0 && !StringMatch.any(hosts, h.host())) {
            return false;
        }
        if (notHosts.length > 0 && StringMatch.any(notHosts, h.host())) {
            return false;
        }
        // Methods are compared as sent: "post" is not POST.
        if (methods.length > 0 && !StringMatch.any(methods, h.method())) {
            return false;
        }
        if (notMethods.length > 0 && StringMatch.any(notMethods, h.method())) {
            return false;
        }
        if (paths.length > 0 && !PathMatch.any(paths, path)) {
            return false;
        }
        return notPaths.length == 0 || (path != null && !PathMatch.any(notPaths, path));
    }
}
