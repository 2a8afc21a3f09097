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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Three ways past an Istio path DENY that an attack pass found on 4 December, each now decided and forwarded on the path
 * Envoy's {@code normalize_path} gives (mesh-policy's PathNormalizerTest has the cases from Envoy's and Istio's sources):
 * a nested escape ({@code /%%36%31dmin} reached an application's {@code /admin} handler as {@code /%61dmin}), a
 * character Envoy percent-encodes ({@code /admin/users"} missed {@code /admin/{**}}), and a dot segment with a path
 * parameter ({@code /x/..;/admin}, which Envoy resolves since CVE-2026-73551). A real JDK HTTP server behind the
 * plaintext listener records what reaches it. A control character, SP or DEL in an HTTP/2 {@code :path} resets the stream,
 * whatever the policy (until 4 December a TAB reached the policies: a Cilium method-only rule left the stream unanswered, an
 * Istio DENY answered 403 for a wrong reason).
 */
class PathCanonicalizationTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-admin, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - to: [{operation: {paths: ["/admin", "/admin/{**}", "/api/{*}/delete"]}}]
            """;

    static String get(InetSocketAddress via, String target) throws Exception {
        return L7EnforcementTest.exchange(via, "GET " + target + " HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n");
    }

    interface Body {
        /** {@code hits}: "CONTEXT RAWPATH" of each request the application's /admin and / handlers served, in order. */
        void run(InetSocketAddress via, List<String> hits) throws Exception;
    }

    /** A real JDK HTTP server on {@code address}, behind the proxy's plaintext listener with {@link #POLICY}. */
    static void behindTheProxy(String address, Body body) throws Exception {
        InetAddress ip = InetAddress.getByName(address);
        List<String> hits = new CopyOnWriteArrayList<>();
        HttpServer app = HttpServer.create(new InetSocketAddress(ip, 0), 50);
        for (String context : List.of("/admin", "/")) {
            app.createContext(context, ex -> {
                hits.add(context + " " + ex.getRequestURI().getRawPath());
                ex.sendResponseHeaders(200, -1);
                ex.close();
            });
        }
        app.start();
        int port = app.getAddress().getPort();
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
        try (Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).threads(1).build()) {
            mesh.start().get(10, TimeUnit.SECONDS);
            body.run(mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port))), hits);
        } finally {
            app.stop(0);
        }
    }

    @Test
    void pathsAreDecidedAndForwardedAsEnvoyCanonicalisesThem() throws Exception {
        behindTheProxy("127.0.73.5", (via, hits) -> {
            for (String denied : new String[] {"/admin", "/%61dmin", "/x/../admin", "/admin/users", "/api/v1/delete",
                "/admin/users\"", "/api/v1\"/delete", "/admin/{x}", "/x/..;/admin", "/.;/admin", "/x/%2e%2e;p=1/admin"}) {
                assertThat(get(via, denied)).as(denied).startsWith("HTTP/1.1 403 ");
            }
            // Not /admin to Envoy either: decided on /%2561dmin and forwarded so, which the application does not read as /admin.
            assertThat(get(via, "/%%36%31dmin")).startsWith("HTTP/1.1 200 ");
            assertThat(hits).as("no request reached the /admin handler").containsExactly("/ /%2561dmin");
        });
    }

    static final String CILIUM_METHOD_ONLY = """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: api, namespace: prod}
            spec:
              endpointSelector: {matchLabels: {app: backend}}
              ingress:
              - toPorts:
                - ports: [{port: "PORT", protocol: TCP}]
                  rules: {http: [{method: GET}]}
            """;
    static final String CILIUM_PATH = CILIUM_METHOD_ONLY.replace("{method: GET}", "{method: GET, path: \"/api/.*\"}");

    /** nghttp2_check_path (under Envoy's HTTP/2 codec) refuses these in {@code :path}; Netty's field-value check does not. */
    @ParameterizedTest
    @ValueSource(strings = {"istio", "cilium-method", "cilium-path"})
    void anHttp2PathWithAControlCharacterOrSpaceIsReset(String which) throws Exception {
        String policy = which.equals("istio") ? POLICY : which.equals("cilium-method") ? CILIUM_METHOD_ONLY : CILIUM_PATH;
        InetAddress ip = InetAddress.getByName("127.0.73.6");
        Process app = new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), ip.getHostAddress()).redirectErrorStream(true)
                .start();
        try {
            int port = Integer.parseInt(ChildProcess.firstLine(app).trim());
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP2));
            PolicyEngine engine = PolicyEngine.builder()
                    .policies(PolicyLoader.fromString("p.yaml", policy.replace("PORT", Integer.toString(port)))).build();
            try (Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                    .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).threads(1).build()) {
                mesh.start().get(10, TimeUnit.SECONDS);
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
                ProcessBuilder pb = new ProcessBuilder("node", L7Http2Test.resource("h2-client.js"), Integer.toString(via.getPort()),
                        "{\":path\":\"/api/a\\u0009b\"}", "{\":path\":\"/api/a b\"}", "{\":path\":\"/api/a\\u007fb\"}",
                        "{\":path\":\"/api/after\"}").redirectErrorStream(true);
                pb.environment().put("H2HOST", ip.getHostAddress());
                Process c = pb.start();
                String out = new String(c.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertThat(c.waitFor()).as(out).isZero();
                List<String> lines = out.lines().toList();
                assertThat(lines).as(out).hasSize(4);
                for (int i = 0; i < 3; i++) {
                    assertThat(lines.get(i)).as("request %d: %s", i, out).startsWith("reset ").contains("NGHTTP2_PROTOCOL_ERROR");
                }
                assertThat(lines.get(3)).as("the connection serves on: %s", out).startsWith("200 ");
            }
        } finally {
            app.destroy();
        }
    }

    /** Netty's request-line parser, as Envoy's, splits on HTAB: the version is then not one, and the answer 400. */
    @Test
    void anHttp1TargetWithATabIsRefused() throws Exception {
        behindTheProxy("127.0.73.7", (via, hits) -> {
            assertThat(get(via, "/adm\tin")).startsWith("HTTP/1.1 400 ");
            assertThat(get(via, "/ok\t/../admin")).startsWith("HTTP/1.1 400 ");
            assertThat(get(via, "/ok")).startsWith("HTTP/1.1 200 ");
            assertThat(hits).containsExactly("/ /ok");
        });
    }
}
