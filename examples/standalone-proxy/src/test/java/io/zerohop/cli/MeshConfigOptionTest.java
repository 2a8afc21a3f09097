package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code zerohop proxy --mesh-config}: istiod's MeshConfig file, read for {@code serviceEntryVisibility} as istiod's ambient
 * index reads it (istio/istio pilot/pkg/serviceregistry/kube/controller/ambient {@code serviceentry_visibility.go},
 * replayed in mesh-kubernetes' {@code ServiceEntryVisibilityTest}). Until 7 December the visibility could be set only by a
 * library user ({@code KubernetesDiscovery.Builder.serviceEntryVisibility}, h410), and the node proxy published every
 * ServiceEntry PUBLIC whatever the mesh said.
 */
class MeshConfigOptionTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    @DisplayName("a mistake in the file is a usage error naming file, line and field; without --kubernetes the option is refused"
            + " (nothing would read it); a missing file is named")
    void mistakesAreUsageErrorsNamingTheFile(@TempDir Path dir) throws Exception {
        String help = " | Run 'zerohop proxy --help' for usage.";
        Path bad = Files.writeString(dir.resolve("mesh"), "trustDomain: cluster.local\nserviceEntryVisibility:\n  defaultVisibility: NAMESPCE\n");
        assertThat(std.run("proxy", "--in-memory-ca", "--kubernetes", "--node", "node-a", "--mesh-config", bad.toString()))
                .isEqualTo("exit 2: zerohop proxy: --mesh-config: " + bad + ":3: serviceEntryVisibility.defaultVisibility: \"NAMESPCE\""
                        + " is none of VISIBILITY_UNSPECIFIED, NONE, NAMESPACE, PUBLIC" + help);
        Path good = Files.writeString(dir.resolve("good"), "serviceEntryVisibility: {defaultVisibility: NONE}\n");
        assertThat(std.run("proxy", "--in-memory-ca", "--mesh-config", good.toString()))
                .isEqualTo("exit 2: zerohop proxy: --mesh-config: only --kubernetes reads it (the visibility of"
                        + " ServiceEntries)" + help);
        assertThat(std.run("proxy", "--in-memory-ca", "--kubernetes", "--node", "node-a", "--mesh-config", dir.resolve("nope").toString()))
                .startsWith("exit 2: zerohop proxy: --mesh-config: ").contains("nope");
    }

    @Test
    @DisplayName("a file that is not UTF-8 text (random bytes, a Latin-1 save) is named with its line and byte, as --config"
            + " names it, not by the JDK decoder's 'Input length = 1'")
    void aFileThatIsNotUtf8IsNamedWithItsLine(@TempDir Path dir) throws Exception {
        Path latin1 = Files.write(dir.resolve("mesh"), "trustDomain: cluster.local\n# caf\u00e9\nserviceEntryVisibility: {}\n"
                .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        assertThat(std.run("proxy", "--in-memory-ca", "--kubernetes", "--node", "node-a", "--mesh-config", latin1.toString()))
                .isEqualTo("exit 2: zerohop proxy: --mesh-config: " + latin1 + ":2: not UTF-8 text (byte 0xE9 is no UTF-8"
                        + " sequence): save the file as UTF-8 | Run 'zerohop proxy --help' for usage.");
    }

    @Test
    @Timeout(120)
    @DisplayName("--kubernetes --mesh-config with defaultVisibility NONE: the cluster's ServiceEntry is not published (its"
            + " endpoint stays a workload); without the option it is, PUBLIC; /config_dump answers with a workload without"
            + " identity in the registry (the entry's endpoint; it failed with a NullPointerException until 7 December)")
    void theVisibilityReachesTheNodeProxy(@TempDir Path dir) throws Exception {
        io.fabric8.kubernetes.client.server.mock.KubernetesMockServer api = RootNamespaceProxyTest.mockApiServer();
        try (io.fabric8.kubernetes.client.KubernetesClient client = api.createClient()) {
            client.resource(new io.fabric8.kubernetes.api.model.NamespaceBuilder().withNewMetadata().withName("ns")
                    .addToLabels("kubernetes.io/metadata.name", "ns").endMetadata().build()).create();
            client.genericKubernetesResources(new io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext.Builder()
                    .withGroup("networking.istio.io").withVersion("v1").withKind("ServiceEntry").withPlural("serviceentries")
                    .withNamespaced(true).build()).inNamespace("ns").resource(io.fabric8.kubernetes.client.utils.Serialization.unmarshal("""
                    apiVersion: networking.istio.io/v1
                    kind: ServiceEntry
                    metadata: {name: se, namespace: ns}
                    spec:
                      hosts: [a.example.com]
                      addresses: [240.240.214.1]
                      ports: [{number: 80, name: http}]
                      resolution: STATIC
                      endpoints: [{address: 10.9.8.7}]
                    """, io.fabric8.kubernetes.api.model.GenericKubernetesResource.class)).create();
            Path mesh = Files.writeString(dir.resolve("mesh"), """
                    accessLogFile: /dev/stdout
                    serviceEntryVisibility:
                      defaultVisibility: NONE
                    """);
            assertThat(dump(client, List.of("--mesh-config", mesh.toString()))).doesNotContain("a.example.com").contains("10.9.8.7");
            assertThat(dump(client, List.of())).contains("a.example.com").containsPattern("\"visibility\" : \"Public\"");
        } finally {
            api.destroy();
        }
    }

    /** A node proxy's /config_dump once it is ready (synced with the mock API server). */
    private static String dump(io.fabric8.kubernetes.client.KubernetesClient client, List<String> extra) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("proxy", "--kubernetes", "--node", "node-a", "--in-memory-ca",
                "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "off", "--admin", "127.0.0.1:0"));
        args.addAll(extra);
        try (RetryLogTest.Proc p = RetryLogTest.Proc.start(args, List.of("-Dkubernetes.master=" + client.getMasterUrl(),
                "-Dkubernetes.auth.tryKubeConfig=false", "-Dkubernetes.auth.tryServiceAccount=false"))) {
            p.awaitOut(out -> out.stream().anyMatch(l -> l.contains("zerohop proxy ready: ")), "the ready line");
            String out = String.join("\n", p.out());
            Matcher admin = Pattern.compile("admin 127\\.0\\.0\\.1:(\\d+)").matcher(out);
            assertThat(admin.find()).as(out).isTrue();
            String body = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin.group(1)
                    + "/config_dump")).build(), HttpResponse.BodyHandlers.ofString()).body();
            assertThat(p.stop()).isZero();
            return body;
        }
    }
}
