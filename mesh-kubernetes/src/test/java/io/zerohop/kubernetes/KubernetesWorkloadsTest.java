package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Service;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Pods, namespaces and Services on fabric8's CRUD mock API server, followed into the registry. */
class KubernetesWorkloadsTest {
    @RegisterExtension
    final MockCluster k8s = new MockCluster();
    KubernetesDiscovery d;
    final WorkloadRegistry registry = WorkloadRegistry.empty();

    @BeforeEach
    void start() throws Exception {
        k8s.client.resource(namespace("prod", Map.of("istio.io/dataplane-mode", "ambient"))).create();
        k8s.client.resource(namespace("legacy", Map.of())).create();
        d = k8s.startSynced(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry));
    }

    static InetAddress ip(String s) throws Exception {
        return InetAddress.getByName(s);
    }

    Optional<Workload> at(String address) {
        return at(registry, address);
    }

    @Test
    @DisplayName("a pod's create, update and delete reach the registry: dual-stack podIPs, service account, labels, node")
    void podLifecycle() throws Exception {
        k8s.create(pod("prod", "backend-1", "node-b", "backend", Map.of("app", "backend"), "10.0.1.2", "fd00::102").build());
        await(d, "backend-1 registered", () -> at("10.0.1.2").isPresent());
        Workload w = at("10.0.1.2").orElseThrow();
        assertThat(w.namespace()).isEqualTo("prod");
        assertThat(w.name()).isEqualTo("backend-1");
        assertThat(w.serviceAccount()).isEqualTo("backend");
        assertThat(w.labels()).containsEntry("app", "backend");
        assertThat(w.node()).isEqualTo("node-b");
        assertThat(w.addresses()).containsExactly(ip("10.0.1.2"), ip("fd00::102"));
        assertThat(w.identity().toString()).isEqualTo("spiffe://cluster.local/ns/prod/sa/backend");
        assertThat(at("fd00::102")).contains(w);

        Pod live = k8s.client.pods().inNamespace("prod").withName("backend-1").get();
        live.getMetadata().getLabels().put("version", "v2");
        k8s.client.resource(live).update();
        await(d, "label update", () -> at("10.0.1.2").map(x -> "v2".equals(x.labels().get("version"))).orElse(false));

        k8s.client.pods().inNamespace("prod").withName("backend-1").delete();
        await(d, "backend-1 removed", () -> at("10.0.1.2").isEmpty() && at("fd00::102").isEmpty());
    }

    @Test
    @DisplayName("phase and readiness are tracked; unready pods stay (istiod: UNHEALTHY), terminal pods leave (CheckPodTerminal)")
    void phaseAndReadiness() throws Exception {
        k8s.create(pod("prod", "job-1", "node-a", "default", Map.of(), "10.0.1.9").build());
        await(d, "job-1 registered", () -> at("10.0.1.9").isPresent());
        assertThat(d.podState("prod", "job-1")).get().extracting(PodState::phase, PodState::ready).containsExactly("Running", true);

        Pod live = k8s.client.pods().inNamespace("prod").withName("job-1").get();
        live.getStatus().getConditions().get(0).setStatus("False");
        k8s.client.resource(live).update();
        await(d, "job-1 unready", () -> d.podState("prod", "job-1").map(s -> !s.ready()).orElse(false));
        assertThat(at("10.0.1.9")).isPresent();

        live = k8s.client.pods().inNamespace("prod").withName("job-1").get();
        live.getStatus().setPhase("Succeeded");
        k8s.client.resource(live).update();
        await(d, "finished job-1 leaves the registry", () -> at("10.0.1.9").isEmpty());
    }

    @Test
    @DisplayName("a pod IP handed to a new pod before the old one's deletion arrives moves cleanly (no 'claimed by both')")
    void reusedAddressMoves() throws Exception {
        k8s.create(pod("prod", "old", "node-a", "old-sa", Map.of(), "10.0.2.7").build());
        await(d, "old registered", () -> at("10.0.2.7").map(w -> w.name().equals("old")).orElse(false));
        // Kubernetes hands the IP on once the old pod is done; its object can outlive that.
        k8s.create(pod("legacy", "new", "node-a", "new-sa", Map.of(), "10.0.2.7").build());
        await(d, "new owns the address", () -> at("10.0.2.7").map(w -> w.name().equals("new")).orElse(false));
        assertThat(registry.byName("prod", "old")).isEmpty();
        // Updates keep flowing for both (none is refused by the registry).
        k8s.create(pod("prod", "other", "node-a", "x", Map.of(), "10.0.2.8").build());
        await(d, "later pod registered", () -> at("10.0.2.8").isPresent());
        k8s.client.pods().inNamespace("prod").withName("old").delete();
        k8s.create(pod("prod", "old", "node-a", "old-sa", Map.of(), "10.0.2.9").build());
        await(d, "old back with a new address", () -> at("10.0.2.9").map(w -> w.name().equals("old")).orElse(false));
        assertThat(at("10.0.2.7")).get().extracting(Workload::name).isEqualTo("new");
    }

    /**
     * A pod stuck terminating (its node lost, a finalizer) whose address Kubernetes handed on: a proxy that starts then
     * lists both, by name, and the live pod keeps the address, not the later-listed terminating one. Until 6 December
     * the later claim in the list won, so {@code z-old}'s identity answered for {@code a-new}'s address after a restart
     * (a review pass, helper 265; istiod sends both and ztunnel keeps the last inserted).
     */
    @Test
    void aTerminatingPodYieldsAReusedAddressAtStart() throws Exception {
        k8s.create(pod("prod", "a-new", "node-a", "new-sa", Map.of(), "10.0.2.30").build());
        k8s.create(pod("prod", "z-old", "node-a", "old-sa", Map.of(), "10.0.2.30").editMetadata().addToFinalizers("example.com/keep")
                .endMetadata().build());
        k8s.client.pods().inNamespace("prod").withName("z-old").delete();
        assertThat(k8s.client.pods().inNamespace("prod").withName("z-old").get().getMetadata().getDeletionTimestamp()).isNotNull();
        WorkloadRegistry restarted = WorkloadRegistry.empty();
        KubernetesDiscovery again = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(restarted)
                .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
        again.synced().get(20, TimeUnit.SECONDS);
        await(again, "the address known", () -> at(restarted, "10.0.2.30").isPresent());
        assertThat(at(restarted, "10.0.2.30").orElseThrow().serviceAccount()).as("the live pod's identity").isEqualTo("new-sa");
    }

    static Optional<Workload> at(WorkloadRegistry r, String address) {
        try {
            return r.byAddress(ip(address));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static Optional<Service> vip(WorkloadRegistry r, String address) {
        try {
            return r.serviceAt(ip(address));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    @DisplayName("a Deployment's pod keeps its telemetry name (the Deployment's) when another pod takes one of its addresses")
    void aPodThatLosesOneOfItsAddressesKeepsItsWorkloadName() throws Exception {
        k8s.create(pod("prod", "web-5d8f7c9b6-abcde", "node-a", "web", Map.of("pod-template-hash", "5d8f7c9b6"), "10.0.2.20", "fd00::20")
                .editMetadata().withGenerateName("web-5d8f7c9b6-").addNewOwnerReference().withApiVersion("apps/v1").withKind("ReplicaSet")
                .withName("web-5d8f7c9b6").withController(true).withUid("rs-1").endOwnerReference().endMetadata().build());
        await(d, "web registered", () -> at("10.0.2.20").isPresent());
        assertThat(at("10.0.2.20").orElseThrow().workloadName()).isEqualTo("web");
        k8s.create(pod("prod", "newer", "node-a", "x", Map.of(), "fd00::20").build());
        await(d, "newer owns the IPv6 address", () -> at("fd00::20").map(w -> w.name().equals("newer")).orElse(false));
        Workload web = at("10.0.2.20").orElseThrow();
        assertThat(web.addresses()).hasSize(1);
        assertThat(web.workloadName()).isEqualTo("web");
    }

    @Test
    @DisplayName("HBONE vs TCP: namespace istio.io/dataplane-mode=ambient, pod opt-out none, networking.istio.io/tunnel=http")
    void meshMembership() throws Exception {
        k8s.create(pod("prod", "in-ns", "node-a", "a", Map.of(), "10.0.3.1").build());
        k8s.create(pod("prod", "opted-out", "node-a", "a", Map.of("istio.io/dataplane-mode", "none"), "10.0.3.2").build());
        k8s.create(pod("legacy", "plain", "node-a", "a", Map.of(), "10.0.3.3").build());
        k8s.create(pod("legacy", "tunnel", "node-a", "a", Map.of("networking.istio.io/tunnel", "http"), "10.0.3.4").build());
        await(d, "four pods", () -> registry.all().size() == 4);
        assertThat(at("10.0.3.1").orElseThrow().protocol()).isEqualTo(Workload.Protocol.HBONE);
        assertThat(at("10.0.3.2").orElseThrow().protocol()).isEqualTo(Workload.Protocol.TCP);
        assertThat(at("10.0.3.3").orElseThrow().protocol()).isEqualTo(Workload.Protocol.TCP);
        assertThat(at("10.0.3.4").orElseThrow().protocol()).isEqualTo(Workload.Protocol.HBONE);

        // Labelling the namespace enrols its pods, as istio-cni's namespace watch does.
        k8s.client.namespaces().withName("legacy").edit(n -> {
            n.getMetadata().getLabels().put("istio.io/dataplane-mode", "ambient");
            return n;
        });
        await(d, "legacy/plain enrolled", () -> at("10.0.3.3").map(w -> w.protocol() == Workload.Protocol.HBONE).orElse(false));
    }

    @Test
    @DisplayName("Service appProtocol / port-name prefix per target port, named targetPort resolved through the pod's container ports")
    void servicesGiveAppProtocols() throws Exception {
        k8s.create(pod("prod", "web-1", "node-a", "web", Map.of("app", "web"), "10.0.4.1").build());
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("prod").withName("web").endMetadata()
                .withNewSpec().withSelector(Map.of("app", "web"))
                .addNewPort().withName("web").withPort(80).withTargetPort(new IntOrString("http-web")).withAppProtocol("http").endPort()
                .addNewPort().withName("grpc-api").withPort(9090).endPort()
                .addNewPort().withName("db").withPort(5432).withTargetPort(new IntOrString(15432)).withAppProtocol("tcp").endPort()
                .endSpec().build()).create();
        await(d, "ports mapped", () -> at("10.0.4.1").map(w -> w.appProtocols().size() == 3).orElse(false));
        Workload w = at("10.0.4.1").orElseThrow();
        assertThat(w.appProtocol(8080)).isEqualTo(AppProtocol.HTTP);
        assertThat(w.appProtocol(9090)).isEqualTo(AppProtocol.GRPC);
        assertThat(w.appProtocol(15432)).isEqualTo(AppProtocol.TCP);
        assertThat(w.appProtocol(80)).isEqualTo(AppProtocol.AUTO);

        k8s.client.services().inNamespace("prod").withName("web").delete();
        await(d, "ports gone with the Service", () -> at("10.0.4.1").map(x -> x.appProtocols().isEmpty()).orElse(false));
    }

    /**
     * A dual-stack Service's {@code spec.clusterIPs} become its VIPs, each TCP port its service port → target port (a named
     * targetPort kept as the name, resolved per endpoint through its container ports; none: the port itself), its
     * endpoints the pods it selects: an outbound connection to either VIP picks the pod, at the address of the VIP's
     * family (istiod's constructServiceVIPs / constructServicePorts, ztunnel's find_upstream).
     */
    @Test
    @DisplayName("a Service's clusterIPs and ports reach the registry as VIPs whose connections pick a selected pod")
    void serviceClusterIpsBecomeVips() throws Exception {
        k8s.create(pod("prod", "web-1", "node-a", "web", Map.of("app", "web"), "10.0.4.1", "fd00:4::1").build());
        k8s.create(pod("prod", "db-1", "node-a", "db", Map.of("app", "db"), "10.0.4.2").build());
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("prod").withName("web").endMetadata()
                .withNewSpec().withSelector(Map.of("app", "web")).withClusterIP("10.96.0.10")
                .withClusterIPs("10.96.0.10", "fd00:10:96::a").withIpFamilies("IPv4", "IPv6")
                .addNewPort().withName("http").withPort(80).withTargetPort(new IntOrString("http-web")).endPort()
                .addNewPort().withName("admin").withPort(9090).endPort()
                .addNewPort().withName("dns").withPort(53).withProtocol("UDP").endPort()
                .endSpec().build()).create();
        InetAddress v6 = ip("fd00:10:96::a");
        InetAddress v4 = ip("10.96.0.10");
        await(d, "the Service installed", () -> registry.serviceAt(v6).isPresent()
                && !registry.endpoints(registry.serviceAt(v6).get()).isEmpty());
        io.zerohop.core.Service s = registry.serviceAt(ip("10.96.0.10")).orElseThrow();
        assertThat(s.hostname()).isEqualTo("web.prod.svc.cluster.local");
        assertThat(s.vips()).containsExactly(ip("10.96.0.10"), ip("fd00:10:96::a"));
        assertThat(s.ports()).as("TCP ports only").containsExactly(io.zerohop.core.Service.Port.named(80, "http-web"),
                io.zerohop.core.Service.Port.of(9090, 9090));
        assertThat(registry.endpoints(s)).extracting(Workload::toString).containsExactly("prod/web-1");
        assertThat(registry.pickEndpoint(s, 80, ip("10.96.0.10")).address())
                .isEqualTo(new java.net.InetSocketAddress(ip("10.0.4.1"), 8080));
        assertThat(registry.pickEndpoint(s, 9090, ip("fd00:10:96::a")).address())
                .isEqualTo(new java.net.InetSocketAddress(ip("fd00:4::1"), 9090));

        k8s.client.services().inNamespace("prod").withName("web").delete();
        await(d, "the VIPs gone with the Service", () -> registry.serviceAt(v4).isEmpty());
        assertThat(registry.services()).isEmpty();
    }

    /**
     * A Service's traffic distribution reaches the registry as istiod sends it: spec.trafficDistribution, else the
     * Service's networking.istio.io/traffic-distribution annotation, else its namespace's, which a namespace update
     * changes (istiod's GetTrafficDistribution with namespace inheritance).
     */
    @Test
    @DisplayName("spec.trafficDistribution and the namespace's traffic-distribution annotation become the Service's load balancing")
    void trafficDistributionFollowsTheServiceAndItsNamespace() throws Exception {
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("prod").withName("near").endMetadata()
                .withNewSpec().withSelector(Map.of("app", "web")).withClusterIP("10.96.0.30").withTrafficDistribution("PreferClose")
                .addNewPort().withPort(80).endPort().endSpec().build()).create();
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("prod").withName("plain").endMetadata()
                .withNewSpec().withSelector(Map.of("app", "web")).withClusterIP("10.96.0.31")
                .addNewPort().withPort(80).endPort().endSpec().build()).create();
        await(d, "both Services installed", () -> registry.services().size() == 2);
        assertThat(registry.serviceAt(ip("10.96.0.30")).orElseThrow().loadBalancing())
                .isSameAs(io.zerohop.core.Service.LoadBalancing.PREFER_SAME_ZONE);
        assertThat(registry.serviceAt(ip("10.96.0.31")).orElseThrow().loadBalancing()).isNull();

        io.fabric8.kubernetes.api.model.Namespace prod = k8s.client.namespaces().withName("prod").get();
        prod.getMetadata().setAnnotations(Map.of("networking.istio.io/traffic-distribution", "PreferSameNode"));
        k8s.client.resource(prod).update();
        await(d, "the namespace's annotation inherited", () -> registry.services().stream().anyMatch(s -> s.name().equals("plain")
                && s.loadBalancing() == io.zerohop.core.Service.LoadBalancing.PREFER_SAME_NODE));
        assertThat(registry.serviceAt(ip("10.96.0.30")).orElseThrow().loadBalancing()).as("its own spec first")
                .isSameAs(io.zerohop.core.Service.LoadBalancing.PREFER_SAME_ZONE);
    }

    /**
     * A pod that is not Ready is no endpoint of the Services selecting it (istiod's workload status UNHEALTHY, ztunnel's
     * should_include_endpoint), unless the Service publishes not-ready addresses (istiod: HealthPolicy ALLOW_ALL).
     */
    @Test
    @DisplayName("an unready pod is no VIP endpoint, except of a Service with publishNotReadyAddresses")
    void anUnreadyPodIsNoEndpoint() throws Exception {
        Pod unready = pod("prod", "web-1", "node-a", "web", Map.of("app", "web"), "10.0.4.1").build();
        unready.getStatus().getConditions().get(0).setStatus("False");
        k8s.create(unready);
        for (String[] svc : new String[][] {{"ready-only", "10.96.0.30", "false"}, {"all", "10.96.0.31", "true"}}) {
            k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("prod").withName(svc[0]).endMetadata()
                    .withNewSpec().withSelector(Map.of("app", "web")).withClusterIP(svc[1]).withClusterIPs(svc[1])
                    .withPublishNotReadyAddresses(Boolean.parseBoolean(svc[2]))
                    .addNewPort().withPort(80).withTargetPort(new IntOrString(8080)).endPort().endSpec().build()).create();
        }
        await(d, "both Services installed", () -> registry.services().size() == 2 && at("10.0.4.1").map(w -> w.services().size() == 2).orElse(false));
        io.zerohop.core.Service readyOnly = registry.serviceAt(ip("10.96.0.30")).orElseThrow();
        io.zerohop.core.Service all = registry.serviceAt(ip("10.96.0.31")).orElseThrow();
        assertThat(registry.endpoints(readyOnly)).isEmpty();
        assertThat(registry.pickEndpoint(readyOnly, 80, null)).isNull();
        assertThat(registry.endpoints(all)).extracting(Workload::name).containsExactly("web-1");

        Pod live = k8s.client.pods().inNamespace("prod").withName("web-1").get();
        live.getStatus().getConditions().get(0).setStatus("True");
        k8s.client.resource(live).update();
        await(d, "web-1 ready, an endpoint of both", () -> registry.endpoints(registry.services().get(1)).size() == 1
                && registry.endpoints(registry.services().get(0)).size() == 1);
    }

    /** A headless Service ({@code clusterIP: None}) has no VIP; an ExternalName Service is no Service to ambient (istiod). */
    @Test
    @DisplayName("a headless Service has no VIP and an ExternalName Service none at all")
    void headlessAndExternalNameServices() throws Exception {
        k8s.create(pod("prod", "web-1", "node-a", "web", Map.of("app", "web"), "10.0.4.1").build());
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("prod").withName("headless").endMetadata()
                .withNewSpec().withSelector(Map.of("app", "web")).withClusterIP("None").withClusterIPs("None")
                .addNewPort().withPort(80).endPort().endSpec().build()).create();
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("prod").withName("ext").endMetadata()
                .withNewSpec().withType("ExternalName").withExternalName("example.com").withClusterIP("10.96.0.12")
                .addNewPort().withPort(80).endPort().endSpec().build()).create();
        await(d, "the headless Service installed", () -> registry.services().size() == 1);
        io.zerohop.core.Service s = registry.services().get(0);
        assertThat(s.name()).isEqualTo("headless");
        assertThat(s.vips()).isEmpty();
        assertThat(registry.serviceAt(ip("10.96.0.12"))).isEmpty();
    }

    @Test
    @DisplayName("the node proxy's discovery keeps other nodes' pods (outbound) and tells the mesh its node (inbound serves only its own)")
    void otherNodesPodsStayForOutbound() throws Exception {
        k8s.create(pod("prod", "here", "node-a", "a", Map.of(), "10.0.5.1").build());
        k8s.create(pod("prod", "there", "node-b", "b", Map.of(), "10.0.5.2").build());
        await(d, "both pods", () -> registry.all().size() == 2);
        assertThat(d.node()).contains("node-a");
        assertThat(at("10.0.5.2").orElseThrow().node()).isEqualTo("node-b");
        assertThat(registry.all()).extracting(Workload::name).containsExactlyInAnyOrder("here", "there");
    }

    @Test
    @DisplayName("host-network pods share the node's address and are left out; pods without IPs wait")
    void hostNetworkAndPending() throws Exception {
        k8s.create(new PodBuilder(pod("kube-system", "kube-proxy-x", "node-a", "kp", Map.of(), "192.0.2.10").build())
                .editSpec().withHostNetwork(true).endSpec().build());
        k8s.create(new PodBuilder(pod("prod", "pending", "node-a", "p", Map.of()).build())
                .editStatus().withPhase("Pending").withPodIPs(List.<PodIP>of()).endStatus().build());
        k8s.create(pod("prod", "marker", "node-a", "m", Map.of(), "10.0.6.1").build());
        await(d, "marker", () -> at("10.0.6.1").isPresent());
        assertThat(registry.all()).extracting(Workload::name).containsExactly("marker");
        assertThat(at("192.0.2.10")).isEmpty();
    }

    /**
     * A Service of host-network pods (node-exporter, a host-network ingress controller) reaches them at the node's address:
     * istiod keeps such pods with {@code NetworkMode HOST_NETWORK} (pilot/pkg/serviceregistry/ambient/workloads.go
     * {@code podWorkloadBuilder}), so ztunnel relays a captured pod's connection to the VIP in plaintext. Here the address
     * becomes one workload without identity carrying each such Service, as an EndpointSlice endpoint that names no pod does.
     * A review pass (helper 256) found every connection to such a VIP refused, "no healthy upstream".
     */
    @Test
    void aServiceOfHostNetworkPodsReachesThemAtTheNodesAddress() throws Exception {
        k8s.create(new PodBuilder(pod("legacy", "exporter-abcde", "node-b", "exporter", Map.of("app", "exporter"), "192.0.2.20").build())
                .editSpec().withHostNetwork(true).addNewContainer().withName("exporter").addNewPort().withName("metrics")
                .withContainerPort(9100).endPort().endContainer().endSpec().build());
        k8s.create(new PodBuilder(pod("legacy", "ingress-xyz", "node-b", "ingress", Map.of("app", "ingress"), "192.0.2.20").build())
                .editSpec().withHostNetwork(true).endSpec().build());
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("legacy").withName("exporter").endMetadata()
                .withNewSpec().withSelector(Map.of("app", "exporter")).withClusterIP("10.96.4.1")
                .addNewPort().withName("http-metrics").withPort(9100).withTargetPort(new IntOrString("metrics")).endPort()
                .endSpec().build()).create();
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("legacy").withName("ingress").endMetadata()
                .withNewSpec().withSelector(Map.of("app", "ingress")).withClusterIP("10.96.4.2")
                .addNewPort().withName("http").withPort(80).withTargetPort(new IntOrString(8080)).endPort()
                .endSpec().build()).create();
        InetAddress vip1 = ip("10.96.4.1");
        InetAddress vip2 = ip("10.96.4.2");
        await(d, "both Services reach the node's address", () -> registry.serviceAt(vip1).isPresent()
                && registry.serviceAt(vip2).isPresent() && at("192.0.2.20").map(w -> w.services().size() == 2).orElse(false));
        Workload w = at("192.0.2.20").orElseThrow();
        assertThat(w.protocol()).isEqualTo(Workload.Protocol.TCP);
        assertThat(w.serviceAccount()).as("never lent the mesh's identity").isNull();
        assertThat(w.labels()).isEmpty();
        assertThat(registry.pickEndpoint(registry.serviceAt(ip("10.96.4.1")).orElseThrow(), 9100, ip("10.96.4.1")).address())
                .isEqualTo(new java.net.InetSocketAddress(ip("192.0.2.20"), 9100));
        assertThat(registry.pickEndpoint(registry.serviceAt(ip("10.96.4.2")).orElseThrow(), 80, ip("10.96.4.2")).address())
                .isEqualTo(new java.net.InetSocketAddress(ip("192.0.2.20"), 8080));
        k8s.client.pods().inNamespace("legacy").withName("exporter-abcde").delete();
        k8s.client.pods().inNamespace("legacy").withName("ingress-xyz").delete();
        await(d, "gone with its pods", () -> at("192.0.2.20").isEmpty());
    }
}
