package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A policy object's text is written by a serialization that does not load every kind fabric8 knows
 * (fabric8's static {@code Serialization} did, at the first policy object a proxy saw: 321 model
 * classes), and the text is what that one wrote: the documents are plain maps and lists.
 */
class PolicyTextTest {
    @Test
    void thePolicyTextIsFabric8sDefaultYamlWithoutItsKindScan() {
        assertThat(PolicyState.TEXT.getRegisteredKubernetesResource("gateway.networking.k8s.io/v1", "Gateway")).isNull();
        GenericKubernetesResource r = Serialization.unmarshal("{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"AuthorizationPolicy\","
                + "\"metadata\":{\"name\":\"deny\",\"namespace\":\"prod\",\"annotations\":{\"istio.io/dry-run\":\"true\",\"a\":\"b\"}},"
                + "\"spec\":{\"action\":\"DENY\",\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"rules\":[{\"from\":[{\"source\":"
                + "{\"principals\":[\"cluster.local/ns/x/sa/y\"],\"ipBlocks\":[\"10.0.0.0/8\"]}}],\"to\":[{\"operation\":{\"ports\":[\"8080\"]}}]}]}}",
                GenericKubernetesResource.class);
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("name", "deny");
        meta.put("namespace", "prod");
        meta.put("annotations", Map.of("istio.io/dry-run", "true"));
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("apiVersion", "security.istio.io/v1");
        doc.put("kind", "AuthorizationPolicy");
        doc.put("metadata", meta);
        doc.put("spec", r.getAdditionalProperties().get("spec"));
        String text = PolicyState.yamlOf(r);
        assertThat(text).contains("action: \"DENY\"", "istio.io/dry-run", "- \"8080\"").doesNotContain("a: \"b\"");
        assertThat(PolicyState.TEXT.asYaml(doc)).isEqualTo(Serialization.asYaml(doc));
        assertThat(PolicyState.TEXT.asJson(List.of(Map.of("k", 1)))).isEqualTo(Serialization.asJson(List.of(Map.of("k", 1))));
    }
}
