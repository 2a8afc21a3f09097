package io.zerohop.policy;

import io.zerohop.policy.internal.CompiledPolicies;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * An immutable, compiled set of policies. Build one with {@link PolicyLoader}; hand it to a
 * {@link PolicyEngine}. Swapping sets is atomic, so decisions in flight finish on the set they
 * started with.
 */
public final class PolicySet {

    private static final PolicySet EMPTY = new PolicySet(CompiledPolicies.EMPTY, "empty");

    private final CompiledPolicies compiled;
    private final String source;
    private final List<Path> files;
    /** SHA-256 of each file's text ({@code Loader.Loaded#digests}): a reload logs the warnings of changed files only. */
    private final Map<Path, String> digests;
    private final CiliumOptions ciliumOptions;

    PolicySet(CompiledPolicies compiled, String source) {
        this(compiled, source, List.of());
    }

    PolicySet(CompiledPolicies compiled, String source, List<Path> files) {
        this(compiled, source, files, Map.of());
    }

    PolicySet(CompiledPolicies compiled, String source, List<Path> files, Map<Path, String> digests) {
        this(compiled, source, files, digests, CiliumOptions.defaults());
    }

    PolicySet(CompiledPolicies compiled, String source, List<Path> files, Map<Path, String> digests, CiliumOptions ciliumOptions) {
        this.compiled = compiled;
        this.source = source;
        this.files = List.copyOf(files);
        this.digests = digests;
        this.ciliumOptions = ciliumOptions;
    }

    /**
     * The Cilium options this set's Cilium policies were read with ({@link PolicyLoader}'s overloads taking
     * {@link CiliumOptions}); {@link CiliumOptions#defaults()} for the others and for {@link #empty()}.
     */
    public CiliumOptions ciliumOptions() {
        return ciliumOptions;
    }

    /** Whether this set holds a CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy. */
    boolean hasCilium() {
        for (PolicyRef r : policies()) {
            if (r.kind() == PolicyRef.Kind.CILIUM_NETWORK_POLICY || r.kind() == PolicyRef.Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY) {
                return true;
            }
        }
        return false;
    }

    public static PolicySet empty() {
        return EMPTY;
    }

    /** Every loaded policy object, in load order. */
    public List<PolicyRef> policies() {
        return compiled.refs();
    }

    /**
     * The selector of each loaded AuthorizationPolicy, RequestAuthentication, CiliumNetworkPolicy and
     * CiliumClusterwideNetworkPolicy (one per rule of a Cilium policy with {@code specs}), in load order, as its file wrote
     * it (see {@link PolicySelector}); PeerAuthentications are not among them. Never
     * null; for any set, files or in-memory.
     */
    public List<PolicySelector> selectors() {
        return compiled.selectors();
    }

    /**
     * Every namespace the loaded AuthorizationPolicies' rules name as a source ({@code from.source.namespaces} and
     * {@code notNamespaces}), in load order, as written (see {@link SourceNamespace}); what a check like Istio's IST0101
     * ReferencedResourceNotFound reads. Never null; empty for a set built in memory without files' YAML.
     */
    public List<SourceNamespace> sourceNamespaces() {
        return compiled.sourceNamespaces();
    }

    public int size() {
        return compiled.refs().size();
    }

    /**
     * Non-fatal findings of the load, each logged at WARN by the loader: entries of a directory
     * that were not loaded, skipped kinds, ignored egress rules, PeerAuthentication conflicts.
     */
    public List<String> warnings() {
        return compiled.warnings();
    }

    /**
     * The files it was loaded from, in load order: never null, empty for {@link PolicyLoader#fromString}
     * and {@link #empty()}. A reload compares them to name files no longer loaded.
     */
    public List<Path> files() {
        return files;
    }

    /** Where it was loaded from: a directory, file or in-memory name. */
    public String source() {
        return source;
    }

    /** Empty for a set not loaded from files. */
    Map<Path, String> digests() {
        return digests;
    }

    CompiledPolicies compiled() {
        return compiled;
    }

    @Override
    public String toString() {
        return "PolicySet[" + source + ", " + PolicyEngine.policies(size()) + "]";
    }
}
