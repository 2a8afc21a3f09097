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

    /** {@link #parts} not computed: each check finds the namespace itself. */
    static final long UNKNOWN = Long.MIN_VALUE;
    /** {@link #parts} of a principal without a namespace (no {@code /ns/} after the trust domain). */
    static final long NONE = -1L;
    /**
     * {@link #parts} of a principal with {@code /ns/} that is not exactly {@code spiffe://TD/ns/NS/sa/SA}
     * (more segments, {@code /ns/} twice, no {@code /sa/}...): its namespace and service account have no
     * single reading, so Istio's rules decide by the regexes istiod gives Envoy ({@link #irregular}).
     */
    static final long IRREGULAR = -2L;

    /**
     * Where the namespace of {@code p} starts and ends ({@code nsStart << 32 | nsEnd}), {@link #NONE} or
     * {@link #IRREGULAR}: found once per decision and passed down, instead of searched for by every
     * namespace check.
     */
    static long parts(String p) {
        // The Kubernetes form, the one nearly every peer has, found with three searches for '/' (each an
        // intrinsic) instead of the two substring searches and three checks below; the same answer: the first
        // '/' after the scheme starts "/ns/", so that is the first "/ns/", and the next '/' starts "/sa/".
        int td = p.indexOf('/', SCHEME);
        if (td > SCHEME && p.startsWith("/ns/", td)) {
            int ns = td + 4;
            int sa = p.indexOf('/', ns);
            if (sa > ns && p.startsWith("/sa/", sa) && sa + 4 < p.length() && p.indexOf('/', sa + 4) < 0) {
                return (long) ns << 32 | sa;
            }
        }
        int s = nsStart(p);
        if (s < 0) {
            return NONE;
        }
        int e = nsEnd(p, s);
        return e >= 0 && kubernetesForm(p, s, e) ? (long) s << 32 | e : IRREGULAR;
    }

    /**
     * Whether {@code p}, whose first {@code /ns/} ends at {@code s} and whose first {@code /sa/} after it
     * starts at {@code e}, is exactly {@code spiffe://TD/ns/NS/sa/SA} with non-empty parts and no other
     * slash: the only form ztunnel parses (istio/ztunnel src/identity/manager.rs {@code Identity::from_str},
     * five segments) and the one in which the first {@code /ns/} and {@code /sa/} are the only reading.
     */
    private static boolean kubernetesForm(String p, int s, int e) {
        int td = s - 4;
        return td > SCHEME && p.indexOf('/', SCHEME) == td && e > s && p.indexOf('/', s) == e
                && e + 4 < p.length() && p.indexOf('/', e + 4) < 0;
    }

    /**
     * Whether {@code p} has {@code /ns/} but is not in the Kubernetes form (see {@link #IRREGULAR}).
     * istiod's generators read such an ID with regexes over the whole of it ({@code srcNamespaceGenerator}:
     * {@code .*}{@code /ns/NS/.*}; {@code serviceAccountRegex}: {@code spiffe://.+/ns/NS/(.+/|)sa/SA(/.+)?},
     * "arbitrary k/v pairs" allowed around the two), so {@code spiffe://td/ns/prod/x/sa/a} is in namespace
     * {@code prod} and {@code spiffe://td/ns/prod/sa/a/extra} is service account {@code prod/a} for Envoy.
     * ztunnel refuses such a peer outright (no identity in its trust domain); zerohop accepts any SPIFFE ID
     * (SPIRE issues such paths), so both levels read it as Envoy does: before 1 December the first
     * {@code /ns/} up to the first {@code /sa/} was the namespace and the rest the service account, and a
     * {@code DENY namespaces: [prod]} or {@code serviceAccounts: [prod/a]} missed both examples.
     */
    static boolean irregular(String p) {
        return p != null && parts(p) == IRREGULAR;
    }

    /**
     * Whether the namespace of {@code p} equals {@code v}, {@code parts} being {@link #parts}({@code p})
     * or {@link #UNKNOWN}; the same answer as {@link #namespaceEquals}.
     */
    static boolean namespaceEquals(String p, long parts, String v) {
        if (parts == UNKNOWN || parts == IRREGULAR) {
            return namespaceEquals(p, nsStart(p), v);
        }
        if (parts < 0) {
            return false;
        }
        int s = (int) (parts >>> 32);
        int len = (int) parts - s;
        return len == v.length() && p.regionMatches(s, v, 0, len);
    }

    /** The peer's namespace equals {@code v}: verified SPIFFE ID first, registry second. */
    static boolean namespaceIs(AccessRequest r, String v) {
        return namespaceIs(r, v, UNKNOWN);
    }

    /** As {@link #namespaceIs(AccessRequest, String)}, {@code parts} being {@link #parts} of the principal or {@link #UNKNOWN}. */
    static boolean namespaceIs(AccessRequest r, String v, long parts) {
        String p = r.sourcePrincipal();
        // parts, when known, already says whether p is irregular: the scan runs only for UNKNOWN.
        if (p != null && !(parts == IRREGULAR || (parts == UNKNOWN && irregular(p)))) {
            return namespaceEquals(p, parts, v);
        }
        // Plaintext, or a SPIFFE ID with no single namespace: the registry's workload (of the peer's
        // identity, as mesh-core supplies it), else unknown: Selector fails closed before asking.
        WorkloadRef w = r.sourceWorkload();
        return w != null && w.namespace().equals(v);
    }

    /**
     * A peer whose SPIFFE ID is {@link #irregular} and whose workload is unknown: its namespace and
     * service account are unknown to Cilium's selectors, as a SPIFFE-only peer's pod labels are.
     */
    static boolean identityUnknown(AccessRequest r) {
        return r.sourceWorkload() == null && irregular(r.sourcePrincipal());
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
        if (irregular(p)) {
            return r.sourceWorkload() != null;
        }
        return nsEnd(p, nsStart(p)) >= 0 || (p == null && r.sourceWorkload() != null);
    }

    static boolean serviceAccountIs(AccessRequest r, String v) {
        String p = r.sourcePrincipal();
        boolean odd = irregular(p);
        int s = odd ? -1 : saStart(p);
        if (s >= 0) {
            return regionEquals(p, s, p.length(), v);
        }
        WorkloadRef w = r.sourceWorkload();
        return (p == null || odd) && w != null && !w.serviceAccount().isEmpty() && w.serviceAccount().equals(v);
    }

    static boolean hasServiceAccount(AccessRequest r) {
        String p = r.sourcePrincipal();
        boolean odd = irregular(p);
        if (!odd && saStart(p) >= 0) {
            return true;
        }
        WorkloadRef w = r.sourceWorkload();
        return (p == null || odd) && w != null && !w.serviceAccount().isEmpty();
    }

    /** A peer Cilium would see as an endpoint of the cluster rather than "world". */
    static boolean isClusterEndpoint(AccessRequest r) {
        return r.sourcePrincipal() != null || r.sourceWorkload() != null;
    }
}
