package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.zerohop.core.Workload;
import io.zerohop.kubernetes.internal.PodConversion;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Mesh membership as Istio decides it, with upstream's own cases. */
class PodConversionTest {
    static final Map<String, String> AMBIENT = Map.of("istio.io/dataplane-mode", "ambient");
    static final Map<String, String> NONE = Map.of("istio.io/dataplane-mode", "none");
    static final Map<String, String> SIDECAR = Map.of("sidecar.istio.io/status", "test");

    static Pod pod(Map<String, String> labels, Map<String, String> annotations, boolean hostNetwork) {
        return new PodBuilder().withNewMetadata().withName("test").withNamespace("test").withLabels(labels)
                .withAnnotations(annotations).endMetadata().withNewSpec().withHostNetwork(hostNetwork).endSpec().build();
    }

    /** istio/istio cni/pkg/util/podutil_test.go TestEnablementSelectorMatches, with the default selectors of manifests/charts/istio-cni/values.yaml. */
    static Stream<Arguments> enablementSelectorMatches() {
        return Stream.of(
                Arguments.of("ambient mode enabled for namespace", AMBIENT, pod(Map.of(), Map.of(), false), true),
                Arguments.of("ambient mode enabled for pod", Map.of(), pod(AMBIENT, Map.of(), false), true),
                Arguments.of("ambient mode enabled for both namespace and pod", AMBIENT, pod(AMBIENT, Map.of(), false), true),
                Arguments.of("ambient mode enabled for neither namespace nor pod", Map.of(), pod(Map.of(), Map.of(), false), false),
                Arguments.of("pod has sidecar and namespace has ambient enabled", AMBIENT, pod(Map.of(), SIDECAR, false), false),
                Arguments.of("pod has label to disable ambient redirection", AMBIENT, pod(NONE, Map.of(), false), false),
                Arguments.of("pod has sidecar, pod has ambient mode label", Map.of(), pod(AMBIENT, SIDECAR, false), false),
                Arguments.of("hostNetwork pod in ambient-enabled namespace", AMBIENT, pod(Map.of(), Map.of(), true), false),
                Arguments.of("hostNetwork pod with ambient mode label", Map.of(), pod(AMBIENT, Map.of(), true), false));
    }

    @ParameterizedTest(name = "cni/pkg/util/podutil_test.go: {0}")
    @MethodSource
    void enablementSelectorMatches(String name, Map<String, String> namespaceLabels, Pod pod, boolean want) {
        assertThat(PodConversion.inMesh(pod, namespaceLabels)).as(name).isEqualTo(want);
    }

    /**
     * istio-cni's default {@code excludeNamespaces: [kube-system]} (manifests/charts/istio-cni/values.yaml; cni/pkg/nodeagent/
     * informers.go reconcilePod): a kube-system pod is never enrolled, however it or its namespace is labelled; one an
     * istio-cni configured otherwise enrolled carries the redirection annotation, which istiod honours and so does zerohop
     * (a review pass found kube-system pods enrolled).
     */
    @org.junit.jupiter.api.Test
    void kubeSystemIsExcludedAsIstioCniExcludesIt() {
        Pod coredns = new PodBuilder().withNewMetadata().withName("coredns").withNamespace("kube-system").endMetadata()
                .withNewSpec().endSpec().build();
        assertThat(PodConversion.inMesh(coredns, AMBIENT)).isFalse();
        Pod labelled = new PodBuilder(coredns).editMetadata().withLabels(AMBIENT).endMetadata().build();
        assertThat(PodConversion.inMesh(labelled, Map.of())).isFalse();
        Pod annotated = new PodBuilder(coredns).editMetadata().withAnnotations(Map.of("ambient.istio.io/redirection", "enabled"))
                .endMetadata().build();
        assertThat(PodConversion.inMesh(annotated, Map.of())).isTrue();
        // Any other namespace as before.
        Pod elsewhere = new PodBuilder(labelled).editMetadata().withNamespace("shop").endMetadata().build();
        assertThat(PodConversion.inMesh(elsewhere, Map.of())).isTrue();
    }

    /**
     * istiod leaves ExternalName Services out of the ambient index (pilot/pkg/serviceregistry/ambient/services.go
     * serviceServiceBuilder: "not implemented by ambient"), whatever selector they carry: not among a pod's services, and
     * their ports give it no application protocol (a review pass).
     */
    @org.junit.jupiter.api.Test
    void anExternalNameServiceIsNoServiceOfThePod() {
        Pod web = new PodBuilder().withNewMetadata().withName("web-1").withNamespace("shop").withLabels(Map.of("app", "web"))
                .endMetadata().withNewSpec().withServiceAccountName("web").endSpec().withNewStatus().withPodIP("10.0.0.11")
                .withPhase("Running").endStatus().build();
        io.fabric8.kubernetes.api.model.Service external = new io.fabric8.kubernetes.api.model.ServiceBuilder()
                .withNewMetadata().withNamespace("shop").withName("legacy").endMetadata()
                .withNewSpec().withType("ExternalName").withExternalName("legacy.example.com").withSelector(Map.of("app", "web"))
                .addNewPort().withName("http").withAppProtocol("http").withPort(8080).endPort().endSpec().build();
        io.fabric8.kubernetes.api.model.Service cluster = new io.fabric8.kubernetes.api.model.ServiceBuilder(external)
                .editMetadata().withName("web").endMetadata().editSpec().withType("ClusterIP").withExternalName(null).endSpec().build();
        io.zerohop.core.Workload w = PodConversion.toWorkload(web, AMBIENT, java.util.List.of(external), "cluster.local").orElseThrow();
        assertThat(w.services()).isEmpty();
        assertThat(w.appProtocols()).doesNotContainKey(8080);
        io.zerohop.core.Workload w2 = PodConversion.toWorkload(web, AMBIENT, java.util.List.of(external, cluster), "cluster.local")
                .orElseThrow();
        assertThat(w2.services()).hasSize(1);
        assertThat(w2.appProtocols()).containsKey(8080);
    }

    /** istio/istio pilot/pkg/serviceregistry/ambient/workloads.go setTunnelProtocol and pilot/pkg/model/service.go SupportsTunnel. */
    static Stream<Arguments> tunnelProtocol() {
        return Stream.of(
                Arguments.of("redirection annotation enabled", pod(Map.of(), Map.of("ambient.istio.io/redirection", "enabled"), false), true),
                Arguments.of("redirection annotation pending", pod(Map.of(), Map.of("ambient.istio.io/redirection", "pending"), false), false),
                Arguments.of("tunnel label http", pod(Map.of("networking.istio.io/tunnel", "http"), Map.of(), false), true),
                Arguments.of("tunnel label list containing http", pod(Map.of("networking.istio.io/tunnel", "foo,http"), Map.of(), false), true),
                Arguments.of("tunnel label without http", pod(Map.of("networking.istio.io/tunnel", "https"), Map.of(), false), false));
    }

    @ParameterizedTest(name = "workloads.go setTunnelProtocol: {0}")
    @MethodSource
    void tunnelProtocol(String name, Pod pod, boolean hbone) {
        assertThat(PodConversion.inMesh(pod, Map.of())).as(name).isEqualTo(hbone);
    }

    /**
     * The tunnel label says a pod terminates HBONE itself (istiod's {@code setTunnelProtocol}); whether the node proxy
     * captures it is istio-cni's decision ({@code CompiledEnablementSelectors.Matches}, cni/pkg/util/enablement_selector.go),
     * which refuses a {@code none} pod and a sidecar. Such a pod is HBONE on its node (istiod sends every pod's node), and
     * not captured ({@link PodConversion#captured}, {@code PodState.captured}, which the node proxy's capture set reads);
     * until 5 December its node's proxy put it in the capture set (a review pass). The embedded Deployment's pod template
     * as deploy/ ships it, and a sidecar pod as Istio's injection template labels it with HBONE on
     * (manifests/charts/istio-control/istio-discovery/files/injection-template.yaml: {@code networking.istio.io/tunnel: http}).
     */
    @Test
    void aPodThatTerminatesHboneItselfIsNotCaptured() throws Exception {
        io.fabric8.kubernetes.api.model.apps.Deployment embedded = ManifestsTest.load("embedded/deployment.yaml").stream()
                .filter(io.fabric8.kubernetes.api.model.apps.Deployment.class::isInstance)
                .map(io.fabric8.kubernetes.api.model.apps.Deployment.class::cast).findFirst().orElseThrow();
        Pod quotes = new PodBuilder().withMetadata(embedded.getSpec().getTemplate().getMetadata()).editMetadata().withName("quotes-abc")
                .withNamespace("shop").endMetadata().withNewSpec().withNodeName("n1").endSpec()
                .withNewStatus().withPodIP("10.244.1.40").withPhase("Running").endStatus().build();
        Map<String, String> hbone = new java.util.HashMap<>(SIDECAR);
        Pod sidecar = new PodBuilder().withNewMetadata().withName("sidecar-hbone").withNamespace("shop")
                .withLabels(Map.of("networking.istio.io/tunnel", "http", "security.istio.io/tlsMode", "istio")).withAnnotations(hbone)
                .endMetadata().withNewSpec().withNodeName("n1").endSpec()
                .withNewStatus().withPodIP("10.244.1.41").withPhase("Running").endStatus().build();
        Pod ambient = new PodBuilder().withNewMetadata().withName("enrolled").withNamespace("shop").endMetadata()
                .withNewSpec().withNodeName("n1").endSpec().withNewStatus().withPodIP("10.244.1.42").withPhase("Running").endStatus().build();
        for (Pod own : List.of(quotes, sidecar)) {
            Workload w = PodConversion.toWorkload(own, AMBIENT, List.of(), "cluster.local").orElseThrow();
            assertThat(w.protocol()).as(w.name()).isEqualTo(Workload.Protocol.HBONE);
            assertThat(w.node()).as(w.name() + ": its node, for locality").isEqualTo("n1");
            assertThat(PodConversion.captured(own, AMBIENT)).as(w.name() + ": its own HBONE endpoint, not captured").isFalse();
        }
        Workload enrolled = PodConversion.toWorkload(ambient, AMBIENT, List.of(), "cluster.local").orElseThrow();
        assertThat(enrolled.protocol()).isEqualTo(Workload.Protocol.HBONE);
        assertThat(enrolled.node()).isEqualTo("n1");
        assertThat(PodConversion.captured(ambient, AMBIENT)).isTrue();
    }

    /**
     * cilium/cilium pkg/k8s/apis/cilium.io/const.go {@code PodNamespaceMetaLabels}: an endpoint carries its
     * namespace's labels as {@code io.cilium.k8s.namespace.labels.<key>}, and a CiliumNetworkPolicy selector on
     * them reaches pods of other namespaces (pkg/k8s/apis/cilium.io/utils/utils.go getEndpointSelector). Without
     * them in the workload's labels, an ingressDeny on a namespace label never matched (allowed what Cilium denies).
     */
    @Test
    void ciliumOwnedPodLabelsAreDroppedAsCiliumsSanitizePodLabelsDrops() throws Exception {
        // An operator pass: a pod in an unlabelled namespace labelled itself as a trusted namespace's and another
        // cluster's endpoint; Cilium drops every pod label under io.cilium.k8s (pkg/k8s/utils/utils.go filterPodLabels).
        Pod evil = new PodBuilder().withNewMetadata().withName("evil").withNamespace("evil").withLabels(Map.of("app", "evil",
                        "io.cilium.k8s.namespace.labels.team", "trusted", "io.cilium.k8s.policy.cluster", "cluster-b",
                        "io.cilium.k8s.policy.serviceaccount", "admin"))
                .endMetadata().withNewSpec().withServiceAccountName("evil").endSpec()
                .withNewStatus().withPodIP("10.0.0.6").withPhase("Running").endStatus().build();
        for (Map<String, String> ns : List.of(Map.<String, String>of(), Map.of("team", "untrusted"))) {
            Workload w = PodConversion.toWorkload(evil, ns, List.of(), "cluster.local").orElseThrow();
            assertThat(w.labels()).containsEntry("app", "evil").doesNotContainKeys("io.cilium.k8s.policy.cluster",
                    "io.cilium.k8s.policy.serviceaccount");
            assertThat(w.labels().get("io.cilium.k8s.namespace.labels.team")).isEqualTo(ns.get("team"));
        }
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("ccnp.yaml", """
                apiVersion: cilium.io/v2
                kind: CiliumClusterwideNetworkPolicy
                metadata: {name: trusted-only}
                spec:
                  endpointSelector: {matchLabels: {app: api}}
                  ingress:
                  - fromEndpoints: [{matchLabels: {'k8s:io.cilium.k8s.namespace.labels.team': trusted}}]
                  - fromEndpoints: [{matchLabels: {'io.cilium.k8s.policy.cluster': cluster-b}}]
                """)).build();
        Workload w = PodConversion.toWorkload(evil, Map.of(), List.of(), "cluster.local").orElseThrow();
        assertThat(engine.evaluate(AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/evil/sa/evil")
                .sourceAddress(InetAddress.getByName("10.0.0.6")).destinationAddress(InetAddress.getByName("10.0.1.9"))
                .destinationPort(8080).destination(new io.zerohop.policy.WorkloadRef("prod", "api", "api", Map.of("app", "api")))
                .sourceWorkload(w.ref()).build()).allowed()).as("the forged labels admit nothing").isFalse();
    }

    @Test
    void namespaceLabelsAreCiliumEndpointLabels() throws Exception {
        Pod scanner = new PodBuilder().withNewMetadata().withName("scanner").withNamespace("tools").withLabels(Map.of("app", "scanner"))
                .endMetadata().withNewSpec().withServiceAccountName("scanner").endSpec()
                .withNewStatus().withPodIP("10.0.0.5").withPhase("Running").endStatus().build();
        Workload w = PodConversion.toWorkload(scanner, Map.of("zone", "untrusted", "kubernetes.io/metadata.name", "tools"),
                List.of(), "cluster.local").orElseThrow();
        assertThat(w.labels()).containsEntry("app", "scanner")
                .containsEntry("io.cilium.k8s.namespace.labels.zone", "untrusted")
                .containsEntry("io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name", "tools");
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("cnp.yaml", """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: no-untrusted, namespace: prod}
                spec:
                  endpointSelector: {}
                  ingress: [{fromEntities: [cluster]}]
                  ingressDeny:
                  - fromEndpoints: [{matchLabels: {'k8s:io.cilium.k8s.namespace.labels.zone': untrusted}}]
                """)).build();
        AccessRequest fromScanner = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/tools/sa/scanner")
                .sourceAddress(InetAddress.getByName("10.0.0.5")).destinationAddress(InetAddress.getByName("10.0.1.9"))
                .destinationPort(8080).destination(new io.zerohop.policy.WorkloadRef("prod", "api", "api", Map.of("app", "api")))
                .sourceWorkload(w.ref()).build();
        assertThat(engine.evaluate(fromScanner).allowed()).isFalse();
        Workload trusted = PodConversion.toWorkload(scanner, Map.of("zone", "trusted"), List.of(), "cluster.local").orElseThrow();
        assertThat(engine.evaluate(AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/tools/sa/scanner")
                .sourceAddress(InetAddress.getByName("10.0.0.5")).destinationAddress(InetAddress.getByName("10.0.1.9"))
                .destinationPort(8080).destination(new io.zerohop.policy.WorkloadRef("prod", "api", "api", Map.of("app", "api")))
                .sourceWorkload(trusted.ref()).build()).allowed()).isTrue();
    }

    /** A pod with {@code generateName} and one controller owner, as istio/istio pkg/kube/util_test.go builds them. */
    static Pod owned(String name, String generateName, String kind, String owner, Map<String, String> labels) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace("prod").withGenerateName(generateName)
                .withLabels(labels).addNewOwnerReference().withApiVersion("v1").withController(true).withKind(kind).withName(owner)
                .endOwnerReference().endMetadata().build();
    }

    /**
     * istiod's {@code workloadName} (pilot/pkg/serviceregistry/ambient/workloads.go → pkg/kube/util.go
     * {@code GetWorkloadMetaFromPod}): pkg/kube/util_test.go's TestCronJobMetadata and TestDeployMeta cases, a
     * Deployment's pod (tests/integration/ambient/baseline_test.go expects {@code source_workload} to be the
     * Deployment's name), the {@code service.istio.io/workload-name} override, and pods without a controller.
     */
    static Stream<Arguments> workloadName() {
        return Stream.of(
                Arguments.of("cron-job-name-sec", owned("p", "sec-1234567890-pod", "Job", "sec-1234567890", Map.of()), "sec"),
                Arguments.of("cron-job-name-min", owned("p", "min-12345678-pod", "Job", "min-12345678", Map.of()), "min"),
                Arguments.of("non-cron-job-name", owned("p", "job-123-pod", "Job", "job-123", Map.of()), "job-123"),
                Arguments.of("deployconfig-name-deploy", owned("p", "deploy-rc-pod", "ReplicationController", "deploy-rc",
                        Map.of("deploymentconfig", "deploy")), "deploy"),
                Arguments.of("deployconfig-name-deploy2", owned("p", "deploy2-rc-pod", "ReplicationController", "deploy2-rc",
                        Map.of("deploymentconfig", "deploy2")), "deploy2"),
                Arguments.of("non-deployconfig-label", owned("p", "dep-rc-pod", "ReplicationController", "dep-rc", Map.of()), "dep-rc"),
                Arguments.of("argo-rollout", owned("p", "name-6dc78b855c-", "ReplicaSet", "name-6dc78b855c",
                        Map.of("rollouts-pod-template-hash", "6dc78b855c")), "name"),
                Arguments.of("deployment", owned("frontend-7d9f8c6b5-x2x7q", "frontend-7d9f8c6b5-", "ReplicaSet", "frontend-7d9f8c6b5",
                        Map.of("pod-template-hash", "7d9f8c6b5", "app", "frontend")), "frontend"),
                Arguments.of("replica set whose name does not end with the hash", owned("p", "rs-", "ReplicaSet", "rs",
                        Map.of("pod-template-hash", "abc")), "rs"),
                Arguments.of("statefulset", owned("db-0", "db-", "StatefulSet", "db", Map.of()), "db"),
                Arguments.of("workload-name label", owned("p", "frontend-7d9f8c6b5-", "ReplicaSet", "frontend-7d9f8c6b5",
                        Map.of("pod-template-hash", "7d9f8c6b5", "service.istio.io/workload-name", "shop")), "shop"),
                Arguments.of("no generateName: the pod's name", new PodBuilder().withNewMetadata().withName("solo").withNamespace("prod")
                        .addNewOwnerReference().withController(true).withKind("ReplicaSet").withName("rs").endOwnerReference()
                        .endMetadata().build(), "solo"),
                Arguments.of("no controller owner: the pod's name", new PodBuilder().withNewMetadata().withName("p-1").withNamespace("prod")
                        .withGenerateName("p-").addNewOwnerReference().withController(false).withKind("ReplicaSet").withName("rs")
                        .endOwnerReference().endMetadata().build(), "p-1"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource
    void workloadName(String name, Pod pod, String want) {
        assertThat(PodConversion.workloadName(pod)).as(name).isEqualTo(want);
    }

    /** The pod keeps its own name as the registry's key; telemetry and the policy view get the Deployment's. */
    @Test
    void aDeploymentsPodIsNamedByItsDeploymentInTelemetry() throws Exception {
        Pod pod = new PodBuilder(owned("frontend-7d9f8c6b5-x2x7q", "frontend-7d9f8c6b5-", "ReplicaSet", "frontend-7d9f8c6b5",
                Map.of("pod-template-hash", "7d9f8c6b5", "app", "frontend"))).withNewSpec().withServiceAccountName("frontend")
                .endSpec().withNewStatus().withPhase("Running").withPodIP("10.1.0.7").endStatus().build();
        Workload w = PodConversion.toWorkload(pod, AMBIENT, List.of(), "cluster.local").orElseThrow();
        assertThat(w.name()).isEqualTo("frontend-7d9f8c6b5-x2x7q");
        assertThat(w.workloadName()).isEqualTo("frontend");
        assertThat(w.ref().name()).isEqualTo("frontend");
    }

    /**
     * The Services selecting a pod, by name, with the ports they target (a named targetPort through the pod's container
     * ports, an omitted one the service port), for ztunnel's {@code guess_inbound_service}; a Service without a selector
     * or selecting other pods is not the pod's.
     */
    @Test
    void theServicesSelectingAPodAndThePortsTheyTarget() throws Exception {
        Pod pod = new PodBuilder(owned("web-1", "web-", "StatefulSet", "web", Map.of("app", "web"))).withNewSpec()
                .addNewContainer().withName("app").addNewPort().withName("http").withContainerPort(8080).endPort().endContainer()
                .endSpec().withNewStatus().withPhase("Running").withPodIP("10.1.0.8").endStatus().build();
        var web = new io.fabric8.kubernetes.api.model.ServiceBuilder().withNewMetadata().withName("web").withNamespace("prod").endMetadata()
                .withNewSpec().withSelector(Map.of("app", "web")).addNewPort().withPort(80)
                .withTargetPort(new io.fabric8.kubernetes.api.model.IntOrString("http")).endPort().endSpec().build();
        var admin = new io.fabric8.kubernetes.api.model.ServiceBuilder().withNewMetadata().withName("admin").withNamespace("prod").endMetadata()
                .withNewSpec().withSelector(Map.of("app", "web")).addNewPort().withPort(9090).endPort().endSpec().build();
        var other = new io.fabric8.kubernetes.api.model.ServiceBuilder().withNewMetadata().withName("db").withNamespace("prod").endMetadata()
                .withNewSpec().withSelector(Map.of("app", "db")).addNewPort().withPort(5432).endPort().endSpec().build();
        var manual = new io.fabric8.kubernetes.api.model.ServiceBuilder().withNewMetadata().withName("manual").withNamespace("prod").endMetadata()
                .withNewSpec().addNewPort().withPort(80).endPort().endSpec().build();
        Workload w = PodConversion.toWorkload(pod, AMBIENT, List.of(web, admin, other, manual), "cluster.local").orElseThrow();
        // The pod has no Ready condition: no healthy endpoint of either (istiod's UNHEALTHY), yet their pod for telemetry.
        assertThat(w.services()).containsExactly(
                new io.zerohop.core.WorkloadService("admin", "prod", "admin.prod.svc.cluster.local", java.util.Set.of(9090), false),
                new io.zerohop.core.WorkloadService("web", "prod", "web.prod.svc.cluster.local", java.util.Set.of(8080), false));
        assertThat(io.zerohop.core.WorkloadService.forPort(w.services(), 8080).name()).isEqualTo("web");
        assertThat(io.zerohop.core.WorkloadService.forPort(w.services(), 7000)).isNull();
    }

    /**
     * Service ports as istiod and Kubernetes read them (a review pass, helper 256): a named {@code targetPort} resolves in
     * native sidecars too, init containers with {@code restartPolicy: Always} (k8s.io/endpointslice {@code findPort},
     * istiod's pilot/pkg/serviceregistry/ambient/helpers.go {@code FindPortName}), and only to a port of the Service port's
     * protocol; the protocol is istiod's {@code ConvertProtocol} ({@code kubernetes.io/ws} HTTP, unnamed 3306 TCP); a UDP
     * Service port names no protocol of a TCP port.
     */
    @Test
    void servicePortsAsIstiodAndKubernetesReadThem() throws Exception {
        Pod pod = new PodBuilder(owned("web-1", "web-", "StatefulSet", "web", Map.of("app", "web"))).withNewSpec()
                .addNewInitContainer().withName("proxy").withRestartPolicy("Always").addNewPort().withName("metrics").withContainerPort(9090)
                .endPort().endInitContainer()
                .addNewInitContainer().withName("setup").addNewPort().withName("setup").withContainerPort(9191).endPort().endInitContainer()
                .addNewContainer().withName("app").addNewPort().withName("http-web").withContainerPort(8080).endPort()
                .addNewPort().withName("dns").withContainerPort(5353).withProtocol("UDP").endPort().endContainer()
                .endSpec().withNewStatus().withPhase("Running").withPodIP("10.1.0.8").endStatus().build();
        var web = new io.fabric8.kubernetes.api.model.ServiceBuilder().withNewMetadata().withName("web").withNamespace("prod").endMetadata()
                .withNewSpec().withSelector(Map.of("app", "web"))
                .addNewPort().withName("metrics").withPort(9090).withTargetPort(new io.fabric8.kubernetes.api.model.IntOrString("metrics")).endPort()
                .addNewPort().withName("setup").withPort(9191).withTargetPort(new io.fabric8.kubernetes.api.model.IntOrString("setup")).endPort()
                .addNewPort().withName("ws").withPort(80).withAppProtocol("kubernetes.io/ws")
                .withTargetPort(new io.fabric8.kubernetes.api.model.IntOrString("http-web")).endPort()
                .addNewPort().withName("dns-tcp").withPort(53).withTargetPort(new io.fabric8.kubernetes.api.model.IntOrString("dns")).endPort()
                .addNewPort().withName("db").withPort(3306).withTargetPort(new io.fabric8.kubernetes.api.model.IntOrString(3306)).endPort()
                .addNewPort().withName("http-udp").withPort(8085).withProtocol("UDP").endPort()
                .endSpec().build();
        Workload w = PodConversion.toWorkload(pod, AMBIENT, List.of(web), "cluster.local").orElseThrow();
        // The native sidecar's port is this pod's own mapping for service port 9090 (Cilium's named ports, which the
        // registry Service resolves names through, do not hold it).
        assertThat(w.services()).containsExactly(new io.zerohop.core.WorkloadService("web", "prod", "web.prod.svc.cluster.local",
                java.util.Set.of(9090, 8080, 3306), false, Map.of(9090, 9090)));
        assertThat(w.appProtocols()).containsEntry(8080, io.zerohop.core.AppProtocol.HTTP).containsEntry(3306, io.zerohop.core.AppProtocol.TCP)
                .containsEntry(9090, io.zerohop.core.AppProtocol.AUTO).doesNotContainKey(8085).doesNotContainKey(9191).doesNotContainKey(5353);
        // Cilium's named ports stay spec.containers' TCP ports (its GetPodMetadata), not a native sidecar's.
        assertThat(w.namedPorts()).containsOnlyKeys("http-web");
    }

    /**
     * A Service as a registry Service: {@code clusterIP} alone when {@code clusterIPs} is absent (an older object), an
     * unparsable address and a port the API server would refuse skipped, a UDP port left out, a repeated TCP port number
     * kept once (istiod's constructServiceVIPs / constructServicePorts; zerohop relays TCP only).
     */
    @Test
    void aServiceBecomesARegistryService() throws Exception {
        io.fabric8.kubernetes.api.model.Service s = new io.fabric8.kubernetes.api.model.ServiceBuilder().withNewMetadata()
                .withNamespace("prod").withName("web").endMetadata().withNewSpec().withClusterIP("10.96.0.10")
                .addNewPort().withName("http").withPort(80).withTargetPort(new io.fabric8.kubernetes.api.model.IntOrString(8080)).endPort()
                .addNewPort().withName("bad").withPort(81).withTargetPort(new io.fabric8.kubernetes.api.model.IntOrString("8081")).endPort()
                .addNewPort().withName("dns").withPort(53).withProtocol("UDP").endPort()
                .endSpec().build();
        io.zerohop.core.Service r = PodConversion.toService(s).orElseThrow();
        assertThat(r.vips()).containsExactly(InetAddress.getByName("10.96.0.10"));
        assertThat(r.ports()).containsExactly(io.zerohop.core.Service.Port.of(80, 8080));
        assertThat(r.hostname()).isEqualTo("web.prod.svc.cluster.local");
        assertThat(r.nodeLocal()).isFalse();
        s.getSpec().setInternalTrafficPolicy("Local");
        assertThat(PodConversion.toService(s).orElseThrow().nodeLocal()).as("istiod: strict Node scope").isTrue();
        s.getSpec().setClusterIPs(List.of("10.96.0.10", "not-an-ip"));
        assertThat(PodConversion.toService(s).orElseThrow().vips()).containsExactly(InetAddress.getByName("10.96.0.10"));
        s.getSpec().setType("ExternalName");
        assertThat(PodConversion.toService(s)).isEmpty();
    }

    static final String TD_ANNOTATION = "networking.istio.io/traffic-distribution";

    static io.zerohop.core.Service.LoadBalancing lbOf(String itp, String spec, Map<String, String> svcAnnotations,
                                                      Map<String, String> nsAnnotations) {
        io.fabric8.kubernetes.api.model.Service s = new io.fabric8.kubernetes.api.model.ServiceBuilder().withNewMetadata()
                .withNamespace("prod").withName("web").withAnnotations(svcAnnotations).endMetadata().withNewSpec()
                .withClusterIP("10.96.0.10").withInternalTrafficPolicy(itp).withTrafficDistribution(spec)
                .addNewPort().withPort(80).endPort().endSpec().build();
        return PodConversion.toService(s, nsAnnotations).orElseThrow().loadBalancing();
    }

    /**
     * istiod's mapping (istio/istio 86c9f01f pilot/pkg/serviceregistry/ambient/services.go constructService, and
     * pilot/pkg/model/service_test.go TestGetTrafficDistribution's cases): internalTrafficPolicy Local is STRICT [NODE]
     * whatever the distribution; then spec.trafficDistribution, the Service's annotation, the namespace's.
     */
    @Test
    void trafficDistributionAsIstiodMapsIt() {
        var zone = io.zerohop.core.Service.LoadBalancing.PREFER_SAME_ZONE;
        var node = io.zerohop.core.Service.LoadBalancing.PREFER_SAME_NODE;
        var any = Map.<String, String>of();
        // TestGetTrafficDistribution
        assertThat(lbOf(null, "PreferClose", Map.of(TD_ANNOTATION, "PreferSameNode"), Map.of(TD_ANNOTATION, "Any")))
                .as("spec value takes precedence").isSameAs(zone);
        assertThat(lbOf(null, null, Map.of(TD_ANNOTATION, "PreferSameNode"), Map.of(TD_ANNOTATION, "PreferClose")))
                .as("service annotation takes precedence over namespace").isSameAs(node);
        assertThat(lbOf(null, null, any, Map.of(TD_ANNOTATION, "PreferClose"))).as("namespace annotation used when service has none")
                .isSameAs(zone);
        assertThat(lbOf(null, null, any, Map.of(TD_ANNOTATION, "PreferSameNode"))).as("namespace annotation with PreferSameNode")
                .isSameAs(node);
        assertThat(lbOf(null, null, any, any)).as("defaults to Any when nothing set").isNull();
        assertThat(lbOf(null, null, any, null)).as("defaults to Any when nil namespace annotations").isNull();
        assertThat(lbOf(null, null, any, Map.of(TD_ANNOTATION, "preferclose"))).as("case insensitive namespace annotation")
                .isSameAs(zone);
        // GetTrafficDistribution's other branches
        assertThat(lbOf(null, "PreferSameZone", any, any)).isSameAs(zone);
        assertThat(lbOf(null, "PreferSameNode", any, any)).isSameAs(node);
        assertThat(lbOf(null, "SomethingNew", Map.of(TD_ANNOTATION, "PREFERSAMENODE"), any))
                .as("an unknown spec value falls through to the annotation, read in any case").isSameAs(node);
        assertThat(lbOf(null, null, Map.of(TD_ANNOTATION, "bogus"), Map.of(TD_ANNOTATION, "PreferClose")))
                .as("an unknown Service annotation is Any, the namespace's not read").isNull();
        assertThat(lbOf(null, null, Map.of(TD_ANNOTATION, ""), Map.of(TD_ANNOTATION, "PreferClose")))
                .as("an empty Service annotation: the namespace's").isSameAs(zone);
        // constructService: internalTrafficPolicy first
        assertThat(lbOf("Local", "PreferClose", Map.of(TD_ANNOTATION, "PreferClose"), any)).as("Local wins")
                .isSameAs(io.zerohop.core.Service.LoadBalancing.NODE_LOCAL);
        assertThat(lbOf("Cluster", "PreferClose", any, any)).isSameAs(zone);
        assertThat(PodConversion.toService(new io.fabric8.kubernetes.api.model.ServiceBuilder().withNewMetadata()
                .withNamespace("prod").withName("web").endMetadata().withNewSpec().withTrafficDistribution("PreferClose")
                .endSpec().build()).orElseThrow().loadBalancing()).as("toService(s) alone").isSameAs(zone);
    }
}
