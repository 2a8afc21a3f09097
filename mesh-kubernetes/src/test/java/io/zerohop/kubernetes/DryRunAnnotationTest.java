package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.zerohop.kubernetes.internal.PolicyState;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The {@code istio.io/dry-run} annotation of an AuthorizationPolicy from the API server, as istiod reads it:
 * Go's {@code strconv.ParseBool} (istio/istio pilot/pkg/serviceregistry/ambient/authorization.go
 * convertAuthorizationPolicy; pkg/config/validation/validation.go checkDryRunAnnotation, which also refuses other
 * values and dry-run on CUSTOM or AUDIT). A dry-run policy is never enforced. Before 1 December only the exact text
 * {@code "true"} was recognised and the annotations were dropped on the way to the loader, so a dry-run ALLOW
 * written {@code "True"} or {@code "1"} was enforced: beside a real ALLOW it admitted the callers it names (wider
 * than upstream), and an invalid value was enforced as if valid instead of being rejected.
 */
class DryRunAnnotationTest {
    static final WorkloadRef BACKEND = new WorkloadRef("prod", "backend-1", "backend", Map.of("app", "backend"));

    static GenericKubernetesResource ap(String name, String annotation, String spec) {
        String ann = annotation == null ? "" : ", annotations: {istio.io/dry-run: \"" + annotation + "\"}";
        return Serialization.unmarshal("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: %s, namespace: prod%s}
                spec: %s
                """.formatted(name, ann, spec), GenericKubernetesResource.class);
    }

    static final GenericKubernetesResource REAL_ALLOW = ap("allow-frontend", null,
            "{rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/frontend]}}]}]}");

    static boolean allowed(List<GenericKubernetesResource> objects, String caller) {
        PolicyEngine engine = PolicyEngine.builder().rootNamespace("istio-system").build();
        PolicyState state = new PolicyState(engine);
        objects.forEach(state::put);
        state.flush();
        return engine.evaluate(AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/" + caller)
                .sourceAddress("10.0.9.9").destinationAddress("10.0.1.2").destinationPort(8080).destination(BACKEND).build())
                .allowed();
    }

    @ParameterizedTest(name = "istio.io/dry-run: \"{0}\" on an ALLOW is shadow only: it admits nobody")
    @ValueSource(strings = {"true", "True", "TRUE", "t", "T", "1"})
    void aDryRunAllowNeverAdmits(String value) {
        GenericKubernetesResource dryAllow = ap("try-legacy", value, ALLOW_OLD);
        assertThat(allowed(List.of(REAL_ALLOW, dryAllow), "legacy/sa/old")).isFalse();
        assertThat(allowed(List.of(REAL_ALLOW, dryAllow), "prod/sa/frontend")).isTrue();
    }

    static final String ALLOW_OLD = "{rules: [{from: [{source: {principals: [cluster.local/ns/legacy/sa/old]}}]}]}";

    /** The loader's message for each object {@link PolicyState} rejected, keyed Kind/namespace/name. */
    static Map<String, String> rejected(GenericKubernetesResource... objects) {
        PolicyState state = new PolicyState(PolicyEngine.builder().rootNamespace("istio-system").build());
        for (GenericKubernetesResource o : objects) {
            state.put(o);
        }
        state.flush();
        return state.rejectedObjects();
    }

    @ParameterizedTest(name = "istio.io/dry-run: \"{0}\" is false: the ALLOW is enforced")
    @ValueSource(strings = {"false", "False", "0", "f"})
    void aFalseDryRunIsEnforced(String value) {
        assertThat(allowed(List.of(REAL_ALLOW, ap("allow-legacy", value, ALLOW_OLD)), "legacy/sa/old")).isTrue();
    }

    @ParameterizedTest(name = "istio.io/dry-run: \"{0}\" is invalid: rejected, in force as its fail-closed stand-in")
    @ValueSource(strings = {"yes", "on", "tRuE", ""})
    void anInvalidValueIsRejected(String value) {
        GenericKubernetesResource bad = ap("allow-legacy", value, ALLOW_OLD);
        assertThat(rejected(REAL_ALLOW, bad).get("AuthorizationPolicy/prod/allow-legacy")).contains("istio.io/dry-run with invalid value");
        assertThat(allowed(List.of(REAL_ALLOW, bad), "legacy/sa/old")).isFalse();
    }

    @ParameterizedTest(name = "istio.io/dry-run on {0} is invalid (only ALLOW and DENY): rejected, not dropped")
    @ValueSource(strings = {"CUSTOM", "AUDIT"})
    void dryRunOnlyOnAllowAndDeny(String action) {
        GenericKubernetesResource bad = ap("ext", "true", "{action: " + action
                + (action.equals("CUSTOM") ? ", provider: {name: ext-authz}" : "") + ", rules: [{}]}");
        assertThat(rejected(bad).get("AuthorizationPolicy/prod/ext")).contains("only supports action ALLOW/DENY, found action " + action);
    }

    /**
     * The load note of a dry-run policy says what happens to it here: read from Kubernetes it is dropped (as istiod,
     * by default, sends ztunnel none: pilot/pkg/serviceregistry/ambient/authorization.go convertAuthorizationPolicy),
     * so nothing is logged per decision. Until 6 December the note (mesh-policy IstioCompiler.DRY_RUN_NOTE) said zerohop
     * logs per decision what the policy would have decided, which only a policy loaded from files does.
     */
    @org.junit.jupiter.api.Test
    void theDryRunNoteSaysTheObjectIsDropped() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().rootNamespace("istio-system").build();
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            PolicyState state = new PolicyState(engine);
            state.put(ap("try-legacy", "true", ALLOW_OLD));
            state.flush();
            String note = err.awaitLine("zerohop never enforces this policy");
            assertThat(note).contains("AuthorizationPolicy prod/try-legacy:").doesNotContain(":1:")
                    .contains("read from Kubernetes, it is dropped");
            // Its INFO line names it as every other line of the object does (until 7 December (h367)
            // "AuthorizationPolicy/prod/try-legacy: ...", the internal key).
            assertThat(err.awaitLine("not enforced (Istio evaluates")).contains(" AuthorizationPolicy prod/try-legacy: istio.io/dry-run=true, ");
        }
        assertThat(engine.policies().size()).as("dropped").isZero();
    }
}
