package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A destination only a CiliumNetworkPolicy's HTTP rules decide gets what Cilium's Envoy does with a request
 * (cilium/cilium pkg/envoy/xds_server.go {@code getHttpFilterChainProto}: {@code normalize_path},
 * {@code merge_slashes}, {@code UNESCAPE_AND_REDIRECT} under {@code http-normalize-path}, on by default): the
 * application reads the path the rule matched, slashes merged, and a path with an escaped slash is
 * redirected (307) and never forwarded. An AuthorizationPolicy on the same workload changes none of it: every rule is
 * decided on the path Cilium's Envoy passes on. Real tunnel, the JDK's HTTP server as the application.
 */
class L7CiliumPathTest {
    static final String CNP = """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: public-only, namespace: prod}
            spec:
              endpointSelector: {matchLabels: {app: backend}}
              ingress:
              - toPorts:
                - ports: [{port: "PORT", protocol: TCP}]
                  rules: {http: [{method: GET, path: "/public/.*"}]}
            """;
    static final String AP = """
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: audit, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: AUDIT
              rules: [{}]
            """;

    static final String DENY_ADMIN = """
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-admin, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules: [{to: [{operation: {paths: ["/public/admin"]}}]}]
            """;

    @Test
    void ciliumsForwardingAndRedirectForACiliumOnlyDestination() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.52.3");
        List<String> seen = new CopyOnWriteArrayList<>();
        HttpServer app = HttpServer.create(new InetSocketAddress(ip, 0), 50);
        app.createContext("/", ex -> {
            seen.add(ex.getRequestURI().getRawPath());
            byte[] b = ex.getRequestURI().getRawPath().getBytes(StandardCharsets.US_ASCII);
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        app.start();
        try {
            int port = app.getAddress().getPort();
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
            String cnp = CNP.replace("PORT", Integer.toString(port));
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("cnp.yaml", cnp)).build();
            InMemoryCa ca = InMemoryCa.create("cluster.local");
            WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend), Map.of());
            try (Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry)
                    .policies(engine).inbound(new InetSocketAddress(ip, 0)).threads(1).build()) {
                server.start().get(10, TimeUnit.SECONDS);
                registry.replace(List.of(backend), Map.of("b", server.inboundAddress()));
                try (Mesh clients = Mesh.builder().identityProvider(ca).workloads(registry).threads(1).build()) {
                    var frontend = clients.socketFactory(SpiffeIds.istio("cluster.local", "prod", "frontend"));
                    try (Socket s = frontend.createSocket(ip, port)) {
                        s.setSoTimeout(10_000);
                        InputStream in = s.getInputStream();
                        send(s, "GET /public//a/./b HTTP/1.1\r\nHost: b\r\n\r\n");
                        assertThat(L7EnforcementTest.readResponse(in)).startsWith("HTTP/1.1 200 ").endsWith("/public/a/b");
                        send(s, "GET /x%2F..%2Fpublic/y?q=1 HTTP/1.1\r\nHost: b\r\n\r\n");
                        String redirect = L7EnforcementTest.readResponse(in);
                        assertThat(redirect).startsWith("HTTP/1.1 307 Temporary Redirect\r\n")
                                .containsIgnoringCase("location: /public/y?q=1\r\n");
                        send(s, "GET /admin HTTP/1.1\r\nHost: b\r\n\r\n");
                        // Cilium's proxy's body for its policy's denial (cilium/proxy cilium/l7policy.cc); Envoy RBAC's
                        // "RBAC: access denied" until 6 December (helper 260).
                        assertThat(L7EnforcementTest.readResponse(in)).startsWith("HTTP/1.1 403 ").endsWith("\r\n\r\nAccess denied\r\n");
                    }
                    assertThat(seen).containsExactly("/public/a/b");

                    // With an AuthorizationPolicy selecting it too, Cilium's Envoy is still in front (then Istio's): its
                    // redirect and its merged slashes hold, and every rule is decided on the path forwarded. Until
                    // 2 December the AuthorizationPolicy brought Istio's forwarding back while the Cilium rule matched its
                    // own normalisation: /admin%2F..%2Fpublic/y was allowed as /public/y and forwarded as sent (newuser17).
                    engine.replace(PolicyLoader.fromString("both.yaml", cnp + AP + DENY_ADMIN));
                    try (Socket s = frontend.createSocket(ip, port)) {
                        s.setSoTimeout(10_000);
                        InputStream in = s.getInputStream();
                        send(s, "GET /public//a/./b HTTP/1.1\r\nHost: b\r\n\r\n");
                        assertThat(L7EnforcementTest.readResponse(in)).startsWith("HTTP/1.1 200 ").endsWith("/public/a/b");
                        send(s, "GET /admin%2F..%2Fpublic/y HTTP/1.1\r\nHost: b\r\n\r\n");
                        assertThat(L7EnforcementTest.readResponse(in)).startsWith("HTTP/1.1 307 Temporary Redirect\r\n")
                                .containsIgnoringCase("location: /public/y\r\n");
                        // The AuthorizationPolicy is decided on the merged path too: //public/admin is /public/admin.
                        send(s, "GET //public/admin HTTP/1.1\r\nHost: b\r\n\r\n");
                        assertThat(L7EnforcementTest.readResponse(in)).as("the AuthorizationPolicy's DENY: Envoy RBAC's body")
                                .startsWith("HTTP/1.1 403 ").endsWith("\r\n\r\nRBAC: access denied");
                    }
                    assertThat(seen).containsExactly("/public/a/b", "/public/a/b");
                }
            }
        } finally {
            app.stop(0);
        }
    }

    static void send(Socket s, String text) throws java.io.IOException {
        s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
    }
}
