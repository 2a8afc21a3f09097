package io.zerohop.kubernetes.internal;

import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;
import io.zerohop.kubernetes.ServiceEntryVisibility;
import io.zerohop.kubernetes.ServiceEntryVisibility.Visibility;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;

/**
 * Reads {@code serviceEntryVisibility} out of a MeshConfig YAML document, the file istiod reads through its
 * {@code --meshConfig} flag (istio/istio pilot/cmd/pilot-discovery/app/cmd.go, default {@code ./etc/istio/config/mesh}:
 * the {@code mesh} key of the {@code istio} ConfigMap), field names as istio/api mesh/v1alpha1/config.proto's JSON names.
 * Every other MeshConfig key is skipped. Inside {@code serviceEntryVisibility} a key it does not know, a visibility that
 * is none of the enum's, a list where a mapping belongs and the like are refused naming {@code source:line} and the
 * field: istiod would drop a misspelt {@code policies} and so publish every entry as the default says (a widening), and
 * a start has no last good matcher to keep. {@code applyToSidecars} is read and ignored (zerohop has no sidecars).
 */
public final class MeshConfigVisibility {
    private static final Set<String> TOP = Set.of("defaultVisibility", "applyToSidecars", "policies");
    private static final Set<String> POLICY = Set.of("visibility", "matchingRules");
    private static final Set<String> RULE = Set.of("namespaceSelector");
    private static final Set<String> SELECTOR = Set.of("matchLabels", "matchExpressions");
    private static final Set<String> EXPRESSION = Set.of("key", "operator", "values");

    private MeshConfigVisibility() {}

    /**
     * @param yaml   a MeshConfig document
     * @param source what to name in errors (a file path)
     * @return {@link ServiceEntryVisibility#UNSET} when the document or its {@code serviceEntryVisibility} is absent or empty
     * @throws IllegalArgumentException naming {@code source:line: serviceEntryVisibility....} and what is wrong
     */
    public static ServiceEntryVisibility parse(String yaml, String source) {
        Node root;
        try {
            root = new Yaml(new LoaderOptions()).compose(new StringReader(yaml));
        } catch (org.yaml.snakeyaml.error.MarkedYAMLException bad) {
            // SnakeYAML's own message runs over several lines, with the position inside it; the CLI's errors are one
            // "file:line: ..." line (h416's new-user pass).
            org.yaml.snakeyaml.error.Mark m = bad.getProblemMark() != null ? bad.getProblemMark() : bad.getContextMark();
            String problem = bad.getProblem() != null ? bad.getProblem() : bad.getMessage();
            throw new IllegalArgumentException(source + (m == null ? "" : ":" + (m.getLine() + 1)) + ": not YAML: "
                    + problem.replaceAll("\\s+", " ").strip()
                    + (m == null ? "" : " (column " + (m.getColumn() + 1) + ")"), bad);
        } catch (YAMLException bad) {
            throw new IllegalArgumentException(source + ": not YAML: " + String.valueOf(bad.getMessage()).replaceAll("\\s+", " ").strip(), bad);
        }
        if (root == null || isNull(root)) {
            return ServiceEntryVisibility.UNSET;
        }
        MappingNode mesh = mapping(root, source, "MeshConfig");
        Node sev = null;
        for (NodeTuple t : mesh.getValue()) {
            if ("serviceEntryVisibility".equals(scalar(t.getKeyNode(), source, "MeshConfig key"))) {
                sev = t.getValueNode();
            }
        }
        if (sev == null || isNull(sev)) {
            return ServiceEntryVisibility.UNSET;
        }
        String at = "serviceEntryVisibility";
        Map<String, Node> fields = fields(sev, source, at, TOP);
        ServiceEntryVisibility.Builder b = ServiceEntryVisibility.builder();
        if (fields.containsKey("defaultVisibility")) {
            b.defaultVisibility(visibility(fields.get("defaultVisibility"), source, at + ".defaultVisibility"));
        }
        Node policies = fields.get("policies");
        if (policies != null && !isNull(policies)) {
            List<Node> items = sequence(policies, source, at + ".policies");
            for (int i = 0; i < items.size(); i++) {
                String p = at + ".policies[" + i + "]";
                Map<String, Node> pf = fields(items.get(i), source, p, POLICY);
                Visibility v = pf.containsKey("visibility") ? visibility(pf.get("visibility"), source, p + ".visibility")
                        : Visibility.PUBLIC;
                List<LabelSelector> selectors = new ArrayList<>();
                Node rules = pf.get("matchingRules");
                List<Node> ruleItems = rules == null || isNull(rules) ? List.of() : sequence(rules, source, p + ".matchingRules");
                for (int j = 0; j < ruleItems.size(); j++) {
                    String r = p + ".matchingRules[" + j + "]";
                    Map<String, Node> rf = fields(ruleItems.get(j), source, r, RULE);
                    Node sel = rf.get("namespaceSelector");
                    if (sel == null || isNull(sel)) {
                        // istiod: an unset matcher never matches, so the policy never applies; refused here, as the
                        // administrator meant some rule.
                        throw error(source, ruleItems.get(j), r + ".namespaceSelector: missing (the only matcher istiod"
                                + " implements)");
                    }
                    selectors.add(selector(sel, source, r + ".namespaceSelector"));
                }
                b.policy(v, selectors.toArray(new LabelSelector[0]));
            }
        }
        try {
            return b.build();
        } catch (IllegalArgumentException bad) {
            throw new IllegalArgumentException(source + ": " + bad.getMessage(), bad);
        }
    }

    private static LabelSelector selector(Node n, String source, String at) {
        Map<String, Node> f = fields(n, source, at, SELECTOR);
        LabelSelector s = new LabelSelector();
        Node labels = f.get("matchLabels");
        if (labels != null && !isNull(labels)) {
            Map<String, String> m = new LinkedHashMap<>();
            for (NodeTuple t : mapping(labels, source, at + ".matchLabels").getValue()) {
                String k = scalar(t.getKeyNode(), source, at + ".matchLabels key");
                m.put(k, scalar(t.getValueNode(), source, at + ".matchLabels." + k));
            }
            s.setMatchLabels(m);
        }
        Node exprs = f.get("matchExpressions");
        if (exprs != null && !isNull(exprs)) {
            List<Node> items = sequence(exprs, source, at + ".matchExpressions");
            List<LabelSelectorRequirement> out = new ArrayList<>();
            for (int k = 0; k < items.size(); k++) {
                String e = at + ".matchExpressions[" + k + "]";
                Map<String, Node> ef = fields(items.get(k), source, e, EXPRESSION);
                List<String> values = new ArrayList<>();
                Node vs = ef.get("values");
                if (vs != null && !isNull(vs)) {
                    for (Node v : sequence(vs, source, e + ".values")) {
                        values.add(scalar(v, source, e + ".values[]"));
                    }
                }
                String key = ef.containsKey("key") ? scalar(ef.get("key"), source, e + ".key") : null;
                String op = ef.containsKey("operator") ? scalar(ef.get("operator"), source, e + ".operator") : null;
                if (op == null) {
                    throw error(source, items.get(k), e + ".operator: missing");
                }
                out.add(new LabelSelectorRequirement(key, op, values));
            }
            s.setMatchExpressions(out);
        }
        return s;
    }

    private static Visibility visibility(Node n, String source, String at) {
        String v = scalar(n, source, at);
        return switch (v) {
            // protojson reads an enum by name or by number.
            case "VISIBILITY_UNSPECIFIED", "0", "PUBLIC", "3" -> Visibility.PUBLIC;
            case "NONE", "1" -> Visibility.NONE;
            case "NAMESPACE", "2" -> Visibility.NAMESPACE;
            default -> throw error(source, n, at + ": \"" + v + "\" is none of VISIBILITY_UNSPECIFIED, NONE, NAMESPACE, PUBLIC");
        };
    }

    private static Map<String, Node> fields(Node n, String source, String at, Set<String> known) {
        Map<String, Node> out = new LinkedHashMap<>();
        for (NodeTuple t : mapping(n, source, at).getValue()) {
            String k = scalar(t.getKeyNode(), source, at + " key");
            if (!known.contains(k)) {
                throw error(source, t.getKeyNode(), at + "." + k + ": unknown field (known: " + String.join(", ", known.stream().sorted().toList()) + ")");
            }
            if (out.put(k, t.getValueNode()) != null) {
                throw error(source, t.getKeyNode(), at + "." + k + ": given twice");
            }
        }
        return out;
    }

    private static MappingNode mapping(Node n, String source, String at) {
        if (n instanceof MappingNode m) {
            return m;
        }
        throw error(source, n, at + ": a mapping expected");
    }

    private static List<Node> sequence(Node n, String source, String at) {
        if (n instanceof SequenceNode s) {
            return s.getValue();
        }
        throw error(source, n, at + ": a list expected");
    }

    private static String scalar(Node n, String source, String at) {
        if (n instanceof ScalarNode s) {
            return s.getValue();
        }
        throw error(source, n, at + ": a single value expected");
    }

    private static boolean isNull(Node n) {
        return n instanceof ScalarNode s && "tag:yaml.org,2002:null".equals(s.getTag().getValue());
    }

    private static IllegalArgumentException error(String source, Node n, String message) {
        return new IllegalArgumentException(source + ":" + (n.getStartMark().getLine() + 1) + ": " + message);
    }
}
