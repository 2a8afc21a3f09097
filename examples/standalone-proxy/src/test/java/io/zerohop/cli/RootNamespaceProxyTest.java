package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code zerohop proxy --root-namespace} with a typo that is still a namespace name: one warning at load, in its own JVM. */
class RootNamespaceProxyTest {
    private static final String WARNING = "WARN RootNamespaceCheck - root namespace istio-sytem (--root-namespace) holds no"
            + " AuthorizationPolicy or PeerAuthentication, but 1 in istio-system: those apply to their own namespace only,"
            + " not mesh-wide; is the root namespace or their namespace mistyped?";

    private static List<String> proxy(Path policies, String root) throws Exception {
        try (RetryLogTest.Proc p = RetryLogTest.Proc.start(List.of("proxy", "--in-memory-ca", "--policies", policies.toString(),
                "--root-namespace", root, "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "off", "--admin", "off"),
                List.of())) {
            p.awaitOut(out -> out.stream().anyMatch(l -> l.startsWith("zerohop proxy ready: ")), "the ready line");
            assertThat(p.out()).anyMatch(l -> l.startsWith("zerohop proxy ready: ") && l.endsWith("; policies 1"));
            assertThat(p.stop()).isZero();
            return p.err();
        }
    }

    @Test
    @Timeout(120)
    @DisplayName("a mesh-wide policy in istio-system with --root-namespace istio-sytem: one WARN line at load; none with the right root")
    void aMistypedRootNamespaceIsWarnedOnceAtLoad(@TempDir Path dir) throws Exception {
        Path policies = Files.createDirectories(dir.resolve("policies"));
        Files.writeString(policies.resolve("deny.yaml"), PolicyCheckTest.MESH_DENY);
        List<String> typo = proxy(policies, "istio-sytem");
        assertThat(typo.stream().filter(l -> l.contains("RootNamespaceCheck")).toList()).as("stderr %s", typo)
                .singleElement().asString().endsWith(WARNING);
        List<String> right = proxy(policies, "istio-system");
        assertThat(right).as("stderr").noneMatch(l -> l.contains("RootNamespaceCheck"));
    }

    /** A started fabric8 mock API server in CRUD mode on loopback (a real HTTP server; no cluster can run here). */
    static io.fabric8.kubernetes.client.server.mock.KubernetesMockServer mockApiServer() {
        java.util.Map<io.fabric8.mockwebserver.ServerRequest, java.util.Queue<io.fabric8.mockwebserver.ServerResponse>> responses =
                new java.util.HashMap<>();
        io.fabric8.kubernetes.client.server.mock.KubernetesMockServer api = new io.fabric8.kubernetes.client.server.mock.KubernetesMockServer(
                new io.fabric8.mockwebserver.Context(io.fabric8.kubernetes.client.utils.Serialization.jsonMapper()),
                new io.fabric8.mockwebserver.MockWebServer(), responses,
                new io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher(responses), false);
        api.init(java.net.InetAddress.getLoopbackAddress(), 0);
        return api;
    }

    @Test
    @Timeout(120)
    @DisplayName("--kubernetes: the same warning once the first sync installs a mesh-wide policy in istio-system under --root-namespace istio-sytem")
    void aMistypedRootNamespaceIsWarnedAfterTheKubernetesSync() throws Exception {
        io.fabric8.kubernetes.client.server.mock.KubernetesMockServer api = mockApiServer();
        try (io.fabric8.kubernetes.client.KubernetesClient client = api.createClient()) {
            client.genericKubernetesResources(new io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext.Builder()
                    .withGroup("security.istio.io").withVersion("v1").withKind("AuthorizationPolicy").withPlural("authorizationpolicies")
                    .withNamespaced(true).build()).inNamespace("istio-system").resource(io.fabric8.kubernetes.client.utils.Serialization
                    .unmarshal(PolicyCheckTest.MESH_DENY, io.fabric8.kubernetes.api.model.GenericKubernetesResource.class)).create();
            try (RetryLogTest.Proc p = RetryLogTest.Proc.start(List.of("proxy", "--kubernetes", "--node", "node-a", "--in-memory-ca",
                    "--root-namespace", "istio-sytem", "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "off", "--admin", "off"),
                    List.of("-Dkubernetes.master=" + client.getMasterUrl(), "-Dkubernetes.auth.tryKubeConfig=false",
                            "-Dkubernetes.auth.tryServiceAccount=false"))) {
                p.awaitOut(out -> out.stream().anyMatch(l -> l.startsWith("zerohop proxy ready: ")), "the ready line");
                p.await(err -> err.stream().anyMatch(l -> l.contains("RootNamespaceCheck")), "the warning");
                assertThat(p.stop()).isZero();
                assertThat(p.err().stream().filter(l -> l.contains("RootNamespaceCheck")).toList()).as("stderr %s", p.err())
                        .singleElement().asString().endsWith(WARNING);
            }
        } finally {
            api.destroy();
        }
    }
}
