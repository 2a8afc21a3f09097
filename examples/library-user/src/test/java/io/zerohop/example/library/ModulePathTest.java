package io.zerohop.example.library;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * zerohop on the JPMS module path, as zerohop-bom's README ("JPMS modules") tells a user to run it: the other tests
 * run on the class path (the root pom's {@code useModulePath=false}), so without this one the README's flags and the
 * warnings that name them were checked by hand only. A small application module ({@code requires
 * io.zerohop.example.library}) is compiled here against the module path Maven resolved for this module's runtime
 * ({@code target/module-path.txt}, maven-dependency-plugin) and run in a child JVM: an {@link OrdersService} with an
 * Istio policy and an in-memory CA, called through {@link OrdersClient}: real TLS, real sockets.
 */
@Timeout(180)
class ModulePathTest {
    /**
     * The README's flags: the native modules nothing requires by name, the epoll opening, and
     * the HTTP/2 opening (used only when mesh-core parses HTTP/2, which this application does not).
     */
    static final List<String> README_FLAGS = List.of(
            "--add-modules", "io.netty.internal.tcnative.openssl.linux.x86_64,io.netty.transport.epoll.linux.x86_64",
            "--add-opens", "io.netty.transport.classes.epoll/io.netty.channel.epoll=io.zerohop.hbone",
            "--add-opens", "io.netty.codec.http2/io.netty.handler.codec.http2=io.zerohop.core");

    @TempDir
    static Path dir;
    static String modulePath;

    @BeforeAll
    static void compileTheApplicationModule() throws Exception {
        Path listed = Path.of("target", "module-path.txt");
        assertThat(listed).as("written by maven-dependency-plugin (generate-test-resources)").exists();
        // This module's own classes (an exploded module), its runtime dependencies, and slf4j-simple from the test
        // class path so that zerohop's log lines are printed.
        List<String> entries = new ArrayList<>(List.of(Path.of("target", "classes").toAbsolutePath().toString()));
        entries.addAll(Arrays.asList(Files.readString(listed).trim().split(File.pathSeparator)));
        Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .filter(e -> Path.of(e).getFileName().toString().startsWith("slf4j-simple-")).findFirst().ifPresent(entries::add);
        modulePath = String.join(File.pathSeparator, entries);
        Path src = Files.createDirectories(dir.resolve("src/app"));
        Files.writeString(dir.resolve("src/module-info.java"), """
                module app {
                    requires io.zerohop.example.library;
                    requires io.zerohop.core;
                }
                """);
        Files.writeString(src.resolve("Main.java"), """
                package app;

                import io.zerohop.core.Mesh;
                import io.zerohop.core.Workload;
                import io.zerohop.core.WorkloadRegistry;
                import io.zerohop.example.library.OrdersClient;
                import io.zerohop.example.library.OrdersService;
                import io.zerohop.identity.InMemoryCa;
                import io.zerohop.policy.PolicyEngine;
                import io.zerohop.policy.PolicyLoader;
                import java.net.InetAddress;
                import java.net.InetSocketAddress;
                import java.util.List;
                import java.util.Map;

                public final class Main {
                    public static void main(String[] args) throws Exception {
                        InMemoryCa ca = InMemoryCa.create("cluster.local");
                        Workload orders = new Workload("shop", "orders", "orders", Map.of("app", "orders"),
                                List.of(InetAddress.getByName("192.0.2.10")), Workload.Protocol.HBONE, "orders-node", "cluster.local");
                        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", String.join("\\n",
                                "apiVersion: security.istio.io/v1", "kind: AuthorizationPolicy",
                                "metadata: {name: orders-allow-web, namespace: shop}",
                                "spec: {selector: {matchLabels: {app: orders}}, action: ALLOW,",
                                "  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}]}]}"))).build();
                        try (OrdersService service = OrdersService.start(ca, WorkloadRegistry.of(List.of(orders), Map.of()), orders,
                                "orders-node", policy, new InetSocketAddress("127.0.0.1", 0));
                             Mesh web = Mesh.builder().identityProvider(ca)
                                     .identity(io.zerohop.identity.SpiffeIds.istio("cluster.local", "shop", "web"))
                                     .workloads(WorkloadRegistry.of(List.of(orders), Map.of("orders-node", service.hboneAddress())))
                                     .threads(1).build()) {
                            System.out.println("ANSWER " + OrdersClient.order(web, service.appAddress(), "7"));
                            // A plain TCP client through a forward capture: the relay path (a TCP socket on each side).
                            InetSocketAddress local = web.capture(io.zerohop.core.Capture.forward(
                                    new InetSocketAddress("127.0.0.1", 0), service.appAddress()));
                            try (java.net.Socket s = new java.net.Socket(local.getAddress(), local.getPort())) {
                                s.getOutputStream().write("order 8\\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                                s.shutdownOutput();
                                s.setSoTimeout(30_000);
                                System.out.print("RELAYED " + new String(s.getInputStream().readAllBytes(),
                                        java.nio.charset.StandardCharsets.US_ASCII));
                            }
                        }
                    }
                }
                """);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        java.io.ByteArrayOutputStream errors = new java.io.ByteArrayOutputStream();
        int rc = javac.run(null, errors, errors, "--release", "17", "--module-path", modulePath, "-d", dir.resolve("out").toString(),
                dir.resolve("src/module-info.java").toString(), src.resolve("Main.java").toString());
        assertThat(rc).as("javac of the application module against the module path: %s", errors).isZero();
    }

    /** Runs the application module with {@code flags}; its whole output. */
    static String run(List<String> flags) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--module-path", dir.resolve("out") + File.pathSeparator + modulePath));
        cmd.addAll(flags);
        cmd.addAll(List.of("-m", "app/app.Main"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out;
    }

    @Test
    void withTheReadmesFlagsATunnelRunsOnBoringSslAndEpollAndNothingIsWarned() throws Exception {
        String out = run(README_FLAGS);
        assertThat(out).contains("ANSWER order 7 for spiffe://cluster.local/ns/shop/sa/web")
                .contains("RELAYED order 8 for spiffe://cluster.local/ns/shop/sa/web")
                .containsPattern("HBONE listener on 127\\.0\\.0\\.1:\\d+ \\(epoll\\)")
                .doesNotContain("WARN").doesNotContain("WARNING");
    }

    /**
     * No flag at all: java-spiffe-core's commons-lang3 ({@code SpiffeId.parse}) is resolved because mesh-identity
     * requires it (a new-user pass, 5 December: without {@code --add-modules org.apache.commons.lang3},
     * {@code NoClassDefFoundError: org/apache/commons/lang3/StringUtils}).
     */
    @Test
    void withoutTheNativeModulesItStillWorksAndEachWarningNamesTheFlagThatIsMissing() throws Exception {
        String out = run(List.of());
        assertThat(out).contains("ANSWER order 7 for spiffe://cluster.local/ns/shop/sa/web")
                .contains("RELAYED order 8 for spiffe://cluster.local/ns/shop/sa/web")
                .contains("netty-tcnative BoringSSL unavailable")
                .contains("(on the module path add --add-modules io.netty.internal.tcnative.openssl.linux.x86_64, or the module of"
                        + " your platform's netty-tcnative-boringssl-static jar: see zerohop-bom's README)")
                .containsPattern("HBONE listener on 127\\.0\\.0\\.1:\\d+ \\(nio\\)");
    }

    @Test
    void withoutTheOpeningTheEpollWorkaroundSaysWhichFlagItNeeds() throws Exception {
        String out = run(List.of("--add-modules",
                "io.netty.internal.tcnative.openssl.linux.x86_64,io.netty.transport.epoll.linux.x86_64"));
        assertThat(out).contains("ANSWER order 7 for spiffe://cluster.local/ns/shop/sa/web")
                .contains("RELAYED order 8 for spiffe://cluster.local/ns/shop/sa/web")
                .contains("cannot work around Netty's epoll registration bug (netty#16689)")
                .contains("(on the module path add --add-opens io.netty.transport.classes.epoll/io.netty.channel.epoll=io.zerohop.hbone:"
                        + " see zerohop-bom's README)");
    }
}
