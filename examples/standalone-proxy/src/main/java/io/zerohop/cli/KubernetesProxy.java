package io.zerohop.cli;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.zerohop.kubernetes.KubernetesDiscovery;
import io.zerohop.policy.PolicyEngine;
import java.nio.file.Path;

/**
 * {@code zerohop proxy --kubernetes [--node NAME]}: workloads and policies from the API server.
 * fabric8's auto-configuration picks the in-cluster service account (token and CA under
 * /var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST), else $KUBECONFIG or
 * ~/.kube/config.
 */
final class KubernetesProxy implements AutoCloseable {
    /** Set by deploy/zerohop.sh to {@code false} when it chose the other modes' JVM flags. */
    static final String LAUNCHER_DECISION = "zerohop.launcher.kubernetes";
    final KubernetesClient client;
    final KubernetesDiscovery discovery;

    private KubernetesProxy(KubernetesClient client, KubernetesDiscovery discovery) {
        this.client = client;
        this.discovery = discovery;
    }

    /**
     * Starts the informers and returns at once: the caller registers {@link #discovery}'s
     * {@code synced()} as a readiness task, so {@code /healthz/ready} says
     * {@code not ready, pending: kubernetes sync} until the first full sync.
     *
     * @param node the --node option; default $NODE_NAME (downward API spec.nodeName)
     * @param clusterDomain --cluster-domain, else $CLUSTER_DOMAIN, else cluster.local, checked
     * @param serviceEntryVisibility --mesh-config's serviceEntryVisibility, checked; null: istiod's default (all public)
     * @param ciliumOptions the Cilium agent options the cluster's Cilium policies are read with (--policy-default-local-cluster)
     * @param meters where the rejected-objects counter goes (the proxy's /metrics)
     * @param rootCheck told of every policy set installed (a root namespace that looks mistyped)
     */
    static KubernetesProxy start(String node, Path workloads, Path policies, String trustDomain, String clusterDomain,
                                 io.zerohop.kubernetes.ServiceEntryVisibility serviceEntryVisibility, String rootNamespace,
                                 io.zerohop.policy.CiliumOptions ciliumOptions, io.micrometer.core.instrument.MeterRegistry meters,
                                 RootNamespaceCheck rootCheck) {
        // ProxyCommand.check() has refused file sources and a missing node name as usage errors.
        String launcherSaw = System.getProperty(LAUNCHER_DECISION);
        if ("false".equals(launcherSaw)) {
            // deploy/zerohop.sh reads the --config file with grep: a layout it does not know (a flow
            // mapping, a tag) ran this mode without its archive and heap flags, ~14-60 MB more RSS.
            LogShape.proxyLine("warn", "zerohop proxy: warning: Kubernetes mode, but the launcher did not recognise it and started the JVM"
                    + " without the Kubernetes-mode archive and heap flags (deploy/zerohop.sh): write `kubernetes: true` on a line"
                    + " of its own in the --config file, or pass --kubernetes");
        }
        String nodeName = node != null ? node : System.getenv("NODE_NAME");
        // The node proxy's client reads Pods only through the informers, which strip them: it can skip
        // the stripped fields while parsing (fewer model classes resident, less garbage per pod).
        KubernetesClient client = new KubernetesClientBuilder().withKubernetesSerialization(KubernetesDiscovery.nodeProxySerialization())
                .build();
        KubernetesDiscovery d;
        PolicyEngine engine = PolicyEngine.builder().rootNamespace(rootNamespace).ciliumOptions(ciliumOptions).build();
        // Every install of the policy set (the first once synced) is checked; a warning is logged when it changes.
        engine.addChangeListener(rootCheck);
        try {
            KubernetesDiscovery.Builder b = KubernetesDiscovery.forNode(client, nodeName).trustDomain(trustDomain).clusterDomain(clusterDomain)
                    .meterRegistry(meters).policies(engine);
            if (serviceEntryVisibility != null) {
                b.serviceEntryVisibility(serviceEntryVisibility);
            }
            d = b.start();
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
        LogShape.stdoutLine("zerohop proxy: syncing with the Kubernetes API server " + client.getMasterUrl() + " as node " + nodeName);
        return new KubernetesProxy(client, d);
    }

    /**
     * One full collection once the first sync is installed, before the proxy reports ready. The sync
     * parsed every pod of the cluster (pages of 500 full pods, ~25 MB of garbage at a time) and the
     * old generation grew for it; SerialGC gives committed heap back only after a full collection, and
     * none may come for hours in a quiet cluster. With the launcher's Kubernetes-mode flags
     * ({@code -XX:MaxHeapFreeRatio=30 -XX:-ShrinkHeapInSteps}, deploy/zerohop.sh) this one shrinks the
     * heap to ~1.4x what is live and the pages go back to the kernel; without them (JVM defaults) it
     * shrinks little or nothing. Blocks the calling thread for the collection (~0.1 s at 10,000 pods).
     */
    static void releaseSyncHeap() {
        System.gc();
    }

    @Override
    public void close() {
        discovery.close();
        client.close();
    }
}
