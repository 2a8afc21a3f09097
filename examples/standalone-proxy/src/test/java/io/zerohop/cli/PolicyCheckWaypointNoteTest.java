package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code policy check --dest} of a workload that has a waypoint: the proxy sends --source's connections to it through the
 * waypoint (mesh-core README "Waypoints", ztunnel's {@code build_request}), whose own tunnel the destination then decides
 * with the waypoint's identity as source. A new-user pass asked whether {@code client} may reach such a {@code backend},
 * read "ALLOW" for a direct connection, and nothing said that the destination never sees {@code client}'s identity: a
 * note on stderr now names the waypoint and the --source that decides traffic through it. The decision is unchanged.
 */
class PolicyCheckWaypointNoteTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    void aDestinationWithAWaypointIsNoted(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("workloads.yaml"), """
                workloads:
                  - {namespace: prod, name: client, serviceAccount: client, addresses: [10.0.1.1], labels: {app: client}}
                  - {namespace: prod, name: backend, serviceAccount: backend, addresses: [10.0.1.2], labels: {app: backend},
                     waypoint: {address: 10.0.1.50}}
                  - {namespace: prod, name: waypoint, serviceAccount: waypoint, addresses: [10.0.1.50], labels: {gw: wp}}
                """);
        Path p = Files.createDirectory(dir.resolve("pol"));
        Files.writeString(p.resolve("p.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-client, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  rules:
                  - from: [{source: {principals: [cluster.local/ns/prod/sa/client]}}]
                """);
        String out = std.run("policy", "check", "--policies", p.toString(), "--workloads", w.toString(),
                "--source", "spiffe://cluster.local/ns/prod/sa/client", "--dest", "prod/backend:8080");
        assertThat(out).startsWith("exit 0").contains("note: prod/backend has a waypoint (10.0.1.50:15008, workload prod/waypoint):"
                + " the proxy sends --source's connections to it through that waypoint, whose own connection prod/backend's"
                + " policies decide with the waypoint's identity as source; this decision is for a connection that does not go"
                + " through it; for traffic through the waypoint give --source spiffe://cluster.local/ns/prod/sa/waypoint");
        // The waypoint itself goes direct (check_from_waypoint): no note.
        out = std.run("policy", "check", "--policies", p.toString(), "--workloads", w.toString(),
                "--source", "spiffe://cluster.local/ns/prod/sa/waypoint", "--source-ip", "10.0.1.50", "--dest", "prod/backend:8080");
        assertThat(out).startsWith("exit 3").doesNotContain("has a waypoint");
    }
}
