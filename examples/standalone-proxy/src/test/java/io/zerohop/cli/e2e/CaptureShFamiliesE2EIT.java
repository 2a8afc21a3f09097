package io.zerohop.cli.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.zerohop.testing.LinuxCapabilities;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * deploy/node-proxy's {@code capture.sh} (run whole and verbatim, with the real {@code nft}) and the proxy's
 * {@code --capture-set} on the address families a production node may have besides dual-stack (which
 * {@link NodeProxyIpv6E2EIT} carries traffic through): an IPv6-only cluster, whose capture.sh refused to run until 7 December,
 * as istio-cni supports it (istio/istio cni/pkg/iptables, cni/pkg/nftables); an {@code ip6} table made after the proxy
 * started; a node without an IPv6 stack in a dual-stack cluster. One network namespace per test, nothing in it but
 * {@code lo}: these are about which tables and sets exist and what the proxy writes into them.
 */
@Timeout(60)
class CaptureShFamiliesE2EIT {
    static final Duration START = Duration.ofSeconds(40);
    static final String POD_CIDR4 = "10.203.1.0/24";
    static final String POD_CIDR6 = "fd00:203::1:0/112";
    static final String POD4 = "10.203.1.5";
    static final String POD6 = "fd00:203::1:5";
    static final String NODE6 = "fd00:203::a";
    static final String WEB = "fd00:203::1:5";
    static final String REVIEWS = "fd00:203::1:4";
    static final int APP_PORT = 61000;

    /** Numbers the children's log files (one work directory for the class). */
    static final java.util.concurrent.atomic.AtomicInteger RUN = new java.util.concurrent.atomic.AtomicInteger();
    static Path work;
    static Path jar;
    static Path ca;
    Netns net;
    final List<Child> children = new ArrayList<>();

    @BeforeAll
    static void caAndJar() throws Exception {
        assumeTrue(NodeProxyE2EIT.isRoot() && LinuxCapabilities.has(LinuxCapabilities.SYS_ADMIN, LinuxCapabilities.NET_ADMIN),
                "network-namespace e2e needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN (CI's root has them)");
        assumeTrue(Netns.onPath("ip") && Netns.onPath("nft") && Netns.onPath("unshare"), "needs `ip` (iproute2), `nft` and `unshare`");
        jar = Path.of(NodeProxyE2EIT.required("zerohop.e2e.jar"));
        assertThat(jar).as("the shaded CLI jar (built in the package phase, before this integration test)").isRegularFile();
        Path base = Path.of(System.getProperty("zerohop.e2e.workDir", System.getProperty("java.io.tmpdir") + "/zerohop-e2e"));
        work = Files.createDirectories(base.resolve("run-families-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))
                + "-" + ProcessHandle.current().pid()));
        ca = work.resolve("ca");
        Netns.run(List.of(NodeProxyE2EIT.java(), "-jar", jar.toString(), "ca", "init", "--trust-domain", "cluster.local", "--out", ca.toString()));
        Netns.reapStale();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (int i = children.size() - 1; i >= 0; i--) {
            try {
                children.get(i).terminate(Duration.ofSeconds(3));
            } finally {
                children.get(i).close();
            }
        }
        if (net != null) {
            net.close();
        }
    }

    private String node(String podCidr) throws Exception {
        net = new Netns();
        net.add("n");
        return captureSh(podCidr);
    }

    private String captureSh(String podCidr) throws Exception {
        return Netns.run(net.exec("n", List.of("env", "POD_CIDR=" + podCidr, "sh", "-c", NodeProxyE2EIT.captureScript())));
    }

    private String nft(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("nft"));
        cmd.addAll(List.of(args));
        return Netns.run(net.exec("n", cmd));
    }

    /** A proxy for node-a, whose one mesh pod has {@code addresses} (a YAML list's items). */
    private Child proxy(String addresses) throws Exception {
        return proxy("""
                  - {namespace: prod, name: web, serviceAccount: web, addresses: [%s], labels: {app: web}, protocol: HBONE, node: node-a}
                """.formatted(addresses), List.of());
    }

    /** A proxy for node-a with {@code workloads} (YAML list items) and {@code more} options. */
    private Child proxy(String workloadItems, List<String> more) throws Exception {
        Path workloads = Files.writeString(Files.createTempFile(work, "workloads", ".yaml"), """
                trustDomain: cluster.local
                nodes:
                  - {name: node-a}
                workloads:
                """ + workloadItems);
        List<String> cmd = new ArrayList<>(List.of(NodeProxyE2EIT.java(), "-Xmx128m", "-XX:+UseSerialGC", "-Dio.netty.leakDetection.level=paranoid",
                "-jar", jar.toString(), "proxy", "--ca", ca.toString(), "--workloads", workloads.toString(), "--node", "node-a",
                "--capture-set", "zerohop/mesh_pods", "--metrics", "off", "--readiness", "off", "--admin", "off", "--drain", "1s"));
        cmd.addAll(more);
        Child c = Child.start("proxy-" + RUN.incrementAndGet(), work, net.exec("n", cmd));
        children.add(c);
        c.awaitLine(l -> l.startsWith("zerohop proxy ready"), "`zerohop proxy ready`", START);
        return c;
    }

    /**
     * An IPv6-only cluster: capture.sh captures the pods' IPv6 TCP (table ip6 zerohop) and keeps an empty {@code ip} set
     * with no rule, as istio-cni keeps its v4 host set (cni/pkg/nftables/host_sets.go); the proxy starts and writes the
     * pod's address into the ip6 set. Until 7 December capture.sh exited "POD_CIDR names no IPv4 range".
     */
    @Test
    void anIpv6OnlyClusterIsCapturedInIp6Only() throws Exception {
        String out = node(POD_CIDR6);
        // Two pods behind the node, IPv6 only (the node has no IPv4 address but lo's), routed as Calico routes a pod.
        podBehind("q", WEB);
        podBehind("p", REVIEWS);
        net.sysctl("n", "net.ipv6.conf.all.forwarding", "1");
        assertThat(out).contains("IPv6 mesh pods (set ip6 zerohop mesh_pods) to " + POD_CIDR6);
        assertThat(nft("list", "chain", "ip6", "zerohop", "capture")).contains("tproxy to :15006", "tproxy to :15001", POD_CIDR6);
        assertThat(nft("list", "table", "ip", "zerohop")).contains("set mesh_pods").doesNotContain("tproxy", "mark");
        assertThat(Netns.run(net.exec("n", List.of("ip", "-6", "rule")))).contains("fwmark 0x1 lookup 100");
        assertThat(Netns.run(net.exec("n", List.of("ip", "rule")))).doesNotContain("fwmark 0x1");

        Path policies = Files.createDirectories(work.resolve("policies-" + System.nanoTime()));
        Files.writeString(policies.resolve("reviews.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: reviews-allow-web, namespace: prod}
                spec:
                  selector: {matchLabels: {app: reviews}}
                  action: ALLOW
                  rules:
                  - from: [{source: {principals: ["cluster.local/ns/prod/sa/web"], ipBlocks: ["%s"]}}]
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: prod}
                spec: {mtls: {mode: STRICT}}
                """.formatted(POD_CIDR6));
        Child proxy = proxy("""
                  - {namespace: prod, name: web, serviceAccount: web, addresses: ["%s"], labels: {app: web}, protocol: HBONE, node: node-a}
                  - {namespace: prod, name: reviews, serviceAccount: reviews, addresses: ["%s"], labels: {app: reviews}, protocol: HBONE, node: node-a}
                """.formatted(WEB, REVIEWS), List.of("--policies", policies.toString(), "--transparent", "--inbound-transparent", "--plaintext-inbound"));
        assertThat(nft("list", "set", "ip6", "zerohop", "mesh_pods")).contains(WEB, REVIEWS);
        assertThat(nft("list", "set", "ip", "zerohop", "mesh_pods")).doesNotContain("elements");
        assertThat(proxy.lines()).noneMatch(l -> l.contains("not captured"));

        // web -> reviews over IPv6: captured to :15001, HBONE to [reviews]:15008 (ip6 zerohop's output chain brings it back
        // through lo to the proxy's own transparent HBONE listener), reviews' policy (its ipBlocks an IPv6 range) allows it.
        Child echo = Child.start("echo-" + RUN.incrementAndGet(), work, net.exec("p", NodeProxyE2EIT.app(EchoServer.class, "[" + REVIEWS + "]:" + APP_PORT)));
        children.add(echo);
        echo.awaitLine("READY"::equals, "READY", START);
        byte[] payload = NodeProxyE2EIT.payload(64 << 10, NodeProxyE2EIT.marker(), 1);
        int from = proxy.size();
        Path f = Files.write(work.resolve("payload-" + System.nanoTime() + ".bin"), payload);
        String result;
        try (Child c = Child.start("client-" + RUN.incrementAndGet(), work, net.exec("q", NodeProxyE2EIT.app(TcpClient.class, "[" + WEB + "]",
                "[" + REVIEWS + "]:" + APP_PORT + "=" + f)))) {
            assertThat(c.awaitExit(Duration.ofSeconds(45))).as(c.tail()).isZero();
            result = c.lines().stream().filter(l -> l.startsWith("RESULT ")).findFirst().orElseThrow();
        }
        assertThat(result).contains(" received=" + payload.length + " ").contains("receivedSha256=" + NodeProxyE2EIT.sha256(payload));
        proxy.awaitLine(from, l -> l.contains("access - inbound src=") && l.contains(" src_workload=prod/web ")
                && l.contains("src_id=spiffe://cluster.local/ns/prod/sa/web") && l.contains("dst=[" + REVIEWS + "]:" + APP_PORT)
                && l.contains("dst_id=spiffe://cluster.local/ns/prod/sa/reviews") && l.contains("status=200"),
                "the proxy's inbound line for web", Duration.ofSeconds(10));

        assertThat(captureSh(POD_CIDR6)).as("run again (a rollout): the set the proxy wrote stays").isNotEmpty();
        assertThat(nft("list", "set", "ip6", "zerohop", "mesh_pods")).contains(WEB, REVIEWS);
    }

    /** Namespace {@code pod} behind the node's veth with one IPv6 address. */
    private void podBehind(String pod, String ip6) throws Exception {
        net.add(pod);
        String nodeDev = net.dev("v" + pod + "n");
        String podDev = net.dev("v" + pod);
        net.veth("n", "v" + pod + "n", pod, "v" + pod);
        net.ip("n", "-6", "addr", "add", NODE6 + "/128", "dev", nodeDev, "nodad");
        net.ip(pod, "-6", "addr", "add", ip6 + "/128", "dev", podDev, "nodad");
        net.ip("n", "link", "set", nodeDev, "up");
        net.ip(pod, "link", "set", podDev, "up");
        net.ip("n", "-6", "route", "add", ip6 + "/128", "dev", nodeDev);
        net.ip(pod, "-6", "route", "add", NODE6 + "/128", "dev", podDev);
        net.ip(pod, "-6", "route", "add", "default", "via", NODE6, "dev", podDev);
    }

    /**
     * capture.sh run again with an IPv6 range after the proxy started (the cluster made dual-stack): the proxy finds the new
     * {@code ip6} set at its next forced write and fills it, without a restart. Until 7 December it looked at start only.
     */
    @Test
    void anIp6TableMadeAfterTheProxyStartedIsFilledWithoutARestart() throws Exception {
        node(POD_CIDR4);
        Child proxy = proxy(POD4 + ", \"" + POD6 + "\"");
        proxy.awaitLine(l -> l.contains("no nftables set ip6 zerohop mesh_pods"), "the missing ip6 set said", START);
        assertThat(nft("list", "set", "ip", "zerohop", "mesh_pods")).contains(POD4);

        captureSh(POD_CIDR4 + "," + POD_CIDR6);
        proxy.awaitLine(l -> l.contains("nftables set ip6 zerohop mesh_pods found"), "the new ip6 set found", START);
        assertThat(nft("list", "set", "ip6", "zerohop", "mesh_pods")).contains(POD6);
        assertThat(nft("list", "set", "ip", "zerohop", "mesh_pods")).contains(POD4);
    }

    /**
     * A node booted with {@code ipv6.disable=1} in a dual-stack cluster: no {@code /proc/sys/net/ipv6}, and {@code ip -6}
     * fails as the kernel says it then ("Address family not supported by protocol"), both stood in for here (a tmpfs over
     * {@code /proc/sys/net} in a mount namespace of the script's own, an {@code ip} that refuses {@code -6} first on the
     * PATH). Its IPv4 capture is set up, with a warning. Until 7 December the script stopped at {@code ip -6 rule add}
     * (set -e), leaving the node's pods uncaptured in both families.
     */
    @Test
    void aNodeWithoutAnIpv6StackCapturesItsIpv4() throws Exception {
        net = new Netns();
        net.add("n");
        Path bin = Files.createDirectories(work.resolve("no-ipv6-bin-" + System.nanoTime()));
        String realIp = Netns.run("sh", "-c", "command -v ip").strip();
        Path ip = Files.writeString(bin.resolve("ip"), "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = -6 ] && {"
                + " echo 'RTNETLINK answers: Address family not supported by protocol' >&2; exit 2; }; done\nexec " + realIp + " \"$@\"\n");
        assertThat(ip.toFile().setExecutable(true)).isTrue();
        List<String> run = net.exec("n", List.of("unshare", "-m", "sh", "-c", "mount -t tmpfs none /proc/sys/net && PATH=" + bin + ":$PATH"
                + " POD_CIDR=" + POD_CIDR4 + "," + POD_CIDR6 + " exec sh -c \"$0\"", NodeProxyE2EIT.captureScript()));
        String out = Netns.run(run);
        assertThat(out).contains("warning: POD_CIDR names " + POD_CIDR6 + ", but this node has no IPv6 stack")
                .contains("mesh pods (set ip zerohop mesh_pods, kept by the proxy) to " + POD_CIDR4);
        assertThat(nft("list", "chain", "ip", "zerohop", "capture")).contains("tproxy to :15006");
        assertThatThrownBy(() -> nft("list", "table", "ip6", "zerohop")).as("no ip6 table").hasMessageContaining("exited with");
    }
}
