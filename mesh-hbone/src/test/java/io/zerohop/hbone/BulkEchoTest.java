package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.testing.netty.EchoServer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import io.zerohop.hbone.internal.Inspect;

/** Byte-exact echo through proxy mode: CRC32 of everything sent equals CRC32 of everything received. */
@Timeout(120)
class BulkEchoTest {
    static Mesh mesh;
    static EchoServer echo;
    static HboneServer server;
    static HboneClient client;
    static final RecordingEvents serverEvents = new RecordingEvents();

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        echo = new EchoServer();
        server = mesh.server(DestinationResolver.sameIp()).listener(serverEvents).build().start().get();
        client = mesh.client().build();
    }

    @AfterAll
    static void stop() {
        client.close();
        server.close();
        echo.close();
        mesh.close();
    }

    @Test
    void hundredMebibytesEchoByteExact() throws Exception {
        long total = 100L * 1024 * 1024;
        HboneStream stream = client.connect(echo.address(), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
        long t0 = System.nanoTime();
        Pump.Result r = Pump.run(stream, total, 1).get(100, TimeUnit.SECONDS);
        double secs = (System.nanoTime() - t0) / 1e9;
        System.out.printf("100 MiB echo: %.2f s (%.0f MiB/s each way)%n", secs, 100 / secs);
        assertThat(r.sent()).isEqualTo(total);
        assertThat(r.received()).isEqualTo(total);
        assertThat(r.receivedCrc()).isEqualTo(r.sentCrc());
        stream.channel().closeFuture().await(10, TimeUnit.SECONDS);
        TunnelResult closed = RecordingEvents.next(serverEvents.closed);
        while (closed.bytesReceived() != total) { // skip tunnels of other tests
            closed = RecordingEvents.next(serverEvents.closed);
        }
        assertThat(closed.bytesReceived()).isEqualTo(total);
        assertThat(closed.bytesSent()).isEqualTo(total);
        assertThat(closed.reset()).isFalse();
        assertThat(closed.info().peerIdentity()).isEqualTo(mesh.clientId);
    }

    @Test
    void twoHundredConcurrentTunnelsByteExact() throws Exception {
        int tunnels = 200;
        long each = 128 * 1024;
        List<CompletableFuture<HboneStream>> opened = new ArrayList<>();
        for (int i = 0; i < tunnels; i++) {
            opened.add(client.connect(echo.address(), mesh.expectServer(), server.localAddress()));
        }
        CompletableFuture.allOf(opened.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
        // All 200 open at once; 100 streams per connection (ztunnel's pool default) means two connections.
        assertThat(Inspect.tunnelCount(client, mesh.expectServer(), server.localAddress())).isEqualTo(tunnels);
        assertThat(Inspect.connectionCount(client, mesh.expectServer(), server.localAddress())).isEqualTo(2);
        long t0 = System.nanoTime();
        List<CompletableFuture<Pump.Result>> results = new ArrayList<>();
        for (int i = 0; i < tunnels; i++) {
            results.add(Pump.run(opened.get(i).get(), each + i, i));
        }
        CompletableFuture.allOf(results.toArray(CompletableFuture[]::new)).get(100, TimeUnit.SECONDS);
        System.out.printf("200 tunnels x 128 KiB echo: %.2f s%n", (System.nanoTime() - t0) / 1e9);
        for (int i = 0; i < tunnels; i++) {
            Pump.Result r = results.get(i).get();
            assertThat(r.sent()).as("tunnel %d", i).isEqualTo(each + i);
            assertThat(r.received()).as("tunnel %d", i).isEqualTo(each + i);
            assertThat(r.receivedCrc()).as("tunnel %d", i).isEqualTo(r.sentCrc());
        }
    }
}
