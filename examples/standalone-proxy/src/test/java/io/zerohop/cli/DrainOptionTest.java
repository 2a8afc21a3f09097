package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code --drain DURATION} (and every duration option, which share the grammar: ASCII digits and a
 * unit of ms, s, m, h or d, examples in each error): a sign is refused, and what the proxy prints is
 * the duration it parsed, not the text typed. newuser4's pass: {@code --drain +5s} and {@code --drain
 * -0s} were taken ({@link Long#parseLong} allows a sign) and printed as typed, {@code draining for up
 * to +5s}. The CLI in-process, as {@link CliTest}.
 */
@Timeout(180) // a duration taken when it should be refused starts a proxy that runs until stopped; above Hang.BOUND
class DrainOptionTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    @DisplayName("a signed or non-ASCII number is a usage error naming the option; exit 2")
    void aSignIsAUsageError() {
        for (String bad : new String[] {"+5s", "-0s", "+0ms", "-00s"}) {
            std.err.reset();
            assertThat(Zerohop.run("proxy", "--in-memory-ca", "--inbound", "off", "--metrics", "off", "--readiness", "off",
                    "--admin", "off", "--drain", bad)).as(bad).isEqualTo(2);
            assertThat(std.err.toString().lines().findFirst().orElse("")).isEqualTo("zerohop proxy: --drain: bad duration \"" + bad
                    + "\": write the number without a sign (examples: 500ms, 90s, 15m, 24h, 7d)");
        }
        assertThatThrownBy(() -> Cli.duration("-5s")).hasMessage("duration \"-5s\" is negative");
        // Long.parseLong reads other scripts' digits: ARABIC-INDIC DIGIT FIVE, FULLWIDTH DIGIT FIVE.
        for (String bad : new String[] {"\u0665s", "\uFF15s", "5\uFF10ms"}) {
            assertThatThrownBy(() -> Cli.duration(bad)).as(bad)
                    .hasMessage("bad duration \"" + bad + "\" (examples: 500ms, 90s, 15m, 24h, 7d)");
        }
        assertThatThrownBy(() -> Cli.duration("+5")).hasMessage("bad duration \"+5\": no unit (examples: 500ms, 90s, 15m, 24h, 7d)");
        assertThat(std.out.toString()).doesNotContain("zerohop proxy ready");
    }

    /**
     * {@code --drain} takes what {@code CONNECTION_TERMINATION_DEADLINE} takes (ztunnel's duration-str forms, istio/ztunnel
     * src/config.rs {@code parse_duration}; {@link DrainDeadlineEnvTest#theDeadlineReadsWhatZtunnelsDurationStrReads} lists
     * them): a value copied from a ztunnel DaemonSet's variable to the option. Until 6 December {@code --drain 1m30s} was a
     * usage error while the variable took it (helper 272). What neither takes stays a usage error naming the option.
     */
    @Test
    @DisplayName("--drain takes the variable's compound forms (1m30s, 1m 30s, 90); the rest stays a usage error naming --drain")
    void theFlagTakesWhatTheVariableTakes() {
        for (String v : new String[] {"1m30s", "1m 30s", "1m+30", "90S", "90", "0090", "1min30sec"}) {
            assertThat(ProxyCommand.drainDeadline(v, java.util.Map.of())).as(v).isEqualTo(Duration.ofSeconds(90));
        }
        assertThat(ProxyCommand.drainDeadline("1500ms", java.util.Map.of())).isEqualTo(Duration.ofMillis(1500));
        for (String bad : new String[] {"1m*10", "soon", "1.5s", "99999999999999999999", "36501d", "1m 30 fortnights"}) {
            std.err.reset();
            assertThat(Zerohop.run("proxy", "--in-memory-ca", "--inbound", "off", "--metrics", "off", "--readiness", "off",
                    "--admin", "off", "--drain", bad)).as(bad).isEqualTo(2);
            assertThat(std.err.toString().lines().findFirst().orElse("")).as(bad).startsWith("zerohop proxy: --drain: ")
                    .contains("\"" + bad + "\"");
        }
        assertThat(std.out.toString()).doesNotContain("zerohop proxy ready");
    }

    @Test
    @DisplayName("--drain 1m30s drains 'for up to 90s'")
    void aCompoundDrainStartsAndDrains() throws Exception {
        CompletableFuture<Integer> proxy = CompletableFuture.supplyAsync(() -> Zerohop.run("proxy", "--in-memory-ca",
                "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "127.0.121.4:47210", "--drain", "1m30s"));
        io.zerohop.testing.netty.Await.until("the ready line", Hang.BOUND, () -> std.out.toString().contains("zerohop proxy ready") || proxy.isDone());
        assertThat(proxy).as(std.out.toString() + std.err).isNotDone();
        AdminQuit.quit("127.0.121.4:47210");
        assertThat(io.zerohop.testing.netty.Await.result(proxy, Hang.BOUND)).isZero();
        assertThat(std.out.toString()).contains("zerohop proxy: /quitquitquit, draining for up to 90s" + System.lineSeparator());
    }

    @Test
    @DisplayName("a parsed duration prints in the grammar's largest exact unit")
    void aParsedDurationPrintsInItsLargestExactUnit() {
        assertThat(Cli.format(Cli.duration("0010s"))).isEqualTo("10s");
        assertThat(Cli.format(Cli.duration("90s"))).isEqualTo("90s");
        assertThat(Cli.format(Cli.duration("60s"))).isEqualTo("1m");
        assertThat(Cli.format(Cli.duration("1500ms"))).isEqualTo("1500ms");
        assertThat(Cli.format(Cli.duration("2000ms"))).isEqualTo("2s");
        assertThat(Cli.format(Cli.duration("48h"))).isEqualTo("2d");
        assertThat(Cli.format(Cli.duration("0ms"))).isEqualTo("0s");
        assertThat(Cli.format(Duration.ofNanos(1_500_000))).isEqualTo("1ms");
    }

    @Test
    @DisplayName("the drain line names the parsed duration: --drain 0090s drains 'for up to 90s'")
    void theDrainLineNamesTheParsedDuration() throws Exception {
        CompletableFuture<Integer> proxy = CompletableFuture.supplyAsync(() -> Zerohop.run("proxy", "--in-memory-ca",
                "--inbound", "127.0.31.1:0", "--metrics", "off", "--readiness", "off", "--admin", "127.0.31.1:0", "--drain", "0090s"));
        io.zerohop.testing.netty.Await.until("the ready line", Hang.BOUND, () -> std.out.toString().contains("zerohop proxy ready") || proxy.isDone());
        var admin = java.util.regex.Pattern.compile("admin (127\\.0\\.31\\.1:\\d+);").matcher(std.out.toString());
        assertThat(admin.find()).as(std.out.toString() + std.err).isTrue();
        AdminQuit.quit(admin.group(1));
        // Nothing is open, so the drain ends at once (the Mesh's "drained: every tunnel finished"), not after 90 s.
        assertThat(io.zerohop.testing.netty.Await.result(proxy, Hang.BOUND)).isZero();
        assertThat(std.out.toString()).contains("zerohop proxy: /quitquitquit, draining for up to 90s" + System.lineSeparator())
                .doesNotContain("0090s");
    }
}
