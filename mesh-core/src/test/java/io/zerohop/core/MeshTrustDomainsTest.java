package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.policy.PolicyEngine;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link Mesh.Builder#trustDomainAliases}: each alias checked as a SPIFFE trust domain at once, naming the bad one; and
 * the mesh's trust domains given to its policy engine at build, or refused when that engine was set to others.
 * (The decisions themselves: {@code http.TrustDomainAliasEndToEndTest}.)
 */
class MeshTrustDomainsTest {

    @Test
    void aBadAliasIsRefusedNamingIt() {
        assertThatThrownBy(() -> Mesh.builder().trustDomainAliases(List.of("old-td", "Old_TD")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("invalid trust domain alias \"Old_TD\": ");
        assertThatThrownBy(() -> Mesh.builder().trustDomainAliases(List.of("old-td/ns/a")))
                .hasMessage("invalid trust domain alias \"old-td/ns/a\": a trust domain has no '/' (write the name alone, e.g. example.org)");
        assertThatThrownBy(() -> Mesh.builder().trustDomainAliases(List.of("")))
                .hasMessageStartingWith("invalid trust domain alias \"\": ");
        assertThatThrownBy(() -> Mesh.builder().trustDomain("example.org/x"))
                .hasMessageStartingWith("invalid trust domain \"example.org/x\": ");
    }

    @Test
    void buildGivesTheEngineTheMeshsTrustDomainsAndRefusesAnEngineSetToOthers() {
        PolicyEngine engine = PolicyEngine.builder().build();
        // Only set ones are given: an engine of a mesh that sets none keeps istiod's default.
        Mesh.builder().policies(engine).threads(1).build().close();
        assertThat(engine.trustDomains()).containsExactly("cluster.local");
        Mesh.builder().trustDomain("example.org").trustDomainAliases(List.of("old-td")).policies(engine).threads(1).build().close();
        assertThat(engine.trustDomains()).containsExactly("example.org", "old-td");

        PolicyEngine other = PolicyEngine.builder().trustDomain("other.org").build();
        assertThatThrownBy(() -> Mesh.builder().trustDomain("example.org").policies(other).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("policies(engine): this policy engine's trust domains are other.org without aliases, set before; "
                        + "cannot change them to example.org without aliases (the mesh's trust domain example.org)");
    }
}
