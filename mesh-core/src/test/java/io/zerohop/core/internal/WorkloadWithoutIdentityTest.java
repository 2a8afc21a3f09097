package io.zerohop.core.internal;

import static io.zerohop.core.internal.PartsFixture.BACKEND;
import static io.zerohop.core.internal.PartsFixture.FRONTEND;
import static io.zerohop.core.internal.PartsFixture.REMOTE;
import static io.zerohop.core.internal.PartsFixture.ip;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Service;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.WorkloadService;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * A {@link Workload.Protocol#TCP} workload with a null service account: an endpoint of unknown identity (mesh-kubernetes
 * builds one from an EndpointSlice endpoint that names no pod, as istiod sends {@code ServiceAccount: ""}). It has no
 * SPIFFE ID, no peer is ever it, no policy matches it as a principal, service account or endpoint, it is never local,
 * and a plaintext connection from its address is read as from an address outside the registry (a node's address stays
 * Cilium's {@code remote-node}). Its per-endpoint port map ({@link WorkloadService#ports}) wins over the Service's target.
 */
class WorkloadWithoutIdentityTest {
    static final Workload SLICE = new Workload("prod", "kubernetes-192.168.0.2", null, Map.of(), List.of(ip("192.168.0.2")),
            Workload.Protocol.TCP, null, "cluster.local", Map.of(), null, "kubernetes",
            List.of(new WorkloadService("kubernetes", "prod", "kubernetes.prod.svc.cluster.local", Set.of(6443), true,
                    Map.of(443, 6443))));

    @Test
    void onlyAPlaintextWorkloadMayLackAnIdentity() {
        assertThat(SLICE.identity()).isNull();
        assertThat(SLICE.hasKnownIdentity()).isFalse();
        assertThat(SLICE.hasIdentity(SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/default"))).isFalse();
        assertThat(SLICE.ref().serviceAccount()).isEmpty();
        assertThatThrownBy(() -> new Workload("prod", "x", null, Map.of(), List.of(ip("10.9.9.9")), Workload.Protocol.HBONE,
                null, "cluster.local")).hasMessage("workload serviceAccount is required");
        assertThatThrownBy(() -> new Workload("prod", "x", null, Map.of(), List.of(ip("10.9.9.9")), null, null, "cluster.local"))
                .as("null protocol is HBONE").hasMessage("workload serviceAccount is required");
        // Existing workloads: unchanged.
        assertThat(BACKEND.hasKnownIdentity()).isTrue();
        assertThat(BACKEND.identity()).isEqualTo(SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/backend"));
    }

    @Test
    void theRegistryHasNoIdentityForItAndItIsNeverLocal() {
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(BACKEND, SLICE), Map.of(), Map.of(), List.of());
        assertThat(r.identityOf(SLICE)).isNull();
        assertThat(r.identityOf(BACKEND)).isEqualTo(BACKEND.identity());
        assertThat(new LocalWorkloads(r, null).isLocal(SLICE)).isFalse();
        assertThat(new LocalWorkloads(r, null).at(ip("192.168.0.2"))).isEmpty();
    }

    @Test
    void aPerEndpointPortWinsOverTheServicesTarget() {
        Service svc = new Service("prod", "kubernetes", "kubernetes.prod.svc.cluster.local", List.of(ip("10.96.0.1")),
                List.of(Service.Port.of(443, 443), Service.Port.of(80, 8080)));
        assertThat(svc.targetOn(svc.port(443), SLICE)).isEqualTo(6443);
        assertThat(svc.targetOn(svc.port(80), SLICE)).as("not in the endpoint's map: the Service's").isEqualTo(8080);
        assertThat(svc.targetOn(svc.port(443), BACKEND)).isEqualTo(443);
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(SLICE), Map.of(), Map.of(), List.of(svc));
        assertThat(r.pickEndpoint(svc, 443, ip("10.96.0.1")).address()).isEqualTo(new InetSocketAddress(ip("192.168.0.2"), 6443));
        assertThat(r.pickMeshEndpoint(svc, 443, ip("10.96.0.1"), null, null)).isNull();
        assertThatThrownBy(() -> new WorkloadService("a", "b", "h", Set.of(), true, Map.of(443, 0)))
                .hasMessage("service b/a: port 443 -> 0 is out of range 1-65535");
    }

    /** The kubernetes Service's slice lists a node's address: plaintext from it stays remote-node to Cilium, never a pod. */
    @Test
    void plaintextFromItsAddressIsNoWorkloads() throws Exception {
        WorkloadRegistry registry = WorkloadRegistry.empty();
        registry.replace(List.of(BACKEND, FRONTEND, REMOTE, SLICE), Map.of("b", new InetSocketAddress(ip("192.168.0.2"), 15008)),
                Map.of("a", List.of(ip("192.168.0.1"))), List.of());
        RateLimitedLog refusals = new RateLimitedLog(LoggerFactory.getLogger("io.zerohop.core.Mesh"), "refusals", 20,
                Duration.ofSeconds(10));
        for (String[] c : new String[][] {
                {"{fromEntities: [remote-node]}", "true"},
                {"{fromEndpoints: [{}]}", "false"},
                {"{fromEndpoints: [{matchLabels: {'k8s:io.kubernetes.pod.namespace': prod}}]}", "false"},
                {"{fromEntities: [world]}", "false"}}) {
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("c.yaml", """
                    apiVersion: cilium.io/v2
                    kind: CiliumNetworkPolicy
                    metadata: {name: backend-in, namespace: prod}
                    spec:
                      endpointSelector: {matchLabels: {app: backend}}
                      ingress: [%s]
                    """.formatted(c[0]))).build();
            PolicyAuthorizer authorizer = new PolicyAuthorizer(engine, registry, refusals, () -> false, "a", x -> false);
            assertThat(authorizer.decidePlaintext(new InetSocketAddress(ip("192.168.0.2"), 40000), BACKEND,
                    new InetSocketAddress(BACKEND.addresses().get(0), 8080)).allowed()).as(c[0]).isEqualTo(Boolean.parseBoolean(c[1]));
        }
    }
}
