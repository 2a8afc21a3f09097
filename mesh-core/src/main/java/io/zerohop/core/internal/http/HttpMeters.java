package io.zerohop.core.internal.http;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.zerohop.core.internal.Baggage;
import io.zerohop.core.internal.MicrometerSink;
import io.zerohop.core.internal.TrafficLabels;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.WorkloadRef;
import java.util.function.Consumer;

/**
 * Istio's standard HTTP metrics as the destination side reports them (a waypoint or sidecar:
 * {@code reporter="destination"}), through Micrometer: {@code istio.requests} becomes
 * {@code istio_requests_total} in Prometheus text, the duration and size distributions keep their
 * Istio names ({@code istio_request_duration_milliseconds}, {@code istio_request_bytes},
 * {@code istio_response_bytes}) and are histograms with Envoy's default buckets
 * ({@link #ENVOY_BUCKETS}), so that dashboards' {@code histogram_quantile(..._bucket)} panels work.
 * Labels are Istio's: ztunnel's {@code istio_tcp_*} set ({@link MicrometerSink#tags}) with
 * {@code request_protocol} {@code http} or {@code grpc}, plus {@code response_code} and
 * {@code grpc_response_status}. Only loaded when a meter registry is configured (Micrometer is optional).
 */
final class HttpMeters implements Consumer<HttpObserver.RequestLog> {
    /**
     * Envoy's default histogram buckets (envoy/api {@code config/metrics/v3/stats.proto},
     * {@code histogram_bucket_settings}), which Istio's proxies use for all three distributions.
     */
    static final double[] ENVOY_BUCKETS = {0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
        300000, 600000, 1800000, 3600000};

    /**
     * Help texts of the six HTTP meters, after the descriptions on Istio's "Istio Standard Metrics" page (istio.io
     * docs/reference/config/metrics), so that a Prometheus text scrape says what each is (Micrometer prints an empty
     * {@code # HELP} line for a meter without one). Envoy's own scrape prints no HELP line at all. The page calls the two
     * sizes body sizes; what its stats filter records is the wire size, head included ({@link #accept}), and so do these texts.
     */
    static final String REQUESTS = "Requests handled by this proxy.";
    static final String DURATION = "The duration of requests, in milliseconds.";
    static final String REQUEST_BYTES = "HTTP request sizes as received, head and body, in bytes.";
    static final String RESPONSE_BYTES = "HTTP response sizes as sent, head and body, in bytes.";
    static final String REQUEST_MESSAGES = "gRPC messages sent by clients.";
    static final String RESPONSE_MESSAGES = "gRPC messages sent by servers.";

    private final MeterRegistry registry;
    private final String clusterId;

    HttpMeters(Object registry) {
        this(registry, TrafficLabels.DEFAULT_CLUSTER);
    }

    /** @param clusterId the cluster of registry workloads without a {@code topology.istio.io/cluster} label */
    HttpMeters(Object registry, String clusterId) {
        this.registry = (MeterRegistry) registry;
        this.clusterId = clusterId;
    }

    @Override
    public void accept(HttpObserver.RequestLog r) {
        Tags t = tags(r, clusterId);
        Counter.builder("istio.requests").description(REQUESTS).tags(t).register(registry).increment();
        histogram("istio.request.duration.milliseconds", DURATION, t).record(r.durationNanos() / 1_000_000.0);
        // The request's wire bytes, not its body's: what Istio's stats filter records (istio/proxy source/extensions/
        // filters/http/istio_stats/istio_stats.cc IstioStatsFilter::log, the downstream BytesMeter's wireBytesReceived()
        // and wireBytesSent() since its native rewrite of 2022; the Wasm filter before it took request.total_size).
        histogram("istio.request.bytes", REQUEST_BYTES, t).record(r.wireBytesReceived());
        histogram("istio.response.bytes", RESPONSE_BYTES, t).record(r.wireBytesSent());
    }

    private DistributionSummary histogram(String name, String help, Tags t) {
        return DistributionSummary.builder(name).description(help).tags(t).serviceLevelObjectives(ENVOY_BUCKETS).register(registry);
    }

    static Tags tags(HttpObserver.RequestLog r) {
        return tags(r, TrafficLabels.DEFAULT_CLUSTER);
    }

    static Tags tags(HttpObserver.RequestLog r, String clusterId) {
        TrafficLabels l = labels(r.conn(), clusterId).withRequestProtocol(r.grpcRequest() ? "grpc" : "http").withResponseFlags(r.responseFlags());
        return MicrometerSink.tags(l).and("response_code", Integer.toString(r.status()), "grpc_response_status", r.grpcStatus());
    }

    /**
     * The two message counters of a gRPC stream on {@code c}: {@code istio.request.messages} and
     * {@code istio.response.messages} ({@code istio_request_messages_total}, {@code istio_response_messages_total} in
     * Prometheus text), labelled with the peers only, as istio/proxy reports them ({@code testdata/metric/
     * server_request_messages.yaml.tmpl}: reporter, source_* and destination_*, no request_protocol, response_code,
     * grpc_response_status, response_flags or connection_security_policy). Incremented as messages start, so a
     * long-lived stream's counts grow while it is open (Istio's grow at its periodic reports).
     */
    HttpObserver.MessageCounters grpcMessages(Conn c) {
        Tags t = peerTags(labels(c, clusterId));
        Counter request = Counter.builder("istio.request.messages").description(REQUEST_MESSAGES).tags(t).register(registry);
        Counter response = Counter.builder("istio.response.messages").description(RESPONSE_MESSAGES).tags(t).register(registry);
        return new HttpObserver.MessageCounters() {
            @Override
            public void request(int n) {
                request.increment(n);
            }

            @Override
            public void response(int n) {
                response.increment(n);
            }
        };
    }

    private static final java.util.Set<String> NOT_PEER = java.util.Set.of("request_protocol", "response_flags", "connection_security_policy");

    private static Tags peerTags(TrafficLabels l) {
        java.util.List<io.micrometer.core.instrument.Tag> peer = new java.util.ArrayList<>();
        for (io.micrometer.core.instrument.Tag tag : MicrometerSink.tags(l)) {
            if (!NOT_PEER.contains(tag.getKey())) {
                peer.add(tag);
            }
        }
        return Tags.of(peer);
    }

    /** The reporter and peer labels of a request on {@code c} (its protocol and response flags left at their defaults). */
    private static TrafficLabels labels(Conn c, String clusterId) {
        String principal = c.peer() == null ? null : c.peer().toString();
        WorkloadRef sw = sourceWorkload(c);
        // As the tunnel's istio_tcp_* labels (TunnelObserver.labels): the tunnel's source workload
        // (TunnelSource: of the peer's identity, at the peer's address or named by a node proxy's
        // forwarded: for=), else what the tunnel's baggage says (ztunnel's derived source), else what
        // the SPIFFE ID says.
        TrafficLabels.Peer source = sw != null || c.baggage() == null ? TrafficLabels.Peer.of(sw, principal, clusterId)
                : TrafficLabels.Peer.derived(Baggage.parse(c.baggage()), principal);
        if (c.peer() != null && source.workload().equals(TrafficLabels.UNKNOWN)) {
            // No registry workload with this identity at the source address: what the identity says (Istio's layout).
            source = new TrafficLabels.Peer(SpiffeIds.serviceAccount(c.peer()).orElse(TrafficLabels.UNKNOWN),
                    TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN, SpiffeIds.namespace(c.peer()).orElse(TrafficLabels.UNKNOWN),
                    principal, TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN,
                    TrafficLabels.UNKNOWN);
        }
        WorkloadRef d = c.target();
        TrafficLabels.Peer destination = TrafficLabels.Peer.of(d.name().isEmpty() ? null : d,
                c.localId() == null ? null : c.localId().toString(), clusterId);
        if (d.name().isEmpty()) {
            destination = new TrafficLabels.Peer(TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN,
                    d.namespace(), destination.principal(), TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN,
                    TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN);
        }
        return TrafficLabels.of("destination", source, destination, c.peer() == null ? "none" : "mutual_tls");
    }

    /** The registry workload at the source address, when it is the caller (same identity as the peer's, as ztunnel checks). */
    private static WorkloadRef sourceWorkload(Conn c) {
        WorkloadRef s = c.sourceRef();
        if (s == null || c.peer() == null) {
            return s;
        }
        boolean same = SpiffeIds.namespace(c.peer()).filter(s.namespace()::equals).isPresent()
                && SpiffeIds.serviceAccount(c.peer()).filter(s.serviceAccount()::equals).isPresent();
        return same ? s : null;
    }
}
