package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * With {@code --access-log-format ztunnel} or {@code ztunnel-json}, stdout is ztunnel's log stream (the access lines),
 * and the proxy's own lines printed there after readiness ({@code draining ...}, {@code stopped}) take its shape, as
 * ztunnel's own lifecycle lines do (istio/ztunnel src/telemetry.rs IstioFormat / IstioJsonFormat). The session's
 * closing note: a log shipper parsing ztunnel's format met {@code zerohop proxy: stopped} between access lines.
 */
class LifecycleLineTest {
    private static final Instant T = Instant.parse("2026-12-02T03:04:05.123456Z");

    @Test
    void eachFormatsShape() {
        assertThat(ProxyCommand.lifecycleLine("zerohop", "zerohop proxy: stopped", T)).isEqualTo("zerohop proxy: stopped");
        assertThat(ProxyCommand.lifecycleLine("ztunnel", "zerohop proxy: stopped", T))
                .isEqualTo("2026-12-02T03:04:05.123456Z\tinfo\tzerohop\tzerohop proxy: stopped");
        assertThat(ProxyCommand.lifecycleLine("ztunnel-json", "zerohop proxy: a \"b\" \\ c\u0001", T))
                .isEqualTo("{\"level\":\"info\",\"time\":\"2026-12-02T03:04:05.123456Z\",\"scope\":\"zerohop\","
                        + "\"message\":\"zerohop proxy: a \\\"b\\\" \\\\ c\\u0001\"}");
    }

    @Test
    @Timeout(120)
    @DisplayName("--access-log-format ztunnel: every stdout line after the ready line is a ztunnel-format line, the drain's and stop's too")
    void stdoutAfterReadyIsZtunnelsShapeOnly() throws Exception {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), Zerohop.class.getName(), "proxy", "--in-memory-ca", "--inbound", "127.0.83.1:0",
                "--metrics", "off", "--readiness", "off", "--admin", "off", "--drain", "0s", "--access-log-format", "ztunnel");
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        List<String> after = new ArrayList<>();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null && !line.startsWith("zerohop proxy ready:")) {
                // before ready: nothing to check
            }
            assertThat(line).as("the ready line").isNotNull();
            new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
            while ((line = out.readLine()) != null) {
                after.add(line);
            }
        } finally {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        assertThat(p.exitValue()).isZero();
        assertThat(after).as("the drain's and the stop's lines").anyMatch(l -> l.endsWith("\tzerohop proxy: SIGTERM, draining for up to 0s"))
                .anyMatch(l -> l.endsWith("\tzerohop proxy: stopped"));
        assertThat(after).as("ztunnel's text shape: time, level, target, message, tab-separated")
                .allMatch(l -> l.matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z\tinfo\t[^\t]+\t.*"));
    }
}
