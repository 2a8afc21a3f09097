package io.zerohop.core.internal;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Workload;
import io.zerohop.policy.PolicyEngine;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Warns, once per local workload port, when a port declared {@code tcp} has policy rules that need HTTP
 * (an AuthorizationPolicy's operations or request attributes, a Cilium {@code rules.http}): zerohop decides
 * such a port at L4 as ztunnel does with istiod's ambient conversion (pilot/pkg/serviceregistry/ambient/
 * authorization.go {@code handleRule}: an ALLOW rule with HTTP fields matches nothing; a DENY rule keeps its L4
 * matches, and one left with an empty match is skipped; the first wording, "a DENY rule's HTTP fields count as
 * matched", was wrong, a new-user pass found). For a Cilium policy that is not
 * Cilium's behaviour (its L7 proxy parses HTTP on any port a {@code rules.http} names): every request on the
 * port was denied, and a new-user pass found only {@code zerohop policy check} saying why, the proxy silent.
 */
final class UnparsedHttpRules {
    private static final Logger log = LoggerFactory.getLogger(UnparsedHttpRules.class);
    private final LocalWorkloads local;
    private final PolicyEngine policy;
    /** {@code ns/name:port} already warned about; a port that no longer needs HTTP may warn again later. */
    private final Set<String> warned = ConcurrentHashMap.newKeySet();

    UnparsedHttpRules(LocalWorkloads local, PolicyEngine policy) {
        this.local = local;
        this.policy = policy;
    }

    /** Checks the local workloads against the policy set in force now; cheap when no port is {@code tcp}. */
    void check() {
        Set<String> now = new java.util.HashSet<>();
        for (Workload w : local.registry().all()) {
            for (Map.Entry<Integer, AppProtocol> p : w.appProtocols().entrySet()) {
                if (p.getValue() != AppProtocol.TCP || !local.isLocal(w) || !policy.requiresHttp(w.ref(), p.getKey())) {
                    continue;
                }
                // A Cilium rules.http denies every connection there: its own key, so that one added after an
                // AuthorizationPolicy's is said too (newuser18 found it silent behind the first warning).
                boolean cilium = policy.ciliumHttp(w.ref(), p.getKey());
                String key = w.namespace() + "/" + w.name() + ":" + p.getKey() + (cilium ? " cilium" : "");
                now.add(key);
                if (warned.add(key)) {
                    // Named, with where it was loaded from: a new-user pass had to search the policies for the one meant.
                    io.zerohop.policy.PolicyRef ref = policy.httpPolicy(w.ref(), p.getKey());
                    String origin = ref == null ? null : policy.origin(ref);
                    String which = ref == null ? (cilium ? "a Cilium policy" : "a policy")
                            : ref.kind().displayName() + " " + ref.qualifiedName() + (origin == null ? "" : " (" + origin + ")");
                    log.warn("port {} of {}/{} is declared tcp, and {} has rules that need HTTP there: zerohop does not parse it,"
                            + " so those rules are decided at L4 ({}): declare the port http or auto to have its requests decided",
                            p.getKey(), w.namespace(), w.name(), which, cilium
                            ? "a Cilium rules.http denies every connection there, where Cilium's proxy would parse HTTP"
                            : "as istiod's ambient conversion for ztunnel: an ALLOW rule with HTTP fields matches nothing, a DENY rule is"
                            + " enforced on its L4 fields only, and one whose HTTP fields leave an empty match has no effect");
                }
            }
        }
        warned.retainAll(now);
    }
}
