package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.junit.jupiter.api.Test;

/** {@link MetricsConfig} is {@link PrometheusConfig#DEFAULT} without the validation: the same value for every setting. */
class MetricsConfigTest {
    private static final PrometheusConfig DEFAULT = PrometheusConfig.DEFAULT;

    @Test
    void everySettingIsDefaults() {
        MetricsConfig c = MetricsConfig.INSTANCE;
        assertThat(c.prefix()).isEqualTo(DEFAULT.prefix());
        assertThat(c.descriptions()).isEqualTo(DEFAULT.descriptions());
        assertThat(c.step()).isEqualTo(DEFAULT.step());
        assertThat(c.prometheusProperties()).isEqualTo(DEFAULT.prometheusProperties());
        for (String key : new String[] {"prometheus.step", "prometheus.descriptions", "prometheus.prefix", "anything"}) {
            assertThat(c.get(key)).as(key).isEqualTo(DEFAULT.get(key));
        }
        assertThat(c.validate().isValid()).isTrue();
        assertThat(DEFAULT.validate().isValid()).isTrue();
    }

    @Test
    void aScrapeIsTheSameAsWithDefault() {
        String ours = scrape(new PrometheusMeterRegistry(MetricsConfig.INSTANCE));
        String theirs = scrape(new PrometheusMeterRegistry(DEFAULT));
        assertThat(ours).isEqualTo(theirs).contains("# HELP istio_tcp_connections_opened_total The total number");
    }

    private static String scrape(PrometheusMeterRegistry r) {
        Counter.builder("istio.tcp.connections.opened").description("The total number of TCP connections opened")
                .tags("reporter", "destination").register(r).increment(3);
        return r.scrape();
    }
}
