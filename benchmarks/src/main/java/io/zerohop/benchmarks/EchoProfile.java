package io.zerohop.benchmarks;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.management.ObjectName;

/**
 * Where one 1 KiB echo spends its allocations, per thread and per class, with measures that do not
 * move with the machine's load (issue 14's latency target). It runs {@link StreamOpenBenchmark}'s
 * {@code echo} (a {@code connectSocket} tunnel to an embedded echo, separate client and server loops)
 * or {@code echoTcp} (plain TCP to a Netty echo server), or {@code openStream} (a lone tunnel opened
 * and closed: {@code --path open}), warms up, then counts over the measured operations, divided by
 * their number:
 * <ul>
 *   <li>bytes allocated by the caller and by every {@code hbone-*} thread
 *       ({@code com.sun.management.ThreadMXBean#getThreadAllocatedBytes}: exact, TLAB-independent);</li>
 *   <li>voluntary context switches of those threads (thread hand-offs) and their CPU time (the one
 *       load-dependent column);</li>
 *   <li>with {@code --histogram}: objects and bytes created per class, from two class histograms of
 *       the whole heap, dead objects included ({@code GC.class_histogram -all}). Exact only when no
 *       collection runs in between, so run it with Epsilon (no GC) and a heap that holds every echo:
 *       {@code -XX:+UnlockExperimentalVMOptions -XX:+UseEpsilonGC -Xms6g -Xmx6g}.</li>
 * </ul>
 *
 * <pre>
 * java -XX:+UnlockExperimentalVMOptions -XX:+UseEpsilonGC -Xms6g -Xmx6g -cp benchmarks.jar \
 *      io.zerohop.benchmarks.EchoProfile [--path tunnel|tcp|open] [--warmup 60000] [--echoes 100000] [--histogram]
 * </pre>
 */
public final class EchoProfile {
    private EchoProfile() {}

    /** One measured operation. */
    private interface Op {
        void echo() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        String path = "tunnel";
        int warmup = 60_000;
        int echoes = 100_000;
        boolean histogram = false;
        double minPerEcho = 0.005;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--path" -> path = args[++i];
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--echoes" -> echoes = Integer.parseInt(args[++i]);
                case "--histogram" -> histogram = true;
                case "--min" -> minPerEcho = Double.parseDouble(args[++i]);
                default -> throw new IllegalArgumentException("usage: EchoProfile [--path tunnel|tcp] [--warmup N] [--echoes N] [--histogram] [--min objectsPerEcho]");
            }
        }
        StreamOpenBenchmark bench = new StreamOpenBenchmark();
        bench.loops = "separate";
        bench.setUp();
        Op echo;
        StreamOpenBenchmark.EchoTcp tcp = null;
        StreamOpenBenchmark.EchoTunnel tunnel = null;
        if (path.equals("tcp")) {
            tcp = new StreamOpenBenchmark.EchoTcp();
            tcp.open();
            echo = tcp::echo;
        } else if (path.equals("tunnel")) {
            tunnel = new StreamOpenBenchmark.EchoTunnel();
            tunnel.open(bench);
            echo = tunnel::echo;
        } else if (path.equals("open")) {
            echo = bench::openStream;
        } else {
            throw new IllegalArgumentException("--path tunnel, tcp or open, not " + path);
        }
        try {
            for (int i = 0; i < warmup; i++) {
                echo.echo();
            }
            List<Thread> threads = threads();
            long[] ids = threads.stream().mapToLong(Thread::getId).toArray();
            Map<String, long[]> histoBefore = histogram ? histogram() : Map.of();
            long[] allocBefore = allocated(ids);
            long[] cpuBefore = cpu(ids);
            long[] sleepsBefore = sleeps(threads);
            long wallBefore = System.nanoTime();
            for (int i = 0; i < echoes; i++) {
                echo.echo();
            }
            long wall = System.nanoTime() - wallBefore;
            long[] sleepsAfter = sleeps(threads);
            long[] cpuAfter = cpu(ids);
            long[] allocAfter = allocated(ids);
            Map<String, long[]> histoAfter = histogram ? histogram() : Map.of();

            System.out.printf("path %s, %d echoes after %d warm-up; load %s%n", path, echoes, warmup, load());
            System.out.printf("%-28s %12s %12s %10s%n", "thread", "B/echo", "CPU us/echo", "sleeps/echo");
            long allocSum = 0;
            long cpuSum = 0;
            long sleepSum = 0;
            for (int i = 0; i < ids.length; i++) {
                long a = allocAfter[i] - allocBefore[i];
                long c = cpuAfter[i] - cpuBefore[i];
                long s = sleepsAfter[i] - sleepsBefore[i];
                allocSum += a;
                cpuSum += c;
                sleepSum += s;
                if (a == 0 && c == 0) {
                    continue;
                }
                System.out.printf("%-28s %12.1f %12.2f %10.3f%n", threads.get(i).getName(), (double) a / echoes,
                        c / 1e3 / echoes, (double) s / echoes);
            }
            System.out.printf("%-28s %12.1f %12.2f %10.3f%n", "all", (double) allocSum / echoes, cpuSum / 1e3 / echoes,
                    (double) sleepSum / echoes);
            System.out.printf("wall %.2f us/echo%n", wall / 1e3 / echoes);
            if (histogram) {
                printHistogramDiff(histoBefore, histoAfter, echoes, minPerEcho);
            }
        } finally {
            if (tcp != null) {
                tcp.close();
            }
            if (tunnel != null) {
                tunnel.close();
            }
            bench.tearDown();
        }
    }

    /** The caller and the hbone threads (client loop, server loop, the TCP echo server's loop). */
    private static List<Thread> threads() {
        List<Thread> out = new ArrayList<>();
        out.add(Thread.currentThread());
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("hbone-")) {
                out.add(t);
            }
        }
        return out;
    }

    private static long[] allocated(long[] ids) {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getThreadAllocatedBytes(ids);
    }

    private static long[] cpu(long[] ids) {
        long[] out = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = ManagementFactory.getThreadMXBean().getThreadCpuTime(ids[i]);
        }
        return out;
    }

    /** Voluntary context switches per thread (Linux), 0 where /proc has no such thread. */
    private static long[] sleeps(List<Thread> threads) {
        Map<String, Long> byName = new HashMap<>();
        try (var dirs = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path t : dirs) {
                try {
                    String comm = Files.readString(t.resolve("comm")).trim();
                    for (String line : Files.readAllLines(t.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            byName.merge(comm, Long.parseLong(line.substring(line.indexOf(':') + 1).trim()), Long::sum);
                        }
                    }
                } catch (java.io.IOException | RuntimeException e) {
                    // a thread that ended meanwhile
                }
            }
        } catch (java.io.IOException e) {
            return new long[threads.size()];
        }
        long[] out = new long[threads.size()];
        for (int i = 0; i < out.length; i++) {
            if (threads.get(i) == Thread.currentThread()) {
                out[i] = ownSleeps();
                continue;
            }
            String name = threads.get(i).getName();
            // Linux keeps the first 15 characters of a thread's name.
            out[i] = byName.getOrDefault(name.length() > 15 ? name.substring(0, 15) : name, 0L);
        }
        return out;
    }

    /** This thread's voluntary context switches (its comm is the process's name, not its thread name). */
    private static long ownSleeps() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/thread-self/status"))) {
                if (line.startsWith("voluntary_ctxt_switches:")) {
                    return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux
        }
        return 0;
    }

    /** Class name → {instances, bytes}, every object in the heap, reachable or not. */
    private static Map<String, long[]> histogram() throws Exception {
        String text = (String) ManagementFactory.getPlatformMBeanServer().invoke(
                new ObjectName("com.sun.management:type=DiagnosticCommand"), "gcClassHistogram",
                new Object[] {new String[] {"-all"}}, new String[] {String[].class.getName()});
        Map<String, long[]> out = new HashMap<>();
        for (String line : text.split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 4 || !f[0].endsWith(":")) {
                continue;
            }
            out.put(f[3], new long[] {Long.parseLong(f[1]), Long.parseLong(f[2])});
        }
        return out;
    }

    private static void printHistogramDiff(Map<String, long[]> before, Map<String, long[]> after, int echoes, double min) {
        record Row(String cls, double count, double bytes) {}
        List<Row> rows = new ArrayList<>();
        double totalCount = 0;
        double totalBytes = 0;
        for (var e : after.entrySet()) {
            long[] b = before.getOrDefault(e.getKey(), new long[2]);
            double count = (double) (e.getValue()[0] - b[0]) / echoes;
            double bytes = (double) (e.getValue()[1] - b[1]) / echoes;
            totalCount += count;
            totalBytes += bytes;
            if (count >= min) {
                rows.add(new Row(e.getKey(), count, bytes));
            }
        }
        rows.sort((x, y) -> Double.compare(y.bytes, x.bytes));
        System.out.printf("%nobjects created per echo, by class (heap histograms -all; exact only without a GC in between):%n");
        System.out.printf("%10s %10s  %s%n", "objects", "bytes", "class");
        for (Row r : rows) {
            System.out.printf("%10.3f %10.1f  %s%n", r.count, r.bytes, r.cls);
        }
        System.out.printf("%10.3f %10.1f  %s%n", totalCount, totalBytes, "total");
    }

    private static String load() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (java.io.IOException e) {
            return "?";
        }
    }
}
