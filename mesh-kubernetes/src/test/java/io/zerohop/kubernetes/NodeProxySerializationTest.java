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
 * the Deployment pod parses with its managedFields, volumes, env and container statuses. Watch events
 * of the kinds the node proxy watches, and Status, still parse as their classes although the
 * serialization no longer loads every kind fabric8 knows.
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

    /**
     * The serialization maps only the node proxy's kinds (fabric8's default loads the 321 kinds its jars
     * list): its watch events still parse as their classes, and an ERROR event's Status as a Status, which
     * fabric8's AbstractWatchManager.onMessage needs to see a 410 Gone and re-list (parsed as a generic
     * object it would be handed to the informer as a pod).
     */
    @Test
    void watchEventsOfTheWatchedKindsAndStatusParseAsTheirClasses() throws Exception {
        WatchEvent gone = NODE.unmarshal("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                + "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: 1 (5)\",\"reason\":\"Expired\","
                + "\"code\":410}}", WatchEvent.class);
        assertThat(gone.getObject()).isInstanceOfSatisfying(io.fabric8.kubernetes.api.model.Status.class,
                st -> assertThat(st.getCode()).isEqualTo(410));
        WatchEvent svc = NODE.unmarshal("{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\","
                + "\"metadata\":{\"name\":\"web\",\"namespace\":\"prod\"},\"spec\":{\"selector\":{\"app\":\"web\"}}}}", WatchEvent.class);
        assertThat(svc.getObject()).isInstanceOf(Service.class);
        WatchEvent ns = NODE.unmarshal("{\"type\":\"ADDED\",\"object\":{\"kind\":\"Namespace\",\"apiVersion\":\"v1\","
                + "\"metadata\":{\"name\":\"prod\",\"labels\":{\"istio.io/dataplane-mode\":\"ambient\"}}}}", WatchEvent.class);
        assertThat(ns.getObject()).isInstanceOf(io.fabric8.kubernetes.api.model.Namespace.class);
        WatchEvent policy = NODE.unmarshal("{\"type\":\"ADDED\",\"object\":{\"kind\":\"AuthorizationPolicy\","
                + "\"apiVersion\":\"security.istio.io/v1\",\"metadata\":{\"name\":\"p\",\"namespace\":\"prod\"},\"spec\":{}}}", WatchEvent.class);
        assertThat(policy.getObject()).isInstanceOf(GenericKubernetesResource.class);
        // Without the change: fabric8's default serialization knows every kind of its model jars.
        assertThat(NODE.getRegisteredKubernetesResource("apps/v1", "Deployment")).isNull();
        assertThat(new KubernetesSerialization().getRegisteredKubernetesResource("apps/v1", "Deployment")).isNotNull();
        assertThat(NODE.getRegisteredKubernetesResource("v1", "Pod")).isEqualTo(Pod.class);
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
