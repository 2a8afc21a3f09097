package io.zerohop.benchmarks;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.ReadOnlyHttp2Headers;
import io.netty.util.AsciiString;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.HashMap;
import java.util.Map;

/**
 * The load runner's {@code zerohop-node} pair ({@link Paths.ZerohopNode}: proxy A captures, HBONE, proxy B dials the
 * app) driven without the load runner: {@code -Dwarm} opens (default 300), then {@code N} (argument, default 2,000) by
 * {@code -Dthreads} threads (default 1), each the {@code open} scenario's open (1-byte echo, half-close, end of stream,
 * close). Prints first the HPACK block of a 200 alone and with the {@code bench/server} baggage for a connection's
 * first three 200s (Netty's {@code DefaultHttp2HeadersEncoder}, the frame codec's), then per measured open: wall time,
 * this JVM's CPU, its threads' voluntary and involuntary context switches ({@code /proc/self/task/N/status}), and the
 * bytes proxy B's HBONE socket sent and received ({@code ss -tin}: {@code bytes_acked}, {@code bytes_received}, TLS
 * records included). {@code -Dzerohop.bench.nodeNet} and the access log (off) as the load runner's. Written to measure the 200's
 * {@code baggage} header on the wire ({@code results/baggage-*.md}); needs {@code ss} (iproute2).
 *
 * <pre>java -Dzerohop.bench.nodeNet=127.0.123 -Dwarm=3000 -Dthreads=2 -cp benchmarks.jar io.zerohop.benchmarks.NodeOpenProbe 8000</pre>
 */
public final class NodeOpenProbe {
    public static void main(String[] args) throws Exception {
        // As the load runner: no access-log line per tunnel (each is work for a log writer thread) unless asked for.
        if (System.getProperty("org.slf4j.simpleLogger.log.io.zerohop.access") == null) {
            System.setProperty("org.slf4j.simpleLogger.log.io.zerohop.access", "warn");
        }
        String baggage = "k8s.cluster.name=Kubernetes,k8s.namespace.name=bench,k8s.deployment.name=server,service.name=server,service.version=latest";
        for (boolean withBaggage : new boolean[] {false, true}) {
            DefaultHttp2HeadersEncoder enc = new DefaultHttp2HeadersEncoder(); // Netty's default, as the frame codec's
            StringBuilder sb = new StringBuilder(withBaggage ? "200 + baggage (" + baggage.length() + " B value):" : "200 alone:");
            for (int i = 0; i < 3; i++) {
                ByteBuf b = Unpooled.buffer();
                enc.encodeHeaders(2 * i + 1, withBaggage
                        ? ReadOnlyHttp2Headers.serverHeaders(false, AsciiString.cached("200"), AsciiString.cached("baggage"), new AsciiString(baggage))
                        : ReadOnlyHttp2Headers.serverHeaders(false, AsciiString.cached("200")), b);
                sb.append(" open ").append(i + 1).append(": ").append(b.readableBytes()).append(" B block + 9 B frame header;");
                b.release();
            }
            System.out.println(sb);
        }
        int n = Integer.parseInt(args.length > 0 ? args[0] : "2000");
        String net = System.getProperty("zerohop.bench.nodeNet", "127.0.0");
        try (Paths.Env env = new Paths.Env(); Paths.ZerohopNode p = new Paths.ZerohopNode()) {
            p.start(env);
            for (int i = 0; i < Integer.getInteger("warm", 300); i++) {
                once(p);
            }
            Map<String, long[]> s0 = ss(net);
            com.sun.management.OperatingSystemMXBean os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
            long cpu0 = os.getProcessCpuTime();
            long[] cs0 = switches();
            long w0 = System.nanoTime();
            int threads = Integer.getInteger("threads", 1);
            Thread[] ts = new Thread[threads];
            for (int k = 0; k < threads; k++) {
                ts[k] = new Thread(() -> {
                    try {
                        for (int i = 0; i < n / threads; i++) {
                            once(p);
                        }
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                ts[k].start();
            }
            for (Thread t : ts) {
                t.join();
            }
            long w1 = System.nanoTime();
            long cpu1 = os.getProcessCpuTime();
            long[] cs1 = switches();
            Map<String, long[]> s1 = ss(net);
            System.out.printf("per open: wall %.1f us, JVM CPU %.1f us, voluntary switches %.2f, involuntary %.2f (%d opens, %d threads)%n",
                    (w1 - w0) / 1e3 / n, (cpu1 - cpu0) / 1e3 / n, (cs1[0] - cs0[0]) / (double) n, (cs1[1] - cs0[1]) / (double) n, n, threads);
            for (Map.Entry<String, long[]> e : s1.entrySet()) {
                long[] was = s0.get(e.getKey());
                if (was == null) {
                    System.out.println("new socket " + e.getKey());
                    continue;
                }
                System.out.printf("proxy B's HBONE socket %s: per open %.2f B sent (acked), %.2f B received, over %d opens%n",
                        e.getKey(), (e.getValue()[0] - was[0]) / (double) n, (e.getValue()[1] - was[1]) / (double) n, n);
            }
        }
        System.exit(0);
    }

    /** Sum over this JVM's threads of voluntary and involuntary context switches (/proc/self/task/N/status). */
    private static long[] switches() throws Exception {
        long v = 0, iv = 0;
        try (var dirs = java.nio.file.Files.newDirectoryStream(java.nio.file.Path.of("/proc/self/task"))) {
            for (java.nio.file.Path t : dirs) {
                try {
                    for (String line : java.nio.file.Files.readAllLines(t.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            v += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
                            iv += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                } catch (java.io.IOException e) {
                    // ended
                }
            }
        }
        return new long[] {v, iv};
    }

    private static void once(Paths.ZerohopNode p) throws Exception {
        try (Socket s = p.open()) {
            s.setSoTimeout(30_000);
            OutputStream o = s.getOutputStream();
            o.write(new byte[] {'E', 'x'});
            InputStream in = s.getInputStream();
            if (in.read() != 'x') {
                throw new IllegalStateException("echo failed");
            }
            s.shutdownOutput();
            if (in.read() != -1) {
                throw new IllegalStateException("expected EOF");
            }
        }
    }

    /** Established sockets whose local address is proxy B's (NET.22) and peer 127.0.0.1 (proxy A's pooled client): bytes_acked, bytes_received. */
    private static Map<String, long[]> ss(String net) throws Exception {
        Process pr = new ProcessBuilder("ss", "-tinH", "state", "established", "src", net + ".22", "dst", "127.0.0.1").start();
        String out = new String(pr.getInputStream().readAllBytes());
        pr.waitFor();
        Map<String, long[]> m = new HashMap<>();
        String key = null;
        for (String line : out.split("\n")) {
            if (!line.startsWith("\t") && !line.startsWith(" ") && !line.isBlank()) {
                String[] f = line.trim().split("\\s+");
                key = f[2] + " -> " + f[3];
            } else if (key != null) {
                long acked = field(line, "bytes_acked:");
                long recv = field(line, "bytes_received:");
                m.put(key, new long[] {acked, recv});
            }
        }
        return m;
    }

    private static long field(String line, String name) {
        int i = line.indexOf(name);
        if (i < 0) {
            return 0;
        }
        int j = i + name.length();
        int k = j;
        while (k < line.length() && Character.isDigit(line.charAt(k))) {
            k++;
        }
        return Long.parseLong(line.substring(j, k));
    }
}
