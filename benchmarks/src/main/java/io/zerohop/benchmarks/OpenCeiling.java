package io.zerohop.benchmarks;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * Counts what one lone tunnel open + close costs (issue 14's 20 µs target), next to a plain TCP
 * connect + graceful close, so that the floor is a count: per op, the CPU time and the voluntary
 * context switches (sleeps, each a wake-up later) of every thread, from /proc/self/task/N/schedstat
 * and status, and, with {@code PERF_OUT=file}, the system calls per thread from {@code perf stat
 * --per-thread -e raw_syscalls:sys_enter} attached for the measured window only (with
 * {@code PERF_TRACE=1}: {@code perf trace -s}, the calls by name, which slows every call).
 *
 * <pre>java -cp benchmarks.jar io.zerohop.benchmarks.OpenCeiling open|open-shared|tcp [warm-up seconds] [ops]</pre>
 * {@code open}: {@link StreamOpenBenchmark#openStream} (loops separate: client and server one event
 * loop each; a warm pooled connection, an embedded echo destination, no dial); {@code open-shared}:
 * the same with client and server on one event loop (only the caller's hand-offs are left);
 * {@code open32}: {@link StreamOpenBenchmark#openStreams32}, 32 tunnels in flight per call, reported
 * per tunnel (ops is then the number of tunnels, rounded down to a multiple of 32). {@code tcp}: a
 * blocking {@link Socket} connects to a Netty epoll listener on its own loop, half-closes, reads
 * the server's FIN (the server closes on the client's), closes: the same two round trips.
 * Measurement only; no assertion, not a test.
 */
public final class OpenCeiling {
    private OpenCeiling() {
    }

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "open";
        double warm = args.length > 1 ? Double.parseDouble(args[1]) : 10;
        int n = args.length > 2 ? Integer.parseInt(args[2]) : 20_000;
        StreamOpenBenchmark b = null;
        EventLoopGroup group = null;
        Channel listener = null;
        Runnable op;
        int perOp = 1; // tunnels per op.run(); the report is per tunnel
        if (mode.equals("open32")) {
            StreamOpenBenchmark bench = new StreamOpenBenchmark();
            bench.loops = "separate";
            bench.setUp();
            b = bench;
            perOp = StreamOpenBenchmark.CONCURRENT;
            n = Math.max(1, n / perOp);
            op = () -> {
                try {
                    bench.openStreams32();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            };
        } else if (mode.equals("open") || mode.equals("open-shared")) {
            StreamOpenBenchmark bench = new StreamOpenBenchmark();
            bench.loops = mode.equals("open") ? "separate" : "shared";
            bench.setUp();
            b = bench;
            op = () -> {
                try {
                    bench.openStream();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            };
        } else if (mode.equals("tcp")) {
            group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("hbone-tcp", true), EpollIoHandler.newFactory());
            listener = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                    .childOption(ChannelOption.TCP_NODELAY, true).childHandler(new StreamOpenBenchmark.EchoThenEnd())
                    .bind(new InetSocketAddress("127.0.0.3", 0)).sync().channel();
            InetSocketAddress at = (InetSocketAddress) listener.localAddress();
            op = () -> {
                try (Socket s = new Socket()) {
                    s.setTcpNoDelay(true);
                    s.connect(at);
                    s.shutdownOutput();
                    InputStream in = s.getInputStream();
                    if (in.read() != -1) {
                        throw new IOException("expected the server's FIN");
                    }
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            };
        } else {
            throw new IllegalArgumentException("mode: open, open-shared, open32 or tcp");
        }
        long warmEnd = System.nanoTime() + (long) (warm * 1e9);
        long warmOps = 0;
        while (System.nanoTime() < warmEnd) {
            op.run();
            warmOps++;
        }
        String perfOut = System.getenv("PERF_OUT");
        Process perf = null;
        if (perfOut != null) {
            String pid = Long.toString(ProcessHandle.current().pid());
            // PERF_TRACE=1: per-thread system calls by name (perf trace -s) instead of counts.
            perf = new ProcessBuilder(System.getenv("PERF_TRACE") != null
                    ? java.util.List.of("perf", "trace", "-s", "-p", pid, "-o", perfOut)
                    : java.util.List.of("perf", "stat", "--per-thread", "-x,", "-e",
                            System.getenv().getOrDefault("PERF_EVENTS", "raw_syscalls:sys_enter,context-switches,cpu-migrations,task-clock"),
                            "-p", pid, "-o", perfOut))
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            Thread.sleep(500);
        }
        String load0 = Files.readString(Path.of("/proc/loadavg")).trim();
        Map<String, long[]> t0 = tasks();
        long w0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            op.run();
        }
        long w1 = System.nanoTime();
        Map<String, long[]> t1 = tasks();
        if (perf != null) {
            new ProcessBuilder("kill", "-INT", Long.toString(perf.pid())).start().waitFor();
            perf.waitFor(10, TimeUnit.SECONDS);
        }
        int ops = n;
        n = n * perOp; // from here on: per tunnel
        System.out.printf(Locale.ROOT, "mode %s, %d tunnels (%d calls) after %d warm-up calls, load %s, flags %s%n", mode, n, ops, warmOps, load0,
                java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        System.out.printf(Locale.ROOT, "wall %.1f us/op%n", (w1 - w0) / 1e3 / n);
        System.out.printf(Locale.ROOT, "%-22s %12s %12s %12s %12s %12s %12s%n", "thread (by name)", "CPU us/op", "waitq us/op", "vol sw/op", "invol sw/op",
                "user us/op", "sys us/op");
        Map<String, double[]> byName = new TreeMap<>();
        for (Map.Entry<String, long[]> e : t1.entrySet()) {
            long[] a = t0.get(e.getKey());
            long[] z = e.getValue();
            if (a == null) {
                a = new long[z.length];
            }
            String name = e.getKey().substring(e.getKey().indexOf(':') + 1).replaceAll("[0-9]+$", "#");
            double[] sum = byName.computeIfAbsent(name, k -> new double[6]);
            for (int i = 0; i < 6; i++) {
                sum[i] += (z[i] - a[i]);
            }
        }
        double[] tot = new double[6];
        double tick = 1e6 / 100; // µs per clock tick (USER_HZ 100 on Linux)
        for (Map.Entry<String, double[]> e : byName.entrySet()) {
            double[] s = e.getValue();
            if (s[0] == 0 && s[2] == 0) {
                continue;
            }
            System.out.printf(Locale.ROOT, "%-22s %12.2f %12.2f %12.3f %12.3f %12.2f %12.2f%n", e.getKey(), s[0] / 1e3 / n, s[1] / 1e3 / n,
                    s[2] / n, s[3] / n, s[4] * tick / n, s[5] * tick / n);
            for (int i = 0; i < 6; i++) {
                tot[i] += s[i];
            }
        }
        System.out.printf(Locale.ROOT, "%-22s %12.2f %12.2f %12.3f %12.3f %12.2f %12.2f%n", "TOTAL", tot[0] / 1e3 / n, tot[1] / 1e3 / n,
                tot[2] / n, tot[3] / n, tot[4] * tick / n, tot[5] * tick / n);
        if (b != null) {
            b.tearDown();
        }
        if (listener != null) {
            listener.close().sync();
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).sync();
        }
    }

    /** tid:name → {run ns, run-queue wait ns, voluntary, involuntary context switches, utime, stime (clock ticks)}. */
    private static Map<String, long[]> tasks() throws IOException {
        Map<String, long[]> m = new TreeMap<>();
        try (var dirs = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path t : dirs) {
                try {
                    String comm = Files.readString(t.resolve("comm")).trim();
                    String[] sched = Files.readString(t.resolve("schedstat")).trim().split(" ");
                    long vol = 0;
                    long invol = 0;
                    for (String line : Files.readAllLines(t.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            vol = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
                            invol = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                    String stat = Files.readString(t.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    m.put(t.getFileName() + ":" + comm, new long[] {Long.parseLong(sched[0]), Long.parseLong(sched[1]), vol, invol,
                        Long.parseLong(f[11]), Long.parseLong(f[12])});
                } catch (IOException | RuntimeException e) {
                    // a thread that ended meanwhile
                }
            }
        }
        return m;
    }
}
