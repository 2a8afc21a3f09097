package io.zerohop.policy.internal;

import io.zerohop.policy.WorkloadRef;
import java.util.Map;

/**
 * Whether any policy in scope for a destination port has a rule that the engine evaluates
 * differently with HTTP attributes: then the data plane must parse HTTP on that port to enforce
 * it per request (Envoy as a waypoint does), because at L4 such rules fail closed (ztunnel).
 *
 * <p>Istio: a CUSTOM, DENY or ALLOW policy selecting the workload with a rule whose fields the
 * engine treats as L7 ({@code hosts}, {@code methods}, {@code paths} and their {@code not*} forms,
 * {@code requestPrincipals}, {@code remoteIpBlocks}, {@code when} keys {@code request.*},
 * {@code remote.ip}, {@code connection.sni}) and whose {@code to.operation.ports} /
 * {@code when destination.port} do not exclude the port. AUDIT never changes a decision.
 * Cilium: a policy selecting the endpoint with an ingress {@code toPorts} entry carrying
 * {@code rules.http} whose port range covers the port (0 = every port).
 */
final class HttpRules {

    private HttpRules() {}

    static boolean requiresHttp(Map<String, LabelIndex> istio, Map<String, LabelIndex> cilium, LabelIndex clusterwide,
                                WorkloadRef w, int port, String root) {
        String ns = w.namespace();
        if (istioAny(istio.get(root), w, port) || (!ns.equals(root) && istioAny(istio.get(ns), w, port))) {
            return true;
        }
        return ciliumAny(cilium.get(ns), w, port) || ciliumAny(clusterwide, w, port);
    }

    /**
     * The policy that makes {@link #requiresHttp} true, for messages: a Cilium one first (its {@code rules.http} denies
     * every connection of a port zerohop does not parse), else the first Istio one; null when none. Not for the data path.
     */
    static io.zerohop.policy.PolicyRef httpPolicy(Map<String, LabelIndex> istio, Map<String, LabelIndex> cilium,
                                                  LabelIndex clusterwide, WorkloadRef w, int port, String root) {
        String ns = w.namespace();
        for (LabelIndex idx : new LabelIndex[] {cilium.get(ns), clusterwide}) {
            for (Object o : candidates(idx, w)) {
                if (cilium((CiliumPolicy) o, w, port)) {
                    return ((CiliumPolicy) o).ref;
                }
            }
        }
        for (LabelIndex idx : ns.equals(root) ? new LabelIndex[] {istio.get(root)} : new LabelIndex[] {istio.get(root), istio.get(ns)}) {
            for (Object o : candidates(idx, w)) {
                if (istio((IstioPolicy) o, w, port)) {
                    return ((IstioPolicy) o).ref;
                }
            }
        }
        return null;
    }

    /** The policies of {@code idx} that may select {@code w}: unindexed ones and those of its label buckets. */
    private static java.util.List<Object> candidates(LabelIndex idx, WorkloadRef w) {
        java.util.List<Object> out = new java.util.ArrayList<>();
        if (idx == null) {
            return out;
        }
        out.addAll(java.util.Arrays.asList(idx.unindexed));
        for (int i = 0; i < idx.keys.length; i++) {
            Object[] bucket = idx.bucket(i, w);
            if (bucket != null) {
                out.addAll(java.util.Arrays.asList(bucket));
            }
        }
        return out;
    }

    /** The Cilium half of {@link #requiresHttp}: a Cilium policy selecting {@code w} has {@code rules.http} for {@code port}. */
    static boolean ciliumRequiresHttp(Map<String, LabelIndex> cilium, LabelIndex clusterwide, WorkloadRef w, int port) {
        return ciliumAny(cilium.get(w.namespace()), w, port) || ciliumAny(clusterwide, w, port);
    }

    private static boolean istioAny(LabelIndex idx, WorkloadRef w, int port) {
        if (idx == null) {
            return false;
        }
        for (Object o : idx.unindexed) {
            if (istio((IstioPolicy) o, w, port)) {
                return true;
            }
        }
        for (int i = 0; i < idx.keys.length; i++) {
            Object[] bucket = idx.bucket(i, w);
            if (bucket != null) {
                for (Object o : bucket) {
                    if (istio((IstioPolicy) o, w, port)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    private static boolean istio(IstioPolicy p, WorkloadRef w, int port) {
        if (p.action == IstioPolicy.AUDIT || !p.selects(w)) {
            return false;
        }
        for (IstioPolicy.Rule rule : p.rules) {
            if (rule.l7 && appliesToPort(rule, port)) {
                return true;
            }
        }
        return false;
    }

    private static boolean appliesToPort(IstioPolicy.Rule rule, int port) {
        for (IstioCondition c : rule.when) {
            if (c.key == IstioCondition.DESTINATION_PORT
                    && ((c.hasValues && !IstioPolicy.portIn(c.ports, port))
                    || (c.hasNotValues && IstioPolicy.portIn(c.notPorts, port)))) {
                return false;
            }
        }
        if (rule.to.length == 0) {
            return true;
        }
        for (IstioOperation o : rule.to) {
            if ((o.ports.length == 0 || IstioPolicy.portIn(o.ports, port))
                    && (o.notPorts.length == 0 || !IstioPolicy.portIn(o.notPorts, port))) {
                return true;
            }
        }
        return false;
    }

    private static boolean ciliumAny(LabelIndex idx, WorkloadRef w, int port) {
        if (idx == null) {
            return false;
        }
        for (Object o : idx.unindexed) {
            if (cilium((CiliumPolicy) o, w, port)) {
                return true;
            }
        }
        for (int i = 0; i < idx.keys.length; i++) {
            Object[] bucket = idx.bucket(i, w);
            if (bucket != null) {
                for (Object o : bucket) {
                    if (cilium((CiliumPolicy) o, w, port)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    private static boolean cilium(CiliumPolicy p, WorkloadRef w, int port) {
        if (!p.endpointSelector.matchesDestination(w)) {
            return false;
        }
        for (CiliumPolicy.Rule rule : p.ingress) {
            if (rule.ports == null) {
                continue;
            }
            for (CiliumPolicy.Port pp : rule.ports) {
                if (pp.http != null && pp.covers(port, w) == CiliumPolicy.COVERS_YES) {
                    return true;
                }
            }
        }
        return false;
    }
}
