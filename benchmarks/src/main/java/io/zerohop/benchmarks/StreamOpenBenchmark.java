package io.zerohop.benchmarks;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
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
 * ({@link Destination#embedded}, an echo), so what is measured is the tunnel itself. One op = open (future
 * completes on the 200) + graceful close until the stream channel closed, so streams never pile up
 * and the pool never opens a second connection (checked at tear-down).
 *
 * <ul>
 *   <li>{@code openStream}: one tunnel at a time, the caller blocking on each step. This is a
 *       latency: two round trips (CONNECT/200, END_STREAM/END_STREAM), each crossing the caller,
 *       the client loop and the server loop, so mostly thread wake-ups on a shared VM.</li>
 *   <li>{@code openStreams32}: 32 tunnels opened and closed concurrently on the same connection (well under its 100 streams, whose slots are released only after each stream channel closed);
 *       the score is per tunnel, so it is the CPU cost of a tunnel with the wake-ups amortised.</li>
 *   <li>{@code openEcho}: the load runner's {@code open} scenario one at a time (connectSocket, 1-byte
 *       echo, half-close, end of stream, close); {@code openTcp}: the same over plain TCP.</li>
 *   <li>{@code echo}: one 1 KiB echo over a tunnel opened once ({@link HboneClient#connectSocket}, a
 *       blocking socket, as the load runner's {@code latency} scenario); {@code echoTcp}: the same
 *       over plain TCP to a Netty echo server, the floor. The difference is what the tunnel adds.</li>
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

    /**
     * The 200's {@code baggage} header: {@code none} (the embedded destination as before 5 December), or
     * {@code workload} ({@code -p baggage=workload}): the value mesh-core's resolver hands for the load runner's
     * {@code bench/server} workload (122 bytes, one shared String, as the resolver's per-workload one), which the server
     * answers every CONNECT with, as ztunnel's {@code build_response} (src/proxy/inbound.rs) under
     * {@code ENABLE_RESPONSE_BAGGAGE}. Interleave {@code -p baggage=none} and {@code -p baggage=workload} runs to see
     * what it costs an open ({@code results/baggage-*.md}).
     */
    @Param({"none"})
    public String baggage;

    /** The resolver's value for the load runner's {@code bench/server} workload (Baggage.header(), cluster Kubernetes). */
    static final String SERVER_BAGGAGE = "k8s.cluster.name=Kubernetes,k8s.namespace.name=bench,k8s.deployment.name=server,"
            + "service.name=server,service.version=latest";

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
        String responseBaggage = switch (baggage) {
            case "none" -> null;
            case "workload" -> SERVER_BAGGAGE;
            default -> throw new IllegalArgumentException("baggage: none or workload, got " + baggage);
        };
        server = sb.tls(tls).identity(serverId).bind(new InetSocketAddress("127.0.0.3", 0))
                .destinations((dst, id, local) -> Destination.embedded((ch, info) -> ch.pipeline().addLast(new EchoThenEnd()),
                        responseBaggage))
                .authorizer(Authorizer.allowAll()).threads(1)
                .build().start().get(10, TimeUnit.SECONDS);
        client = cb.tls(tls).identity(SpiffeIds.istio("cluster.local", "bench", "client")).threads(1).build();
        target = new InetSocketAddress("127.0.0.3", 8080);
        expected = Set.of(serverId);
        openAndClose(); // the handshake happens here, not in the measurement
    }

    private final com.sun.management.OperatingSystemMXBean os =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
    /** Operations done: tunnels opened and closed, or echoes. */
    private long ops;
    private long cpuAtStart;
    private long opsAtStart;

    private final java.lang.management.ThreadMXBean threadBean = java.lang.management.ManagementFactory.getThreadMXBean();
    private long[] tunnelThreads = new long[0];
    private long tunnelCpuAtStart;
    private long sleepsAtStart;

    /**
     * Times the tunnel threads went to sleep (Linux: voluntary context switches of the threads whose
     * name starts like the hbone loops' or this benchmark's, from /proc/self/task/N/status): each
     * one is a wake-up later, a hand-off. Unlike CPU time it does not grow with the machine's load.
     * -1 where /proc is missing.
     */
    private static long sleeps() {
        java.nio.file.Path tasks = java.nio.file.Path.of("/proc/self/task");
        if (!java.nio.file.Files.isDirectory(tasks)) {
            return -1;
        }
        long sum = 0;
        try (var dirs = java.nio.file.Files.newDirectoryStream(tasks)) {
            for (java.nio.file.Path t : dirs) {
                try {
                    String comm = java.nio.file.Files.readString(t.resolve("comm")).trim();
                    // Linux keeps the first 15 characters of a thread's name.
                    if (!comm.startsWith("hbone-") && !comm.startsWith("io.zerohop.benc")) {
                        continue;
                    }
                    for (String line : java.nio.file.Files.readAllLines(t.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            sum += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                } catch (java.io.IOException | RuntimeException e) {
                    // a thread that ended meanwhile
                }
            }
        } catch (java.io.IOException e) {
            return -1;
        }
        return sum;
    }

    /**
     * CPU per op (a tunnel opened and closed, or an echo), printed after each iteration: the CPU
     * time of the threads that carry tunnels (the caller and the hbone event loops), and beside it the whole
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
        sleepsAtStart = sleeps();
        cpuAtStart = os.getProcessCpuTime();
        opsAtStart = ops;
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
        long n = ops - opsAtStart;
        if (n > 0) {
            long cpu = tunnelCpu() - tunnelCpuAtStart;
            long sleeps = sleeps() - sleepsAtStart;
            System.out.printf(" [tunnel threads CPU %.1f us/op, process %.1f, sleeps %.2f/op, over %d ops]",
                    cpu / 1e3 / n, (os.getProcessCpuTime() - cpuAtStart) / 1e3 / n, sleepsAtStart < 0 ? -1.0 : (double) sleeps / n, n);
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
        ops++;
        return openAndClose();
    }

    @Benchmark
    @OperationsPerInvocation(CONCURRENT)
    public void openStreams32() throws Exception {
        ops += CONCURRENT;
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

    /**
     * One 1 KiB echo (write, then read the answer in full) over a tunnel opened once per trial by
     * {@link HboneClient#connectSocket}, as the load runner's {@code latency} scenario does it: the
     * blocking socket's path (caller thread, client loop, TLS, server loop, embedded handler and
     * back). Its CPU per echo is comparable with {@link #echoTcp}'s.
     */
    @Benchmark
    public void echo(EchoTunnel t) throws Exception {
        ops++;
        t.echo();
    }

    /** The same echo over plain TCP to a Netty epoll/NIO echo server on its own loop: the floor. */
    @Benchmark
    public void echoTcp(EchoTcp t) throws Exception {
        ops++;
        t.echo();
    }

    /**
     * The load runner's {@code open} scenario, one at a time: {@link HboneClient#connectSocket}, a
     * 1-byte echo, half-close, the peer's end of stream, close. Comparable with {@link #openTcp}.
     */
    @Benchmark
    public void openEcho() throws Exception {
        ops++;
        try (java.net.Socket s = client.connectSocket(target, expected, server.localAddress(), java.time.Duration.ofSeconds(10))) {
            Echo.once(s);
        }
    }

    /** {@link #openEcho} over plain TCP: connect, 1-byte echo, half-close, end of stream, close. */
    @Benchmark
    public void openTcp(EchoTcp t) throws Exception {
        ops++;
        try (java.net.Socket s = new java.net.Socket()) {
            s.setTcpNoDelay(true);
            s.connect(t.listener.localAddress());
            Echo.once(s);
        }
    }

    /** A blocking socket and its 1 KiB buffers. */
    abstract static class Echo {
        static final int SIZE = 1024;
        java.net.Socket socket;
        java.io.OutputStream out;
        java.io.DataInputStream in;
        final byte[] request = new byte[SIZE];
        final byte[] response = new byte[SIZE];

        void use(java.net.Socket s) throws java.io.IOException {
            socket = s;
            s.setSoTimeout(10_000);
            out = s.getOutputStream();
            in = new java.io.DataInputStream(s.getInputStream());
        }

        void echo() throws java.io.IOException {
            out.write(request);
            in.readFully(response);
        }

        /** One byte there and back, then our end, then the peer's. */
        static void once(java.net.Socket s) throws java.io.IOException {
            s.setSoTimeout(10_000);
            s.getOutputStream().write('x');
            java.io.InputStream in = s.getInputStream();
            if (in.read() != 'x') {
                throw new java.io.IOException("echo failed");
            }
            s.shutdownOutput();
            if (in.read() != -1) {
                throw new java.io.IOException("expected the end of stream after the half-close");
            }
        }
    }

    @State(Scope.Benchmark)
    public static class EchoTunnel extends Echo {
        @Setup(Level.Trial)
        public void open(StreamOpenBenchmark b) throws Exception {
            use(b.client.connectSocket(b.target, b.expected, b.server.localAddress(), java.time.Duration.ofSeconds(10)));
        }

        @TearDown(Level.Trial)
        public void close() throws Exception {
            socket.close();
        }
    }

    @State(Scope.Benchmark)
    public static class EchoTcp extends Echo {
        private EventLoopGroup group;
        private io.netty.channel.Channel listener;

        @Setup(Level.Trial)
        public void open() throws Exception {
            // Named hbone-*: its CPU is counted with the tunnel threads'.
            group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("hbone-tcp-echo", true),
                    Epoll.isAvailable() ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
            listener = new io.netty.bootstrap.ServerBootstrap().group(group)
                    .channel(Epoll.isAvailable() ? io.netty.channel.epoll.EpollServerSocketChannel.class
                            : io.netty.channel.socket.nio.NioServerSocketChannel.class)
                    .childOption(io.netty.channel.ChannelOption.TCP_NODELAY, true)
                    .childHandler(new EchoThenEnd())
                    .bind(new InetSocketAddress("127.0.0.3", 0)).sync().channel();
            java.net.Socket s = new java.net.Socket();
            s.setTcpNoDelay(true);
            s.connect(listener.localAddress());
            use(s);
        }

        @TearDown(Level.Trial)
        public void close() throws Exception {
            socket.close();
            listener.close().sync();
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).sync();
        }
    }

    /**
     * Server side: echoes what it reads (one flush per read burst), and ends its side, then closes,
     * when the client's END_STREAM (or FIN) arrives.
     */
    @io.netty.channel.ChannelHandler.Sharable
    static final class EchoThenEnd extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.write(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                if (ctx.channel() instanceof io.netty.handler.codec.http2.Http2StreamChannel) {
                    HboneStream.shutdownOutput(ctx.channel()).addListener(f -> ctx.close());
                } else {
                    ctx.close();
                }
            }
            ReferenceCountUtil.release(evt);
        }
    }
}
