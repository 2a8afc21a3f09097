package io.zerohop.core.internal;

import io.zerohop.core.Addresses;
import io.zerohop.core.Workload;
import io.zerohop.policy.MtlsMode;
import io.zerohop.policy.PolicyEngine;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Warns, once per policy set that causes it (again after it went away and came back), for each local workload whose PeerAuthentication is STRICT where its inbound traffic
 * is delivered to the workload address itself: there the application listens on the address peers dial, so a
 * plaintext client can connect to it directly, and zerohop, which sees only the tunnels and its own listeners, cannot
 * refuse that. ztunnel can: the CNI redirects every inbound connection of the pod to it, and it refuses plaintext
 * to a STRICT workload (istio/ztunnel src/proxy/inbound_passthrough.rs, istiod's {@code istio_converted_static_strict}
 * rule). The way to close it is {@code Mesh.Builder.inboundEndpoint}: the application binds loopback only.
 *
 * <p>Ports checked: the workload's declared ones ({@code ports}, {@code namedPorts}) and those with an endpoint; a
 * workload with none of either is checked at the workload level (its PeerAuthentication without a port-level entry),
 * as "every port". Skipped when the HBONE listener is {@code IP_TRANSPARENT}: a node proxy with TPROXY redirects
 * inbound traffic as ztunnel's CNI does.
 */
final class StrictReachable {
    private static final Logger log = LoggerFactory.getLogger("io.zerohop.core.Mesh");
    private final LocalWorkloads local;
    private final PolicyEngine policy;
    private final InboundEndpoints endpoints;
    /** What was said, by workload and what is open; said again only after it closed and opened again. */
    private final java.util.Set<String> warned = java.util.concurrent.ConcurrentHashMap.newKeySet();

    StrictReachable(LocalWorkloads local, PolicyEngine policy, InboundEndpoints endpoints) {
        this.local = local;
        this.policy = policy;
        this.endpoints = endpoints;
    }

    /** Checks the local workloads against the policy set in force now; one WARN per open workload not yet said. */
    void check() {
        try {
            checkNow();
        } catch (RuntimeException e) {
            // A warning's check never fails start() or a policy change.
            log.warn("could not check PeerAuthentication STRICT against the inbound endpoints: {}", e.toString(), e);
        }
    }

    private void checkNow() {
        java.util.Set<String> now = new java.util.HashSet<>();
        for (Workload w : local.registry().all()) {
            if (w.protocol() != Workload.Protocol.HBONE || !local.isLocal(w)) {
                continue;
            }
            List<String> openList = openPorts(w);
            String open = String.join(", ", openList);
            if (!openList.isEmpty() && now.add(w.namespace() + "/" + w.name() + " " + open)
                    && warned.add(w.namespace() + "/" + w.name() + " " + open)) {
                // The advice names an address left open, not merely a declared one (newuser24: it named a port that
                // already had its endpoint).
                String first = openList.get(0);
                boolean everyPort = first.endsWith(EVERY_PORT);
                String target = everyPort ? first.substring(0, first.length() - EVERY_PORT.length()) + ":PORT" : first;
                String port = target.substring(target.lastIndexOf(':') + 1);
                log.warn("PeerAuthentication STRICT for {}/{}, but its inbound traffic is delivered to the workload address itself ({}):"
                        + " a plaintext client connecting there reaches the application directly, without mTLS, and zerohop cannot"
                        + " refuse it (it relays HBONE tunnels but does not intercept a port the application binds itself; ztunnel refuses"
                        + " such plaintext because the CNI redirects every inbound connection of the pod to it, inbound_passthrough.rs)."
                        + " Bind the application to loopback only and deliver the tunnels there: Mesh.Builder.inboundEndpoint({}, {})"
                        + " (zerohop proxy: --inbound-endpoint {}={}; or redirect the node's inbound traffic with TPROXY,"
                        + " --inbound-transparent and --plaintext-inbound, which refuses such plaintext as ztunnel does)",
                        w.namespace(), w.name(), open, target, "127.0.0.1:" + port, target, "127.0.0.1:" + port);
            }
        }
        warned.retainAll(now);
    }

    private static final String EVERY_PORT = " (every port)";

    /** What of {@code w} STRICT leaves open, each {@code ip:port} or {@code ip (every port)}; empty: nothing. */
    private List<String> openPorts(Workload w) {
        TreeSet<Integer> ports = new TreeSet<>(w.appProtocols().keySet());
        if (w.namedPorts() != null) {
            ports.addAll(w.namedPorts().values());
        }
        for (InetSocketAddress t : endpoints.all().keySet()) {
            if (w.addresses().contains(t.getAddress())) {
                ports.add(t.getPort());
            }
        }
        List<String> open = new ArrayList<>();
        if (ports.isEmpty()) {
            // Port 0 matches no portLevelMtls entry: the workload-level mode.
            if (policy.mtlsMode(w.ref(), 0) == MtlsMode.STRICT) {
                for (InetAddress a : w.addresses()) {
                    open.add(host(a) + EVERY_PORT);
                }
            }
        } else {
            for (int p : ports) {
                if (policy.mtlsMode(w.ref(), p) != MtlsMode.STRICT) {
                    continue;
                }
                for (InetAddress a : w.addresses()) {
                    InetSocketAddress target = new InetSocketAddress(a, p);
                    if (w.addresses().contains(endpoints.of(target).getAddress())) {
                        open.add(Addresses.authority(target));
                    }
                }
            }
        }
        return open;
    }

    private static String host(InetAddress a) {
        String h = io.netty.util.NetUtil.toAddressString(a);
        return a instanceof java.net.Inet6Address ? "[" + h + "]" : h;
    }
}
