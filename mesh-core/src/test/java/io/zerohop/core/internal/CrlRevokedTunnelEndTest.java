package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.DestinationResolver;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.TunnelResult;
import io.zerohop.identity.CrlFile;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.Pem;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tunnel whose HBONE connection is closed because a CRL reload revoked the peer ends as ztunnel's does: its
 * {@code handle_connection!} (istio/ztunnel src/proxy/connection_manager.rs) polls the revocation signal first and
 * records {@code Error::CertificateRevoked}, which {@code extract_failure_reason} (src/proxy/metrics.rs) counts as
 * {@code response_flags="CERT_REVOKED"}, a failure ({@code istio_tcp_connections_failed}), and the access log writes as
 * {@code connection complete} at ERROR with {@code error="connection closed: peer certificate revoked by CRL"}
 * (src/proxy.rs). The client, whose connection was only lost, counts no failure ({@code ignore_io_errors}). Until h414
 * (7 December) the server's line ended {@code end=reset error="reset"} and counted no failure. Real mTLS, a real HBONE
 * client and server each reporting to a real observer ({@link TunnelEndFailureTest.Side}: ztunnel's text and JSON),
 * zerohop's format through slf4j-simple on stderr; both directions, as ztunnel's h2 server and client; loopback
 * 127.0.218.30-31, ports 56110-56111.
 */
@Timeout(60)
class CrlRevokedTunnelEndTest {
    @TempDir
    Path dir;

    @Test
    void theServerRevokingTheClientEndsItsInboundTunnelCertRevokedAndTheClientsIsALostConnection() throws Exception {
        run(true, "127.0.218.30");
    }

    /** ztunnel's outbound: the h2 client's revocation signal ({@code revoked_receiver}) ends its tunnels the same way. */
    @Test
    void theClientRevokingTheServerEndsItsOutboundTunnelCertRevokedAndTheServersIsALostConnection() throws Exception {
        run(false, "127.0.218.31");
    }

    private void run(boolean serverRevokesClient, String host) throws Exception {
        InetAddress ip = InetAddress.getByName(host);
        Path crlPath = Files.writeString(dir.resolve("crl.pem"), "");
        TunnelEndFailureTest.Side client = new TunnelEndFailureTest.Side();
        TunnelEndFailureTest.Side server = new TunnelEndFailureTest.Side();
        TunnelObserver zerohopFormat = new TunnelObserver(WorkloadRegistry.of(List.of(WorkloadStringsTest.CLIENT), Map.of()), null,
                null, TrafficLabels.DEFAULT_CLUSTER, ZtunnelFailedOpenLogTest.debugLogger(), null);
        try (InMemoryCa ca = InMemoryCa.create("cluster.local");
             CrlFile crl = CrlFile.builder(crlPath).settleTime(Duration.ZERO).pollInterval(Duration.ofMillis(500)).build();
             MeshTls serverTls = MeshTls.builder(ca).crl(serverRevokesClient ? crl : null).build();
             MeshTls clientTls = MeshTls.builder(ca).crl(serverRevokesClient ? null : crl).build();
             ServerSocket app = new ServerSocket(56110, 50, ip);
             CapturedStderr err = new CapturedStderr()) {
            app.setSoTimeout(20_000);
            HboneServer hbone = HboneServer.builder().tls(serverTls).identity(TunnelEndFailureTest.BACKEND)
                    .bind(new InetSocketAddress(ip, 56111)).destinations(DestinationResolver.sameIp()).authorizer(Authorizer.allowAll())
                    .listener(serverRevokesClient ? new FanOut(server.observer, zerohopFormat) : server.observer).threads(1).build().start().get(10, TimeUnit.SECONDS);
            try (HboneClient hboneClient = HboneClient.builder().tls(clientTls).identity(TunnelEndFailureTest.FRONTEND)
                    .listener(serverRevokesClient ? client.observer : new FanOut(client.observer, zerohopFormat)).threads(1).build()) {
                HboneStream s = hboneClient.connect(new InetSocketAddress(ip, 56110), Set.of(TunnelEndFailureTest.BACKEND),
                        hbone.localAddress()).get(20, TimeUnit.SECONDS);
                try (Socket up = app.accept(); Socket tunnel = s.toSocket()) {
                    Path tmp = dir.resolve("crl.tmp");
                    Files.writeString(tmp, Pem.crls(List.of(ca.crl(ca.root(), Instant.now().plus(Duration.ofDays(1)),
                            ca.svid(serverRevokesClient ? TunnelEndFailureTest.FRONTEND : TunnelEndFailureTest.BACKEND).join()
                                    .getLeaf().getSerialNumber()))));
                    Files.move(tmp, crlPath, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);

                    TunnelEndFailureTest.Side revoking = serverRevokesClient ? server : client;
                    String line = revoking.complete();
                    assertThat(revoking.closed).extracting(TrafficLabels::responseFlags).containsExactly("CERT_REVOKED");
                    assertThat(revoking.closed.get(0).failed()).as("istio_tcp_connections_failed counts it").isTrue();
                    assertThat(line).contains("\terror\taccess\tconnection complete\t")
                            .contains(serverRevokesClient ? " direction=\"inbound\" " : " direction=\"outbound\" ")
                            .endsWith(" error=\"" + TunnelResult.CERT_REVOKED + "\"");
                    assertThat(revoking.json).filteredOn(j -> j.contains("\"connection complete\"")).singleElement().asString()
                            .contains("\"level\":\"error\"").contains("\"error\":\"connection closed: peer certificate revoked by CRL\"");
                    assertThat(err.awaitLine(serverRevokesClient ? "inbound src=" : "outbound src=",
                            " end=reset error=\"connection closed: peer certificate revoked by CRL\"")).contains(" dst=" + host + ":56110 ");
                    TunnelEndFailureTest.assertNoFailure(serverRevokesClient ? client : server);
                }
            } finally {
                hbone.close();
            }
        }
    }
}
