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
     * @param meters where the rejected-objects counter goes (the proxy's /metrics)
     * @param rootCheck told of every policy set installed (a root namespace that looks mistyped)
     */
    static KubernetesProxy start(String node, Path workloads, Path policies, String trustDomain, String rootNamespace,
                                 io.micrometer.core.instrument.MeterRegistry meters, RootNamespaceCheck rootCheck) {
        // ProxyCommand.check() has refused file sources and a missing node name as usage errors.
        String nodeName = node != null ? node : System.getenv("NODE_NAME");
        KubernetesClient client = new KubernetesClientBuilder().build();
        KubernetesDiscovery d;
        PolicyEngine engine = PolicyEngine.builder().rootNamespace(rootNamespace).build();
        // Every install of the policy set (the first once synced) is checked; a warning is logged when it changes.
        engine.addChangeListener(rootCheck);
        try {
            d = KubernetesDiscovery.forNode(client, nodeName).trustDomain(trustDomain).meterRegistry(meters)
                    .policies(engine).start();
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
        System.out.println("zerohop proxy: syncing with the Kubernetes API server " + client.getMasterUrl() + " as node " + nodeName);
        return new KubernetesProxy(client, d);
    }

    @Override
    public void close() {
        discovery.close();
        client.close();
    }
}
