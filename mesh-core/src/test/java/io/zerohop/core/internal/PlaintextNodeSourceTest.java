package io.zerohop.core.internal;

import static io.zerohop.core.internal.PartsFixture.BACKEND;
import static io.zerohop.core.internal.PartsFixture.FRONTEND;
import static io.zerohop.core.internal.PartsFixture.REMOTE;
import static io.zerohop.core.internal.PartsFixture.ip;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.WorkloadRegistry;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Plaintext from a registry node's address reaches the policy as Cilium identifies it: {@code reserved:host} from the
 * enforcing proxy's node, {@code reserved:remote-node} from another (mesh-policy {@code CiliumNodeSourceTest} holds
 * Cilium's entity semantics). Until 4 December it was world, so a CiliumNetworkPolicy's world or CIDR rule admitted a
 * node's plaintext that Cilium refuses (NodePort traffic SNATed to a node, a host-network client on another node).
 */
class PlaintextNodeSourceTest {
    final WorkloadRegistry registry = WorkloadRegistry.empty();
    final RateLimitedLog refusals = new RateLimitedLog(LoggerFactory.getLogger("io.zerohop.core.Mesh"), "refusals", 20,
            Duration.ofSeconds(10));

    PlaintextNodeSourceTest() {
        registry.replace(List.of(BACKEND, FRONTEND, REMOTE), Map.of("b", new InetSocketAddress(ip("192.168.0.2"), 15008)),
                Map.of("a", List.of(ip("192.168.0.1"))));
    }

    boolean allowed(String ingress, String from) throws Exception {
        return allowed(ingress, from, "a", x -> false);
    }

    boolean allowed(String ingress, String from, String localNode, java.util.function.Predicate<java.net.InetAddress> onThisHost)
            throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("c.yaml", """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: backend-in, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {app: backend}}
                  ingress: [%s]
                """.formatted(ingress))).build();
        PolicyAuthorizer authorizer = new PolicyAuthorizer(engine, registry, refusals, () -> false, localNode, onThisHost);
        return authorizer.decidePlaintext(new InetSocketAddress(ip(from), 40000), BACKEND,
                new InetSocketAddress(BACKEND.addresses().get(0), 8080)).allowed();
    }

    @Test
    void anotherNodesAddressIsRemoteNodeNotWorld() throws Exception {
        assertThat(allowed("{fromEntities: [world]}", "192.168.0.2")).isFalse();
        assertThat(allowed("{fromCIDR: [192.168.0.0/16]}", "192.168.0.2")).isFalse();
        assertThat(allowed("{fromEntities: [remote-node]}", "192.168.0.2")).isTrue();
        assertThat(allowed("{fromEntities: [cluster]}", "192.168.0.2")).isTrue();
        // An address no node declares stays world.
        assertThat(allowed("{fromCIDR: [192.168.0.0/16]}", "192.168.0.9")).isTrue();
        assertThat(allowed("{fromEntities: [remote-node]}", "192.168.0.9")).isFalse();
    }

    /**
     * Without --node, the node enforcing is the destination's (BACKEND runs on node a), as {@code policy check} reads it:
     * an address of this host registered as another node's is that node's (a new-user pass found the proxy calling it
     * host where the check said remote-node).
     */
    @Test
    void withoutANodeNameTheDestinationsNodeIsHost() throws Exception {
        java.util.function.Predicate<java.net.InetAddress> hostB = x -> x.equals(ip("192.168.0.2"));
        assertThat(allowed("{fromEntities: [host]}", "192.168.0.1", null, hostB)).isTrue();
        assertThat(allowed("{fromEntities: [remote-node]}", "192.168.0.1", null, hostB)).isFalse();
        assertThat(allowed("{fromEntities: [host]}", "192.168.0.2", null, hostB)).as("this host's, but node b's").isFalse();
        assertThat(allowed("{fromEntities: [remote-node]}", "192.168.0.2", null, hostB)).isTrue();
    }

    @Test
    void thisNodesAddressIsHost() throws Exception {
        assertThat(allowed("{fromEntities: [host]}", "192.168.0.1")).isTrue();
        assertThat(allowed("{fromEntities: [remote-node]}", "192.168.0.1")).isFalse();
        assertThat(allowed("{fromEntities: [world]}", "192.168.0.1")).isFalse();
    }
}
