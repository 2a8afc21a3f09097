package io.zerohop.core.internal;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Workload;
import io.zerohop.hbone.HboneClient;
import io.zerohop.identity.CertificateState;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyRef;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The admin {@code /config_dump} (ztunnel's src/admin.rs {@code ConfigDump}, in zerohop's terms):
 * workloads, policies, certificates with state, serial and expiry, the HBONE client pools, open
 * tunnels and the proxy's own ports, as JSON. The keys ztunnel's own dump has ({@code workloads}
 * with {@code workloadIps}, a {@code policies} list, {@code certificates} with {@code certChain})
 * hold what {@code istioctl ztunnel-config} reads (istioctl/pkg/writer/ztunnel/configdump/api.go).
 */
public final class ConfigDump {
    /**
     * The error of an {@code Unavailable:} state as ztunnel's {@code {err}} reads: its message, without the wrappers a
     * future adds ({@code CompletionException}, {@code ExecutionException}) and without a wrapper whose message is only its
     * cause's {@code toString()} (Java's default, {@code java.io.IOException: ...}), so no Java class name is shown where
     * a message says what failed (a new-user pass); a message-less error is its simple class name.
     */
    static String unavailable(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && (t instanceof java.util.concurrent.CompletionException
                || t instanceof java.util.concurrent.ExecutionException
                || t.getMessage() == null || t.getMessage().equals(t.getCause().toString()))) {
            t = t.getCause();
        }
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
    }

    /** One certificate as ztunnel's {@code dump_cert}: base64 of its PEM, decimal serial, RFC 3339 validity. */
    private static Map<String, Object> certDump(X509Certificate x) {
        Map<String, Object> cert = new LinkedHashMap<>();
        try {
            String pem = "-----BEGIN CERTIFICATE-----\n"
                    + java.util.Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(x.getEncoded()) + "\n-----END CERTIFICATE-----\n";
            cert.put("pem", java.util.Base64.getEncoder().encodeToString(pem.getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
        } catch (java.security.cert.CertificateEncodingException e) {
            cert.put("pem", "");
        }
        cert.put("serialNumber", x.getSerialNumber().toString());
        cert.put("validFrom", x.getNotBefore().toInstant().toString());
        cert.put("expirationTime", x.getNotAfter().toInstant().toString());
        return cert;
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ConfigDump() {}

    /**
     * The registry's Services as ztunnel's dump lists them ({@code services}: src/state/service.rs {@code Service}, serde
     * camelCase): name, namespace, hostname, {@code vips} (IP text in RFC 5952's short form; ztunnel's are
     * {@code network/ip}), {@code ports} (service port → target port, 0 for a container port name, as ztunnel's), and
     * {@code endpoints} (keyed by {@code namespace/name}, where ztunnel keys by workload uid: {@code workloadUid},
     * {@code service}, and {@code port}, service port → the endpoint's own target port), {@code canonical} and
     * {@code visibility} ({@code Public} or {@code Namespace}, serde's variant names).
     */
    public static List<Map<String, Object>> services(io.zerohop.core.WorkloadRegistry registry) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (io.zerohop.core.Service s : registry.services()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", s.name());
            m.put("namespace", s.namespace());
            m.put("hostname", s.hostname());
            m.put("vips", s.vips().stream().map(io.netty.util.NetUtil::toAddressString).toList());
            // istioctl decodes ports as map[string]int and endpoints as map[string]ZtunnelEndpoint (configdump/api.go):
            // a named target is 0 here, as ztunnel's, and its number is the endpoint's port (a new-user pass: a name and
            // a list made `istioctl ztunnel-config` fail on the whole dump).
            Map<String, Object> ports = new LinkedHashMap<>();
            for (io.zerohop.core.Service.Port p : s.ports()) {
                ports.put(String.valueOf(p.port()), p.targetPortName() != null ? 0 : p.targetPort());
            }
            m.put("ports", ports);
            Map<String, Object> endpoints = new LinkedHashMap<>();
            for (Workload w : registry.endpoints(s)) {
                Map<String, Object> e = new LinkedHashMap<>();
                e.put("workloadUid", w.toString());
                e.put("service", s.namespace() + "/" + s.hostname());
                Map<String, Object> ep = new LinkedHashMap<>();
                for (io.zerohop.core.Service.Port p : s.ports()) {
                    int target = s.targetOn(p, w);
                    if (target > 0) {
                        ep.put(String.valueOf(p.port()), target);
                    }
                }
                e.put("port", ep);
                endpoints.put(w.toString(), e);
            }
            m.put("endpoints", endpoints);
            if (s.loadBalancing() != null) {
                // ztunnel's LoadBalancer (src/state/service.rs, serde's variant names): e.g. internalTrafficPolicy: Local is
                // {routingPreferences: [Node], mode: Strict}, trafficDistribution: PreferClose [Network, Region, Zone] Failover.
                List<String> prefs = new ArrayList<>();
                for (io.zerohop.core.Service.LoadBalancing.Scope sc : s.loadBalancing().scopes()) {
                    prefs.add(camel(sc.name()));
                }
                m.put("loadBalancer", Map.of("routingPreferences", prefs, "mode", camel(s.loadBalancing().mode().name())));
            }
            // Always rendered, as ztunnel's (serde default, no skip): which Service of a shared VIP or hostname a namespace
            // gets depends on them (WorkloadRegistry.serviceAt).
            m.put("canonical", s.canonical());
            m.put("visibility", camel(s.visibility().name()));
            out.add(m);
        }
        return out;
    }

    /** {@code STRICT} as {@code Strict}: a Rust enum variant's name, as serde writes ztunnel's. */
    private static String camel(String upper) {
        return upper.charAt(0) + upper.substring(1).toLowerCase(java.util.Locale.ROOT);
    }

    public static String render(List<Workload> workloads, PolicyEngine policy, IdentityProvider provider,
                                Set<SpiffeId> identities, Map<SpiffeId, HboneClient> clients, int openTunnels,
                                Set<Integer> ownPorts, Set<String> pending, Map<String, Object> extra) throws Exception {
        Map<String, Object> dump = new LinkedHashMap<>();
        List<Map<String, Object>> ws = new ArrayList<>();
        for (Workload w : workloads) {
            Map<String, Object> m = new LinkedHashMap<>();
            SpiffeId id = w.identity();
            m.put("namespace", w.namespace());
            m.put("name", w.name());
            // null for an endpoint of unknown identity (an EndpointSlice's): no identity is shown for it.
            m.put("serviceAccount", w.serviceAccount());
            m.put("identity", id == null ? null : id.toString());
            m.put("addresses", w.addresses().stream().map(a -> a.getHostAddress()).toList());
            if (w.hostname() != null) {
                m.put("hostname", w.hostname()); // ztunnel's workload hostname, looked up on demand
            }
            m.put("protocol", w.protocol().name());
            m.put("node", w.node());
            m.put("labels", w.labels());
            // ztunnel's names for the same facts (src/state/workload.rs, serde camelCase), which
            // `istioctl ztunnel-config workloads` reads (istioctl/pkg/writer/ztunnel/configdump/api.go).
            m.put("workloadIps", m.get("addresses"));
            m.put("workloadName", w.workloadName());
            m.put("canonicalName", TrafficLabels.canonicalService(w.labels(), w.workloadName()));
            m.put("canonicalRevision", TrafficLabels.canonicalRevision(w.labels()));
            // None for a workload without identity (a ServiceEntry endpoint without serviceAccount, a plaintext endpoint):
            // the whole dump failed with a NullPointerException on the first one until 7 December (MeshConfigOptionTest).
            m.put("trustDomain", id == null ? null : id.getTrustDomain().getName());
            ws.add(m);
        }
        dump.put("workloads", ws);
        // "policies" is a list of objects as ztunnel's (src/state/policy.rs: name, namespace, action...):
        // istioctl ztunnel-config reads it as a list or a map of objects, and fails on anything else.
        // Where they came from, and the load warnings, are under "policySet".
        Map<String, Object> set = new LinkedHashMap<>();
        List<Map<String, Object>> pols = new ArrayList<>();
        if (policy == null) {
            set.put("mode", "none (every authenticated peer allowed)");
        } else {
            set.put("source", policy.policies().source());
            set.put("count", policy.policies().size());
            set.put("warnings", policy.policies().warnings());
            // The Cilium agent option the Cilium policies are read with (PolicyEngine.Builder.ciliumOptions, the CLI's
            // --policy-default-local-cluster): without it an operator could not tell a running proxy's reading.
            set.put("cilium", Map.of("policyDefaultLocalCluster", policy.ciliumOptions().policyDefaultLocalCluster()));
            for (PolicyRef p : policy.policies().policies()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("name", p.name());
                m.put("namespace", p.namespace());
                m.put("kind", p.kind().displayName());
                m.put("action", action(p));
                pols.add(m);
            }
        }
        dump.put("policies", pols);
        dump.put("policySet", set);
        List<Map<String, Object>> certs = new ArrayList<>();
        // Every certificate the provider holds, whatever asked for it, as ztunnel's dump_certs lists every one in its
        // SecretManager (src/identity/manager.rs collect_certs); until 6 December only the identities the mesh serves (a
        // certificate fetched for an embedding application, or held for a workload gone until its forget, was missing).
        // A provider that cannot list them: the served identities, each read as below.
        java.util.Map<SpiffeId, CertificateState> held = provider.certificateStates().orElseGet(() -> {
            java.util.Map<SpiffeId, CertificateState> some = new java.util.HashMap<>();
            // Read only, as ztunnel's dump reads its SecretManager: until 6 December this asked provider.svid(id), so
            // reading the dump could start a fetch, move a queued warm-up ahead of the connections' fetches, and showed an
            // identity whose retry was running as Initializing.
            identities.forEach(id -> provider.certificateState(id).ifPresent(st -> some.put(id, st)));
            return some; // not held by the provider: not listed, as ztunnel lists only what its SecretManager holds
        });
        // Sorted by identity, as ztunnel's dump_certs sorts them ("Sort for determinism", src/admin.rs), so that
        // istioctl ztunnel-config certificates lists them in ztunnel's order; until 6 December in registry order.
        for (SpiffeId id : held.keySet().stream().sorted(java.util.Comparator.comparing(SpiffeId::toString)).toList()) {
            java.util.Optional<CertificateState> state = java.util.Optional.of(held.get(id));
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("identity", id.toString());
            // ztunnel's states and CertsDump (src/admin.rs dump_certs), which istioctl ztunnel-config certificates prints as
            // they are; certChain and rootCerts are empty lists unless Available, as ztunnel's.
            List<Map<String, Object>> chain = new ArrayList<>();
            List<Map<String, Object>> roots = new ArrayList<>();
            if (state.get() instanceof CertificateState.Initializing) {
                c.put("state", "Initializing");
            } else if (state.get() instanceof CertificateState.Unavailable u) {
                c.put("state", "Unavailable: " + unavailable(u.error()));
            } else if (state.get() instanceof CertificateState.Available a) {
                X509Certificate leaf = a.svid().getLeaf();
                c.put("state", "Available");
                c.put("serial", leaf.getSerialNumber().toString(16));
                c.put("notBefore", leaf.getNotBefore().toInstant().toString());
                c.put("expiry", leaf.getNotAfter().toInstant().toString());
                a.svid().getChain().forEach(x -> chain.add(certDump(x)));
                try {
                    provider.bundles().getBundleForTrustDomain(id.getTrustDomain()).getX509Authorities().forEach(x -> roots.add(certDump(x)));
                } catch (io.spiffe.exception.BundleNotFoundException e) {
                    // no bundle of its own trust domain (yet): no roots to show
                }
            }
            c.put("certChain", chain);
            c.put("rootCerts", roots);
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

    /** An AuthorizationPolicy's action as ztunnel's {@code RbacAction} names it ({@code Allow}, {@code Deny}); others as written. */
    private static String action(PolicyRef p) {
        if (p.kind() == PolicyRef.Kind.AUTHORIZATION_POLICY && (p.action().equals("ALLOW") || p.action().equals("DENY"))) {
            return p.action().charAt(0) + p.action().substring(1).toLowerCase(java.util.Locale.ROOT);
        }
        return p.action();
    }
}
