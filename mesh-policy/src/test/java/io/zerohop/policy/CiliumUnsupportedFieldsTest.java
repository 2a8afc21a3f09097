package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every field of cilium {@code pkg/policy/api} ({@code rule.go} Rule, {@code ingress.go} IngressRule /
 * IngressDenyRule, {@code l4.go} PortRule / PortProtocol / L7Rules, {@code http.go} PortRuleHTTP,
 * {@code cidr.go} CIDRRule) that zerohop does not enforce on ingress is a load error naming
 * {@code file:line: field}, never ignored: ignoring an ingress field would widen an allow (a
 * {@code fromRequires} narrows it) or narrow a deny. A misspelt field is an error too. Egress-only
 * fields ({@code toFQDNs}, {@code toServices}, {@code toGroups}, egress Kafka/DNS rules) are validated
 * and not enforced, with a warning (zerohop enforces ingress only, so they never decide an inbound
 * connection); see the module README.
 */
class CiliumUnsupportedFieldsTest {

    private static final String HEAD = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: c\n"
            + "  namespace: prod\nspec:\n  endpointSelector: {matchLabels: {app: backend}}\n";

    /** {@code body} starts on line 8 of the file. */
    static Stream<Arguments> unsupported() {
        return Stream.of(
                Arguments.of("ingress fromRequires", "  ingress:\n  - fromEndpoints: [{}]\n    fromRequires: [{matchLabels: {env: prod}}]\n",
                        10, "spec.ingress[0].fromRequires", "fromRequires is not supported"),
                Arguments.of("ingress fromGroups", "  ingress:\n  - fromGroups: [{aws: {securityGroupsIds: [sg-1]}}]\n",
                        9, "spec.ingress[0].fromGroups", "fromGroups is not supported"),
                Arguments.of("ingress fromNodes", "  ingress:\n  - fromNodes: [{matchLabels: {a: b}}]\n",
                        9, "spec.ingress[0].fromNodes", "fromNodes is not supported"),
                Arguments.of("ingress icmps", "  ingress:\n  - icmps: [{fields: [{type: 8}]}]\n",
                        9, "spec.ingress[0].icmps", "icmps is not supported"),
                Arguments.of("ingressDeny icmps", "  ingressDeny:\n  - fromEntities: [world]\n    icmps: [{fields: [{type: 8}]}]\n",
                        10, "spec.ingressDeny[0].icmps", "icmps is not supported"),
                Arguments.of("ingressDeny fromRequires", "  ingressDeny:\n  - fromEntities: [world]\n    fromRequires: [{}]\n",
                        10, "spec.ingressDeny[0].fromRequires", "fromRequires is not supported"),
                Arguments.of("toPorts serverNames", "  ingress:\n  - toPorts:\n    - ports: [{port: '443', protocol: TCP}]\n"
                        + "      serverNames: [a.example]\n", 11, "serverNames", "serverNames is not supported"),
                Arguments.of("toPorts listener", "  ingress:\n  - toPorts:\n    - ports: [{port: '80', protocol: TCP}]\n"
                        + "      listener: {envoyConfig: {kind: CiliumEnvoyConfig, name: x}, name: l}\n", 11, "listener",
                        "Listener is not allowed on ingress (l)"),
                Arguments.of("toPorts terminatingTLS", "  ingress:\n  - toPorts:\n    - ports: [{port: '443', protocol: TCP}]\n"
                        + "      terminatingTLS: {secret: {name: s}}\n", 11, "terminatingTLS", "terminatingTLS is not supported"),
                Arguments.of("toPorts originatingTLS", "  ingress:\n  - toPorts:\n    - ports: [{port: '443', protocol: TCP}]\n"
                        + "      originatingTLS: {secret: {name: s}}\n", 11, "originatingTLS", "originatingTLS is not supported"),
                Arguments.of("L7 kafka on ingress", "  ingress:\n  - toPorts:\n    - ports: [{port: '9092', protocol: TCP}]\n"
                        + "      rules:\n        kafka: [{topic: t}]\n", 12, "kafka", "kafka rules are not supported"),
                Arguments.of("L7 l7proto on ingress", "  ingress:\n  - toPorts:\n    - ports: [{port: '9000', protocol: TCP}]\n"
                        + "      rules:\n        l7proto: envoy.filters.network.x\n", 12, "l7proto", "l7proto rules are not supported"),
                Arguments.of("L7 dns on ingress", "  ingress:\n  - toPorts:\n    - ports: [{port: '53', protocol: UDP}]\n"
                        + "      rules:\n        dns: [{matchName: a.example}]\n", 12, "dns", "DNS rules are not allowed on ingress"),
                Arguments.of("http headerMatches secret", "  ingress:\n  - toPorts:\n    - ports: [{port: '80', protocol: TCP}]\n"
                        + "      rules:\n        http:\n        - headerMatches: [{name: x, secret: {namespace: prod, name: token}}]\n",
                        13, "headerMatches[0].secret", "headerMatches secret is not supported"),
                Arguments.of("http headerMatches mismatch REPLACE", "  ingress:\n  - toPorts:\n    - ports: [{port: '80', protocol: TCP}]\n"
                        + "      rules:\n        http:\n        - headerMatches:\n          - name: authorization\n"
                        + "            value: Bearer x\n            mismatch: REPLACE\n", 16, "headerMatches[0].mismatch",
                        "REPLACE rewrites the request's authorization header"),
                Arguments.of("http headerMatches mismatch ADD", "  ingress:\n  - toPorts:\n    - ports: [{port: '80', protocol: TCP}]\n"
                        + "      rules:\n        http:\n        - headerMatches: [{name: x, value: y, mismatch: ADD}]\n", 13,
                        "headerMatches[0].mismatch", "ADD rewrites"),
                Arguments.of("fromCIDRSet cidrGroupRef", "  ingress:\n  - fromCIDRSet:\n    - cidrGroupRef: corp\n",
                        10, "cidrGroupRef", "cidrGroupRef is not supported"),
                Arguments.of("ingressDeny cidr with cidrGroupSelector", "  ingressDeny:\n  - fromCIDRSet:\n    - cidr: 10.0.0.0/8\n"
                        + "      cidrGroupSelector: {matchLabels: {a: b}}\n", 11, "cidrGroupSelector", "cidrGroupSelector is not supported"),
                Arguments.of("host policy nodeSelector", "  nodeSelector: {matchLabels: {a: b}}\n  ingress: [{}]\n",
                        // cilium.io/v2 cnp_types.go Parse: a namespaced policy's rule with a NodeSelector is refused.
                        8, "nodeSelector", "Invalid CiliumNetworkPolicy spec: rule cannot have NodeSelector"),
                Arguments.of("misspelt fromEndpoint", "  ingress:\n  - fromEndpoint: [{matchLabels: {app: x}}]\n",
                        9, "fromEndpoint", "fromEndpoint"),
                Arguments.of("misspelt ingres", "  ingres: [{fromEntities: [world]}]\n", 8, "spec.ingres", "unknown field"),
                Arguments.of("misspelt toPort", "  ingress:\n  - fromEntities: [world]\n    toPort: [{ports: [{port: '80'}]}]\n",
                        10, "toPort", "toPort"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("unsupported")
    void isALoadErrorNamingFileLineAndField(String name, String body, int line, String field, String reason) {
        assertThatThrownBy(() -> PolicyLoader.fromString("pol.yaml", HEAD + body))
                .isInstanceOf(PolicyLoadException.class)
                .hasMessageContaining("pol.yaml:" + line + ":")
                .hasMessageContaining(field)
                .hasMessageContaining(reason);
    }

    @Test
    void egressOnlyFieldsAreValidatedThenNotEnforcedWithAWarning() throws Exception {
        PolicySet set = PolicyLoader.fromString("pol.yaml", HEAD
                + "  ingress:\n  - fromEndpoints: [{matchLabels: {app: frontend}}]\n"
                + "  egress:\n  - toFQDNs: [{matchName: api.example.com}]\n  - toServices: [{k8sService: {serviceName: s, namespace: prod}}]\n"
                + "  - toGroups: [{aws: {securityGroupsIds: [sg-1]}}]\n"
                + "  - toEndpoints: [{}]\n    toPorts: [{ports: [{port: '53', protocol: UDP}], rules: {dns: [{matchPattern: '*'}]}}]\n"
                + "  - toEndpoints: [{}]\n    toPorts: [{ports: [{port: '9092', protocol: TCP}], rules: {kafka: [{topic: t}]}}]\n");
        assertThat(set.warnings()).anyMatch(w -> w.contains("egress rules ignored"));
        PolicyEngine e = PolicyEngine.builder().policies(set).build();
        AccessRequest.Builder b = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend")
                .sourceAddress("10.0.0.1").destinationAddress("10.0.0.2").destinationPort(8080)
                .destination(new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend")));
        assertThat(e.evaluate(b.sourceWorkload(new WorkloadRef("prod", "f", "frontend", Map.of("app", "frontend"))).build()).allowed()).isTrue();
        assertThat(e.evaluate(b.sourceWorkload(new WorkloadRef("prod", "o", "other", Map.of("app", "other"))).build()).allowed()).isFalse();
    }
}
