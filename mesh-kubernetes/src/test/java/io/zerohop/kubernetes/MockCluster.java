package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.fail;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * fabric8's mock API server in CRUD mode (the same dispatcher {@code @EnableKubernetesMockClient(crud = true)}
 * uses), spoken to over its real HTTP list/watch protocol, plus object builders. A test's
 * {@code @RegisterExtension} field is closed after each test.
 */
final class MockCluster implements AutoCloseable, AfterEachCallback {
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    /** Expectations answered before the CRUD store; concurrent, so a test may remove them while the server runs (a role granted). */
    final Map<ServerRequest, Queue<ServerResponse>> responses = new java.util.concurrent.ConcurrentHashMap<>();
    final KubernetesMockServer server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(),
            responses, new KubernetesMixedDispatcher(responses), false);
    final KubernetesClient client;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    MockCluster() {
        server.init();
        client = server.createClient();
    }

    <T extends AutoCloseable> T closeLater(T c) {
        closeables.add(c);
        return c;
    }

    /**
     * {@code discovery} with the tests' short debounce (20 ms, at most 1 s), started, closed with this cluster, and
     * waited for until its first sync.
     */
    KubernetesDiscovery startSynced(KubernetesDiscovery.Builder discovery) throws Exception {
        KubernetesDiscovery d = closeLater(discovery.debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
        d.synced().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        return d;
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        close();
    }

    @Override
    public void close() throws Exception {
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
        client.close();
        server.destroy();
    }

    // ---- objects ----

    static Namespace namespace(String name, Map<String, String> labels) {
        return new NamespaceBuilder().withNewMetadata().withName(name).withLabels(labels).endMetadata().build();
    }

    /** A running, ready pod; {@code ips} become status.podIPs (the first also status.podIP). */
    static PodBuilder pod(String ns, String name, String node, String sa, Map<String, String> labels, String... ips) {
        List<PodIP> podIps = new ArrayList<>();
        for (String ip : ips) {
            podIps.add(new PodIP(ip));
        }
        return new PodBuilder()
                .withNewMetadata().withNamespace(ns).withName(name).withLabels(labels).endMetadata()
                .withNewSpec().withNodeName(node).withServiceAccountName(sa)
                .addNewContainer().withName("app").withImage("app:1")
                .addNewPort().withName("http-web").withContainerPort(8080).endPort()
                .endContainer().endSpec()
                .withNewStatus().withPhase("Running").withPodIP(ips.length == 0 ? null : ips[0]).withPodIPs(podIps)
                .addNewCondition().withType("Ready").withStatus("True").endCondition()
                .endStatus();
    }

    Pod create(Pod p) {
        return client.resource(p).create();
    }

    static ResourceDefinitionContext context(String apiVersion, String kind) {
        String group = apiVersion.substring(0, apiVersion.indexOf('/'));
        String version = apiVersion.substring(apiVersion.indexOf('/') + 1);
        String plural = switch (kind) {
            case "AuthorizationPolicy" -> "authorizationpolicies";
            case "PeerAuthentication" -> "peerauthentications";
            case "RequestAuthentication" -> "requestauthentications";
            case "CiliumNetworkPolicy" -> "ciliumnetworkpolicies";
            case "CiliumClusterwideNetworkPolicy" -> "ciliumclusterwidenetworkpolicies";
            case "ServiceEntry" -> "serviceentries";
            case "WorkloadEntry" -> "workloadentries";
            case "Gateway" -> "gateways";
            case "GatewayClass" -> "gatewayclasses";
            default -> throw new IllegalArgumentException(kind);
        };
        return new ResourceDefinitionContext.Builder().withGroup(group).withVersion(version).withKind(kind)
                .withPlural(plural).withNamespaced(!kind.equals("CiliumClusterwideNetworkPolicy") && !kind.equals("GatewayClass")).build();
    }

    /** Creates (or replaces) the policy (or ServiceEntry, WorkloadEntry, Gateway, GatewayClass) object given as YAML, at its apiVersion's endpoint. */
    GenericKubernetesResource apply(String yaml) {
        GenericKubernetesResource r = Serialization.unmarshal(yaml, GenericKubernetesResource.class);
        var op = client.genericKubernetesResources(context(r.getApiVersion(), r.getKind()));
        var res = r.getMetadata().getNamespace() == null ? op.resource(r) : op.inNamespace(r.getMetadata().getNamespace()).resource(r);
        return res.get() == null ? res.create() : res.update();
    }

    void delete(String apiVersion, String kind, String ns, String name) {
        var op = client.genericKubernetesResources(context(apiVersion, kind));
        (ns == null ? op.withName(name) : op.inNamespace(ns).withName(name)).delete();
    }

    // ---- waiting ----

    /** Waits, woken by every install of {@code d}, until {@code condition} holds; fails after {@link #TIMEOUT}. */
    static void await(KubernetesDiscovery d, String what, BooleanSupplier condition) throws Exception {
        ReentrantLock lock = new ReentrantLock();
        Condition changed = lock.newCondition();
        try (AutoCloseable l = d.onInstalled(() -> {
            lock.lock();
            try {
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        })) {
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            lock.lock();
            try {
                while (!condition.getAsBoolean()) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        fail("timed out after " + TIMEOUT + " waiting for: " + what);
                    }
                    // Bounded: a few conditions (podState) change with no install to wake us.
                    changed.await(Math.min(left, TimeUnit.MILLISECONDS.toNanos(200)), TimeUnit.NANOSECONDS);
                }
            } finally {
                lock.unlock();
            }
        }
    }
}
