package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code --forward} entries that can never work are refused before anything starts (exit 2), naming what they clash
 * with: a LOCAL address another listener of the proxy binds too (the second bind failed after the mesh had started,
 * "cannot listen: Address already in use", naming neither listener), and a target port 0. Port 0 as LOCAL (an ephemeral
 * port) is never a clash: ZtunnelCompatE2EIT starts three forwards on 127.0.34.1:0.
 */
class ForwardCheckTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    private String proxy(String... more) {
        String[] args = new String[more.length + 8];
        System.arraycopy(new String[] {"proxy", "--in-memory-ca", "--inbound", "127.0.121.1:15008", "--readiness", "off",
                "--admin", "off"}, 0, args, 0, 8);
        System.arraycopy(more, 0, args, 8, more.length);
        std.err.reset();
        int code = Zerohop.run(args);
        return "exit " + code + ": " + std.err.toString().lines().filter(l -> l.startsWith("zerohop proxy: ")).findFirst().orElse("");
    }

    @Test
    void twoForwardsOnOneAddressAreRefusedNamingBoth() {
        assertThat(proxy("--metrics", "off", "--forward", "127.0.121.1:8080=10.0.1.2:8080", "--forward", "127.0.121.1:8080=10.0.1.3:9090"))
                .isEqualTo("exit 2: zerohop proxy: --forward: 127.0.121.1:8080=10.0.1.3:9090: 127.0.121.1:8080 is also where --forward"
                        + " 127.0.121.1:8080=10.0.1.2:8080 listens: two listeners cannot share an address and port (give each forward"
                        + " its own LOCAL port)");
    }

    @Test
    void aForwardOnAnotherListenersAddressIsRefusedNamingIt() {
        assertThat(proxy("--metrics", "off", "--forward", "127.0.121.1:15008=10.0.1.2:8080")).isEqualTo("exit 2: zerohop proxy:"
                + " --forward: 127.0.121.1:15008=10.0.1.2:8080: 127.0.121.1:15008 is also where --inbound 127.0.121.1:15008 listens:"
                + " two listeners cannot share an address and port (give the forward another LOCAL port, or move --inbound)");
        // The default metrics listener is on every address (0.0.0.0:15020): Linux refuses a second bind on its port.
        assertThat(proxy("--forward", "127.0.121.1:15020=10.0.1.2:8080")).startsWith("exit 2: zerohop proxy: --forward:"
                + " 127.0.121.1:15020=10.0.1.2:8080: 127.0.121.1:15020 is also where --metrics 0.0.0.0:15020 listens");
    }

    @Test
    void aTargetPortZeroIsRefused() {
        assertThat(proxy("--metrics", "off", "--forward", "127.0.121.1:0=10.0.1.2:0")).isEqualTo("exit 2: zerohop proxy: --forward:"
                + " 127.0.121.1:0=10.0.1.2:0: target port 0: no connection can be made to it (give the target's port)");
    }

    /**
     * A TARGET where one of the proxy's own listeners (or another forward) listens started, reported ready and dropped
     * every connection as a self call (a new-operator pass); --inbound-endpoint already refused an ENDPOINT there. So do
     * multicast and broadcast targets, which no TCP connection reaches.
     */
    @Test
    void aTargetOnTheProxysOwnListenerIsRefused() {
        assertThat(proxy("--metrics", "127.0.121.2:15020", "--forward", "127.0.121.3:8080=127.0.121.2:15020")).isEqualTo(
                "exit 2: zerohop proxy: --forward: 127.0.121.3:8080=127.0.121.2:15020: the target is where --metrics"
                        + " 127.0.121.2:15020 listens: every connection would come back to this proxy (a self call) and none would"
                        + " reach an application (give the application's address as TARGET)");
        assertThat(proxy("--metrics", "off", "--forward", "127.0.121.3:8080=10.0.1.2:80", "--forward", "127.0.121.3:8081=127.0.121.3:8080"))
                .startsWith("exit 2: zerohop proxy: --forward: 127.0.121.3:8081=127.0.121.3:8080: the target is where --forward"
                        + " 127.0.121.3:8080=10.0.1.2:80 listens");
        assertThat(proxy("--metrics", "off", "--forward", "127.0.121.3:8080=224.0.0.1:80"))
                .contains("the target is a multicast or the broadcast address");
    }

    /** Two of the proxy's own listeners on one address: refused at start, naming both (the second bind failed after the start began). */
    @Test
    void twoOwnListenersOnOneAddressAreRefused() {
        assertThat(proxy("--metrics", "127.0.121.4:15020", "--socks5", "127.0.121.4:15020")).startsWith("exit 2: zerohop proxy: --")
                .contains("127.0.121.4:15020 is also where --").contains(" 127.0.121.4:15020 listens: two listeners cannot share an"
                        + " address and port");
    }

    /** A wildcard TARGET dialled this host wherever it listened on that port: refused (a break-it pass found it accepted). */
    @Test
    void aWildcardTargetIsRefused() {
        assertThat(proxy("--metrics", "off", "--forward", "127.0.121.1:0=0.0.0.0:8080")).isEqualTo("exit 2: zerohop proxy: --forward:"
                + " 127.0.121.1:0=0.0.0.0:8080: the target is a wildcard address, not a destination (give the application's address"
                + " as TARGET)");
        assertThat(proxy("--metrics", "off", "--forward", "127.0.121.1:0=[::]:8080")).startsWith("exit 2: zerohop proxy: --forward:")
                .contains("the target is a wildcard address");
    }

    /**
     * A forward to its own LOCAL address started and dropped every connection (a self call, new-user pass). Bounded:
     * a proxy that starts runs until it is stopped.
     */
    @Test
    @org.junit.jupiter.api.Timeout(value = 60, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void aForwardToItselfIsRefusedNamingIt() {
        assertThat(proxy("--metrics", "off", "--forward", "127.0.122.1:8080=127.0.122.1:8080")).isEqualTo("exit 2: zerohop proxy:"
                + " --forward: 127.0.122.1:8080=127.0.122.1:8080: the target is this forward's own LOCAL address: every connection"
                + " would come back to this listener (a self call) and none would reach an application (give the application's"
                + " address as TARGET)");
        assertThat(proxy("--metrics", "off", "--forward", "0.0.0.0:8081=127.0.122.1:8081"))
                .as("a wildcard LOCAL answers on loopback too").startsWith("exit 2: zerohop proxy: --forward: 0.0.0.0:8081=127.0.122.1:8081:"
                        + " the target is this forward's own LOCAL address");
        InetSocketAddress a = new InetSocketAddress("127.0.122.1", 8080);
        assertThat(ProxyCommand.selfCall(a, new InetSocketAddress("127.0.122.1", 8081))).isFalse();
        assertThat(ProxyCommand.selfCall(a, new InetSocketAddress("127.0.122.2", 8080))).isFalse();
        assertThat(ProxyCommand.selfCall(new InetSocketAddress("127.0.122.1", 0), new InetSocketAddress("127.0.122.1", 0))).isFalse();
        assertThat(ProxyCommand.selfCall(new InetSocketAddress("0.0.0.0", 8080), new InetSocketAddress("192.0.2.7", 8080)))
                .as("another host behind a wildcard LOCAL").isFalse();
        assertThat(ProxyCommand.selfCall(new InetSocketAddress("0.0.0.0", 8080), new InetSocketAddress("::1", 8080)))
                .as("0.0.0.0 takes no IPv6").isFalse();
        // [::] is bound dual-stack: an IPv4 target of this host on its port comes back to it (until 5 December it started
        // and dropped each connection as a self call).
        assertThat(ProxyCommand.selfCall(new InetSocketAddress("::", 8080), new InetSocketAddress("127.0.122.1", 8080)))
                .as("[::] takes IPv4 too").isTrue();
        assertThat(proxy("--metrics", "off", "--forward", "[::]:8082=127.0.122.1:8082"))
                .startsWith("exit 2: zerohop proxy: --forward: [::]:8082=127.0.122.1:8082: the target is this forward's own LOCAL address");
    }

    @Test
    void whatCanBindIsNoClash() {
        InetSocketAddress a = new InetSocketAddress("127.0.121.1", 8080);
        assertThat(ProxyCommand.clash(a, new InetSocketAddress("127.0.121.1", 0))).isFalse();
        assertThat(ProxyCommand.clash(new InetSocketAddress("127.0.121.1", 0), new InetSocketAddress("127.0.121.1", 0))).isFalse();
        assertThat(ProxyCommand.clash(a, new InetSocketAddress("127.0.121.2", 8080))).isFalse();
        assertThat(ProxyCommand.clash(a, new InetSocketAddress("127.0.121.1", 8081))).isFalse();
        assertThat(ProxyCommand.clash(a, new InetSocketAddress("::1", 8080))).as("two addresses of two families").isFalse();
        assertThat(ProxyCommand.clash(a, new InetSocketAddress("0.0.0.0", 8080))).isTrue();
        assertThat(ProxyCommand.clash(a, new InetSocketAddress("127.0.121.1", 8080))).isTrue();
    }

    /**
     * A wildcard of either family and any address on its port clash: Linux binds the proxy's listeners (IPv6 sockets)
     * dual-stack ({@code net.ipv6.bindv6only=0}, ipv6(7)), {@code 0.0.0.0} as {@code [::]} too. Until 5 December only a
     * wildcard of the address's own family was a clash: {@code [::]:P} and {@code 0.0.0.0:P} passed the start checks and
     * the second bind failed at the start (exit 1). Bounded: a proxy that starts runs until it is stopped.
     */
    @Test
    @org.junit.jupiter.api.Timeout(value = 60, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void aWildcardOfOneFamilyClashesWithTheOtherFamily() {
        assertThat(proxy("--metrics", "[::]:18461", "--socks5", "0.0.0.0:18461")).isEqualTo("exit 2: zerohop proxy: --metrics:"
                + " [::]:18461 is also where --socks5 0.0.0.0:18461 listens: two listeners cannot share an address and port, and a"
                + " wildcard (0.0.0.0 or [::]) takes its port on every IPv4 and IPv6 address (give one of them another port)");
        assertThat(proxy("--metrics", "[::]:18461", "--socks5", "127.0.121.4:18461")).startsWith("exit 2: zerohop proxy: --metrics:"
                + " [::]:18461 is also where --socks5 127.0.121.4:18461 listens: two listeners cannot share");
        assertThat(proxy("--metrics", "off", "--socks5", "[::1]:18461", "--plaintext-inbound", "0.0.0.0:18461"))
                .startsWith("exit 2: zerohop proxy: --plaintext-inbound: 0.0.0.0:18461 is also where --socks5 [::1]:18461");
        InetSocketAddress any6 = new InetSocketAddress("::", 8080);
        assertThat(ProxyCommand.clash(any6, new InetSocketAddress("0.0.0.0", 8080))).isTrue();
        assertThat(ProxyCommand.clash(any6, new InetSocketAddress("127.0.121.1", 8080))).isTrue();
        assertThat(ProxyCommand.clash(new InetSocketAddress("0.0.0.0", 8080), new InetSocketAddress("::1", 8080))).isTrue();
        assertThat(ProxyCommand.clash(any6, new InetSocketAddress("0.0.0.0", 8081))).as("another port").isFalse();
    }

    /** Without --workloads the registry is empty: a warning, as before. */
    @Test
    void withoutWorkloadsAnUnknownTargetStaysAWarning(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        for (String f : java.util.List.of("c.pem", "k.pem", "b.pem")) {
            java.nio.file.Files.writeString(dir.resolve(f), "");
        }
        // Empty identity files: the start fails after the registry is read, its warnings out.
        String[] args = {"proxy", "--cert", dir.resolve("c.pem").toString(), "--key", dir.resolve("k.pem").toString(),
                "--trust-bundle", dir.resolve("b.pem").toString(), "--inbound", "off", "--metrics", "off", "--readiness", "off",
                "--admin", "off", "--forward", "127.0.121.1:0=10.0.1.9:80"};
        assertThat(Zerohop.run(args)).isNotZero().isNotEqualTo(2);
        assertThat(std.err.toString()).contains("zerohop proxy: warning: --forward 127.0.121.1:0=10.0.1.9:80: 10.0.1.9 is no workload"
                + " or service address of the registry (no --workloads); every connection to it will be refused (--passthrough-unknown relays it as"
                + " plain TCP)");
    }

    /** With --kubernetes a pod may get the address later: one warning after the first sync, not a refusal. */
    @Test
    @org.junit.jupiter.api.Timeout(120)
    void withKubernetesAnUnknownTargetIsOneWarningAfterTheSync() throws Exception {
        io.fabric8.kubernetes.client.server.mock.KubernetesMockServer api = RootNamespaceProxyTest.mockApiServer();
        try (io.fabric8.kubernetes.client.KubernetesClient client = api.createClient();
                RetryLogTest.Proc p = RetryLogTest.Proc.start(java.util.List.of("proxy", "--kubernetes", "--node", "node-a",
                        "--in-memory-ca", "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off",
                        "--forward", "127.0.121.1:0=10.0.1.9:80"),
                        java.util.List.of("-Dkubernetes.master=" + client.getMasterUrl(), "-Dkubernetes.auth.tryKubeConfig=false",
                                "-Dkubernetes.auth.tryServiceAccount=false"))) {
            p.awaitOut(out -> out.stream().anyMatch(l -> l.startsWith("zerohop proxy ready: ")), "the ready line");
            String warning = "zerohop proxy: warning: --forward 127.0.121.1:0=10.0.1.9:80: 10.0.1.9 is no pod of the cluster after"
                    + " the first sync; connections to it are refused until a pod has that address (--passthrough-unknown relays"
                    + " them as plain TCP)";
            p.await(err -> err.stream().anyMatch(l -> l.contains(warning)), "the warning");
            assertThat(p.stop()).isZero();
            assertThat(p.err().stream().filter(l -> l.contains("is no pod of the cluster")).count()).as("stderr %s", p.err()).isEqualTo(1);
        } finally {
            api.destroy();
        }
    }
}
