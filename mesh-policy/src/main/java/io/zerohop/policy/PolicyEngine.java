package io.zerohop.policy;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.zerohop.policy.internal.CompiledPolicies;
import io.zerohop.policy.internal.DirectoryWatcher;
import io.zerohop.policy.internal.TrustDomains;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides inbound connections and requests against the current {@link PolicySet}.
 *
 * <p>Order, per destination workload: PeerAuthentication STRICT rejects plaintext; then Istio
 * (CUSTOM, DENY, ALLOW as ztunnel/Envoy do); then Cilium (ingressDeny, ingress, default deny).
 * A request is allowed only if every step allows it. Thread-safe; {@link #replace} is atomic.
 */
public final class PolicyEngine {

    private static final Logger LOG = LoggerFactory.getLogger(PolicyEngine.class);

    /**
     * The policy set, its compiled form for this engine's trust domains ({@code CompiledPolicies.withTrustDomains}),
     * and the decision cache that belongs to them, swapped together.
     */
    private record State(PolicySet policies, CompiledPolicies compiled, Cache<AccessRequest, Decision> cache) {
    }

    private final String rootNamespace;
    private final CiliumOptions ciliumOptions;
    private final CustomAuthorizer customAuthorizer;
    private final long cacheSize;
    private final Duration pollInterval;
    private final ReloadListener listener;
    private final CopyOnWriteArrayList<Consumer<PolicySet>> changeListeners = new CopyOnWriteArrayList<>();
    private volatile State state;
    /** The mesh's trust domain, then its aliases (istiod's trust domain bundle); guarded by {@code this} for writes. */
    private volatile List<String> trustDomains;
    /** Set by the builder or by {@link #trustDomains(String, List)}: a second, different setting is refused. */
    private boolean trustDomainsSet;

    private PolicyEngine(Builder b) {
        this.rootNamespace = b.rootNamespace;
        this.ciliumOptions = b.ciliumOptions;
        checkOptions(b.policies, ciliumOptions);
        this.trustDomains = b.trustDomains;
        this.trustDomainsSet = b.trustDomainsSet;
        this.customAuthorizer = b.customAuthorizer;
        this.cacheSize = b.decisionCacheSize;
        this.pollInterval = b.pollInterval;
        this.listener = b.listener;
        this.state = newState(b.policies);
    }

    /** A builder with the defaults each setter names: root namespace {@code istio-system}, no policy, no cache. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * A set of Cilium policies read with other {@link CiliumOptions} than the engine's would be decided under the other
     * options, silently: refused.
     */
    private static void checkOptions(PolicySet set, CiliumOptions options) {
        if (!set.ciliumOptions().equals(options) && set.hasCilium()) {
            throw new IllegalArgumentException("the policy set " + set.source() + " was loaded with " + set.ciliumOptions()
                    + ", this engine has " + options + ": load it with the engine's (PolicyLoader's overloads taking"
                    + " CiliumOptions, or PolicyEngine#ciliumOptions())");
        }
    }

    /**
     * The Cilium options a {@link #watch}ed path is loaded with and every set given to the engine must have been loaded
     * with ({@link Builder#ciliumOptions}); mesh-kubernetes loads the cluster's policies with them.
     */
    public CiliumOptions ciliumOptions() {
        return ciliumOptions;
    }

    private State newState(PolicySet set) {
        Cache<AccessRequest, Decision> cache = cacheSize > 0 ? Caffeine.newBuilder().maximumSize(cacheSize).build() : null;
        return new State(set, set.compiled().withTrustDomains(trustDomains), cache);
    }

    /**
     * Decides {@code request}. When an {@code istio.io/dry-run} policy is in scope, the decision is
     * the one without it, {@link Decision#dryRun()} says what it would have been, and one INFO line
     * is logged (as ztunnel logs "dry-run: ... policy match"); the verdict itself never changes.
     * @throws NullPointerException naming {@code request} when it is null
     */
    public Decision evaluate(AccessRequest request) {
        Objects.requireNonNull(request, "request");
        State s = state;
        Decision d;
        if (s.cache != null) {
            d = s.cache.getIfPresent(request);
            if (d != null) {
                return d;
            }
            d = s.compiled.evaluate(request, rootNamespace, customAuthorizer);
            s.cache.put(request, d);
        } else {
            d = s.compiled.evaluate(request, rootNamespace, customAuthorizer);
        }
        if (d.dryRun() != null) {
            LOG.info("dry-run: {} -> {}:{}: {}", request.sourcePrincipal() == null ? request.sourceAddress().getHostAddress()
                    : request.sourcePrincipal(), request.destination(), request.destinationPort(), d.explain());
        }
        return d;
    }

    /**
     * Decides a connection to a port whose requests are to be decided per request ({@link #requiresHttp})
     * but which could not be parsed as HTTP (TLS on an {@code auto} port, HTTP/2 to an embedded handler):
     * {@link #evaluate} of {@code l4Request} (no {@link HttpAttributes}), then, if that allows, the DENY
     * rules with HTTP fields read as a sidecar's TCP filter reads them, their HTTP fields taken as matched:
     * what they would have tested is unknown, and ztunnel's reading (those fields omitted, an entry left
     * empty skipped) would pass the connection with the DENY unchecked. CUSTOM policies are read the same
     * way, every rule (istiod builds CUSTOM as DENY rules for a TCP filter chain): without a
     * {@link CustomAuthorizer} what one may match is denied ({@link Decision.Outcome#DENIED_CUSTOM}), as Envoy
     * denies for a CUSTOM provider it cannot call; with one, the authorizer is asked with {@code l4Request}.
     * ({@link #evaluate} alone skips CUSTOM at L4 without an authorizer: istiod never sends CUSTOM to ztunnel.)
     * {@link Decision#dryRun()} is what this reading would give with the {@code istio.io/dry-run} policies in scope
     * enforced, when it differs (null otherwise). Not cached.
     *
     * @param l4Request a request without HTTP attributes, not null
     * @return the decision, never null
     */
    public Decision evaluateUnparsed(AccessRequest l4Request) {
        Objects.requireNonNull(l4Request, "l4Request");
        if (l4Request.http() != null) {
            throw new IllegalArgumentException("evaluateUnparsed takes a request without HTTP attributes");
        }
        CompiledPolicies compiled = state.compiled;
        Decision d = unparsed(l4Request, compiled);
        // The dry-run preview of the unparsed reading: evaluate's own is the L4 one, in which a dry-run DENY's HTTP
        // fields match nothing, so it said nothing of the non-HTTP connections the enforced DENY would reset.
        return compiled.withUnparsedDryRun(d, l4Request, rootNamespace, customAuthorizer);
    }

    private Decision unparsed(AccessRequest l4Request, CompiledPolicies compiled) {
        Decision d = evaluate(l4Request);
        if (!d.allowed()) {
            return d;
        }
        Decision custom = compiled.unparsedCustom(l4Request, rootNamespace, customAuthorizer);
        if (custom != null) {
            return custom;
        }
        Decision deny = compiled.unparsedDeny(l4Request, rootNamespace);
        return deny != null ? deny : d;
    }

    /**
     * The part of a decision that does not depend on HTTP data, for a connection to a port whose protocol is
     * not declared ({@code auto}), before a byte of it is read: the denial that every HTTP request with
     * {@code l4Request}'s attributes ({@link #evaluate} with {@link HttpAttributes}) and the connection read as
     * opaque bytes ({@link #evaluateUnparsed}) would all get, or null when what the connection sends may change
     * the outcome (then decide as usual once it is read). Denied: plaintext under PeerAuthentication STRICT; an
     * Istio DENY rule that has no HTTP field (nor trust domains) and matches; Istio ALLOW policies none of whose
     * rules can match, each HTTP field taken as matched; a Cilium deny or missing authentication, or a default
     * deny that no {@code rules.http} could lift. CUSTOM and {@code istio.io/dry-run} policies never decide
     * here. So the outcome is the one the data would have given, only known sooner: istiod puts a DENY rule
     * without HTTP fields into both the TCP and the HTTP filter chain of a port (pilot/pkg/security/authz/builder
     * builder.go {@code build} for {@code forTCP} true and false), and ztunnel decides it at the CONNECT.
     * Not cached.
     *
     * @param l4Request a request without HTTP attributes, not null
     * @return the denial, or null
     */
    public Decision denialBeforeHttp(AccessRequest l4Request) {
        Objects.requireNonNull(l4Request, "l4Request");
        if (l4Request.http() != null) {
            throw new IllegalArgumentException("denialBeforeHttp takes a request without HTTP attributes");
        }
        return state.compiled.denialBeforeHttp(l4Request, rootNamespace);
    }

    /**
     * The JWT rules of every RequestAuthentication that selects {@code destination}, in the order istiod gives them to
     * the workload's sidecar. Selection as istiod's (istio/istio pilot/pkg/model/authentication.go
     * {@code GetJwtPoliciesForWorkload}, {@code getConfigsForWorkload}, and pilot/pkg/model/policyattachment.go
     * {@code ShouldAttachPolicy} for a workload that is no gateway): the RequestAuthentications of the workload's
     * namespace, then of the root namespace, without a selector or with one whose {@code matchLabels} the workload's
     * labels hold; none with {@code targetRef}/{@code targetRefs} (those attach to gateways and waypoints, as zerohop
     * reads AuthorizationPolicy targetRefs). Their rules are then sorted by issuer, as istiod's
     * pilot/pkg/security/authn/policy_applier.go {@code newPolicyApplier} does (stably here: rules of one issuer keep
     * namespace, then root, then load order; Kubernetes mode loads oldest first, as istiod orders by creation time).
     * mesh-core verifies a request's token against them and sets {@link HttpAttributes#auth()} before
     * {@link #evaluate}; with none, it does nothing (no JWT check). The policy set in force answers: after a reload or
     * {@link #replace} the next call sees the new rules. Cached per namespace and labels; the empty answer allocates
     * nothing.
     *
     * @param destination the workload receiving the request, not null
     * @return immutable, never null, empty when no RequestAuthentication selects {@code destination}
     * @throws NullPointerException naming {@code destination} when it is null
     */
    public List<JwtRule> jwtRules(WorkloadRef destination) {
        Objects.requireNonNull(destination, "destination");
        return state.compiled.jwtRules(destination, rootNamespace);
    }

    /**
     * Effective PeerAuthentication mode (mesh, then namespace, then workload, then port).
     *
     * @throws NullPointerException naming {@code workload} when it is null
     */
    public MtlsMode mtlsMode(WorkloadRef workload, int port) {
        Objects.requireNonNull(workload, "workload");
        return state.compiled.mtlsMode(workload, port, rootNamespace);
    }

    /**
     * Whether requests to {@code destination}:{@code port} must be parsed as HTTP to be enforced:
     * true when a policy selecting the destination has an HTTP-level rule that can apply to that
     * port (Istio {@code methods}, {@code paths}, {@code hosts}, their {@code not*} forms,
     * {@code requestPrincipals}, {@code when} keys {@code request.*}, {@code remote.ip},
     * {@code connection.sni}; Cilium {@code toPorts.rules.http}). Evaluated on the current set.
     * A data plane that cannot parse the port must decide at L4, where such ALLOW rules match
     * nothing (fail closed, as ztunnel).
     *
     * @param destination the workload receiving the connection, not null
     * @param port        destination port, 1..65535
     */
    public boolean requiresHttp(WorkloadRef destination, int port) {
        Objects.requireNonNull(destination, "destination");
        return state.compiled.requiresHttp(destination, port, rootNamespace);
    }

    /**
     * The policy whose HTTP rules make {@link #requiresHttp} true for {@code destination}:{@code port}, for messages (a
     * Cilium policy with {@code rules.http} first, else the first AuthorizationPolicy), or null when none does.
     * Evaluated on the current set; not for the data path.
     */
    public PolicyRef httpPolicy(WorkloadRef destination, int port) {
        Objects.requireNonNull(destination, "destination");
        return state.compiled.httpPolicy(destination, port, rootNamespace);
    }

    /**
     * Where policy {@code ref} of the current set was loaded from, {@code file:line} of its {@code metadata.name}, or
     * null when unknown (another set's policy, or a set from {@link PolicyLoader#fromStringQuietly}, whose assembled
     * text's lines name nothing the user wrote).
     * @throws NullPointerException naming {@code ref} when it is null
     */
    public String origin(PolicyRef ref) {
        Objects.requireNonNull(ref, "ref");
        return state.compiled.origin(ref);
    }

    /**
     * Whether a Cilium policy has {@code rules.http} for {@code destination}:{@code port}: then Cilium's Envoy
     * is in front of it, which redirects a path with an escaped slash and forwards
     * {@link HttpAttributes#ciliumTarget} (normalised, slashes merged), so every rule, an AuthorizationPolicy's
     * included, is decided on that target and the application receives it, as if the request had passed
     * Cilium's proxy and then Istio's. Until 2 December this held only where no AuthorizationPolicy selected the
     * destination; with one, Istio's forwarding was kept while the Cilium rules matched their own normalisation,
     * so {@code /admin%2F..%2Fpublic} was allowed by a rule for {@code /public} and forwarded as sent (a new-user pass).
     * Evaluated on the current set.
     *
     * @param destination the workload receiving the request, not null
     * @param port        destination port, 1..65535
     */
    public boolean ciliumHttp(WorkloadRef destination, int port) {
        Objects.requireNonNull(destination, "destination");
        return state.compiled.ciliumHttp(destination, port);
    }

    /** The policy set in force now (the last one loaded, {@link #replace}d or watched in); never null. */
    public PolicySet policies() {
        return state.policies;
    }

    /** The Istio root namespace the builder was given, never null. */
    public String rootNamespace() {
        return rootNamespace;
    }

    /**
     * The mesh's trust domain followed by its aliases (istiod's trust domain bundle, {@code NewBundle}): the principals
     * and trust domains of AuthorizationPolicies are rewritten for it at L7, as istiod rewrites them for a sidecar or
     * waypoint (pilot/pkg/security/trustdomain/bundle.go). {@code [cluster.local]}, istiod's default, unless set.
     *
     * @return an immutable list, never empty
     */
    public List<String> trustDomains() {
        return trustDomains;
    }

    /**
     * Sets the mesh's trust domain and aliases ({@link Builder#trustDomain}, {@link Builder#trustDomainAliases}) on an
     * engine built without them, and re-compiles the policy set in force for them (decisions already running finish
     * on the old one); a {@code Mesh} calls it with its own at build. No change listener is called: use it before the
     * engine decides anything. Setting the same again is a no-op.
     *
     * @throws IllegalArgumentException when a name is no SPIFFE trust domain, naming it
     * @throws IllegalStateException when the engine's trust domains were set before to other values: one engine
     *                               cannot serve two meshes that read the same principal differently
     * @throws NullPointerException naming {@code trustDomain} or {@code aliases}, whichever is null
     */
    public void trustDomains(String trustDomain, List<String> aliases) {
        Objects.requireNonNull(trustDomain, "trustDomain");
        Objects.requireNonNull(aliases, "aliases");
        List<String> bundle = TrustDomains.bundle(trustDomain, aliases);
        synchronized (this) {
            if (bundle.equals(trustDomains)) {
                trustDomainsSet = true;
                return;
            }
            if (trustDomainsSet) {
                throw new IllegalStateException("this policy engine's trust domains are " + describe(trustDomains)
                        + ", set before; cannot change them to " + describe(bundle));
            }
            trustDomains = bundle;
            trustDomainsSet = true;
            state = newState(state.policies);
        }
    }

    private static String describe(List<String> bundle) {
        return bundle.get(0) + (bundle.size() == 1 ? " without aliases" : " with aliases " + bundle.subList(1, bundle.size()));
    }

    /**
     * Atomically installs a new policy set; evaluations already running finish on the old one.
     * Then every change listener is told, on this thread.
     *
     * @throws IllegalArgumentException when {@code policies} holds Cilium policies loaded with other {@link CiliumOptions}
     *                                  than this engine's ({@link #ciliumOptions()}): they would be decided as another
     *                                  Cilium configuration reads them
     */
    public void replace(PolicySet policies) {
        Objects.requireNonNull(policies, "policies");
        checkOptions(policies, ciliumOptions);
        synchronized (this) {
            state = newState(policies);
        }
        for (Consumer<PolicySet> l : changeListeners) {
            try {
                l.accept(policies);
            } catch (RuntimeException e) {
                LOG.error("policy change listener failed", e);
            }
        }
    }

    /**
     * Calls {@code listener} with the new set after every swap ({@link #replace}, a watched
     * directory's reload, any other source), so that open connections can be re-authorized as
     * ztunnel's policy watcher does. Listeners run on the thread that swapped and must not block.
     *
     * @return closing it removes the listener
     */
    public AutoCloseable addChangeListener(Consumer<PolicySet> listener) {
        Objects.requireNonNull(listener, "listener");
        changeListeners.add(listener);
        return () -> changeListeners.remove(listener);
    }

    /**
     * Loads {@code path}, a policy directory or one policy file, now and again whenever it changes. A
     * failed load is logged (and reported to the listener) and the policy set in force stays. Close the
     * result to stop.
     *
     * @throws PolicyLoadException if the first load fails (nothing is installed then)
     * @throws NullPointerException naming {@code path} when it is null
     */
    public AutoCloseable watch(Path path) throws PolicyLoadException {
        Objects.requireNonNull(path, "path");
        // One file as well (zerohop proxy --policies FILE): a new-user pass found a file read once, so an
        // edit that added a DENY was never enforced.
        boolean file = Files.isRegularFile(path);
        PolicySet first = load(path, file);
        replace(first);
        if (listener != null) {
            listener.reloaded(first);
        }
        try {
            return file ? DirectoryWatcher.ofFile(path, pollInterval, () -> reload(path, true))
                    : new DirectoryWatcher(path, pollInterval, () -> reload(path, false));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot watch " + path, e);
        }
    }

    private PolicySet load(Path path, boolean file) throws PolicyLoadException {
        return file ? PolicyLoader.fromFile(path, ciliumOptions) : PolicyLoader.fromDirectory(path, ciliumOptions);
    }

    private void reload(Path dir, boolean file) {
        try {
            PolicySet previous = state.policies;
            // Logs only the warnings of files changed since the set in force was loaded (Kubernetes mode logs an
            // object's once, when it changes); a refused load logs its error below, at every attempt.
            PolicySet next = PolicyLoader.reload(dir, file, previous, ciliumOptions);
            String lost = lossWarning(previous, next, dir);
            // Logged before the swap: replace() runs the change listeners on this thread, and mesh-core's log the WARN
            // line of each connection the new set cuts. Logged after, an operator read each cut before its cause.
            if (lost == null) {
                LOG.info("reloaded {} from {}", policies(next.size()), dir);
            } else {
                LOG.warn(lost);
            }
            replace(next);
            if (lost != null && listener != null) {
                listener.lost(lost);
            }
            if (listener != null) {
                listener.reloaded(next);
            }
        } catch (PolicyLoadException e) {
            LOG.error("policy reload failed, keeping the {} in force: {}", policies(state.policies.size()), e.getMessage());
            if (listener != null) {
                listener.failed(e);
            }
        }
    }

    /** {@code 1 policy}, {@code 2 policies}: mesh-policy depends on no other zerohop module, whose helper says it so. */
    static String policies(int n) {
        return n + (n == 1 ? " policy" : " policies");
    }

    /** The policy of {@code next} that is {@code r}'s object (kind, namespace, name), whatever its action; null if none. */
    private static PolicyRef sameObject(PolicySet next, PolicyRef r) {
        for (PolicyRef n : next.policies()) {
            if (n.kind() == r.kind() && n.namespace().equals(r.namespace()) && n.name().equals(r.name())) {
                return n;
            }
        }
        return null;
    }

    /**
     * How little plaintext a PeerAuthentication mode admits: STRICT none, PERMISSIVE and DISABLE any; UNSET inherits,
     * so it counts as the loosest it could be.
     */
    private static int strictness(String mode) {
        return mode.equals("STRICT") ? 1 : 0;
    }

    /**
     * The WARN line of a reload that dropped files loaded before, dropped policy objects in force
     * before (an emptied file, a deleted document, a DENY turned into something else: each can
     * widen access, since even an ALLOW's absence lifts its default deny), or went from some
     * policies to none; null for any other reload.
     */
    static String lossWarning(PolicySet previous, PolicySet next, Path dir) {
        List<String> dropped = new ArrayList<>();
        for (Path f : previous.files()) {
            if (!next.files().contains(f)) {
                // A deleted file (gone after the watcher's 2 s wait) says so: in directory and single-file mode alike.
                dropped.add(f.getFileName() + (Files.notExists(f) ? " (deleted or renamed: its policies dropped)" : ""));
            }
        }
        java.util.Set<PolicyRef> now = new java.util.HashSet<>(next.policies());
        List<String> gone = new ArrayList<>();
        java.util.Set<PolicyRef> wasDryRun = previous.compiled().dryRunRefs();
        java.util.Set<PolicyRef> dryRun = next.compiled().dryRunRefs();
        for (PolicyRef r : previous.policies()) {
            // AUDIT never changes a decision: its loss widens nothing; nor does a dry-run policy's.
            if (r.action().equals("AUDIT") || wasDryRun.contains(r)) {
                continue;
            }
            if (!now.contains(r)) {
                PolicyRef same = r.kind() == PolicyRef.Kind.PEER_AUTHENTICATION ? sameObject(next, r) : null;
                if (same != null) {
                    // A PeerAuthentication whose mode changed is still in force (a final new-user pass read "no longer in
                    // force" for PERMISSIVE tightened to STRICT): named only when plaintext may now get in where it could not.
                    if (strictness(same.action()) < strictness(r.action())) {
                        gone.add(r + " (" + r.action() + ", now " + same.action() + ")");
                    }
                    continue;
                }
                // A Cilium policy has no action of its own (its rules allow, its ingressDeny rules deny).
                gone.add(r.action().isEmpty() ? r.toString() : r + " (" + r.action() + ")");
            } else if (dryRun.contains(r)) {
                // Annotated istio.io/dry-run since: still loaded, no longer enforced (new-user pass: INFO "reloaded 1 policies").
                gone.add(r + " (" + r.action() + ", now istio.io/dry-run: not enforced)");
            }
        }
        if (dropped.isEmpty() && gone.isEmpty() && (previous.size() == 0 || next.size() > 0)) {
            return null;
        }
        StringBuilder sb = new StringBuilder("reloaded ").append(policies(next.size())).append(" from ").append(dir)
                .append(" (was ").append(previous.size()).append(')');
        if (!dropped.isEmpty()) {
            sb.append("; no longer loaded: ").append(String.join(", ", dropped));
        }
        List<String> added = new ArrayList<>();
        for (Path f : next.files()) {
            if (!previous.files().contains(f)) {
                added.add(f.getFileName().toString());
            }
        }
        if (!added.isEmpty()) {
            sb.append("; newly loaded: ").append(String.join(", ", added));
        }
        if (!gone.isEmpty()) {
            int shown = Math.min(gone.size(), 10);
            sb.append("; no longer in force: ").append(String.join(", ", gone.subList(0, shown)));
            if (gone.size() > shown) {
                sb.append(" and ").append(gone.size() - shown).append(" more");
            }
        }
        if (next.size() == 0) {
            sb.append("; no policy is in force now");
        }
        return sb.toString();
    }

    public static final class Builder {
        private String rootNamespace = "istio-system";
        private CiliumOptions ciliumOptions = CiliumOptions.defaults();
        private String trustDomain = "cluster.local";
        private List<String> aliases = List.of();
        private List<String> trustDomains = TrustDomains.DEFAULT;
        private boolean trustDomainsSet;
        private PolicySet policies = PolicySet.empty();
        private CustomAuthorizer customAuthorizer;
        private long decisionCacheSize;
        private Duration pollInterval = Duration.ofSeconds(2);
        private ReloadListener listener;

        private Builder() {
        }

        /**
         * Istio root namespace: its policies apply mesh-wide. Default {@code istio-system}.
         *
         * @param rootNamespace a Kubernetes namespace name, a DNS-1123 label, as istiod's {@code meshConfig.rootNamespace}
         *                      names one
         * @throws NullPointerException     when null
         * @throws IllegalArgumentException when empty or not a DNS-1123 label ({@code Istio-System}, {@code istio_system},
         *                                  a trailing space): no namespace could hold a policy there, so every mesh-wide
         *                                  policy, DENY ones included, would silently stop applying (until 5 December such
         *                                  a value was taken)
         */
        public Builder rootNamespace(String rootNamespace) {
            Objects.requireNonNull(rootNamespace, "rootNamespace");
            if (rootNamespace.isEmpty()) {
                throw new IllegalArgumentException("rootNamespace must not be empty");
            }
            WorkloadRef.check("rootNamespace", rootNamespace, false);
            this.rootNamespace = rootNamespace;
            return this;
        }

        /**
         * The options of the Cilium agent whose policies this engine enforces: a {@link PolicyEngine#watch}ed path is
         * loaded with them, and mesh-kubernetes loads the cluster's policies with them ({@link PolicyEngine#ciliumOptions()}).
         * Default {@link CiliumOptions#defaults()}, Cilium 1.19's; a cluster whose Cilium runs with
         * {@code policy-default-local-cluster: false} (Cilium 1.18's default, releases before 1.18 always) needs {@code CiliumOptions.builder().policyDefaultLocalCluster(false)}
         * (cilium/cilium pkg/clustermesh/types/option.go). A set given to {@link #policies} or {@link PolicyEngine#replace}
         * that holds Cilium policies must have been loaded with the same options ({@link PolicySet#ciliumOptions()}), or
         * {@link #build()} and {@code replace} throw {@link IllegalArgumentException}.
         *
         * @throws NullPointerException naming {@code options} when it is null
         */
        public Builder ciliumOptions(CiliumOptions options) {
            this.ciliumOptions = Objects.requireNonNull(options, "options");
            return this;
        }

        /**
         * The mesh's trust domain, istiod's {@code meshConfig.trustDomain}; default {@code cluster.local}. At L7 (an
         * HTTP request) a principal {@code TD/ns/N/sa/S} of an AuthorizationPolicy ({@code principals},
         * {@code notPrincipals}, {@code when source.principal}) whose {@code TD} is this trust domain, an alias, or
         * {@code cluster.local} (exactly, or as a {@code *} pattern matching one of them) is matched as one principal
         * per trust domain and alias, and a {@code trustDomains} value (or {@code source.trustDomain}) equal to one of
         * them as all of them, as istiod rewrites them for a sidecar or waypoint (bundle.go
         * {@code ReplaceTrustDomainAliases}, {@code ExpandTrustDomainAliases}). At L4 the values are matched as
         * written, as ztunnel gets them.
         *
         * @throws IllegalArgumentException when {@code trustDomain} is no SPIFFE trust domain, naming it
         * @throws NullPointerException naming {@code trustDomain} when it is null
         */
        public Builder trustDomain(String trustDomain) {
            Objects.requireNonNull(trustDomain, "trustDomain");
            this.trustDomains = TrustDomains.bundle(trustDomain, aliases);
            this.trustDomain = trustDomain;
            this.trustDomainsSet = true;
            return this;
        }

        /**
         * The mesh's trust domain aliases, istiod's {@code meshConfig.trustDomainAliases} (see {@link #trustDomain});
         * default none.
         *
         * @param aliases not null; each a SPIFFE trust domain name
         * @throws IllegalArgumentException naming the first alias that is no SPIFFE trust domain
         * @throws NullPointerException naming {@code aliases} when it is null
         */
        public Builder trustDomainAliases(List<String> aliases) {
            Objects.requireNonNull(aliases, "aliases");
            this.trustDomains = TrustDomains.bundle(trustDomain, aliases);
            this.aliases = List.copyOf(aliases);
            this.trustDomainsSet = true;
            return this;
        }

        /**
         * The policies in force from {@link #build()} on; default {@link PolicySet#empty()}, under which every request is
         * allowed ({@code ALLOW by default}), as Istio and Cilium allow with no policy. Load them with
         * {@link PolicyLoader}, with this builder's {@link #ciliumOptions} when they hold Cilium policies (otherwise
         * {@link #build()} throws); {@link PolicyEngine#watch} or {@link PolicyEngine#replace} changes them later.
         *
         * @throws NullPointerException naming {@code policies} when it is null
         */
        public Builder policies(PolicySet policies) {
            this.policies = Objects.requireNonNull(policies, "policies");
            return this;
        }

        /** Decides CUSTOM policies; without one, whatever a CUSTOM policy matches is denied. */
        public Builder customAuthorizer(CustomAuthorizer authorizer) {
            this.customAuthorizer = authorizer;
            return this;
        }

        /**
         * Caches decisions keyed by the whole request (0, the default, disables it). Evaluation is
         * already allocation-free; the cache pays off only with many policies per workload.
         */
        public Builder decisionCacheSize(long size) {
            if (size < 0) {
                throw new IllegalArgumentException("decisionCacheSize must be >= 0");
            }
            this.decisionCacheSize = size;
            return this;
        }

        /**
         * How often {@link #watch} re-checks the directory in addition to file-system events.
         *
         * @throws NullPointerException naming {@code interval} when it is null
         */
        public Builder pollInterval(Duration interval) {
            Objects.requireNonNull(interval, "interval");
            if (interval.isNegative() || interval.isZero()) {
                throw new IllegalArgumentException("pollInterval must be positive");
            }
            this.pollInterval = interval;
            return this;
        }

        /** Told about every reload attempt of a {@link PolicyEngine#watch}ed path; null (the default) for none. */
        public Builder reloadListener(ReloadListener listener) {
            this.listener = listener;
            return this;
        }

        /**
         * The engine, deciding with the {@link #policies} given; it watches nothing until {@link PolicyEngine#watch}.
         *
         * @throws IllegalArgumentException when the {@link #policies} hold Cilium policies read with other
         *                                  {@link CiliumOptions} than this builder's {@link #ciliumOptions}
         */
        public PolicyEngine build() {
            return new PolicyEngine(this);
        }
    }
}
