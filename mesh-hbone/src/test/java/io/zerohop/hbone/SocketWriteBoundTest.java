package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.io.DataInputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A blocking {@link HboneSocket} writer is bounded by what its event loop has taken, not only by the
 * tunnel's writability: a stream channel updates writability on its event loop alone, so a writer on
 * another thread that only checked {@code isWritable()} queued write tasks without bound while the
 * loop was busy (zerohop's own mechanics: no upstream counterpart; found profiling the bulk path).
 * The bound is one per connection, shared by all its sockets (issue 14: with one per socket, 16
 * writers on one pooled connection kept 8 MiB queued on its loop).
 */
@Timeout(60)
class SocketWriteBoundTest {
    private static final int CHUNK = 64 * 1024;
    private static final int CHUNKS = 64; // 4 MiB in all
    /** SocketState.SUBMIT_HIGH plus the one chunk written before the writer looks. */
    private static final long BOUND = 512 * 1024 + CHUNK;

    /** Keeps the client's only event loop busy until {@code release} (stands in for a loop that falls behind). */
    private static void block(EventLoopGroup loop, CountDownLatch release) throws InterruptedException {
        CountDownLatch busy = new CountDownLatch(1);
        loop.next().execute(() -> {
            busy.countDown();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertThat(busy.await(10, TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void theWritersOfOneConnectionShareOneBoundAndLoseNothing() throws Exception {
        int writers = 8;
        int chunks = 16; // 1 MiB per writer
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        HboneServerSocket sockets = new HboneServerSocket();
        CountDownLatch release = new CountDownLatch(1);
        List<HboneSocket> open = new ArrayList<>();
        try (Mesh mesh = new Mesh()) {
            HboneServer server = mesh.server((dst, id, local) -> Destination.embedded(sockets)).build().start().get();
            HboneClient client = mesh.client().eventLoopGroup(loop).build();
            try {
                List<HboneSocket> clients = new ArrayList<>();
                List<HboneSocket> accepted = new ArrayList<>();
                for (int i = 0; i < writers; i++) {
                    clients.add(client.connectSocket(Mesh.loopback(8080), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10)));
                    accepted.add(sockets.accept());
                }
                open.addAll(clients);
                open.addAll(accepted);
                assertThat(clients.stream().map(c -> c.tunnel().localAddress()).distinct()).as("one pooled connection").hasSize(1);
                block(loop, release);

                AtomicLong total = new AtomicLong();
                AtomicReference<Throwable> failed = new AtomicReference<>();
                List<Thread> threads = new ArrayList<>();
                for (int w = 0; w < writers; w++) {
                    int id = w;
                    OutputStream out = clients.get(w).getOutputStream();
                    Thread t = new Thread(() -> {
                        try {
                            byte[] chunk = new byte[CHUNK];
                            for (int i = 0; i < chunks; i++) {
                                java.util.Arrays.fill(chunk, (byte) (id * chunks + i));
                                out.write(chunk);
                                total.addAndGet(CHUNK);
                            }
                        } catch (Throwable e) {
                            failed.set(e);
                        }
                    }, "bound-writer-" + w);
                    t.start();
                    threads.add(t);
                }
                // Every writer has finished (unbounded: the fault) or waits for the loop.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (threads.stream().anyMatch(t -> t.isAlive() && t.getState() != Thread.State.TIMED_WAITING)
                        && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                }
                // Each writer may hand over one chunk before it sees the shared count: a bound per
                // socket let each queue 512 KiB + a chunk, 4.5 MiB for these 8.
                assertThat(total.get()).as("bytes accepted from all writers while the loop took none")
                        .isLessThanOrEqualTo(512 * 1024 + (long) writers * CHUNK);

                release.countDown();
                byte[] got = new byte[CHUNK];
                byte[] expected = new byte[CHUNK];
                java.util.Set<Integer> seen = new java.util.HashSet<>();
                for (HboneSocket s : accepted) {
                    DataInputStream in = new DataInputStream(s.getInputStream());
                    in.readFully(got);
                    int id = (got[0] & 0xff) / chunks;
                    assertThat(seen.add(id)).as("one tunnel per writer").isTrue();
                    for (int i = 0; i < chunks; i++) {
                        if (i > 0) {
                            in.readFully(got);
                        }
                        java.util.Arrays.fill(expected, (byte) (id * chunks + i));
                        assertThat(got).as("writer %d chunk %d arrives whole and in order", id, i).isEqualTo(expected);
                    }
                }
                for (Thread t : threads) {
                    t.join(TimeUnit.SECONDS.toMillis(10));
                }
                assertThat(failed.get()).isNull();
                assertThat(total.get()).isEqualTo((long) CHUNK * chunks * writers);
            } finally {
                release.countDown();
                for (HboneSocket s : open) {
                    s.close();
                }
                client.close();
                server.close();
                sockets.close();
            }
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void aWriterWaitsForABusyEventLoopAndLosesNothing() throws Exception {
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        HboneServerSocket sockets = new HboneServerSocket();
        CountDownLatch release = new CountDownLatch(1);
        try (Mesh mesh = new Mesh()) {
            HboneServer server = mesh.server((dst, id, local) -> Destination.embedded(sockets)).build().start().get();
            HboneClient client = mesh.client().eventLoopGroup(loop).build();
            try (HboneSocket c = client.connectSocket(Mesh.loopback(8080), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10));
                 HboneSocket s = sockets.accept()) {
                block(loop, release);

                AtomicLong accepted = new AtomicLong();
                AtomicReference<Throwable> failed = new AtomicReference<>();
                Thread writer = new Thread(() -> {
                    try {
                        OutputStream out = c.getOutputStream();
                        byte[] chunk = new byte[CHUNK];
                        for (int i = 0; i < CHUNKS; i++) {
                            java.util.Arrays.fill(chunk, (byte) i);
                            out.write(chunk);
                            accepted.addAndGet(CHUNK);
                        }
                    } catch (Throwable t) {
                        failed.set(t);
                    }
                }, "bound-writer");
                writer.start();

                // Wait until the writer either finished (unbounded: the fault) or parks waiting for the loop.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (writer.isAlive() && writer.getState() != Thread.State.TIMED_WAITING && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                }
                assertThat(writer.isAlive()).as("the writer waits while the event loop is busy").isTrue();
                assertThat(accepted.get()).as("bytes accepted while the event loop took none").isLessThanOrEqualTo(BOUND);

                release.countDown();
                DataInputStream in = new DataInputStream(s.getInputStream());
                byte[] got = new byte[CHUNK];
                byte[] expected = new byte[CHUNK];
                for (int i = 0; i < CHUNKS; i++) {
                    in.readFully(got);
                    java.util.Arrays.fill(expected, (byte) i);
                    assertThat(got).as("chunk %d arrives whole and in order", i).isEqualTo(expected);
                }
                writer.join(TimeUnit.SECONDS.toMillis(10));
                assertThat(failed.get()).isNull();
                assertThat(accepted.get()).isEqualTo((long) CHUNK * CHUNKS);
            } finally {
                release.countDown();
                client.close();
                server.close();
                sockets.close();
            }
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
