package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A drain's deadline aborts the tunnels left ({@link TunnelCounters#abort}) and finishes once
 * {@link HboneEvents#tunnelClosed} has been reported for each; the process then exits, and the
 * kernel ends every socket still open with a FIN, which reads as a complete stream. So by the time
 * a tunnel is reported closed after an abort, the relay must already have reset the application's
 * side (SO_LINGER 0 close): the report is the last point where the reset is certain to happen. Seen
 * once in DrainE2EIT as a clean EOF where a reset was due; this test looks at the application's
 * socket from inside the {@code tunnelClosed} callback itself, so it needs no timing.
 */
@Timeout(60)
class AbortResetsBeforeClosedTest {

    @Test
    void anAbortedTunnelIsReportedClosedOnlyAfterTheAppSideWasReset() throws Exception {
        try (Mesh mesh = new Mesh(); ServerSocketChannel app = ServerSocketChannel.open()) {
            app.bind(new InetSocketAddress("127.0.0.1", 0));
            CompletableFuture<TunnelCounters> live = new CompletableFuture<>();
            CompletableFuture<SocketChannel> appSide = new CompletableFuture<>();
            CompletableFuture<String> atClose = new CompletableFuture<>();
            HboneEvents events = new HboneEvents() {
                @Override
                public void tunnelOpened(TunnelInfo tunnel, TunnelCounters counters) {
                    live.complete(counters);
                }

                @Override
                public void tunnelClosed(TunnelResult result) {
                    // What the application's socket shows at the moment the drain may finish.
                    atClose.complete(probe(appSide.getNow(null)));
                }
            };
            HboneServer server = mesh.server(DestinationResolver.sameIp()).listener(events).build().start().get();
            try (HboneClient client = mesh.client().build()) {
                HboneSocket tunnel = client.connectSocket((InetSocketAddress) app.getLocalAddress(), mesh.expectServer(),
                        server.localAddress(), Duration.ofSeconds(10));
                SocketChannel accepted = app.accept();
                accepted.configureBlocking(false);
                appSide.complete(accepted);
                // As TunnelCount does at a drain's deadline: from a thread that is not the tunnel's loop.
                live.get(10, TimeUnit.SECONDS).abort();

                assertThat(atClose.get(10, TimeUnit.SECONDS)).as("the app's socket when the aborted tunnel is reported closed")
                        .isEqualTo("reset");
                // And toward the peer: RST_STREAM CONNECT_ERROR, which the client's socket reads as a reset.
                tunnel.setSoTimeout(10_000);
                assertThat(catchThrowable(() -> tunnel.getInputStream().read())).as("the client's side of the aborted tunnel")
                        .isInstanceOf(SocketException.class);
                tunnel.close();
                accepted.close();
            } finally {
                server.close();
            }
        }
    }

    /** "reset", "eof", or "open" (nothing to read yet) for a non-blocking socket; never blocks. */
    static String probe(SocketChannel ch) {
        if (ch == null) {
            return "not accepted yet";
        }
        try {
            int n = ch.read(ByteBuffer.allocate(1));
            return n < 0 ? "eof" : n == 0 ? "open" : "data";
        } catch (IOException e) {
            return "reset";
        }
    }
}
