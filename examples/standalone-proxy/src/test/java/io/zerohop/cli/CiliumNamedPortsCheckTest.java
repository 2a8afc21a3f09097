package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code zerohop policy check --workloads} decides a Cilium named port ({@code port: http}) with the destination's
 * {@code namedPorts} from the file, as the proxy does: the name is 8080 on web and 9090 on api (cilium/cilium
 * {@code Endpoint.GetNamedPort}: ingress resolves against the pod's own ports).
 */
class CiliumNamedPortsCheckTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @TempDir
    Path dir;

    static final String WORKLOADS = """
            workloads:
              - {namespace: prod, name: web, serviceAccount: web, addresses: [10.0.0.2], labels: {app: web}, namedPorts: {http: 8080}}
              - {namespace: prod, name: api, serviceAccount: api, addresses: [10.0.0.4], labels: {app: api}, namedPorts: {http: 9090}}
              - {namespace: prod, name: old, serviceAccount: old, addresses: [10.0.0.5], labels: {app: old}}
              - {namespace: prod, name: client, serviceAccount: client, addresses: [10.0.0.1], labels: {app: client}}
            """;

    static final String NAMED = """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: named, namespace: prod}
            spec:
              endpointSelector: {}
              ingress:
              - toPorts:
                - ports: [{port: http, protocol: TCP}]
            """;

    private int check(String dest) throws Exception {
        Path p = Files.createDirectories(dir.resolve("policies"));
        Files.writeString(p.resolve("p.yaml"), NAMED);
        Path w = Files.writeString(dir.resolve("workloads.yaml"), WORKLOADS);
        std.out.reset();
        std.err.reset();
        return Zerohop.run("policy", "check", "--policies", p.toString(), "--workloads", w.toString(),
                "--source", "spiffe://cluster.local/ns/prod/sa/client", "--source-ip", "10.0.0.1", "--dest", dest);
    }

    @Test
    void theNameResolvesPerDestination() throws Exception {
        assertThat(check("prod/web:8080")).as(std.out.toString()).isZero();
        assertThat(check("prod/web:9090")).as(std.out.toString()).isEqualTo(3);
        assertThat(check("prod/api:9090")).as(std.out.toString()).isZero();
        assertThat(check("prod/api:8080")).as(std.out.toString()).isEqualTo(3);
        // Named ports not given in the file: not known, so the named allow port reaches nothing there (fail closed).
        assertThat(check("prod/old:8080")).as(std.out.toString()).isEqualTo(3);
    }
}
