package io.zerohop.benchmarks;

import io.netty.channel.ChannelFutureListener;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.netty.HalfClosingPeer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import io.zerohop.hbone.internal.Inspect;

/**
 * Opening an HBONE tunnel on a warm pooled connection (no TLS handshake): CONNECT → 200 over
 * loopback to an in-process {@link HboneServer} whose embedded handler closes the stream when the
 * client does. There is no upstream dial: the destination is an embedded handler
 * ({@link Destination#embedded}), so what is measured is the tunnel itself. One op = open (future
 * completes on the 200) + graceful close until the stream channel closed, so streams never pile up
 * and the pool never opens a second connection (checked at tear-down).
 *
 * <ul>
 *   <li>{@code openStream}: one tunnel at a time, the caller blocking on each step. This is a
 *       latency: two round trips (CONNECT/200, END_STREAM/END_STREAM), each crossing the caller,
 *       the client loop and the server loop, so mostly thread wake-ups on a shared VM.</li>
 *   <li>{@code openStreams32}: 32 tunnels opened and closed concurrently on the same connection (well under its 100 streams, whose slots are released only after each stream channel closed);
 *       the score is per tunnel, so it is the CPU cost of a tunnel with the wake-ups amortised.</li>
 * </ul>
 * {@code loops}: {@code separate} gives the client and the server one event loop each (as two
 * processes would have); {@code shared} runs both on one event loop, so no hand-off between
 * client and server threads is measured.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
public class StreamOpenBenchmark {
    private InMemoryCa ca;
    private MeshTls tls;
    private HboneServer server;
    private HboneClient client;
    private InetSocketAddress target;
    private Set<SpiffeId> expected;
    private EventLoopGroup shared;

    @Param({"separate", "shared"})
    public String loops;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        ca = InMemoryCa.create("cluster.local");
        tls = MeshTls.builder(ca).build();
        SpiffeId serverId = SpiffeIds.istio("cluster.local", "bench", "server");
        HboneServer.Builder sb = HboneServer.builder();
        HboneClient.Builder cb = HboneClient.builder();
        if (loops.equals("shared")) {
            shared = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("hbone-shared", true),
                    Epoll.isAvailable() ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
            sb.eventLoopGroup(shared);
            cb.eventLoopGroup(shared);
        }
        server = sb.tls(tls).identity(serverId).bind(new InetSocketAddress("127.0.0.3", 0))
                .destinations((dst, id, local) -> Destination.embedded((ch, info) -> ch.pipeline().addLast(CLOSE_ON_END)))
                .authorizer(Authorizer.allowAll()).threads(1)
                .build().start().get(10, TimeUnit.SECONDS);
        client = cb.tls(tls).identity(SpiffeIds.istio("cluster.local", "bench", "client")).threads(1).build();
        target = new InetSocketAddress("127.0.0.3", 8080);
        expected = Set.of(serverId);
        openAndClose(); // the handshake happens here, not in the measurement
    }

    private final com.sun.management.OperatingSystemMXBean os =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
    private long tunnels;
    private long cpuAtStart;
    private long tunnelsAtStart;

    private final java.lang.management.ThreadMXBean threadBean = java.lang.management.ManagementFactory.getThreadMXBean();
    private long[] tunnelThreads = new long[0];
    private long tunnelCpuAtStart;

    /**
     * CPU per tunnel, printed after each iteration: the CPU time of the threads that carry tunnels
     * (the caller and the hbone event loops) over tunnels opened and closed, and beside it the whole
     * process's (GC and JIT included). Unlike the score, neither counts time spent waiting for a
     * core, which on a shared VM is most of the wall time; the first also leaves out the JIT, which
     * on a loaded 2-vCPU machine is still compiling after a short warm-up.
     */
    @Setup(Level.Iteration)
    public void iterationStart() {
        java.util.List<Long> ids = new java.util.ArrayList<>();
        ids.add(Thread.currentThread().getId());
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("hbone-")) {
                ids.add(t.getId());
            }
        }
        tunnelThreads = ids.stream().mapToLong(Long::longValue).toArray();
        tunnelCpuAtStart = tunnelCpu();
        cpuAtStart = os.getProcessCpuTime();
        tunnelsAtStart = tunnels;
    }

    private long tunnelCpu() {
        long sum = 0;
        for (long id : tunnelThreads) {
            long t = threadBean.getThreadCpuTime(id);
            sum += Math.max(0, t);
        }
        return sum;
    }

    @TearDown(Level.Iteration)
    public void iterationEnd() {
        long n = tunnels - tunnelsAtStart;
        if (n > 0) {
            System.out.printf(" [tunnel threads CPU %.1f us/tunnel, process %.1f, over %d tunnels]",
                    (tunnelCpu() - tunnelCpuAtStart) / 1e3 / n, (os.getProcessCpuTime() - cpuAtStart) / 1e3 / n, n);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        int connections = Inspect.connectionCount(client, expected, server.localAddress());
        client.close();
        server.close();
        tls.close();
        ca.close();
        if (shared != null) {
            shared.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
        }
        if (connections != 1) {
            throw new IllegalStateException("expected one warm pooled connection, pool had " + connections);
        }
    }

    @Benchmark
    public Object openStream() throws Exception {
        tunnels++;
        return openAndClose();
    }

    @Benchmark
    @OperationsPerInvocation(CONCURRENT)
    public void openStreams32() throws Exception {
        tunnels += CONCURRENT;
        CountDownLatch done = new CountDownLatch(CONCURRENT);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int i = 0; i < CONCURRENT; i++) {
            client.connect(target, expected, server.localAddress()).whenComplete((s, err) -> {
                if (err != null) {
                    failure.compareAndSet(null, err);
                    done.countDown();
                    return;
                }
                s.close();
                s.channel().closeFuture().addListener(f -> done.countDown());
            });
        }
        if (!done.await(10, TimeUnit.SECONDS)) {
            throw new IllegalStateException("tunnels still open after 10 s");
        }
        if (failure.get() != null) {
            throw new IllegalStateException("a tunnel failed", failure.get());
        }
    }

    static final int CONCURRENT = 32;

    private Object openAndClose() throws Exception {
        HboneStream s = client.connect(target, expected, server.localAddress()).get(10, TimeUnit.SECONDS);
        s.close();
        s.channel().closeFuture().get(10, TimeUnit.SECONDS);
        return s;
    }

    /** Server side: closes (END_STREAM back) when the client's END_STREAM arrives. */
    static final HalfClosingPeer CLOSE_ON_END = HalfClosingPeer.discard(
            ch -> HboneStream.shutdownOutput(ch).addListener(ChannelFutureListener.CLOSE));
}
