package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.zerohop.core.HttpEndpoint;
import org.junit.jupiter.api.Test;

/**
 * The metrics endpoint answers by {@code Accept}, as ztunnel's (src/metrics/server.rs): OpenMetrics when Prometheus
 * asks for it (its default {@code scrape_protocols} lead with {@code application/openmetrics-text}), Prometheus text
 * 0.0.4 otherwise. Until 3 December it was always 0.0.4 (a new-user pass).
 */
class MetricsEndpointTest {
    /** Prometheus 2.42's default Accept header (scrape/scrape.go {@code scrapeAcceptHeader}). */
    static final String PROMETHEUS_ACCEPT =
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    private static PrometheusMeterRegistry registry() {
        PrometheusMeterRegistry r = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Counter.builder("istio.tcp.connections.opened").description("The total number of TCP connections opened")
                .tags("reporter", "destination").register(r).increment(3);
        return r;
    }

    @Test
    void prometheusGetsOpenMetrics() {
        HttpEndpoint.Response r = MetricsEndpoint.scrape(registry(), PROMETHEUS_ACCEPT);
        assertThat(r.contentType()).isEqualTo("application/openmetrics-text; version=1.0.0; charset=utf-8");
        assertThat(r.body()).contains("# TYPE istio_tcp_connections_opened counter\n")
                .contains("istio_tcp_connections_opened_total{reporter=\"destination\"} 3")
                .endsWith("# EOF\n");
    }

    @Test
    void anyOtherScraperGetsTextZeroZeroFour() {
        for (String accept : new String[] {null, "*/*", "text/plain"}) {
            HttpEndpoint.Response r = MetricsEndpoint.scrape(registry(), accept);
            assertThat(r.contentType()).as(accept).isEqualTo("text/plain; version=0.0.4; charset=utf-8");
            assertThat(r.body()).as(accept).contains("# TYPE istio_tcp_connections_opened_total counter\n")
                    .contains("istio_tcp_connections_opened_total{reporter=\"destination\"} 3.0").doesNotContain("# EOF");
        }
    }

    /** ztunnel's {@code test_content_type} (src/metrics/server.rs), its four requests; two Accept fields reach here joined. */
    @Test
    void theMediaTypeAsZtunnelsTestsChooseIt() {
        assertThat(MetricsEndpoint.asksForOpenMetrics(null)).as("no Accept: plain text").isFalse();
        assertThat(MetricsEndpoint.asksForOpenMetrics("application/json, application/openmetrics-text; other stuff")).isTrue();
        assertThat(MetricsEndpoint.asksForOpenMetrics("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                + "encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                + "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
                + "text/plain;version=0.0.4;q=0.2,*/*;q=0.1")).as("Prometheus 3's Accept").isTrue();
        assertThat(MetricsEndpoint.asksForOpenMetrics("application/json")).as("unsupported: plain text").isFalse();
        // Beyond its tests, from its code: the media type compares exactly, so a longer one is not OpenMetrics.
        assertThat(MetricsEndpoint.asksForOpenMetrics("application/openmetrics-textual")).isFalse();
        assertThat(MetricsEndpoint.asksForOpenMetrics("Application/OpenMetrics-Text")).isTrue();
    }
}
