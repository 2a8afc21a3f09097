package io.zerohop.core.http;

import static io.zerohop.core.http.L7SniffDecisionTest.await;
import static io.zerohop.core.http.L7SniffDecisionTest.count;
import static io.zerohop.core.http.L7SniffDecisionTest.readToEnd;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * A connection on an {@code auto} port that an ALLOW with HTTP fields makes zerohop sniff, whose first bytes are not
 * HTTP, falls back to the TCP chain and is denied there ({@code PolicyEngine.evaluateUnparsed}) after it was accepted:
 * it is reported as the denial it is, as ztunnel reports the same decision, which it takes at the CONNECT
 * (istio/ztunnel src/proxy/inbound.rs {@code assert_rbac}; src/proxy.rs {@code AuthorizationPolicyRejection}, "connection
 * closed due to policy rejection: " and src/proxy.rs {@code AuthorizationRejectionError}; src/proxy/metrics.rs
 * {@code AuthorizationPolicyDenied}, {@code response_flags="DENY"}): the WARN {@code denied} line with both identities,
 * the tunnel's access line with that error, and the connection closed and failed with {@code DENY}. Before, the WARN
 * line was the only trace: the tunnel's line read as a plain reset and the close counted clean ({@code -}); a plaintext
 * connection was counted nowhere. Real TLS, the JDK's HTTP server as the application, raw sockets on 127.0.66.x.
 */
class DenialAfterSniffTest {
    /** Bytes no HTTP method begins with: the sniff takes them as opaque at once. */
    private static final byte[] NOT_HTTP = "\u0001\u0002zerohop-not-http\r\n".getBytes(StandardCharsets.ISO_8859_1);

    static final String DENY_ADMIN = """
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-admin, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules: [{to: [{operation: {paths: ["/admin"]}}]}]
            """;

    @Test
    void aTunnelOfNonHttpBytesDeniedAfterTheSniffIsReportedAsADenial() throws Exception {
        L7SniffDecisionTest.run("127.0.66.2", null, (server, mesh, backend, frontend, port, dst, seen) -> {
            try (CapturedStderr err = new CapturedStderr();
                 Socket s = mesh.socketFactory(frontend.identity()).createSocket(backend.addresses().get(0), port)) {
                s.setSoTimeout(20_000);
                send(s);
                assertThat(readToEnd(s)).isEmpty();
                // One line: the access log's, with ztunnel's error and zerohop's explanation (until 2 December also a WARN,
                // then unlimited; it is DEBUG while the access log says the same).
                String line = err.awaitLine("inbound src=", "src_id=" + frontend.identity(), "end=");
                assertThat(line).contains("dst_id=" + backend.identity())
                        .contains(" end=reset error=\"connection closed due to policy rejection: allow policies exist, but none allowed\""
                                + " reason=\"DENY by prod/api-only (AuthorizationPolicy ALLOW, default deny)")
                        .endsWith(" (not parsed as HTTP: first bytes: OPAQUE)\"");
                assertThat(err.count("denied " + frontend.identity() + " -> ", "not parsed as HTTP")).isZero();
            }
            await(() -> count(dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY")) >= 1);
            assertThat(count(dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY"))).isEqualTo(1.0);
            assertThat(count(dst.find("istio.tcp.connections.closed").tag("response_flags", "DENY"))).isEqualTo(1.0);
            assertThat(count(dst.find("istio.tcp.connections.closed").tag("response_flags", "-"))).isZero();
            assertThat(seen).isEmpty();
        });
    }

    /**
     * Plaintext (PERMISSIVE): counted as a plaintext denial at accept is. An L4 rule allows loopback, so the denial is the
     * DENY rule's, its HTTP fields taken as matched.
     */
    @Test
    void aPlaintextConnectionOfNonHttpBytesDeniedAfterTheSniffIsCountedDeny() throws Exception {
        L7SniffDecisionTest.run("127.0.66.4", null, L7Http10Test.POLICY_WITH_L4_RULE + DENY_ADMIN, (server, mesh, backend, frontend, port, dst, seen) -> {
            InetAddress ip = backend.addresses().get(0);
            InetSocketAddress via = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
            try (CapturedStderr err = new CapturedStderr(); Socket s = new Socket(via.getAddress(), via.getPort())) {
                s.setSoTimeout(20_000);
                send(s);
                assertThat(readToEnd(s)).isEmpty();
                // One line, the access log's (ztunnel's rejection, zerohop's explanation); the WARN is DEBUG while it is written.
                String from = "src=" + s.getLocalAddress().getHostAddress() + ":" + s.getLocalPort() + " ";
                String line = err.awaitLine("access - plaintext-inbound " + from);
                assertThat(line).contains(" dst_id=" + backend.identity() + " status=- bytes_sent=0 bytes_received=" + NOT_HTTP.length + " ")
                        .contains(" end=reset error=\"connection closed due to policy rejection: explicitly denied by: prod/deny-admin\""
                                + " reason=\"DENY by prod/deny-admin (AuthorizationPolicy DENY, rule 0): ")
                        .endsWith(" (not parsed as HTTP: first bytes: OPAQUE)\"");
                assertThat(err.count(":" + s.getLocalPort())).as("one line for the connection").isEqualTo(1);
                assertThat(err.count("denied plaintext ")).isZero();
            }
            await(() -> count(dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY")) >= 1);
            assertThat(count(dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY"))).isEqualTo(1.0);
            assertThat(count(dst.find("istio.tcp.connections.closed").tag("response_flags", "-"))).isZero();
            assertThat(seen).isEmpty();
        });
    }

    /**
     * A plaintext connection still being sniffed when a policy change denies it whatever it sends
     * (L7SniffDecisionTest.DENY_PORT) is cut at once and counted as a tunnel cut the same way is, {@code DENY}
     * (ztunnel's {@code AuthorizationPolicyLateRejection}: its plaintext passthrough runs under {@code handle_connection!},
     * istio/ztunnel src/proxy/inbound_passthrough.rs), with the WARN line that names the policy. Before, a change that
     * came between the admission and the end of the dial was missed, and one after it reset only the connection to the
     * application: the client waited for the 5 s sniff timeout and was then denied as non-HTTP bytes.
     */
    @Test
    void aPlaintextConnectionStillSniffedCutByAPolicyChangeIsCountedDeny() throws Exception {
        cutByAPolicyChange("127.0.66.6", Sent.NOTHING);
    }

    /** The same change cuts a plaintext connection that fell back to L4 and is relayed as bytes: counted DENY, its client reset. */
    @Test
    void aPlaintextConnectionFallenBackToL4CutByAPolicyChangeIsCountedDeny() throws Exception {
        cutByAPolicyChange("127.0.66.8", Sent.NOT_HTTP);
    }

    /**
     * A plaintext connection parsed as HTTP, one request answered, is cut by a change that denies it whatever it
     * requests (a DENY on the port alone), as ztunnel's watcher closes it (inbound_passthrough.rs assert_rbac); until
     * 2 December a parsed connection was kept until its next request.
     */
    @Test
    void aPlaintextConnectionParsedAsHttpCutByAPolicyChangeIsCountedDeny() throws Exception {
        cutByAPolicyChange("127.0.66.10", Sent.HTTP);
    }

    /** What the client sends before the change. */
    private enum Sent { NOTHING, NOT_HTTP, HTTP }

    /**
     * A plaintext connection to an {@code auto} port on {@code address}, admitted, then cut by a change that
     * adds DENY_PORT: the change's WARN line, the client reset, DENY counted once. {@code NOT_HTTP}: its non-HTTP bytes are
     * sent and reach the application first (an L4 rule allows loopback on the TCP chain); {@code HTTP}: a request the
     * ALLOW's paths rule admits is answered first; {@code NOTHING}: nothing is dialled (the application is dialled after the
     * sniff, or for the first allowed request); if the sniff's timeout comes first it is relayed as {@code NOT_HTTP} is,
     * so the outcome does not depend on which is first. Where the application was reached, its connection is reset too.
     */
    private static void cutByAPolicyChange(String address, Sent sent) throws Exception {
        InetAddress ip = InetAddress.getByName(address);
        try (java.net.ServerSocket app = new java.net.ServerSocket(0, 50, ip)) {
            String port = Integer.toString(app.getLocalPort());
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml",
                    L7Http10Test.POLICY_WITH_L4_RULE.replace("PORT", port))).build();
            try (L7SniffDecisionTest.Meshes m = new L7SniffDecisionTest.Meshes(ip, app.getLocalPort(), AppProtocol.AUTO, engine, server -> { });
                 CapturedStderr err = new CapturedStderr()) {
                InetSocketAddress via = m.server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0),
                        new InetSocketAddress(ip, app.getLocalPort())));
                Socket appSide = null;
                try (Socket s = new Socket(via.getAddress(), via.getPort())) {
                    s.setSoTimeout(20_000);
                    app.setSoTimeout(20_000);
                    // The application is dialled only once the sniff decided (bytes) or for the first allowed request (HTTP).
                    if (sent == Sent.NOT_HTTP) {
                        send(s);
                        appSide = app.accept();
                        appSide.setSoTimeout(20_000);
                        assertThat(appSide.getInputStream().readNBytes(NOT_HTTP.length)).as("relayed as bytes").isEqualTo(NOT_HTTP);
                    } else if (sent == Sent.HTTP) {
                        s.getOutputStream().write("GET /api/a HTTP/1.1\r\nHost: b\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                        appSide = app.accept();
                        appSide.setSoTimeout(20_000);
                        assertThat(L7EnforcementTest.readHead(appSide.getInputStream())).startsWith("GET /api/a ");
                        appSide.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII));
                        assertThat(L7EnforcementTest.readHead(s.getInputStream())).startsWith("HTTP/1.1 200 ");
                        assertThat(s.getInputStream().readNBytes(2)).as("parsed, answered").isEqualTo("ok".getBytes(StandardCharsets.US_ASCII));
                    } else {
                        // Admitted and joined (counted opened there), so that the change cuts an open connection rather than
                        // refusing it at accept: with nothing dialled, the client's connect says nothing of the admission.
                        await(() -> count(m.dst.find("istio.tcp.connections.opened")) >= 1);
                    }
                    engine.replace(PolicyLoader.fromString("p.yaml", (L7Http10Test.POLICY_WITH_L4_RULE + L7SniffDecisionTest.DENY_PORT)
                            .replace("PORT", port)));
                    // The change's own line, whether it came before the connection was tracked (at its join) or after.
                    assertThat(err.awaitLine("plaintext connection to", "no longer allowed after a policy update"))
                            .contains("DENY by prod/deny-port (AuthorizationPolicy DENY, rule 0)");
                    assertThat(io.zerohop.testing.netty.SocketEnds.readUntilEnd(s.getInputStream())).as("client side").isEqualTo("reset");
                    // Its one access line (parsed, sniffed or relayed as bytes alike): ztunnel's late rejection.
                    String from = "src=" + s.getLocalAddress().getHostAddress() + ":" + s.getLocalPort() + " ";
                    assertThat(err.awaitLine("access - plaintext-inbound " + from)).as("%s", sent)
                            .endsWith(" end=reset error=\"connection closed due to policy change\"");
                    assertThat(err.count("access - plaintext-inbound " + from)).as("%s", sent).isEqualTo(1);
                    await(() -> count(m.dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY")) >= 1);
                    assertThat(count(m.dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY"))).isEqualTo(1.0);
                    if (appSide != null) {
                        assertThat(io.zerohop.testing.netty.SocketEnds.readUntilEnd(appSide.getInputStream())).as("application side")
                                .isEqualTo("reset");
                    }
                } finally {
                    if (appSide != null) {
                        appSide.close();
                    }
                }
            }
        }
    }

    private static void send(Socket s) throws java.io.IOException {
        OutputStream out = s.getOutputStream();
        out.write(NOT_HTTP);
        out.flush();
    }
}
