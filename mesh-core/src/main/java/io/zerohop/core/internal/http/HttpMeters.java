package io.zerohop.core.internal.http;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.WorkloadRef;
import java.util.function.Consumer;

/**
 * Istio's standard HTTP metrics as the destination side reports them (a waypoint or sidecar:
 * {@code reporter="destination"}), through Micrometer: {@code istio.requests} becomes
 * {@code istio_requests_total} in Prometheus text, the duration and size summaries keep their
 * Istio names ({@code istio_request_duration_milliseconds}, {@code istio_request_bytes},
 * {@code istio_response_bytes}). Labels are the subset of Istio's that zerohop knows, named and
 * valued as {@code istio_tcp_*}'s in mesh-core, plus {@code response_code}.
 * Only loaded when a meter registry is configured (Micrometer is optional).
 */
final class HttpMeters implements Consumer<HttpObserver.RequestLog> {
    private final MeterRegistry registry;

    HttpMeters(Object registry) {
        this.registry = (MeterRegistry) registry;
    }

    @Override
    public void accept(HttpObserver.RequestLog r) {
        Conn c = r.conn();
        String srcNs = c.peer() == null ? "unknown" : SpiffeIds.namespace(c.peer()).orElse("unknown");
        String srcWl = c.sourceRef() != null && c.peer() != null ? c.sourceRef().name()
                : c.peer() == null ? "unknown" : SpiffeIds.serviceAccount(c.peer()).orElse("unknown");
        WorkloadRef d = c.target();
        Tags t = Tags.of(
                "reporter", "destination",
                "source_principal", c.peer() == null ? "unknown" : c.peer().toString(),
                "source_workload", srcWl,
                "source_workload_namespace", srcNs,
                "destination_principal", c.localId() == null ? "unknown" : c.localId().toString(),
                "destination_workload", d.name().isEmpty() ? "unknown" : d.name(),
                "destination_workload_namespace", d.namespace(),
                "request_protocol", "http",
                "response_code", Integer.toString(r.status()),
                "grpc_response_status", r.grpcStatus(),
                "connection_security_policy", c.peer() == null ? "none" : "mutual_tls");
        Counter.builder("istio.requests").tags(t).register(registry).increment();
        DistributionSummary.builder("istio.request.duration.milliseconds").tags(t).register(registry)
                .record(r.durationNanos() / 1_000_000.0);
        DistributionSummary.builder("istio.request.bytes").tags(t).register(registry).record(r.requestBytes());
        DistributionSummary.builder("istio.response.bytes").tags(t).register(registry).record(r.responseBytes());
    }
}
