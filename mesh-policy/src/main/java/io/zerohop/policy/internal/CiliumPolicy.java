package io.zerohop.policy.internal;

import java.util.List;

import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.HttpAttributes;
import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.WorkloadRef;

/** One compiled Cilium rule set (a CNP/CCNP {@code spec}, or one entry of {@code specs}). */
final class CiliumPolicy {

    final PolicyRef ref;
    /** Null for clusterwide policies. */
    final String namespace;
    final Selector endpointSelector;
    /** Whether selecting an endpoint puts its ingress into default deny. */
    final boolean ingressDefaultDeny;
    final Rule[] ingress;
    final Rule[] ingressDeny;
    final Decision defaultDeny;
    /** The default deny explained for a source without a workload or labels; null when no fromEndpoints tests a pod label. */
    private final Decision defaultDenyNoWorkload;
    private final Decision defaultDenyNoLabels;
    /** The default deny explained for a port no ingress rule's toPorts covers. */
    private final Decision defaultDenyNoPort;
    /** {@link CiliumStep#ciliumFlags}: which evaluation passes this policy can answer. */
    final int flags;
    /**
     * The decision for a request no rule decided when no selecting policy turns on ingress default deny (this one
     * first among them); set by the compiler before {@link CiliumStep#decide} can run.
     */
    Decision openAllowed;

    CiliumPolicy(PolicyRef ref, String namespace, Selector endpointSelector, boolean ingressDefaultDeny,
                 Rule[] ingress, Rule[] ingressDeny, Decision defaultDeny, Decision defaultDenyNoWorkload,
                 Decision defaultDenyNoLabels, Decision defaultDenyNoPort) {
        this.defaultDenyNoPort = defaultDenyNoPort;
        this.defaultDenyNoWorkload = defaultDenyNoWorkload;
        this.defaultDenyNoLabels = defaultDenyNoLabels;
        this.ref = ref;
        this.namespace = namespace;
        this.endpointSelector = endpointSelector;
        this.ingressDefaultDeny = ingressDefaultDeny;
        this.ingress = ingress;
        this.ingressDeny = ingressDeny;
        this.defaultDeny = defaultDeny;
        this.flags = CiliumStep.ciliumFlags(this);
    }

    /** Whether an ingress rule's {@code rules.http} has a path: only then does the allow pass read the request's path. */
    boolean usesPaths() {
        for (Rule rule : ingress) {
            if (rule.ports == null) {
                continue;
            }
            for (Port p : rule.ports) {
                if (p.http == null) {
                    continue;
                }
                for (Http h : p.http) {
                    if (h.path != null || h.pathHeader) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /**
     * This policy for a mesh of trust domain bundle {@code bundle} ({@link TrustDomains#bundle}): its ingress rules'
     * {@code cluster} entity takes a SPIFFE-only peer of those trust domains to be of the destination's cluster. Itself
     * when no ingress rule has that entity or the bundle is the one compiled in.
     */
    CiliumPolicy withTrustDomains(java.util.List<String> bundle) {
        Rule[] rules = null;
        for (int i = 0; i < ingress.length; i++) {
            java.util.List<String> tds = ingress[i].clusterTrustDomains;
            if (tds != null && !tds.equals(bundle)) {
                if (rules == null) {
                    rules = ingress.clone();
                }
                rules[i] = ingress[i].withClusterTrustDomains(bundle);
            }
        }
        if (rules == null) {
            return this;
        }
        CiliumPolicy copy = new CiliumPolicy(ref, namespace, endpointSelector, ingressDefaultDeny, rules, ingressDeny,
                defaultDeny, defaultDenyNoWorkload, defaultDenyNoLabels, defaultDenyNoPort);
        copy.openAllowed = openAllowed;
        return copy;
    }

    /**
     * The default-deny decision for {@code r}, its explanation naming why the ingress rules whose toPorts cover
     * {@code r}'s port did not allow it: the peer selector of the first such rule that did not select the source
     * (fromEndpoints on pod labels and a source without a workload or labels, fromCIDR or world entities and a cluster
     * endpoint, ...), else a rule that selected the source on this port but whose rules.http matched none of the
     * request's HTTP attributes. When two or more rules on CIDRs or entities for the port missed, each is named in
     * short ({@link Rule#peerMissShort}); that text alone is built per call. Until 2 December the fromEndpoints wording came whatever the port's rule was, and a
     * port covered only by rules.http that the request missed was called "not covered". The decision itself is
     * unchanged. Allocation-free but for two or more such rules: every other text is built at compile time.
     */
    Decision defaultDeny(AccessRequest r) {
        boolean endpoint = Peer.isClusterEndpoint(r);
        boolean covered = false;
        Decision httpMissed = null;
        Decision peerMissed = null;
        Rule firstMiss = null;
        Decision endpointsMissed = null;
        Decision nameUnknown = null;
        StringBuilder more = null;
        for (Rule rule : ingress) {
            if (!rule.coversPort(r)) {
                continue;
            }
            covered = true;
            if (nameUnknown == null && rule.namedPortUnknownMiss != null && rule.matchesPort(r) == PORT_NAME_UNKNOWN
                    && rule.matchesPeer(r)) {
                nameUnknown = rule.namedPortUnknownMiss;
            }
            if (httpMissed == null && rule.httpMiss != null && r.http() != null
                    && rule.matchesPort(r) == PORT_NO_MATCH && rule.matchesPeer(r)) {
                httpMissed = rule.httpMiss;
            }
            if (!rule.hasL3) {
                continue;
            }
            if (rule.podLabels) {
                WorkloadRef source = r.sourceWorkload();
                if (source == null) {
                    return defaultDenyNoWorkload;
                }
                if (source.labels().isEmpty()) {
                    return defaultDenyNoLabels;
                }
                if (endpointsMissed == null && rule.endpointsMiss != null && !rule.matchesPeer(r)) {
                    endpointsMissed = rule.endpointsMiss(r);
                }
            } else if (rule.endpointsMiss != null) {
                // fromEndpoints on the namespace (or service account) only: named as pod-label selectors are.
                if (endpointsMissed == null && !rule.matchesPeer(r)) {
                    endpointsMissed = rule.endpointsMiss(r);
                }
            } else if (rule.peerMiss != null && !rule.matchesPeer(r)) {
                if (peerMissed == null && r.sourceNode() != null) {
                    // A denial path, built per call: the precomputed texts speak of endpoints and world peers.
                    peerMissed = new Decision(false, Decision.Outcome.DENIED_DEFAULT, defaultDeny.policy(), -1, defaultDeny.reason()
                            + "; ingress rule " + rule.index + " for this port selects " + rule.peerText + ", which does not"
                            + " select the source" + nodeText(r.sourceNode()));
                } else if (peerMissed == null) {
                    peerMissed = endpoint ? rule.peerMiss[0] : rule.peerMiss[1];
                } else {
                    // Two or more rules on CIDRs or entities for this port: name each (a denial path, built per call).
                    if (more == null) {
                        more = new StringBuilder(defaultDeny.reason()).append("; no ingress rule for this port selects the source")
                                .append(nodeText(r.sourceNode())).append(": ").append(shortMiss(firstMiss, endpoint, r));
                    }
                    more.append("; ").append(shortMiss(rule, endpoint, r));
                }
                if (firstMiss == null) {
                    firstMiss = rule;
                }
            }
        }
        if (nameUnknown != null) {
            return nameUnknown;
        }
        if (more != null) {
            return new Decision(false, Decision.Outcome.DENIED_DEFAULT, defaultDeny.policy(), -1, more.toString());
        }
        if (peerMissed != null) {
            return peerMissed;
        }
        if (httpMissed != null) {
            return httpMissed;
        }
        if (endpointsMissed != null) {
            return endpointsMissed;
        }
        return covered || ingress.length == 0 ? defaultDeny : defaultDenyNoPort;
    }

    static final int PORT_NO_MATCH = 0;
    static final int PORT_MATCH = 1;
    /** The port matched only through rules.http and the request is L4-only: fails closed. */
    static final int PORT_NEEDS_L7 = 2;
    /** Only a named port the destination may have covers the port: its named ports are not known. */
    static final int PORT_NAME_UNKNOWN = 3;

    static final int PROTO_ANY = 0;
    static final int PROTO_TCP = 1;
    static final int PROTO_OTHER = 2;

    /** Why no CIDR or world rule selects a node's address, or "" for any other source. */
    private static String nodeText(AccessRequest.SourceNode node) {
        if (node == null) {
            return "";
        }
        boolean host = node == AccessRequest.SourceNode.HOST;
        return ": its address is " + (host ? "this node's own (Cilium's reserved:host)" : "another node's (Cilium's reserved:remote-node)")
                + ", which only the entities " + (host ? "host" : "remote-node") + ", cluster and all select (never world or a CIDR)";
    }

    private static String shortMiss(Rule rule, boolean endpoint, AccessRequest r) {
        return r.sourceNode() != null ? "rule " + rule.index + " " + rule.peerText
                : endpoint ? rule.peerMissShort[0] : rule.peerMissShort[1];
    }

    static final class Rule implements Cloneable {
        final int index;
        Selector[] fromEndpoints = new Selector[0];
        boolean entityAll;
        /** {@code cluster}: a peer of the destination's own cluster. */
        boolean entityCluster;
        /**
         * An ingress (allow) rule's {@code cluster} entity or {@code fromEndpoints} (whose selectors Cilium limits to the
         * local cluster, {@link Selector#localCluster}): the trust domains whose SPIFFE-only peers (no known workload, so
         * no cluster label) it takes to be of the destination's cluster, the mesh's bundle ({@link #withTrustDomains});
         * null for an ingressDeny rule, which takes every such peer to be (fail closed).
         */
        java.util.List<String> clusterTrustDomains;
        boolean entityWorld;
        /** {@code host}: the enforcing node's own addresses (reserved:host); {@code remote-node}: another node's. */
        boolean entityHost;
        boolean entityRemoteNode;
        /** authentication.mode test-always-fail: Cilium's test mode, authentication never succeeds. */
        boolean authAlwaysFails;
        Cidr[] cidrs = new Cidr[0];
        Cidr[][] cidrExcept = new Cidr[0][];
        boolean hasL3;
        Port[] ports;
        boolean authRequired;
        String spiffeTrustDomain;
        StringMatch[] spiffeIdentities;
        Decision matched;
        Decision authMissing;
        Decision spiffeRejected;
        Decision needsL7;
        /**
         * An ingressDeny rule, or a test-always-fail one, whose fromEndpoints test pod labels: the decision for a peer whose
         * labels are unknown.
         */
        Decision unknownPeerDenied;
        /**
         * An ingressDeny rule on world, CIDRs or endpoint selectors: the decision for a peer with a SPIFFE ID and no known
         * workload that the rule selects were it world (Cilium would see it as world by its address); null otherwise.
         */
        Decision worldPeerDenied;
        /**
         * An ingressDeny rule with the kube-apiserver entity: the decision for a node's address ({@link AccessRequest#sourceNode}),
         * which Cilium labels reserved:kube-apiserver too when the node runs kube-apiserver (its reserved identity 7 is
         * remote-node and kube-apiserver); zerohop does not know which nodes do, so it denies every node (fail closed).
         * Null otherwise.
         */
        Decision kubeApiServerNodeDenied;
        /**
         * An ingressDeny rule with a named port: the decision for a destination whose named ports are unknown
         * ({@link #PORT_NAME_UNKNOWN}); null otherwise.
         */
        Decision namedPortUnknownDenied;
        /**
         * An ingress rule with an authentication mode and a named port: {@link #authMissing} / {@link #spiffeRejected}
         * for a destination whose named ports are unknown, where the named port may be this port (fail closed); null
         * otherwise.
         */
        Decision authMissingNamedPort;
        Decision spiffeRejectedNamedPort;
        /**
         * An ingress rule with a named port: the policy's default deny explained for a source it selects on a destination
         * whose named ports are unknown; null otherwise.
         */
        Decision namedPortUnknownMiss;
        /** An ingress rule with a fromEndpoints selector on pod labels. */
        boolean podLabels;
        /**
         * An ingress rule on CIDRs or entities: the policy's default deny explained by this rule's peer selector, for a
         * cluster endpoint [0] and for any other peer [1]; null for other rules.
         */
        Decision[] peerMiss;
        /** {@link #peerMiss} in short, as a denial naming several rules lists them ({@code rule 1 fromCIDR [...]: ...}). */
        String[] peerMissShort;
        /**
         * An ingress rule with rules.http: the policy's default deny explained by a request this rule's peer selector
         * selected on a covered port but none of whose HTTP rules matched; null for a rule without rules.http.
         */
        Decision httpMiss;
        /**
         * An ingress rule with rules.http in a policy with {@code enableDefaultDeny.ingress: false}: its HTTP rules end with
         * Cilium's allow-all ({@code ensureWildcard}), and its ports still go through the proxy, so an L4-only check of a
         * peer it selects there waits for the request ({@link CiliumStep}).
         */
        boolean l7Open;
        /** The rule's toPorts as the explanations name them ({@code toPorts 8080/TCP http POST /charge}); null without. */
        String portsText;
        /** The rule's peer selector as the explanations name it ({@code fromCIDR [10.0.0.0/8]}); null for fromEndpoints. */
        String peerText;
        /** The rule's fromEntities as written (lower case), or null: none. */
        List<String> entityNames;
        /**
         * A rule with fromEndpoints on pod labels: the policy's default deny explained by a source workload with labels
         * that none of its selectors selected ({@code ingress rule 0 for this port selects fromEndpoints app=admin, which
         * does not select the source workload: none of its selectors matches the source's namespace, service account and
         * labels}); null otherwise.
         */
        Decision endpointsMiss;
        /**
         * When some fromEndpoints selector has the implicit local cluster ({@link Selector#localCluster}), the start of
         * the explanation {@link #endpointsMiss(AccessRequest)} builds when that is what left the source out (the
         * default deny and {@code ingress rule N for this port selects fromEndpoints ...}); null otherwise.
         */
        String endpointsClusterMiss;
        /** The rule's fromEndpoints as the explanations name them ({@code fromEndpoints app=admin | app=ops}); null without. */
        String endpointsText;
        /**
         * The same for a selector on the namespace or service account only and a peer whose SPIFFE ID gives
         * neither ({@link Peer#irregular}) and whose workload is unknown.
         */
        Decision irregularPeerDenied;

        Rule(int index) {
            this.index = index;
        }

        /** Cilium: a rule with only toPorts applies to every peer; an empty rule to none. */
        boolean matchesPeer(AccessRequest r) {
            return matchesPeer(r, Peer.UNKNOWN);
        }

        /** {@code parts}: {@link Peer#parts} of the principal, or {@link Peer#UNKNOWN}. */
        boolean matchesPeer(AccessRequest r, long parts) {
            if (!hasL3) {
                return ports != null;
            }
            if (entityAll) {
                return true;
            }
            boolean endpoint = Peer.isClusterEndpoint(r);
            if (endpoint && entityCluster && Selector.sameCluster(r, clusterTrustDomains)) {
                return true;
            }
            AccessRequest.SourceNode node = r.sourceNode();
            if (node != null) {
                // pkg/policy/api/entity.go: cluster selects reserved:host and reserved:remote-node; world and
                // CIDRs never do (a node's address has its reserved identity, not a CIDR's, under Cilium's default
                // policy-cidr-match-mode). fromEndpoints selectors test its reserved label (Selector.reservedValue).
                if (entityCluster || (node == AccessRequest.SourceNode.HOST ? entityHost : entityRemoteNode)) {
                    return true;
                }
                for (Selector s : fromEndpoints) {
                    if (s.matchesPeer(r, parts)) {
                        return true;
                    }
                }
                return false;
            }
            // World entities and CIDR rules select peers outside the cluster only, as Cilium does for pod IPs.
            if (!endpoint && selectsAddress(r)) {
                return true;
            }
            for (Selector s : fromEndpoints) {
                // A SPIFFE-only peer has no known cluster label: for the implicit local cluster it is of the destination's
                // cluster when of the mesh's trust domains (an allow rule), whatever it is for an ingressDeny (fail
                // closed), as the cluster entity takes it.
                if (s.matchesPeer(r, parts) && (!s.localCluster || r.sourceWorkload() != null
                        || Selector.sameCluster(r, clusterTrustDomains))) {
                    return true;
                }
            }
            return false;
        }

        /**
         * Whether a fromEndpoints selector selects {@code r}'s source were it world (no identity, no workload): a NotIn or
         * DoesNotExist on the namespace does (a new-user pass: a SPIFFE-only peer claiming the excluded namespace passed
         * an ingressDeny that denies the same peer as world). Runs only for such peers, on deny rules.
         */
        private boolean selectsWorld(AccessRequest r) {
            AccessRequest world = new AccessRequest(null, r.sourceAddress(), r.destinationAddress(), r.destinationPort(),
                    r.destination(), null, r.http(), r.sni());
            for (Selector s : fromEndpoints) {
                if (s.matchesPeer(world, Peer.UNKNOWN)) {
                    return true;
                }
            }
            return false;
        }

        /** Whether the rule's world entities or CIDRs select {@code r}'s address, were the peer world. */
        private boolean selectsAddress(AccessRequest r) {
            java.net.InetAddress a = r.sourceAddress();
            if (entityWorld) {
                return true;
            }
            for (int i = 0; i < cidrs.length; i++) {
                if (cidrs[i].contains(a) && !Cidr.any(cidrExcept[i], a)) {
                    return true;
                }
            }
            return false;
        }

        /**
         * An ingressDeny rule and a peer with a SPIFFE ID but no known workload: when the rule's world entities or CIDRs
         * select its address ({@link #worldPeerDenied}), or some fromEndpoints selector on pod labels (or, for an
         * irregular SPIFFE ID, on the namespace or service account) could select it ({@link Selector#mayMatchPeer}), the
         * decision that denies it (fail closed), else null.
         */
        Decision unknownPeer(AccessRequest r, long parts) {
            if (kubeApiServerNodeDenied != null && r.sourceNode() != null) {
                return kubeApiServerNodeDenied;
            }
            if (r.sourceWorkload() != null || r.sourcePrincipal() == null) {
                return null;
            }
            if (worldPeerDenied != null && (selectsAddress(r) || selectsWorld(r))) {
                return worldPeerDenied;
            }
            if (unknownPeerDenied == null) {
                return null;
            }
            boolean identityUnknown = Peer.identityUnknown(r);
            for (Selector s : fromEndpoints) {
                if ((s.usesPodLabels() || identityUnknown && s.usesIdentityLabels()) && s.mayMatchPeer(r, parts)) {
                    return identityUnknown && !s.usesPodLabels() ? irregularPeerDenied : unknownPeerDenied;
                }
            }
            return null;
        }

        /**
         * Whether the rule's toPorts cover {@code r}'s port and protocol, whatever its rules.http say (a named port the
         * destination may have, its named ports unknown, counts: the explanation then names the rule).
         */
        boolean coversPort(AccessRequest r) {
            return portCoverage(r) != COVERS_NO;
        }

        /**
         * How the rule's toPorts cover {@code r}'s port and protocol, whatever its rules.http say: {@link #COVERS_YES},
         * {@link #COVERS_UNKNOWN} (only through a named port the destination may have, its named ports unknown) or
         * {@link #COVERS_NO}. Cilium's mutual-auth check is of this kind: it is kept in the policy-map entry of the
         * peer's identity and the port (pkg/policy/mapstate.go), before any L7 proxy sees the request.
         */
        int portCoverage(AccessRequest r) {
            if (ports == null) {
                return COVERS_YES;
            }
            int port = r.destinationPort();
            int result = COVERS_NO;
            for (Port p : ports) {
                int covers = p.covers(port, r.destination());
                if (covers == COVERS_YES) {
                    return COVERS_YES;
                }
                if (covers == COVERS_UNKNOWN) {
                    result = COVERS_UNKNOWN;
                }
            }
            return result;
        }

        /**
         * Whether one of the rule's toPorts entries with rules.http covers {@code r}'s port (TCP or ANY); a named port on
         * a destination whose named ports are unknown counts, so its L7 rules still restrict (fail closed).
         */
        boolean coversPortWithHttp(AccessRequest r) {
            if (ports == null) {
                return false;
            }
            int port = r.destinationPort();
            for (Port p : ports) {
                if (p.http != null && p.covers(port, r.destination()) != COVERS_NO) {
                    return true;
                }
            }
            return false;
        }

        /**
         * {@link #PORT_MATCH}, {@link #PORT_NEEDS_L7} (matched only through rules.http and {@code r} is L4-only),
         * {@link #PORT_NAME_UNKNOWN} (only a named port the destination may have, its named ports unknown: no allow,
         * an ingressDeny denies) or {@link #PORT_NO_MATCH}.
         */
        int matchesPort(AccessRequest r) {
            return matchesPort(r, false);
        }

        /** {@link #matchesPort(AccessRequest)}, {@code plainPath} true when {@link PathNormalizer#plain} said so of the path. */
        int matchesPort(AccessRequest r, boolean plainPath) {
            if (ports == null) {
                return PORT_MATCH;
            }
            int result = PORT_NO_MATCH;
            int port = r.destinationPort();
            HttpAttributes h = r.http();
            // The path as Cilium's Envoy sees it, normalised once for all the HTTP rules of all ports (it was once per
            // rule: a scan of the path, and a copy when it changes, for each entry of a rules.http list).
            String ciliumPath = null;
            boolean pathRead = false;
            for (Port p : ports) {
                int covers = p.covers(port, r.destination());
                if (covers == COVERS_NO) {
                    continue;
                }
                if (covers == COVERS_UNKNOWN) {
                    if (result == PORT_NO_MATCH) {
                        result = PORT_NAME_UNKNOWN;
                    }
                    continue;
                }
                if (p.http == null) {
                    return PORT_MATCH;
                }
                if (h == null) {
                    result = PORT_NEEDS_L7;
                    continue;
                }
                for (Http rule : p.http) {
                    if (rule.method != null && !rule.method.matches(h.method())) {
                        continue;
                    }
                    if ((rule.path != null || rule.pathHeader) && !pathRead) {
                        ciliumPath = plainPath ? h.path() : PathNormalizer.forCilium(h.path());
                        pathRead = true;
                    }
                    if (rule.matchesBeyondMethod(h, ciliumPath, plainPath)) {
                        return PORT_MATCH;
                    }
                }
            }
            return result;
        }

        /**
         * {@link #endpointsMiss}, or, for a cluster endpoint not of the destination's cluster (its workload's cluster
         * label, or a SPIFFE-only peer's trust domain) that one of the selectors with the implicit local cluster would
         * select but for it ({@link Selector#selectsButForCluster}), a decision naming that selector and the local
         * cluster: what left the source out. Until a review pass of 6 December the local cluster was named for every
         * source of another cluster, also one whose labels no selector matched, and the text said the rule's selectors
         * all select only the destination's cluster where one of them named another cluster. A denial path, built per
         * call.
         */
        Decision endpointsMiss(AccessRequest r) {
            if (endpointsClusterMiss != null && endpointsMiss != null && Peer.isClusterEndpoint(r)
                    && !Selector.sameCluster(r, r.sourceWorkload() != null ? null : clusterTrustDomains)) {
                for (Selector s : fromEndpoints) {
                    if (s.selectsButForCluster(r)) {
                        return new Decision(false, Decision.Outcome.DENIED_DEFAULT, endpointsMiss.policy(), -1, endpointsClusterMiss
                                + ": its selector " + s + " would select the source, but names no io.cilium.k8s.policy.cluster,"
                                + " so it selects only peers of the destination's cluster (Cilium's"
                                + " policy-default-local-cluster), and the source is "
                                + (r.sourceWorkload() != null ? "of cluster " + Selector.clusterOf(r.sourceWorkload())
                                        + ", the destination of cluster "
                                        + (r.destination() == null ? Selector.DEFAULT_CLUSTER : Selector.clusterOf(r.destination()))
                                        + " (their io.cilium.k8s.policy.cluster labels, default without one)"
                                : "known by its SPIFFE ID only, of a trust domain not the mesh's, so not taken to be of it")
                                + "; a Cilium with policy-default-local-cluster false (1.18's default) reads the selector across"
                                + " clusters: CiliumOptions.builder().policyDefaultLocalCluster(false), zerohop"
                                + " --policy-default-local-cluster=false");
                    }
                }
            }
            return endpointsMiss;
        }

        /** This rule with {@link #clusterTrustDomains} {@code bundle}: a shallow copy, every other field shared. */
        Rule withClusterTrustDomains(java.util.List<String> bundle) {
            try {
                Rule copy = (Rule) clone();
                copy.clusterTrustDomains = bundle;
                return copy;
            } catch (CloneNotSupportedException e) {
                throw new AssertionError(e);
            }
        }

        /** Our extension of {@code mode: required}: trust domain and identity list of the peer. */
        boolean spiffeAccepts(String principal) {
            if (authAlwaysFails) {
                return false;
            }
            if (spiffeTrustDomain != null) {
                int end = Peer.tdEnd(principal);
                if (!Peer.regionEquals(principal, Peer.SCHEME, end, spiffeTrustDomain)) {
                    return false;
                }
            }
            return spiffeIdentities == null || StringMatch.any(spiffeIdentities, principal);
        }
    }

    static final class Port {
        final int port;
        final int endPort;
        final int protocol;
        final Http[] http;
        final String text;

        /**
         * A named port ({@code port: http}), lower-cased as Cilium's sanitize does; null for a number. Then {@link #port}
         * is 0 and {@link #endPort} the endPort as written (0 without one).
         */
        final String name;

        Port(int port, int endPort, int protocol, Http[] http, String text, String name) {
            this.port = port;
            this.endPort = endPort;
            this.protocol = protocol;
            this.http = http;
            this.text = text;
            this.name = name;
        }

        /**
         * Whether this entry covers {@code p} on {@code dest} (TCP or ANY only: HBONE carries TCP): {@link #COVERS_YES},
         * {@link #COVERS_NO}, or {@link #COVERS_UNKNOWN} for a named port on a destination whose named ports are not
         * known. A named port resolves against the destination's own TCP container ports, as Cilium resolves an ingress
         * named port against the selected endpoint's pod ({@code Endpoint.GetNamedPort}, ingress: "only needs the ports
         * of the POD itself"; pkg/policy/types {@code NamedPortMap.GetNamedPort}, the protocol must match and ANY was
         * split into TCP, UDP and SCTP by {@code mergeIngress}): a name the pod does not have covers nothing there
         * ({@code toMapState}: "nothing to be done for undefined named port"); with an endPort, the range starts at the
         * resolved port ({@code PortRangeToMaskedPorts}). Allocation-free.
         */
        int covers(int p, WorkloadRef dest) {
            if (protocol == PROTO_OTHER) {
                return COVERS_NO;
            }
            if (name == null) {
                return p >= port && p <= endPort ? COVERS_YES : COVERS_NO;
            }
            java.util.Map<String, Integer> named = dest.namedPorts();
            if (named == null) {
                return COVERS_UNKNOWN;
            }
            Integer resolved = named.get(name);
            return resolved != null && p >= resolved && p <= Math.max(resolved, endPort) ? COVERS_YES : COVERS_NO;
        }
    }

    static final int COVERS_NO = 0;
    static final int COVERS_YES = 1;
    static final int COVERS_UNKNOWN = 2;

    static final class Http {
        final Rx method;
        final Rx path;
        final Rx host;
        final String[] headerNames;
        final String[] headerValues;

        Http(Rx method, Rx path, Rx host, String[] headerNames, String[] headerValues) {
            this.method = method;
            this.path = path;
            this.host = host;
            this.headerNames = headerNames;
            this.headerValues = headerValues;
            this.pathHeader = java.util.Arrays.asList(headerNames).contains(":path");
        }

        /** A header rule on {@code :path}, which reads the path as Cilium's Envoy sees it. */
        final boolean pathHeader;

        /**
         * A header as Cilium's Envoy matches it: getHTTPRule (pkg/envoy/xds_server.go) gives Envoy a HeaderMatcher by
         * the name as written, and Envoy's header map holds the pseudo-headers too ({@code :authority}, which
         * {@code host} is looked up as, {@code :method}, {@code :path} after normalisation). Cilium's own tests match
         * {@code :path}. Until 4 December these never matched (stricter).
         */
        private static String header(HttpAttributes h, String name, String ciliumPath) {
            return switch (name) {
                case ":authority", "host" -> h.host().isEmpty() ? null : h.host();
                case ":method" -> h.method();
                case ":path" -> ciliumPath;
                default -> h.header(name);
            };
        }

        /**
         * Whether the path, host and headers match, the method being matched already (by the caller, before it
         * normalises the path: a rule for another method costs no scan of it).
         *
         * @param ciliumPath {@link PathNormalizer#forCilium} of {@code h}'s path (null when Envoy rejects it: no path
         *     rule matches); read only when this rule has a path or a {@code :path} header rule
         * @param plainPath {@link PathNormalizer#plain} of the path was true: it has no line feed
         */
        boolean matchesBeyondMethod(HttpAttributes h, String ciliumPath, boolean plainPath) {
            if (path != null && !path.matches(ciliumPath, plainPath)) {
                return false;
            }
            if (host != null && !host.matches(h.host())) {
                return false;
            }
            for (int i = 0; i < headerNames.length; i++) {
                String v = header(h, headerNames[i], ciliumPath);
                if (v == null || (headerValues[i] != null && !headerValues[i].equals(v))) {
                    return false;
                }
            }
            return true;
        }
    }
}
