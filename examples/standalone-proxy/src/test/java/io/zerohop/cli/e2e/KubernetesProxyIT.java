package io.zerohop.cli.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.zerohop.testing.netty.ClosedPort;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import org.junit.jupiter.api.Test;

/**
 * The shaded CLI as {@code zerohop proxy --kubernetes --node node-a} against fabric8's CRUD mock API
 * server: {@code /healthz/ready} answers 500 {@code not ready, pending: kubernetes sync} while the API
 * server is unreachable, 200 once synced; an invalid policy object then shows as one log line and
 * as {@code zerohop_kubernetes_rejected_objects_total} on {@code /metrics}.
 */
class KubernetesProxyIT {
    static final Duration START = Duration.ofSeconds(180);
    /** The mock server logs every request at INFO through java.util.logging; held so the level sticks. */
    static final java.util.logging.Logger MOCK_LOG = java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

    static {
        MOCK_LOG.setLevel(java.util.logging.Level.WARNING);
    }

    /** The port of {@code what} on the "zerohop proxy listening: ..." line (listeners asked for port 0). */
    static int boundPort(String listening, String what) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("[:,] " + what + " 127\\.0\\.0\\.1:(\\d+)[,;]").matcher(listening);
        assertThat(m.find()).as("%s in %s", what, listening).isTrue();
        return Integer.parseInt(m.group(1));
    }

    static HttpResponse<String> ready(int port) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/healthz/ready")).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** fabric8's CRUD mock API server, listening on a free loopback port. */
    static KubernetesMockServer mockApi() {
        Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
        KubernetesMockServer api = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(),
                responses, new KubernetesMixedDispatcher(responses), false);
        api.init(InetAddress.getLoopbackAddress(), 0);
        return api;
    }

    /** The shaded CLI's {@code zerohop proxy ARGS...} against {@code api}, no kubeconfig or service account read. */
    static List<String> proxyCommand(Path jar, KubernetesMockServer api, String... args) {
        List<String> command = new java.util.ArrayList<>(List.of(NodeProxyE2EIT.java(), "-Xmx256m", "-XX:+UseSerialGC",
                "-Dkubernetes.master=http://127.0.0.1:" + api.getPort(), "-Dkubernetes.auth.tryKubeConfig=false",
                "-Dkubernetes.auth.tryServiceAccount=false", "-jar", jar.toString(), "proxy"));
        command.addAll(List.of(args));
        return command;
    }

    /** Namespace {@code prod} in the mesh ({@code istio.io/dataplane-mode: ambient}) and its running pod backend-1 on node-a, 10.9.0.5. */
    static void ambientPod(KubernetesClient client) {
        client.resource(new NamespaceBuilder().withNewMetadata().withName("prod")
                .addToLabels("istio.io/dataplane-mode", "ambient").endMetadata().build()).create();
        client.resource(new io.fabric8.kubernetes.api.model.PodBuilder()
                .withNewMetadata().withNamespace("prod").withName("backend-1").endMetadata()
                .withNewSpec().withNodeName("node-a").withServiceAccountName("backend")
                .addNewContainer().withName("app").withImage("app:1").endContainer().endSpec()
                .withNewStatus().withPhase("Running").withPodIP("10.9.0.5")
                .addNewCondition().withType("Ready").withStatus("True").endCondition().endStatus().build()).create();
    }

    @Test
    void readyOnlyAfterTheFirstFullSync() throws Exception {
        Path jar = Path.of(NodeProxyE2EIT.required("zerohop.e2e.jar"));
        Path work = Files.createDirectories(Path.of(NodeProxyE2EIT.required("zerohop.e2e.workDir"), "kubernetes"));
        // The API server comes up later on this number: held (refusing) until then, so that no bind(0)
        // meanwhile (the proxy's own listeners, in the child) gets it. The proxy's listeners take
        // port 0 and the test reads theirs from its output: numbers found free and freed could
        // collide with each other or with the proxy's binds.
        ClosedPort apiReserved = new ClosedPort();
        int apiPort = apiReserved.port();
        Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
        KubernetesMockServer api = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(),
                responses, new KubernetesMixedDispatcher(responses), false);
        try (Child proxy = Child.start("k8s-proxy", work, List.of(NodeProxyE2EIT.java(), "-Xmx256m", "-XX:+UseSerialGC",
                "-Dkubernetes.master=http://127.0.0.1:" + apiPort, "-Dkubernetes.auth.tryKubeConfig=false",
                "-Dkubernetes.auth.tryServiceAccount=false",
                // No per-request retries: the informers' own back-off (capped at 32 x 200 ms) re-lists.
                "-Dkubernetes.request.retry.backoffLimit=0", "-Dkubernetes.watch.reconnectInterval=200",
                "-jar", jar.toString(), "proxy", "--kubernetes", "--node", "node-a", "--in-memory-ca",
                "--inbound", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--readiness", "127.0.0.1:0",
                // Not the default 127.0.0.1:15000: a fixed port any other proxy on the host may hold.
                "--admin", "127.0.0.1:0"))) {
            proxy.awaitLine(l -> l.contains("syncing with the Kubernetes API server http://127.0.0.1:" + apiPort), "syncing", START);
            // No API server yet, so no sync: the listeners are up, but readiness names what it waits for.
            String listening = proxy.awaitLine(l -> l.startsWith("zerohop proxy listening: "), "`zerohop proxy listening`", START);
            int readyPort = boundPort(listening, "readiness");
            int metricsPort = boundPort(listening, "metrics");
            HttpResponse<String> notReady = ready(readyPort);
            assertThat(notReady.statusCode()).isEqualTo(500);
            assertThat(notReady.body()).isEqualTo("not ready, pending: kubernetes sync\n");
            // stdout says "ready" only when /healthz/ready does (new-user pass: it said so before the sync).
            assertThat(proxy.lines()).noneMatch(l -> l.startsWith("zerohop proxy ready"));

            apiReserved.close();
            api.init(InetAddress.getLoopbackAddress(), apiPort);
            KubernetesClient client = api.createClient();
            client.resource(new NamespaceBuilder().withNewMetadata().withName("prod")
                    .addToLabels("istio.io/dataplane-mode", "ambient").endMetadata().build()).create();

            proxy.awaitLine(l -> l.startsWith("zerohop proxy ready: first full sync with the Kubernetes API server done; hbone 127.0.0.1:"),
                    "the first sync", START);
            HttpResponse<String> ready = ready(readyPort);
            assertThat(ready.statusCode()).isEqualTo(200);
            assertThat(proxy.isAlive()).isTrue();

            // An invalid AuthorizationPolicy: one log line naming kind, namespace, name and field, and
            // the rejected-objects counter on /metrics (istiod's validation labels plus the kind).
            int from = proxy.size();
            client.genericKubernetesResources(new io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext.Builder()
                    .withGroup("security.istio.io").withVersion("v1").withKind("AuthorizationPolicy").withPlural("authorizationpolicies")
                    .withNamespaced(true).build()).inNamespace("prod").resource(Serialization.unmarshal("""
                    apiVersion: security.istio.io/v1
                    kind: AuthorizationPolicy
                    metadata: {name: typo, namespace: prod}
                    spec:
                      action: DENY
                      rules: [{to: [{operation: {ports: ["70000"]}}]}]
                    """, io.fabric8.kubernetes.api.model.GenericKubernetesResource.class)).create();
            proxy.awaitLine(from, l -> l.contains("rejected AuthorizationPolicy prod/typo: field spec.rules[0].to[0].operation.ports[0]"),
                    "the rejection log line", START);
            String line = "zerohop_kubernetes_rejected_objects_total{group=\"security.istio.io\",kind=\"AuthorizationPolicy\","
                    + "reason=\"invalid\",version=\"v1\"} 1.0";
            HttpResponse<String> metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + metricsPort + "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(metrics.body().lines()).as(metrics.body()).contains(line);
            // No policy file is reloaded in this mode: /config_dump said "no policies configured" (a new-user pass).
            HttpResponse<String> dump = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + boundPort(listening, "admin") + "/config_dump")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(dump.body()).contains("\"policyReload\" : {").contains("\"result\" : \"not used\"")
                    .contains("policies come from the Kubernetes API server").doesNotContain("no policies configured");
            client.close();
        } finally {
            apiReserved.close();
            api.destroy();
        }
    }

    /**
     * {@code --kubernetes --istio-ca} with a token the CA refuses: once synced, the proxy asks the CA
     * for its first local pod's certificate (ztunnel prefetches them), and the refusal stops it with
     * one line and exit code 4.
     */
    @Test
    void aRefusedIstioCaTokenStopsTheSyncedProxyWithExitCode4() throws Exception {
        Path jar = Path.of(NodeProxyE2EIT.required("zerohop.e2e.jar"));
        Path work = Files.createDirectories(Path.of(NodeProxyE2EIT.required("zerohop.e2e.workDir"), "kubernetes-istio-ca"));
        io.zerohop.identity.InMemoryCa ca = io.zerohop.identity.InMemoryCa.create("cluster.local");
        Path root = Files.writeString(work.resolve("root-cert.pem"), io.zerohop.identity.Pem.certificates(List.of(ca.root())));
        Path token = Files.writeString(work.resolve("istio-token"), "not-the-token");
        KubernetesMockServer api = mockApi();
        try (io.zerohop.testing.FakeIstioCa istiod = new io.zerohop.testing.FakeIstioCa(ca, "node-token",
                Files.createDirectories(work.resolve("istiod-tls")));
             KubernetesClient client = api.createClient()) {
            ambientPod(client);
            try (Child proxy = Child.start("k8s-istio-ca", work, proxyCommand(jar, api, "--kubernetes", "--node", "node-a",
                    "--istio-ca", "127.0.0.1:" + istiod.port(), "--istio-ca-root", root.toString(), "--token-file", token.toString(),
                    "--istio-ca-hostname", io.zerohop.testing.FakeIstioCa.SERVER_NAME,
                    "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "off", "--admin", "off", "--drain", "1s"))) {
                assertThat(proxy.awaitExit(START)).isEqualTo(4);
                // No assertion on the ready line: whether it comes before the refusal depends on whether the HBONE
                // listener started before the sync put the local workload in the registry (then that workload's SVID
                // gates readiness), a race decided by timing (a faster sync lost it once in CI); either way exit 4.
                // The CA was asked for the synced pod's identity (below): the sync happened.
                assertThat(proxy.lines()).anyMatch(l -> l.startsWith("[err] zerohop proxy: Istio CA at 127.0.0.1:" + istiod.port()
                        + " rejected the credentials for spiffe://cluster.local/ns/prod/sa/backend (UNAUTHENTICATED:"
                        + " request authenticate failure); check the service-account token from " + token + "; or the ClusterID sent")
                        && l.contains("--cluster-id"));
            }
            assertThat(istiod.seen()).isNotEmpty().allSatisfy(c -> assertThat(c.request().metadata()
                    .getFieldsOrThrow("ImpersonatedIdentity").getStringValue()).isEqualTo("spiffe://cluster.local/ns/prod/sa/backend"));
        } finally {
            api.destroy();
        }
    }

    /**
     * {@code --capture-set} under {@code --kubernetes}: the proxy is ready only once the nftables set holds the synced
     * pods of its node. Until 3 December the set was first written up to a second after the sync, and the ready line
     * and {@code /healthz/ready} came first. A stand-in {@code nft} on the PATH (the real one against capture.sh's table
     * runs in {@code NodeProxyE2EIT}) records each write and refuses writes while a file {@code broken} exists: after
     * the sync readiness names the set as pending, and once {@code nft} works the set gets the pod, then the ready line.
     */
    @Test
    void readyOnlyOnceTheCaptureSetHoldsTheSyncedPods() throws Exception {
        Path jar = Path.of(NodeProxyE2EIT.required("zerohop.e2e.jar"));
        Path work = Files.createDirectories(Path.of(NodeProxyE2EIT.required("zerohop.e2e.workDir"), "kubernetes-capture-set"));
        Path bin = Files.createDirectories(work.resolve("bin"));
        Path log = work.resolve("nft.log");
        Files.deleteIfExists(log);
        Path broken = work.resolve("broken");
        Files.writeString(bin.resolve("nft"), "#!/bin/sh\n"
                // An IPv4-only node: capture.sh made no ip6 table, so the proxy writes the ip set alone (CaptureSet).
                + "if [ \"$1\" = list ] && [ \"$3\" = ip6 ]; then echo 'Error: No such file or directory' >&2; exit 1; fi\n"
                + "if [ \"$1\" = list ]; then echo 'table ip zerohop { set mesh_pods { type ipv4_addr } }'; exit 0; fi\n"
                + "if [ -e " + broken + " ]; then cat > /dev/null; echo 'Error: Could not process rule: No such file or directory' >&2; exit 1; fi\n"
                + "cat >> " + log + "; echo --- >> " + log + "\n");
        assertThat(bin.resolve("nft").toFile().setExecutable(true)).isTrue();
        Files.writeString(broken, "");
        KubernetesMockServer api = mockApi();
        try (KubernetesClient client = api.createClient()) {
            ambientPod(client);
            try (Child proxy = Child.start("k8s-capture-set", work, proxyCommand(jar, api, "--kubernetes", "--node", "node-a",
                    "--in-memory-ca", "--capture-set", "zerohop/mesh_pods", "--inbound", "127.0.0.1:0", "--metrics", "off",
                    "--readiness", "127.0.0.1:0", "--admin", "off"),
                    Map.of("PATH", bin + java.io.File.pathSeparator + System.getenv("PATH")))) {
                String listening = proxy.awaitLine(l -> l.startsWith("zerohop proxy listening: "), "`zerohop proxy listening`", START);
                int readyPort = boundPort(listening, "readiness");
                // The sync is in once the proxy tries to write the set with the pod in it.
                proxy.awaitLine(l -> l.startsWith("[err] zerohop proxy: error: --capture-set: cannot write nftables set ip zerohop mesh_pods"
                        + " (1 addresses of node node-a)"), "the failed write", START);
                HttpResponse<String> notReady = ready(readyPort);
                assertThat(notReady.statusCode()).isEqualTo(500);
                assertThat(notReady.body()).isEqualTo("not ready, pending: nftables capture set\n");
                assertThat(proxy.lines()).noneMatch(l -> l.startsWith("zerohop proxy ready"));
                assertThat(log).doesNotExist();

                Files.delete(broken);
                proxy.awaitLine(l -> l.startsWith("zerohop proxy ready: first full sync with the Kubernetes API server done; "),
                        "the ready line", START);
                // Read once the line is out: the set was written before it.
                assertThat(Files.readString(log)).startsWith("""
                        flush set ip zerohop mesh_pods
                        add element ip zerohop mesh_pods { 10.9.0.5 }
                        ---
                        """);
                assertThat(ready(readyPort).statusCode()).isEqualTo(200);
                assertThat(proxy.lines()).contains("[err] zerohop proxy: capture set ip zerohop mesh_pods written again (1 addresses)");
                assertThat(proxy.lines()).as("the node name is the pod's").noneMatch(l -> l.contains("no pod of the cluster is on that node"));
            }
        } finally {
            api.destroy();
        }
    }

    /**
     * A {@code --node} that is no pod's {@code spec.nodeName} (here the case differs) serves and captures nothing: said once
     * after the first sync, naming the nodes the pods are on. Before, the proxy was ready with an empty capture set and
     * said nothing (a break-it pass). A node whose only pod uses the host network (a new node: the DaemonSets' pods,
     * this proxy's own included) is this node: no warning (the first version warned there, a second pass).
     */
    @Test
    void aNodeNameNoPodIsOnIsSaidAfterTheFirstSync() throws Exception {
        Path jar = Path.of(NodeProxyE2EIT.required("zerohop.e2e.jar"));
        Path work = Files.createDirectories(Path.of(NodeProxyE2EIT.required("zerohop.e2e.workDir"), "kubernetes-wrong-node"));
        KubernetesMockServer api = mockApi();
        try (KubernetesClient client = api.createClient()) {
            ambientPod(client);
            client.resource(new io.fabric8.kubernetes.api.model.PodBuilder()
                    .withNewMetadata().withNamespace("prod").withName("node-b-agent").endMetadata()
                    .withNewSpec().withNodeName("node-b").withHostNetwork(true)
                    .addNewContainer().withName("agent").withImage("agent:1").endContainer().endSpec()
                    .withNewStatus().withPhase("Running").withPodIP("192.168.0.2").endStatus().build()).create();
            for (String node : new String[] {"node-A", "node-b"}) {
                try (Child proxy = Child.start("k8s-node-" + node, work, proxyCommand(jar, api, "--kubernetes", "--node", node,
                        "--in-memory-ca", "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "off", "--admin", "off"))) {
                    if (node.equals("node-A")) {
                        proxy.awaitLine(l -> l.contains("no pod of the cluster is on that node"), "the warning", START);
                    }
                    proxy.awaitLine(l -> l.startsWith("zerohop proxy ready: first full sync"), "the ready line", START);
                    // Printed once the first sync is in, as the ready line: by then it has been, if it is at all.
                    List<String> warnings = proxy.lines().stream().filter(l -> l.contains("no pod of the cluster is on that node")).toList();
                    if (node.equals("node-A")) {
                        assertThat(warnings).containsExactly("[err] zerohop proxy: warning: --node node-A: no pod of the cluster is on"
                                + " that node after the first sync (pods are on node-a, node-b); if this proxy runs on a node of this"
                                + " cluster, that is not its name (the pods' spec.nodeName; the DaemonSets set NODE_NAME from it), and"
                                + " it serves and captures none of its pods");
                    } else {
                        assertThat(warnings).as("node-b runs a host-network pod").isEmpty();
                    }
                }
            }
        } finally {
            api.destroy();
        }
    }
}
