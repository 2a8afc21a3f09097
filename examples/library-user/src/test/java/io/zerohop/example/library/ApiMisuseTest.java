package io.zerohop.example.library;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.DestinationResolver;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.Destination;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import io.zerohop.hbone.Route;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.TestMesh;
import io.zerohop.testing.ZerohopTest;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Mistakes a new user makes, and what the public API answers. Each test names what was done and
 * what a user should get: a message naming the mistake, at the earliest moment it can be known.
 */
@ZerohopTest
class ApiMisuseTest {

    // ---- builders: wrong values fail at the setter, naming the setting ----

    @Test
    void meshBuilderRefusesWrongValuesNamingThem() {
        assertThatThrownBy(() -> Mesh.builder().threads(0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("threads");
        assertThatThrownBy(() -> Mesh.builder().drain(Duration.ofSeconds(-1))).hasMessageContaining("drain");
        assertThatThrownBy(() -> Mesh.builder().idleTimeout(Duration.ofMillis(-1))).hasMessageContaining("idleTimeout"); // zero: never
        assertThatThrownBy(() -> Mesh.builder().maxStreamsPerConnection(0)).hasMessageContaining("maxStreamsPerConnection");
        assertThatThrownBy(() -> Mesh.builder().trustDomain("Not A Domain")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void meshBuilderNullsNameTheSetting() {
        assertThatThrownBy(() -> Mesh.builder().identityProvider(null)).isInstanceOf(NullPointerException.class)
                .hasMessageContaining("identity provider");
        assertThatThrownBy(() -> Mesh.builder().drain(null)).isInstanceOf(NullPointerException.class).hasMessageContaining("drain");
        assertThatThrownBy(() -> Mesh.builder().idleTimeout(null)).isInstanceOf(NullPointerException.class).hasMessageContaining("idleTimeout");
        assertThatThrownBy(() -> Mesh.builder().metricsInterval(null)).isInstanceOf(NullPointerException.class)
                .hasMessageContaining("metricsInterval");
        assertThatThrownBy(() -> Mesh.builder().trustDomain(null)).hasMessageContaining("trust domain");
    }

    @Test
    void meshBuilderRefusesAnUnresolvedInboundAddress() {
        assertThatThrownBy(() -> Mesh.builder().inbound(InetSocketAddress.createUnresolved("orders.invalid", 15008)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("orders.invalid");
    }

    @Test
    void meshIdentityOutsideTheProvidersTrustDomainFailsAtBuild(TestMesh t) {
        // Before: it built and started; readiness stayed "pending: identity" with one WARN line, and
        // every connect failed later.
        SpiffeId foreign = SpiffeId.parse("spiffe://partner.example/ns/shop/sa/web");
        assertThatThrownBy(() -> Mesh.builder().identityProvider(t.ca()).identity(foreign).threads(1).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(foreign.toString())
                .hasMessageContaining("not in trust domain cluster.local");
        assertThatThrownBy(() -> Mesh.builder().identity(foreign).threads(1).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("fallback in-memory CA");
    }

    @Test
    void hboneServerBuilderNamesWhatIsMissingOrWrong(TestMesh t) {
        assertThatThrownBy(() -> HboneServer.builder().build()).isInstanceOf(IllegalStateException.class).hasMessageContaining("tls(MeshTls)");
        assertThatThrownBy(() -> HboneServer.builder().tls(t.tls()).build()).hasMessageContaining("identity(SpiffeId)");
        assertThatThrownBy(() -> HboneServer.builder().tls(t.tls()).identity(t.identity("shop", "a")).build())
                .hasMessageContaining("destinations(DestinationResolver)");
        assertThatThrownBy(() -> HboneServer.builder().tls(t.tls()).identity(t.identity("shop", "a"))
                .destinations(DestinationResolver.sameIp()).build()).hasMessageContaining("authorizer(Authorizer)");
        assertThatThrownBy(() -> servable(t).streamWindow(1000).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("stream window");
        assertThatThrownBy(() -> servable(t).maxFrameSize(100).build())
                .hasMessageContaining("max frame size");
        assertThatThrownBy(() -> servable(t).outboundBudget(1, 0).build())
                .hasMessageContaining("per peer");
    }

    private static HboneServer.Builder servable(TestMesh t) {
        return t.serverBuilder(t.identity("shop", "a")).destinations(DestinationResolver.sameIp());
    }

    @Test
    void hboneServerPendingDialLimitsBelowOneAreRefusedNotReplacedByTheDefault(TestMesh t) {
        // maxPendingDials' first argument <= 0 used to mean "the default" silently, so a typo such as
        // -1 (meant: none) or 0 ran with maxConcurrentStreams (200) pending dials per connection.
        assertThatThrownBy(() -> t.serverBuilder(t.identity("shop", "a")).maxPendingDials(0, 512, 1024))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxPendingDials");
        assertThatThrownBy(() -> t.serverBuilder(t.identity("shop", "a")).maxPendingDials(-1, 512, 1024))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxPendingDials");
    }

    @Test
    void hboneClientBuilderNamesWhatIsMissing(TestMesh t) {
        assertThatThrownBy(() -> HboneClient.builder().build()).isInstanceOf(IllegalStateException.class).hasMessageContaining("tls(MeshTls)");
        assertThatThrownBy(() -> HboneClient.builder().tls(t.tls()).build()).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("identity(SpiffeId)");
    }

    @Test
    void inMemoryCaRefusesWrongValues() {
        assertThatThrownBy(() -> InMemoryCa.create("cluster local")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cluster local");
        // java-spiffe folds an upper-case trust domain; the CA refuses it as Mesh.Builder.trustDomain does (it folded it
        // until 3 December, so a CA was made for a trust domain the mesh beside it refused).
        assertThatThrownBy(() -> InMemoryCa.create("Cluster.Local")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not in canonical form");
        assertThatThrownBy(() -> InMemoryCa.builder().build()).hasMessageContaining("trustDomain");
        assertThatThrownBy(() -> InMemoryCa.builder().svidTtl(null)).isInstanceOf(NullPointerException.class).hasMessageContaining("svidTtl");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        assertThatThrownBy(() -> ca.issue(SpiffeIds.istio("partner.example", "shop", "web")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("partner.example");
    }

    @Test
    void inMemoryCaRefusesANonPositiveTtlInsteadOfIssuingAnExpiredSvid() {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        assertThatThrownBy(() -> ca.issue(SpiffeIds.istio("cluster.local", "shop", "web"), Duration.ofMinutes(-5)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("ttl must be positive");
        assertThatThrownBy(() -> ca.issue(SpiffeIds.istio("cluster.local", "shop", "web"), Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("ttl must be positive");
    }

    @Test
    void spiffeIdsRefuseMalformedIds() {
        // A trust domain's own ID is a SPIFFE ID (no workload: the handshake refuses it as a leaf).
        assertThat(SpiffeIds.parse("spiffe://cluster.local").getPath()).isEmpty();
        assertThatThrownBy(() -> SpiffeIds.parse("http://cluster.local/ns/a/sa/b")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("http://cluster.local/ns/a/sa/b");
        assertThatThrownBy(() -> SpiffeIds.parse("spiffe://Cluster.Local/ns/a/sa/b")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("canonical");
        assertThatThrownBy(() -> SpiffeIds.parse(null)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("null");
        assertThatThrownBy(() -> SpiffeIds.istio("cluster.local", "", "web")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("namespace \"\"");
        assertThatThrownBy(() -> SpiffeIds.istio("cluster.local", "shop/x", "web")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("shop/x");
    }

    @Test
    void aWorkloadThatMakesNoSpiffeIdFailsWhenBuiltNotWhenFirstUsed() throws Exception {
        List<InetAddress> ip = List.of(InetAddress.getByName("192.0.2.1"));
        assertThatThrownBy(() -> new Workload("shop", "web", "web", Map.of(), ip, Workload.Protocol.HBONE, null, "Cluster Local"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("shop/web").hasMessageContaining("Cluster Local");
        assertThatThrownBy(() -> new Workload("shop", "web", "web/admin", Map.of(), ip, Workload.Protocol.HBONE, null, "cluster.local"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("web/admin");
    }

    // ---- wrong order: connect before start, serve after close, twice ----

    @Test
    void connectWithoutAnIdentitySaysHowToGiveOne(TestMesh t) {
        Mesh mesh = t.closeLater(Mesh.builder().identityProvider(t.ca()).threads(1).build());
        assertThatThrownBy(() -> mesh.connect(new InetSocketAddress("192.0.2.1", 80))).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("identity");
        assertThatThrownBy(() -> mesh.socketFactory()).isInstanceOf(IllegalStateException.class).hasMessageContaining("identity");
    }

    @Test
    void connectingToAnAddressOutsideTheRegistryNeverDialsInPlaintext(TestMesh t) {
        Mesh mesh = t.closeLater(Mesh.builder().identityProvider(t.ca()).identity(t.identity("shop", "web")).threads(1).build());
        assertThatThrownBy(() -> mesh.connect(new InetSocketAddress("192.0.2.1", 80)).get(10, TimeUnit.SECONDS))
                .hasCauseInstanceOf(Mesh.UnknownDestinationException.class);
        // An IOException, as HTTP clients and JDBC drivers expect of a SocketFactory (it was the
        // unchecked UnknownDestinationException itself, which escaped their error handling).
        assertThatThrownBy(() -> mesh.socketFactory().createSocket("192.0.2.1", 80))
                .isInstanceOf(java.net.ConnectException.class).hasMessageContaining("192.0.2.1")
                .hasCauseInstanceOf(Mesh.UnknownDestinationException.class);
    }

    @Test
    void nullArgumentsAreNamed(TestMesh t) {
        Mesh mesh = t.closeLater(Mesh.builder().identityProvider(t.ca()).identity(t.identity("shop", "web")).threads(1).build());
        assertThatThrownBy(() -> mesh.connect(null)).isInstanceOf(NullPointerException.class).hasMessageContaining("target");
        assertThatThrownBy(() -> mesh.connect(t.identity("shop", "web"), null)).isInstanceOf(NullPointerException.class)
                .hasMessageContaining("target");
        assertThatThrownBy(() -> mesh.serve(null, new HboneServerSocket())).isInstanceOf(NullPointerException.class)
                .hasMessageContaining("destination");
        assertThatThrownBy(() -> mesh.serve(new InetSocketAddress("192.0.2.1", 80), null)).isInstanceOf(NullPointerException.class)
                .hasMessageContaining("handler");
        assertThatThrownBy(() -> mesh.capture(null)).isInstanceOf(NullPointerException.class).hasMessageContaining("capture");
        assertThatThrownBy(() -> new Route(new InetSocketAddress("127.0.0.1", 15008), (Set<SpiffeId>) null, Map.of()))
                .isInstanceOf(NullPointerException.class).hasMessageContaining("expectedIdentities");
        // A new-user pass: these threw NullPointerExceptions with no message, or the JDK's about an internal variable.
        assertThatThrownBy(() -> mesh.capture(null)).isInstanceOf(NullPointerException.class).hasMessage("capture");
        assertThatThrownBy(() -> mesh.plaintextInbound(null)).isInstanceOf(NullPointerException.class).hasMessage("capture");
        assertThatThrownBy(() -> new Route(new InetSocketAddress("127.0.0.1", 15008), (SpiffeId) null))
                .isInstanceOf(NullPointerException.class).hasMessage("expected");
        assertThatThrownBy(() -> new Route(null, (SpiffeId) null)).isInstanceOf(NullPointerException.class).hasMessage("expected");
        java.util.Set<SpiffeId> withNull = new java.util.HashSet<>();
        withNull.add(null);
        assertThatThrownBy(() -> new Route(new InetSocketAddress("127.0.0.1", 15008), withNull, Map.of()))
                .isInstanceOf(NullPointerException.class).hasMessage("expectedIdentities: a null identity");
        assertThatThrownBy(() -> WorkloadRegistry.of(null, null)).isInstanceOf(NullPointerException.class).hasMessage("workloads");
    }

    @Test
    void anUnresolvedTargetIsRefusedSayingWhy(TestMesh t) {
        // A new-user pass: the future failed with "Cannot invoke Object.equals(Object) because o is null".
        Mesh mesh = t.closeLater(Mesh.builder().identityProvider(t.ca()).identity(t.identity("shop", "web")).threads(1).build());
        InetSocketAddress host = InetSocketAddress.createUnresolved("a.shop", 8080);
        for (org.assertj.core.api.ThrowableAssert.ThrowingCallable call : List.<org.assertj.core.api.ThrowableAssert.ThrowingCallable>of(
                () -> mesh.connect(host), () -> mesh.connect(t.identity("shop", "web"), host), () -> mesh.route(host))) {
            assertThatThrownBy(call).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("target a.shop:8080 is unresolved: zerohop routes by workload IP address, so resolve it first"
                            + " (new InetSocketAddress(InetAddress.getByName(host), port))");
        }
    }

    @Test
    void startTwiceBindsOneListener(TestMesh t) throws Exception {
        Mesh mesh = t.closeLater(Mesh.builder().identityProvider(t.ca()).identity(t.identity("shop", "web"))
                .inbound(new InetSocketAddress("127.0.0.1", 0)).threads(1).build());
        mesh.start().get(10, TimeUnit.SECONDS);
        InetSocketAddress first = mesh.inboundAddress();
        mesh.start().get(10, TimeUnit.SECONDS);
        assertThat(mesh.start()).isSameAs(mesh.start());
        assertThat(mesh.inboundAddress()).isEqualTo(first);
    }

    @Test
    void aTakenPortFailsStartNamingTheAddress(TestMesh t) throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            InetSocketAddress addr = new InetSocketAddress(InetAddress.getLoopbackAddress(), taken.getLocalPort());
            Mesh mesh = t.closeLater(Mesh.builder().identityProvider(t.ca()).identity(t.identity("shop", "web"))
                    .inbound(addr).threads(1).build());
            // An IOException naming the address (the root cause is Netty's native error on epoll, a
            // BindException on NIO: catch IOException, not BindException).
            assertThatThrownBy(() -> mesh.start().get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .hasCauseInstanceOf(java.io.IOException.class)
                    .satisfies(e -> assertThat(e.getCause().getMessage()).contains("127.0.0.1:" + taken.getLocalPort())
                            .contains("Address already in use"));
        }
    }

    @Test
    void hboneServerCloseTwiceIsHarmless(TestMesh t) throws Exception {
        HboneServer server = t.echoHboneServer(t.identity("shop", "x"));
        server.close();
        assertThatCode(server::close).doesNotThrowAnyException();
    }

    private static Mesh closedMesh(TestMesh t) {
        Mesh mesh = Mesh.builder().identityProvider(t.ca()).identity(t.identity("shop", "web")).threads(1).drain(Duration.ZERO).build();
        mesh.close();
        return mesh;
    }

    @Test
    void meshCloseTwiceIsHarmless(TestMesh t) {
        assertThatCode(closedMesh(t)::close).doesNotThrowAnyException();
    }

    @Test
    void useAfterCloseFailsSayingTheMeshIsClosed(TestMesh t) {
        Mesh mesh = closedMesh(t);
        assertThatThrownBy(() -> mesh.serve(new InetSocketAddress("192.0.2.1", 80), new HboneServerSocket()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        assertThatThrownBy(() -> mesh.start().get(10, TimeUnit.SECONDS)).hasMessageContaining("closed");
    }

    /**
     * New-user pass: a mesh closed before it was ever ready left {@code ready()} pending for good, so a
     * {@code mesh.ready().get()} without a timeout never returned (pendingReadiness: listeners, draining).
     */
    @Test
    void readyOfAMeshClosedBeforeItWasReadyFailsInsteadOfWaitingForever(TestMesh t) throws Exception {
        Mesh mesh = Mesh.builder().identityProvider(t.ca()).identity(t.identity("shop", "web"))
                .inbound(new InetSocketAddress("127.0.0.1", 0)).threads(1).drain(Duration.ZERO).build();
        java.util.concurrent.CompletableFuture<Void> before = mesh.ready();
        assertThat(mesh.pendingReadiness()).contains("listeners");
        mesh.close();
        for (java.util.concurrent.CompletableFuture<Void> ready : List.of(before, mesh.ready())) {
            assertThatThrownBy(() -> ready.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .hasCauseInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("this mesh was closed before it was ready (pending: listeners)");
        }
        Mesh started = t.closeLater(Mesh.builder().identityProvider(t.ca()).identity(t.identity("shop", "web"))
                .inbound(new InetSocketAddress("127.0.0.1", 0)).threads(1).drain(Duration.ZERO).build());
        started.start().get(10, TimeUnit.SECONDS);
        started.ready().get(10, TimeUnit.SECONDS);
        started.close();
        assertThat(started.ready()).as("ready once stays ready").isCompleted();
    }

    @Test
    void anHboneServerSocketAcceptsWithinItsTimeoutAndThrowsOnceClosed() throws Exception {
        HboneServerSocket sockets = new HboneServerSocket();
        sockets.setSoTimeout(50);
        assertThatThrownBy(sockets::accept).isInstanceOf(java.net.SocketTimeoutException.class);
        sockets.close();
        assertThat(sockets.isClosed()).isTrue();
        assertThatThrownBy(sockets::accept).isInstanceOf(java.net.SocketException.class);
    }

    @Test
    void hboneConnectSocketWithANullTimeoutFailsBeforeOpeningATunnel(TestMesh t) throws Exception {
        HboneServer server = t.echoHboneServer(t.identity("shop", "x"));
        HboneClient client = t.client(t.identity("shop", "web"));
        assertThatThrownBy(() -> client.connectSocket(new InetSocketAddress("127.0.0.1", 1), Set.of(t.identity("shop", "x")),
                server.localAddress(), null)).isInstanceOf(NullPointerException.class).hasMessageContaining("timeout");
    }

    @Test
    void theWrongExpectedServerIdentityIsATlsFailureNamingBoth(TestMesh t) throws Exception {
        HboneServer server = t.echoHboneServer(t.identity("shop", "orders"));
        HboneClient client = t.client(t.identity("shop", "web"));
        assertThatThrownBy(() -> client.connectSocket(new InetSocketAddress("127.0.0.1", 1), Set.of(t.identity("shop", "payments")),
                server.localAddress(), Duration.ofSeconds(10)))
                .isInstanceOf(javax.net.ssl.SSLHandshakeException.class)
                .hasMessageContaining("spiffe://cluster.local/ns/shop/sa/orders")
                .hasMessageContaining("spiffe://cluster.local/ns/shop/sa/payments");
    }

    @Test
    void aSocketFactoryRouteOfNullIsAConnectExceptionAsDocumented(TestMesh t) {
        HboneClient client = t.client(t.identity("shop", "web"));
        assertThatThrownBy(() -> client.socketFactory(dst -> null).createSocket("192.0.2.1", 80))
                .isInstanceOf(java.net.ConnectException.class);
    }

    @Test
    void hboneServerStartsOnceAndAClosedClientSaysSo(TestMesh t) throws Exception {
        HboneServer server = t.closeLater(t.serverBuilder(t.identity("shop", "x")).destinations(DestinationResolver.sameIp()).build());
        assertThat(server.localAddress()).isNull();
        server.start().get(10, TimeUnit.SECONDS);
        InetSocketAddress first = server.localAddress();
        // Before: the second start bound another port and the first listener stayed open, unowned.
        assertThat(server.start()).isSameAs(server.start());
        assertThat(server.localAddress()).isEqualTo(first);

        HboneClient client = HboneClient.builder().tls(t.tls()).identity(t.identity("shop", "web")).threads(1).build();
        client.close();
        assertThatThrownBy(() -> client.connect(new InetSocketAddress("127.0.0.1", 1), Set.of(t.identity("shop", "x")), first)
                .get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(java.io.IOException.class).hasMessageContaining("closed");
    }

    @Test
    void anEmbeddedHandlerThatCannotFinishItsResponseAbortsItAndTheClientSeesAReset(TestMesh t) throws Exception {
        SpiffeId orders = t.identity("shop", "orders");
        // The handler's mistake-prone path: it writes part of a response, then fails. close() reads
        // as a clean end on the client (RST_STREAM CANCEL, as ztunnel reads it), so only reset says "cut".
        HboneServer closing = t.start(t.serverBuilder(orders).destinations((dst, id, local) -> Destination.embedded((stream, info) ->
                stream.writeAndFlush(Unpooled.copiedBuffer("partial", StandardCharsets.US_ASCII)).addListener(f -> stream.close()))));
        HboneServer aborting = t.start(t.serverBuilder(orders).destinations((dst, id, local) -> Destination.embedded((stream, info) ->
                stream.writeAndFlush(Unpooled.copiedBuffer("partial", StandardCharsets.US_ASCII))
                        .addListener(f -> HboneStream.reset(stream)))));
        HboneClient client = t.client(t.identity("shop", "web"));
        InetSocketAddress target = new InetSocketAddress("192.0.2.50", 8080);
        try (HboneSocket s = client.connectSocket(target, Set.of(orders), closing.localAddress(), Duration.ofSeconds(10))) {
            s.setSoTimeout(10_000);
            assertThat(s.getInputStream().readAllBytes()).asString(StandardCharsets.US_ASCII).isEqualTo("partial");
        }
        try (HboneSocket s = client.connectSocket(target, Set.of(orders), aborting.localAddress(), Duration.ofSeconds(10))) {
            s.setSoTimeout(10_000);
            assertThatThrownBy(() -> s.getInputStream().readAllBytes()).isInstanceOf(java.net.SocketException.class)
                    .hasMessageContaining("reset");
        }
    }

    @Test
    void expiredPemFilesAreRefusedAtBuildSayingSo(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        java.time.Instant now = java.time.Instant.now();
        // issue(LeafSpec) signs exactly the validity it is given: here one that ended an hour ago.
        io.zerohop.identity.IssuedCertificate expired = ca.issue(io.zerohop.identity.LeafSpec.svid(
                "spiffe://cluster.local/ns/shop/sa/web", now.minus(Duration.ofHours(2)), now.minus(Duration.ofHours(1))));
        java.nio.file.Files.writeString(dir.resolve("cert.pem"), expired.chainPem());
        java.nio.file.Files.writeString(dir.resolve("key.pem"), expired.keyPem());
        java.nio.file.Files.writeString(dir.resolve("bundle.pem"), io.zerohop.identity.Pem.certificates(List.of(ca.root())));
        assertThatThrownBy(() -> io.zerohop.identity.PemFileIdentityProvider.builder().certificateChain(dir.resolve("cert.pem"))
                .privateKey(dir.resolve("key.pem")).trustBundle(dir.resolve("bundle.pem")).watch(false).build())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("cert.pem").hasMessageContaining("expired");
    }

    @Test
    void aMalformedPolicyIsRefusedWithFileLineAndField() {
        String typo = OrdersServiceTest.POLICY.replace("action: ALLOW", "acton: ALLOW");
        assertThatThrownBy(() -> io.zerohop.policy.PolicyLoader.fromString("orders-policy.yaml", typo))
                .isInstanceOf(io.zerohop.policy.PolicyLoadException.class)
                .hasMessageContaining("orders-policy.yaml:").hasMessageContaining("acton");
    }

    /** apiuser's finding: a forgotten sourceAddress was 0.0.0.0, which escaped every DENY on ipBlocks. */
    @Test
    void anAccessRequestWithoutASourceAddressIsRefusedNotDecidedAs0000() throws Exception {
        String denyTenDot = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-ten, namespace: shop}
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source: {ipBlocks: ["10.0.0.0/8"]}
                """;
        io.zerohop.policy.PolicyEngine engine = io.zerohop.policy.PolicyEngine.builder()
                .policies(io.zerohop.policy.PolicyLoader.fromString("deny.yaml", denyTenDot)).build();
        io.zerohop.policy.WorkloadRef orders = new io.zerohop.policy.WorkloadRef("shop", "orders", "orders", Map.of());
        assertThat(engine.evaluate(io.zerohop.policy.AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/shop/sa/web")
                .sourceAddress("10.1.2.3").destinationAddress("10.9.9.9").destinationPort(8080).destination(orders).build())
                .allowed()).isFalse();
        assertThatThrownBy(() -> io.zerohop.policy.AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/shop/sa/web")
                .destinationAddress("10.9.9.9").destinationPort(8080).destination(orders).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sourceAddress");
    }

    @Test
    void anSvidIsKeptBeforeHalfItsLifeAndReissuedAfter() throws Exception {
        java.time.Instant[] now = {java.time.Instant.parse("2026-12-01T12:00:00Z")};
        java.time.Clock clock = new java.time.Clock() {
            @Override
            public java.time.ZoneId getZone() {
                return java.time.ZoneOffset.UTC;
            }

            @Override
            public java.time.Clock withZone(java.time.ZoneId zone) {
                return this;
            }

            @Override
            public java.time.Instant instant() {
                return now[0];
            }
        };
        InMemoryCa ca = InMemoryCa.builder().trustDomain("cluster.local").svidTtl(Duration.ofMinutes(10)).clock(clock).build();
        SpiffeId web = SpiffeIds.istio("cluster.local", "shop", "web");
        var first = ca.svid(web).get();
        now[0] = now[0].plus(Duration.ofMinutes(4));
        // before half of the 10 minutes it was issued for, counted from its issue (its NotBefore is back-dated 2 min, as
        // istiod's; until 5 December half-way was counted from that NotBefore, 4 min after the issue): kept
        assertThat(ca.svid(web).get()).isSameAs(first);
        now[0] = now[0].plus(Duration.ofSeconds(61));
        var second = ca.svid(web).get(); // past half: re-issued
        assertThat(second.getLeaf().getSerialNumber()).isNotEqualTo(first.getLeaf().getSerialNumber());
        assertThat(second.getLeaf().getNotAfter().toInstant()).isEqualTo(now[0].plus(Duration.ofMinutes(10)));
    }

    /** The orders service with no policy, at 192.0.2.30 behind its HBONE listener on an ephemeral port. */
    private static OrdersService startOrders(TestMesh t) throws Exception {
        Workload orders = ordersWorkload();
        return OrdersService.start(t.ca(), WorkloadRegistry.of(List.of(orders), Map.of()), orders, "n", null,
                new InetSocketAddress("127.0.0.1", 0));
    }

    private static Workload ordersWorkload() throws java.net.UnknownHostException {
        return new Workload("shop", "orders", "orders", Map.of("app", "orders"), List.of(InetAddress.getByName("192.0.2.30")),
                Workload.Protocol.HBONE, "n", TestMesh.TRUST_DOMAIN);
    }

    /** A "web" caller whose registry places the orders service behind {@code service}'s listener. */
    private static Mesh callerOf(TestMesh t, OrdersService service) throws Exception {
        return t.closeLater(Mesh.builder().identityProvider(t.ca()).identity(t.identity("shop", "web"))
                .workloads(WorkloadRegistry.of(List.of(ordersWorkload()), Map.of("n", service.hboneAddress()))).threads(1).build());
    }

    @Test
    void aBlockingReadInAConnectCallbackFailsAtOnceInsteadOfStallingTheLoop(TestMesh t) throws Exception {
        try (OrdersService service = startOrders(t)) {
            Mesh caller = callerOf(t, service);
            // The mistake: blocking in a callback of the future, which runs on the event loop that
            // has to deliver the bytes. Before, the read waited out its timeout with the loop stalled.
            String outcome = caller.connect(service.appAddress()).thenApply(stream -> {
                try (HboneSocket s = stream.toSocket()) {
                    s.setSoTimeout(5_000);
                    return "read returned " + s.getInputStream().read();
                } catch (java.net.SocketTimeoutException e) {
                    return "timed out: " + e;
                } catch (java.io.IOException e) {
                    return e.getMessage();
                }
            }).get(20, TimeUnit.SECONDS);
            assertThat(outcome).contains("blocking read on the event loop").contains("thenApplyAsync");
        }
    }

    /**
     * The write side of the read case above (new-user pass): a write larger than the tunnel's flow-control window,
     * made in a connect future's callback, waited for a writability that only this very loop could bring (the
     * peer's WINDOW_UPDATE is read by it), so the loop and every tunnel on it stalled for good.
     */
    @Test
    void aBlockingWriteInAConnectCallbackFailsAtOnceInsteadOfStallingTheLoop(TestMesh t) throws Exception {
        try (OrdersService service = startOrders(t)) {
            Mesh caller = callerOf(t, service);
            String outcome = caller.connect(service.appAddress()).thenApply(stream -> {
                try (HboneSocket s = stream.toSocket()) {
                    s.getOutputStream().write(new byte[8 << 20]);
                    return "wrote 8 MiB";
                } catch (java.io.IOException e) {
                    return e.getMessage();
                }
            }).get(20, TimeUnit.SECONDS);
            assertThat(outcome).contains("blocking write on the event loop").contains("thenApplyAsync");
            // The loop is free: the same caller still works from a thread of its own.
            assertThat(OrdersClient.order(caller, service.appAddress(), "8")).startsWith("order 8 for");
        }
    }

    @Test
    void aBlockingConnectInAConnectCallbackFailsAtOnceInsteadOfStallingTheLoop(TestMesh t) throws Exception {
        try (OrdersService service = startOrders(t)) {
            Mesh caller = callerOf(t, service);
            // The same mistake with a second call: the new tunnel would go over the pooled connection
            // whose loop runs this callback. Before, it waited out the 10 s connect timeout.
            String outcome = caller.connect(service.appAddress()).thenApply(first -> {
                first.reset();
                try (java.net.Socket s = caller.socketFactory().createSocket(service.appAddress().getAddress(), 8080)) {
                    return "connected " + s;
                } catch (java.io.IOException e) {
                    return e.getMessage();
                }
            }).get(20, TimeUnit.SECONDS);
            assertThat(outcome).contains("blocking socket connect on an event loop");
            // From a thread of one's own, the same call works.
            assertThat(OrdersClient.order(caller, service.appAddress(), "7")).startsWith("order 7 for");
        }
    }

    @Test
    void aMeshIsUsableFromManyThreadsAtOnce(TestMesh t) throws Exception {
        try (OrdersService service = startOrders(t)) {
            Mesh caller = callerOf(t, service);
            int n = 16;
            List<java.util.concurrent.CompletableFuture<String>> answers = new java.util.ArrayList<>();
            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            for (int i = 0; i < n; i++) {
                String id = String.valueOf(i);
                answers.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                    try {
                        go.await();
                        return OrdersClient.order(caller, service.appAddress(), id);
                    } catch (Exception e) {
                        throw new java.util.concurrent.CompletionException(e);
                    }
                }, runnable -> new Thread(runnable).start()));
            }
            go.countDown();
            for (int i = 0; i < n; i++) {
                assertThat(answers.get(i).get(20, TimeUnit.SECONDS)).isEqualTo("order " + i + " for " + t.identity("shop", "web"));
            }
        }
    }
}
