package io.zerohop.core.internal;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.core.Workload;
import io.zerohop.hbone.HboneClient;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.policy.PolicyEngine;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * The admin {@code /config_dump} (ztunnel's src/admin.rs {@code ConfigDump}, in zerohop's terms):
 * workloads, policies, certificates with state, serial and expiry, the HBONE client pools, open
 * tunnels and the proxy's own ports, as JSON.
 */
public final class ConfigDump {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ConfigDump() {}

    public static String render(List<Workload> workloads, PolicyEngine policy, IdentityProvider provider,
                                Set<SpiffeId> identities, Map<SpiffeId, HboneClient> clients, int openTunnels,
                                Set<Integer> ownPorts, Set<String> pending, Map<String, Object> extra) throws Exception {
        Map<String, Object> dump = new LinkedHashMap<>();
        List<Map<String, Object>> ws = new ArrayList<>();
        for (Workload w : workloads) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("namespace", w.namespace());
            m.put("name", w.name());
            m.put("serviceAccount", w.serviceAccount());
            m.put("identity", w.identity().toString());
            m.put("addresses", w.addresses().stream().map(a -> a.getHostAddress()).toList());
            m.put("protocol", w.protocol().name());
            m.put("node", w.node());
            m.put("labels", w.labels());
            ws.add(m);
        }
        dump.put("workloads", ws);
        Map<String, Object> pol = new LinkedHashMap<>();
        if (policy == null) {
            pol.put("mode", "none (every authenticated peer allowed)");
        } else {
            pol.put("source", policy.policies().source());
            pol.put("count", policy.policies().size());
            pol.put("items", policy.policies().policies().stream()
                    .map(p -> p.kind() + " " + p.namespace() + "/" + p.name() + " " + p.action()).toList());
            pol.put("warnings", policy.policies().warnings());
        }
        dump.put("policies", pol);
        List<Map<String, Object>> certs = new ArrayList<>();
        for (SpiffeId id : identities) {
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("identity", id.toString());
            CompletableFuture<X509Svid> f = provider.svid(id);
            if (!f.isDone()) {
                c.put("state", "pending");
            } else if (f.isCompletedExceptionally()) {
                c.put("state", "failed");
                c.put("error", f.handle((v, e) -> String.valueOf(e)).join());
            } else {
                X509Certificate leaf = f.join().getLeaf();
                c.put("state", "ready");
                c.put("serial", leaf.getSerialNumber().toString(16));
                c.put("notBefore", leaf.getNotBefore().toInstant().toString());
                c.put("expiry", leaf.getNotAfter().toInstant().toString());
            }
            certs.add(c);
        }
        dump.put("certificates", certs);
        List<Map<String, Object>> pools = new ArrayList<>();
        clients.forEach((src, client) -> io.zerohop.hbone.internal.Inspect.poolStats(client).forEach((key, n) -> {
            Map<String, Object> p = new LinkedHashMap<>();
            p.put("source", src.toString());
            p.put("destinations", key.destinations().stream().map(Object::toString).sorted().toList());
            p.put("hboneAddress", io.zerohop.core.Addresses.authority(key.hboneAddress()));
            p.put("connections", n);
            pools.add(p);
        }));
        dump.put("pools", pools);
        dump.put("openTunnels", openTunnels);
        dump.put("ownPorts", new java.util.TreeSet<>(ownPorts));
        dump.put("readinessPending", pending);
        dump.putAll(extra);
        return JSON.writeValueAsString(dump);
    }
}
