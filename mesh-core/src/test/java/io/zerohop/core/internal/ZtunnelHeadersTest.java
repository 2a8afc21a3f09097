package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.Workload;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** ztunnel's CONNECT request headers and Istio's label conventions, with cases from their sources. */
class ZtunnelHeadersTest {

    /** istio/ztunnel src/proxy/outbound.rs, test build_forwarded. */
    @Test
    void forwardedAsZtunnelBuildsIt() throws Exception {
        assertThat(OutboundHeaders.forwarded(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 80), null))
                .isEqualTo("for=\"127.0.0.1:80\"");
        assertThat(OutboundHeaders.forwarded(new InetSocketAddress(InetAddress.getByName("::1"), 80), null))
                .isEqualTo("for=\"[::1]:80\"");
        assertThat(OutboundHeaders.forwarded(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 80), "example.com"))
                .isEqualTo("for=\"127.0.0.1:80\";host=example.com");
        // The embedded API, no captured client: the Service alone, nothing for a workload destination.
        assertThat(OutboundHeaders.forwarded(null, "example.com")).isEqualTo("host=example.com");
        assertThat(OutboundHeaders.forwarded(null, null)).isNull();
    }

    /**
     * istio/ztunnel src/proxy.rs, test test_parse_forwarded_host, and what build_forwarded and the embedded API send: the
     * host= of any part, trimmed, quotes stripped; none when empty or when the value is not ASCII.
     */
    @Test
    void forwardedHostParsedAsZtunnelParsesIt() {
        assertThat(TunnelObserver.forwardedHost("by=identifier;for=identifier;host=example.com;proto=https")).isEqualTo("example.com");
        assertThat(TunnelObserver.forwardedHost("by=identifier;for=identifier;host=\"example.com\";proto=https")).isEqualTo("example.com");
        assertThat(TunnelObserver.forwardedHost("by=identifier;for=identifier;proto=https")).isNull();
        assertThat(TunnelObserver.forwardedHost("by=identifier;for=identifier;host=;proto=https")).isNull();
        assertThat(TunnelObserver.forwardedHost("for=for;by=by;host=host;proto=\"pröto\"")).isNull();
        assertThat(TunnelObserver.forwardedHost("for=\"127.0.0.1:80\";host=example.com")).isEqualTo("example.com");
        assertThat(TunnelObserver.forwardedHost("host=example.com")).isEqualTo("example.com");
        assertThat(TunnelObserver.forwardedHost("host=example.com;for=\"10.0.0.1:5\"")).isEqualTo("example.com");
        assertThat(TunnelObserver.forwardedHost("for=\"10.0.0.1:5\"; host=example.com")).isEqualTo("example.com");
        assertThat(TunnelObserver.forwardedHost("for=\"10.0.0.1:5\"")).isNull();
        // Two headers joined: ztunnel reads the first alone.
        assertThat(TunnelObserver.forwardedHost("for=\"10.0.0.1:5\", for=\"10.0.0.2:5\";host=other.com")).isNull();
        assertThat(TunnelObserver.forwardedHost((String) null)).isNull();
    }

    /** istio/ztunnel src/baggage.rs, tests baggage_parser and baggage_parser_empty_values. */
    @Test
    void baggageParsedAsZtunnelParsesIt() {
        Baggage b = Baggage.parse("k8s.cluster.name=K1,k8s.namespace.name=NS1,k8s.deployment.name=N1,service.name=N2,service.version=V1");
        assertThat(b).isEqualTo(new Baggage("K1", "NS1", "N1", "N2", "V1", null, null));
        assertThat(Baggage.parse("k8s.cluster.name=,k8s.namespace.name=,k8s.deployment.name=,service.name=,service.version="))
                .isEqualTo(Baggage.EMPTY);
        assertThat(Baggage.parse(null)).isEqualTo(Baggage.EMPTY);
        // Repeated headers arrive joined with ", " (baggage_parser_multiline); any workload kind names the workload.
        assertThat(Baggage.parse("k8s.cluster.name=K1, k8s.namespace.name=NS1, k8s.cronjob.name=N1, service.name=N2"))
                .isEqualTo(new Baggage("K1", "NS1", "N1", "N2", null, null, null));
    }

    /**
     * ztunnel reads the baggage header with hyper's {@code HeaderValue::to_str} (src/baggage.rs parse_baggage_header), which
     * fails on any byte but visible ASCII, SP and HTAB, and inbound.rs takes the failure as no baggage
     * ({@code unwrap_or_default}): a non-ASCII or control byte anywhere drops every member. zerohop read the others.
     */
    @Test
    void baggageWithAByteHyperRefusesIsNoBaggageAtAll() {
        // Netty's HPACK decoder gives byte 0xE9 as U+00E9.
        assertThat(Baggage.parse("k8s.namespace.name=NS1,service.name=caf\u00e9")).isEqualTo(Baggage.EMPTY);
        assertThat(Baggage.parse("k8s.namespace.name=NS1,x=\u0001,service.name=N2")).isEqualTo(Baggage.EMPTY);
        assertThat(Baggage.parse("k8s.namespace.name=NS1,x=\u007f")).isEqualTo(Baggage.EMPTY);
        // A tab passes to_str: the value keeps it.
        assertThat(Baggage.parse("k8s.namespace.name=NS1,service.name=a\tb")).isEqualTo(new Baggage(null, "NS1", null, "a\tb", null, null, null));
    }

    /** istio/ztunnel src/baggage.rs, test baggage_header_val_can_be_parsed: what we send reads back the same. */
    @Test
    void baggageRoundTrips() {
        Baggage b = new Baggage("cluster", "default", "workload", "service", null, null, null);
        assertThat(b.header()).isEqualTo("k8s.cluster.name=cluster,k8s.namespace.name=default,k8s.deployment.name=workload,service.name=service");
        assertThat(Baggage.parse(b.header())).isEqualTo(b);
        assertThat(Baggage.EMPTY.header()).isEmpty();
    }

    /** istio/istio pkg/kube/labels/labels.go CanonicalService: label order, workload-name and "latest" fallbacks. */
    @Test
    void canonicalServiceAndRevisionAsIstio() {
        assertThat(TrafficLabels.canonicalService(Map.of("service.istio.io/canonical-name", "csn", "app.kubernetes.io/name", "k", "app", "a"), "w"))
                .isEqualTo("csn");
        assertThat(TrafficLabels.canonicalService(Map.of("app.kubernetes.io/name", "k", "app", "a"), "w")).isEqualTo("k");
        assertThat(TrafficLabels.canonicalService(Map.of("app", "a"), "w")).isEqualTo("a");
        assertThat(TrafficLabels.canonicalService(Map.of(), "w")).isEqualTo("w");
        assertThat(TrafficLabels.canonicalRevision(Map.of("service.istio.io/canonical-revision", "r1", "version", "v2"))).isEqualTo("r1");
        assertThat(TrafficLabels.canonicalRevision(Map.of("app.kubernetes.io/version", "k", "version", "v2"))).isEqualTo("k");
        assertThat(TrafficLabels.canonicalRevision(Map.of("version", "v2"))).isEqualTo("v2");
        assertThat(TrafficLabels.canonicalRevision(Map.of())).isEqualTo("latest");
    }

    @Test
    void baggageOfARegistryWorkload() throws Exception {
        Workload w = new Workload("prod", "reviews-v2", "reviews", Map.of("app", "reviews", "version", "v2",
                "topology.istio.io/cluster", "c1"), List.of(InetAddress.getByName("10.0.0.1")), Workload.Protocol.HBONE, null, "cluster.local");
        assertThat(Baggage.of(w).header()).isEqualTo(
                "k8s.cluster.name=c1,k8s.namespace.name=prod,k8s.deployment.name=reviews-v2,service.name=reviews,service.version=v2");
        // Without the label, the mesh's cluster id: ztunnel's Workload::baggage sends the workload's
        // cluster_id, which istiod fills and ztunnel defaults to "Kubernetes" (src/state/workload.rs).
        Workload plain = new Workload("prod", "reviews-v2", "reviews", Map.of("app", "reviews"),
                List.of(InetAddress.getByName("10.0.0.1")), Workload.Protocol.HBONE, null, "cluster.local");
        assertThat(Baggage.of(plain).header()).startsWith("k8s.cluster.name=Kubernetes,k8s.namespace.name=prod,");
        assertThat(Baggage.of(plain, "west").header()).startsWith("k8s.cluster.name=west,");
        assertThat(Baggage.of(w, "west").header()).as("the label wins").startsWith("k8s.cluster.name=c1,");
    }

    /** W3C trace context as ztunnel's TraceParent: 00-<32 hex>-<16 hex>-00, fresh per tunnel. */
    @Test
    void traceparentIsFreshAndWellFormed() {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 100; i++) {
            String t = OutboundHeaders.traceparent();
            assertThat(t).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-00").hasSize(55);
            seen.add(t);
        }
        assertThat(seen).hasSize(100);
        assertThat(OutboundHeaders.withDefaults(Map.of("traceparent", "mine"), null, null, null)).containsEntry("traceparent", "mine")
                .doesNotContainKeys("baggage", "forwarded");
    }
}
