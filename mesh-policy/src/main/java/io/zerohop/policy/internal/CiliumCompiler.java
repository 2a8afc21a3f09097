package io.zerohop.policy.internal;

import io.zerohop.policy.Decision;
import io.zerohop.policy.Decision.Outcome;
import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.PolicyRef;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Compiles {@code cilium.io/v2} CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy rules
 * (ingress side): the spec, each rule's peers (endpoints, entities, CIDRs) and authentication,
 * validated as Cilium's {@code pkg/policy/api} ({@code rule_validation.go}, {@code entity.go},
 * {@code cidr.go}); egress rules are validated and otherwise unused. Port rules and their L7 HTTP
 * rules are {@link CiliumPortRules}' job.
 */
final class CiliumCompiler {

    private static final Set<String> SPEC_KEYS = Set.of("endpointSelector", "nodeSelector", "ingress", "ingressDeny",
            "egress", "egressDeny", "labels", "description", "enableDefaultDeny", "log");
    private static final Set<String> INGRESS_KEYS = Set.of("fromEndpoints", "fromEntities", "fromCIDR", "fromCIDRSet",
            "toPorts", "authentication", "fromRequires", "fromGroups", "fromNodes", "icmps");
    private static final Set<String> UNSUPPORTED_INGRESS = Set.of("fromRequires", "fromGroups", "fromNodes", "icmps");
    /**
     * The entities a CiliumNetworkPolicy can name: the CRD's enum (pkg/policy/api/entity.go {@code
     * +kubebuilder:validation:Enum=all;world;cluster;host;init;ingress;unmanaged;remote-node;health;none;kube-apiserver}),
     * each in EntitySelectorMapping. Over HBONE only all, world, cluster and (a node's plaintext) host and remote-node can
     * match. Cilium has no {@code cluster-mesh} entity: until 6 December zerohop accepted one and admitted every peer with
     * an identity through it, pods of other clusters too, where Cilium refuses the policy. {@code world-ipv4} and
     * {@code world-ipv6} are in EntitySelectorMapping but not in the enum, so the API server refuses them; on a Cilium
     * that does not run dual-stack (its default) no peer carries those labels (pkg/labels AddWorldLabel gives
     * reserved:world), where zerohop admitted every peer of the family until 6 December.
     */
    private static final Set<String> ENTITIES = Set.of("all", "cluster", "world", "host", "remote-node", "kube-apiserver",
            "health", "init", "ingress", "unmanaged", "none");
    private static final String[] L3_INGRESS = {"fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities", "fromNodes",
            "fromGroups"};
    private static final String[] L3_EGRESS = {"toCIDR", "toCIDRSet", "toEndpoints", "toEntities", "toServices", "toFQDNs",
            "toGroups", "toNodes"};
    private static final Set<String> EGRESS_KEYS = Set.of("toEndpoints", "toEntities", "toCIDR", "toCIDRSet", "toPorts",
            "toServices", "toFQDNs", "toGroups", "toNodes", "toRequires", "icmps", "authentication");

    private CiliumCompiler() {
    }

    /**
     * A selector on a pod label Cilium's default label filter keeps out of security identities: Cilium sees it absent
     * on every endpoint, and so does zerohop (an In or Exists on it selects nobody, a NotIn or DoesNotExist everybody).
     */
    private static void warnNonIdentity(PolicyRef ref, String where, Selector s, List<String> warnings) {
        List<String> keys = s.nonIdentityKeys();
        if (!keys.isEmpty()) {
            warnings.add(ref + ": " + where + " tests " + String.join(", ", keys) + ", which Cilium's default label filter keeps "
                    + "out of security identities (pkg/labelsfilter): no endpoint is seen to carry it, here as in Cilium; "
                    + "select on a label the identity keeps (app, app.kubernetes.io/*...)");
        }
    }

    /** As {@link #compile(PolicyRef, String, YNode, List, boolean)} under Cilium 1.19's default policy-default-local-cluster. */
    static CiliumPolicy compile(PolicyRef ref, String namespace, YNode spec, List<String> warnings) throws PolicyLoadException {
        return compile(ref, namespace, spec, warnings, true);
    }

    /**
     * @param namespace    null for clusterwide policies
     * @param localCluster Cilium's {@code policy-default-local-cluster}: whether fromEndpoints selectors naming no cluster
     *                     get the local one ({@link Selector#compilePeer(YNode, String, boolean)})
     */
    static CiliumPolicy compile(PolicyRef ref, String namespace, YNode spec, List<String> warnings, boolean localCluster)
            throws PolicyLoadException {
        spec.onlyKeys(SPEC_KEYS);
        if (spec.get("nodeSelector") != null && !spec.get("nodeSelector").isNull()) {
            // The loader skips host rules (Loader.hostRule) before they get here.
            throw spec.get("nodeSelector").error("host policies (nodeSelector) are not supported");
        }
        YNode endpointSelector = spec.get("endpointSelector");
        if (endpointSelector == null) {
            throw spec.error("endpointSelector is required");
        }
        // A namespaced policy only ever selects endpoints of its own namespace.
        Selector selector = Selector.compile(endpointSelector, namespace);
        warnNonIdentity(ref, "endpointSelector", selector, warnings);
        if (selector.all && namespace != null) {
            // Cilium's EndpointSelector.Matches answers true for a reserved:all key before the namespace ParseToCiliumRule
            // adds is tested: such a CiliumNetworkPolicy selects every endpoint of the cluster. zerohop looks a
            // namespaced policy up in its namespace only, so it refuses the policy rather than enforce it on less.
            throw endpointSelector.error("endpointSelector with reserved:all selects every endpoint of the cluster in Cilium, "
                    + "even in a CiliumNetworkPolicy; write it as a CiliumClusterwideNetworkPolicy");
        }
        if (noRules(spec.get("ingress")) && noRules(spec.get("ingressDeny")) && noRules(spec.get("egress"))
                && noRules(spec.get("egressDeny"))) {
            // Cilium's Rule.Validate (pkg/policy/api/rule_validation.go) tests len(), so an empty list is none: Cilium
            // marks such a policy Valid=False and enforces nothing of it. `ingress: []` is a common try at a default
            // deny, which until 5 December loaded here without a word (a review pass).
            throw spec.error("rule must have at least one of Ingress, IngressDeny, Egress, EgressDeny (an empty list is none:"
                    + " Cilium marks such a policy Valid=False; a default deny is ingress: [{}])");
        }
        YNode log = spec.get("log");
        if (log != null) {
            log.onlyKeys(Set.of("value"));
            log.string("value", "");
        }
        if (spec.has("egress") || spec.has("egressDeny")) {
            // Validated as Cilium does (a malformed egress is an error), then not enforced.
            for (String key : new String[] {"egress", "egressDeny"}) {
                if (spec.get(key) != null) {
                    for (YNode e : spec.get(key).items()) {
                        egress(notNull(e), namespace, key.equals("egressDeny"));
                    }
                }
            }
            // An ignored egress allow widens nothing, an ignored egressDeny does: say so, so nobody takes it as enforced.
            warnings.add(ref + ": egress rules ignored (zerohop enforces ingress only)" + (spec.has("egressDeny")
                    ? "; its egressDeny is NOT enforced by zerohop: the traffic it denies is denied only where Cilium or"
                    + " another egress enforcer applies this policy" : ""));
        }
        List<YNode> ingressItems = spec.get("ingress") == null ? List.of() : spec.get("ingress").items();
        List<YNode> denyItems = spec.get("ingressDeny") == null ? List.of() : spec.get("ingressDeny").items();
        boolean defaultDeny = !ingressItems.isEmpty() || !denyItems.isEmpty();
        YNode dd = spec.get("enableDefaultDeny");
        if (dd != null) {
            dd.onlyKeys(Set.of("ingress", "egress"));
            YNode in = dd.get("ingress");
            if (in != null) {
                defaultDeny &= in.bool();
            }
            if (dd.get("egress") != null) {
                dd.get("egress").bool(); // validated only: egress is not enforced
            }
        }
        PolicyRef allowRef = new PolicyRef(ref.kind(), ref.namespace(), ref.name(), "ingress");
        PolicyRef denyRef = new PolicyRef(ref.kind(), ref.namespace(), ref.name(), "ingressDeny");
        CiliumPolicy.Rule[] ingress = new CiliumPolicy.Rule[ingressItems.size()];
        for (int i = 0; i < ingress.length; i++) {
            ingress[i] = rule(i, notNull(ingressItems.get(i)), namespace, allowRef, false, warnings, localCluster);
        }
        CiliumPolicy.Rule[] deny = new CiliumPolicy.Rule[denyItems.size()];
        for (int i = 0; i < deny.length; i++) {
            deny[i] = rule(i, notNull(denyItems.get(i)), namespace, denyRef, true, warnings, localCluster);
        }
        String noRule = "endpoint selected by " + selector + " for ingress and no ingress rule allowed";
        Decision defaultDecision = new Decision(false, Outcome.DENIED_DEFAULT, allowRef, -1, noRule);
        // Cilium's fromEndpoints match the peer's labels, which only its workload carries: without one
        // the default deny must say so, or a caller the policy means to allow looks wrongly denied.
        Decision noWorkload = null;
        Decision noLabels = null;
        if (fromEndpointsUsePodLabels(ingress)) {
            noWorkload = new Decision(false, Outcome.DENIED_DEFAULT, allowRef, -1, noRule
                    + "; the source has no known workload, so fromEndpoints selectors on pod labels cannot match it");
            noLabels = new Decision(false, Outcome.DENIED_DEFAULT, allowRef, -1, noRule
                    + "; the source workload has no labels, so fromEndpoints selectors on pod labels cannot match it");
        }
        for (CiliumPolicy.Rule rule : ingress) {
            explainPeerMiss(rule, noRule, allowRef);
            for (CiliumPolicy.Port p : rule.ports == null ? new CiliumPolicy.Port[0] : rule.ports) {
                if (p.name != null) {
                    rule.namedPortUnknownMiss = new Decision(false, Outcome.DENIED_DEFAULT, allowRef, -1, noRule + "; ingress rule "
                            + rule.index + " (" + rule.portsText + ") selects the source, but the destination's named ports are not"
                            + " known (its workload lists no container ports), so a named port reaches no port (fail closed)");
                    break;
                }
            }
            for (Selector sel : rule.fromEndpoints) {
                if (sel.localCluster) {
                    // Selector#localCluster: a term the selector's text does not show, named when it is what left the source out.
                    rule.endpointsClusterMiss = noRule + "; ingress rule " + rule.index + " for this port selects " + rule.endpointsText;
                    break;
                }
            }
            if (rule.podLabels) {
                // As Istio's explanation names the field that did not match: the rule and its selectors, for a source
                // workload with labels (one without a workload or labels has its own wording above).
                rule.endpointsMiss = new Decision(false, Outcome.DENIED_DEFAULT, allowRef, -1, noRule + "; ingress rule "
                        + rule.index + " for this port selects " + rule.endpointsText + ", which does not select the source"
                        + " workload (its namespace, service account or labels differ)");
            } else if (rule.fromEndpoints.length > 0 && rule.endpointsText != null && !rule.entityAll) {
                // Selectors on no pod label (another namespace's pods, a service account, a reserved label): these match a
                // source without a workload too (by its SPIFFE identity), so the source is named, not its workload.
                rule.endpointsMiss = new Decision(false, Outcome.DENIED_DEFAULT, allowRef, -1, noRule + "; ingress rule "
                        + rule.index + " for this port selects " + rule.endpointsText + ", which does not select the source");
            }
        }
        Decision noPort = new Decision(false, Outcome.DENIED_DEFAULT, allowRef, -1, noRule + "; no ingress rule's toPorts covers this port");
        if (!defaultDeny) {
            for (CiliumPolicy.Rule rule : ingress) {
                rule.l7Open = withHttpWildcard(rule);
            }
        }
        CiliumPolicy compiled = new CiliumPolicy(ref, namespace, selector, defaultDeny, ingress, deny, defaultDecision, noWorkload,
                noLabels, noPort);
        compiled.openAllowed = Decision.allowNoPolicy(ref.kind().displayName() + " " + ref.qualifiedName() + " selects the"
                + " destination, but no selecting Cilium policy turns on ingress default deny (" + (ingress.length + deny.length == 0
                ? "this one has no ingress or ingressDeny rule" : "enableDefaultDeny.ingress false") + ") and no rule denies this request");
        return compiled;
    }

    private static boolean fromEndpointsUsePodLabels(CiliumPolicy.Rule[] ingress) {
        for (CiliumPolicy.Rule rule : ingress) {
            for (Selector s : rule.fromEndpoints) {
                rule.podLabels |= s.usesPodLabels();
            }
        }
        for (CiliumPolicy.Rule rule : ingress) {
            if (rule.podLabels) {
                return true;
            }
        }
        return false;
    }

    /**
     * {@link CiliumPolicy.Rule#peerMiss}: why a rule on CIDRs or entities (one L3 kind per rule, {@code l3Combination})
     * did not select the peer, as {@link CiliumPolicy.Rule#matchesPeer} decides: CIDRs and world entities select peers
     * outside the cluster only, and every peer with a SPIFFE identity or a registry workload is a cluster endpoint
     * ({@link Peer#isClusterEndpoint}), as Cilium gives a pod's address its endpoint's identity, not a CIDR's.
     */
    private static void explainPeerMiss(CiliumPolicy.Rule rule, String noRule, PolicyRef ref) {
        boolean http = false;
        for (CiliumPolicy.Port p : rule.ports == null ? new CiliumPolicy.Port[0] : rule.ports) {
            http |= p.http != null;
        }
        if (http) {
            rule.httpMiss = new Decision(false, Outcome.DENIED_DEFAULT, ref, -1, noRule + "; ingress rule " + rule.index
                    + " (" + rule.portsText + ") selects the source on this port, but the request matches none of its"
                    + " rules.http");
        }
        boolean world = rule.entityWorld;
        if (rule.peerText == null || rule.fromEndpoints.length > 0 || rule.entityAll) {
            return;
        }
        String head = noRule + "; ingress rule " + rule.index + " for this port selects " + rule.peerText + ", which ";
        String clusterEndpoint = "the source is a cluster endpoint (it has a SPIFFE identity or a registry workload)";
        String endpointText;
        String otherText;
        if (rule.cidrs.length > 0) {
            endpointText = "matches peers outside the cluster only (Cilium gives a pod's address its endpoint's identity, not"
                    + " a CIDR's), and " + clusterEndpoint;
            otherText = "does not contain the source address (or excepts it)";
        } else if (rule.entityCluster) {
            // An endpoint misses cluster only by its workload's cluster label (or a SPIFFE-only peer's trust domain).
            endpointText = "matches endpoints of the destination's own cluster only (io.cilium.k8s.policy.cluster), and the"
                    + " source workload is of another cluster (or, its workload unknown, its SPIFFE identity is of a trust domain"
                    + " not the mesh's)";
            otherText = "matches cluster endpoints only, and the source has neither a SPIFFE identity nor a registry workload";
        } else if (world && !onlyWorld(rule.entityNames)) {
            // fromEntities [world, host]: "outside the cluster only" was wrong for host, the node itself.
            endpointText = "matches " + entitiesMatch(rule.entityNames, false) + " only, and " + clusterEndpoint;
            otherText = "does not match the source's address family";
        } else if (world) {
            endpointText = "matches peers outside the cluster only, and " + clusterEndpoint;
            otherText = "does not match the source's address family";
        } else {
            endpointText = "selects no peer zerohop sees as it (a node's address only when the registry knows the node,"
                    + " another reserved identity never; none a workload)";
            otherText = endpointText;
        }
        String shortHead = "rule " + rule.index + " " + rule.peerText + ": ";
        String outside = "outside the cluster only, and the source is a cluster endpoint";
        boolean cluster = rule.entityCluster;
        String shortOther = rule.cidrs.length > 0 ? "not the source address" : cluster
                ? "cluster endpoints only, and the source is none" : world ? "not the source's address family" : "no workload";
        String shortEndpoint = world && !cluster && rule.cidrs.length == 0 && !onlyWorld(rule.entityNames)
                ? entitiesMatch(rule.entityNames, true) + " only, and the source is a cluster endpoint"
                : rule.cidrs.length > 0 || world ? outside : cluster
                ? "the destination's cluster only, and the source is of another" : shortOther;
        rule.peerMissShort = new String[] {shortHead + shortEndpoint, shortHead + shortOther};
        rule.peerMiss = new Decision[] {
            new Decision(false, Outcome.DENIED_DEFAULT, ref, -1, head + (endpointText == null ? otherText : endpointText)),
            new Decision(false, Outcome.DENIED_DEFAULT, ref, -1, head + otherText)};
    }

    /** Whether {@code entities} (null: none) are world entities only. */
    private static boolean onlyWorld(List<String> entities) {
        return entities == null || entities.stream().allMatch(e -> e.startsWith("world"));
    }

    /**
     * What each of {@code entities} matches as {@link CiliumPolicy.Rule#matchesPeer} decides, joined ("peers outside the
     * cluster (world) or the local node (host: its address, when the registry knows the node)"); {@code brief}: without the
     * entity names and conditions. Cilium: pkg/policy/api/entity.go EntitySelectorMapping.
     */
    private static String entitiesMatch(List<String> entities, boolean brief) {
        List<String> said = new ArrayList<>();
        for (String e : entities) {
            String d = switch (e) {
                case "world" -> brief ? "outside the cluster" : "peers outside the cluster (world)";
                case "host" -> brief ? "the local node" : "the local node (host: its address, when the registry knows the node)";
                case "remote-node" -> brief ? "other nodes" : "other nodes (remote-node: their addresses, when the registry knows"
                        + " the nodes)";
                default -> brief ? null : "no peer zerohop sees (" + e + ")";
            };
            if (d != null && !said.contains(d)) {
                said.add(d);
            }
        }
        return said.size() <= 1 ? String.join("", said)
                : String.join(", ", said.subList(0, said.size() - 1)) + " or " + said.get(said.size() - 1);
    }

    private static CiliumPolicy.Rule rule(int index, YNode n, String namespace, PolicyRef ref, boolean deny, List<String> warnings,
                                          boolean localCluster)
            throws PolicyLoadException {
        CiliumPolicy.Rule rule = new CiliumPolicy.Rule(index);
        List<String> parts = new ArrayList<>();
        if (!n.isNull()) {
            n.onlyKeys(INGRESS_KEYS);
            l3Combination(n, L3_INGRESS);
            for (String key : UNSUPPORTED_INGRESS) {
                if (n.has(key)) {
                    throw n.get(key).error(key + " is not supported by zerohop");
                }
            }
            YNode from = n.get("fromEndpoints");
            if (from != null) {
                List<YNode> items = from.items();
                rule.fromEndpoints = new Selector[items.size()];
                for (int i = 0; i < items.size(); i++) {
                    // In a namespaced policy, a peer selector without a namespace label means "this namespace".
                    rule.fromEndpoints[i] = Selector.compilePeer(notNull(items.get(i)), namespace, localCluster);
                    warnNonIdentity(ref, items.get(i).path, rule.fromEndpoints[i], warnings);
                }
                List<String> texts = new ArrayList<>();
                for (Selector s : rule.fromEndpoints) {
                    texts.add(s.toString());
                }
                if (!deny) {
                    rule.fromEndpoints = singleStackWorld(rule.fromEndpoints, items, ref, warnings);
                }
                // At most IstioValues.SHOWN selectors written: the text goes into every access line this rule decides.
                String shown = texts.size() <= IstioValues.SHOWN ? String.join(" | ", texts)
                        : String.join(" | ", texts.subList(0, IstioValues.SHOWN)) + " | ... " + (texts.size() - IstioValues.SHOWN) + " more";
                if (!deny) {
                    // Selector#localCluster: a SPIFFE-only peer is of the local cluster when of the mesh's trust domains.
                    rule.clusterTrustDomains = TrustDomains.DEFAULT;
                }
                parts.add("fromEndpoints " + shown);
                rule.endpointsText = "fromEndpoints " + shown;
                rule.hasL3 = true;
            }
            YNode entities = n.get("fromEntities");
            if (entities != null) {
                List<String> names = new ArrayList<>();
                for (YNode e : entities.items()) {
                    String v = entity(e);
                    rule.entityAll |= v.equals("all");
                    // cluster: the destination's own cluster (pkg/policy/api/entity.go InitEntities:
                    // io.cilium.k8s.policy.cluster=<cluster name>).
                    rule.entityCluster |= v.equals("cluster");
                    if (!deny && v.equals("cluster")) {
                        rule.clusterTrustDomains = TrustDomains.DEFAULT;
                    }
                    rule.entityWorld |= v.equals("world");
                    rule.entityHost |= v.equals("host");
                    rule.entityRemoteNode |= v.equals("remote-node");
                    names.add(v);
                }
                parts.add("fromEntities " + names);
                rule.peerText = "fromEntities " + names;
                rule.entityNames = List.copyOf(names);
                rule.hasL3 = true;
            }
            List<Cidr> cidrs = new ArrayList<>();
            List<Cidr[]> excepts = new ArrayList<>();
            YNode cidrList = n.get("fromCIDR");
            if (cidrList != null) {
                for (YNode c : cidrList.items()) {
                    cidrs.add(cidr(c));
                    excepts.add(new Cidr[0]);
                }
                rule.hasL3 = true;
            }
            YNode cidrSet = n.get("fromCIDRSet");
            if (cidrSet != null) {
                for (YNode c : cidrSet.items()) {
                    Cidr[] pair = cidrRule(c);
                    cidrs.add(pair[0]);
                    excepts.add(java.util.Arrays.copyOfRange(pair, 1, pair.length));
                }
                rule.hasL3 = true;
            }
            for (YNode list : new YNode[] {cidrList, cidrSet}) {
                // As in an AuthorizationPolicy's ipBlocks (IstioRules): an IPv4-mapped prefix is IPv6 to Cilium's netip
                // and no peer is one, so it selects nobody; warned, not changed.
                for (int i = 0; list != null && i < list.items().size(); i++) {
                    YNode item = list.items().get(i);
                    YNode text = item.get("cidr") != null ? item.get("cidr") : item;
                    Cidr c = list == cidrList ? cidrs.get(i) : cidrs.get((cidrList == null ? 0 : cidrList.items().size()) + i);
                    if (c.ipv4Mapped()) {
                        warnings.add(text.file + ":" + text.line + ": " + ref + ": " + text.path + " \"" + text.string()
                                + "\" never matches: an IPv4-mapped IPv6 address is an IPv6 prefix, as Go's"
                                + " netip reads it, and no peer is one (an IPv4 peer is IPv4); write " + prefixForm(c.ipv4Form()));
                    }
                }
            }
            if (!cidrs.isEmpty()) {
                String shown = IstioValues.list(cidrs);
                if (deny && cidrSet != null) {
                    allFamilies(cidrSet, cidrs, excepts, ref, warnings);
                }
                rule.cidrs = cidrs.toArray(new Cidr[0]);
                rule.cidrExcept = excepts.toArray(new Cidr[0][]);
                parts.add("fromCIDR " + shown);
                rule.peerText = (cidrList != null ? "fromCIDR " : "fromCIDRSet ") + shown;
            }
            YNode toPorts = n.get("toPorts");
            // An empty toPorts list is no toPorts: Cilium's mergeIngress takes the rule as L3-only (toPorts.Len() == 0),
            // every port of its peers. Until 1 December it matched no port here, so an ingressDeny with toPorts: []
            // denied nobody.
            if (toPorts != null && !toPorts.items().isEmpty()) {
                rule.ports = CiliumPortRules.ports(toPorts, deny, parts);
                rule.portsText = parts.get(parts.size() - 1);
            }
            YNode auth = n.get("authentication");
            if (auth != null) {
                if (deny) {
                    throw auth.error("authentication is not allowed in ingressDeny");
                }
                authentication(rule, auth, parts);
                YNode spiffe = auth.get("spiffe");
                if (spiffe != null) {
                    // The extension changes what the rule admits, so a file that also goes to a real cluster must
                    // not look portable: there the identity pin silently disappears (newuser23).
                    warnings.add(spiffe.file + ":" + spiffe.line + ": " + ref + ": " + spiffe.path + " is a zerohop extension, "
                            + "not in Cilium's CiliumNetworkPolicy schema: kubectl apply to a Cilium cluster refuses the unknown field, "
                            + "and with validation off the API server drops it, leaving authentication.mode: required without this identity check");
                }
            }
        }
        String what = parts.isEmpty() ? "empty rule selects no peer" : String.join(", ", parts) + " matched";
        Outcome outcome = deny ? Outcome.DENIED_BY_RULE : Outcome.ALLOWED_BY_RULE;
        rule.matched = new Decision(!deny, outcome, ref, index, what);
        rule.authMissing = new Decision(false, Outcome.DENIED_AUTHENTICATION, ref, index, rule.authAlwaysFails
                ? "authentication.mode test-always-fail: authentication never succeeds (and the peer has no verified SPIFFE identity)"
                : "authentication.mode required and the peer has no verified SPIFFE identity");
        rule.spiffeRejected = rule.authAlwaysFails ? new Decision(false, Outcome.DENIED_AUTHENTICATION, ref, index,
                "authentication.mode test-always-fail: authentication never succeeds") : new Decision(false, Outcome.DENIED_AUTHENTICATION, ref, index,
                "peer SPIFFE identity not accepted by authentication.spiffe"
                        + (rule.spiffeTrustDomain == null ? "" : " (trustDomain " + rule.spiffeTrustDomain + ")"));
        if (rule.authRequired && rule.ports != null) {
            for (CiliumPolicy.Port p : rule.ports) {
                if (p.name != null) {
                    String unknown = "; rule " + index + " (" + rule.portsText + ") may cover this port: the destination's named"
                            + " ports are not known (its workload lists no container ports), so a named port is taken to be any port"
                            + " (fail closed)";
                    rule.authMissingNamedPort = new Decision(false, Outcome.DENIED_AUTHENTICATION, ref, index,
                            rule.authMissing.reason() + unknown);
                    rule.spiffeRejectedNamedPort = new Decision(false, Outcome.DENIED_AUTHENTICATION, ref, index,
                            rule.spiffeRejected.reason() + unknown);
                    break;
                }
            }
        }
        rule.needsL7 = new Decision(false, Outcome.DENIED_DEFAULT, ref, index,
                "port allowed only through rules.http and no HTTP attributes were given: L4-only check fails closed");
        if (deny && rule.ports != null) {
            for (CiliumPolicy.Port p : rule.ports) {
                if (p.name != null) {
                    rule.namedPortUnknownDenied = new Decision(false, outcome, ref, index, "ingressDeny rule " + index + " ("
                            + rule.portsText + ") may cover this port: the destination's named ports are not known (its workload"
                            + " lists no container ports), so a named port is taken to be any port (fail closed)");
                    break;
                }
            }
        }
        // An ingressDeny, or a test-always-fail rule (which denies every peer it selects), that may select a peer whose
        // labels are unknown denies it: Cilium knows every peer's labels, zerohop fails closed.
        if (deny || rule.authAlwaysFails) {
            Outcome unknownOutcome = deny ? outcome : Outcome.DENIED_AUTHENTICATION;
            String mode = deny ? "" : "authentication.mode test-always-fail: authentication never succeeds; ";
            for (Selector s : rule.fromEndpoints) {
                if (s.usesPodLabels() || s.usesIdentityLabels()) {
                    String head = mode + what.substring(0, what.length() - " matched".length());
                    rule.unknownPeerDenied = new Decision(false, unknownOutcome, ref, index, head
                            + " may select the source: it has no known workload, so its pod labels are unknown (fail closed)");
                    rule.irregularPeerDenied = new Decision(false, unknownOutcome, ref, index, head
                            + " may select the source: its SPIFFE ID is not spiffe://TD/ns/NS/sa/SA and it has no known workload,"
                            + " so its namespace and service account are unknown (fail closed)");
                    break;
                }
            }
        }
        // An ingressDeny on kube-apiserver and a node's address: Cilium gives a node that runs kube-apiserver an identity with
        // both reserved:remote-node (or reserved:host) and reserved:kube-apiserver (cilium/cilium#17714, identity 7), so the
        // deny drops the API server's calls from it. zerohop does not know which nodes run it: every node is denied (fail
        // closed). Until 5 December no node was, so the deny let the API server through (helper 260).
        boolean apiServer = rule.entityNames != null && rule.entityNames.contains("kube-apiserver");
        for (Selector s : rule.fromEndpoints) {
            // The same identity written as a selector (reserved:kube-apiserver, or $kube-apiserver): until 6 December it
            // was not widened so, and the deny let the API server through (helper 269).
            apiServer |= s.isKubeApiServerIdentity();
        }
        if (deny && apiServer) {
            rule.kubeApiServerNodeDenied = new Decision(false, outcome, ref, index, what.substring(0, what.length()
                    - " matched".length()) + " may select the source: its address is a node's, and Cilium labels a node that runs"
                    + " kube-apiserver reserved:kube-apiserver too; zerohop does not know which nodes do (fail closed)");
        }
        // An ingressDeny on world, CIDRs or a selector world matches ("every other namespace": NotIn on the namespace) and a
        // peer known by its SPIFFE ID only: Cilium identifies a peer by its address,
        // and an address that is no pod it knows is world (or its CIDR identity), SVID or not; zerohop does not know
        // which pods' addresses Cilium knows, so such a peer at a selected address is denied (fail closed).
        if (deny && (rule.entityWorld || rule.cidrs.length > 0
                || rule.fromEndpoints.length > 0)) {
            rule.worldPeerDenied = new Decision(false, outcome, ref, index, what.substring(0, what.length() - " matched".length())
                    + " may select the source: its SPIFFE ID names no workload this proxy knows, and Cilium, which identifies a"
                    + " peer by its address, sees such an address as world (fail closed)");
        }
        return rule;
    }

    /**
     * An ingressDeny's {@code fromCIDRSet} entry whose cidr is written {@code 0.0.0.0/0} or {@code ::/0}: Cilium's
     * {@code CIDRRuleSlice.GetAsEndpointSelectors} (pkg/policy/api/cidr.go) gives it the label {@code reserved:world-ipv4}
     * or {@code reserved:world-ipv6} only when the agent runs dual-stack, and {@code reserved:world} otherwise, which every
     * peer outside the cluster carries, of either address family; its excepts are of the written family, which a peer of
     * the other one never falls in. So on a single-stack IPv4 Cilium, {@code {cidr: '::/0', except: [...]}} denies every
     * IPv4 peer outside the cluster (a template written for both families denies more than it reads). zerohop does not
     * know whether Cilium runs dual-stack, so such a deny entry also covers the other family's addresses (fail closed;
     * stricter than a dual-stack Cilium), with a load warning. {@code fromCIDR} does not do this ({@code CIDRSlice} adds
     * the world selector only for an enabled family), nor does an allow (its narrower reading is never wider). Until 6
     * December such a deny let the other family's peers through. Appends to {@code cidrs} and {@code excepts}.
     */
    private static void allFamilies(YNode cidrSet, List<Cidr> cidrs, List<Cidr[]> excepts, PolicyRef ref, List<String> warnings)
            throws PolicyLoadException {
        for (YNode c : cidrSet.items()) {
            YNode text = c.get("cidr");
            String v = text == null ? "" : text.string();
            String other = v.equals("0.0.0.0/0") ? "::/0" : v.equals("::/0") ? "0.0.0.0/0" : null;
            if (other == null) {
                continue;
            }
            Cidr[] pair = cidrRule(c);
            cidrs.add(Cidr.parse(other));
            excepts.add(java.util.Arrays.copyOfRange(pair, 1, pair.length));
            warnings.add(text.file + ":" + text.line + ": " + ref + ": " + text.path + " \"" + v + "\" in an ingressDeny"
                    + " fromCIDRSet is reserved:world to a Cilium that does not run dual-stack (pkg/policy/api/cidr.go), every"
                    + " peer outside the cluster, " + (other.equals("::/0") ? "IPv6" : "IPv4") + " ones too; zerohop does not know"
                    + " how Cilium runs and denies those too (fail closed)");
        }
    }

    /**
     * An allow rule's fromEndpoints without the selectors that require {@code reserved:world-ipv4} or
     * {@code reserved:world-ipv6} ({@link Selector#worldFamilyRequired}), each warned: a Cilium that does not run dual-stack
     * (its default) gives every peer outside the cluster {@code reserved:world} only (pkg/labels AddWorldLabel), so they
     * select nobody there; until 6 December they admitted every outside peer of the family here. An ingressDeny keeps them
     * (a dual-stack Cilium denies that family: fail closed). The rule's text still names every selector.
     */
    private static Selector[] singleStackWorld(Selector[] selectors, List<YNode> items, PolicyRef ref, List<String> warnings) {
        List<Selector> kept = new ArrayList<>();
        for (int i = 0; i < selectors.length; i++) {
            String label = selectors[i].worldFamilyRequired();
            if (label == null) {
                kept.add(selectors[i]);
                continue;
            }
            YNode item = items.get(i);
            warnings.add(item.file + ":" + item.line + ": " + ref + ": " + item.path + " requires " + label + ", which a Cilium"
                    + " that does not run dual-stack (its default) gives no peer, every one outside the cluster being"
                    + " reserved:world (pkg/labels AddWorldLabel): it admits nobody here; write fromEntities [world], or a"
                    + " fromCIDR of the family (0.0.0.0/0, ::/0)");
        }
        return kept.size() == selectors.length ? selectors : kept.toArray(new Selector[0]);
    }

    /** pkg/policy/api rule_validation.go: one kind of peer selector per rule. */
    private static void l3Combination(YNode n, String[] members) throws PolicyLoadException {
        for (String m1 : members) {
            for (String m2 : members) {
                if (!m1.equals(m2) && n.get(m1) != null && !n.get(m1).items().isEmpty() && n.get(m2) != null
                        && !n.get(m2).items().isEmpty()) {
                    throw n.get(m2).error("Combining " + m1 + " and " + m2 + " is not supported yet");
                }
            }
        }
    }

    private static String entity(YNode e) throws PolicyLoadException {
        String v = e.string();
        if (!ENTITIES.contains(v)) {
            // rule_validation.go: "unsupported entity" for a name EntitySelectorMapping lacks (the CRD's enum refuses it first).
            throw e.error("unsupported entity: " + v + (v.equals("cluster-mesh") ? " (Cilium has no such entity: cluster is the"
                    + " local cluster; to admit pods of every cluster of a ClusterMesh, select them with fromEndpoints and"
                    + " {key: io.cilium.k8s.policy.cluster, operator: Exists})" : v.equals("world-ipv4") || v.equals("world-ipv6")
                    ? " (not in the CiliumNetworkPolicy CRD's enum: the API server refuses it; on a Cilium that does not run"
                    + " dual-stack, its default, no peer carries reserved:" + v + ", every one outside the cluster reserved:world:"
                    + " write world, or a fromCIDRSet of the family)" : ""));
        }
        return v;
    }

    private static final Set<String> ICMP4_NAMES = Set.of("EchoReply", "DestinationUnreachable", "Redirect", "Echo",
            "EchoRequest", "RouterAdvertisement", "RouterSelection", "TimeExceeded", "ParameterProblem", "Timestamp",
            "TimestampReply", "Photuris", "ExtendedEchoRequest", "ExtendedEchoReply");
    private static final Set<String> ICMP6_NAMES = Set.of("DestinationUnreachable", "PacketTooBig", "TimeExceeded",
            "ParameterProblem", "EchoRequest", "EchoReply", "MulticastListenerQuery", "MulticastListenerReport",
            "MulticastListenerDone", "RouterSolicitation", "RouterAdvertisement", "NeighborSolicitation", "NeighborAdvertisement",
            "RedirectMessage", "RouterRenumbering", "ICMPNodeInformationQuery", "ICMPNodeInformationResponse",
            "InverseNeighborDiscoverySolicitation", "InverseNeighborDiscoveryAdvertisement", "HomeAgentAddressDiscoveryRequest",
            "HomeAgentAddressDiscoveryReply", "MobilePrefixSolicitation", "MobilePrefixAdvertisement",
            "DuplicateAddressRequestCodeSuffix", "DuplicateAddressConfirmationCodeSuffix", "ExtendedEchoRequest", "ExtendedEchoReply");

    /** Go's intstr IntValue of a string: strconv.Atoi, 0 when it fails. */
    private static int atoi(String s) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** {@code 10.0.0.1} as fromCIDR needs it written ({@code 10.0.0.1/32}); a prefix as it is. */
    private static String prefixForm(String ipv4) {
        return ipv4.contains("/") ? ipv4 : ipv4 + "/32";
    }

    /**
     * api.CIDR (fromCIDR, toCIDR): a prefix (Go netip, no leading zeros). Cilium's own CIDR.sanitize also takes a bare
     * address, but the CRD declares the field {@code format: cidr} (pkg/policy/api cidr.go, {@code
     * +kubebuilder:validation:Format=cidr}; before it, the pattern cidr_test.go TestCIDRRegex checks), which the API
     * server validates with Go's net.ParseCIDR: {@code kubectl apply} refuses {@code 10.0.0.1}, so no Cilium enforces it.
     */
    private static Cidr cidr(YNode c) throws PolicyLoadException {
        String v = c.string();
        if (v.isEmpty()) {
            throw c.error("IP must be specified");
        }
        Cidr parsed = Cidr.parse(v);
        if (parsed == null) {
            throw c.error("unable to parse CIDR \"" + v + "\"");
        }
        if (!v.contains("/")) {
            throw c.error("\"" + v + "\" has no prefix length: the CRD's format: cidr (Go's net.ParseCIDR, which the API server"
                    + " applies) refuses an address; write " + v + "/" + parsed.bits());
        }
        return parsed;
    }

    /** api.CIDRRule: cidr in prefix notation, each except a prefix inside it. [0] = cidr, rest = excepts. */
    private static Cidr[] cidrRule(YNode c) throws PolicyLoadException {
        c.onlyKeys(Set.of("cidr", "except", "cidrGroupRef", "cidrGroupSelector"));
        for (String key : new String[] {"cidrGroupRef", "cidrGroupSelector"}) {
            // Even next to a cidr (which the API server's OneOf refuses): ignoring the group would make an
            // ingressDeny deny less.
            if (c.has(key)) {
                throw c.get(key).error(key + " is not supported by zerohop (CiliumCIDRGroup objects are not loaded; list the CIDRs)");
            }
        }
        if (c.get("cidr") == null) {
            throw c.error("only cidr (with except) is supported in CIDR sets by zerohop (cidrGroupRef needs the API server)");
        }
        YNode cn = c.get("cidr");
        String v = cn.string();
        Cidr cidr = v.contains("/") ? Cidr.parse(v) : null;
        if (cidr == null) {
            throw cn.error("Unable to parse CIDRRule \"" + v + "\" (address/prefix)");
        }
        List<Cidr> out = new ArrayList<>();
        out.add(cidr);
        YNode except = c.get("except");
        if (except != null) {
            for (YNode x : except.items()) {
                String xs = x.string();
                Cidr e = xs.contains("/") ? Cidr.parse(xs) : null;
                if (e == null) {
                    throw x.error("Unable to parse except \"" + xs + "\" (address/prefix)");
                }
                // Go: prefix.Contains(except.Addr()), the address as written (not masked), and (CIDRRule.Validate since the
                // Validate/Sanitize split) prefix.Bits() > except.Bits() refused: an except wider than its CIDR.
                Cidr addr = Cidr.parse(xs.substring(0, xs.indexOf('/')));
                if (addr == null || !cidr.containsPrefixStart(addr) || cidr.bits() > e.bits()) {
                    throw x.error("allow CIDR prefix " + v + " does not contain exclude CIDR prefix " + xs);
                }
                out.add(e);
            }
        }
        return out.toArray(new Cidr[0]);
    }

    /** An egress rule, validated as pkg/policy/api does and otherwise unused (zerohop enforces ingress). */
    private static void egress(YNode n, String namespace, boolean deny) throws PolicyLoadException {
        if (n.isNull()) {
            return;
        }
        n.onlyKeys(EGRESS_KEYS);
        l3Combination(n, L3_EGRESS);
        if (n.get("toServices") != null && !n.get("toServices").items().isEmpty() && n.get("toPorts") != null
                && !n.get("toPorts").items().isEmpty()) {
            throw n.get("toServices").error("Combining toServices and ToPorts is not supported yet");
        }
        for (String key : new String[] {"toEndpoints", "toRequires"}) {
            if (n.get(key) != null) {
                for (YNode s : n.get(key).items()) {
                    Selector.compilePeer(notNull(s), namespace);
                }
            }
        }
        if (n.get("toEntities") != null) {
            for (YNode e : n.get("toEntities").items()) {
                entity(e);
            }
        }
        if (n.get("toCIDR") != null) {
            for (YNode c : n.get("toCIDR").items()) {
                cidr(c);
            }
        }
        if (n.get("toCIDRSet") != null) {
            for (YNode c : n.get("toCIDRSet").items()) {
                cidrRule(c);
            }
        }
        if (n.get("toFQDNs") != null) {
            for (YNode f : n.get("toFQDNs").items()) {
                f.onlyKeys(Set.of("matchName", "matchPattern"));
                if (f.string("matchName", "").isEmpty() && f.string("matchPattern", "").isEmpty()) {
                    throw f.error("one of matchName or matchPattern is required");
                }
            }
        }
        if (n.get("icmps") != null && !n.get("icmps").items().isEmpty() && n.get("toPorts") != null
                && !n.get("toPorts").items().isEmpty()) {
            throw n.get("icmps").error("The ICMPs block may only be present without ToPorts. Define a separate rule to use ToPorts.");
        }
        if (n.get("icmps") != null) {
            // rule_validation.go ICMPRule.verify (TestTooManyICMPFields, TestWrongICMPFieldFamily); until 7 December an
            // egress icmps was not read, so a policy Cilium refuses loaded.
            for (YNode icmp : n.get("icmps").items()) {
                icmp.onlyKeys(Set.of("fields"));
                List<YNode> fields = icmp.get("fields") == null ? List.of() : icmp.get("fields").items();
                if (fields.size() > 40) {
                    throw icmp.get("fields").error("too many types, the max is 40");
                }
                for (YNode f : fields) {
                    f.onlyKeys(Set.of("family", "type"));
                    String family = f.string("family", "");
                    if (!family.isEmpty() && !family.equals("IPv4") && !family.equals("IPv6")) {
                        throw f.get("family").error("wrong family: " + family);
                    }
                    // icmp.go ICMPField.UnmarshalJSON (TestICMPFieldUnmarshal): a type that is not a number is a name of
                    // the family's table; the API server defaults the family to IPv4 first.
                    String type = f.get("type") == null ? "" : f.get("type").text();
                    boolean v6 = family.equals("IPv6");
                    if (!type.equals("0") && atoi(type) == 0 && !(v6 ? ICMP6_NAMES : ICMP4_NAMES).contains(type)) {
                        throw f.get("type") == null ? f.error("ICMP type is required")
                                : f.get("type").error("ICMP type " + type + " not found in " + (v6 ? "IPv6" : "IPv4"));
                    }
                }
            }
        }
        if (n.get("toPorts") != null) {
            CiliumPortRules.ports(n.get("toPorts"), deny, new ArrayList<>(), false);
        }
        if (n.get("authentication") != null) {
            authentication(new CiliumPolicy.Rule(0), n.get("authentication"), new ArrayList<>());
        }
    }

    private static void authentication(CiliumPolicy.Rule rule, YNode auth, List<String> parts) throws PolicyLoadException {
        auth.onlyKeys(Set.of("mode", "spiffe"));
        YNode modeNode = auth.get("mode");
        String mode = modeNode == null ? "" : modeNode.string();
        switch (mode) {
            case "required" -> rule.authRequired = true;
            case "disabled" -> rule.authRequired = false;
            case "test-always-fail" -> {
                rule.authRequired = true;
                rule.authAlwaysFails = true;
                parts.add("authentication test-always-fail");
            }
            default -> throw (modeNode == null ? auth : modeNode).error(
                    "unknown authentication mode \"" + mode + "\" (disabled, required, test-always-fail)");
        }
        YNode spiffe = auth.get("spiffe");
        if (spiffe != null) {
            if (!rule.authRequired) {
                throw spiffe.error("authentication.spiffe needs mode: required");
            }
            spiffe.onlyKeys(Set.of("trustDomain", "identities", "identity"));
            String td = spiffe.string("trustDomain", null);
            if (td != null && (td.isEmpty() || td.indexOf('/') >= 0 || td.indexOf(':') >= 0)) {
                throw spiffe.get("trustDomain").error("bad trust domain \"" + td + "\"");
            }
            rule.spiffeTrustDomain = td;
            YNode ids = spiffe.get("identities");
            YNode one = spiffe.get("identity");
            if (ids != null && one != null) {
                throw one.error("set identity or identities, not both");
            }
            if (one != null) {
                // The seed article's singular form: one identity.
                one.string();
                ids = new YNode(YNode.Type.LIST, one.file, one.line, one.path, null, null, List.of(one));
            }
            if (ids != null) {
                List<YNode> items = ids.items();
                rule.spiffeIdentities = new StringMatch[items.size()];
                for (int i = 0; i < items.size(); i++) {
                    String id = items.get(i).string();
                    boolean wildcard = id.startsWith("*") || id.endsWith("*");
                    if (!wildcard && !id.startsWith("spiffe://")) {
                        throw items.get(i).error("identity \"" + id + "\" must be a SPIFFE ID (spiffe://...)");
                    }
                    if (!wildcard && td != null && !id.startsWith("spiffe://" + td + "/")) {
                        throw items.get(i).error("identity \"" + id + "\" is outside trust domain " + td);
                    }
                    rule.spiffeIdentities[i] = StringMatch.parse(id);
                }
                List<String> idTexts = new ArrayList<>();
                for (YNode item : items) {
                    idTexts.add(item.text());
                }
                parts.add("authentication spiffe " + IstioValues.list(idTexts));
            } else if (td != null) {
                parts.add("authentication spiffe trustDomain " + td);
            }
        }
        if (rule.authRequired && spiffe == null) {
            parts.add("authentication required");
        }
    }

    /**
     * {@code item}, an entry of a list of objects (a rule of {@code ingress}, {@code ingressDeny}, {@code egress},
     * {@code egressDeny}, a selector of {@code fromEndpoints}, {@code toEndpoints}, {@code toRequires}), refused when null
     * ({@code - } with nothing after it, {@code - ~}). The API server refuses such an object: a null list entry is not
     * pruned (k8s.io/apiextensions-apiserver pkg/apiserver/schema/defaulting/prunenulls.go drops null fields, and only
     * recurses into list entries), and the CRD's entries are {@code type: object}, not nullable, so kube-openapi's type
     * validator (pkg/validation/validate/type.go {@code typeValidator.Validate}) answers {@code must be of type object:
     * "null"} and {@code kubectl apply} fails. Cilium's agent, had it the object, would read the entry as {@code {}}
     * ({@code EndpointSelector.UnmarshalJSON} starts from an empty LabelSelector, pkg/policy/api/selector.go): every
     * endpoint of the namespace. Until 6 December zerohop read it so, where the other object lists ({@code toPorts},
     * {@code ports}, {@code fromCIDRSet}, {@code rules.http}) already refused it: a commented-out selector under
     * {@code fromEndpoints} opened the policy's rule to the whole namespace in a file the cluster never accepts.
     */
    private static YNode notNull(YNode item) throws PolicyLoadException {
        if (item.isNull()) {
            throw item.error("a null entry (a dash with nothing after it), which the API server refuses (\"must be of type"
                    + " object: null\": the CRD's entries are objects), so kubectl apply fails; write the entry or remove the dash");
        }
        return item;
    }

    /** Whether a rule list is absent, null or empty: Cilium's {@code len(r.Ingress) == 0}. */
    private static boolean noRules(YNode list) throws PolicyLoadException {
        return list == null || list.isNull() || list.items().isEmpty();
    }

    /**
     * Cilium's {@code ensureWildcard} (pkg/policy/l4.go {@code createL4Filter}; cilium/cilium#38841, in 1.17 by #39375): an
     * allow rule with L7 rules in a policy whose default deny is off for the direction gets the L7 allow-all appended, the
     * empty HTTP rule here, so the policy can widen what a peer gets but never narrow it, while its ports still go through
     * the proxy (an L4-only check keeps waiting for the request). l4_filter_test.go {@code TestHTTPWildcardInDefaultAllow},
     * {@code TestDefaultAllowL7Rules}. Until 7 December zerohop denied the requests the HTTP rules missed, as Cilium before
     * the fix (issue #38676) and its documentation's note still say (CiliumMergeConformanceTest).
     *
     * @return whether a port of the rule has HTTP rules
     */
    private static boolean withHttpWildcard(CiliumPolicy.Rule rule) {
        boolean any = false;
        for (int i = 0; rule.ports != null && i < rule.ports.length; i++) {
            CiliumPolicy.Port p = rule.ports[i];
            if (p.http == null) {
                continue;
            }
            any = true;
            CiliumPolicy.Http[] http = java.util.Arrays.copyOf(p.http, p.http.length + 1);
            http[p.http.length] = new CiliumPolicy.Http(null, null, null, new String[0], new String[0]);
            rule.ports[i] = new CiliumPolicy.Port(p.port, p.endPort, p.protocol, http, p.text, p.name);
        }
        if (any) {
            // A request none of the written HTTP rules matches is allowed by the appended one: the explanation says so.
            Decision m = rule.matched;
            rule.matched = new Decision(m.allowed(), m.outcome(), m.policy(), m.ruleIndex(), m.reason() + " (enableDefaultDeny.ingress"
                    + " is false, so Cilium appends the HTTP allow-all to the rule's rules.http: any request passes)");
        }
        return any;
    }
}
