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
     * Without --kubernetes or --workloads the flag changes nothing, so a user who set it is told so at start (new-user
     * pass: accepted silently).
     */
    @Test
    void theFlagWithoutKubernetesIsAWarning(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        // Empty PEM files: the start ends at the identity (exit 4), after the options' checks.
        java.nio.file.Path pem = java.nio.file.Files.writeString(dir.resolve("empty.pem"), "");
        String out = std.run("proxy", "--cert", pem.toString(), "--key", pem.toString(), "--trust-bundle", pem.toString(),
                "--cluster-domain", "corp.example", "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off");
        assertThat(out).startsWith("exit 4");
        assertThat(out).contains("zerohop proxy: warning: --cluster-domain corp.example: read with --kubernetes or --workloads"
                + " only (the Services' hostnames NAME.NS.svc.DOMAIN)");
    }

    /**
     * A --workloads file's Services without {@code hostname:} are {@code NAME.NS.svc.DOMAIN} of the proxy's cluster domain,
     * as istiod names them with its {@code --domain} and ztunnel's {@code CLUSTER_DOMAIN} whatever its source (until
     * 7 December {@code ...svc.cluster.local} whatever the flag: a waypoint named {@code waypoint.prod.svc.corp.example}
     * found no Service and every connection to {@code web} was refused). Seen in the start check of each waypoint
     * (WaypointStartCheckTest), which lists a namespace's hostnames.
     */
    @Test
    void aWorkloadsFilesServicesEndWithTheClusterDomain(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path w = java.nio.file.Files.writeString(dir.resolve("workloads.yaml"), """
                workloads:
                  - {namespace: prod, name: backend, addresses: [10.0.1.2], labels: {app: backend}}
                  - {namespace: prod, name: waypoint, serviceAccount: waypoint, addresses: [10.0.1.50], labels: {gw: waypoint}}
                services:
                  - {namespace: prod, name: web, addresses: [10.96.0.20], ports: {80: 8080}, selector: {app: backend},
                     waypoint: {namespace: prod, hostname: waypoint.prod.svc.corp.example}}
                  - {namespace: prod, name: waypoint, addresses: [10.96.0.50], ports: {15008: 15008}, selector: {gw: waypoint}}
                  - {namespace: prod, name: api, addresses: [10.96.0.21], ports: {80: 8080}, selector: {app: backend},
                     waypoint: {namespace: prod, hostname: missing}}
                """);
        java.nio.file.Path pem = java.nio.file.Files.writeString(dir.resolve("empty.pem"), "");
        String out = std.run("proxy", "--workloads", w.toString(), "--cert", pem.toString(), "--key", pem.toString(),
                "--trust-bundle", pem.toString(), "--cluster-domain", "corp.example", "--inbound", "off", "--metrics", "off",
                "--readiness", "off", "--admin", "off");
        assertThat(out)
                .contains("service prod/api: waypoint prod/missing:15008: no service of hostname missing in namespace prod (its"
                        + " services' hostnames there: api.prod.svc.corp.example, waypoint.prod.svc.corp.example,"
                        + " web.prod.svc.corp.example)")
                .doesNotContain("service prod/web:")
                .doesNotContain("read with --kubernetes");
    }
}
