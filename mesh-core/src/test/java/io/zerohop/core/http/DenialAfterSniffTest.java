package io.zerohop.core.http;

import static io.zerohop.core.http.L7SniffDecisionTest.await;
import static io.zerohop.core.http.L7SniffDecisionTest.count;
import static io.zerohop.core.http.L7SniffDecisionTest.readToEnd;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.Capture;
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
                String denied = err.awaitLine("denied " + frontend.identity() + " -> ", "not parsed as HTTP");
                assertThat(denied).contains("(" + backend.identity() + "): DENY by prod/api-only (AuthorizationPolicy ALLOW, default deny)");
                String line = err.awaitLine("inbound src=", "src_id=" + frontend.identity(), "end=");
                assertThat(line).contains("dst_id=" + backend.identity())
                        .endsWith(" end=reset error=\"connection closed due to policy rejection: allow policies exist, but none allowed\"");
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
                assertThat(err.awaitLine("denied plaintext ", "not parsed as HTTP")).contains("(" + backend.identity() + "): DENY by prod/deny-admin");
            }
            await(() -> count(dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY")) >= 1);
            assertThat(count(dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY"))).isEqualTo(1.0);
            assertThat(count(dst.find("istio.tcp.connections.closed").tag("response_flags", "-"))).isZero();
            assertThat(seen).isEmpty();
        });
    }

    private static void send(Socket s) throws java.io.IOException {
        OutputStream out = s.getOutputStream();
        out.write(NOT_HTTP);
        out.flush();
    }
}
