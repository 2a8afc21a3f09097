package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodList;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.WatchEvent;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.zerohop.kubernetes.internal.ObjectStrip;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link KubernetesDiscovery#nodeProxySerialization()} skips while parsing only what {@link ObjectStrip}
 * drops: every pod shape of {@link StrippedPodsTest} (and a Deployment's pod as the API server serves
 * it), a Service, a policy object, parsed alone, in a list and in a watch event, strip to the same
 * object as when fabric8's default serialization parsed them. And it does skip: without its mix-ins
 * the Deployment pod parses with its managedFields, volumes, env and container statuses.
 */
class NodeProxySerializationTest {
    private static final KubernetesSerialization NODE = KubernetesDiscovery.nodeProxySerialization();

    private static String deploymentPod() throws Exception {
        try (InputStream in = NodeProxySerializationTest.class.getResourceAsStream("/pods/deployment-pod.json")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void everyPodStripsToTheSameObjectWhicheverSerializationParsedIt() throws Exception {
        List<Pod> fixtures = StrippedPodsTest.fixtures();
        assertThat(fixtures).hasSizeGreaterThan(20);
        for (Pod p : fixtures) {
            String json = Serialization.asJson(p);
            Pod viaDefault = ObjectStrip.pod(Serialization.unmarshal(json, Pod.class));
            Pod viaNode = ObjectStrip.pod(NODE.unmarshal(json, Pod.class));
            assertThat(viaNode).as(p.getMetadata().getName()).isEqualTo(viaDefault);
            assertThat(Serialization.asJson(viaNode)).as(p.getMetadata().getName()).isEqualTo(Serialization.asJson(viaDefault));
        }
    }

    @Test
    void aListAndAWatchEventParseAsAPodAlone() throws Exception {
        String pod = deploymentPod();
        Pod want = ObjectStrip.pod(Serialization.unmarshal(pod, Pod.class));
        PodList list = NODE.unmarshal("{\"apiVersion\":\"v1\",\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"9\"},\"items\":["
                + pod + "]}", PodList.class);
        assertThat(ObjectStrip.pod(list.getItems().get(0))).isEqualTo(want);
        WatchEvent event = NODE.unmarshal("{\"type\":\"MODIFIED\",\"object\":" + pod + "}", WatchEvent.class);
        assertThat(event.getObject()).isInstanceOf(Pod.class);
        assertThat(ObjectStrip.pod((Pod) event.getObject())).isEqualTo(want);
        assertThat(((Pod) event.getObject()).getMetadata().getManagedFields()).isEmpty();
    }

    @Test
    void theFieldsTheStripDropsAreNeverParsed() throws Exception {
        String json = deploymentPod();
        Pod full = Serialization.unmarshal(json, Pod.class);
        // The fixture has them: the checks below could fail.
        assertThat(full.getMetadata().getManagedFields()).isNotEmpty();
        assertThat(full.getSpec().getVolumes()).isNotEmpty();
        assertThat(full.getSpec().getContainers().get(0).getEnv()).isNotEmpty();
        assertThat(full.getStatus().getContainerStatuses()).isNotEmpty();

        Pod parsed = NODE.unmarshal(json, Pod.class);
        assertThat(parsed.getMetadata().getManagedFields()).isEmpty();
        assertThat(parsed.getSpec().getVolumes()).isEmpty();
        assertThat(parsed.getSpec().getTolerations()).isEmpty();
        assertThat(parsed.getSpec().getAdditionalProperties()).isEmpty();
        assertThat(parsed.getSpec().getContainers()).hasSameSizeAs(full.getSpec().getContainers()).allSatisfy(c -> {
            assertThat(c.getEnv()).isEmpty();
            assertThat(c.getLivenessProbe()).isNull();
            assertThat(c.getAdditionalProperties()).isEmpty();
        });
        assertThat(parsed.getSpec().getContainers().get(0).getPorts()).isEqualTo(full.getSpec().getContainers().get(0).getPorts());
        assertThat(parsed.getStatus().getContainerStatuses()).isEmpty();
        assertThat(parsed.getStatus().getConditions()).isEqualTo(full.getStatus().getConditions());
        assertThat(parsed.getMetadata().getLabels()).isEqualTo(full.getMetadata().getLabels());
    }

    @Test
    void servicesAndPolicyObjectsLoseOnlyTheirManagedFields() {
        String managed = "\"managedFields\":[{\"manager\":\"kubectl\",\"operation\":\"Apply\",\"apiVersion\":\"v1\","
                + "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:spec\":{\"f:selector\":{}}}}]";
        String service = "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\",\"namespace\":\"prod\","
                + "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\",\"a\":\"b\"}," + managed + "},"
                + "\"spec\":{\"selector\":{\"app\":\"web\"},\"clusterIP\":\"10.96.0.9\",\"ports\":[{\"name\":\"http\",\"port\":80,"
                + "\"targetPort\":\"http\",\"appProtocol\":\"http\"}]}}";
        Service viaNode = NODE.unmarshal(service, Service.class);
        assertThat(viaNode.getMetadata().getManagedFields()).isEmpty();
        assertThat(ObjectStrip.compacted(viaNode)).isEqualTo(ObjectStrip.compacted(Serialization.unmarshal(service, Service.class)));

        String policy = "{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"AuthorizationPolicy\",\"metadata\":{\"name\":\"deny\","
                + "\"namespace\":\"prod\"," + managed + "},\"spec\":{\"action\":\"DENY\",\"rules\":[{\"from\":[{\"source\":"
                + "{\"principals\":[\"cluster.local/ns/x/sa/y\"]}}]}]}}";
        GenericKubernetesResource p = NODE.unmarshal(policy, GenericKubernetesResource.class);
        assertThat(p.getMetadata().getManagedFields()).isEmpty();
        assertThat(ObjectStrip.metadata(p)).isEqualTo(ObjectStrip.metadata(Serialization.unmarshal(policy, GenericKubernetesResource.class)));
        assertThat(p.getAdditionalProperties()).containsKey("spec");
    }
}
