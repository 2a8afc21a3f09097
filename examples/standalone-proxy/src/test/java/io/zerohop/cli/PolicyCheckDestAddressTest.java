package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code policy check --dest} of a workload with several addresses (dual-stack pods, a VM's WorkloadEntry): the proxy
 * decides each connection on the address it was dialled at (Istio's {@code destination.ip}: ztunnel's src/rbac.rs
 * {@code RbacScope::matches} tests a rule's {@code destination_ips} against the connection's {@code dst}), so one
 * address's decision is not the workload's.
 * An operator's break-it pass (helper 380): with a DENY on {@code destination.ip} of the workload's second address,
 * {@code policy check} took the first address alone and printed "ALLOW by default", exit 0, while the proxy refuses
 * every connection to the second. The check refused several source workloads of one identity the same way ("give
 * --source-ip"): a silent pick would decide for one of them.
 */
class PolicyCheckDestAddressTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @TempDir
    Path dir;

    static final String WORKLOADS = """
            trustDomain: cluster.local
            workloads:
              - {namespace: prod, name: backend, serviceAccount: backend, addresses: [10.0.0.2, 'fd00::2'], labels: {app: backend}}
              - {namespace: prod, name: frontend, serviceAccount: frontend, addresses: [10.0.0.1], labels: {app: frontend}}
            """;

    static final String DENY_V6 = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-v6, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - when:
                - key: destination.ip
                  values: ["fd00::/8"]
            """;

    static final String DENY_FRONTEND = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-frontend, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - from: [{source: {principals: [cluster.local/ns/prod/sa/frontend]}}]
            """;

    private int check(String policies, String... args) throws Exception {
        return PolicyCheckTest.check(dir, std, WORKLOADS, policies, args);
    }

    @Test
    void addressesDecidedDifferentlyAreAUsageErrorNamingEach() throws Exception {
        String[] frontend = {"--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:8080"};
        assertThat(check(DENY_V6, frontend)).as("not the first address's ALLOW, exit 0").isEqualTo(2);
        assertThat(std.err.toString()).contains("--dest-ip", "prod/backend has 2 addresses",
                "10.0.0.2: ALLOW by default", "fd00:0:0:0:0:0:0:2: DENY by prod/deny-v6", "give --dest-ip");
        assertThat(std.out.toString()).isEmpty();

        // Each address asked for by itself: the proxy's decision for a connection dialled there.
        assertThat(check(DENY_V6, "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:8080",
                "--dest-ip", "fd00::2")).isEqualTo(3);
        assertThat(std.out.toString()).startsWith("DENY by prod/deny-v6");
        assertThat(check(DENY_V6, "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:8080",
                "--dest-ip", "10.0.0.2")).isZero();
    }

    /**
     * A --dest-ip that is not --dest's address is decided with --dest's policies, which the proxy never does: it finds the
     * destination workload by the address dialled (a mistyped --dest-ip, or another workload's). The decision stays as
     * asked (a check of an address to come is legitimate); a warning says whose address it is (helper 380: said nothing).
     */
    @Test
    void aDestIpThatIsNotTheDestinationsOwnIsWarnedNamingItsOwner() throws Exception {
        assertThat(check(DENY_FRONTEND, "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:8080",
                "--dest-ip", "10.0.0.1")).isEqualTo(3);
        assertThat(std.err.toString()).contains("warning: --dest-ip 10.0.0.1 is not an address of prod/backend in "
                + dir.resolve("workloads.yaml") + " (10.0.0.2, fd00:0:0:0:0:0:0:2) but prod/frontend's: the proxy decides a"
                + " connection to 10.0.0.1 by prod/frontend's policies");
        assertThat(check(DENY_FRONTEND, "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:8080",
                "--dest-ip", "10.9.9.9")).isEqualTo(3);
        assertThat(std.err.toString()).contains("warning: --dest-ip 10.9.9.9 is not an address of prod/backend in "
                + dir.resolve("workloads.yaml") + " (10.0.0.2, fd00:0:0:0:0:0:0:2), nor of any workload there");
        assertThat(check(DENY_FRONTEND, "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:8080",
                "--dest-ip", "10.0.0.2")).isEqualTo(3);
        assertThat(std.err.toString()).doesNotContain("--dest-ip");
    }

    @Test
    void addressesDecidedAlikeNeedNoDestIp() throws Exception {
        assertThat(check(DENY_FRONTEND, "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:8080"))
                .isEqualTo(3);
        assertThat(std.out.toString()).startsWith("DENY by prod/deny-frontend");
    }
}
