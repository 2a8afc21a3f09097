package io.zerohop.cli.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.Route;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import javax.net.SocketFactory;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The proxy's standard output and error are pipes that nobody reads for a while (a log shipper that
 * stopped reading, {@code kubectl logs} back-pressure): tunnels must keep flowing. Before, the access
 * line of every closed tunnel was written to the pipe on the tunnel's event loop (slf4j-simple on
 * stderr; {@code --access-log-format ztunnel} on stdout); once the pipe's 64 KiB were full that
 * write blocked the loop and every tunnel on it stalled. ztunnel writes its log through one
 * background thread with room for 10,000 lines, not lossy (istio/ztunnel src/telemetry.rs
 * {@code setup_logging}: {@code NonBlockingBuilder::lossy(false).buffered_lines_limit(10000)}), and
 * its {@code WorkerGuard} flushes what is queued at exit; so must zerohop: every tunnel here echoes
 * while the pipe is stalled, and once the pipe is read again every line is there (none lost),
 * including the line of a tunnel that ends during the drain, before {@code zerohop proxy: stopped}.
 *
 * <p>Progress, not time, is asserted: tunnel after tunnel must echo; the 10 s read timeout only ends a
 * run that has stalled. Loopback only (127.0.44.x), no root needed.
 */
@Timeout(120)
class LogPipeE2EIT {
    static final SpiffeId FRONTEND = SpiffeIds.istio("cluster.local", "prod", "frontend");
    static final SpiffeId BACKEND = SpiffeIds.istio("cluster.local", "prod", "backend");
    /** Well over a 64 KiB pipe of access lines (~200-450 bytes each), well under ztunnel's 10,000 buffered lines. */
    static final int TUNNELS = 1500;

    @ParameterizedTest(name = "--access-log-format {0}")
    @ValueSource(strings = {"zerohop", "ztunnel"})
    void tunnelsFlowWhileNobodyReadsTheLogAndNoLineIsLost(String format) throws Exception {
        Path jar = Path.of(System.getProperty("zerohop.e2e.jar"));
        Path work = DrainE2EIT.backendNode(jar, "logpipe-" + format, "127.0.44.2", "127.0.44.3");
        InetAddress ip = InetAddress.getByName("127.0.44.2");
        Process proxy = new ProcessBuilder(NodeProxyE2EIT.java(), "-Xmx256m", "-XX:+UseSerialGC", "-jar", jar.toString(), "proxy",
                "--ca", work.resolve("ca").toString(), "--workloads", work.resolve("workloads.yaml").toString(), "--node", "n1",
                "--inbound", "127.0.44.2:0", "--metrics", "off", "--readiness", "off", "--admin", "off", "--drain", "5s",
                "--access-log-format", format).start();
        proxy.getOutputStream().close();
        GatedPump out = new GatedPump(proxy.getInputStream(), work.resolve("proxy.out"));
        GatedPump err = new GatedPump(proxy.getErrorStream(), work.resolve("proxy.err"));
        try (ServerSocket app = new ServerSocket(0, 200, ip); Echo echo = new Echo(app)) {
            String ready = out.await(l -> l.contains("zerohop proxy ready"), Duration.ofSeconds(40));
            InetSocketAddress hbone = new InetSocketAddress(ip, Integer.parseInt(ready.replaceAll(".*hbone 127\\.0\\.44\\.2:(\\d+).*", "$1")));
            // From here on nobody reads either pipe: the kernel's pipe buffer fills and stays full.
            out.stop();
            err.stop();

            InMemoryCa ca = InMemoryCa.load(work.resolve("ca"), Duration.ofHours(1));
            MeshTls tls = MeshTls.builder(ca).build();
            try (HboneClient client = HboneClient.builder().tls(tls).identity(FRONTEND).build()) {
                SocketFactory sf = client.socketFactory(dst -> new Route(hbone, BACKEND));
                for (int i = 0; i < TUNNELS; i++) {
                    try (Socket s = sf.createSocket(ip, app.getLocalPort())) {
                        s.setSoTimeout(10_000);
                        byte[] ping = String.format("ping %05d\n", i).getBytes(StandardCharsets.US_ASCII);
                        s.getOutputStream().write(ping);
                        byte[] back = s.getInputStream().readNBytes(ping.length);
                        assertThat(new String(back, StandardCharsets.US_ASCII)).as("tunnel #%d's echo", i)
                                .isEqualTo(new String(ping, StandardCharsets.US_ASCII));
                    } catch (SocketTimeoutException stalled) {
                        fail("tunnel #" + i + " of " + TUNNELS + " did not echo while nobody read the proxy's log: the tunnels stalled"
                                + " behind the log pipe (" + format + " format)", stalled);
                    }
                }
                // The last tunnel ends during the drain: its line, too, must be written before the exit.
                Socket last = sf.createSocket(ip, app.getLocalPort());
                last.setSoTimeout(10_000);
                last.getOutputStream().write("last\n".getBytes(StandardCharsets.US_ASCII));
                assertThat(new String(last.getInputStream().readNBytes(5), StandardCharsets.US_ASCII)).isEqualTo("last\n");

                out.resume();
                err.resume();
                int from = out.size();
                // SIGTERM through the handle: Process.destroy() would also close the pipes the test reads.
                proxy.toHandle().destroy();
                out.await(from, l -> l.contains("zerohop proxy: SIGTERM, draining"), Duration.ofSeconds(20));
                last.close();
                assertThat(proxy.waitFor(30, TimeUnit.SECONDS)).as("the proxy exits after the drain").isTrue();
                assertThat(proxy.exitValue()).as("exit code after the drain").isZero();
            } finally {
                tls.close();
            }
            out.join();
            err.join();
            List<String> all = format.equals("ztunnel") ? out.lines() : err.lines();
            Predicate<String> accessLine = format.equals("ztunnel") ? l -> l.contains("\tinfo\taccess\tconnection complete\t")
                    && l.contains("direction=\"inbound\"") : l -> l.contains(" INFO access - inbound src=");
            assertThat(all.stream().filter(accessLine).count()).as("access lines: one per tunnel, none lost").isEqualTo(TUNNELS + 1);
            if (format.equals("ztunnel")) {
                // One stream: the drain's last access line comes before the proxy says it stopped.
                int lastLine = -1;
                int stopped = -1;
                for (int i = 0; i < all.size(); i++) {
                    if (accessLine.test(all.get(i)) && all.get(i).contains("bytes_sent=5 bytes_recv=5")) {
                        lastLine = i;
                    }
                    // In ztunnel's shape there, as the access lines are (LogShape.stdoutLine, LifecycleLineTest).
                    if (all.get(i).endsWith("\tinfo\tzerohop\tzerohop proxy: stopped")) {
                        stopped = i;
                    }
                }
                assertThat(lastLine).as("the access line of the tunnel that ended during the drain").isNotNegative();
                assertThat(stopped).as("'zerohop proxy: stopped' after that line").isGreaterThan(lastLine);
            }
        } finally {
            out.resume();
            err.resume();
            proxy.destroyForcibly();
        }
    }

    /** Reads a child's stream line by line into a file and a list; {@link #stop} leaves the pipe unread until {@link #resume}. */
    static final class GatedPump {
        private final List<String> lines = new ArrayList<>();
        private final Thread thread;
        private volatile CountDownLatch gate = new CountDownLatch(0);
        private volatile boolean done;

        GatedPump(InputStream in, Path file) {
            thread = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                     var w = Files.newBufferedWriter(file)) {
                    for (String line; (line = r.readLine()) != null; ) {
                        w.write(line);
                        w.write('\n');
                        synchronized (lines) {
                            lines.add(line);
                            lines.notifyAll();
                        }
                        gate.await();
                    }
                } catch (IOException | InterruptedException e) {
                    // the process was killed; what was read is kept
                } finally {
                    done = true;
                    synchronized (lines) {
                        lines.notifyAll();
                    }
                }
            }, "logpipe-pump");
            thread.setDaemon(true);
            thread.start();
        }

        void stop() {
            gate = new CountDownLatch(1);
        }

        void resume() {
            gate.countDown();
        }

        int size() {
            synchronized (lines) {
                return lines.size();
            }
        }

        List<String> lines() {
            synchronized (lines) {
                return List.copyOf(lines);
            }
        }

        void join() throws InterruptedException {
            thread.join(30_000);
        }

        String await(Predicate<String> p, Duration max) throws InterruptedException {
            return await(0, p, max);
        }

        String await(int from, Predicate<String> p, Duration max) throws InterruptedException {
            long end = System.nanoTime() + max.toNanos();
            synchronized (lines) {
                for (int i = from; ; ) {
                    for (; i < lines.size(); i++) {
                        if (p.test(lines.get(i))) {
                            return lines.get(i);
                        }
                    }
                    long left = end - System.nanoTime();
                    if (done || left <= 0) {
                        throw new AssertionError("no such line in " + lines);
                    }
                    TimeUnit.NANOSECONDS.timedWait(lines, left);
                }
            }
        }
    }

    /** Echoes every connection until its end, one thread per connection. */
    static final class Echo implements AutoCloseable {
        private final Thread acceptor;

        Echo(ServerSocket app) {
            acceptor = new Thread(() -> {
                while (!app.isClosed()) {
                    try {
                        Socket s = app.accept();
                        Thread t = new Thread(() -> {
                            try (s; InputStream in = s.getInputStream(); OutputStream o = s.getOutputStream()) {
                                in.transferTo(o);
                            } catch (IOException e) {
                                // reset by the proxy: nothing to echo
                            }
                        }, "logpipe-echo");
                        t.setDaemon(true);
                        t.start();
                    } catch (IOException e) {
                        return;
                    }
                }
            }, "logpipe-accept");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        @Override
        public void close() {
            acceptor.interrupt();
        }
    }
}
