package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.distribution.CountAtBucket;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.WorkloadRef;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The L7 path's {@code istio_requests_total} family has Istio's label set and histogram buckets, so that
 * Istio's Grafana dashboards (istio/istio manifests/addons/dashboards/lib/queries.libsonnet:
 * {@code histogram_quantile} over {@code istio_request_duration_milliseconds_bucket}, grouped by
 * {@code destination_workload}, {@code source_canonical_service}...) work unchanged. Found by a new-user
 * pass: the distributions had no buckets and ten of Istio's labels were missing.
 */
class HttpMetersTest {
    /**
     * Istio's standard metric labels (istio.io docs "Istio Standard Metrics", Labels; the same set ztunnel's
     * {@code CommonTrafficLabels} gives {@code istio_tcp_*}), plus the two HTTP-only ones.
     */
    private static final List<String> ISTIO_HTTP_LABELS = List.of("reporter", "source_workload", "source_canonical_service",
            "source_canonical_revision", "source_workload_namespace", "source_principal", "source_app", "source_version",
            "source_cluster", "destination_service", "destination_service_namespace", "destination_service_name",
            "destination_workload", "destination_canonical_service", "destination_canonical_revision",
            "destination_workload_namespace", "destination_principal", "destination_app", "destination_version",
            "destination_cluster", "request_protocol", "response_flags", "connection_security_policy", "response_code",
            "grpc_response_status");

    /** Envoy's default histogram buckets (envoyproxy/envoy api/envoy/config/metrics/v3/stats.proto, histogram_bucket_settings). */
    private static final double[] ENVOY_DEFAULT_BUCKETS = {0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
        30000, 60000, 300000, 600000, 1800000, 3600000};

    private static final WorkloadRef FRONTEND = new WorkloadRef("prod", "frontend-v2", "frontend",
            Map.of("app", "frontend", "version", "v2"));
    private static final WorkloadRef BACKEND = new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend"));

    private static HttpObserver.RequestLog request(WorkloadRef sourceRef, String grpcStatus) {
        InetSocketAddress src = new InetSocketAddress("10.0.0.1", 40000);
        InetSocketAddress dst = new InetSocketAddress("10.0.0.2", 8080);
        Conn c = new Conn("inbound", SpiffeIds.istio("cluster.local", "prod", "frontend"),
                SpiffeIds.istio("cluster.local", "prod", "backend"), src, src, dst, BACKEND, sourceRef,
                SpiffeIds.istio("cluster.local", "prod", "backend"));
        return new HttpObserver.RequestLog(c, "GET", "/", 200, 7_000_000L, null, 10, 2000, "HTTP/1.1", grpcStatus);
    }

    private static Map<String, String> tags(Meter m) {
        Map<String, String> t = new java.util.TreeMap<>();
        for (Tag tag : m.getId().getTags()) {
            t.put(tag.getKey(), tag.getValue());
        }
        return t;
    }

    @Test
    @DisplayName("istio_requests_total and the three distributions carry exactly Istio's label names")
    void istioLabelSet() {
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        new HttpMeters(meters).accept(request(FRONTEND, ""));
        for (String name : List.of("istio.requests", "istio.request.duration.milliseconds", "istio.request.bytes", "istio.response.bytes")) {
            Meter m = meters.find(name).meter();
            assertThat(m).as(name).isNotNull();
            assertThat(tags(m).keySet()).as(name).isEqualTo(new TreeSet<>(ISTIO_HTTP_LABELS));
        }
        Map<String, String> t = tags(meters.find("istio.requests").counter());
        assertThat(t).containsEntry("reporter", "destination").containsEntry("request_protocol", "http")
                .containsEntry("response_code", "200").containsEntry("grpc_response_status", "")
                .containsEntry("response_flags", "-").containsEntry("connection_security_policy", "mutual_tls")
                // the source workload at the peer's address with the peer's identity: its canonical labels
                .containsEntry("source_workload", "frontend-v2").containsEntry("source_canonical_service", "frontend")
                .containsEntry("source_canonical_revision", "v2").containsEntry("source_app", "frontend")
                .containsEntry("source_version", "v2").containsEntry("source_workload_namespace", "prod")
                .containsEntry("source_principal", "spiffe://cluster.local/ns/prod/sa/frontend")
                .containsEntry("destination_workload", "backend").containsEntry("destination_canonical_service", "backend")
                .containsEntry("destination_canonical_revision", "latest")
                .containsEntry("destination_principal", "spiffe://cluster.local/ns/prod/sa/backend");
    }

    @Test
    @DisplayName("a source address whose workload has another identity is not the caller: labels from the SPIFFE ID only")
    void sourceWorkloadMustHaveThePeersIdentity() {
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        new HttpMeters(meters).accept(request(new WorkloadRef("prod", "other", "other", Map.of("app", "other")), ""));
        Map<String, String> t = tags(meters.find("istio.requests").counter());
        assertThat(t).containsEntry("source_workload", "frontend").containsEntry("source_workload_namespace", "prod")
                .containsEntry("source_canonical_service", "unknown").containsEntry("source_app", "unknown");
    }

    @Test
    @DisplayName("through a node proxy (peer address not the caller's pod) the source comes from the tunnel's baggage, as the tunnel's istio_tcp_* labels")
    void nodeProxiedSourceFromBaggage() {
        InetSocketAddress proxy = new InetSocketAddress("10.0.9.1", 40000);
        Conn c = new Conn("inbound", SpiffeIds.istio("cluster.local", "prod", "frontend"),
                SpiffeIds.istio("cluster.local", "prod", "backend"), proxy, proxy, new InetSocketAddress("10.0.0.2", 8080),
                BACKEND, null, SpiffeIds.istio("cluster.local", "prod", "backend"),
                // ztunnel's baggage_header_val for a Deployment frontend-v2 (app=frontend, version=v2)
                "k8s.cluster.name=Kubernetes,k8s.namespace.name=prod,k8s.deployment.name=frontend-v2,service.name=frontend,service.version=v2");
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        new HttpMeters(meters).accept(new HttpObserver.RequestLog(c, "GET", "/", 200, 1_000_000L, null, 0, 0, "HTTP/1.1", ""));
        assertThat(tags(meters.find("istio.requests").counter())).containsEntry("source_workload", "frontend-v2")
                .containsEntry("source_canonical_service", "frontend").containsEntry("source_canonical_revision", "v2")
                .containsEntry("source_workload_namespace", "prod").containsEntry("source_cluster", "Kubernetes")
                .containsEntry("source_principal", "spiffe://cluster.local/ns/prod/sa/frontend");
    }

    @Test
    @DisplayName("every HTTP meter has a help text, so a Prometheus scrape prints no empty # HELP line (found by a new-user pass)")
    void everyMeterHasHelp() {
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        HttpMeters m = new HttpMeters(meters);
        m.accept(request(FRONTEND, ""));
        m.grpcMessages(request(FRONTEND, "").conn());
        List<String> names = List.of("istio.requests", "istio.request.duration.milliseconds", "istio.request.bytes",
                "istio.response.bytes", "istio.request.messages", "istio.response.messages");
        for (String name : names) {
            Meter meter = meters.find(name).meter();
            assertThat(meter).as(name).isNotNull();
            assertThat(meter.getId().getDescription()).as(name).isNotBlank();
        }
    }

    @Test
    @DisplayName("a gRPC response counts with request_protocol grpc, as Istio's")
    void grpcProtocol() {
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        new HttpMeters(meters).accept(request(FRONTEND, "7"));
        Counter c = meters.find("istio.requests").tag("request_protocol", "grpc").tag("grpc_response_status", "7").counter();
        assertThat(c).isNotNull();
        assertThat(c.count()).isEqualTo(1.0);
    }

    @Test
    @DisplayName("the duration and size distributions are histograms with Envoy's default buckets (dashboards read _bucket)")
    void envoyBuckets() {
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        new HttpMeters(meters).accept(request(FRONTEND, ""));
        for (String name : List.of("istio.request.duration.milliseconds", "istio.request.bytes", "istio.response.bytes")) {
            DistributionSummary s = meters.find(name).summary();
            double[] bounds = Arrays.stream(s.takeSnapshot().histogramCounts()).mapToDouble(CountAtBucket::bucket).toArray();
            assertThat(bounds).as(name).containsExactly(ENVOY_DEFAULT_BUCKETS);
        }
        // 7 ms falls in the le=10 bucket and above, not in le=5.
        CountAtBucket[] d = meters.find("istio.request.duration.milliseconds").summary().takeSnapshot().histogramCounts();
        assertThat(d[2].bucket()).isEqualTo(5.0);
        assertThat(d[2].count()).isZero();
        assertThat(d[3].bucket()).isEqualTo(10.0);
        assertThat(d[3].count()).isEqualTo(1.0);
    }
}
