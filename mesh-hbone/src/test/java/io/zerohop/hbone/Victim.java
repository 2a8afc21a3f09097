package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** A well-behaved peer whose tunnel must keep working while others attack the server. */
final class Victim {
    private Victim() {}

    /** 1 MiB through {@code self}'s tunnel to the echo server, written and read concurrently, compared. */
    static void echoMiB(Mesh mesh, InetSocketAddress echo, HboneServer server, SpiffeId self) throws Exception {
        echoMiB(mesh, echo, server, self, Duration.ofSeconds(10));
    }

    /** As {@link #echoMiB(Mesh, InetSocketAddress, HboneServer, SpiffeId)}, the tunnel open within {@code connect}. */
    static void echoMiB(Mesh mesh, InetSocketAddress echo, HboneServer server, SpiffeId self, Duration connect) throws Exception {
        byte[] data = new byte[1 << 20];
        new Random(7).nextBytes(data);
        try (HboneClient client = HboneClient.builder().tls(mesh.tls).identity(self).threads(1)
                .connectTimeout(connect).handshakeTimeout(connect).build();
             HboneSocket s = client.connectSocket(echo, mesh.expectServer(), server.localAddress(), connect)) {
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    s.getOutputStream().write(data);
                    s.getOutputStream().flush();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            InputStream in = s.getInputStream();
            assertThat(in.readNBytes(data.length)).isEqualTo(data);
            writer.get(30, TimeUnit.SECONDS);
        }
    }

}
