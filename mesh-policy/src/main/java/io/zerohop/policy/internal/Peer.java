package io.zerohop.policy.internal;

import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.WorkloadRef;

/**
 * Reads the parts of a source SPIFFE ID ({@code spiffe://td/ns/NS/sa/SA}) as index ranges so
 * that evaluation compares regions instead of allocating substrings.
 */
final class Peer {

    static final String SPIFFE_SCHEME = AccessRequest.SPIFFE_SCHEME;
    static final int SCHEME = SPIFFE_SCHEME.length();

    private Peer() {
    }

    /** Start of the namespace inside the principal, or -1 when not in Kubernetes form. */
    static int nsStart(String p) {
        if (p == null) {
            return -1;
        }
        int i = p.indexOf("/ns/", SCHEME);
        return i < 0 ? -1 : i + 4;
    }

    /** End (exclusive) of the namespace, given its start; -1 when not in Kubernetes form. */
    static int nsEnd(String p, int nsStart) {
        if (nsStart < 0) {
            return -1;
        }
        return p.indexOf("/sa/", nsStart);
    }

    /** Start of the service account (after {@code /sa/}), -1 when not in Kubernetes form. */
    static int saStart(String p) {
        int ns = nsStart(p);
        int end = nsEnd(p, ns);
        return end < 0 ? -1 : end + 4;
    }

    static int tdEnd(String p) {
        int i = p.indexOf('/', SCHEME);
        return i < 0 ? p.length() : i;
    }

    static boolean regionEquals(String s, int from, int to, String v) {
        return to - from == v.length() && s.regionMatches(from, v, 0, v.length());
    }

    /** The peer's namespace equals {@code v}: verified SPIFFE ID first, registry second. */
    static boolean namespaceIs(AccessRequest r, String v) {
        String p = r.sourcePrincipal();
        if (p != null) {
            return namespaceEquals(p, nsStart(p), v);
        }
        WorkloadRef w = r.sourceWorkload();
        return w != null && w.namespace().equals(v);
    }

    /**
     * Whether the namespace starting at {@code nsStart} (-1: none) equals {@code v}. The same as
     * {@code regionEquals(p, nsStart, nsEnd(p, nsStart), v)}, but the search for {@code /sa/} runs
     * only once the characters agree, so a mismatch costs one comparison.
     */
    static boolean namespaceEquals(String p, int nsStart, String v) {
        int len = v.length();
        return nsStart >= 0 && p.regionMatches(nsStart, v, 0, len) && p.indexOf("/sa/", nsStart) == nsStart + len;
    }

    static boolean hasNamespace(AccessRequest r) {
        String p = r.sourcePrincipal();
        return nsEnd(p, nsStart(p)) >= 0 || (p == null && r.sourceWorkload() != null);
    }

    static boolean serviceAccountIs(AccessRequest r, String v) {
        String p = r.sourcePrincipal();
        int s = saStart(p);
        if (s >= 0) {
            return regionEquals(p, s, p.length(), v);
        }
        WorkloadRef w = r.sourceWorkload();
        return p == null && w != null && !w.serviceAccount().isEmpty() && w.serviceAccount().equals(v);
    }

    static boolean hasServiceAccount(AccessRequest r) {
        String p = r.sourcePrincipal();
        if (saStart(p) >= 0) {
            return true;
        }
        WorkloadRef w = r.sourceWorkload();
        return p == null && w != null && !w.serviceAccount().isEmpty();
    }

    /** A peer Cilium would see as an endpoint of the cluster rather than "world". */
    static boolean isClusterEndpoint(AccessRequest r) {
        return r.sourcePrincipal() != null || r.sourceWorkload() != null;
    }
}
