package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.workloadapi.grpc.Workload;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.WorkloadApiServer;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SPIRE counterpart of {@link IstioCaKeyMismatchFlagTest}, one level up: {@code zerohop proxy --spire-socket} in a
 * JVM of its own against zerohop-testing's {@link WorkloadApiServer} (a real gRPC Workload API server on a Unix
 * socket), read where an operator reads it, on {@code /metrics}. The agent stops giving the proxy's own identity, then
 * sends it with another SVID's key: go-spiffe refuses that update whole ({@code Client.parseX509Context}), and so does
 * zerohop, so nothing valid is left for the ID and an outbound open from this host fails before any dial, counted as
 * ztunnel counts rustls refusing the pair ({@code Error::Tls}: {@code TLS_FAILURE}), not {@code IDENTITY_ERROR}.
 * The proxy serves node-a, where no workload runs; the destination runs on node-backend, whose HBONE address is a
 * socket that accepts nothing (one dial would sit in its backlog). Addresses 127.0.170.x, ports 51401-51403.
 */
class SpireKeyMismatchFlagTest {
    private static final SpiffeId OWN = SpiffeId.parse("spiffe://cluster.local/ns/zerohop-system/sa/zerohop-node");
    private static final SpiffeId OTHER = SpiffeId.parse("spiffe://cluster.local/ns/zerohop-system/sa/zerohop-gateway");

    @Test
    @Timeout(120)
    void aSpireSvidWhoseKeyIsAnotherIsATlsFailureOnMetricsAndNothingIsDialled(@TempDir Path dir) throws Exception {
        try (InMemoryCa ca = InMemoryCa.create("cluster.local");
             WorkloadApiServer spire = new WorkloadApiServer(dir.resolve("agent.sock"));
             ServerSocketChannel node = ServerSocketChannel.open()) {
            node.bind(new InetSocketAddress(InetAddress.getByName("127.0.170.51"), 51402));
            node.configureBlocking(false);
            Path workloads = Files.writeString(dir.resolve("workloads.yaml"), """
                    nodes: [{name: node-a}, {name: node-backend, hboneAddress: "127.0.170.51:51402"}]
                    workloads:
                      - {namespace: prod, name: backend, serviceAccount: backend, addresses: [127.0.170.52], node: node-backend}
                    """);
            spire.serve(List.of(ca.issue(OWN), ca.issue(OTHER)), ca.bundle(), List.of());
            try (RetryLogTest.Proc p = RetryLogTest.Proc.start(List.of("proxy", "--spire-socket", spire.socket().toString(),
                    "--workloads", workloads.toString(), "--node", "node-a", "--forward", "127.0.170.1:51401=127.0.170.52:8080",
                    "--inbound", "off", "--metrics", "127.0.170.1:51403", "--readiness", "off", "--admin", "off", "--drain", "0s"), List.of())) {
                p.awaitOut(out -> out.stream().anyMatch(l -> l.startsWith("zerohop proxy ready: ")), "the ready line");
                assertThat(p.out()).as("stderr %s", p.err()).anyMatch(l -> l.startsWith("zerohop proxy ready: ")
                        && l.contains("(own identity " + OWN + ", the Workload API's default)"));

                // The agent stops giving the proxy's identity, then sends it again with another SVID's key.
                spire.serve(List.of(ca.issue(OTHER)), ca.bundle(), List.of());
                p.await(err -> err.stream().anyMatch(l -> l.contains("no longer gives this workload [" + OWN + "]")), "the withdrawal");
                X509Svid cert = ca.issue(OWN);
                X509Svid other = ca.issue(OTHER);
                spire.push(Workload.X509SVIDResponse.newBuilder()
                        .addSvids(Workload.X509SVID.newBuilder().setSpiffeId(OWN.toString())
                                .setX509Svid(ByteString.copyFrom(cert.getLeaf().getEncoded()))
                                .setX509SvidKey(ByteString.copyFrom(ca.issue(OWN).getPrivateKey().getEncoded()))
                                .setBundle(WorkloadApiServer.der(ca.bundle().getX509Authorities())))
                        .addSvids(Workload.X509SVID.newBuilder().setSpiffeId(OTHER.toString())
                                .setX509Svid(ByteString.copyFrom(other.getLeaf().getEncoded()))
                                .setX509SvidKey(ByteString.copyFrom(other.getPrivateKey().getEncoded()))
                                .setBundle(WorkloadApiServer.der(ca.bundle().getX509Authorities())))
                        .build());
                String mismatch = "sent an update whose SVID for " + OWN + " has a key that does not match its certificate";
                p.await(err -> err.stream().anyMatch(l -> l.contains(mismatch)), "the refused update");
                assertThat(p.err()).as("stdout %s", p.out()).anyMatch(l -> l.contains(mismatch));

                // A caller on this host, no registry workload: the proxy lends it its own SVID, of which nothing valid is left.
                try (Socket s = new Socket()) {
                    s.bind(new InetSocketAddress(InetAddress.getByName("127.0.170.2"), 0));
                    s.connect(new InetSocketAddress("127.0.170.1", 51401), 10_000);
                    s.setSoTimeout(30_000);
                    try (InputStream in = s.getInputStream()) {
                        assertThat(in.read()).as("the forward is closed, nothing relayed").isEqualTo(-1);
                    } catch (java.net.SocketException reset) {
                        // a reset is the other way ztunnel ends it
                    }
                }

                URI metrics = URI.create("http://127.0.170.1:51403/metrics");
                String failed = awaitSample(metrics, "istio_tcp_connections_failed_total", "source");
                assertThat(failed).as(failed).contains("response_flags=\"TLS_FAILURE\"")
                        .contains("source_principal=\"" + OWN + "\"")
                        .contains("destination_principal=\"spiffe://cluster.local/ns/prod/sa/backend\"");
                String scrape = scrape(metrics);
                assertThat(samples(scrape, "istio_tcp_connections_failed_total")).as(scrape)
                        .noneMatch(l -> l.contains("IDENTITY_ERROR"));
                assertThat(node.accept()).as("no connection reached the destination node").isNull();
                assertThat(p.stop()).isZero();
            }
        }
    }

    /** The first sample of {@code name} reported by {@code reporter}, polling the scrape until it appears (bounded). */
    private static String awaitSample(URI metrics, String name, String reporter) throws Exception {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        String body = scrape(metrics);
        while (System.nanoTime() < deadline) {
            List<String> found = samples(body, name).stream().filter(l -> l.contains("reporter=\"" + reporter + "\"")).toList();
            if (!found.isEmpty()) {
                return found.get(0);
            }
            Thread.sleep(100); // polling the scrape, bounded; no assertion on time
            body = scrape(metrics);
        }
        throw new AssertionError("no " + name + " sample reported by " + reporter + " in:\n" + body);
    }

    private static List<String> samples(String scrape, String name) {
        return scrape.lines().filter(l -> l.startsWith(name + "{")).toList();
    }

    private static String scrape(URI metrics) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(metrics).build(), HttpResponse.BodyHandlers.ofString()).body();
    }
}
