package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.CapturedStderr;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A Service endpoint with a hostname in place of addresses (istiod's {@code Workload.hostname}: a ServiceEntry with
 * {@code resolution: DNS} and no endpoints) is looked up when a connection is sent to it, as ztunnel's
 * {@code pick_workload_destination_or_resolve} / {@code resolve_on_demand_dns} (istio/ztunnel src/state.rs), and as its
 * tests there ({@code test_on_demand_dns}...): the connection to the VIP reaches the address the name resolves to; a
 * failed lookup refuses it ({@code NoResolvedAddresses}), never passes it through; the address is of the family of the
 * VIP dialled when the name has one. A real DNS server ({@link TestDnsServer}, Netty's DNS codec) on 127.0.251.1, UDP port 52053, which
 * {@link Mesh.Builder#dnsServers} points the mesh at; real sockets on 127.0.251.x and ::1.
 */
class OnDemandDnsTest {
    private static final InetSocketAddress DNS = new InetSocketAddress(ip("127.0.251.1"), 52053);
    private static final InetAddress CLIENT = ip("127.0.251.2");
    private static final InetAddress BACKEND = ip("127.0.251.3");
    private static final int BACKEND_PORT = 52010;

    private TestDnsServer dns;
    /** name (with the final dot) → its records; a name not here is NXDOMAIN: the server's. */
    private Map<String, List<InetAddress>> zone;

    @BeforeEach
    void dnsServer() throws Exception {
        dns = new TestDnsServer(DNS);
        zone = dns.zone;
    }

    @AfterEach
    void stop() throws Exception {
        dns.close();
    }

    /** Service {@code name} at {@code vip} port 5432 → target {@link #BACKEND_PORT}; its one endpoint has {@code hostname}. */
    private static WorkloadRegistry registry(String name, InetAddress vip, String hostname) {
        return registry(Map.of(name, List.of(vip)), Map.of(name, hostname));
    }

    private static WorkloadRegistry registry(Map<String, List<InetAddress>> vips, Map<String, String> hostnames) {
        List<Workload> ws = new java.util.ArrayList<>();
        List<Service> svcs = new java.util.ArrayList<>();
        ws.add(new Workload("prod", "client", "client", Map.of("app", "client"), List.of(CLIENT), Workload.Protocol.HBONE, null,
                "cluster.local"));
        for (Map.Entry<String, List<InetAddress>> e : vips.entrySet()) {
            String host = e.getKey() + ".example.com";
            ws.add(new Workload("ext", e.getKey(), null, Map.of(), List.of(), Workload.Protocol.TCP, null, "cluster.local",
                    Map.of(), null, null, List.of(new WorkloadService(e.getKey(), "ext", host, Set.of(BACKEND_PORT))), null,
                    hostnames.get(e.getKey())));
            svcs.add(new Service("ext", e.getKey(), host, e.getValue(), List.of(new Service.Port(5432, BACKEND_PORT, null))));
        }
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(ws, Map.of(), Map.of(), svcs);
        return r;
    }

    private static Mesh mesh(WorkloadRegistry r, SimpleMeterRegistry m) {
        return Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).workloads(r).threads(1).meterRegistry(m)
                .dnsServers(DNS).build();
    }

    /** Sends "ping" from {@link #CLIENT} through {@code via}; what came back (null: the connection was closed or reset). */
    private static String ping(InetSocketAddress via) throws Exception {
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(CLIENT, 0));
            s.connect(via, 5000);
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write("ping\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            byte[] b = new byte[64];
            try {
                int n = in.read(b);
                return n < 0 ? null : new String(b, 0, n, StandardCharsets.US_ASCII);
            } catch (java.net.SocketException reset) {
                return null;
            }
        }
    }

    /** Accepts one connection on {@code backend} and answers {@code reply}, in the background. */
    private static Thread serve(ServerSocket backend, String reply) {
        Thread t = new Thread(() -> {
            try (Socket c = backend.accept()) {
                c.getInputStream().read(new byte[64]);
                c.getOutputStream().write(reply.getBytes(StandardCharsets.US_ASCII));
                c.getOutputStream().flush();
            } catch (java.io.IOException ignored) {
                // the test's assertion says what was missed
            }
        }, "backend");
        t.setDaemon(true);
        t.start();
        return t;
    }

    @Test
    void aConnectionToTheVipReachesTheAddressTheHostnameResolvesTo() throws Exception {
        zone.put("db.example.com.", List.of(BACKEND));
        SimpleMeterRegistry m = new SimpleMeterRegistry();
        InetAddress vip = ip("240.240.0.1");
        try (ServerSocket backend = new ServerSocket(BACKEND_PORT, 50, BACKEND);
             Mesh mesh = mesh(registry("db", vip, "db.example.com"), m)) {
            serve(backend, "pong from db");
            InetSocketAddress via = mesh.capture(Capture.forward(new InetSocketAddress(ip("127.0.251.1"), 52011),
                    new InetSocketAddress(vip, 5432)));
            assertThat(ping(via)).isEqualTo("pong from db");
        }
        assertThat(dns.queries.get()).as("looked up in the DNS server given").isPositive();
        // ztunnel's on_demand_dns counter (src/proxy/metrics.rs), labelled with the source and the hostname.
        assertThat(m.find("istio.on.demand.dns").tag("hostname", "db.example.com").tag("source_workload", "client").counters())
                .extracting(Counter::count).containsExactly(1.0);
    }

    @Test
    void aNameThatDoesNotResolveIsRefusedWithALineNamingItNeverPassedThrough() throws Exception {
        InetAddress vip = ip("240.240.0.2");
        try (ServerSocket backend = new ServerSocket(BACKEND_PORT, 50, BACKEND);
             Mesh mesh = mesh(registry("gone", vip, "gone.example.com"), new SimpleMeterRegistry());
             CapturedStderr err = new CapturedStderr()) {
            backend.setSoTimeout(1);
            InetSocketAddress via = mesh.capture(Capture.forward(new InetSocketAddress(ip("127.0.251.1"), 52012),
                    new InetSocketAddress(vip, 5432)));
            assertThat(ping(via)).as("refused").isNull();
            String line = err.awaitLine("refused", "gone.example.com");
            assertThat(line).contains("no ip addresses were resolved for workload: ext/gone").contains("NXDOMAIN")
                    .contains("240.240.0.2:5432");
            assertThatThrownBy(backend::accept).as("nothing reached the backend").isInstanceOf(java.net.SocketTimeoutException.class);
        }
    }

    @Test
    void aNameWithoutAddressesIsRefused() throws Exception {
        zone.put("empty.example.com.", List.of()); // NOERROR, no A, no AAAA
        InetAddress vip = ip("240.240.0.3");
        try (Mesh mesh = mesh(registry("empty", vip, "empty.example.com"), new SimpleMeterRegistry());
             CapturedStderr err = new CapturedStderr()) {
            InetSocketAddress via = mesh.capture(Capture.forward(new InetSocketAddress(ip("127.0.251.1"), 52013),
                    new InetSocketAddress(vip, 5432)));
            assertThat(ping(via)).isNull();
            assertThat(err.awaitLine("refused", "empty.example.com")).contains("ext/empty");
        }
    }

    @Test
    void theAddressIsOfTheFamilyOfTheVipDialledWhenTheNameHasOne() throws Exception {
        InetAddress v6 = ip("::1");
        zone.put("dual.example.com.", List.of(BACKEND, v6));
        zone.put("v4only.example.com.", List.of(BACKEND));
        InetAddress vip4 = ip("240.240.0.4");
        InetAddress vip6 = ip("fd00:251::4");
        InetAddress vip6b = ip("fd00:251::5");
        WorkloadRegistry r = registry(Map.of("dual", List.of(vip4, vip6), "v4only", List.of(vip6b)),
                Map.of("dual", "dual.example.com", "v4only", "v4only.example.com"));
        try (ServerSocket back4 = new ServerSocket(BACKEND_PORT, 50, BACKEND);
             ServerSocket back6 = new ServerSocket(BACKEND_PORT, 50, v6);
             Mesh mesh = mesh(r, new SimpleMeterRegistry())) {
            InetSocketAddress via4 = mesh.capture(Capture.forward(new InetSocketAddress(ip("127.0.251.1"), 52014),
                    new InetSocketAddress(vip4, 5432)));
            InetSocketAddress via6 = mesh.capture(Capture.forward(new InetSocketAddress(ip("127.0.251.1"), 52015),
                    new InetSocketAddress(vip6, 5432)));
            InetSocketAddress via6b = mesh.capture(Capture.forward(new InetSocketAddress(ip("127.0.251.1"), 52016),
                    new InetSocketAddress(vip6b, 5432)));
            for (int i = 0; i < 3; i++) {
                serve(back6, "v6");
                assertThat(ping(via6)).as("an IPv6 VIP: the AAAA record").isEqualTo("v6");
                serve(back4, "v4");
                assertThat(ping(via4)).as("an IPv4 VIP: the A record").isEqualTo("v4");
            }
            serve(back4, "v4");
            assertThat(ping(via6b)).as("an IPv6 VIP of a name with only an A record: that one").isEqualTo("v4");
        }
    }

    @Test
    void aHostnameIsADnsName() {
        assertThatThrownBy(() -> new Workload("ext", "db", null, Map.of(), List.of(), Workload.Protocol.TCP, null,
                "cluster.local", Map.of(), null, null, List.of(), null, "bad host"))
                .hasMessageContaining("hostname \"bad host\" is no DNS name");
    }

    @Test
    void theWorkloadsFileTakesAHostnameAndNamesItsLineWhenBad(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path f = dir.resolve("workloads.yaml");
        java.nio.file.Files.writeString(f, String.join("\n",
                "workloads:",
                "  - namespace: ext",
                "    name: db",
                "    protocol: TCP",
                "    labels: {app: db}",
                "    hostname: db.example.com",
                "services:",
                "  - namespace: ext",
                "    name: db",
                "    hostname: db.example.com",
                "    addresses: [240.240.0.1]",
                "    ports: {5432: " + BACKEND_PORT + "}",
                "    selector: {app: db}",
                ""));
        WorkloadRegistry r = WorkloadRegistry.load(f);
        assertThat(r.byName("ext", "db")).get().extracting(Workload::hostname).isEqualTo("db.example.com");
        Service db = r.serviceAt(ip("240.240.0.1")).orElseThrow();
        assertThat(r.pickEndpoint(db, 5432, ip("240.240.0.1")).address())
                .isEqualTo(InetSocketAddress.createUnresolved("db.example.com", BACKEND_PORT));
        java.nio.file.Files.writeString(f, String.join("\n",
                "workloads:",
                "  - namespace: ext",
                "    name: db",
                "    protocol: TCP",
                "    hostname: db_example",
                ""));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessageStartingWith(f + ":5: workloads[0].hostname: ")
                .hasMessageContaining("is no DNS name");
    }

    @Test
    void routeRefusesAHostnameEndpointRatherThanBlockAndDnsServersMustBeAddresses() throws Exception {
        InetAddress vip = ip("240.240.0.6");
        Workload meshed = new Workload("ext", "vm", "vm", Map.of(), List.of(), Workload.Protocol.HBONE, null, "cluster.local",
                Map.of(), null, null, List.of(new WorkloadService("vm", "ext", "vm.example.com", Set.of(BACKEND_PORT))), null,
                "vm.example.com");
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(meshed), Map.of(), Map.of(), List.of(new Service("ext", "vm", "vm.example.com", List.of(vip),
                List.of(new Service.Port(5432, BACKEND_PORT, null)))));
        try (Mesh mesh = mesh(r, new SimpleMeterRegistry())) {
            // A route is made synchronously (a socket factory's connect): the lookup would block, so it is refused.
            assertThatThrownBy(() -> mesh.route(new InetSocketAddress(vip, 5432)))
                    .isInstanceOf(Mesh.UnknownDestinationException.class).hasMessageContaining("has hostname vm.example.com");
        }
        assertThatThrownBy(() -> Mesh.builder().dnsServers(InetSocketAddress.createUnresolved("dns.example", 53)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is no DNS server address");
        assertThatThrownBy(() -> Mesh.builder().dnsServers(new InetSocketAddress(ip("0.0.0.0"), 53)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is no DNS server address");
    }

    private static InetAddress ip(String s) {
        try {
            return InetAddress.getByName(s);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }
}
