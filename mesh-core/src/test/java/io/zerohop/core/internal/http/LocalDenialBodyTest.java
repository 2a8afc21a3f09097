package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.Decision;
import io.zerohop.policy.PolicyRef;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * A 403's body by the kind of policy that denied: Cilium's proxy's {@code Access denied} for either Cilium kind, Envoy
 * RBAC's otherwise (helper 260). L7CiliumPathTest and L7Http2Test deny through a namespaced CiliumNetworkPolicy only:
 * with the clusterwide kind answered as RBAC both still passed (helper 268).
 */
class LocalDenialBodyTest {
    private static String body(PolicyRef.Kind kind) {
        Decision d = kind == null ? null : new Decision(false, Decision.Outcome.DENIED_BY_RULE, new PolicyRef(kind, "prod", "p", null), 0, "r");
        return new String(LocalReplies.denied(d), StandardCharsets.US_ASCII);
    }

    @Test
    void eachCiliumKindIsCiliumsProxysBodyAndTheRestEnvoyRbacs() {
        assertThat(body(PolicyRef.Kind.CILIUM_NETWORK_POLICY)).isEqualTo("Access denied\r\n");
        assertThat(body(PolicyRef.Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY)).isEqualTo("Access denied\r\n");
        assertThat(body(PolicyRef.Kind.AUTHORIZATION_POLICY)).isEqualTo("RBAC: access denied");
        assertThat(body(null)).isEqualTo("RBAC: access denied");
        assertThat(LocalReplies.grpcMessage(LocalReplies.CILIUM_DENIED)).isEqualTo("Access denied%0D%0A");
        assertThat(LocalReplies.grpcMessage("100%".getBytes(StandardCharsets.US_ASCII))).isEqualTo("100%25");
    }
}
