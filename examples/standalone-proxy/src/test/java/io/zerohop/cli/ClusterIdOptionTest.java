package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The proxy's cluster id as ztunnel's CLUSTER_ID (istio/ztunnel src/config.rs: the
 * {@code ISTIO_META_CLUSTER_ID} variable, else {@code CLUSTER_ID}, else {@code DEFAULT_CLUSTER_ID}
 * "Kubernetes"; read whatever the CA), with {@code --cluster-id} first, as {@code --node} wins over
 * {@code NODE_NAME}. The environment is passed as a map: a test cannot set its own JVM's.
 */
class ClusterIdOptionTest {
    @Test
    void clusterIdIsAcceptedWithAnyIdentitySource() {
        for (String[] source : new String[][] {{"--in-memory-ca"}, {"--ca", "/etc/zerohop/ca"}, {"--spire-socket", "/run/spire.sock"}}) {
            String[] line = new String[source.length + 3];
            line[0] = "proxy";
            System.arraycopy(source, 0, line, 1, source.length);
            line[source.length + 1] = "--cluster-id";
            line[source.length + 2] = "west";
            CommandLine.ParseResult parsed = new CommandLine(new Zerohop()).parseArgs(line).subcommand();
            assertThat(parsed.matchedOptionValue("--cluster-id", "")).as(source[0]).isEqualTo("west");
        }
    }

    @Test
    void theFlagWinsThenIstioMetaClusterIdThenClusterIdThenKubernetes() {
        Map<String, String> both = Map.of("ISTIO_META_CLUSTER_ID", "meta", "CLUSTER_ID", "env");
        assertThat(ProxyCommand.clusterId("west", both)).isEqualTo(new ProxyCommand.ClusterId("west", "--cluster-id"));
        assertThat(ProxyCommand.clusterId(null, both)).isEqualTo(new ProxyCommand.ClusterId("meta", "$ISTIO_META_CLUSTER_ID"));
        assertThat(ProxyCommand.clusterId(null, Map.of("CLUSTER_ID", "east"))).isEqualTo(new ProxyCommand.ClusterId("east", "$CLUSTER_ID"));
        assertThat(ProxyCommand.clusterId(null, Map.of())).isEqualTo(new ProxyCommand.ClusterId("Kubernetes", "default"));
    }

    @Test
    void aBadIdFromTheEnvironmentIsAnErrorNamingTheVariable() {
        assertThat(catchThrowable(() -> ProxyCommand.clusterId(null, Map.of("CLUSTER_ID", "a,b"))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("$CLUSTER_ID: cluster id must be");
        assertThat(Zerohop.run("proxy", "--in-memory-ca", "--cluster-id", "a b")).as("usage error").isEqualTo(2);
        assertThat(catchThrowable(() -> ProxyCommand.clusterId("", Map.of()))).as("the flag is zerohop's own: empty is refused")
                .hasMessage(ProxyCommand.EMPTY_CLUSTER_ID);
    }

    /**
     * A variable set but empty (a DaemonSet template's {@code value: ""}) is read as ztunnel reads it, not refused
     * (new-user pass: exit 2 where ztunnel starts): istio/ztunnel src/config.rs {@code parse::<String>} gives
     * {@code Some("")} for a set variable, so the id is "" and an empty {@code ISTIO_META_CLUSTER_ID} hides
     * {@code CLUSTER_ID}; the CA's ClusterID header carries "" (istiod then uses its own cluster, istio/istio
     * kube_jwt.go getKubeClient), and workloads without a cluster label are {@code Kubernetes}, as ztunnel reads
     * an empty cluster id (src/state/workload.rs).
     */
    @Test
    void aVariableSetButEmptyIsTheEmptyIdAsInZtunnel() {
        ProxyCommand.ClusterId empty = ProxyCommand.clusterId(null, Map.of("CLUSTER_ID", ""));
        assertThat(empty).isEqualTo(new ProxyCommand.ClusterId("", "$CLUSTER_ID"));
        assertThat(empty.workloadCluster()).isEqualTo("Kubernetes");
        assertThat(ProxyCommand.clusterId(null, Map.of("ISTIO_META_CLUSTER_ID", "", "CLUSTER_ID", "east")))
                .isEqualTo(new ProxyCommand.ClusterId("", "$ISTIO_META_CLUSTER_ID"));
        assertThat(ProxyCommand.clusterId(null, Map.of("CLUSTER_ID", "east")).workloadCluster()).isEqualTo("east");
    }

    /** A proxy started without {@code --cluster-id} and a bad {@code CLUSTER_ID} is told about the variable alone, as ztunnel's {@code Error::EnvVar}. */
    @Test
    @org.junit.jupiter.api.Timeout(120)
    void aBadVariableStopsTheStartNamingOnlyTheVariable() throws Exception {
        CliChild.Result r = CliChild.run(Map.of("CLUSTER_ID", "a,b"), java.util.List.of("ISTIO_META_CLUSTER_ID"), "proxy",
                "--in-memory-ca", "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off");
        String out = r.output();
        assertThat(r.exit()).as(out).isEqualTo(2);
        assertThat(r.firstLine()).as(out).startsWith("zerohop proxy: $CLUSTER_ID: cluster id must be");
        assertThat(out).doesNotContain("--cluster-id:");
        // The error ends there: "Run 'zerohop proxy --help' for usage." followed until 6 December, though no option was wrong.
        assertThat(out.lines()).as(out).containsExactly(r.firstLine());
    }
}
