package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.PolicyRef.Kind;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The rule of {@link RootNamespaceCheck}: a warning only where the root namespace probably is mistyped. */
class RootNamespaceCheckTest {
    private static PolicyRef ap(String ns) {
        return new PolicyRef(Kind.AUTHORIZATION_POLICY, ns, "p", "DENY");
    }

    @Test
    @DisplayName("a typo of the root namespace, in the option or in the policies' namespace, is named; the right root is not")
    void typos() {
        assertThat(RootNamespaceCheck.warning(List.of(ap("istio-system")), "istio-sytem", "--root-namespace")).isEqualTo(
                "root namespace istio-sytem (--root-namespace) holds no AuthorizationPolicy or PeerAuthentication, but 1 in"
                        + " istio-system: those apply to their own namespace only, not mesh-wide; is the root namespace or their"
                        + " namespace mistyped?");
        assertThat(RootNamespaceCheck.warning(List.of(ap("istio-sytem"), new PolicyRef(Kind.PEER_AUTHENTICATION, "istio-sytem", "d", "STRICT")),
                "istio-system", "--root-namespace")).contains("but 2 in istio-sytem:");
        assertThat(RootNamespaceCheck.warning(List.of(ap("mesh-rot")), "mesh-root", "--root-namespace")).contains("but 1 in mesh-rot:");
        assertThat(RootNamespaceCheck.warning(List.of(ap("istio-system")), "istio-system", "--root-namespace")).isNull();
    }

    @Test
    @DisplayName("a mesh-wide policy typed into a namespace one edit from the root is named even when the root holds others")
    void aTypoBesideTheRootsOwnPolicies() {
        // A new-user pass: a mesh-wide STRICT PeerAuthentication in istio-sytem beside an AuthorizationPolicy in
        // istio-system applied to istio-sytem only (plaintext accepted everywhere else), without a word.
        assertThat(RootNamespaceCheck.warning(List.of(ap("istio-system"), new PolicyRef(Kind.PEER_AUTHENTICATION, "istio-sytem", "default",
                "STRICT")), "istio-system", "--root-namespace")).isEqualTo("root namespace istio-system (--root-namespace) holds 1"
                + " AuthorizationPolicy or PeerAuthentication, and 1 in istio-sytem, a name one or two edits away: those apply to their"
                + " own namespace only, not mesh-wide; is their namespace mistyped?");
        // istio-system under another root is a namespace like any other.
        assertThat(RootNamespaceCheck.warning(List.of(ap("mesh-root"), ap("istio-system")), "mesh-root", "--root-namespace")).isNull();
    }

    @Test
    @DisplayName("no warning when the root holds a policy and nothing is near it, when nothing is near it, for Cilium policies, or with no policy")
    void quietOtherwise() {
        assertThat(RootNamespaceCheck.warning(List.of(ap("istio-system"), ap("istio-config")), "istio-config", "--root-namespace")).isNull();
        assertThat(RootNamespaceCheck.warning(List.of(ap("prod"), ap("shop")), "istio-system", "--root-namespace")).isNull();
        assertThat(RootNamespaceCheck.warning(List.of(new PolicyRef(Kind.CILIUM_NETWORK_POLICY, "istio-sytem", "c", "ingress")),
                "istio-system", "--root-namespace")).isNull();
        assertThat(RootNamespaceCheck.warning(List.of(), "istio-sytem", "--root-namespace")).isNull();
        // Short names: one edit at most ("prod" is two edits from "pr").
        assertThat(RootNamespaceCheck.warning(List.of(ap("prod")), "pr", "--root-namespace")).isNull();
        assertThat(RootNamespaceCheck.warning(List.of(ap("ns-a")), "ns-b", "--root-namespace")).contains("but 1 in ns-a:");
        assertThat(RootNamespaceCheck.warning(List.of(ap("kube-system")), "istio-system", "--root-namespace")).isNull();
    }
}
