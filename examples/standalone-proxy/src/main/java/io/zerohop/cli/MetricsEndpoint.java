package io.zerohop.cli;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.zerohop.core.HttpEndpoint;

/**
 * The metrics endpoint's answer, by the scraper's {@code Accept}: OpenMetrics 1.0 when it asks for
 * {@code application/openmetrics-text} (Prometheus does by default), as ztunnel answers then
 * (src/metrics/server.rs, the content type by {@code Accept}); Prometheus text 0.0.4 otherwise (curl,
 * older scrapers). Both carry the same series; OpenMetrics adds {@code # EOF} and names a counter's family
 * without {@code _total} in {@code # TYPE}. Media types are compared without case, as ztunnel's.
 */
final class MetricsEndpoint {
    static final String OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    static final String TEXT = "text/plain; version=0.0.4; charset=utf-8";

    private MetricsEndpoint() {}

    /** {@code accept}: the request's {@code Accept} header, or null. */
    static HttpEndpoint.Response scrape(PrometheusMeterRegistry registry, String accept) {
        if (accept != null && accept.toLowerCase(java.util.Locale.ROOT).contains("application/openmetrics-text")) {
            return new HttpEndpoint.Response(200, OPENMETRICS, registry.scrape(OPENMETRICS));
        }
        return new HttpEndpoint.Response(200, TEXT, registry.scrape(TEXT));
    }
}
