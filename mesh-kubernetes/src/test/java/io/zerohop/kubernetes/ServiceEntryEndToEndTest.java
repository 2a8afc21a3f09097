package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * A ServiceEntry end to end: the mock API server serves a pod and a WorkloadEntry (a VM) that the entry's
 * {@code workloadSelector} selects; a node proxy ({@link KubernetesDiscovery#forNode}) relays a connection captured for
 * the entry's VIP ({@link Capture#forward}) to them, on the entry's {@code targetPort}; with the pod deleted, only the VM.
 * Until 7 December the VIP was unknown to the registry, and the connection was relayed to the VIP itself, where nothing
 * listens. Sockets on 127.0.239.x, 127.0.251.x and 127.0.217.x (h413) only.
 */
class ServiceEntryEndToEndTest {
    static String read(InetSocketAddress via) throws IOException {
        return SelectorlessServiceTest.read(InetAddress.getByName("127.0.239.2"), via);
    }

    @Test
    @DisplayName("a connection to a ServiceEntry's VIP reaches the pod and the WorkloadEntry it selects, on its targetPort")
    void aServiceEntryVipReachesTheSelectedPodAndVm() throws Exception {
        InetAddress vip = InetAddress.getByName("127.0.239.10");
        InetAddress podIp = InetAddress.getByName("127.0.239.21");
        InetAddress vmIp = InetAddress.getByName("127.0.239.22");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (MockCluster k8s = new MockCluster();
             SelectorlessServiceTest.Tagged p = new SelectorlessServiceTest.Tagged(new InetSocketAddress(podIp, 0), "pod")) {
            int port = p.socket.getLocalPort();
            k8s.closeLater(new SelectorlessServiceTest.Tagged(new InetSocketAddress(vmIp, port), "vm"));
            k8s.client.resource(namespace("legacy", Map.of())).create();
            k8s.create(pod("legacy", "db-1", "node-b", "db", Map.of("app", "db"), podIp.getHostAddress()).build());
            k8s.apply("""
                    apiVersion: networking.istio.io/v1
                    kind: ServiceEntry
                    metadata: {name: db, namespace: legacy}
                    spec:
                      hosts: [db.example.com]
                      addresses: [%s]
                      ports: [{number: 5432, targetPort: %d, name: tcp-pg}]
                      resolution: STATIC
                      workloadSelector: {labels: {app: db}}
                    """.formatted(vip.getHostAddress(), port));
            k8s.apply("""
                    apiVersion: networking.istio.io/v1
                    kind: WorkloadEntry
                    metadata: {name: db-vm, namespace: legacy, labels: {app: db}}
                    spec: {address: %s}
                    """.formatted(vmIp.getHostAddress()));
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a")
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            d.synced().get(30, TimeUnit.SECONDS);
            await(d, "the VIP with both endpoints", () -> d.registry().serviceAt(vip)
                    .map(s -> d.registry().endpoints(s).size() == 2).orElse(false));
            assertThat(d.registry().byAddress(vmIp).orElseThrow().protocol()).isEqualTo(Workload.Protocol.TCP);

            Mesh proxy = k8s.closeLater(d.applyTo(Mesh.builder()).identityProvider(ca)
                    .identity(SpiffeIds.istio("cluster.local", "zerohop-system", "zerohop-node")).threads(1).build());
            InetSocketAddress via = proxy.capture(Capture.forward(new InetSocketAddress(InetAddress.getByName("127.0.239.1"), 0),
                    new InetSocketAddress(vip, 5432)));
            java.util.Set<String> seen = new java.util.HashSet<>();
            for (int i = 0; i < 40 && seen.size() < 2; i++) {
                String got = read(via);
                assertThat(got).isIn("pod", "vm");
                seen.add(got);
            }
            assertThat(seen).containsExactlyInAnyOrder("pod", "vm");

            k8s.client.pods().inNamespace("legacy").withName("db-1").delete();
            await(d, "the pod gone", () -> d.registry().byAddress(podIp).isEmpty());
            for (int i = 0; i < 5; i++) {
                assertThat(read(via)).isEqualTo("vm");
            }
        } finally {
            ca.close();
        }
    }

    @Test
    @DisplayName("a ServiceEntry address that its endpoint or a WorkloadEntry also has takes connections to the Service, as"
            + " ztunnel's find_upstream (VIP first): the service port is mapped to the targetPort, and a VM's address"
            + " reaches every VM the entry selects")
    void anEntryAddressThatIsAlsoAWorkloadsGoesToTheService() throws Exception {
        // h413's addresses and ports: 127.0.217.x, 55900-56099.
        InetAddress db = InetAddress.getByName("127.0.217.20");
        InetAddress vm1 = InetAddress.getByName("127.0.217.21");
        InetAddress vm2 = InetAddress.getByName("127.0.217.22");
        InetAddress client = InetAddress.getByName("127.0.217.2");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (MockCluster k8s = new MockCluster();
             // What a connection dialled at db:55910 reached when the workload there was taken before the VIP.
             SelectorlessServiceTest.Tagged direct = new SelectorlessServiceTest.Tagged(new InetSocketAddress(db, 55910), "direct")) {
            k8s.closeLater(new SelectorlessServiceTest.Tagged(new InetSocketAddress(db, 55920), "db"));
            k8s.closeLater(new SelectorlessServiceTest.Tagged(new InetSocketAddress(vm1, 55920), "vm1"));
            k8s.closeLater(new SelectorlessServiceTest.Tagged(new InetSocketAddress(vm2, 55920), "vm2"));
            k8s.closeLater(new SelectorlessServiceTest.Tagged(new InetSocketAddress(vm1, 55910), "vm1-direct"));
            k8s.client.resource(namespace("ext", Map.of())).create();
            k8s.apply("""
                    apiVersion: networking.istio.io/v1
                    kind: ServiceEntry
                    metadata: {name: db, namespace: ext}
                    spec:
                      hosts: [db.example.com]
                      addresses: [%s]
                      ports: [{number: 55910, targetPort: 55920, name: tcp-pg}]
                      location: MESH_EXTERNAL
                      resolution: STATIC
                      endpoints: [{address: %s}]
                    """.formatted(db.getHostAddress(), db.getHostAddress()));
            k8s.apply("""
                    apiVersion: networking.istio.io/v1
                    kind: ServiceEntry
                    metadata: {name: vms, namespace: ext}
                    spec:
                      hosts: [vms.example.com]
                      addresses: [%s]
                      ports: [{number: 55910, targetPort: 55920, name: tcp-pg}]
                      resolution: STATIC
                      workloadSelector: {labels: {app: vm}}
                    """.formatted(vm1.getHostAddress()));
            for (InetAddress vm : new InetAddress[] {vm1, vm2}) {
                k8s.apply("""
                        apiVersion: networking.istio.io/v1
                        kind: WorkloadEntry
                        metadata: {name: vm-%s, namespace: ext, labels: {app: vm}}
                        spec: {address: %s}
                        """.formatted(vm.getHostAddress().replace('.', '-'), vm.getHostAddress()));
            }
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a")
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            d.synced().get(30, TimeUnit.SECONDS);
            await(d, "both VMs and the database's endpoint", () -> d.registry().byAddress(vm1).isPresent()
                    && d.registry().byAddress(vm2).isPresent() && d.registry().byAddress(db).isPresent()
                    && d.registry().services().stream().filter(s -> s.hostname().endsWith(".example.com")).count() == 2);

            Mesh proxy = k8s.closeLater(d.applyTo(Mesh.builder()).identityProvider(ca)
                    .identity(SpiffeIds.istio("cluster.local", "zerohop-system", "zerohop-node")).threads(1).build());
            InetSocketAddress toDb = proxy.capture(Capture.forward(new InetSocketAddress(InetAddress.getByName("127.0.217.1"), 55901),
                    new InetSocketAddress(db, 55910)));
            InetSocketAddress toVm1 = proxy.capture(Capture.forward(new InetSocketAddress(InetAddress.getByName("127.0.217.1"), 55902),
                    new InetSocketAddress(vm1, 55910)));
            assertThat(SelectorlessServiceTest.read(client, toDb)).isEqualTo("db");
            java.util.Set<String> seen = new java.util.HashSet<>();
            for (int i = 0; i < 40 && seen.size() < 2; i++) {
                String got = SelectorlessServiceTest.read(client, toVm1);
                assertThat(got).isIn("vm1", "vm2");
                seen.add(got);
            }
            assertThat(seen).containsExactlyInAnyOrder("vm1", "vm2");
        } finally {
            ca.close();
        }
    }

    @Test
    @DisplayName("a ServiceEntry with addresses, resolution DNS and no endpoints: a connection to its VIP reaches what its host"
            + " resolves to, looked up on demand (istiod's implicitEndpoints, ztunnel's resolve_on_demand_dns); a host that"
            + " does not resolve is refused, never sent to the VIP")
    void aDnsServiceEntryVipReachesWhatItsHostResolvesTo() throws Exception {
        InetAddress vip = InetAddress.getByName("127.0.251.40");
        InetAddress vip2 = InetAddress.getByName("127.0.251.41");
        InetAddress backend = InetAddress.getByName("127.0.251.42");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (MockCluster k8s = new MockCluster();
             LoopbackDns dns = new LoopbackDns(new InetSocketAddress(InetAddress.getByName("127.0.251.1"), 52054));
             SelectorlessServiceTest.Tagged b = new SelectorlessServiceTest.Tagged(new InetSocketAddress(backend, 52020), "db")) {
            dns.zone.put("db.example.com.", backend);
            k8s.client.resource(namespace("ext", Map.of())).create();
            for (String[] e : new String[][] {{"db", vip.getHostAddress()}, {"gone", vip2.getHostAddress()}}) {
                k8s.apply("""
                        apiVersion: networking.istio.io/v1
                        kind: ServiceEntry
                        metadata: {name: %s, namespace: ext}
                        spec:
                          hosts: [%s.example.com]
                          addresses: [%s]
                          ports: [{number: 5432, targetPort: 52020, name: tcp-pg}]
                          location: MESH_EXTERNAL
                          resolution: DNS
                        """.formatted(e[0], e[0], e[1]));
            }
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a")
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            d.synced().get(30, TimeUnit.SECONDS);
            await(d, "both VIPs with their host as endpoint", () -> d.registry().serviceAt(vip)
                    .map(s -> d.registry().endpoints(s).size() == 1).orElse(false)
                    && d.registry().serviceAt(vip2).map(s -> d.registry().endpoints(s).size() == 1).orElse(false));
            Mesh proxy = k8s.closeLater(d.applyTo(Mesh.builder()).identityProvider(ca)
                    .identity(SpiffeIds.istio("cluster.local", "zerohop-system", "zerohop-node")).threads(1)
                    .dnsServers(new InetSocketAddress(InetAddress.getByName("127.0.251.1"), 52054)).build());
            InetSocketAddress via = proxy.capture(Capture.forward(new InetSocketAddress(InetAddress.getByName("127.0.251.1"), 52021),
                    new InetSocketAddress(vip, 5432)));
            InetSocketAddress via2 = proxy.capture(Capture.forward(new InetSocketAddress(InetAddress.getByName("127.0.251.1"), 52022),
                    new InetSocketAddress(vip2, 5432)));
            try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
                assertThat(SelectorlessServiceTest.read(InetAddress.getByName("127.0.251.2"), via)).isEqualTo("db");
                assertThat(SelectorlessServiceTest.read(InetAddress.getByName("127.0.251.2"), via2)).isEmpty();
                assertThat(err.awaitLine("refused", "gone.example.com")).contains("NXDOMAIN");
            }
        } finally {
            ca.close();
        }
    }
}
