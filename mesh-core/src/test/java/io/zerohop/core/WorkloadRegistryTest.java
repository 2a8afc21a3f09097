package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkloadRegistryTest {
    static final String GOOD = """
            trustDomain: example.org
            nodes:
              - {name: node-b, hboneAddress: "10.0.0.2:15008"}
            workloads:
              - namespace: prod
                name: backend
                serviceAccount: backend-sa
                addresses: [10.0.1.2, "fd00::2"]
                labels: {app: backend}
                node: node-b
              - {namespace: prod, name: db, addresses: [10.0.1.3], protocol: TCP}
            """;

    @Test
    void loadsWorkloadsNodesAndIdentities(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("w.yaml"), GOOD);
        WorkloadRegistry r = WorkloadRegistry.load(f);
        Workload b = r.byAddress(InetAddress.getByName("fd00::2")).orElseThrow();
        assertThat(b.identity().toString()).isEqualTo("spiffe://example.org/ns/prod/sa/backend-sa");
        assertThat(r.hboneAddress(b, InetAddress.getByName("10.0.1.2"))).isEqualTo(new InetSocketAddress("10.0.0.2", 15008));
        Workload db = r.byName("prod", "db").orElseThrow();
        assertThat(db.protocol()).isEqualTo(Workload.Protocol.TCP);
        assertThat(db.serviceAccount()).isEqualTo("default");
        assertThat(r.hboneAddress(db, InetAddress.getByName("10.0.1.3"))).isEqualTo(new InetSocketAddress("10.0.1.3", 15008));
    }

    /**
     * A ServiceAccount name the API server refuses (kubernetes pkg/apis/core/validation ValidateServiceAccountName:
     * a DNS-1123 subdomain) names no workload's identity. New-user pass: {@code serviceAccount: Web_SA} loaded.
     */
    @Test
    void aServiceAccountKubernetesWouldRefuseIsNamedWithItsField(@TempDir Path dir) throws Exception {
        for (String bad : new String[] {"Web_SA", "web_sa", "-web", "web-", "web..sa", "a".repeat(254)}) {
            Path f = Files.writeString(dir.resolve("w.yaml"), GOOD.replace("serviceAccount: backend-sa", "serviceAccount: " + bad));
            assertThatThrownBy(() -> WorkloadRegistry.load(f)).as(bad).hasMessageStartingWith(f + ":7: workloads[0].serviceAccount: \""
                    + bad + "\": ").hasMessageContaining(bad.length() > 253 ? "must be no more than 253 characters"
                    : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters");
        }
        for (String good : new String[] {"web-sa", "web.sa", "a", "0", "a".repeat(253)}) {
            Path f = Files.writeString(dir.resolve("w.yaml"), GOOD.replace("serviceAccount: backend-sa", "serviceAccount: " + good));
            assertThat(WorkloadRegistry.load(f).byName("prod", "backend").orElseThrow().serviceAccount()).isEqualTo(good);
        }
    }

    @Test
    void aNodeWithoutHboneAddressMeansDialTheWorkloadItself(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("w.yaml"), GOOD.replace("{name: node-b, hboneAddress: \"10.0.0.2:15008\"}", "{name: node-b}"));
        WorkloadRegistry r = WorkloadRegistry.load(f);
        Workload b = r.byName("prod", "backend").orElseThrow();
        assertThat(b.node()).isEqualTo("node-b");
        assertThat(r.hboneAddress(b, InetAddress.getByName("10.0.1.2"))).isEqualTo(new InetSocketAddress("10.0.1.2", 15008));
    }

    @Test
    void errorsNameFileLineAndFieldAndKeepTheOldContents(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("w.yaml"), GOOD);
        WorkloadRegistry r = WorkloadRegistry.load(f);
        Files.writeString(f, GOOD.replace("serviceAccount: backend-sa", "serviceAcount: backend-sa"));
        assertThatThrownBy(() -> r.reload(f)).hasMessageContaining("w.yaml:7: workloads[0].serviceAcount: unknown field (expected one of "
                + "addresses, hostname, labels, name, namedPorts, namespace, node, ports, protocol, serviceAccount, waypoint)");
        // New-user pass: a policy file given as --workloads read "Unrecognized field \"apiVersion\", not marked as ignorable".
        Files.writeString(f, "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n");
        assertThatThrownBy(() -> r.reload(f)).hasMessage(f + ":1: apiVersion: unknown field (expected one of nodes, services, trustDomain, "
                + "workloads); this is a Kubernetes manifest, not a workload registry (mesh-core/README.md, Workload registry)");
        Files.writeString(f, GOOD.replace("10.0.1.3", "db.local"));
        assertThatThrownBy(() -> r.reload(f)).hasMessageContaining("workloads[1].addresses[0]: \"db.local\" is not an IP address literal");
        Files.writeString(f, GOOD.replace("node: node-b", "node: node-x"));
        assertThatThrownBy(() -> r.reload(f)).hasMessageContaining("workloads[0].node: unknown node \"node-x\"");
        Files.writeString(f, GOOD.replace("10.0.1.3", "10.0.1.2"));
        assertThatThrownBy(() -> r.reload(f)).hasMessageContaining("address 10.0.1.2 claimed by both prod/backend and prod/db");
        assertThat(r.all()).hasSize(2);
        assertThat(r.byName("prod", "backend")).isPresent();
    }

    /** A mistyped key gets the policy loader's "did you mean" (the same helper, the same message shape). */
    @Test
    void anUnknownKeyNamesTheKeyMeant(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("w.yaml"), GOOD.replace("serviceAccount: backend-sa", "serviceAcount: backend-sa"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessage(f + ":7: workloads[0].serviceAcount: unknown field (expected"
                + " one of addresses, hostname, labels, name, namedPorts, namespace, node, ports, protocol, serviceAccount, waypoint); did you mean"
                + " serviceAccount?");
        Files.writeString(f, GOOD.replace("trustDomain:", "trustdomain:"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessage(f + ":1: trustdomain: unknown field (expected one of nodes,"
                + " services, trustDomain, workloads); did you mean trustDomain? (field names are case-sensitive)");
        Files.writeString(f, GOOD.replace("hboneAddress:", "hboneAdress:"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessageStartingWith(f + ":").hasMessageContaining(
                ".hboneAdress: unknown field (expected one of addresses, hboneAddress, name); did you mean hboneAddress?");
        Files.writeString(f, GOOD.replace("labels: {app: backend}", "colour: {app: backend}"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).as("nothing near: no guess")
                .hasMessageEndingWith(".colour: unknown field (expected one of addresses, hostname, labels, name, namedPorts, namespace, node,"
                        + " ports, protocol, serviceAccount, waypoint)");
    }

    /**
     * {@code --trust-domain Cluster.Local} is refused (SPIFFE IDs have a lower-case trust domain; go-spiffe refuses
     * it), and the file's trustDomain was lower-cased silently by java-spiffe: refused the same way, at its line.
     */
    @Test
    void anUpperCaseTrustDomainIsRefusedAsTheOptionIs(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("w.yaml"), GOOD.replace("trustDomain: example.org", "trustDomain: Example.org"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessage(f + ":1: trustDomain: invalid trust domain \"Example.org\":"
                + " not in canonical form (trust domain must be lower case)");
    }

    /**
     * New-user pass: the checks after parsing named the path but no line, unlike a syntax error. Each
     * names the line of the offending value (of its key when the value spans lines), in block and flow style.
     */
    @Test
    void checksAfterParsingNameTheLineOfTheValue(@TempDir Path dir) throws Exception {
        String file = """
                trustDomain: example.org
                nodes:
                  - name: node-b
                    hboneAddress: "10.0.0.2:15008"
                    addresses:
                      - 10.0.5.2
                      - 10.0.5.3
                  - {name: node-c, hboneAddress: "10.0.0.3:15008"}
                workloads:
                  - namespace: prod
                    name: backend
                    addresses:
                      - 10.0.1.2
                      - "fd00::2"
                    node: node-b
                    ports:
                      8080: http
                      9090: grpc
                  - {namespace: prod, name: db, addresses: [10.0.1.3], ports: {5432: tcp}}
                """;
        Path f = Files.writeString(dir.resolve("w.yaml"), file);
        WorkloadRegistry.load(f);
        java.util.function.BiConsumer<String, String> refused = (yaml, message) -> {
            try {
                Files.writeString(f, yaml);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            assertThatThrownBy(() -> WorkloadRegistry.load(f)).isInstanceOf(IllegalArgumentException.class).hasMessage(f + message);
        };
        refused.accept(file.replace("9090: grpc", "9090: htpp"),
                ":18: workloads[0].ports.9090: unknown application protocol \"htpp\" (tcp, http, http2, grpc, auto, or an Istio protocol name)");
        refused.accept(file.replace("5432: tcp", "5432: tpc"),
                ":19: workloads[1].ports.5432: unknown application protocol \"tpc\" (tcp, http, http2, grpc, auto, or an Istio protocol name)");
        refused.accept(file.replace("8080: http", "80800: http"), ":17: workloads[0].ports.80800: port out of range 1-65535");
        refused.accept(file.replace("\"fd00::2\"", "backend.local"),
                ":14: workloads[0].addresses[1]: \"backend.local\" is not an IP address literal");
        refused.accept(file.replace("node: node-b", "node: node-x"), ":15: workloads[0].node: unknown node \"node-x\" (declare it under nodes:)");
        refused.accept(file.replace("10.0.1.3", "10.0.1.2"),
                ":19: workloads[1].addresses[0]: address 10.0.1.2 claimed by both prod/backend and prod/db");
        refused.accept(file.replace("10.0.5.3", "0.0.0.0"), ":7: nodes[0].addresses[1]: the wildcard address is no address a proxy dials from");
        // A new-user pass: a workload at 0.0.0.0, and two entries of one namespace/name (byName found the first only).
        refused.accept(file.replace("10.0.1.3", "0.0.0.0"),
                ":19: workloads[1].addresses[0]: address 0.0.0.0 is a wildcard address, no workload's: give the workload's IP");
        refused.accept(file.replace("name: db", "name: backend"),
                ":19: workloads[1].name: workload prod/backend is declared twice (a namespace and a name identify one workload)");
        refused.accept(file.replace("10.0.5.2", "node-b.local"), ":6: nodes[0].addresses[0]: \"node-b.local\" is not an IP address literal");
        refused.accept(file.replace("\"10.0.0.2:15008\"", "10.0.0.2"),
                ":4: nodes[0].hboneAddress: \"10.0.0.2\" is not ip:port ([v6]:port for IPv6)");
        refused.accept(file.replace("\"10.0.0.3:15008\"", "\"10.0.0.3:99999\""), ":8: nodes[1].hboneAddress: port 99999 out of range 0..65535");
        // A field the constructor requires: the line of the entry (its first line, the "- ").
        refused.accept(file.replace("{namespace: prod, name: db,", "{namespace: prod,"), ":19: workloads[1]: workload name is required");
        refused.accept(file.replace("    name: backend\n", ""), ":10: workloads[0]: workload name is required");
        // A value of the wrong type: the line of that entry's key, not of the file's first "name:" (nodes[0]'s).
        Files.writeString(f, file.replace("name: db", "name: [db]"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessageStartingWith(f + ":19: workloads[1].name: ");
        // ... and of the key when the value is a block of its own lines.
        Files.writeString(f, file.replace("    name: backend\n", "    name:\n      - backend\n"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessageStartingWith(f + ":11: workloads[0].name: ");
        Files.writeString(f, file.replace("      8080: http\n", "      8080:\n        - http\n"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessageStartingWith(f + ":17: workloads[0].ports.8080: ");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a listener shows the IP it was given (0.0.0.0, not the dual-stack [::] epoll binds) and the port it got")
    void listenerShowsTheConfiguredIpAndTheBoundPort() throws Exception {
        InetSocketAddress dualStack = new InetSocketAddress(InetAddress.getByName("::"), 15001);
        assertThat(Addresses.listener(Addresses.parseHostPort("0.0.0.0:15001", "x"), dualStack)).isEqualTo("0.0.0.0:15001");
        assertThat(Addresses.listener(Addresses.parseHostPort("[::]:15001", "x"), dualStack)).isEqualTo("[::]:15001");
        assertThat(Addresses.listener(Addresses.parseHostPort("127.0.0.1:0", "x"),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 40123))).isEqualTo("127.0.0.1:40123");
        assertThat(Addresses.listener(Addresses.parseHostPort(":15001", "x"), dualStack)).doesNotContain("0:0:0:0:0").endsWith(":15001");
    }

    @Test
    void authorityBracketsIpv6(@TempDir Path dir) throws Exception {
        // RFC 5952's short form, as ztunnel prints a Rust SocketAddr (std's Ipv6Addr Display follows RFC 5952).
        assertThat(Addresses.authority(new InetSocketAddress(InetAddress.getByName("fd00::1"), 80))).isEqualTo("[fd00::1]:80");
        assertThat(Addresses.authority(new InetSocketAddress(InetAddress.getByName("::"), 15008))).isEqualTo("[::]:15008");
        assertThat(Addresses.parseHostPort("[fd00::1]:15008", "x").getPort()).isEqualTo(15008);
        assertThat(Addresses.parseHostPort(":15008", "x").getAddress().isAnyLocalAddress()).isTrue();
        assertThatThrownBy(() -> Addresses.parseHostPort("10.0.0.1:99999", "--via")).hasMessageContaining("--via: port 99999 out of range");
        assertThatThrownBy(() -> Addresses.parseIp("example.com", "--dest-ip")).hasMessageContaining("not an IP address literal");
        // New-user pass: "010.0.0.1" in a registry was read as 10.0.0.1 (the JDK's reading; inet_aton's is octal
        // 8.0.0.1, and a policy's ipBlocks refuses it), and "300.1.1.1" was looked up in DNS.
        assertThat(Addresses.parseIp("10.0.0.1", "x").getHostAddress()).isEqualTo("10.0.0.1");
        assertThat(Addresses.parseIp("0.0.0.0", "x").isAnyLocalAddress()).isTrue();
        for (String bad : new String[] {"010.0.0.1", "10.0.0.01", "300.1.1.1", "10.0.0.256", "1..2.3"}) {
            assertThatThrownBy(() -> Addresses.parseIp(bad, "--source-ip")).as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("--source-ip: \"" + bad + "\" is not an IP address literal");
        }
        Path zero = Files.writeString(dir.resolve("zero.yaml"), GOOD.replace("addresses: [10.0.1.3]", "addresses: [\"010.0.1.3\"]"));
        assertThatThrownBy(() -> WorkloadRegistry.load(zero)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("\"010.0.1.3\" is not an IP address literal (IPv4: four decimal fields up to 255, without leading zeros)");
    }

    @Test
    void portsCarryTheirApplicationProtocolAndATypoIsRefused(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("w.yaml"), GOOD.replace("node: node-b", "node: node-b\n    ports: {8080: http, 9090: GRPC, 5432: tcp}"));
        Workload b = WorkloadRegistry.load(f).byName("prod", "backend").orElseThrow();
        assertThat(b.appProtocol(8080)).isEqualTo(AppProtocol.HTTP);
        assertThat(b.appProtocol(9090)).isEqualTo(AppProtocol.GRPC);
        assertThat(b.appProtocol(5432)).isEqualTo(AppProtocol.TCP);
        assertThat(b.appProtocol(7000)).isEqualTo(AppProtocol.AUTO);
        Files.writeString(f, GOOD.replace("node: node-b", "node: node-b\n    ports: {8080: htp}"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessageContaining("workloads[0].ports.8080: unknown application protocol \"htp\"");
    }

    /**
     * A label value is one the API server takes (k8s.io/apimachinery {@code IsValidLabelValue}): one with {@code ,} or
     * {@code =} went into the {@code baggage} headers whole, where a ztunnel reader takes the last of two namespaces
     * (a new-user pass, helper 257).
     */
    @Test
    void labelValuesAreKubernetesLabelValues(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("w.yaml");
        Files.writeString(f, GOOD.replace("labels: {app: backend}", "labels: {app: backend, service.istio.io/canonical-name: \"x,k8s.namespace.name=evil\"}"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessageContaining("w.yaml:")
                .hasMessageContaining("\"x,k8s.namespace.name=evil\" is no Kubernetes label value");
        Files.writeString(f, GOOD.replace("labels: {app: backend}", "labels: {app: backend, version: \"\", tier: a.b-c_d}"));
        assertThat(WorkloadRegistry.load(f).all()).isNotEmpty();
        // At most 63 characters, starting and ending with a letter or digit (helper 268: with no length bound this passed).
        Files.writeString(f, GOOD.replace("labels: {app: backend}", "labels: {app: backend, tier: " + "a".repeat(63) + "}"));
        assertThat(WorkloadRegistry.load(f).all()).isNotEmpty();
        Files.writeString(f, GOOD.replace("labels: {app: backend}", "labels: {app: backend, tier: " + "a".repeat(64) + "}"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessageContaining("is no Kubernetes label value");
        Files.writeString(f, GOOD.replace("labels: {app: backend}", "labels: {app: backend, tier: \"-x\"}"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessageContaining("\"-x\" is no Kubernetes label value");
    }

    /** Istio's protocol selection: appProtocol wins, else the port name's prefix (istio.io "Protocol Selection"). */
    @Test
    void protocolSelectionFollowsIstiosServicePortConventions() {
        assertThat(AppProtocol.of(null, "http-web")).isEqualTo(AppProtocol.HTTP);
        assertThat(AppProtocol.of(null, "http2-api")).isEqualTo(AppProtocol.HTTP2);
        assertThat(AppProtocol.of(null, "grpc")).isEqualTo(AppProtocol.GRPC);
        assertThat(AppProtocol.of(null, "tcp-db")).isEqualTo(AppProtocol.TCP);
        assertThat(AppProtocol.of(null, "https-admin")).isEqualTo(AppProtocol.TCP);
        assertThat(AppProtocol.of(null, "web")).isEqualTo(AppProtocol.AUTO);
        assertThat(AppProtocol.of(null, null)).isEqualTo(AppProtocol.AUTO);
        assertThat(AppProtocol.of("kubernetes.io/h2c", "tcp-x")).isEqualTo(AppProtocol.HTTP2);
        assertThat(AppProtocol.of("HTTP", "grpc")).isEqualTo(AppProtocol.HTTP);
    }

    /**
     * istiod's {@code ConvertProtocol} (istio/istio pkg/config/kube/conversion.go), with the cases of its
     * {@code TestConvertProtocol} (conversion_test.go; HTTPS is TCP here, gRPC-Web its own value, served as HTTP) and the Kubernetes names it
     * handles: {@code kubernetes.io/ws} is HTTP (a review pass, helper 256: it was TCP, so WebSocket ports were decided at
     * L4), an appProtocol's prefix counts as a name's does, names istiod does not know are sniffed, and the well-known
     * ports are TCP when nothing else says.
     */
    @Test
    void protocolSelectionIsIstiodsConvertProtocol() {
        assertThat(AppProtocol.of(0, null, null)).as("resolves empty").isEqualTo(AppProtocol.AUTO);
        assertThat(AppProtocol.of(0, null, "http-something")).as("resolves from port name").isEqualTo(AppProtocol.HTTP);
        assertThat(AppProtocol.of(0, "https", "http-something")).as("prefers appProto over portName").isEqualTo(AppProtocol.TCP);
        assertThat(AppProtocol.of(0, "https", "something-httpx")).as("resolves from appProto").isEqualTo(AppProtocol.TCP);
        assertThat(AppProtocol.of(0, null, "grpc-web-x")).as("resolves grpc-web").isEqualTo(AppProtocol.GRPC_WEB);
        assertThat(AppProtocol.of(0, null, "grpcweb-x")).as("grpc-web is not resolved incorrectly").isEqualTo(AppProtocol.AUTO);
        assertThat(AppProtocol.of(3306, null, "random-name")).as("resolves based on known ports").isEqualTo(AppProtocol.TCP);
        assertThat(AppProtocol.of(3306, "kubernetes.io/h2c", "random-name")).as("standard app protocol").isEqualTo(AppProtocol.HTTP2);
        assertThat(AppProtocol.of(8081, "kubernetes.io/ws", null)).isEqualTo(AppProtocol.HTTP);
        assertThat(AppProtocol.of(8081, "kubernetes.io/wss", null)).isEqualTo(AppProtocol.TCP);
        assertThat(AppProtocol.of(8081, "grpc-v1", "tcp")).isEqualTo(AppProtocol.GRPC);
        assertThat(AppProtocol.of(8081, "http_proxy", null)).isEqualTo(AppProtocol.HTTP);
        assertThat(AppProtocol.of(8081, null, "h2c")).isEqualTo(AppProtocol.AUTO);
        assertThat(AppProtocol.of(8081, null, "http1-x")).isEqualTo(AppProtocol.AUTO);
        for (int port : new int[] {25, 53, 3306, 27017}) {
            assertThat(AppProtocol.of(port, null, null)).as("port %d", port).isEqualTo(AppProtocol.TCP);
            assertThat(AppProtocol.of(port, null, "http")).as("port %d named http", port).isEqualTo(AppProtocol.HTTP);
        }
        assertThat(AppProtocol.of(3307, null, null)).isEqualTo(AppProtocol.AUTO);
    }

    /**
     * As the policy loader (and kubectl) read YAML: a repeated key and a second document are errors
     * naming file and line. A new-user pass found Jackson's defaults: the last {@code labels:} won
     * (moving the workload out of a DENY's selector) and a second document's workloads were dropped.
     */
    @Test
    void aRepeatedKeyOrASecondDocumentIsAnErrorNotSilentlyDropped(@TempDir Path dir) throws Exception {
        Path dup = Files.writeString(dir.resolve("dup.yaml"), """
                workloads:
                  - namespace: prod
                    name: backend
                    addresses: [10.0.1.2]
                    labels: {app: backend}
                    labels: {app: other}
                """);
        assertThatThrownBy(() -> WorkloadRegistry.load(dup)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith(dup + ":6: repeated key 'labels'");
        Path twice = Files.writeString(dir.resolve("twice.yaml"), """
                workloads:
                  - {namespace: prod, name: backend, addresses: [10.0.1.2]}
                workloads:
                  - {namespace: prod, name: db, addresses: [10.0.1.3]}
                """);
        assertThatThrownBy(() -> WorkloadRegistry.load(twice)).hasMessageStartingWith(twice + ":3: repeated key 'workloads'");
        Path docs = Files.writeString(dir.resolve("docs.yaml"), """
                workloads:
                  - {namespace: prod, name: backend, addresses: [10.0.1.2]}
                ---
                workloads:
                  - {namespace: prod, name: db, addresses: [10.0.1.3]}
                """);
        assertThatThrownBy(() -> WorkloadRegistry.load(docs)).hasMessageStartingWith(docs + ":4: a second YAML document");
        // An alias was read as its anchor's name: the second workload's namespace became "ns".
        Path alias = Files.writeString(dir.resolve("alias.yaml"), """
                workloads:
                  - {namespace: &ns prod, name: backend, addresses: [10.0.1.2]}
                  - {namespace: *ns, name: db, addresses: [10.0.1.3]}
                """);
        assertThatThrownBy(() -> WorkloadRegistry.load(alias))
                .hasMessage(alias + ":3: workloads[1].namespace: an alias (*ns): the registry does not expand YAML aliases;"
                        + " write the value itself");
    }

    /**
     * An alias is named by its field, file:line: path, as the binder names every other error (new-user pass: "w.yaml:5:
     * an alias (*sa)" named no field): one to an anchor never defined (SnakeYAML's parser leaves that to the composer,
     * so it reads as any alias, and the message adds that none precedes it), and one to a mapping where a label's
     * string belongs.
     */
    @Test
    void anAliasIsNamedByItsField(@TempDir Path dir) throws Exception {
        Path undefined = Files.writeString(dir.resolve("undefined.yaml"), """
                trustDomain: cluster.local
                workloads:
                  - namespace: prod
                    name: web
                    serviceAccount: *sa
                    addresses: [127.0.64.2]
                """);
        assertThatThrownBy(() -> WorkloadRegistry.load(undefined)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(undefined + ":5: workloads[0].serviceAccount: an alias (*sa, no anchor &sa before it): the registry"
                        + " does not expand YAML aliases; write the value itself");
        Path mapping = Files.writeString(dir.resolve("mapping.yaml"), """
                trustDomain: cluster.local
                nodes:
                  - &node {name: node-a, addresses: [127.0.64.1]}
                workloads:
                  - namespace: prod
                    name: web
                    labels: {tier: front, app: *node}
                """);
        assertThatThrownBy(() -> WorkloadRegistry.load(mapping)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(mapping + ":7: workloads[0].labels.app: an alias (*node): the registry does not expand YAML aliases;"
                        + " write the value itself");
        Path item = Files.writeString(dir.resolve("item.yaml"), "workloads:\n  - {namespace: prod, name: web, addresses: [127.0.64.2, *a]}\n");
        assertThatThrownBy(() -> WorkloadRegistry.load(item)).hasMessageStartingWith(item + ":2: workloads[0].addresses[1]: an alias (*a,");
    }

    /**
     * What the Jackson binding accepted and refused, kept by the SnakeYAML reader that replaced it (issue 14):
     * a scalar where a string is expected is taken as written, a merge key is no field of the registry
     * (Jackson refused "<<" as an unknown one), a port key must be an integer; one tightening: a number is no
     * {@code protocol} (Jackson read it as the enum's index).
     */
    @Test
    void theReaderKeepsTheFormatTheJacksonBindingAccepted(@TempDir Path dir) throws Exception {
        Path typed = Files.writeString(dir.resolve("typed.yaml"), """
                trustDomain: example.org
                workloads:
                  - {namespace: prod, name: backend, addresses: [10.0.1.2], labels: {app: backend, version: 1, canary: true}}
                """);
        assertThat(WorkloadRegistry.load(typed).byName("prod", "backend").orElseThrow().labels())
                .containsEntry("version", "1").containsEntry("canary", "true");
        Path merge = Files.writeString(dir.resolve("merge.yaml"), """
                workloads:
                  - namespace: prod
                    <<: {name: backend, addresses: [10.0.1.2]}
                """);
        assertThatThrownBy(() -> WorkloadRegistry.load(merge)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(merge + ":3: workloads[0]: a merge key (<<): the registry does not merge YAML mappings; write the keys themselves");
        Path port = Files.writeString(dir.resolve("port.yaml"), """
                workloads:
                  - namespace: prod
                    name: backend
                    ports: {http: 8080}
                """);
        assertThatThrownBy(() -> WorkloadRegistry.load(port)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(port + ":4: workloads[0].ports.http: \"http\" is not a port number (1-65535)");
        // Jackson took a number as the enum's index: "protocol: 1" was TCP (plaintext, outside the mesh). Refused now.
        Path index = Files.writeString(dir.resolve("index.yaml"), "workloads:\n  - {namespace: prod, name: backend, protocol: 1}\n");
        assertThatThrownBy(() -> WorkloadRegistry.load(index)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(index + ":2: workloads[0].protocol: unknown value \"1\" (one of HBONE, TCP)");
        // Was a NullPointerException from Workload's constructor, with Jackson and with the first SnakeYAML binding alike.
        Path nullLabel = Files.writeString(dir.resolve("null.yaml"), "workloads:\n  - namespace: prod\n    name: backend\n    labels: {app: ~}\n");
        assertThatThrownBy(() -> WorkloadRegistry.load(nullLabel)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(nullLabel + ":4: workloads[0].labels.app: no value (a label value is a string: write \"\" for an empty one)");
        Path list = Files.writeString(dir.resolve("list.yaml"), "- {namespace: prod, name: backend}\n");
        assertThatThrownBy(() -> WorkloadRegistry.load(list)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(list + ":1: : expected a mapping (trustDomain, nodes, workloads, services), found a list");
    }

    @Test
    void nodeAddressesAreTheDeclaredOnesThenTheHboneAddressIp(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("w.yaml"), GOOD.replace("{name: node-b, hboneAddress: \"10.0.0.2:15008\"}",
                "{name: node-b, hboneAddress: \"10.0.0.2:15008\", addresses: [10.0.5.2, \"fd00::b\", 10.0.0.2]}\n"
                        + "  - {name: node-c, addresses: [10.0.0.3]}\n  - {name: node-d}"));
        WorkloadRegistry r = WorkloadRegistry.load(f);
        assertThat(r.nodeAddresses("node-b")).containsExactly(InetAddress.getByName("10.0.5.2"), InetAddress.getByName("fd00::b"),
                InetAddress.getByName("10.0.0.2"));
        assertThat(r.nodeAddresses("node-c")).as("addresses alone: tunnels to its workloads still dial them on 15008")
                .containsExactly(InetAddress.getByName("10.0.0.3"));
        assertThat(r.nodeAddresses("node-d")).isEmpty();
        assertThat(r.nodeAddresses(null)).isEmpty();
        // A put keeps the nodes' addresses.
        r.put(new Workload("prod", "x", "x", null, java.util.List.of(InetAddress.getByName("10.0.1.9")), null, "node-c", "example.org"));
        assertThat(r.nodeAddresses("node-c")).containsExactly(InetAddress.getByName("10.0.0.3"));
        Path wildcard = Files.writeString(dir.resolve("wild.yaml"), "nodes:\n  - {name: n, addresses: [10.0.0.3, 0.0.0.0]}\n");
        assertThatThrownBy(() -> WorkloadRegistry.load(wildcard))
                .hasMessage(wildcard + ":2: nodes[0].addresses[1]: the wildcard address is no address a proxy dials from");
        Path name = Files.writeString(dir.resolve("name.yaml"), "nodes:\n  - {name: n, addresses: [node-n.local]}\n");
        assertThatThrownBy(() -> WorkloadRegistry.load(name)).hasMessageContaining("nodes[0].addresses[0]: \"node-n.local\" is not an IP address literal");
    }

    @Test
    void identityOfIsOneInstancePerIdentityWhileTheWorkloadIsRegistered(@TempDir Path dir) throws Exception {
        WorkloadRegistry r = WorkloadRegistry.load(Files.writeString(dir.resolve("w.yaml"), GOOD));
        Workload b = r.byName("prod", "backend").orElseThrow();
        assertThat(r.identityOf(b)).isEqualTo(b.identity()).isSameAs(r.identityOf(b));
        Workload copy = new Workload(b.namespace(), "backend-2", b.serviceAccount(), b.labels(), java.util.List.of(), b.protocol(),
                b.node(), b.trustDomain());
        assertThat(r.identityOf(copy)).as("not registered: built").isEqualTo(b.identity()).isNotSameAs(r.identityOf(b));
        r.put(copy);
        assertThat(r.identityOf(r.byName("prod", "backend-2").orElseThrow())).as("shared by the identity's workloads")
                .isSameAs(r.identityOf(r.byName("prod", "backend").orElseThrow()));
    }

    /**
     * A new-user pass (newuser3) typed what operators type by mistake and got Jackson's internals: an empty
     * file read "w.yaml:1: : No content to map due to end-of-input", a tab "while scanning for the next
     * token" (no problem, the line before the tab's), {@code protocol: hbone} named the enum class
     * {@code io.zerohop.core.Workload$Protocol}, and {@code addresses: 10.0.1.2} "Cannot construct instance
     * of `java.util.ArrayList`". Each now reads {@code file:line: path: reason} in the user's terms.
     */
    @Test
    void operatorMistakesReadInTheFilesTermsNotJacksons(@TempDir Path dir) throws Exception {
        Path empty = Files.writeString(dir.resolve("empty.yaml"), "");
        assertThatThrownBy(() -> WorkloadRegistry.load(empty)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(empty + ": empty workload registry");
        Path tab = Files.writeString(dir.resolve("tab.yaml"), "workloads:\n  - namespace: prod\n\tname: backend\n");
        assertThatThrownBy(() -> WorkloadRegistry.load(tab)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith(tab + ":3: workloads[0].name: invalid YAML: a tab character (\\t) in the indentation");
        Path lower = Files.writeString(dir.resolve("lower.yaml"), GOOD.replace("protocol: TCP", "protocol: tcp"));
        assertThatThrownBy(() -> WorkloadRegistry.load(lower)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(lower + ":11: workloads[1].protocol: unknown value \"tcp\" (one of HBONE, TCP)");
        Path scalar = Files.writeString(dir.resolve("scalar.yaml"), GOOD.replace("addresses: [10.0.1.3]", "addresses: 10.0.1.3"));
        assertThatThrownBy(() -> WorkloadRegistry.load(scalar)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(scalar + ":11: workloads[1].addresses: expected a list, found a single value (write [10.0.1.3])");
        Path labels = Files.writeString(dir.resolve("labels.yaml"), GOOD.replace("labels: {app: backend}", "labels: app=backend"));
        assertThatThrownBy(() -> WorkloadRegistry.load(labels)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(labels + ":9: workloads[0].labels: expected a mapping (key: value), found a single value");
    }
}
