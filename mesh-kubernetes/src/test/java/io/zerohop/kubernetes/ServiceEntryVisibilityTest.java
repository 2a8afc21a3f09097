package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.zerohop.core.Service;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.kubernetes.ServiceEntryVisibility.Visibility;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * MeshConfig's {@code serviceEntryVisibility} as istiod applies it to ServiceEntries (istio/istio
 * pilot/pkg/serviceregistry/ambient/services.go {@code serviceEntriesInfo}, pilot/pkg/model/serviceentry_visibility.go
 * {@code VisibilityFor}): the four cases of services_test.go {@code TestServiceEntryServices} "ServiceEntry visibility
 * NAMESPACE via namespaceSelector", "ServiceEntry visibility NONE is dropped", "ServiceEntry falls back to
 * defaultVisibility NAMESPACE when no policy matches", "ServiceEntry visibility uses the first matching policy in
 * order", through fabric8's CRUD mock API server, read as ztunnel reads the visibility ({@code Service::visible_to}:
 * {@link WorkloadRegistry#serviceAt(java.net.InetAddress, String)}). Registry addresses only; nothing listens on them.
 * Until 7 December (h410) every ServiceEntry was PUBLIC whatever the mesh config said.
 */
class ServiceEntryVisibilityTest {
    @RegisterExtension
    final MockCluster k8s = new MockCluster();

    static LabelSelector named(String namespace) {
        return new LabelSelectorBuilder().withMatchLabels(Map.of("kubernetes.io/metadata.name", namespace)).build();
    }

    KubernetesDiscovery start(ServiceEntryVisibility v) throws Exception {
        k8s.client.resource(namespace("ns", Map.of("kubernetes.io/metadata.name", "ns"))).create();
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: se, namespace: ns}
                spec:
                  hosts: [a.example.com]
                  addresses: [240.240.214.1]
                  ports: [{number: 80, name: http}]
                  resolution: STATIC
                  endpoints: [{address: 127.0.214.200}]
                """);
        KubernetesDiscovery d = k8s.startSynced(KubernetesDiscovery.forNode(k8s.client, "node-a").serviceEntryVisibility(v));
        await(d, "the entry's endpoint", () -> KubernetesWorkloadsTest.at(d.registry(), "127.0.214.200").isPresent());
        return d;
    }

    java.util.Optional<Service> seen(KubernetesDiscovery d, String clientNamespace) throws Exception {
        return d.registry().serviceAt(KubernetesWorkloadsTest.ip("240.240.214.1"), clientNamespace);
    }

    @Test
    @DisplayName("\"visibility NAMESPACE via namespaceSelector\": the entry's VIP resolves for its own namespace's clients only,"
            + " and the entry is not canonical")
    void namespaceViaSelector() throws Exception {
        KubernetesDiscovery d = start(ServiceEntryVisibility.builder().defaultVisibility(Visibility.PUBLIC)
                .policy(Visibility.NAMESPACE, named("ns")).build());
        Service s = seen(d, "ns").orElseThrow();
        assertThat(s.visibility()).isEqualTo(Service.Visibility.NAMESPACE);
        assertThat(s.canonical()).isFalse();
        assertThat(seen(d, "other")).as("a client of another namespace").isEmpty();
    }

    @Test
    @DisplayName("\"visibility NONE is dropped\": no Service of the entry; its endpoint stays a workload carrying none")
    void noneIsDropped() throws Exception {
        KubernetesDiscovery d = start(ServiceEntryVisibility.builder().defaultVisibility(Visibility.NONE).build());
        assertThat(seen(d, "ns")).isEmpty();
        assertThat(d.registry().services()).isEmpty();
        assertThat(KubernetesWorkloadsTest.at(d.registry(), "127.0.214.200").orElseThrow().services()).isEmpty();
    }

    @Test
    @DisplayName("\"falls back to defaultVisibility NAMESPACE when no policy matches\"")
    void defaultWhenNoPolicyMatches() throws Exception {
        KubernetesDiscovery d = start(ServiceEntryVisibility.builder().defaultVisibility(Visibility.NAMESPACE)
                .policy(Visibility.PUBLIC, named("other")).build());
        assertThat(seen(d, "ns").orElseThrow().visibility()).isEqualTo(Service.Visibility.NAMESPACE);
        assertThat(seen(d, "other")).isEmpty();
    }

    @Test
    @DisplayName("\"uses the first matching policy in order\": NAMESPACE before NONE, both matching")
    void firstMatchingPolicy() throws Exception {
        KubernetesDiscovery d = start(ServiceEntryVisibility.builder().defaultVisibility(Visibility.PUBLIC)
                .policy(Visibility.NAMESPACE, named("ns")).policy(Visibility.NONE, named("ns")).build());
        assertThat(seen(d, "ns").orElseThrow().visibility()).isEqualTo(Service.Visibility.NAMESPACE);
        assertThat(seen(d, "other")).isEmpty();
    }

    @Test
    @DisplayName("unset (istiod without serviceEntryVisibility): PUBLIC and canonical, seen from every namespace")
    void unsetIsPublic() throws Exception {
        KubernetesDiscovery d = start(ServiceEntryVisibility.UNSET);
        Service s = seen(d, "other").orElseThrow();
        assertThat(s.visibility()).isEqualTo(Service.Visibility.PUBLIC);
        assertThat(s.canonical()).isTrue();
    }

    @Test
    @DisplayName("a selector istiod could not compile is refused with its field named")
    void badSelectorIsRefused() {
        LabelSelector bad = new LabelSelectorBuilder().addNewMatchExpression().withKey("team").withOperator("Like")
                .endMatchExpression().build();
        assertThatThrownBy(() -> ServiceEntryVisibility.builder().policy(Visibility.NAMESPACE, named("x"), bad).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("serviceEntryVisibility.policies[0].matchingRules[1].namespaceSelector.matchExpressions[0].operator:"
                        + " \"Like\" is none of In, NotIn, Exists, DoesNotExist");
    }

    @Test
    @DisplayName("waypoints.go fetchWaypointForService: a NAMESPACE-visible entry naming a waypoint of another namespace gets"
            + " none (WaypointCrossNamespaceForbidden); a PUBLIC one naming it, and a NAMESPACE one naming its own"
            + " namespace's, get theirs")
    void aNamespaceVisibleEntryTakesNoWaypointOfAnotherNamespace() throws Exception {
        k8s.client.resource(namespace("infra", Map.of("kubernetes.io/metadata.name", "infra"))).create();
        k8s.client.resource(namespace("pub", Map.of("kubernetes.io/metadata.name", "pub"))).create();
        for (String[] g : new String[][] {{"infra", "127.0.214.80"}, {"ns", "127.0.214.81"}}) {
            k8s.apply("""
                    apiVersion: gateway.networking.k8s.io/v1
                    kind: Gateway
                    metadata: {name: wp, namespace: %s}
                    spec:
                      gatewayClassName: istio-waypoint
                      listeners: [{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: All}}}]
                    status: {addresses: [{type: IPAddress, value: %s}]}
                    """.formatted(g[0], g[1]));
        }
        String[][] entries = {{"ns", "cross", "infra", "240.240.214.11"}, {"pub", "cross", "infra", "240.240.214.12"},
                {"ns", "own", "ns", "240.240.214.13"}};
        for (String[] e : entries) {
            k8s.apply("""
                    apiVersion: networking.istio.io/v1
                    kind: ServiceEntry
                    metadata:
                      name: %s
                      namespace: %s
                      labels: {istio.io/use-waypoint: wp, istio.io/use-waypoint-namespace: %s}
                    spec:
                      hosts: [%s.%s.example.com]
                      addresses: [%s]
                      ports: [{number: 80, name: http}]
                      resolution: STATIC
                    """.formatted(e[1], e[0], e[2], e[1], e[0], e[3]));
        }
        KubernetesDiscovery d = start(ServiceEntryVisibility.builder().policy(Visibility.NAMESPACE, named("ns")).build());
        await(d, "the three entries' VIPs", () -> KubernetesWorkloadsTest.vip(d.registry(), "240.240.214.11").isPresent()
                && KubernetesWorkloadsTest.vip(d.registry(), "240.240.214.12").isPresent()
                && KubernetesWorkloadsTest.vip(d.registry(), "240.240.214.13").isPresent());
        assertThat(KubernetesWorkloadsTest.vip(d.registry(), "240.240.214.11").orElseThrow().waypoint()).as("NAMESPACE, infra's")
                .isNull();
        assertThat(KubernetesWorkloadsTest.vip(d.registry(), "240.240.214.12").orElseThrow().waypoint()).as("PUBLIC, infra's")
                .isEqualTo(io.zerohop.core.GatewayAddress.of(KubernetesWorkloadsTest.ip("127.0.214.80")));
        assertThat(KubernetesWorkloadsTest.vip(d.registry(), "240.240.214.13").orElseThrow().waypoint()).as("NAMESPACE, its own")
                .isEqualTo(io.zerohop.core.GatewayAddress.of(KubernetesWorkloadsTest.ip("127.0.214.81")));
    }
}
