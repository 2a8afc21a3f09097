package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.zerohop.core.GatewayAddress;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * {@link Waypoints} from Gateways as the informers keep them ({@link ObjectStrip#gateway}): which listener's
 * {@code allowedRoutes} decide who may attach (istio/istio pilot/pkg/serviceregistry/ambient/waypoints_test.go
 * {@code TestMakeAllowedRoutes}, each case named), and what the strip keeps.
 */
class WaypointsTest {
    static final String STATUS = "status: {addresses: [{type: Hostname, value: wp.ns.svc.cluster.local}]}\n";

    static GenericKubernetesResource gateway(String annotations, String listeners) {
        return ObjectStrip.gateway(Serialization.unmarshal("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: wp, namespace: ns, annotations: %s}
                spec: {gatewayClassName: istio-waypoint, listeners: %s}
                """.formatted(annotations, listeners) + STATUS, GenericKubernetesResource.class));
    }

    static Waypoints.Waypoint waypoint(GenericKubernetesResource gw, GenericKubernetesResource... classes) {
        Map<String, GenericKubernetesResource> byName = new java.util.HashMap<>();
        for (GenericKubernetesResource c : classes) {
            byName.put(c.getMetadata().getName(), c);
        }
        return Waypoints.of(List.of(gw), byName).get("ns/wp");
    }

    static void assertRoutes(Waypoints.Waypoint w, String from) {
        assertThat(w).isNotNull();
        assertThat(w.from()).isEqualTo(from);
    }

    @Test
    @DisplayName("TestMakeAllowedRoutes \"istio-waypoint defaults to same namespace\", \"istio-waypoint matching listener with"
            + " no allowed routes\": Same")
    void defaultsToSame() {
        assertRoutes(waypoint(gateway("{}", "[]")), "Same");
        assertRoutes(waypoint(gateway("{}", "[{protocol: HBONE, port: 15008}]")), "Same");
    }

    @Test
    @DisplayName("TestMakeAllowedRoutes \"istio-waypoint matching listener with allowed routes\" (All) and \"... with"
            + " selector\" (Selector app=test)")
    void hboneListener() {
        assertRoutes(waypoint(gateway("{}", "[{protocol: HBONE, port: 15008, allowedRoutes: {namespaces: {from: All}}}]")), "All");
        Waypoints.Waypoint w = waypoint(gateway("{}", "[{protocol: HBONE, port: 15008, allowedRoutes: {namespaces:"
                + " {from: Selector, selector: {matchLabels: {app: test}}}}}]"));
        assertRoutes(w, "Selector");
        assertThat(w.selector().matches(Map.of("app", "test"))).isTrue();
        assertThat(w.selector().matches(Map.of("app", "other"))).isFalse();
        // A listener on another port or protocol is not the HBONE one.
        assertRoutes(waypoint(gateway("{}", "[{protocol: HBONE, port: 15009, allowedRoutes: {namespaces: {from: All}}}]")), "Same");
    }

    @Test
    @DisplayName("TestMakeAllowedRoutes \"sandwiched waypoint defaults to same namespace\", \"sandwiched waypoint with listener"
            + " with allowed routes\" (both), \"... on port 0\": the ambient.istio.io/waypoint-inbound-binding listener's")
    void sandwichedWaypoint() {
        String proxy = "{ambient.istio.io/waypoint-inbound-binding: PROXY/15088}";
        assertRoutes(waypoint(gateway(proxy, "[{protocol: istio.io/PROXY, port: 15088}]")), "Same");
        assertRoutes(waypoint(gateway(proxy, "[{name: should be ignored, protocol: istio.io/PROXY, port: 15089,"
                + " allowedRoutes: {namespaces: {from: Same}}}, {name: should be used, protocol: istio.io/PROXY, port: 15088,"
                + " allowedRoutes: {namespaces: {from: All}}}]")), "All");
        assertRoutes(waypoint(gateway(proxy, "[{name: should be ignored, protocol: istio.io/PROXY, port: 15089},"
                + " {name: should be used, protocol: istio.io/PROXY, port: 15088, allowedRoutes: {namespaces: {from: All}}}]")), "All");
        assertRoutes(waypoint(gateway("{ambient.istio.io/waypoint-inbound-binding: PROXY}", "[{name: should be used,"
                + " protocol: istio.io/PROXY, port: 15015, allowedRoutes: {namespaces: {from: All}}}]")), "All");
    }

    @Test
    @DisplayName("getGatewayOrGatewayClassAnnotation: the GatewayClass's inbound binding when the Gateway has none; its"
            + " istio.io/waypoint-for when the Gateway has none")
    void gatewayClassAnnotationAndLabel() {
        GenericKubernetesResource cls = ObjectStrip.gatewayClass(Serialization.unmarshal("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata:
                  name: istio-waypoint
                  labels: {istio.io/waypoint-for: all}
                  annotations: {ambient.istio.io/waypoint-inbound-binding: PROXY/15088, other: dropped}
                spec: {controllerName: istio.io/mesh-controller}
                """, GenericKubernetesResource.class));
        assertThat(cls.getMetadata().getAnnotations()).containsOnlyKeys("ambient.istio.io/waypoint-inbound-binding");
        assertThat(cls.getAdditionalProperties()).isEmpty();
        Waypoints.Waypoint w = waypoint(gateway("{}", "[{protocol: istio.io/PROXY, port: 15088, allowedRoutes: {namespaces:"
                + " {from: All}}}, {protocol: HBONE, port: 15008}]"), cls);
        assertRoutes(w, "All");
        assertThat(w.trafficType()).isEqualTo("all");
        assertThat(w.address()).isEqualTo(GatewayAddress.of("ns", "wp.ns.svc.cluster.local"));
    }

    @Test
    @DisplayName("ObjectStrip.gateway keeps what Waypoints reads (labels, the binding annotation, class, listeners' port,"
            + " protocol and allowedRoutes.namespaces, status addresses) and drops the rest (conditions, TLS, hostnames)")
    void stripKeepsWhatIsRead() {
        GenericKubernetesResource g = ObjectStrip.gateway(Serialization.unmarshal("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata:
                  name: wp
                  namespace: ns
                  resourceVersion: "7"
                  labels: {istio.io/waypoint-for: all}
                  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}", ambient.istio.io/waypoint-inbound-binding: NONE}
                  managedFields: [{manager: istiod}]
                spec:
                  gatewayClassName: istio-waypoint
                  listeners:
                  - name: mesh
                    port: 15008
                    protocol: HBONE
                    hostname: x.example
                    tls: {mode: Terminate}
                    allowedRoutes: {namespaces: {from: All}, kinds: [{kind: HTTPRoute}]}
                status:
                  addresses: [{type: Hostname, value: wp.ns.svc.cluster.local}]
                  conditions: [{type: Programmed, status: "True"}]
                  listeners: [{name: mesh, attachedRoutes: 0}]
                """, GenericKubernetesResource.class));
        assertThat(g.getMetadata().getManagedFields()).isNullOrEmpty();
        assertThat(g.getMetadata().getAnnotations()).containsOnlyKeys("ambient.istio.io/waypoint-inbound-binding");
        assertThat(g.getMetadata().getLabels()).containsEntry("istio.io/waypoint-for", "all");
        assertThat(g.getMetadata().getResourceVersion()).isEqualTo("7");
        assertThat(Serialization.asJson(g.getAdditionalProperties())).isEqualTo("{\"spec\":{\"gatewayClassName\":\"istio-waypoint\","
                + "\"listeners\":[{\"port\":15008,\"protocol\":\"HBONE\",\"allowedRoutes\":{\"namespaces\":{\"from\":\"All\"}}}]},"
                + "\"status\":{\"addresses\":[{\"type\":\"Hostname\",\"value\":\"wp.ns.svc.cluster.local\"}]}}");
        Waypoints.Waypoint w = waypoint(g);
        assertRoutes(w, "All");
        assertThat(w.trafficType()).isEqualTo("all");
    }

    @Test
    @DisplayName("a Gateway whose spec.listeners is no list is left out alone, naming the field; one without status.addresses"
            + " is no waypoint")
    void badAndNotReadyGateways() {
        GenericKubernetesResource bad = ObjectStrip.gateway(Serialization.unmarshal("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: bad, namespace: ns}
                spec: {listeners: oops}
                """ + STATUS, GenericKubernetesResource.class));
        GenericKubernetesResource notReady = ObjectStrip.gateway(Serialization.unmarshal("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: wp, namespace: ns}
                spec: {gatewayClassName: istio-waypoint}
                status: {addresses: []}
                """, GenericKubernetesResource.class));
        Waypoints w = Waypoints.of(List.of(bad, notReady, gateway("{}", "[]")), Map.of());
        assertThat(w.size()).isEqualTo(1);
        assertThat(w.get("ns/bad")).isNull();
    }
}
