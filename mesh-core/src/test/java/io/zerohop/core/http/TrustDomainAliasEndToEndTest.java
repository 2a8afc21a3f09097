package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A mesh of trust domain {@code example.org} with alias {@code old-td} ({@link Mesh.Builder#trustDomain},
 * {@link Mesh.Builder#trustDomainAliases}), real TLS 1.3 HBONE tunnels on loopback (127.0.92.x), the JDK's HTTP server
 * behind it on two ports declared HTTP and one sniffed ({@link L7EnforcementTest#app}, which answers with the request it got). istiod (pilot/pkg/security/authz/builder/builder.go, MigrateTrustDomain
 * with NewBundle(meshConfig.trustDomain, meshConfig.trustDomainAliases); pilot/pkg/security/trustdomain/bundle.go
 * ReplaceTrustDomainAliases, bundle_test.go "One trust domain alias, two principals" for cluster.local as the pointer
 * to the mesh's trust domains) makes a waypoint read {@code cluster.local/ns/legacy/sa/old} as
 * {@code example.org/...} and {@code old-td/...}, and {@code old-td/ns/prod/sa/frontend} as {@code example.org/...} too;
 * so does zerohop per HTTP request. Before, only istiod's default {@code cluster.local} was applied: the legacy
 * identity's requests got 200 on the DENY's port, and the frontend's 403 on the ALLOW's.
 */
class TrustDomainAliasEndToEndTest {
    static InetAddress ip;
    static InMemoryCa ca;
    static Mesh server;
    static Mesh clients;
    static HttpServer denyApp;
    static HttpServer allowApp;
    static HttpServer autoApp;
    static PolicyEngine engine;

    static String policies(int denyPort, int allowPort, int autoPort) {
        return """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-legacy, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules:
                  - from: [{source: {principals: ["cluster.local/ns/legacy/sa/old"]}}]
                    to: [{operation: {paths: ["/*"]}}]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-frontend, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: ALLOW
                  rules:
                  - from: [{source: {principals: ["old-td/ns/prod/sa/frontend"]}}]
                    to: [{operation: {ports: ["%d", "%d"], methods: ["GET"]}}]
                  - to: [{operation: {ports: ["%d"]}}]
                """.formatted(allowPort, autoPort, denyPort);
    }

    @BeforeAll
    static void start() throws Exception {
        ip = InetAddress.getByName("127.0.92.2");
        denyApp = L7EnforcementTest.app(new InetSocketAddress(ip, 0));
        allowApp = L7EnforcementTest.app(new InetSocketAddress(ip, 0));
        int denyPort = denyApp.getAddress().getPort();
        int allowPort = allowApp.getAddress().getPort();
        autoApp = L7EnforcementTest.app(new InetSocketAddress(ip, 0));
        int autoPort = autoApp.getAddress().getPort();
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "example.org", Map.of(denyPort, AppProtocol.HTTP, allowPort, AppProtocol.HTTP, autoPort, AppProtocol.AUTO));
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend), Map.of());
        ca = InMemoryCa.create("example.org");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("td.yaml", policies(denyPort, allowPort, autoPort))).build();
        server = Mesh.builder().trustDomain("example.org").trustDomainAliases(List.of("old-td")).identityProvider(ca)
                .identity(backend.identity()).workloads(registry).policies(policy).node("b")
                .inbound(new InetSocketAddress(ip, 0)).threads(2).build();
        server.start().get(10, TimeUnit.SECONDS);
        registry.replace(List.of(backend), Map.of("b", server.inboundAddress()));
        clients = Mesh.builder().identityProvider(ca).workloads(registry).threads(1).build();
        engine = policy;
    }

    @AfterAll
    static void stop() {
        clients.close();
        server.close();
        denyApp.stop(0);
        allowApp.stop(0);
        autoApp.stop(0);
    }

    /** One request through a tunnel as {@code source}: the status line and the body. */
    static String get(String source, String method, HttpServer app, String path) throws IOException {
        SpiffeId id = SpiffeIds.parse(source);
        try (Socket s = clients.socketFactory(id).createSocket(ip, app.getAddress().getPort())) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write((method + " " + path + " HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();
            String all = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
            int eol = all.indexOf("\r\n");
            int body = all.indexOf("\r\n\r\n");
            return (eol < 0 ? all : all.substring(0, eol)) + " | " + (body < 0 ? "" : all.substring(body + 4));
        }
    }

    @Test
    void theMeshGaveItsTrustDomainsToThePolicyEngine() {
        assertThat(engine.trustDomains()).containsExactly("example.org", "old-td");
    }

    @Test
    void aDenyOfClusterLocalDeniesTheMeshTrustDomainsIdentity() throws Exception {
        assertThat(get("spiffe://example.org/ns/legacy/sa/old", "GET", denyApp, "/orders"))
                .isEqualTo("HTTP/1.1 403 Forbidden | RBAC: access denied");
        assertThat(get("spiffe://example.org/ns/prod/sa/frontend", "GET", denyApp, "/orders"))
                .startsWith("HTTP/1.1 200 OK | GET /orders xfcc=");
    }

    @Test
    void anAllowWrittenWithTheAliasAdmitsTheCurrentTrustDomainsIdentity() throws Exception {
        assertThat(get("spiffe://example.org/ns/prod/sa/frontend", "GET", allowApp, "/items"))
                .startsWith("HTTP/1.1 200 OK | GET /items xfcc=");
        assertThat(get("spiffe://example.org/ns/prod/sa/frontend", "POST", allowApp, "/items"))
                .isEqualTo("HTTP/1.1 403 Forbidden | RBAC: access denied");
        assertThat(get("spiffe://example.org/ns/prod/sa/other", "GET", allowApp, "/items"))
                .isEqualTo("HTTP/1.1 403 Forbidden | RBAC: access denied");
    }

    /**
     * On a sniffed ({@code auto}) port the denial that no HTTP data can change comes before the first byte is read
     * ({@code PolicyEngine.denialBeforeHttp}); the ALLOW written with the alias may admit this identity's request, so it
     * must not deny the connection there (it did, with the ALLOW read as written: the tunnel was refused, no answer).
     */
    @Test
    void onASniffedPortTheAliasAllowIsNotDecidedBeforeTheRequest() throws Exception {
        assertThat(get("spiffe://example.org/ns/prod/sa/frontend", "GET", autoApp, "/auto"))
                .startsWith("HTTP/1.1 200 OK | GET /auto xfcc=");
        assertThat(get("spiffe://example.org/ns/prod/sa/frontend", "POST", autoApp, "/auto"))
                .isEqualTo("HTTP/1.1 403 Forbidden | RBAC: access denied");
    }
}
