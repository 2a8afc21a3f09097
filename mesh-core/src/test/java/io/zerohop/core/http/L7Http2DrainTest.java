package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
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
 * GOAWAY and a clean end at once, as Envoy's connection manager drains a draining listener's HTTP/2 connections
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
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
            Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                    .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).threads(1)
                    .drain(Duration.ofMinutes(1)).build();
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
        List<String> lines = session("h2-drain-stream-client.js", "/api/head-first", InetAddress.getByName("127.0.175.21"), true);
        assertThat(lines).as("the answer's head, GOAWAY, the answer's body, then the end").containsSubsequence("status 200", "goaway 0", "closed");
        assertThat(lines).anyMatch(l -> l.startsWith("body ") && !l.equals("body 0"));
        assertThat(lines).as("no reset").noneMatch(l -> l.contains("error"));
    }

    /**
     * The application ends its connection right after answering (GOAWAY, FIN: h2c-server.js /api/bye), the client's
     * connection idle after that answer: it ends with no reset (H2ConnectionEnds.Drain.upstreamEnded(false) then end).
     * Until 6 December the TCP connection was closed at once and Node's client saw ECONNRESET.
     */
    @Test
    void anApplicationEndingItsConnectionEndsTheClientsWithNoReset() throws Exception {
        List<String> lines = session("h2-idle-client.js", "/api/bye", InetAddress.getByName("127.0.175.22"), false);
        assertThat(lines).containsSubsequence("status 200", "closed");
        assertThat(lines).as("no reset").noneMatch(l -> l.contains("error"));
    }

    /** What {@code script}'s client printed until its session closed; {@code drain}: the mesh drains after its first line. */
    private static List<String> session(String script, String path, InetAddress ip, boolean drain) throws Exception {
        Process app = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), ip.getHostAddress())
                .redirectErrorStream(true));
        Process client = null;
        try {
            int port = Integer.parseInt(ChildProcess.firstLine(app).trim());
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
            Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                    .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).threads(1)
                    .drain(Duration.ofMinutes(1)).build();
            try {
                mesh.start().get(10, TimeUnit.SECONDS);
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
                client = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource(script), ip.getHostAddress(),
                        Integer.toString(via.getPort()), path).redirectErrorStream(true));
                BufferedReader out = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.UTF_8));
                List<String> lines = new java.util.ArrayList<>();
                lines.add(ChildProcess.readLine(client, out));
                CompletableFuture<Void> drained = drain ? mesh.shutdown() : CompletableFuture.completedFuture(null);
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
