package io.zerohop.policy.internal;

import io.zerohop.policy.PolicyLoadException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A YAML value that remembers where it came from. Jackson's JsonNode drops locations, and every
 * load error must name file, line and field, so the loader builds this small tree instead.
 */
public final class YNode {

    public enum Type { MAP, LIST, SCALAR, NULL }

    final Type type;
    final String file;
    final int line;
    final String path;
    final String scalar;
    final Map<String, YNode> map;
    final List<YNode> list;
    /** YAML 1.1 type of a scalar as kubectl's reader resolves it: str, int, float, bool, ... (null otherwise). */
    final String tag;
    /**
     * Line of the key this value is under (0 for a list item or a document), set once by the parser:
     * a block mapping or list starts on the line after its key, and an unknown key must be named on its own line.
     */
    int keyLine;
    /**
     * Line of the alias ({@code *name}) whose expansion copied this node, 0 for a node written out. A copy keeps the
     * anchor's lines (where its text is); this says where it was used: a duplicate made by an alias named the anchor's
     * line twice ("p.yaml:7: duplicate ... (first at p.yaml:7)").
     */
    int aliasLine;
    /**
     * Whether the key this value is under was a plain (unquoted, untagged) scalar, set with {@link #keyLine}: kubectl's
     * reader types such a key as it types a value ({@code 0x50:} is the number 80) before it writes the JSON key.
     */
    boolean keyPlain;

    YNode(Type type, String file, int line, String path, String scalar, Map<String, YNode> map, List<YNode> list) {
        this(type, file, line, path, scalar, map, list, type == Type.SCALAR ? "str" : null);
    }

    YNode(Type type, String file, int line, String path, String scalar, Map<String, YNode> map, List<YNode> list,
          String tag) {
        this.tag = tag;
        this.type = type;
        this.file = file;
        this.line = line;
        this.path = path;
        this.scalar = scalar;
        this.map = map;
        this.list = list;
    }

    // Read-only views for mesh-core's workload registry (this package is exported to io.zerohop.core only),
    // which binds its file from this tree rather than with Jackson databind (issue 14: ~780 classes).

    /** MAP, LIST, SCALAR or NULL (a YAML null: {@code ~}, {@code null}, nothing). */
    public Type type() {
        return type;
    }

    /** 1-based line where the value starts. */
    public int line() {
        return line;
    }

    /** 1-based line of the key this value is under; 0 for a list item or a document. */
    public int keyLine() {
        return keyLine;
    }

    /** Dotted path from the document root ({@code workloads[0].ports.8080}); "" for the root. */
    public String path() {
        return path;
    }

    /** A scalar's text as written (without quotes); null for anything else. */
    public String scalar() {
        return scalar;
    }

    /** A mapping's entries in file order (a null value is a NULL node, never null); null unless MAP. */
    public Map<String, YNode> entries() {
        return map == null ? null : Collections.unmodifiableMap(map);
    }

    /** A list's items; null unless LIST. */
    public List<YNode> elements() {
        return list == null ? null : Collections.unmodifiableList(list);
    }

    /** What the node is, for an error message: {@code a mapping}, {@code a list}, {@code null}, or the scalar. */
    public String description() {
        return describe();
    }

    PolicyLoadException error(String problem) {
        return new PolicyLoadException(file, line, path, problem + copiedBy());
    }

    /** For a node an alias copied, " (copied here by the alias on line N)"; else "". */
    String copiedBy() {
        return aliasLine > 0 ? " (copied here by the alias on line " + aliasLine + ")" : "";
    }

    boolean isNull() {
        return type == Type.NULL;
    }

    /** Child by key, or null when absent or explicitly null. */
    YNode get(String key) {
        if (type != Type.MAP) {
            return null;
        }
        YNode n = map.get(key);
        return n == null || n.isNull() ? null : n;
    }

    boolean has(String key) {
        return get(key) != null;
    }

    YNode requireMap() throws PolicyLoadException {
        if (type != Type.MAP) {
            if (path.isEmpty() && type == Type.LIST) {
                throw error(topLevelList());
            }
            throw error("expected a mapping, found " + describe());
        }
        return this;
    }

    /**
     * A document that is a list: most often {@code cilium policy import}'s JSON form (a list of bare Cilium rules, as
     * cilium/cilium examples/policies/l3/ingress-allow-all/ingress-allow-all.json), which carries no namespace and so no
     * CiliumNetworkPolicy scope; zerohop reads Kubernetes objects only.
     */
    private String topLevelList() {
        boolean ciliumRules = !list.isEmpty();
        for (YNode item : list) {
            ciliumRules &= item.type == Type.MAP && item.map.containsKey("endpointSelector") && !item.map.containsKey("kind");
        }
        String objects = "zerohop reads Kubernetes objects (apiVersion, kind, metadata, spec), one per YAML document or in a"
                + " kind: List";
        if (!ciliumRules) {
            return "expected a Kubernetes object (a mapping), found a list at the top level: " + objects;
        }
        return "expected a Kubernetes object, found a list of " + list.size() + " bare Cilium rule" + (list.size() == 1 ? "" : "s")
                + " at the top level (the JSON that `cilium policy import` reads): " + objects + "; put each rule under"
                + " spec: of a CiliumNetworkPolicy (apiVersion: cilium.io/v2, kind: CiliumNetworkPolicy, metadata: {name,"
                + " namespace}) or, to select endpoints of every namespace, a CiliumClusterwideNetworkPolicy";
    }

    /** Fails on keys outside {@code allowed}: a typo must not silently widen or narrow a policy. */
    YNode onlyKeys(Set<String> allowed) throws PolicyLoadException {
        requireMap();
        for (Map.Entry<String, YNode> e : map.entrySet()) {
            if (!allowed.contains(e.getKey())) {
                YNode v = e.getValue();
                String near = Loader.nearest(e.getKey(), new java.util.TreeSet<>(allowed));
                String hint = near == null ? "" : "; did you mean " + near + "?" + (near.equalsIgnoreCase(e.getKey())
                        ? " (field names are case-sensitive)" : "");
                throw new PolicyLoadException(file, v.keyLine > 0 ? v.keyLine : v.line, v.path,
                        "unknown field (expected one of " + String.join(", ", new java.util.TreeSet<>(allowed)) + ")" + hint + v.copiedBy());
            }
        }
        return this;
    }

    List<YNode> items() throws PolicyLoadException {
        if (type == Type.NULL) {
            return Collections.emptyList();
        }
        if (type != Type.LIST) {
            throw error("expected a list, found " + describe());
        }
        return list;
    }

    String text() throws PolicyLoadException {
        if (type != Type.SCALAR) {
            throw error("expected a scalar value, found " + describe());
        }
        return scalar;
    }

    /**
     * Text of a scalar that must be a YAML string: Kubernetes' schema refuses {@code 8080} or {@code true}
     * where a string is declared, so an unquoted number or boolean is an error, not a silent conversion.
     */
    String string() throws PolicyLoadException {
        String t = text();
        if (!"str".equals(tag)) {
            throw error("expected a string, found " + describe() + " (quote it)");
        }
        return t;
    }

    /**
     * A boolean field as the API server reads it: kubectl turns the YAML 1.1 booleans go-yaml v2 resolves
     * ({@code true True TRUE y Y yes Yes YES on On ON} and their false forms {@code false False FALSE n N no No NO off Off
     * OFF}, plain only) into JSON true or false; a quoted {@code "false"} stays a string, which the CRD's boolean schema
     * refuses. Errors name the file, line and field.
     */
    boolean bool() throws PolicyLoadException {
        String t = text();
        if (!"bool".equals(tag)) {
            throw error("expected a boolean (true or false), found " + describe() + ("str".equals(tag)
                    ? " (a string: the field is boolean and the API server refuses a string; write it without quotes)" : ""));
        }
        return switch (t) {
            case "true", "True", "TRUE", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON" -> true;
            case "false", "False", "FALSE", "n", "N", "no", "No", "NO", "off", "Off", "OFF" -> false;
            default -> throw error("expected a boolean (true or false), found " + describe());
        };
    }

    /** String text of a child, or {@code dflt} when absent. */
    String string(String key, String dflt) throws PolicyLoadException {
        YNode n = get(key);
        return n == null ? dflt : n.string();
    }

    /** Scalar text of a child, or {@code dflt} when absent. */
    String text(String key, String dflt) throws PolicyLoadException {
        YNode n = get(key);
        return n == null ? dflt : n.text();
    }

    String describe() {
        return switch (type) {
            case MAP -> "a mapping";
            case LIST -> "a list";
            case NULL -> "null";
            case SCALAR -> "str".equals(tag) ? "\"" + scalar + "\"" : (tag == null ? "" : typeName(tag) + " ") + scalar;
        };
    }

    private static String typeName(String tag) {
        return switch (tag) {
            case "int" -> "integer";
            case "bool" -> "boolean";
            case "float" -> "number";
            default -> tag;
        };
    }

    static YNode map(String file, int line, String path) {
        return new YNode(Type.MAP, file, line, path, null, new LinkedHashMap<>(), null);
    }
}
