package io.zerohop.core.internal.http;

import static io.zerohop.core.internal.http.JwtTokens.ISSUER;
import static io.zerohop.core.internal.http.JwtTokens.claims;
import static io.zerohop.core.internal.http.JwtTokens.now;
import static io.zerohop.core.internal.http.L7JwtTest.h1;
import static io.zerohop.core.internal.http.L7JwtTest.h2;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.http.ChildProcess;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A RequestAuthentication and an AuthorizationPolicy on {@code requestPrincipals} and {@code request.auth.claims}, loaded
 * from YAML, through two meshes (HBONE from the frontend's capture to the backend's inbound, then the L7 path to a Node
 * application): the istio.io "Authorization with JWT" task (a token required by {@code requestPrincipals}, a claim
 * matched with {@code when}) and istio/istio tests/integration/security/jwt (no token: RBAC's 403; invalid token: 401
 * before RBAC), with curl (HTTP/1) and Node's http2 client. mesh-policy loads, selects and matches (its commits
 * "RequestAuthentication: loaded ... selected per workload" and "requestPrincipals and request.auth.* matched");
 * mesh-core verifies. A third port, which only an L4 rule allows, is parsed for the RequestAuthentication alone.
 * Addresses 127.0.192.4-5, ports 57030-57034.
 */
@Timeout(120)
class MeshJwtTest {
    static final JwtTokens T = L7JwtTest.T;
    static Process app;
    /** A second application, on a port no AuthorizationPolicy rule with HTTP fields applies to. */
    static Process other;
    static InetSocketAddress viaJwtOnly;
    static Mesh backend;
    static Mesh frontend;
    static InetSocketAddress viaH1;
    static InetSocketAddress viaH2;

    static String policy(int h1Port, int h2Port, int jwtOnlyPort) {
        return """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: jwt, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  jwtRules:
                  - issuer: "%s"
                    audiences: [backend]
                    jwks: '%s'
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: require-jwt, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: ALLOW
                  rules:
                  - from: [{source: {requestPrincipals: ["%s/alice"]}}]
                    to: [{operation: {paths: ["/api/*"], ports: ["%d", "%d"]}}]
                  - to: [{operation: {paths: ["/admin"], ports: ["%d", "%d"]}}]
                    when: [{key: "request.auth.claims[groups]", values: ["admin"]}]
                  - to: [{operation: {paths: ["/public"], ports: ["%d", "%d"]}}]
                  - to: [{operation: {ports: ["%d"]}}]
                """.formatted(ISSUER, T.jwks(), ISSUER, h1Port, h2Port, h1Port, h2Port, h1Port, h2Port, jwtOnlyPort);
    }

    @BeforeAll
    static void start() throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.192.5");
        app = ChildProcess.start(new ProcessBuilder("node", L7JwtTest.resource("jwt-echo-server.js"), backendIp.getHostAddress())
                .redirectErrorStream(true));
        String[] ports = ChildProcess.firstLine(app).trim().split(" ");
        int h1Port = Integer.parseInt(ports[0]);
        int h2Port = Integer.parseInt(ports[1]);
        other = ChildProcess.start(new ProcessBuilder("node", L7JwtTest.resource("jwt-echo-server.js"), backendIp.getHostAddress())
                .redirectErrorStream(true));
        int jwtOnlyPort = Integer.parseInt(ChildProcess.firstLine(other).trim().split(" ")[0]);
        Workload fe = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"),
                List.of(InetAddress.getByName("127.0.192.4")), Workload.Protocol.HBONE, null, "cluster.local");
        Workload be = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(backendIp),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(h1Port, AppProtocol.HTTP, h2Port, AppProtocol.HTTP, jwtOnlyPort, AppProtocol.HTTP));
        InetSocketAddress inbound = new InetSocketAddress(backendIp, 57034);
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(be, fe), Map.of("b", inbound));
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("jwt.yaml", policy(h1Port, h2Port, jwtOnlyPort))).build();
        backend = Mesh.builder().identityProvider(ca).identity(be.identity()).workloads(registry).policies(engine).node("b")
                .inbound(inbound).threads(1).build();
        backend.start().get(10, TimeUnit.SECONDS);
        frontend = Mesh.builder().identityProvider(ca).identity(fe.identity()).workloads(registry).threads(1).build();
        InetAddress client = InetAddress.getByName("127.0.192.4");
        viaH1 = frontend.capture(Capture.forward(new InetSocketAddress(client, 57030), new InetSocketAddress(backendIp, h1Port)));
        viaH2 = frontend.capture(Capture.forward(new InetSocketAddress(client, 57031), new InetSocketAddress(backendIp, h2Port)));
        viaJwtOnly = frontend.capture(Capture.forward(new InetSocketAddress(client, 57032), new InetSocketAddress(backendIp, jwtOnlyPort)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (frontend != null) {
            frontend.close();
        }
        if (backend != null) {
            backend.close();
        }
        for (Process p : new Process[] {app, other}) {
            if (p != null) {
                p.destroy();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void requestPrincipalsNeedAVerifiedToken() throws Exception {
        String alice = "authorization: Bearer " + T.rs256(claims(ISSUER, "aud", "backend"));
        L7JwtTest.Answer ok = h1(viaH1, "/api/orders", alice);
        assertThat(ok.status()).isEqualTo(200);
        assertThat(ok.echo().get("headers").has("authorization")).isFalse();
        L7JwtTest.Answer none = h1(viaH1, "/api/orders");
        assertThat(none.status()).isEqualTo(403);
        assertThat(none.body()).isEqualTo("RBAC: access denied");
        assertThat(h1(viaH1, "/api/orders", "authorization: Bearer " + T.rs256(claims(ISSUER, "aud", "backend", "sub", "bob"))).status())
                .isEqualTo(403);
        L7JwtTest.Answer expired = h1(viaH1, "/api/orders", "authorization: Bearer "
                + T.rs256(claims(ISSUER, "aud", "backend", "exp", now() - 3600)));
        assertThat(expired.status()).isEqualTo(401);
        assertThat(expired.body()).isEqualTo("Jwt is expired");
        assertThat(h1(viaH1, "/public").status()).isEqualTo(200);
        // An invalid token is refused even where no rule asks for one (RequestAuthentication rejects it before RBAC).
        assertThat(h1(viaH1, "/public", "authorization: Bearer " + T.byStranger(claims(ISSUER, "aud", "backend"))).status()).isEqualTo(401);
    }

    @Test
    void aRequestAuthenticationAloneMakesAPortParsed() throws Exception {
        // Only an L4 rule (ports) allows this port, so no policy needs HTTP there; the RequestAuthentication does, as a
        // sidecar's jwt_authn checks every HTTP request: an invalid token is refused, a valid one's header removed.
        L7JwtTest.Answer bad = h1(viaJwtOnly, "/x", "authorization: Bearer " + T.byStranger(claims(ISSUER, "aud", "backend")));
        assertThat(bad.status()).isEqualTo(401);
        assertThat(bad.body()).isEqualTo("Jwt verification fails");
        L7JwtTest.Answer ok = h1(viaJwtOnly, "/x", "authorization: Bearer " + T.rs256(claims(ISSUER, "aud", "backend")));
        assertThat(ok.status()).isEqualTo(200);
        assertThat(ok.echo().get("headers").has("authorization")).isFalse();
        assertThat(h1(viaJwtOnly, "/x").status()).isEqualTo(200);
    }

    @Test
    void claimsMatchOverHttp2() throws Exception {
        String admin = "Bearer " + T.es256(claims(ISSUER, "aud", "backend", "sub", "carol", "groups", List.of("dev", "admin")));
        assertThat(h2(viaH2, "/admin", "authorization", admin).status()).isEqualTo(200);
        assertThat(h2(viaH2, "/admin", "authorization", "Bearer " + T.es256(claims(ISSUER, "aud", "backend", "groups", List.of("dev"))))
                .status()).isEqualTo(403);
        assertThat(h2(viaH2, "/api/x", "authorization", "Bearer " + T.rs256(claims(ISSUER, "aud", "backend"))).status()).isEqualTo(200);
        L7JwtTest.Answer bad = h2(viaH2, "/api/x", "authorization", "Bearer " + T.rs256(claims(ISSUER, "aud", "frontend")));
        assertThat(bad.status()).isEqualTo(403);
        assertThat(bad.body()).isEqualTo("Audiences in Jwt are not allowed");
        assertThat(h2(viaH2, "/api/x").status()).isEqualTo(403);
    }
}
