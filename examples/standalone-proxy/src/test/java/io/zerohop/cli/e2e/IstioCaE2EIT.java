package io.zerohop.cli.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Metadata;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.identity.Csr;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.FakeIstioCa;
import io.zerohop.testing.netty.ClosedPort;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 13: {@code zerohop proxy --istio-ca} (the shaded CLI in a child JVM) against
 * zerohop-testing's {@link FakeIstioCa}, real gRPC over TLS on loopback. The node proxy serves two
 * pods with different service accounts; each SVID comes from the CA through one request carrying the
 * node proxy's own token and, as ztunnel in shared mode (istio/ztunnel src/identity/caclient.rs),
 * the {@code ImpersonatedIdentity} metadata istiod's node authorizer checks (istio/istio
 * security/pkg/server/ca/server.go). A wrong token and an unreachable CA stop the proxy with one
 * line and exit code 4. Loopback only, no root needed.
 */
@Timeout(120)
class IstioCaE2EIT {
    static final String TOKEN = "node-proxy-token";
    static final SpiffeId FRONTEND = SpiffeIds.istio("cluster.local", "prod", "frontend");
    static final SpiffeId BACKEND = SpiffeIds.istio("cluster.local", "prod", "backend");
    static final SpiffeId REVIEWS = SpiffeIds.istio("cluster.local", "prod", "reviews");
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    static final Metadata.Key<String> CLUSTER_ID = Metadata.Key.of("clusterid", Metadata.ASCII_STRING_MARSHALLER);

    static InMemoryCa ca;
    static FakeIstioCa istiod;
    static Path work;
    static Path root;

    @BeforeAll
    static void istiod() throws Exception {
        work = Files.createDirectories(Path.of(NodeProxyE2EIT.required("zerohop.e2e.workDir"), "istio-ca-" + System.nanoTime()));
        ca = InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build();
        istiod = new FakeIstioCa(ca, TOKEN, Files.createDirectories(work.resolve("istiod-tls")));
        // istiod with CA_TRUSTED_NODE_ACCOUNTS=istio-system/ztunnel: the token is node-a's ztunnel pod's, and
        // backend and reviews have pods on node-a, so it may ask for both (node_auth.go).
        FakeIstioCa.Pod ztunnel = new FakeIstioCa.Pod("istio-system", "ztunnel-a", "uid-zt-a", "ztunnel", "node-a");
        istiod.nodeAuthorization(new FakeIstioCa.NodeAuthorization(java.util.Set.of("istio-system/ztunnel"), ztunnel,
                List.of(ztunnel, new FakeIstioCa.Pod("prod", "backend-1", "uid-b", "backend", "node-a"),
                        new FakeIstioCa.Pod("prod", "reviews-1", "uid-r", "reviews", "node-a"))));
        // What the istio-ca-root-cert ConfigMap holds (root-cert.pem).
        root = work.resolve("root-cert.pem");
        Files.writeString(root, Pem.certificates(List.of(ca.root())));
        Files.writeString(work.resolve("workloads.yaml"), """
                trustDomain: cluster.local
                nodes: [{name: node-a}, {name: node-b}]
                workloads:
                  - {namespace: prod, name: backend, serviceAccount: backend, addresses: [127.0.0.2], protocol: HBONE, node: node-a}
                  - {namespace: prod, name: reviews, serviceAccount: reviews, addresses: [127.0.0.3], protocol: HBONE, node: node-a}
                  - {namespace: prod, name: frontend, serviceAccount: frontend, addresses: [127.0.0.4], protocol: HBONE, node: node-b}
                """);
    }

    @AfterAll
    static void stop() {
        if (istiod != null) {
            istiod.close();
        }
    }

    static Child proxy(String name, String caAddress, Path tokenFile) throws IOException {
        return proxy(name, caAddress, tokenFile, "--metrics", "off");
    }

    /** {@link #proxy(String, String, Path)} with {@code extra} options, which name {@code --metrics}. */
    static Child proxy(String name, String caAddress, Path tokenFile, String... extra) throws IOException {
        return proxy(name, caAddress, tokenFile, root, extra);
    }

    /** {@link #proxy(String, String, Path, String...)} trusting {@code caRoot} for the CA's TLS certificate. */
    static Child proxy(String name, String caAddress, Path tokenFile, Path caRoot, String... extra) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(NodeProxyE2EIT.java(), "-Xmx256m", "-XX:+UseSerialGC",
                "-Dio.netty.leakDetection.level=paranoid", "-jar", NodeProxyE2EIT.required("zerohop.e2e.jar"), "proxy",
                "--istio-ca", caAddress, "--istio-ca-root", caRoot.toString(), "--token-file", tokenFile.toString(),
                // The fake's TLS certificate names istiod's Service, as the real one does (ztunnel's ALT_CA_HOSTNAME).
                "--istio-ca-hostname", FakeIstioCa.SERVER_NAME,
                "--workloads", work.resolve("workloads.yaml").toString(), "--node", "node-a",
                // Every address, so that a tunnel dialled to each pod's IP reaches it, as with HBONE to POD_IP:15008:
                // the dialled address selects the certificate the proxy presents.
                "--inbound", "0.0.0.0:0",
                "--readiness", "off", "--admin", "off", "--drain", "1s"));
        cmd.addAll(List.of(extra));
        return Child.start(name, work, cmd);
    }

    @Test
    void servesTwoServiceAccountsWithCertificatesFromTheIstioCa() throws Exception {
        Path token = Files.writeString(work.resolve("istio-token"), TOKEN + "\n");
        int seenBefore = istiod.seen().size();
        try (ServerSocket backend = echo(InetAddress.getByName("127.0.0.2"));
             ServerSocket reviews = echo(InetAddress.getByName("127.0.0.3"));
             Child proxy = proxy("istio-ca-proxy", "127.0.0.1:" + istiod.port(), token)) {
            String ready = proxy.awaitLine(l -> l.startsWith("zerohop proxy ready"), "ready", Duration.ofSeconds(60));
            assertThat(ready).contains("identity source Istio CA 127.0.0.1:" + istiod.port());
            int hbonePort = Integer.parseInt(ready.replaceAll(".*hbone [^;]*:(\\d+);.*", "$1"));

            // The client is frontend on node-b: its SVID from the same CA, as another node's proxy would hold.
            try (MeshTls tls = MeshTls.builder(ca).build();
                 HboneClient client = HboneClient.builder().tls(tls).identity(FRONTEND).build()) {
                for (var target : List.of(new Object[] {backend, BACKEND}, new Object[] {reviews, REVIEWS})) {
                    ServerSocket app = (ServerSocket) target[0];
                    SpiffeId expected = (SpiffeId) target[1];
                    try (HboneSocket s = client.connectSocket(new InetSocketAddress(app.getInetAddress(), app.getLocalPort()),
                            Set.of(expected), new InetSocketAddress(app.getInetAddress(), hbonePort), Duration.ofSeconds(20))) {
                        // The TLS handshake checked the node proxy's certificate names this pod's identity.
                        assertThat(s.peerIdentity()).isEqualTo(expected);
                        s.setSoTimeout(20_000);
                        s.getOutputStream().write(("hello " + expected).getBytes(StandardCharsets.US_ASCII));
                        s.shutdownOutput();
                        assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).isEqualTo("hello " + expected);
                    }
                }
            }

            List<FakeIstioCa.Seen> calls = istiod.seen().subList(seenBefore, istiod.seen().size());
            List<String> impersonated = new ArrayList<>();
            for (FakeIstioCa.Seen call : calls) {
                assertThat(call.headers().get(AUTHORIZATION)).isEqualTo("Bearer " + TOKEN);
                assertThat(call.headers().get(CLUSTER_ID)).as("ztunnel's default CLUSTER_ID").isEqualTo("Kubernetes");
                assertThat(call.request().metadata()).as("ImpersonatedIdentity metadata").isNotNull();
                String id = call.request().metadata().getFieldsOrThrow("ImpersonatedIdentity").getStringValue();
                // The CSR asks for the same identity the metadata impersonates (ztunnel's CsrOptions san).
                assertThat(Csr.parse(Csr.fromPem(call.request().csr())).spiffeId().toString()).isEqualTo(id);
                impersonated.add(id);
            }
            // One issuance per identity, however many tunnels and the start-up check asked.
            assertThat(impersonated).containsExactlyInAnyOrder(BACKEND.toString(), REVIEWS.toString());

            proxy.sigterm();
            assertThat(proxy.awaitExit(Duration.ofSeconds(30))).isZero();
        }
    }

    /**
     * ztunnel's CLUSTER_ID is one setting for the CA's {@code ClusterID} header (src/config.rs,
     * src/identity/auth.rs) and, through the workloads istiod sends it, their {@code cluster_id}:
     * the {@code destination_cluster} of this node's pod (src/proxy/metrics.rs {@code with_destination});
     * a caller outside the registry without baggage has an {@code unknown} source cluster, as ztunnel's
     * unknown source. Metrics on 127.0.43.2 (this test's own address).
     */
    @Test
    void clusterIdIsTheCaHeaderAndTheClusterOfTheNodesWorkloads() throws Exception {
        Path token = Files.writeString(work.resolve("istio-token-west"), TOKEN + "\n");
        int seenBefore = istiod.seen().size();
        try (ServerSocket backend = echo(InetAddress.getByName("127.0.0.2"));
             Child proxy = proxy("istio-ca-west", "127.0.0.1:" + istiod.port(), token, "--cluster-id", "west",
                     "--metrics", "127.0.43.2:0")) {
            String ready = proxy.awaitLine(l -> l.startsWith("zerohop proxy ready"), "ready", Duration.ofSeconds(60));
            int hbonePort = Integer.parseInt(ZtunnelCompatE2EIT.field(ready, "hbone").replaceAll(".*:", ""));
            String metrics = ZtunnelCompatE2EIT.field(ready, "metrics");
            try (MeshTls tls = MeshTls.builder(ca).build();
                 HboneClient client = HboneClient.builder().tls(tls).identity(FRONTEND).build();
                 HboneSocket s = client.connectSocket(new InetSocketAddress(backend.getInetAddress(), backend.getLocalPort()),
                         Set.of(BACKEND), new InetSocketAddress(backend.getInetAddress(), hbonePort), Duration.ofSeconds(20))) {
                s.setSoTimeout(20_000);
                s.getOutputStream().write("west".getBytes(StandardCharsets.US_ASCII));
                s.shutdownOutput();
                assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).isEqualTo("west");
            }
            java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
            String opened = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://" + metrics + "/metrics"))
                            .timeout(Duration.ofSeconds(10)).build(), java.net.http.HttpResponse.BodyHandlers.ofString()).body()
                    .lines().filter(l -> l.startsWith("istio_tcp_connections_opened_total{") && l.contains("destination_workload=\"backend\""))
                    .findFirst().orElseThrow(() -> new AssertionError("no opened series for backend at " + metrics));
            assertThat(opened).contains("destination_cluster=\"west\"", "source_cluster=\"unknown\"",
                    "source_principal=\"" + FRONTEND + "\"");
            List<FakeIstioCa.Seen> calls = istiod.seen().subList(seenBefore, istiod.seen().size());
            assertThat(calls).isNotEmpty().allSatisfy(c -> assertThat(c.headers().get(CLUSTER_ID)).isEqualTo("west"));
            proxy.sigterm();
            assertThat(proxy.awaitExit(Duration.ofSeconds(30))).isZero();
        }
    }

    @Test
    void aWrongTokenStopsTheProxyWithExitCode4() throws Exception {
        Path token = Files.writeString(work.resolve("wrong-token"), "not-the-token\n");
        try (Child proxy = proxy("istio-ca-wrong-token", "127.0.0.1:" + istiod.port(), token)) {
            assertThat(proxy.awaitExit(Duration.ofSeconds(60))).isEqualTo(4);
            // The same answer is istiod's for a ClusterID it does not know: the line says that too (CaErrors).
            assertThat(proxy.lines()).anyMatch(l -> l.startsWith("[err] zerohop proxy: Istio CA at 127.0.0.1:" + istiod.port()
                    + " rejected the credentials for " + BACKEND + " (UNAUTHENTICATED: request authenticate failure);"
                    + " check the service-account token from " + token + "; or the ClusterID sent") && l.contains("--cluster-id"));
            assertThat(proxy.lines()).noneMatch(l -> l.startsWith("zerohop proxy ready"));
        }
    }

    /**
     * An Istio CA out of reach at start is waited for, before any listener, as ztunnel waits for istiod (its fetches retry
     * on a backoff of at most 150 s): the proxy becomes ready once the CA answers. Until 5 December it exited 4 after one
     * attempt, and an istiod restart while a node started put its proxy into the crash-loop back-off (a new-user pass).
     * A wrong token still exits 4 (aWrongTokenStopsTheProxyWithExitCode4): no retry mends it.
     */
    @Test
    void anUnreachableCaIsWaitedForAndTheProxyIsReadyOnceItAnswers() throws Exception {
        Path token = Files.writeString(work.resolve("istio-token-2"), TOKEN);
        // Held while the proxy runs: a number found free and freed could go to the proxy's own
        // wildcard bind(0) for HBONE, which would then answer in the CA's place.
        ClosedPort unreachable = new ClosedPort();
        int port = unreachable.port();
        try (Child proxy = proxy("istio-ca-unreachable", "127.0.0.1:" + port, token)) {
            proxy.awaitLine(l -> l.contains("zerohop proxy: waiting for a first certificate: Istio CA at 127.0.0.1:" + port
                    + " is unavailable (UNAVAILABLE") && l.endsWith("retried on ztunnel's backoff (at most 180 s apart: 150 s ±20 %); no listener"
                    + " starts until one comes"), "the waiting line", Duration.ofSeconds(60));
            assertThat(proxy.lines()).noneMatch(l -> l.startsWith("zerohop proxy ready"));
            assertThat(proxy.isAlive()).isTrue();
            // The CA comes up at that address: a relay to the fake istiod.
            unreachable.close();
            try (ServerSocket relay = relayTo(port, istiod.port())) {
                String ready = proxy.awaitLine(l -> l.startsWith("zerohop proxy ready"), "ready once the CA answers", Duration.ofSeconds(90));
                assertThat(ready).contains("identity source Istio CA 127.0.0.1:" + port);
                proxy.sigterm();
                assertThat(proxy.awaitExit(Duration.ofSeconds(30))).isZero();
            }
        } finally {
            unreachable.close();
        }
    }

    /**
     * A root file that is not the CA's (a TLS failure under gRPC UNAVAILABLE) is the configuration's: exit 4 at once, not
     * a wait (a final new-user pass found it waited for, retried without end).
     */
    @Test
    void aRootFileThatIsNotTheCasExitsWithCode4() throws Exception {
        Path token = Files.writeString(work.resolve("istio-token-3"), TOKEN);
        Path otherRoot = work.resolve("other-root.pem");
        io.zerohop.identity.Pem.write(otherRoot, io.zerohop.identity.Pem.certificates(
                List.of(io.zerohop.identity.InMemoryCa.create("cluster.local").root())), false);
        try (Child proxy = proxy("istio-ca-wrong-root", "127.0.0.1:" + istiod.port(), token, otherRoot, "--metrics", "off")) {
            assertThat(proxy.awaitExit(Duration.ofSeconds(60))).isEqualTo(4);
            assertThat(proxy.lines()).anyMatch(l -> l.startsWith("[err] zerohop proxy: Istio CA at 127.0.0.1:" + istiod.port())
                    && l.endsWith("; not started: a retry would be refused the same way"));
            assertThat(proxy.lines()).noneMatch(l -> l.contains("waiting for a first certificate"));
        }
    }

    /**
     * A CA that accepts the connection and never answers: SIGTERM during the wait stops the proxy at once, not after the
     * call's 30 s (a final new-user pass: 24 s after the signal, past what Kubernetes' grace period may allow).
     */
    @Test
    void aSigtermWhileACaCallHangsStopsTheProxyPromptly() throws Exception {
        Path token = Files.writeString(work.resolve("istio-token-4"), TOKEN);
        try (ServerSocket silent = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
             Child proxy = proxy("istio-ca-silent", "127.0.0.1:" + silent.getLocalPort(), token)) {
            // The call is under way once its TLS handshake's first bytes came (they get no answer); until 7 December a
            // fixed 3 s sleep.
            silent.setSoTimeout(30_000);
            try (Socket call = silent.accept()) {
                call.setSoTimeout(30_000);
                assertThat(call.getInputStream().read()).as("the CA call's first byte: a TLS handshake record").isEqualTo(0x16);
                assertThat(proxy.isAlive()).isTrue();
                proxy.sigterm();
                assertThat(proxy.awaitExit(Duration.ofSeconds(15))).as("exited well before the call's 30 s").isZero();
            }
            assertThat(proxy.lines()).noneMatch(l -> l.startsWith("zerohop proxy ready"));
        }
    }

    /** 127.0.0.1:{@code port} relaying each connection to 127.0.0.1:{@code to}, both ways, until closed. */
    static ServerSocket relayTo(int port, int to) throws IOException {
        ServerSocket ss = new ServerSocket();
        ss.setReuseAddress(true);
        ss.bind(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        Thread t = new Thread(() -> {
            while (!ss.isClosed()) {
                try {
                    Socket in = ss.accept();
                    Socket out = new Socket(InetAddress.getLoopbackAddress(), to);
                    pump(in, out);
                    pump(out, in);
                } catch (IOException e) {
                    // closed at the end of the test
                }
            }
        }, "relay-" + port);
        t.setDaemon(true);
        t.start();
        return ss;
    }

    private static void pump(Socket from, Socket to) {
        Thread t = new Thread(() -> {
            try {
                from.getInputStream().transferTo(to.getOutputStream());
                to.shutdownOutput();
            } catch (IOException e) {
                // either side closed
            }
        }, "pump");
        t.setDaemon(true);
        t.start();
    }

    /** A one-connection-at-a-time echo: reads to the client's FIN, echoes, then closes. */
    static ServerSocket echo(InetAddress ip) throws IOException {
        ServerSocket ss = new ServerSocket(0, 16, ip);
        Thread t = new Thread(() -> {
            while (!ss.isClosed()) {
                try (Socket s = ss.accept()) {
                    s.getOutputStream().write(s.getInputStream().readAllBytes());
                    s.shutdownOutput();
                } catch (IOException e) {
                    // closed at the end of the test
                }
            }
        }, "echo-" + ip.getHostAddress());
        t.setDaemon(true);
        t.start();
        return ss;
    }
}
