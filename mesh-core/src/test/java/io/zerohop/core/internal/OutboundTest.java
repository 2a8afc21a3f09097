package io.zerohop.core.internal;

import static io.zerohop.core.internal.PartsFixture.BACKEND;
import static io.zerohop.core.internal.PartsFixture.BACKEND_IP;
import static io.zerohop.core.internal.PartsFixture.DB_IP;
import static io.zerohop.core.internal.PartsFixture.FRONTEND;
import static io.zerohop.core.internal.PartsFixture.FRONTEND_IP;
import static io.zerohop.core.internal.PartsFixture.REMOTE;
import static io.zerohop.core.internal.PartsFixture.REMOTE_IP;
import static io.zerohop.core.internal.PartsFixture.UNKNOWN_IP;
import static io.zerohop.core.internal.PartsFixture.ip;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.Route;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Outbound routing alone: {@link Outbound#buildRequest} decides, without opening anything, what
 * istio/ztunnel src/proxy/outbound.rs {@code build_request} decides (its tests
 * {@code build_request_known_dest_{local,remote}_node_{tcp,hbone}} and {@code build_request_unknown_dest}),
 * and drops self calls as its {@code proxy_to} does ({@code Error::SelfCall}).
 */
class OutboundTest {
    static final SpiffeId OWN = SpiffeId.parse("spiffe://cluster.local/ns/zerohop/sa/proxy");
    @RegisterExtension
    static final Loop LOOP = new Loop("cluster.local");
    final PartsFixture f = new PartsFixture();
    final InetSocketAddress app = new InetSocketAddress(FRONTEND_IP, 41000);

    /**
     * The CA, its MeshTls and the one-thread event loop an {@link Outbound} is built with: made before a test class's
     * tests and closed after them, as its static {@code @RegisterExtension} field.
     */
    static final class Loop implements BeforeAllCallback, AfterAllCallback {
        private final String trustDomain;
        private InMemoryCa ca;
        private MeshTls tls;
        private EventLoopGroup group;

        Loop(String trustDomain) {
            this.trustDomain = trustDomain;
        }

        @Override
        public void beforeAll(ExtensionContext context) {
            ca = InMemoryCa.create(trustDomain);
            tls = MeshTls.builder(ca).build();
            group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        }

        @Override
        public void afterAll(ExtensionContext context) {
            group.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS);
            tls.close();
            ca.close();
        }

        /** An Outbound with {@code f}'s own ports and refusal log, one observer for its events and its tunnels. */
        Outbound outbound(PartsFixture f, LocalWorkloads local, SpiffeId identity, boolean passthroughUnknown) {
            TunnelObserver observer = new TunnelObserver(local.registry(), null, null);
            return new Outbound(tls, group, local, identity, f.ownPorts, passthroughUnknown, observer, observer, f.refusals, 100,
                    Duration.ofMinutes(5), null);
        }
    }

    Outbound outbound(LocalWorkloads local, SpiffeId identity, boolean passthroughUnknown) {
        return LOOP.outbound(f, local, identity, passthroughUnknown);
    }

    @Test
    @DisplayName("every client, one per source identity, has the one inbound budget: a quarter of direct memory")
    void everyClientSharesOneInboundBudget() {
        LocalWorkloads local = new LocalWorkloads(f.registry, "node-1");
        Outbound o = outbound(local, OWN, false);
        try {
            SpiffeId other = SpiffeId.parse("spiffe://cluster.local/ns/zerohop/sa/other");
            o.socketFactory(OWN);
            o.socketFactory(other);
            io.zerohop.hbone.internal.UnreadBudget own = io.zerohop.hbone.internal.Inspect.inboundBudget(o.clients().get(OWN));
            assertThat(own).as("the client of one source has a budget").isNotNull();
            assertThat(io.zerohop.hbone.internal.Inspect.inboundBudget(o.clients().get(other))).as("another source's client shares it")
                    .isSameAs(own);
            long quarter = Math.max(8L << 20, Math.min(512L << 20, io.netty.util.internal.PlatformDependent.maxDirectMemory() / 4));
            assertThat(o.inboundBudget().total()).isEqualTo(quarter).isEqualTo(own.total());
            assertThat(o.inboundBudget().perSource()).isEqualTo(quarter);
        } finally {
            o.close().join();
        }
    }

    @Test
    @DisplayName("ztunnel build_request_known_dest_{local,remote}_node_hbone: HBONE to ip:port via ip:15008")
    void anHboneWorkloadOnAnyNodeGetsATunnelToItsIpOn15008() {
        for (String node : new String[] {"local-node", "remote-node"}) {
            Workload w = new Workload("ns", "test-tcp", "test-tcp", Map.of(), List.of(ip("127.0.0.2")), Workload.Protocol.HBONE,
                    node, "cluster.local");
            LocalWorkloads local = new LocalWorkloads(WorkloadRegistry.of(List.of(w), Map.of()), "local-node");
            Outbound.Request r = outbound(local, OWN, false).buildRequest(new InetSocketAddress(ip("127.0.0.1"), 41000),
                    new InetSocketAddress(ip("127.0.0.2"), 80));
            assertThat(r).as(node).isInstanceOf(Outbound.Request.Hbone.class);
            Route route = ((Outbound.Request.Hbone) r).route();
            assertThat(route.hboneAddress()).isEqualTo(new InetSocketAddress(ip("127.0.0.2"), 15008));
            assertThat(route.expectedIdentities()).isEqualTo(Set.of(w.identity()));
        }
    }

    @Test
    @DisplayName("ztunnel build_request_known_dest_{local,remote}_node_tcp: a workload without a tunnel is plain TCP")
    void aTcpWorkloadIsPassedThrough() {
        assertThat(outbound(f.local, OWN, false).buildRequest(app, new InetSocketAddress(DB_IP, 5432)))
                .isInstanceOf(Outbound.Request.Passthrough.class);
    }

    @Test
    @DisplayName("ztunnel build_request_unknown_dest is TCP; zerohop refuses unless passthroughUnknown (README)")
    void anUnknownDestinationIsRefusedUnlessPassthroughIsOn() {
        InetSocketAddress unknown = new InetSocketAddress(UNKNOWN_IP, 80);
        Outbound.Request refused = outbound(f.local, OWN, false).buildRequest(app, unknown);
        assertThat(refused).isInstanceOf(Outbound.Request.Refused.class);
        assertThat(((Outbound.Request.Refused) refused).error()).isInstanceOf(Mesh.UnknownDestinationException.class)
                // A captured connection has no Route to pass (new-user pass: "pass an explicit Route" on a --forward
                // target): the option that relays it, as the CLI and the builder spell it.
                .hasMessage("destination " + UNKNOWN_IP.getHostAddress() + ":80 is not a known mesh workload; its identity cannot be"
                        + " verified (add it to the workload registry, or relay destinations outside it as plain TCP:"
                        + " zerohop proxy --passthrough-unknown, Mesh.Builder.passthroughUnknown(true))");
        assertThat(outbound(f.local, OWN, true).buildRequest(app, unknown)).isInstanceOf(Outbound.Request.Passthrough.class);
    }

    @Test
    void theTunnelIsOpenedAsTheSourceWorkloadAndNamesTheApp() {
        Outbound.Request r = outbound(f.local, OWN, false).buildRequest(app, new InetSocketAddress(BACKEND_IP, 8080));
        Outbound.Request.Hbone h = (Outbound.Request.Hbone) r;
        assertThat(h.source()).isEqualTo(FRONTEND.identity());
        assertThat(h.route().headers()).containsEntry("forwarded", "for=\"10.1.0.3:41000\"")
                .containsKey("traceparent")
                .hasEntrySatisfying("baggage", b -> assertThat(b).contains("k8s.deployment.name=frontend"));
        assertThat(h.route().expectedIdentities()).isEqualTo(Set.of(BACKEND.identity()));
    }

    /**
     * The mesh's own identity is lent as a sidecar's is, to callers on this host; ztunnel never lends one (build_request's
     * {@code Error::UnknownSource}). Until 4 December any remote caller of a capture bound to a routable address (a
     * {@code --forward 0.0.0.0:...}, SOCKS5) was tunnelled as a PEM or SPIRE proxy's SVID (a review pass).
     */
    @Test
    void aSourceThatIsNoLocalWorkloadUsesTheOwnIdentityOnlyFromThisHost() {
        InetSocketAddress dst = new InetSocketAddress(BACKEND_IP, 8080);
        InetSocketAddress onThisHost = new InetSocketAddress(ip("127.0.0.1"), 41000);
        assertThat(((Outbound.Request.Hbone) outbound(f.local, OWN, false).buildRequest(onThisHost, dst)).source()).isEqualTo(OWN);
        InetSocketAddress remoteSource = new InetSocketAddress(REMOTE_IP, 41000);
        for (SpiffeId own : new SpiffeId[] {OWN, null}) {
            Outbound.Request r = outbound(f.local, own, false).buildRequest(remoteSource, dst);
            assertThat(r).as("a workload of another node is no source of ours, with own identity %s", own)
                    .isInstanceOf(Outbound.Request.Refused.class);
            assertThat(((Outbound.Request.Refused) r).selfCall()).isFalse();
            assertThat(((Outbound.Request.Refused) r).error()).hasMessage(own == null
                    ? "source 10.2.0.2:41000 is not a workload of this node and the proxy has no identity of its own"
                    : "source 10.2.0.2:41000 is not a workload of this node and not on this host: the proxy lends its own"
                    + " identity " + OWN + " only to callers on this host (an address of its own network namespace: another container's is not)");
        }
        assertThat(outbound(f.local, null, false).buildRequest(onThisHost, dst)).isInstanceOf(Outbound.Request.Refused.class);
    }

    /** A local workload outside the mesh (protocol TCP) gets no tunnel under its service account: ztunnel serves enrolled pods only. */
    @Test
    void aLocalWorkloadOutsideTheMeshIsRefusedAsASource() {
        Outbound.Request r = outbound(f.local, OWN, false).buildRequest(new InetSocketAddress(DB_IP, 41000),
                new InetSocketAddress(BACKEND_IP, 8080));
        assertThat(r).isInstanceOf(Outbound.Request.Refused.class);
        assertThat(((Outbound.Request.Refused) r).error()).hasMessageContaining("source 10.1.0.9:41000 is ")
                .hasMessageEndingWith(", a workload outside the mesh (protocol TCP): it gets no tunnel identity");
    }

    /**
     * ztunnel's {@code baggage(req)} sends {@code req.source}'s baggage: each workload its own, though a namespace's
     * deployments share its {@code default} service account. The first local workload of the identity was sent for all
     * until 4 December, so metrics named the wrong source workload on both sides (a review pass).
     */
    @Test
    void baggageIsTheSourceWorkloadsEvenWhenItSharesItsIdentity() {
        Workload cart = new Workload("shop", "cart", "default", Map.of("app", "cart", "version", "v1"), List.of(ip("10.1.0.4")),
                Workload.Protocol.HBONE, "a", "cluster.local");
        Workload payments = new Workload("shop", "payments", "default", Map.of("app", "payments", "version", "v7"),
                List.of(ip("10.1.0.5")), Workload.Protocol.HBONE, "a", "cluster.local");
        LocalWorkloads local = new LocalWorkloads(WorkloadRegistry.of(List.of(cart, payments, BACKEND), Map.of()), "a");
        Outbound o = outbound(local, null, false);
        InetSocketAddress dst = new InetSocketAddress(BACKEND_IP, 8080);
        for (Workload w : List.of(payments, cart)) {
            Outbound.Request.Hbone h = (Outbound.Request.Hbone) o.buildRequest(new InetSocketAddress(w.addresses().get(0), 40000), dst);
            assertThat(h.source()).isEqualTo(cart.identity());
            assertThat(h.route().headers().get("baggage")).as(w.workloadName())
                    .contains("k8s.deployment.name=" + w.workloadName(), "service.version=" + w.labels().get("version"));
            TunnelObserver observer = new TunnelObserver(local.registry(), null, null);
            assertThat(observer.labels(new io.zerohop.hbone.TunnelInfo(io.zerohop.hbone.TunnelInfo.Direction.OUTBOUND, h.source(), null,
                    null, h.route().hboneAddress(), dst, h.route().headers())).sourceWorkload()).isEqualTo(w.workloadName());
        }
        // A caller on this host borrowing the mesh's identity, which both workloads have: neither is named (a new-user pass
        // saw the first one's name on every such tunnel). With one workload of the identity, a sidecar's, it is that one.
        Outbound own = outbound(local, cart.identity(), false);
        Outbound.Request.Hbone borrowed = (Outbound.Request.Hbone) own.buildRequest(new InetSocketAddress(ip("127.0.0.1"), 40000), dst);
        assertThat(borrowed.route().headers().get("baggage")).isNull();
        LocalWorkloads sidecar = new LocalWorkloads(WorkloadRegistry.of(List.of(cart, BACKEND), Map.of()), "a");
        assertThat(((Outbound.Request.Hbone) outbound(sidecar, cart.identity(), false).buildRequest(
                new InetSocketAddress(ip("127.0.0.1"), 40000), dst)).route().headers().get("baggage"))
                .contains("k8s.deployment.name=cart");
    }

    @Test
    @DisplayName("ztunnel proxy_to: one of the proxy's own ports on this host is a self call, dropped")
    void aSelfCallIsDropped() {
        Outbound o = outbound(new LocalWorkloads(f.registry, null), OWN, true);
        InetSocketAddress app = new InetSocketAddress(ip("127.0.0.1"), 41000); // a caller on this host: the own identity's
        Outbound.Request r = o.buildRequest(app, new InetSocketAddress(ip("127.0.0.1"), 15001));
        assertThat(r).isInstanceOf(Outbound.Request.Refused.class);
        assertThat(((Outbound.Request.Refused) r).selfCall()).isTrue();
        assertThat(o.buildRequest(app, new InetSocketAddress(ip("192.0.2.1"), 15001)))
                .as("the same port elsewhere is another host's").isInstanceOf(Outbound.Request.Passthrough.class);
    }

    @Test
    void routeRefusesWhatTheRegistryCannotVouchFor() {
        Outbound o = outbound(f.local, OWN, true);
        assertThatThrownBy(() -> o.route(new InetSocketAddress(UNKNOWN_IP, 80)))
                .isInstanceOf(Mesh.UnknownDestinationException.class).hasMessageContaining("10.9.9.9:80");
        assertThatThrownBy(() -> o.route(new InetSocketAddress(DB_IP, 5432)))
                .isInstanceOf(Mesh.UnknownDestinationException.class).hasMessageContaining("plaintext workload");
        assertThat(o.route(new InetSocketAddress(REMOTE_IP, 80)).hboneAddress())
                .as("node b's declared HBONE address").isEqualTo(new InetSocketAddress(ip("192.168.0.2"), 15008));
    }

    @Test
    @DisplayName("an open builds no SpiffeId: the route's expected identity and a captured source's are the registry's instances")
    void routingReusesTheRegistrysIdentities() {
        Outbound o = outbound(f.local, OWN, false);
        SpiffeId remote = o.route(new InetSocketAddress(REMOTE_IP, 80)).expectedIdentities().iterator().next();
        assertThat(remote).isEqualTo(REMOTE.identity()).isSameAs(f.registry.identityOf(REMOTE));
        assertThat(o.route(new InetSocketAddress(REMOTE_IP, 81)).expectedIdentities().iterator().next()).isSameAs(remote);
        Outbound.Request r = o.buildRequest(app, new InetSocketAddress(REMOTE_IP, 80));
        assertThat(((Outbound.Request.Hbone) r).source()).isEqualTo(FRONTEND.identity()).isSameAs(f.registry.identityOf(FRONTEND));
    }

    @Test
    @DisplayName("baggage is the source workload's, and follows a registry change")
    void baggageFollowsTheRegistry() {
        Outbound o = outbound(f.local, OWN, false);
        InetSocketAddress dst = new InetSocketAddress(REMOTE_IP, 80);
        assertThat(((Outbound.Request.Hbone) o.buildRequest(app, dst)).route().headers().get("baggage"))
                .contains("k8s.deployment.name=frontend", "service.version=latest");
        f.registry.put(new Workload("prod", "frontend", "frontend", Map.of("app", "frontend", "version", "v2"), List.of(FRONTEND_IP),
                Workload.Protocol.HBONE, "a", "cluster.local"));
        assertThat(((Outbound.Request.Hbone) o.buildRequest(app, dst)).route().headers().get("baggage"))
                .contains("k8s.deployment.name=frontend", "service.version=v2");
        assertThat(f.local.baggageOf(REMOTE.identity())).as("reports runs on node b, not here").isNull();
        assertThat(f.local.baggageOf(null)).isNull();
    }

    @Test
    @DisplayName("the capture listener's refusal line says outbound and names both ends with identities, as the self call's")
    void aRefusalLineNamesTheDirectionAndBothEndsWithIdentities() {
        Outbound o = outbound(f.local, OWN, false);
        assertThat(o.ends(app, new InetSocketAddress(BACKEND_IP, 8080))).isEqualTo("outbound " + io.zerohop.core.Addresses.authority(app)
                + " (" + f.local.registry().identityOf(PartsFixture.FRONTEND) + ") -> " + BACKEND_IP.getHostAddress() + ":8080 ("
                + f.local.registry().identityOf(PartsFixture.BACKEND) + ")");
        assertThat(o.ends(new InetSocketAddress(ip("127.0.0.1"), 1), new InetSocketAddress(ip("10.9.9.8"), 80)))
                .as("a caller on this host tunnels as the proxy's own identity; a destination outside the registry has none")
                .isEqualTo("outbound 127.0.0.1:1 (" + OWN + ") -> 10.9.9.8:80 (no workload)");
        // A remote caller outside the registry is refused, and its line does not give it the proxy's identity.
        assertThat(o.ends(new InetSocketAddress(ip("10.9.9.9"), 1), new InetSocketAddress(ip("10.9.9.8"), 80)))
                .isEqualTo("outbound 10.9.9.9:1 (no identity) -> 10.9.9.8:80 (no workload)");
        assertThat(o.ends(new InetSocketAddress(DB_IP, 1), new InetSocketAddress(BACKEND_IP, 8080))).startsWith("outbound 10.1.0.9:1 (outside the mesh)");
    }
}
