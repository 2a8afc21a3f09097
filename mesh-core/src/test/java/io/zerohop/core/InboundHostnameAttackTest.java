package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.ssl.SslContext;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import io.zerohop.testing.CapturedStderr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A hostile or careless peer against the host-name CONNECT (ztunnel's {@code HboneAddress::SvcHostname}, istio/ztunnel
 * src/proxy/inbound.rs {@code build_inbound_request} / {@code find_inbound_upstream}): a name reaches nothing an IP
 * CONNECT to the dialled workload could not, and the authorization ({@code ports}, {@code notPorts},
 * {@code destination.ip}) sees the address the name resolved to, exactly as for that IP CONNECT (ztunnel's
 * {@code rbac_ctx.conn.dst} is the upstream address). Odd authorities are never served. Real mutual TLS and HTTP/2 on
 * 127.0.209.x, ports 54300-54304, real applications counting what they accept.
 */
class InboundHostnameAttackTest {
    private static final String TD = "cluster.local";
    private static final String IP = "127.0.209.10";
    private static final int MESH = 54300;
    private static final int SERVED = 54301;
    private static final int FOREIGN = 54302;
    private static final int DENIED = 54303;
    private static final int NOT_LISTED = 54304;
    private static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-port, namespace: default}
            spec:
              selector: {matchLabels: {app: server}}
              action: DENY
              rules:
              - to: [{operation: {ports: ["%d"]}}]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-unlisted, namespace: default}
            spec:
              selector: {matchLabels: {app: server}}
              action: DENY
              rules:
              - to: [{operation: {notPorts: ["%d", "%d", "%d"]}}]
                when: [{key: destination.ip, values: ["%s"]}]
            """.formatted(DENIED, SERVED, FOREIGN, DENIED, IP);

    private static final RawHboneCaller.Apps apps = new RawHboneCaller.Apps();
    private static final Map<Integer, AtomicInteger> accepted = new java.util.concurrent.ConcurrentHashMap<>();
    private static InMemoryCa ca;
    private static Mesh server;
    private static RawHboneCaller caller;
    private static CapturedStderr err;
    private static final io.micrometer.core.instrument.simple.SimpleMeterRegistry meters =
            new io.micrometer.core.instrument.simple.SimpleMeterRegistry();

    @BeforeAll
    static void start() throws Exception {
        err = new CapturedStderr();
        InetAddress ip = InetAddress.getByName(IP);
        for (int p : new int[] {SERVED, FOREIGN, DENIED, NOT_LISTED}) {
            app(ip, p);
        }
        Workload workload = new Workload("default", "server", "server", Map.of("app", "server"), List.of(ip),
                Workload.Protocol.HBONE, null, TD, Map.of(), Map.of(), null,
                List.of(new WorkloadService("server", "default", "server.default.svc.cluster.local", Set.of(SERVED))));
        // A workload of a hostname (a ServiceEntry's endpoint), no Service of that name: not a service host name.
        Workload vm = new Workload("default", "vm", "vm", Map.of(), List.of(), Workload.Protocol.HBONE, "elsewhere", TD,
                Map.of(), Map.of(), null, List.of(), null, "vm.default.svc.cluster.local");
        List<Service> services = List.of(
                // One host name in two namespaces, the other namespace's first: the dialled workload's namespace picks.
                new Service("other", "shared", "shared.example.com", List.of(InetAddress.getByName("127.0.209.105")),
                        List.of(Service.Port.of(80, FOREIGN))),
                new Service("default", "shared", "shared.example.com", List.of(InetAddress.getByName("127.0.209.105")),
                        List.of(Service.Port.of(80, SERVED))),
                new Service("default", "server", "server.default.svc.cluster.local", List.of(InetAddress.getByName("127.0.209.100")),
                        List.of(Service.Port.of(80, SERVED))),
                // Another namespace's Service the workload is no endpoint of: ztunnel's get_best_by_host falls back to it.
                new Service("other", "foreign", "foreign.other.svc.cluster.local", List.of(InetAddress.getByName("127.0.209.101")),
                        List.of(Service.Port.of(80, FOREIGN))),
                new Service("default", "denied", "denied.default.svc.cluster.local", List.of(InetAddress.getByName("127.0.209.102")),
                        List.of(Service.Port.of(80, DENIED))),
                new Service("default", "unlisted", "unlisted.default.svc.cluster.local", List.of(InetAddress.getByName("127.0.209.103")),
                        List.of(Service.Port.of(80, NOT_LISTED))),
                new Service("default", "self", "self.default.svc.cluster.local", List.of(InetAddress.getByName("127.0.209.104")),
                        List.of(Service.Port.of(80, MESH))));
        WorkloadRegistry registry = WorkloadRegistry.empty();
        registry.replace(List.of(workload, vm), Map.of(), Map.of(), services);
        ca = InMemoryCa.create(TD);
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
        server = Mesh.builder().identityProvider(ca).identity(workload.identity()).workloads(registry).policies(policy)
                .meterRegistry(meters).inbound(new InetSocketAddress(ip, MESH)).threads(1).build();
        server.start().get(10, TimeUnit.SECONDS);

        SpiffeId client = SpiffeIds.istio(TD, "default", "client");
        SslContext ctx = MeshTls.builder(ca).build().client(client, Set.of(workload.identity())).get();
        caller = new RawHboneCaller(ctx, InetAddress.getByName("127.0.209.11"), server.inboundAddress());
    }

    @AfterAll
    static void stop() throws Exception {
        caller.close();
        server.close();
        apps.close();
        ca.close();
        err.close();
    }

    private static void app(InetAddress ip, int port) throws IOException {
        apps.listen(ip, port, accepted.computeIfAbsent(port, k -> new AtomicInteger()));
    }


    /** A name and the address it resolves to get the same answer from every policy, and never the proxy's own port. */
    @Test
    void aNameGetsWhatItsAddressGets() throws Exception {
        String[][] pairs = {
                {"server.default.svc.cluster.local:80", IP + ":" + SERVED, "200"},
                {"foreign.other.svc.cluster.local:80", IP + ":" + FOREIGN, "200"},
                {"denied.default.svc.cluster.local:80", IP + ":" + DENIED, "401"},
                {"unlisted.default.svc.cluster.local:80", IP + ":" + NOT_LISTED, "401"},
                {"self.default.svc.cluster.local:80", IP + ":" + MESH, "503"},
        };
        for (String[] p : pairs) {
            assertThat(caller.connect(p[0])).as(p[0]).isEqualTo(p[2]);
            assertThat(caller.connect(p[1])).as(p[1]).isEqualTo(p[2]);
        }
        assertThat(accepted.get(DENIED).get()).isZero();
        assertThat(accepted.get(NOT_LISTED).get()).isZero();
    }


    /**
     * Authorities ztunnel refuses, with ztunnel's status (istio/ztunnel src/proxy.rs {@code HboneAddress::try_from} on
     * hyper's {@code http::uri::Authority}, src/proxy/inbound.rs {@code build_inbound_request}): 503 for every host it
     * reads as a name and finds no Service of ({@code NoHostname}: upper case, a trailing dot, an underscore, an empty
     * host, a leading-zero IPv4, a name over 253 characters) or no port of ({@code NoPortForServices}: port 0); 400
     * without a {@code u16} port ({@code NoValidAuthority}) or for an IP that is not the dialled one ({@code IPMismatch});
     * what {@code http::uri::Authority} refuses (a {@code %}, a second colon, a {@code /}) is reset by h2 as malformed
     * (PROTOCOL_ERROR, 1; zerohop answers 400 first). Userinfo and a signed port, which ztunnel serves as the plain name,
     * stay 400 here. Until 7 December everything past the first five was 400 with RST NO_ERROR. None reaches an
     * application.
     */
    @Test
    void oddAuthoritiesGetZtunnelsStatusAndAreNeverServed() throws Exception {
        int servedBefore = accepted.get(SERVED).get();
        Map<String, String> want = new java.util.LinkedHashMap<>();
        want.put("SERVER.default.svc.cluster.local:80", "503 RST:0");
        want.put("server.default.svc.other.local:80", "503 RST:0");
        want.put("vm.default.svc.cluster.local:80", "503 RST:0");
        want.put("server.default.svc.cluster.local:81", "503 RST:0");
        want.put("localhost:" + SERVED, "503 RST:0");
        want.put("server.default.svc.cluster.local.:80", "503 RST:0");
        want.put("server.default.svc.cluster.local:0", "503 RST:0");
        want.put("server_x.default.svc.cluster.local:80", "503 RST:0");
        want.put(":80", "503 RST:0");
        want.put("127.0.209.010:" + SERVED, "503 RST:0");
        want.put("a".repeat(63) + "." + "b".repeat(63) + "." + "c".repeat(63) + "." + "d".repeat(63) + ".svc:80", "503 RST:0");
        want.put("server.default.svc.cluster.local:65536", "400 RST:0");
        want.put("server.default.svc.cluster.local", "400 RST:0");
        want.put("server.default.svc.cluster.local:", "400 RST:0");
        want.put("[::1]:80", "400 RST:0");
        want.put("server.default.svc.cluster.local:+80", "400 RST:0");
        want.put("user@server.default.svc.cluster.local:80", "400 RST:0");
        want.put("server%2edefault.svc.cluster.local:80", "400 RST:1");
        want.put("::1:80", "400 RST:1");
        want.put("server.default.svc.cluster.local:80/", "400 RST:1");
        Map<String, String> got = new java.util.LinkedHashMap<>();
        for (String a : want.keySet()) {
            got.put(a, caller.statusAndEnd(a, false));
        }
        assertThat(got).isEqualTo(want);
        assertThat(accepted.get(SERVED).get()).isEqualTo(servedBefore);
        // ztunnel tells a Service of the name whose port resolves to none here (NoPortForServices) from no Service of it
        // (NoHostname); until 7 December both read "no service named ... is served here".
        assertThat(err.awaitLine("service server.default.svc.cluster.local" + " found, but no port here for service port 81")).isNotNull();
        assertThat(err.awaitLine("service server.default.svc.cluster.local" + " found, but no port here for service port 0")).isNotNull();
        assertThat(err.awaitLine("no service named SERVER.default.svc.cluster.local with port 80 is served here")).isNotNull();
        assertThat(err.awaitLine("no service named server.default.svc.cluster.local. with port 80 is served here")).isNotNull();
        assertThat(err.awaitLine("inbound refused ", "server%2edefault.svc.cluster.local:80", ": '%' in the host")).isNotNull();
        assertThat(err.text()).doesNotContain("Exception");
    }

    /**
     * zerohop's access line names what the client named, as ztunnel's does ({@code dst.hbone_addr} is the
     * {@code HboneAddress::SvcHostname}, {@code host:port}; istio/ztunnel src/proxy/metrics.rs
     * {@code ConnectionResult::record}), on a served tunnel's line and on a refused one's; until 7 December both printed
     * the address the name resolved to ({@code dst=127.0.209.10:54301}).
     */
    @Test
    void theAccessLineNamesTheHostNameConnected() throws Exception {
        assertThat(caller.connect("server.default.svc.cluster.local:80")).isEqualTo("200");
        assertThat(err.awaitLine("inbound src=127.0.209.11:", " dst=server.default.svc.cluster.local:80 dst_id=spiffe://cluster.local/ns/default/sa/server ",
                " status=200 ")).isNotNull();
        assertThat(caller.connect("denied.default.svc.cluster.local:80")).isEqualTo("401");
        assertThat(err.awaitLine("inbound refused src=127.0.209.11:", " dst=denied.default.svc.cluster.local:80 dst_id=", " status=401 "))
                .isNotNull();
    }

    /**
     * ztunnel's {@code destination_service} for a name is the Service named ({@code find_inbound_upstream} hands
     * {@code guess_inbound_service} that one only), also another namespace's the workload is no endpoint of and whatever
     * the {@code forwarded} header's {@code host=} says; until 7 December zerohop guessed among the workload's own
     * Services and labelled this tunnel with none.
     */
    @Test
    void theMetricsNameTheServiceNamed() throws Exception {
        assertThat(caller.connect("foreign.other.svc.cluster.local:80")).isEqualTo("200");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        io.micrometer.core.instrument.Counter opened;
        while ((opened = meters.find("istio.tcp.connections.opened").tag("destination_service", "foreign.other.svc.cluster.local")
                .counter()) == null && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(opened).as("a tunnel counted as opened to foreign.other.svc.cluster.local; counters: %s",
                meters.find("istio.tcp.connections.opened").counters().stream().map(c -> c.getId().getTag("destination_service")).toList())
                .isNotNull();
        assertThat(opened.getId().getTag("destination_service_namespace")).isEqualTo("other");
        assertThat(opened.getId().getTag("destination_service_name")).isEqualTo("foreign");
    }

    /**
     * A host name several namespaces' Services share: the Service the CONNECT was resolved with, the dialled workload's
     * namespace's (ztunnel's find_service_by_hostname with the local workload's namespace), is the one the metrics
     * name, not the registry's first (before the fix: destination_service_namespace "other").
     */
    @Test
    void aSharedNameIsLabelledWithTheDialledWorkloadsNamespacesService() throws Exception {
        assertThat(caller.connect("shared.example.com:80")).isEqualTo("200");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        io.micrometer.core.instrument.Counter opened;
        while ((opened = meters.find("istio.tcp.connections.opened").tag("destination_service", "shared.example.com")
                .counter()) == null && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(opened).as("a tunnel counted as opened to shared.example.com").isNotNull();
        assertThat(opened.getId().getTag("destination_service_namespace")).isEqualTo("default");
    }
}
