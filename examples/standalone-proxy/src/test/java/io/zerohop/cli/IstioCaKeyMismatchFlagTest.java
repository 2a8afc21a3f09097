package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.search.Search;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.CertificateManager;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SvidKeyMismatchException;
import io.zerohop.identity.istio.IstioCaClient;
import io.zerohop.testing.FakeIstioCa;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * An Istio CA that answers with a certificate for another key than the request's (the leaf names the right identity and
 * chains to the mesh root): ztunnel's CA client stores it, as it checks no key (istio/ztunnel src/identity/caclient.rs
 * {@code fetch_certificate}), then for each outbound connection rustls refuses the pair where ztunnel builds the TLS
 * configuration, before any dial (src/tls/certificate.rs {@code outbound_connector}; rustls {@code CertifiedKey::from_der},
 * {@code InconsistentKeys::KeyMismatch}; src/proxy/pool.rs {@code new_pool_conn}): {@code proxy::Error::Tls}, which
 * src/proxy/metrics.rs {@code extract_failure_reason} counts as {@code TLS_FAILURE}. zerohop refuses the answer in its
 * CA client already and counts each open that needed it with ztunnel's flag; until 6 December it was
 * {@code IDENTITY_ERROR}, ztunnel's flag for a certificate it could not fetch. Real gRPC over TLS to {@link FakeIstioCa}
 * and a real mesh; the destination node is a listening socket on 127.0.149.x.
 */
@Timeout(120)
class IstioCaKeyMismatchFlagTest {
    static final FakeIstioCa.Pod FRONTEND = new FakeIstioCa.Pod("prod", "frontend-1", "uid-frontend", "frontend", "node-a");

    @Test
    void aCertificateForAnotherKeyIsATlsFailureAndNothingIsDialled(@TempDir Path dir) throws Exception {
        SimpleMeterRegistry metrics = new SimpleMeterRegistry();
        InMemoryCa istio = InMemoryCa.create("cluster.local");
        Path token = Files.writeString(dir.resolve("istio-token"), "token-1\n");
        try (FakeIstioCa istiod = new FakeIstioCa(istio, "token-1", Files.createDirectory(dir.resolve("istiod-tls")));
             ServerSocketChannel node = ServerSocketChannel.open()) {
            istiod.caller(FRONTEND);
            Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"),
                    List.of(InetAddress.getByName("127.0.149.50")), Workload.Protocol.HBONE, null, "cluster.local");
            // The leaf istiod signed for the CSR, swapped for one of the same identity and CA but another key.
            istiod.tamper(r -> {
                List<String> chain = new ArrayList<>(r.certChain());
                chain.set(0, Pem.certificates(List.of(istio.issue(frontend.identity()).getLeaf())));
                return new FakeIstioCa.Response(chain, r.rootCerts());
            });
            node.bind(new InetSocketAddress(InetAddress.getByName("127.0.149.51"), 0));
            node.configureBlocking(false);
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"),
                    List.of(InetAddress.getByName("127.0.149.52")), Workload.Protocol.HBONE, "node-backend", "cluster.local");
            WorkloadRegistry registry = WorkloadRegistry.of(List.of(frontend, backend),
                    Map.of("node-backend", (InetSocketAddress) node.getLocalAddress()));
            try (IstioCaClient ca = IstioCaClient.builder().address("127.0.0.1", istiod.port()).caCertificates(List.of(istio.root()))
                         .authority(FakeIstioCa.SERVER_NAME).tokenFile(token).build();
                 CertificateManager certs = CertificateManager.builder().issuer(ca).trustBundles(istio.bundles()).build();
                 Mesh client = Mesh.builder().identityProvider(certs).workloads(registry).meterRegistry(metrics).threads(2).build()) {
                Throwable e = catchThrowable(() -> client.connect(frontend.identity(), new InetSocketAddress("127.0.149.52", 8080))
                        .get(60, TimeUnit.SECONDS));
                assertThat(e).as("the open fails").isNotNull();

                Map<String, String> l = Map.of("reporter", "source", "source_principal", frontend.identity().toString(),
                        "destination_principal", backend.identity().toString());
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (sum(metrics.find("istio.tcp.connections.failed"), l, null) < 1 && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertThat(sum(metrics.find("istio.tcp.connections.failed"), l, "TLS_FAILURE")).isEqualTo(1);
                assertThat(sum(metrics.find("istio.tcp.connections.closed"), l, "TLS_FAILURE")).isEqualTo(1);
                assertThat(sum(metrics.find("istio.tcp.connections.failed"), l, "IDENTITY_ERROR")).isZero();
                assertThat(e).hasRootCauseInstanceOf(SvidKeyMismatchException.class);
                // ztunnel refuses the pair before its dial: no connection reached the node (one made before the failure
                // would be in the listener's backlog now).
                assertThat(node.accept()).as("no connection reached the destination node").isNull();
            }
        } finally {
            istio.close();
        }
    }

    static double sum(Search s, Map<String, String> labels, String flags) {
        for (Map.Entry<String, String> e : labels.entrySet()) {
            s = s.tag(e.getKey(), e.getValue());
        }
        if (flags != null) {
            s = s.tag("response_flags", flags);
        }
        return s.counters().stream().mapToDouble(Counter::count).sum();
    }
}
