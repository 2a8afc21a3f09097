package io.zerohop.policy;

import io.zerohop.policy.internal.Loader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Loads Istio ({@code security.istio.io/v1}, {@code v1beta1}: AuthorizationPolicy,
 * PeerAuthentication) and Cilium ({@code cilium.io/v2}: CiliumNetworkPolicy,
 * CiliumClusterwideNetworkPolicy) YAML or JSON, multi-document files included, with kubectl's YAML
 * semantics (YAML 1.1 types, anchors/aliases and merge keys expanded, duplicate keys refused).
 * Validation is istiod's ({@code pkg/config/validation}) and Cilium's ({@code pkg/policy/api}).
 * Other kinds are skipped with one warning each; one of these four kinds with an unserved version
 * or without {@code apiVersion}, or any invalid object, fails the whole load with a
 * {@link PolicyLoadException} naming file, line and field. Never returns null.
 */
public final class PolicyLoader {

    private PolicyLoader() {
    }

    /**
     * Every {@code *.yaml}, {@code *.yml} and {@code *.json} file directly in {@code dir}, in name
     * order, as {@code kubectl apply -f dir} reads them (k8s.io/cli-runtime pkg/resource/visitor.go
     * {@code ignoreFile}), except that the extension matches in any case: {@code seed.YAML} is
     * loaded with a warning, where kubectl skips it silently (a skipped DENY widens access). A hidden
     * file with one of those extensions ({@code .deny.yaml}, a ConfigMap key so named) is loaded, as kubectl
     * applies it; other hidden entries and a ConfigMap mount's {@code ..data} entries are skipped silently;
     * every other file or directory not loaded is named in a warning ({@link PolicySet#warnings()}, logged
     * at WARN). A first load of a directory with no policy file in it warns that every authenticated peer is
     * allowed ({@link #NO_POLICY_LOADED}). A file in it with no object (empty, or only comments, blank lines or
     * {@code ---}) fails the load naming the file, as {@code kubectl apply -f} refuses such a file ("no objects passed
     * to apply"): read as no policy, a file truncated in place dropped its policies (delete a file to remove them).
     *
     * <p>Cilium policies are read with {@link CiliumOptions#defaults()} (Cilium 1.19's); an engine with other options
     * refuses such a set. The overloads taking {@link CiliumOptions} read them with those.
     *
     * @throws NullPointerException naming {@code dir} when it is null
     */
    public static PolicySet fromDirectory(Path dir) throws PolicyLoadException {
        return fromDirectory(dir, CiliumOptions.defaults());
    }

    /**
     * As {@link #fromDirectory(Path)}, Cilium policies read as an agent with {@code options} reads them (a cluster whose
     * Cilium runs with {@code policy-default-local-cluster: false}, 1.18's default and before 1.18 always:
     * {@code CiliumOptions.builder().policyDefaultLocalCluster(false).build()}; give the engine the same,
     * {@link PolicyEngine.Builder#ciliumOptions}).
     *
     * @throws NullPointerException naming {@code dir} or {@code options} when it is null
     */
    public static PolicySet fromDirectory(Path dir, CiliumOptions options) throws PolicyLoadException {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(options, "options");
        return fromDirectory(dir, null, options);
    }

    /**
     * A directory's or a file's policies again, for {@link PolicyEngine#watch}: logs only the warnings of files
     * changed since {@code previous} was loaded, and warnings new since ({@link Loader#loadFiles(List, List, java.util.Map,
     * java.util.Set)}).
     */
    static PolicySet reload(Path path, boolean file, PolicySet previous, CiliumOptions options) throws PolicyLoadException {
        if (file) {
            // A watched file deleted, and still absent after the watcher's wait for a deleted file: no policy, as a
            // deleted file of a watched directory is (it kept the old set, while a directory's dropped it). The
            // directory gone too is no deletion of the file: that stays an error, and the set in force stays.
            Path parent = path.toAbsolutePath().getParent();
            if (Files.notExists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS) && parent != null && Files.isDirectory(parent)) {
                return load(List.of(), List.of(), path.toString(), previous, options);
            }
            return load(List.of(path), List.of(), path.toString(), previous, options);
        }
        return fromDirectory(path, previous, options);
    }

    private static PolicySet fromDirectory(Path dir, PolicySet previous, CiliumOptions options) throws PolicyLoadException {
        if (!Files.isDirectory(dir)) {
            throw new PolicyLoadException(dir.toString(), 0, "", Files.exists(dir) ? "not a directory" : "no such directory");
        }
        Loader.Listing listing;
        try {
            listing = Loader.list(dir);
        } catch (IOException e) {
            throw new PolicyLoadException(dir.toString(), 0, "", "cannot list: " + e.getMessage(), e);
        }
        List<String> warnings = listing.warnings();
        if (previous == null && listing.files().isEmpty()) {
            // An empty or wrongly mounted directory: the engine then allows every authenticated peer, and a first load
            // said nothing of it (a reload to no policy is a WARN of the engine's). A library-user pass.
            warnings = new java.util.ArrayList<>(warnings);
            warnings.add(dir + ": " + NO_POLICY_LOADED + ": it holds no *.yaml, *.yml or *.json file; every authenticated peer is"
                    + " allowed until one holds a policy");
        }
        return load(listing.files(), warnings, dir.toString(), previous, options);
    }

    /**
     * The words of the warning a first {@link #fromDirectory} load of a directory with no policy file in it gives
     * ({@code DIR: no policy loaded from it: ...}), for a tool that would otherwise say it again.
     */
    public static final String NO_POLICY_LOADED = "no policy loaded from it";

    /**
     * A file with no object (empty, or only comments, blank lines or {@code ---}) fails the load naming it, as in
     * {@link #fromDirectory}.
     *
     * <p>Cilium policies are read with {@link CiliumOptions#defaults()} (Cilium 1.19's); an engine with other options
     * refuses such a set. The overloads taking {@link CiliumOptions} read them with those.
     *
     * @throws NullPointerException naming {@code file} when it is null
     */
    public static PolicySet fromFile(Path file) throws PolicyLoadException {
        return fromFile(file, CiliumOptions.defaults());
    }

    /**
     * As {@link #fromFile(Path)}, Cilium policies read as an agent with {@code options} reads them.
     *
     * @throws NullPointerException naming {@code file} or {@code options} when it is null
     */
    public static PolicySet fromFile(Path file, CiliumOptions options) throws PolicyLoadException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(options, "options");
        return load(List.of(file), List.of(), file.toString(), null, options);
    }

    /** @param previous the set in force, whose files' warnings were logged; null: log every warning */
    private static PolicySet load(List<Path> files, List<String> listingWarnings, String source, PolicySet previous,
                                  CiliumOptions options) throws PolicyLoadException {
        return load(files, listingWarnings, source, previous, sourceLimit(Runtime.getRuntime().maxMemory()), options);
    }

    /**
     * The most bytes of policy files one load reads: a twenty-fourth of the heap's maximum ({@code -Xmx}), none without
     * one. Loading holds the YAML, its parse and the compiled set, beside the set in force during a reload, and what that
     * costs per byte depends on the text: measured with the proxy's 128 MB heap, 11 MB of ordinary AuthorizationPolicies
     * (40,401) loaded and reloaded, 21 MB (100,000) ended the process with an OutOfMemoryError (the launcher's
     * {@code -XX:+ExitOnOutOfMemoryError}), and so did one policy of 342,525 principals in 10.35 MB, while 200,000 of
     * them in 6.3 MB loaded (new-user passes). A refused load keeps the set in force. The bound is a measured margin, not
     * a proof: a text denser in values than these can still need more.
     */
    static long sourceLimit(long maxHeap) {
        return maxHeap == Long.MAX_VALUE ? Long.MAX_VALUE : maxHeap / 24;
    }

    /** {@link #load(List, List, String, PolicySet, CiliumOptions)} refusing more than {@code limit} bytes of files. */
    static PolicySet load(List<Path> files, List<String> listingWarnings, String source, PolicySet previous, long limit)
            throws PolicyLoadException {
        return load(files, listingWarnings, source, previous, limit, CiliumOptions.defaults());
    }

    private static PolicySet load(List<Path> files, List<String> listingWarnings, String source, PolicySet previous, long limit,
                                  CiliumOptions options) throws PolicyLoadException {
        long total = 0;
        Path largest = null;
        long largestSize = -1;
        for (Path f : files) {
            long size;
            try {
                size = Files.size(f);
            } catch (IOException e) {
                continue; // the loader reports an unreadable file itself
            }
            total += size;
            if (size > largestSize) {
                largest = f;
                largestSize = size;
            }
        }
        if (total > limit) {
            boolean single = largest.toString().equals(source);
            throw new PolicyLoadException(largest.toString(), 0, "", (single ? "this policy file holds "
                    : "the policy files of " + source + " hold ") + mb(total) + (single ? "" : " (this one " + mb(largestSize) + ")")
                    + ", over the " + mb(limit) + " this process loads at once"
                    + " (a twenty-fourth of its maximum heap, " + mb(limit * 24) + "): loading them could exhaust the heap and end the"
                    + " process; nothing was loaded (a reload keeps the policies in force); raise the heap (-Xmx; for zerohop"
                    + " proxy ZEROHOP_JAVA_OPTS_EXTRA=-Xmx512m) or load fewer policies");
        }
        Loader.Loaded l = Loader.loadFiles(files, listingWarnings, previous == null ? null : previous.digests(),
                previous == null ? java.util.Set.of() : java.util.Set.copyOf(previous.warnings()), options.policyDefaultLocalCluster());
        return new PolicySet(l.compiled(), source, files, l.digests(), options);
    }

    private static String mb(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }

    /**
     * Whether {@code warning}, one of {@link PolicySet#warnings()}, is a note: the loader logs it at INFO, not WARN.
     * The notes are the ones that say zerohop enforces a policy's HTTP attributes itself (istiod's ambient status for
     * ztunnel quoted after it): no problem on a port zerohop parses. Every other warning is logged at WARN. For a tool
     * that prints the warnings itself and should label them as the log does ({@code zerohop policy check}).
     *
     * @param warning not null
     */
    public static boolean isNote(String warning) {
        return Loader.isNote(warning);
    }

    /**
     * Whether {@code warning}, one of {@link PolicySet#warnings()}, is the one an AuthorizationPolicy using
     * {@code requestPrincipals} or {@code request.auth.*} gets when the set holds no RequestAuthentication in its
     * namespace. True only of a set that holds every policy of that namespace: a caller that validates one object
     * alone (mesh-kubernetes) leaves it out there and reports it from the whole set.
     *
     * @param warning not null
     */
    public static boolean isNoRequestAuthentication(String warning) {
        return Loader.isNoRequestAuthentication(warning);
    }

    /**
     * The slf4j logger the loader logs each {@link PolicySet#warnings() load warning} on, at WARN: turn it off to
     * print the warnings some other way. Its short name, {@code Loader}, is the one log lines show.
     */
    public static final String LOGGER = "io.zerohop.policy.internal.Loader";

    /**
     * Reads {@code yaml} as the loader reads a policy file's text, for its YAML syntax alone (no kind, no field is
     * looked at): for another YAML file of the same tool whose syntax errors should read as a policy file's.
     *
     * @param name used in the error in place of a file name
     * @throws PolicyLoadException the loader's error for the text: for the first syntax error {@code name:line:
     *                             key: invalid YAML: reason} ({@link PolicyLoadException#problem()} starts with
     *                             {@code invalid YAML: }), with the column hint for a key that lines up with none
     *                             and a tab named; also for a text too large, too deeply nested or with too many
     *                             alias nodes, as a policy file would be refused
     * @throws NullPointerException naming {@code name} or {@code yaml}, whichever is null
     */
    public static void checkYaml(String name, String yaml) throws PolicyLoadException {
        requireName(name, yaml);
        io.zerohop.policy.internal.YamlDocuments.parse(name, yaml);
    }

    /**
     * Both non-null, and {@code name} one line: a name with a line break is the YAML passed first (the arguments swapped),
     * which was read as a document {@code "inline.yaml"} and refused as "expected a mapping", quoting the whole policy as
     * the file name (a new-user pass).
     */
    private static void requireName(String name, String yaml) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(yaml, "yaml");
        if (name.indexOf('\n') >= 0) {
            throw new IllegalArgumentException("name has a line break: it names the text in messages, and the YAML comes second"
                    + " (fromString(name, yaml)); were the arguments swapped?");
        }
    }

    /**
     * <p>Cilium policies are read with {@link CiliumOptions#defaults()} (Cilium 1.19's); an engine with other options
     * refuses such a set. The overloads taking {@link CiliumOptions} read them with those.
     *
     * @param name used in error messages in place of a file name; one line
     * @throws NullPointerException naming {@code name} or {@code yaml}, whichever is null
     * @throws IllegalArgumentException when {@code name} has a line break (the arguments swapped)
     */
    public static PolicySet fromString(String name, String yaml) throws PolicyLoadException {
        return fromString(name, yaml, CiliumOptions.defaults());
    }

    /**
     * As {@link #fromString(String, String)}, Cilium policies read as an agent with {@code options} reads them.
     *
     * @throws NullPointerException naming {@code name}, {@code yaml} or {@code options}, whichever is null
     */
    public static PolicySet fromString(String name, String yaml, CiliumOptions options) throws PolicyLoadException {
        requireName(name, yaml);
        Objects.requireNonNull(options, "options");
        return new PolicySet(Loader.loadString(name, yaml, true, options.policyDefaultLocalCluster()), name, List.of(), java.util.Map.of(),
                options);
    }

    /**
     * As {@link #fromString}, without logging the {@link PolicySet#warnings() warnings}: for a caller that reports
     * them itself, or has already (mesh-kubernetes validates each object alone when it changes, which logs its
     * warnings under the object's name, then loads all objects together at every install, which would repeat
     * every warning of the cluster on every change, at positions in an internal text).
     *
     * <p>Cilium policies are read with {@link CiliumOptions#defaults()} (Cilium 1.19's); an engine with other options
     * refuses such a set. The overloads taking {@link CiliumOptions} read them with those.
     *
     * @param name used in error messages in place of a file name
     * @throws NullPointerException naming {@code name} or {@code yaml}, whichever is null
     */
    public static PolicySet fromStringQuietly(String name, String yaml) throws PolicyLoadException {
        return fromStringQuietly(name, yaml, CiliumOptions.defaults());
    }

    /**
     * As {@link #fromStringQuietly(String, String)}, Cilium policies read as an agent with {@code options} reads them.
     *
     * @throws NullPointerException naming {@code name}, {@code yaml} or {@code options}, whichever is null
     */
    public static PolicySet fromStringQuietly(String name, String yaml, CiliumOptions options) throws PolicyLoadException {
        requireName(name, yaml);
        Objects.requireNonNull(options, "options");
        return new PolicySet(Loader.loadString(name, yaml, false, options.policyDefaultLocalCluster()), name, List.of(),
                java.util.Map.of(), options);
    }
}
