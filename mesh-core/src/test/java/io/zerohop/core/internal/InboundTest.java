package io.zerohop.core.internal;

import static io.zerohop.core.internal.PartsFixture.DB_IP;
import static io.zerohop.core.internal.PartsFixture.BACKEND;
import static io.zerohop.core.internal.PartsFixture.BACKEND_IP;
import static io.zerohop.core.internal.PartsFixture.FRONTEND;
import static io.zerohop.core.internal.PartsFixture.FRONTEND_IP;
import static io.zerohop.core.internal.PartsFixture.LEGACY;
import static io.zerohop.core.internal.PartsFixture.REMOTE;
import static io.zerohop.core.internal.PartsFixture.REMOTE_IP;
import static io.zerohop.core.internal.PartsFixture.UNKNOWN_IP;
import static io.zerohop.core.internal.PartsFixture.connect;
import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.internal.http.HttpEnforcement;
import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.StreamHandler;
import io.zerohop.hbone.TunnelInfo;
import java.net.InetSocketAddress;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The HBONE server side's phases alone, with the statuses of istio/ztunnel src/proxy/inbound.rs
 * {@code build_inbound_request} / {@code find_inbound_upstream}: a destination not served here is
 * 400 (BAD_REQUEST), a self call to one of the proxy's own ports 503 (SERVICE_UNAVAILABLE, after the
 * 400 checks), an RBAC deny 401 (UNAUTHORIZED). End to end the same rules are covered by
 * {@code MeshTest} and {@code SelfCallTest}.
 */
class InboundTest {
    static final SpiffeId OWN = SpiffeId.parse("spiffe://cluster.local/ns/zerohop/sa/proxy");
    final PartsFixture f = new PartsFixture();
    final Inbound inbound = new Inbound(f.local, OWN, f.ownPorts, f.http, f.authorizer);
    final InetSocketAddress backend8080 = new InetSocketAddress(BACKEND_IP, 8080);
    final InetSocketAddress backendHttp = new InetSocketAddress(BACKEND_IP, 8081);
    final InetSocketAddress listener = new InetSocketAddress(BACKEND_IP, 15008);

    @Test
    void theHandshakePresentsTheDialledLocalWorkloadElseTheOwnIdentity() {
        assertThat(inbound.select(new InetSocketAddress(BACKEND_IP, 15008))).isEqualTo(BACKEND.identity());
        assertThat(inbound.select(new InetSocketAddress(REMOTE_IP, 15008))).as("another node's workload").isEqualTo(OWN);
        assertThat(inbound.select(new InetSocketAddress(UNKNOWN_IP, 15008))).isEqualTo(OWN);
        assertThat(inbound.select(new InetSocketAddress(DB_IP, 15008))).as("a local workload outside the mesh: no TLS at all").isNull();
    }

    @Test
    @DisplayName("resolve: an IP outside the registry or on another node is not served (400)")
    void notServedIs400() {
        assertThat(refusal(new InetSocketAddress(UNKNOWN_IP, 80), OWN).status()).isEqualTo(400);
        assertThat(refusal(new InetSocketAddress(REMOTE_IP, 80), REMOTE.identity()).status()).isEqualTo(400);
    }

    @Test
    @DisplayName("resolve: a local workload of another identity than the one presented is 400")
    void anotherIdentityIs400() {
        Destination.Refused r = refusal(backend8080, FRONTEND.identity());
        assertThat(r.status()).isEqualTo(400);
        assertThat(r.reason()).contains(BACKEND.identity().toString()).contains(FRONTEND.identity().toString());
    }

    /**
     * New-user pass: {@code zerohop connect --via} one workload's address to another workload got a 400 whose
     * reason did not say why. The reason names whose SVID the dialled address gave and what to dial instead.
     */
    @Test
    void anotherIdentitysRefusalSaysWhyAndWhatToDial() {
        Destination d = inbound.resolve(backend8080, FRONTEND.identity(), new InetSocketAddress(FRONTEND_IP, 15008));
        // Dialled at another workload's address: ztunnel's validate_destination refuses it before any identity check.
        assertThat(((Destination.Refused) d).reason()).isEqualTo("destination prod/backend is at 10.1.0.2, but this"
                + " connection went to 10.1.0.3 (prod/frontend's own address, whose SVID it presented): a connection to a"
                + " workload's address tunnels to that address only, as ztunnel's validate_destination; the client must"
                + " dial 10.1.0.2 (prod/backend's own address) on the HBONE port");
        Destination own = inbound.resolve(backend8080, OWN, new InetSocketAddress(UNKNOWN_IP, 15008));
        assertThat(((Destination.Refused) own).reason()).contains("but this connection presented " + OWN
                + " (this proxy's own: 10.9.9.9, the address dialled, is no local workload's)");
    }

    @Test
    @DisplayName("resolve: one of the proxy's own ports is a self call, 503 (ztunnel illegal_ports)")
    void ownPortsAre503() {
        f.ownPorts.add(15020);
        for (int port : new int[] {15008, 15006, 15001, 15080, 15020}) {
            assertThat(refusal(new InetSocketAddress(BACKEND_IP, port), BACKEND.identity()).status()).as("port " + port).isEqualTo(503);
        }
        assertThat(refusal(new InetSocketAddress(FRONTEND_IP, 15008), BACKEND.identity()).status())
                .as("the identity check comes first").isEqualTo(400);
    }

    @Test
    @DisplayName("resolve: a late-bound listener (port 0) is a self call at its own address only")
    void aLateBoundListenersNumberOnAnotherAddressIsNotASelfCall() {
        // The kernel gave the listener on 127.0.0.1 port 40123; backend's app may have 40123 too.
        f.ownPorts.addListener(new InetSocketAddress(PartsFixture.ip("127.0.0.1"), 0),
                new InetSocketAddress(PartsFixture.ip("127.0.0.1"), 40123), false);
        InetSocketAddress app = new InetSocketAddress(BACKEND_IP, 40123);
        assertThat(inbound.resolve(app, BACKEND.identity(), listener)).isEqualTo(Destination.proxy(app, BACKEND_BAGGAGE));
        // A listener bound on the wildcard is at every address of this host; BACKEND_IP is not one.
        f.ownPorts.addListener(new InetSocketAddress(0), new InetSocketAddress(PartsFixture.ip("0.0.0.0"), 40124), false);
        InetSocketAddress app2 = new InetSocketAddress(BACKEND_IP, 40124);
        assertThat(inbound.resolve(app2, BACKEND.identity(), listener)).isEqualTo(Destination.proxy(app2, BACKEND_BAGGAGE));
        // A listener that was given its port (as ztunnel's configured ones) counts at any address.
        f.ownPorts.addListener(new InetSocketAddress(PartsFixture.ip("127.0.0.1"), 40125),
                new InetSocketAddress(PartsFixture.ip("127.0.0.1"), 40125), false);
        assertThat(refusal(new InetSocketAddress(BACKEND_IP, 40125), BACKEND.identity()).status()).isEqualTo(503);
    }

    /**
     * A new-user pass: an application port that a {@code --forward} listener on another address had claimed was
     * refused as "one of this proxy's own ports", and nothing said which listener. The reason names it.
     */
    @Test
    @DisplayName("resolve: a self call's reason names the listener that claimed the port, or ztunnel's fixed ports")
    void aSelfCallNamesWhatClaimedThePort() {
        f.ownPorts.addListener(new InetSocketAddress(PartsFixture.ip("127.0.104.2"), 8080),
                new InetSocketAddress(PartsFixture.ip("127.0.104.2"), 8080), false);
        assertThat(refusal(new InetSocketAddress(BACKEND_IP, 8080), BACKEND.identity()).reason())
                .isEqualTo("self call: port 8080 is one of this proxy's own ports (this proxy's listener on 127.0.104.2:8080"
                        + " claims port 8080 on every address, as ztunnel's illegal_ports do)");
        assertThat(refusal(new InetSocketAddress(BACKEND_IP, 15001), BACKEND.identity()).reason())
                .endsWith("(one of ztunnel's fixed ports, 15008, 15006, 15001 and 15080)");
    }

    /**
     * What ztunnel's 200 carries for the destination workload (src/proxy/inbound.rs {@code build_response}, src/baggage.rs
     * {@code baggage_header_val}: cluster, namespace, workload name, service name and version).
     */
    static final String BACKEND_BAGGAGE = "k8s.cluster.name=Kubernetes,k8s.namespace.name=" + BACKEND.namespace()
            + ",k8s.deployment.name=" + BACKEND.workloadName() + ",service.name=" + TrafficLabels.canonicalService(BACKEND.labels(),
            BACKEND.workloadName()) + ",service.version=" + TrafficLabels.canonicalRevision(BACKEND.labels());

    @Test
    void aLocalWorkloadPortIsProxiedAndDecidedAtL4() {
        Destination d = inbound.resolve(backend8080, BACKEND.identity(), listener);
        assertThat(d).isEqualTo(Destination.proxy(backend8080, BACKEND_BAGGAGE));
        assertThat(HttpEnforcement.decidesPerRequest(d)).isFalse();
        assertThat(inbound.authorize(connect(FRONTEND.identity(), FRONTEND_IP, backend8080, BACKEND.identity()), d).allowed()).isTrue();
        AuthzDecision denied = inbound.authorize(connect(LEGACY, FRONTEND_IP, backend8080, BACKEND.identity()), d);
        assertThat(denied.status()).isEqualTo(401);
    }

    @Test
    void aServeRegistrationWinsEvenOutsideTheRegistry() {
        StreamHandler app = (stream, tunnel) -> {};
        InetSocketAddress dst = new InetSocketAddress(UNKNOWN_IP, 7070);
        inbound.serve(dst, app);
        Destination d = inbound.resolve(dst, OWN, listener);
        assertThat(d).isEqualTo(Destination.embedded(app));
        assertThat(HttpEnforcement.decidesPerRequest(d)).isFalse();
    }

    /**
     * A handler served at a local workload's address answers the 200 with that workload's baggage, as a proxied one does
     * (ztunnel's build_response). Helper 268: resolve giving {@code Destination.embedded(h)} without it passed every test.
     */
    @Test
    void aServedHandlerAtAWorkloadsAddressCarriesItsBaggage() {
        StreamHandler app = (stream, tunnel) -> {};
        inbound.serve(backend8080, app);
        assertThat(inbound.resolve(backend8080, BACKEND.identity(), listener)).isEqualTo(Destination.embedded(app, BACKEND_BAGGAGE));
    }

    @Test
    @DisplayName("an HTTP port with HTTP rules: the destination resolve chose reaches authorize, which leaves the decision to each request")
    void anHttpPortIsDecidedPerRequest() {
        Destination d = inbound.resolve(backendHttp, BACKEND.identity(), listener);
        assertThat(d).isInstanceOf(Destination.Embedded.class);
        assertThat(HttpEnforcement.decidesPerRequest(d)).isTrue();
        assertThat(inbound.authorize(connect(FRONTEND.identity(), FRONTEND_IP, backendHttp, BACKEND.identity()), d))
                .as("with the per-request destination").isEqualTo(AuthzDecision.allow());
        // Without it the same CONNECT meets the L4 verdict: the ALLOW rule names paths, so it matches
        // nothing at L4 and the default deny applies (ztunnel rbac.rs).
        assertThat(inbound.authorize(connect(FRONTEND.identity(), FRONTEND_IP, backendHttp, BACKEND.identity())).status())
                .as("without a destination").isEqualTo(401);
    }

    @Test
    @DisplayName("authorize decides from the destination it is given, never from an earlier resolve")
    void nothingCarriesOverBetweenConnects() {
        Destination perRequest = inbound.resolve(backendHttp, BACKEND.identity(), listener);
        Destination l4 = inbound.resolve(backend8080, BACKEND.identity(), listener);
        assertThat(inbound.authorize(connect(LEGACY, FRONTEND_IP, backend8080, BACKEND.identity()), l4).status())
                .as("an L4 destination after a per-request resolve").isEqualTo(401);
        assertThat(inbound.authorize(connect(LEGACY, FRONTEND_IP, backendHttp, BACKEND.identity())).status())
                .as("the one-argument authorize, after a per-request resolve, still meets the policy").isEqualTo(401);
        assertThat(inbound.authorize(connect(FRONTEND.identity(), FRONTEND_IP, backendHttp, BACKEND.identity()), perRequest))
                .isEqualTo(AuthzDecision.allow());
    }

    @Test
    void withoutAPolicyEngineEveryAuthenticatedPeerIsAllowed() {
        Inbound open = new Inbound(f.local, OWN, f.ownPorts, f.http, null);
        assertThat(open.authorize(connect(LEGACY, FRONTEND_IP, backend8080, BACKEND.identity()))).isEqualTo(AuthzDecision.allow());
    }

    /**
     * A policy change re-decides a tunnel as it was decided at open (ztunnel's PolicyWatcher re-runs the
     * open's assert_rbac): at L4; per request, kept (its requests are decided on their own); relayed as
     * bytes to a port with HTTP rules (not delivered per request), as an unparsed connection, where the
     * ALLOW's paths match nothing. Before 1 December that last tunnel was kept as "decided per request".
     */
    @Test
    void aPolicyChangeReDecidesEachTunnelAsItWasDecidedAtOpen() throws Exception {
        TunnelInfo l4 = new TunnelInfo(TunnelInfo.Direction.INBOUND, BACKEND.identity(), LEGACY,
                new InetSocketAddress(BACKEND_IP, 15008), new InetSocketAddress(FRONTEND_IP, 40000), backend8080, Map.of());
        assertThat(inbound.reauthorize(l4).allowed()).isFalse();
        TunnelInfo http = new TunnelInfo(TunnelInfo.Direction.INBOUND, BACKEND.identity(), FRONTEND.identity(),
                new InetSocketAddress(BACKEND_IP, 15008), new InetSocketAddress(FRONTEND_IP, 40000), backendHttp, Map.of());
        inbound.serve(backendHttp, (stream, tunnel) -> {});
        Destination d = inbound.resolve(backendHttp, BACKEND.identity(), listener);
        assertThat(HttpEnforcement.decidesPerRequest(d)).isTrue();
        io.netty.channel.embedded.EmbeddedChannel stream = new io.netty.channel.embedded.EmbeddedChannel();
        ((Destination.Embedded) d).handler().initStream(stream, http);
        assertThat(inbound.reauthorize(http).allowed()).as("every request there is decided on its own").isTrue();
        stream.finishAndReleaseAll();
        stream.close().sync();
        io.zerohop.policy.Decision raw = inbound.reauthorize(http);
        assertThat(raw.allowed()).as("the same tunnel relayed as bytes").isFalse();
        assertThat(raw.explain()).contains("default deny");
    }

    private Destination.Refused refusal(InetSocketAddress dst, SpiffeId presented) {
        Destination d = inbound.resolve(dst, presented, listener);
        assertThat(d).isInstanceOf(Destination.Refused.class);
        return (Destination.Refused) d;
    }
}
