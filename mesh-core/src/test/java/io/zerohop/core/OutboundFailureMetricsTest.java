package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.search.Search;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.IdentityListener;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.identity.InMemoryCa;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Outbound tunnels that fail to open count as ztunnel counts them: ztunnel builds each outbound
 * connection's result (opened) before it dials, and records the dial's error with that connection's
 * labels (istio/ztunnel src/proxy/outbound.rs {@code proxy_to_hbone}; src/proxy/metrics.rs
 * {@code ConnectionResultBuilder::build}, {@code ConnectionResult::record} and
 * {@code extract_failure_reason}), so every connection that waited on one failed HBONE connection is
 * one opened, closed and failed series sample, with its source and destination labels. The flag is
 * ztunnel's error's: a refused dial and a failed TLS handshake reach it as {@code io::Error}
 * ({@code Error::Io}, src/proxy/pool.rs {@code new_pool_conn}: rustls' handshake error is an
 * {@code io::Error}), so {@code CONNECT}; an h2 error after TLS ({@code Error::H2}) is
 * {@code H2_HANDSHAKE_FAILURE}. Real TLS and loopback sockets on 127.0.43.x; the meter registry is
 * Micrometer's in-memory one (the CLI's Prometheus text is checked by ZtunnelCompatE2EIT).
 */
class OutboundFailureMetricsTest {
    static final String TD = "cluster.local";
    final InMemoryCa ca = InMemoryCa.create(TD);
    final List<AutoCloseable> closing = new ArrayList<>();
    final SimpleMeterRegistry metrics = new SimpleMeterRegistry();
    Workload frontend;
    WorkloadRegistry registry;
    final Map<String, InetSocketAddress> nodes = new LinkedHashMap<>();
    Mesh clients;

    @BeforeEach
    void client() throws Exception {
        frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend", "version", "v1"),
                List.of(InetAddress.getByName("127.0.43.11")), Workload.Protocol.HBONE, null, TD);
        registry = WorkloadRegistry.of(List.of(frontend), Map.of());
        clients = Mesh.builder().identityProvider(ca).workloads(registry).meterRegistry(metrics).threads(2).build();
        closing.add(clients);
    }

    @AfterEach
    void close() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
    }

    /** A workload {@code name} at {@code ip} whose node's HBONE address is {@code hbone}, added to the client's registry. */
    Workload destination(String name, String ip, InetSocketAddress hbone, Map<String, String> labels) throws IOException {
        Workload w = new Workload("prod", name, name, labels, List.of(InetAddress.getByName(ip)), Workload.Protocol.HBONE, "node-" + name, TD);
        List<Workload> all = new ArrayList<>(registry.all());
        all.add(w);
        nodes.put(w.node(), hbone);
        registry.replace(all, nodes);
        return w;
    }

    /** The labels of this client's (reporter=source) tunnel from prod/frontend to {@code dst}, as ztunnel's with_source/with_destination. */
    Map<String, String> labels(Workload dst) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("reporter", "source");
        m.put("source_workload", "frontend");
        m.put("source_workload_namespace", "prod");
        m.put("source_principal", frontend.identity().toString());
        m.put("source_cluster", "Kubernetes");
        m.put("destination_workload", dst.name());
        m.put("destination_workload_namespace", "prod");
        m.put("destination_principal", dst.identity().toString());
        m.put("destination_cluster", "Kubernetes");
        m.put("connection_security_policy", "mutual_tls");
        return m;
    }

    @Test
    void aServerWithTheWrongIdentityCountsEachWaitingConnectionWithItsLabels() throws Exception {
        // The server presents prod/impostor where the registry says prod/backend: the client's
        // TLS handshake fails (wrong SAN).
        InetAddress ip = InetAddress.getByName("127.0.43.21");
        Mesh impostor = Mesh.builder().identityProvider(ca).identity(SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/impostor"))
                .inbound(new InetSocketAddress(ip, 0)).threads(2).build();
        closing.add(impostor);
        impostor.start().get(10, TimeUnit.SECONDS);
        Workload backend = destination("backend", "127.0.43.12", impostor.inboundAddress(), Map.of("app", "backend"));

        List<CompletableFuture<HboneStream>> opens = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            opens.add(clients.connect(frontend.identity(), new InetSocketAddress("127.0.43.12", 8080)));
        }
        for (CompletableFuture<HboneStream> f : opens) {
            assertThat(catchThrowable(() -> f.get(20, TimeUnit.SECONDS))).isNotNull();
        }
        Map<String, String> l = labels(backend);
        await(() -> sum("istio.tcp.connections.failed", l) >= 3);
        assertThat(sum("istio.tcp.connections.opened", with(l, "response_flags", "-"))).isEqualTo(3);
        assertThat(sum("istio.tcp.connections.closed", with(l, "response_flags", "CONNECT"))).isEqualTo(3);
        assertThat(sum("istio.tcp.connections.failed", with(l, "response_flags", "CONNECT"))).isEqualTo(3);
        assertThat(sum("istio.tcp.connections.closed", Map.of("source_workload", "unknown"))).as("no sample without source labels").isZero();
        assertThat(sum("istio.tcp.connections.closed", Map.of("response_flags", "TLS_FAILURE")))
                .as("ztunnel's handshake error is an io::Error: CONNECT, not TLS_FAILURE").isZero();
    }

    /**
     * No SVID for the source identity: ztunnel's pool fails at {@code fetch_certificate} before it
     * dials (istio/ztunnel src/proxy/pool.rs {@code new_pool_conn}), an {@code Error::Identity} that
     * {@code extract_failure_reason} (src/proxy/metrics.rs) counts as {@code IDENTITY_ERROR}, not
     * {@code CONNECT}; the destination node is never dialled.
     */
    @Test
    void anOpenWithoutAnSvidCountsAsAnIdentityError() throws Exception {
        Mesh noSvid = Mesh.builder().identityProvider(new NoSvid(ca)).workloads(registry).meterRegistry(metrics).threads(2).build();
        closing.add(noSvid);
        try (ServerSocket node = new ServerSocket(0, 50, InetAddress.getByName("127.0.43.7"))) {
            Workload backend = destination("backend", "127.0.43.20", (InetSocketAddress) node.getLocalSocketAddress(), Map.of());
            Throwable e = catchThrowable(() -> noSvid.connect(frontend.identity(), new InetSocketAddress("127.0.43.20", 8080))
                    .get(20, TimeUnit.SECONDS));
            assertThat(e).hasRootCauseMessage("no SVID for " + frontend.identity());
            Map<String, String> l = labels(backend);
            await(() -> sum("istio.tcp.connections.failed", l) >= 1);
            assertThat(sum("istio.tcp.connections.opened", with(l, "response_flags", "-"))).isEqualTo(1);
            assertThat(sum("istio.tcp.connections.closed", with(l, "response_flags", "IDENTITY_ERROR"))).isEqualTo(1);
            assertThat(sum("istio.tcp.connections.failed", with(l, "response_flags", "IDENTITY_ERROR"))).isEqualTo(1);
            assertThat(sum("istio.tcp.connections.failed", with(l, "response_flags", "CONNECT"))).isZero();
        }
    }

    @Test
    void aRefusedDialThroughTheSocketFactoryCounts() throws Exception {
        // Bound, never listening: every connection to it is refused.
        try (Socket dead = new Socket()) {
            dead.bind(new InetSocketAddress(InetAddress.getByName("127.0.43.3"), 0));
            Workload gone = destination("gone", "127.0.43.13", (InetSocketAddress) dead.getLocalSocketAddress(), Map.of());
            Throwable t = catchThrowable(() -> clients.socketFactory(frontend.identity())
                    .createSocket(InetAddress.getByName("127.0.43.13"), 8080));
            assertThat(t).isInstanceOf(IOException.class);
            Map<String, String> l = labels(gone);
            await(() -> sum("istio.tcp.connections.failed", l) >= 1);
            assertThat(sum("istio.tcp.connections.opened", with(l, "response_flags", "-"))).isEqualTo(1);
            assertThat(sum("istio.tcp.connections.closed", with(l, "response_flags", "CONNECT"))).isEqualTo(1);
            assertThat(sum("istio.tcp.connections.failed", with(l, "response_flags", "CONNECT"))).isEqualTo(1);
        }
    }

    @Test
    void aConnectionClosedBeforeTlsCountsAsAConnectionFailure() throws Exception {
        // Accepts the TCP connection, then closes it: lost after the dial, before TLS.
        ServerSocket drop = new ServerSocket(0, 50, InetAddress.getByName("127.0.43.4"));
        closing.add(drop);
        Thread t = new Thread(() -> {
            while (!drop.isClosed()) {
                try {
                    drop.accept().close();
                } catch (IOException closed) {
                    return;
                }
            }
        });
        t.setDaemon(true);
        t.start();
        Workload lost = destination("lost", "127.0.43.14", (InetSocketAddress) drop.getLocalSocketAddress(), Map.of());
        Throwable e = catchThrowable(() -> clients.connect(frontend.identity(), new InetSocketAddress("127.0.43.14", 8080))
                .get(20, TimeUnit.SECONDS));
        assertThat(e).isNotNull();
        Map<String, String> l = labels(lost);
        await(() -> sum("istio.tcp.connections.failed", l) >= 1);
        assertThat(sum("istio.tcp.connections.opened", with(l, "response_flags", "-"))).isEqualTo(1);
        assertThat(sum("istio.tcp.connections.failed", with(l, "response_flags", "CONNECT"))).isEqualTo(1);
    }

    @Test
    void aServerThatRefusesOurCertificateAfterTlsCountsAsAnH2Failure() throws Exception {
        // The server presents a certificate the client trusts but trusts another CA itself: in TLS
        // 1.3 our handshake completes (the server verified), then its alert ends the connection
        // before any HTTP/2 frame: ztunnel's h2 error, H2_HANDSHAKE_FAILURE.
        InMemoryCa other = InMemoryCa.create(TD);
        SpiffeId pickyId = SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/picky");
        Mesh picky = Mesh.builder().identityProvider(new OtherBundle(ca, other)).identity(pickyId)
                .inbound(new InetSocketAddress(InetAddress.getByName("127.0.43.5"), 0)).threads(2).build();
        closing.add(picky);
        picky.start().get(10, TimeUnit.SECONDS);
        Workload w = destination("picky", "127.0.43.15", picky.inboundAddress(), Map.of());
        Throwable e = catchThrowable(() -> clients.connect(frontend.identity(), new InetSocketAddress("127.0.43.15", 8080))
                .get(20, TimeUnit.SECONDS));
        assertThat(e).isNotNull();
        Map<String, String> l = labels(w);
        await(() -> sum("istio.tcp.connections.failed", l) >= 1);
        assertThat(sum("istio.tcp.connections.opened", with(l, "response_flags", "-"))).isEqualTo(1);
        assertThat(sum("istio.tcp.connections.closed", with(l, "response_flags", "H2_HANDSHAKE_FAILURE"))).isEqualTo(1);
        assertThat(sum("istio.tcp.connections.failed", with(l, "response_flags", "H2_HANDSHAKE_FAILURE"))).isEqualTo(1);
    }

    @Test
    void clustersComeFromTheWorkloadLabelElseTheMeshClusterId() throws Exception {
        // Both proxies of one cluster "west"; the backend says it is in "east" (Istio's topology.istio.io/cluster).
        InetAddress ip = InetAddress.getByName("127.0.43.16");
        Workload backend = new Workload("prod", "east-backend", "east-backend", Map.of("topology.istio.io/cluster", "east"),
                List.of(ip), Workload.Protocol.HBONE, "node-east", TD);
        SimpleMeterRegistry dst = new SimpleMeterRegistry();
        ServerSocket app = new ServerSocket(0, 50, ip);
        closing.add(app);
        Thread t = new Thread(() -> {
            try (Socket s = app.accept()) {
                InputStream in = s.getInputStream();
                in.readNBytes(5);
                s.getOutputStream().write(new byte[7]);
            } catch (IOException ignored) {
                // the client side asserts
            }
        });
        t.setDaemon(true);
        t.start();
        WorkloadRegistry shared = WorkloadRegistry.of(List.of(frontend, backend), Map.of());
        Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(shared).clusterId("west")
                .inbound(new InetSocketAddress(ip, 0)).meterRegistry(dst).threads(2).build();
        closing.add(server);
        server.start().get(10, TimeUnit.SECONDS);
        shared.replace(List.of(frontend, backend), Map.of("node-east", server.inboundAddress()));
        SimpleMeterRegistry src = new SimpleMeterRegistry();
        Mesh west = Mesh.builder().identityProvider(ca).workloads(shared).clusterId("west").meterRegistry(src).threads(2).build();
        closing.add(west);
        try (Socket s = west.socketFactory(frontend.identity()).createSocket(ip, app.getLocalPort())) {
            s.getOutputStream().write(new byte[5]);
            assertThat(s.getInputStream().readNBytes(7)).hasSize(7);
        }
        for (SimpleMeterRegistry m : List.of(src, dst)) {
            String reporter = m == src ? "source" : "destination";
            Map<String, String> l = Map.of("reporter", reporter, "source_workload", "frontend", "source_cluster", "west",
                    "destination_workload", "east-backend", "destination_cluster", "east");
            await(() -> sum(m.find("istio.tcp.connections.opened"), l) >= 1);
            assertThat(sum(m.find("istio.tcp.connections.opened"), l)).as(reporter).isEqualTo(1);
        }
        assertThatThrownByClusterId(" ");
        assertThatThrownByClusterId("a,b");
    }

    record Pair(Mesh server, Mesh node, InetSocketAddress forward) {}

    /**
     * An app on {@code ip} that sends one byte and reads to the end, a server mesh in front of it (metrics to
     * {@code dst}) on node {@code nodeName}, and a node mesh (metrics to {@code src}) capturing for it on
     * {@code captureIp}: a connection from frontend's address through {@code forward} is one tunnel.
     */
    private Pair pair(String ip, String name, String nodeName, String captureIp, SimpleMeterRegistry dst, SimpleMeterRegistry src)
            throws Exception {
        InetAddress addr = InetAddress.getByName(ip);
        Workload backend = new Workload("prod", name, name, Map.of(), List.of(addr), Workload.Protocol.HBONE, nodeName, TD);
        ServerSocket app = new ServerSocket(0, 50, addr);
        closing.add(app);
        Thread t = new Thread(() -> {
            try (Socket s = app.accept()) {
                s.getOutputStream().write(1);
                s.getInputStream().readAllBytes();
            } catch (IOException ignored) {
                // the client side asserts
            }
        });
        t.setDaemon(true);
        t.start();
        WorkloadRegistry shared = WorkloadRegistry.of(List.of(frontend, backend), Map.of());
        Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(shared)
                .inbound(new InetSocketAddress(addr, 0)).meterRegistry(dst).threads(2).build();
        closing.add(server);
        server.start().get(10, TimeUnit.SECONDS);
        shared.replace(List.of(frontend, backend), Map.of(nodeName, server.inboundAddress()));
        Mesh node = Mesh.builder().identityProvider(ca).workloads(shared).meterRegistry(src).threads(2).build();
        closing.add(node);
        InetSocketAddress forward = node.capture(io.zerohop.core.Capture.forward(new InetSocketAddress(InetAddress.getByName(captureIp), 0),
                new InetSocketAddress(addr, app.getLocalPort())));
        return new Pair(server, node, forward);
    }

    /**
     * Two meshes in one process sharing one registry (one Prometheus endpoint): the gauge counts both.
     * Micrometer keeps the first registration of a gauge, so until 2 December it read only the first
     * mesh's sockets (a new-user pass: three meshes, one registry, a wrong destination count), and kept
     * reading a closed mesh.
     */
    @Test
    void meshesSharingARegistryShareTheSocketGauges() throws Exception {
        SimpleMeterRegistry one = new SimpleMeterRegistry();
        Pair p = pair("127.0.43.18", "sockets2", "node-s2", "127.0.43.2", one, one);
        Mesh server = p.server();
        Mesh node = p.node();
        InetSocketAddress forward = p.forward();
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName("127.0.43.11"), 0));
            s.connect(forward, 10_000);
            s.setSoTimeout(20_000);
            assertThat(s.getInputStream().read()).as("the app's byte through the tunnel").isEqualTo(1);
            assertThat(gauge(one, "source")).as("the second mesh's captured socket").isEqualTo(1);
            assertThat(gauge(one, "destination")).as("the first mesh's HBONE socket").isEqualTo(1);
        }
        await(() -> gauge(one, "source") == 0);
        node.close();
        await(() -> gauge(one, "destination") == 0);
        server.close();
        assertThat(gauge(one, "destination")).as("closed meshes leave the gauge").isZero();
    }

    /**
     * ztunnel's {@code istio_tcp_sockets_open} (src/proxy/metrics.rs; its outbound, SOCKS5, inbound
     * and inbound-passthrough listeners count each accepted socket until its task ends): one captured
     * connection held open through a tunnel is one source socket at the capturing proxy and one
     * destination socket (its HBONE connection) at the other; both go back to 0.
     */
    @Test
    void socketsOpenCountsAcceptedConnectionsByReporter() throws Exception {
        SimpleMeterRegistry dst = new SimpleMeterRegistry();
        SimpleMeterRegistry src = new SimpleMeterRegistry();
        Pair p = pair("127.0.43.17", "sockets", "node-s", "127.0.43.1", dst, src);
        Mesh node = p.node();
        InetSocketAddress forward = p.forward();
        assertThat(gauge(src, "source")).isZero();
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName("127.0.43.11"), 0));
            s.connect(forward, 10_000);
            s.setSoTimeout(20_000);
            assertThat(s.getInputStream().read()).as("the app's byte through the tunnel").isEqualTo(1);
            assertThat(gauge(src, "source")).isEqualTo(1);
            assertThat(gauge(src, "destination")).isZero();
            assertThat(gauge(dst, "destination")).isEqualTo(1);
            assertThat(gauge(dst, "source")).isZero();
        }
        await(() -> gauge(src, "source") == 0);
        node.close(); // its pooled HBONE connection closes: the server's socket goes
        await(() -> gauge(dst, "destination") == 0);
    }

    /**
     * Plain TCP relays fail as ztunnel's do: its passthrough (src/proxy/outbound.rs
     * {@code proxy_to_tcp}) and inbound plaintext (src/proxy/inbound_passthrough.rs
     * {@code proxy_inbound_plaintext}) build the connection result before the dial and before RBAC,
     * so a refused dial is opened, closed and failed with CONNECT, and a denial (istiod makes STRICT
     * an RBAC rule) with DENY; {@code connection_security_policy} is {@code unknown}.
     */
    @Test
    void plainRelaysCountFailedDialsAndDenials() throws Exception {
        Workload strict = new Workload("prod", "strict", "strict", Map.of("app", "strict"),
                List.of(InetAddress.getByName("127.0.43.18")), Workload.Protocol.HBONE, null, TD);
        Workload closed = new Workload("prod", "closed", "closed", Map.of("app", "closed"),
                List.of(InetAddress.getByName("127.0.43.19")), Workload.Protocol.HBONE, null, TD);
        WorkloadRegistry shared = WorkloadRegistry.of(List.of(frontend, strict, closed), Map.of());
        io.zerohop.policy.PolicyEngine policy = io.zerohop.policy.PolicyEngine.builder().policies(io.zerohop.policy.PolicyLoader.fromString("p.yaml", """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: strict, namespace: prod}
                spec:
                  selector: {matchLabels: {app: strict}}
                  mtls: {mode: STRICT}
                """)).build();
        SimpleMeterRegistry m = new SimpleMeterRegistry();
        Mesh node = Mesh.builder().identityProvider(ca).workloads(shared).policies(policy).passthroughUnknown(true)
                .meterRegistry(m).threads(2).build();
        closing.add(node);
        InetAddress bind = InetAddress.getByName("127.0.43.1");
        try (Socket dead = new Socket()) {
            // Bound, never listening: the passthrough's dial and the closed workload's are refused.
            dead.bind(new InetSocketAddress(InetAddress.getByName("127.0.43.6"), 0));
            InetSocketAddress passthrough = node.capture(io.zerohop.core.Capture.forward(new InetSocketAddress(bind, 0),
                    (InetSocketAddress) dead.getLocalSocketAddress()));
            InetSocketAddress toStrict = node.plaintextInbound(io.zerohop.core.Capture.forward(new InetSocketAddress(bind, 0),
                    new InetSocketAddress(InetAddress.getByName("127.0.43.18"), 8080)));
            InetSocketAddress toClosed = node.plaintextInbound(io.zerohop.core.Capture.forward(new InetSocketAddress(bind, 0),
                    new InetSocketAddress(InetAddress.getByName("127.0.43.19"), dead.getLocalPort())));
            for (InetSocketAddress via : List.of(passthrough, toStrict, toClosed)) {
                try (Socket s = new Socket()) {
                    s.bind(new InetSocketAddress(InetAddress.getByName("127.0.43.11"), 0));
                    // The refusal is a reset, which can come before connect() returns: either way nothing is relayed.
                    try {
                        s.connect(via, 10_000);
                        s.setSoTimeout(20_000);
                        assertThat(s.getInputStream().read()).as("nothing relayed").isEqualTo(-1);
                    } catch (IOException reset) {
                        // refused, as expected
                    }
                }
            }
            Map<String, String> out = Map.of("reporter", "source", "source_workload", "frontend", "destination_workload", "unknown",
                    "connection_security_policy", "unknown");
            Map<String, String> denied = Map.of("reporter", "destination", "source_workload", "frontend", "destination_workload", "strict",
                    "destination_cluster", "Kubernetes", "connection_security_policy", "unknown");
            Map<String, String> refused = Map.of("reporter", "destination", "source_workload", "frontend", "destination_workload", "closed",
                    "connection_security_policy", "unknown");
            await(() -> sum(m.find("istio.tcp.connections.failed"), out) >= 1 && sum(m.find("istio.tcp.connections.failed"), denied) >= 1
                    && sum(m.find("istio.tcp.connections.failed"), refused) >= 1);
            assertThat(sum(m.find("istio.tcp.connections.opened"), with(out, "response_flags", "-"))).isEqualTo(1);
            assertThat(sum(m.find("istio.tcp.connections.failed"), with(out, "response_flags", "CONNECT"))).isEqualTo(1);
            assertThat(sum(m.find("istio.tcp.connections.opened"), with(denied, "response_flags", "-"))).isEqualTo(1);
            assertThat(sum(m.find("istio.tcp.connections.closed"), with(denied, "response_flags", "DENY"))).isEqualTo(1);
            assertThat(sum(m.find("istio.tcp.connections.failed"), with(denied, "response_flags", "DENY"))).isEqualTo(1);
            assertThat(sum(m.find("istio.tcp.connections.failed"), with(refused, "response_flags", "CONNECT"))).isEqualTo(1);
        }
    }

    /**
     * A plain relay whose upstream writes a banner and resets (SO_LINGER 0) is no failure, as
     * ztunnel's passthrough copy ignores the reset (istio/ztunnel src/copy.rs {@code ignore_io_errors});
     * it counted CONNECT before.
     */
    @Test
    void aPlainRelayWhoseUpstreamResetsIsNoFailure() throws Exception {
        SimpleMeterRegistry m = new SimpleMeterRegistry();
        Mesh node = Mesh.builder().identityProvider(ca).workloads(registry).passthroughUnknown(true).meterRegistry(m).threads(2).build();
        closing.add(node);
        try (ServerSocket app = new ServerSocket(0, 50, InetAddress.getByName("127.0.43.8"))) {
            app.setSoTimeout(20_000);
            InetSocketAddress passthrough = node.capture(io.zerohop.core.Capture.forward(new InetSocketAddress(InetAddress.getByName("127.0.43.1"), 0),
                    (InetSocketAddress) app.getLocalSocketAddress()));
            try (Socket s = new Socket()) {
                s.bind(new InetSocketAddress(InetAddress.getByName("127.0.43.11"), 0));
                s.connect(passthrough, 10_000);
                s.setSoTimeout(20_000);
                try (Socket up = app.accept()) {
                    up.getOutputStream().write("banner\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                    assertThat(new String(s.getInputStream().readNBytes(7), java.nio.charset.StandardCharsets.US_ASCII)).isEqualTo("banner\n");
                    up.setSoLinger(true, 0);
                }
                Map<String, String> out = Map.of("reporter", "source", "source_workload", "frontend", "connection_security_policy", "unknown");
                await(() -> sum(m.find("istio.tcp.connections.closed"), out) >= 1);
                assertThat(sum(m.find("istio.tcp.connections.closed"), with(out, "response_flags", "-"))).isEqualTo(1);
                assertThat(sum(m.find("istio.tcp.connections.failed"), out)).isZero();
            }
        }
    }

    static double gauge(SimpleMeterRegistry m, String reporter) {
        return m.get("istio.tcp.sockets.open").tag("reporter", reporter).gauge().value();
    }

    static void assertThatThrownByClusterId(String id) {
        assertThat(catchThrowable(() -> Mesh.builder().clusterId(id))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cluster id");
    }

    double sum(String name, Map<String, String> labels) {
        return sum(metrics.find(name), labels);
    }

    static double sum(Search s, Map<String, String> labels) {
        for (Map.Entry<String, String> e : labels.entrySet()) {
            s = s.tag(e.getKey(), e.getValue());
        }
        return s.counters().stream().mapToDouble(Counter::count).sum();
    }

    static Map<String, String> with(Map<String, String> m, String k, String v) {
        Map<String, String> c = new LinkedHashMap<>(m);
        c.put(k, v);
        return c;
    }

    static void await(Supplier<Boolean> condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.get()) {
            assertThat(System.nanoTime()).as("condition within 20 s").isLessThan(deadline);
            Thread.sleep(10);
        }
    }

    /** A CA's trust bundle but no SVID for anyone, as a provider that has none yet (PemFileIdentityProvider's error). */
    record NoSvid(InMemoryCa ca) implements IdentityProvider {
        @Override
        public Optional<SpiffeId> defaultIdentity() {
            return Optional.empty();
        }

        @Override
        public CompletableFuture<X509Svid> svid(SpiffeId id) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("no SVID for " + id));
        }

        @Override
        public X509BundleSet bundles() {
            return ca.bundles();
        }

        @Override
        public void addListener(IdentityListener listener) {
        }

        @Override
        public void removeListener(IdentityListener listener) {
        }

        @Override
        public void close() {
        }
    }

    /** SVIDs of one CA, trust in another's bundle: a server that refuses every client certificate of the first. */
    record OtherBundle(InMemoryCa svids, InMemoryCa trust) implements IdentityProvider {
        @Override
        public Optional<SpiffeId> defaultIdentity() {
            return Optional.empty();
        }

        @Override
        public CompletableFuture<X509Svid> svid(SpiffeId id) {
            return svids.svid(id);
        }

        @Override
        public X509BundleSet bundles() {
            return trust.bundles();
        }

        @Override
        public void addListener(IdentityListener listener) {
            svids.addListener(listener);
        }

        @Override
        public void removeListener(IdentityListener listener) {
            svids.removeListener(listener);
        }

        @Override
        public void close() {
        }
    }
}
