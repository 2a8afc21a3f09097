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

    /** {@code accept}: the request's {@code Accept} fields joined with {@code ", "}, or null. */
    static HttpEndpoint.Response scrape(PrometheusMeterRegistry registry, String accept) {
        if (asksForOpenMetrics(accept)) {
            return new HttpEndpoint.Response(200, OPENMETRICS, registry.scrape(OPENMETRICS));
        }
        return new HttpEndpoint.Response(200, TEXT, registry.scrape(TEXT));
    }

    /**
     * ztunnel's {@code content_type}: some comma-separated entry, lower-cased, whose media type (the text before its
     * first {@code ;}) is exactly {@code application/openmetrics-text}, whatever its parameters and weight (a {@code q=0}
     * included, as there). An entry is trimmed first because the fields of several {@code Accept} headers reach here joined
     * with {@code ", "}, where ztunnel reads each field apart.
     */
    static boolean asksForOpenMetrics(String accept) {
        if (accept == null) {
            return false;
        }
        for (String entry : accept.split(",")) {
            String e = entry.trim().toLowerCase(java.util.Locale.ROOT);
            int semi = e.indexOf(';');
            if ((semi < 0 ? e : e.substring(0, semi)).equals("application/openmetrics-text")) {
                return true;
            }
        }
        return false;
    }
}
