package io.zerohop.cli.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A proxy started with SIGINT ignored (what a shell without job control does to a command it starts in the
 * background: newuser21's {@code zerohop proxy & kill -INT $!} in a script ran on, silent, for 10 minutes) says so
 * at start and names what stops it; SIGTERM still drains and exits 0. HotSpot keeps an inherited ignore of SIGINT
 * ({@code JVM_RegisterSignal}); ztunnel's handler would take the signal, which a JVM cannot.
 */
@Timeout(120)
class SignalIgnoredE2EIT {
    @Test
    void anIgnoredSigintIsNamedAtStart() throws Exception {
        Path jar = Path.of(System.getProperty("zerohop.e2e.jar"));
        Path work = Files.createDirectories(Path.of(System.getProperty("zerohop.e2e.workDir"), "signal-ignored-" + System.nanoTime()));
        List<String> java = StartSignalE2EIT.command(jar, List.of("--in-memory-ca", "--inbound", "127.0.31.5:0", "--metrics", "off",
                "--readiness", "off", "--admin", "off", "--drain", "1s"));
        List<String> cmd = new ArrayList<>(List.of("sh", "-c", "trap '' INT; exec \"$@\"", "sh"));
        cmd.addAll(java);
        try (Child proxy = Child.start("signal-ignored", work, cmd)) {
            String warn = proxy.awaitLine(l -> l.contains("SIGINT is ignored by this process"), "the warning", Duration.ofSeconds(60));
            assertThat(warn).contains("WARN").contains("stop the proxy with SIGTERM or POST /quitquitquit");
            proxy.awaitLine(l -> l.startsWith("zerohop proxy ready"), "ready", Duration.ofSeconds(60));
            new ProcessBuilder("kill", "-INT", Long.toString(proxy.pid())).start().waitFor();
            Thread.sleep(500); // the control: an ignored signal leaves it running
            assertThat(proxy.isAlive()).as("SIGINT is ignored, as the warning said").isTrue();
            proxy.sigtermNow();
            assertThat(proxy.awaitExit(Duration.ofSeconds(60))).as(proxy.tail()).isZero();
        }
        // In ztunnel's shape, on stdout, as the proxy's other lines there: the warning came before the shape was chosen,
        // in slf4j-simple's on stderr, until 4 December.
        List<String> shaped = new ArrayList<>(cmd);
        shaped.addAll(List.of("--access-log-format", "ztunnel"));
        try (Child proxy = Child.start("signal-ignored-ztunnel", work, shaped)) {
            String warn = proxy.awaitLine(l -> l.contains("SIGINT is ignored by this process"), "the warning", Duration.ofSeconds(60));
            assertThat(warn).matches("\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z\twarn\tcli\\.Signals\tSIGINT is ignored by this process: .*");
            proxy.awaitLine(l -> l.contains("\tzerohop proxy ready"), "ready", Duration.ofSeconds(60));
            proxy.sigtermNow();
            assertThat(proxy.awaitExit(Duration.ofSeconds(60))).as(proxy.tail()).isZero();
        }
        try (Child proxy = Child.start("signal-default", work, java)) {
            proxy.awaitLine(l -> l.startsWith("zerohop proxy ready"), "ready", Duration.ofSeconds(60));
            proxy.sigtermNow();
            assertThat(proxy.awaitExit(Duration.ofSeconds(60))).isZero();
            // The control holds only where this JVM's own SIGINT is not ignored (a runner started in the background
            // from a script passes its ignore on to every child).
            if (!sigintIgnoredHere()) {
                assertThat(proxy.lines()).as("nothing ignored, nothing said").noneMatch(l -> l.contains("is ignored by this process"));
            }
        }
    }

    /** Whether this JVM has SIGINT ignored ({@code /proc/self/status} SigIgn, bit 1). */
    static boolean sigintIgnoredHere() throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("SigIgn:")) {
                return (Long.parseUnsignedLong(line.substring(7).trim(), 16) & 2L) != 0;
            }
        }
        return false;
    }
}
