package io.zerohop.policy;

import static io.zerohop.policy.ConformanceTest.ap;
import static io.zerohop.policy.ConformanceTest.cnp;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Input the API server, istiod or Cilium read otherwise than zerohop did until 5 December (a review pass, helper 252):
 * one widened access (a Cilium port 0 with an endPort), two loaded what {@code kubectl apply} or istiod refuse, one
 * refused a file kubectl applies.
 */
class KubernetesInputParityTest {
    @TempDir
    Path dir;

    private static AccessRequest to(int port) {
        return AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend")
                .sourceAddress("10.0.0.1").destinationAddress("10.0.0.2").destinationPort(port)
                .destination(new WorkloadRef("prod", "web", "web", Map.of("app", "web")))
                .sourceWorkload(new WorkloadRef("prod", "frontend", "frontend", Map.of("app", "frontend")))
                .build();
    }

    /**
     * Cilium: {@code port: "0"} with {@code endPort: 8080} is 0..8080. Sanitize takes it (pkg/policy/api/l4.go
     * {@code PortProtocol.sanitize} refuses port 0 only with L7 rules), and the policy-map keys come from
     * {@code PortRangeToMaskedPorts(port, endPort)}, every port only for {@code 0} with an end of 0 or 65535. zerohop took
     * every port, so 9090 was allowed.
     */
    @Test
    void ciliumPortZeroWithAnEndPortIsARange() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", cnp("prod", "c",
                "{endpointSelector: {matchLabels: {app: web}}, ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}],"
                        + " toPorts: [{ports: [{port: '0', endPort: 8080, protocol: TCP}]}]}]}"))).build();
        assertThat(e.evaluate(to(8080)).allowed()).isTrue();
        assertThat(e.evaluate(to(1)).allowed()).isTrue();
        assertThat(e.evaluate(to(9090)).allowed()).as("outside 0..8080").isFalse();
        for (String end : new String[] {"0", "65535"}) {
            PolicyEngine all = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", cnp("prod", "c",
                    "{endpointSelector: {matchLabels: {app: web}}, ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}],"
                            + " toPorts: [{ports: [{port: '0', endPort: " + end + ", protocol: TCP}]}]}]}"))).build();
            assertThat(all.evaluate(to(9090)).allowed()).as("endPort " + end + ": every port").isTrue();
        }
    }

    /**
     * Cilium's {@code endPort} is an integer (pkg/policy/api/l4.go {@code PortProtocol.EndPort int32}, Minimum 0, Maximum
     * 65535), so the cluster holds the number kubectl sends: go-yaml v2 {@code resolve.go} reads a plain {@code 010} with
     * {@code strconv.ParseInt(s, 0, 64)} as octal 8, {@code 0x1F90} as 8080, and {@code 08080}, {@code 8080.0} and
     * {@code 8.08e3} as floats that sigs.k8s.io/yaml {@code YAMLToJSON} writes as the JSON number 8080. zerohop read
     * {@code 010} as 10 (port 9 and 10 allowed where Cilium allows up to 8) and refused the others.
     */
    @Test
    void ciliumEndPortIsTheNumberKubectlSends() throws Exception {
        for (String[] c : new String[][] {{"010", "8"}, {"0o10", "8"}, {"0x1F90", "8080"}, {"08080", "8080"}, {"8080.0", "8080"},
                {"8.08e3", "8080"}, {"8_080", "8080"}, {"+8080", "8080"}}) {
            int end = Integer.parseInt(c[1]);
            PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", cnp("prod", "c",
                    "{endpointSelector: {matchLabels: {app: web}}, ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}],"
                            + " toPorts: [{ports: [{port: '1', endPort: " + c[0] + ", protocol: TCP}]}]}]}"))).build();
            assertThat(e.evaluate(to(end)).allowed()).as("endPort: " + c[0] + " is " + end).isTrue();
            assertThat(e.evaluate(to(end + 1)).allowed()).as("endPort: " + c[0] + " is " + end + ", not more").isFalse();
        }
        for (String[] bad : new String[][] {{"'8080'", "expected an integer, found \"8080\""}, {"8080.5", "expected an integer"},
                {"1e999", "expected an integer"}, {".inf", "expected an integer"}, {"0x10000", "bad endPort 65536 (0..65535)"},
                {"-1", "bad endPort -1"}}) {
            assertThatThrownBy(() -> PolicyLoader.fromString("p.yaml", cnp("prod", "c", "{endpointSelector: {}, ingress: [{"
                    + "toPorts: [{ports: [{port: '1', endPort: " + bad[0] + ", protocol: TCP}]}]}]}"))).as(bad[0])
                    .isInstanceOf(PolicyLoadException.class).hasMessageContaining(bad[1]);
        }
    }

    /**
     * The API server refuses a custom resource whose name is not a DNS-1123 subdomain (at most 253 characters, no empty
     * label) or whose namespace is not a DNS-1123 label (at most 63, no dot): k8s.io/apimachinery pkg/util/validation
     * {@code IsDNS1123Subdomain}, {@code IsDNS1123Label}. A DENY in {@code prod.x} loaded and protected nothing.
     */
    @Test
    void metadataTheApiServerRefusesIsRefused() throws Exception {
        String deny = "{action: DENY, rules: [{}]}";
        String[][] bad = {
                {"{name: d, namespace: prod.x}", "bad namespace \"prod.x\": a namespace is a lower-case RFC 1123 label"},
                {"{name: d, namespace: " + "a".repeat(64) + "}", "at most 63 characters"},
                {"{name: a..b, namespace: prod}", "bad name \"a..b\": the API server takes a lower-case RFC 1123 subdomain"},
                {"{name: " + "a".repeat(254) + ", namespace: prod}", "at most 253"},
                {"{name: -a, namespace: prod}", "bad name \"-a\""},
        };
        for (String[] b : bad) {
            String yaml = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: " + b[0] + "\nspec: " + deny + "\n";
            assertThatThrownBy(() -> PolicyLoader.fromString("p.yaml", yaml)).as(b[0]).isInstanceOf(PolicyLoadException.class)
                    .hasMessageContaining(b[1]);
        }
        for (String good : new String[] {"{name: a.b-c, namespace: prod}", "{name: " + "a".repeat(253) + ", namespace: " + "n".repeat(63) + "}"}) {
            PolicyLoader.fromString("p.yaml", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: " + good
                    + "\nspec: " + deny + "\n");
        }
    }

    /**
     * Go's netip, which istiod's {@code security.ValidateIPs} and Cilium's CIDR sanitize parse with, refuses an IPv6
     * group of more than four digits; the JDK read {@code ::00001} as ::1.
     */
    @Test
    void ipv6GroupsOfMoreThanFourDigitsAreRefused() throws Exception {
        for (String ip : new String[] {"::00001", "fe80::0000001/64", "::00001:1.2.3.4"}) {
            assertThatThrownBy(() -> PolicyLoader.fromString("p.yaml", ap("prod", "p", "{rules: [{from: [{source: {ipBlocks: ['" + ip
                    + "']}}]}]}"))).as("ipBlocks " + ip).isInstanceOf(PolicyLoadException.class);
            assertThatThrownBy(() -> PolicyLoader.fromString("p.yaml", cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromCIDR: ['"
                    + ip + "']}]}"))).as("fromCIDR " + ip).isInstanceOf(PolicyLoadException.class);
        }
        PolicyLoader.fromString("p.yaml", ap("prod", "p", "{rules: [{from: [{source: {ipBlocks: ['::0001', 'fe80::1/64', '::ffff:1.2.3.4']}}]}]}"));
    }

    /**
     * {@code kubectl apply -f} reads every file through {@code unicode.BOMOverride(unicode.UTF8.NewDecoder())}
     * (k8s.io/cli-runtime pkg/resource/visitor.go {@code FileVisitor.Visit}): a UTF-16 file with its byte-order mark,
     * what Windows PowerShell 5.1's {@code >} writes, applies. It was refused as "not UTF-8 text".
     */
    @Test
    void utf16WithAByteOrderMarkLoads() throws Exception {
        String yaml = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: d, namespace: prod}\n"
                + "spec: {action: DENY, rules: [{}]}\n";
        Files.write(dir.resolve("deny.yaml"), yaml.getBytes(StandardCharsets.UTF_16)); // FE FF, big-endian
        byte[] le = yaml.replace("name: d", "name: e").getBytes(StandardCharsets.UTF_16LE);
        byte[] withBom = new byte[le.length + 2];
        withBom[0] = (byte) 0xFF;
        withBom[1] = (byte) 0xFE;
        System.arraycopy(le, 0, withBom, 2, le.length);
        Files.write(dir.resolve("deny-le.yaml"), withBom);
        PolicySet set = PolicyLoader.fromDirectory(dir);
        assertThat(set.files()).hasSize(2);
        PolicyEngine e = PolicyEngine.builder().policies(set).build();
        assertThat(e.evaluate(AccessRequest.builder().sourceAddress("10.0.0.1").destinationAddress("10.0.0.2").destinationPort(80)
                .destination(new WorkloadRef("prod", "web", "web", Map.of())).build()).allowed()).as("the DENY is in force").isFalse();
        // Without a byte-order mark it is read as UTF-8, as kubectl reads it, and its NULs are refused.
        Files.write(dir.resolve("deny-le.yaml"), le);
        assertThatThrownBy(() -> PolicyLoader.fromDirectory(dir)).isInstanceOf(PolicyLoadException.class)
                .hasMessageContaining("deny-le.yaml");
    }
}
