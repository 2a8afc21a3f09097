package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the README's {@code --forward} text says (new-user pass: it did not): the tunnel carries the identity of the
 * workload the connection comes from, and the node proxy has none of its own, so a caller whose source address is
 * no registry workload (a client on the host, 127.0.0.1) is reset, with the INFO line naming why (mesh-core
 * README "Capture", step 1); the {@code --help} line says so too.
 */
class ForwardSourceTest {
    @org.junit.jupiter.api.extension.RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    void aForwardFromNoWorkloadIsResetAsTheReadmeSays(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("w.yaml"), """
                workloads:
                  - {namespace: prod, name: web, serviceAccount: web, addresses: [127.0.64.22]}
                """);
        try (ChildProxy proxy = new ChildProxy(List.of(), "--in-memory-ca", "--workloads", w.toString(), "--inbound", "127.0.64.21:0",
                "--forward", "127.0.64.21:0=127.0.64.22:8080", "--metrics", "off", "--readiness", "off", "--admin", "off")) {
            try (Socket s = proxy.dialForward("127.0.64.21", "127.0.0.1")) {
                s.getOutputStream().write("hi\n".getBytes());
                InputStream in = s.getInputStream();
                int read;
                try {
                    read = in.read();
                } catch (SocketException reset) {
                    read = -2;
                }
                assertThat(read).as("reset (or closed), nothing relayed").isLessThan(0);
            }
            proxy.stop();
            assertThat(proxy.output()).containsPattern("outbound 127\\.0\\.0\\.1:\\d+ \\(no identity\\) -> 127\\.0\\.64\\.22:8080 "
                    + "\\(spiffe://cluster\\.local/ns/prod/sa/web\\) refused: source 127\\.0\\.0\\.1:\\d+ is not a workload of this node"
                    + " and the proxy has no identity of its own");
        }
        assertThat(Zerohop.run("proxy", "--help")).isZero();
        assertThat(std.out.toString().replaceAll("\\s+", " ")).contains("a caller whose source address is no workload of this node"
                + " is reset, unless it is on this host and the proxy has an SVID of its own (PEM files, SPIRE)");
    }

    /**
     * With PEM files the proxy has an SVID of its own and lends it, as a sidecar's identity covers its pod, to a caller on
     * this host (127.0.0.1 here); a remote caller is reset (mesh-core OutboundTest, which needs no second host).
     */
    @Test
    void aPemProxyLendsItsSvidToACallerOnThisHost(@TempDir Path dir) throws Exception {
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.resolve("ca").toString())).isZero();
        assertThat(Zerohop.run("ca", "issue", "--ca", dir.resolve("ca").toString(), "--id", "spiffe://cluster.local/ns/prod/sa/web",
                "--out", dir.resolve("pem").toString(), "--ttl", "2h")).isZero();
        Path w = Files.writeString(dir.resolve("w.yaml"), """
                workloads:
                  - {namespace: prod, name: web, serviceAccount: web, addresses: [127.0.65.32]}
                """);
        try (java.net.ServerSocket app = oneByteEcho("127.0.65.32")) {
            try (ChildProxy proxy = new ChildProxy(List.of(), "--cert", dir.resolve("pem/cert.pem").toString(), "--key",
                    dir.resolve("pem/key.pem").toString(), "--trust-bundle", dir.resolve("pem/bundle.pem").toString(),
                    "--workloads", w.toString(), "--inbound", "127.0.65.32:15008",
                    "--forward", "127.0.65.31:0=127.0.65.32:" + app.getLocalPort(), "--metrics", "off", "--readiness", "off", "--admin", "off")) {
                try (Socket s = proxy.dialForward("127.0.65.31", "127.0.0.1")) {
                    s.getOutputStream().write('x');
                    assertThat(s.getInputStream().read()).as(proxy.output()).isEqualTo('x');
                }
                proxy.stop();
                assertThat(proxy.output()).containsPattern("outbound src=127\\.0\\.0\\.1:\\d+ src_id=spiffe://cluster\\.local/ns/prod/sa/web ");
            }
        }
    }

    /** A listener on {@code ip} (any port) whose first connection gets its first byte back, then is closed. */
    static java.net.ServerSocket oneByteEcho(String ip) throws java.io.IOException {
        java.net.ServerSocket app = new java.net.ServerSocket();
        app.bind(new InetSocketAddress(ip, 0));
        Thread echo = new Thread(() -> {
            try (Socket c = app.accept()) {
                c.getOutputStream().write(c.getInputStream().read());
            } catch (java.io.IOException e) {
                // the test fails on what it reads
            }
        }, "one-byte-echo");
        echo.setDaemon(true);
        echo.start();
        return app;
    }
}
