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
}
