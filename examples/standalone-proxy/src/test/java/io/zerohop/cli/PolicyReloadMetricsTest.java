package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A policy reload that fails keeps the previous policies in force, and a restart would then exit 1 on the same file: the
 * operator's alert needs a series, not only the log and /config_dump (a day-2 pass, 5 December). Named as Prometheus names
 * its own configuration reloads ({@code prometheus_config_last_reload_successful},
 * {@code prometheus_config_last_reload_success_timestamp_seconds}), on a real child proxy's /metrics.
 */
@Timeout(120)
class PolicyReloadMetricsTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-frontend, namespace: prod}
            spec:
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
            """;

    @TempDir
    Path dir;

    @Test
    void aFailedReloadIsASeriesAndSoIsItsRecovery() throws Exception {
        Path policies = Files.createDirectory(dir.resolve("policies"));
        Path file = policies.resolve("allow.yaml");
        Files.writeString(file, POLICY);
        try (ChildProxy proxy = new ChildProxy(List.of(), "--in-memory-ca", "--policies", policies.toString(),
                "--inbound", "127.0.129.1:0", "--metrics", "127.0.129.1:0", "--readiness", "off", "--admin", "off")) {
            Matcher m = Pattern.compile("metrics 127\\.0\\.129\\.1:(\\d+)").matcher(proxy.output());
            assertThat(m.find()).as(proxy.output()).isTrue();
            URI metrics = URI.create("http://127.0.129.1:" + m.group(1) + "/metrics");
            String first = scrape(metrics);
            assertThat(first).contains("zerohop_policy_last_reload_successful 1.0").contains("zerohop_policy_reload_failures_total 0.0");
            assertThat(value(first, "zerohop_policy_last_reload_success_timestamp_seconds")).isPositive();

            Files.writeString(file, "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: [\n");
            String failed = await(metrics, "zerohop_policy_last_reload_successful 0.0");
            assertThat(failed).contains("zerohop_policy_reload_failures_total 1.0");

            Files.writeString(file, POLICY);
            String back = await(metrics, "zerohop_policy_last_reload_successful 1.0");
            assertThat(back).contains("zerohop_policy_reload_failures_total 1.0");
            assertThat(proxy.stop()).isZero();
        }
    }

    private static String await(URI metrics, String line) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        String body = scrape(metrics);
        while (!body.contains(line) && System.nanoTime() < deadline) {
            Thread.sleep(100);
            body = scrape(metrics);
        }
        assertThat(body).as("waiting for " + line).contains(line);
        return body;
    }

    private static String scrape(URI metrics) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(metrics).build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    private static double value(String body, String name) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + " (\\S+)$").matcher(body);
        assertThat(m.find()).as(name + " in:\n" + body).isTrue();
        return Double.parseDouble(m.group(1));
    }
}
