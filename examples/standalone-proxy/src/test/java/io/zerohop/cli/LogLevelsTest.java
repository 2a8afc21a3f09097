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
        assertThat(LogLevels.rustLogClauses("warn,access=info")).containsExactly(Map.entry("", "warn"), Map.entry("io.zerohop.access", "info"));
        assertThat(LogLevels.rustLogClauses("info,ztunnel::proxy=debug,hickory_server::server=off")).containsExactly(
                Map.entry("", "info"), Map.entry("ztunnel::proxy", "debug"), Map.entry("hickory_server::server", "off"));
        assertThat(LogLevels.rustLogClauses("ztunnel::proxy")).as("a bare target: all of it").containsExactly(Map.entry("ztunnel::proxy", "trace"));
        assertThat(LogLevels.rustLogClauses("io.zerohop.hbone:DEBUG")).containsExactly(Map.entry("io.zerohop.hbone", "debug"));
        assertThat(LogLevels.rustLogClauses("")).isEmpty();
        // tracing's directive and LevelFilter parsing (a new-user pass: ztunnel starts with each of these, zerohop did not).
        assertThat(LogLevels.rustLogClauses("debug,,access=off,")).containsExactly(Map.entry("", "debug"), Map.entry("io.zerohop.access", "off"));
        assertThat(LogLevels.rustLogClauses("3,access=0")).containsExactly(Map.entry("", "info"), Map.entry("io.zerohop.access", "off"));
        assertThat(LogLevels.rustLogClauses("access=")).containsExactly(Map.entry("io.zerohop.access", "error"));
        assertThat(LogLevels.rustLogClauses("access=loud")).as("a level that is none").isNull();
        assertThat(LogLevels.rustLogClauses("=info")).as("a target that is empty").isNull();
    }

    /**
     * {@code /logging}'s parameter as istio/ztunnel src/admin.rs {@code validate_log_level} takes it (the round trip
     * through a started proxy: {@link AdminLoggingFormsTest}): a bare level under the key null, {@code NAME=LEVEL} by
     * tracing's directive parsing, {@code NAME:LEVEL} and a bare name refused.
     */
    @Test
    void theAdminsLevelParameterIsZtunnels() {
        assertThat(LogLevels.adminClauses("access:bogus")).isNull();
        assertThat(LogLevels.adminClauses("access:debug")).as("NAME:LEVEL: ztunnel's check refuses it").isNull();
        assertThat(LogLevels.adminClauses("bogus")).as("no bare targets in /logging").isNull();
        assertThat(LogLevels.adminClauses("access=off")).containsExactly(Map.entry("io.zerohop.access", "off"));
        assertThat(LogLevels.adminClauses("ztunnel::proxy=debug")).containsExactly(Map.entry("ztunnel::proxy", "debug"));
        assertThat(LogLevels.adminClauses("warn")).containsOnlyKeys((String) null).containsValue("warn");
        assertThat(LogLevels.adminClauses("")).isEmpty();
        assertThat(LogLevels.adminClauses(null)).isEmpty();
    }

    /** tracing-core 0.1.36 {@code LevelFilter::from_str} (src/metadata.rs), ztunnel's Cargo.lock version. */
    @Test
    void levelsAsTracingCoreReadsThem() {
        assertThat(LogLevels.levelFilter("DeBuG")).isEqualTo("debug");
        assertThat(LogLevels.levelFilter("")).isEqualTo("error");
        assertThat(LogLevels.levelFilter("5")).isEqualTo("trace");
        assertThat(LogLevels.levelFilter("+0")).isEqualTo("off");
        assertThat(LogLevels.levelFilter("0004")).isEqualTo("debug");
        assertThat(LogLevels.levelFilter("6")).isNull();
        assertThat(LogLevels.levelFilter("99999999999999999999999")).isNull();
        assertThat(LogLevels.levelFilter("+")).isNull();
        assertThat(LogLevels.levelFilter("-0")).isNull();
        assertThat(LogLevels.levelFilter("\u0131nfo")).as("ASCII case only: dotless i is no i").isNull();
        assertThat(LogLevels.levelFilter(" info")).isNull();
    }
}
