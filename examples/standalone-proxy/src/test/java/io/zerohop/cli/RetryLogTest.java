package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What an operator reads while {@code zerohop proxy} waits for a dependency that is not there: one
 * line per retry naming the address and the cause, no stack trace, and no ready line. The proxy runs
 * in a JVM of its own on the test classpath, so java-spiffe's java.util.logging records and fabric8's
 * slf4j records reach its stderr exactly as in the shipped jar (the CLI's simplelogger.properties is
 * on that classpath). The tests wait for lines, never for time, and stop the proxy with SIGTERM.
 */
class RetryLogTest {
    /** slf4j-simple's line: date, level, short logger name, message. */
    private static final Pattern LOG_LINE = Pattern.compile("^\\S+ (TRACE|DEBUG|INFO|WARN|ERROR) (\\S+) - (.*)$");

    @Test
    @Timeout(120)
    @DisplayName("--spire-socket with nothing listening: one WARN per attempt naming the socket and the cause, no stack trace,"
            + " back-off, never ready; SIGTERM ends the wait with exit 0")
    void spireSocketWithNothingListening(@TempDir Path dir) throws Exception {
        Path socket = dir.resolve("agent.sock");
        Pattern retry = Pattern.compile(Pattern.quote("Workload API at unix:" + socket + ": the agent is unreachable (UNAVAILABLE: io"
                + " exception: no such file: no socket at " + socket + ") (attempt ") + "(\\d+)\\); no SVID yet; next try in (\\d+)s"
                + " \\(back-off growing by 1s up to 30s, as go-spiffe's\\)");
        try (Proc p = Proc.start(List.of("proxy", "--spire-socket", socket.toString(), "--inbound", "127.0.0.1:0",
                "--metrics", "off", "--readiness", "off", "--admin", "off"), List.of())) {
            // Two attempts (the second after java-spiffe's 1 s back-off); a flood (main: ~40 lines per attempt) ends the wait too.
            p.await(err -> err.stream().filter(l -> retry.matcher(l).find()).count() >= 2 || err.size() >= 40, "two attempts");
            int exit = p.stop();
            List<String> err = p.err();
            assertThat(err).as("stderr").hasSizeGreaterThanOrEqualTo(2).allSatisfy(l -> {
                Matcher m = LOG_LINE.matcher(l);
                assertThat(m.matches()).as("one log line, no stack trace: %s", l).isTrue();
                assertThat(m.group(1) + " " + m.group(2)).isEqualTo("WARN SpireIdentityProvider");
                assertThat(retry.matcher(m.group(3)).matches()).as(l).isTrue();
            });
            // go-spiffe's back-off through java-spiffe's RetryHandler: 1 s, 2 s, 3 s, ... at most 30 s (mesh-identity-spire GoSpiffeBackoff).
            for (int i = 0; i < err.size(); i++) {
                Matcher m = retry.matcher(err.get(i));
                assertThat(m.find()).isTrue();
                assertThat(Integer.parseInt(m.group(1))).isEqualTo(i + 1);
                assertThat(Integer.parseInt(m.group(2))).isEqualTo(Math.min(i + 1, 30));
            }
            assertThat(p.out()).as("exit %d, stderr %s", exit, err).containsExactly(
                    "zerohop proxy: waiting for an SVID from the Workload API at unix:" + socket + "; listeners start once one arrives",
                    "zerohop proxy: SIGTERM before an SVID arrived; stopped");
            assertThat(exit).isZero();
        }
    }

    @Test
    @Timeout(120)
    @DisplayName("--kubernetes with the API server's port closed: one WARN per retry round naming the server and the cause"
            + " (not one stack trace per informer), readiness 500 pending the first sync, no ready line")
    void kubernetesApiServerUnreachable(@TempDir Path dir) throws Exception {
        int port;
        try (java.net.ServerSocket closed = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = closed.getLocalPort(); // closed below: a real port with nothing listening
        }
        String server = "https://127.0.0.1:" + port + "/";
        Path kubeconfig = java.nio.file.Files.writeString(dir.resolve("kubeconfig"), String.join("\n",
                "apiVersion: v1", "kind: Config", "current-context: c",
                "clusters: [{name: c, cluster: {server: \"" + server + "\", insecure-skip-tls-verify: true}}]",
                "contexts: [{name: c, context: {cluster: c, user: u}}]", "users: [{name: u, user: {token: t}}]", ""));
        Pattern failure = Pattern.compile(Pattern.quote("Kubernetes API server " + server + ": ")
                + "\\S+.* list/watch failed: cannot connect \\(java\\.net\\.ConnectException\\); retrying with back-off \\(1s doubling up to 32s\\);"
                + " the other kinds failing alike are not repeated");
        // fabric8's HTTP client retries each request 10 times (~19 s) before the informer sees a failure; without
        // those retries (its documented system property) the informers' own rounds come at once.
        try (Proc p = Proc.start(List.of("proxy", "--kubernetes", "--node", "node-a", "--in-memory-ca", "--inbound", "127.0.0.1:0",
                "--metrics", "off", "--readiness", "127.0.0.1:0", "--admin", "off"),
                List.of("-Dkubernetes.request.retry.backoffLimit=0"), java.util.Map.of("KUBECONFIG", kubeconfig.toString()))) {
            p.await(err -> err.stream().filter(l -> failure.matcher(l).find()).count() >= 2 || err.size() >= 60, "two retry rounds");
            p.awaitOut(out -> out.stream().anyMatch(l -> l.startsWith("zerohop proxy listening: ")), "the listening line");
            Matcher ready = Pattern.compile("readiness (127\\.0\\.0\\.1:\\d+)").matcher(String.join("\n", p.out()));
            assertThat(ready.find()).as("listening line: %s", p.out()).isTrue();
            var answer = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("http://" + ready.group(1) + "/healthz/ready")).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
            assertThat(answer.statusCode()).isEqualTo(500);
            assertThat(answer.body()).contains("kubernetes sync");
            int exit = p.stop();
            List<String> err = p.err();
            assertThat(err).as("stderr").allSatisfy(l -> assertThat(LOG_LINE.matcher(l).matches()).as("one log line, no stack trace: %s", l).isTrue());
            List<String> failures = err.stream().filter(l -> l.contains(" KubernetesDiscovery - ")).toList();
            assertThat(failures).as("stderr %s", err).allSatisfy(l -> assertThat(failure.matcher(l).find()).as(l).isTrue());
            // Nine informers fail in each round; one line per round, not one per informer.
            assertThat(failures).hasSizeBetween(2, 8);
            assertThat(p.out()).as("stdout").noneMatch(l -> l.startsWith("zerohop proxy ready"))
                    .contains("zerohop proxy: syncing with the Kubernetes API server " + server + " as node node-a");
            assertThat(exit).isZero();
        }
    }

    /** A child JVM running {@code zerohop ARGS}, its stdout and stderr collected line by line. */
    static final class Proc implements AutoCloseable {
        private final Process process;
        private final List<String> out = new ArrayList<>();
        private final List<String> err = new ArrayList<>();
        private final Thread[] pumps;

        private Proc(Process process) {
            this.process = process;
            this.pumps = new Thread[] {pump(process.getInputStream(), out), pump(process.getErrorStream(), err)};
        }

        static Proc start(List<String> args, List<String> jvmArgs) throws IOException {
            return start(args, jvmArgs, java.util.Map.of());
        }

        static Proc start(List<String> args, List<String> jvmArgs, java.util.Map<String, String> env) throws IOException {
            List<String> cmd = new ArrayList<>();
            cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            // Netty names channels after a network interface's MAC address and WARNs on stderr where
            // none has one (a container or sandbox without network: only lo), which the tests would
            // count as the CLI's. A fixed (locally administered) one keeps stderr the CLI's own; gRPC's
            // shaded Netty (the SPIRE and Istio CA clients) reads the relocated property.
            cmd.add("-Dio.netty.machineId=02:00:00:00:00:01");
            cmd.add("-Dio.grpc.netty.shaded.io.netty.machineId=02:00:00:00:00:01");
            cmd.addAll(jvmArgs);
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Zerohop.class.getName()));
            cmd.addAll(args);
            ProcessBuilder pb = new ProcessBuilder(cmd);
            pb.environment().remove("SPIFFE_ENDPOINT_SOCKET");
            pb.environment().remove("ZEROHOP_DEBUG");
            pb.environment().remove("KUBECONFIG");
            pb.environment().putAll(env);
            Process p = pb.start();
            p.getOutputStream().close();
            return new Proc(p);
        }

        private Thread pump(InputStream in, List<String> into) {
            Thread t = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        synchronized (this) {
                            into.add(line);
                            notifyAll();
                        }
                    }
                } catch (IOException e) {
                    // the process is gone; what was read is kept
                }
                synchronized (this) {
                    notifyAll();
                }
            }, "retry-log-pump");
            t.setDaemon(true);
            t.start();
            return t;
        }

        /** Waits until {@code done} holds for the stderr lines so far, or the process exits (the assertions then say why). */
        synchronized void await(Predicate<List<String>> done, String what) throws InterruptedException {
            while (!done.test(err) && process.isAlive()) {
                wait(200);
            }
        }

        /** Waits until {@code done} holds for the stdout lines so far, or the process exits. */
        synchronized void awaitOut(Predicate<List<String>> done, String what) throws InterruptedException {
            while (!done.test(out) && process.isAlive()) {
                wait(200);
            }
        }

        /** SIGTERM, then the exit code once both streams are read to their end. */
        int stop() throws InterruptedException {
            // SIGTERM through the handle: Process.destroy() also closes our ends of stdout and stderr, losing the last lines.
            process.toHandle().destroy();
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("the proxy exits after SIGTERM").isTrue();
            for (Thread t : pumps) {
                t.join(10_000);
            }
            return process.exitValue();
        }

        synchronized List<String> out() {
            return List.copyOf(out);
        }

        /**
         * What the proxy wrote to stderr, but the line saying that SIGINT is ignored: that depends on how the test
         * runner was started (in the background from a script, SIGINT is ignored and the child inherits it), not on
         * what a test here checks (SignalIgnoredE2EIT checks that line).
         */
        synchronized List<String> err() {
            return err.stream().filter(l -> !l.contains("SIGINT is ignored by this process")).toList();
        }

        @Override
        public void close() {
            process.destroyForcibly();
        }
    }
}
