package io.zerohop.policy.internal;

import io.zerohop.policy.Decision;
import io.zerohop.policy.Decision.Outcome;
import io.zerohop.policy.MtlsMode;
import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.WorkloadRef;
import java.util.Map;
import java.util.Set;

/** A compiled PeerAuthentication. {@code mode == null} means UNSET (inherit). */
final class PeerAuthn {

    /** Effective mode of one workload port plus the decision to return for plaintext under STRICT. */
    record Result(MtlsMode mode, PolicyRef source, Decision plaintextDenied) {
    }

    static final Result DEFAULT = new Result(MtlsMode.PERMISSIVE, null, null);

    final PolicyRef ref;
    final String namespace;
    final String[] selectorKeys;
    final String[] selectorValues;
    final Result result;
    final int[] ports;
    final Result[] portResults;
    /** Some {@code portLevelMtls} entry is PERMISSIVE (see {@link #overrides}). */
    final boolean anyPermissivePort;
    /** A selector key is under Cilium's prefix: it selects no workload ({@link IstioCompiler#ciliumOwned}). */
    private final boolean selectsNoPod;
    /**
     * With the mode UNSET, a STRICT and a PERMISSIVE or DISABLE {@code portLevelMtls} entry: the result of a port without
     * an entry of its own where istiod's ambient conversion of this policy merges a STRICT parent into it
     * ({@link #ambientMergedStrict}); null otherwise.
     */
    final Result ambientMergedStrict;
    /** Written with {@code selector: {}} (no labels), which makes it namespace-wide but is not "no selector". */
    boolean emptySelector;
    /**
     * Set while building, on a namespace-wide policy written with {@code selector: {}}: the first policy of
     * its namespace without a selector. In the root namespace istiod's ambient index takes only policies
     * without a selector as the mesh policy of other namespaces' workloads
     * (pilot/pkg/serviceregistry/ambient/workloads.go {@code fetchPeerAuthentications}, {@code Selector == nil}),
     * so that one is the mesh policy there, whichever was loaded first. Null otherwise.
     */
    PeerAuthn meshInstead;
    /** {@link CompiledPolicies}' allow-without-authorization decision naming this policy, by effective mode; filled lazily. */
    final Decision[] noAuthorization = new Decision[io.zerohop.policy.MtlsMode.values().length];

    private PeerAuthn(PolicyRef ref, String namespace, String[] selectorKeys, String[] selectorValues,
                      Result result, int[] ports, Result[] portResults, boolean anyPermissivePort) {
        this.ref = ref;
        this.namespace = namespace;
        this.selectorKeys = selectorKeys;
        this.selectorValues = selectorValues;
        this.result = result;
        this.ports = ports;
        this.portResults = portResults;
        this.anyPermissivePort = anyPermissivePort;
        this.selectsNoPod = IstioCompiler.ciliumOwned(selectorKeys);
        boolean anyStrict = false;
        boolean anyNonStrict = false;
        for (Result r : portResults) {
            anyStrict |= r != null && r.mode() == MtlsMode.STRICT;
            anyNonStrict |= r != null && r.mode() != MtlsMode.STRICT;
        }
        this.ambientMergedStrict = result == null && anyStrict && anyNonStrict
                ? new Result(MtlsMode.STRICT, ref, new Decision(false, Outcome.DENIED_AUTHENTICATION, ref, -1,
                "plaintext connection rejected: mTLS mode STRICT (as ztunnel: istiod's ambient conversion of this policy's"
                        + " portLevelMtls takes the parent mode from the namespace's PeerAuthentication without selector, else"
                        + " the mesh's, which is STRICT, and exempts only the PERMISSIVE and DISABLE ports)"))
                : null;
    }

    /**
     * Whether istiod's ambient conversion of this workload policy (pilot/pkg/serviceregistry/ambient/authorization.go
     * {@code convertPeerAuthentication}, as {@code policies.go} {@code PeerAuthDerivedPolicies} calls it) merges a STRICT
     * parent into it, so that ztunnel refuses plaintext on every port but its PERMISSIVE and DISABLE ones, when the
     * effective parent mode (the namespace-wide policy's, {@code selector: {}} included, else the mesh's: what
     * {@code convertedSelectorPeerAuthentications} and zerohop read) is not STRICT. The conversion reads its parents from
     * an index of policies <em>without</em> selector only ({@code PeerAuthByNamespace}, {@code GetSelector() == nil}):
     * {@code nsNoSelector} is the namespace's first policy without selector, {@code meshNoSelector} the root namespace's,
     * either null. Both differ from what zerohop resolves only when a namespace-wide policy is written with
     * {@code selector: {}}, e.g. a mesh STRICT, a namespace {@code selector: {}} PERMISSIVE, and this policy UNSET with
     * {@code 8080: STRICT, 9090: PERMISSIVE}: ztunnel refuses plaintext on 7070, which the namespace's PERMISSIVE would
     * admit. zerohop refuses it too, never wider than ztunnel.
     */
    boolean ambientMergesStrict(PeerAuthn nsNoSelector, PeerAuthn meshNoSelector) {
        if (ambientMergedStrict == null) {
            return false;
        }
        PeerAuthn parent = nsNoSelector != null ? nsNoSelector : meshNoSelector;
        return parent != null && parent.result != null && parent.result.mode() == MtlsMode.STRICT;
    }

    boolean selects(WorkloadRef w) {
        if (selectsNoPod) {
            return false;
        }
        for (int i = 0; i < selectorKeys.length; i++) {
            if (!selectorValues[i].equals(w.labels().get(selectorKeys[i]))) {
                return false;
            }
        }
        return true;
    }

    boolean isWorkloadLevel() {
        return selectorKeys.length > 0;
    }

    static PeerAuthn compile(PolicyRef base, String namespace, YNode spec, java.util.List<String> warnings)
            throws PolicyLoadException {
        boolean emptySelector = false;
        String[] keys = new String[0];
        String[] values = new String[0];
        MtlsMode mode = null;
        int[] ports = new int[0];
        MtlsMode[] portModes = new MtlsMode[0];
        YNode portLevel = null;
        if (spec != null) {
            spec.onlyKeys(Set.of("selector", "mtls", "portLevelMtls", "mode"));
            YNode selector = spec.get("selector");
            if (selector != null) {
                emptySelector = true;
                Map<String, String> labels = IstioCompiler.workloadSelector(selector, base, warnings);
                keys = labels.keySet().toArray(new String[0]);
                values = labels.values().toArray(new String[0]);
            }
            YNode flatMode = spec.get("mode");
            if (flatMode != null) {
                // The seed article writes spec.mode; upstream has only spec.mtls.mode. Same meaning, said once.
                if (spec.get("mtls") != null) {
                    throw flatMode.error("spec.mode and spec.mtls both set; PeerAuthentication's field is spec.mtls.mode");
                }
                mode = modeValue(flatMode);
                if (mode != MtlsMode.STRICT) {
                    // Upstream has no spec.mode: the API server refuses it (strict field validation) or prunes it, and a
                    // pruned spec is UNSET, which inherits the namespace's or mesh's mode. Read as written, DISABLE or
                    // PERMISSIVE here undid an inherited STRICT (a new-user pass). STRICT, the article's value, only
                    // narrows, so it alone keeps the article's form.
                    throw flatMode.error("no such PeerAuthentication field (the API server drops it, leaving UNSET,"
                            + " which inherits); only the seed article's spec.mode: STRICT is read; write spec: {mtls: {mode: "
                            + flatMode.text() + "}}");
                }
                // The cluster's copy differs, which the warning must say (an operator pass: STRICT checked here, none there).
                warnings.add(flatMode.file + ":" + flatMode.line + ": " + base + ": spec.mode is not a PeerAuthentication "
                        + "field; read as spec.mtls.mode (upstream form: spec: {mtls: {mode: " + flatMode.text() + "}}); "
                        + "kubectl apply to a cluster refuses the unknown field (strict field validation), or, with validation"
                        + " off, the API server drops it and the policy is UNSET there, not STRICT");
            } else {
                mode = mode(spec.get("mtls"));
            }
            portLevel = spec.get("portLevelMtls");
            if (portLevel != null) {
                portLevel.requireMap();
                // istiod's messages (ValidatePeerAuthentication), then the CRD's rule that refuses the same first at the
                // API server (istio/api security/v1beta1/peer_authentication.proto: XValidation on the spec, MinProperties).
                if (keys.length == 0) {
                    throw portLevel.error("mesh/namespace peer authentication cannot have port level mTLS"
                            + Fields.crdRule("portLevelMtls requires selector"));
                }
                if (portLevel.map.isEmpty()) {
                    throw portLevel.error("port level mTLS, if defined, must have at least one element (the CRD's"
                            + " minProperties: " + portLevel.path + " should have at least 1 properties)");
                }
                ports = new int[portLevel.map.size()];
                portModes = new MtlsMode[ports.length];
                int i = 0;
                for (Map.Entry<String, YNode> e : portLevel.map.entrySet()) {
                    // The key's own line: a block mode mapping starts on the line after it (until 6 December a bad
                    // port was placed on its `mode:` line).
                    YNode v = e.getValue();
                    YNode keyNode = new YNode(YNode.Type.SCALAR, portLevel.file, v.keyLine > 0 ? v.keyLine : v.line,
                            portLevel.path + "." + e.getKey(), e.getKey(), null, null);
                    ports[i] = portKey(keyNode, v.keyPlain);
                    portModes[i] = mode(e.getValue());
                    i++;
                }
            }
        }
        PolicyRef ref = new PolicyRef(base.kind(), base.namespace(), base.name(), mode == null ? "UNSET" : mode.name());
        Result[] portResults = new Result[ports.length];
        boolean anyPermissive = false;
        for (int i = 0; i < ports.length; i++) {
            portResults[i] = result(ref, portModes[i], " on port " + ports[i]);
            anyPermissive |= portModes[i] == MtlsMode.PERMISSIVE;
        }
        if (mode == null && !anyPermissive) {
            for (int i = 0; i < ports.length; i++) {
                if (portModes[i] == MtlsMode.DISABLE) {
                    warnings.add(portLevel.file + ":" + portLevel.line + ": " + base + ": portLevelMtls " + ports[i]
                            + " DISABLE has no effect when the workload inherits STRICT from its namespace or the mesh "
                            + "(as ztunnel: istiod's ambient conversion exempts a port from an inherited STRICT only when "
                            + "some port is PERMISSIVE); write PERMISSIVE, which ambient treats as DISABLE");
                }
            }
        }
        PeerAuthn pa = new PeerAuthn(ref, namespace, keys, values, result(ref, mode, ""), ports, portResults, anyPermissive);
        pa.emptySelector = emptySelector && keys.length == 0;
        return pa;
    }

    private static Result result(PolicyRef ref, MtlsMode mode, String where) {
        if (mode == null) {
            return null;
        }
        Decision denied = mode == MtlsMode.STRICT
                ? new Decision(false, Outcome.DENIED_AUTHENTICATION, ref, -1,
                "plaintext connection rejected: mTLS mode STRICT" + where)
                : null;
        return new Result(mode, ref, denied);
    }

    private static MtlsMode mode(YNode mtls) throws PolicyLoadException {
        if (mtls == null) {
            return null;
        }
        mtls.onlyKeys(Set.of("mode"));
        YNode m = mtls.get("mode");
        if (m == null) {
            return null;
        }
        return modeValue(m);
    }

    private static MtlsMode modeValue(YNode m) throws PolicyLoadException {
        return switch (m.string()) {
            case "UNSET" -> null;
            case "STRICT" -> MtlsMode.STRICT;
            case "PERMISSIVE" -> MtlsMode.PERMISSIVE;
            case "DISABLE" -> MtlsMode.DISABLE;
            default -> throw m.error("unknown mTLS mode \"" + m.text() + "\" (the CRD's enum: Unsupported value: \""
                    + m.text() + "\": supported values: \"UNSET\", \"DISABLE\", \"PERMISSIVE\", \"STRICT\")");
        };
    }

    /**
     * A {@code portLevelMtls} key as istiod decodes it ({@link Fields#port}: plain decimal 1..65535). When the CRD's rule
     * refuses the key too (istio/api security/v1beta1/peer_authentication.proto, XValidation {@code self.all(key, 0 <
     * int(key) && int(key) <= 65535)}), the error quotes it, as {@code kubectl apply} would show it: CEL's {@code int()}
     * reads a string as Go's {@code strconv.ParseInt(s, 10, 64)} does (an optional sign, then decimal digits), and any
     * other key is a conversion error. Keys the rule admits but istiod cannot decode ({@code "+8080"}, {@code "08080"})
     * keep {@link Fields#port}'s reason alone.
     */
    private static int portKey(YNode keyNode, boolean plain) throws PolicyLoadException {
        try {
            return Fields.port(keyNode, false);
        } catch (PolicyLoadException e) {
            String key = keyNode.scalar;
            String json = plain ? YamlDocuments.kubectlMapKey(key) : key;
            if (json == null) {
                throw new PolicyLoadException(e.file(), e.line(), e.field(), "bad port key " + key + ": a null key, which"
                        + " kubectl refuses too (sigs.k8s.io/yaml: \"unsupported map key of type: <nil>\"); write the port"
                        + " in decimal ('8080')");
            }
            if (json != null && !json.equals(key)) {
                // Unquoted, the key is typed as YAML 1.1 (go-yaml v2) types it before kubectl writes the JSON object:
                // 0x50, 8_0, +80, 80.0, 8e1 are "80", 0755 is "493", .inf ".inf". The CRD's rule and istiod read that
                // key, not the text here. Refused all the same (a port no one meant to write is not guessed), saying
                // what the cluster's copy holds; until 6 December the error said the CRD's rule refused such keys.
                throw new PolicyLoadException(e.file(), e.line(), e.field(), "bad port key " + key + ": unquoted, kubectl"
                        + " reads it as YAML 1.1 does (go-yaml v2, sigs.k8s.io/yaml) and sends the key \"" + json + "\""
                        + (json.matches("[1-9][0-9]{0,4}") && Integer.parseInt(json) <= 65535 ? ", which istiod applies to"
                        + " port " + json : ", which the CRD's rule \"port must be between 1-65535\" refuses")
                        + "; zerohop does not guess: write the port in decimal ('" + (json.matches("[1-9][0-9]{0,4}")
                        && Integer.parseInt(json) <= 65535 ? json : "8080") + "')");
            }
            String cel;
            if (!key.matches("[+-]?[0-9]+")) {
                cel = " (the CRD's rule \"port must be between 1-65535\" fails on it: int(key) is a type conversion error"
                        + " from string to int)";
            } else {
                long v;
                try {
                    v = Long.parseLong(key);
                } catch (NumberFormatException overflow) {
                    v = -1; // out of int64: a conversion error for CEL too, refused either way
                }
                cel = v > 0 && v <= 65535 ? "" : Fields.crdRule("port must be between 1-65535");
            }
            throw cel.isEmpty() ? e : new PolicyLoadException(e.file(), e.line(), e.field(), e.problem() + cel);
        }
    }

    /**
     * The port-level mode of this workload policy for {@code port} given {@code inherited} (the
     * workload-level result, or the namespace/mesh one when this policy's mode is UNSET), or null when
     * the port inherits. As istiod's ambient conversion (pilot/pkg/serviceregistry/ambient/authorization.go
     * {@code convertedSelectorPeerAuthentications}): with the workload mode UNSET under an inherited
     * STRICT, only a PERMISSIVE port makes istiod send the port exceptions, so a DISABLE port alone stays
     * STRICT at ztunnel; with one, DISABLE ports are exempt too.
     */
    Result overrides(int port, Result inherited) {
        Result r = forPort(port);
        if (r != null && result == null && r.mode() == MtlsMode.DISABLE && inherited.mode() == MtlsMode.STRICT
                && !anyPermissivePort) {
            return null;
        }
        return r;
    }

    /** Port-level override of this workload policy, or null when the port inherits. */
    Result forPort(int port) {
        for (int i = 0; i < ports.length; i++) {
            if (ports[i] == port) {
                return portResults[i];
            }
        }
        return null;
    }
}
