package io.zerohop.kubernetes.internal;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.zerohop.core.Addresses;
import io.zerohop.core.WorkloadService;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code networking.istio.io} {@code ServiceEntry} and {@code WorkloadEntry} objects (read as generic resources) as
 * istiod's ambient index reads them: istio/istio pilot/pkg/serviceregistry/ambient/services.go
 * {@code serviceEntriesInfo} / {@code constructServiceEntries}, workloads.go {@code workloadEntryWorkloadBuilder},
 * {@code serviceEntryWorkloadBuilder}, {@code constructServicesFromWorkloadEntry}, {@code constructServices}.
 *
 * <p>Each parse method throws {@link IllegalArgumentException} naming the object and the field; the caller leaves that
 * object out with one WARN (a ServiceEntry is no policy: left out, nothing is widened, its hosts are simply not routed).
 */
public final class ServiceEntryConversion {
    private ServiceEntryConversion() {
    }

    /** One {@code spec.ports[]} entry: {@code targetPort} 0 when absent. */
    public record SePort(int number, int targetPort, String name, String protocol) {}

    /**
     * A {@code WorkloadEntry}'s spec, or one of a ServiceEntry's {@code spec.endpoints[]} (istio/api's
     * {@code WorkloadEntry} message): {@code address} an IP or a hostname ("" when absent, which istiod allows with a {@code network}: reached through that
     * network's gateway), {@code ports} port name → number.
     */
    public record Endpoint(String address, Map<String, String> labels, String serviceAccount, Map<String, Integer> ports,
                           String network, String locality) {}

    /**
     * A ServiceEntry as far as the ambient index reads it. {@code vips}: {@code spec.addresses} that are single IPs
     * (a CIDR is kept in {@code cidrs}: istiod sends it as a prefix, zerohop's VIPs are addresses). {@code selector} null
     * when there is no {@code workloadSelector}.
     */
    public record Se(String namespace, String name, String created, Map<String, String> labels,
                     Map<String, String> annotations, List<String> hosts, List<InetAddress> vips, List<String> cidrs,
                     List<SePort> ports, String resolution, Map<String, String> selector, List<Endpoint> endpoints) {
        public String id() {
            return "ServiceEntry " + namespace + "/" + name;
        }
    }

    /** A WorkloadEntry: its spec, with the metadata labels merged over the spec's (istiod's {@code ConvertClientWorkloadEntry}). */
    public record We(String namespace, String name, Map<String, String> annotations, Endpoint spec) {
        public String id() {
            return "WorkloadEntry " + namespace + "/" + name;
        }
    }

    public static Se serviceEntry(GenericKubernetesResource r) {
        String ns = r.getMetadata().getNamespace();
        String name = r.getMetadata().getName();
        String where = "ServiceEntry " + ns + "/" + name + ": field spec.";
        Map<String, Object> spec = map(r.getAdditionalProperties().get("spec"), where.substring(0, where.length() - 1));
        List<String> hosts = strings(spec.get("hosts"), where + "hosts");
        if (hosts.isEmpty()) {
            throw new IllegalArgumentException(where + "hosts: none (istiod's validation requires at least one)");
        }
        List<InetAddress> vips = new ArrayList<>();
        List<String> cidrs = new ArrayList<>();
        List<String> addresses = strings(spec.get("addresses"), where + "addresses");
        for (int i = 0; i < addresses.size(); i++) {
            String a = addresses.get(i);
            int slash = a.indexOf('/');
            // istiod's parseCidrOrIP: an IP, or a prefix; any address that is neither drops the whole ServiceEntry
            // (constructServiceEntries returns no service when MapErr fails).
            String ip = slash < 0 ? a : a.substring(0, slash);
            InetAddress parsed = Addresses.parseIp(ip, where + "addresses[" + i + "]");
            if (slash < 0) {
                vips.add(parsed);
            } else {
                int bits;
                try {
                    bits = Integer.parseInt(a.substring(slash + 1));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(where + "addresses[" + i + "]: bad prefix length in \"" + a + "\"");
                }
                int max = parsed.getAddress().length * 8;
                if (bits < 0 || bits > max) {
                    throw new IllegalArgumentException(where + "addresses[" + i + "]: prefix length " + bits + " out of 0-" + max);
                }
                if (bits == max) {
                    vips.add(parsed); // a host prefix is one address (netip.Prefix.IsSingleIP)
                } else {
                    cidrs.add(a);
                }
            }
        }
        List<SePort> ports = new ArrayList<>();
        List<Object> rawPorts = list(spec.get("ports"), where + "ports");
        for (int i = 0; i < rawPorts.size(); i++) {
            Map<String, Object> p = map(rawPorts.get(i), where + "ports[" + i + "]");
            int number = port(p.get("number"), where + "ports[" + i + "].number", false);
            int target = port(p.get("targetPort"), where + "ports[" + i + "].targetPort", true);
            ports.add(new SePort(number, target, str(p.get("name")), str(p.get("protocol"))));
        }
        String resolution = str(spec.get("resolution"));
        resolution = resolution == null ? "NONE" : resolution.toUpperCase(Locale.ROOT);
        Map<String, String> selector = null;
        Object ws = spec.get("workloadSelector");
        if (ws != null) {
            selector = stringMap(map(ws, where + "workloadSelector").get("labels"), where + "workloadSelector.labels");
        }
        List<Endpoint> endpoints = new ArrayList<>();
        List<Object> rawEps = list(spec.get("endpoints"), where + "endpoints");
        for (int i = 0; i < rawEps.size(); i++) {
            endpoints.add(endpoint(map(rawEps.get(i), where + "endpoints[" + i + "]"), where + "endpoints[" + i + "]."));
        }
        return new Se(ns, name, r.getMetadata().getCreationTimestamp(), labels(r.getMetadata().getLabels()),
                labels(r.getMetadata().getAnnotations()), List.copyOf(hosts), List.copyOf(vips), List.copyOf(cidrs),
                List.copyOf(ports), resolution, selector, List.copyOf(endpoints));
    }

    public static We workloadEntry(GenericKubernetesResource r) {
        String ns = r.getMetadata().getNamespace();
        String name = r.getMetadata().getName();
        String where = "WorkloadEntry " + ns + "/" + name + ": field spec.";
        Endpoint e = endpoint(map(r.getAdditionalProperties().get("spec"), where.substring(0, where.length() - 1)), where);
        // istiod's ConvertClientWorkloadEntry: spec labels, with the metadata's over them.
        Map<String, String> merged = new LinkedHashMap<>(e.labels());
        merged.putAll(labels(r.getMetadata().getLabels()));
        return new We(ns, name, labels(r.getMetadata().getAnnotations()),
                new Endpoint(e.address(), Collections.unmodifiableMap(merged), e.serviceAccount(), e.ports(), e.network(), e.locality()));
    }

    private static Endpoint endpoint(Map<String, Object> m, String where) {
        String address = str(m.get("address"));
        String network = str(m.get("network"));
        if (address == null || address.isBlank()) {
            if (network == null || network.isEmpty()) {
                throw new IllegalArgumentException(where + "address: missing (istiod's validation requires one without a network)");
            }
            // istiod accepts it with a warning (validation.go validateWorkloadEntry): an endpoint of another network, reached
            // through its gateway; the caller leaves that endpoint out alone, not the whole ServiceEntry.
            address = "";
        }
        Map<String, Integer> ports = new LinkedHashMap<>();
        Object rp = m.get("ports");
        if (rp != null) {
            for (Map.Entry<String, Object> p : map(rp, where + "ports").entrySet()) {
                ports.put(p.getKey(), port(p.getValue(), where + "ports." + p.getKey(), false));
            }
        }
        String sa = str(m.get("serviceAccount"));
        return new Endpoint(address, stringMap(m.get("labels"), where + "labels"), sa == null || sa.isEmpty() ? null : sa,
                Collections.unmodifiableMap(ports), network, str(m.get("locality")));
    }

    /** The address as an IP, or null when it is a hostname (istiod then sends the workload with a hostname, resolved by ztunnel). */
    public static InetAddress ipOrNull(String address) {
        try {
            return Addresses.parseIp(address, "address");
        } catch (IllegalArgumentException notAnIp) {
            return null;
        }
    }

    /** Whether a non-empty {@code selector} selects {@code labels} (istiod's {@code krt.FilterSelectsNonEmpty}: an empty one selects nothing). */
    public static boolean selects(Map<String, String> selector, Map<String, String> labels) {
        if (selector == null || selector.isEmpty()) {
            return false;
        }
        for (Map.Entry<String, String> e : selector.entrySet()) {
            if (!e.getValue().equals(labels.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    /**
     * A ServiceEntry host's membership for an endpoint whose named ports are {@code named} (a WorkloadEntry's
     * {@code ports}, or a pod's container ports): istiod's {@code constructServicesFromWorkloadEntry} (ServiceEntry branch)
     * and {@code constructServices}: a port whose name the endpoint names goes to that port, else to the
     * {@code targetPort}, else to the service port. Every service port is kept.
     */
    public static WorkloadService membership(Se se, String registryName, String host, Map<String, Integer> named, boolean healthy) {
        Map<Integer, Integer> ports = new LinkedHashMap<>();
        Set<Integer> targets = new LinkedHashSet<>();
        for (SePort p : se.ports()) {
            Integer byName = p.name() == null ? null : named.get(p.name());
            int target = byName != null ? byName : p.targetPort() != 0 ? p.targetPort() : p.number();
            ports.put(p.number(), target);
            targets.add(target);
        }
        return new WorkloadService(registryName, se.namespace(), host, targets, healthy, ports);
    }

    /**
     * A Kubernetes Service's membership for a WorkloadEntry (istiod's {@code constructServicesFromWorkloadEntry}, Service
     * branch; {@code PILOT_ENABLE_K8S_SELECT_WORKLOAD_ENTRIES}, on by default): a named {@code targetPort} goes to the
     * entry's port of that name, and a port whose name the entry lacks is left out; a numbered one goes to the entry's
     * port named as the service port when there is one, else to the number. TCP ports only (as for pods); null when no
     * port is left.
     */
    public static WorkloadService serviceMembership(Service s, Map<String, Integer> named) {
        return serviceMembership(s, named, PodConversion.DEFAULT_CLUSTER_DOMAIN);
    }

    /** {@link #serviceMembership(Service, Map)} with the Service's hostname in {@code clusterDomain} ({@link PodConversion#hostname}). */
    public static WorkloadService serviceMembership(Service s, Map<String, Integer> named, String clusterDomain) {
        Map<Integer, Integer> ports = new LinkedHashMap<>();
        Set<Integer> targets = new LinkedHashSet<>();
        if (s.getSpec().getPorts() != null) {
            for (ServicePort p : s.getSpec().getPorts()) {
                if (p.getPort() == null || (p.getProtocol() != null && !"TCP".equals(p.getProtocol()))) {
                    continue;
                }
                IntOrString tp = p.getTargetPort();
                Integer target;
                if (tp != null && tp.getStrVal() != null && !tp.getStrVal().isEmpty()) {
                    target = named.get(tp.getStrVal());
                    if (target == null) {
                        continue;
                    }
                } else {
                    Integer byName = p.getName() == null ? null : named.get(p.getName());
                    target = byName != null ? byName : tp != null && tp.getIntVal() != null && tp.getIntVal() > 0 ? tp.getIntVal() : p.getPort();
                }
                ports.put(p.getPort(), target);
                targets.add(target);
            }
        }
        String ns = s.getMetadata().getNamespace();
        String name = s.getMetadata().getName();
        return new WorkloadService(name, ns, PodConversion.hostname(name, ns, clusterDomain), targets, true, ports);
    }

    private static Map<String, String> labels(Map<String, String> m) {
        return m == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(m));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o, String where) {
        if (o == null) {
            return Map.of();
        }
        if (!(o instanceof Map)) {
            throw new IllegalArgumentException(where + ": not an object");
        }
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o, String where) {
        if (o == null) {
            return List.of();
        }
        if (!(o instanceof List)) {
            throw new IllegalArgumentException(where + ": not a list");
        }
        return (List<Object>) o;
    }

    private static List<String> strings(Object o, String where) {
        List<Object> l = list(o, where);
        List<String> out = new ArrayList<>(l.size());
        for (int i = 0; i < l.size(); i++) {
            if (!(l.get(i) instanceof String s) || s.isBlank()) {
                throw new IllegalArgumentException(where + "[" + i + "]: not a string");
            }
            out.add(s.trim());
        }
        return out;
    }

    private static Map<String, String> stringMap(Object o, String where) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : map(o, where).entrySet()) {
            if (!(e.getValue() instanceof String s)) {
                throw new IllegalArgumentException(where + "." + e.getKey() + ": not a string");
            }
            out.put(e.getKey(), s);
        }
        return Collections.unmodifiableMap(out);
    }

    private static String str(Object o) {
        return o == null ? null : String.valueOf(o);
    }

    private static int port(Object o, String where, boolean optional) {
        if (o == null) {
            if (optional) {
                return 0;
            }
            throw new IllegalArgumentException(where + ": missing");
        }
        long v;
        if (o instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) {
            v = n.longValue();
        } else {
            throw new IllegalArgumentException(where + ": not a port number (" + o + ")");
        }
        if (v < 1 || v > 65535) {
            throw new IllegalArgumentException(where + ": port " + v + " out of range 1-65535");
        }
        return (int) v;
    }
}
