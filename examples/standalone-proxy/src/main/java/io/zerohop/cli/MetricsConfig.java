package io.zerohop.cli;

import io.micrometer.core.instrument.config.validate.Validated;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import java.time.Duration;

/**
 * The proxy's Prometheus registry configuration: {@link PrometheusConfig#DEFAULT}'s values (no property is set:
 * {@link #get} answers null for every key, so every setting is its default), written out as constants, and
 * without the validation of them that {@code PrometheusMeterRegistry}'s constructor runs ({@code requireValid}).
 * DEFAULT's validation reads {@code step} through Micrometer's property validators (string-to-duration parsing,
 * the validators' lambdas, a stream reduction): ~25 classes loaded at every start to check a value nobody set
 * (benchmarks/results/classes-*.md). {@code MetricsConfigTest} checks that each value equals DEFAULT's.
 */
final class MetricsConfig implements PrometheusConfig {
    static final MetricsConfig INSTANCE = new MetricsConfig();

    private MetricsConfig() {}

    @Override
    public String get(String key) {
        return null;
    }

    @Override
    public String prefix() {
        return "prometheus";
    }

    @Override
    public boolean descriptions() {
        return true;
    }

    @Override
    public Duration step() {
        return Duration.ofMinutes(1);
    }

    /** Nothing to validate: every value above is a constant, and DEFAULT's values (MetricsConfigTest). */
    @Override
    public Validated<?> validate() {
        return Validated.none();
    }
}
