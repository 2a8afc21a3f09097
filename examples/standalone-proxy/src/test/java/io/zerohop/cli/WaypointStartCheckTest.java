package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@code waypoint:} of a {@code --workloads} file that the file itself cannot resolve: the file is read once, so every
 * connection to that Service or workload is refused for as long as the proxy runs (ztunnel's {@code UnknownWaypoint},
 * istio/ztunnel src/state.rs {@code fetch_waypoint}), never sent direct. A new-user pass found that such a file (a
 * short hostname {@code waypoint} for {@code waypoint.prod.svc.cluster.local}, a mistyped address) started silently and
 * the first sign was a reset connection; now a warning at start names the entry, what is missing and what there is.
 * A warning, not an exit: the proxy still fails closed per connection, as ztunnel does with a waypoint istiod names
 * but has not sent.
 */
class WaypointStartCheckTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    void aWaypointTheFileCannotResolveIsNamedAtStart(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("workloads.yaml"), """
                workloads:
                  - {namespace: prod, name: backend, addresses: [10.0.1.2], labels: {app: backend},
                     waypoint: {address: 10.0.1.99}}
                  - {namespace: prod, name: waypoint, serviceAccount: waypoint, addresses: [10.0.1.50], labels: {gw: waypoint}}
                  - {namespace: prod, name: db, addresses: [10.0.1.3], labels: {app: db}, waypoint: {address: 10.0.1.50}}
                services:
                  - {namespace: prod, name: web, addresses: [10.96.0.20], ports: {80: 8080}, selector: {app: backend},
                     waypoint: {namespace: prod, hostname: waypoint}}
                  - {namespace: prod, name: waypoint, addresses: [10.96.0.50], ports: {15008: 15008}, selector: {gw: waypoint}}
                  - {namespace: prod, name: api, addresses: [10.96.0.21], ports: {80: 8080}, selector: {app: backend},
                     waypoint: {namespace: prod, hostname: waypoint.prod.svc.cluster.local, hboneMtlsPort: 15009}}
                  - {namespace: prod, name: ok, addresses: [10.96.0.22], ports: {80: 8080}, selector: {app: backend},
                     waypoint: {namespace: prod, hostname: waypoint.prod.svc.cluster.local}}
                """);
        for (String f : new String[] {"c.pem", "k.pem", "b.pem"}) {
            Files.writeString(dir.resolve(f), "");
        }
        String out = std.run("proxy", "--workloads", w.toString(), "--cert", dir.resolve("c.pem").toString(),
                "--key", dir.resolve("k.pem").toString(), "--trust-bundle", dir.resolve("b.pem").toString(),
                "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off");
        assertThat(out)
                .contains("warning: --workloads " + w + ": workload prod/backend: waypoint 10.0.1.99:15008: no service or"
                        + " workload of the file has address 10.0.1.99; the file is read once, so every connection to it will"
                        + " be refused (unknown waypoint), never sent directly")
                .contains("warning: --workloads " + w + ": service prod/web: waypoint prod/waypoint:15008: no service of"
                        + " hostname waypoint in namespace prod (its services' hostnames there: api.prod.svc.cluster.local,"
                        + " ok.prod.svc.cluster.local, waypoint.prod.svc.cluster.local, web.prod.svc.cluster.local)")
                .contains("warning: --workloads " + w + ": service prod/api: waypoint prod/waypoint.prod.svc.cluster.local:15009:"
                        + " its service prod/waypoint has no port 15009 (its ports: 15008)")
                // Resolvable ones say nothing: a workload by address, a Service by hostname.
                .doesNotContain("workload prod/db:")
                .doesNotContain("service prod/ok:");
    }
}
