package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Connections whose destination has a waypoint, end to end over real TLS and HBONE on loopback (127.0.245.x, ports
 * 51400-51499), as istio/ztunnel src/proxy/outbound.rs {@code build_request} sends them: to the waypoint by HBONE, the
 * CONNECT authority the original target, the waypoint's identity verified. The waypoint is a plain HBONE acceptor standing
 * in for Istio's waypoint Envoy: it records each CONNECT (authority, the client's identity, {@code forwarded}) and passes
 * the bytes on to the real destination, over HBONE through a zerohop mesh of its own identity for the meshed backend
 * (whose workload waypoint it is: check_from_waypoint sends that leg direct), in plain TCP for the {@code protocol: TCP}
 * database. Each app counts the connections it accepted: a refusal must reach none.
 */
class WaypointTest {
    static final String TD = "cluster.local";
    static final InetAddress BACKEND_IP = ip("127.0.245.2");
    static final InetAddress DB_IP = ip("127.0.245.3");
    static final InetAddress WAYPOINT_IP = ip("127.0.245.10");
    static final InetAddress IMPOSTOR_IP = ip("127.0.245.11");
    static final InetAddress VIP = ip("127.0.245.100");
    static final InetAddress WAYPOINT_VIP = ip("127.0.245.101");
    static final InetAddress GUARDED_VIP = ip("127.0.245.102");
    static final InetAddress LOST_VIP = ip("127.0.245.103");
    static final InetAddress NAMED_VIP = ip("127.0.245.104");
    static final InetSocketAddress BACKEND_APP = new InetSocketAddress(BACKEND_IP, 51401);
    static final InetSocketAddress DB_APP = new InetSocketAddress(DB_IP, 51421);
    static final int WAYPOINT_PORT = 51410;
    static InMemoryCa ca;
    static MeshTls waypointTls;
    static SpiffeId client;
    static Workload backend;
    static Workload db;
    static Workload waypoint;
    static Workload waypointTwo;
    static WorkloadRegistry registry;
    static Mesh server;
    static Mesh waypointMesh;
    static Mesh mesh;
    static HboneServer waypointServer;
    static HboneServer impostorServer;
    static HboneServerSocket waypointSockets;
    static HboneServerSocket impostorSockets;
    static final SimpleMeterRegistry metrics = new SimpleMeterRegistry();
    static final SimpleMeterRegistry serverMetrics = new SimpleMeterRegistry();
    static final List<ServerSocket> apps = new ArrayList<>();
    static final AtomicInteger backendAccepted = new AtomicInteger();
    static final AtomicInteger dbAccepted = new AtomicInteger();
    static final List<TunnelInfo> atWaypoint = new CopyOnWriteArrayList<>();
    static final AtomicInteger atImpostor = new AtomicInteger();
    static final AtomicInteger capturePort = new AtomicInteger(51440);

    static InetAddress ip(String s) {
        try {
            return InetAddress.getByName(s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @BeforeAll
    static void start() throws Exception {
        ca = InMemoryCa.create(TD);
        client = SpiffeIds.istio(TD, "prod", "client");
        tagOn(BACKEND_APP, "backend", backendAccepted);
        tagOn(DB_APP, "db", dbAccepted);
        GatewayAddress viaPod = new GatewayAddress(WAYPOINT_IP, null, null, WAYPOINT_PORT);
        WorkloadService backendSvc = new WorkloadService("backend", "prod", "backend.prod.svc.cluster.local", Set.of(51401));
        backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(BACKEND_IP), Workload.Protocol.HBONE,
                "b", TD, Map.of(), null, null, List.of(backendSvc), viaPod);
        db = new Workload("prod", "db", "db", Map.of(), List.of(DB_IP), Workload.Protocol.TCP, null, TD).withWaypoint(viaPod);
        waypoint = new Workload("prod", "waypoint", "waypoint", Map.of("gateway.networking.k8s.io/gateway-name", "waypoint"),
                List.of(WAYPOINT_IP), Workload.Protocol.HBONE, null, TD, Map.of(), null, null,
                List.of(new WorkloadService("waypoint", "prod", "waypoint.prod.svc.cluster.local", Set.of(WAYPOINT_PORT))));
        waypointTwo = new Workload("prod", "waypoint-two", "waypoint-two", Map.of(), List.of(IMPOSTOR_IP), Workload.Protocol.HBONE,
                null, TD);
        List<Service> services = List.of(
                new Service("prod", "backend", "backend.prod.svc.cluster.local", List.of(VIP),
                        List.of(Service.Port.of(51403, 51401)), null, viaPod),
                new Service("prod", "waypoint", "waypoint.prod.svc.cluster.local", List.of(WAYPOINT_VIP),
                        List.of(Service.Port.of(WAYPOINT_PORT, WAYPOINT_PORT))),
                new Service("prod", "named", "named.prod.svc.cluster.local", List.of(NAMED_VIP),
                        List.of(Service.Port.of(51406, 51401)), null,
                        new GatewayAddress(null, "prod", "waypoint.prod.svc.cluster.local", WAYPOINT_PORT)),
                new Service("prod", "guarded", "guarded.prod.svc.cluster.local", List.of(GUARDED_VIP),
                        List.of(Service.Port.of(51404, 51401)), null, new GatewayAddress(IMPOSTOR_IP, null, null, 51411)),
                new Service("prod", "lost", "lost.prod.svc.cluster.local", List.of(LOST_VIP),
                        List.of(Service.Port.of(51405, 51401)), null, GatewayAddress.of(ip("127.0.245.99"))));
        registry = WorkloadRegistry.empty();
        registry.replace(List.of(backend, db, waypoint, waypointTwo),
                Map.of("b", new InetSocketAddress(BACKEND_IP, 51402)), Map.of(), services);
        server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).meterRegistry(serverMetrics)
                .inbound(new InetSocketAddress(BACKEND_IP, 51402)).threads(1).build();
        server.start().get(10, TimeUnit.SECONDS);
        waypointMesh = Mesh.builder().identityProvider(ca).identity(waypoint.identity()).workloads(registry).threads(1).build();
        waypointTls = MeshTls.builder(ca).build();
        waypointSockets = new HboneServerSocket();
        waypointServer = HboneServer.builder().tls(waypointTls).identity(waypoint.identity())
                .bind(new InetSocketAddress(WAYPOINT_IP, WAYPOINT_PORT)).destinations((d, id, l) -> Destination.embedded(waypointSockets))
                .authorizer(Authorizer.allowAll()).threads(1).build();
        waypointServer.start().get(10, TimeUnit.SECONDS);
        // Registry: waypoint-two (sa waypoint-two) at 127.0.245.11; what listens there presents another identity.
        impostorSockets = new HboneServerSocket();
        impostorServer = HboneServer.builder().tls(waypointTls).identity(SpiffeIds.istio(TD, "prod", "impostor"))
                .bind(new InetSocketAddress(IMPOSTOR_IP, 51411)).destinations((d, id, l) -> Destination.embedded(impostorSockets))
                .authorizer(Authorizer.allowAll()).threads(1).build();
        impostorServer.start().get(10, TimeUnit.SECONDS);
        Thread w = new Thread(WaypointTest::runWaypoint, "test-waypoint");
        w.setDaemon(true);
        w.start();
        Thread i = new Thread(() -> {
            while (true) {
                try (HboneSocket s = impostorSockets.accept()) {
                    atImpostor.incrementAndGet();
                } catch (IOException e) {
                    return;
                }
            }
        }, "test-impostor");
        i.setDaemon(true);
        i.start();
        mesh = Mesh.builder().identityProvider(ca).identity(client).workloads(registry).meterRegistry(metrics).threads(2).build();
    }

    /** The waypoint: records each CONNECT, then relays the client's byte to the destination and its answer back. */
    static void runWaypoint() {
        while (true) {
            HboneSocket s;
            try {
                s = waypointSockets.accept();
            } catch (IOException e) {
                return;
            }
            Thread t = new Thread(() -> {
                try (s) {
                    TunnelInfo info = s.tunnel();
                    atWaypoint.add(info);
                    InetSocketAddress d = info.destination();
                    // What Envoy would pick: the VIPs' endpoint is the backend; a workload address is itself.
                    InetSocketAddress to = d.getAddress().equals(DB_IP) ? DB_APP : BACKEND_APP;
                    s.setSoTimeout(10_000);
                    int b = s.getInputStream().read();
                    try (Socket out = to.equals(DB_APP) ? new Socket() : waypointMesh.socketFactory().createSocket()) {
                        out.connect(to, 10_000);
                        out.setSoTimeout(10_000);
                        out.getOutputStream().write(b);
                        s.getOutputStream().write(out.getInputStream().readAllBytes());
                    }
                } catch (IOException e) {
                    // the test sees the missing answer
                }
            }, "test-waypoint-conn");
            t.setDaemon(true);
            t.start();
        }
    }

    @AfterAll
    static void stop() throws IOException {
        mesh.close();
        waypointMesh.close();
        server.close();
        waypointServer.close();
        impostorServer.close();
        waypointSockets.close();
        impostorSockets.close();
        waypointTls.close();
        for (ServerSocket s : apps) {
            s.close();
        }
    }

    /** An app answering each connection's first byte with {@code tag}, counting what it accepted. */
    static void tagOn(InetSocketAddress at, String tag, AtomicInteger accepted) throws IOException {
        ServiceVipTest.tagOn(at, tag, accepted, apps);
    }

    /** What a connection through a forward capture to {@code target}, from {@code from} (null: any), reads; "" when closed. */
    static String viaForward(InetSocketAddress target, InetAddress from) throws Exception {
        InetSocketAddress f = mesh.capture(Capture.forward(new InetSocketAddress("127.0.245.1", capturePort.getAndIncrement()), target));
        try (Socket s = new Socket()) {
            if (from != null) {
                s.bind(new InetSocketAddress(from, 0));
            }
            try {
                // A refusal may reset the connection before connect returns.
                s.connect(f, 10_000);
                s.setSoTimeout(10_000);
                s.getOutputStream().write('x');
                return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            } catch (java.net.SocketException reset) {
                return "";
            }
        }
    }

    /** The one CONNECT the waypoint recorded after {@code before} of them (its accept thread records it: waited for, 10 s). */
    static TunnelInfo lastAtWaypoint(int before) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (atWaypoint.size() <= before && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(atWaypoint).as("CONNECTs at the waypoint").hasSize(before + 1);
        return atWaypoint.get(before);
    }

    @Test
    @DisplayName("ztunnel build_request_destination_svc_waypoint: a VIP whose Service has a waypoint goes to it, authority VIP:port")
    void aVipGoesThroughItsServicesWaypoint() throws Exception {
        int before = atWaypoint.size();
        int accepted = backendAccepted.get();
        assertThat(viaForward(new InetSocketAddress(VIP, 51403), null)).isEqualTo("backend");
        TunnelInfo t = lastAtWaypoint(before);
        assertThat(t.destination()).as("CONNECT authority: the original target").isEqualTo(new InetSocketAddress(VIP, 51403));
        assertThat(t.peerIdentity()).as("the client's own identity, verified by the waypoint").isEqualTo(client);
        assertThat(t.headers().get("forwarded")).endsWith(";host=backend.prod.svc.cluster.local");
        assertThat(backendAccepted.get()).as("the backend reached once, from the waypoint").isEqualTo(accepted + 1);
        // ztunnel's conn_metrics_from_request: the destination is the waypoint (actual_destination_workload), the Service
        // the one dialled (intended_destination_service).
        Map<String, String> tags = awaitOpened("backend", "waypoint");
        assertThat(tags).containsEntry("reporter", "source")
                .containsEntry("destination_service", "backend.prod.svc.cluster.local")
                .containsEntry("destination_principal", waypoint.identity().toString())
                .containsEntry("source_principal", client.toString());
        // The backend's own proxy sees the waypoint's tunnel: the waypoint is the source principal its policies match.
        assertThat(awaitOpened(serverMetrics, "destination", "backend")).containsEntry("source_principal", waypoint.identity().toString())
                .containsEntry("source_workload", "waypoint");
    }

    @Test
    @DisplayName("the library's connect to a VIP verifies the waypoint's identity and keeps the VIP as the CONNECT target")
    void theLibrarysConnectGoesThroughTheWaypoint() throws Exception {
        int before = atWaypoint.size();
        try (HboneStream s = mesh.connect(client, new InetSocketAddress(VIP, 51403)).get(10, TimeUnit.SECONDS)) {
            assertThat(s.info().peerIdentity()).as("the identity the waypoint presented").isEqualTo(waypoint.identity());
            assertThat(s.info().peerAddress()).isEqualTo(new InetSocketAddress(WAYPOINT_IP, WAYPOINT_PORT));
            assertThat(s.info().destination()).isEqualTo(new InetSocketAddress(VIP, 51403));
        }
        assertThat(mesh.route(new InetSocketAddress(VIP, 51403)).hboneAddress()).isEqualTo(new InetSocketAddress(WAYPOINT_IP, WAYPOINT_PORT));
        assertThat(lastAtWaypoint(before).destination()).isEqualTo(new InetSocketAddress(VIP, 51403));
    }

    @Test
    @DisplayName("fetch_waypoint by hostname: the waypoint Service's endpoint")
    void aWaypointNamedByHostnameIsReached() throws Exception {
        int before = atWaypoint.size();
        assertThat(viaForward(new InetSocketAddress(NAMED_VIP, 51406), null)).isEqualTo("backend");
        assertThat(lastAtWaypoint(before).destination()).isEqualTo(new InetSocketAddress(NAMED_VIP, 51406));
    }

    @Test
    @DisplayName("ztunnel build_request_destination_waypoint: a workload address goes through the workload's waypoint")
    void aWorkloadAddressGoesThroughTheWorkloadsWaypoint() throws Exception {
        int before = atWaypoint.size();
        assertThat(viaForward(BACKEND_APP, null)).isEqualTo("backend");
        TunnelInfo t = lastAtWaypoint(before);
        assertThat(t.destination()).isEqualTo(BACKEND_APP);
        assertThat(t.headers().get("forwarded")).doesNotContain("host=");
    }

    @Test
    @DisplayName("a protocol TCP destination with a waypoint: HBONE to the waypoint (ztunnel: always HBONE)")
    void aPlaintextDestinationWithAWaypointGetsHboneToIt() throws Exception {
        int before = atWaypoint.size();
        int accepted = dbAccepted.get();
        assertThat(viaForward(DB_APP, null)).isEqualTo("db");
        assertThat(lastAtWaypoint(before).destination()).isEqualTo(DB_APP);
        assertThat(dbAccepted.get()).isEqualTo(accepted + 1);
    }

    @Test
    @DisplayName("check_from_waypoint: the waypoint's own connection (its identity, its address) goes to the workload directly")
    void theWaypointItselfGoesDirect() throws Exception {
        int before = atWaypoint.size();
        int accepted = backendAccepted.get();
        assertThat(viaForward(BACKEND_APP, WAYPOINT_IP)).isEqualTo("backend");
        assertThat(atWaypoint).as("not through the waypoint again").hasSize(before);
        assertThat(backendAccepted.get()).isEqualTo(accepted + 1);
    }

    @Test
    @DisplayName("an embedded waypoint's own connect, route and socket to a Service it fronts go to an endpoint directly,"
            + " never back to itself; a Service another waypoint fronts still goes through that one")
    void theWaypointsOwnCallToItsServiceGoesDirect() throws Exception {
        // ztunnel never routes a waypoint's traffic to a Service (the waypoint pod is not captured, istio.io/dataplane-mode
        // none, and Envoy dials the endpoints it picks); check_from_waypoint keeps a sandwiched waypoint's workload-addressed
        // traffic off itself. The library's calls from the waypoint's identity went to the waypoint itself: a relay written
        // with them, as this test's, looped.
        int before = atWaypoint.size();
        int accepted = backendAccepted.get();
        InetSocketAddress vip = new InetSocketAddress(VIP, 51403);
        io.zerohop.hbone.Route r = waypointMesh.route(vip);
        assertThat(r.hboneAddress()).as("the backend's node, not the waypoint").isEqualTo(new InetSocketAddress(BACKEND_IP, 51402));
        assertThat(r.target()).isEqualTo(BACKEND_APP);
        try (HboneStream s = waypointMesh.connect(waypoint.identity(), vip).get(10, TimeUnit.SECONDS)) {
            assertThat(s.info().peerIdentity()).isEqualTo(backend.identity());
        }
        try (Socket s = waypointMesh.socketFactory().createSocket()) {
            s.connect(vip, 10_000);
            s.setSoTimeout(10_000);
            s.getOutputStream().write('x');
            assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).isEqualTo("backend");
        }
        assertThat(backendAccepted.get()).as("the connect's stream and the socket's").isEqualTo(accepted + 2);
        assertThat(waypointMesh.route(new InetSocketAddress(GUARDED_VIP, 51404)).hboneAddress()).as("another waypoint's Service")
                .isEqualTo(new InetSocketAddress(IMPOSTOR_IP, 51411));
        assertThat(atWaypoint).as("nothing sent to the waypoint").hasSize(before);
    }

    @Test
    @DisplayName("a waypoint presenting another identity than its workload's is refused; nothing reaches the backend")
    void aWaypointWithTheWrongIdentityIsRefused() throws Exception {
        int accepted = backendAccepted.get();
        assertThat(viaForward(new InetSocketAddress(GUARDED_VIP, 51404), null)).isEmpty();
        Throwable e = catchThrowable(() -> mesh.connect(client, new InetSocketAddress(GUARDED_VIP, 51404)).get(10, TimeUnit.SECONDS));
        assertThat(e).as("the handshake refused the impostor's certificate").isNotNull()
                .hasStackTraceContaining(waypointTwo.identity().toString());
        assertThat(atImpostor.get()).as("no CONNECT sent to it").isZero();
        assertThat(backendAccepted.get()).isEqualTo(accepted);
    }

    @Test
    @DisplayName("UnknownWaypoint: refused, never sent to the destination directly")
    void anUnknownWaypointIsRefused() throws Exception {
        int accepted = backendAccepted.get();
        int before = atWaypoint.size();
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            assertThat(viaForward(new InetSocketAddress(LOST_VIP, 51405), null)).isEmpty();
            // One line naming the source (and its identity), the destination and the waypoint as given.
            assertThat(err.awaitLine("127.0.245.103:51405 (service prod/lost) refused: unknown waypoint"))
                    .contains("(" + client + ") -> 127.0.245.103:51405")
                    .contains("waypoint 127.0.245.99:15008 not found (the waypoint of service prod/lost): no service or workload"
                            + " has address 127.0.245.99; refused, never sent to the destination directly");
        }
        Throwable e = catchThrowable(() -> mesh.connect(client, new InetSocketAddress(LOST_VIP, 51405)).get(10, TimeUnit.SECONDS));
        assertThat(e).hasRootCauseInstanceOf(Mesh.UnknownDestinationException.class)
                .rootCause().hasMessageStartingWith("unknown waypoint: waypoint 127.0.245.99:15008 not found (the waypoint of service prod/lost): ");
        assertThat(catchThrowable(() -> mesh.route(new InetSocketAddress(LOST_VIP, 51405))))
                .isInstanceOf(Mesh.UnknownDestinationException.class);
        assertThat(backendAccepted.get()).isEqualTo(accepted);
        assertThat(atWaypoint).hasSize(before);
    }

    /** The tags of the source-reported opened-connections counter naming this Service and destination workload. */
    static Map<String, String> awaitOpened(String serviceName, String destinationWorkload) throws InterruptedException {
        return awaitOpened(metrics, "source", serviceName, destinationWorkload);
    }

    /** {@link #awaitOpened(String, String)} in {@code in}, reported by {@code reporter}; a null service: any. */
    static Map<String, String> awaitOpened(SimpleMeterRegistry in, String reporter, String destinationWorkload) throws InterruptedException {
        return awaitOpened(in, reporter, null, destinationWorkload);
    }

    static Map<String, String> awaitOpened(SimpleMeterRegistry in, String reporter, String serviceName, String destinationWorkload)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            for (Counter c : in.find("istio.tcp.connections.opened").counters()) {
                Map<String, String> t = new java.util.HashMap<>();
                c.getId().getTags().forEach(x -> t.put(x.getKey(), x.getValue()));
                if (reporter.equals(t.get("reporter")) && (serviceName == null || serviceName.equals(t.get("destination_service_name")))
                        && destinationWorkload.equals(t.get("destination_workload"))) {
                    return t;
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no istio.tcp.connections.opened of service " + serviceName + " to " + destinationWorkload + ": "
                + in.find("istio.tcp.connections.opened").counters().stream().map(c -> c.getId().getTags().toString()).toList());
    }
}
