package io.zerohop.core.internal;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;

/**
 * ztunnel's metric names through Micrometer: {@code istio.tcp.connections.opened} becomes
 * {@code istio_tcp_connections_opened_total} in Prometheus text, the name Istio dashboards query.
 * Byte counters grow while tunnels run (reported every few seconds, see {@code Mesh.Builder.metricsInterval})
 * and get the rest when a tunnel closes, as ztunnel's grow as bytes flow.
 */
public final class MicrometerSink implements TunnelObserver.Sink {
    private final MeterRegistry registry;

    public MicrometerSink(MeterRegistry registry) {
        this.registry = registry;
    }

    private static Tags tags(TunnelObserver.Labels l) {
        return Tags.of(
                "reporter", l.reporter(),
                "source_principal", l.sourcePrincipal(),
                "source_workload", l.sourceWorkload(),
                "source_workload_namespace", l.sourceNamespace(),
                "destination_principal", l.destinationPrincipal(),
                "destination_workload", l.destinationWorkload(),
                "destination_workload_namespace", l.destinationNamespace(),
                "request_protocol", "tcp",
                "connection_security_policy", l.connectionSecurityPolicy());
    }

    @Override
    public void opened(TunnelObserver.Labels l) {
        Counter.builder("istio.tcp.connections.opened").tags(tags(l)).register(registry).increment();
    }

    @Override
    public void bytes(TunnelObserver.Labels l, long sent, long received) {
        Tags t = tags(l);
        Counter.builder("istio.tcp.sent.bytes").tags(t).register(registry).increment(sent);
        Counter.builder("istio.tcp.received.bytes").tags(t).register(registry).increment(received);
    }

    @Override
    public void closed(TunnelObserver.Labels l) {
        Counter.builder("istio.tcp.connections.closed").tags(tags(l)).register(registry).increment();
    }

    @Override
    public void refused(TunnelObserver.Labels l, int status) {
        Counter.builder("zerohop.tunnels.refused").tags(tags(l)).tag("status", Integer.toString(status))
                .register(registry).increment();
    }
}
