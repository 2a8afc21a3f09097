package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.APIGroup;
import io.fabric8.kubernetes.api.model.APIGroupBuilder;
import io.fabric8.kubernetes.api.model.APIGroupListBuilder;
import io.fabric8.kubernetes.api.model.APIResource;
import io.fabric8.kubernetes.api.model.APIResourceBuilder;
import io.fabric8.kubernetes.api.model.APIResourceListBuilder;
import io.fabric8.kubernetes.api.model.APIVersionsBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real {@code kubectl} (whatever is on the PATH: Debian's kubernetes-client in CI, .ci/run installs
 * it) against fabric8's mock API server in CRUD mode: {@code kubectl apply --dry-run=client} accepts
 * every manifest under deploy/, and a real {@code kubectl apply} stores objects that read back with
 * fabric8 as typed objects equal to the files.
 *
 * <p>kubectl resolves every kind through the API server's discovery documents before it sends
 * anything, even for a client dry run, and the mock server has no discovery. So this test serves it
 * by hand: {@code /version}, {@code /api}, {@code /apis} and one resource list per group version,
 * for exactly the kinds deploy/ holds ({@link #RESOURCES}). The lists are checked against the files,
 * so a new kind in deploy/ fails here until it is added, rather than being silently unknown.
 */
class KubectlApplyTest {
    static final Path DEPLOY = ManifestsTest.DEPLOY;
    /** Resources per group version as a real API server lists them (plural, kind, namespaced). */
    static final Map<String, List<APIResource>> RESOURCES = new LinkedHashMap<>();

    static {
        RESOURCES.put("v1", List.of(resource("namespaces", "Namespace", false), resource("serviceaccounts", "ServiceAccount", true),
                resource("configmaps", "ConfigMap", true), resource("services", "Service", true)));
        RESOURCES.put("apps/v1", List.of(resource("daemonsets", "DaemonSet", true), resource("deployments", "Deployment", true)));
        RESOURCES.put("rbac.authorization.k8s.io/v1", List.of(resource("clusterroles", "ClusterRole", false),
                resource("clusterrolebindings", "ClusterRoleBinding", false), resource("roles", "Role", true),
                resource("rolebindings", "RoleBinding", true)));
    }

    static APIResource resource(String plural, String kind, boolean namespaced) {
        return new APIResourceBuilder().withName(plural).withSingularName(kind.toLowerCase()).withKind(kind).withNamespaced(namespaced)
                .withVerbs("create", "delete", "get", "list", "patch", "update", "watch").build();
    }

    static String kubectl;

    @BeforeAll
    static void findKubectl() {
        kubectl = Stream.of(System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator))
                .map(d -> Path.of(d, "kubectl")).filter(Files::isExecutable).map(Path::toString).findFirst().orElse(null);
        Assumptions.assumeTrue(kubectl != null,
                "no kubectl on the PATH: install Debian's kubernetes-client (.ci/run does) to check deploy/ with kubectl apply");
    }

    @Test
    @DisplayName("which kubectl ran (in the report)")
    void kubectlVersion(@TempDir Path dir) throws Exception {
        try (Cluster k8s = new Cluster()) {
            Run run = kubectl(k8s, dir, "version", "--client");
            assertThat(run.exit()).as(run.out()).isZero();
            System.out.println(kubectl + ": " + run.out().lines().findFirst().orElse(""));
        }
    }

    /** The discovery documents kubectl reads, by path: {@code /version}, {@code /api}, {@code /apis}, one list per group version. */
    static Map<String, Object> discovery() {
        Map<String, Object> docs = new HashMap<>();
        docs.put("/version", Map.of("major", "1", "minor", "20", "gitVersion", "v1.20.2"));
        docs.put("/api", new APIVersionsBuilder().withVersions("v1").build());
        List<APIGroup> groups = new ArrayList<>();
        for (Map.Entry<String, List<APIResource>> gv : RESOURCES.entrySet()) {
            docs.put(gv.getKey().equals("v1") ? "/api/v1" : "/apis/" + gv.getKey(),
                    new APIResourceListBuilder().withGroupVersion(gv.getKey()).withResources(gv.getValue()).build());
            if (!gv.getKey().equals("v1")) {
                String group = gv.getKey().substring(0, gv.getKey().indexOf('/'));
                String version = gv.getKey().substring(gv.getKey().indexOf('/') + 1);
                groups.add(new APIGroupBuilder().withName(group).addNewVersion().withGroupVersion(gv.getKey()).withVersion(version).endVersion()
                        .withNewPreferredVersion().withGroupVersion(gv.getKey()).withVersion(version).endPreferredVersion().build());
            }
        }
        docs.put("/apis", new APIGroupListBuilder().withGroups(groups).build());
        return docs;
    }

    /**
     * fabric8's CRUD mock API server with the discovery documents in front. They are answered for any
     * query string (kubectl asks {@code /api?timeout=32s}), as legacy {@code application/json}, which
     * newer kubectl versions accept in place of aggregated discovery.
     */
    static final class Cluster implements AutoCloseable {
        final KubernetesMockServer server;
        final KubernetesClient client;

        Cluster() {
            Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
            Map<String, Object> docs = discovery();
            KubernetesMixedDispatcher crud = new KubernetesMixedDispatcher(responses) {
                @Override
                public MockResponse dispatch(RecordedRequest request) {
                    Object doc = request.getMethod().equals("GET") ? docs.get(request.getPath().replaceFirst("\\?.*", "")) : null;
                    if (doc != null) {
                        return new MockResponse().setResponseCode(200).addHeader("Content-Type: application/json")
                                .setBody(Serialization.asJson(doc));
                    }
                    return super.dispatch(request);
                }
            };
            server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(), responses, crud, false);
            server.init();
            client = server.createClient();
        }

        @Override
        public void close() {
            client.close();
            server.destroy();
        }
    }

    record Run(int exit, String out) {}

    static Run kubectl(Cluster k8s, Path dir, String... args) throws Exception {
        Path kubeconfig = dir.resolve("kubeconfig");
        Files.writeString(kubeconfig, """
                apiVersion: v1
                kind: Config
                clusters: [{name: mock, cluster: {server: "%s"}}]
                users: [{name: mock, user: {token: mock}}]
                contexts: [{name: mock, context: {cluster: mock, user: mock}}]
                current-context: mock
                """.formatted(k8s.client.getMasterUrl().toString().replaceAll("/$", "")));
        List<String> cmd = new ArrayList<>(List.of(kubectl, "--kubeconfig", kubeconfig.toString(), "--cache-dir", dir.resolve("cache").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().put("HOME", dir.toString());
        pb.environment().remove("KUBECONFIG");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("kubectl finished").isTrue();
        return new Run(p.exitValue(), out);
    }

    /** Every object of the YAML files under {@code dir}, as fabric8 types, in kubectl's file order. */
    static List<HasMetadata> objects(Path dir) throws IOException {
        List<HasMetadata> all = new ArrayList<>();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                try {
                    all.addAll(ManifestsTest.load(DEPLOY.relativize(f).toString()));
                } catch (Exception e) {
                    throw new IOException(f + ": " + e.getMessage(), e);
                }
            }
        }
        return all;
    }

    @Test
    @DisplayName("the discovery served covers exactly the kinds in deploy/")
    void discoveryListsExactlyTheKindsOfDeploy() throws Exception {
        TreeSet<String> inFiles = new TreeSet<>();
        objects(DEPLOY).forEach(o -> inFiles.add(o.getApiVersion() + " " + o.getKind()));
        TreeSet<String> served = new TreeSet<>();
        RESOURCES.forEach((gv, rs) -> rs.forEach(r -> served.add(gv + " " + r.getKind())));
        assertThat(served).isEqualTo(inFiles);
    }

    @Test
    @DisplayName("kubectl apply --dry-run=client -R -f deploy/ accepts every object")
    void dryRunAcceptsEveryManifest(@TempDir Path dir) throws Exception {
        try (Cluster k8s = new Cluster()) {
            Run run = kubectl(k8s, dir, "apply", "--dry-run=client", "--validate=false", "-R", "-f", DEPLOY.toString());
            assertThat(run.exit()).as(run.out()).isZero();
            List<String> lines = run.out().lines().toList();
            List<String> expected = new ArrayList<>();
            for (HasMetadata o : objects(DEPLOY)) {
                // kubectl names an object kind.group/name; the core group has none.
                String group = o.getApiVersion().contains("/") ? "." + o.getApiVersion().substring(0, o.getApiVersion().indexOf('/')) : "";
                expected.add(o.getKind().toLowerCase() + group + "/" + o.getMetadata().getName() + " created (dry run)");
            }
            assertThat(lines).as(run.out()).containsExactlyInAnyOrderElementsOf(expected);
        }
    }

    @Test
    @DisplayName("kubectl apply stores objects that read back with fabric8 equal to the files (SPIRE and Istio CA variants)")
    void applyStoresWhatTheFilesSay(@TempDir Path dir) throws Exception {
        // The two node-proxy DaemonSets share a name (one replaces the other), so each variant gets its own cluster.
        for (List<Path> variant : List.of(List.of(DEPLOY.resolve("node-proxy"), DEPLOY.resolve("embedded")),
                List.of(DEPLOY.resolve("node-proxy-istio")))) {
            try (Cluster k8s = new Cluster()) {
                List<String> args = new ArrayList<>(List.of("apply", "--validate=false", "-R"));
                List<HasMetadata> expected = new ArrayList<>();
                for (Path p : variant) {
                    args.addAll(List.of("-f", p.toString()));
                    expected.addAll(objects(p));
                }
                Run run = kubectl(k8s, dir, args.toArray(String[]::new));
                assertThat(run.exit()).as(run.out()).isZero();
                assertThat(run.out().lines()).as(run.out()).hasSize(expected.size()).allMatch(l -> l.endsWith(" created"));
                KubernetesClient client = k8s.client;
                for (HasMetadata file : expected) {
                    HasMetadata stored = client.resource(file).get();
                    String what = file.getKind() + "/" + file.getMetadata().getName();
                    assertThat(stored).as(what + " stored").isNotNull();
                    assertThat(stored.getClass()).as(what).isEqualTo(file.getClass());
                    // What the server and kubectl add: identity and version, and apply's own record of the file.
                    Map<String, String> annotations = new HashMap<>(stored.getMetadata().getAnnotations());
                    String lastApplied = annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
                    assertThat(lastApplied).as(what + ": kubectl apply's last-applied-configuration").isNotBlank();
                    assertThat(Serialization.unmarshal(lastApplied, file.getClass())).as(what + ": last-applied").isEqualTo(file);
                    stored.getMetadata().setAnnotations(annotations);
                    stored.getMetadata().setResourceVersion(null);
                    stored.getMetadata().setUid(null);
                    stored.getMetadata().setCreationTimestamp(null);
                    stored.getMetadata().setGeneration(null);
                    // Client-side apply records no managed fields (server-side apply would); the parser's empty list.
                    assertThat(stored.getMetadata().getManagedFields()).as(what).isNullOrEmpty();
                    stored.getMetadata().setManagedFields(file.getMetadata().getManagedFields());
                    assertThat(stored).as(what).isEqualTo(file);
                }
            }
        }
    }
}
