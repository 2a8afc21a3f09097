package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.File;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The {@code x-request-id} and {@code x-forwarded-proto} Envoy's connection manager sets before any filter under Istio's
 * destination config (envoyproxy/envoy source/common/http/conn_manager_utility.cc {@code mutateRequestHeaders};
 * source/extensions/request_id/uuid/config.cc {@code UUIDRequestIDExtension::set}; istio/istio
 * pilot/pkg/networking/core/listener_inbound.go {@code buildSidecarInboundHTTPOpts}: {@code use_remote_address: false},
 * {@code generate_request_id} on), as the application reads them and as a rule reads them, for an HBONE peer (the
 * frontend's proxy) and a plaintext one, on HTTP/1 (curl against the JDK's HTTP server) and HTTP/2 (Node's http2 client
 * against Node's h2c server). Until 7 December zerohop set neither: an application correlating on {@code x-request-id}
 * got none, and a rule requiring one, or {@code x-forwarded-proto: http}, denied what Envoy allows.
 */
class L7ForwardedRequestIdTest {
    private static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: forwarded, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {paths: ["/open/*"]}}]
              - to: [{operation: {paths: ["/with-id"]}}]
                when: [{key: "request.headers[x-request-id]", values: ["*"]}]
              - to: [{operation: {paths: ["/over-http"]}}]
                when: [{key: "request.headers[x-forwarded-proto]", values: ["http"]}]
              - to: [{operation: {paths: ["/client-id"]}}]
                when: [{key: "request.headers[x-request-id]", values: ["trace-7"]}]
            """;
    /** RFC 4122 version 4, lower case, as Envoy's {@code RandomGeneratorImpl::uuid} writes it. */
    private static final Pattern UUID_V4 = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");

    static InetAddress backendIp;
    static Mesh server;
    static Mesh frontendProxy;
    static HttpServer h1App;
    static Process h2App;
    static InetSocketAddress viaFrontendH1;
    static InetSocketAddress viaFrontendH2;
    static InetSocketAddress plaintextH1;
    static InetSocketAddress plaintextH2;

    @BeforeAll
    static void start() throws Exception {
        backendIp = InetAddress.getByName("127.0.198.2");
        InetAddress clientSide = InetAddress.getByName("127.0.198.1");
        h1App = HttpServer.create(new InetSocketAddress(backendIp, 60101), 50);
        h1App.setExecutor(Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "jdk-http-app");
            t.setDaemon(true);
            return t;
        }));
        h1App.createContext("/", ex -> {
            ex.getRequestBody().readAllBytes();
            byte[] out = (ex.getRequestURI() + " rid=" + ex.getRequestHeaders().get("x-request-id") + " xfp="
                    + ex.getRequestHeaders().get("x-forwarded-proto")).getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, out.length);
            ex.getResponseBody().write(out);
            ex.close();
        });
        h1App.start();
        h2App = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2-forwarded-echo-server.js"),
                backendIp.getHostAddress(), "60102").redirectErrorStream(true));
        assertThat(ChildProcess.firstLine(h2App).trim()).isEqualTo("60102");
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"),
                List.of(InetAddress.getByName("127.0.198.3")), Workload.Protocol.HBONE, null, "cluster.local");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(backendIp),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(60101, AppProtocol.HTTP, 60102, AppProtocol.HTTP2));
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend),
                Map.of("b", new InetSocketAddress(backendIp, 60108)));
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("forwarded.yaml", POLICY)).build();
        server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy).node("b")
                .inbound(new InetSocketAddress(backendIp, 60108)).threads(2).build();
        server.start().get(10, TimeUnit.SECONDS);
        frontendProxy = Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build();
        viaFrontendH1 = frontendProxy.capture(Capture.forward(new InetSocketAddress(clientSide, 60111),
                new InetSocketAddress(backendIp, 60101)));
        viaFrontendH2 = frontendProxy.capture(Capture.forward(new InetSocketAddress(clientSide, 60112),
                new InetSocketAddress(backendIp, 60102)));
        plaintextH1 = server.plaintextInbound(Capture.forward(new InetSocketAddress(clientSide, 60113),
                new InetSocketAddress(backendIp, 60101)));
        plaintextH2 = server.plaintextInbound(Capture.forward(new InetSocketAddress(clientSide, 60114),
                new InetSocketAddress(backendIp, 60102)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (frontendProxy != null) {
            frontendProxy.close();
        }
        if (server != null) {
            server.close();
        }
        if (h1App != null) {
            h1App.stop(0);
        }
        if (h2App != null) {
            h2App.destroy();
            h2App.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** curl's answer from {@code via}: the application's line (or the 403's body) and {@code code=}. */
    static String curl(InetSocketAddress via, String path, String... headers) throws Exception {
        // From an address of the test's own range: under Cilium's rules the source decides (HeaderValidation.ciliumEdgeRequest).
        List<String> cmd = new ArrayList<>(List.of("curl", "-sS", "--max-time", "20", "--interface", "127.0.198.4", "-w",
                " code=%{http_code}"));
        for (String h : headers) {
            cmd.add("-H");
            cmd.add(h);
        }
        cmd.add("http://" + via.getAddress().getHostAddress() + ":" + via.getPort() + path);
        return ChildProcess.run(cmd.toArray(String[]::new));
    }

    /** Node's http2 client against {@code via}, one request per argument of {@code h2-client.js}: "status body" lines. */
    static List<String> node(InetSocketAddress via, String... requests) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("node", L7Http2Test.resource("h2-client.js"), Integer.toString(via.getPort())));
        cmd.addAll(List.of(requests));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("H2HOST", via.getAddress().getHostAddress());
        File out = File.createTempFile("zerohop-node", ".out");
        try {
            Process p = ChildProcess.start(pb.redirectOutput(out));
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("node h2-client.js ended").isTrue();
            return Files.readString(out.toPath(), StandardCharsets.UTF_8).lines().toList();
        } finally {
            Files.deleteIfExists(out.toPath());
        }
    }

    /** The id the application read, from its line {@code ... rid=[id] ...} (HTTP/1) or {@code rid="id"} (HTTP/2). */
    static String id(String line) {
        java.util.regex.Matcher m = Pattern.compile("rid=[\\[\"]([^\\]\"]*)[\\]\"]").matcher(line);
        assertThat(m.find()).as("an id in %s", line).isTrue();
        return m.group(1);
    }

    /**
     * Without an id the application reads a new UUIDv4, another per request; with one it reads the client's as sent
     * (the request is no edge request under {@code use_remote_address: false}, so {@code UUIDRequestIDExtension::set}
     * keeps it); an empty one is replaced (envoyproxy/envoy#38445). {@code x-forwarded-proto} is {@code http} when the
     * client sent none, on HBONE as on plaintext (Istio parses an HBONE peer's HTTP on an internal listener without TLS,
     * {@code buildInboundHBONEListeners}), and the client's when it sent one ({@code if (!request_headers.ForwardedProto())}).
     */
    @Test
    void http1RequestIdAndForwardedProtoAsEnvoysMutateRequestHeaders() throws Exception {
        for (InetSocketAddress via : List.of(viaFrontendH1, plaintextH1)) {
            String first = curl(via, "/open/a");
            String second = curl(via, "/open/a");
            assertThat(first).as("via %s", via).endsWith(" xfp=[http] code=200");
            assertThat(id(first)).matches(UUID_V4).isNotEqualTo(id(second));
            assertThat(id(second)).matches(UUID_V4);
            assertThat(curl(via, "/open/b", "x-request-id: Client-Id 1", "x-forwarded-proto: https"))
                    .isEqualTo("/open/b rid=[Client-Id 1] xfp=[https] code=200");
            assertThat(id(curl(via, "/open/c", "x-request-id;"))).as("an empty id").matches(UUID_V4);
            assertThat(curl(via, "/open/d", "x-forwarded-proto;")).as("an empty x-forwarded-proto is kept").endsWith(" xfp=[] code=200");
        }
    }

    /** The same on HTTP/2 (Node's http2 client and server), where Envoy's connection manager does the same. */
    @Test
    void http2RequestIdAndForwardedProtoAsEnvoysMutateRequestHeaders() throws Exception {
        for (InetSocketAddress via : List.of(viaFrontendH2, plaintextH2)) {
            List<String> lines = node(via, "/open/a", "/open/a",
                    "{\":path\":\"/open/b\",\"x-request-id\":\"Client-Id 1\",\"x-forwarded-proto\":\"https\"}",
                    "{\":path\":\"/open/c\",\"x-request-id\":\"\"}");
            assertThat(lines).as("via %s", via).hasSize(4);
            assertThat(lines.get(0)).startsWith("200 /open/a rid=\"").endsWith(" xfp=\"http\"");
            assertThat(id(lines.get(0))).matches(UUID_V4).isNotEqualTo(id(lines.get(1)));
            assertThat(id(lines.get(1))).matches(UUID_V4);
            assertThat(lines.get(2)).isEqualTo("200 /open/b rid=\"Client-Id 1\" xfp=\"https\"");
            assertThat(id(lines.get(3))).as("an empty id").matches(UUID_V4);
        }
    }

    /**
     * Each header sent twice reaches the application as one field, its values joined with {@code ,} and an empty one
     * adding nothing, as Envoy's header map holds an inline header (envoyproxy/envoy envoy/http/header_map.h: both are
     * inline; source/common/http/header_map_impl.cc {@code HeaderMapImpl::addViaMove}, {@code appendToHeader}) and its
     * codec writes it: the JDK's server lists one value, Node's server would join two fields with {@code ", "}. Fails
     * before 7 December's change: two fields reached the application.
     */
    @Test
    void aRepeatedIdOrForwardedProtoReachesTheApplicationAsOneJoinedField() throws Exception {
        for (InetSocketAddress via : List.of(viaFrontendH1, plaintextH1)) {
            assertThat(curl(via, "/open/twice", "x-request-id: a", "x-request-id: b", "x-forwarded-proto: https",
                    "x-forwarded-proto: http")).as("via %s", via).isEqualTo("/open/twice rid=[a,b] xfp=[https,http] code=200");
            assertThat(curl(via, "/open/empty-first", "x-request-id;", "x-request-id: c"))
                    .as("via %s", via).startsWith("/open/empty-first rid=[c] ");
        }
        for (InetSocketAddress via : List.of(viaFrontendH2, plaintextH2)) {
            assertThat(node(via, "{\":path\":\"/open/twice\",\"x-request-id\":[\"a\",\"b\"],\"x-forwarded-proto\":[\"https\",\"http\"]}"))
                    .as("via %s", via).containsExactly("200 /open/twice rid=\"a,b\" xfp=\"https,http\"");
        }
    }

    /**
     * The access line names the id the application read ({@code request_id=}, the key of Istio's JSON access log,
     * {@code "%REQ(X-REQUEST-ID)%"}, istio/istio pilot/pkg/model/telemetry_logging.go), so an Istio user finds a request in
     * the proxy's log by the id the application logged: a new one and a client's, on HTTP/1 and HTTP/2. Found by a
     * new-user pass (helper 347): the line had no id, where Istio's default access log has {@code %REQ(X-REQUEST-ID)%}.
     */
    @Test
    void theAccessLineNamesTheRequestId() throws Exception {
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            String fresh = id(curl(plaintextH1, "/open/log-h1"));
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/open/log-h1\" "))
                    .endsWith(" request_id=\"" + fresh + "\"");
            curl(plaintextH1, "/open/log-h1-client", "x-request-id: trace-h1");
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/open/log-h1-client\" "))
                    .endsWith(" request_id=\"trace-h1\"");
            List<String> lines = node(viaFrontendH2, "/open/log-h2", "{\":path\":\"/open/log-h2-client\",\"x-request-id\":\"trace-h2\"}");
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/open/log-h2\" "))
                    .endsWith(" request_id=\"" + id(lines.get(0)) + "\"");
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/open/log-h2-client\" "))
                    .endsWith(" request_id=\"trace-h2\"");
        }
    }

    /**
     * A destination Cilium's HTTP rules decide gets what Cilium's Envoy sets in front of Istio's (cilium/cilium pkg/envoy
     * xds_server.go {@code GetHttpFilterChainProto}: {@code use_remote_address: true}, no trusted hops,
     * {@code internal_address_config} of the private ranges and 127.0.0.1): {@code x-forwarded-proto} is always
     * {@code http}, a client's {@code https} overwritten before Cilium's rule reads it, and a request from outside those
     * ranges, or with {@code x-forwarded-for}, is an edge request whose {@code x-request-id} is replaced
     * ({@code mutateRequestHeaders}, {@code UUIDRequestIDExtension::set}); an AuthorizationPolicy on the workload too
     * changes nothing of it, and its {@code :scheme} is taken from Cilium's {@code x-forwarded-proto}, as Istio's Envoy
     * after Cilium's takes it (HTTP/1; an HTTP/2 request's is its own). (The source ranges: {@code ForwardedRequestHeadersTest}.)
     */
    @Test
    void ciliumsEnvoySetsBothItsOwnWay() throws Exception {
        String cnp = """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: forwarded, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {app: backend}}
                  ingress:
                  - toPorts:
                    - ports: [{port: "60101", protocol: TCP}, {port: "60102", protocol: TCP}]
                      rules:
                        http:
                        - path: "/open/.*"
                        - path: "/https-only"
                          headerMatches: [{name: x-forwarded-proto, value: https}]
                """;
        String audit = """
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: audit, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: AUDIT
                  rules: [{}]
                """;
        // Istio's Envoy, after Cilium's, takes :scheme from the x-forwarded-proto Cilium's set: http, not the client's https.
        String denyHttps = """
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-https, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules:
                  - when: [{key: "request.headers[:scheme]", values: ["https"]}]
                """;
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(backendIp),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(60101, AppProtocol.HTTP, 60102, AppProtocol.HTTP2));
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("cnp.yaml", cnp)).build();
        try (Mesh cilium = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine)
                .inbound(new InetSocketAddress(backendIp, 60109)).threads(1).build()) {
            cilium.start().get(10, TimeUnit.SECONDS);
            InetSocketAddress h1 = cilium.plaintextInbound(Capture.forward(new InetSocketAddress("127.0.198.1", 60115),
                    new InetSocketAddress(backendIp, 60101)));
            InetSocketAddress h2 = cilium.plaintextInbound(Capture.forward(new InetSocketAddress("127.0.198.1", 60116),
                    new InetSocketAddress(backendIp, 60102)));
            for (String policies : List.of(cnp, cnp + audit, cnp + denyHttps)) {
                engine.replace(PolicyLoader.fromString("p.yaml", policies));
                String replaced = curl(h1, "/open/a", "x-request-id: trace-7", "x-forwarded-proto: https");
                assertThat(replaced).as(policies).startsWith("/open/a rid=[").endsWith(" xfp=[http] code=200");
                assertThat(id(replaced)).matches(UUID_V4);
                assertThat(curl(h1, "/https-only", "x-forwarded-proto: https")).isEqualTo("Access denied\r\n code=403");
                List<String> l = node(h2, "{\":path\":\"/open/b\",\"x-request-id\":\"trace-7\",\"x-forwarded-proto\":\"https\","
                        + "\"x-forwarded-for\":\"10.0.0.1\"}", "{\":path\":\"/https-only\",\"x-forwarded-proto\":\"https\"}");
                // Cilium's denial body is "Access denied\r\n" (cilium/proxy cilium/l7policy.cc): its line end ends the list.
                assertThat(l).hasSize(3);
                assertThat(l.get(0)).startsWith("200 /open/b rid=\"").endsWith(" xfp=\"http\"");
                assertThat(id(l.get(0))).matches(UUID_V4);
                assertThat(l.subList(1, 3)).containsExactly("403 Access denied", "");
            }
        }
    }

    /**
     * A rule reads the headers as set before it, as Envoy's RBAC reads them after {@code mutateRequestHeaders}: a
     * request without an id meets a rule requiring one, a request without {@code x-forwarded-proto} one requiring
     * {@code http}, a client's {@code https} does not, and a client's id is decided as sent.
     */
    @Test
    void rulesReadTheHeadersAsSetBeforeThem() throws Exception {
        for (InetSocketAddress via : List.of(viaFrontendH1, plaintextH1)) {
            assertThat(curl(via, "/with-id")).as("via %s", via).startsWith("/with-id rid=[").endsWith("code=200");
            assertThat(curl(via, "/over-http")).startsWith("/over-http rid=[").endsWith(" xfp=[http] code=200");
            assertThat(curl(via, "/over-http", "x-forwarded-proto: https")).isEqualTo("RBAC: access denied code=403");
            assertThat(curl(via, "/client-id", "x-request-id: trace-7")).isEqualTo("/client-id rid=[trace-7] xfp=[http] code=200");
            assertThat(curl(via, "/client-id")).isEqualTo("RBAC: access denied code=403");
        }
        for (InetSocketAddress via : List.of(viaFrontendH2, plaintextH2)) {
            List<String> l = node(via, "/with-id", "/over-http", "{\":path\":\"/over-http\",\"x-forwarded-proto\":\"https\"}",
                    "{\":path\":\"/client-id\",\"x-request-id\":\"trace-7\"}", "/client-id");
            assertThat(l).as("via %s", via).hasSize(5);
            assertThat(l.get(0)).startsWith("200 /with-id rid=\"");
            assertThat(l.get(1)).startsWith("200 /over-http rid=\"").endsWith(" xfp=\"http\"");
            assertThat(l.subList(2, 5)).containsExactly("403 RBAC: access denied", "200 /client-id rid=\"trace-7\" xfp=\"http\"",
                    "403 RBAC: access denied");
        }
    }
}
