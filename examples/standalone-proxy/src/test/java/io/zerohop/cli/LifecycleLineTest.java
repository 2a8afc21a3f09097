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
 * and the proxy's own lines printed there ({@code ready}, {@code draining ...}, {@code stopped}) take its shape, as
 * ztunnel's own lifecycle lines do (istio/ztunnel src/telemetry.rs IstioFormat / IstioJsonFormat). The session's
 * closing note: a log shipper parsing ztunnel's format met {@code zerohop proxy: stopped} between access lines; the
 * ready line (and the waiting, syncing and listening lines) stayed plain until 4 December.
 */
class LifecycleLineTest {
    private static final Instant T = Instant.parse("2026-12-02T03:04:05.123456Z");

    @Test
    void eachFormatsShape() {
        assertThat(LogShape.line("zerohop", "info", "zerohop", "zerohop proxy: stopped", null, T)).isEqualTo("zerohop proxy: stopped");
        assertThat(LogShape.line("ztunnel", "info", "zerohop", "zerohop proxy: stopped", null, T))
                .isEqualTo("2026-12-02T03:04:05.123456Z\tinfo\tzerohop\tzerohop proxy: stopped");
        assertThat(LogShape.line("ztunnel-json", "info", "zerohop", "zerohop proxy: a \"b\" \\ c\u0001", null, T))
                .isEqualTo("{\"level\":\"info\",\"time\":\"2026-12-02T03:04:05.123456Z\",\"scope\":\"zerohop\","
                        + "\"message\":\"zerohop proxy: a \\\"b\\\" \\\\ c\\u0001\"}");
    }

    @Test
    @Timeout(120)
    @DisplayName("--access-log-format ztunnel: every stdout line is a ztunnel-format line, the ready line, the drain's and stop's too")
    void stdoutIsZtunnelsShapeOnly() throws Exception {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), Zerohop.class.getName(), "proxy", "--in-memory-ca", "--inbound", "127.0.83.1:0",
                "--metrics", "off", "--readiness", "off", "--admin", "off", "--drain", "0s", "--access-log-format", "ztunnel");
        java.io.File err = java.io.File.createTempFile("lifecycle", ".err");
        err.deleteOnExit();
        Process p = new ProcessBuilder(cmd).redirectError(err).start();
        List<String> after = new ArrayList<>();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null && !line.contains("zerohop proxy ready:")) {
                after.add(line);
            }
            assertThat(line).as("the ready line").isNotNull();
            // The ready line in the same shape (it stayed plain until 4 December): a search still finds its text.
            assertThat(line).matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z\tinfo\tzerohop\tzerohop proxy ready: .*");
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
        assertThat(after).as("ztunnel's text shape, before and after ready: time, level, target, message, tab-separated")
                .allMatch(l -> l.matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z\t(info|warn)\t[^\t]+\t.*"));
        // The proxy's slf4j lines too, on the same stream (LogShape; they were zerohop's shape on stderr until 4 December).
        assertThat(after).as("mesh-core's drain lines, scope without io.zerohop.")
                .anyMatch(l -> l.endsWith("\tinfo\tcore.Mesh\tdrained: every tunnel finished"));
        assertThat(java.nio.file.Files.readString(err.toPath())).as("stderr").doesNotContain("drained: every tunnel finished");
    }

    /**
     * The proxy's own lines are at scope {@code zerohop}'s level in a ztunnel shape, as ztunnel's own info lines are at
     * its filter's: {@code RUST_LOG=warn} prints none of them, the ready line neither (readiness is /healthz/ready's), and
     * {@code zerohop=info} brings them back. Until 4 December they ignored the level.
     */
    @Test
    @Timeout(120)
    void atRustLogWarnTheProxysInfoLinesAreNotPrinted() throws Exception {
        // A fixed port on an address no other test uses: the ready line, which would give a port 0's number, is what is off.
        onlyWarningsAt("warn", "127.0.83.5");
    }

    /**
     * {@code RUST_LOG=access=info} names targets only: as tracing's {@code Targets} without a default, everything else is
     * off (LogLevels.startupClauses), so the proxy's info lines (the ready line, the drain's) are not printed. The start
     * read the variable with {@code parse} until 6 December and kept them at info (helper 262; helper 268: the unit test
     * of startupClauses passed with the start not calling it).
     */
    @Test
    @Timeout(120)
    void atRustLogNamingTargetsOnlyTheProxysInfoLinesAreNotPrinted() throws Exception {
        onlyWarningsAt("access=info", "127.0.116.5");
    }

    private static void onlyWarningsAt(String rustLog, String ip) throws Exception {
        String readiness = ip + ":15021";
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), Zerohop.class.getName(), "proxy", "--in-memory-ca", "--inbound", ip + ":0",
                "--metrics", "off", "--readiness", readiness, "--admin", "off", "--drain", "0s", "--access-log-format", "ztunnel");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("RUST_LOG", rustLog);
        java.io.File out = java.io.File.createTempFile("lifecycle", ".out");
        out.deleteOnExit();
        Process p = pb.redirectOutput(out).start();
        try {
            java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
            java.net.URI ready = java.net.URI.create("http://" + readiness + "/healthz/ready");
            int status = 0;
            for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60); status != 200 && System.nanoTime() < end && p.isAlive(); ) {
                try {
                    status = http.send(java.net.http.HttpRequest.newBuilder(ready).build(),
                            java.net.http.HttpResponse.BodyHandlers.discarding()).statusCode();
                } catch (java.io.IOException notYet) {
                    Thread.sleep(50);
                }
            }
            assertThat(status).as("/healthz/ready; output: %s", java.nio.file.Files.readString(out.toPath())).isEqualTo(200);
            new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
        } finally {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        assertThat(p.exitValue()).isZero();
        // Only warnings: a runner started in the background passes its ignored SIGINT on, and the proxy says so (Signals).
        assertThat(java.nio.file.Files.readAllLines(out.toPath())).as("stdout and stderr at RUST_LOG=%s", rustLog)
                .allMatch(l -> l.contains("\twarn\tcli.Signals\tSIGINT is ignored by this process"));
    }

    @Test
    void linesInEachShape() {
        assertThat(LogShape.line("ztunnel", "warn", "core.Mesh", "a \"b\"", "java.io.IOException: x \"y\"\nz", T))
                .isEqualTo("2026-12-02T03:04:05.123456Z\twarn\tcore.Mesh\ta \"b\"\terror=\"java.io.IOException: x \\\"y\\\"\\u000az\"");
        assertThat(LogShape.line("ztunnel-json", "error", "io.netty.X", "m", "e", T))
                .isEqualTo("{\"level\":\"error\",\"time\":\"2026-12-02T03:04:05.123456Z\",\"scope\":\"io.netty.X\",\"message\":\"m\","
                        + "\"error\":\"e\"}");
        assertThat(LogShape.line("zerohop", "warn", "core.Mesh", "as given", "e", T)).isEqualTo("as given");
        // A control character in the text shape's message stays one line of four fields (a --node with a newline broke it
        // in two; ztunnel writes messages raw); quotes and backslashes stay as they are.
        assertThat(LogShape.line("ztunnel", "warn", "zerohop", "--node evil\nINJECTED\tline \"q\" \\ \u0001", null, T))
                .isEqualTo("2026-12-02T03:04:05.123456Z\twarn\tzerohop\t--node evil\\nINJECTED\\tline \"q\" \\ \\u0001");
        assertThat(LogShape.scope("io.zerohop.core.Mesh")).isEqualTo("core.Mesh");
        assertThat(LogShape.scope("io.zerohop.access")).isEqualTo("access");
        assertThat(LogShape.scope("io.netty.handler.ssl.SslHandler")).isEqualTo("io.netty.handler.ssl.SslHandler");
    }

    /**
     * A logger of the CLI's slf4j writes ztunnel's shape on stdout once it is chosen, with the throwable as an error
     * field and its trace on stderr, through the classic and the fluent API alike; at its level, as LogLevels sets it.
     */
    @Test
    void aShapedLoggerWritesStdoutOnceZtunnelsShapeIsChosen() {
        java.io.PrintStream out = System.out;
        java.io.PrintStream errStream = System.err;
        java.io.ByteArrayOutputStream o = new java.io.ByteArrayOutputStream();
        java.io.ByteArrayOutputStream e = new java.io.ByteArrayOutputStream();
        LogShape.Shaped log = new LogShape.Shaped("io.zerohop.core.internal.Test");
        try {
            System.setOut(new java.io.PrintStream(o, true, StandardCharsets.UTF_8));
            System.setErr(new java.io.PrintStream(e, true, StandardCharsets.UTF_8));
            LogShape.use("ztunnel");
            log.warn("dial {} failed", "10.0.0.9:80", new java.net.ConnectException("Connection refused"));
            log.atError().setMessage("fluent {}").addArgument(7).log();
            // A throwable without a trace (Netty's native I/O errors) is the error field only: stderr would get a bare
            // repeat of it without time or context.
            java.io.IOException frameless = new java.io.IOException("recvAddress(..) failed with error(-104)");
            frameless.setStackTrace(new StackTraceElement[0]);
            log.warn("setup failed", frameless);
            // The module's tests run slf4j-simple at warn (pom.xml): an info line is below the logger's level.
            log.info("not at this level");
            // Written by LogOutput's thread, one queued entry per line.
            assertThat(io.zerohop.core.LogOutput.flush(java.time.Duration.ofSeconds(10))).isTrue();
        } finally {
            LogShape.use("zerohop");
            System.setOut(out);
            System.setErr(errStream);
        }
        String[] lines = o.toString(StandardCharsets.UTF_8).split("\n");
        assertThat(lines).hasSize(3);
        assertThat(lines[2]).endsWith("\twarn\tcore.internal.Test\tsetup failed\terror=\"java.io.IOException: recvAddress(..) failed with error(-104)\"");
        assertThat(lines[0]).matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z\twarn\tcore\\.internal\\.Test\t"
                + "dial 10\\.0\\.0\\.9:80 failed\terror=\"java\\.net\\.ConnectException: Connection refused\"");
        assertThat(lines[1]).endsWith("\terror\tcore.internal.Test\tfluent 7");
        assertThat(e.toString(StandardCharsets.UTF_8)).startsWith("java.net.ConnectException: Connection refused").contains("\tat ")
                .doesNotContain("recvAddress");
    }
}
