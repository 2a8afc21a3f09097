package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.kubernetes.internal.PolicyState;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.testing.CapturedStderr;
import org.junit.jupiter.api.Test;

/**
 * The line that says policies from the API server were installed comes before the lines of the
 * connections the install cuts (mesh-core's change listeners log a WARN per cut tunnel): a new-user
 * pass read the cut first and its cause 9 ms later. {@code PolicyEngine.reload} orders a file reload
 * the same way. The change listener here stands in for mesh-core's, which sits above this module.
 */
class PolicyInstallLogOrderTest {
    @Test
    void theInstallLineComesBeforeWhatTheInstallCuts() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().rootNamespace("istio-system").build();
        try (CapturedStderr err = new CapturedStderr(); AutoCloseable l = engine.addChangeListener(set -> System.err.println("CUT by the new set"))) {
            PolicyState state = new PolicyState(engine);
            state.put(DryRunAnnotationTest.REAL_ALLOW);
            assertThat(state.flush()).isTrue();
            String installed = err.awaitLine("installed 1 policy objects from Kubernetes");
            String cut = err.awaitLine("CUT by the new set");
            assertThat(err.text().indexOf(installed)).as("the install line first").isLessThan(err.text().indexOf(cut));
        }
    }

    /**
     * An object's load warnings are logged once, under its own name, when it changes: a new-user pass saw every
     * warning of the cluster logged again at every install (a change to any policy), a second time at a position in
     * the internal text all objects are loaded from together ({@code kubernetes:60}), shifting as others changed.
     */
    @Test
    void anObjectsWarningsAreLoggedOnceUnderItsName() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().rootNamespace("istio-system").build();
        try (CapturedStderr err = new CapturedStderr()) {
            PolicyState state = new PolicyState(engine);
            state.put(DryRunAnnotationTest.ap("lower-case-method", null,
                    "{rules: [{to: [{operation: {methods: [get]}}]}]}"));
            assertThat(state.flush()).isTrue();
            String warning = err.awaitLine("methods[0] \"get\" never matches");
            // The object's name once and the field, no line: the object is one line of JSON (until 7 December:
            // "AuthorizationPolicy/prod/lower-case-method:1: AuthorizationPolicy prod/lower-case-method: spec...").
            assertThat(warning).contains("Loader - AuthorizationPolicy prod/lower-case-method: spec.rules[0].to[0]")
                    .doesNotContain(":1:").doesNotContain("AuthorizationPolicy/prod");
            state.put(DryRunAnnotationTest.REAL_ALLOW);
            assertThat(state.flush()).isTrue();
            state.remove(DryRunAnnotationTest.REAL_ALLOW);
            assertThat(state.flush()).isTrue();
            err.awaitLine("installed 1 policy objects from Kubernetes (0 rejected");
            assertThat(err.count("methods[0] \"get\" never matches")).as(err.text()).isEqualTo(1);
            assertThat(err.text()).doesNotContain("kubernetes:");
        }
    }

    /**
     * An AuthorizationPolicy on requestPrincipals is checked alone, where no RequestAuthentication is ever beside it: the
     * "no RequestAuthentication in namespace" warning is judged on the whole cluster's set instead, logged once when it
     * appears (without the internal text's position), and not at all while the namespace has one (helper 331).
     */
    @Test
    void theNoRequestAuthenticationWarningIsJudgedOnTheWholeSet() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().rootNamespace("istio-system").build();
        io.fabric8.kubernetes.api.model.GenericKubernetesResource ra = io.fabric8.kubernetes.client.utils.Serialization.unmarshal("""
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: jwt, namespace: prod}
                spec: {jwtRules: [{issuer: issuer.example}]}
                """, io.fabric8.kubernetes.api.model.GenericKubernetesResource.class);
        try (CapturedStderr err = new CapturedStderr()) {
            PolicyState state = new PolicyState(engine);
            state.put(ra);
            state.put(DryRunAnnotationTest.ap("require-jwt", null, "{rules: [{from: [{source: {requestPrincipals: [\"*\"]}}]}]}"));
            assertThat(state.flush()).isTrue();
            err.awaitLine("installed 2 policy objects from Kubernetes");
            assertThat(err.text()).as(err.text()).doesNotContain("no RequestAuthentication in namespace prod");
            state.remove(ra);
            assertThat(state.flush()).isTrue();
            String w = err.awaitLine("no RequestAuthentication in namespace prod is loaded with this policy");
            assertThat(w).contains("AuthorizationPolicy prod/require-jwt: spec.rules[0].from[0].source.requestPrincipals")
                    .doesNotContain("kubernetes:");
            state.put(DryRunAnnotationTest.REAL_ALLOW);
            assertThat(state.flush()).isTrue();
            err.awaitLine("installed 2 policy objects from Kubernetes");
            assertThat(err.count("no RequestAuthentication in namespace prod")).as(err.text()).isEqualTo(1);
        }
    }
}
