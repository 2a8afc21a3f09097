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
import java.net.ServerSocket;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A CONNECT whose {@code :authority} is a service host name ({@code server.default.svc.cluster.local:80}, what an
 * east-west gateway forwards), as ztunnel serves it (istio/ztunnel src/proxy/inbound.rs {@code find_inbound_upstream},
 * {@code HboneAddress::SvcHostname}): the tunnel goes to the dialled workload's own address at the port the named
 * Service maps the service port to, the endpoint's named container port when the target port is a name; a name that is
 * no Service, or a service port the Service lacks, is 503 ({@code Error::NoHostname}, {@code NoPortForServices}); the
 * authorization sees the resolved port. Replays tests/namespaced.rs {@code test_svc_hostname_port} and {@code
 * test_svc_hostname_named_port}, and inbound.rs {@code test_find_inbound_upstream} / {@code test_build_inbound_request}
 * case "svc hostname to workload no waypoint". Until 7 December every host-name authority was 503. Real mutual TLS and
 * HTTP/2 on 127.0.202.x, real applications.
 */
class InboundServiceHostnameTest {
    private static final String TD = "cluster.local";
    private static final String DENY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-port, namespace: default}
            spec:
              selector: {matchLabels: {app: server}}
              action: DENY
              rules:
              - to: [{operation: {ports: ["%d"]}}]
            """;

    private static final RawHboneCaller.Apps apps = new RawHboneCaller.Apps();
    private static final AtomicInteger numbered = new AtomicInteger();
    private static final AtomicInteger named = new AtomicInteger();
    private static final AtomicInteger denied = new AtomicInteger();
    private static InMemoryCa ca;
    private static WorkloadRegistry registry;
    private static Mesh server;
    private static RawHboneCaller caller;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.202.10");
        ServerSocket appNumbered = app(ip, numbered);
        ServerSocket appNamed = app(ip, named);
        ServerSocket appDenied = app(ip, denied);
        List<WorkloadService> member = List.of(
                new WorkloadService("server", "default", "server.default.svc.cluster.local", Set.of()),
                new WorkloadService("named", "default", "named.default.svc.cluster.local", Set.of()),
                new WorkloadService("denied", "default", "denied.default.svc.cluster.local", Set.of()));
        Workload workload = new Workload("default", "server", "server", Map.of("app", "server"), List.of(ip),
                Workload.Protocol.HBONE, null, TD, Map.of(), Map.of("http", appNamed.getLocalPort()), null, member);
        List<Service> services = List.of(
                new Service("default", "server", "server.default.svc.cluster.local", List.of(InetAddress.getByName("127.0.202.100")),
                        List.of(Service.Port.of(80, appNumbered.getLocalPort()))),
                new Service("default", "named", "named.default.svc.cluster.local", List.of(InetAddress.getByName("127.0.202.101")),
                        List.of(Service.Port.named(80, "http"))),
                new Service("default", "denied", "denied.default.svc.cluster.local", List.of(InetAddress.getByName("127.0.202.102")),
                        List.of(Service.Port.of(80, appDenied.getLocalPort()))),
                // Services the workload is no endpoint of, in another namespace.
                new Service("other", "foreign", "foreign.other.svc.cluster.local", List.of(InetAddress.getByName("127.0.202.104")),
                        List.of(Service.Port.of(80, appNumbered.getLocalPort()))),
                new Service("other", "foreign-named", "foreign-named.other.svc.cluster.local",
                        List.of(InetAddress.getByName("127.0.202.105")), List.of(Service.Port.named(80, "http"))),
                // One host in two namespaces (two teams' ServiceEntries), the other namespace's installed first.
                new Service("other", "shared", "shared.example.com", List.of(), List.of(Service.Port.of(80, appNamed.getLocalPort()))),
                new Service("default", "shared", "shared.example.com", List.of(), List.of(Service.Port.of(80, appNumbered.getLocalPort()))));
        registry = WorkloadRegistry.empty();
        registry.replace(List.of(workload), Map.of(), Map.of(), services);
        ca = InMemoryCa.create(TD);
        PolicyEngine policy = PolicyEngine.builder()
                .policies(PolicyLoader.fromString("deny.yaml", DENY.formatted(appDenied.getLocalPort()))).build();
        server = Mesh.builder().identityProvider(ca).identity(workload.identity()).workloads(registry).policies(policy)
                .inbound(new InetSocketAddress(ip, 0)).threads(1).build();
        server.start().get(10, TimeUnit.SECONDS);
        // A Service whose target port is the HBONE listener itself, known once it is bound.
        List<Service> withSelf = new java.util.ArrayList<>(services);
        withSelf.add(new Service("default", "self", "self.default.svc.cluster.local", List.of(InetAddress.getByName("127.0.202.103")),
                List.of(Service.Port.of(80, server.inboundAddress().getPort()))));
        registry.replace(List.of(workload), Map.of(), Map.of(), withSelf);

        SpiffeId client = SpiffeIds.istio(TD, "default", "client");
        SslContext ctx = MeshTls.builder(ca).build().client(client, Set.of(workload.identity())).get();
        caller = new RawHboneCaller(ctx, InetAddress.getByName("127.0.202.11"), server.inboundAddress());
    }

    @AfterAll
    static void stop() throws Exception {
        caller.close();
        server.close();
        apps.close();
        ca.close();
    }

    private static ServerSocket app(InetAddress ip, AtomicInteger accepted) throws IOException {
        return apps.listen(ip, 0, accepted);
    }


    /** Until {@code counter} passes {@code before}: the application accepted the tunnel's connection. */
    private static void awaitMore(AtomicInteger counter, int before) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (counter.get() == before) {
            assertThat(System.nanoTime()).as("the application accepted within 10 s").isLessThan(deadline);
            Thread.sleep(5);
        }
    }

    /** tests/namespaced.rs {@code test_svc_hostname_port}: service port 80 to a numbered target port. */
    @Test
    void aServiceHostnameReachesTheDialledWorkloadAtTheServicesTargetPort() throws Exception {
        int before = numbered.get();
        assertThat(caller.connect("server.default.svc.cluster.local:80")).isEqualTo("200");
        awaitMore(numbered, before);
    }

    /** tests/namespaced.rs {@code test_svc_hostname_named_port}: the target port is the endpoint's port of that name. */
    @Test
    void aNamedTargetPortIsTheWorkloadsPortOfThatName() throws Exception {
        int before = named.get();
        assertThat(caller.connect("named.default.svc.cluster.local:80")).isEqualTo("200");
        awaitMore(named, before);
    }

    /**
     * inbound.rs {@code find_inbound_upstream} does not ask whether the dialled workload is an endpoint of the Service
     * named: the Service's numbered target port on the dialled workload is served; a named one has no number there
     * (istiod sends 0 and no endpoint mapping): 503, {@code NoPortForServices}.
     */
    @Test
    void aServiceTheWorkloadIsNoEndpointOfMapsByItsNumberedTargetPortOnly() throws Exception {
        int before = numbered.get();
        assertThat(caller.connect("foreign.other.svc.cluster.local:80")).isEqualTo("200");
        awaitMore(numbered, before);
        int namedBefore = named.get();
        assertThat(caller.connect("foreign-named.other.svc.cluster.local:80")).isEqualTo("503");
        assertThat(named.get()).isEqualTo(namedBefore);
    }

    /**
     * inbound.rs {@code find_service_by_hostname}: of several Services of the name, {@code get_best_by_host} with the local
     * workload's namespace: {@code default}'s mapping (to the numbered app), not the first installed, {@code other}'s (to
     * the named one). Until 7 December the registry refused the two Services of one host.
     */
    @Test
    void aHostnameOfSeveralNamespacesIsTheDialledWorkloadsNamespaces() throws Exception {
        int before = numbered.get();
        int namedBefore = named.get();
        assertThat(caller.connect("shared.example.com:80")).isEqualTo("200");
        awaitMore(numbered, before);
        assertThat(named.get()).isEqualTo(namedBefore);
    }

    /** inbound.rs {@code find_service_by_hostname}: {@code Error::NoHostname}, SERVICE_UNAVAILABLE. */
    @Test
    void aHostnameThatIsNoServiceIs503() throws Exception {
        assertThat(caller.connect("nothing.default.svc.cluster.local:80")).isEqualTo("503");
    }

    /** inbound.rs {@code find_inbound_upstream}: {@code Error::NoPortForServices}, SERVICE_UNAVAILABLE. */
    @Test
    void aServicePortTheServiceLacksIs503() throws Exception {
        assertThat(caller.connect("server.default.svc.cluster.local:81")).isEqualTo("503");
    }

    /**
     * inbound.rs {@code find_inbound_upstream}: "Check for illegal calls now that we have resolved to the final
     * destination": a name whose target port is one of the proxy's own is {@code Error::SelfCall}, 503, never dialled.
     */
    @Test
    void aNameResolvedToTheProxysOwnPortIsASelfCall() throws Exception {
        assertThat(caller.connect("self.default.svc.cluster.local:80")).isEqualTo("503");
    }

    /** The RBAC check sees the resolved target port (ztunnel's rbac_ctx.conn.dst is the upstream address). */
    @Test
    void theAuthorizationSeesTheResolvedPort() throws Exception {
        assertThat(caller.connect("denied.default.svc.cluster.local:80")).isEqualTo("401");
        assertThat(denied.get()).isZero();
    }
}
