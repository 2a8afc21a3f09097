package io.zerohop.kubernetes.internal;

import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node proxy's check of its own source address. Other nodes' proxies bind this node's
 * {@code forwarded: for=} claims to this node's addresses as its pods report them
 * ({@code status.hostIPs}); when the kernel sends this proxy's tunnels to another node's pod from
 * some other address (an overlay interface: Flannel's {@code flannel.1}, Calico's {@code tunl0},
 * Cilium's {@code cilium_host} in tunnel mode), the pod network is an overlay, every node's proxy
 * dials from such an address, and the binding would refuse every cross-node claim. This asks the
 * kernel which source address it picks for such a pod (a UDP {@code connect}: a route lookup, no
 * packet sent) and logs one WARN per address when it is none of this node's; KubernetesDiscovery
 * then installs no node address. Not on an event loop: called from the discovery's own thread.
 */
public final class SourceAddressCheck {
    private static final Logger LOG = LoggerFactory.getLogger("io.zerohop.kubernetes.KubernetesDiscovery");

    private final String node;
    private final Set<String> warned = new HashSet<>();

    public SourceAddressCheck(String node) {
        this.node = node;
    }

    /**
     * Checks each address family this node has an address in ({@code own}, its pods' host IPs) against
     * one pod of another node in the registry (the first by namespace/name with an address of that
     * family); nothing when there is none.
     *
     * @return the source addresses found to be none of this node's (empty when all are, or nothing could be checked)
     */
    public synchronized List<InetAddress> check(WorkloadRegistry registry, List<InetAddress> own) {
        List<InetAddress> foreign = new ArrayList<>();
        for (boolean v4 : new boolean[] {true, false}) {
            if (own.stream().noneMatch(a -> (a instanceof Inet4Address) == v4)) {
                continue;
            }
            for (boolean local : new boolean[] {false, true}) {
                check(registry, own, v4, local, foreign);
            }
        }
        return foreign;
    }

    /**
     * One route: to another node's pod, or ({@code local}) to one of this node's own. The proxy's tunnels to its own
     * node's pods reach its own inbound side, which binds their {@code forwarded: for=} to this node's addresses too:
     * a local-pod route from a bridge gateway ({@code cni0}) or {@code cilium_host} address made every same-node claim
     * untrusted, and the source known by its SPIFFE ID only (an operator pass: a single-node cluster denied every
     * label or {@code ipBlocks} rule between its pods). Such an address turns the binding off, as an overlay's does.
     */
    private void check(WorkloadRegistry registry, List<InetAddress> own, boolean v4, boolean local, List<InetAddress> foreign) {
        Optional<InetAddress> pod = registry.all().stream()
                .filter(w -> w.node() != null && w.node().equals(node) == local)
                .flatMap((Workload w) -> w.addresses().stream())
                .filter(a -> (a instanceof Inet4Address) == v4)
                .findFirst();
        if (pod.isEmpty()) {
            return;
        }
        InetAddress source;
        try (DatagramSocket probe = new DatagramSocket()) {
            probe.connect(new InetSocketAddress(pod.get(), WorkloadRegistry.HBONE_PORT));
            source = probe.getLocalAddress();
        } catch (IOException | RuntimeException e) {
            LOG.debug("no route to {} to check this node's source address: {}", pod.get().getHostAddress(), e.toString());
            return;
        }
        if (source == null || source.isAnyLocalAddress() || own.contains(source)) {
            return;
        }
        foreign.add(source);
        if (warned.add((local ? "local " : "") + source.getHostAddress() + " " + own)) {
            LOG.warn(local
                    ? "this node's proxy reaches its own node's pods (such as {}) from {}, which is not an address of node {} in its"
                    + " pods' status.hostIPs ({}): a bridge or host-routing CNI (cni0, cilium_host), so forwarded claims are NOT"
                    + " bound to the claimed pod's node (believed on the peer's identity alone, as with a registry without node"
                    + " addresses); see mesh-kubernetes/README.md, \"Node addresses\""
                    : "this node's proxy reaches pods on other nodes (such as {}) from {}, which is not an address of node {} "
                    + "in its pods' status.hostIPs ({}): an overlay pod network (Flannel VXLAN, Calico IPIP/VXLAN, "
                    + "Cilium tunnel mode), where other nodes' proxies dial from such addresses too, so forwarded "
                    + "claims are NOT bound to the claimed pod's node (believed on the peer's identity alone, as "
                    + "with a registry without node addresses); see mesh-kubernetes/README.md, \"Node addresses\"",
                    pod.get().getHostAddress(), source.getHostAddress(), node,
                    own.stream().map(InetAddress::getHostAddress).toList());
        }
    }
}
