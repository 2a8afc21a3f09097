package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Every manifest under deploy/ parsed by fabric8's deserializer into typed objects, with no field
 * the model does not know (kubectl's strict validation would refuse a typo), and the fields that
 * matter checked. {@link KubectlApplyTest} runs the real kubectl on the same files.
 */
class ManifestsTest {
    static final Path DEPLOY = Path.of("..", "deploy");

    static List<HasMetadata> load(String file) throws Exception {
        List<HasMetadata> out = new ArrayList<>();
        for (String doc : Files.readString(DEPLOY.resolve(file)).split("(?m)^---\\s*$")) {
            if (doc.lines().allMatch(l -> l.isBlank() || l.startsWith("#"))) {
                continue;
            }
            Object o = Serialization.unmarshal(doc);
            assertThat(o).as(file).isInstanceOf(HasMetadata.class);
            assertThat(o.getClass().getSimpleName()).as(file + ": typed, not generic").isNotEqualTo("GenericKubernetesResource");
            noUnknownFields(o, file + ": " + ((HasMetadata) o).getKind() + "/" + ((HasMetadata) o).getMetadata().getName());
            out.add((HasMetadata) o);
        }
        return out;
    }

    /** Fails on any field the typed model put into additionalProperties (a misspelt or misplaced key). */
    static void noUnknownFields(Object o, String where) throws Exception {
        if (o == null) {
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object x : c) {
                noUnknownFields(x, where + "[" + i++ + "]");
            }
            return;
        }
        if (o instanceof Map<?, ?> m) {
            for (Map.Entry<?, ?> e : m.entrySet()) {
                noUnknownFields(e.getValue(), where + "." + e.getKey());
            }
            return;
        }
        if (!(o instanceof KubernetesResource)) {
            return;
        }
        for (Method g : o.getClass().getMethods()) {
            if (g.getParameterCount() != 0 || !g.getName().startsWith("get") || Modifier.isStatic(g.getModifiers())
                    || g.getDeclaringClass() == Object.class) {
                continue;
            }
            Object v = g.invoke(o);
            if (g.getName().equals("getAdditionalProperties")) {
                assertThat((Map<?, ?>) v).as(where + ": unknown fields").isNullOrEmpty();
            } else {
                String field = Character.toLowerCase(g.getName().charAt(3)) + g.getName().substring(4);
                noUnknownFields(v, where + "." + field);
            }
        }
    }

    static <T> T only(List<HasMetadata> objs, Class<T> type) {
        List<T> of = objs.stream().filter(type::isInstance).map(type::cast).toList();
        assertThat(of).as(type.getSimpleName()).hasSize(1);
        return of.get(0);
    }

    @Test
    @DisplayName("the unknown-field check catches a misspelt key")
    void unknownFieldIsCaught() {
        Object pod = Serialization.unmarshal("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {contianers: []}\n");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> noUnknownFields(pod, "Pod/x"))
                .isInstanceOf(AssertionError.class).hasMessageContaining("Pod/x.spec: unknown fields");
    }

    @Test
    @DisplayName("every file under deploy/ parses into typed objects without unknown fields")
    void everyManifestParses() throws Exception {
        try (Stream<Path> files = Files.walk(DEPLOY)) {
            List<Path> yamls = files.filter(p -> p.toString().endsWith(".yaml")).toList();
            assertThat(yamls).hasSizeGreaterThanOrEqualTo(5);
            for (Path p : yamls) {
                assertThat(load(DEPLOY.relativize(p).toString())).as(p.toString()).isNotEmpty();
            }
        }
    }

    @Test
    @DisplayName("node proxy DaemonSet: host network, NET_ADMIN/NET_RAW, probes on 15021, metrics on 15020 with Prometheus annotations, NODE_NAME")
    void daemonSet() throws Exception {
        DaemonSet ds = only(load("node-proxy/daemonset.yaml"), DaemonSet.class);
        var pod = ds.getSpec().getTemplate();
        assertThat(pod.getSpec().getHostNetwork()).isTrue();
        assertThat(pod.getSpec().getServiceAccountName()).isEqualTo("zerohop-node");
        assertThat(pod.getMetadata().getAnnotations()).containsEntry("prometheus.io/scrape", "true")
                .containsEntry("prometheus.io/port", "15020").containsEntry("prometheus.io/path", "/metrics");
        assertThat(pod.getMetadata().getLabels()).containsEntry("istio.io/dataplane-mode", "none");
        Container proxy = pod.getSpec().getContainers().get(0);
        assertThat(proxy.getSecurityContext().getCapabilities().getAdd()).containsExactlyInAnyOrder("NET_ADMIN", "NET_RAW");
        assertThat(proxy.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/healthz/ready");
        assertThat(proxy.getReadinessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(15021);
        assertThat(proxy.getPorts()).extracting(p -> p.getContainerPort()).contains(15008, 15020, 15021);
        assertThat(proxy.getArgs()).containsSequence("proxy", "--config", "/etc/zerohop/proxy.yaml");
        assertThat(proxy.getEnv()).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("NODE_NAME");
            assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("spec.nodeName");
        });
        Container init = pod.getSpec().getInitContainers().get(0);
        assertThat(init.getSecurityContext().getCapabilities().getAdd()).contains("NET_ADMIN");

        ConfigMap cm = only(load("node-proxy/configmap.yaml"), ConfigMap.class);
        assertThat(cm.getData().get("proxy.yaml")).contains("kubernetes: true").contains("readiness: 0.0.0.0:15021")
                .contains("metrics: 0.0.0.0:15020");
        assertThat(cm.getData().get("capture.sh")).contains("tproxy to :15001").contains("tproxy to :15006").contains("add set ip zerohop mesh_pods");
        assertThat(cm.getData().get("proxy.yaml")).contains("plaintext-inbound: 0.0.0.0:15006").contains("capture-set: zerohop/mesh_pods");
        // Beside Istio, ztunnel's access-log lines: log pipelines written for ztunnel read them unchanged (review pass).
        assertThat(cm.getData().get("proxy.yaml")).contains("access-log-format: ztunnel");
        assertThat(only(load("node-proxy/namespace.yaml"), Namespace.class).getMetadata().getName()).isEqualTo("zerohop-system");
    }

    @Test
    @DisplayName("node proxy with the Istio CA: ztunnel's token (audience istio-ca) and istio-ca-root-cert mounts, --istio-ca args; otherwise the SPIRE DaemonSet")
    void istioDaemonSetDiffersFromTheSpireOneOnlyInIdentity() throws Exception {
        DaemonSet spire = only(load("node-proxy/daemonset.yaml"), DaemonSet.class);
        DaemonSet istio = only(load("node-proxy-istio/daemonset.yaml"), DaemonSet.class);
        var pod = istio.getSpec().getTemplate().getSpec();
        Container proxy = pod.getContainers().get(0);
        // ztunnel's DaemonSet (istio/istio manifests/charts/ztunnel/templates/daemonset.yaml): same paths and sources.
        assertThat(proxy.getArgs()).containsSequence("--istio-ca", "istiod.istio-system.svc:15012")
                .containsSequence("--istio-ca-root", "/var/run/secrets/istio/root-cert.pem")
                .containsSequence("--token-file", "/var/run/secrets/tokens/istio-token");
        assertThat(proxy.getVolumeMounts()).extracting(m -> m.getName() + "=" + m.getMountPath())
                .contains("istiod-ca-cert=/var/run/secrets/istio", "istio-token=/var/run/secrets/tokens");
        var token = pod.getVolumes().stream().filter(v -> v.getName().equals("istio-token")).findFirst().orElseThrow()
                .getProjected().getSources().get(0).getServiceAccountToken();
        assertThat(token.getAudience()).isEqualTo("istio-ca");
        assertThat(token.getPath()).isEqualTo("istio-token");
        assertThat(pod.getVolumes()).filteredOn(v -> v.getName().equals("istiod-ca-cert"))
                .extracting(v -> v.getConfigMap().getName()).containsExactly("istio-ca-root-cert");

        // Everything else is the SPIRE DaemonSet's, so the two cannot drift apart.
        Container spireProxy = spire.getSpec().getTemplate().getSpec().getContainers().get(0);
        spireProxy.setArgs(proxy.getArgs());
        spireProxy.setVolumeMounts(proxy.getVolumeMounts());
        spire.getSpec().getTemplate().getSpec().setVolumes(pod.getVolumes());
        assertThat(istio).isEqualTo(spire);
    }

    @Test
    @DisplayName("node proxy RBAC: get/list/watch on exactly the kinds the informers read, as the requests to a (mock) API server show")
    void clusterRoleIsExactlyWhatTheProxyUses() throws Exception {
        List<HasMetadata> rbac = load("node-proxy/rbac.yaml");
        ClusterRole role = only(rbac, ClusterRole.class);
        ClusterRoleBinding binding = only(rbac, ClusterRoleBinding.class);
        ServiceAccount sa = only(rbac, ServiceAccount.class);
        assertThat(binding.getRoleRef().getName()).isEqualTo(role.getMetadata().getName());
        assertThat(binding.getSubjects().get(0).getName()).isEqualTo(sa.getMetadata().getName());
        assertThat(binding.getSubjects().get(0).getNamespace()).isEqualTo(sa.getMetadata().getNamespace());

        Set<String> granted = new TreeSet<>();
        for (PolicyRule r : role.getRules()) {
            assertThat(r.getVerbs()).containsExactlyInAnyOrder("get", "list", "watch");
            for (String g : r.getApiGroups()) {
                for (String res : r.getResources()) {
                    granted.add(g + "/" + res);
                }
            }
        }
        // What a node proxy actually asks the API server for.
        Set<String> used = new TreeSet<>();
        try (MockCluster k8s = new MockCluster();
             KubernetesDiscovery d = KubernetesDiscovery.forNode(k8s.client, "node-a")
                     .debounce(Duration.ofMillis(10), Duration.ofSeconds(1)).start()) {
            d.synced().get(30, TimeUnit.SECONDS);
            int n = k8s.server.getRequestCount();
            for (int i = 0; i < n; i++) {
                RecordedRequest req = k8s.server.takeRequest(5, TimeUnit.SECONDS);
                if (req == null) {
                    break;
                }
                String path = req.getPath().replaceFirst("\\?.*", "");
                String[] seg = path.split("/");
                // /api/v1/RESOURCE or /apis/GROUP/VERSION/RESOURCE
                used.add(seg[1].equals("api") ? "/" + seg[3] : seg[2] + "/" + seg[4]);
            }
        }
        assertThat(used).isEqualTo(granted);
    }

    @Test
    @DisplayName("embedded RBAC: every request forPod makes (watches, a peer lookup) is granted by its Roles and ClusterRole, for its namespace")
    void embeddedRbacCoversWhatForPodAsks() throws Exception {
        List<HasMetadata> objs = load("embedded/deployment.yaml");
        // grants: "namespace|group/resource|verb", namespace "*" for the ClusterRole
        Set<String> granted = new TreeSet<>();
        for (HasMetadata o : objs) {
            List<PolicyRule> rules = o instanceof io.fabric8.kubernetes.api.model.rbac.Role r ? r.getRules()
                    : o instanceof ClusterRole c ? c.getRules() : List.of();
            String scope = o instanceof ClusterRole ? "*" : o.getMetadata().getNamespace();
            for (PolicyRule r : rules) {
                for (String g : r.getApiGroups()) {
                    for (String res : r.getResources()) {
                        for (String v : r.getVerbs()) {
                            granted.add(scope + "|" + g + "/" + res + "|" + v);
                        }
                    }
                }
            }
        }
        Set<String> asked = new TreeSet<>();
        try (MockCluster k8s = new MockCluster();
             KubernetesDiscovery d = KubernetesDiscovery.forPod(k8s.client, "shop", "quotes-0")
                     .debounce(Duration.ofMillis(10), Duration.ofSeconds(1)).start()) {
            d.synced().get(60, TimeUnit.SECONDS);
            d.lookup(java.net.InetAddress.getByName("10.9.0.1"));
            int n = k8s.server.getRequestCount();
            for (int i = 0; i < n; i++) {
                RecordedRequest req = k8s.server.takeRequest(5, TimeUnit.SECONDS);
                if (req == null) {
                    break;
                }
                String verb = req.getPath().contains("watch=true") ? "watch" : "list";
                String path = req.getPath().replaceFirst("\\?.*", "");
                java.util.regex.Matcher m = java.util.regex.Pattern
                        .compile("/apis?(?:/([^/]+))?/v[^/]*(?:/namespaces/([^/]+))?/([^/]+)").matcher(path);
                assertThat(m.matches()).as(path).isTrue();
                String group = path.startsWith("/api/") ? "" : m.group(1);
                asked.add((m.group(2) == null ? "*" : m.group(2)) + "|" + group + "/" + m.group(3) + "|" + verb);
            }
        }
        assertThat(asked).isNotEmpty();
        for (String a : asked) {
            String anyNamespace = "*" + a.substring(a.indexOf('|'));
            assertThat(granted.contains(a) || granted.contains(anyNamespace)).as("granted: " + a).isTrue();
        }
    }

    @Test
    @DisplayName("embedded Deployment: projected istio-ca token, istio root cert, downward-API pod name and namespace, HBONE tunnel label")
    void embeddedDeployment() throws Exception {
        List<HasMetadata> objs = load("embedded/deployment.yaml");
        Deployment dep = only(objs, Deployment.class);
        var pod = dep.getSpec().getTemplate();
        assertThat(pod.getMetadata().getLabels()).containsEntry("networking.istio.io/tunnel", "http");
        assertThat(pod.getSpec().getVolumes()).filteredOn(v -> v.getProjected() != null)
                .extracting(v -> v.getProjected().getSources().get(0).getServiceAccountToken().getAudience()).containsExactly("istio-ca");
        assertThat(pod.getSpec().getVolumes()).filteredOn(v -> v.getConfigMap() != null)
                .extracting(v -> v.getConfigMap().getName()).containsExactly("istio-ca-root-cert");
        Container app = pod.getSpec().getContainers().get(0);
        assertThat(app.getEnv()).extracting(e -> e.getName()).contains("POD_NAME", "POD_NAMESPACE", "ISTIO_CA_ADDRESS");
        assertThat(objs).extracting(HasMetadata::getKind).contains("ServiceAccount", "Role", "RoleBinding", "ClusterRole",
                "ClusterRoleBinding", "Deployment", "Service");
    }
}
