package io.zerohop.core.internal;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;

/**
 * ztunnel's metrics through Micrometer (src/proxy/metrics.rs): {@code istio.tcp.connections.opened}
 * becomes {@code istio_tcp_connections_opened_total} in Prometheus text, the name Istio dashboards
 * query; likewise {@code closed}, {@code failed}, {@code sent.bytes}, {@code received.bytes}, each with
 * ztunnel's full label set ({@link TrafficLabels}). Byte counters grow while tunnels run (reported every
 * few seconds, see {@code Mesh.Builder.metricsInterval}) and get the rest when a tunnel closes.
 */
public final class MicrometerSink implements TunnelObserver.Sink {
    // ztunnel's help texts (src/proxy/metrics.rs Metrics::new), which Prometheus shows as # HELP, with the "." that
    // ztunnel's prometheus-client appends to every registered metric's help (prometheus/client_rust src/registry.rs
    // Descriptor::new: help.into() + "."), so that a scrape of zerohop reads as one of ztunnel (until 3 December without).
    private static final String OPENED = "The total number of TCP connections opened.";
    private static final String CLOSED = "The total number of TCP connections closed.";
    private static final String FAILED = "The total number of TCP connections that failed to establish (unstable).";
    private static final String RECEIVED = "The size of total bytes received during request in case of a TCP connection.";
    private static final String SENT = "The size of total bytes sent during response in case of a TCP connection.";
    private static final String SOCKETS = "The current number of open TCP sockets (unstable).";
    private final MeterRegistry registry;

    public MicrometerSink(MeterRegistry registry) {
        this.registry = registry;
    }

    /**
     * ztunnel's {@code istio_tcp_*} label set as Micrometer tags: {@link #tags} and the four locality labels (ztunnel's
     * {@code LocalityLabels}, which Envoy's HTTP metrics do not have).
     */
    public static Tags tcpTags(TrafficLabels l) {
        return tags(l).and("source_region", l.sourceRegion(), "source_zone", l.sourceZone(),
                "destination_region", l.destinationRegion(), "destination_zone", l.destinationZone());
    }

    /** The labels ztunnel's and Envoy's traffic metrics share: the base of the L7 path's {@code istio_requests_total} family. */
    public static Tags tags(TrafficLabels l) {
        return Tags.of(
                "reporter", l.reporter(),
                "source_workload", l.sourceWorkload(),
                "source_canonical_service", l.sourceCanonicalService(),
                "source_canonical_revision", l.sourceCanonicalRevision(),
                "source_workload_namespace", l.sourceWorkloadNamespace(),
                "source_principal", l.sourcePrincipal(),
                "source_app", l.sourceApp(),
                "source_version", l.sourceVersion(),
                "source_cluster", l.sourceCluster(),
                "destination_service", l.destinationService(),
                "destination_service_namespace", l.destinationServiceNamespace(),
                "destination_service_name", l.destinationServiceName(),
                "destination_workload", l.destinationWorkload(),
                "destination_canonical_service", l.destinationCanonicalService(),
                "destination_canonical_revision", l.destinationCanonicalRevision(),
                "destination_workload_namespace", l.destinationWorkloadNamespace(),
                "destination_principal", l.destinationPrincipal(),
                "destination_app", l.destinationApp(),
                "destination_version", l.destinationVersion(),
                "destination_cluster", l.destinationCluster(),
                "request_protocol", l.requestProtocol(),
                "response_flags", l.responseFlags(),
                "connection_security_policy", l.connectionSecurityPolicy());
    }

    /**
     * ztunnel's {@code istio_tcp_sockets_open} gauge for {@code reporter} ({@code source}: sockets its
     * outbound and SOCKS5 listeners accepted; {@code destination}: its HBONE and plaintext-inbound
     * listeners'), read from {@code open} at each scrape (src/proxy/metrics.rs {@code SocketLabels},
     * {@code record_socket_open}/{@code SocketCloseGuard}).
     */
    public AutoCloseable socketsOpen(String reporter, java.util.function.Supplier<Number> open) {
        java.util.Set<java.util.function.Supplier<Number>> sources;
        synchronized (SOCKET_SOURCES) {
            sources = SOCKET_SOURCES.computeIfAbsent(registry, r -> new java.util.HashMap<>()).computeIfAbsent(reporter, k -> {
                java.util.Set<java.util.function.Supplier<Number>> set = java.util.concurrent.ConcurrentHashMap.newKeySet();
                io.micrometer.core.instrument.Gauge.builder("istio.tcp.sockets.open", set, MicrometerSink::sum).description(SOCKETS)
                        .tags("reporter", reporter).strongReference(true).register(registry);
                return set;
            });
        }
        sources.add(open);
        return () -> sources.remove(open);
    }

    /**
     * Each registry's socket gauges' sources, by reporter. Micrometer registers a gauge once per name and
     * tags (a second registration returns the first, with the first supplier): meshes sharing a registry
     * (a new-user pass: three in one process, one Prometheus endpoint) share the gauge, which sums them,
     * and a closed mesh leaves it. Weak keys: a registry the application dropped goes with its entry.
     */
    private static final java.util.Map<MeterRegistry, java.util.Map<String, java.util.Set<java.util.function.Supplier<Number>>>>
            SOCKET_SOURCES = new java.util.WeakHashMap<>();

    private static double sum(java.util.Set<java.util.function.Supplier<Number>> sources) {
        double n = 0;
        for (java.util.function.Supplier<Number> s : sources) {
            n += s.get().doubleValue();
        }
        return n;
    }

    @Override
    public void opened(TrafficLabels l) {
        Tags t = tcpTags(l);
        Counter.builder("istio.tcp.connections.opened").description(OPENED).tags(t).register(registry).increment();
        // ztunnel creates a connection's byte series when it starts tracking it (ConnectionResult::new, src/proxy/metrics.rs:
        // sent_bytes/received_bytes get_or_create), before its RBAC: a source only ever denied has them, at 0, and the
        // dashboards' variable queries (istio_tcp_sent_bytes_total by source_workload...) list it.
        Counter.builder("istio.tcp.sent.bytes").description(SENT).tags(t).register(registry);
        Counter.builder("istio.tcp.received.bytes").description(RECEIVED).tags(t).register(registry);
    }

    @Override
    public void bytes(TrafficLabels l, long sent, long received) {
        Tags t = tcpTags(l);
        Counter.builder("istio.tcp.sent.bytes").description(SENT).tags(t).register(registry).increment(sent);
        Counter.builder("istio.tcp.received.bytes").description(RECEIVED).tags(t).register(registry).increment(received);
    }

    /**
     * {@code zerohop_tunnels_limit_resets_total{limit}}: tunnels the HBONE server, or a client over its inbound budget
     * (Outbound's), reset by one of its limits, by limit ({@code inbound_budget}, {@code inbound_stalled},
     * {@code outbound_budget}, {@code stalled_window}). zerohop's own:
     * ztunnel has no such limits (its window throttles instead), and its close carries no reason either.
     */
    @Override
    public void limitReset(String limit) {
        Counter.builder("zerohop.tunnels.limit.resets").description("Tunnels the HBONE server or client reset by one of its limits.")
                .tags("limit", limit.replace(' ', '_')).register(registry).increment();
    }

    /**
     * ztunnel's {@code on_demand_dns} ("The total number of requests that used on-demand DNS (unstable)", src/proxy/
     * metrics.rs {@code OnDemandDnsLabels}): {@code istio_on_demand_dns_total} in Prometheus, as ztunnel's under its
     * {@code istio} prefix.
     */
    @Override
    public void onDemandDns(TrafficLabels.Peer s, String hostname) {
        Counter.builder("istio.on.demand.dns").description("The total number of requests that used on-demand DNS (unstable).")
                .tags("source_workload", s.workload(), "source_canonical_service", s.canonicalService(),
                        "source_canonical_revision", s.canonicalRevision(), "source_workload_namespace", s.namespace(),
                        "source_principal", s.principal(), "source_app", s.app(), "source_version", s.version(),
                        "source_cluster", s.cluster(), "hostname", hostname)
                .register(registry).increment();
    }

    @Override
    public void closed(TrafficLabels l) {
        // Closed, then failed: a reader that saw the close may not see the failure yet (another thread, no lock). A
        // connection's bytes and opened come before both, so tests wait for its failed count when it failed, else
        // for its closed count (ParsedPlaintextMetricsTest, ZtunnelCompatE2EIT).
        Tags t = tcpTags(l);
        Counter.builder("istio.tcp.connections.closed").description(CLOSED).tags(t).register(registry).increment();
        if (l.failed()) {
            Counter.builder("istio.tcp.connections.failed").description(FAILED).tags(t).register(registry).increment();
        }
    }
}
