package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every {@code java} block of the READMEs a user reads compiles as printed, against the jars a user
 * gets (this module's test class path holds every zerohop module, fabric8, Micrometer, JUnit and
 * AssertJ). Each block becomes the body of a method whose parameters are the names the README leaves
 * to the reader ({@code peer}, {@code target}, {@code prometheus}...); nothing else is added. A
 * new-user pass found two blocks that declared {@code id} twice, so they could not be pasted whole.
 */
class ReadmeSnippetsTest {
    /** README, then one entry per java block, in order: the free names the block uses, as parameters. */
    private static final Map<String, List<String>> FREE = Map.of(
            "README.md", List.of("", "InetAddress peer, InetAddress local",
                    "MeshTls tls, SpiffeId backend, SpiffeId frontend, InetSocketAddress target, InetSocketAddress hboneAddress",
                    "Path cert, Path key, Path bundle, PolicyEngine engine, io.micrometer.core.instrument.MeterRegistry prometheusRegistry, "
                            + "InetAddress backendIp"),
            "mesh-core/README.md", List.of("io.micrometer.core.instrument.MeterRegistry prometheus", "Mesh mesh, SpiffeId me, SpiffeId partner",
                    "Mesh node", "SpiffeId backend, InetAddress ip",
                    "IdentityProvider ca, WorkloadRegistry registry, PolicyEngine policies, int grpcServerPort"),
            "mesh-hbone/README.md", List.of("", "", "PolicyEngine engine, java.util.function.Predicate<TunnelInfo> allowed", "", "HboneServerSocket sockets",
                    "HboneClient client, InetSocketAddress pod, SpiffeId backend, InetSocketAddress hbone", "HboneClient client, SpiffeId backend",
                    "HboneClient client, InetSocketAddress pod, SpiffeId backend, InetSocketAddress hbone, Socket acceptedSocket, "
                            + "java.util.concurrent.Executor relayThreads", ""),
            "mesh-identity/README.md", List.of("io.micrometer.core.instrument.MeterRegistry metrics"),
            "mesh-identity-istio/README.md", List.of("Set<java.security.cert.X509Certificate> roots"),
            "mesh-identity-spire/README.md", List.of(""),
            "mesh-policy/README.md", List.of("InetAddress peer, InetAddress local, WorkloadRef workload, Path dir"),
            "mesh-kubernetes/README.md", List.of("io.fabric8.kubernetes.client.KubernetesClient client, IdentityProvider provider",
                    "IdentityProvider certs"));

    private static final String IMPORTS = """
            import io.zerohop.identity.*; import io.zerohop.identity.istio.*; import io.zerohop.identity.spire.*;
            import io.zerohop.policy.*; import io.zerohop.hbone.*; import io.zerohop.core.*; import io.zerohop.kubernetes.*;
            import io.spiffe.spiffeid.*; import io.spiffe.svid.x509svid.X509Svid; import io.spiffe.bundle.x509bundle.*;
            import io.netty.channel.*; import io.netty.channel.socket.ChannelInputShutdownEvent; import io.netty.channel.nio.NioIoHandler;
            import io.netty.bootstrap.ServerBootstrap; import io.netty.handler.ssl.SslContext;
            import io.fabric8.kubernetes.client.*;
            import java.net.*; import java.nio.file.*; import java.util.*; import java.time.Duration;
            import java.util.concurrent.TimeUnit; import java.util.concurrent.ConcurrentHashMap; import javax.net.SocketFactory;
            """;

    static Path root() {
        Path p = Path.of("").toAbsolutePath();
        while (!Files.exists(p.resolve("zerohop-bom"))) {
            p = p.getParent();
        }
        return p;
    }

    static List<String> javaBlocks(Path readme) throws Exception {
        Matcher m = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL).matcher(Files.readString(readme));
        List<String> out = new ArrayList<>();
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    /**
     * The micrometer-core version the READMEs tell a user to add (the BOM does not manage it, and the last
     * README snippet needs it: a new-user pass's own project failed with "package io.micrometer.core.instrument
     * does not exist" and the README named no version) is the one mesh-core is built with.
     */
    @Test
    void theMicrometerVersionTheReadmesNameIsTheBuildsOne() throws Exception {
        Matcher pom = Pattern.compile("<micrometer.version>([^<]+)</micrometer.version>").matcher(Files.readString(root().resolve("pom.xml")));
        assertThat(pom.find()).isTrue();
        for (String readme : List.of("README.md", "examples/embedded-service/README.md")) {
            Matcher named = Pattern.compile("mesh-core is built with (\\d[\\w.]*\\w)").matcher(Files.readString(root().resolve(readme)));
            assertThat(named.find()).as(readme + " names the micrometer-core version to add").isTrue();
            assertThat(named.group(1)).as(readme).isEqualTo(pom.group(1));
        }
    }

    /**
     * zerohop-bom has no parent (importing it must not manage a user's third-party versions), so the plugins its own
     * build runs are pinned in it: each at zerohop-parent's version, so a build of the BOM alone (offline) needs
     * nothing the project's build did not fetch.
     */
    @Test
    void theBomPinsItsPluginsAtTheParentsVersions() throws Exception {
        Pattern plugin = Pattern.compile("<artifactId>(maven-[a-z-]+-plugin)</artifactId><version>([^<]+)</version>");
        Map<String, String> parent = new java.util.HashMap<>();
        for (Matcher m = plugin.matcher(Files.readString(root().resolve("pom.xml"))); m.find(); ) {
            parent.put(m.group(1), m.group(2));
        }
        int pinned = 0;
        for (Matcher m = plugin.matcher(Files.readString(root().resolve("zerohop-bom/pom.xml"))); m.find(); pinned++) {
            assertThat(m.group(2)).as("zerohop-bom's %s", m.group(1)).isEqualTo(parent.get(m.group(1)));
        }
        assertThat(pinned).as("install and clean pinned in zerohop-bom").isEqualTo(2);
    }

    @Test
    void everyJavaBlockCompilesAsPrinted(@TempDir Path dir) throws Exception {
        StringBuilder src = new StringBuilder(IMPORTS).append("class Snippets {\n");
        int blocks = 0;
        for (Map.Entry<String, List<String>> readme : new java.util.TreeMap<>(FREE).entrySet()) {
            List<String> code = javaBlocks(root().resolve(readme.getKey()));
            assertThat(code).as("%s's java blocks (add the new one's free names to FREE)", readme.getKey()).hasSameSizeAs(readme.getValue());
            for (int i = 0; i < code.size(); i++) {
                src.append("  // ").append(readme.getKey()).append(" block ").append(i + 1).append('\n')
                        .append("  static void b").append(blocks++).append('(').append(readme.getValue().get(i)).append(") throws Exception {\n")
                        .append(code.get(i)).append("  }\n");
            }
        }
        Path file = Files.writeString(dir.resolve("Snippets.java"), src.append("}\n"));
        // The zerohop-testing README's example is a whole test class: compiled as it stands.
        List<String> testing = javaBlocks(root().resolve("zerohop-testing/README.md"));
        assertThat(testing).hasSize(1);
        Path test = Files.writeString(dir.resolve("OrderClientTest.java"), testing.get(0));

        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        StringWriter errors = new StringWriter();
        boolean ok = javac.getTask(errors, null, null,
                List.of("-proc:none", "-d", dir.toString(), "-cp", System.getProperty("java.class.path")), null,
                javac.getStandardFileManager(null, null, null).getJavaFileObjects(file, test)).call();
        assertThat(ok).as("%d README blocks:%n%s", blocks, errors).isTrue();
        assertThat(blocks).isGreaterThanOrEqualTo(20);
    }
}
