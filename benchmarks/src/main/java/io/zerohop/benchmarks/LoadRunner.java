package io.zerohop.benchmarks;

import io.netty.channel.epoll.Epoll;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslProvider;
import io.zerohop.identity.MeshTls;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.HdrHistogram.Histogram;

/**
 * End-to-end load runner: the same scenarios over every path, in one JVM run, on loopback.
 *
 * <pre>
 * (see benchmarks/README.md)
 * java -cp benchmarks.jar io.zerohop.benchmarks.LoadRunner [--paths tcp,zerohop-embedded,...]
 *      [--scenarios bulk1,bulk16,latency,open,idle,http] [--seconds 5] [--warmup 1] [--idle 10000] [--http-clients 1,16]
 *      [--out benchmarks/results]
 * </pre>
 *
 * Scenarios: bulk throughput (1 and 16 streams, app → server, counted at the receiving app);
 * request/response latency (1 KiB echo, one connection, one request in flight, HdrHistogram);
 * tunnel-open rate (open, 1-byte echo, close; 2 threads); memory per idle tunnel (N tunnels open,
 * heap after GC and RSS of this JVM plus the path's external processes); small HTTP/1.1 requests
 * (h2load, keep-alive, one request in flight per connection: requests/s and latency percentiles from
 * its per-request log) through paths with a TCP front.
 */
public final class LoadRunner {
    private static final PrintStream out = System.out;

    private final Map<String, Result> results = new LinkedHashMap<>();
    private double seconds = 5;
    /**
     * Warm-up before each byte scenario (and of each path), seconds. The default 1 s leaves the JIT
     * compiling the JVM paths on a loaded 2-vCPU machine (C2 took a quarter to half of the process's
     * CPU in the first 6 s measured: benchmarks/results/bulk-*.md); a longer one measures steady state.
     */
    private double warmup = 1;
    private int idle = 10_000;
    private Path outDir = Path.of("benchmarks/results");
    private List<String> scenarios = List.of("bulk1", "bulk16", "latency", "open", "idle", "http");
    private List<String> pathNames = List.of("tcp", "zerohop-embedded", "zerohop-embedded-jdk", "zerohop-node", "haproxy", "stunnel",
            "nghttpx-pair", "nghttpx→zerohop", "zerohop-l4", "zerohop-l7", "haproxy-l7");
    private List<Integer> httpClients = List.of(1, 16);
    /**
     * h2load's warm-up per run. The JVM paths need thousands of requests before the JIT has compiled
     * the HTTP codecs; on a loaded machine the compiler threads get little CPU, and 3 s left the L7
     * path at a fraction of its warm rate (benchmarks/README.md).
     */
    private int httpWarmup = 10;

    static final class Result {
        String description;
        String skipped;
        double bulk1 = Double.NaN;
        double bulk16 = Double.NaN;
        /** CPU per MB delivered in the bulk scenarios: {javaThreads, process, external} ns per MB, or null. */
        double[] bulk1Cpu;
        double[] bulk16Cpu;
        Histogram latency;
        double openRate = Double.NaN;
        double heapPerTunnel = Double.NaN;
        double rssPerTunnel = Double.NaN;
        double extRssPerTunnel = Double.NaN;
        int idleTunnels;
        String idleNote;
        /** False for paths that carry only the http scenario (their byte-scenario row is left out). */
        boolean bytes = true;
        /** HTTP scenario results by number of concurrent h2load clients. */
        final Map<Integer, Http> http = new java.util.TreeMap<>();
        List<String> errors = new ArrayList<>();
    }

    public static void main(String[] args) throws Exception {
        // One access-log line per tunnel would flood the terminal (and the open-rate scenario):
        // off unless asked for with -Dorg.slf4j.simpleLogger.log.io.zerohop.access=info.
        if (System.getProperty("org.slf4j.simpleLogger.log.io.zerohop.access") == null) {
            System.setProperty("org.slf4j.simpleLogger.log.io.zerohop.access", "warn");
        }
        LoadRunner r = new LoadRunner();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds" -> r.seconds = Double.parseDouble(args[++i]);
                case "--warmup" -> r.warmup = Double.parseDouble(args[++i]);
                case "--idle" -> r.idle = Integer.parseInt(args[++i]);
                case "--out" -> r.outDir = Path.of(args[++i]);
                case "--paths" -> r.pathNames = List.of(args[++i].split(","));
                case "--scenarios" -> r.scenarios = List.of(args[++i].split(","));
                case "--http-clients" -> r.httpClients = java.util.Arrays.stream(args[++i].split(",")).map(Integer::valueOf).toList();
                case "--http-warmup" -> r.httpWarmup = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: LoadRunner [--paths a,b] [--scenarios bulk1,bulk16,latency,open,idle,http] "
                            + "[--seconds S] [--warmup S] [--idle N] [--http-clients 1,16] [--http-warmup S] [--out DIR]\npaths: tcp, zerohop-embedded, zerohop-embedded-jdk, zerohop-node, "
                            + "haproxy, stunnel, nghttpx-pair, nghttpx→zerohop (or nghttpx-zerohop), zerohop-l4, zerohop-l7, haproxy-l7");
                    System.exit(2);
                }
            }
        }
        r.run();
        System.exit(0);
    }

    private static Paths.BenchPath create(String name) {
        return switch (name) {
            case "tcp" -> new Paths.PlainTcp();
            case "zerohop-embedded" -> new Paths.ZerohopEmbedded(SslProvider.OPENSSL);
            case "zerohop-embedded-jdk" -> new Paths.ZerohopEmbedded(SslProvider.JDK);
            case "zerohop-node" -> new Paths.ZerohopNode();
            case "haproxy" -> new Paths.Haproxy();
            case "stunnel" -> new Paths.Stunnel();
            case "nghttpx-pair" -> new Paths.Nghttpx(false);
            case "nghttpx→zerohop", "nghttpx-zerohop" -> new Paths.Nghttpx(true);
            case "zerohop-l4" -> new Paths.ZerohopNodeHttp(false);
            case "zerohop-l7" -> new Paths.ZerohopNodeHttp(true);
            case "haproxy-l7" -> new Paths.HaproxyHttp();
            default -> throw new IllegalArgumentException("unknown path " + name);
        };
    }

    private void run() throws Exception {
        String machine = Sys.machine();
        String loadBefore = Sys.loadAverage();
        Instant started = Instant.now();
        out.println("zerohop LoadRunner — " + started);
        out.println(machine);
        out.println("load average before: " + loadBefore);
        try (Paths.Env env = new Paths.Env()) {
            for (String name : pathNames) {
                Result res = new Result();
                Paths.BenchPath path = create(name);
                results.put(path.name, res);
                res.description = path.description;
                res.bytes = path.carriesBytes();
                out.printf("%n== %s: %s%n", path.name, path.description);
                try {
                    String skip = path.start(env);
                    if (skip != null) {
                        res.skipped = skip;
                        out.println("   SKIPPED: " + skip);
                        continue;
                    }
                    if (path.carriesBytes()) {
                        warmup(path);
                    }
                    for (String sc : scenarios) {
                        if (sc.equals("http") ? path.httpFront() == null : !path.carriesBytes()) {
                            continue; // the path cannot carry this scenario: its cells stay "–"
                        }
                        try {
                            runScenario(sc, path, res);
                        } catch (Exception e) {
                            String msg = e.toString().replaceAll("\\s*\\R\\s*", " ");
                            res.errors.add(sc + ": " + msg);
                            out.println("   " + sc + " FAILED: " + msg);
                        }
                    }
                } catch (Exception e) {
                    res.skipped = "failed to start: " + e;
                    out.println("   FAILED to start: " + e);
                    e.printStackTrace(out);
                } finally {
                    path.close();
                }
            }
        }
        String loadAfter = Sys.loadAverage();
        out.println("\nload average after: " + loadAfter);
        Files.createDirectories(outDir);
        String md = Report.markdown(results, machine, started, loadBefore, loadAfter, seconds, warmup, idle, scenarios, httpClients, httpWarmup);
        Files.writeString(outDir.resolve("results.md"), md);
        out.println();
        out.println(md);
        if (results.values().stream().anyMatch(r -> r.latency != null)) {
            Files.writeString(outDir.resolve("latency.svg"), Report.svg(results));
            byte[] png = Report.png(results);
            if (png != null) {
                Files.write(outDir.resolve("latency.png"), png);
            }
            out.println("wrote " + outDir.resolve("results.md") + ", " + outDir.resolve("latency.svg")
                    + (png != null ? " and " + outDir.resolve("latency.png") : ""));
        } else {
            out.println("wrote " + outDir.resolve("results.md"));
        }
    }

    private void runScenario(String sc, Paths.BenchPath path, Result res) throws Exception {
        switch (sc) {
            case "bulk1" -> {
                res.bulk1Cpu = new double[4];
                res.bulk1 = bulk(path, 1, res.bulk1Cpu);
                out.printf("   bulk 1 stream:   %8.1f MB/s%s%n", res.bulk1 / 1e6, cpuNote(res.bulk1Cpu));
            }
            case "bulk16" -> {
                res.bulk16Cpu = new double[4];
                res.bulk16 = bulk(path, 16, res.bulk16Cpu);
                out.printf("   bulk 16 streams: %8.1f MB/s%s%n", res.bulk16 / 1e6, cpuNote(res.bulk16Cpu));
            }
            case "latency" -> {
                res.latency = latency(path);
                Histogram h = res.latency;
                out.printf("   1 KiB echo: p50 %.1f µs  p90 %.1f  p99 %.1f  p99.9 %.1f  (n=%d)%n", h.getValueAtPercentile(50) / 1e3,
                        h.getValueAtPercentile(90) / 1e3, h.getValueAtPercentile(99) / 1e3, h.getValueAtPercentile(99.9) / 1e3,
                        h.getTotalCount());
            }
            case "open" -> {
                out.println("   tunnel open rate ...");
                double[] cpu = new double[4];
                res.openRate = openRate(path, cpu);
                out.printf("   tunnel open rate: %8.0f /s%s%n", res.openRate, String.format(Locale.ROOT,
                        "  (CPU µs per open: Java threads %.1f (proxy event loops %.1f), JVM process %.1f, external processes %.1f)",
                        cpu[0] / 1e3, cpu[3] / 1e3, cpu[1] / 1e3, cpu[2] / 1e3));
            }
            case "idle" -> idleMemory(path, res);
            case "http" -> http(path, res);
            default -> throw new IllegalArgumentException("unknown scenario " + sc);
        }
    }

    /** Opens a tunnel with a read timeout, so that a stalled path fails its scenario instead of hanging the run. */
    private static Socket open(Paths.BenchPath path) throws IOException {
        Socket s = path.open();
        s.setSoTimeout(30_000);
        return s;
    }

    private void warmup(Paths.BenchPath path) throws Exception {
        // JIT warm-up of both the path and the generator: echo and sink briefly.
        long end = System.nanoTime() + (long) (warmup * 1e9);
        try (Socket s = open(path)) {
            OutputStream o = s.getOutputStream();
            InputStream i = s.getInputStream();
            o.write('E');
            byte[] b = new byte[1024];
            while (System.nanoTime() < end) {
                o.write(b);
                new DataInputStream(i).readFully(b);
            }
        }
    }

    private static String cpuNote(double[] cpu) {
        return String.format(Locale.ROOT, "  (CPU µs per MB: Java threads %.0f (proxy event loops %.0f), JVM process %.0f, external processes %.0f)",
                cpu[0] / 1e3, cpu[3] / 1e3, cpu[1] / 1e3, cpu[2] / 1e3);
    }

    /**
     * Bytes/s delivered to the app by {@code streams} connections writing 64 KiB chunks flat out; fills
     * {@code cpu} with the CPU ns spent per MB delivered over the measured period by this JVM's Java
     * threads (generator, app, in-process proxies; not JIT or GC), by this whole JVM, and by the
     * path's external processes. On a shared machine the CPU per MB moves far less with the load
     * than the rate does.
     */
    private double bulk(Paths.BenchPath path, int streams, double[] cpu) throws Exception {
        List<Socket> sockets = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
            sockets.add(open(path));
        }
        AtomicReference<Throwable> err = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(streams);
        long warmNanos = (long) (warmup * 1e9);
        long measureNanos = (long) (seconds * 1e9);
        // The writers stop when told, after the window's closing CPU sample: a writer that ended at a
        // deadline before that sample was missing from it, so its CPU was never counted (the Java
        // threads' column held no generator CPU at all).
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        for (Socket s : sockets) {
            Thread t = new Thread(() -> {
                byte[] chunk = new byte[64 * 1024];
                try {
                    OutputStream o = s.getOutputStream();
                    o.write('S');
                    while (!stop.get()) {
                        o.write(chunk);
                    }
                } catch (IOException e) {
                    err.compareAndSet(null, e);
                } finally {
                    done.countDown();
                }
            }, "bulk-" + path.name);
            t.setDaemon(true);
            t.start();
        }
        Thread.sleep(warmNanos / 1_000_000);
        Process perf = Sys.perfStart(path.name + "-" + streams);
        Sys.profile("start," + System.getenv("ZEROHOP_BENCH_PROFILE"));
        Sys.Cpu c0 = Sys.cpu(path.pids());
        Map<String, long[]> tasks0 = Sys.TASKS ? Sys.tasks() : null;
        long b0 = AppServer.SINK.sum();
        long t0 = System.nanoTime();
        Thread.sleep(measureNanos / 1_000_000);
        long b1 = AppServer.SINK.sum();
        long t1 = System.nanoTime();
        Map<String, long[]> tasks1 = Sys.TASKS ? Sys.tasks() : null;
        Sys.Cpu c1 = Sys.cpu(path.pids());
        stop.set(true);
        Sys.profile("stop,collapsed,file=" + System.getenv("ZEROHOP_BENCH_PROFILE_DIR") + "/" + path.name + "-" + streams + ".collapsed");
        Sys.perfEnd(perf, path.name + "-" + streams, b1 - b0);
        double mb = Math.max(1, b1 - b0) / 1e6;
        if (tasks0 != null) {
            out.print(Sys.tasksPerMb(tasks0, tasks1, mb));
        }
        System.arraycopy(c1.perMbSince(c0, mb), 0, cpu, 0, cpu.length);
        done.await(10, java.util.concurrent.TimeUnit.SECONDS);
        for (Socket s : sockets) {
            s.close();
        }
        if (err.get() != null) {
            throw new IOException("bulk writer failed: " + err.get(), err.get());
        }
        return (b1 - b0) / ((t1 - t0) / 1e9);
    }

    /** 1 KiB request, 1 KiB response, one in flight, one connection. */
    private Histogram latency(Paths.BenchPath path) throws Exception {
        Histogram h = new Histogram(60_000_000_000L, 3);
        try (Socket s = open(path)) {
            OutputStream o = s.getOutputStream();
            DataInputStream i = new DataInputStream(s.getInputStream());
            o.write('E');
            byte[] req = new byte[1024];
            byte[] resp = new byte[1024];
            long warmEnd = System.nanoTime() + (long) (warmup * 1e9);
            while (System.nanoTime() < warmEnd) {
                o.write(req);
                i.readFully(resp);
            }
            long end = System.nanoTime() + (long) (seconds * 1e9);
            long now = System.nanoTime();
            while (now < end) {
                o.write(req);
                i.readFully(resp);
                long t = System.nanoTime();
                h.recordValue(t - now);
                now = t;
            }
        }
        return h;
    }

    /**
     * New tunnels per second: open, 1-byte echo (proves the far end is reached), graceful close; 2
     * threads. Warmed up with opens for {@code --warmup} seconds (at least 0.5 s): the path's echo
     * warm-up does not run the open's code (stream set-up, CONNECT, authorization, close), and on a
     * 2-vCPU machine the JIT is still compiling it after a few seconds, so a short warm-up measured the
     * JIT (0.86x TCP after it, issue 14's notes) rather than the path. Fills {@code cpu} with the CPU ns
     * per open over the measured window, as {@link #bulk} per MB: {Java threads, this JVM, external
     * processes, proxy event loops}; on a shared machine it moves far less with the load than the rate.
     */
    private double openRate(Paths.BenchPath path, double[] cpu) throws Exception {
        int threads = 2;
        AtomicLong count = new AtomicLong();
        AtomicReference<Throwable> err = new AtomicReference<>();
        long warm = Math.max(500_000_000L, (long) (warmup * 1e9));
        long measure = (long) (Math.min(seconds, 3) * 1e9);
        long start = System.nanoTime();
        long stopAt = start + warm + measure;
        CountDownLatch done = new CountDownLatch(threads);
        for (int t = 0; t < threads; t++) {
            Thread th = new Thread(() -> {
                try {
                    while (System.nanoTime() < stopAt && err.get() == null) {
                        try (Socket s = open(path)) {
                            OutputStream o = s.getOutputStream();
                            o.write(new byte[] {'E', 'x'});
                            InputStream in = s.getInputStream();
                            if (in.read() != 'x') {
                                throw new IOException("echo failed");
                            }
                            // Graceful close, as a well-behaved client does: FIN / END_STREAM, then
                            // wait for the app's. An abrupt close makes h2 proxies reset the stream,
                            // and resets are rate-limited (rapid-reset defences).
                            s.shutdownOutput();
                            if (in.read() != -1) {
                                throw new IOException("expected EOF after half-close");
                            }
                        }
                        count.incrementAndGet();
                    }
                } catch (Throwable e) {
                    err.compareAndSet(null, e);
                } finally {
                    done.countDown();
                }
            }, "open-" + path.name);
            th.setDaemon(true);
            th.start();
        }
        Thread.sleep(warm / 1_000_000);
        Map<String, long[]> tasks0 = Sys.TASKS ? Sys.tasks() : null;
        Sys.Cpu cpu0 = Sys.cpu(path.pids());
        long c0 = count.get();
        long t0 = System.nanoTime();
        Thread.sleep(measure / 1_000_000);
        long c1 = count.get();
        long t1 = System.nanoTime();
        Sys.Cpu cpu1 = Sys.cpu(path.pids());
        Map<String, long[]> tasks1 = Sys.TASKS ? Sys.tasks() : null;
        System.arraycopy(cpu1.perMbSince(cpu0, Math.max(1, c1 - c0)), 0, cpu, 0, cpu.length);
        if (tasks0 != null) {
            out.print(Sys.tasksPer(tasks0, tasks1, Math.max(1, c1 - c0), "open"));
        }
        done.await(20, java.util.concurrent.TimeUnit.SECONDS);
        if (err.get() != null) {
            throw new IOException("open failed after " + count.get() + " tunnels: " + err.get(), err.get());
        }
        return (c1 - c0) / ((t1 - t0) / 1e9);
    }

    /** Opens {@code idle} tunnels (each proven by a 1-byte echo) and measures heap after GC and RSS. */
    private void idleMemory(Paths.BenchPath path, Result res) throws Exception {
        out.println("   idle tunnels ...");
        int n0 = idle;
        if (path.fdsPerTunnel() > 0) {
            // No process of the path may run out of descriptors (RLIMIT_NOFILE is per process, and
            // a container may not let us raise it): cap the count and say so.
            long limit = Sys.fdLimit();
            long budget = limit - Sys.openFds() - 1000;
            int cap = (int) Math.max(100, budget / path.fdsPerTunnel());
            if (cap < n0) {
                res.idleNote = String.format(Locale.ROOT, "capped at %d of %d: RLIMIT_NOFILE %d per process, %d fds per tunnel in the busiest process",
                        cap, idle, limit, path.fdsPerTunnel());
                out.println("   idle: " + res.idleNote);
                n0 = cap;
            }
        }
        final int idle = n0;
        res.idleTunnels = idle;
        long[] before = Sys.memory(path.pids());
        List<Socket> sockets = new ArrayList<>(idle);
        try {
            long t0 = System.nanoTime();
            for (int n = 0; n < idle; n++) {
                Socket s = open(path);
                sockets.add(s);
                s.getOutputStream().write(new byte[] {'E', 'x'});
                if (s.getInputStream().read() != 'x') {
                    throw new IOException("echo failed on idle tunnel " + n);
                }
                if ((n + 1) % 1000 == 0) {
                    out.printf("   idle: %d tunnels open%n", n + 1);
                }
            }
            Thread.sleep(500);
            long[] after = Sys.memory(path.pids());
            res.heapPerTunnel = (after[0] - before[0]) / (double) idle;
            res.rssPerTunnel = (after[1] - before[1]) / (double) idle;
            res.extRssPerTunnel = (after[2] - before[2]) / (double) idle;
            out.printf("   %d idle tunnels (opened in %.1f s): JVM heap %+.0f B/tunnel, JVM RSS %+.0f B/tunnel, external RSS %+.0f B/tunnel%n",
                    idle, (System.nanoTime() - t0) / 1e9, res.heapPerTunnel, res.rssPerTunnel, res.extRssPerTunnel);
        } finally {
            for (Socket s : sockets) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // closing
                }
            }
            Thread.sleep(500);
        }
    }

    /** One h2load run: requests/s over the measured period and per-request latency (ns) from its log. */
    record Http(double rps, Histogram latency, long done, long non2xx, String command) {}

    /**
     * Small HTTP/1.1 requests through the path: first one allowed request (must be 200) and, when the
     * path has an HTTP rule, one refused request (must be 403), each on its own connection; then
     * h2load per client count ({@code --h1}, keep-alive, one request in flight per connection,
     * {@code GET /bench}, {@code seconds} measured after {@code httpWarmup} seconds of warm-up).
     */
    private void http(Paths.BenchPath path, Result res) throws Exception {
        InetSocketAddress front = path.httpFront();
        int ok = probe(front, Paths.HTTP_PATH);
        if (ok != 200) {
            throw new IOException("GET " + Paths.HTTP_PATH + " answered " + ok + ", expected 200");
        }
        if (path.deniedPath() != null) {
            int no = probe(front, path.deniedPath());
            if (no != 403) {
                throw new IOException("GET " + path.deniedPath() + " answered " + no + ", expected 403 from the path's HTTP rule");
            }
            out.printf("   rules in force: GET %s → 200, GET %s → 403%n", Paths.HTTP_PATH, path.deniedPath());
        }
        String h2load = Paths.which("h2load");
        if (h2load == null) {
            throw new IOException("h2load not installed (apt-get install -y nghttp2-client)");
        }
        for (int clients : httpClients) {
            Path logFile = Files.createTempFile("h2load", ".log");
            try {
                long warmUs = httpWarmup * 1_000_000L;
                List<String> cmd = List.of(h2load, "--h1", "-c", Integer.toString(clients), "-t", "1", "-m", "1",
                        "-D", Long.toString(Math.max(1, Math.round(seconds))), "--warm-up-time", Integer.toString(httpWarmup),
                        "--log-file=" + logFile, "http://" + front.getAddress().getHostAddress() + ":" + front.getPort() + Paths.HTTP_PATH);
                long startUs = Instant.now().toEpochMilli() * 1000;
                Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
                String text = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
                if (!p.waitFor((long) seconds + httpWarmup + 30, java.util.concurrent.TimeUnit.SECONDS) || p.exitValue() != 0) {
                    p.destroyForcibly();
                    throw new IOException("h2load failed: " + text.strip());
                }
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("finished in [^,]+, ([0-9.]+) req/s").matcher(text);
                java.util.regex.Matcher st = java.util.regex.Pattern.compile("status codes: (\\d+) 2xx, (\\d+) 3xx, (\\d+) 4xx, (\\d+) 5xx")
                        .matcher(text);
                java.util.regex.Matcher rq = java.util.regex.Pattern.compile("requests: \\d+ total, \\d+ started, (\\d+) done, \\d+ succeeded, (\\d+) failed")
                        .matcher(text);
                if (!m.find() || !st.find() || !rq.find()) {
                    throw new IOException("unexpected h2load output: " + text.strip());
                }
                long non2xx = Long.parseLong(st.group(2)) + Long.parseLong(st.group(3)) + Long.parseLong(st.group(4));
                long failed = Long.parseLong(rq.group(2));
                Histogram h = new Histogram(60_000_000_000L, 3);
                // The log also has the warm-up's requests: keep those that started after it.
                for (String line : Files.readAllLines(logFile)) {
                    String[] f = line.split("\t");
                    if (f.length >= 3 && Long.parseLong(f[0]) >= startUs + warmUs && f[1].equals("200")) {
                        h.recordValue(Long.parseLong(f[2]) * 1000);
                    }
                }
                Http r = new Http(Double.parseDouble(m.group(1)), h, Long.parseLong(rq.group(1)), non2xx + failed, String.join(" ", cmd.subList(1, cmd.size())).replace(logFile.toString(), "FILE"));
                res.http.put(clients, r);
                out.printf("   HTTP %2d client(s): %8.0f req/s  p50 %.1f µs  p99 %.1f µs  p99.9 %.1f µs  (n=%d, non-2xx or failed %d)%n", clients, r.rps,
                        h.getValueAtPercentile(50) / 1e3, h.getValueAtPercentile(99) / 1e3, h.getValueAtPercentile(99.9) / 1e3,
                        h.getTotalCount(), r.non2xx);
                if (r.non2xx > 0) {
                    res.errors.add("http: " + r.non2xx + " of " + r.done + " requests with " + clients + " client(s) were not 2xx or failed");
                }
            } finally {
                Files.deleteIfExists(logFile);
            }
        }
    }

    /** One {@code GET path} on a fresh connection ({@code Connection: close}); the response's status code. */
    private static int probe(InetSocketAddress front, String path) throws IOException {
        try (Socket s = Paths.BenchPath.tcp(front)) {
            s.setSoTimeout(30_000);
            s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            String status = new String(s.getInputStream().readNBytes(12), java.nio.charset.StandardCharsets.US_ASCII);
            if (!status.startsWith("HTTP/1.1 ") || status.length() < 12) {
                throw new IOException("GET " + path + ": not an HTTP/1.1 response: \"" + status + "\"");
            }
            return Integer.parseInt(status.substring(9, 12));
        }
    }

    /** Machine, JVM and memory facts. */
    static final class Sys {
        /**
         * {@code ZEROHOP_BENCH_TASKS=1}: each bulk scenario (and, per open, the open scenario) also prints, per group of this JVM's threads
         * (the thread name without its trailing numbers: {@code bulk-zerohop-embedded}, {@code hbone-client},
         * {@code hbone-server}, {@code C2 CompilerThre}, ...), CPU µs (schedstat, ns resolution), voluntary
         * context switches (sleeps) and involuntary ones (preemptions) per MB delivered in the measured
         * window, from {@code /proc/self/task/*}, and the heap bytes its Java threads allocated
         * ({@code com.sun.management.ThreadMXBean}). Linux only; counts the load inflates far less than CPU time.
         */
        static final boolean TASKS = "1".equals(System.getenv("ZEROHOP_BENCH_TASKS"));

        /** tid → [schedstat on-CPU ns, voluntary switches, involuntary switches] with the group name as key prefix "group\0tid". */
        static Map<String, long[]> tasks() {
            Map<String, long[]> m = new java.util.HashMap<>();
            String[] tids = new java.io.File("/proc/self/task").list();
            if (tids == null) {
                return m;
            }
            for (String tid : tids) {
                try {
                    Path d = Path.of("/proc/self/task", tid);
                    String comm = Files.readString(d.resolve("comm")).strip();
                    long cpu = Long.parseLong(Files.readString(d.resolve("schedstat")).split(" ")[0]);
                    long vol = 0;
                    long invol = 0;
                    for (String line : Files.readAllLines(d.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            vol = Long.parseLong(line.substring(line.indexOf(':') + 1).strip());
                        } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
                            invol = Long.parseLong(line.substring(line.indexOf(':') + 1).strip());
                        }
                    }
                    m.put(group(comm) + "\0" + tid, new long[] {cpu, vol, invol, 0});
                } catch (IOException | RuntimeException e) {
                    // ended
                }
            }
            // Heap bytes allocated, per Java thread (the JVM's own count), grouped as /proc names them.
            java.lang.management.ThreadMXBean t = ManagementFactory.getThreadMXBean();
            if (t instanceof com.sun.management.ThreadMXBean sun) {
                for (java.lang.management.ThreadInfo info : t.getThreadInfo(t.getAllThreadIds())) {
                    if (info != null) {
                        long bytes = sun.getThreadAllocatedBytes(info.getThreadId());
                        String name = info.getThreadName();
                        if (bytes > 0) {
                            m.put(group(name.substring(0, Math.min(15, name.length()))) + "\0j" + info.getThreadId(), new long[] {0, 0, 0, bytes});
                        }
                    }
                }
            }
            return m;
        }

        /** A thread's group: its name (as /proc gives it, 15 characters at most) without trailing numbers. */
        private static String group(String name) {
            return name.replaceAll("[-#0-9 ]+$", "");
        }

        /** Per thread group between two {@link #tasks()}: CPU µs, sleeps and preemptions per MB; threads counted per tid. */
        static String tasksPerMb(Map<String, long[]> before, Map<String, long[]> after, double mb) {
            return tasksPer(before, after, mb, "MB");
        }

        /** As {@link #tasksPerMb}, per {@code n} of {@code unit} (the open scenario: per open). */
        static String tasksPer(Map<String, long[]> before, Map<String, long[]> after, double mb, String unit) {
            Map<String, double[]> groups = new java.util.TreeMap<>();
            for (Map.Entry<String, long[]> e : after.entrySet()) {
                long[] was = before.getOrDefault(e.getKey(), new long[4]);
                long[] now = e.getValue();
                if (now[0] == was[0] && now[1] == was[1] && now[2] == was[2] && now[3] == was[3]) {
                    continue;
                }
                double[] g = groups.computeIfAbsent(e.getKey().substring(0, e.getKey().indexOf('\0')), k -> new double[5]);
                g[0] += (now[0] - was[0]) / 1e3;
                g[1] += now[1] - was[1];
                g[2] += now[2] - was[2];
                g[4] += now[3] - was[3];
                if (!e.getKey().contains("\0j")) {
                    g[3]++;
                }
            }
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                    "     per %s (%.0f): thread group | threads | CPU µs | sleeps | preemptions | heap bytes allocated%n", unit, mb));
            double[] total = new double[5];
            for (Map.Entry<String, double[]> e : groups.entrySet()) {
                double[] g = e.getValue();
                sb.append(String.format(Locale.ROOT, "     %-22s %3.0f %9.1f %8.3f %8.3f %10.0f%n", e.getKey(), g[3], g[0] / mb, g[1] / mb, g[2] / mb, g[4] / mb));
                for (int i = 0; i < 5; i++) {
                    total[i] += g[i];
                }
            }
            sb.append(String.format(Locale.ROOT, "     %-22s %3.0f %9.1f %8.3f %8.3f %10.0f%n", "all threads", total[3], total[0] / mb, total[1] / mb, total[2] / mb, total[4] / mb));
            return sb.toString();
        }

        /**
         * With {@code ZEROHOP_BENCH_PERF=EVENTS} (perf's event list, e.g. {@code task-clock,raw_syscalls:sys_enter})
         * and {@code ZEROHOP_BENCH_PERF_DIR}, counts those events per thread of this JVM over each bulk
         * scenario's measured window with {@code perf stat --per-thread} (system calls per MB: a count the
         * machine's load does not inflate); writes {@code DIR/<path>-<streams>.csv} and, beside it, the
         * bytes delivered in that window ({@code .bytes}). Null when not asked for or perf cannot start.
         */
        static Process perfStart(String tag) throws InterruptedException {
            String events = System.getenv("ZEROHOP_BENCH_PERF");
            String dir = System.getenv("ZEROHOP_BENCH_PERF_DIR");
            if (events == null || dir == null) {
                return null;
            }
            try {
                Process p = new ProcessBuilder("perf", "stat", "--per-thread", "-x,", "-e", events, "-p",
                        Long.toString(ProcessHandle.current().pid()), "-o", Path.of(dir, tag + ".csv").toString())
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                Thread.sleep(300); // attached to every thread before the window opens
                return p;
            } catch (IOException e) {
                System.err.println("perf not started: " + e);
                return null;
            }
        }

        /**
         * With {@code ZEROHOP_BENCH_PROFILE=<async-profiler options>} (e.g. {@code event=cpu,interval=1ms,threads})
         * and {@code ZEROHOP_BENCH_PROFILE_DIR}, profiles exactly each bulk scenario's measured window with
         * async-profiler's Java API ({@code one.profiler.AsyncProfiler} on the class path, its library loaded
         * with {@code -agentpath:.../libasyncProfiler.so}) and writes {@code DIR/<path>-<streams>.collapsed}.
         */
        static void profile(String command) {
            if (System.getenv("ZEROHOP_BENCH_PROFILE") == null || System.getenv("ZEROHOP_BENCH_PROFILE_DIR") == null) {
                return;
            }
            try {
                Class<?> c = Class.forName("one.profiler.AsyncProfiler");
                Object p = c.getMethod("getInstance").invoke(null);
                c.getMethod("execute", String.class).invoke(p, command);
            } catch (ReflectiveOperationException | LinkageError e) {
                System.err.println("async-profiler not usable: " + e);
            }
        }

        static void perfEnd(Process perf, String tag, long bytes) throws IOException, InterruptedException {
            if (perf == null) {
                return;
            }
            new ProcessBuilder("kill", "-INT", Long.toString(perf.pid())).start().waitFor();
            perf.waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
            Files.writeString(Path.of(System.getenv("ZEROHOP_BENCH_PERF_DIR"), tag + ".bytes"), Long.toString(bytes));
        }

        static String machine() {
            String cpu = "unknown";
            int cores = Runtime.getRuntime().availableProcessors();
            try {
                for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                    if (line.startsWith("model name")) {
                        cpu = line.substring(line.indexOf(':') + 1).trim();
                        break;
                    }
                }
            } catch (IOException ignored) {
                // not Linux
            }
            String kernel = System.getProperty("os.name") + " " + System.getProperty("os.version");
            String tls;
            try {
                tls = "TLS provider (zerohop default): " + MeshTls.defaultProvider() + ", " + OpenSsl.versionString()
                        + " (netty-tcnative available: " + OpenSsl.isAvailable() + ")";
            } catch (Throwable t) {
                tls = "TLS provider: " + t;
            }
            String jvm = System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version");
            String flags = String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments());
            String gc = ManagementFactory.getGarbageCollectorMXBeans().stream().map(b -> b.getName()).toList().toString();
            return String.format(Locale.ROOT, "commit: %s%nmachine: %d cores, %s, kernel %s%nJVM: %s, flags [%s], GC %s, max heap %d MiB%n%s%n"
                            + "Netty transport: %s; tools: %s",
                    commit(), cores, cpu, kernel, jvm, flags, gc, Runtime.getRuntime().maxMemory() >> 20, tls,
                    Epoll.isAvailable() ? "native epoll" : "NIO", tools());
        }

        /** The git commit of the working directory, with "+ uncommitted changes" when it is dirty. */
        static String commit() {
            try {
                Process p = new ProcessBuilder("git", "rev-parse", "--short", "HEAD").redirectErrorStream(true).start();
                String head = new String(p.getInputStream().readAllBytes()).strip();
                if (p.waitFor() != 0) {
                    return "unknown (not a git checkout)";
                }
                Process d = new ProcessBuilder("git", "status", "--porcelain", "--untracked-files=no").redirectErrorStream(true).start();
                String dirty = new String(d.getInputStream().readAllBytes()).strip();
                d.waitFor();
                return head + (dirty.isEmpty() ? "" : " + uncommitted changes");
            } catch (IOException | InterruptedException e) {
                return "unknown (" + e.getMessage() + ")";
            }
        }

        static String tools() {
            List<String> v = new ArrayList<>();
            v.add(version(List.of("haproxy", "-v")));
            v.add(version(List.of(Paths.which("stunnel4", "stunnel") == null ? "stunnel" : Paths.which("stunnel4", "stunnel"), "-version")));
            v.add(version(List.of("nghttpx", "--version")));
            v.add(version(List.of("h2load", "--version")));
            return String.join("; ", v);
        }

        static String version(List<String> cmd) {
            String bin = Paths.which(cmd.get(0));
            if (bin == null && !cmd.get(0).startsWith("/")) {
                return cmd.get(0) + " missing";
            }
            try {
                Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
                String s = new String(p.getInputStream().readAllBytes());
                p.waitFor();
                for (String line : s.split("\n")) {
                    String l = line.trim();
                    if (l.toLowerCase(Locale.ROOT).matches(".*(version|stunnel \\d|nghttp2/).*") && !l.isEmpty()) {
                        return l.length() > 80 ? l.substring(0, 80) : l;
                    }
                }
                return cmd.get(0) + " (version unknown)";
            } catch (Exception e) {
                return cmd.get(0) + " missing";
            }
        }

        /** Soft RLIMIT_NOFILE of this process (the JVM raises it to the hard limit at start). */
        static long fdLimit() {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                    if (line.startsWith("Max open files")) {
                        String[] f = line.substring("Max open files".length()).trim().split("\\s+");
                        return f[0].equals("unlimited") ? 1 << 20 : Long.parseLong(f[0]);
                    }
                }
            } catch (IOException | NumberFormatException ignored) {
                // not Linux
            }
            return 4096;
        }

        static long openFds() {
            String[] fds = new java.io.File("/proc/self/fd").list();
            return fds == null ? 0 : fds.length;
        }

        static String loadAverage() {
            try {
                return Files.readString(Path.of("/proc/loadavg")).trim();
            } catch (IOException e) {
                return String.valueOf(ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
            }
        }

        /** [heap used after GC, RSS of this JVM, RSS of the given processes and their descendants], bytes. */
        /**
         * CPU ns so far: per live Java thread of this JVM (id → [cpu, 1 when it is a proxy event loop]),
         * this JVM, and the external processes and their descendants.
         */
        record Cpu(Map<Long, long[]> threads, long process, long ext) {
            /**
             * ns per MB between {@code before} and this: {Java threads, this JVM, external processes,
             * proxy event loops}. Per thread, so a thread that ends in between (another scenario's
             * writer) cannot make the sum negative; a thread that starts counts from zero.
             */
            double[] perMbSince(Cpu before, double mb) {
                long threadsNs = 0;
                long loopsNs = 0;
                for (Map.Entry<Long, long[]> e : threads.entrySet()) {
                    long[] was = before.threads.get(e.getKey());
                    long d = e.getValue()[0] - (was == null ? 0 : was[0]);
                    threadsNs += d;
                    if (e.getValue()[1] == 1) {
                        loopsNs += d;
                    }
                }
                return new double[] {threadsNs / mb, (process - before.process) / mb, (ext - before.ext) / mb, loopsNs / mb};
            }
        }

        /** The event-loop threads of the in-process zerohop proxies, clients and servers (not the app's, not the generator). */
        static boolean proxyLoop(String threadName) {
            return threadName.startsWith("zerohop-") || threadName.startsWith("hbone-");
        }

        static Cpu cpu(List<Long> pids) {
            java.lang.management.ThreadMXBean t = java.lang.management.ManagementFactory.getThreadMXBean();
            Map<Long, long[]> threads = new java.util.HashMap<>();
            for (java.lang.management.ThreadInfo info : t.getThreadInfo(t.getAllThreadIds())) {
                if (info == null) {
                    continue;
                }
                long c = t.getThreadCpuTime(info.getThreadId());
                if (c > 0) {
                    threads.put(info.getThreadId(), new long[] {c, proxyLoop(info.getThreadName()) ? 1 : 0});
                }
            }
            long process = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                    .getProcessCpuTime();
            long ext = 0;
            for (long pid : pids) {
                List<Long> all = new ArrayList<>();
                all.add(pid);
                ProcessHandle.of(pid).ifPresent(h -> h.descendants().forEach(d -> all.add(d.pid())));
                for (long p : all) {
                    try {
                        String stat = Files.readString(Path.of("/proc/" + p + "/stat"));
                        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                        ext += (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10_000_000L; // utime + stime, 100 ticks/s
                    } catch (IOException | RuntimeException e) {
                        // exited
                    }
                }
            }
            return new Cpu(threads, process, ext);
        }

        static long[] memory(List<Long> pids) throws InterruptedException {
            for (int i = 0; i < 3; i++) {
                System.gc();
                Thread.sleep(100);
            }
            long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
            long rss = rss("self");
            long ext = 0;
            for (long pid : pids) {
                ext += rss(Long.toString(pid));
                // nghttpx (and haproxy in master-worker mode) serve from forked workers
                for (ProcessHandle d : ProcessHandle.of(pid).map(h -> h.descendants().toList()).orElse(List.of())) {
                    ext += rss(Long.toString(d.pid()));
                }
            }
            return new long[] {heap, rss, ext};
        }

        static long rss(String pid) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                    if (line.startsWith("VmRSS:")) {
                        return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                    }
                }
            } catch (IOException | NumberFormatException ignored) {
                // gone
            }
            return 0;
        }
    }
}
