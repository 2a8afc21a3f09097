package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The drain deadline reads ztunnel's settings when {@code --drain} is not given (istio/ztunnel src/config.rs
 * {@code self_termination_deadline}: {@code CONNECTION_TERMINATION_DEADLINE}, else {@code TERMINATION_GRACE_PERIOD_SECONDS}
 * less 5 s, less 1 s when it is 10 or less, at least 1 s; ztunnel's Helm chart sets the second from the pod's
 * terminationGracePeriodSeconds). newuser21: a ztunnel operator's variables were ignored.
 */
class DrainDeadlineEnvTest {
    @Test
    void theFlagWinsThenTheDeadlineThenTheGracePeriod() {
        Map<String, String> both = Map.of("CONNECTION_TERMINATION_DEADLINE", "30s", "TERMINATION_GRACE_PERIOD_SECONDS", "60");
        assertThat(ProxyCommand.drainDeadline("2s", both)).isEqualTo(Duration.ofSeconds(2));
        assertThat(ProxyCommand.drainDeadline(null, both)).isEqualTo(Duration.ofSeconds(30));
        // duration_str, which ztunnel parses it with, reads a bare number as seconds.
        assertThat(ProxyCommand.drainDeadline(null, Map.of("CONNECTION_TERMINATION_DEADLINE", "3"))).isEqualTo(Duration.ofSeconds(3));
        assertThat(ProxyCommand.drainDeadline(null, Map.of("TERMINATION_GRACE_PERIOD_SECONDS", "60"))).isEqualTo(Duration.ofSeconds(55));
        assertThat(ProxyCommand.drainDeadline(null, Map.of())).as("zerohop's own default").isEqualTo(Duration.ofSeconds(10));
    }

    @Test
    void aShortGracePeriodLeavesOneSecond() {
        assertThat(ProxyCommand.drainDeadline(null, Map.of("TERMINATION_GRACE_PERIOD_SECONDS", "11"))).isEqualTo(Duration.ofSeconds(6));
        assertThat(ProxyCommand.drainDeadline(null, Map.of("TERMINATION_GRACE_PERIOD_SECONDS", "10"))).isEqualTo(Duration.ofSeconds(9));
        assertThat(ProxyCommand.drainDeadline(null, Map.of("TERMINATION_GRACE_PERIOD_SECONDS", "2"))).isEqualTo(Duration.ofSeconds(1));
        assertThat(ProxyCommand.drainDeadline(null, Map.of("TERMINATION_GRACE_PERIOD_SECONDS", "1"))).isEqualTo(Duration.ofSeconds(1));
    }

    /**
     * ztunnel parses {@code CONNECTION_TERMINATION_DEADLINE} with duration-str, which reads more than {@code --drain}'s
     * grammar: a value a ztunnel DaemonSet carries (`1m30s`) stopped the start with exit 2 (helper 262).
     */
    @Test
    void theDeadlineReadsWhatZtunnelsDurationStrReads() {
        Map<String, Duration> values = new java.util.LinkedHashMap<>();
        values.put("1m30s", Duration.ofSeconds(90));
        values.put("1m 30s", Duration.ofSeconds(90));
        values.put("1m+30", Duration.ofSeconds(90));
        values.put(" 1m + 30 s ", Duration.ofSeconds(90));
        values.put("1m31", Duration.ofSeconds(91));
        values.put("90S", Duration.ofSeconds(90));
        values.put("2min", Duration.ofMinutes(2));
        values.put("1 hr", Duration.ofHours(1));
        values.put("10 sec", Duration.ofSeconds(10));
        values.put("1d2h3min4s", Duration.ofSeconds(93_784));
        values.put("1500MS", Duration.ofMillis(1500));
        values.put("3m31s0ns", Duration.ofSeconds(211));
        values.put("90s", Duration.ofSeconds(90));
        // duration-str 0.21.0 (ztunnel's Cargo.lock) reads plurals too: src/unit.rs TimeUnit::from_str, "years" to
        // "nanoseconds" ("feat: support plural"). zerohop refused them, "bad duration" (found by helper 282).
        values.put("30 seconds", Duration.ofSeconds(30));
        values.put("2 Minutes 5 Seconds", Duration.ofSeconds(125));
        values.put("1 hours", Duration.ofHours(1));
        values.put("2days", Duration.ofDays(2));
        values.put("1 weeks", Duration.ofDays(7));
        values.put("1 months", Duration.ofDays(30));
        values.put("1 years", Duration.ofDays(365));
        values.put("1500 milliseconds", Duration.ofMillis(1500));
        values.put("7 microseconds", Duration.ofNanos(7_000));
        values.put("9 nanoseconds", Duration.ofNanos(9));
        values.forEach((v, d) -> assertThat(ProxyCommand.drainDeadline(null, Map.of("CONNECTION_TERMINATION_DEADLINE", v)))
                .as(v).isEqualTo(d));
        for (String bad : new String[] {"soon", "1m*10", "-5s", "1.5s", "s", "5x", "1m 30 fortnights", "", " ", "5 secs", "1 hrs"}) {
            assertThatThrownBy(() -> ProxyCommand.drainDeadline(null, Map.of("CONNECTION_TERMINATION_DEADLINE", bad)))
                    .as(bad).hasMessageStartingWith("$CONNECTION_TERMINATION_DEADLINE: ");
        }
        assertThatThrownBy(() -> ProxyCommand.drainDeadline(null, Map.of("CONNECTION_TERMINATION_DEADLINE", "200y")))
                .hasMessageStartingWith("$CONNECTION_TERMINATION_DEADLINE: ");
    }

    @Test
    void aBadVariableIsNamed() {
        assertThatThrownBy(() -> ProxyCommand.drainDeadline(null, Map.of("CONNECTION_TERMINATION_DEADLINE", "soon")))
                .hasMessageStartingWith("$CONNECTION_TERMINATION_DEADLINE: bad duration \"soon\"")
                .hasMessageEndingWith("; ztunnel's sums of units are taken too (1m30s, 1m 30s, 90)");
        assertThatThrownBy(() -> ProxyCommand.drainDeadline(null, Map.of("TERMINATION_GRACE_PERIOD_SECONDS", "30s")))
                .hasMessage("$TERMINATION_GRACE_PERIOD_SECONDS: \"30s\" is not a whole number of seconds");
        // A bare number past the limit: duration-str's overflow is ztunnel's error too; zerohop threw NumberFormatException
        // (exit 1 with a stack trace) or took 9999999999999 s past the library's 36500-day limit (helper 272).
        for (String tooLong : new String[] {"99999999999999999999", "9999999999999"}) {
            assertThatThrownBy(() -> ProxyCommand.drainDeadline(null, Map.of("CONNECTION_TERMINATION_DEADLINE", tooLong)))
                    .as(tooLong).isInstanceOf(Cli.RefusedException.class)
                    .hasMessageStartingWith("$CONNECTION_TERMINATION_DEADLINE: duration \"" + tooLong + "\" is too long");
        }
        // A bare number is seconds here, so a negative one is refused for its sign, not for a missing unit (helper 275).
        assertThatThrownBy(() -> ProxyCommand.drainDeadline(null, Map.of("CONNECTION_TERMINATION_DEADLINE", "-5")))
                .hasMessageStartingWith("$CONNECTION_TERMINATION_DEADLINE: duration \"-5\" is negative");
        assertThatThrownBy(() -> ProxyCommand.drainDeadline("-5", Map.of())).hasMessageStartingWith("duration \"-5\" is negative");
    }

    /**
     * A bad variable's usage error names the variable, not {@code --drain}, which the user did not give: it read
     * {@code zerohop proxy: --drain: $CONNECTION_TERMINATION_DEADLINE: bad duration "soon" ...} (helper 272). ztunnel's
     * error names the variable alone (istio/ztunnel src/config.rs {@code parse_duration}: {@code Error::EnvVar}). A child
     * JVM, for its environment; it stops before anything listens.
     */
    @Test
    @org.junit.jupiter.api.Timeout(120)
    void aBadVariableStopsTheStartNamingOnlyTheVariable() throws Exception {
        CliChild.Result r = CliChild.run(Map.of("CONNECTION_TERMINATION_DEADLINE", "soon"), java.util.List.of("TERMINATION_GRACE_PERIOD_SECONDS"),
                "proxy", "--in-memory-ca", "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off");
        String out = r.output();
        assertThat(r.exit()).as(out).isEqualTo(2);
        assertThat(r.firstLine()).isEqualTo("zerohop proxy: $CONNECTION_TERMINATION_DEADLINE: bad duration \"soon\""
                + " (examples: 500ms, 90s, 15m, 24h, 7d); ztunnel's sums of units are taken too (1m30s, 1m 30s, 90)");
        assertThat(out).doesNotContain("--drain:");
        // The error ends there: "Run 'zerohop proxy --help' for usage." followed until 6 December, though no option was wrong.
        assertThat(out.lines()).as(out).containsExactly(r.firstLine());
    }
}
