package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.CapturedStderr;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Connections dialled at a Service VIP, over real TLS and HBONE on loopback (127.0.151.x): the client proxy resolves the
 * VIP itself, as ztunnel's outbound does (istio/ztunnel src/proxy/outbound.rs {@code build_request}, src/state.rs
 * {@code find_upstream_from_service}): one endpoint picked, the service port mapped to its target port (a named one
 * through the endpoint's container ports), and the tunnel opened to that endpoint, its pod address and target port in
 * the CONNECT and its identity verified. Every VIP has a "trap" listener on the port dialled: traffic sent to the VIP
 * itself, in plaintext, would land there, and each test asserts none did, passthrough of unknown destinations on.
 */
class ServiceVipTest {
    static final String TD = "cluster.local";
    static InMemoryCa ca;
    static SpiffeId client;
    static Workload web1;
    static Workload web2;
    static Workload legacy;
    static WorkloadRegistry registry;
    static Mesh server;
    static Mesh server2;
    static Mesh mesh;
    static SimpleMeterRegistry metrics = new SimpleMeterRegistry();
    static InetSocketAddress socks;
    static final List<ServerSocket> sockets = new java.util.ArrayList<>();
    static final AtomicInteger trapped = new AtomicInteger();
    static InetAddress vipOne;
    static InetAddress vipWeb;
    static InetAddress vipEmpty;
    static InetAddress vipLegacy;
    static ServerSocket trapOne;
    static ServerSocket trapOther;
    static ServerSocket trapWeb;
    static ServerSocket trapEmpty;
    static ServerSocket trapLegacy;
    static ServerSocket appOne;

    @BeforeAll
    static void start() throws Exception {
        ca = InMemoryCa.create(TD);
        client = SpiffeIds.istio(TD, "prod", "client");
        InetAddress ip1 = InetAddress.getByName("127.0.151.2");
        InetAddress ip2 = InetAddress.getByName("127.0.151.3");
        InetAddress ipLegacy = InetAddress.getByName("127.0.151.5");
        vipOne = InetAddress.getByName("127.0.151.100");
        vipWeb = InetAddress.getByName("127.0.151.101");
        vipEmpty = InetAddress.getByName("127.0.151.102");
        vipLegacy = InetAddress.getByName("127.0.151.103");
        appOne = tagOn(ip1, "one");
        ServerSocket http1 = tagOn(ip1, "web-1");
        ServerSocket http2 = tagOn(ip2, "web-2");
        ServerSocket legacyApp = tagOn(ipLegacy, "legacy");
        trapOne = trapOn(vipOne);
        trapOther = trapOn(vipOne);
        trapWeb = trapOn(vipWeb);
        trapEmpty = trapOn(vipEmpty);
        trapLegacy = trapOn(vipLegacy);
        WorkloadService one = new WorkloadService("one", "prod", "one.prod.svc.cluster.local", Set.of(appOne.getLocalPort()));
        WorkloadService web = new WorkloadService("web", "prod", "web.prod.svc.cluster.local", Set.of());
        WorkloadService leg = new WorkloadService("legacy", "prod", "legacy.prod.svc.cluster.local", Set.of());
        web1 = new Workload("prod", "web-1", "web", Map.of("app", "web"), List.of(ip1), Workload.Protocol.HBONE, "b", TD, Map.of(),
                Map.of("http", http1.getLocalPort()), null, List.of(one, web));
        web2 = new Workload("prod", "web-2", "web", Map.of("app", "web"), List.of(ip2), Workload.Protocol.HBONE, "c", TD, Map.of(),
                Map.of("http", http2.getLocalPort()), null, List.of(web));
        legacy = new Workload("prod", "legacy", "legacy", Map.of(), List.of(ipLegacy), Workload.Protocol.TCP, null, TD, Map.of(),
                null, null, List.of(leg));
        List<Service> services = List.of(
                new Service("prod", "one", "one.prod.svc.cluster.local", List.of(vipOne),
                        List.of(Service.Port.of(trapOne.getLocalPort(), appOne.getLocalPort()))),
                new Service("prod", "web", "web.prod.svc.cluster.local", List.of(vipWeb),
                        List.of(Service.Port.named(trapWeb.getLocalPort(), "http"))),
                new Service("prod", "empty", "empty.prod.svc.cluster.local", List.of(vipEmpty),
                        List.of(Service.Port.of(trapEmpty.getLocalPort(), 9))),
                new Service("prod", "legacy", "legacy.prod.svc.cluster.local", List.of(vipLegacy),
                        List.of(Service.Port.of(trapLegacy.getLocalPort(), legacyApp.getLocalPort()))));
        registry = WorkloadRegistry.empty();
        registry.replace(List.of(web1, web2, legacy), Map.of(), Map.of(), services);
        server = Mesh.builder().identityProvider(ca).identity(web1.identity()).workloads(registry)
                .inbound(new InetSocketAddress(ip1, 0)).threads(2).build();
        server.start().get(10, TimeUnit.SECONDS);
        // web-2 on a node of its own: a proxy serves the workloads of its identity at the address dialled only.
        server2 = Mesh.builder().identityProvider(ca).identity(web2.identity()).workloads(registry)
                .inbound(new InetSocketAddress(ip2, 0)).threads(1).build();
        server2.start().get(10, TimeUnit.SECONDS);
        registry.replace(List.of(web1, web2, legacy), Map.of("b", server.inboundAddress(), "c", server2.inboundAddress()));
        mesh = Mesh.builder().identityProvider(ca).identity(client).workloads(registry).passthroughUnknown(true)
                .meterRegistry(metrics).threads(2).build();
        socks = mesh.capture(Capture.socks5(new InetSocketAddress("127.0.0.1", 0)));
    }

    @AfterAll
    static void stop() throws IOException {
        mesh.close();
        server.close();
        server2.close();
        for (ServerSocket s : sockets) {
            s.close();
        }
    }

    static ServerSocket tagOn(InetAddress ip, String tag) throws IOException {
        return tagOn(ip, tag, sockets);
    }

    /**
     * An app on an ephemeral port of {@code ip} that answers every connection's first byte with {@code tag}, then closes
     * it; added to {@code closeLater}.
     */
    static ServerSocket tagOn(InetAddress ip, String tag, List<ServerSocket> closeLater) throws IOException {
        return tagOn(new InetSocketAddress(ip, 0), tag, new AtomicInteger(), closeLater);
    }

    /** {@link #tagOn(InetAddress, String, List)} at {@code at} (port 0: an ephemeral one), counting in {@code accepted}. */
    static ServerSocket tagOn(InetSocketAddress at, String tag, AtomicInteger accepted, List<ServerSocket> closeLater)
            throws IOException {
        ServerSocket s = new ServerSocket(at.getPort(), 50, at.getAddress());
        closeLater.add(s);
        Thread t = new Thread(() -> {
            while (!s.isClosed()) {
                try (Socket c = s.accept()) {
                    accepted.incrementAndGet();
                    // The client speaks first (a server-first app that writes and closes at once is PassthroughBannerTest's).
                    c.setSoTimeout(10_000);
                    c.getInputStream().read();
                    c.getOutputStream().write(tag.getBytes(StandardCharsets.US_ASCII));
                } catch (IOException e) {
                    // closed, or the client went away
                }
            }
        }, "tag-app");
        t.setDaemon(true);
        t.start();
        return s;
    }

    /** A listener on a VIP: whatever connects was sent to the VIP in plaintext, which must never happen. */
    static ServerSocket trapOn(InetAddress vip) throws IOException {
        ServerSocket s = new ServerSocket(0, 50, vip);
        sockets.add(s);
        Thread t = new Thread(() -> {
            while (!s.isClosed()) {
                try (Socket c = s.accept()) {
                    trapped.incrementAndGet();
                    c.getOutputStream().write("PLAINTEXT".getBytes(StandardCharsets.US_ASCII));
                } catch (IOException e) {
                    // closed
                }
            }
        }, "vip-trap");
        t.setDaemon(true);
        t.start();
        return s;
    }

    /** What a connection through the forward capture to {@code target} reads, "" when it is closed at once. */
    static String viaForward(InetSocketAddress target) throws Exception {
        InetSocketAddress f = mesh.capture(Capture.forward(new InetSocketAddress("127.0.0.1", 0), target));
        try (Socket s = new Socket(f.getAddress(), f.getPort())) {
            s.setSoTimeout(10_000);
            return readAll(s);
        }
    }

    /** What a SOCKS5 connection to {@code target} reads; a refusal's reply throws. */
    static String viaSocks(InetSocketAddress target) throws IOException {
        try (Socket s = new Socket(new java.net.Proxy(java.net.Proxy.Type.SOCKS, socks))) {
            s.setSoTimeout(10_000);
            s.connect(target, 10_000);
            return readAll(s);
        }
    }

    static String readAll(Socket s) throws IOException {
        try {
            s.getOutputStream().write('x');
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        } catch (java.net.SocketException reset) {
            return "";
        }
    }

    @Test
    void aForwardToAVipReachesTheEndpointOverHboneWithTheServiceLabels() throws Exception {
        int before = trapped.get();
        assertThat(viaForward(new InetSocketAddress(vipOne, trapOne.getLocalPort()))).isEqualTo("one");
        assertThat(trapped.get()).as("nothing sent to the VIP itself").isEqualTo(before);
        // ztunnel's intended_destination_service on the source's series; the destination is the endpoint, over mTLS.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        Map<String, String> tags = null;
        while (System.nanoTime() < deadline && tags == null) {
            for (Counter c : metrics.find("istio.tcp.connections.opened").counters()) {
                var t = c.getId().getTags().stream().collect(java.util.stream.Collectors.toMap(x -> x.getKey(), x -> x.getValue()));
                if ("one".equals(t.get("destination_service_name"))) {
                    tags = t;
                }
            }
            Thread.sleep(20);
        }
        assertThat(tags).isNotNull()
                .containsEntry("reporter", "source")
                .containsEntry("destination_service", "one.prod.svc.cluster.local")
                .containsEntry("destination_service_namespace", "prod")
                .containsEntry("destination_workload", "web-1")
                .containsEntry("destination_principal", web1.identity().toString())
                .containsEntry("source_principal", client.toString())
                .containsEntry("connection_security_policy", "mutual_tls");
    }

    /**
     * A named target port resolved per endpoint (ztunnel's build_request_target_port), through SOCKS5, both endpoints
     * picked over many connections (ztunnel's random load_balance).
     */
    @Test
    void aSocks5ConnectionToAVipWithANamedTargetPortReachesEitherEndpoint() throws Exception {
        int before = trapped.get();
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 40 && seen.size() < 2; i++) {
            seen.add(viaSocks(new InetSocketAddress(vipWeb, trapWeb.getLocalPort())));
        }
        assertThat(seen).containsExactlyInAnyOrder("web-1", "web-2");
        assertThat(trapped.get()).isEqualTo(before);
    }

    /** The embedded API: Mesh.connect resolves the VIP too; the CONNECT names the endpoint's address and target port. */
    @Test
    void meshConnectToAVipTunnelsToTheEndpoint() throws Exception {
        HboneStream s = mesh.connect(client, new InetSocketAddress(vipOne, trapOne.getLocalPort())).get(20, TimeUnit.SECONDS);
        try {
            assertThat(s.info().destination()).isEqualTo(new InetSocketAddress(web1.addresses().get(0), appOne.getLocalPort()));
            assertThat(s.info().peerIdentity()).isEqualTo(web1.identity());
        } finally {
            s.close();
        }
        // route() picks the endpoint too and carries it as the CONNECT target (refused until 5 December).
        io.zerohop.hbone.Route r = mesh.route(new InetSocketAddress(vipOne, trapOne.getLocalPort()));
        assertThat(r.target()).isEqualTo(new InetSocketAddress(web1.addresses().get(0), appOne.getLocalPort()));
        assertThat(r.expectedIdentities()).containsExactly(web1.identity());
        assertThat(r.hboneAddress()).isEqualTo(server.inboundAddress());
    }

    /**
     * A library's socket factory (an HTTP client handed mesh.socketFactory()) reaches a Service by its ClusterIP: each
     * socket tunnels to an endpoint picked, with its named target port resolved per endpoint, never to the VIP in
     * plaintext. Until 5 December such a socket's connect was refused ("has no single route").
     */
    @Test
    void aSocketFactorySocketToAVipReachesEitherEndpoint() throws Exception {
        int before = trapped.get();
        Set<String> seen = new HashSet<>();
        javax.net.SocketFactory sf = mesh.socketFactory(client);
        for (int i = 0; i < 40 && seen.size() < 2; i++) {
            try (Socket s = sf.createSocket(vipWeb, trapWeb.getLocalPort())) {
                s.setSoTimeout(10_000);
                s.getOutputStream().write('x');
                seen.add(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII));
                assertThat(((io.zerohop.hbone.HboneSocket) s).peerIdentity()).isEqualTo(web1.identity());
            }
        }
        assertThat(seen).containsExactlyInAnyOrder("web-1", "web-2");
        assertThat(trapped.get()).as("nothing sent to the VIP in plaintext").isEqualTo(before);
        // No healthy upstream: the socket's connect is an IOException naming it, as for any unknown destination.
        try (Socket s = sf.createSocket()) {
            assertThatThrownBy(() -> s.connect(new InetSocketAddress(vipEmpty, trapEmpty.getLocalPort())))
                    .isInstanceOf(java.net.ConnectException.class).hasMessageContaining("no healthy upstream");
        }
        // A Service with plaintext endpoints only is not reachable over HBONE: refused, never dialled in plaintext.
        try (Socket s = sf.createSocket()) {
            assertThatThrownBy(() -> s.connect(new InetSocketAddress(vipLegacy, trapLegacy.getLocalPort())))
                    .isInstanceOf(java.net.ConnectException.class)
                    .hasMessageContaining("service prod/legacy has no endpoint in the mesh (protocol HBONE) eligible for port "
                            + trapLegacy.getLocalPort() + ", only plaintext ones");
        }
        assertThat(trapped.get()).isEqualTo(before);
    }

    /**
     * A Service with one endpoint in the mesh and one outside it (protocol TCP): the library's calls (route, connect,
     * socketFactory) pick among the meshed endpoints only and always reach it over HBONE; a capture picks among both, as
     * ztunnel's load_balance does, and relays the plaintext one as plain TCP. Until 5 December a library call failed
     * whenever the random pick was the plaintext endpoint.
     */
    @Test
    void aLibraryCallToAServiceWithPlaintextEndpointsReachesItsMeshedOnes() throws Exception {
        InetAddress vipMixed = InetAddress.getByName("127.0.151.105");
        List<ServerSocket> own = new ArrayList<>();
        ServerSocket trap = trapOn(vipMixed);
        ServerSocket plain = tagOn(InetAddress.getByName("127.0.151.5"), "plain", own);
        WorkloadService mixed = new WorkloadService("mixed", "prod", "mixed.prod.svc.cluster.local", Set.of());
        Workload meshed = new Workload("prod", "web-1", "web", Map.of("app", "web"), web1.addresses(), Workload.Protocol.HBONE,
                "b", TD, Map.of(), Map.of("app", appOne.getLocalPort()), null, List.of(mixed));
        Workload outside = new Workload("prod", "legacy", "legacy", Map.of(), legacy.addresses(), Workload.Protocol.TCP, null,
                TD, Map.of(), Map.of("app", plain.getLocalPort()), null, List.of(mixed));
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(meshed, outside), Map.of("b", server.inboundAddress()), Map.of(), List.of(new Service("prod",
                "mixed", "mixed.prod.svc.cluster.local", List.of(vipMixed), List.of(Service.Port.named(trap.getLocalPort(), "app")))));
        InetSocketAddress target = new InetSocketAddress(vipMixed, trap.getLocalPort());
        InetSocketAddress meshedApp = new InetSocketAddress(web1.addresses().get(0), appOne.getLocalPort());
        int before = trapped.get();
        try (Mesh m = Mesh.builder().identityProvider(ca).identity(client).workloads(r).threads(1).build()) {
            for (int i = 0; i < 40; i++) {
                assertThat(m.route(target).target()).isEqualTo(meshedApp);
            }
            javax.net.SocketFactory sf = m.socketFactory(client);
            for (int i = 0; i < 10; i++) {
                try (Socket s = sf.createSocket(vipMixed, trap.getLocalPort())) {
                    s.setSoTimeout(10_000);
                    assertThat(readAll(s)).isEqualTo("one");
                }
                HboneStream h = m.connect(client, target).get(20, TimeUnit.SECONDS);
                assertThat(h.info().destination()).isEqualTo(meshedApp);
                h.close();
            }
            InetSocketAddress socks5 = m.capture(Capture.socks5(new InetSocketAddress("127.0.0.1", 0)));
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < 60 && seen.size() < 2; i++) {
                try (Socket s = new Socket(new java.net.Proxy(java.net.Proxy.Type.SOCKS, socks5))) {
                    s.setSoTimeout(10_000);
                    s.connect(target, 10_000);
                    seen.add(readAll(s));
                }
            }
            assertThat(seen).as("a capture picks either, as ztunnel").containsExactlyInAnyOrder("one", "plain");
        } finally {
            for (ServerSocket s : own) {
                s.close();
            }
            trap.close();
        }
        assertThat(trapped.get()).as("nothing sent to the VIP in plaintext").isEqualTo(before);
    }

    /**
     * A Service VIP that is also a workload's address (a ServiceEntry address a WorkloadEntry has too): both are kept, as
     * ztunnel's stores keep them, and a connection dialled at it goes to the Service, as ztunnel's outbound
     * {@code find_upstream} asks {@code get_best_by_vip} before the workloads (istio/ztunnel src/state.rs), while a lookup
     * by address ({@code find_address}: workload first) still finds the workload. Until 7 December the registry refused
     * the pair. On 127.0.213.5 (h409's range); the workload's own listener there counts what reaches it.
     */
    @Test
    void aVipThatIsAlsoAWorkloadsAddressTakesConnectionsToTheService() throws Exception {
        InetAddress shared = InetAddress.getByName("127.0.213.5");
        ServerSocket squatted = new ServerSocket(55100, 50, shared);
        AtomicInteger reachedSquatter = new AtomicInteger();
        Thread accepter = new Thread(() -> {
            while (!squatted.isClosed()) {
                try (Socket c = squatted.accept()) {
                    reachedSquatter.incrementAndGet();
                } catch (IOException e) {
                    // closed
                }
            }
        }, "squatter");
        accepter.setDaemon(true);
        accepter.start();
        WorkloadService overlap = new WorkloadService("overlap", "prod", "overlap.prod.svc.cluster.local", Set.of());
        Workload meshed = new Workload("prod", "web-1", "web", Map.of("app", "web"), web1.addresses(), Workload.Protocol.HBONE,
                "b", TD, Map.of(), Map.of("app", appOne.getLocalPort()), null, List.of(overlap));
        Workload squatter = new Workload("prod", "squatter", "squatter", Map.of(), List.of(shared), Workload.Protocol.TCP, null,
                TD, Map.of(), Map.of(), null, List.of());
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(meshed, squatter), Map.of("b", server.inboundAddress()), Map.of(), List.of(new Service("prod",
                "overlap", "overlap.prod.svc.cluster.local", List.of(shared), List.of(Service.Port.named(squatted.getLocalPort(), "app")))));
        assertThat(r.byAddress(shared)).map(Workload::name).contains("squatter");
        assertThat(r.serviceAt(shared)).map(Service::name).contains("overlap");
        InetSocketAddress target = new InetSocketAddress(shared, squatted.getLocalPort());
        InetSocketAddress meshedApp = new InetSocketAddress(web1.addresses().get(0), appOne.getLocalPort());
        try (Mesh m = Mesh.builder().identityProvider(ca).identity(client).workloads(r).threads(1).build()) {
            assertThat(m.route(target).target()).isEqualTo(meshedApp);
            HboneStream h = m.connect(client, target).get(20, TimeUnit.SECONDS);
            assertThat(h.info().destination()).isEqualTo(meshedApp);
            h.close();
            InetSocketAddress socks5 = m.capture(Capture.socks5(new InetSocketAddress("127.0.213.1", 55101)));
            try (Socket s = new Socket(new java.net.Proxy(java.net.Proxy.Type.SOCKS, socks5))) {
                s.setSoTimeout(10_000);
                s.connect(target, 10_000);
                assertThat(readAll(s)).isEqualTo("one");
            }
        } finally {
            squatted.close();
        }
        assertThat(reachedSquatter.get()).as("nothing reached the workload at the VIP's address").isZero();
    }

    /** The admin dump lists the Services as ztunnel's does (its {@code services}), with their endpoints. */
    /**
     * A plaintext endpoint that is one of this proxy's own listeners is a self call, checked on the endpoint picked and
     * not only on the VIP dialled: a new-user pass's one connection was relayed to itself until the proxy ran out of fds.
     */
    @Test
    void aPlaintextEndpointOnThisProxysOwnListenerIsASelfCall() throws Exception {
        InetAddress ownIp = InetAddress.getByName("127.0.151.20");
        InetAddress loopVip = InetAddress.getByName("127.0.151.104");
        int port;
        try (ServerSocket free = new ServerSocket(0, 1, ownIp)) {
            port = free.getLocalPort();
        }
        Workload own = new Workload("prod", "own", "own", Map.of(), List.of(ownIp), Workload.Protocol.TCP, null, TD, Map.of(),
                null, null, List.of(new WorkloadService("loop", "prod", "loop.prod.svc.cluster.local", Set.of(port))));
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(own), Map.of(), Map.of(), List.of(new Service("prod", "loop", "loop.prod.svc.cluster.local",
                List.of(loopVip), List.of(Service.Port.of(80, port)))));
        try (CapturedStderr err = new CapturedStderr();
             Mesh m = Mesh.builder().identityProvider(ca).identity(client).workloads(r).threads(1).build()) {
            InetSocketAddress fwd = m.capture(Capture.forward(new InetSocketAddress(ownIp, port), new InetSocketAddress(loopVip, 80)));
            try (Socket s = new Socket(fwd.getAddress(), fwd.getPort())) {
                s.setSoTimeout(10_000);
                assertThat(readAll(s)).isEmpty();
            }
            assertThat(err.awaitLine("self call")).contains("-> 127.0.151.104:80");
        }
    }

    @Test
    void theConfigDumpListsTheServices() throws Exception {
        String dump = mesh.configDump(Map.of());
        assertThat(dump).contains("\"services\" : [ {").contains("\"hostname\" : \"web.prod.svc.cluster.local\"")
                .contains("\"vips\" : [ \"127.0.151.101\" ]")
                // istioctl's shapes (configdump/api.go: ports map[string]int, endpoints map[string]ZtunnelEndpoint): a named
                // target is 0, as ztunnel's, and each endpoint carries its own port.
                .contains("\"" + trapWeb.getLocalPort() + "\" : 0")
                .contains("\"endpoints\" : {").contains("\"prod/web-1\" : {").contains("\"workloadUid\" : \"prod/web-1\"");
        com.fasterxml.jackson.databind.JsonNode services = new com.fasterxml.jackson.databind.ObjectMapper().readTree(dump).get("services");
        for (com.fasterxml.jackson.databind.JsonNode svc : services) {
            svc.get("ports").fields().forEachRemaining(e -> assertThat(e.getValue().isInt()).as(e.getKey()).isTrue());
            assertThat(svc.get("endpoints").isObject()).isTrue();
            svc.get("endpoints").forEach(ep -> assertThat(ep.get("port").isObject()).isTrue());
        }
    }

    /**
     * A VIP dialled at a port that is no service port: ztunnel's load_balance finds no upstream and build_request returns
     * Error::NoHealthyUpstream for a service-addressed connection; never passthrough, even with passthrough on.
     */
    @Test
    void anUnknownPortOnAVipIsRefusedNotPassedThrough() throws Exception {
        int before = trapped.get();
        InetSocketAddress target = new InetSocketAddress(vipOne, trapOther.getLocalPort());
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(viaForward(target)).isEmpty();
            String line = err.awaitLine(" -> " + Addresses.authority(target) + " (service prod/one) refused: no healthy upstream");
            assertThat(line).endsWith("no healthy upstream: " + Addresses.authority(target) + ": port " + trapOther.getLocalPort()
                    + " is not a port of service prod/one (its ports: " + trapOne.getLocalPort() + ")");
        }
        Throwable t = catchThrowable(() -> viaSocks(target));
        assertThat(t).as("SOCKS5 answers a failure").isInstanceOf(IOException.class);
        assertThat(trapped.get()).as("nothing sent to the VIP in plaintext").isEqualTo(before);
        Throwable embedded = catchThrowable(() -> mesh.connect(client, target).get(20, TimeUnit.SECONDS));
        assertThat(embedded).hasCauseInstanceOf(Mesh.UnknownDestinationException.class).hasMessageContaining("no healthy upstream");
    }

    /** ztunnel's build_request_empty_service: a service without endpoints has no upstream (NoHealthyUpstream). */
    @Test
    void aServiceWithNoEndpointsIsRefused() throws Exception {
        int before = trapped.get();
        InetSocketAddress target = new InetSocketAddress(vipEmpty, trapEmpty.getLocalPort());
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(viaForward(target)).isEmpty();
            assertThat(err.awaitLine(" -> " + Addresses.authority(target) + " (service prod/empty) refused: no healthy upstream"))
                    .endsWith(": service prod/empty has no healthy endpoint");
        }
        assertThat(trapped.get()).isEqualTo(before);
    }

    /**
     * An endpoint outside the mesh (protocol TCP): ztunnel's OutboundProtocol::TCP to the endpoint's own address and
     * target port (build_request_target_port expects 127.0.0.2:1234 over TCP), never to the VIP.
     */
    @Test
    void aPlaintextEndpointGetsPlainTcpToItsOwnAddress() throws Exception {
        int before = trapped.get();
        assertThat(viaSocks(new InetSocketAddress(vipLegacy, trapLegacy.getLocalPort()))).isEqualTo("legacy");
        assertThat(trapped.get()).isEqualTo(before);
        // ztunnel's conn_metrics_from_request names the Service for a TCP request too (a new-user pass: it said unknown).
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        boolean labelled = false;
        while (System.nanoTime() < deadline && !labelled) {
            labelled = metrics.find("istio.tcp.connections.opened").counters().stream()
                    .anyMatch(c -> "legacy.prod.svc.cluster.local".equals(c.getId().getTag("destination_service"))
                            && "unknown".equals(c.getId().getTag("connection_security_policy")));
            Thread.sleep(20);
        }
        assertThat(labelled).as("a plaintext relay's series named destination_service legacy: %s",
                metrics.find("istio.tcp.connections.opened").counters().stream().map(c -> c.getId().getTags().toString()).toList()).isTrue();
    }
}
