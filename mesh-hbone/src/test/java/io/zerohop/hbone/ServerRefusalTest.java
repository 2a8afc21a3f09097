package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.netty.ClosedPort;
import io.zerohop.testing.netty.EchoServer;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.SSLException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Everything the server refuses, with the status ztunnel sends, before any byte reaches a destination. */
@Timeout(60)
class ServerRefusalTest {
    static final int DENIED_PORT = 7001;
    static final int REFUSED_503_PORT = 7002;
    static Mesh mesh;
    static EchoServer echo;
    /**
     * The upstream of the refusal tests, which no test ever reaches: its accept count stays 0. (On
     * the shared echo a previous test's connection could still be counted after a test read its
     * "before", the count moving from 1 to 2 with nothing of this test's reaching it: CI, 1 December.)
     */
    static EchoServer untouched;
    static HboneServer server;
    static HboneClient client;
    static RawH2 raw;
    static ClosedPort closed;
    static int closedPort;
    static final RecordingEvents events = new RecordingEvents();
    static final AuthzDecision DENY_ALL = AuthzDecision.deny("policy ns/deny-all", AuthzDecision.PolicyRejection.explicitlyDenied("ns", "deny-all"));
    static final AtomicReference<AuthzRequest> lastAuthz = new AtomicReference<>();
    static final AtomicReference<Destination> lastDestination = new AtomicReference<>();

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        echo = new EchoServer();
        untouched = new EchoServer();
        // Held for the class: a number freed here could go to the HBONE listener bound below, or
        // to any later bind(0), and then the "unreachable" upstream would answer.
        closed = new ClosedPort();
        closedPort = closed.port();
        DestinationResolver byAddress = (dst, id, local) -> {
            if (dst.getPort() == echo.address().getPort()) {
                return Destination.proxy(echo.address());
            }
            if (dst.getPort() == untouched.address().getPort() || dst.getPort() == DENIED_PORT) {
                return Destination.proxy(untouched.address());
            }
            if (dst.getPort() == closedPort) {
                return Destination.proxy(Mesh.loopback(closedPort));
            }
            if (dst.getPort() == REFUSED_503_PORT) {
                return Destination.refuse(503, "workload not ready");
            }
            return null;
        };
        DestinationResolver resolver = new DestinationResolver() {
            @Override
            public Destination resolve(InetSocketAddress dst, io.spiffe.spiffeid.SpiffeId id, InetSocketAddress local) {
                return byAddress.resolve(dst, id, local);
            }

            @Override
            public InetSocketAddress resolveHostname(String hostname, int port, io.spiffe.spiffeid.SpiffeId id, InetSocketAddress local) {
                if (port != 80) {
                    return null;
                }
                return switch (hostname) {
                    case "echo.example" -> echo.address();
                    case "denied.example" -> Mesh.loopback(DENIED_PORT);
                    case "broken.example" -> throw new IllegalStateException("resolver bug");
                    default -> null;
                };
            }

            @Override
            public String hostnameRefusal(String hostname, int port, io.spiffe.spiffeid.SpiffeId id, InetSocketAddress local) {
                return hostname.equals("echo.example") ? "echo.example has no port " + port : null;
            }
        };
        Authorizer authz = new Authorizer() {
            @Override
            public AuthzDecision authorize(AuthzRequest r) {
                throw new AssertionError("the server calls authorize(request, destination)");
            }

            @Override
            public AuthzDecision authorize(AuthzRequest r, Destination d) {
                lastAuthz.set(r);
                lastDestination.set(d);
                return r.destination().getPort() == DENIED_PORT ? DENY_ALL : AuthzDecision.allow();
            }
        };
        server = mesh.server(resolver).authorizer(authz).listener(events).build().start().get();
        client = mesh.client().build();
        raw = new RawH2(mesh.tls, mesh.clientId, Set.of(mesh.serverId), server.localAddress());
    }

    @AfterAll
    static void stop() {
        raw.close();
        client.close();
        server.close();
        echo.close();
        untouched.close();
        mesh.close();
        closed.close();
    }

    @BeforeEach
    void reset() {
        events.clear();
    }

    private String status(Http2Headers h) throws Exception {
        return raw.request(h).get();
    }

    private static Http2Headers connect(String authority) {
        return new DefaultHttp2Headers().method("CONNECT").authority(authority);
    }

    @Test
    void getIsRefusedWith400LikeZtunnel() throws Exception {
        String authority = "127.0.0.1:" + untouched.address().getPort();
        assertThat(status(new DefaultHttp2Headers().method("GET").scheme("https").path("/").authority(authority))).isEqualTo("400");
        RecordingEvents.Refusal r = RecordingEvents.next(events.refused);
        assertThat(r.status()).isEqualTo(400);
        assertThat(r.reason()).contains("GET");
        assertThat(r.tunnel().peerIdentity()).isEqualTo(mesh.clientId);
        assertThat(r.tunnel().localIdentity()).isEqualTo(mesh.serverId);
        assertThat(untouched.accepted.get()).isZero();
    }

    @Test
    void extendedConnectIsRefused() throws Exception {
        String authority = "127.0.0.1:" + echo.address().getPort();
        assertThat(status(connect(authority).scheme("https").path("/"))).isEqualTo("400");
    }

    @Test
    void malformedAuthoritiesAreRefusedWith400() throws Exception {
        int port = echo.address().getPort();
        for (String a : new String[] {"127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:0",
                "[::1]" + port, "::1:" + port, "127.0.0.1:80x"}) {
            assertThat(status(connect(a))).as(a).isEqualTo("400");
        }
        assertThat(RecordingEvents.next(events.refused).tunnel().destination()).isNull();
    }

    /**
     * What ztunnel reads as a service host name although it is no IP and no DNS name (istio/ztunnel src/proxy.rs
     * {@code HboneAddress::try_from}: whatever fails Rust's {@code SocketAddr} parse and has a host and a {@code u16} port
     * is {@code SvcHostname}) is looked up as one, and naming nothing served is 503 ({@code NoHostname}), as
     * {@link #hostnameNamingNothingServedIs503}. Until 7 December these were 400.
     */
    @Test
    void authoritiesZtunnelReadsAsNamesAre503() throws Exception {
        int port = untouched.address().getPort();
        for (String a : new String[] {"127.000.000.001:" + port, "127.0.0.01:" + port, "[fe80::1%eth0]:" + port, "1.2.3:" + port,
                "echo.example.:" + port}) {
            assertThat(status(connect(a))).as(a).isEqualTo("503");
        }
        assertThat(untouched.accepted.get()).isZero();
    }

    @Test
    void missingAuthorityIsRefused() throws Exception {
        // Netty's decoder lets the block through (no required-pseudo-header check is configured): the server answers 400.
        assertThat(status(new DefaultHttp2Headers().method("CONNECT"))).isEqualTo("400");
        assertThat(events.opened).isEmpty();
        // Was 'malformed :authority "null"' (a new-user pass).
        assertThat(RecordingEvents.next(events.refused).reason()).isEqualTo("no :authority (a CONNECT names its target there,"
                + " RFC 9113 section 8.5)");
        assertThat(status(new DefaultHttp2Headers().method("CONNECT").add("host", "127.0.0.1:" + echo.address().getPort())))
                .isEqualTo("400");
        assertThat(RecordingEvents.next(events.refused).reason()).isEqualTo("no :authority (a CONNECT names its target there,"
                + " RFC 9113 section 8.5; a host header does not)");
    }

    /** ztunnel src/proxy/inbound.rs: a hostname authority (HboneAddress::SvcHostname) naming no service is 503. */
    @Test
    void hostnameNamingNothingServedIs503() throws Exception {
        assertThat(status(connect("example.com:" + untouched.address().getPort()))).isEqualTo("503");
        assertThat(RecordingEvents.next(events.refused).reason()).contains("no service named example.com");
        assertThat(untouched.accepted.get()).isZero();
    }

    /**
     * A host name the resolver maps ({@link DestinationResolver#resolveHostname}) is served at that address, and the
     * authorizer and the events see the address, not the name: ztunnel's {@code find_inbound_upstream} for
     * {@code HboneAddress::SvcHostname}, whose RBAC check sees the upstream address (tests/namespaced.rs
     * {@code test_svc_hostname_port}). Until 7 December every host-name authority was 503.
     */
    @Test
    void aHostnameTheResolverMapsIsServedAndAuthorizedAtItsAddress() throws Exception {
        assertThat(status(connect("echo.example:80"))).isEqualTo("200");
        TunnelInfo opened = RecordingEvents.next(events.opened);
        assertThat(opened.destination()).isEqualTo(echo.address());
        // The name stays beside the address for telemetry (ztunnel's dst.hbone_addr and destination_service name it).
        assertThat(opened.hostname()).isEqualTo("echo.example:80");
        assertThat(lastAuthz.get().destination()).isEqualTo(echo.address());
        assertThat(status(connect("denied.example:80"))).isEqualTo("401");
        assertThat(RecordingEvents.next(events.refused).tunnel().destination()).isEqualTo(Mesh.loopback(DENIED_PORT));
        assertThat(untouched.accepted.get()).isZero();
        // The resolver answers per port: the same name on another port names nothing.
        assertThat(status(connect("echo.example:81"))).isEqualTo("503");
        // The resolver's hostnameRefusal is the reason (mesh-core tells ztunnel's NoPortForServices from NoHostname).
        assertThat(RecordingEvents.next(events.refused).reason()).isEqualTo("echo.example has no port 81");
    }

    /** A resolver that throws on a name is its 503, as one that throws on an address (never the name served anyway). */
    @Test
    void aResolverThrowingOnAHostnameIs503() throws Exception {
        assertThat(status(connect("broken.example:80"))).isEqualTo("503");
    }

    @Test
    void bracketedIpv6AuthorityIsAccepted() throws Exception {
        int port = echo.address().getPort();
        assertThat(status(connect("[::1]:" + port))).isEqualTo("200");
        assertThat(RecordingEvents.next(events.opened).destination()).isEqualTo(new InetSocketAddress("::1", port));
    }

    @Test
    void destinationNotServedIs400() throws Exception {
        assertThat(status(connect("127.0.0.1:6999"))).isEqualTo("400");
        RecordingEvents.Refusal refusal = RecordingEvents.next(events.refused);
        assertThat(refusal.reason()).contains("not served");
        assertThat(refusal.tunnel().destination().getPort()).isEqualTo(6999);
        assertThat(events.opened).noneMatch(t -> t.destination().getPort() == 6999);
    }

    @Test
    void resolverRefusalCarriesItsStatus() throws Exception {
        assertThat(status(connect("127.0.0.1:" + REFUSED_503_PORT))).isEqualTo("503");
    }

    /**
     * The client's exception says what each status can mean; for 503 a new-user pass was sent looking at
     * the destination when the server was at its pending-dial limit (maxPendingDials), so that is named too.
     */
    @Test
    void theClientsRefusalSaysWhatTheStatusMeans() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> client.connect(Mesh.loopback(REFUSED_503_PORT), mesh.expectServer(),
                        server.localAddress()).get(10, java.util.concurrent.TimeUnit.SECONDS))
                .cause().isInstanceOfSatisfying(HboneRefusedException.class, e -> {
                    assertThat(e.status()).isEqualTo(503);
                    assertThat(e.getMessage()).contains("refused with status 503").contains("could not reach the destination")
                            .contains("limit of pending upstream dials");
                });
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> client.connect(Mesh.loopback(DENIED_PORT), mesh.expectServer(),
                        server.localAddress()).get(10, java.util.concurrent.TimeUnit.SECONDS))
                .cause().isInstanceOfSatisfying(HboneRefusedException.class, e -> {
                    assertThat(e.status()).isEqualTo(401);
                    assertThat(e.getMessage()).contains(" as " + mesh.clientId + " (server " + mesh.serverId + ") refused with status 401")
                            .contains("denied at the destination: by an authorization policy, the server's authorizer");
                });
    }

    @Test
    void authorizerDenyIs401LikeZtunnelAndNoByteMoves() throws Exception {
        assertThat(status(connect("127.0.0.1:" + DENIED_PORT).add("baggage", "k8s.namespace.name=prod"))).isEqualTo("401");
        RecordingEvents.Refusal r = RecordingEvents.next(events.refused);
        assertThat(r.status()).isEqualTo(401);
        assertThat(r.reason()).isEqualTo("policy ns/deny-all");
        // The whole decision reaches the listener (mesh-core's ztunnel-format line needs its policy rejection).
        assertThat(RecordingEvents.next(events.denied)).isSameAs(DENY_ALL);
        AuthzRequest seen = lastAuthz.get();
        assertThat(seen.peer()).isEqualTo(mesh.clientId);
        assertThat(seen.localIdentity()).isEqualTo(mesh.serverId);
        assertThat(seen.destination()).isEqualTo(Mesh.loopback(DENIED_PORT));
        assertThat(seen.peerAddress().getAddress().isLoopbackAddress()).isTrue();
        assertThat(seen.headers()).containsEntry("baggage", "k8s.namespace.name=prod");
        assertThat(lastDestination.get()).as("the resolve phase's choice reaches the authorizer")
                .isEqualTo(Destination.proxy(untouched.address()));
        assertThat(untouched.accepted.get()).isZero();
    }

    @Test
    void clientSeesRefusalStatus() {
        assertThatThrownBy(() -> client.connect(Mesh.loopback(DENIED_PORT), mesh.expectServer(), server.localAddress(),
                Map.of("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")).join())
                .isInstanceOf(CompletionException.class)
                .cause().isInstanceOf(HboneRefusedException.class)
                .hasMessageContaining("401 (denied at the destination: by an authorization policy, the server's authorizer")
                .satisfies(e -> assertThat(((HboneRefusedException) e).status()).isEqualTo(401));
    }

    @Test
    void unreachableUpstreamIs503() throws Exception {
        assertThat(status(connect("127.0.0.1:" + closedPort))).isEqualTo("503");
        assertThat(RecordingEvents.next(events.refused).reason()).contains("unreachable");
    }

    @Test
    void peerFromAnotherTrustDomainFailsTls() throws Exception {
        try (InMemoryCa other = InMemoryCa.create("other.local"); MeshTls otherTls = MeshTls.builder(other).build();
             HboneClient stranger = HboneClient.builder().tls(otherTls).identity(SpiffeIds.istio("other.local", "x", "y")).threads(1).build()) {
            assertThatThrownBy(() -> stranger.connect(echo.address(), mesh.expectServer(), server.localAddress()).get())
                    .isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOf(SSLException.class);
            assertThat(RecordingEvents.next(events.failed)).isNotNull();
            assertThat(events.opened).isEmpty();
        }
    }

    /**
     * TLS 1.3: the client's handshake completes before the server checks the client certificate, so
     * the refusal is an alert on an established connection. It must surface as a TLS error, not as
     * "closed" or a broken pipe on the first CONNECT.
     */
    @Test
    void clientCertificateRefusedByTheServerFailsAsTls() throws Exception {
        InMemoryCa rogue = InMemoryCa.create("cluster.local");
        var bundles = io.spiffe.bundle.x509bundle.X509BundleSet.of(java.util.List.of(new io.spiffe.bundle.x509bundle.X509Bundle(
                rogue.trustDomain(), java.util.Set.of(rogue.root(), mesh.ca.root()))));
        try (var p = new io.zerohop.identity.testing.FixedIdentityProvider(rogue.issue(mesh.clientId), bundles);
             MeshTls rogueTls = MeshTls.builder(p).build();
             HboneClient c = HboneClient.builder().tls(rogueTls).identity(mesh.clientId).threads(1).build()) {
            assertThatThrownBy(() -> c.connect(echo.address(), mesh.expectServer(), server.localAddress()).get())
                    .isInstanceOf(ExecutionException.class)
                    .satisfies(e -> assertThat(hasCause(e, SSLException.class)).as("cause chain of %s", e).isTrue());
            assertThat(events.opened).isEmpty();
        }
    }

    static boolean hasCause(Throwable t, Class<? extends Throwable> type) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (type.isInstance(c)) {
                return true;
            }
        }
        return false;
    }

    @Test
    void acceptedTunnelAfterRefusalsStillWorks() throws Exception {
        try (HboneSocket s = client.connectSocket(echo.address(), mesh.expectServer(), server.localAddress(), java.time.Duration.ofSeconds(10))) {
            s.getOutputStream().write(42);
            assertThat(s.getInputStream().read()).isEqualTo(42);
        }
    }
}
