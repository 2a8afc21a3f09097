package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.testing.CapturedStderr;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * {@link KubernetesFailClosedTest}'s stand-in end to end: a real node proxy (Mesh + HBONE listener,
 * in-memory CA) wired by {@link KubernetesDiscovery#forNode} with its policy engine, objects through
 * fabric8's CRUD mock API server, a client mesh tunnelling to the node's pod over real mTLS.
 */
class KubernetesFailClosedTunnelTest {
    static final SpiffeId FRONTEND = SpiffeIds.istio("cluster.local", "prod", "frontend");
    static final SpiffeId BACKEND = SpiffeIds.istio("cluster.local", "prod", "backend");

    @Test
    @DisplayName("a rejected DENY AuthorizationPolicy: the tunnel to the pod it selects is refused with 401, the proxy's denial line "
            + "naming both identities and the object; once the object is fixed the same tunnel works again")
    void rejectedPolicyRefusesTheTunnelUntilFixed() throws Exception {
        InetAddress podIp = InetAddress.getByName("127.0.0.23");
        PolicyEngine engine = PolicyEngine.builder().rootNamespace("istio-system").build();
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (CapturedStderr err = new CapturedStderr(); MockCluster k8s = new MockCluster();
             NodeProxyServingTest.Echo app = new NodeProxyServingTest.Echo(podIp)) {
            k8s.client.resource(namespace("prod", Map.of("istio.io/dataplane-mode", "ambient"))).create();
            k8s.create(pod("prod", "backend", "node-a", "backend", Map.of("app", "backend"), podIp.getHostAddress()).build());
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a").policies(engine)
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            d.synced().get(30, TimeUnit.SECONDS);
            await(d, "pod known", () -> d.registry().byAddress(podIp).isPresent());

            Mesh proxy = k8s.closeLater(d.applyTo(Mesh.builder()).identityProvider(ca)
                    .inbound(new InetSocketAddress(InetAddress.getByName("0.0.0.0"), 0)).threads(1).build());
            proxy.start().get(10, TimeUnit.SECONDS);
            Workload backend = d.registry().byAddress(podIp).orElseThrow();
            Mesh client = k8s.closeLater(Mesh.builder().identityProvider(ca).threads(1)
                    .workloads(WorkloadRegistry.of(List.of(backend),
                            Map.of("node-a", new InetSocketAddress(podIp, proxy.inboundAddress().getPort()))))
                    .build());
            InetSocketAddress target = new InetSocketAddress(podIp, 9090);

            assertThat(echo(client, target, "before")).isEqualTo("before");

            k8s.apply(KubernetesFailClosedTest.BAD_DENY);
            // rejectedPolicies() changes when the object arrives, the engine after the debounce: wait for both.
            await(d, "stand-in in force", () -> d.rejectedPolicies().containsKey("AuthorizationPolicy/prod/deny-admin")
                    && !allowed(engine, 9090));
            Throwable refused = catchThrowable(() -> client.connect(FRONTEND, target).get(10, TimeUnit.SECONDS));
            assertThat(refused).isInstanceOf(ExecutionException.class);
            assertThat(refused.getCause()).isInstanceOf(HboneRefusedException.class);
            assertThat(((HboneRefusedException) refused.getCause()).status()).as("ztunnel's status for an RBAC deny").isEqualTo(401);
            // The proxy's denial line: source and destination identities, and the rejected object by name.
            err.awaitLine("denied " + FRONTEND + " -> " + target.getAddress().getHostAddress() + ":9090 (" + BACKEND + ")",
                    "DENY by prod/deny-admin");
            assertThat(catchThrowable(() -> echo(client, target, "during"))).as("a socket through the tunnel").isInstanceOf(IOException.class);
            assertThat(app.accepted.get()).as("nothing reached the pod while refused").isEqualTo(1);

            k8s.apply(KubernetesFailClosedTest.BAD_DENY.replace("70000", "7000"));
            await(d, "object fixed", () -> d.rejectedPolicies().isEmpty() && allowed(engine, 9090));
            assertThat(echo(client, target, "after")).isEqualTo("after");
        } finally {
            ca.close();
        }
    }

    /** The engine's decision for {@link #FRONTEND} calling the backend pod on {@code port} (what the proxy will ask). */
    static boolean allowed(PolicyEngine engine, int port) {
        return engine.evaluate(AccessRequest.builder().sourcePrincipal(FRONTEND.toString())
                .sourceAddress("10.0.9.9").destinationAddress("127.0.0.23").destinationPort(port)
                .destination(KubernetesPoliciesTest.BACKEND).sourceWorkload(KubernetesPoliciesTest.FRONTEND).build()).allowed();
    }

    /** {@code text} through a tunnel to {@code target} as {@link #FRONTEND}, half-closed, and what came back. */
    static String echo(Mesh client, InetSocketAddress target, String text) throws IOException {
        try (Socket s = client.socketFactory(FRONTEND).createSocket(target.getAddress(), target.getPort())) {
            s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        }
    }
}
