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

    /**
     * A PeerAuthentication that selects the destination is named in the allow-by-default explanation: with
     * {@code mtls: {}} the decision said "no policy selects the destination" (a new-user pass). Its mode unset inherits
     * the mesh's, else PERMISSIVE (istio.io PeerAuthentication reference: "UNSET: Inherit from parent, if has one.
     * Otherwise treated as PERMISSIVE"); a PeerAuthentication decides mTLS only, never access, so the decision stays
     * ALLOW with no authorization policy.
     */
    @org.junit.jupiter.api.Test
    void anAllowWithoutAuthorizationPolicyNamesThePeerAuthenticationThatSelectsTheDestination() throws PolicyLoadException {
        WorkloadRef backend = new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend"));
        AccessRequest.Builder plaintext = AccessRequest.builder().sourceAddress("10.0.0.1").destinationAddress("10.0.0.2")
                .destinationPort(8080).destination(backend);
        Decision unset = PolicyEngine.builder().policies(PolicyLoader.fromString("pa.yaml", pa("prod", "default", "{mtls: {}}")))
                .build().evaluate(plaintext.build());
        assertThat(unset.outcome()).isEqualTo(Decision.Outcome.ALLOWED_NO_POLICY);
        assertThat(unset.reason()).isEqualTo("no authorization policy selects the destination; PeerAuthentication prod/default"
                + " selects it and leaves mtls.mode unset (inherited: PERMISSIVE), which decides mTLS only, not access");
        Decision strict = PolicyEngine.builder().policies(PolicyLoader.fromString("pa.yaml", pa("istio-system", "mesh",
                "{mtls: {mode: STRICT}}") + pa("prod", "w", "{" + SEL + ", mtls: {}}"))).build()
                .evaluate(plaintext.sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend").build());
        assertThat(strict.reason()).isEqualTo("no authorization policy selects the destination; PeerAuthentication prod/w"
                + " selects it and leaves mtls.mode unset (inherited: STRICT), which decides mTLS only, not access");
        Decision set = PolicyEngine.builder().policies(PolicyLoader.fromString("pa.yaml", pa("prod", "default",
                "{mtls: {mode: PERMISSIVE}}"))).build().evaluate(plaintext.sourcePrincipal(null).build());
        assertThat(set.reason()).contains("PeerAuthentication prod/default selects it and sets mTLS mode PERMISSIVE");
        Decision other = PolicyEngine.builder().policies(PolicyLoader.fromString("pa.yaml", pa("prod", "w",
                "{selector: {matchLabels: {app: db}}, mtls: {}}"))).build().evaluate(plaintext.build());
        assertThat(other.reason()).as("one that selects another workload").isEqualTo("no policy selects the destination");
    }
}
