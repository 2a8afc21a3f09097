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

    @Test
    void eachBadFormIsNamedAtItsFieldAndLine(@TempDir Path dir) throws Exception {
        String ok = "{address: 10.0.9.9}";
        Path f = write(dir, "{address: 10.0.9.9, hostname: w.prod.svc.cluster.local}", ok);
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessage(f + ":5: workloads[0].waypoint.hostname: a waypoint is given"
                + " by address or by namespace and hostname, not both");
        Path g = write(dir, ok, "{}");
        assertThatThrownBy(() -> WorkloadRegistry.load(g)).hasMessage(g + ":11: services[0].waypoint: a waypoint needs an address,"
                + " or a namespace and a hostname (its Service's)");
        Path h = write(dir, "{hostname: w.prod.svc.cluster.local}", ok);
        assertThatThrownBy(() -> WorkloadRegistry.load(h)).hasMessage(h + ":5: workloads[0].waypoint.hostname: a waypoint by"
                + " hostname needs both namespace and hostname (namespace is missing)");
        Path i = write(dir, "{address: waypoint.prod}", ok);
        assertThatThrownBy(() -> WorkloadRegistry.load(i)).hasMessage(i + ":5: workloads[0].waypoint.address: \"waypoint.prod\""
                + " is not an IP address literal");
        Path j = write(dir, ok, "{address: 10.0.9.9, hboneMtlsPort: 70000}");
        assertThatThrownBy(() -> WorkloadRegistry.load(j)).hasMessage(j + ":11: services[0].waypoint.hboneMtlsPort: \"70000\" is"
                + " not a port number (1-65535)");
        Path k = write(dir, "{address: 10.0.9.9, port: 15008}", ok);
        assertThatThrownBy(() -> WorkloadRegistry.load(k)).hasMessageStartingWith(k + ":5: workloads[0].waypoint.port: unknown field"
                + " (expected one of address, hboneMtlsPort, hostname, namespace)");
        Path l = write(dir, ok, "{namespace: Prod, hostname: w.prod.svc.cluster.local}");
        assertThatThrownBy(() -> WorkloadRegistry.load(l)).hasMessage(l + ":11: services[0].waypoint.namespace: \"Prod\" is no"
                + " namespace (a DNS-1123 label)");
        Path m = write(dir, ok, "{namespace: prod, hostname: \"w prod\"}");
        assertThatThrownBy(() -> WorkloadRegistry.load(m)).hasMessage(m + ":11: services[0].waypoint.hostname: \"w prod\" is no DNS"
                + " name (labels of letters, digits and '-', joined by '.')");
        Path n = write(dir, "{address: 0.0.0.0}", ok);
        assertThatThrownBy(() -> WorkloadRegistry.load(n)).hasMessage(n + ":5: workloads[0].waypoint.address: address 0.0.0.0 is a"
                + " wildcard address, no waypoint's");
        Path o = write(dir, "10.0.9.9", ok);
        assertThatThrownBy(() -> WorkloadRegistry.load(o)).hasMessage(o + ":5: workloads[0].waypoint: expected a mapping (key: value),"
                + " found a single value");
    }
}
