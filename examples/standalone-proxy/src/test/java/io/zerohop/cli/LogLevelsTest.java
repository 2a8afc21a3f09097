package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.HttpEndpoint;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code /logging}'s and {@code RUST_LOG}'s directives. ztunnel reads {@code RUST_LOG} with tracing's {@code Targets}
 * (istio/ztunnel src/telemetry.rs {@code default_filter}): {@code TARGET=LEVEL} with Rust module paths as targets, a bare
 * level for the default, a bare target for everything of it. A first version split at the first {@code :}, so a
 * module path ({@code ztunnel::proxy=debug}) did not parse and stopped the start.
 */
class LogLevelsTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    /**
     * A change through {@code /logging} is logged at INFO with the filter it makes, before it applies, as ztunnel's
     * {@code set_level} logs {@code new log filter is ...} (istio/ztunnel src/telemetry.rs): a runtime change of a node's
     * levels leaves its trace in that node's log, even the change that silences INFO. A listing changes nothing and
     * logs nothing (helper 262: zerohop logged no change at all).
     */
    @Test
    void aChangeIsLoggedWithTheNewFilter() throws Exception {
        try {
            // The tests run at warn (the pom): this class's own logger at info first, a change logged under warn.
            LogLevels.handle(post(Map.of("level", "io.zerohop.cli.LogLevels=info")));
            assertThat(std.err.toString()).doesNotContain("new log filter");
            assertThat(LogLevels.handle(post(Map.of("level", "access=warn"))).body()).contains(",io.zerohop.access=warn");
            assertThat(std.err.toString()).contains("INFO LogLevels - new log filter is ").contains(",io.zerohop.access=warn");
            std.err.reset();
            assertThat(LogLevels.handle(post(Map.of("level", "warn"))).body()).startsWith("current log level is warn,");
            assertThat(std.err.toString()).as("the change to warn is logged at INFO, under the filter it replaces")
                    .contains("new log filter is warn,");
            std.err.reset();
            LogLevels.handle(post(Map.of()));
            assertThat(std.err.toString()).as("a listing").doesNotContain("new log filter");
        } finally {
            LogLevels.handle(post(Map.of("reset", "")));
        }
        assertThat(std.err.toString()).as("a reset is a change").contains("new log filter is ");
    }

    private static HttpEndpoint.Request post(Map<String, String> query) {
        return new HttpEndpoint.Request("POST", "/logging", query);
    }
    /**
     * ztunnel's {@code RUST_LOG=access=info} is a {@code Targets} filter without a default, which disables everything
     * else (istio/ztunnel src/telemetry.rs {@code default_filter}); zerohop kept info for the rest (helper 262).
     */
    @Test
    void targetsOnlyStartEverythingElseOff() {
        assertThat(LogLevels.startupClauses("access=info")).containsExactly(Map.entry("", "off"), Map.entry("io.zerohop.access", "info"));
        assertThat(LogLevels.startupClauses("ztunnel::proxy")).containsExactly(Map.entry("", "off"), Map.entry("ztunnel::proxy", "trace"));
        assertThat(LogLevels.startupClauses("access=info,warn")).containsExactly(Map.entry("io.zerohop.access", "info"), Map.entry("", "warn"));
        assertThat(LogLevels.startupClauses("")).as("empty: info stays (README)").isEmpty();
        assertThat(LogLevels.startupClauses("access=loud")).isNull();
    }

    @Test
    void directivesAsZtunnelsVariablesHoldThem() {
        assertThat(LogLevels.parse("warn,access=info", true)).containsExactly(Map.entry("", "warn"), Map.entry("io.zerohop.access", "info"));
        assertThat(LogLevels.parse("info,ztunnel::proxy=debug,hickory_server::server=off", true)).containsExactly(
                Map.entry("", "info"), Map.entry("ztunnel::proxy", "debug"), Map.entry("hickory_server::server", "off"));
        assertThat(LogLevels.parse("ztunnel::proxy", true)).as("a bare target: all of it").containsExactly(Map.entry("ztunnel::proxy", "trace"));
        assertThat(LogLevels.parse("io.zerohop.hbone:DEBUG", true)).containsExactly(Map.entry("io.zerohop.hbone", "debug"));
        assertThat(LogLevels.parse("", true)).isEmpty();
        // tracing's directive and LevelFilter parsing (a new-user pass: ztunnel starts with each of these, zerohop did not).
        assertThat(LogLevels.parse("debug,,access=off,", true)).containsExactly(Map.entry("", "debug"), Map.entry("io.zerohop.access", "off"));
        assertThat(LogLevels.parse("3,access=0", true)).containsExactly(Map.entry("", "info"), Map.entry("io.zerohop.access", "off"));
        assertThat(LogLevels.parse("access=", true)).containsExactly(Map.entry("io.zerohop.access", "error"));
        assertThat(LogLevels.parse("access=loud", true)).as("a level that is none").isNull();
        assertThat(LogLevels.parse("=info", true)).as("a target that is empty").isNull();
    }

    @Test
    void theAdminsLevelParameterKeepsItsErrors() {
        assertThat(LogLevels.parse("access:bogus", false)).isNull();
        assertThat(LogLevels.parse("bogus", false)).as("no bare targets in /logging").isNull();
        assertThat(LogLevels.parse("access=off", false)).containsExactly(Map.entry("io.zerohop.access", "off"));
        assertThat(LogLevels.parse("ztunnel::proxy=debug", false)).containsExactly(Map.entry("ztunnel::proxy", "debug"));
    }
}
