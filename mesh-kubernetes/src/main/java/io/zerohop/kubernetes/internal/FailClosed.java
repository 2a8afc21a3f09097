package io.zerohop.kubernetes.internal;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The fail-closed stand-in of a rejected policy object: what is installed in its place, under the
 * object's own kind, namespace and name (so a denial names it), until the object is fixed. Leaving
 * a rejected object out could widen access (a DENY gone, or the default deny of an ALLOW or Cilium
 * ingress policy gone); the stand-in keeps every restriction the object could have made, at its
 * most restrictive:
 *
 * <ul>
 *   <li>allow rules allow nothing: an {@code AuthorizationPolicy} whose action is {@code ALLOW}
 *       becomes an ALLOW policy without rules (its workloads are in default deny, other ALLOW
 *       policies still allow their callers), as istiod omits the ALLOW rules it cannot translate
 *       for ztunnel ("more restrictive than requested", pilot/pkg/serviceregistry/ambient
 *       authorization.go handleRule) and Envoy's RBAC filter skips them (pilot/pkg/security/authz
 *       builder "skipped invalid rule"); a Cilium rule without {@code ingressDeny} becomes
 *       {@code ingress: [{fromEntities: [none]}]} (default deny, nothing allowed);
 *   <li>deny rules deny everything: {@code DENY}, {@code CUSTOM} (istiod's builder generates deny
 *       configs for a CUSTOM policy it cannot process), an unknown action, or a spec key zerohop
 *       does not know (a typo may hide any action) become {@code DENY} with {@code rules: [{}]}; a
 *       Cilium rule with {@code ingressDeny} (or an unknown key) becomes
 *       {@code ingressDeny: [{fromEntities: [all]}]}. Where istiod drops only the HTTP parts of a
 *       DENY rule, zerohop cannot tell which parts of an invalid rule were meant, so all go;
 *   <li>a {@code PeerAuthentication} becomes {@code mtls: {mode: STRICT}};
 *   <li>a {@code RequestAuthentication} (it restricts no caller by itself: a request without a token
 *       passes it, istiod sends every rule with {@code allow_missing}; left out, requestPrincipals
 *       match nothing), an {@code AUDIT} policy, a Cilium rule with only egress parts (zerohop enforces ingress
 *       only) and a Cilium host policy ({@code nodeSelector}, which selects nodes, never a pod) cannot
 *       restrict a workload's callers: no stand-in.
 * </ul>
 *
 * <p>Scope: the object's own selector ({@code selector}, {@code targetRef(s)}, {@code endpointSelector})
 * when the stand-in with it loads; else the whole of the object's scope: its namespace (the root
 * namespace: the mesh), and for a {@code CiliumClusterwideNetworkPolicy} every endpoint. Cilium's
 * agent does not import a policy whose {@code Parse} fails (pkg/k8s/watchers/cilium_network_policy.go):
 * a new one is left out, a bad update keeps the previous version; this goes beyond it.
 */
final class FailClosed {
    /** One candidate: its policy-file text and a phrase for the log ("DENY all for selector ..."). */
    record StandIn(String yaml, String what) {}

    private static final Set<String> AP_KEYS = Set.of("selector", "targetRef", "targetRefs", "action", "provider", "rules");
    private static final Set<String> CNP_KEYS = Set.of("endpointSelector", "nodeSelector", "ingress", "ingressDeny",
            "egress", "egressDeny", "labels", "description", "enableDefaultDeny", "log");
    private static final Set<String> EGRESS_ONLY_KEYS = Set.of("endpointSelector", "egress", "egressDeny", "labels",
            "description", "enableDefaultDeny", "log");

    private FailClosed() {
    }

    /** Candidates, narrowest scope first; empty when leaving the object out cannot widen access. */
    static List<StandIn> standIns(GenericKubernetesResource r) {
        Object spec = r.getAdditionalProperties().get("spec");
        List<StandIn> out = new ArrayList<>();
        switch (r.getKind()) {
            case "AuthorizationPolicy" -> {
                Map<?, ?> s = spec instanceof Map<?, ?> m ? m : null;
                Object action = s == null ? null : s.containsKey("action") ? s.get("action") : "ALLOW";
                if ("AUDIT".equals(action) && AP_KEYS.containsAll(s.keySet())) {
                    return out;
                }
                boolean allow = "ALLOW".equals(action) && AP_KEYS.containsAll(s.keySet());
                Map<String, Object> body = new LinkedHashMap<>();
                if (allow) {
                    body.put("action", "ALLOW");
                } else {
                    body.put("action", "DENY");
                    body.put("rules", List.of(Map.of()));
                }
                String what = allow ? "ALLOW nothing" : "DENY all";
                Map<String, Object> scoped = scope(s, "selector", "targetRef", "targetRefs");
                if (!scoped.isEmpty()) {
                    scoped.putAll(body);
                    out.add(new StandIn(yaml(r, "spec", scoped), what + " for " + scoped.keySet().iterator().next()
                            + " " + Serialization.asJson(s.get(scoped.keySet().iterator().next()))));
                }
                out.add(new StandIn(yaml(r, "spec", body), what + " for its namespace"));
            }
            case "PeerAuthentication" -> {
                Map<String, Object> body = new LinkedHashMap<>();
                body.put("mtls", Map.of("mode", "STRICT"));
                Map<String, Object> scoped = scope(spec instanceof Map<?, ?> m ? m : null, "selector");
                if (!scoped.isEmpty()) {
                    scoped.putAll(body);
                    out.add(new StandIn(yaml(r, "spec", scoped), "mTLS STRICT for selector "
                            + Serialization.asJson(scoped.get("selector"))));
                }
                out.add(new StandIn(yaml(r, "spec", body), "mTLS STRICT for its namespace"));
            }
            case "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy" -> {
                List<Object> rules = new ArrayList<>();
                if (spec != null) {
                    rules.add(spec);
                }
                if (r.getAdditionalProperties().get("specs") instanceof List<?> l) {
                    rules.addAll(l);
                } else if (r.getAdditionalProperties().get("specs") != null) {
                    rules.add(r.getAdditionalProperties().get("specs"));
                }
                boolean deny = rules.isEmpty();
                List<Object> scopedRules = new ArrayList<>();
                for (Object rule : rules) {
                    if (!(rule instanceof Map<?, ?> m)) {
                        deny = true;
                        continue;
                    }
                    if ((m.containsKey("egress") || m.containsKey("egressDeny")) && EGRESS_ONLY_KEYS.containsAll(m.keySet())) {
                        continue;
                    }
                    if (m.containsKey("nodeSelector") && !m.containsKey("endpointSelector") && CNP_KEYS.containsAll(m.keySet())) {
                        // A host policy selects nodes' host endpoints, never a pod zerohop serves.
                        continue;
                    }
                    boolean ruleDeny = m.containsKey("ingressDeny") || !CNP_KEYS.containsAll(m.keySet());
                    deny |= ruleDeny;
                    Map<String, Object> sr = scope(m, "endpointSelector");
                    if (sr.isEmpty()) {
                        sr.put("endpointSelector", Map.of());
                    }
                    sr.putAll(ciliumBody(ruleDeny));
                    scopedRules.add(sr);
                }
                if (!deny && scopedRules.isEmpty()) {
                    return out;
                }
                String what = deny ? "ingressDeny from all" : "default deny (ingress from none)";
                if (!scopedRules.isEmpty()) {
                    out.add(new StandIn(yaml(r, "specs", scopedRules), what + " for its endpointSelector"));
                }
                Map<String, Object> all = new LinkedHashMap<>();
                all.put("endpointSelector", Map.of());
                all.putAll(ciliumBody(deny));
                out.add(new StandIn(yaml(r, "spec", all), what + " for " + (r.getMetadata().getNamespace() == null
                        || r.getMetadata().getNamespace().isEmpty() ? "every endpoint" : "its namespace")));
            }
            default -> {
            }
        }
        return out;
    }

    private static Map<String, Object> ciliumBody(boolean deny) {
        return deny ? Map.of("ingressDeny", List.of(Map.of("fromEntities", List.of("all"))))
                : Map.of("ingress", List.of(Map.of("fromEntities", List.of("none"))));
    }

    private static Map<String, Object> scope(Map<?, ?> spec, String... keys) {
        Map<String, Object> out = new LinkedHashMap<>();
        if (spec != null) {
            for (String k : keys) {
                if (spec.get(k) != null) {
                    out.put(k, spec.get(k));
                }
            }
        }
        return out;
    }

    /** As {@link PolicyState#yamlOf}: JSON, every key quoted, so the loader reads each key as the cluster holds it. */
    private static String yaml(GenericKubernetesResource r, String specKey, Object spec) {
        Map<String, Object> doc = PolicyState.header(r);
        doc.put(specKey, spec);
        return Serialization.asJson(doc);
    }
}
