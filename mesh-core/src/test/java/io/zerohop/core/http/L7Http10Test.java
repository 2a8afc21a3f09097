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
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * HTTP/1.0 clients (curl {@code -0}) behind L7 enforcement, with and without {@code Mesh.Builder.acceptHttp10}, Envoy's
 * {@code accept_http_10}, which istiod sets on a proxy under {@code PILOT_HTTP10} or the proxy's {@code HTTP10}
 * metadata (istio/istio pilot/pkg/networking/core/listener_waypoint.go, listener.go {@code enableHTTP10}). Off:
 * 426 (envoy source/common/http/http1/codec_impl.cc {@code checkProtocolVersion}). On: decided by the policy,
 * forwarded as HTTP/1.1 (codec_impl.cc {@code REQUEST_POSTFIX}), answered as HTTP/1.0 without chunking
 * ({@code HTTP_10_RESPONSE_PREFIX}, {@code encodeHeadersBase}); no {@code Host}: 400, istiod leaving
 * {@code default_host_for_http_10} unset (conn_manager_impl.cc {@code MissingHost}). Real plaintext listener,
 * the JDK's HTTP server as the application (its answer to an HTTP/1.1 request of unknown length is chunked).
 */
class L7Http10Test {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: api-only, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules: [{to: [{operation: {paths: ["/api/*"]}}]}]
            """;

    @Test
    void http10IsRefusedWith426ByDefaultAndDecidedAndForwardedWithAcceptHttp10() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.52.6");
        List<String> seen = new CopyOnWriteArrayList<>();
        HttpServer app = app(ip, seen, false);
        try {
            int port = app.getAddress().getPort();
            for (boolean on : new boolean[] {false, true}) {
                try (Mesh mesh = declaredHttp(ip, port, on)) {
                    // The listener on the application's address: never the application's port (see ownPorts).
                    InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0),
                            new InetSocketAddress(ip, port)));
                    String base = "http://127.0.52.6:" + via.getPort();
                    // HTTP/1.1 without Host, either setting: Envoy's MissingHost, 400 with no body and a close
                    // (conn_manager_impl.cc); before 1 December it was forwarded.
                    String noHost11 = L7EnforcementTest.exchange(via, "GET /api/nohost11 HTTP/1.1\r\n\r\n");
                    assertThat(noHost11).startsWith("HTTP/1.1 400 Bad Request\r\n").contains("content-length: 0\r\n")
                            .contains("connection: close").endsWith("\r\n\r\n");
                    List<String> r = L7EnforcementTest.curl("-0", "-i", base + "/api/x-" + on);
                    if (!on) {
                        assertThat(r.get(0)).startsWith("HTTP/1.1 426 Upgrade Required\r\n").containsIgnoringCase("connection: close");
                        assertThat(seen).isEmpty();
                        continue;
                    }
                    assertThat(r.get(0)).startsWith("HTTP/1.0 200 OK\r\n").containsIgnoringCase("connection: close\r\n")
                            .doesNotContainIgnoringCase("transfer-encoding").endsWith("\r\n\r\nhello /api/x-true");
                    assertThat(r.get(1)).isEqualTo("0");
                    assertThat(seen).containsExactly("HTTP/1.1 /api/x-true");
                    List<String> denied = L7EnforcementTest.curl("-0", "-i", base + "/admin");
                    assertThat(denied.get(0)).startsWith("HTTP/1.0 403 Forbidden\r\n").endsWith("RBAC: access denied");
                    String noHost = L7EnforcementTest.exchange(via, "GET /api/nohost HTTP/1.0\r\n\r\n");
                    assertThat(noHost).startsWith("HTTP/1.0 400 Bad Request\r\n").contains("connection: close")
                            .contains("content-length: 0\r\n").endsWith("\r\n\r\n");
                    assertThat(seen).containsExactly("HTTP/1.1 /api/x-true");
                }
            }
        } finally {
            app.stop(0);
        }
    }

    /**
     * A request line refused for its version (426, or 400) is logged with what it showed: its method, its target as
     * sent and the protocol as Envoy's {@code %PROTOCOL%} names it, HTTP/1.0 for every version but 1.1 (an invalid
     * version: "-"). Envoy's access log for a 426 reads {@code "GET /api/v1/gateway HTTP/1.0" 426} (a user's log in
     * envoyproxy/envoy#5038). Until 1 December every such line said {@code method=- path="-" protocol=HTTP/1.1},
     * and so did the 400 for a missing Host.
     */
    @Test
    void refusedRequestLinesAreLoggedWithTheirMethodPathAndProtocol() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.61.8");
        HttpServer app = app(ip, new CopyOnWriteArrayList<>(), true);
        try {
            int port = app.getAddress().getPort();
            for (boolean on : new boolean[] {false, true}) {
                try (Mesh mesh = declaredHttp(ip, port, on); io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
                    InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0),
                            new InetSocketAddress(ip, port)));
                    List<String[]> cases = on
                            ? List.of(new String[] {"GET /api/a-on HTTP/1.0\r\n\r\n", "400", "/api/a-on", "HTTP/1.0"},
                                    new String[] {"GET /api/b-on\r\n\r\n", "400", "/api/b-on", "HTTP/1.0"},
                                    new String[] {"POST /api/c-on HTTP/1.01\r\nHost: b\r\n\r\n", "400", "/api/c-on", "-"})
                            : List.of(new String[] {"GET /api/a HTTP/1.0\r\nHost: b\r\n\r\n", "426", "/api/a", "HTTP/1.0"},
                                    new String[] {"GET /api/b HTTP/1.2\r\nHost: b\r\n\r\n", "426", "/api/b", "HTTP/1.0"},
                                    new String[] {"GET /api/c\r\n\r\n", "426", "/api/c", "HTTP/1.0"},
                                    new String[] {"POST /api/d HTTP/1.01\r\nHost: b\r\n\r\n", "400", "/api/d", "-"},
                                    new String[] {"GET /api/e HTTP/1.1\r\n\r\n", "400", "/api/e", "HTTP/1.1"});
                    for (String[] c : cases) {
                        assertThat(L7EnforcementTest.exchange(via, c[0])).as(c[0]).startsWith("HTTP/1.");
                        String line = err.awaitLine("plaintext-inbound-http", "path=\"" + c[2] + "\"");
                        assertThat(line).as(c[0]).contains(" method=" + c[0].substring(0, c[0].indexOf(' ')) + " ")
                                .contains(" protocol=" + c[3] + " status=" + c[1] + " ");
                    }
                }
            }
        } finally {
            app.stop(0);
        }
    }

    /** A started mesh for a backend on {@code ip} whose {@code port} is declared {@code http}, under {@link #POLICY}. */
    static Mesh declaredHttp(InetAddress ip, int port, boolean acceptHttp10) throws Exception {
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
        Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).acceptHttp10(acceptHttp10)
                .threads(1).build();
        mesh.start().get(10, TimeUnit.SECONDS);
        return mesh;
    }

    /** {@link #POLICY} plus an L4 rule, so that the TCP chain (rules with HTTP fields dropped) allows plaintext loopback. */
    static final String POLICY_WITH_L4_RULE = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: api-or-loopback, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules: [{to: [{operation: {paths: ["/api/*"]}}]}, {from: [{source: {ipBlocks: ["127.0.0.0/8"]}}]}]
            """;

    /**
     * On an {@code auto} port Istio parses HTTP/1.0 only under istiod's {@code PILOT_HTTP10}: Envoy's http_inspector
     * reports {@code http/1.0} (http_inspector.cc {@code parseHttpHeader}, every version but 1.1) and istiod's
     * filter-chain match lists it only then (istio/istio pilot/pkg/networking/core/match/match.go
     * {@code NewAppProtocol}, listener.go {@code plaintextHTTPALPNs}); the proxy's {@code HTTP10} metadata
     * ({@code acceptHttp10}) only sets {@code accept_http_10}. Otherwise the connection takes the TCP chain:
     * decided as unparsed ({@code evaluateUnparsed}: the ALLOW rule with paths matches nothing, so denied without
     * an answer; with an L4 rule allowed) and relayed as bytes, so the application sees HTTP/1.0, even for a path
     * the HTTP rules would deny. Until 1 December zerohop parsed it there and answered 426.
     */
    @Test
    void http10OnAnAutoPortIsTcpUnlessPilotHttp10() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.52.7");
        List<String> seen = new CopyOnWriteArrayList<>();
        HttpServer app = app(ip, seen, true);
        try {
            int port = app.getAddress().getPort();
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.AUTO));
            WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend), Map.of());
            for (String mode : List.of("default", "meta", "pilot")) {
                for (String policy : List.of(POLICY, POLICY_WITH_L4_RULE)) {
                    seen.clear();
                    PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", policy)).build();
                    try (Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                            .workloads(registry).node("b").policies(engine).acceptHttp10(mode.equals("meta"))
                            .pilotHttp10(mode.equals("pilot")).threads(1).build()) {
                        mesh.start().get(10, TimeUnit.SECONDS);
                        InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0),
                                new InetSocketAddress(ip, port)));
                        String as = mode + (policy == POLICY ? "" : ", L4 rule");
                        String admin = L7EnforcementTest.exchange(via, "GET /admin HTTP/1.0\r\nHost: b\r\n\r\n");
                        String api = L7EnforcementTest.exchange(via, "GET /api/x HTTP/1.0\r\nHost: b\r\n\r\n");
                        String http11 = L7EnforcementTest.exchange(via, "GET /admin HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
                        assertThat(http11).as(as).startsWith(policy == POLICY ? "HTTP/1.1 403" : "HTTP/1.1 200");
                        if (mode.equals("pilot")) {
                            // Parsed, accept_http_10 on: decided per request, answered as HTTP/1.0.
                            assertThat(admin).as(as).startsWith(policy == POLICY ? "HTTP/1.0 403" : "HTTP/1.0 200");
                            assertThat(api).as(as).startsWith("HTTP/1.0 200").endsWith("hello /api/x");
                            assertThat(seen).as(as).contains("HTTP/1.1 /api/x").doesNotContain("HTTP/1.0 /admin", "HTTP/1.0 /api/x");
                        } else if (policy == POLICY) {
                            // TCP chain, no rule left that allows: closed without an answer, nothing reaches the application.
                            assertThat(admin).as(as).isEmpty();
                            assertThat(api).as(as).isEmpty();
                            assertThat(seen).as(as).isEmpty();
                        } else {
                            // TCP chain allowed by the L4 rule: relayed as bytes, the application reads HTTP/1.0.
                            assertThat(admin).as(as).startsWith("HTTP/1.1 200").endsWith("hello /admin");
                            assertThat(api).as(as).startsWith("HTTP/1.1 200").endsWith("hello /api/x");
                            assertThat(seen).as(as).containsExactly("HTTP/1.0 /admin", "HTTP/1.0 /api/x", "HTTP/1.1 /admin");
                        }
                    }
                }
            }
        } finally {
            app.stop(0);
        }
    }

    /**
     * The JDK's server on {@code ip} (port 0, started), answering 200 {@code hello <path>} and adding
     * {@code "<protocol> <path>"} to {@code seen}; with {@code contentLength} false the body is chunked to an
     * HTTP/1.1 request.
     */
    static HttpServer app(InetAddress ip, List<String> seen, boolean contentLength) throws java.io.IOException {
        HttpServer app = HttpServer.create(new InetSocketAddress(ip, 0), 50);
        app.createContext("/", ex -> {
            seen.add(ex.getProtocol() + " " + ex.getRequestURI().getRawPath());
            byte[] b = ("hello " + ex.getRequestURI().getRawPath()).getBytes(StandardCharsets.US_ASCII);
            ex.sendResponseHeaders(200, contentLength ? b.length : 0);
            ex.getResponseBody().write(b);
            ex.close();
        });
        app.start();
        return app;
    }
}
