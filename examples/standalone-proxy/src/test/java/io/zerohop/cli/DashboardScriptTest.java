package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * deploy/dashboards/ztunnel-for-zerohop.sh points Istio's ztunnel dashboard at zerohop's node proxy. The input here is a
 * dashboard of the same shape written for this test (the queries' selectors as Istio's ztunnel.libsonnet renders them
 * into JSON strings, quotes escaped); the script was also run on istio/istio's ztunnel-dashboard.gen.json (August 2026):
 * 15 queries, none left selecting ztunnel's pods (a metrics pass found them all empty against zerohop as deployed).
 */
class DashboardScriptTest {

    @Test
    void theZtunnelDashboardsSelectorsNameZerohopsPods() throws Exception {
        String in = """
                {
                  "panels": [
                    {"targets": [{"expr": "sum by (tag) (istio_build{component=\\"ztunnel\\"})"}]},
                    {"targets": [{"expr": "sum by (pod) (container_memory_working_set_bytes{container=\\"istio-proxy\\",pod=~\\"ztunnel-.*\\"})"}]},
                    {"targets": [{"expr": "sum by (pod) (rate(istio_tcp_sent_bytes_total{pod=~\\"ztunnel-.*\\"}[$__rate_interval]))"}]},
                    {"targets": [{"expr": "sum by (pod) (process_open_fds{app=\\"ztunnel\\"})", "datasource": {"uid": "$datasource"}}]}
                  ],
                  "title": "Istio Ztunnel Dashboard",
                  "uid": "0123456789abcdef0123456789abcdef"
                }
                """;
        // As Grafana and istio/istio write it, and compact (jq -c, an API export): a second pass found the title and uid
        // of the compact form left as they were, so that an import replaced Istio's own dashboard.
        for (String dashboard : new String[] {in, in.replaceAll("\\s*\\n\\s*", "").replace("\": ", "\":")}) {
            String out = rewrite(dashboard);
            assertThat(out).contains(
                        "istio_build{component=\\\"ztunnel\\\"}", // zerohop answers to the component ztunnel
                        "container_memory_working_set_bytes{container=\\\"proxy\\\",pod=~\\\"zerohop-node-.*\\\"}",
                        "istio_tcp_sent_bytes_total{pod=~\\\"zerohop-node-.*\\\"}",
                        "process_open_fds{app=\\\"zerohop-node\\\"}",
                        "\"$datasource\"", // the panels' data source uids untouched
                        "\"title\": \"zerohop node proxy (Istio ztunnel dashboard)\"",
                        "\"uid\": \"zerohop-node-proxy\"")
                    .doesNotContain("ztunnel-.*", "istio-proxy", "app=\\\"ztunnel\\\"", "Istio Ztunnel Dashboard", "0123456789abcdef");
        }
    }

    private static String rewrite(String dashboard) throws Exception {
        Process p = new ProcessBuilder("sh", Path.of("..", "..", "deploy", "dashboards", "ztunnel-for-zerohop.sh").toString())
                .redirectErrorStream(true).start();
        try (var stdin = p.getOutputStream()) {
            stdin.write(dashboard.getBytes(StandardCharsets.UTF_8));
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out;
    }
}
