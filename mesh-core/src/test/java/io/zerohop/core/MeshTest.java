package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.testing.CapturedStderr;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.TunnelResult;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import javax.net.SocketFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The wired mesh on loopback: three workloads on distinct 127.0.0.x addresses, a real CA, a real
 * policy, real TCP apps behind the HBONE listener.
 */
class MeshTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-allow-frontend, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {ports: ["8080", "9090"]}}]
            ---
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: strict, namespace: prod}
            spec: {mtls: {mode: STRICT}}
            ---
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: permissive, namespace: legacy}
            spec: {mtls: {mode: PERMISSIVE}}
            """;

    static InetAddress backendIp;
    static Workload backend;
    static Workload frontend;
    static Workload legacy;
    static InMemoryCa ca;
    static Mesh server;
    static Mesh clients;
    static ServerSocket echoApp;
    static SimpleMeterRegistry meters = new SimpleMeterRegistry();
    static WorkloadRegistry registry;
    static final List<TunnelResult> closed = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        backendIp = InetAddress.getByName("127.0.0.2");
        backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(backendIp), Workload.Protocol.HBONE, null, "cluster.local");
        frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"), List.of(InetAddress.getByName("127.0.0.3")),
                Workload.Protocol.HBONE, null, "cluster.local");
        legacy = new Workload("legacy", "old", "old", Map.of("app", "old"), List.of(InetAddress.getByName("127.0.0.4")),
                Workload.Protocol.HBONE, null, "cluster.local");
        registry = WorkloadRegistry.of(List.of(backend, frontend, legacy), Map.of());
        ca = InMemoryCa.create("cluster.local");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("mesh-test.yaml", POLICY)).build();
        echoApp = new ServerSocket(9090, 50, backendIp);
        Thread t = new Thread(MeshTest::echoLoop, "echo-app");
        t.setDaemon(true);
        t.start();
        server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy)
                .inbound(new InetSocketAddress(backendIp, 0)).meterRegistry(meters).metricsInterval(Duration.ofMillis(100))
                .onTunnelClosed(closed::add).threads(2).build();
        server.start().get(10, TimeUnit.SECONDS);
        // The client side dials workloadIP:15008 by default; point the registry at the ephemeral listener.
        registry.replace(List.of(
                new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(backendIp), Workload.Protocol.HBONE, "b", "cluster.local"),
                frontend, legacy), Map.of("b", server.inboundAddress()));
        clients = Mesh.builder().identityProvider(ca).workloads(registry).threads(2).build();
    }

    @AfterAll
    static void stop() throws Exception {
        clients.close();
        server.close();
        echoApp.close();
    }

    static void echoLoop() {
        while (!echoApp.isClosed()) {
            try {
                Socket c = echoApp.accept();
                Thread t = new Thread(() -> {
                    try (c) {
                        c.getInputStream().transferTo(c.getOutputStream());
                        c.shutdownOutput();
                    } catch (IOException ignored) {
                        // reset by the proxy: nothing to echo
                    }
                });
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    static byte[] echo(Socket s, byte[] payload) throws Exception {
        OutputStream out = s.getOutputStream();
        Thread w = new Thread(() -> {
            try {
                out.write(payload);
                s.shutdownOutput();
            } catch (IOException ignored) {
                // the reader sees the failure
            }
        });
        w.start();
        byte[] back = s.getInputStream().readAllBytes();
        w.join();
        return back;
    }

    static byte[] random(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }

    InetSocketAddress app() {
        return new InetSocketAddress(backendIp, echoApp.getLocalPort());
    }

    /** A new-user pass: an upper-case trust domain was reported as an "invalid SPIFFE ID" the user never wrote. */
    @Test
    void aBadTrustDomainIsNamedAsATrustDomain() {
        assertThatThrownBy(() -> Mesh.builder().trustDomain("Cluster.Local")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("invalid trust domain \"Cluster.Local\": ").hasMessageNotContaining("SPIFFE ID");
    }

    @Test
    void allowedCallerReachesTheTcpAppThroughTheProxyWithIntegrity() throws Exception {
        byte[] payload = random(5 << 20);
        try (Socket s = clients.socketFactory(frontend.identity()).createSocket(backendIp, 9090)) {
            byte[] back = echo(s, payload);
            assertThat(MessageDigest.getInstance("SHA-256").digest(back)).isEqualTo(MessageDigest.getInstance("SHA-256").digest(payload));
        }
    }

    @Test
    void allowedCallerIsDeniedOnAPortThePolicyDoesNotList() throws Exception {
        try (ServerSocket other = new ServerSocket(0, 5, backendIp)) {
            SocketFactory f = clients.socketFactory(frontend.identity());
            assertThatThrownBy(() -> f.createSocket(backendIp, other.getLocalPort()))
                    .isInstanceOf(HboneRefusedException.class)
                    .satisfies(e -> assertThat(((HboneRefusedException) e).status()).isEqualTo(401));
        }
    }

    @Test
    void embeddedServeHandsAllowedTunnelsToInProcessCode() throws Exception {
        InetSocketAddress dst = new InetSocketAddress(backendIp, 8080);
        try (HboneServerSocket accept = new HboneServerSocket()) {
            server.serve(dst, accept);
            Thread srv = new Thread(() -> {
                try (HboneSocket s = accept.accept()) {
                    assertThat(s.peerIdentity()).isEqualTo(frontend.identity());
                    s.getInputStream().transferTo(s.getOutputStream());
                    s.shutdownOutput();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            srv.start();
            byte[] payload = random(3 << 20);
            try (Socket s = clients.socketFactory(frontend.identity()).createSocket(backendIp, 8080)) {
                assertThat(((HboneSocket) s).peerIdentity()).isEqualTo(backend.identity());
                byte[] back = echo(s, payload);
                assertThat(MessageDigest.getInstance("SHA-256").digest(back)).isEqualTo(MessageDigest.getInstance("SHA-256").digest(payload));
            }
            srv.join(10_000);
            assertThat(srv.isAlive()).isFalse();
        }
    }

    @Test
    void deniedCallerGets401AndNoByteReachesTheDestination() throws Exception {
        InetSocketAddress dst = new InetSocketAddress(backendIp, 9091);
        HboneServerSocket accept = new HboneServerSocket();
        server.serve(dst, accept);
        ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                () -> clients.connect(legacy.identity(), dst).get(10, TimeUnit.SECONDS));
        assertThat(e.getCause()).isInstanceOf(HboneRefusedException.class);
        assertThat(((HboneRefusedException) e.getCause()).status()).isEqualTo(401);
        accept.close();
    }

    @Test
    void unknownDestinationsAreRefusedBeforeAnyConnection() {
        InetSocketAddress nowhere = new InetSocketAddress("127.0.0.9", 8080);
        assertThatThrownBy(() -> clients.connect(frontend.identity(), nowhere).get(5, TimeUnit.SECONDS))
                .hasCauseInstanceOf(Mesh.UnknownDestinationException.class)
                .hasMessageContaining("127.0.0.9:8080 is not a known mesh workload");
        assertThatThrownBy(() -> clients.connect(nowhere)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("no default identity");
    }

    @Test
    void metricsUseZtunnelNamesAndLabels() throws Exception {
        InetSocketAddress dst = new InetSocketAddress(backendIp, 8080);
        try (HboneServerSocket accept = new HboneServerSocket()) {
            server.serve(dst, accept);
            Thread srv = new Thread(() -> {
                try (HboneSocket s = accept.accept()) {
                    s.getInputStream().transferTo(s.getOutputStream());
                    s.shutdownOutput();
                } catch (IOException ignored) {
                    // reported by the client side
                }
            });
            srv.start();
            int before = closed.size();
            try (Socket s = clients.socketFactory(frontend.identity()).createSocket(backendIp, 8080)) {
                assertThat(echo(s, "ping".getBytes(StandardCharsets.US_ASCII))).hasSize(4);
            }
            srv.join(10_000);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (closed.size() == before && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertThat(closed.size()).isGreaterThan(before);
        }
        var opened = meters.find("istio.tcp.connections.opened").tag("reporter", "destination")
                .tag("source_principal", frontend.identity().toString())
                .tag("destination_principal", backend.identity().toString())
                .tag("destination_workload", "backend").tag("destination_workload_namespace", "prod")
                .tag("source_workload_namespace", "prod").counter();
        assertThat(opened).isNotNull();
        assertThat(opened.count()).isGreaterThanOrEqualTo(1);
        assertThat(meters.find("istio.tcp.received.bytes").tag("source_principal", frontend.identity().toString()).counter().count())
                .isGreaterThanOrEqualTo(4);
    }

    @Test
    void forwardCaptureTunnelsPlainTcpAsTheSourceWorkload() throws Exception {
        // The node-proxy client side: an app speaks plain TCP to a local port, bytes leave as HBONE.
        InetSocketAddress local = clients.capture(Capture.forward(new InetSocketAddress("127.0.0.1", 0), new InetSocketAddress(backendIp, 9090)));
        // Source 127.0.0.1 is not a registry workload and `clients` has no identity of its own: refused.
        try (Socket s = new Socket(local.getAddress(), local.getPort())) {
            s.setSoTimeout(10_000);
            assertThat(readOrReset(s)).isEqualTo(-1);
        }
        // Bound to frontend's address, the connection is tunnelled as frontend and allowed.
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(frontend.addresses().get(0), 0));
            s.connect(local);
            byte[] payload = random(1 << 20);
            assertThat(echo(s, payload)).isEqualTo(payload);
        }
    }

    /**
     * A captured client that writes and half-closes before its tunnel is open (a one-shot request)
     * still gets every byte through and the echo back: the early bytes and FIN are held until the
     * relay exists, and the relay never reads a TCP input that has already ended.
     */
    @Test
    void bytesAndFinSentBeforeTheTunnelOpensAreKept() throws Exception {
        InetSocketAddress local = clients.capture(Capture.forward(new InetSocketAddress("127.0.0.1", 0), new InetSocketAddress(backendIp, 9090)));
        for (int i = 0; i < 20; i++) {
            try (Socket s = new Socket()) {
                s.bind(new InetSocketAddress(frontend.addresses().get(0), 0));
                s.connect(local);
                s.setSoTimeout(10_000);
                byte[] payload = random(1000 + i);
                s.getOutputStream().write(payload);
                s.shutdownOutput();
                byte[] back = s.getInputStream().readAllBytes();
                assertThat(java.util.Arrays.equals(back, payload)).as("connection %d: %d of %d bytes came back intact", i, back.length,
                        payload.length).isTrue();
            }
        }
    }

    /**
     * Regression: under open/close churn a clean tunnel end could reset the captured connection. The
     * relay counted a side's EOF only after sending its FIN on; the peer's answering FIN and the
     * stream's close, on the other event loop, could come first and look like an abort (seen about
     * once in a thousand tunnels on two cores).
     */
    @Test
    void openCloseChurnEndsEveryTunnelWithFin() throws Exception {
        InetSocketAddress local = clients.capture(Capture.forward(new InetSocketAddress("127.0.0.1", 0), new InetSocketAddress(backendIp, 9090)));
        java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicInteger done = new java.util.concurrent.atomic.AtomicInteger();
        Runnable churn = () -> {
            try {
                for (int i = 0; i < 1000 && failure.get() == null; i++) {
                    try (Socket s = new Socket()) {
                        s.bind(new InetSocketAddress(frontend.addresses().get(0), 0));
                        s.connect(local);
                        s.setSoTimeout(10_000);
                        s.getOutputStream().write('x');
                        if (s.getInputStream().read() != 'x') {
                            throw new IOException("no echo");
                        }
                        s.shutdownOutput();
                        int end = s.getInputStream().read();
                        if (end != -1) {
                            throw new IOException("expected EOF, read " + end);
                        }
                    }
                    done.incrementAndGet();
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            }
        };
        Thread a = new Thread(churn, "churn-a");
        Thread b = new Thread(churn, "churn-b");
        a.start();
        b.start();
        a.join();
        b.join();
        assertThat(failure.get()).as("after %d clean tunnels", done.get()).isNull();
    }

    @Test
    void socks5CaptureTunnelsIpDestinationsAndRefusesDeniedOnes() throws Exception {
        InetSocketAddress socks = clients.capture(Capture.socks5(new InetSocketAddress("127.0.0.1", 0)));
        java.net.Proxy proxy = new java.net.Proxy(java.net.Proxy.Type.SOCKS, socks);
        try (Socket s = new Socket(proxy)) {
            s.bind(new InetSocketAddress(frontend.addresses().get(0), 0));
            s.connect(new InetSocketAddress(backendIp, 9090));
            byte[] payload = random(256 << 10);
            assertThat(echo(s, payload)).isEqualTo(payload);
        }
        try (Socket s = new Socket(proxy)) {
            s.bind(new InetSocketAddress(legacy.addresses().get(0), 0));
            assertThatThrownBy(() -> s.connect(new InetSocketAddress(backendIp, 9090))).isInstanceOf(IOException.class);
        }
    }

    static int readOrReset(Socket s) throws IOException {
        try {
            return s.getInputStream().read();
        } catch (SocketException reset) {
            return -1;
        }
    }

    @Test
    void strictWorkloadRefusesPlaintextWhilePermissiveAcceptsIt() throws Exception {
        assertThat(server.mtlsMode(backend, 8080)).hasToString("STRICT");
        assertThat(server.mtlsMode(legacy, 8080)).hasToString("PERMISSIVE");
        InetSocketAddress plain = server.plaintextInbound(Capture.forward(new InetSocketAddress("127.0.0.1", 0), app()));
        try (CapturedStderr err = new CapturedStderr(); Socket s = new Socket(plain.getAddress(), plain.getPort())) {
            s.setSoTimeout(10_000);
            try {
                s.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
            } catch (SocketException resetBeforeTheWrite) {
                // the proxy may close (RST) before the client wrote: refused either way
            }
            assertThat(readOrReset(s)).as("STRICT must not let plaintext reach the app").isEqualTo(-1);
            // The reset comes after every line about the refusal: one, naming both ends (it was a WARN and an INFO; since
            // 2 December the access log's, as ztunnel logs its plaintext passthrough's rejection, and the WARN is DEBUG).
            err.awaitLine("access - plaintext-inbound refused src=", " dst=" + Addresses.authority(app()) + " dst_id=" + backend.identity()
                    + " status=- reason=\"PeerAuthentication STRICT requires mTLS\"");
            assertThat(err.count(Addresses.authority(app()), "STRICT")).as("one line for one refused connection").isEqualTo(1);
        }
        try (ServerSocket legacyApp = new ServerSocket(0, 5, legacy.addresses().get(0))) {
            InetSocketAddress toLegacy = server.plaintextInbound(Capture.forward(new InetSocketAddress("127.0.0.1", 0),
                    (InetSocketAddress) legacyApp.getLocalSocketAddress()));
            try (Socket s = new Socket(toLegacy.getAddress(), toLegacy.getPort()); Socket accepted = acceptWithin(legacyApp)) {
                s.getOutputStream().write('x');
                s.getOutputStream().flush();
                assertThat(accepted.getInputStream().read()).as("PERMISSIVE relays plaintext").isEqualTo('x');
            }
        }
    }

    /**
     * A plaintext-inbound connection refused because its destination is no workload of this node is
     * logged as plaintext inbound, with both ends: it was {@code outbound 127.0.0.1:… -> …}, then the
     * capture listener's INFO line; since 2 December its access line, ztunnel's early deny
     * (PlaintextEarlyDenyLineTest), and the capture listener's line is not added.
     */
    @Test
    void aRefusedPlaintextInboundConnectionIsLoggedAsInboundWithBothEnds() throws Exception {
        InetSocketAddress nowhere = new InetSocketAddress("127.0.0.9", 9090);
        InetSocketAddress plain = server.plaintextInbound(Capture.forward(new InetSocketAddress("127.0.0.1", 0), nowhere));
        try (CapturedStderr err = new CapturedStderr(); Socket s = new Socket(plain.getAddress(), plain.getPort())) {
            s.setSoTimeout(10_000);
            assertThat(readOrReset(s)).as("refused: reset or closed").isEqualTo(-1);
            String line = err.awaitLine("access - plaintext-inbound refused src=" + Addresses.authority((InetSocketAddress) s.getLocalSocketAddress()));
            assertThat(line).endsWith(" src_id=- src_workload=- dst=127.0.0.9:9090 dst_id=- status=- reason=\"not a workload of this node\"");
            assertThat(err.count("CaptureListener")).isZero();
        }
    }

    @Test
    void plainRelaysGetAnAccessLogLineAndMetrics() throws Exception {
        double receivedBefore = plainBytes("istio.tcp.received.bytes");
        double sentBefore = plainBytes("istio.tcp.sent.bytes");
        try (CapturedStderr err = new CapturedStderr(); ServerSocket legacyApp = new ServerSocket(0, 5, legacy.addresses().get(0))) {
            InetSocketAddress app = (InetSocketAddress) legacyApp.getLocalSocketAddress();
            InetSocketAddress toLegacy = server.plaintextInbound(Capture.forward(new InetSocketAddress("127.0.0.1", 0), app));
            try (Socket s = new Socket(toLegacy.getAddress(), toLegacy.getPort()); Socket accepted = acceptWithin(legacyApp)) {
                s.getOutputStream().write(bytes("abc"));
                s.shutdownOutput();
                assertThat(accepted.getInputStream().readAllBytes()).isEqualTo(bytes("abc"));
                accepted.getOutputStream().write(bytes("ok"));
                accepted.shutdownOutput();
                assertThat(s.getInputStream().readAllBytes()).isEqualTo(bytes("ok"));
            }
            String line = err.awaitLine("plaintext-inbound src=127.0.0.1:", " dst=" + Addresses.authority(app) + " ");
            assertThat(line).contains(" dst_id=" + legacy.identity() + " status=- bytes_sent=2 bytes_received=3 ").endsWith("end=fin");
            // ...and ztunnel's metrics: connection_security_policy "unknown" for plaintext (ztunnel's
            // SecurityPolicy default), received = client->server ("abc"), sent = server->client ("ok").
            assertThat(plainBytes("istio.tcp.received.bytes") - receivedBefore).isEqualTo(3);
            assertThat(plainBytes("istio.tcp.sent.bytes") - sentBefore).isEqualTo(2);
            assertThat(meters.find("istio.tcp.connections.closed").tag("connection_security_policy", "unknown").counter()).isNotNull();
        }
    }

    static double plainBytes(String name) {
        return meters.find(name).tag("connection_security_policy", "unknown").tag("reporter", "destination")
                .tag("destination_workload", legacy.name()).counters().stream()
                .mapToDouble(io.micrometer.core.instrument.Counter::count).sum();
    }

    /** Both proxies' access-log lines name the captured app, carried as `Forwarded: for=`, not a proxy socket. */
    @Test
    void accessLogNamesTheCapturedAppOnBothSides() throws Exception {
        InetSocketAddress local = clients.capture(Capture.forward(new InetSocketAddress("127.0.0.1", 0), new InetSocketAddress(backendIp, 9090)));
        try (CapturedStderr err = new CapturedStderr(); Socket s = new Socket()) {
            s.bind(new InetSocketAddress(frontend.addresses().get(0), 0));
            s.connect(local);
            String app = Addresses.authority((InetSocketAddress) s.getLocalSocketAddress());
            assertThat(echo(s, random(1000))).hasSize(1000);
            assertThat(err.awaitLine("outbound src=" + app + " ", "src_id=" + frontend.identity())).contains("bytes_sent=1000");
            // The inbound line keeps the real TCP peer (the proxy's socket) and shows the claim beside it.
            String inbound = err.awaitLine("inbound src=", " forwarded_for=" + app + " ", "src_id=" + frontend.identity());
            assertThat(inbound).contains("bytes_received=1000").doesNotContain("inbound src=" + app);
            // ztunnel's default headers arrived (src/proxy/outbound.rs): baggage of the source
            // workload, a traceparent, forwarded for= the app.
            // The access log and the test's onTunnelClosed are two listeners of one close: the line may come first.
            TunnelResult r = awaitClosed(t -> t.info().direction() == io.zerohop.hbone.TunnelInfo.Direction.INBOUND
                    && ("for=\"" + app + "\"").equals(t.info().headers().get("forwarded")));
            assertThat(r.info().headers().get("baggage"))
                    // ztunnel's Workload::baggage sends the workload's cluster_id, "Kubernetes" by default (src/state/workload.rs).
                    .isEqualTo("k8s.cluster.name=Kubernetes,k8s.namespace.name=prod,k8s.deployment.name=frontend,service.name=frontend,service.version=latest");
            assertThat(r.info().headers().get("traceparent")).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-00");
        }
    }

    /** The first closed tunnel matching {@code which}, waiting up to 10 s for its close event. */
    static TunnelResult awaitClosed(java.util.function.Predicate<TunnelResult> which) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            var found = closed.stream().filter(which).findFirst();
            if (found.isPresent() || System.nanoTime() > deadline) {
                return found.orElseThrow(() -> new AssertionError("no such tunnel closed within 10 s: " + closed));
            }
            Thread.onSpinWait();
        }
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * Without a node name, a mesh serves only workloads whose address is on this host: a replica
     * elsewhere with the same identity gets 400 "not served", and no connection is attempted.
     */
    @Test
    void aReplicaOnAnotherHostIsNotServed() throws Exception {
        InetAddress elsewhere = InetAddress.getByName("192.0.2.10"); // TEST-NET-1: never this host
        registry.put(new Workload("prod", "backend-replica", "backend", Map.of("app", "backend"), List.of(elsewhere),
                Workload.Protocol.HBONE, "b", "cluster.local"));
        try {
            Throwable t = org.assertj.core.api.Assertions.catchThrowable(() ->
                    clients.connect(frontend.identity(), new InetSocketAddress(elsewhere, 9090)).get(10, TimeUnit.SECONDS));
            assertThat(t).hasCauseInstanceOf(io.zerohop.hbone.HboneRefusedException.class);
            io.zerohop.hbone.HboneRefusedException refused = (io.zerohop.hbone.HboneRefusedException) t.getCause();
            assertThat(refused.status()).isEqualTo(400);
        } finally {
            assertThat(registry.remove("prod", "backend-replica")).isTrue();
        }
    }

    static double receivedBytes(String source) {
        return meters.find("istio.tcp.received.bytes").tag("reporter", "destination").tag("source_principal", source)
                .counters().stream().mapToDouble(io.micrometer.core.instrument.Counter::count).sum();
    }

    /** Byte counters grow while a tunnel is still open, as ztunnel's do, not only at close. */
    @Test
    void byteCountersGrowWhileTheTunnelIsOpen() throws Exception {
        String source = frontend.identity().toString();
        double before = receivedBytes(source);
        try (Socket s = clients.socketFactory(frontend.identity()).createSocket(backendIp, 9090)) {
            byte[] payload = random(64 * 1024);
            s.getOutputStream().write(payload);
            assertThat(s.getInputStream().readNBytes(payload.length)).isEqualTo(payload);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (receivedBytes(source) < before + payload.length && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(receivedBytes(source) - before).as("counted before the tunnel closed").isGreaterThanOrEqualTo(payload.length);
        }
    }

    static Socket acceptWithin(ServerSocket ss) throws IOException {
        ss.setSoTimeout(10_000);
        return ss.accept();
    }
}
