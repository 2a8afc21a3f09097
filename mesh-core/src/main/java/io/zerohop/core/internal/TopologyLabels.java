package io.zerohop.core.internal;

/**
 * The topology labels a workload's locality is read from, in one place: Kubernetes' well-known
 * {@code topology.kubernetes.io/*} and istio/api's {@code topology.istio.io/*} (label.go). ztunnel's metrics, its
 * baggage and its locality load balancing read the same keys of the same workload.
 */
public final class TopologyLabels {
    private TopologyLabels() {}

    public static final String REGION = "topology.kubernetes.io/region";
    public static final String ZONE = "topology.kubernetes.io/zone";
    public static final String SUBZONE = "topology.istio.io/subzone";
    public static final String CLUSTER = "topology.istio.io/cluster";
    public static final String NETWORK = "topology.istio.io/network";
}
