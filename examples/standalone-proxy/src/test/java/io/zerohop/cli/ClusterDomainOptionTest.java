package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code --cluster-domain}: the cluster's DNS domain, which every Kubernetes Service's hostname ends with
 * ({@code KubernetesDiscovery.Builder.clusterDomain}); istiod's {@code --domain} (istio/istio
 * pilot/cmd/pilot-discovery/app/cmd.go), ztunnel's {@code CLUSTER_DOMAIN} (istio/ztunnel src/config.rs, default
 * {@code DEFAULT_CLUSTER_DOMAIN} "cluster.local"), with the flag first as {@code --cluster-id} over {@code CLUSTER_ID}.
 */
class ClusterDomainOptionTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    void theFlagWinsThenClusterDomainThenClusterLocal() {
        assertThat(ProxyCommand.clusterDomain("corp.example", Map.of("CLUSTER_DOMAIN", "env.example"))).isEqualTo("corp.example");
        assertThat(ProxyCommand.clusterDomain(null, Map.of("CLUSTER_DOMAIN", "env.example"))).isEqualTo("env.example");
        assertThat(ProxyCommand.clusterDomain(null, Map.of())).isEqualTo("cluster.local");
    }

    @Test
    void aBadDomainIsAUsageErrorNamingTheFlagOrTheVariable() {
        String out = std.run("proxy", "--in-memory-ca", "--cluster-domain", "Corp_Example", "--inbound", "off", "--metrics", "off",
                "--readiness", "off", "--admin", "off");
        assertThat(out).startsWith("exit 2: zerohop proxy: --cluster-domain").contains("\"Corp_Example\" is no DNS name");
        assertThat(catchThrowable(() -> ProxyCommand.clusterDomain(null, Map.of("CLUSTER_DOMAIN", "corp..example"))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("$CLUSTER_DOMAIN: ");
        assertThat(catchThrowable(() -> ProxyCommand.clusterDomain(null, Map.of("CLUSTER_DOMAIN", ""))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("$CLUSTER_DOMAIN: ");
    }
    /** A trailing dot (a resolver's FQDN form) named as such, with the value to give (new-user pass: it read '"" is no label'). */
    @Test
    void aTrailingDotIsNamedWithTheValueToGive() {
        assertThat(catchThrowable(() -> ProxyCommand.clusterDomain("cluster.local.", Map.of())))
                .hasMessage("cluster domain \"cluster.local.\" ends in a dot: give cluster.local (no trailing dot, as istiod's --domain)");
        assertThat(catchThrowable(() -> ProxyCommand.clusterDomain(null, Map.of("CLUSTER_DOMAIN", "corp.example."))))
                .hasMessageStartingWith("$CLUSTER_DOMAIN: cluster domain \"corp.example.\" ends in a dot: give corp.example");
    }

    /**
     * Without --kubernetes the flag changes nothing (a --workloads file's Services are NAME.NS.svc.cluster.local unless
     * they give hostname:), so a user who set it for a file's waypoint hostnames is told so at start (new-user pass:
     * accepted silently).
     */
    @Test
    void theFlagWithoutKubernetesIsAWarning(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        // Empty PEM files: the start ends at the identity (exit 4), after the options' checks.
        java.nio.file.Path pem = java.nio.file.Files.writeString(dir.resolve("empty.pem"), "");
        String out = std.run("proxy", "--cert", pem.toString(), "--key", pem.toString(), "--trust-bundle", pem.toString(),
                "--cluster-domain", "corp.example", "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off");
        assertThat(out).startsWith("exit 4");
        assertThat(out).contains("zerohop proxy: warning: --cluster-domain corp.example: read with --kubernetes only; a --workloads"
                + " file's services are NAME.NS.svc.cluster.local unless they give hostname:");
    }
}
