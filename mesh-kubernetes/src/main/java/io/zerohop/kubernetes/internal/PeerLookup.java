package io.zerohop.kubernetes.internal;

import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.LoadingCache;
import com.github.benmanes.caffeine.cache.RemovalCause;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Optional;

/**
 * The pod-shaped discovery's on-demand peers: pods looked up by address over all namespaces
 * ({@code fieldSelector=status.podIP=ADDRESS}), kept in a bounded cache (misses too) and put into the
 * {@link WorkloadState}; an evicted peer is removed from it again and {@code changed} is called.
 */
public final class PeerLookup {
    private final KubernetesClient client;
    private final WorkloadState workloads;
    private final LoadingCache<InetAddress, Optional<Pod>> peers;

    public PeerLookup(KubernetesClient client, WorkloadState workloads, long size, Duration ttl, Runnable changed) {
        this.client = client;
        this.workloads = workloads;
        this.peers = Caffeine.newBuilder()
                .maximumSize(size)
                .expireAfterWrite(ttl)
                .removalListener((InetAddress a, Optional<Pod> p, RemovalCause cause) -> {
                    if (cause != RemovalCause.REPLACED && p != null && p.isPresent()) {
                        workloads.removePeer(p.get().getMetadata().getNamespace(), p.get().getMetadata().getName());
                        changed.run();
                    }
                })
                .build(this::fetchPeer);
    }

    /**
     * The live pod at {@code address}, cached; blocks for one API call on a miss.
     *
     * @throws java.util.concurrent.CompletionException or
     *         {@link io.fabric8.kubernetes.client.KubernetesClientException} when the API call fails
     */
    public Optional<Pod> get(InetAddress address) {
        return peers.get(address);
    }

    public void invalidateAll() {
        peers.invalidateAll();
    }

    private Optional<Pod> fetchPeer(InetAddress address) {
        // The API server keeps pod IPs as Go's net.IP.String() writes them (RFC 5952: fd00:10:244::5), and a field
        // selector compares text; getHostAddress() writes fd00:10:244:0:0:0:0:5, which matched no IPv6 pod (a review pass).
        String ip = io.netty.util.NetUtil.toAddressString(address);
        Pod newest = null;
        for (Pod p : client.pods().inAnyNamespace().withField("status.podIP", ip).list().getItems()) {
            // The field selector is the server's; check the address ourselves, and skip finished pods
            // whose IP was handed on.
            if (PodConversion.isTerminal(p) || !podIpsContain(p, ip)) {
                continue;
            }
            if (newest == null || String.valueOf(p.getMetadata().getCreationTimestamp())
                    .compareTo(String.valueOf(newest.getMetadata().getCreationTimestamp())) > 0) {
                newest = p;
            }
        }
        if (newest != null) {
            // Kept (here and in the WorkloadState) as the informers keep pods: without the fields never read.
            ObjectStrip.pod(newest);
            workloads.putPeer(newest);
        }
        return Optional.ofNullable(newest);
    }

    private static boolean podIpsContain(Pod p, String ip) {
        if (p.getStatus() == null) {
            return false;
        }
        if (ip.equals(p.getStatus().getPodIP())) {
            return true;
        }
        return p.getStatus().getPodIPs() != null && p.getStatus().getPodIPs().stream().anyMatch(x -> ip.equals(x.getIp()));
    }
}
