package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The encoding of ztunnel's access-log lines (istio/ztunnel src/telemetry.rs): {@code IstioFormat}
 * writes a string field with Rust's {@code Debug} ({@code {value:?}}: quotes, backslashes, newline,
 * tab and other control characters escaped, ESC as <code>&#92;u{1b}</code>), so one line stays one line and
 * its tabs stay separators; {@code IstioJsonFormat} writes it with serde_json. The real lines of a
 * real proxy are checked in examples/standalone-proxy's ZtunnelCompatE2EIT.
 */
class ZtunnelAccessLogTest {
    static final TrafficLabels LABELS = TrafficLabels.of("destination",
            new TrafficLabels.Peer("frontend", "frontend", "v1", "prod", "spiffe://cluster.local/ns/prod/sa/frontend",
                    "frontend", "v1", TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN),
            new TrafficLabels.Peer("backend", "backend", "latest", "prod", "spiffe://cluster.local/ns/prod/sa/backend",
                    "backend", "latest", TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN, TrafficLabels.UNKNOWN), "mutual_tls");

    @Test
    void aStringFieldIsQuotedWithRustsDebugEscapesAndUnknownFieldsAreLeftOut() {
        ZtunnelAccessLog.Line l = ZtunnelAccessLog.complete("10.0.0.1:5000", LABELS, "10.0.0.2:15008", "10.0.0.2:8080", false, true,
                70, 3000, Duration.ofMillis(12), "say \"no\"\tto\\this\nnow\u001b");
        assertThat(l.text("error", "2026-12-01T17:43:07.304640Z")).isEqualTo("2026-12-01T17:43:07.304640Z\terror\taccess\t"
                + "connection complete\tsrc.addr=10.0.0.1:5000 src.workload=\"frontend\" src.namespace=\"prod\" "
                + "src.identity=\"spiffe://cluster.local/ns/prod/sa/frontend\" dst.addr=10.0.0.2:15008 dst.hbone_addr=10.0.0.2:8080 "
                + "dst.workload=\"backend\" dst.namespace=\"prod\" dst.identity=\"spiffe://cluster.local/ns/prod/sa/backend\" "
                + "direction=\"inbound\" bytes_sent=70 bytes_recv=3000 duration=\"12ms\" "
                + "error=\"say \\\"no\\\"\\tto\\\\this\\nnow\\u{1b}\"");
    }

    @Test
    void theJsonLineHasZtunnelsKeysNumbersForBytesAndJsonEscapes() throws Exception {
        ZtunnelAccessLog.Line l = ZtunnelAccessLog.complete("10.0.0.1:5000", LABELS, "10.0.0.2:15008", "10.0.0.2:8080", true, true,
                3000, 70, Duration.ofMillis(12), "a\"b\\c\nd\u001b\u007f");
        String json = l.json("error", "2026-12-01T17:43:07.304640Z");
        assertThat(json).startsWith("{\"level\":\"error\",\"time\":\"2026-12-01T17:43:07.304640Z\",\"scope\":\"access\","
                + "\"message\":\"connection complete\",\"src.addr\":\"10.0.0.1:5000\"").contains("\"bytes_sent\":3000,\"bytes_recv\":70,")
                .contains("\"error\":\"a\\\"b\\\\c\\nd\\u001b\u007f\"}").doesNotContain("\n");
        var node = new ObjectMapper().readTree(json);
        assertThat(node.get("error").asText()).isEqualTo("a\"b\\c\nd\u001b\u007f");
        assertThat(node.get("direction").asText()).isEqualTo("outbound");
    }

    /**
     * {@code dst.hbone_addr} of a host-name CONNECT is the name and port, as ztunnel's {@code HboneAddress::SvcHostname}
     * prints (src/proxy.rs Display, its connection result built with {@code Some(hbone_addr)}); an address CONNECT's is
     * the address. Until 7 December a name printed as the address it resolved to.
     */
    @Test
    void aHostNameConnectsHboneAddrIsTheName() {
        var local = new java.net.InetSocketAddress("10.0.0.2", 15008);
        var peer = new java.net.InetSocketAddress("10.0.0.1", 5000);
        var resolved = new java.net.InetSocketAddress("10.0.0.2", 8080);
        io.zerohop.hbone.TunnelInfo byName = new io.zerohop.hbone.TunnelInfo(io.zerohop.hbone.TunnelInfo.Direction.INBOUND, null, null,
                local, peer, resolved, java.util.Map.of(), 0, "backend.prod.svc.cluster.local:80");
        io.zerohop.hbone.TunnelInfo byIp = new io.zerohop.hbone.TunnelInfo(io.zerohop.hbone.TunnelInfo.Direction.INBOUND, null, null,
                local, peer, resolved, java.util.Map.of(), 0);
        assertThat(ZtunnelAccessLog.hboneAddr(byName)).isEqualTo("backend.prod.svc.cluster.local:80");
        assertThat(ZtunnelAccessLog.hboneAddr(byIp)).isEqualTo("10.0.0.2:8080");
    }

    @Test
    void anEarlyDenyIsZtunnelsConnectionFailed() {
        ZtunnelAccessLog.Line l = ZtunnelAccessLog.failed(new java.net.InetSocketAddress("10.0.0.1", 5000),
                new java.net.InetSocketAddress("10.0.0.2", 15008), false, "bad request");
        assertThat(l.text("warn", "T")).isEqualTo("T\twarn\taccess\tconnection failed\tsrc.addr=10.0.0.1:5000 dst.addr=10.0.0.2:15008 "
                + "direction=\"inbound\" error=\"bad request\"");
    }

    /**
     * ztunnel's access line names the pod ({@code wl.name}), where the metrics name its controller
     * ({@code workload_name}), and carries {@code dst.service} when the Service is known (src/proxy/metrics.rs
     * {@code ConnectionResultBuilder}: "try to get pod name but fall back to canonical service"; {@code dst.service =
     * tl.destination_service}).
     */
    @Test
    void theLineNamesPodsAndTheServiceTheMetricsNameControllersFor() throws Exception {
        io.zerohop.core.Workload frontend = new io.zerohop.core.Workload("prod", "frontend-7d9f8b6c5d-x2k4q", "frontend",
                java.util.Map.of("app", "frontend"), java.util.List.of(java.net.InetAddress.getByName("10.0.0.1")),
                io.zerohop.core.Workload.Protocol.HBONE, null, "cluster.local", java.util.Map.of(), null, "frontend", null);
        io.zerohop.core.Workload backend = new io.zerohop.core.Workload("prod", "backend-5f6d7c8b9-q1w2e", "backend",
                java.util.Map.of("app", "backend"), java.util.List.of(java.net.InetAddress.getByName("10.0.0.2")),
                io.zerohop.core.Workload.Protocol.HBONE, null, "cluster.local", java.util.Map.of(), null, "backend", null);
        TrafficLabels labels = TrafficLabels.of("destination", TrafficLabels.Peer.of(frontend, "spiffe://cluster.local/ns/prod/sa/frontend"),
                TrafficLabels.Peer.of(backend, "spiffe://cluster.local/ns/prod/sa/backend"), "mutual_tls")
                .withDestinationService(new io.zerohop.core.WorkloadService("backend", "prod", "backend.prod.svc.cluster.local",
                        java.util.Set.of(8080)));
        assertThat(labels.sourceWorkload()).isEqualTo("frontend");
        String line = ZtunnelAccessLog.complete("10.0.0.1:5000", labels, "10.0.0.2:15008", "10.0.0.2:8080", false, true,
                70, 3000, Duration.ofMillis(12), null).text("info", "T");
        assertThat(line).contains(" src.workload=\"frontend-7d9f8b6c5d-x2k4q\" ")
                .contains(" dst.hbone_addr=10.0.0.2:8080 dst.service=\"backend.prod.svc.cluster.local\" dst.workload=\"backend-5f6d7c8b9-q1w2e\" ");
    }

    /**
     * Rust's {@code Debug} of a {@code str} (core's {@code char::escape_debug_ext}, which ztunnel's {@code IstioFormat}
     * writes every string field with, src/telemetry.rs {@code Visitor::record_debug}): NUL is {@code \\0}, not
     * <code>&#92;u{0}</code>; a C1 control (NEL), a non-breaking space, a zero-width space (Cf) and a combining accent
     * (Mn, grapheme extended) are <code>&#92;u{HEX}</code>, printable non-ASCII stays as is. Until 6 December the four
     * were written raw and NUL as <code>&#92;u{0}</code>.
     */
    @Test
    void theTextLineEscapesWhatRustsDebugEscapes() {
        ZtunnelAccessLog.Line l = ZtunnelAccessLog.failed(new java.net.InetSocketAddress("10.0.0.1", 5000),
                new java.net.InetSocketAddress("10.0.0.2", 15008), false, "a\u0000b\u0085c\u00a0d\u200be\u0301f\u00e9g \u4e2d");
        assertThat(l.text("warn", "T")).endsWith(" error=\"a\\0b\\u{85}c\\u{a0}d\\u{200b}e\\u{301}f\u00e9g \u4e2d\"");
    }

    /**
     * serde_json's string escapes (ztunnel's {@code IstioJsonFormat}, src/telemetry.rs {@code JsonVisitory::record_str}):
     * backspace and form feed are {@code \\b} and {@code \\f} (serde_json {@code ESCAPE} table: {@code BB}, {@code FF}),
     * other controls below U+0020 <code>&#92;u00XX</code>, NEL and the rest as is. Until 6 December backspace and form
     * feed were <code>&#92;u0008</code> and <code>&#92;u000c</code>.
     */
    @Test
    void theJsonLineEscapesAsSerdeJson() throws Exception {
        ZtunnelAccessLog.Line l = ZtunnelAccessLog.failed(new java.net.InetSocketAddress("10.0.0.1", 5000),
                new java.net.InetSocketAddress("10.0.0.2", 15008), false, "a\bb\fc\u0001d\u0085e\u0000");
        String json = l.json("warn", "T");
        assertThat(json).endsWith("\"error\":\"a\\bb\\fc\\u0001d\u0085e\\u0000\"}");
        assertThat(new ObjectMapper().readTree(json).get("error").asText()).isEqualTo("a\bb\fc\u0001d\u0085e\u0000");
    }
}
