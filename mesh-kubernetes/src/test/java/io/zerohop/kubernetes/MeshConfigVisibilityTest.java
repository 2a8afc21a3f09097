package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.kubernetes.ServiceEntryVisibility.Visibility;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * {@link ServiceEntryVisibility#fromMeshConfig}: the {@code serviceEntryVisibility} of istiod's MeshConfig file (istio/api
 * mesh/v1alpha1/config.proto {@code ServiceEntryVisibility}, JSON field names), resolved as istio/istio
 * pilot/pkg/model/serviceentry_visibility.go {@code VisibilityFor}; bad input refused naming file, line and field. Until
 * 7 December (h413) there was no way to read it: {@code KubernetesDiscovery.Builder.serviceEntryVisibility} took only a
 * value built in code.
 */
class MeshConfigVisibilityTest {
    @Test
    @DisplayName("a MeshConfig as the istio ConfigMap's mesh key holds it: other keys skipped, policies in order, the"
            + " default for namespaces none matches; enum names and numbers as protojson reads them")
    void readsTheMeshConfigsServiceEntryVisibility() {
        ServiceEntryVisibility v = ServiceEntryVisibility.fromMeshConfig("""
                accessLogFile: /dev/stdout
                defaultConfig:
                  discoveryAddress: istiod.istio-system.svc:15012
                trustDomain: cluster.local
                serviceEntryVisibility:
                  defaultVisibility: NAMESPACE
                  applyToSidecars: false
                  policies:
                  - visibility: PUBLIC
                    matchingRules:
                    - namespaceSelector:
                        matchLabels: {team: platform}
                    - namespaceSelector:
                        matchExpressions: [{key: env, operator: In, values: [prod, staging]}]
                  - visibility: 1
                    matchingRules:
                    - namespaceSelector:
                        matchExpressions: [{key: sandbox, operator: Exists}]
                """, "/etc/istio/config/mesh");
        assertThat(v.defaultVisibility()).isEqualTo(Visibility.NAMESPACE);
        assertThat(v.policies()).hasSize(2);
        assertThat(v.visibilityFor(Map.of("team", "platform", "env", "prod"))).isEqualTo(Visibility.PUBLIC);
        assertThat(v.visibilityFor(Map.of("team", "platform"))).as("every rule must match").isEqualTo(Visibility.NAMESPACE);
        assertThat(v.visibilityFor(Map.of("sandbox", ""))).isEqualTo(Visibility.NONE);
        assertThat(v.visibilityFor(Map.of())).isEqualTo(Visibility.NAMESPACE);
        assertThat(v.visibilityFor(null)).isEqualTo(Visibility.NAMESPACE);
    }

    @Test
    @DisplayName("no serviceEntryVisibility, an empty one or an empty file: UNSET (every entry PUBLIC, as istiod)")
    void absentIsUnset() {
        assertThat(ServiceEntryVisibility.fromMeshConfig("trustDomain: cluster.local\n", "mesh")).isEqualTo(ServiceEntryVisibility.UNSET);
        assertThat(ServiceEntryVisibility.fromMeshConfig("serviceEntryVisibility:\n", "mesh")).isEqualTo(ServiceEntryVisibility.UNSET);
        assertThat(ServiceEntryVisibility.fromMeshConfig("", "mesh")).isEqualTo(ServiceEntryVisibility.UNSET);
        assertThat(ServiceEntryVisibility.fromMeshConfig("serviceEntryVisibility: {policies: [{matchingRules: []}]}", "mesh")
                .visibilityFor(Map.of("a", "b"))).as("no visibility: UNSPECIFIED, PUBLIC").isEqualTo(Visibility.PUBLIC);
    }

    @Test
    @DisplayName("bad input is refused naming file, line and field, never read as PUBLIC: a misspelt field, an unknown"
            + " visibility, a rule without namespaceSelector, a list for a mapping, In without values")
    void badInputNamesFileLineAndField() {
        assertThatThrownBy(() -> ServiceEntryVisibility.fromMeshConfig("""
                trustDomain: cluster.local
                serviceEntryVisibility:
                  defaultVisibility: NONE
                  polices: []
                """, "/etc/istio/config/mesh"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("/etc/istio/config/mesh:4: serviceEntryVisibility.polices: unknown field");
        assertThatThrownBy(() -> ServiceEntryVisibility.fromMeshConfig("""
                serviceEntryVisibility:
                  policies:
                  - visibility: NAMESPCE
                """, "mesh"))
                .hasMessage("mesh:3: serviceEntryVisibility.policies[0].visibility: \"NAMESPCE\" is none of"
                        + " VISIBILITY_UNSPECIFIED, NONE, NAMESPACE, PUBLIC");
        assertThatThrownBy(() -> ServiceEntryVisibility.fromMeshConfig("""
                serviceEntryVisibility:
                  policies:
                  - visibility: NONE
                    matchingRules:
                    - {}
                """, "mesh"))
                .hasMessageStartingWith("mesh:5: serviceEntryVisibility.policies[0].matchingRules[0].namespaceSelector: missing");
        assertThatThrownBy(() -> ServiceEntryVisibility.fromMeshConfig("serviceEntryVisibility: [NONE]\n", "mesh"))
                .hasMessage("mesh:1: serviceEntryVisibility: a mapping expected");
        assertThatThrownBy(() -> ServiceEntryVisibility.fromMeshConfig("""
                serviceEntryVisibility:
                  policies:
                  - visibility: NONE
                    matchingRules:
                    - namespaceSelector: {matchExpressions: [{key: env, operator: In}]}
                """, "mesh"))
                .hasMessage("mesh: serviceEntryVisibility.policies[0].matchingRules[0].namespaceSelector.matchExpressions[0]"
                        + ".values: In needs at least one value");
        // One line, with the line first as every other error here (it was SnakeYAML's several-line message; h416).
        assertThatThrownBy(() -> ServiceEntryVisibility.fromMeshConfig("serviceEntryVisibility: {policies: [", "mesh"))
                .hasMessageStartingWith("mesh:1: not YAML: ").hasMessageNotContaining("\n");
        assertThatThrownBy(() -> ServiceEntryVisibility.fromMeshConfig("trustDomain: a\nserviceEntryVisibility:\n\tdefaultVisibility: NONE\n", "mesh"))
                .hasMessageStartingWith("mesh:3: not YAML: ").hasMessageContaining("(column ").hasMessageNotContaining("\n");
    }
}
