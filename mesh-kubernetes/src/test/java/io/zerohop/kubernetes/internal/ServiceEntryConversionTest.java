package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import org.junit.jupiter.api.Test;

/** What an unreadable entry's WARN names: the field as the API server holds it (a new-user pass, helper 384). */
class ServiceEntryConversionTest {
    private static GenericKubernetesResource withSpec(String kind, Object spec) {
        GenericKubernetesResource r = new GenericKubernetesResource();
        r.setKind(kind);
        r.setMetadata(new ObjectMetaBuilder().withNamespace("ns").withName("broken").build());
        r.setAdditionalProperty("spec", spec);
        return r;
    }

    @Test
    void aSpecThatIsNoObjectIsNamedSpec() {
        // Until 7 December the message said "field spec.spec".
        assertThatThrownBy(() -> ServiceEntryConversion.serviceEntry(withSpec("ServiceEntry", "text")))
                .hasMessage("ServiceEntry ns/broken: field spec: not an object");
        assertThatThrownBy(() -> ServiceEntryConversion.workloadEntry(withSpec("WorkloadEntry", 7)))
                .hasMessage("WorkloadEntry ns/broken: field spec: not an object");
    }
}
