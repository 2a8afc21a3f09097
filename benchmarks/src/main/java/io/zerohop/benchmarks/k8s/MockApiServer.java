package io.zerohop.benchmarks.k8s;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
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
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * fabric8's mock API server in CRUD mode (the dispatcher the module tests use: the real list/watch
 * HTTP protocol) holding {@code pods} realistic pods for {@code benchmarks/k8s/memory.sh}: each as
 * {@code kubectl get pod -o json} shows a Deployment's pod in an ambient mesh (resources/k8s/pod.json:
 * managedFields of kube-controller-manager, istio-cni and kubelet, two containers with env, ports,
 * probes, resources and volume mounts, the projected kube-api-access volume, default tolerations,
 * status with conditions, containerStatuses, podIPs, hostIPs), 100 pods per namespace (labelled
 * ambient), 10 pods per app with one Service each (with a last-applied-configuration annotation, as
 * {@code kubectl apply} leaves), spread over 100 nodes {@code node-0..node-99}.
 *
 * <p>The CRUD mock answers a list with every item whatever its {@code limit}; a real API server
 * pages ({@code limit}/{@code continue}), which an informer with a limit relies on to bound its
 * transient memory at start. {@link PagingDispatcher} serves that protocol over the mock's full list.
 *
 * <p>{@code java -cp benchmarks.jar io.zerohop.benchmarks.k8s.MockApiServer HOST PORT PODS [POLICIES [mixed]]}
 * (POLICIES Istio AuthorizationPolicies; with {@code mixed}, every third a PeerAuthentication and every
 * third a CiliumNetworkPolicy instead, as a cluster with Istio and Cilium has); prints
 * {@code mock api ready: ...} (with one pod's compact JSON size) once filled, then serves until killed.
 */
public final class MockApiServer {
    private MockApiServer() {
    }

    public static void main(String[] args) throws Exception {
        java.util.logging.Logger.getLogger("io.fabric8.mockwebserver").setLevel(java.util.logging.Level.WARNING);
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        int pods = Integer.parseInt(args[2]);
        Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
        KubernetesMockServer server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(),
                responses, new PagingDispatcher(responses), false);
        server.init(InetAddress.getByName(host), port);
        KubernetesClient client = server.createClient();
        String podTemplate = resource("pod.json");
        int namespaces = Math.max(1, (pods + 99) / 100);
        for (int n = 0; n < namespaces; n++) {
            client.resource(new NamespaceBuilder().withNewMetadata().withName(ns(n))
                    .addToLabels("istio.io/dataplane-mode", "ambient").addToLabels("kubernetes.io/metadata.name", ns(n))
                    .endMetadata().build()).create();
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        List<Future<?>> done = new ArrayList<>();
        int podBytes = 0;
        for (int i = 0; i < pods; i++) {
            int k = i;
            String json = pod(podTemplate, k);
            if (k == 0) {
                podBytes = Serialization.asJson(Serialization.unmarshal(json, Pod.class)).getBytes(StandardCharsets.UTF_8).length;
            }
            done.add(pool.submit(() -> client.resource(Serialization.unmarshal(json, Pod.class)).create()));
            if (k % 10 == 0) {
                done.add(pool.submit(() -> client.resource(service(k / 10)).create()));
            }
        }
        // Optional 4th argument: that many Istio AuthorizationPolicies (ALLOW, one per namespace in turn), so
        // that a run also has the policy path (PolicyState) as a cluster with policies does.
        int policies = args.length > 3 ? Integer.parseInt(args[3]) : 0;
        var authz = client.genericKubernetesResources(new io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext.Builder()
                .withGroup("security.istio.io").withVersion("v1").withKind("AuthorizationPolicy").withPlural("authorizationpolicies")
                .withNamespaced(true).build());
        boolean mixed = args.length > 4 && args[4].equals("mixed");
        var peerAuthn = client.genericKubernetesResources(new io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext.Builder()
                .withGroup("security.istio.io").withVersion("v1").withKind("PeerAuthentication").withPlural("peerauthentications")
                .withNamespaced(true).build());
        var cilium = client.genericKubernetesResources(new io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext.Builder()
                .withGroup("cilium.io").withVersion("v2").withKind("CiliumNetworkPolicy").withPlural("ciliumnetworkpolicies")
                .withNamespaced(true).build());
        for (int i = 0; i < policies; i++) {
            String ns = ns(i % namespaces);
            if (mixed && i % 3 == 1) {
                // Workload-scoped, so that several can share a namespace.
                peerAuthn.inNamespace(ns).resource(Serialization.unmarshal("{\"apiVersion\":\"security.istio.io/v1\","
                        + "\"kind\":\"PeerAuthentication\",\"metadata\":{\"name\":\"strict-" + i + "\",\"namespace\":\"" + ns + "\"},"
                        + "\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"svc-" + i + "\"}},\"mtls\":{\"mode\":\"STRICT\"}}}",
                        io.fabric8.kubernetes.api.model.GenericKubernetesResource.class)).create();
                continue;
            }
            if (mixed && i % 3 == 2) {
                cilium.inNamespace(ns).resource(Serialization.unmarshal("{\"apiVersion\":\"cilium.io/v2\",\"kind\":\"CiliumNetworkPolicy\","
                        + "\"metadata\":{\"name\":\"ingress-" + i + "\",\"namespace\":\"" + ns + "\"},\"spec\":{\"endpointSelector\":"
                        + "{\"matchLabels\":{\"app\":\"svc-" + i + "\"}},\"ingress\":[{\"fromEndpoints\":[{\"matchLabels\":"
                        + "{\"app\":\"client-" + i + "\"}}],\"toPorts\":[{\"ports\":[{\"port\":\"8080\",\"protocol\":\"TCP\"}]}]}]}}",
                        io.fabric8.kubernetes.api.model.GenericKubernetesResource.class)).create();
                continue;
            }
            authz.inNamespace(ns).resource(Serialization.unmarshal("{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"AuthorizationPolicy\","
                    + "\"metadata\":{\"name\":\"allow-" + i + "\",\"namespace\":\"" + ns + "\"},\"spec\":{\"action\":\"ALLOW\","
                    + "\"selector\":{\"matchLabels\":{\"app\":\"svc-" + i + "\"}},\"rules\":[{\"from\":[{\"source\":{\"principals\":"
                    + "[\"cluster.local/ns/" + ns + "/sa/default\"]}}],\"to\":[{\"operation\":{\"ports\":[\"8080\"]}}]}]}}",
                    io.fabric8.kubernetes.api.model.GenericKubernetesResource.class)).create();
        }
        for (Future<?> f : done) {
            f.get();
        }
        pool.shutdown();
        System.out.println("mock api ready: http://" + host + ":" + port + " namespaces=" + namespaces + " pods=" + pods
                + " services=" + (pods + 9) / 10 + " policies=" + policies + (mixed ? " (mixed)" : "") + " podJsonBytes=" + podBytes);
        System.out.flush();
        Thread.currentThread().join();
    }

    /**
     * Serves {@code GET} lists with {@code limit} in pages: the mock's full list (computed once per path
     * while nothing is written), items {@code [continue, continue + limit)}, and {@code metadata.continue}
     * (the next offset) while items remain. Everything else goes to the CRUD dispatcher as is.
     */
    static final class PagingDispatcher extends KubernetesMixedDispatcher {
        private final Map<String, Map<String, Object>> lists = new java.util.concurrent.ConcurrentHashMap<>();

        PagingDispatcher(Map<ServerRequest, Queue<ServerResponse>> responses) {
            super(responses);
        }

        @Override
        @SuppressWarnings("unchecked")
        public MockResponse dispatch(RecordedRequest request) {
            String path = request.getPath();
            if (!"GET".equals(request.getMethod())) {
                lists.clear();
                return super.dispatch(request);
            }
            String limit = query(path, "limit");
            if (limit == null || path.contains("watch=true")) {
                return super.dispatch(request);
            }
            String base = path.replaceAll("([?&])(limit|continue)=[^&]*", "$1").replaceAll("[?&]+$", "").replaceAll("&&+", "&")
                    .replace("?&", "?");
            Map<String, Object> full = lists.computeIfAbsent(base, b -> {
                MockResponse r = super.dispatch(new RecordedRequest(request.getHttpVersion(), request.method(), b, request.getHeaders(),
                        request.getBody()));
                return r.code() == 200 ? Serialization.unmarshal(r.getBody().readUtf8(), Map.class) : null;
            });
            if (full == null) {
                return super.dispatch(request);
            }
            List<Object> items = (List<Object>) full.getOrDefault("items", List.of());
            String cont = query(path, "continue");
            int from = cont == null || cont.isEmpty() ? 0 : Integer.parseInt(cont);
            int to = Math.min(items.size(), from + Integer.parseInt(limit));
            Map<String, Object> page = new java.util.LinkedHashMap<>(full);
            Map<String, Object> meta = new java.util.LinkedHashMap<>((Map<String, Object>) full.getOrDefault("metadata", Map.of()));
            if (to < items.size()) {
                meta.put("continue", String.valueOf(to));
                meta.put("remainingItemCount", items.size() - to);
            }
            page.put("metadata", meta);
            page.put("items", items.subList(from, to));
            return new MockResponse().setResponseCode(200).setHeader("Content-Type", "application/json")
                    .setBody(Serialization.asJson(page));
        }

        private static String query(String path, String name) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("[?&]" + name + "=([^&]*)").matcher(path);
            return m.find() ? java.net.URLDecoder.decode(m.group(1), StandardCharsets.UTF_8) : null;
        }
    }

    private static String ns(int n) {
        return "team-" + n;
    }

    private static String app(int k) {
        return "svc-" + (k / 10);
    }

    private static String pod(String template, int k) {
        String hash = String.format("%010x", (k / 10) * 2654435761L & 0xffffffffffL).substring(0, 10);
        String suffix = String.format("%05x", k & 0xfffff);
        int node = k % 100;
        return template.replace("@APP@", app(k)).replace("@HASH@", hash).replace("@NS@", ns(k / 100))
                .replace("@NAME@", app(k) + "-" + hash + "-" + suffix).replace("@SUFFIX@", suffix)
                .replace("@RSUID@", uuid(k / 10, 1)).replace("@UID@", uuid(k, 2))
                .replace("@CID1@", cid(k, 3)).replace("@CID2@", cid(k, 4))
                .replace("@IP@", "10." + (64 + (k >> 16)) + "." + ((k >> 8) & 255) + "." + (k & 255))
                .replace("@HOSTIP@", "192.168." + node + ".10").replace("@NODE@", "node-" + node);
    }

    private static Service service(int s) {
        String app = "svc-" + s;
        String ns = ns(s / 10);
        String applied = "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"annotations\":{},\"labels\":{\"app\":\"" + app
                + "\"},\"name\":\"" + app + "\",\"namespace\":\"" + ns + "\"},\"spec\":{\"ports\":[{\"name\":\"http\",\"port\":80,"
                + "\"targetPort\":\"http\"},{\"name\":\"metrics\",\"port\":9090,\"targetPort\":9090}],\"selector\":{\"app\":\"" + app + "\"}}}\n";
        String json = "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"annotations\":{"
                + "\"kubectl.kubernetes.io/last-applied-configuration\":" + Serialization.asJson(applied) + "},"
                + "\"labels\":{\"app\":\"" + app + "\"},\"name\":\"" + app + "\",\"namespace\":\"" + ns + "\","
                + "\"managedFields\":[{\"apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{\"f:annotations\":"
                + "{\".\":{},\"f:kubectl.kubernetes.io/last-applied-configuration\":{}},\"f:labels\":{\".\":{},\"f:app\":{}}},\"f:spec\":"
                + "{\"f:internalTrafficPolicy\":{},\"f:ports\":{\".\":{},\"k:{\\\"port\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},"
                + "\"f:name\":{},\"f:port\":{},\"f:protocol\":{},\"f:targetPort\":{}},\"k:{\\\"port\\\":9090,\\\"protocol\\\":\\\"TCP\\\"}\":"
                + "{\".\":{},\"f:name\":{},\"f:port\":{},\"f:protocol\":{},\"f:targetPort\":{}}},\"f:selector\":{},\"f:sessionAffinity\":{},"
                + "\"f:type\":{}}},\"manager\":\"kubectl-client-side-apply\",\"operation\":\"Update\",\"time\":\"2026-11-30T09:14:05Z\"}]},"
                + "\"spec\":{\"clusterIP\":\"10.96." + (s >> 8 & 255) + "." + (s & 255) + "\",\"clusterIPs\":[\"10.96." + (s >> 8 & 255) + "."
                + (s & 255) + "\"],\"internalTrafficPolicy\":\"Cluster\",\"ipFamilies\":[\"IPv4\"],\"ipFamilyPolicy\":\"SingleStack\","
                + "\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\",\"targetPort\":\"http\"},{\"name\":\"metrics\",\"port\":9090,"
                + "\"protocol\":\"TCP\",\"targetPort\":9090}],\"selector\":{\"app\":\"" + app + "\"},\"sessionAffinity\":\"None\","
                + "\"type\":\"ClusterIP\"},\"status\":{\"loadBalancer\":{}}}";
        return Serialization.unmarshal(json, Service.class);
    }

    private static String uuid(int k, int salt) {
        long h = (k * 0x9E3779B97F4A7C15L) ^ (salt * 0xC2B2AE3D27D4EB4FL);
        String x = String.format("%016x%016x", h, Long.rotateLeft(h, 29) ^ 0x5DEECE66DL);
        return x.substring(0, 8) + "-" + x.substring(8, 12) + "-" + x.substring(12, 16) + "-" + x.substring(16, 20) + "-" + x.substring(20, 32);
    }

    private static String cid(int k, int salt) {
        return (uuid(k, salt) + uuid(k, salt + 7)).replace("-", "").substring(0, 64);
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = MockApiServer.class.getResourceAsStream("/k8s/" + name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
