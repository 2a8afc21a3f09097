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
 * Three ways past an Istio path DENY that an attack pass found on 4 December, each now decided and forwarded on the path
 * Envoy's {@code normalize_path} gives (mesh-policy's PathNormalizerTest has the cases from Envoy's and Istio's sources):
 * a nested escape ({@code /%%36%31dmin} reached an application's {@code /admin} handler as {@code /%61dmin}), a
 * character Envoy percent-encodes ({@code /admin/users"} missed {@code /admin/{**}}), and a dot segment with a path
 * parameter ({@code /x/..;/admin}, which Envoy resolves since CVE-2026-73551). A real JDK HTTP server behind the
 * plaintext listener records what reaches it.
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

    @Test
    void pathsAreDecidedAndForwardedAsEnvoyCanonicalisesThem() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.73.5");
        List<String> adminHits = new CopyOnWriteArrayList<>();
        List<String> otherHits = new CopyOnWriteArrayList<>();
        HttpServer app = HttpServer.create(new InetSocketAddress(ip, 0), 50);
        app.createContext("/admin", ex -> {
            adminHits.add(ex.getRequestURI().getRawPath());
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        app.createContext("/", ex -> {
            otherHits.add(ex.getRequestURI().getRawPath());
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        app.start();
        int port = app.getAddress().getPort();
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
        try (Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).threads(1).build()) {
            mesh.start().get(10, TimeUnit.SECONDS);
            InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
            for (String denied : new String[] {"/admin", "/%61dmin", "/x/../admin", "/admin/users", "/api/v1/delete",
                "/admin/users\"", "/api/v1\"/delete", "/admin/{x}", "/x/..;/admin", "/.;/admin", "/x/%2e%2e;p=1/admin"}) {
                assertThat(get(via, denied)).as(denied).startsWith("HTTP/1.1 403 ");
            }
            // Not /admin to Envoy either: decided on /%2561dmin and forwarded so, which the application does not read as /admin.
            assertThat(get(via, "/%%36%31dmin")).startsWith("HTTP/1.1 200 ");
            assertThat(adminHits).as("requests that reached the /admin handler").isEmpty();
            assertThat(otherHits).containsExactly("/%2561dmin");
        } finally {
            app.stop(0);
        }
    }
}
