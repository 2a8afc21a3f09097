package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.internal.http.HttpEnforcement;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An HTTP/2 connection zerohop parses, idle after its answer (a gRPC channel, Node's client), when the drain begins:
 * GOAWAY (Envoy's shutdown notice; Node's client then closes by itself) and a clean end, as Envoy's connection manager drains a draining listener's HTTP/2 connections
 * (conn_manager_impl.cc {@code startDrainSequence}; H2ConnectionEnds.Drain#meshDraining), so a 1-minute drain ends as
 * soon as the client closes. Until 6 December it waited for the whole drain and was reset at the deadline.
 */
@Timeout(90)
class L7Http2DrainTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: api, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {paths: ["/api/*"]}}]
            """;

    @Test
    void anIdleHttp2ConnectionGetsGoAwayAndEndsCleanlyWhenTheDrainBegins() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.169.20");
        Process app = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), ip.getHostAddress())
                .redirectErrorStream(true));
        Process client = null;
        try {
            int port = Integer.parseInt(ChildProcess.firstLine(app).trim());
            Mesh mesh = drainingMesh(ip, port);
            try {
                mesh.start().get(10, TimeUnit.SECONDS);
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
                client = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2-idle-client.js"), ip.getHostAddress(),
                        Integer.toString(via.getPort()), "/api/x").redirectErrorStream(true));
                BufferedReader out = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.UTF_8));
                assertThat(ChildProcess.readLine(client, out)).isEqualTo("status 200");
                CompletableFuture<Void> drained = mesh.shutdown();
                assertThat(ChildProcess.readLine(client, out)).as("the client's idle connection, at the drain's start").isEqualTo("goaway 0");
                assertThat(ChildProcess.readLine(client, out)).as("then its end, with no error").isEqualTo("closed");
                // Long before the 1-minute deadline: nothing was left to cut.
                drained.get(30, TimeUnit.SECONDS);
            } finally {
                mesh.close();
            }
        } finally {
            if (client != null) {
                client.destroy();
            }
            app.destroy();
            app.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /**
     * A stream open when the drain begins (its request body still coming, the answer's head out): GOAWAY, the answer, then the connection's end
     * with no reset. Until 6 December zerohop closed the TCP connection as soon as the last stream was done, and what
     * Node's client still sent arrived after the close: ECONNRESET after its answer (H2ConnectionEnds.end now sends a FIN
     * and closes on the client's, as Envoy's delayed close waits for the peer).
     */
    @Test
    void aStreamOpenWhenTheDrainBeginsIsAnsweredThenTheConnectionEndsWithNoReset() throws Exception {
        List<String> lines = session("h2-drain-stream-client.js", "/api/head-first", InetAddress.getByName("127.0.175.21"));
        assertThat(lines).as("the answer's head, GOAWAY, the answer's body, then the end").containsSubsequence("status 200", "goaway 0", "closed");
        assertThat(lines).anyMatch(l -> l.startsWith("body ") && !l.equals("body 0"));
        assertThat(lines).as("no reset").noneMatch(l -> l.contains("error"));
    }

    /**
     * A stream still open past the close bound into a longer drain (its request body ends 2.5 s after the GOAWAY, the
     * bound shortened from 30 s to 1 s and the final GOAWAY to 200 ms, so that the test does not wait 33 s) is answered
     * in full, and only then does the connection end: Envoy closes a draining connection once its streams are done
     * (conn_manager_impl.cc {@code checkForDeferredClose}), the drain's own deadline bounding them. Until 6 December
     * H2ConnectionEnds' 30 s bound, meant for a connection whose application had gone, closed it under the stream.
     */
    @Test
    void aStreamOpenLongerThanTheCloseBoundIntoTheDrainIsAnsweredBeforeTheDeadline() throws Exception {
        List<String> lines;
        try (H2DrainTimes t = h2DrainTimes(200, 1_000)) {
            lines = session("h2-drain-stream-client.js", "/api/head-first", InetAddress.getByName("127.0.175.24"), "2500");
        }
        assertThat(lines).containsSubsequence("status 200", "goaway 0", "closed");
        assertThat(lines).as("the answer's body, whole").anyMatch(l -> l.startsWith("body ") && !l.equals("body 0"));
        assertThat(lines).as("no reset").noneMatch(l -> l.contains("error"));
    }

    /** The HTTP/2 drain's times of the meshes built until it is closed, then the defaults again. */
    interface H2DrainTimes extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Shortens, for the meshes built until the result is closed, the time from the HTTP/2 drain's notice to its final
     * GOAWAY (Envoy's 5 s {@code drain_timeout}) and the bound on waiting for the client's end after ours (30 s):
     * {@link HttpEnforcement#TEST_H2_DRAIN_TIMEOUT_PROPERTY}.
     */
    static H2DrainTimes h2DrainTimes(long drainTimeoutMillis, long closeBoundMillis) {
        System.setProperty(HttpEnforcement.TEST_H2_DRAIN_TIMEOUT_PROPERTY, Long.toString(drainTimeoutMillis));
        System.setProperty(HttpEnforcement.TEST_H2_CLOSE_BOUND_PROPERTY, Long.toString(closeBoundMillis));
        return () -> {
            System.clearProperty(HttpEnforcement.TEST_H2_DRAIN_TIMEOUT_PROPERTY);
            System.clearProperty(HttpEnforcement.TEST_H2_CLOSE_BOUND_PROPERTY);
        };
    }

    /**
     * A connection open before the drain whose HTTP/2 preface and first stream come during it (an HTTP port parses once
     * the first bytes tell HTTP/1 from HTTP/2): the stream is answered, the connection gets GOAWAY naming it and ends,
     * as Envoy's connection manager starts a draining connection's drain sequence on its response
     * ({@code ActiveStream::encodeHeaders}, {@code drain_close_.drainClose()}). Until 6 December it never learnt of the
     * drain and stayed open until the deadline's reset. Raw frames: a second connection, parsed before the drain, ends
     * first, which says the drain reached the proxy's one loop. A third, whose preface comes during the drain and which
     * never opens a stream, gets the same drain sequence from its start (Envoy's {@code startDrainSequence}, as its
     * {@code onIdleTimeout} starts it on a connection with no stream): GOAWAY, the final GOAWAY and its end the drain
     * timeout later (500 ms here, Envoy's 5 s), so the drain ends long before its 1-minute deadline; until 6 December its sequence waited for a first stream, and it
     * waited for that deadline and its reset.
     */
    @Test
    void aConnectionWhosePrefaceComesDuringTheDrainIsAnsweredThenGetsGoAway() throws Exception {
        // The final GOAWAY 500 ms after the notice, not Envoy's 5 s: the silent connection's sequence is not waited out.
        try (H2DrainTimes t = h2DrainTimes(500, TimeUnit.SECONDS.toMillis(30))) {
            prefaceDuringTheDrain();
        }
    }

    private void prefaceDuringTheDrain() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.175.23");
        Process app = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), ip.getHostAddress())
                .redirectErrorStream(true));
        try {
            int port = Integer.parseInt(ChildProcess.firstLine(app).trim());
            Mesh mesh = drainingMesh(ip, port);
            try {
                mesh.start().get(10, TimeUnit.SECONDS);
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
                try (java.net.Socket parsed = new java.net.Socket(ip, via.getPort()); java.net.Socket quiet = new java.net.Socket(ip, via.getPort());
                     java.net.Socket silent = new java.net.Socket(ip, via.getPort())) {
                    parsed.setSoTimeout(20_000);
                    quiet.setSoTimeout(20_000);
                    silent.setSoTimeout(20_000);
                    parsed.getOutputStream().write(h2Get());
                    assertThat(framesUntil(parsed, "HEADERS 1")).isNotEmpty();
                    CompletableFuture<Void> drained = mesh.shutdown();
                    // The drain's first GOAWAY on the parsed connection: the drain has reached the proxy's one loop. The quiet
                    // one's bytes come now, well inside the sniff's timeout (past it, the preface would read as HTTP/1).
                    assertThat(framesUntil(parsed, "GOAWAY 0")).as("the connection parsed before the drain").isNotEmpty();
                    quiet.getOutputStream().write(h2Get());
                    // The silent one: its preface and SETTINGS, and no stream.
                    silent.getOutputStream().write(h2Get(), 0, 24 + 9);
                    List<String> frames = framesUntil(quiet, null);
                    assertThat(frames).as("the connection whose first stream came during the drain: answered, GOAWAY, its end")
                            .contains("HEADERS 1", "GOAWAY 0");
                    quiet.shutdownOutput();
                    assertThat(framesUntil(parsed, null)).as("the connection parsed before the drain: its final GOAWAY, its end")
                            .contains("GOAWAY 0");
                    parsed.shutdownOutput();
                    assertThat(framesUntil(silent, null)).as("the connection that never opened a stream: GOAWAY, the final one, its end")
                            .filteredOn(f -> !f.startsWith("SETTINGS") && !f.equals("WINDOW_UPDATE 0")) // the connection window's opening (H2Proxy.CONNECTION_WINDOW)
                            .containsExactly("GOAWAY 0", "GOAWAY 0");
                    silent.shutdownOutput();
                    drained.get(30, TimeUnit.SECONDS);
                }
            } finally {
                mesh.close();
            }
        } finally {
            app.destroy();
            app.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /**
     * An HBONE tunnel to a port declared {@code http2}, opened before the drain (so parsed from its open, idle when the
     * drain begins), whose first stream is sent as the drain begins: taken and answered, as Envoy's shutdown notice
     * (GOAWAY naming stream 2^31-1) lets it be, then the final GOAWAY and the end. Until 6 December zerohop sent only the
     * final GOAWAY, at once, naming no stream, and the stream got no answer (a new-user pass, over {@code --forward}).
     */
    @Test
    void aStreamSentAsTheDrainBeginsIsTakenAsEnvoysShutdownNoticeTakesIt() throws Exception {
        // The final GOAWAY 2 s after the notice, not Envoy's 5 s: time enough for the stream sent on reading the notice.
        try (H2DrainTimes t = h2DrainTimes(2_000, TimeUnit.SECONDS.toMillis(30))) {
            streamAsTheDrainBegins();
        }
    }

    private void streamAsTheDrainBegins() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.175.26");
        Process app = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), ip.getHostAddress())
                .redirectErrorStream(true));
        try {
            int port = Integer.parseInt(ChildProcess.firstLine(app).trim());
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
            L7Pair pair = new L7Pair(ip, InetAddress.getByName("127.0.175.27"), Map.of(port, AppProtocol.HTTP2), Map.of(), engine,
                    b -> b.threads(1).drain(Duration.ofMinutes(1)));
            Mesh server = pair.server;
            Workload frontend = pair.frontend;
            try {
                try (Mesh client = pair.client();
                     java.net.Socket parsed = client.socketFactory(frontend.identity()).createSocket(ip, port);
                     java.net.Socket quiet = client.socketFactory(frontend.identity()).createSocket(ip, port)) {
                    parsed.setSoTimeout(20_000);
                    quiet.setSoTimeout(20_000);
                    parsed.getOutputStream().write(h2Get());
                    parsed.getOutputStream().flush();
                    assertThat(framesUntil(parsed, "HEADERS 1")).isNotEmpty();
                    // The quiet connection: its preface and SETTINGS now, its first stream once the drain has begun.
                    byte[] get = h2Get();
                    int preface = 24 + 9;
                    quiet.getOutputStream().write(get, 0, preface);
                    quiet.getOutputStream().flush();
                    CompletableFuture<Void> drained = server.shutdown();
                    assertThat(framesUntil(quiet, "GOAWAY 0")).as("the drain's first GOAWAY").isNotEmpty();
                    quiet.getOutputStream().write(get, preface, get.length - preface);
                    quiet.getOutputStream().flush();
                    List<String> frames = framesUntil(quiet, null);
                    assertThat(frames).as("its first stream, sent after the drain's first GOAWAY: answered, the final GOAWAY, its end")
                            .containsSubsequence("HEADERS 1", "GOAWAY 0");
                    quiet.shutdownOutput();
                    assertThat(framesUntil(parsed, null)).as("the tunnel parsed before the drain").contains("GOAWAY 0");
                    parsed.shutdownOutput();
                    drained.get(30, TimeUnit.SECONDS);
                }
            } finally {
                server.close();
            }
        } finally {
            app.destroy();
            app.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** The client preface, an empty SETTINGS, and stream 1: GET /api/x (HPACK: static indexes, literal path and authority). */
    private static byte[] h2Get() {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        b.writeBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        b.writeBytes(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0});
        byte[] block = {(byte) 0x82, (byte) 0x86, 0x04, 6, '/', 'a', 'p', 'i', '/', 'x', 0x01, 1, 'b'};
        b.writeBytes(new byte[] {0, 0, (byte) block.length, 1, 0x05, 0, 0, 0, 1});
        b.writeBytes(block);
        return b.toByteArray();
    }

    /**
     * The frames read ("TYPE stream", SETTINGS ACKed as they come) until one equals {@code until}, or, when null, until
     * the end of the stream (a reset fails).
     */
    private static List<String> framesUntil(java.net.Socket s, String until) throws java.io.IOException {
        String[] names = {"DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE"};
        java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
        List<String> frames = new java.util.ArrayList<>();
        while (true) {
            byte[] head = new byte[9];
            int first = in.read();
            if (first < 0) {
                assertThat(until).as("the connection ended before " + until + ": " + frames).isNull();
                return frames;
            }
            head[0] = (byte) first;
            in.readFully(head, 1, 8);
            int length = ((head[0] & 0xff) << 16) | ((head[1] & 0xff) << 8) | (head[2] & 0xff);
            int type = head[3] & 0xff;
            int stream = ((head[5] & 0x7f) << 24) | ((head[6] & 0xff) << 16) | ((head[7] & 0xff) << 8) | (head[8] & 0xff);
            in.readFully(new byte[length]);
            String frame = (type < names.length ? names[type] : "type" + type) + " " + stream;
            frames.add(frame);
            if (type == 4 && (head[4] & 1) == 0) {
                s.getOutputStream().write(new byte[] {0, 0, 0, 4, 1, 0, 0, 0, 0});
            }
            if (frame.equals(until)) {
                return frames;
            }
        }
    }

    /** A mesh (not started) for a backend on {@code ip} whose {@code port} is {@code http}, under {@link #POLICY}, a 1 min drain. */
    private static Mesh drainingMesh(InetAddress ip, int port) throws Exception {
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
        return Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).threads(1)
                .drain(Duration.ofMinutes(1)).build();
    }

    /**
     * What {@code script}'s client printed until its session closed, the mesh draining after its first line; {@code more}:
     * the script's further arguments.
     */
    private static List<String> session(String script, String path, InetAddress ip, String... more) throws Exception {
        Process app = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), ip.getHostAddress())
                .redirectErrorStream(true));
        Process client = null;
        try {
            int port = Integer.parseInt(ChildProcess.firstLine(app).trim());
            Mesh mesh = drainingMesh(ip, port);
            try {
                mesh.start().get(10, TimeUnit.SECONDS);
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
                List<String> cmd = new java.util.ArrayList<>(List.of("node", L7Http2Test.resource(script), ip.getHostAddress(),
                        Integer.toString(via.getPort()), path));
                cmd.addAll(List.of(more));
                client = ChildProcess.start(new ProcessBuilder(cmd).redirectErrorStream(true));
                BufferedReader out = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.UTF_8));
                List<String> lines = new java.util.ArrayList<>();
                lines.add(ChildProcess.readLine(client, out));
                CompletableFuture<Void> drained = mesh.shutdown();
                while (!lines.get(lines.size() - 1).equals("closed")) {
                    lines.add(ChildProcess.readLine(client, out));
                }
                drained.get(30, TimeUnit.SECONDS);
                return lines;
            } finally {
                mesh.close();
            }
        } finally {
            if (client != null) {
                client.destroy();
            }
            app.destroy();
            app.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
