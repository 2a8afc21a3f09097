package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.policy.PolicySet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The text a policy object becomes ({@link PolicyState#yamlOf}, {@link FailClosed#standIns}) reads back as the object the
 * API server holds. The policy loader reads a plain YAML key as kubectl does (go-yaml v2 then sigs.k8s.io/yaml: an
 * unquoted {@code on:} is the key "true", refused), so the text must quote every key. Jackson's YAML writer left keys
 * such as {@code on}, {@code 01}, {@code True}, {@code 0x10} and {@code ~} plain (it quotes by YAML 1.2's rules), and a
 * cluster object with such a label key, valid for Kubernetes, was rejected and replaced by its fail-closed stand-in.
 */
class PolicyTextTest {
    private static GenericKubernetesResource deny(Map<String, Object> matchLabels) {
        GenericKubernetesResource r = new GenericKubernetesResource();
        r.setApiVersion("security.istio.io/v1");
        r.setKind("AuthorizationPolicy");
        r.setMetadata(new ObjectMetaBuilder().withName("p").withNamespace("prod").build());
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("selector", Map.of("matchLabels", matchLabels));
        spec.put("action", "DENY");
        spec.put("rules", List.of(Map.of("from", List.of(Map.of("source", Map.of("namespaces", List.of("legacy")))))));
        r.setAdditionalProperty("spec", spec);
        return r;
    }

    @Test
    void labelKeysAndValuesReadBackAsTheClusterHoldsThem() throws Exception {
        Map<String, Object> labels = new LinkedHashMap<>();
        for (String k : List.of("on", "01", "True", "0x10", "yes", "y", "n", "1.0")) {
            labels.put(k, "a");
        }
        labels.put("version", "08");
        labels.put("rel", "0o17");
        GenericKubernetesResource r = deny(labels);
        PolicySet set = PolicyLoader.fromStringQuietly("k", PolicyState.yamlOf(r));
        assertThat(set.selectors()).singleElement().satisfies(s -> assertThat(s.matchLabels()).isEqualTo(labels));
        // The first stand-in keeps the selector (DENY all for it); wider ones (the namespace) have none.
        List<FailClosed.StandIn> standIns = FailClosed.standIns(r);
        assertThat(standIns).isNotEmpty();
        assertThat(PolicyLoader.fromStringQuietly("k", standIns.get(0).yaml()).selectors()).as(standIns.get(0).what())
                .singleElement().satisfies(sel -> assertThat(sel.matchLabels()).isEqualTo(labels));
    }
}
