package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code --workloads} file's {@code waypoint:} on workloads and services ({@link GatewayAddress}, istio/api
 * workload.proto {@code GatewayAddress}): {@code {address: IP}} or {@code {namespace: NS, hostname: H}}, an optional
 * {@code hboneMtlsPort} (15008 by default); each bad form named by file, line and field, an unknown key refused as
 * everywhere in that file.
 */
class WorkloadFileWaypointTest {
    private static final String FILE = """
            workloads:
            - namespace: prod
              name: backend
              addresses: [10.0.1.2]
              waypoint: WORKLOAD
            services:
            - namespace: prod
              name: backend
              addresses: [10.96.0.2]
              ports: {80: 8080}
              waypoint: SERVICE
            """;

    private static Path write(Path dir, String workload, String service) throws Exception {
        return Files.writeString(dir.resolve("w.yaml"), FILE.replace("WORKLOAD", workload).replace("SERVICE", service));
    }

    @Test
    void bothFormsLoadWithTheDefaultOrTheGivenPort(@TempDir Path dir) throws Exception {
        WorkloadRegistry r = WorkloadRegistry.load(write(dir, "{address: 10.0.9.9}",
                "{namespace: prod, hostname: waypoint.prod.svc.cluster.local, hboneMtlsPort: 15009}"));
        assertThat(r.byName("prod", "backend").orElseThrow().waypoint())
                .isEqualTo(GatewayAddress.of(InetAddress.getByName("10.0.9.9")));
        assertThat(r.serviceAt(InetAddress.getByName("10.96.0.2")).orElseThrow().waypoint())
                .isEqualTo(new GatewayAddress(null, "prod", "waypoint.prod.svc.cluster.local", 15009));
        // None: no waypoint (the YAML null too).
        WorkloadRegistry none = WorkloadRegistry.load(write(dir, "null", "null"));
        assertThat(none.byName("prod", "backend").orElseThrow().waypoint()).isNull();
    }

    /** Writes the file with these waypoints and asserts that loading it fails with {@code <file>} + {@code at}. */
    private static void rejects(Path dir, String workload, String service, String at) throws Exception {
        Path f = write(dir, workload, service);
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessage(f + at);
    }

    @Test
    void eachBadFormIsNamedAtItsFieldAndLine(@TempDir Path dir) throws Exception {
        String ok = "{address: 10.0.9.9}";
        rejects(dir, "{address: 10.0.9.9, hostname: w.prod.svc.cluster.local}", ok,
                ":5: workloads[0].waypoint.hostname: a waypoint is given by address or by namespace and hostname, not both");
        rejects(dir, ok, "{}", ":11: services[0].waypoint: a waypoint needs an address,"
                + " or a namespace and a hostname (its Service's)");
        rejects(dir, "{hostname: w.prod.svc.cluster.local}", ok, ":5: workloads[0].waypoint.hostname: a waypoint by"
                + " hostname needs both namespace and hostname (namespace is missing)");
        rejects(dir, "{address: waypoint.prod}", ok, ":5: workloads[0].waypoint.address: \"waypoint.prod\""
                + " is not an IP address literal (a waypoint named by its Service's hostname is {namespace: NS, hostname:"
                + " NAME.NS.svc.cluster.local})");
        rejects(dir, ok, "{address: 10.0.9.9, hboneMtlsPort: 70000}",
                ":11: services[0].waypoint.hboneMtlsPort: \"70000\" is not a port number (1-65535)");
        Path k = write(dir, "{address: 10.0.9.9, port: 15008}", ok);
        assertThatThrownBy(() -> WorkloadRegistry.load(k)).hasMessageStartingWith(k + ":5: workloads[0].waypoint.port: unknown field"
                + " (expected one of address, hboneMtlsPort, hostname, namespace)");
        rejects(dir, ok, "{namespace: Prod, hostname: w.prod.svc.cluster.local}",
                ":11: services[0].waypoint.namespace: \"Prod\" is no namespace (a DNS-1123 label)");
        rejects(dir, ok, "{namespace: prod, hostname: \"w prod\"}", ":11: services[0].waypoint.hostname: \"w prod\" is no DNS"
                + " name (labels of letters, digits and '-', joined by '.')");
        rejects(dir, "{address: 0.0.0.0}", ok, ":5: workloads[0].waypoint.address: address 0.0.0.0 is a"
                + " wildcard address, no waypoint's");
        // New-user pass: the scalar form read "found a single value" with nothing to write instead.
        rejects(dir, "10.0.9.9", ok, ":5: workloads[0].waypoint: expected a mapping (key: value),"
                + " found a single value (write waypoint: {address: 10.0.9.9})");
        rejects(dir, "waypoint.prod.svc.cluster.local", ok, ":5: workloads[0].waypoint: expected a mapping (key: value),"
                + " found a single value (write waypoint: {namespace: NS, hostname: waypoint.prod.svc.cluster.local}, NS the"
                + " namespace of the waypoint's Service, or waypoint: {address: IP})");
    }
}
