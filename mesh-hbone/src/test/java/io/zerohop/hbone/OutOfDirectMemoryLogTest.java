package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.zerohop.hbone.internal.Inspect;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A connection that fails for want of memory (Netty's "Cannot reserve ... bytes of direct buffer memory", which fails
 * every connection allocating at that moment) says so at WARN, naming the peer: it was one DEBUG line, so an operator saw
 * tunnels die and nothing in the log (a hostile-peer pass filled a shipped proxy's direct memory in ~2 s).
 */
@Timeout(60)
class OutOfDirectMemoryLogTest {
    @Test
    void aConnectionOutOfMemoryIsAWarnLine() throws Exception {
        try (Mesh mesh = new Mesh()) {
            HboneServer server = mesh.server((dst, id, local) -> Destination.embedded((s, t) -> { })).build().start().get();
            try (HboneClient client = mesh.client().build()) {
                mesh.open(client, server).close();
                List<Channel> connections = Inspect.connectionChannels(server);
                assertThat(connections).hasSize(1);
                Channel c = connections.get(0);
                List<String> lines = ServerNoiseTest.logLines(() -> {
                    c.pipeline().fireExceptionCaught(new OutOfMemoryError("Cannot reserve 65536 bytes of direct buffer memory"
                            + " (allocated: 67084574, limit: 67108864)"));
                    c.closeFuture().await(10, TimeUnit.SECONDS);
                });
                assertThat(lines).anyMatch(l -> l.contains("WARN") && l.contains("HBONE connection from 127.0.0.1:")
                        && l.contains("(" + mesh.clientId + ") closed: out of memory: Cannot reserve 65536 bytes of direct buffer memory"));
                assertThat(c.isActive()).isFalse();
            } finally {
                server.close();
            }
        }
    }
}
