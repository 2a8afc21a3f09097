package io.zerohop.core;

import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.PolicySelector;
import io.zerohop.policy.PolicySet;
import io.zerohop.policy.Suggestions;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Policies that apply to no workload of the registry, whatever their action, as Istio's analyzer IST0127
 * NoMatchingWorkloadsFound (istio/istio pkg/config/analysis/analyzers/authz/authorizationpolicies.go
 * {@code analyzeNoMatchingWorkloads}) reports them: an AuthorizationPolicy whose {@code selector.matchLabels}
 * matches no workload of its namespace (of any namespace for one in the root namespace), or without a selector
 * in a namespace that has no workload (a mistyped {@code metadata.namespace}); and the same for a
 * CiliumNetworkPolicy's {@code endpointSelector} (a CiliumClusterwideNetworkPolicy's across namespaces). A
 * mistyped label or namespace is a valid policy that selects nothing: an ALLOW leaves its workload open, a DENY
 * leaves it without the denial. A RequestAuthentication's {@code selector} is checked as an AuthorizationPolicy's
 * (zerohop's own line: IST0127 is the AuthorizationPolicy analyzer's): a mistyped one leaves its workload's tokens
 * unchecked and its {@code requestPrincipals} rules unmatched (a new-user pass found {@code app: httpbinn} silent).
 * The decision stays istiod's, ztunnel's and Cilium's; this only says why.
 * {@code zerohop policy check --workloads} prints them ({@link #unselecting}); a policy engine with a workload
 * registry logs each once, WARN, at the load that brings it ({@link #attach}): {@code zerohop proxy} given a
 * {@code --workloads} file and an embedded {@link Mesh} built with {@code policies} and {@code workloads} (a new-user
 * pass found the proxy silent about a DENY or a Cilium policy; newuser23 found the embedded mesh silent about all).
 * Never per connection. The check reads the registry as it is at each load: a registry empty then is not checked (every
 * policy would "select no workload" of a registry yet to be filled), and one that gained workloads since is checked at
 * the next load or replace; a change of the registry alone checks nothing (it has no change events). Both the proxy
 * and the mesh attach it whatever the registry holds at start, so an embedded application that fills its registry
 * after {@code build()} gets the lines from its next policy load.
 */
public final class SelectorCheck implements Consumer<PolicySet> {
    private static final Logger LOG = LoggerFactory.getLogger(SelectorCheck.class);
    /** The one check of each engine: the proxy attaches its own (naming its file) before its mesh would attach another. */
    private static final Map<PolicyEngine, SelectorCheck> ATTACHED = new java.util.WeakHashMap<>();

    private final WorkloadRegistry registry;
    private final String registryName;
    private final String rootNamespace;
    private Set<String> logged = Set.of();

    /**
     * @param registryName how the messages name the registry, e.g. the {@code --workloads} path
     * @param rootNamespace Istio's root namespace (non-null): its policies with a selector apply mesh-wide
     */
    private SelectorCheck(WorkloadRegistry registry, String registryName, String rootNamespace) {
        this.registry = registry;
        this.registryName = registryName;
        this.rootNamespace = rootNamespace;
    }

    /**
     * Checks {@code engine}'s policies against {@code registry} now and at every later load or replace, unless the
     * engine already has a check (then nothing: one line per policy, not one per caller). Closing the result removes
     * the check this call attached (nothing if it attached none).
     *
     * @param registryName how the lines name the registry, e.g. the {@code --workloads} path
     */
    public static AutoCloseable attach(PolicyEngine engine, WorkloadRegistry registry, String registryName) {
        SelectorCheck check;
        synchronized (ATTACHED) {
            if (ATTACHED.containsKey(engine)) {
                return () -> { };
            }
            check = new SelectorCheck(registry, registryName, engine.rootNamespace());
            ATTACHED.put(engine, check);
        }
        AutoCloseable listening = engine.addChangeListener(check);
        check.accept(engine.policies());
        return () -> {
            listening.close();
            synchronized (ATTACHED) {
                ATTACHED.remove(engine, check);
            }
        };
    }

    /**
     * {@code engine} gets no check: a later {@link #attach} (a mesh built with it) attaches nothing. For a registry that
     * fills as it goes, where a selector matching nothing is often no mistake (zerohop proxy {@code --kubernetes}: pods
     * not scheduled yet have no address).
     */
    public static void disable(PolicyEngine engine) {
        synchronized (ATTACHED) {
            ATTACHED.putIfAbsent(engine, null);
        }
    }

    /**
     * Logs each line not logged at the previous load (every reload calls this). With an empty registry, nothing: every
     * policy would "select no workload" of a registry that is yet to be filled.
     */
    @Override
    public synchronized void accept(PolicySet policies) {
        if (registry.all().isEmpty()) {
            return;
        }
        Set<String> now = new HashSet<>();
        for (String w : unselecting(policies, registry, registryName, rootNamespace, null)) {
            now.add(w);
            if (!logged.contains(w)) {
                LOG.warn(w);
            }
        }
        logged = now;
    }

    /**
     * One line per policy of {@code set} that applies to no workload of {@code registry} (the class comment says
     * which); with {@code dest}, a line for a policy of its namespace names the selector labels {@code dest} has.
     * A selector this check cannot evaluate ({@code matchExpressions}, Cilium's {@code reserved:} or namespace
     * labels) gives no line: a warning only where it is sure. Reads the selectors as the loader read them
     * ({@link PolicySet#selectors()}): no file is read again. Never null.
     */
    public static List<String> unselecting(PolicySet set, WorkloadRegistry registry, String registryName, String rootNamespace,
                                    Workload dest) {
        List<String> out = new ArrayList<>();
        for (PolicySelector s : set.selectors()) {
            String line = check(s, registry, registryName, rootNamespace, dest);
            if (line != null) {
                out.add(line);
            }
        }
        Set<String> namespaces = registry.all().stream().map(Workload::namespace).collect(Collectors.toSet());
        for (io.zerohop.policy.SourceNamespace n : set.sourceNamespaces()) {
            String line = checkSource(n, namespaces, registry, registryName);
            if (line != null) {
                out.add(line);
            }
        }
        return out;
    }

    /**
     * A rule's {@code from.source.namespaces} or {@code notNamespaces} value that matches no namespace of the registry, as
     * Istio's analyzer IST0101 ReferencedResourceNotFound reports one that matches no Namespace of the cluster
     * ({@code analyzeNamespaceNotFound}, its {@code namespaceMatch}: {@code *}, a prefix or suffix pattern, or the name in
     * any case). The registry knows the namespaces of its workloads only, so a value is named only when it is within two
     * edits of one of them (a likely typo); a new-user pass found a DENY on {@code namespaces: ["legcy"]} silently denying
     * nothing. Principals are not checked (istiod's analyzer does not check them either).
     */
    private static String checkSource(io.zerohop.policy.SourceNamespace n, Set<String> namespaces, WorkloadRegistry registry,
                                      String registryName) {
        if (namespaces.stream().anyMatch(n::matches)) {
            return null;
        }
        // Only a near miss of a namespace that has workloads: callers come from namespaces the registry need not list
        // (istio-system's gateways, monitoring), and every one of those was named (a final new-user pass found the Istio
        // docs' namespaces: ["istio-system"] warned). Istio's IST0101 reads the cluster's Namespaces, which zerohop has not.
        String near = n.namespace().contains("*") ? "" : didYouMean(n.namespace(), registry, " (did you mean ", ")");
        if (near.isEmpty()) {
            return null;
        }
        PolicyRef ref = n.policy();
        boolean not = n.field().contains(".notNamespaces[");
        String verb = ref.action();
        String left = switch (verb) {
            case "DENY" -> not ? "denied too" : "without the denial";
            case "AUDIT" -> not ? "audited too" : "unaudited";
            case "CUSTOM" -> not ? "sent to its extension provider too" : "without that external check";
            default -> not ? "allowed too" : "not allowed by it";
        };
        // The caller's namespace comes from its SPIFFE ID, not the registry: a namespace without a workload here may still
        // have callers, so the consequence is said of a typo, not of the value.
        String consequence = not ? "a mistyped namespace excludes no source, and leaves the sources it was written to exclude " + left
                : "a mistyped namespace matches no caller, and leaves the sources it was written for " + left;
        // file:line: first, as every loader message (a new-user pass, 7 December: "(line 8)" named no file).
        return n.place() + ref.kind().displayName() + " " + ref.namespace() + "/" + ref.name() + " (" + verb + ") " + n.field()
                + (n.file() == null && n.line() > 0 ? " (line " + n.line() + ")" : "") + " names namespace " + n.namespace() + ", where no workload of "
                + registryName + " runs" + near
                + ": " + consequence + " (Istio's IST0101 ReferencedResourceNotFound: namespace \"" + n.namespace() + "\")";
    }

    private static String check(PolicySelector s, WorkloadRegistry registry, String registryName, String rootNamespace,
                                Workload dest) {
        PolicyRef ref = s.policy();
        boolean jwt = ref.kind() == PolicyRef.Kind.REQUEST_AUTHENTICATION;
        boolean istio = ref.kind() == PolicyRef.Kind.AUTHORIZATION_POLICY || jwt;
        boolean clusterwide = ref.kind() == PolicyRef.Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY;
        if (!istio && !clusterwide && ref.kind() != PolicyRef.Kind.CILIUM_NETWORK_POLICY) {
            return null;
        }
        String namespace = clusterwide ? null : ref.namespace();
        if (!istio && s.field().isEmpty()) {
            return null; // a Cilium rule without endpointSelector (the loader refuses one; nothing to check)
        }
        if (istio && s.field().equals("targetRefs")) {
            // targetRefs attach the policy to a Service, Gateway or ServiceEntry (its waypoint or gateway), never to pods:
            // "selects no workload" would be true of every such policy and says nothing about a typo. The registry names
            // no Service to check it against; that zerohop, as ztunnel, does not enforce it is the README's (no warning, as
            // istiod gives none). Before, it was taken for a selectorless policy: "namespace X has none" where X had no pod.
            return null;
        }
        if (s.matchExpressions()) {
            return null;
        }
        Map<String, String> wanted = new TreeMap<>(s.matchLabels());
        boolean meshWide = istio && namespace.equals(rootNamespace);
        String name = ref.kind().displayName() + " " + (namespace == null ? "" : namespace + "/") + ref.name();
        String verb = istio && !jwt ? ref.action() : null;
        String action = verb != null ? " (" + verb + ")" : "";
        if (istio && wanted.isEmpty()) {
            // targetRefs policies are not enforced by ztunnel (README); a selectorless one is namespace-wide.
            if (meshWide || registry.all().stream().anyMatch(w -> w.namespace().equals(namespace))) {
                return null;
            }
            Effect effect = jwt ? Effect.JWT : Effect.of(verb);
            return s.place() + name + action + " applies to no workload in " + registryName + ": namespace " + namespace + " has none"
                    + didYouMean(namespace, registry, " (did you mean ", ")") + ", so it " + effect.what + ": a mistyped metadata.namespace leaves the"
                    + " workloads it was written for " + effect.left;
        }
        Map<String, String> labels = new TreeMap<>();
        String ns = meshWide || clusterwide ? null : namespace;
        String sa = null;
        boolean none = false;
        String ciliumKey = null;
        for (var e : wanted.entrySet()) {
            String key = istio ? e.getKey() : PolicySelector.ciliumKey(e.getKey());
            if (!istio && key.equals("io.kubernetes.pod.namespace")) {
                if (namespace != null && e.getKey().startsWith("k8s:")) {
                    // Cilium's ParseToCiliumRule replaces k8s:io.kubernetes.pod.namespace with the policy's namespace (the
                    // engine too): until 5 December this named the written one, and warned of a policy that was enforced.
                    continue;
                }
                // Without a source (any:) it stays a requirement beside the policy's namespace (mesh-policy's Selector).
                none |= ns != null && !ns.equals(e.getValue());
                ns = e.getValue();
            } else if (!istio && key.equals("io.cilium.k8s.policy.serviceaccount")) {
                none |= sa != null && !sa.equals(e.getValue());
                sa = e.getValue();
            } else if (!istio && (key.contains(":") || key.startsWith("io.cilium.k8s."))) {
                return null; // reserved: identities, namespace labels, cluster: not the registry's to answer
            } else if (istio && key.startsWith("io.cilium.k8s")) {
                // Cilium's endpoint labels, never a pod's own: an Istio selector on one selects nothing, as mesh-policy's
                // IstioCompiler.ciliumOwned decides (istiod selects by the pod's labels). The registry may carry the key.
                none = true;
                ciliumKey = ciliumKey == null ? key : ciliumKey;
            } else {
                // app and k8s:app are two requirements to Cilium on one Kubernetes label: two values select nothing.
                String first = labels.putIfAbsent(key, e.getValue());
                none |= first != null && !first.equals(e.getValue());
            }
        }
        String inNs = ns;
        String inSa = sa;
        boolean selects = !none && registry.all().stream().anyMatch(w -> (inNs == null || w.namespace().equals(inNs))
                && (inSa == null || inSa.equals(w.serviceAccount()))
                && labels.entrySet().stream().allMatch(e -> e.getValue().equals(w.labels().get(e.getKey()))));
        if (selects) {
            return null;
        }
        String about = "";
        if (dest != null && dest.namespace().equals(namespace) && ciliumKey == null) {
            String has = labels.keySet().stream().filter(dest.labels()::containsKey)
                    .map(k -> k + "=" + dest.labels().get(k)).collect(Collectors.joining(","));
            about = "; " + dest.namespace() + "/" + dest.name() + (has.isEmpty() ? " has none of those labels" : " has " + has);
        }
        boolean emptyNamespace = namespace != null && registry.all().stream().noneMatch(w -> w.namespace().equals(namespace));
        String text = wanted.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(","));
        String consequence = emptyNamespace && !meshWide
                ? "a mistyped metadata.namespace (" + namespace + " has no workload" + didYouMean(namespace, registry, "; did you mean ", "")
                        + ") leaves the workload it was written for"
                : ciliumKey != null
                // Not mistyped, and the registry's workloads may carry the key (Cilium's endpoint labels): the line said
                // "has none of those labels" and "a mistyped selector label" until 6 December.
                ? "its key " + ciliumKey + " is under Cilium's prefix io.cilium.k8s, a Cilium endpoint label (namespace labels,"
                        + " cluster) no pod carries as its own, and istiod selects by the pod's own labels; that leaves the workload"
                        + " it was written for"
                : "a mistyped selector label leaves the workload it was written for";
        Effect effect = jwt ? Effect.JWT : Effect.of(verb);
        // One rule of a Cilium policy's specs is named as such: the policy's other rules may select workloads.
        String subject = s.field().startsWith("specs[") ? name + " rule " + s.field().substring(0, s.field().indexOf('.')) : name;
        // file:line: first, as every loader message (a new-user pass, 7 December: a directory of policies, and no file named).
        return s.place() + subject + action + " selects no workload in " + registryName + " (its " + (istio ? "selector " : "endpointSelector ")
                + text + about + "), so it " + effect.what + ": " + consequence + " " + effect.left;
    }

    /**
     * What a policy that applies to nothing fails to do, by its action (null: a Cilium policy). Istio's IST0127
     * has one text for every action ("No matching workloads for this resource with the following labels: ...",
     * istio/istio pkg/config/analysis/msg/messages.yaml); the consequence per action is zerohop's, from the
     * evaluation order (mesh-policy README "Order": CUSTOM, then DENY, then ALLOW; AUDIT never decides).
     */
    private enum Effect {
        ALLOW("allows nothing and the policy has no effect",
                "open (allowed by default) unless another ALLOW policy selects it"),
        DENY("denies nothing", "without the denial"),
        AUDIT("audits nothing (AUDIT never allows or denies)", "unaudited"),
        CUSTOM("sends nothing to its extension provider", "without that external check"),
        CILIUM("applies to nothing", "without it"),
        /**
         * A RequestAuthentication: its workload's tokens go unchecked (an invalid one is not refused with 401) and, with no
         * verified token, its requestPrincipals and request.auth rules never match (an ALLOW on them denies everything).
         */
        JWT("checks no token", "with its JWTs unverified: an invalid token is not refused and a requestPrincipals or request.auth"
                + " rule never matches there");

        final String what;
        final String left;

        Effect(String what, String left) {
            this.what = what;
            this.left = left;
        }

        static Effect of(String action) {
            return action == null ? CILIUM : switch (action) {
                case "DENY" -> DENY;
                case "AUDIT" -> AUDIT;
                case "CUSTOM" -> CUSTOM;
                default -> ALLOW; // istiod's default action; the loader refused any other word
            };
        }
    }

    /**
     * {@code before + "prod?" + after} for the registry's namespace nearest {@code namespace} (as the loader suggests a
     * mistyped kind: {@link Suggestions#nearest}), else "".
     */
    private static String didYouMean(String namespace, WorkloadRegistry registry, String before, String after) {
        String near = Suggestions.nearest(namespace,
                registry.all().stream().map(Workload::namespace).distinct().sorted().toList());
        return near == null ? "" : before + near + "?" + after;
    }
}
