package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code zerohop proxy --inbound-endpoint TARGET=ENDPOINT} (Istio's {@code Sidecar.ingress[].defaultEndpoint}, through
 * {@code Mesh.Builder.inboundEndpoint}): a VM or host without TPROXY binds its application to loopback only and the
 * proxy delivers the workload address's tunnels there, so PeerAuthentication STRICT holds. Before it, the proxy could
 * only warn at start that a STRICT workload was reachable in plaintext. Entries that can never work are refused at
 * start (exit 2) naming the entry.
 */
@Timeout(120)
class InboundEndpointOptionTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    private String refused(String... more) {
        List<String> args = new ArrayList<>(List.of("proxy", "--in-memory-ca"));
        String[][] defaults = {{"--metrics", "off"}, {"--readiness", "off"}, {"--admin", "off"}, {"--inbound", "127.0.126.1:15008"}};
        for (String[] d : defaults) {
            if (!List.of(more).contains(d[0])) {
                args.addAll(List.of(d));
            }
        }
        args.addAll(List.of(more));
        std.err.reset();
        int code = Zerohop.run(args.toArray(new String[0]));
        return "exit " + code + ": " + std.err.toString().lines().filter(l -> l.startsWith("zerohop proxy: ")).findFirst().orElse("");
    }

    @Test
    void entriesThatCannotWorkAreRefusedNamingThem() {
        assertThat(refused("--inbound-endpoint", "10.0.1.2:8080")).isEqualTo("exit 2: zerohop proxy: --inbound-endpoint: must be"
                + " TARGET=ENDPOINT (the workload's ip:port = where the application listens), got \"10.0.1.2:8080\"");
        assertThat(refused("--inbound-endpoint", "10.0.1.2:8080=127.0.0.1:8080", "--inbound-endpoint", "10.0.1.2:8080=127.0.0.1:9090"))
                .isEqualTo("exit 2: zerohop proxy: --inbound-endpoint: 10.0.1.2:8080 is given two endpoints, 127.0.0.1:8080 and"
                        + " 127.0.0.1:9090 (give each TARGET one)");
        // The endpoint is the HBONE listener itself: every tunnel would come back to the proxy.
        assertThat(refused("--inbound-endpoint", "10.0.1.2:8080=127.0.126.1:15008")).isEqualTo("exit 2: zerohop proxy:"
                + " --inbound-endpoint: 10.0.1.2:8080=127.0.126.1:15008: 127.0.126.1:15008 is where --inbound 127.0.126.1:15008 listens:"
                + " every tunnel would come back to this proxy (a self call) and none would reach the application (give the address"
                + " the application binds, e.g. 127.0.0.1:8080)");
        assertThat(refused("--inbound-endpoint", "127.0.126.1:15008=127.0.0.1:8080")).isEqualTo("exit 2: zerohop proxy:"
                + " --inbound-endpoint: 127.0.126.1:15008=127.0.0.1:8080: 127.0.126.1:15008 is also where --inbound 127.0.126.1:15008"
                + " listens, and the proxy receives the workload's plaintext on TARGET: two listeners cannot share an address and port");
        assertThat(refused("--inbound-transparent", "--inbound-endpoint", "10.0.1.2:8080=127.0.0.1:8080")).isEqualTo("exit 2:"
                + " zerohop proxy: --inbound-endpoint: 10.0.1.2:8080=127.0.0.1:8080: a loopback ENDPOINT with --inbound-transparent: a"
                + " TPROXY node proxy serves workloads in other network namespaces, where this is the node's loopback, not the"
                + " workload's (with TPROXY, --plaintext-inbound already refuses plaintext to a STRICT workload: drop"
                + " --inbound-endpoint, or give the workload's own address as ENDPOINT)");
        // The mesh's self-call rule by port (newuser26: these started, then refused every tunnel 503).
        assertThat(refused("--inbound-endpoint", "10.0.1.2:8080=127.0.0.1:15001")).isEqualTo("exit 2: zerohop proxy: --inbound-endpoint:"
                + " 10.0.1.2:8080=127.0.0.1:15001: port 15001 is one of this proxy's own ports (one of ztunnel's fixed ports, 15008, 15006,"
                + " 15001 and 15080): every tunnel to 10.0.1.2:8080 would be refused as a self call (503), as ztunnel refuses its own"
                + " ports; give the application another port");
        assertThat(refused("--admin", "127.0.126.1:15999", "--inbound-endpoint", "10.0.1.2:8080=127.0.0.1:15999")).contains(
                "port 15999 is one of this proxy's own ports (--admin 127.0.126.1:15999 claims it on every address)");
        // A wildcard forward of the other family: Netty's epoll binds [::] dual-stack, so 127.0.0.1:15998 is the forward too
        // (a final pass: it started, then every tunnel got 503). Named as the listener there since 5 December, when a wildcard
        // began to clash with every address of both families (ProxyCommand.clash); before, by the port rule below.
        assertThat(refused("--forward", "[::]:15998=10.0.1.2:8080", "--inbound-endpoint", "10.0.1.2:8080=127.0.0.1:15998")).contains(
                "127.0.0.1:15998 is where --forward [::]:15998 listens: every tunnel would come back to this proxy (a self call)");
        // Mesh.Builder.inboundEndpoint's own checks, named as the option and not as the Java method (a new-user pass: they
        // read "--inbound-endpoint: inboundEndpoint: target ...").
        assertThat(refused("--inbound-endpoint", "10.0.1.2:8080=10.0.1.2:8080")).isEqualTo("exit 2: zerohop proxy: --inbound-endpoint:"
                + " target and endpoint are both 10.0.1.2:8080: give the address the application listens on instead, e.g. 127.0.0.1:8080");
        assertThat(refused("--inbound-endpoint", "10.0.1.2:0=127.0.0.1:8080")).isEqualTo("exit 2: zerohop proxy: --inbound-endpoint:"
                + " target 10.0.1.2:0 has port 0: give the port");
        assertThat(refused("--inbound-endpoint", "0.0.0.0:8080=127.0.0.1:8080")).isEqualTo("exit 2: zerohop proxy: --inbound-endpoint:"
                + " target 0.0.0.0:8080 is a wildcard address: give one IP (the workload address peers dial)");
        assertThat(refused("--inbound-endpoint", "10.0.1.2:8080=224.0.0.1:8080")).isEqualTo("exit 2: zerohop proxy: --inbound-endpoint:"
                + " endpoint 224.0.0.1:8080 is a multicast address: give one host's IP");
        // A list written "a, b" (split on commas) or an entry with a trailing space: the space is named, not "bad port"
        // (newuser26 got: bad port in "127.0.78.2:8080 ").
        assertThat(refused("--inbound-endpoint", "10.0.1.2:8080=127.0.0.1:8080, 10.0.1.3:8080=127.0.0.1:9090")).isEqualTo(
                "exit 2: zerohop proxy: --inbound-endpoint: \" 10.0.1.3:8080\" contains a space; write ip:port without spaces");
        assertThat(refused("--inbound-endpoint", "10.0.1.2:8080=127.0.0.1:+80")).isEqualTo("exit 2: zerohop proxy:"
                + " --inbound-endpoint: bad port \"+80\" in \"127.0.0.1:+80\" (a decimal number 0..65535 after the last colon)");
    }

    @Test
    void aStrictWorkloadsTunnelsReachItsLoopbackApplicationAndNoWarningSaysItIsOpen(@TempDir Path dir) throws Exception {
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.resolve("ca").toString())).isZero();
        assertThat(Zerohop.run("ca", "issue", "--ca", dir.resolve("ca").toString(), "--id", "spiffe://cluster.local/ns/prod/sa/cli",
                "--out", dir.resolve("cli").toString(), "--ttl", "2h")).isZero();
        Path w = Files.writeString(dir.resolve("w.yaml"), """
                workloads:
                  - {namespace: prod, name: web, serviceAccount: web, addresses: [127.0.126.12]}
                """);
        Path p = Files.writeString(dir.resolve("strict.yaml"), """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: prod}
                spec:
                  mtls: {mode: STRICT}
                """);
        // The application: an echo bound to loopback only (on the workload address 127.0.126.12 only the HBONE listener).
        try (ServerSocket app = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            Thread echo = new Thread(() -> {
                while (!app.isClosed()) {
                    try (Socket s = app.accept()) {
                        s.getInputStream().transferTo(s.getOutputStream());
                        s.shutdownOutput();
                    } catch (java.io.IOException e) {
                        return;
                    }
                }
            }, "app");
            echo.setDaemon(true);
            echo.start();
            String[] common = {"--ca", dir.resolve("ca").toString(), "--workloads", w.toString(), "--policies", p.toString(),
                    "--inbound", "127.0.126.12:0", "--metrics", "off", "--readiness", "off", "--admin", "off"};
            String withEntry;
            String[] entry = concat(common, "--inbound-endpoint", "127.0.126.12:8080=127.0.0.1:" + app.getLocalPort());
            entry[entry.length - 3] = "127.0.126.12:0"; // --admin, for /config_dump
            try (ChildProxy proxy = new ChildProxy(List.of(), entry)) {
                Matcher m = Pattern.compile("hbone 127\\.0\\.126\\.12:(\\d+)").matcher(proxy.output());
                assertThat(m.find()).as(proxy.output()).isTrue();
                String got = connect(dir, "127.0.126.12:" + m.group(1), "127.0.126.12:8080", "through the mesh\n");
                assertThat(got).as(proxy.output()).isEqualTo("through the mesh\n");
                // The port the application left: the proxy receives plaintext there, and STRICT refuses it.
                assertThat(proxy.output()).contains("plaintext 127.0.126.12:8080=127.0.0.1:" + app.getLocalPort());
                try (Socket s = new Socket("127.0.126.12", 8080)) {
                    s.setSoTimeout(10_000);
                    s.getOutputStream().write("plaintext\n".getBytes(StandardCharsets.US_ASCII));
                    int read;
                    try {
                        read = s.getInputStream().read();
                    } catch (java.net.SocketException reset) {
                        read = -2;
                    }
                    assertThat(read).as("reset (or closed), nothing relayed").isLessThan(0);
                }
                Matcher a = Pattern.compile("admin 127\\.0\\.126\\.12:(\\d+)").matcher(proxy.output());
                assertThat(a.find()).as(proxy.output()).isTrue();
                var dump = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://127.0.126.12:" + a.group(1) + "/config_dump")).build(),
                        java.net.http.HttpResponse.BodyHandlers.ofString());
                assertThat(dump.body()).containsPattern("\"inboundEndpoints\" : \\{\\s*\"127\\.0\\.126\\.12:8080\" : \"127\\.0\\.0\\.1:"
                        + app.getLocalPort() + "\"");
                assertThat(proxy.stop()).isZero();
                withEntry = proxy.output();
            }
            assertThat(withEntry).doesNotContain("something accepts connections").contains("plaintext-inbound refused").contains("dst=127.0.126.12:8080")
                    .contains("reason=\"PeerAuthentication STRICT requires mTLS\"").doesNotContain("PeerAuthentication STRICT for prod/web");
            // A TARGET no workload of the (read once) --workloads file has: refused before anything starts, the swap named.
            std.err.reset();
            assertThat(Zerohop.run(concat(concat(new String[] {"proxy"}, common), "--inbound-endpoint", "127.0.0.1:" + app.getLocalPort() + "=127.0.126.12:8080")))
                    .isEqualTo(2);
            assertThat(std.err.toString()).contains("zerohop proxy: --inbound-endpoint 127.0.0.1:" + app.getLocalPort()
                    + "=127.0.126.12:8080: TARGET 127.0.0.1 is no workload of " + w + ", which is read once at start, so no tunnel"
                    + " to it could ever be served (TARGET is the workload's own ip:port, ENDPOINT where the application listens:"
                    + " swapped?)");
            // An application bound to 0.0.0.0 on another port than TARGET's: reachable at the workload address, said at start.
            try (ServerSocket wildcard = new ServerSocket(0, 50)) {
                try (ChildProxy proxy = new ChildProxy(List.of(), concat(common, "--inbound-endpoint",
                        "127.0.126.12:8080=127.0.0.1:" + wildcard.getLocalPort()))) {
                    assertThat(proxy.output()).contains("zerohop proxy: warning: --inbound-endpoint 127.0.126.12:8080=127.0.0.1:"
                            + wildcard.getLocalPort() + ": something accepts connections at 127.0.126.12:" + wildcard.getLocalPort()
                            + ", the workload address on the application's port: is the application bound to 0.0.0.0?");
                }
            }
            // Without the entry the proxy says the workload is open and names this option with the entry that closes it.
            try (ChildProxy proxy = new ChildProxy(List.of(), common)) {
                proxy.stop();
                assertThat(proxy.output()).contains("PeerAuthentication STRICT for prod/web")
                        .contains("(zerohop proxy: --inbound-endpoint 127.0.126.12:PORT=127.0.0.1:PORT;");
            }
        }
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** {@code zerohop connect} in a child JVM, as a user runs it; its stdout (or its stderr when it failed). */
    private static String connect(Path dir, String via, String target, String stdin) throws Exception {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), Zerohop.class.getName(), "connect", "--cert", dir.resolve("cli/cert.pem").toString(),
                "--key", dir.resolve("cli/key.pem").toString(), "--trust-bundle", dir.resolve("cli/bundle.pem").toString(),
                "--via", via, "--target", target, "--expect", "spiffe://cluster.local/ns/prod/sa/web");
        Path out = Files.createTempFile(dir, "out", ".txt");
        Path err = Files.createTempFile(dir, "err", ".txt");
        Process c = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        try (OutputStream in = c.getOutputStream()) {
            in.write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        assertThat(c.waitFor(60, TimeUnit.SECONDS)).as("zerohop connect ends").isTrue();
        return c.exitValue() == 0 ? Files.readString(out) : "exit " + c.exitValue() + ": " + Files.readString(err);
    }
}
