package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A usage error caused by an environment variable alone is its one line naming the variable, as ztunnel's
 * {@code Error::EnvVar} is (istio/ztunnel src/config.rs), and ends there: until 6 December it ended with
 * "Run 'zerohop proxy --help' for usage.", which sends the reader to the options when no option was wrong. An option's
 * error keeps the hint. Child JVMs, for their environment; each stops before anything listens. (SECRET_TTL and
 * CA_HEADER_*: IstioCaEnvTest; CONNECTION_TERMINATION_DEADLINE: DrainDeadlineEnvTest; CLUSTER_ID: ClusterIdOptionTest.)
 */
class EnvVariableErrorsTest {
    static final List<String> CLEAN = List.of("CONNECTION_TERMINATION_DEADLINE", "TERMINATION_GRACE_PERIOD_SECONDS", "CLUSTER_ID",
            "ISTIO_META_CLUSTER_ID", "RUST_LOG", "PILOT_HTTP10", "ISTIO_META_HTTP10", "SECRET_TTL");

    static CliChild.Result proxy(Map<String, String> env, String... extra) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("proxy", "--in-memory-ca", "--inbound", "off", "--metrics", "off",
                "--readiness", "off", "--admin", "off"));
        args.addAll(List.of(extra));
        return CliChild.run(env, CLEAN, args.toArray(String[]::new));
    }

    @Test
    @Timeout(120)
    void rustLogGracePeriodAndHttp10EndWithoutTheHelpHint() throws Exception {
        CliChild.Result rustLog = proxy(Map.of("RUST_LOG", "access=loud"));
        assertThat(rustLog.exit()).as(rustLog.output()).isEqualTo(2);
        assertThat(rustLog.firstLine()).startsWith("zerohop proxy: $RUST_LOG: ");
        assertThat(rustLog.output().lines()).as(rustLog.output()).containsExactly(rustLog.firstLine());

        CliChild.Result grace = proxy(Map.of("TERMINATION_GRACE_PERIOD_SECONDS", "30s"));
        assertThat(grace.exit()).as(grace.output()).isEqualTo(2);
        assertThat(grace.output()).isEqualTo("zerohop proxy: $TERMINATION_GRACE_PERIOD_SECONDS: \"30s\" is not a whole number of seconds\n");

        CliChild.Result http10 = proxy(Map.of("ISTIO_META_HTTP10", "true"));
        assertThat(http10.exit()).as(http10.output()).isEqualTo(2);
        assertThat(http10.firstLine()).startsWith("zerohop proxy: $ISTIO_META_HTTP10: \"true\" must be \"1\"");
        assertThat(http10.output().lines()).as(http10.output()).containsExactly(http10.firstLine());
    }

    /**
     * A value with a line break (a block scalar's trailing newline in a template, a ConfigMap file's) stays one line: the
     * break is shown escaped, as Rust's {@code {:?}} shows it. The value was printed as it is, and the error ran over two
     * lines, its second without the variable's name (found by helper 282).
     */
    @Test
    @Timeout(120)
    void aLineBreakInTheValueIsEscaped() throws Exception {
        CliChild.Result deadline = proxy(Map.of("CONNECTION_TERMINATION_DEADLINE", "soon\nlater"));
        assertThat(deadline.exit()).as(deadline.output()).isEqualTo(2);
        assertThat(deadline.output()).isEqualTo("zerohop proxy: $CONNECTION_TERMINATION_DEADLINE: bad duration \"soon\\nlater\""
                + " (examples: 500ms, 90s, 15m, 24h, 7d); ztunnel's sums of units are taken too (1m30s, 1m 30s, 90)\n");

        CliChild.Result clusterId = proxy(Map.of("CLUSTER_ID", "east\r\n"));
        assertThat(clusterId.exit()).as(clusterId.output()).isEqualTo(2);
        assertThat(clusterId.output().lines()).as(clusterId.output()).hasSize(1);
        assertThat(clusterId.output()).startsWith("zerohop proxy: $CLUSTER_ID: ").contains("\"east\\r\\n\"");
    }

    /**
     * ztunnel's tuning variables (ZtunnelEnv): a value its parser refuses stops the start with exit 2, in one line naming
     * the variable and the value, as ztunnel's start fails with {@code Error::EnvVar}; until 7 December they were not read.
     */
    @Test
    @Timeout(120)
    void ztunnelsTuningVariablesStopTheStartOnABadValue() throws Exception {
        CliChild.Result threads = proxy(Map.of("ZTUNNEL_WORKER_THREADS", "150%"));
        assertThat(threads.exit()).as(threads.output()).isEqualTo(2);
        assertThat(threads.output()).isEqualTo("zerohop proxy: $ZTUNNEL_WORKER_THREADS: \"150%\" does not parse: percentage must be"
                + " between 0 and 100 (ztunnel's start fails on it too)\n");
        CliChild.Result streams = proxy(Map.of("POOL_MAX_STREAMS_PER_CONNECTION", "lots"));
        assertThat(streams.exit()).as(streams.output()).isEqualTo(2);
        assertThat(streams.output()).isEqualTo("zerohop proxy: $POOL_MAX_STREAMS_PER_CONNECTION: \"lots\" does not parse: invalid digit"
                + " found in string (ztunnel's start fails on it too)\n");
    }

    /** The option's error, with the same value as the variable's: named by the option, and the hint follows. */
    @Test
    @Timeout(120)
    void anOptionsErrorKeepsTheHint() throws Exception {
        CliChild.Result r = proxy(Map.of(), "--drain", "soon");
        assertThat(r.exit()).as(r.output()).isEqualTo(2);
        assertThat(r.firstLine()).startsWith("zerohop proxy: --drain: bad duration \"soon\"");
        assertThat(r.output().lines()).as(r.output()).endsWith("Run 'zerohop proxy --help' for usage.");
    }
}
