package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.ManagedFieldsEntryBuilder;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.InputStream;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the informers keep of each object ({@link ObjectStrip}, {@link StrippingItemStore}). */
class ObjectStripTest {
    private static Container named(String name) {
        return new ContainerBuilder().withName(name).build();
    }

    /**
     * istio/istio pilot/pkg/serviceregistry/kube/controller/controller_test.go {@code TestStripPodUnusedFields}
     * (of {@code StripPodUnusedFields}, pkg/kube/util.go): input and expected pod as upstream's. Upstream
     * then copies the conditions its fake controller sets onto the expected pod; here none are set.
     */
    @Test
    void stripsPodsAsIstiod() {
        Pod input = new PodBuilder().withApiVersion("v1").withKind("Pod")
                .withNewMetadata().withName("test").withNamespace("default").withLabels(Map.of("app", "test"))
                .withAnnotations(Map.of("annotation1", "foo", "annotation2", "bar"))
                .withManagedFields(new ManagedFieldsEntryBuilder().withManager("test").build()).endMetadata()
                .withNewSpec()
                .withInitContainers(named("init-container"),
                        new ContainerBuilder().withName("native-sidecar").withRestartPolicy("Always")
                                .addNewPort().withName("grpc").withContainerPort(8080).withProtocol("TCP").endPort().build(),
                        new ContainerBuilder().withName("init-container-with-ports")
                                .addNewPort().withName("debug").withContainerPort(9090).withProtocol("TCP").endPort().build())
                .withContainers(new ContainerBuilder().withName("container-1").addNewPort().withName("http").endPort().build(),
                        named("container-2"))
                .addNewVolume().withName("test").endVolume()
                .endSpec()
                .withNewStatus()
                .addNewInitContainerStatus().withName("init-container").endInitContainerStatus()
                .addNewContainerStatus().withName("container-1").endContainerStatus()
                .addNewContainerStatus().withName("container-2").endContainerStatus()
                .withPodIP("1.1.1.1").withHostIP("1.1.1.1").withPhase("Running")
                .endStatus().build();
        Pod expected = new PodBuilder().withApiVersion("v1").withKind("Pod")
                .withNewMetadata().withName("test").withNamespace("default").withLabels(Map.of("app", "test"))
                .withAnnotations(Map.of("annotation1", "foo", "annotation2", "bar")).endMetadata()
                .withNewSpec()
                .withContainers(new ContainerBuilder().addNewPort().withName("http").endPort().build())
                // Native sidecar init container with ports is preserved.
                .withInitContainers(new ContainerBuilder().withRestartPolicy("Always")
                        .addNewPort().withName("grpc").withContainerPort(8080).withProtocol("TCP").endPort().build())
                .endSpec()
                .withNewStatus().withPodIP("1.1.1.1").withHostIP("1.1.1.1").withPhase("Running").endStatus()
                .build();

        Pod out = ObjectStrip.pod(input);

        assertThat(out).isSameAs(input);
        assertThat(Serialization.asJson(out)).isEqualTo(Serialization.asJson(expected));
    }

    /** istiod's {@code annotation.ProxyOverrides} is dropped; the annotations zerohop reads stay. */
    @Test
    void dropsProxyOverridesAndLastAppliedButKeepsTheAnnotationsRead() {
        Pod p = new PodBuilder().withNewMetadata().withName("a").withNamespace("n")
                .withAnnotations(Map.of("proxy.istio.io/overrides", "{\"containers\":[]}",
                        "kubectl.kubernetes.io/last-applied-configuration", "{\"kind\":\"Pod\"}",
                        "ambient.istio.io/redirection", "enabled", "sidecar.istio.io/status", "{}"))
                .endMetadata().build();

        ObjectStrip.pod(p);

        assertThat(p.getMetadata().getAnnotations()).containsOnlyKeys("ambient.istio.io/redirection", "sidecar.istio.io/status");
    }

    @Test
    void theDeploymentPodKeepsWhatIsReadAndIsAFractionOfItsSize() throws Exception {
        Pod full = deploymentPod();
        int fullBytes = Serialization.asJson(full).length();
        Pod p = ObjectStrip.pod(deploymentPod());
        String json = Serialization.asJson(p);

        assertThat(p.getMetadata().getManagedFields()).isEmpty();
        assertThat(p.getSpec().getVolumes()).isEmpty();
        assertThat(p.getSpec().getTolerations()).isEmpty();
        assertThat(p.getSpec().getContainers()).hasSize(1); // the log shipper has no port
        assertThat(p.getSpec().getContainers().get(0).getPorts()).isEqualTo(full.getSpec().getContainers().get(0).getPorts());
        assertThat(p.getSpec().getContainers().get(0).getEnv()).isEmpty();
        assertThat(p.getStatus().getContainerStatuses()).isEmpty();
        assertThat(p.getStatus().getConditions()).isEqualTo(full.getStatus().getConditions());
        assertThat(p.getStatus().getPodIPs()).isEqualTo(full.getStatus().getPodIPs());
        assertThat(p.getStatus().getHostIPs()).isEqualTo(full.getStatus().getHostIPs());
        assertThat(p.getMetadata().getCreationTimestamp()).isEqualTo(full.getMetadata().getCreationTimestamp());
        assertThat(p.getMetadata().getResourceVersion()).isEqualTo(full.getMetadata().getResourceVersion());
        assertThat(p.getMetadata().getLabels()).isEqualTo(full.getMetadata().getLabels());
        assertThat(p.getMetadata().getAnnotations()).isEqualTo(full.getMetadata().getAnnotations());
        assertThat(json.length()).isLessThan(fullBytes / 3);
        // A second strip (a resync hands the cached object back) changes nothing.
        assertThat(Serialization.asJson(ObjectStrip.pod(p))).isEqualTo(json);
    }

    @Test
    void servicesNamespacesAndPoliciesLoseManagedFieldsAndLastAppliedOnly() {
        Service s = new ServiceBuilder().withNewMetadata().withName("web").withNamespace("n")
                .withAnnotations(Map.of("kubectl.kubernetes.io/last-applied-configuration", "{}", "team", "a"))
                .withManagedFields(new ManagedFieldsEntryBuilder().withManager("kubectl").build()).endMetadata()
                .withNewSpec().withSelector(Map.of("app", "web")).addNewPort().withName("http").withPort(80).endPort().endSpec().build();
        Service want = new ServiceBuilder(s).editMetadata().withAnnotations(Map.of("team", "a")).withManagedFields(List.of())
                .endMetadata().build();
        Namespace n = new NamespaceBuilder().withNewMetadata().withName("n").withLabels(Map.of("istio.io/dataplane-mode", "ambient"))
                .withManagedFields(new ManagedFieldsEntryBuilder().withManager("kubectl").build()).endMetadata().build();

        assertThat(Serialization.asJson(ObjectStrip.metadata(s))).isEqualTo(Serialization.asJson(want));
        assertThat(ObjectStrip.metadata(n).getMetadata().getManagedFields()).isEmpty();
        assertThat(n.getMetadata().getLabels()).containsEntry("istio.io/dataplane-mode", "ambient");
    }

    /**
     * PolicyState compares the object's text to what is installed: a new version that differs from
     * the last only in managedFields and last-applied-configuration gives the same text, and every
     * field of the policy itself (spec, the dry-run and internal annotations) is kept.
     */
    @Test
    void aPolicyKeepsItsTextAndEqualsItsNextVersionWhenOnlyServerFieldsChanged() {
        String v1 = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: deny-all
                  namespace: prod
                  resourceVersion: "7"
                  annotations:
                    istio.io/dry-run: "false"
                    kubectl.kubernetes.io/last-applied-configuration: '{"spec":{}}'
                  managedFields:
                  - manager: kubectl
                    operation: Update
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source:
                        namespaces: ["other"]
                """;
        String v2 = v1.replace("resourceVersion: \"7\"", "resourceVersion: \"8\"").replace("manager: kubectl", "manager: argocd")
                .replace("'{\"spec\":{}}'", "'{\"spec\":{\"action\":\"DENY\"}}'");
        GenericKubernetesResource full = Serialization.unmarshal(v1, GenericKubernetesResource.class);
        GenericKubernetesResource a = ObjectStrip.metadata(Serialization.unmarshal(v1, GenericKubernetesResource.class));
        GenericKubernetesResource b = ObjectStrip.metadata(Serialization.unmarshal(v2, GenericKubernetesResource.class));

        assertThat(PolicyState.yamlOf(a)).isEqualTo(PolicyState.yamlOf(full)).isEqualTo(PolicyState.yamlOf(b));
        assertThat(a.getMetadata().getManagedFields()).isEmpty();
        assertThat(a.getMetadata().getAnnotations()).containsOnlyKeys("istio.io/dry-run");
        assertThat(a.getAdditionalProperties().get("spec")).isEqualTo(full.getAdditionalProperties().get("spec"));
    }

    /** The store strips what it keeps; a put at the version already held keeps the held object. */
    @Test
    void theStoreKeepsStrippedObjectsAndOneCopyPerVersion() throws Exception {
        StrippingItemStore<Pod> store = new StrippingItemStore<>(ObjectStrip::pod);
        Pod listed = deploymentPod();
        String key = store.getKey(listed);

        assertThat(store.put(key, listed)).isNull();
        assertThat(store.get(key)).isSameAs(listed);
        assertThat(listed.getMetadata().getManagedFields()).isEmpty();

        Pod relisted = deploymentPod(); // same resourceVersion: a re-list, or a watch replaying it
        assertThat(store.put(key, relisted)).isSameAs(listed);
        assertThat(store.get(key)).isSameAs(listed);

        Pod changed = deploymentPod();
        changed.getMetadata().setResourceVersion("2");
        assertThat(store.put(key, changed)).isSameAs(listed);
        assertThat(store.get(key)).isSameAs(changed);
        assertThat(changed.getSpec().getVolumes()).isEmpty();
        assertThat(store.size()).isEqualTo(1);
        assertThat(store.remove(key)).isSameAs(changed);
    }

    /**
     * The stripped pod, Service and Namespace hold no mutable collection: fabric8's per-object {@code additionalProperties}
     * LinkedHashMap and per-field ArrayLists are the shared immutable empties or exact-size
     * immutable lists ({@link ObjectStrip#compact}). Mutating one throws, so a reader that mutated
     * an informer object would fail here and in {@code InformersStripTest}, not corrupt the cache.
     */
    @Test
    void strippedObjectsHoldOnlyImmutableCollections() throws Exception {
        Pod p = ObjectStrip.pod(deploymentPod());
        Service s = ObjectStrip.compacted(new ServiceBuilder().withNewMetadata().withName("s").withNamespace("n")
                .withLabels(Map.of("app", "s")).endMetadata()
                .withNewSpec().withSelector(Map.of("app", "s")).addNewPort().withName("http").withPort(80).endPort().endSpec()
                .build());
        Namespace n = ObjectStrip.compacted(new NamespaceBuilder().withNewMetadata().withName("n")
                .withLabels(Map.of("istio.io/dataplane-mode", "ambient")).endMetadata().build());
        for (Object o : List.of(p, s, n)) {
            List<String> mutable = new java.util.ArrayList<>();
            walk(o, o.getClass().getSimpleName(), mutable);
            assertThat(mutable).as("mutable collections in the stripped %s", o.getClass().getSimpleName())
                    .isEmpty();
        }
        assertThat(p.getMetadata().getAdditionalProperties()).isSameAs(Map.of());
        assertThat(p.getSpec().getVolumes()).isSameAs(List.of());
        assertThat(p.getStatus().getContainerStatuses()).isSameAs(List.of());
        // The labels keep their order (as served) and answer lookups.
        assertThat(p.getMetadata().getLabels()).isInstanceOf(ArrayMap.class)
                .containsExactlyEntriesOf(deploymentPod().getMetadata().getLabels());
        assertThat(p.getMetadata().getLabels().get("app")).isEqualTo(deploymentPod().getMetadata().getLabels().get("app"));
        assertThat(p.getMetadata().getLabels().get("absent")).isNull();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> p.getStatus().getConditions().add(null))
                .isInstanceOf(UnsupportedOperationException.class);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> p.getSpec().setAdditionalProperty("x", 1))
                .isInstanceOf(UnsupportedOperationException.class);
    }

    /**
     * An EndpointSlice keeps what {@link EndpointSliceConversion} reads (the service-name label, addressType, each
     * endpoint's first address, ready and targetRef, each port's name, number and protocol) and converts as before; the
     * rest (other labels, annotations, managedFields, hostname, nodeName, zone, hints, serving/terminating, appProtocol)
     * goes, and no mutable collection is left.
     */
    @Test
    void endpointSlicesKeepWhatIsRead() throws Exception {
        java.util.function.Supplier<io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice> full = () ->
                new io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder()
                .withNewMetadata().withNamespace("default").withName("kubernetes").withUid("u1").withResourceVersion("7")
                .withLabels(Map.of("kubernetes.io/service-name", "kubernetes", "endpointslice.kubernetes.io/managed-by",
                        "endpointslicemirroring-controller.k8s.io"))
                .withAnnotations(Map.of("kubectl.kubernetes.io/last-applied-configuration", "{}"))
                .addToManagedFields(new ManagedFieldsEntryBuilder().withManager("kube-apiserver").build()).endMetadata()
                .withAddressType("IPv4")
                .addNewEndpoint().withAddresses("172.18.0.5", "172.18.0.6").withHostname("cp").withNodeName("cp").withZone("z")
                .withNewConditions().withReady(true).withServing(true).withTerminating(false).endConditions()
                .withNewHints().addNewForZone("z").endHints().endEndpoint()
                .addNewEndpoint().withAddresses("10.0.0.7").withNewTargetRef().withKind("Pod").withNamespace("default")
                .withName("p").withUid("pu").withResourceVersion("9").endTargetRef().endEndpoint()
                .addNewPort().withName("https").withPort(6443).withProtocol("TCP").withAppProtocol("https").endPort()
                .build();
        var stripped = ObjectStrip.endpointSlice(full.get());
        assertThat(stripped.getMetadata().getLabels()).containsExactly(Map.entry("kubernetes.io/service-name", "kubernetes"));
        assertThat(stripped.getMetadata().getAnnotations()).isNullOrEmpty();
        assertThat(stripped.getMetadata().getManagedFields()).isNullOrEmpty();
        assertThat(stripped.getMetadata().getResourceVersion()).isEqualTo("7");
        var ep = stripped.getEndpoints().get(0);
        assertThat(ep.getAddresses()).containsExactly("172.18.0.5");
        assertThat(ep.getHostname()).isNull();
        assertThat(ep.getNodeName()).isNull();
        assertThat(ep.getHints()).isNull();
        assertThat(ep.getConditions().getReady()).isTrue();
        assertThat(ep.getConditions().getServing()).isNull();
        assertThat(stripped.getEndpoints().get(1).getTargetRef().getUid()).isEqualTo("pu");
        assertThat(stripped.getEndpoints().get(1).getTargetRef().getResourceVersion()).isNull();
        assertThat(stripped.getPorts().get(0).getAppProtocol()).isNull();
        Service svc = new ServiceBuilder().withNewMetadata().withNamespace("default").withName("kubernetes").endMetadata()
                .withNewSpec().withClusterIP("10.96.0.1").addNewPort().withName("https").withPort(443)
                .withTargetPort(new io.fabric8.kubernetes.api.model.IntOrString(6443)).endPort().endSpec().build();
        assertThat(EndpointSliceConversion.endpoints(stripped, Map.of("kubernetes", svc)))
                .isEqualTo(EndpointSliceConversion.endpoints(full.get(), Map.of("kubernetes", svc))).hasSize(1);
        assertThat(EndpointSliceConversion.podRefs(stripped, Map.of("kubernetes", svc)))
                .isEqualTo(EndpointSliceConversion.podRefs(full.get(), Map.of("kubernetes", svc)));
        List<String> mutable = new java.util.ArrayList<>();
        walk(stripped, "EndpointSlice", mutable);
        assertThat(mutable).isEmpty();
    }

    /** Compaction changes no value: the full Deployment pod compacted equals and serializes as the pod read. */
    @Test
    void compactionChangesNoValue() throws Exception {
        Pod full = deploymentPod();
        ObjectStrip.compact(full);
        assertThat(full).isEqualTo(deploymentPod());
        assertThat(Serialization.asJson(full)).isEqualTo(Serialization.asJson(deploymentPod()));
        assertThat(full.getMetadata().getManagedFields().get(0).getAdditionalProperties()).isSameAs(Map.of());
    }

    /** Records, under their path, the fields of fabric8 model objects that hold a collection accepting an add. */
    @SuppressWarnings("unchecked")
    private static void walk(Object o, String path, List<String> mutable) throws Exception {
        if (o == null || !o.getClass().getName().startsWith("io.fabric8.kubernetes.api.model.")) {
            return;
        }
        for (Class<?> c = o.getClass(); c != Object.class; c = c.getSuperclass()) {
            for (java.lang.reflect.Field f : c.getDeclaredFields()) {
                if (java.lang.reflect.Modifier.isStatic(f.getModifiers()) || f.getType().isPrimitive()) {
                    continue;
                }
                f.setAccessible(true);
                Object v = f.get(o);
                String at = path + "." + f.getName();
                if (v instanceof List<?> l) {
                    if (acceptsAdd(() -> ((List<Object>) l).add(null))) {
                        mutable.add(at);
                    }
                    for (Object e : l) {
                        walk(e, at + "[]", mutable);
                    }
                } else if (v instanceof Map<?, ?> m) {
                    if (acceptsAdd(() -> ((Map<Object, Object>) m).put("zz-probe", null))) {
                        mutable.add(at);
                    }
                    for (Object e : m.values()) {
                        walk(e, at + "{}", mutable);
                    }
                } else {
                    walk(v, at, mutable);
                }
            }
        }
    }

    /** Whether {@code add} succeeds; it is tried on collections of objects thrown away after the walk. */
    private static boolean acceptsAdd(Runnable add) {
        try {
            add.run();
            return true;
        } catch (UnsupportedOperationException | NullPointerException e) {
            return false;
        }
    }

    static Pod deploymentPod() throws Exception {
        try (InputStream in = ObjectStripTest.class.getResourceAsStream("/pods/deployment-pod.json")) {
            return Serialization.unmarshal(in, Pod.class);
        }
    }
}
