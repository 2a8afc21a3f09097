package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

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
import io.zerohop.testing.CapturedStderr;
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
 * Waypoints and Service endpoints reached through a workload's hostname, end to end over real TLS, HBONE and DNS on
 * loopback (127.0.200.x, ports 52500-52699): a waypoint named by hostname that no Service has is the workload of that
 * hostname (istio/ztunnel src/state.rs {@code find_hostname}'s fallback in {@code fetch_waypoint}; its test
 * tests/namespaced.rs {@code service_waypoint_workload_hostname}), dialled at its address, or, when it has none, at what a
 * real DNS server ({@link TestDnsServer}) answers for its hostname ({@code finalize_upstream} →
 * {@code pick_workload_destination_or_resolve} → {@code resolve_on_demand_dns}); a Service's HBONE endpoint with a
 * hostname likewise, for {@link Mesh#connect(SpiffeId, InetSocketAddress)} and socket factories. Each waypoint and the
 * Service's endpoint are plain HBONE acceptors presenting their workload's identity, recording each CONNECT and answering
 * their own name.
 */
class WaypointHostnameTest {
    static final String TD = "cluster.local";
    static final InetSocketAddress DNS = new InetSocketAddress(ip("127.0.200.1"), 52553);
    /** The waypoint workload with a hostname and an address. */
    static final InetSocketAddress WP_ADDR = new InetSocketAddress(ip("127.0.200.10"), 52510);
    /** Where the waypoint workload of a hostname only resolves to. */
    static final InetSocketAddress WP_DNS = new InetSocketAddress(ip("127.0.200.11"), 52511);
    /** The Service endpoint of a hostname only: its node's HBONE address (what it resolves to: 127.0.200.20). */
    static final InetSocketAddress VM_NODE = new InetSocketAddress(ip("127.0.200.20"), 52520);
    static final InetAddress VM_IP = ip("127.0.200.20");
    static final InetSocketAddress SERVER = new InetSocketAddress(ip("127.0.200.2"), 52540);
    static final InetSocketAddress SERVER_DNS = new InetSocketAddress(ip("127.0.200.3"), 52541);
    static final InetSocketAddress SERVER_GONE = new InetSocketAddress(ip("127.0.200.4"), 52542);
    static final InetSocketAddress SERVER_BY_IP = new InetSocketAddress(ip("127.0.200.5"), 52543);
    static final InetSocketAddress VM_VIP = new InetSocketAddress(ip("127.0.200.100"), 52530);
    static final InetSocketAddress VM_GONE_VIP = new InetSocketAddress(ip("127.0.200.101"), 52532);
    static final int VM_TARGET = 52531;

    static TestDnsServer dns;
    static InMemoryCa ca;
    static MeshTls peerTls;
    static SpiffeId client;
    static Workload wpAddr;
    static Workload wpDns;
    static Workload vm;
    static Mesh mesh;
    static final SimpleMeterRegistry metrics = new SimpleMeterRegistry();
    static final List<AutoCloseable> closing = new ArrayList<>();
    static final Map<String, List<TunnelInfo>> connects = new java.util.concurrent.ConcurrentHashMap<>();
    static final AtomicInteger goneAccepted = new AtomicInteger();
    static final AtomicInteger capturePort = new AtomicInteger(52600);

    static InetAddress ip(String s) {
        try {
            return InetAddress.getByName(s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @BeforeAll
    static void start() throws Exception {
        dns = new TestDnsServer(DNS);
        dns.zone.put("wp-dns.example.com.", List.of(WP_DNS.getAddress()));
        dns.zone.put("vm.example.com.", List.of(VM_IP));
        ca = InMemoryCa.create(TD);
        peerTls = MeshTls.builder(ca).build();
        client = SpiffeIds.istio(TD, "prod", "client");
        wpAddr = new Workload("prod", "wp-addr", "wp-addr", Map.of(), List.of(WP_ADDR.getAddress()), Workload.Protocol.HBONE,
                null, TD, Map.of(), null, null, List.of(), null, "wp-addr.example.com");
        wpDns = new Workload("prod", "wp-dns", "wp-dns", Map.of(), List.of(), Workload.Protocol.HBONE, null, TD, Map.of(), null,
                null, List.of(), null, "wp-dns.example.com");
        Workload wpGone = new Workload("prod", "wp-gone", "wp-gone", Map.of(), List.of(), Workload.Protocol.HBONE, null, TD,
                Map.of(), null, null, List.of(), null, "gone.example.com");
        vm = new Workload("ext", "vm", "vm", Map.of(), List.of(), Workload.Protocol.HBONE, "vmnode", TD, Map.of(), null, null,
                List.of(new WorkloadService("vm", "ext", "vm.example.com", Set.of(VM_TARGET))), null, "vm.example.com");
        Workload vmGone = new Workload("ext", "vm-gone", "vm-gone", Map.of(), List.of(), Workload.Protocol.HBONE, null, TD,
                Map.of(), null, null, List.of(new WorkloadService("vm-gone", "ext", "vm-gone.example.com", Set.of(VM_TARGET))),
                null, "vm-gone.example.com");
        Workload server = new Workload("prod", "server", "server", Map.of(), List.of(SERVER.getAddress()), Workload.Protocol.HBONE,
                null, TD).withWaypoint(new GatewayAddress(null, "prod", "wp-addr.example.com", WP_ADDR.getPort()));
        Workload serverDns = new Workload("prod", "server-dns", "server-dns", Map.of(), List.of(SERVER_DNS.getAddress()),
                Workload.Protocol.HBONE, null, TD).withWaypoint(new GatewayAddress(null, "prod", "wp-dns.example.com", WP_DNS.getPort()));
        // protocol TCP: sent direct, it would be plain TCP to the app listening there, which counts what it accepts.
        Workload serverGone = new Workload("prod", "server-gone", "server-gone", Map.of(), List.of(SERVER_GONE.getAddress()),
                Workload.Protocol.TCP, null, TD).withWaypoint(new GatewayAddress(null, "prod", "gone.example.com", 52512));
        Workload serverByIp = new Workload("prod", "server-by-ip", "server-by-ip", Map.of(), List.of(SERVER_BY_IP.getAddress()),
                Workload.Protocol.HBONE, null, TD).withWaypoint(new GatewayAddress(WP_ADDR.getAddress(), null, null, WP_ADDR.getPort()));
        WorkloadRegistry registry = WorkloadRegistry.empty();
        registry.replace(List.of(wpAddr, wpDns, wpGone, vm, vmGone, server, serverDns, serverGone, serverByIp),
                Map.of("vmnode", VM_NODE), Map.of(), List.of(
                        new Service("ext", "vm", "vm.example.com", List.of(VM_VIP.getAddress()),
                                List.of(Service.Port.of(VM_VIP.getPort(), VM_TARGET))),
                        new Service("ext", "vm-gone", "vm-gone.example.com", List.of(VM_GONE_VIP.getAddress()),
                                List.of(Service.Port.of(VM_GONE_VIP.getPort(), VM_TARGET)))));
        peer("wp-addr", WP_ADDR, wpAddr.identity());
        peer("wp-dns", WP_DNS, wpDns.identity());
        peer("vm", VM_NODE, vm.identity());
        ServerSocket gone = new ServerSocket(SERVER_GONE.getPort(), 50, SERVER_GONE.getAddress());
        closing.add(gone);
        Thread g = new Thread(() -> {
            while (true) {
                try (Socket s = gone.accept()) {
                    goneAccepted.incrementAndGet();
                } catch (IOException e) {
                    return;
                }
            }
        }, "test-server-gone");
        g.setDaemon(true);
        g.start();
        mesh = Mesh.builder().identityProvider(ca).identity(client).workloads(registry).meterRegistry(metrics).threads(2)
                .dnsServers(DNS).build();
    }

    /** An HBONE acceptor at {@code bind} presenting {@code id}: records each CONNECT, reads one byte, answers {@code tag}. */
    static void peer(String tag, InetSocketAddress bind, SpiffeId id) throws Exception {
        HboneServerSocket sockets = new HboneServerSocket();
        HboneServer server = HboneServer.builder().tls(peerTls).identity(id).bind(bind)
                .destinations((d, i, l) -> Destination.embedded(sockets)).authorizer(Authorizer.allowAll()).threads(1).build();
        server.start().get(10, TimeUnit.SECONDS);
        closing.add(server);
        closing.add(sockets);
        List<TunnelInfo> seen = new CopyOnWriteArrayList<>();
        connects.put(tag, seen);
        Thread t = new Thread(() -> {
            while (true) {
                HboneSocket s;
                try {
                    s = sockets.accept();
                } catch (IOException e) {
                    return;
                }
                seen.add(s.tunnel());
                try (s) {
                    s.setSoTimeout(10_000);
                    s.getInputStream().read();
                    s.getOutputStream().write(tag.getBytes(StandardCharsets.US_ASCII));
                } catch (IOException e) {
                    // the test sees the missing answer
                }
            }
        }, "test-" + tag);
        t.setDaemon(true);
        t.start();
    }

    @AfterAll
    static void stop() throws Exception {
        mesh.close();
        for (AutoCloseable c : closing) {
            c.close();
        }
        peerTls.close();
        dns.close();
    }

    /** What a connection through a new forward capture to {@code target} reads after sending one byte; "" when closed. */
    static String viaForward(InetSocketAddress target) throws Exception {
        InetSocketAddress f = mesh.capture(Capture.forward(new InetSocketAddress(ip("127.0.200.1"), capturePort.getAndIncrement()),
                target));
        return exchange(f, null);
    }

    /** Connects {@code s} (a new plain socket when null) to {@code to}, sends one byte, reads to the end; "" when reset. */
    static String exchange(InetSocketAddress to, Socket s) throws Exception {
        try (Socket c = s != null ? s : new Socket()) {
            try {
                c.connect(to, 10_000);
                c.setSoTimeout(10_000);
                c.getOutputStream().write('x');
                return new String(c.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            } catch (java.net.SocketException reset) {
                if (s != null && reset instanceof java.net.ConnectException) {
                    throw reset;
                }
                return "";
            }
        }
    }

    /** The CONNECT {@code tag}'s acceptor recorded after {@code before} of them (its thread records it: waited for, 10 s). */
    static TunnelInfo connectAt(String tag, int before) throws InterruptedException {
        List<TunnelInfo> seen = connects.get(tag);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (seen.size() <= before && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(seen).as("CONNECTs at " + tag).hasSizeGreaterThan(before);
        return seen.get(before);
    }

    @Test
    @DisplayName("ztunnel service_waypoint_workload_hostname: a waypoint hostname no Service has is the workload of that"
            + " hostname, dialled at its address on hboneMtlsPort, the CONNECT authority the original target")
    void aWaypointNamedByAWorkloadsHostnameIsThatWorkload() throws Exception {
        int before = connects.get("wp-addr").size();
        assertThat(viaForward(SERVER)).isEqualTo("wp-addr");
        TunnelInfo t = connectAt("wp-addr", before);
        assertThat(t.destination()).as("dst.hbone_addr: the server").isEqualTo(SERVER);
        assertThat(t.peerIdentity()).as("the client's identity, verified by the waypoint").isEqualTo(client);
        try (HboneStream s = mesh.connect(client, SERVER).get(10, TimeUnit.SECONDS)) {
            assertThat(s.info().peerAddress()).as("dst.addr: the waypoint workload's address").isEqualTo(WP_ADDR);
            assertThat(s.info().peerIdentity()).isEqualTo(wpAddr.identity());
        }
        assertThat(mesh.route(SERVER).hboneAddress()).isEqualTo(WP_ADDR);
    }

    @Test
    @DisplayName("zerohop's access line of a tunnel through a waypoint names the waypoint's address (ztunnel's dst.addr)")
    void theAccessLineNamesTheWaypointsAddress() throws Exception {
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(viaForward(SERVER_BY_IP)).isEqualTo("wp-addr");
            String line = err.awaitLine("access - outbound src=", " dst=" + Addresses.authority(SERVER_BY_IP) + " ");
            assertThat(line).contains(" dst=" + Addresses.authority(SERVER_BY_IP) + " dst_id=" + wpAddr.identity()
                    + " waypoint=" + Addresses.authority(WP_ADDR) + " status=200 ");
        }
        try (CapturedStderr err = new CapturedStderr()) {
            // A tunnel to a VIP without waypoint has no such field.
            try (HboneStream s = mesh.connect(client, VM_VIP).get(10, TimeUnit.SECONDS)) {
                assertThat(s.info().peerIdentity()).isEqualTo(vm.identity());
            }
            String line = err.awaitLine("access - outbound src=", " dst=" + Addresses.authority(new InetSocketAddress(VM_IP, VM_TARGET)) + " ");
            assertThat(line).doesNotContain("waypoint=");
        }
    }

    @Test
    @DisplayName("a waypoint workload of a hostname only is looked up per connection: capture, connect and socket factory reach"
            + " it; route() refuses it")
    void aWaypointWorkloadWithAHostnameOnlyIsLookedUp() throws Exception {
        int before = connects.get("wp-dns").size();
        int queries = dns.queries.get();
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(viaForward(SERVER_DNS)).isEqualTo("wp-dns");
            // Dialled at an address no registry workload has: the line and the series still name the waypoint
            // (ztunnel's actual_destination_workload).
            assertThat(err.awaitLine("access - outbound src=", " dst=" + Addresses.authority(SERVER_DNS) + " "))
                    .contains(" dst_id=" + wpDns.identity() + " waypoint=" + Addresses.authority(WP_DNS) + " status=200 ");
        }
        assertThat(metrics.find("istio.tcp.connections.opened").tag("reporter", "source").tag("destination_workload", "wp-dns")
                .counters()).as("the source's series name the waypoint as the destination").isNotEmpty();
        assertThat(connectAt("wp-dns", before).destination()).isEqualTo(SERVER_DNS);
        assertThat(dns.queries.get()).as("looked up in the DNS server given").isGreaterThan(queries);
        try (HboneStream s = mesh.connect(client, SERVER_DNS).get(10, TimeUnit.SECONDS)) {
            assertThat(s.info().peerAddress()).isEqualTo(WP_DNS);
            assertThat(s.info().peerIdentity()).isEqualTo(wpDns.identity());
            assertThat(s.info().destination()).isEqualTo(SERVER_DNS);
        }
        assertThat(exchange(SERVER_DNS, mesh.socketFactory().createSocket())).isEqualTo("wp-dns");
        assertThatThrownBy(() -> mesh.route(SERVER_DNS)).isInstanceOf(Mesh.UnknownDestinationException.class)
                .hasMessageContaining("waypoint prod/wp-dns has hostname wp-dns.example.com")
                .hasMessageContaining("route() does not");
        // ztunnel's on_demand_dns counter: each lookup (capture, connect, socket).
        assertThat(metrics.find("istio.on.demand.dns").tag("hostname", "wp-dns.example.com").counters().stream()
                .mapToDouble(c -> c.count()).sum()).isEqualTo(3.0);
    }

    @Test
    @DisplayName("a waypoint whose hostname does not resolve: NoResolvedAddresses, refused, never sent to the destination")
    void aWaypointWhoseHostnameDoesNotResolveIsRefused() throws Exception {
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(viaForward(SERVER_GONE)).isEmpty();
            assertThat(err.awaitLine("refused", "gone.example.com")).contains(Addresses.authority(SERVER_GONE))
                    .contains("waypoint prod/wp-gone: no ip addresses were resolved for workload: prod/wp-gone").contains("NXDOMAIN");
        }
        Throwable e = catchThrowable(() -> mesh.connect(client, SERVER_GONE).get(10, TimeUnit.SECONDS));
        assertThat(e).isNotNull().rootCause().hasMessageContaining("no ip addresses were resolved for workload: prod/wp-gone");
        assertThatThrownBy(() -> exchange(SERVER_GONE, mesh.socketFactory().createSocket()))
                .isInstanceOf(java.net.ConnectException.class).hasMessageContaining("no ip addresses were resolved for workload: prod/wp-gone");
        assertThat(goneAccepted.get()).as("nothing sent to the destination directly").isZero();
    }

    @Test
    @DisplayName("connect and socket factories to a Service whose HBONE endpoint has a hostname look it up; route() refuses it")
    void aServicesHboneEndpointWithAHostnameIsLookedUp() throws Exception {
        int before = connects.get("vm").size();
        try (HboneStream s = mesh.connect(client, VM_VIP).get(10, TimeUnit.SECONDS)) {
            assertThat(s.info().peerIdentity()).isEqualTo(vm.identity());
            assertThat(s.info().peerAddress()).as("its node's HBONE address").isEqualTo(VM_NODE);
            assertThat(s.info().destination()).as("CONNECT target: the address looked up, on the target port")
                    .isEqualTo(new InetSocketAddress(VM_IP, VM_TARGET));
        }
        assertThat(connectAt("vm", before).destination()).isEqualTo(new InetSocketAddress(VM_IP, VM_TARGET));
        assertThat(exchange(VM_VIP, mesh.socketFactory().createSocket())).isEqualTo("vm");
        assertThat(connectAt("vm", before + 1).destination()).isEqualTo(new InetSocketAddress(VM_IP, VM_TARGET));
        assertThatThrownBy(() -> mesh.route(VM_VIP)).isInstanceOf(Mesh.UnknownDestinationException.class)
                .hasMessageContaining("has hostname vm.example.com").hasMessageContaining("route() does not");
        // A name that does not resolve: connect and the socket fail with ztunnel's NoResolvedAddresses text.
        Throwable e = catchThrowable(() -> mesh.connect(client, VM_GONE_VIP).get(10, TimeUnit.SECONDS));
        assertThat(e).rootCause().hasMessageContaining("no ip addresses were resolved for workload: ext/vm-gone");
        assertThatThrownBy(() -> exchange(VM_GONE_VIP, mesh.socketFactory().createSocket()))
                .isInstanceOf(java.net.ConnectException.class).hasMessageContaining("no ip addresses were resolved for workload: ext/vm-gone");
    }
}
