package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A new-user pass: a reload that dropped a Cilium policy warned "no longer in force:
 * CiliumNetworkPolicy foo/l7 ()": a Cilium policy has no action of its own, and the parentheses were empty.
 */
class ReloadLossCiliumTest {
    @Test
    void aDroppedCiliumPolicyIsNamedWithoutAnEmptyAction() throws Exception {
        PolicySet cilium = PolicyLoader.fromString("c.yaml", """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: l7, namespace: foo}
                spec:
                  endpointSelector: {matchLabels: {app: web}}
                  ingress: [{fromEndpoints: [{matchLabels: {env: prod}}]}]
                """);
        PolicySet before = new PolicySet(cilium.compiled(), "pol", List.of(Path.of("pol", "c.yaml")));
        PolicySet after = new PolicySet(PolicyLoader.fromString("d.yaml", "").compiled(), "pol", List.of(Path.of("pol", "c.yaml")));
        assertThat(PolicyEngine.lossWarning(before, after, Path.of("pol")))
                .isEqualTo("reloaded 0 policies from pol (was 1); no longer in force: CiliumNetworkPolicy foo/l7; no policy is in force now");
    }

    /**
     * A PeerAuthentication whose mode changed is still in force: tightened (PERMISSIVE to STRICT) it widens nothing and
     * gets no WARN; loosened, it is named with both modes. A final new-user pass read "no longer in force: PeerAuthentication
     * prod/default (PERMISSIVE)" after tightening it.
     */
    @Test
    void aPeerAuthenticationWhoseModeChangedIsNamedOnlyWhenLoosened() throws Exception {
        PolicySet permissive = pa("PERMISSIVE");
        PolicySet strict = pa("STRICT");
        assertThat(PolicyEngine.lossWarning(permissive, strict, Path.of("pol"))).isNull();
        assertThat(PolicyEngine.lossWarning(strict, permissive, Path.of("pol")))
                .isEqualTo("reloaded 1 policy from pol (was 1); no longer in force: PeerAuthentication prod/default (STRICT, now PERMISSIVE)");
    }

    private static PolicySet pa(String mode) throws Exception {
        PolicySet s = PolicyLoader.fromString("pa.yaml", """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: prod}
                spec: {mtls: {mode: MODE}}
                """.replace("MODE", mode));
        return new PolicySet(s.compiled(), "pol", List.of(Path.of("pol", "pa.yaml")));
    }
}
