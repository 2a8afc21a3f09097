package io.zerohop.policy.internal;

import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.PolicyRef.Kind;
import io.zerohop.policy.PolicySelector;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Turns YAML texts into one {@link CompiledPolicies}; any error aborts the whole load. */
public final class Loader {

    private static final Logger LOG = LoggerFactory.getLogger(io.zerohop.policy.PolicyLoader.LOGGER);
    /** Top-level keys of an object of unknown kind: any kind's. */
    private static final Set<String> TOP_KEYS = Set.of("apiVersion", "kind", "metadata", "spec", "specs", "status");
    /** Istio's kinds have no {@code specs}: an unknown key there is offered only its own kind's keys. */
    private static final Set<String> ISTIO_TOP_KEYS = Set.of("apiVersion", "kind", "metadata", "spec", "status");
    /**
     * ObjectMeta's fields (k8s.io/apimachinery pkg/apis/meta/v1 types.go), which kubectl's strict field
     * validation (its default) holds a manifest to: a misspelt {@code namespace} would otherwise put
     * the policy in "default", leaving the namespace it was written for unprotected.
     */
    private static final Set<String> METADATA_KEYS = Set.of("name", "generateName", "namespace", "selfLink", "uid",
            "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
            "labels", "annotations", "ownerReferences", "finalizers", "managedFields");
    /**
     * What the API server takes (k8s.io/apimachinery pkg/util/validation): a custom resource's name is a DNS-1123
     * subdomain ({@code IsDNS1123Subdomain}: at most 253 characters, dot-separated labels, none empty), its namespace a
     * Namespace's name, a DNS-1123 label ({@code IsDNS1123Label}: at most 63, no dot). Until 5 December one pattern with
     * no bound took both, so {@code namespace: prod.x} loaded a DENY that protected nothing (a review pass, helper 252).
     */
    private static final Pattern DNS_SUBDOMAIN = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");

    private final CompiledPoliciesBuilder out = new CompiledPoliciesBuilder();
    /** Each object loaded so far, to where it was ({@code file:line}): a duplicate names the first copy. */
    private final java.util.Map<String, String> seen = new java.util.HashMap<>();
    private final Set<String> skippedKinds = new HashSet<>();
    /** Cilium's {@code policy-default-local-cluster} ({@link io.zerohop.policy.CiliumOptions}): fromEndpoints get the local cluster. */
    private final boolean localCluster;

    private Loader(boolean localCluster) {
        this.localCluster = localCluster;
    }

    /**
     * kubectl's extensions ({@code FileExtensions} in k8s.io/cli-runtime pkg/resource/builder.go),
     * which kubectl compares case-sensitively ({@code ignoreFile} in pkg/resource/visitor.go).
     */
    private static final List<String> EXTENSIONS = List.of(".json", ".yaml", ".yml");

    /**
     * A directory's policy files and what was left out of it.
     *
     * @param files    the files to load, sorted by name
     * @param warnings one line per entry not loaded (non-hidden regular file or directory) and per
     *                 file loaded that kubectl would skip (extension not in lower case)
     */
    public record Listing(List<Path> files, List<String> warnings) {
    }

    /** The files {@link #list} loads: what the watcher fingerprints. */
    public static List<Path> policyFiles(Path dir) throws IOException {
        return list(dir).files();
    }

    /**
     * Lists {@code dir} as {@link #policyFiles}, extension case-insensitively: a {@code .YAML} file
     * is loaded (skipping it could drop a DENY and widen access) with a warning that kubectl would
     * not apply it. A hidden file with a policy extension is loaded, as kubectl applies it; ConfigMap
     * mounts' {@code ..data} entries and hidden entries that are no policy file are skipped silently.
     */
    public static Listing list(Path dir) throws IOException {
        List<Path> files = new ArrayList<>();
        List<Path> skipped = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String name = p.getFileName().toString();
                // kubectl apply -f DIR filters by extension only (cli-runtime visitor.go ignoreFile), so a
                // hidden .deny.yaml (a ConfigMap key so named) is applied: skipping it dropped its DENY. Only
                // a ConfigMap mount's own ..data/..<timestamp> entries, and hidden entries that are no
                // policy file (.git, .DS_Store, an editor's .x.yaml.swp), are passed over without a word.
                if (name.startsWith("..") || name.startsWith(".") && extension(name) == null) {
                    continue;
                }
                // A broken symbolic link too: kubectl apply -f DIR opens every entry with a policy extension
                // and fails on one it cannot read; skipped with a warning, it dropped the DENY it was meant to
                // hold (a mis-mounted volume, a ConfigMap key renamed under a hand-made link).
                if (extension(name) != null && (Files.isRegularFile(p) || Files.isSymbolicLink(p) && !Files.exists(p))) {
                    files.add(p);
                } else {
                    skipped.add(p);
                }
            }
        }
        files.sort(Comparator.comparing(f -> f.getFileName().toString()));
        skipped.sort(Comparator.comparing(f -> f.getFileName().toString()));
        List<String> warnings = new ArrayList<>();
        for (Path f : files) {
            String name = f.getFileName().toString();
            String ext = extension(name);
            if (!EXTENSIONS.contains(ext)) {
                warnings.add(f + ": loaded, but kubectl apply -f " + dir + " would skip it (its extension match is"
                        + " case-sensitive); rename it to " + name.substring(0, name.length() - ext.length())
                        + ext.toLowerCase(Locale.ROOT));
            }
        }
        for (Path p : skipped) {
            warnings.add(p + (Files.isDirectory(p)
                    ? ": directory skipped: only files directly in " + dir + " are loaded (not recursive)"
                    : Files.isRegularFile(p) ? ": skipped: not a policy file (only *.yaml, *.yml and *.json are loaded)"
                    : ": skipped: not a regular file"));
        }
        return new Listing(List.copyOf(files), List.copyOf(warnings));
    }

    /** The file's extension as kubectl's list spells it, matched case-insensitively; null if none. */
    private static String extension(String name) {
        int dot = name.lastIndexOf('.');
        if (dot <= 0) {
            return null;
        }
        String ext = name.substring(dot);
        for (String e : EXTENSIONS) {
            if (e.equalsIgnoreCase(ext)) {
                return ext;
            }
        }
        return null;
    }

    /** The error of a policy file that holds no object ({@link #loadFiles(List, List, Map, Set)}). */
    public static final String NO_OBJECT = "no object in it (empty, or only comments, blank lines or '---'), which kubectl apply"
            + " refuses too (\"no objects passed to apply\"); read as no policy, a file emptied or half-written in place would drop"
            + " its policies: write its policies into it, or delete the file to remove them";

    public static CompiledPolicies loadFiles(List<Path> files) throws PolicyLoadException {
        return loadFiles(files, List.of());
    }

    /** Loads {@code files}; {@code warnings} (a {@link Listing}'s) come first in the result's warnings. */
    public static CompiledPolicies loadFiles(List<Path> files, List<String> warnings) throws PolicyLoadException {
        return loadFiles(files, warnings, null, Set.of()).compiled();
    }

    /**
     * A load of files and the SHA-256 of each file's text (Base64), by path: what the next reload compares to tell a
     * changed file from the others.
     */
    public record Loaded(CompiledPolicies compiled, Map<Path, String> digests) {
    }

    /**
     * Loads {@code files} as {@link #loadFiles(List, List)}, logging only what is new since the load that gave
     * {@code before}: every warning of a file whose text differs from its digest in {@code before} (or is not in it),
     * and any other warning not among {@code logged} (a listing's line, a conflict with a changed file). An unchanged
     * file's warnings were logged when it was loaded; repeated at every reload of a directory they buried the one line
     * about the file just edited (new-user pass), where Kubernetes mode logs an object's warnings once, when it changes.
     * The result's warnings are all of them, logged or not. Nothing is logged when the load fails.
     *
     * @param before the digests of the load in force ({@link Loaded#digests()}); null for a first load: all is logged
     * @param logged the warnings of the load in force; not null
     */
    public static Loaded loadFiles(List<Path> files, List<String> warnings, Map<Path, String> before, Set<String> logged)
            throws PolicyLoadException {
        return loadFiles(files, warnings, before, logged, true);
    }

    /**
     * As {@link #loadFiles(List, List, Map, Set)}; {@code localCluster}: Cilium's {@code policy-default-local-cluster}
     * ({@link io.zerohop.policy.CiliumOptions#policyDefaultLocalCluster()}).
     */
    public static Loaded loadFiles(List<Path> files, List<String> warnings, Map<Path, String> before, Set<String> logged,
                                   boolean localCluster) throws PolicyLoadException {
        Loader l = new Loader(localCluster);
        warnings.forEach(l.out::warn);
        Map<Path, String> digests = new java.util.LinkedHashMap<>();
        java.util.BitSet changed = new java.util.BitSet();
        for (Path f : files) {
            Read read = read(f);
            String text = read.text();
            String digest = digest(read.bytes());
            read = null; // the bytes are not kept while the text is parsed (an interpreted frame holds its locals)
            digests.put(f, digest);
            int from = l.out.warnings().size();
            if (!l.addText(f.toString(), text)) {
                // kubectl apply -f FILE refuses it too ("error: no objects passed to apply"). Loaded as no policy, a file
                // truncated in place (": > f", a half-written file) dropped its DENY, and a reload opened traffic until
                // the rewrite: refused, the set in force stays. Deleting the file is how its policies are removed.
                throw new PolicyLoadException(f.toString(), 0, "", NO_OBJECT);
            }
            if (before == null || !digest.equals(before.get(f))) {
                changed.set(from, l.out.warnings().size());
            }
        }
        l.out.origins(l.seen);
        CompiledPolicies c = l.out.build();
        List<String> all = c.warnings();
        logAll(all, i -> before == null || changed.get(i) || !logged.contains(all.get(i)));
        return new Loaded(c, java.util.Collections.unmodifiableMap(digests));
    }

    /** The SHA-256 of a file's bytes, Base64: what a reload compares. */
    private static String digest(byte[] bytes) {
        try {
            return java.util.Base64.getEncoder().encodeToString(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    /** A file read: its bytes and its text (without a byte-order mark). */
    private record Read(byte[] bytes, String text) {
    }

    /** The file's text; a file that is not UTF-8 fails naming file, line and byte offset. */
    static String readUtf8(Path f) throws PolicyLoadException {
        return read(f).text();
    }

    /**
     * The file's bytes and text, checked to be UTF-8. Held at once: the bytes and the text (a second copy the size of
     * the bytes for ASCII, twice that otherwise). Until 3 December a char buffer twice the file's size and a copy of the
     * text were held too, and the digest encoded the text again: ~5 times the file, so that a 32 MB export did not load
     * in the node proxy's 128 MB heap.
     */
    private static Read read(Path f) throws PolicyLoadException {
        byte[] bytes;
        try {
            long size = Files.size(f);
            if (size > YamlDocuments.MAX_CHARS) {
                throw new PolicyLoadException(f.toString(), 0, "", "too large: " + size + " bytes (limit "
                        + YamlDocuments.MAX_CHARS + ")");
            }
            bytes = Files.readAllBytes(f);
        } catch (IOException e) {
            // The JDK's file exceptions carry only the path as their message.
            String why = e instanceof java.nio.file.NoSuchFileException
                    ? (Files.isSymbolicLink(f) ? "a symbolic link to nothing (no such file)" : "no such file")
                    : e instanceof java.nio.file.AccessDeniedException ? "permission denied"
                    : e instanceof java.nio.file.FileSystemException fs && fs.getReason() != null ? fs.getReason() : e.getMessage();
            throw new PolicyLoadException(f.toString(), 0, "", "cannot read: " + why, e);
        }
        if (bytes.length >= 2 && ((bytes[0] & 0xff) == 0xFE && (bytes[1] & 0xff) == 0xFF
                || (bytes[0] & 0xff) == 0xFF && (bytes[1] & 0xff) == 0xFE)) {
            // UTF-16 with its byte-order mark, what Windows PowerShell 5.1's ">" writes: kubectl apply -f reads every file
            // through unicode.BOMOverride (k8s.io/cli-runtime pkg/resource/visitor.go FileVisitor.Visit), so it applies.
            // Refused until 5 December as "not UTF-8 text" (a review pass, helper 252).
            try {
                return new Read(bytes, StandardCharsets.UTF_16.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString());
            } catch (java.nio.charset.CharacterCodingException e) {
                throw new PolicyLoadException(f.toString(), 0, "", "not UTF-16 text after its byte-order mark (" + e.getMessage()
                        + "); policy files are UTF-8, or UTF-16 with a byte-order mark as kubectl reads them");
            }
        }
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        // Checked through a small buffer (what it decodes is dropped); the text is then built from the bytes at once.
        CharBuffer out = CharBuffer.allocate(8192);
        CoderResult r;
        do {
            out.clear();
            r = decoder.decode(in, out, true);
        } while (r.isOverflow());
        if (r.isError()) {
            int offset = in.position();
            int line = 1;
            for (int i = 0; i < offset; i++) {
                if (bytes[i] == '\n') {
                    line++;
                }
            }
            throw new PolicyLoadException(f.toString(), line, "", String.format(
                    "not UTF-8 text (byte 0x%02x at offset %d); policy files must be UTF-8", bytes[offset] & 0xff, offset));
        }
        boolean bom = bytes.length >= 3 && (bytes[0] & 0xff) == 0xEF && (bytes[1] & 0xff) == 0xBB && (bytes[2] & 0xff) == 0xBF;
        return new Read(bytes, bom ? new String(bytes, 3, bytes.length - 3, StandardCharsets.UTF_8)
                : new String(bytes, StandardCharsets.UTF_8));
    }

    public static CompiledPolicies loadString(String name, String yaml) throws PolicyLoadException {
        return loadString(name, yaml, true);
    }

    /** @param log whether to log the warnings ({@code PolicyLoader.fromStringQuietly}: the caller reports them) */
    public static CompiledPolicies loadString(String name, String yaml, boolean log) throws PolicyLoadException {
        return loadString(name, yaml, log, true);
    }

    /**
     * As {@link #loadString(String, String, boolean)}; {@code localCluster}: Cilium's {@code policy-default-local-cluster}
     * ({@link io.zerohop.policy.CiliumOptions#policyDefaultLocalCluster()}).
     */
    public static CompiledPolicies loadString(String name, String yaml, boolean log, boolean localCluster) throws PolicyLoadException {
        Loader l = new Loader(localCluster);
        l.addText(name, yaml);
        if (log) {
            // A quiet load's text is assembled (mesh-kubernetes): its lines name nothing the user wrote.
            l.out.origins(l.seen);
        }
        return log ? l.finish() : l.out.build();
    }

    private CompiledPolicies finish() {
        CompiledPolicies c = out.build();
        logAll(c.warnings(), i -> true);
        return c;
    }

    /**
     * Notes ({@link #isNote}) logged per load; the others are counted in one line. Each policy with HTTP attributes gets
     * one, so a 20,000-policy export logged 19,990 INFO lines at start and the log fell behind its reader (a new-user
     * pass). WARN lines are never held back.
     */
    static final int NOTES_LOGGED = 100;

    /** Logs the warnings at the indexes {@code include} takes, at most {@link #NOTES_LOGGED} notes of them. */
    private static void logAll(List<String> warnings, java.util.function.IntPredicate include) {
        int notes = 0;
        for (int i = 0; i < warnings.size(); i++) {
            if (include.test(i) && !(isNote(warnings.get(i)) && ++notes > NOTES_LOGGED)) {
                log(warnings.get(i));
            }
        }
        if (notes > NOTES_LOGGED) {
            LOG.info("{} more notes of this load not logged ({} are, per load; PolicySet.warnings() and zerohop policy check"
                    + " give every one)", notes - NOTES_LOGGED, NOTES_LOGGED);
        }
    }

    /** Whether load warning {@code w} is logged at INFO ({@link IstioCompiler#isNote}), not WARN. */
    public static boolean isNote(String w) {
        return IstioCompiler.isNote(w);
    }

    /** {@link io.zerohop.policy.PolicyLoader#isNoRequestAuthentication}. */
    public static boolean isNoRequestAuthentication(String w) {
        return IstioCompiler.isNoRequestAuthentication(w);
    }

    /** Logs a load warning: at INFO a note ({@link #isNote}), at WARN any other. */
    private static void log(String w) {
        if (isNote(w)) {
            LOG.info(w);
        } else {
            LOG.warn(w);
        }
    }

    /** @return whether the text held at least one document */
    private boolean addText(String file, String yaml) throws PolicyLoadException {
        // Each document compiled as it is read: its tree is dropped before the next is built.
        return YamlDocuments.parse(file, yaml, new YamlDocuments.Sink() {
            /** Whether the current document's items were read one at a time, and whether they were compiled. */
            private boolean streamed;
            private boolean expanded;

            @Override
            public void accept(YNode document) throws PolicyLoadException {
                if (streamed) {
                    streamed = false;
                    YNode kind = document.get("kind");
                    YNode apiVersion = document.get("apiVersion");
                    if (!expanded && skippedItem == null && kind != null && apiVersion != null && kind.scalar() != null
                            && apiVersion.scalar() != null && (isList(kind.scalar(), apiVersion.scalar())
                            || apiVersion.scalar().indexOf('/') > 0 && skippedListItemKind(apiVersion.scalar().substring(0,
                                    apiVersion.scalar().indexOf('/')), kind.scalar()) != null)) {
                        // Never a list's items dropped unseen: their kind could not be read ahead (a %TAG directive, an
                        // alias, a merge key), so they were read and dropped, and the list is one to compile.
                        throw (document.get("items") != null ? document.get("items") : document).error("this list's kind"
                                + " and apiVersion come after its items and could not be read ahead of them (they are not"
                                + " plain values of the list's own keys): write kind: and apiVersion: as plain values");
                    }
                }
                addDocument(document);
            }

            /**
             * Every list's items are read one at a time, whatever its kind: compiled for a list kubectl applies, dropped
             * for any other (its document is then skipped or refused on its own keys, which needs no item). Held whole, a
             * list of 20,000 did not fit the node proxy's heap, nor did one whose kind was misspelt or behind a syntax
             * error, which the reload of a running proxy then also held beside the policies in force.
             */
            /** The list's kind and its items' when it is a typed list of a kind zerohop skips (skippedListItemKind), else null. */
            private String skippedList;
            private String skippedItem;

            @Override
            public boolean streamsItems(String kind, String apiVersion) {
                streamed = true;
                expanded = kind != null && apiVersion != null && isList(kind, apiVersion);
                int slash = apiVersion == null ? -1 : apiVersion.indexOf('/');
                skippedItem = expanded || slash < 0 ? null : skippedListItemKind(apiVersion.substring(0, slash), kind);
                skippedList = skippedItem == null ? null : kind;
                return true;
            }

            @Override
            public void item(YNode item) throws PolicyLoadException {
                if (expanded) {
                    addDocument(item);
                } else if (skippedItem != null) {
                    YNode k = item.get("kind"); // null for an item without kind, as the API server lists a built-in kind
                    if (k != null && !k.string().equals(skippedItem)) {
                        throw k.error("a " + skippedList + " holds " + skippedItem + " objects, not " + k.string()
                                + ": skipping the list would skip it");
                    }
                }
            }
        }) > 0;
    }

    /**
     * Whether {@code kind} and {@code apiVersion} are a list whose items this loader compiles, one that
     * {@link #addDocument} takes without an error: a {@code v1 List}, or what {@link #typedList} accepts.
     */
    private static boolean isList(String kind, String apiVersion) {
        if (kind.equals("List") && apiVersion.equals("v1")) {
            return true;
        }
        int slash = apiVersion.indexOf('/');
        if (slash < 0 || !kind.endsWith("List")) {
            return false;
        }
        String group = apiVersion.substring(0, slash);
        String version = apiVersion.substring(slash + 1);
        String itemKind = kind.substring(0, kind.length() - "List".length());
        if (itemKind.isEmpty()) {
            return group.equals(ISTIO_GROUP) || group.equals(CILIUM_GROUP) ? served(group, version) : !group.isEmpty();
        }
        boolean istio = itemKind.equals("AuthorizationPolicy") || itemKind.equals("PeerAuthentication")
                || itemKind.equals("RequestAuthentication");
        boolean cilium = itemKind.equals("CiliumNetworkPolicy") || itemKind.equals("CiliumClusterwideNetworkPolicy");
        return (istio && group.equals(ISTIO_GROUP) || cilium && group.equals(CILIUM_GROUP)) && served(group, version);
    }

    /**
     * Whether {@code group} is a misspelling of security.istio.io ({@code istio}) or cilium.io, or another group of that
     * project, which does not hold the kind: different case or blanks ({@code Security.istio.io}, {@code " cilium.io"}),
     * within 2 edits, another {@code *.istio.io} group ({@code networking.istio.io}) or a group naming cilium
     * ({@code cilium/v2}'s group {@code cilium}). kubectl refuses such an object ("no matches for kind"); skipped with a
     * warning it dropped a DENY (a typo pass). Another product's group (policy.linkerd.io) is none of these.
     */
    private static boolean nearGroup(String group, boolean istio) {
        String g = group.trim().toLowerCase(java.util.Locale.ROOT);
        String ours = istio ? ISTIO_GROUP : CILIUM_GROUP;
        return g.equals(ours) || editDistance(g, ours) <= 2
                || (istio ? g.equals("istio.io") || g.endsWith(".istio.io") : g.contains("cilium"));
    }

    /**
     * The enforced kind {@code kind} misspells beyond {@link #nearest}'s two edits, or null: a plural
     * ({@code AuthorizationPolicies}) in our groups or one a letter or two away ({@link #nearGroup}); and in
     * security.istio.io or cilium.io themselves ({@code exactGroup}), any kind security.istio.io does
     * not have (it has three, all loaded: AuthorizationPolicy, PeerAuthentication, RequestAuthentication; kubectl refuses
     * another),
     * and a cilium.io kind naming a network policy that is not one of Cilium's ({@code NetworkPolicy},
     * {@code CiliumNetworkPolicies}). cilium.io's other kinds (CiliumNode, CiliumEgressGatewayPolicy...) stay skipped.
     */
    private static String enforcedKindMisspelt(String group, String kind, boolean exactGroup) {
        String k = kind.toLowerCase(java.util.Locale.ROOT);
        String singular = k.endsWith("ies") ? k.substring(0, k.length() - 3) + "y" : k.endsWith("s") ? k.substring(0, k.length() - 1) : k;
        for (String enforced : ENFORCED_KINDS) {
            if (singular.equals(enforced.toLowerCase(java.util.Locale.ROOT))) {
                return enforced;
            }
        }
        if (!exactGroup) {
            // A misspelt group (nearGroup): only a plural of an enforced kind is a typo; networking.istio.io's kinds are not.
            return null;
        }
        boolean istio = group.equals(ISTIO_GROUP);
        if (istio) {
            return k.contains("peer") ? "PeerAuthentication" : k.contains("request") ? "RequestAuthentication" : "AuthorizationPolicy";
        }
        if (!istio && k.contains("networkpolic")) {
            return k.contains("clusterwide") ? "CiliumClusterwideNetworkPolicy" : "CiliumNetworkPolicy";
        }
        return null;
    }

    /**
     * The kind of the items of {@code kind}, when it is the typed list of a kind our {@code group} has and zerohop skips:
     * cilium.io's {@code CiliumNodeList},
     * {@code CiliumEndpointList}... (what {@code kubectl get --raw} of that kind returns; kubectl applies it, its
     * discovery mapper maps {@code Kind + "List"}); else null. Such a list is skipped whole, as each of its objects
     * alone is, and an item naming another kind is an error (skipping the list would drop it: checked as the items are
     * read). A kind a letter or two from an enforced one, or naming a network policy, is a typo, refused before this is
     * asked. Until 4 December such a list was refused as an unknown list kind.
     */
    static String skippedListItemKind(String group, String kind) {
        if (kind == null || !kind.endsWith("List") || kind.length() == "List".length()) {
            return null;
        }
        String itemKind = kind.substring(0, kind.length() - "List".length());
        // security.istio.io has three kinds, all loaded (RequestAuthentication since 6 December): none of its lists is skipped.
        boolean skipped = !group.equals(ISTIO_GROUP) && group.equals(CILIUM_GROUP) && !ENFORCED_KINDS.contains(itemKind) && nearest(itemKind, ENFORCED_KINDS) == null
                        && enforcedKindMisspelt(group, itemKind, true) == null && !itemKind.endsWith("List");
        return skipped ? itemKind : null;
    }

    /** Whether {@code group} is one of ours and serves {@code version} (security.istio.io v1, v1beta1; cilium.io v2). */
    private static boolean served(String group, String version) {
        return group.equals(ISTIO_GROUP) ? version.equals("v1") || version.equals("v1beta1")
                : group.equals(CILIUM_GROUP) && version.equals("v2");
    }

    private void addDocument(YNode doc) throws PolicyLoadException {
        doc.requireMap();
        // Strings, as kubectl's decoding into TypeMeta requires: kind: 8080 or kind: true is refused there, and skipped
        // here as an unknown kind it would have dropped a DENY with a warning (a typo pass).
        String kind = doc.get("kind") == null ? "" : doc.get("kind").string();
        String apiVersion = doc.get("apiVersion") == null ? "" : doc.get("apiVersion").string();
        if (kind.equals("List") && apiVersion.equals("v1") || typedList(doc, kind, apiVersion)) {
            // kubectl get -o yaml output wraps objects in a List; the API server's list endpoints in a typed list.
            // Its keys are checked as an object's are: a misspelt items: (itmes:) left a list of nothing and dropped
            // every DENY in it with a "no policy loaded" warning (a new-user pass).
            doc.onlyKeys(Set.of("apiVersion", "kind", "metadata", "items"));
            YNode items = doc.get("items");
            if (items != null) {
                for (YNode item : items.items()) {
                    addDocument(item);
                }
            }
            return;
        }
        Kind k = kind(doc, kind, apiVersion);
        if (k == null) {
            return;
        }
        doc.onlyKeys(topKeys(k));
        YNode meta = doc.get("metadata");
        if (meta == null) {
            throw doc.error("metadata.name is required");
        }
        meta.onlyKeys(METADATA_KEYS);
        stringMaps(meta);
        YNode nameNode = meta.get("name");
        if (nameNode == null || nameNode.text().isEmpty()) {
            throw meta.error("metadata.name is required");
        }
        String name = nameNode.string();
        if (name.length() > 253 || !DNS_SUBDOMAIN.matcher(name).matches()) {
            throw nameNode.error("bad name \"" + name + "\": the API server takes a lower-case RFC 1123 subdomain, at most 253"
                    + " characters of lower-case letters, digits, '-' and '.', each dot-separated part starting and ending with a"
                    + " letter or digit");
        }
        boolean clusterwide = k == Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY;
        // kubectl applies namespaced objects without metadata.namespace to "default".
        String namespace = clusterwide ? "" : meta.get("namespace") == null ? "default" : meta.get("namespace").string();
        if (!clusterwide && (namespace.length() > 63 || !DNS_LABEL.matcher(namespace).matches())) {
            throw meta.get("namespace").error("bad namespace \"" + namespace + "\": a namespace is a lower-case RFC 1123 label, at"
                    + " most 63 characters of lower-case letters, digits and '-', starting and ending with a letter or digit");
        }
        if (!clusterwide && meta.get("namespace") == null) {
            // istio.io's tasks apply many of their policies with kubectl apply -n NS: a file taken from them protects
            // "default" here, not the namespace the task meant (a new-user pass), and nothing said so.
            out.warn(nameNode.file + ":" + nameNode.line + ": " + k.displayName() + " " + name + ": no metadata.namespace: loaded into"
                    + " \"default\", as kubectl apply without -n would (kubectl apply -n NS puts it in NS; write metadata.namespace)");
        }
        String firstAt = seen.putIfAbsent(CompiledPolicies.originKey(k, namespace, name), nameNode.file + ":" + nameNode.line);
        if (firstAt != null) {
            String problem = "duplicate " + k.displayName() + " " + (clusterwide ? name : namespace + "/" + name) + " (first at " + firstAt + ")";
            // One an alias copied is named where the alias is: its name's own line is the first one's.
            throw nameNode.aliasLine > 0 ? new PolicyLoadException(nameNode.file, nameNode.aliasLine, nameNode.path,
                    problem + ": the alias on this line copies it") : nameNode.error(problem);
        }
        PolicyRef ref = new PolicyRef(k, namespace, name, "");
        YNode spec = doc.get("spec");
        if (k == Kind.AUTHORIZATION_POLICY || k == Kind.PEER_AUTHENTICATION || k == Kind.REQUEST_AUTHENTICATION) {
            istioAnnotations(meta, k);
        }
        switch (k) {
            case AUTHORIZATION_POLICY -> {
                IstioPolicy p = IstioCompiler.authorizationPolicy(ref, namespace, spec, dryRunAnnotation(meta), out.warnings());
                out.add(p);
                out.select(istioSelector(p.ref, spec, namespaceNode(meta, nameNode)));
                istioSourceNamespaces(p.ref, spec, out);
            }
            case PEER_AUTHENTICATION -> out.add(PeerAuthn.compile(ref, namespace, spec, out.warnings()));
            case REQUEST_AUTHENTICATION -> {
                out.add(RequestAuthnCompiler.compile(ref, namespace, spec, out.warnings()));
                // For the "selects no workload" check: a mistyped selector leaves its workload's tokens unchecked.
                out.select(istioSelector(ref, spec, namespaceNode(meta, nameNode)));
            }
            default -> {
                String ns = clusterwide ? null : namespace;
                List<YNode> specs = new ArrayList<>();
                if (spec != null) {
                    specs.add(spec);
                }
                if (doc.get("specs") != null) {
                    specs.addAll(doc.get("specs").items());
                }
                if (specs.isEmpty()) {
                    throw doc.error("spec or specs is required");
                }
                boolean first = true;
                for (YNode s : specs) {
                    if (hostRule(s, clusterwide, ref)) {
                        continue;
                    }
                    out.add(CiliumCompiler.compile(ref, ns, s, out.warnings(), localCluster), first);
                    first = false;
                }
                // One selector per rule: each entry of specs is a rule of its own with its own endpointSelector
                // (cilium/cilium pkg/k8s/apis/cilium.io/v2 CiliumNetworkPolicy.Parse: Spec and every Specs entry).
                if (spec != null && !isHostRule(spec)) {
                    out.select(ciliumSelector(ref, spec, "endpointSelector"));
                }
                List<YNode> listed = doc.get("specs") == null ? List.of() : doc.get("specs").items();
                for (int i = 0; i < listed.size(); i++) {
                    if (!isHostRule(listed.get(i))) {
                        out.select(ciliumSelector(ref, listed.get(i), "specs[" + i + "].endpointSelector"));
                    }
                }
            }
        }
    }

    /** Whether Cilium rule {@code rule} ({@code spec} or an entry of {@code specs}) has a {@code nodeSelector}: a host rule. */
    private static boolean isHostRule(YNode rule) {
        YNode n = rule.type == YNode.Type.MAP ? rule.get("nodeSelector") : null;
        return n != null && !n.isNull();
    }

    /**
     * Whether {@code rule} is a host rule, skipped with a warning: a {@code nodeSelector} selects nodes (Cilium applies
     * the rule to each selected node's host endpoint, never to a pod: pkg/policy/rule.go matches a NodeSelector rule
     * only on the host endpoint), and zerohop protects pods, so it enforces none; in Kubernetes mode it is ignored too.
     * Each entry of {@code specs} is a rule of its own, so a host rule beside pod rules skips only itself. What Cilium
     * refuses stays refused: a rule with both selectors (pkg/policy/api rule_validation.go Sanitize, "rule cannot have
     * both EndpointSelector and NodeSelector"), and a nodeSelector in a namespaced CiliumNetworkPolicy (cilium.io/v2
     * cnp_types.go Parse, "Invalid CiliumNetworkPolicy spec: rule cannot have NodeSelector").
     */
    private boolean hostRule(YNode rule, boolean clusterwide, PolicyRef ref) throws PolicyLoadException {
        if (!isHostRule(rule)) {
            return false;
        }
        YNode n = rule.get("nodeSelector");
        if (!clusterwide) {
            throw n.error("a CiliumNetworkPolicy rule cannot have nodeSelector, as Cilium refuses it (\"Invalid CiliumNetworkPolicy"
                    + " spec: rule cannot have NodeSelector\"): a host policy is a CiliumClusterwideNetworkPolicy");
        }
        YNode es = rule.get("endpointSelector");
        if (es != null && !es.isNull()) {
            throw n.error("a rule cannot have both endpointSelector and nodeSelector, as Cilium refuses it (\"rule cannot have"
                    + " both EndpointSelector and NodeSelector\"): it selects pods or nodes");
        }
        // Checked as a pod rule would be (its nodeSelector read as a selector, fromNodes/toNodes, which only a host rule has,
        // left out), then dropped: a typo, a bad CIDR or an unknown entity in it is refused, as Cilium refuses the object
        // (a final new-user pass loaded `ingresDeny:` in a host policy with only the "skipped" warning).
        CiliumCompiler.compile(ref, null, asPodRule(rule, n), new ArrayList<>(), localCluster);
        refuseHostL7(rule);
        out.warn(n.file + ":" + n.line + ": " + ref + ": " + n.path + ": host policy skipped: zerohop does not enforce host policies"
                + " (Cilium applies a nodeSelector rule to the selected nodes' host endpoints; zerohop protects pods, and applies"
                + " it to none)");
        return true;
    }

    /**
     * Cilium refuses a host rule with L7 rules (pkg/policy/api rule_validation.go Rule.Validate; rule_validation_test.go
     * TestL7RulesWithNodeSelector): any on ingress, HTTP or Kafka on egress (DNS there is taken). Skipping such a rule
     * with a warning, as until 7 December, loaded a file Cilium rejects.
     */
    private static void refuseHostL7(YNode rule) throws PolicyLoadException {
        for (String section : new String[] {"ingress", "egress"}) {
            YNode list = rule.get(section);
            for (YNode item : list == null ? List.<YNode>of() : list.items()) {
                YNode toPorts = item.type == YNode.Type.MAP ? item.get("toPorts") : null;
                for (YNode pr : toPorts == null ? List.<YNode>of() : toPorts.items()) {
                    YNode rules = pr.type == YNode.Type.MAP ? pr.get("rules") : null;
                    if (rules == null || rules.type != YNode.Type.MAP) {
                        continue;
                    }
                    // countL7Rules: only non-empty http, kafka and dns lists count (L7Rules.IsEmpty).
                    for (String proto : new String[] {"http", "kafka", "dns"}) {
                        YNode l7 = rules.get(proto);
                        if (l7 == null || l7.items().isEmpty()) {
                            continue;
                        }
                        if (section.equals("ingress")) {
                            throw l7.error("L7 policy is not supported on host ingress yet (Cilium refuses a nodeSelector rule"
                                    + " with L7 rules)");
                        }
                        if (!proto.equals("dns")) {
                            throw l7.error("L7 protocol " + (proto.equals("http") ? "HTTP" : "Kafka") + " is not supported on"
                                    + " host egress yet (Cilium refuses a nodeSelector rule with HTTP or Kafka rules)");
                        }
                    }
                }
            }
        }
    }

    /** Host rule {@code rule} as a pod rule to check: {@code nodeSelector} as its endpointSelector, no fromNodes/toNodes. */
    private static YNode asPodRule(YNode rule, YNode nodeSelector) {
        Map<String, YNode> m = new java.util.LinkedHashMap<>(rule.map);
        m.remove("nodeSelector");
        m.put("endpointSelector", nodeSelector);
        for (String section : new String[] {"ingress", "ingressDeny", "egress", "egressDeny"}) {
            YNode list = m.get(section);
            if (list == null || list.type != YNode.Type.LIST) {
                continue;
            }
            List<YNode> items = new ArrayList<>();
            for (YNode item : list.list) {
                if (item.type == YNode.Type.MAP && (item.map.containsKey("fromNodes") || item.map.containsKey("toNodes"))) {
                    Map<String, YNode> im = new java.util.LinkedHashMap<>(item.map);
                    im.remove("fromNodes");
                    im.remove("toNodes");
                    item = new YNode(YNode.Type.MAP, item.file, item.line, item.path, null, im, null);
                }
                items.add(item);
            }
            m.put(section, new YNode(YNode.Type.LIST, list.file, list.line, list.path, null, null, items));
        }
        return new YNode(YNode.Type.MAP, rule.file, rule.line, rule.path, null, m, null);
    }

    /**
     * {@link PolicySelector} of a compiled AuthorizationPolicy or RequestAuthentication: its spec was accepted, so the
     * fields are well-formed.
     */
    private static PolicySelector istioSelector(PolicyRef ref, YNode spec, YNode namespace) throws PolicyLoadException {
        YNode selector = spec == null ? null : spec.get("selector");
        if (selector != null) {
            YNode at = selector.get("matchLabels") != null ? selector.get("matchLabels") : selector; // where a mistyped label is
            return new PolicySelector(ref, "selector", Fields.stringMap(selector.get("matchLabels")), false, at.file, at.line);
        }
        boolean targetRefs = spec != null && (spec.get("targetRef") != null || spec.get("targetRefs") != null);
        // Without a selector the policy covers its namespace: a line about it is about metadata.namespace.
        return new PolicySelector(ref, targetRefs ? "targetRefs" : "", Map.of(), false, namespace.file, namespace.line);
    }

    /** The node a selectorless policy's line points at: its {@code metadata.namespace}, else its name. */
    private static YNode namespaceNode(YNode meta, YNode nameNode) {
        YNode ns = meta.get("namespace");
        return ns != null ? ns : nameNode;
    }

    /**
     * The {@code rules[].from[].source.namespaces} and {@code notNamespaces} values of a compiled AuthorizationPolicy
     * ({@link io.zerohop.policy.SourceNamespace}): its spec was accepted, so what is there is a list of strings.
     */
    private static void istioSourceNamespaces(PolicyRef ref, YNode spec, CompiledPoliciesBuilder out) {
        YNode rules = spec == null ? null : spec.get("rules");
        if (rules == null || rules.elements() == null) {
            return;
        }
        for (YNode rule : rules.elements()) {
            YNode from = rule.get("from");
            if (from == null || from.elements() == null) {
                continue;
            }
            for (YNode f : from.elements()) {
                YNode source = f.get("source");
                for (String key : new String[] {"namespaces", "notNamespaces"}) {
                    YNode values = source == null ? null : source.get(key);
                    if (values == null || values.elements() == null) {
                        continue;
                    }
                    for (YNode v : values.elements()) {
                        if (v.scalar() != null) {
                            out.sourceNamespace(new io.zerohop.policy.SourceNamespace(ref, v.path(), v.line(), v.scalar(), v.file));
                        }
                    }
                }
            }
        }
    }

    /** {@link PolicySelector} of one rule of a compiled Cilium policy ({@code spec} or an entry of {@code specs}), named {@code field}. */
    private static PolicySelector ciliumSelector(PolicyRef ref, YNode spec, String field) throws PolicyLoadException {
        YNode selector = spec == null ? null : spec.get("endpointSelector");
        if (selector == null) {
            return spec == null ? new PolicySelector(ref, "", Map.of(), false)
                    : new PolicySelector(ref, "", Map.of(), false, spec.file, spec.line);
        }
        YNode exprs = selector.get("matchExpressions");
        YNode at = selector.get("matchLabels") != null ? selector.get("matchLabels") : selector; // where a mistyped label is
        return new PolicySelector(ref, field, Fields.stringMap(selector.get("matchLabels")),
                exprs != null && !exprs.isNull() && !exprs.items().isEmpty(), at.file, at.line);
    }

    /** The top-level keys an object of kind {@code k} may have ({@code specs} is Cilium's alone). */
    private static Set<String> topKeys(Kind k) {
        return k == Kind.CILIUM_NETWORK_POLICY || k == Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY ? TOP_KEYS : ISTIO_TOP_KEYS;
    }

    /**
     * istiod's validateMetadata (pkg/config/validation/validation.go), run before every Istio kind's own
     * validation: {@code istio.io/dry-run} only on an AuthorizationPolicy (checkDryRunAnnotation), and the
     * internal annotations a user may not set.
     */
    private static void istioAnnotations(YNode meta, Kind k) throws PolicyLoadException {
        YNode annotations = meta.get("annotations");
        if (annotations == null) {
            return;
        }
        annotations.requireMap();
        YNode dryRun = annotations.get("istio.io/dry-run");
        if (dryRun != null && k != Kind.AUTHORIZATION_POLICY) {
            throw dryRun.error(k.displayName() + " has unsupported annotation istio.io/dry-run, please remove the annotation "
                    + "(only AuthorizationPolicy supports it)");
        }
        if (annotations.get("internal.istio.io/webhook-always-reject") != null) {
            throw annotations.get("internal.istio.io/webhook-always-reject").error(
                    "\"internal.istio.io/webhook-always-reject\" annotation found, rejecting");
        }
        for (String internal : new String[] {"internal.istio.io/parents", "internal.istio.io/parent-namespace"}) {
            if (annotations.get(internal) != null) {
                throw annotations.get(internal).error("\"" + internal + "\" annotation found, this may not be set by users");
            }
        }
    }

    /** The {@code istio.io/dry-run} annotation's node, or null. */
    private static YNode dryRunAnnotation(YNode meta) throws PolicyLoadException {
        YNode annotations = meta.get("annotations");
        if (annotations == null) {
            return null;
        }
        annotations.requireMap();
        return annotations.get("istio.io/dry-run");
    }

    /**
     * {@code metadata.labels} and {@code metadata.annotations}: maps of strings, as ObjectMeta declares them. kubectl
     * turns an unquoted {@code 1}, {@code true} or {@code on} into a JSON number or boolean there and the object is
     * refused ("cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"), so loading it
     * would enforce a policy the cluster never holds (a typo pass).
     */
    private static void stringMaps(YNode meta) throws PolicyLoadException {
        for (String key : new String[] {"labels", "annotations"}) {
            YNode map = meta.get(key);
            if (map == null || map.isNull()) {
                continue;
            }
            map.requireMap();
            for (YNode value : map.entries().values()) {
                if (!value.isNull()) {
                    value.string();
                }
            }
        }
    }

    private static final List<String> ENFORCED_KINDS = List.of("AuthorizationPolicy", "PeerAuthentication",
            "RequestAuthentication", "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy");
    /** What a document with items in one of our groups may be: List and our kinds' typed lists. */
    private static final List<String> LIST_KINDS = List.of("List", "AuthorizationPolicyList", "PeerAuthenticationList",
            "RequestAuthenticationList", "CiliumNetworkPolicyList", "CiliumClusterwideNetworkPolicyList");

    /**
     * The candidate closest to {@code word} by {@link #editDistance} ignoring case (a case difference alone is
     * distance 0 and suggested), when within 2 edits, fewer than {@code word} has characters, and other than
     * {@code word} itself; the first of equally close ones in {@code candidates}' order; null when none is. The "did you mean" of a mistyped kind here and of a mistyped namespace in the CLI's selector warning.
     */
    public static String nearest(String word, java.util.Collection<String> candidates) {
        String lower = word.toLowerCase(java.util.Locale.ROOT);
        String best = null;
        int bestDistance = 3;
        for (String c : candidates) {
            int d = editDistance(lower, c.toLowerCase(java.util.Locale.ROOT));
            if (!c.equals(word) && d < bestDistance && d < lower.length()) {
                best = c;
                bestDistance = d;
            }
        }
        return best;
    }

    /** Levenshtein distance; kinds and namespace names are short, so the quadratic table is fine. */
    public static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    private static final String ISTIO_GROUP = "security.istio.io";
    private static final String CILIUM_GROUP = "cilium.io";

    /**
     * Whether {@code doc} is a list in one of our groups that {@code kubectl apply -f} expands: an
     * {@code AuthorizationPolicyList}, {@code PeerAuthenticationList}, {@code CiliumNetworkPolicyList} or
     * {@code CiliumClusterwideNetworkPolicyList} (what the API server's list endpoints return, e.g.
     * {@code kubectl get --raw /apis/security.istio.io/v1/authorizationpolicies}), or a {@code List} in
     * a version the group serves. client-go's discovery RESTMapper maps {@code Kind + "List"} and
     * {@code List} in every served group version (k8s.io/client-go {@code restmapper/discovery.go},
     * {@code NewDiscoveryRESTMapper}) and kubectl's flatten visitor applies each item. Skipped with a
     * warning, as other kinds are, such a list dropped every DENY in it. A typed list whose apiVersion
     * is wrong for its items' kind is the same error as that kind's.
     */
    private boolean typedList(YNode doc, String kind, String apiVersion) throws PolicyLoadException {
        if (kind.equals("List") && apiVersion.isEmpty()) {
            // kubectl refuses it ("apiVersion not set"); skipped, its items' DENYs were dropped.
            doc.onlyKeys(Set.of("apiVersion", "kind", "metadata", "items")); // a misspelt apiVersion is named where it was typed
            throw doc.error("apiVersion is required for kind List (v1)");
        }
        int slash = apiVersion.indexOf('/');
        String group = slash < 0 ? "" : apiVersion.substring(0, slash);
        boolean ourGroup = group.equals(ISTIO_GROUP) || group.equals(CILIUM_GROUP);
        YNode at = doc.get("apiVersion") != null ? doc.get("apiVersion") : doc;
        if (kind.equals("List")) {
            if (group.isEmpty()) {
                // v1 is the caller's; kubectl's discovery mapper has no other core version.
                throw at.error("unknown version \"" + apiVersion + "\" for kind List (v1)");
            }
            if (ourGroup && !served(group, apiVersion.substring(slash + 1))) {
                throw at.error("unknown version \"" + apiVersion + "\" for kind List");
            }
            // Any other group: kubectl maps List in every group version it serves and applies each item (each judged
            // here by its own kind); skipped, its DENYs were dropped.
            return true;
        }
        if (!kind.endsWith("List")) {
            return false;
        }
        String itemKind = kind.substring(0, kind.length() - "List".length());
        if (!ENFORCED_KINDS.contains(itemKind)) {
            return false;
        }
        boolean istio = itemKind.equals("AuthorizationPolicy") || itemKind.equals("PeerAuthentication")
                || itemKind.equals("RequestAuthentication");
        String expected = istio ? ISTIO_GROUP + "/v1 or " + ISTIO_GROUP + "/v1beta1" : CILIUM_GROUP + "/v2";
        // As the items' kind itself (kind()): without apiVersion, or in the core group or our other group, an error, not
        // a skip (a new-user pass: an AuthorizationPolicyList in v1 dropped every DENY in it with a warning).
        if (apiVersion.isEmpty()) {
            doc.onlyKeys(Set.of("apiVersion", "kind", "metadata", "items"));
            throw doc.error("apiVersion is required for kind " + kind + " (" + expected + ")");
        }
        if (group.isEmpty() || ourGroup && !group.equals(istio ? ISTIO_GROUP : CILIUM_GROUP)) {
            throw at.error("kind " + kind + " is not in " + (group.isEmpty() ? "the core group" : group) + " (" + expected + ")");
        }
        if (!ourGroup) {
            return false; // another product's list of that name (policy.linkerd.io AuthorizationPolicyList): skipped
        }
        kind(doc, itemKind, apiVersion); // throws for a version its items' kind is not served in
        return true;
    }

    /**
     * The kind to compile, or null to skip the object with a warning. A known kind in its own group
     * with a version that group does not serve (a typo such as {@code v1beta}), or without an
     * apiVersion, is an error: skipping it would silently drop a DENY.
     */
    private Kind kind(YNode doc, String kind, String apiVersion) throws PolicyLoadException {
        int slash = apiVersion.indexOf('/');
        String group = slash < 0 ? "" : apiVersion.substring(0, slash);
        String version = slash < 0 ? apiVersion : apiVersion.substring(slash + 1);
        Kind k = switch (kind) {
            case "AuthorizationPolicy" -> Kind.AUTHORIZATION_POLICY;
            case "PeerAuthentication" -> Kind.PEER_AUTHENTICATION;
            case "RequestAuthentication" -> Kind.REQUEST_AUTHENTICATION;
            case "CiliumNetworkPolicy" -> Kind.CILIUM_NETWORK_POLICY;
            case "CiliumClusterwideNetworkPolicy" -> Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY;
            default -> null;
        };
        YNode at = doc.get("apiVersion") != null ? doc.get("apiVersion") : doc;
        boolean ourGroup = group.equals(ISTIO_GROUP) || group.equals(CILIUM_GROUP);
        if (k != null) {
            boolean istio = k == Kind.AUTHORIZATION_POLICY || k == Kind.PEER_AUTHENTICATION || k == Kind.REQUEST_AUTHENTICATION;
            String expected = istio ? ISTIO_GROUP + "/v1 or " + ISTIO_GROUP + "/v1beta1" : CILIUM_GROUP + "/v2";
            if (apiVersion.isEmpty()) {
                doc.onlyKeys(topKeys(k)); // a misspelt apiVersion is named where it was typed
                throw doc.error("apiVersion is required for kind " + kind + " (" + expected + ")");
            }
            if (group.equals(istio ? ISTIO_GROUP : CILIUM_GROUP)) {
                if (!served(group, version)) {
                    throw at.error("unknown version \"" + apiVersion + "\" for kind " + kind + " (" + expected + ")");
                }
                return k;
            }
            if (ourGroup || group.isEmpty() || nearGroup(group, istio)) {
                throw at.error("kind " + kind + " is not in " + (group.isEmpty() ? "the core group" : group.equals(group.trim()) ? group : "\"" + group + "\"")
                        + " (" + expected + ")");
            }
            // Another product's kind of the same name (e.g. policy.linkerd.io AuthorizationPolicy).
        } else if (kind.isEmpty()) {
            // Any group: kubectl refuses an object without kind ("Object 'Kind' is missing"). Skipped with a
            // warning, a policy whose first lines were lost in a copy dropped its DENY.
            if (doc.has("items")) {
                throw doc.error("kind is required: a list (items:) needs kind: List (apiVersion: v1), or a typed list's kind");
            }
            if (ourGroup || doc.has("metadata") || doc.has("spec")) {
                doc.onlyKeys(TOP_KEYS); // a misspelt kind is named where it was typed
            }
            throw doc.error("kind is required" + (ourGroup ? "" : " (kubectl apply refuses an object without one)"));
        } else if (ourGroup || doc.has("items") || nearGroup(group, true) || nearGroup(group, false)) {
            // cilium.io holds kinds zerohop rightly skips (CiliumNode...), but
            // one a letter or two away from a kind it enforces is a typo: skipping it could drop a DENY. So is a
            // list's kind a letter or two away from List, or from one of our typed lists, in any group.
            String known = nearest(kind, !doc.has("items") ? ENFORCED_KINDS : ourGroup ? LIST_KINDS : List.of("List"));
            if (known == null && !doc.has("items")) {
                known = enforcedKindMisspelt(group, kind, ourGroup);
            }
            if (known == null && ourGroup && doc.has("items") && skippedListItemKind(group, kind) != null) {
                known = null; // a list of a kind zerohop skips: skipped whole, with the warning below
            } else if (known == null && ourGroup && doc.has("items") && kind.endsWith("List")) {
                // A list in our groups that is none of ours (AuthorizationList): its items would be skipped unseen.
                throw (doc.get("kind") != null ? doc.get("kind") : doc).error("unknown list kind \"" + kind + "\" in " + group
                        + " (" + String.join(", ", LIST_KINDS) + ")");
            }
            if (known != null) {
                throw (doc.get("kind") != null ? doc.get("kind") : doc).error("unknown kind \"" + kind + "\" in "
                        + (group.isEmpty() ? "the core group" : group) + ": did you mean " + known + "?");
            }
        }
        if (group.equals("kustomize.config.k8s.io")) {
            // Skipped, its namespace: (or patches) never reached the policies beside it, and a DENY written for
            // that namespace landed in "default" (kubectl apply -f fails on the object too: no REST mapping).
            throw (doc.get("kind") != null ? doc.get("kind") : doc).error("a " + kind + ": zerohop reads plain manifests;"
                    + " render the directory (kubectl kustomize DIR > policies.yaml) and load the output");
        }
        String what = (apiVersion.isEmpty() ? "?" : apiVersion) + " " + (kind.isEmpty() ? "?" : kind);
        if (skippedKinds.add(what)) {
            out.warn(doc.file + ":" + doc.line + ": skipped unsupported kind " + what);
        }
        return null;
    }
}
