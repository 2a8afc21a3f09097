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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A break-it review of the host-name CONNECT (helper 415, 7 December): authorities an attacker holding a valid SVID
 * shapes to reach a port the policy denies, a Service it may not resolve, or another workload than the one it dialled.
 * What ztunnel does with each: istio/ztunnel src/proxy.rs {@code HboneAddress::try_from} (the authority as Rust's
 * {@code SocketAddr} first: dotted IPv4 without leading zeros, bracketed IPv6 with a numeric zone, a port of any number
 * of digits with leading zeros; else {@code Uri::host} and {@code port_u16} as a Service host name),
 * src/proxy/inbound.rs {@code find_inbound_upstream} (the dialled workload's own address, always; the Service's port
 * mapping) and src/state/service.rs {@code get_best_by_host} (exact names; a NAMESPACE-visible Service of another
 * namespace is skipped; own namespace, canonical, first). Each row is ztunnel's status, or a refusal where zerohop is
 * deliberately stricter (userinfo, a signed port: 400). Real mutual TLS and HTTP/2 on 127.0.219.x, ports 56300-56306,
 * real applications counting what they accept.
 */
class InboundAuthorityBreakTest {
    private static final String TD = "cluster.local";
    private static final String IP = "127.0.219.10";
    private static final String OTHER_IP = "127.0.219.20";
    private static final int MESH = 56300;
    private static final int SERVED = 56301;
    private static final int DENIED = 56303;
    private static final int OTHER_PORT = 56305;
    private static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-port, namespace: default}
            spec:
              selector: {matchLabels: {app: server}}
              action: DENY
              rules:
              - to: [{operation: {ports: ["%d"]}}]
            """.formatted(DENIED);

    private static final RawHboneCaller.Apps apps = new RawHboneCaller.Apps();
    private static final Map<String, AtomicInteger> accepted = new java.util.concurrent.ConcurrentHashMap<>();
    private static InMemoryCa ca;
    private static Mesh server;
    private static RawHboneCaller caller;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName(IP);
        InetAddress otherIp = InetAddress.getByName(OTHER_IP);
        app(ip, SERVED);
        app(ip, DENIED);
        app(otherIp, OTHER_PORT);
        Workload workload = new Workload("default", "server", "server", Map.of("app", "server"), List.of(ip),
                Workload.Protocol.HBONE, null, TD, Map.of(), Map.of(), null,
                List.of(new WorkloadService("server", "default", "server.default.svc.cluster.local", Set.of(SERVED))));
        // Another workload (another identity, another node's address): only its own address may reach it.
        Workload other = new Workload("default", "other", "other", Map.of("app", "other"), List.of(otherIp),
                Workload.Protocol.HBONE, null, TD, Map.of(), Map.of(), null,
                List.of(new WorkloadService("other", "default", "other.default.svc.cluster.local", Set.of(OTHER_PORT))));
        List<Service> services = List.of(
                new Service("default", "server", "server.default.svc.cluster.local", List.of(InetAddress.getByName("127.0.219.100")),
                        List.of(Service.Port.of(80, SERVED))),
                new Service("default", "denied", "denied.default.svc.cluster.local", List.of(InetAddress.getByName("127.0.219.101")),
                        List.of(Service.Port.of(80, DENIED))),
                new Service("default", "other", "other.default.svc.cluster.local", List.of(InetAddress.getByName("127.0.219.102")),
                        List.of(Service.Port.of(80, OTHER_PORT))),
                // A ServiceEntry of another namespace visible there only (serviceEntryVisibility): no name from default.
                new Service("other", "private", "private.other.example", List.of(InetAddress.getByName("127.0.219.103")),
                        List.of(Service.Port.of(80, SERVED))).withVisibility(Service.Visibility.NAMESPACE),
                // One host in two namespaces, neither the dialled workload's: the NAMESPACE one is skipped, the PUBLIC one taken.
                new Service("hidden", "shared", "shared2.example", List.of(InetAddress.getByName("127.0.219.104")),
                        List.of(Service.Port.of(80, DENIED))).withVisibility(Service.Visibility.NAMESPACE),
                new Service("public", "shared", "shared2.example", List.of(InetAddress.getByName("127.0.219.104")),
                        List.of(Service.Port.of(80, SERVED))),
                // An IDN host as istiod sends it: the A-label (punycode), compared exactly.
                new Service("default", "idn", "xn--bcher-kva.example", List.of(InetAddress.getByName("127.0.219.105")),
                        List.of(Service.Port.of(80, SERVED))));
        WorkloadRegistry registry = WorkloadRegistry.empty();
        registry.replace(List.of(workload, other), Map.of(), Map.of(), services);
        ca = InMemoryCa.create(TD);
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
        server = Mesh.builder().identityProvider(ca).identity(workload.identity()).workloads(registry).policies(policy)
                .inbound(new InetSocketAddress(ip, MESH)).threads(1).build();
        server.start().get(10, TimeUnit.SECONDS);

        SpiffeId client = SpiffeIds.istio(TD, "default", "client");
        SslContext ctx = MeshTls.builder(ca).build().client(client, Set.of(workload.identity())).get();
        caller = new RawHboneCaller(ctx, InetAddress.getByName("127.0.219.11"), server.inboundAddress());
    }

    @AfterAll
    static void stop() throws Exception {
        caller.close();
        server.close();
        apps.close();
        ca.close();
    }

    private static void app(InetAddress ip, int port) throws IOException {
        apps.listen(ip, port, accepted.computeIfAbsent(ip.getHostAddress() + ":" + port, k -> new AtomicInteger()));
    }

    private static int acceptedAt(String ip, int port) {
        return accepted.get(ip + ":" + port).get();
    }


    private static Map<String, String> run(Map<String, String> want) throws Exception {
        Map<String, String> got = new LinkedHashMap<>();
        for (String a : want.keySet()) {
            got.put(a, caller.statusAndEnd(a, true));
        }
        return got;
    }

    /**
     * Ports as Rust reads them ({@code u16::from_str}, and {@code SocketAddr}'s {@code read_port}: any number of digits,
     * leading zeros allowed): the same port whatever its zeros, so the same answer as the plain form, the denied port
     * still denied. A sign ({@code +}), which ztunnel's {@code port_u16} also takes, stays 400 here.
     */
    @Test
    void portFormsReachOnlyWhatThePlainPortReaches() throws Exception {
        Map<String, String> want = new LinkedHashMap<>();
        want.put("server.default.svc.cluster.local:080", "200");
        want.put("server.default.svc.cluster.local:00080", "200");
        want.put("server.default.svc.cluster.local:000080", "200");
        want.put(IP + ":0" + SERVED, "200");
        want.put(IP + ":00" + SERVED, "200");
        want.put("denied.default.svc.cluster.local:080", "401 RST:0");
        want.put("denied.default.svc.cluster.local:000080", "401 RST:0");
        want.put(IP + ":" + DENIED, "401 RST:0");
        want.put(IP + ":0" + DENIED, "401 RST:0");
        want.put(IP + ":00000" + DENIED, "401 RST:0");
        want.put("server.default.svc.cluster.local:0000000000000000000080", "200");
        want.put("server.default.svc.cluster.local:065536", "400 RST:0");
        want.put(IP + ":0065536", "400 RST:0");
        want.put(IP + ":+" + SERVED, "400 RST:0");
        want.put("server.default.svc.cluster.local:-80", "400 RST:0");
        want.put("server.default.svc.cluster.local: 80", "400 RST:1");
        assertThat(run(want)).isEqualTo(want);
        assertThat(acceptedAt(IP, DENIED)).isZero();
    }

    /**
     * IPv4 written as no {@code SocketAddr} reads it (short, hex, octal, one number, a trailing dot, in brackets) is a
     * name to ztunnel, and no Service has it: 503 {@code NoHostname}, never the address it would be to inet_aton. IPv6:
     * an IPv4-mapped or another address is not the dialled one (400 {@code IPMismatch}); a named zone is no
     * {@code SocketAddr}, so a name (503).
     */
    @Test
    void ipv4AndIpv6SpellingsAreNeverTheDialledAddress() throws Exception {
        Map<String, String> want = new LinkedHashMap<>();
        want.put("127.1:" + SERVED, "503 RST:0");
        want.put("127.0.55306:" + SERVED, "503 RST:0");
        want.put("0x7f.0.219.10:" + SERVED, "503 RST:0");
        want.put("0x7f00db0a:" + SERVED, "503 RST:0");
        want.put("2130762506:" + SERVED, "503 RST:0");
        want.put("0177.0.219.10:" + SERVED, "503 RST:0");
        want.put("127.0.219.10.:" + SERVED, "503 RST:0");
        want.put("127.0.219.010:" + SERVED, "503 RST:0");
        want.put("[127.0.219.10]:" + SERVED, "503 RST:0");
        want.put("[::ffff:127.0.219.10]:" + SERVED, "400 RST:0");
        want.put("[::ffff:7f00:db0a]:" + SERVED, "400 RST:0");
        want.put("[::127.0.219.10]:" + SERVED, "400 RST:0");
        want.put("[::1%1]:" + SERVED, "400 RST:0");
        want.put("[fe80::1%25eth0]:" + SERVED, "503 RST:0");
        want.put("[fe80::1%eth0]:" + SERVED, "503 RST:0");
        want.put("127.0.219.20:" + OTHER_PORT, "400 RST:0");
        assertThat(run(want)).isEqualTo(want);
        assertThat(acceptedAt(OTHER_IP, OTHER_PORT)).isZero();
    }

    /**
     * Names: exact (no case folding, no trailing dot, no IDN mapping: the A-label only), of a Service visible to the
     * dialled workload's namespace, on the dialled workload's own address always (another workload's Service only
     * takes its port there: nothing listens, 503, the other workload never reached), userinfo refused.
     */
    @Test
    void namesReachOnlyTheDialledWorkloadThroughAVisibleService() throws Exception {
        Map<String, String> want = new LinkedHashMap<>();
        want.put("xn--bcher-kva.example:80", "200");
        want.put("XN--BCHER-KVA.example:80", "503 RST:0");
        want.put("xn--bcher-kva.example.:80", "503 RST:0");
        want.put("b\u00fccher.example:80", "400 RST:1");
        want.put("private.other.example:80", "503 RST:0");
        want.put("shared2.example:80", "200");
        want.put("other.default.svc.cluster.local:80", "503 RST:0");
        want.put("server.default.svc.cluster.local:80@127.0.219.20:" + OTHER_PORT, "400 RST:0");
        want.put("127.0.219.20:" + OTHER_PORT + "@server.default.svc.cluster.local:80", "400 RST:0");
        want.put("x@" + IP + ":" + SERVED, "400 RST:0");
        want.put("a".repeat(64) + ".example:80", "503 RST:0");
        want.put("a.".repeat(140) + "example:80", "503 RST:0");
        assertThat(run(want)).isEqualTo(want);
        assertThat(acceptedAt(IP, DENIED)).isZero();
        assertThat(acceptedAt(OTHER_IP, OTHER_PORT)).isZero();
    }
}
