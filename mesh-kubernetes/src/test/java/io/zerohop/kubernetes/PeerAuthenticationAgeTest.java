package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.zerohop.kubernetes.internal.PolicyState;
import io.zerohop.policy.MtlsMode;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Two PeerAuthentications of one scope conflict: istiod keeps the oldest (pilot/pkg/model/authentication.go
 * addPeerAuthentication after sortConfigByCreationTime in pilot/pkg/model/config.go: creation time, then name, then
 * namespace; pilot/pkg/serviceregistry/ambient/authorization.go getOldestPeerAuthn for ztunnel). The objects are the
 * API server's, creationTimestamp included, fed to {@link PolicyState} as the informers do.
 */
class PeerAuthenticationAgeTest {
    static final WorkloadRef BACKEND = new WorkloadRef("prod", "backend-1", "backend", Map.of("app", "backend"));

    static GenericKubernetesResource pa(String name, String created, String spec) {
        return Serialization.unmarshal("""
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: %s, namespace: prod, creationTimestamp: "%s"}
                spec: %s
                """.formatted(name, created, spec), GenericKubernetesResource.class);
    }

    static MtlsMode mode(List<GenericKubernetesResource> objects, int port) {
        PolicyEngine engine = PolicyEngine.builder().rootNamespace("istio-system").build();
        PolicyState state = new PolicyState(engine);
        objects.forEach(state::put);
        state.flush();
        return engine.mtlsMode(BACKEND, port);
    }

    @Test
    void theOldestNamespacePolicyWinsWhateverItsName() {
        // The older one sorts last by name: name order (what zerohop used) picked PERMISSIVE, istiod STRICT.
        GenericKubernetesResource older = pa("zz-strict", "2026-01-01T00:00:00Z", "{mtls: {mode: STRICT}}");
        GenericKubernetesResource newer = pa("aa-permissive", "2026-06-01T00:00:00Z", "{mtls: {mode: PERMISSIVE}}");
        assertThat(mode(List.of(newer, older), 8080)).isEqualTo(MtlsMode.STRICT);
        assertThat(mode(List.of(older, newer), 8080)).isEqualTo(MtlsMode.STRICT);
    }

    @Test
    void theOldestWorkloadPolicyWins() {
        GenericKubernetesResource older = pa("zz-w", "2026-01-01T00:00:00Z", "{selector: {matchLabels: {app: backend}}, mtls: {mode: STRICT}}");
        GenericKubernetesResource newer = pa("aa-w", "2026-06-01T00:00:00Z",
                "{selector: {matchLabels: {app: backend}}, mtls: {mode: DISABLE}}");
        assertThat(mode(List.of(newer, older), 8080)).isEqualTo(MtlsMode.STRICT);
    }

    @Test
    void sameCreationTimeFallsBackToTheName() {
        GenericKubernetesResource b = pa("b", "2026-01-01T00:00:00Z", "{mtls: {mode: PERMISSIVE}}");
        GenericKubernetesResource a = pa("a", "2026-01-01T00:00:00Z", "{mtls: {mode: STRICT}}");
        assertThat(mode(List.of(b, a), 8080)).isEqualTo(MtlsMode.STRICT);
    }
}
