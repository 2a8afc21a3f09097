package io.zerohop.policy.internal;

import io.zerohop.policy.PolicyLoadException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Typed readers shared by the compilers; each failure names the offending node. */
final class Fields {

    private Fields() {
    }

    /** A list of YAML strings (an unquoted number or boolean is an error, as the API server's schema). */
    static List<String> strings(YNode parent, String key) throws PolicyLoadException {
        return strings(parent, key, null);
    }

    /** As {@link #strings(YNode, String)}; unless {@code emptyIn} is null, an empty string is refused naming it. */
    static List<String> strings(YNode parent, String key, String emptyIn) throws PolicyLoadException {
        YNode n = parent.get(key);
        if (n == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (YNode item : n.items()) {
            String v = item.string();
            if (emptyIn != null && v.isEmpty()) {
                throw item.error("empty value not allowed, found in " + emptyIn);
            }
            out.add(v);
        }
        return out;
    }

    /**
     * The API server's {@code maxItems} for a list the CRD bounds (istio/api's kubebuilder markers: 512 rules, 512
     * {@code from} entries, 16 targetRefs): {@code kubectl apply} refuses a longer list, so loading it would enforce a
     * policy the cluster never holds.
     */
    static List<YNode> atMost(YNode list, int max) throws PolicyLoadException {
        List<YNode> items = list.items();
        if (items.size() > max) {
            throw list.error("Too many: " + items.size() + ": must have at most " + max + " items (the CRD's maxItems)");
        }
        return items;
    }

    /**
     * The API server's {@code maxProperties} for a map the CRD bounds (istio/api type/v1beta1/selector.proto: 4096
     * {@code matchLabels} entries), in its words; {@code map} may be null (absent).
     */
    static void atMostEntries(YNode map, int max) throws PolicyLoadException {
        if (map != null && map.map != null && map.map.size() > max) {
            throw new PolicyLoadException(map.file, map.keyLine > 0 ? map.keyLine : map.line, map.path, "Too many: "
                    + map.map.size() + ": must have at most " + max + " items (the CRD's maxProperties)" + map.copiedBy());
        }
    }

    /**
     * The suffix naming the CRD's {@code x-kubernetes-validations} rule that refuses the same input at the API server,
     * quoting its message (istio/api, kubernetes/customresourcedefinitions.gen.yaml), for an error whose text is istiod's:
     * the API server checks the CRD's schema before istiod's webhook, so {@code kubectl apply} shows the CRD's message.
     */
    static String crdRule(String message) {
        return " (the CRD's rule: \"" + message + "\")";
    }

    /**
     * The API server's {@code maxLength} for a string the CRD bounds, in characters (Unicode code points, as the
     * OpenAPI validator counts them), in the words the existing label-value check uses.
     */
    static void atMostChars(YNode at, String value, int max) throws PolicyLoadException {
        int n = value.codePointCount(0, value.length());
        if (n > max) {
            throw at.error("Too long: may not be more than " + max + " characters (the CRD's maxLength), found " + n);
        }
    }

    /** A Kubernetes label value (apimachinery IsValidLabelValue): the pattern of Cilium's MatchLabelsValue. */
    private static final java.util.regex.Pattern LABEL_VALUE =
            java.util.regex.Pattern.compile("(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?");

    /**
     * The CRDs' checks on {@code matchLabels} values: at most 63 characters (Istio's and Cilium's CRDs), and, with
     * {@code pattern}, a Kubernetes label value (Cilium's {@code MatchLabelsValue}, pkg/k8s/slim/k8s/apis/meta/v1
     * types.go). The API server refuses such a policy; loaded as written, a value no label can have (such as
     * {@code "*"}) would select nobody, so a DENY on it would deny nobody without a word.
     */
    static void labelValues(YNode matchLabels, Map<String, String> values, boolean pattern) throws PolicyLoadException {
        for (Map.Entry<String, String> e : values.entrySet()) {
            String v = e.getValue();
            YNode at = matchLabels.map.get(e.getKey());
            if (v.codePointCount(0, v.length()) > 63) {
                throw at.error("Too long: may not be more than 63 characters (a label value; the CRD's maxLength), found "
                        + v.codePointCount(0, v.length()));
            }
            if (pattern && !LABEL_VALUE.matcher(v).matches()) {
                throw at.error("Invalid value: \"" + v + "\": should match '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$' "
                        + "(a label value: letters, digits, '-', '_', '.', starting and ending alphanumeric)");
            }
        }
    }

    private static final String QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
    private static final java.util.regex.Pattern QUALIFIED_NAME = java.util.regex.Pattern.compile(QUALIFIED_NAME_FMT);
    private static final String QUALIFIED_NAME_MSG = "must consist of alphanumeric characters, '-', '_' or '.', and must start"
            + " and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation"
            + " is '" + QUALIFIED_NAME_FMT + "')";
    /** apimachinery's regex for a DNS-1123 subdomain, which its message quotes (the check is KubernetesNames'). */
    private static final String DNS1123_SUBDOMAIN_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
    private static final String LABEL_VALUE_FMT = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";

    /**
     * Why {@code key} is no Kubernetes label key, in apimachinery's words ({@code k8s.io/apimachinery
     * pkg/util/validation/validation.go} IsQualifiedName: an optional DNS-1123 subdomain prefix of at most 253
     * characters and '/', then a name of at most 63 letters, digits, '-', '_' and '.', starting and ending
     * alphanumeric); null when it is one. The API server refuses a pod (and istiod a WorkloadEntry,
     * {@code pkg/config/labels} Instance.Validate) labelled so.
     */
    static String labelKeyProblem(String key) {
        String[] parts = key.split("/", -1);
        String name;
        if (parts.length == 1) {
            name = parts[0];
        } else if (parts.length == 2) {
            String prefix = parts[0];
            name = parts[1];
            if (prefix.isEmpty()) {
                return "prefix part must be non-empty";
            }
            if (prefix.length() > 253) {
                return "prefix part must be no more than 253 characters";
            }
            if (!KubernetesNames.dns1123(prefix, true)) {
                return "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or"
                        + " '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for"
                        + " validation is '" + DNS1123_SUBDOMAIN_FMT + "')";
            }
        } else {
            return "a qualified name " + QUALIFIED_NAME_MSG.replace(QUALIFIED_NAME_FMT, "(" + DNS1123_SUBDOMAIN_FMT + "/)?"
                    + QUALIFIED_NAME_FMT) + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
        }
        if (name.isEmpty()) {
            return "name part must be non-empty";
        }
        if (name.length() > 63) {
            return "name part must be no more than 63 characters";
        }
        return QUALIFIED_NAME.matcher(name).matches() ? null : "name part " + QUALIFIED_NAME_MSG;
    }

    /**
     * Why {@code value} is no Kubernetes label value, in apimachinery's words ({@code IsValidLabelValue}: empty, or
     * at most 63 letters, digits, '-', '_' and '.', starting and ending alphanumeric); null when it is one.
     */
    static String labelValueProblem(String value) {
        if (value.length() > 63) {
            return "must be no more than 63 characters";
        }
        return LABEL_VALUE.matcher(value).matches() ? null : "a valid label must be an empty string or consist of"
                + " alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g."
                + " 'MyValue',  or 'my_value',  or '12345', regex used for validation is '" + LABEL_VALUE_FMT + "')";
    }

    /** The path of map entry {@code key} under {@code map}, quoted as Go's field paths quote a map key: {@code matchLabels["app name"]}. */
    static String keyPath(YNode map, String key) {
        return map.path + "[\"" + key + "\"]";
    }

    /** An error at map entry {@code key} of {@code map}, on the line the key was typed on. */
    static PolicyLoadException keyError(YNode map, String key, String problem) {
        YNode v = map.map.get(key);
        return new PolicyLoadException(v.file, v.keyLine > 0 ? v.keyLine : v.line, keyPath(map, key), problem);
    }

    static int port(YNode n, boolean allowZero) throws PolicyLoadException {
        String s = n.text();
        // Canonical decimal only. istiod decodes a PeerAuthentication's portLevelMtls keys (map<uint32, ...>)
        // with golang/protobuf's jsonpb, which hands each key to encoding/json as a JSON number: "+8080" and
        // "08080", which the CRD's CEL rule int(key) lets through, cannot be read by istiod and open no port
        // there; " 8080" fails that CEL rule. Integer.parseInt(s.trim()) accepted all three as 8080.
        int p = s.matches("0|[1-9][0-9]{0,4}") ? Integer.parseInt(s) : -1;
        int min = allowZero ? 0 : 1;
        if (p < min || p > 65535) {
            throw n.error("bad port \"" + s + "\" (" + min + "..65535, in decimal without sign, spaces or leading zeros, "
                    + "as istiod decodes portLevelMtls keys)");
        }
        return p;
    }

    /**
     * A flat string-to-string map (labels); sorted so compiled selectors are deterministic.
     *
     * @throws PolicyLoadException a value that is not a string, or a null (below), or an unquoted key kubectl sends as
     *     another key (below), naming its key's line
     */
    static Map<String, String> stringMap(YNode n) throws PolicyLoadException {
        Map<String, String> out = new TreeMap<>();
        if (n == null) {
            return out;
        }
        n.requireMap();
        for (Map.Entry<String, YNode> e : n.map.entrySet()) {
            String key = e.getKey();
            String sent = e.getValue().keyPlain ? YamlDocuments.kubectlMapKey(key) : key;
            if (sent == null || !sent.equals(key)) {
                // kubectl types a plain key as it types a value (go-yaml v2 resolve.go) and writes it back as a JSON key
                // (sigs.k8s.io/yaml convertToJSONableMapKey): {y: a} is the label true=a in the cluster's copy, {01: a} the
                // label 1=a, and a null key (~, null) is refused. Until 6 December the selector matched y=a, a label
                // the cluster's selector does not have. Refused, as portLevelMtls keys are (PeerAuthn.portKey): the
                // author meant the text, and a selector on the other label is not guessed.
                throw keyError(n, key, sent == null
                        ? "a null key, which kubectl refuses (sigs.k8s.io/yaml: \"unsupported map key of type: <nil>\")"
                        : "unquoted, kubectl reads this key as YAML 1.1 does (go-yaml v2, sigs.k8s.io/yaml) and sends the"
                        + " label key \"" + sent + "\", so the cluster's copy selects on " + sent + ", not " + key
                        + "; quote it ('" + key + "') to mean " + key);
            }
            if (e.getValue().isNull()) {
                // The API server drops a null of a non-nullable field before it validates or stores the object
                // (k8s.io/apiextensions-apiserver pkg/apiserver/schema/defaulting/prunenulls.go, additionalProperties
                // included), so istiod and Cilium see the selector without this label: it selects every pod with the other
                // labels, or the whole namespace. Read as an empty value (as until 4 December) it selected almost no pod:
                // an Istio DENY denied nobody the cluster's copy denies, a Cilium policy left unselected endpoints open.
                // Refused rather than dropped: a forgotten value is a typo, and dropping it would widen a selector the
                // author meant to be narrow (a PeerAuthentication's DISABLE to every pod with the other labels).
                throw keyError(n, e.getKey(), "null label value (the API server prunes a null, so the cluster's copy of this"
                        + " selector has no label " + e.getKey() + " and selects every pod with the other labels); write the"
                        + " value, or \"\" for a label whose value is empty, or remove the key");
            } else {
                // Label values are strings in Kubernetes: "version: 1" is refused by the API server.
                out.put(e.getKey(), e.getValue().string());
            }
        }
        return out;
    }
}
