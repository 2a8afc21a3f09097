package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.channel.RecvByteBufAllocator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Sockets that carry tunnel bytes read up to 256 KiB at a time once reads keep filling the buffer,
 * as ztunnel grows a busy connection's read buffer to 256 KiB (istio/ztunnel src/copy.rs,
 * {@code JUMBO_BUFFER_SIZE}); Netty's default stops at 64 KiB (issue 14: 15 reads per MB on each
 * proxy of the node pair). Both ends of an HBONE connection are checked on a real connection.
 */
@Timeout(60)
class ReadSizeTest {

    /**
     * The largest read the channel's allocator asks for when every read fills its buffer: a fresh
     * handle from the channel's configuration, fed 32 full reads.
     */
    static int largestRead(Channel ch) {
        RecvByteBufAllocator.Handle h = ch.config().getRecvByteBufAllocator().newHandle();
        int largest = 0;
        for (int i = 0; i < 32; i++) {
            h.reset(ch.config());
            int guess = h.guess();
            largest = Math.max(largest, guess);
            h.attemptedBytesRead(guess);
            h.lastBytesRead(guess);
            h.incMessagesRead(1);
            h.readComplete();
        }
        return largest;
    }

    @Test
    @DisplayName("both ends of an HBONE connection read up to 256 KiB (Netty's default: 64 KiB)")
    void hboneConnectionsReadUpTo256KiB() throws Exception {
        CompletableFuture<Channel> serverConnection = new CompletableFuture<>();
        try (Mesh mesh = new Mesh()) {
            HboneServer server = mesh.server((dst, id, local) -> Destination.embedded((stream, tunnel) -> {
                serverConnection.complete(stream.parent());
                stream.close();
            })).build().start().get();
            HboneClient client = mesh.client().build();
            try {
                HboneStream stream = client.connect(Mesh.loopback(8080), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
                assertThat(largestRead(stream.channel().parent())).as("client connection").isEqualTo(256 * 1024);
                assertThat(largestRead(serverConnection.get(10, TimeUnit.SECONDS))).as("server connection").isEqualTo(256 * 1024);
            } finally {
                client.close();
                server.close();
            }
        }
    }
}
