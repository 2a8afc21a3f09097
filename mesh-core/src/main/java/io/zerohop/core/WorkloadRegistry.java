package io.zerohop.core;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.spiffe.spiffeid.SpiffeId;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Address → workload, and node → HBONE address. Lookups read an immutable snapshot; updates swap
 * the whole snapshot, so a lookup never sees half an update.
 *
 * <p>YAML form (also what {@code zerohop proxy --workloads FILE} reads):
 * <pre>
 * trustDomain: cluster.local
 * nodes:
 *   - {name: node-a}                                 # tunnels dial the workload IP:15008
 *   - {name: node-b, hboneAddress: "10.0.0.2:15008"} # tunnels dial this address
 *   - {name: node-c, addresses: [10.0.0.3, "fd00::3"]} # where node-c's proxy dials from
 * workloads:
 *   - {namespace: prod, name: backend, serviceAccount: backend, addresses: [10.0.1.2],
 *      labels: {app: backend}, protocol: HBONE, node: node-b,
 *      ports: {8080: http, 9090: grpc, 5432: tcp}}   # appProtocol per port; unlisted ports: auto
 * </pre>
 */
public final class WorkloadRegistry {
    /** Where a workload's HBONE tunnel ends when no node says otherwise (ztunnel's inbound port). */
    public static final int HBONE_PORT = 15008;

    /**
     * {@code ids}: each workload's {@link Workload#identity()}, built once per replace (one instance per
     * identity), keyed by the workload object itself, so an outbound open finds it without building
     * a SpiffeId (~400 B) or hashing the workload's labels. {@code nodeAddresses}: per node, the
     * addresses its proxy dials from (declared ones, then the IP of its {@code hboneAddress}).
     */
    private record Snapshot(Map<InetAddress, Workload> byAddress, Map<String, InetSocketAddress> nodes, List<Workload> all,
                            IdentityHashMap<Workload, SpiffeId> ids, Map<String, List<InetAddress>> nodeAddresses) {}

    private volatile Snapshot snapshot = new Snapshot(Map.of(), Map.of(), List.of(), new IdentityHashMap<>(), Map.of());

    public static WorkloadRegistry empty() {
        return new WorkloadRegistry();
    }

    public static WorkloadRegistry of(List<Workload> workloads, Map<String, InetSocketAddress> nodes) {
        WorkloadRegistry r = new WorkloadRegistry();
        r.replace(workloads, nodes);
        return r;
    }

    public Optional<Workload> byAddress(InetAddress address) {
        return Optional.ofNullable(snapshot.byAddress.get(address));
    }

    public Optional<Workload> byName(String namespace, String name) {
        for (Workload w : snapshot.all) {
            if (w.namespace().equals(namespace) && w.name().equals(name)) {
                return Optional.of(w);
            }
        }
        return Optional.empty();
    }

    /**
     * {@code w.identity()}, the same instance for every call while {@code w} is in the registry (and
     * for every workload of that identity), so asking allocates nothing; a workload no longer (or
     * never) in the registry gets a fresh {@code w.identity()}. Compare a peer with
     * {@link Workload#hasIdentity} instead where no SpiffeId is needed.
     */
    public SpiffeId identityOf(Workload w) {
        SpiffeId id = snapshot.ids.get(w);
        return id != null ? id : w.identity();
    }

    /**
     * The addresses node {@code node}'s proxy is known to dial from: the node's declared
     * {@code addresses}, then the IP of its {@code hboneAddress} (where it listens); empty when the node
     * is null, undeclared, or declares neither. A forwarded claim naming a pod of that node is believed
     * only from one of these when one is of the tunnel's address family ({@code TunnelSource}).
     */
    public List<InetAddress> nodeAddresses(String node) {
        List<InetAddress> a = node == null ? null : snapshot.nodeAddresses.get(node);
        return a == null ? List.of() : a;
    }

    public List<Workload> all() {
        return snapshot.all;
    }

    /**
     * Where to open the HBONE tunnel for a destination workload: its node's proxy when the node
     * declares an {@code hboneAddress}, else the workload address itself on 15008 (ztunnel). The
     * receiving proxy picks the SVID it presents from the address dialled, so a node proxy serving
     * several workloads (one SVID each) needs the latter; a node address suits a proxy presenting a
     * single identity.
     */
    public InetSocketAddress hboneAddress(Workload w, InetAddress dialled) {
        if (w.node() != null) {
            InetSocketAddress node = snapshot.nodes.get(w.node());
            if (node != null) {
                return node;
            }
        }
        return new InetSocketAddress(dialled, HBONE_PORT);
    }

    /** Replaces everything at once; rejects two workloads claiming one address. Nodes declare no source addresses. */
    public synchronized void replace(List<Workload> workloads, Map<String, InetSocketAddress> nodes) {
        replace(workloads, nodes, Map.of());
    }

    /**
     * Replaces everything at once; rejects two workloads claiming one address.
     *
     * @param nodes         node name → where tunnels to its workloads are dialled ({@link #hboneAddress})
     * @param nodeAddresses node name → the addresses its proxy dials from (a node's other interfaces,
     *                      the other address family); a node's {@code hboneAddress} IP counts too
     */
    public synchronized void replace(List<Workload> workloads, Map<String, InetSocketAddress> nodes,
                                     Map<String, List<InetAddress>> nodeAddresses) {
        Map<InetAddress, Workload> byAddress = new HashMap<>();
        IdentityHashMap<Workload, SpiffeId> ids = new IdentityHashMap<>();
        Map<SpiffeId, SpiffeId> shared = new HashMap<>();
        for (Workload w : workloads) {
            for (InetAddress a : w.addresses()) {
                Workload prev = byAddress.putIfAbsent(a, w);
                if (prev != null) {
                    throw new IllegalArgumentException("address " + a.getHostAddress() + " claimed by both " + prev + " and " + w);
                }
            }
            SpiffeId id;
            try {
                id = w.identity();
            } catch (RuntimeException e) {
                // A name java-spiffe refuses as a path segment: no memo, so identityOf fails where
                // identity() always did (at use), and the rest of the update still installs.
                continue;
            }
            ids.put(w, shared.computeIfAbsent(id, k -> k));
        }
        Map<String, List<InetAddress>> from = new HashMap<>();
        for (Map.Entry<String, List<InetAddress>> e : nodeAddresses.entrySet()) {
            from.put(e.getKey(), new ArrayList<>(e.getValue()));
        }
        for (Map.Entry<String, InetSocketAddress> e : nodes.entrySet()) {
            InetAddress ip = e.getValue().getAddress();
            // An unresolved or wildcard hboneAddress names no interface the proxy dials from.
            if (ip != null && !ip.isAnyLocalAddress()) {
                List<InetAddress> l = from.computeIfAbsent(e.getKey(), k -> new ArrayList<>());
                if (!l.contains(ip)) {
                    l.add(ip);
                }
            }
        }
        Map<String, List<InetAddress>> frozen = new HashMap<>();
        from.forEach((k, v) -> frozen.put(k, List.copyOf(v)));
        snapshot = new Snapshot(Map.copyOf(byAddress), Map.copyOf(nodes), List.copyOf(workloads), ids, Map.copyOf(frozen));
    }

    /** Adds or replaces one workload (same namespace/name) at runtime. */
    public synchronized void put(Workload w) {
        List<Workload> next = new ArrayList<>();
        for (Workload x : snapshot.all) {
            if (!(x.namespace().equals(w.namespace()) && x.name().equals(w.name()))) {
                next.add(x);
            }
        }
        next.add(w);
        replace(next, snapshot.nodes, snapshot.nodeAddresses);
    }

    /** Removes the workload {@code namespace/name} (a pod that left); false when there was none. */
    public synchronized boolean remove(String namespace, String name) {
        List<Workload> next = new ArrayList<>();
        for (Workload x : snapshot.all) {
            if (!(x.namespace().equals(namespace) && x.name().equals(name))) {
                next.add(x);
            }
        }
        if (next.size() == snapshot.all.size()) {
            return false;
        }
        replace(next, snapshot.nodes, snapshot.nodeAddresses);
        return true;
    }

    // ---- YAML ----

    record NodeYaml(String name, String hboneAddress, List<String> addresses) {}

    /** A DNS-1123 subdomain (Kubernetes apimachinery IsDNS1123Subdomain): what a ServiceAccount's name must be. */
    private static final java.util.regex.Pattern SERVICE_ACCOUNT_NAME = java.util.regex.Pattern.compile(
            "(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");

    record WorkloadYaml(String namespace, String name, String serviceAccount, Map<String, String> labels,
                        List<String> addresses, Workload.Protocol protocol, String node,
                        Map<Integer, String> ports) {}

    record FileYaml(String trustDomain, List<NodeYaml> nodes, List<WorkloadYaml> workloads) {}

    /**
     * The Jackson side, a class of its own: built on first use, not when the registry class loads,
     * so a proxy without a registry file never initialises Jackson databind (~400 classes and the
     * JDK's locale providers, 2-3 MB of metadata and ~0.1 s of start-up; issue 14); and its catch
     * handler stays out of the registry's methods, whose verification would otherwise load four
     * Jackson exception classes at every start (ConfigFileTest.aStartWithoutConfigLoadsNoJacksonClass).
     */
    private static final class Yaml {
        /**
         * Strict as the policy loader is (and kubectl): a repeated key is an error rather than the last
         * one winning (two {@code labels:} decide which policies select the workload), and so is
         * anything after the first document (Jackson reads one and dropped the workloads of the rest).
         */
        static final ObjectMapper MAPPER = new ObjectMapper(YAMLFactory.builder()
                .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION).build())
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

        /**
         * Jackson hands an alias over as its anchor's name: {@code namespace: *ns} read as the namespace "ns",
         * moving the workload out of the policies written for it. Refused, naming the line, before binding.
         */
        private static void refuseAliases(Path file, String text) throws IOException {
            try (com.fasterxml.jackson.core.JsonParser p = MAPPER.getFactory().createParser(text)) {
                while (p.nextToken() != null) {
                    if (p instanceof com.fasterxml.jackson.dataformat.yaml.YAMLParser y && y.isCurrentAlias()) {
                        throw new IllegalArgumentException(file + ":" + p.currentTokenLocation().getLineNr() + ": an alias (*"
                                + p.getText() + "): the registry does not expand YAML aliases; write the value itself");
                    }
                }
            }
        }

        /** The value in Jackson's "... to deserialize from String value ('10.0.1.2')" (Number value (8080), ...). */
        private static final java.util.regex.Pattern SCALAR = java.util.regex.Pattern.compile("deserialize from [\\w-]+ value \\('?(.*?)'?\\)");

        /** SnakeYAML's mark line in a syntax error's message. */
        private static final java.util.regex.Pattern MARK = java.util.regex.Pattern.compile(" in '[^']*', line (\\d+), column \\d+:");

        /** Reads {@code file}; a mapping error names the file, the line and the field. */
        static FileYaml read(Path file) throws IOException {
            String text = Files.readString(file);
            try {
                refuseAliases(file, text);
                return MAPPER.readValue(text, FileYaml.class);
            } catch (JsonMappingException e) {
                if (e.getPath().isEmpty() && e.getOriginalMessage().startsWith("No content to map")) {
                    return null; // an empty file: reload names it
                }
                StringBuilder field = new StringBuilder();
                String last = null;
                for (JsonMappingException.Reference r : e.getPath()) {
                    if (r.getFieldName() != null) {
                        field.append(field.length() == 0 ? "" : ".").append(r.getFieldName());
                        last = r.getFieldName();
                    } else if (r.getIndex() >= 0) {
                        field.append('[').append(r.getIndex()).append(']');
                    }
                }
                String problem = e.getOriginalMessage().lines().findFirst().orElse("").replaceAll(" \\(class [^)]*\\)", "");
                if (e instanceof com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException u) {
                    // As the policy loader words it; Jackson's "not marked as ignorable" is about its annotations.
                    problem = "unknown field (expected one of " + String.join(", ", new java.util.TreeSet<>(
                            u.getKnownPropertyIds().stream().map(Object::toString).toList())) + ")"
                            + (field.toString().equals("apiVersion") || field.toString().equals("kind")
                            ? "; this is a Kubernetes manifest, not a workload registry (mesh-core/README.md, Workload registry)" : "");
                }
                // Jackson names its own types (the enum class, java.util.ArrayList); say it in the file's terms.
                if (e instanceof com.fasterxml.jackson.databind.exc.InvalidFormatException f && f.getTargetType() != null
                        && f.getTargetType().isEnum()) {
                    problem = "unknown value \"" + f.getValue() + "\" (one of " + java.util.Arrays.stream(f.getTargetType().getEnumConstants())
                            .map(Object::toString).collect(java.util.stream.Collectors.joining(", ")) + ")";
                } else if (e instanceof com.fasterxml.jackson.databind.exc.MismatchedInputException m && m.getTargetType() != null
                        && !(e instanceof com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException)) {
                    // Records buffer their input, so the parser is past the value: the message holds it.
                    java.util.regex.Matcher scalar = SCALAR.matcher(e.getOriginalMessage());
                    if (scalar.find() && java.util.Collection.class.isAssignableFrom(m.getTargetType())) {
                        problem = "expected a list, found a single value (write [" + scalar.group(1) + "])";
                    } else if (scalar.find(0) && Map.class.isAssignableFrom(m.getTargetType())) {
                        problem = "expected a mapping (key: value), found a single value";
                    }
                }
                if (e.getOriginalMessage().startsWith("Duplicate field")) {
                    // STRICT_DUPLICATE_DETECTION, through databind: the parser's location is the repeated key's.
                    throw new IllegalArgumentException(file + ":" + (e.getLocation() == null ? 0 : e.getLocation().getLineNr()) + ": "
                            + (field.length() == 0 ? "" : field + ": ") + e.getOriginalMessage().replace("Duplicate field", "repeated key"), e);
                }
                if (e.getOriginalMessage().startsWith("Trailing token")) {
                    throw new IllegalArgumentException(file + ":" + (e.getLocation() == null ? 0 : e.getLocation().getLineNr())
                            + ": a second YAML document: the registry is one mapping (trustDomain, nodes, workloads)", e);
                }
                int line = lineAt(text, field.toString());
                throw new IllegalArgumentException(file + ":" + (line > 0 ? line : lineOf(text, last, e)) + ": " + field + ": " + problem, e);
            } catch (com.fasterxml.jackson.core.JsonParseException e) {
                // A repeated key (STRICT_DUPLICATE_DETECTION) or a YAML syntax error: file:line: what, as above.
                String problem = e.getOriginalMessage().lines().findFirst().orElse("unreadable");
                if (problem.startsWith("Duplicate field")) {
                    problem = problem.replace("Duplicate field", "repeated key");
                }
                int line = e.getLocation() == null ? 0 : e.getLocation().getLineNr();
                if (e instanceof com.fasterxml.jackson.dataformat.yaml.JacksonYAMLParseException) {
                    // SnakeYAML's problem and its mark, as the policy loader and --config name them: Jackson's first
                    // line is the context ("while scanning for the next token") and its location can be the line
                    // before. The message ends "problem\n in 'reader', line N, column M:\n excerpt\n ^" (the module
                    // does not read SnakeYAML's, so its exception's fields are out of reach).
                    List<String> lines = e.getOriginalMessage().lines().toList();
                    for (int i = lines.size() - 1; i > 0; i--) {
                        java.util.regex.Matcher mark = MARK.matcher(lines.get(i));
                        if (mark.matches()) {
                            problem = "invalid YAML: " + lines.get(i - 1).trim();
                            line = Integer.parseInt(mark.group(1));
                            break;
                        }
                    }
                    String located = policyWorded(file, text, line);
                    if (located != null) {
                        throw new IllegalArgumentException(located, e);
                    }
                }
                throw new IllegalArgumentException(file + ":" + line + ": " + problem, e);
            }
        }

        /**
         * A YAML syntax error on {@code line} worded as mesh-policy words a policy file's
         * ({@code file:line: field: invalid YAML: reason}): the key typed on the line placed by
         * indentation under the keys above it ({@code workloads[1].labels.app}), a tab said to be
         * one with what to do, a misaligned key given the columns to compare. mesh-policy's reader
         * (YamlDocuments, exported to this module only) reads the text again; it runs the same
         * SnakeYAML parser Jackson does, so it stops at the same mark. Null when it finds no syntax
         * error on that line (the readers disagree), and the caller keeps SnakeYAML's words.
         * Only called for an error.
         */
        static String policyWorded(Path file, String text, int line) {
            try {
                io.zerohop.policy.internal.YamlDocuments.parse(file.toString(), text);
                return null;
            } catch (io.zerohop.policy.PolicyLoadException p) {
                return p.line() == line && p.problem().startsWith("invalid YAML: ") ? p.getMessage() : null;
            } catch (RuntimeException unexpected) {
                return null;
            }
        }

        /**
         * The line of the value (or key) at {@code path} ({@code workloads[0].ports.8080}, read as the
         * JSON pointer {@code /workloads/0/ports/8080}) in {@code text}, read again with the streaming
         * parser; 0 when there is no such path (the file changed meanwhile) or the text no longer parses. Only called for an error.
         */
        static int lineAt(String text, String path) {
            String pointer = "/" + path.replace("[", "/").replace("]", "").replace('.', '/');
            try (com.fasterxml.jackson.core.JsonParser p = MAPPER.getFactory().createParser(text)) {
                while (p.nextToken() != null) {
                    if (p.getParsingContext().pathAsPointer().toString().equals(pointer)) {
                        int line = p.currentTokenLocation().getLineNr();
                        // A key: its scalar value's line (the same in flow style), else the key's, as a block
                        // mapping or list starts on the next line. An entry of a list: its own line.
                        if (p.currentToken() == com.fasterxml.jackson.core.JsonToken.FIELD_NAME && p.nextToken() != null
                                && p.currentToken().isScalarValue()) {
                            return p.currentTokenLocation().getLineNr();
                        }
                        return line;
                    }
                }
                return 0;
            } catch (IOException | RuntimeException e) {
                return 0;
            }
        }
    }

    /**
     * Record deserialization buffers, so Jackson's own location points past the culprit; the line
     * of the offending key is more useful to a person editing the file.
     */
    private static int lineOf(String text, String key, JsonMappingException e) {
        if (key != null) {
            String[] lines = text.split("\n", -1);
            for (int i = 0; i < lines.length; i++) {
                if (lines[i].matches(".*[\\s{,-]" + java.util.regex.Pattern.quote(key) + "\\s*:.*")
                        || lines[i].startsWith(key + ":")) {
                    return i + 1;
                }
            }
        }
        return e.getLocation() == null ? 0 : e.getLocation().getLineNr();
    }

    /** Loads a registry file; errors name the file, line and field. */
    public static WorkloadRegistry load(Path file) throws IOException {
        WorkloadRegistry r = new WorkloadRegistry();
        r.reload(file);
        return r;
    }

    /**
     * Re-reads {@code file}; on any error the registry is left as it was.
     *
     * @throws IllegalArgumentException {@code file:line: path: reason} (an empty file: {@code file: empty
     *         workload registry}); the line is the offending value's, or its key's
     */
    public void reload(Path file) throws IOException {
        FileYaml f = Yaml.read(file);
        if (f == null) {
            throw new IllegalArgumentException(file + ": empty workload registry");
        }
        try {
            install(f);
        } catch (FieldError e) {
            // Only now is the text read again for the line: a good file costs nothing more.
            int line = Yaml.lineAt(Files.readString(file), e.path);
            throw new IllegalArgumentException(file + (line > 0 ? ":" + line : "") + ": " + e.getMessage(), e.getCause());
        }
    }

    /**
     * A check after parsing failed at {@code path} ({@code workloads[0].ports.8080}); the message
     * starts with the path. A class of zerohop's own, so the catch in {@link #reload} loads no Jackson class.
     */
    private static final class FieldError extends IllegalArgumentException {
        final String path;

        FieldError(String path, String message, Throwable cause) {
            super(message, cause);
            this.path = path;
        }

        FieldError(String path, String reason) {
            this(path, path + ": " + reason, null);
        }

        /** Re-throws an {@link Addresses} error (whose message starts with {@code path}) as one at {@code path}. */
        static FieldError of(String path, IllegalArgumentException e) {
            return new FieldError(path, e.getMessage(), e);
        }
    }

    private void install(FileYaml f) {
        String td = f.trustDomain() == null ? "cluster.local" : f.trustDomain();
        Map<String, InetSocketAddress> nodes = new HashMap<>();
        Map<String, List<InetAddress>> nodeAddresses = new HashMap<>();
        java.util.Set<String> nodeNames = new java.util.HashSet<>();
        if (f.nodes() != null) {
            for (int i = 0; i < f.nodes().size(); i++) {
                NodeYaml n = f.nodes().get(i);
                nodeNames.add(n.name());
                // Without hboneAddress, tunnels to the node's workloads dial the workload's own IP on
                // 15008 (ztunnel's way), so a node proxy holding many SVIDs can pick the dialled one.
                if (n.hboneAddress() != null) {
                    String where = "nodes[" + i + "].hboneAddress";
                    try {
                        nodes.put(n.name(), Addresses.parseHostPort(n.hboneAddress(), where));
                    } catch (IllegalArgumentException e) {
                        throw FieldError.of(where, e);
                    }
                }
                if (n.addresses() != null) {
                    List<InetAddress> from = new ArrayList<>();
                    for (int j = 0; j < n.addresses().size(); j++) {
                        String where = "nodes[" + i + "].addresses[" + j + "]";
                        InetAddress a;
                        try {
                            a = Addresses.parseIp(n.addresses().get(j), where);
                        } catch (IllegalArgumentException e) {
                            throw FieldError.of(where, e);
                        }
                        if (a.isAnyLocalAddress()) {
                            // No tunnel comes from the wildcard: the node's claims would never be believed.
                            throw new FieldError(where, "the wildcard address is no address a proxy dials from");
                        }
                        from.add(a);
                    }
                    nodeAddresses.put(n.name(), from);
                }
            }
        }
        List<Workload> out = new ArrayList<>();
        // replace() refuses a shared address too, but knows no path; here the second claimant's entry is named.
        Map<InetAddress, Workload> claimedBy = new HashMap<>();
        if (f.workloads() != null) {
            for (int i = 0; i < f.workloads().size(); i++) {
                WorkloadYaml w = f.workloads().get(i);
                String where = "workloads[" + i + "]";
                List<InetAddress> addrs = new ArrayList<>();
                if (w.addresses() != null) {
                    for (int j = 0; j < w.addresses().size(); j++) {
                        String at = where + ".addresses[" + j + "]";
                        InetAddress a;
                        try {
                            a = Addresses.parseIp(w.addresses().get(j), at);
                        } catch (IllegalArgumentException e) {
                            throw FieldError.of(at, e);
                        }
                        addrs.add(a);
                    }
                }
                if (w.node() != null && !nodeNames.contains(w.node())) {
                    throw new FieldError(where + ".node", "unknown node \"" + w.node() + "\" (declare it under nodes:)");
                }
                Map<Integer, AppProtocol> ports = new HashMap<>();
                if (w.ports() != null) {
                    for (Map.Entry<Integer, String> p : w.ports().entrySet()) {
                        if (p.getKey() == null || p.getKey() < 1 || p.getKey() > 65535) {
                            // Workload refuses it too, but its message knows no path.
                            throw new FieldError(where + ".ports." + p.getKey(), "port out of range 1-65535");
                        }
                        AppProtocol proto = AppProtocol.parse(p.getValue());
                        if (proto == AppProtocol.AUTO && p.getValue() != null && !p.getValue().equalsIgnoreCase("auto")) {
                            // A typo must not silently become "sniff": say which names are known.
                            throw new FieldError(where + ".ports." + p.getKey(), "unknown application protocol \""
                                    + p.getValue() + "\" (tcp, http, http2, grpc, auto, or an Istio protocol name)");
                        }
                        ports.put(p.getKey(), proto);
                    }
                }
                if (w.serviceAccount() != null && !SERVICE_ACCOUNT_NAME.matcher(w.serviceAccount()).matches()) {
                    // The API server refuses such a ServiceAccount (kubernetes pkg/apis/core/validation
                    // ValidateServiceAccountName: a DNS-1123 subdomain), so no workload runs as it: a typo
                    // (Web_SA for web-sa) would key a SPIFFE ID no peer presents. New-user pass: it was accepted.
                    throw new FieldError(where + ".serviceAccount", "\"" + w.serviceAccount() + "\" is not a valid"
                            + " Kubernetes ServiceAccount name: a DNS-1123 subdomain (lowercase letters, digits, '-' and '.',"
                            + " starting and ending with a letter or digit, at most 253 characters)");
                }
                Workload made;
                try {
                    made = new Workload(w.namespace(), w.name(), w.serviceAccount() == null ? "default" : w.serviceAccount(),
                            w.labels(), addrs, w.protocol(), w.node(), td, ports);
                } catch (IllegalArgumentException e) {
                    // Which field the constructor refused is in its message; the line is the entry's.
                    throw new FieldError(where, where + ": " + e.getMessage(), e);
                }
                for (int j = 0; j < addrs.size(); j++) {
                    Workload prev = claimedBy.putIfAbsent(addrs.get(j), made);
                    if (prev != null) {
                        throw new FieldError(where + ".addresses[" + j + "]", "address " + addrs.get(j).getHostAddress()
                                + " claimed by both " + prev + " and " + made);
                    }
                }
                out.add(made);
            }
        }
        replace(out, nodes, nodeAddresses);
    }
}
