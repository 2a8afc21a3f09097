package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The proxy initialises slf4j on its start thread while the main thread parses the options; a line the main
 * thread logged meanwhile (Micrometer's DEBUG "Using SLF4J as the default logging framework") was recorded and
 * replayed by slf4j with a three-line "SLF4J(W): A number (1) of logging calls during the initialization phase
 * have been intercepted and are now being replayed" warning on stderr (new-user pass: once in five starts). Now
 * the main thread waits for that initialisation before it logs ({@link LogProvider#awaitInitialised}). A child
 * JVM with {@link SlowLogProvider}, whose initialisation lasts until some other thread has logged (2 s at most),
 * makes the old race certain: without the wait its stderr had the warning on every run.
 */
class LogRaceTest {
    @Test
    void noLogLineIsInterceptedWhileSlf4jInitialises() throws Exception {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dslf4j.provider=" + SlowLogProvider.class.getName(), "-cp", System.getProperty("java.class.path"),
                Zerohop.class.getName(), "proxy", "--in-memory-ca", "--inbound", "127.0.64.20:0", "--metrics", "off",
                "--readiness", "off", "--admin", "off");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        StringBuilder out = new StringBuilder();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                out.append(line).append('\n');
                if (line.startsWith("zerohop proxy ready:")) {
                    // SIGTERM (drains, exits 0); Process.destroy would close the stream still being read.
                    new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
                }
            }
        } finally {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        assertThat(out.toString()).contains("zerohop proxy ready:").doesNotContain("SLF4J(W)").doesNotContain("intercepted");
        assertThat(p.exitValue()).as(out.toString()).isZero();
    }
}
