package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.hbone.internal.Inspect;
import io.zerohop.testing.netty.Await;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Timeout;

/**
 * A closed server closes every socket of its own event loops, also an upstream connection still flushing what a tunnel
 * that ended cleanly wrote to an application that does not read. Netty closes a loop's channels only when the loop sees
 * its shutdown after an I/O pass ({@code SingleThreadIoEventLoop.run}: {@code prepareToDestroy}); asked from a task of
 * that loop, with no quiet period, {@code confirmShutdown} ends the loop first, and such a socket stayed open (a file
 * descriptor) with its queued buffers never released (paranoid leak detection, found by InboundBudgetTest's branch,
 * 5 December). The server's drain asked it so whenever a connection was still open: the last connection's close ran
 * the shutdown on its loop.
 */
@Timeout(120)
class ServerCloseReleasesUpstreamWritesTest {
    @RepeatedTest(5)
    void aClosedServerClosesAnUpstreamStillFlushing() throws Exception {
        try (Mesh mesh = new Mesh(); LoopbackApp sink = LoopbackApp.neverReading()) {
            List<Socket> accepted = sink.accepted;
            // One loop: the upstream connections and the connection whose close ends the drain share it.
            HboneServer server = mesh.server((dst, id, local) -> Destination.proxy(Mesh.loopback(sink.port())))
                    .threads(1).build().start().get();
            HboneClient stays = mesh.client().build();
            try {
                try (HboneClient client = mesh.client().build()) {
                    List<HboneSocket> sockets = new ArrayList<>();
                    List<Thread> writers = new ArrayList<>();
                    for (int i = 0; i < 2; i++) {
                        HboneSocket s = client.connectSocket(Mesh.loopback(sink.port()), mesh.expectServer(), server.localAddress(),
                                Duration.ofSeconds(10));
                        sockets.add(s);
                        Thread w = new Thread(() -> {
                            try {
                                OutputStream out = s.getOutputStream();
                                byte[] chunk = new byte[64 * 1024];
                                while (true) {
                                    out.write(chunk);
                                }
                            } catch (IOException ended) {
                                // closed below
                            }
                        }, "writer-" + i);
                        w.setDaemon(true);
                        w.start();
                        writers.add(w);
                    }
                    Await.until("the application's buffers full", Duration.ofSeconds(20), () -> accepted.size() == 2);
                    Thread.sleep(1000);
                    // Ended cleanly: each upstream connection now flushes, for good, what the tunnel wrote before its end.
                    for (HboneSocket s : sockets) {
                        s.close();
                    }
                }
                // A connection still open when the server closes: its close ends the drain, on the loop.
                stays.connectSocket(Mesh.loopback(sink.port()), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10));
                Await.until("the first client's connection gone", Duration.ofSeconds(20), () -> Inspect.connectionCount(server) == 1);
            } finally {
                server.close();
                stays.close();
            }
            // The server's sockets are closed: each application connection reads its end (or a reset) after what it holds.
            for (Socket s : accepted) {
                s.setSoTimeout(10_000);
                long n = 0;
                String end;
                try {
                    for (int r; (r = s.getInputStream().read(new byte[65536])) >= 0; ) {
                        n += r;
                    }
                    end = "end of stream";
                } catch (java.net.SocketTimeoutException open) {
                    end = "still open after 10 s"; // the server's socket outlived it (before 5 December)
                } catch (java.net.SocketException reset) {
                    end = "reset"; // also the server's close
                }
                assertThat(end).as("the application's connection after its server closed (" + n + " bytes read)")
                        .isIn("end of stream", "reset");
            }
        }
    }
}
