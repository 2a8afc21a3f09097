package io.zerohop.policy;

import static io.zerohop.policy.ConformanceTest.pa;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Effective mTLS mode: mesh (root namespace) then namespace then workload then port, as istiod resolves it. */
class PeerAuthenticationTest {

    private static final String SEL = "selector: {matchLabels: {app: backend}}";

    static Stream<Arguments> modes() {
        return Stream.of(
                Arguments.of("nothing: PERMISSIVE", "", 8080, MtlsMode.PERMISSIVE),
                Arguments.of("mesh STRICT", pa("istio-system", "mesh", "{mtls: {mode: STRICT}}"), 8080, MtlsMode.STRICT),
                Arguments.of("mesh UNSET is PERMISSIVE", pa("istio-system", "mesh", "{}"), 8080, MtlsMode.PERMISSIVE),
                Arguments.of("namespace overrides mesh", pa("istio-system", "mesh", "{mtls: {mode: STRICT}}")
                        + pa("prod", "ns-wide", "{mtls: {mode: PERMISSIVE}}"), 8080, MtlsMode.PERMISSIVE),
                Arguments.of("namespace UNSET inherits mesh", pa("istio-system", "mesh", "{mtls: {mode: STRICT}}")
                        + pa("prod", "ns-wide", "{mtls: {mode: UNSET}}"), 8080, MtlsMode.STRICT),
                Arguments.of("workload overrides namespace", pa("prod", "ns-wide", "{mtls: {mode: STRICT}}")
                        + pa("prod", "w", "{" + SEL + ", mtls: {mode: DISABLE}}"), 8080, MtlsMode.DISABLE),
                Arguments.of("workload selector not matching inherits", pa("prod", "ns-wide", "{mtls: {mode: STRICT}}")
                        + pa("prod", "w", "{selector: {matchLabels: {app: db}}, mtls: {mode: DISABLE}}"), 8080, MtlsMode.STRICT),
                Arguments.of("port-level PERMISSIVE under namespace STRICT", pa("prod", "ns-wide", "{mtls: {mode: STRICT}}")
                        + pa("prod", "w", "{" + SEL + ", portLevelMtls: {'9090': {mode: PERMISSIVE}}}"), 9090, MtlsMode.PERMISSIVE),
                Arguments.of("other ports keep the inherited mode", pa("prod", "ns-wide", "{mtls: {mode: STRICT}}")
                        + pa("prod", "w", "{" + SEL + ", portLevelMtls: {'9090': {mode: PERMISSIVE}}}"), 8080, MtlsMode.STRICT),
                Arguments.of("port-level STRICT under PERMISSIVE", pa("prod", "w", "{" + SEL
                        + ", mtls: {mode: PERMISSIVE}, portLevelMtls: {'8080': {mode: STRICT}}}"), 8080, MtlsMode.STRICT),
                Arguments.of("port-level UNSET inherits the workload mode", pa("prod", "w", "{" + SEL
                        + ", mtls: {mode: DISABLE}, portLevelMtls: {'8080': {mode: UNSET}}}"), 8080, MtlsMode.DISABLE),
                Arguments.of("root-namespace selector policy is not a workload policy", pa("istio-system", "w", "{" + SEL
                        + ", mtls: {mode: STRICT}}"), 8080, MtlsMode.PERMISSIVE),
                Arguments.of("first namespace-wide policy wins", pa("prod", "a", "{mtls: {mode: STRICT}}")
                        + pa("prod", "b", "{mtls: {mode: DISABLE}}"), 8080, MtlsMode.STRICT));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("modes")
    void effectiveMode(String name, String yaml, int port, MtlsMode expected) throws PolicyLoadException {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("pa.yaml", yaml)).build();
        WorkloadRef backend = new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend"));
        assertThat(engine.mtlsMode(backend, port)).isEqualTo(expected);
    }
}
