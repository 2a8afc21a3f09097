package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicySet;
import org.junit.jupiter.api.Test;

/**
 * {@code Mesh.Builder.policies(null)} fails at once, naming the argument: a null engine (a field not yet set, a lookup
 * that found nothing) was taken as "no policy", so the mesh allowed every authenticated peer without a word (a
 * new-user pass), the one builder argument whose null widens access. {@code identityProvider(null)} fails the same
 * way. Leaving policies unset still allows every authenticated peer, and an engine of {@link PolicySet#empty()}
 * says so explicitly.
 */
class MeshPoliciesNullTest {
    @Test
    void aNullEngineIsRefusedNamingTheArgument() {
        assertThatThrownBy(() -> Mesh.builder().policies(null)).isInstanceOf(NullPointerException.class)
                .hasMessageStartingWith("policies: ");
        assertThatThrownBy(() -> Mesh.builder().identityProvider(null)).isInstanceOf(NullPointerException.class);
    }

    @Test
    void anEmptyEngineIsTaken() {
        assertThatCode(() -> Mesh.builder().policies(PolicyEngine.builder().policies(PolicySet.empty()).build())).doesNotThrowAnyException();
    }
}
