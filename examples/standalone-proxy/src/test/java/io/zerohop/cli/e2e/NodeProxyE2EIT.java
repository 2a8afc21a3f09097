package io.zerohop.cli.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.zerohop.testing.LinuxCapabilities;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * The node proxy end to end, as deployed: two network namespaces are two nodes joined by a veth
 * pair, one {@code zerohop proxy} (the real CLI, shaded jar, child JVM under {@code ip netns exec})
 * per node, identities from one {@code zerohop ca init} CA, the registry and policies from
 * {@code src/test/resources/e2e}.
 *
 * <pre>
 *  node A (ns a)                                   node B (ns b)
 *  pods 10.10.1.2 frontend, 10.10.1.3 old,        pod 10.10.2.2 backend (lo): echo :8080, :9090
 *       10.10.1.4 frontend-canary (lo)
 *  nft: their TCP out -> mark -> lo -> TPROXY      nft: plaintext in on veth to :8080 -> TPROXY
 *       -> proxy A :15001 (--transparent)               -> proxy B :15006 (--plaintext-inbound)
 *  proxy A  10.10.0.1 ==== veth (tcpdump) ==== 10.10.0.2  proxy B :15008 (HBONE, per-workload SVIDs,
 *                                                          --inbound-transparent)
 *                                                 nft: 10.10.2.0/24 tcp dport 15008 -> TPROXY -> :15008
 *                                                 10.10.0.2 ==== veth ==== pod ns p: 10.10.2.4 reviews
 *                                                                          echo :8080
 *  pod ns q: 10.10.1.5 web ==== veth ==== 10.10.0.1
 *  nft: capture.sh's table verbatim (after a kube-proxy-style DNAT of 10.96.0.10:80 -> 10.10.2.4:8080)
 * </pre>
 *
 * The pod in its own namespace is the node-proxy shape of deploy/node-proxy/configmap.yaml's
 * {@code capture.sh}: proxy A dials {@code 10.10.2.4:15008} (no node hboneAddress), an address node B
 * does not own, and only the TPROXY rule with proxy B's IP_TRANSPARENT HBONE listener delivers it.
 *
 * The apps know nothing of the mesh: the clients speak plain TCP to 10.10.2.2:8080. Runs only as root
 * with {@code ip} and {@code nft} present (CI); namespaces, their nft tables and every child process
 * are removed whatever happens. Logs and the capture stay in {@code <build dir>/e2e/run-*}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(60)
class NodeProxyE2EIT {
    static final String FRONTEND = "10.10.1.2";
    static final String OLD = "10.10.1.3";
    /** frontend's service account, label track=canary (denied by a CiliumNetworkPolicy ingressDeny). */
    static final String CANARY = "10.10.1.4";
    static final String NODE_A = "10.10.0.1";
    static final String NODE_B = "10.10.0.2";
    static final String BACKEND = "10.10.2.2";
    /** The pod in its own namespace behind node B. */
    static final String REVIEWS = "10.10.2.4";
    /** A second pod behind node B (frontend's service account): reviews' neighbour on the same node. */
    static final String RATINGS = "10.10.2.5";
    /** A pod in its own namespace behind node A (frontend's service account), captured by capture.sh's rules verbatim. */
    static final String WEB = "10.10.1.5";
    /** A Service ClusterIP on node A, which a kube-proxy-style DNAT sends to {@link #REVIEWS}:8080. */
    static final String CLUSTER_IP = "10.96.0.10";
    static final Duration START = Duration.ofSeconds(40);

    static Netns net;
    static Path work;
    static Path pcapFile;
    static Child tcpdump;
    static Child proxyA;
    static Child proxyB;
    static Child echo;
    static Child podEcho;
    static Child nodeEcho;
    static final List<Child> children = new ArrayList<>();
    static long startNanos;

    @BeforeAll
    @Timeout(90)
    static void twoNodes() throws Exception {
        startNanos = System.nanoTime();
        // Root for /run/netns, and the capabilities, which a container's root may lack (Docker's default
        // set has neither CAP_SYS_ADMIN nor CAP_NET_ADMIN): without them `ip netns add` fails, not skips.
        assumeTrue(isRoot() && LinuxCapabilities.has(LinuxCapabilities.SYS_ADMIN, LinuxCapabilities.NET_ADMIN, LinuxCapabilities.NET_RAW),
                "network-namespace e2e needs root with CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_NET_RAW (CI's root has them)");
        assumeTrue(Netns.onPath("ip") && Netns.onPath("nft"), "needs `ip` (iproute2) and `nft` (nftables)");
        assertThat(Netns.onPath("tcpdump")).as("tcpdump is missing: apt-get install tcpdump (.ci/run installs it)").isTrue();
        Path jar = Path.of(required("zerohop.e2e.jar"));
        assertThat(jar).as("the shaded CLI jar (built in the package phase, before this integration test)").isRegularFile();

        Path base = Path.of(System.getProperty("zerohop.e2e.workDir", System.getProperty("java.io.tmpdir") + "/zerohop-e2e"));
        work = Files.createDirectories(base.resolve("run-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))
                + "-" + ProcessHandle.current().pid()));
        Path workloads = work.resolve("workloads.yaml");
        Files.copy(resource("e2e/workloads.yaml"), workloads);
        Path policies = Files.createDirectories(work.resolve("policies"));
        Files.copy(resource("e2e/policies/backend.yaml"), policies.resolve("backend.yaml"));

        // One CA for both nodes, made by the CLI; each proxy issues its local workloads' SVIDs from it.
        Path ca = work.resolve("ca");
        Netns.run(List.of(java(), "-jar", jar.toString(), "ca", "init", "--trust-domain", "cluster.local", "--out", ca.toString()));

        Netns.reapStale();
        net = new Netns();
        net.add("a");
        net.add("b");
        net.veth("a", "va", "b", "vb");
        net.ip("a", "addr", "add", NODE_A + "/24", "dev", net.dev("va"));
        net.ip("b", "addr", "add", NODE_B + "/24", "dev", net.dev("vb"));
        net.ip("a", "link", "set", net.dev("va"), "up");
        net.ip("b", "link", "set", net.dev("vb"), "up");
        // Pod addresses live on each node's loopback; the other node's pod range goes over the veth.
        net.ip("a", "addr", "add", FRONTEND + "/32", "dev", "lo");
        net.ip("a", "addr", "add", OLD + "/32", "dev", "lo");
        net.ip("a", "addr", "add", CANARY + "/32", "dev", "lo");
        net.ip("b", "addr", "add", BACKEND + "/32", "dev", "lo");
        net.ip("a", "route", "add", "10.10.2.0/24", "via", NODE_B);
        net.ip("b", "route", "add", "10.10.1.0/24", "via", NODE_A);
        // A pod in its own namespace behind node B, wired as Calico wires one: node B's end of the
        // veth carries node B's address, the pod routes everything to it, node B a /32 to the pod.
        podBehind("b", NODE_B, "p", REVIEWS);
        podBehind("b", NODE_B, "r", RATINGS);
        // Node B routes the pod's own connections on (a node does; a new namespace does not forward).
        Netns.run(net.exec("b", List.of("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")));
        // The same behind node A: web's traffic enters node A from its veth, as a real pod's does,
        // where capture.sh's own rules (not this test's output-hook ones) capture it.
        podBehind("a", NODE_A, "q", WEB);
        // TPROXY: marked packets are delivered locally (through lo), where the tproxy rule hands them
        // to the proxy's IP_TRANSPARENT listener with the original destination kept.
        for (String ns : List.of("a", "b")) {
            net.ip(ns, "rule", "add", "fwmark", "0x1", "lookup", "100");
            net.ip(ns, "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100");
        }
        // Node A: the pods' outbound TCP (not the proxy's own, which leaves from 10.10.0.1) is captured.
        net.nft("a", """
                table ip zerohop_e2e {
                  chain output {
                    type route hook output priority mangle; policy accept;
                    ip saddr { %s, %s, %s } ip daddr 10.10.2.0/24 meta l4proto tcp meta mark set 0x1
                  }
                  chain prerouting {
                    type filter hook prerouting priority mangle; policy accept;
                    iifname "lo" meta mark 0x1 meta l4proto tcp tproxy to 127.0.0.1:15001 accept
                  }
                }
                """.formatted(FRONTEND, OLD, CANARY));
        // Node A also runs capture.sh's nftables table as shipped, beside what kube-proxy installs for a
        // Service (its iptables and nftables modes DNAT a ClusterIP to an endpoint at priority dstnat).
        net.nft("a", """
                table ip kubeproxy_e2e {
                  chain prerouting {
                    type nat hook prerouting priority dstnat; policy accept;
                    ip daddr %s tcp dport 80 dnat to %s:8080
                  }
                }
                """.formatted(CLUSTER_IP, REVIEWS));
        net.nft("a", deployCaptureTable("10.10.1.0/24, 10.10.2.0/24"));
        // Node B: capture.sh's table alone. Its mesh pods (backend, reviews: the set proxy B keeps) get HBONE on 15008
        // and every other TCP sent to them on the plaintext inbound listener (PeerAuthentication decides).
        net.nft("b", deployCaptureTable("10.10.1.0/24, 10.10.2.0/24"));

        pcapFile = work.resolve("veth.pcap");
        tcpdump = start("tcpdump", net.exec("a", List.of("tcpdump", "-i", net.dev("va"), "-n", "-U", "-B", "16384", "-s", "0",
                "-Z", "root", "-w", pcapFile.toString(), "tcp")));
        List<String> proxy = List.of(java(), "-Xmx256m", "-XX:+UseSerialGC", "-Dio.netty.leakDetection.level=paranoid",
                "-jar", jar.toString(), "proxy", "--ca", ca.toString(), "--workloads", workloads.toString(), "--capture-set", "zerohop/mesh_pods",
                "--metrics", "off",
                "--readiness", "off", "--drain", "1s");
        proxyA = start("proxy-a", net.exec("a", concat(proxy, "--node", "node-a", "--transparent")));
        proxyB = start("proxy-b", net.exec("b", concat(proxy, "--node", "node-b", "--policies", policies.toString(),
                "--plaintext-inbound", "--inbound-transparent", "--transparent")));
        // NODE_B:9090 is no workload's address: not captured, the STRICT test's control.
        echo = start("echo-server", net.exec("b", app(EchoServer.class, BACKEND + ":8080", BACKEND + ":9090", NODE_B + ":9090")));
        // Outside the mesh on node A, for connections a pod opens itself (their replies are not captured).
        nodeEcho = start("node-echo-server", net.exec("a", app(EchoServer.class, NODE_A + ":9095")));
        tcpdump.awaitLine(l -> l.contains("listening on"), "`listening on`", START);
        proxyA.awaitLine(l -> l.startsWith("zerohop proxy ready"), "`zerohop proxy ready`", START);
        proxyB.awaitLine(l -> l.startsWith("zerohop proxy ready"), "`zerohop proxy ready`", START);
        podEcho = start("pod-echo-server", net.exec("p", app(EchoServer.class, REVIEWS + ":8080")));
        echo.awaitLine("READY"::equals, "READY", START);
        podEcho.awaitLine("READY"::equals, "READY", START);
        nodeEcho.awaitLine("READY"::equals, "READY", START);
        // The sets the proxies wrote before their ready lines: this node's mesh pods (capture.sh's rules read them).
        assertThat(Netns.run(net.exec("a", List.of("nft", "list", "set", "ip", "zerohop", "mesh_pods"))))
                .contains(FRONTEND, OLD, CANARY, WEB).doesNotContain("10.10.2.");
        assertThat(Netns.run(net.exec("b", List.of("nft", "list", "set", "ip", "zerohop", "mesh_pods"))))
                .contains(BACKEND, REVIEWS, RATINGS).doesNotContain("10.10.1.");
        assertThat(proxyA.lines()).anyMatch(l -> l.contains("tproxy 0.0.0.0:15001"));
        assertThat(proxyB.lines()).anyMatch(l -> l.contains("plaintext-inbound 0.0.0.0:15006") && l.contains("policies 4"));
        assertThat(proxyB.lines()).anyMatch(l -> l.contains("HBONE listener on") && l.contains("transparent"));
        System.out.printf("e2e: two nodes up in %d ms (%s, work dir %s)%n", elapsedMs(), net, work);
    }

    @AfterAll
    static void tearDown() throws Exception {
        try {
            stopAll(children, net);
        } finally {
            if (startNanos != 0) {
                System.out.printf("e2e: finished in %d ms%n", elapsedMs());
            }
        }
    }

    /** Stops the children newest first, then removes the namespaces; every failure reported, none hiding the next. */
    static void stopAll(List<Child> children, Netns net) {
        List<Throwable> failures = new ArrayList<>();
        for (int i = children.size() - 1; i >= 0; i--) {
            try {
                children.get(i).terminate(Duration.ofSeconds(3));
            } catch (Throwable t) {
                failures.add(t);
            } finally {
                children.get(i).close();
            }
        }
        if (net != null) {
            try {
                net.close();
            } catch (Throwable t) {
                failures.add(t);
            }
        }
        if (!failures.isEmpty()) {
            AssertionError e = new AssertionError("e2e teardown failed");
            failures.forEach(e::addSuppressed);
            throw e;
        }
    }

    @Test
    @Order(1)
    void allowedClientTalksPlainTcpAndOnlyHboneMtlsCrossesTheWire() throws Exception {
        String marker = marker();
        byte[] payload = payload(4 << 20, marker, 1);
        int echoFrom = echo.size();
        int proxyBFrom = proxyB.size();

        Map<String, String> r = client(FRONTEND, BACKEND + ":8080", payload);

        // The app got its own bytes back, all of them.
        assertThat(r).containsEntry("sent", Integer.toString(payload.length))
                .containsEntry("received", Integer.toString(payload.length))
                .containsEntry("receivedSha256", sha256(payload))
                .containsEntry("writeError", "-").containsEntry("readError", "-");
        // The server saw node B's proxy, never the client: the client's connection ended at proxy A.
        String accepted = echo.awaitLine(echoFrom, l -> l.startsWith("ACCEPT " + BACKEND + ":8080 <- "), "ACCEPT on :8080",
                Duration.ofSeconds(10));
        String peer = accepted.substring(accepted.indexOf("<- ") + 3);
        assertThat(peer).startsWith(BACKEND + ":").doesNotStartWith(FRONTEND);
        echo.awaitLine(echoFrom, ("ECHOED " + payload.length + " from " + peer)::equals, "the echo of the whole payload", Duration.ofSeconds(10));
        // Allowed although backend-deny-canary's ingressDeny tests a pod label and frontend's service
        // account also runs the canary pod: node B knows this tunnel is frontend's pod (proxy A's
        // forwarded: for=, of the verified identity), not a peer whose labels are unknown.
        // Node B's proxy authenticated the client as frontend and ended the tunnel cleanly; its log
        // keeps the real peer (proxy A's socket) and shows the app behind it as proxy A's
        // Forwarded: for= claims it.
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound src=" + NODE_A + ":")
                && l.contains(" forwarded_for=" + FRONTEND + ":")
                && l.contains("src_id=spiffe://cluster.local/ns/prod/sa/frontend src_workload=prod/frontend ")
                && l.contains("dst=" + BACKEND + ":8080")
                && l.contains("status=200") && l.contains("bytes_received=" + payload.length) && l.contains("end=fin"),
                "an inbound access log line for frontend", Duration.ofSeconds(10));

        // On the wire: only node addresses, only port 15008, only TLS 1.3 records; never the marker.
        // Waited for until one connection each way reassembles past the payload: counting packets alone let a capture
        // read with a segment still missing (CI, 3 December: 2.65 of 4 MiB reassembled) pass to the checks below.
        Pcap cap = awaitCapture("both directions of the echo on 15008, reassembled", c ->
                c.streams(p -> p.src().getHostAddress().equals(NODE_A) && p.dport() == 15008).stream()
                        .anyMatch(st -> st.bytes().length > payload.length)
                        && c.streams(p -> p.sport() == 15008 && p.dst().getHostAddress().equals(NODE_A)).stream()
                        .anyMatch(st -> st.bytes().length > payload.length));
        assertThat(cap.contains(marker.getBytes(StandardCharsets.US_ASCII))).as("plaintext marker on the wire").isFalse();
        assertThat(cap.packets).as("pod addresses never appear on the wire")
                .noneMatch(p -> p.involvesPrefix("10.10.1."));
        assertThat(cap.packets).as("no plain TCP to the app's port crossed the wire").noneMatch(p -> p.port(8080));
        List<Pcap.Stream> toServer = cap.streams(p -> p.dport() == 15008);
        List<Pcap.Stream> fromServer = cap.streams(p -> p.sport() == 15008);
        assertThat(toServer).isNotEmpty();
        assertThat(fromServer).isNotEmpty();
        // The connection that carried the echo (an earlier one may be in the capture too).
        Pcap.Stream up = toServer.stream().max(java.util.Comparator.comparingInt(st -> st.bytes().length)).orElseThrow();
        Pcap.Stream down = fromServer.stream().max(java.util.Comparator.comparingInt(st -> st.bytes().length)).orElseThrow();
        assertThat(up.bytes().length).isGreaterThan(payload.length);
        assertThat(down.bytes().length).isGreaterThan(payload.length);
        List<Pcap.TlsRecord> upRecords = Pcap.tlsRecords(up.bytes());
        List<Pcap.TlsRecord> downRecords = Pcap.tlsRecords(down.bytes());
        assertThat(upRecords.get(0).type()).as("ClientHello").isEqualTo(22);
        assertThat(upRecords.get(0).firstBytes()[0]).as("ClientHello").isEqualTo((byte) 1);
        assertThat(Pcap.serverHelloVersion(downRecords.get(0))).as("TLS version the ServerHello selects").isEqualTo(0x0304);
        // After the hellos everything is encrypted (TLS 1.3: the certificates too): application data
        // records, plus the compatibility change_cipher_spec.
        assertThat(upRecords.subList(1, upRecords.size())).extracting(Pcap.TlsRecord::type).containsOnly(20, 23);
        assertThat(downRecords.subList(1, downRecords.size())).extracting(Pcap.TlsRecord::type).containsOnly(20, 23);
        System.out.printf("e2e allowed: %d B echoed, sha256 %s; capture %d packets, HBONE %d B up / %d B down in %d/%d TLS records,"
                        + " TLS 0x%04x, plaintext marker absent%n", payload.length, sha256(payload).substring(0, 16), cap.packets.size(),
                up.bytes().length, down.bytes().length, upRecords.size(), downRecords.size(), Pcap.serverHelloVersion(downRecords.get(0)));
    }

    @Test
    @Order(2)
    void deniedServiceAccountGetsItsConnectionReset() throws Exception {
        byte[] payload = payload(64 << 10, marker(), 2);
        int echoFrom = echo.size();
        int proxyAFrom = proxyA.size();
        int proxyBFrom = proxyB.size();

        Map<String, String> r = client(OLD, BACKEND + ":8080", payload);

        assertThat(r).as("denied: no byte comes back").containsEntry("received", "0");
        assertThat(r.get("readError").equals("-") ? "EOF" : r.get("readError")).as("reset or EOF").matches("EOF|.*(?i:reset).*");
        // The destination's proxy denied the old service account by the DENY policy (401), and the
        // source's proxy turned the refusal into a reset of the app's connection.
        // One line per denial: the access log's, with both identities, the status and the policy.
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound refused ") && l.contains(" src_id=spiffe://cluster.local/ns/legacy/sa/old ")
                && l.contains(" dst=" + BACKEND + ":8080 dst_id=") && l.contains(" status=401 ")
                && l.contains("DENY by prod/backend-deny-legacy"), "the policy denial", Duration.ofSeconds(10));
        proxyA.awaitLine(proxyAFrom, l -> l.contains("outbound " + OLD + ":") && l.contains("refused: 401"), "the 401 refusal",
                Duration.ofSeconds(10));
        assertThat(echo.lines().subList(echoFrom, echo.size())).as("the server never saw the denied client").isEmpty();
        System.out.printf("e2e denied: %s, proxy B: DENY by prod/backend-deny-legacy (401)%n",
                r.get("readError").equals("-") ? "EOF" : r.get("readError"));
    }

    @Test
    @Order(3)
    void strictWorkloadRefusesPlaintextWhileTheCaptureSeesPlaintextElsewhere() throws Exception {
        String strictMarker = marker();
        String controlMarker = marker();
        byte[] toStrict = payload(64 << 10, strictMarker, 3);
        byte[] toControl = payload(64 << 10, controlMarker, 4);
        int echoFrom = echo.size();
        int proxyBFrom = proxyB.size();

        // From node A's own address nothing is captured on A: plain TCP crosses the wire to B, whose capture.sh table takes
        // what is sent to its mesh pods; the control goes to node B's own address, which no rule takes.
        List<Map<String, String>> rs = clients(NODE_A, List.of(BACKEND + ":8080", NODE_B + ":9090"), List.of(toStrict, toControl));

        Map<String, String> strict = rs.get(0);
        // The refusal is a reset sent right after B's capture accepted the connection. A client that
        // checks its connect late (a loaded machine: Socket.connect reads SO_ERROR after the kernel has
        // finished the handshake) finds that reset there, "Connection reset" from connect; one in time
        // finds it, or an EOF, on its read. Both are the same refusal on the wire, and the test failed
        // once on the first (connectError, no "received"). Nothing else passes: not a refused or timed-out
        // connect (no capture), not a byte back; the app's accepts and B's log line are checked below.
        String outcome = strict.containsKey("connectError") ? "connect " + strict.get("connectError")
                : "received=" + strict.get("received") + " read " + (strict.get("readError").equals("-") ? "EOF" : strict.get("readError"));
        assertThat(outcome).as("STRICT: plaintext must not reach the app")
                .matches("connect .*(?i:reset).*|received=0 read (EOF|.*(?i:reset).*)");
        // The access log's line for the refused connection (mesh-core README "Access log"; the WARN is DEBUG while it is written).
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - plaintext-inbound refused src=" + NODE_A + ":") && l.contains(" dst=" + BACKEND + ":8080 ")
                && l.contains("reason=\"PeerAuthentication STRICT requires mTLS\""), "the STRICT refusal", Duration.ofSeconds(10));
        // Control: the uncaptured port gets the plaintext, and the capture shows its marker, so the
        // capture would have shown the first test's marker had it crossed in plain.
        Map<String, String> control = rs.get(1);
        assertThat(control).containsEntry("received", Integer.toString(toControl.length)).containsEntry("receivedSha256", sha256(toControl));
        List<String> served = echo.lines().subList(echoFrom, echo.size());
        assertThat(served).as("the app accepted only the control connection, straight from node A")
                .allMatch(l -> !l.startsWith("ACCEPT") || l.startsWith("ACCEPT " + NODE_B + ":9090 <- " + NODE_A + ":"))
                .anyMatch(l -> l.startsWith("ACCEPT " + NODE_B + ":9090 <- " + NODE_A + ":"));
        Pcap cap = awaitCapture("the control marker", c -> c.contains(controlMarker.getBytes(StandardCharsets.US_ASCII)));
        long plain8080 = cap.payloadBytes(p -> p.dport() == 8080 && p.src().getHostAddress().equals(NODE_A));
        System.out.printf("e2e STRICT: plaintext to :8080 %s after %d B on the wire, nothing delivered; control :9090 echoed %d B,"
                + " its marker visible in the capture (%d packets)%n", outcome,
                plain8080, toControl.length, cap.packets.size());
    }

    @Test
    @Order(4)
    void tunnelDialledToAPodIpBehindTheNodeReachesThePodThroughTheTransparentInboundListener() throws Exception {
        byte[] payload = payload(2 << 20, marker(), 5);
        int podFrom = podEcho.size();
        int proxyBFrom = proxyB.size();

        Map<String, String> r = client(FRONTEND, REVIEWS + ":8080", payload);

        assertThat(r).containsEntry("sent", Integer.toString(payload.length))
                .containsEntry("received", Integer.toString(payload.length))
                .containsEntry("receivedSha256", sha256(payload))
                .containsEntry("writeError", "-").containsEntry("readError", "-");
        // The pod's app saw node B's proxy (node B's address on the pod's veth), not the client.
        String accepted = podEcho.awaitLine(podFrom, l -> l.startsWith("ACCEPT " + REVIEWS + ":8080 <- "), "ACCEPT in the pod",
                Duration.ofSeconds(10));
        String peer = accepted.substring(accepted.indexOf("<- ") + 3);
        assertThat(peer).startsWith(NODE_B + ":");
        podEcho.awaitLine(podFrom, ("ECHOED " + payload.length + " from " + peer)::equals, "the echo of the whole payload", Duration.ofSeconds(10));
        // Proxy B accepted the tunnel dialled to the pod's IP (an address it does not own) and
        // authenticated the client, presenting reviews' SVID (selected by the dialled address).
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound src=" + NODE_A + ":")
                && l.contains("src_id=spiffe://cluster.local/ns/prod/sa/frontend") && l.contains("dst=" + REVIEWS + ":8080")
                && l.contains("dst_id=spiffe://cluster.local/ns/prod/sa/reviews") && l.contains("status=200") && l.contains("bytes_received=" + payload.length) && l.contains("end=fin"),
                "an inbound access log line for the pod", Duration.ofSeconds(10));
        Pcap cap = awaitCapture("HBONE to the pod's IP on 15008", c ->
                c.payloadBytes(p -> p.src().getHostAddress().equals(NODE_A) && p.dst().getHostAddress().equals(REVIEWS)
                        && p.dport() == 15008) >= payload.length);
        assertThat(cap.packets).as("no plain TCP to the pod's app port crossed the wire")
                .noneMatch(p -> p.dst().getHostAddress().equals(REVIEWS) && p.dport() == 8080);
        System.out.printf("e2e transparent inbound: %d B echoed by the pod %s behind node B, sha256 %s, pod saw %s%n",
                payload.length, REVIEWS, sha256(payload).substring(0, 16), peer);
    }

    @Test
    @Order(5)
    void deniedIdentityIsRefusedAtTheTransparentInboundListener() throws Exception {
        byte[] payload = payload(64 << 10, marker(), 6);
        int podFrom = podEcho.size();
        int proxyBFrom = proxyB.size();

        Map<String, String> r = client(OLD, REVIEWS + ":8080", payload);

        assertThat(r).as("denied: no byte comes back").containsEntry("received", "0");
        assertThat(r.get("readError").equals("-") ? "EOF" : r.get("readError")).as("reset or EOF").matches("EOF|.*(?i:reset).*");
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound refused ") && l.contains(" src_id=spiffe://cluster.local/ns/legacy/sa/old ")
                && l.contains(" dst=" + REVIEWS + ":8080 dst_id=") && l.contains(" status=401 ")
                && l.contains("DENY by prod/backend-deny-legacy"), "the policy denial", Duration.ofSeconds(10));
        assertThat(podEcho.lines().subList(podFrom, podEcho.size())).as("the pod never saw the denied client").isEmpty();
    }

    @Test
    @Order(6)
    void ciliumLabelDenyAcrossNodesSelectsOnlyTheLabelledPod() throws Exception {
        byte[] payload = payload(16 << 10, marker(), 7);
        int echoFrom = echo.size();
        int proxyBFrom = proxyB.size();

        Map<String, String> r = client(CANARY, BACKEND + ":8080", payload);

        assertThat(r).as("denied: no byte comes back").containsEntry("received", "0");
        // Same service account as frontend (allowed in the first test): only the pod's label tells
        // them apart, and proxy B matched it, not "labels unknown (fail closed)".
        String denial = proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound refused ") && l.contains(" src_id=spiffe://cluster.local/ns/prod/sa/frontend ")
                && l.contains(" dst=" + BACKEND + ":8080 dst_id=") && l.contains("DENY by prod/backend-deny-canary"), "the Cilium label denial",
                Duration.ofSeconds(10));
        assertThat(denial).contains("fromEndpoints track=canary matched").doesNotContain("unknown");
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound refused src=" + NODE_A + ":")
                && l.contains(" forwarded_for=" + CANARY + ":") && l.contains(" src_workload=prod/frontend-canary ")
                && l.contains("status=401"), "the access log line naming the canary pod", Duration.ofSeconds(10));
        assertThat(echo.lines().subList(echoFrom, echo.size())).as("the server never saw the canary pod").isEmpty();
        System.out.printf("e2e Cilium label across nodes: frontend allowed, frontend-canary (same SA) denied: %s%n",
                denial.substring(denial.indexOf("DENY by")));
    }

    @Test
    @Order(7)
    void istioIpBlocksOnAPodAddressMatchAcrossNodes() throws Exception {
        byte[] payload = payload(16 << 10, marker(), 8);
        int proxyBFrom = proxyB.size();

        // backend-allow-frontend admits port 9090 for ipBlocks 10.10.1.2 only: proxy B must see
        // frontend's pod address as the source, not proxy A's 10.10.0.1 (on main it did: reset).
        Map<String, String> r = client(FRONTEND, BACKEND + ":9090", payload);

        assertThat(r).containsEntry("received", Integer.toString(payload.length)).containsEntry("receivedSha256", sha256(payload));
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound src=" + NODE_A + ":")
                && l.contains(" forwarded_for=" + FRONTEND + ":") && l.contains(" src_workload=prod/frontend src_ip=" + FRONTEND + " ")
                && l.contains("dst=" + BACKEND + ":9090") && l.contains("status=200"),
                "the access log line with the pod address policy used", Duration.ofSeconds(10));
        System.out.printf("e2e Istio ipBlocks across nodes: frontend (%s) through proxy A (%s) allowed on :9090 by its pod address%n",
                FRONTEND, NODE_A);
    }

    @Test
    @Order(8)
    void podToAServiceClusterIpIsCapturedAfterKubeProxysDnatAndCrossesAsHbone() throws Exception {
        byte[] viaService = payload(1 << 20, marker(), 9);
        byte[] direct = payload(256 << 10, marker(), 10);
        int podFrom = podEcho.size();
        int proxyBFrom = proxyB.size();
        java.util.function.Predicate<Pcap.Packet> toReviews = p -> p.src().getHostAddress().equals(NODE_A)
                && p.dst().getHostAddress().equals(REVIEWS) && p.dport() == 15008;
        Pcap before = Pcap.read(pcapFile);
        long hboneBefore = before.payloadBytes(toReviews);

        // web (a pod behind node A's veth) dials the Service's ClusterIP, then the pod itself: both are
        // captured by capture.sh's shipped table alone. Before it ran after the DNAT, the first kept
        // the ClusterIP as its destination, matched no POD_CIDR rule and left node A in plaintext.
        List<Map<String, String>> rs = clients("q", WEB, List.of(CLUSTER_IP + ":80", REVIEWS + ":8080"), List.of(viaService, direct));

        for (int i = 0; i < 2; i++) {
            byte[] sent = i == 0 ? viaService : direct;
            assertThat(rs.get(i)).as(i == 0 ? "through the ClusterIP" : "to the pod")
                    .containsEntry("sent", Integer.toString(sent.length))
                    .containsEntry("received", Integer.toString(sent.length))
                    .containsEntry("receivedSha256", sha256(sent))
                    .containsEntry("writeError", "-").containsEntry("readError", "-");
            // Proxy A saw kube-proxy's pick (the endpoint pod) as the destination, and proxy B
            // authenticated web's identity and knew the pod from proxy A's forwarded: for=.
            proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound src=" + NODE_A + ":")
                    && l.contains(" forwarded_for=" + WEB + ":") && l.contains(" src_workload=prod/web ")
                    && l.contains("src_id=spiffe://cluster.local/ns/prod/sa/frontend") && l.contains("dst=" + REVIEWS + ":8080")
                    && l.contains("dst_id=spiffe://cluster.local/ns/prod/sa/reviews") && l.contains("status=200")
                    && l.contains("bytes_received=" + sent.length) && l.contains("end=fin"),
                    "an inbound access log line for web's " + sent.length + " bytes", Duration.ofSeconds(10));
        }
        assertThat(podEcho.lines().subList(podFrom, podEcho.size())).as("the pod's app saw node B's proxy only")
                .filteredOn(l -> l.startsWith("ACCEPT ")).hasSize(2).allMatch(l -> l.startsWith("ACCEPT " + REVIEWS + ":8080 <- " + NODE_B + ":"));
        Pcap cap = awaitCapture("HBONE to the pod's IP on 15008 for both", c ->
                c.payloadBytes(toReviews) >= hboneBefore + viaService.length + direct.length);
        // This test's packets only: an earlier one sends plaintext to :8080 on purpose (STRICT).
        assertThat(cap.packets.subList(before.packets.size(), cap.packets.size()))
                .as("neither the ClusterIP nor web's address nor plain TCP to the app crossed the wire")
                .noneMatch(p -> p.involvesPrefix(CLUSTER_IP) || p.involvesPrefix(WEB) || p.port(8080) || p.port(80));
        System.out.printf("e2e ClusterIP: web -> %s:80 (kube-proxy DNAT to %s:8080) and -> the pod, %d + %d B echoed over HBONE only%n",
                CLUSTER_IP, REVIEWS, viaService.length, direct.length);
    }

    @Test
    @Order(9)
    void plaintextToAPodBehindTheNodeMeetsPeerAuthenticationAndAPodsOwnConnectionsAreLeftAlone() throws Exception {
        byte[] toPod = payload(64 << 10, marker(), 11);
        byte[] fromPod = payload(256 << 10, marker(), 12);
        int podFrom = podEcho.size();
        int proxyBFrom = proxyB.size();

        // Plain TCP from outside the mesh (node A's own address: a NodePort client, a VM, a pod without a proxy) to
        // reviews, a pod behind node B's veth in STRICT namespace prod: capture.sh's third rule hands it to proxy B's
        // plaintext inbound listener, which refuses it, as ztunnel's 15006 does: istio-cni sends every TCP connection into an
        // enrolled pod but one to 15008 there (istio/istio cni/pkg/iptables/iptables.go, ISTIO_PRERT "! --dport 15008 ...
        // REDIRECT --to-ports <INPLAINPORT>"). Before the rule it reached the pod.
        Map<String, String> strict = client(NODE_A, REVIEWS + ":8080", toPod);
        assertThat(strict.get("received")).as("STRICT: plaintext must not reach the pod").isIn(null, "0");
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - plaintext-inbound refused src=" + NODE_A + ":") && l.contains(" dst=" + REVIEWS + ":8080 ")
                && l.contains("reason=\"PeerAuthentication STRICT requires mTLS\""), "the STRICT refusal for the pod", Duration.ofSeconds(10));
        assertThat(podEcho.lines().subList(podFrom, podEcho.size())).as("the pod never saw the plaintext").noneMatch(l -> l.startsWith("ACCEPT"));

        // The pod's own connection to something outside pod-cidr is not captured, and neither are its replies
        // ("ct direction original": TPROXY would give them to the 15006 listener, which would reset the connection).
        Map<String, String> out = clients("p", REVIEWS, List.of(NODE_A + ":9095"), List.of(fromPod)).get(0);
        assertThat(out).containsEntry("received", Integer.toString(fromPod.length)).containsEntry("receivedSha256", sha256(fromPod))
                .containsEntry("readError", "-");
        assertThat(nodeEcho.lines()).anyMatch(l -> l.startsWith("ACCEPT " + NODE_A + ":9095 <- " + REVIEWS + ":"));
        System.out.printf("e2e plaintext to a pod: refused by STRICT at proxy B (%s); the pod's own %d B to %s:9095 echoed uncaptured%n",
                strict.containsKey("connectError") ? "connect " + strict.get("connectError") : "read " + strict.get("readError"),
                fromPod.length, NODE_A);
    }

    @Test
    @Order(10)
    void twoMeshPodsOnOneNodeTalkThroughTheNodesOwnHboneListener() throws Exception {
        byte[] payload = payload(512 << 10, marker(), 13);
        int podFrom = podEcho.size();
        int proxyBFrom = proxyB.size();

        // ratings and reviews both run behind node B. Proxy B captures ratings' connection and dials reviews' IP on 15008
        // from the host, which no prerouting rule sees: capture.sh's output chain marks it, so it comes back through lo to
        // proxy B's own transparent HBONE listener, which presents reviews' SVID and applies reviews' policies. Without
        // that chain the dial reached the pod itself: "HBONE connection to 10.10.2.4:15008 failed: Connection refused".
        Map<String, String> r = clients("r", RATINGS, List.of(REVIEWS + ":8080"), List.of(payload)).get(0);

        assertThat(r).containsEntry("received", Integer.toString(payload.length)).containsEntry("receivedSha256", sha256(payload))
                .containsEntry("readError", "-");
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - outbound src=" + RATINGS + ":") && l.contains("dst=" + REVIEWS + ":8080")
                && l.contains("dst_id=spiffe://cluster.local/ns/prod/sa/reviews") && l.contains("status=200"),
                "proxy B's outbound line for ratings", Duration.ofSeconds(10));
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - inbound src=") && l.contains(" src_workload=prod/ratings ")
                && l.contains("src_id=spiffe://cluster.local/ns/prod/sa/frontend") && l.contains("dst=" + REVIEWS + ":8080")
                && l.contains("dst_id=spiffe://cluster.local/ns/prod/sa/reviews") && l.contains("status=200")
                && l.contains("bytes_received=" + payload.length), "proxy B's inbound line for ratings", Duration.ofSeconds(10));
        assertThat(podEcho.lines().subList(podFrom, podEcho.size())).filteredOn(l -> l.startsWith("ACCEPT "))
                .allMatch(l -> l.startsWith("ACCEPT " + REVIEWS + ":8080 <- " + NODE_B + ":"));
        System.out.printf("e2e same node: ratings -> reviews behind node B, %d B echoed through proxy B's own HBONE listener%n",
                payload.length);
    }

    @Test
    @Order(11)
    void captureShRunAgainKeepsTheSetTheProxyWrote() throws Exception {
        // A pod of the DaemonSet replaced in a rollout runs capture.sh before its proxy starts. It deleted and made the table
        // again, so the set was empty until the new proxy wrote it, and plaintext reached STRICT pods (a break-it pass).
        String before = Netns.run(net.exec("b", List.of("nft", "list", "table", "ip", "zerohop")));
        net.nft("b", deployCaptureTable("10.10.1.0/24, 10.10.2.0/24"));
        String after = Netns.run(net.exec("b", List.of("nft", "list", "table", "ip", "zerohop")));
        assertThat(after).as("the same table: set elements kept, chains not doubled").isEqualTo(before).contains(REVIEWS, RATINGS, BACKEND);
        byte[] payload = payload(64 << 10, marker(), 15);
        assertThat(clients("r", RATINGS, List.of(REVIEWS + ":8080"), List.of(payload)).get(0))
                .containsEntry("received", Integer.toString(payload.length)).containsEntry("receivedSha256", sha256(payload));
    }

    @Test
    @Order(12)
    void aSynThatReusesTheSourcePortOfARefusedConnectionIsCapturedToo() throws Exception {
        byte[] first = payload(8 << 10, marker(), 16);
        byte[] again = payload(8 << 10, marker(), 17);
        int podFrom = podEcho.size();
        int proxyBFrom = proxyB.size();

        // Proxy B refuses plaintext to reviews (STRICT) with a reset, and conntrack keeps that connection's entry for 10 s
        // (CLOSE, reply seen): a SYN on the same ports within that time is "established" to conntrack. Capture matched
        // "ct state new", so the second SYN passed every rule and reached the pod in plaintext (a break-it pass).
        List<Map<String, String>> rs = clients("a", NODE_A + ":40017", List.of(REVIEWS + ":8080", REVIEWS + ":8080"), List.of(first, again));

        for (Map<String, String> r : rs) {
            assertThat(r.get("local")).isEqualTo(NODE_A + ":40017");
            assertThat(r.get("received")).as("STRICT: refused both times").isIn(null, "0");
        }
        proxyB.awaitLine(proxyBFrom, l -> l.contains("access - plaintext-inbound refused src=" + NODE_A + ":40017 ")
                && l.contains(" dst=" + REVIEWS + ":8080 "), "the first refusal", Duration.ofSeconds(10));
        assertThat(podEcho.lines().subList(podFrom, podEcho.size())).as("the pod never saw either").noneMatch(l -> l.startsWith("ACCEPT"));
    }

    /** Last: it stops proxy B. */
    @Test
    @Order(13)
    void withTheProxyGoneCaptureFailsClosed() throws Exception {
        byte[] payload = payload(16 << 10, marker(), 14);
        int podFrom = podEcho.size();
        // SIGKILL: no drain, the set stays as proxy B last wrote it, and no listener takes what capture.sh's rules match.
        proxyB.close();
        assertThat(proxyB.isAlive()).isFalse();

        // A new plaintext connection to reviews (STRICT) is dropped, not delivered: before the drop rules, TPROXY found no
        // listener, the rule did not apply, and the connection reached the pod in plaintext (a break-it pass).
        Map<String, String> r = clients(work, net, "a", NODE_A, List.of(REVIEWS + ":8080"), List.of(payload), DROPPED_CONNECT).get(0);
        assertThat(r).as("no listener, no delivery").containsKey("connectError");
        assertThat(r.get("connectError")).contains("Timeout");
        assertThat(podEcho.lines().subList(podFrom, podEcho.size())).as("the pod never saw it").noneMatch(l -> l.startsWith("ACCEPT"));
        System.out.printf("e2e fail closed: with proxy B killed, plaintext to %s:8080 is dropped (%s)%n", REVIEWS, r.get("connectError"));
    }

    // ---- helpers ----

    /** Namespace {@code pod} with address {@code podIp} behind node {@code node}'s veth, wired as Calico wires a pod. */
    static void podBehind(String node, String nodeIp, String pod, String podIp) throws Exception {
        net.add(pod);
        net.veth(node, "v" + pod + node, pod, "v" + pod);
        net.ip(node, "addr", "add", nodeIp + "/32", "dev", net.dev("v" + pod + node));
        net.ip(pod, "addr", "add", podIp + "/32", "dev", net.dev("v" + pod));
        net.ip(node, "link", "set", net.dev("v" + pod + node), "up");
        net.ip(pod, "link", "set", net.dev("v" + pod), "up");
        net.ip(node, "route", "add", podIp + "/32", "dev", net.dev("v" + pod + node));
        net.ip(pod, "route", "add", nodeIp + "/32", "dev", net.dev("v" + pod));
        net.ip(pod, "route", "add", "default", "via", nodeIp, "dev", net.dev("v" + pod));
    }

    /** The IPv4 nftables program capture.sh loads (its {@code nft -f - <<NFT} here-document), {@code POD_CIDR4} (its IPv4 ranges, comma-separated) filled in. */
    static String deployCaptureTable(String podCidr) throws IOException {
        String script = captureScript();
        int from = script.indexOf("<<NFT\n");
        int to = script.indexOf("\nNFT\n", from);
        assertThat(from).as("capture.sh's nft here-document").isPositive();
        assertThat(to).as("capture.sh's nft here-document end").isGreaterThan(from);
        return script.substring(from + 6, to + 1).replace("${POD_CIDR4}", podCidr);
    }

    static String captureScript() throws IOException {
        return new com.fasterxml.jackson.databind.ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory())
                .readTree(Path.of("..", "..", "deploy", "node-proxy", "configmap.yaml").toFile()).path("data").path("capture.sh").asText();
    }

    static Map<String, String> client(String source, String target, byte[] payload) throws Exception {
        return clients(source, List.of(target), List.of(payload)).get(0);
    }

    /** Runs {@link TcpClient} in node A's namespace, bound to {@code source}; one RESULT per target. */
    static List<Map<String, String>> clients(String source, List<String> targets, List<byte[]> payloads) throws Exception {
        return clients("a", source, targets, payloads);
    }

    /** Runs {@link TcpClient} in namespace {@code ns}, bound to {@code source}; one RESULT per target. */
    static List<Map<String, String>> clients(String ns, String source, List<String> targets, List<byte[]> payloads) throws Exception {
        return clients(work, net, ns, source, targets, payloads);
    }

    /** The same for any test's work directory and namespaces (the IPv6 e2e's too). */
    static List<Map<String, String>> clients(Path work, Netns net, String ns, String source, List<String> targets, List<byte[]> payloads)
            throws Exception {
        return clients(work, net, ns, source, targets, payloads, null);
    }

    /**
     * How long a connect whose SYN a fail-closed capture drops is given: the drop is what such a test asserts (a
     * connect that reaches the pod or is refused ends well before), not the 10 s a connect that should succeed is given.
     */
    static final Duration DROPPED_CONNECT = Duration.ofSeconds(2);

    /** The same, each connect given {@code connectTimeout} (null: TcpClient's 10 s). */
    static List<Map<String, String>> clients(Path work, Netns net, String ns, String source, List<String> targets, List<byte[]> payloads,
                                             Duration connectTimeout) throws Exception {
        List<String> args = new ArrayList<>();
        if (connectTimeout != null) {
            args.add("--connect-timeout=" + connectTimeout.toMillis());
        }
        args.add(source);
        for (int i = 0; i < targets.size(); i++) {
            Path f = Files.write(work.resolve("payload-" + ThreadLocalRandom.current().nextInt(1 << 30) + ".bin"), payloads.get(i));
            args.add(targets.get(i) + "=" + f);
        }
        try (Child c = Child.start("client-" + ns + "-" + ThreadLocalRandom.current().nextInt(1000), work,
                net.exec(ns, app(TcpClient.class, args.toArray(String[]::new))))) {
            assertThat(c.awaitExit(Duration.ofSeconds(45))).as(c.tail()).isZero();
            List<Map<String, String>> out = new ArrayList<>();
            for (String l : c.lines()) {
                if (l.startsWith("RESULT ")) {
                    Map<String, String> m = new HashMap<>();
                    for (String kv : l.substring(7).split(" ")) {
                        int eq = kv.indexOf('=');
                        m.put(kv.substring(0, eq), kv.substring(eq + 1));
                    }
                    out.add(m);
                }
            }
            assertThat(out).as(c.tail()).hasSize(targets.size());
            return out;
        }
    }

    /** Re-reads the growing capture until {@code done} holds (tcpdump writes per packet, -U). */
    static Pcap awaitCapture(String what, Predicate<Pcap> done) throws Exception {
        return awaitCapture(pcapFile, tcpdump, what, done);
    }

    /** The same for any test's capture file and its tcpdump. */
    static Pcap awaitCapture(Path pcapFile, Child tcpdump, String what, Predicate<Pcap> done) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        Pcap cap = Pcap.read(pcapFile);
        while (!done.test(cap)) {
            if (System.nanoTime() > deadline || !tcpdump.isAlive()) {
                throw new AssertionError("capture never showed " + what + " (" + cap.packets.size() + " packets)\n" + tcpdump.tail());
            }
            Thread.sleep(100);
            cap = Pcap.read(pcapFile);
        }
        return cap;
    }

    static Child start(String name, List<String> command) throws IOException {
        Child c = Child.start(name, work, command);
        children.add(c);
        return c;
    }

    static List<String> app(Class<?> main, String... args) {
        List<String> cmd = new ArrayList<>(List.of(java(), "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m", "-cp",
                System.getProperty("zerohop.e2e.testClasses", System.getProperty("java.class.path")), main.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    static List<String> concat(List<String> a, String... b) {
        List<String> out = new ArrayList<>(a);
        out.addAll(List.of(b));
        return out;
    }

    static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** Random bytes with {@code marker} written every 64 KiB, so plaintext anywhere would show it. */
    static byte[] payload(int size, String marker, long seed) {
        byte[] b = new byte[size];
        new Random(seed ^ System.nanoTime()).nextBytes(b);
        byte[] m = marker.getBytes(StandardCharsets.US_ASCII);
        for (int off = 0; off + m.length <= size; off += 64 << 10) {
            System.arraycopy(m, 0, b, off, m.length);
        }
        return b;
    }

    static String marker() {
        return "ZEROHOP-E2E-PLAINTEXT-" + Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE);
    }

    static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    static Path resource(String name) throws URISyntaxException {
        var url = NodeProxyE2EIT.class.getClassLoader().getResource(name);
        assertThat(url).as("test resource " + name).isNotNull();
        return Path.of(url.toURI());
    }

    static String required(String property) {
        String v = System.getProperty(property);
        assertThat(v).as("system property " + property + " (set by the failsafe configuration of examples/standalone-proxy)").isNotBlank();
        return v;
    }

    static boolean isRoot() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/status"))) {
            return lines.filter(l -> l.startsWith("Uid:")).findFirst().map(l -> l.split("\\s+")[1].equals("0")).orElse(false);
        } catch (IOException e) {
            return false;
        }
    }

    static long elapsedMs() {
        return Duration.ofNanos(System.nanoTime() - startNanos).toMillis();
    }
}
