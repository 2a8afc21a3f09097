package io.zerohop.cli.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.zerohop.testing.LinuxCapabilities;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * The node proxy on a dual-stack cluster: {@link NodeProxyE2EIT}'s two nodes, with pods that hold an IPv4 and an IPv6
 * address each, and deploy/node-proxy's {@code capture.sh} run whole and verbatim on both nodes with a {@code POD_CIDR}
 * naming both families' ranges, as {@code --cluster-cidr} writes them. A pod's IPv6 TCP to a pod on the other node is
 * captured on its node (set {@code ip6 zerohop mesh_pods}, which the proxy keeps beside the IPv4 one), and tunnelled over
 * HBONE to the destination pod's IPv6 address on 15008, so node to node over IPv6, as ztunnel does: it dials the
 * destination workload's address of the original destination's family (istio/ztunnel {@code src/state.rs},
 * {@code pick_workload_destination_or_resolve}: "prefer the same IP family as the original request").
 *
 * <pre>
 *  pod ns q: web 10.10.1.5, fd00:201::1:5 (sa frontend)     pod ns p: reviews 10.10.2.4, fd00:201::2:4 (STRICT)
 *  pod ns o: old 10.10.1.3, fd00:201::1:3 (sa old)                echo :60680
 *        |  veths                                                   |  veth
 *  node A (ns a) 10.10.0.1, fd00:201::a ==== veth (tcpdump) ==== node B (ns b) 10.10.0.2, fd00:201::b
 *  proxy A --transparent                                        proxy B --inbound-transparent --plaintext-inbound
 * </pre>
 *
 * Addresses live only in this test's own namespaces (IPv6: fd00:201::/64); ports 60600-60799 for the apps. Runs only as
 * root with {@code ip} and {@code nft}, as {@link NodeProxyE2EIT}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(60)
class NodeProxyIpv6E2EIT {
    static final String NODE_A4 = "10.10.0.1";
    static final String NODE_B4 = "10.10.0.2";
    static final String NODE_A = "fd00:201::a";
    static final String NODE_B = "fd00:201::b";
    static final String WEB4 = "10.10.1.5";
    static final String WEB = "fd00:201::1:5";
    static final String OLD4 = "10.10.1.3";
    static final String OLD = "fd00:201::1:3";
    static final String REVIEWS4 = "10.10.2.4";
    static final String REVIEWS = "fd00:201::2:4";
    /** A second pod behind node B (frontend's service account): reviews' neighbour on the same node. */
    static final String RATINGS4 = "10.10.2.5";
    static final String RATINGS = "fd00:201::2:5";
    static final int APP_PORT = 60680;
    /** Both families' pod ranges, comma-separated, as Kubernetes' --cluster-cidr and capture.sh's POD_CIDR take them. */
    static final String POD_CIDR = "10.10.1.0/24,10.10.2.0/24,fd00:201::1:0/112,fd00:201::2:0/112";
    /**
     * reviews' policies name the pods' ranges in {@code ipBlocks} and {@code notIpBlocks} (never the nodes' addresses
     * fd00:201::a/b, the tunnels' TCP peers): a connection is allowed only when the address they test is the source pod's,
     * which proxy B takes from proxy A's believed {@code forwarded: for="[ip]:port"} over IPv6 (the pod's own, as
     * ztunnel's {@code src.addr}), from the tunnel's peer otherwise.
     */
    static final String POD_RANGES = "\"fd00:201::1:0/112\", \"fd00:201::2:0/112\", \"10.10.1.0/24\"";
    static final Duration START = Duration.ofSeconds(40);

    static Netns net;
    static Path work;
    static Path pcapFile;
    static Child tcpdump;
    static Child proxyA;
    static Child proxyB;
    static Child podEcho;
    static final List<Child> children = new ArrayList<>();

    @BeforeAll
    @Timeout(90)
    static void twoDualStackNodes() throws Exception {
        assumeTrue(NodeProxyE2EIT.isRoot() && LinuxCapabilities.has(LinuxCapabilities.SYS_ADMIN, LinuxCapabilities.NET_ADMIN, LinuxCapabilities.NET_RAW),
                "network-namespace e2e needs root with CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_NET_RAW (CI's root has them)");
        assumeTrue(Netns.onPath("ip") && Netns.onPath("nft"), "needs `ip` (iproute2) and `nft` (nftables)");
        assertThat(Netns.onPath("tcpdump")).as("tcpdump is missing: apt-get install tcpdump (.ci/run installs it)").isTrue();
        Path jar = Path.of(NodeProxyE2EIT.required("zerohop.e2e.jar"));
        assertThat(jar).as("the shaded CLI jar (built in the package phase, before this integration test)").isRegularFile();

        Path base = Path.of(System.getProperty("zerohop.e2e.workDir", System.getProperty("java.io.tmpdir") + "/zerohop-e2e"));
        work = Files.createDirectories(base.resolve("run-ipv6-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))
                + "-" + ProcessHandle.current().pid()));
        Path workloads = Files.writeString(work.resolve("workloads.yaml"), """
                trustDomain: cluster.local
                nodes:
                  - {name: node-a, addresses: [%s, "%s"]}
                  - {name: node-b}
                workloads:
                  - {namespace: prod, name: web, serviceAccount: frontend, addresses: [%s, "%s"], labels: {app: web}, protocol: HBONE, node: node-a}
                  - {namespace: legacy, name: old, serviceAccount: old, addresses: [%s, "%s"], labels: {app: old}, protocol: HBONE, node: node-a}
                  - {namespace: prod, name: reviews, serviceAccount: reviews, addresses: [%s, "%s"], labels: {app: reviews}, protocol: HBONE, node: node-b}
                  - {namespace: prod, name: ratings, serviceAccount: frontend, addresses: [%s, "%s"], labels: {app: ratings}, protocol: HBONE, node: node-b}
                """.formatted(NODE_A4, NODE_A, WEB4, WEB, OLD4, OLD, REVIEWS4, REVIEWS, RATINGS4, RATINGS));
        Path policies = Files.createDirectories(work.resolve("policies"));
        Files.writeString(policies.resolve("reviews.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: reviews-allow-frontend, namespace: prod}
                spec:
                  selector: {matchLabels: {app: reviews}}
                  action: ALLOW
                  rules:
                  - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"], ipBlocks: [%s]}}]
                    to: [{operation: {ports: ["%d"]}}]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: reviews-deny-outside-pods, namespace: prod}
                spec:
                  selector: {matchLabels: {app: reviews}}
                  action: DENY
                  rules:
                  - from: [{source: {notIpBlocks: [%s]}}]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: reviews-deny-old-v6, namespace: prod}
                spec:
                  selector: {matchLabels: {app: reviews}}
                  action: DENY
                  rules:
                  - from: [{source: {ipBlocks: ["%s/128"]}}]
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: prod}
                spec: {mtls: {mode: STRICT}}
                """.formatted(POD_RANGES, APP_PORT, POD_RANGES, OLD));
        Path ca = work.resolve("ca");
        Netns.run(List.of(NodeProxyE2EIT.java(), "-jar", jar.toString(), "ca", "init", "--trust-domain", "cluster.local", "--out", ca.toString()));

        Netns.reapStale();
        net = new Netns();
        net.add("a");
        net.add("b");
        net.veth("a", "va", "b", "vb");
        // nodad: a new address is tentative for a second or two (duplicate address detection) and cannot be bound meanwhile.
        net.ip("a", "addr", "add", NODE_A4 + "/24", "dev", net.dev("va"));
        net.ip("b", "addr", "add", NODE_B4 + "/24", "dev", net.dev("vb"));
        net.ip("a", "-6", "addr", "add", NODE_A + "/128", "dev", net.dev("va"), "nodad");
        net.ip("b", "-6", "addr", "add", NODE_B + "/128", "dev", net.dev("vb"), "nodad");
        net.ip("a", "link", "set", net.dev("va"), "up");
        net.ip("b", "link", "set", net.dev("vb"), "up");
        net.ip("a", "-6", "route", "add", NODE_B + "/128", "dev", net.dev("va"));
        net.ip("b", "-6", "route", "add", NODE_A + "/128", "dev", net.dev("vb"));
        net.ip("a", "route", "add", "10.10.2.0/24", "via", NODE_B4);
        net.ip("b", "route", "add", "10.10.1.0/24", "via", NODE_A4);
        net.ip("a", "-6", "route", "add", "fd00:201::2:0/112", "via", NODE_B);
        net.ip("b", "-6", "route", "add", "fd00:201::1:0/112", "via", NODE_A);
        podBehind("a", "q", WEB4, WEB);
        podBehind("a", "o", OLD4, OLD);
        podBehind("b", "p", REVIEWS4, REVIEWS);
        podBehind("b", "r", RATINGS4, RATINGS);
        for (String ns : List.of("a", "b")) {
            net.sysctl(ns, "net.ipv4.ip_forward", "1");
            net.sysctl(ns, "net.ipv6.conf.all.forwarding", "1");
            // capture.sh as the init container runs it: its ip rules and routes, then both families' tables.
            Netns.run(net.exec(ns, List.of("env", "POD_CIDR=" + POD_CIDR, "sh", "-c", NodeProxyE2EIT.captureScript())));
        }

        pcapFile = work.resolve("veth.pcap");
        tcpdump = start("tcpdump", net.exec("a", List.of("tcpdump", "-i", net.dev("va"), "-n", "-U", "-B", "16384", "-s", "0",
                "-Z", "root", "-w", pcapFile.toString(), "tcp")));
        List<String> proxy = List.of(NodeProxyE2EIT.java(), "-Xmx256m", "-XX:+UseSerialGC", "-Dio.netty.leakDetection.level=paranoid",
                "-jar", jar.toString(), "proxy", "--ca", ca.toString(), "--workloads", workloads.toString(), "--capture-set", "zerohop/mesh_pods",
                "--metrics", "off", "--readiness", "off", "--drain", "1s");
        proxyA = start("proxy-a", net.exec("a", NodeProxyE2EIT.concat(proxy, "--node", "node-a", "--transparent")));
        proxyB = start("proxy-b", net.exec("b", NodeProxyE2EIT.concat(proxy, "--node", "node-b", "--policies", policies.toString(),
                "--plaintext-inbound", "--inbound-transparent", "--transparent")));
        podEcho = start("pod-echo-server", net.exec("p", NodeProxyE2EIT.app(EchoServer.class,
                "[" + REVIEWS + "]:" + APP_PORT, REVIEWS4 + ":" + APP_PORT)));
        tcpdump.awaitLine(l -> l.contains("listening on"), "`listening on`", START);
        proxyA.awaitLine(l -> l.startsWith("zerohop proxy ready"), "`zerohop proxy ready`", START);
        proxyB.awaitLine(l -> l.startsWith("zerohop proxy ready"), "`zerohop proxy ready`", START);
        podEcho.awaitLine("READY"::equals, "READY", START);
        // Each node's pods in both families' sets, written before the ready line.
        assertThat(Netns.run(net.exec("a", List.of("nft", "list", "set", "ip6", "zerohop", "mesh_pods"))))
                .contains(WEB, OLD).doesNotContain(REVIEWS);
        assertThat(Netns.run(net.exec("a", List.of("nft", "list", "set", "ip", "zerohop", "mesh_pods"))))
                .contains(WEB4, OLD4).doesNotContain(REVIEWS4);
        assertThat(Netns.run(net.exec("b", List.of("nft", "list", "set", "ip6", "zerohop", "mesh_pods")))).contains(REVIEWS, RATINGS).doesNotContain(WEB);
        assertThat(proxyA.lines()).noneMatch(l -> l.contains("not captured"));
    }

    @AfterAll
    static void tearDown() {
        NodeProxyE2EIT.stopAll(children, net);
    }

    @Test
    @Order(1)
    void aPodsIpv6ConnectionToAPodOnTheOtherNodeCrossesAsHboneOverIpv6() throws Exception {
        String marker = NodeProxyE2EIT.marker();
        byte[] payload = NodeProxyE2EIT.payload(1 << 20, marker, 1);
        int podFrom = podEcho.size();
        int proxyBFrom = proxyB.size();

        Map<String, String> r = clients("q", "[" + WEB + "]", List.of("[" + REVIEWS + "]:" + APP_PORT), List.of(payload)).get(0);

        assertThat(r).containsEntry("sent", Integer.toString(payload.length))
                .containsEntry("received", Integer.toString(payload.length))
                .containsEntry("receivedSha256", NodeProxyE2EIT.sha256(payload))
                .containsEntry("writeError", "-").containsEntry("readError", "-");
        // The pod's app saw node B's proxy, not web: the connection ended at proxy A.
        // (EchoServer prints the JDK's uncompressed IPv6 form.)
        String acceptLine = "ACCEPT [" + jdk(REVIEWS) + "]:" + APP_PORT + " <- ";
        String accepted = podEcho.awaitLine(podFrom, l -> l.startsWith(acceptLine), "ACCEPT in the pod",
                Duration.ofSeconds(10));
        assertThat(accepted).contains("<- [" + jdk(NODE_B) + "]:");
        // Proxy B took the tunnel dialled to the pod's IPv6 address (TPROXY of [pod]:15008 in ip6 zerohop), authenticated
        // web's SVID and presented reviews' one.
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound src=[" + NODE_A + "]:")
                && l.contains("src_id=spiffe://cluster.local/ns/prod/sa/frontend") && l.contains(" src_workload=prod/web ")
                && l.contains("dst=[" + REVIEWS + "]:" + APP_PORT) && l.contains("dst_id=spiffe://cluster.local/ns/prod/sa/reviews")
                && l.contains("status=200") && l.contains("bytes_received=" + payload.length), "proxy B's inbound line for web", Duration.ofSeconds(10));
        // On the wire: HBONE from node A's IPv6 address to the pod's IPv6 address on 15008, TLS only, no marker.
        java.net.InetAddress nodeA = java.net.InetAddress.getByName(NODE_A);
        java.net.InetAddress reviews = java.net.InetAddress.getByName(REVIEWS);
        java.net.InetAddress web = java.net.InetAddress.getByName(WEB);
        Predicate<Pcap.Packet> hboneUp = p -> p.src().equals(nodeA) && p.dst().equals(reviews) && p.dport() == 15008;
        Pcap cap = awaitCapture("HBONE over IPv6 to the pod on 15008", c ->
                c.streams(hboneUp).stream().anyMatch(st -> st.bytes().length > payload.length));
        assertThat(cap.contains(marker.getBytes(StandardCharsets.US_ASCII))).as("plaintext marker on the wire").isFalse();
        assertThat(cap.packets).as("no plain TCP to the app's port, and web's address never on the wire")
                .noneMatch(p -> p.port(APP_PORT) || p.src().equals(web) || p.dst().equals(web));
        Pcap.Stream up = cap.streams(hboneUp).stream().max(java.util.Comparator.comparingInt(st -> st.bytes().length)).orElseThrow();
        List<Pcap.TlsRecord> records = Pcap.tlsRecords(up.bytes());
        assertThat(records.get(0).type()).as("ClientHello").isEqualTo(22);
        assertThat(records.subList(1, records.size())).extracting(Pcap.TlsRecord::type).containsOnly(20, 23);
    }

    @Test
    @Order(2)
    void theSameDualStackPodsIpv4ConnectionIsCapturedToo() throws Exception {
        byte[] payload = NodeProxyE2EIT.payload(64 << 10, NodeProxyE2EIT.marker(), 2);
        int proxyBFrom = proxyB.size();

        Map<String, String> r = clients("q", WEB4, List.of(REVIEWS4 + ":" + APP_PORT), List.of(payload)).get(0);

        assertThat(r).containsEntry("received", Integer.toString(payload.length)).containsEntry("receivedSha256", NodeProxyE2EIT.sha256(payload));
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound src=" + NODE_A4 + ":") && l.contains(" src_workload=prod/web ")
                && l.contains("dst=" + REVIEWS4 + ":" + APP_PORT) && l.contains("status=200"), "proxy B's inbound line for web's IPv4", Duration.ofSeconds(10));
    }

    @Test
    @Order(3)
    void aDeniedPodsIpv6ConnectionIsRefusedByTheDestinationsPolicy() throws Exception {
        byte[] payload = NodeProxyE2EIT.payload(16 << 10, NodeProxyE2EIT.marker(), 3);
        int podFrom = podEcho.size();
        int proxyBFrom = proxyB.size();

        Map<String, String> r = clients("o", "[" + OLD + "]", List.of("[" + REVIEWS + "]:" + APP_PORT), List.of(payload)).get(0);

        assertThat(r).as("denied: no byte comes back").containsEntry("received", "0");
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound refused src=[" + NODE_A + "]:")
                && l.contains(" src_id=spiffe://cluster.local/ns/legacy/sa/old ") && l.contains(" dst=[" + REVIEWS + "]:" + APP_PORT + " ")
                && l.contains(" status=401 ") && l.contains("reason=\"DENY by prod/reviews-deny-old-v6 "),
                "the denial by the DENY policy on old's IPv6 address (ipBlocks fd00:201::1:3/128)", Duration.ofSeconds(10));
        assertThat(podEcho.lines().subList(podFrom, podEcho.size())).as("the pod never saw old").noneMatch(l -> l.startsWith("ACCEPT"));
    }

    @Test
    @Order(4)
    void plaintextIpv6ToAStrictPodMeetsThePlaintextInboundListener() throws Exception {
        byte[] payload = NodeProxyE2EIT.payload(16 << 10, NodeProxyE2EIT.marker(), 4);
        int podFrom = podEcho.size();
        int proxyBFrom = proxyB.size();

        // From node A's own address nothing is captured on A; on B, ip6 zerohop hands it to :15006, where STRICT refuses it.
        Map<String, String> r = NodeProxyE2EIT.clients(work, net, "a", "[" + NODE_A + "]", List.of("[" + REVIEWS + "]:" + APP_PORT),
                List.of(payload), NodeProxyE2EIT.DROPPED_CONNECT).get(0);

        assertThat(r.get("received")).as("STRICT: plaintext must not reach the pod").isIn(null, "0");
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - plaintext-inbound refused src=[" + NODE_A + "]:")
                && l.contains(" dst=[" + REVIEWS + "]:" + APP_PORT + " ") && l.contains("reason=\"PeerAuthentication STRICT requires mTLS\""),
                "the STRICT refusal", Duration.ofSeconds(10));
        assertThat(podEcho.lines().subList(podFrom, podEcho.size())).as("the pod never saw the plaintext").noneMatch(l -> l.startsWith("ACCEPT"));
    }

    @Test
    @Order(5)
    void twoMeshPodsOnOneNodeTalkOverIpv6ThroughTheNodesOwnHboneListener() throws Exception {
        byte[] payload = NodeProxyE2EIT.payload(256 << 10, NodeProxyE2EIT.marker(), 6);
        int proxyBFrom = proxyB.size();

        // Proxy B captures ratings' IPv6 connection and dials [reviews]:15008 from the host, which only ip6 zerohop's output
        // chain brings back (through lo, the ip -6 fwmark rule) to proxy B's own transparent HBONE listener.
        Map<String, String> r = clients("r", "[" + RATINGS + "]", List.of("[" + REVIEWS + "]:" + APP_PORT), List.of(payload)).get(0);

        assertThat(r).containsEntry("received", Integer.toString(payload.length)).containsEntry("receivedSha256", NodeProxyE2EIT.sha256(payload));
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound src=") && l.contains(" src_workload=prod/ratings ")
                && l.contains("src_id=spiffe://cluster.local/ns/prod/sa/frontend") && l.contains("dst=[" + REVIEWS + "]:" + APP_PORT)
                && l.contains("dst_id=spiffe://cluster.local/ns/prod/sa/reviews") && l.contains("status=200")
                && l.contains("bytes_received=" + payload.length), "proxy B's inbound line for ratings", Duration.ofSeconds(10));
    }

    @Test
    @Order(6)
    void captureShRunAgainKeepsTheIpv6SetTheProxyWrote() throws Exception {
        // A DaemonSet pod replaced in a rollout runs capture.sh before its proxy starts: the ip6 twin, like the ip table, is
        // added to and its chains flushed and refilled, never deleted, so its set keeps the running proxy's pods.
        String before = Netns.run(net.exec("b", List.of("nft", "list", "table", "ip6", "zerohop")));
        Netns.run(net.exec("b", List.of("env", "POD_CIDR=" + POD_CIDR, "sh", "-c", NodeProxyE2EIT.captureScript())));
        String after = Netns.run(net.exec("b", List.of("nft", "list", "table", "ip6", "zerohop")));
        assertThat(after).as("the same table: set elements kept, chains not doubled").isEqualTo(before).contains(REVIEWS);
        byte[] payload = NodeProxyE2EIT.payload(16 << 10, NodeProxyE2EIT.marker(), 5);
        assertThat(clients("q", "[" + WEB + "]", List.of("[" + REVIEWS + "]:" + APP_PORT), List.of(payload)).get(0))
                .containsEntry("received", Integer.toString(payload.length)).containsEntry("receivedSha256", NodeProxyE2EIT.sha256(payload));
    }

    /** Last: it stops proxy B. */
    @Test
    @Order(7)
    void withTheProxyGoneIpv6CaptureFailsClosed() throws Exception {
        byte[] payload = NodeProxyE2EIT.payload(16 << 10, NodeProxyE2EIT.marker(), 7);
        int podFrom = podEcho.size();
        // SIGKILL: the ip6 set stays as proxy B wrote it, and no listener takes what ip6 zerohop's rules match.
        proxyB.close();
        assertThat(proxyB.isAlive()).isFalse();

        // ip6 zerohop's drop rules, as the ip table's: the SYN is dropped (and retried), never delivered past STRICT.
        Map<String, String> r = NodeProxyE2EIT.clients(work, net, "a", "[" + NODE_A + "]", List.of("[" + REVIEWS + "]:" + APP_PORT),
                List.of(payload), NodeProxyE2EIT.DROPPED_CONNECT).get(0);
        assertThat(r).as("no listener, no delivery").containsKey("connectError");
        assertThat(r.get("connectError")).contains("Timeout");
        assertThat(podEcho.lines().subList(podFrom, podEcho.size())).as("the pod never saw it").noneMatch(l -> l.startsWith("ACCEPT"));
    }

    /** {@code address} as {@code InetAddress.getHostAddress} writes it. */
    static String jdk(String address) throws java.net.UnknownHostException {
        return java.net.InetAddress.getByName(address).getHostAddress();
    }

    /** Namespace {@code pod} behind node {@code node}'s veth with one address of each family, routed as Calico routes a pod. */
    static void podBehind(String node, String pod, String ip4, String ip6) throws Exception {
        String nodeIp4 = node.equals("a") ? NODE_A4 : NODE_B4;
        String nodeIp6 = node.equals("a") ? NODE_A : NODE_B;
        net.add(pod);
        String nodeDev = net.dev("v" + pod + node);
        String podDev = net.dev("v" + pod);
        net.veth(node, "v" + pod + node, pod, "v" + pod);
        net.ip(node, "addr", "add", nodeIp4 + "/32", "dev", nodeDev);
        net.ip(node, "-6", "addr", "add", nodeIp6 + "/128", "dev", nodeDev, "nodad");
        net.ip(pod, "addr", "add", ip4 + "/32", "dev", podDev);
        net.ip(pod, "-6", "addr", "add", ip6 + "/128", "dev", podDev, "nodad");
        net.ip(node, "link", "set", nodeDev, "up");
        net.ip(pod, "link", "set", podDev, "up");
        net.ip(node, "route", "add", ip4 + "/32", "dev", nodeDev);
        net.ip(node, "-6", "route", "add", ip6 + "/128", "dev", nodeDev);
        net.ip(pod, "route", "add", nodeIp4 + "/32", "dev", podDev);
        net.ip(pod, "route", "add", "default", "via", nodeIp4, "dev", podDev);
        net.ip(pod, "-6", "route", "add", nodeIp6 + "/128", "dev", podDev);
        net.ip(pod, "-6", "route", "add", "default", "via", nodeIp6, "dev", podDev);
    }

    /** Runs {@link TcpClient} in namespace {@code ns}, bound to {@code source}; one RESULT per target ({@link NodeProxyE2EIT#clients}). */
    static List<Map<String, String>> clients(String ns, String source, List<String> targets, List<byte[]> payloads) throws Exception {
        return NodeProxyE2EIT.clients(work, net, ns, source, targets, payloads);
    }

    /** Re-reads the growing capture until {@code done} holds. */
    static Pcap awaitCapture(String what, Predicate<Pcap> done) throws Exception {
        return NodeProxyE2EIT.awaitCapture(pcapFile, tcpdump, what, done);
    }

    static Child start(String name, List<String> command) throws java.io.IOException {
        Child c = Child.start(name, work, command);
        children.add(c);
        return c;
    }
}
