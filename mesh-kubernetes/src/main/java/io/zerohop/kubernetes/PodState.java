package io.zerohop.kubernetes;

/**
 * What the API server last said about a pod that {@link io.zerohop.core.Workload} does not carry.
 * The registry keeps unready and terminating pods, as istiod keeps them (status UNHEALTHY) in the
 * workload table it sends ztunnel: readiness matters for load balancing, not for who a peer is.
 *
 * @param namespace never null
 * @param name      never null
 * @param node      {@code spec.nodeName}, null while unscheduled
 * @param phase     {@code status.phase} ({@code Pending}, {@code Running}, ...), null when not reported
 * @param ready     the {@code Ready} condition is {@code True}
 * @param inMesh    traffic to it is tunnelled (HBONE); see {@link io.zerohop.core.Workload.Protocol}
 * @param captured  its node's proxy captures it, as istio-cni decides which pods ztunnel's redirection takes (the
 *                  {@code ambient.istio.io/redirection: enabled} annotation, else its enablement selectors). False for a
 *                  pod that terminates HBONE itself ({@code networking.istio.io/tunnel: http}: zerohop embedded, a sidecar
 *                  with HBONE on) outside those selectors: {@code inMesh}, but no node proxy takes its traffic. Until
 *                  5 December such a pod was captured (a review pass)
 */
public record PodState(String namespace, String name, String node, String phase, boolean ready, boolean inMesh, boolean captured) {
}
