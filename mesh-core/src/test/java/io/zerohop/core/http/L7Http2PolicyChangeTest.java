package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A policy change that denies an open L7 HTTP/2 tunnel resets it on both ends, as ztunnel aborts a connection its
 * {@code PolicyWatcher} no longer allows (istio/ztunnel {@code src/proxy/connection_manager.rs}: {@code close} signals the
 * connection's RBAC drain, and its copy ends with {@code Err(AuthorizationPolicyLateRejection)}, an error, not an end).
 * Until 2 December the RST_STREAM was written through the tunnel's own h2 codec and failed there; the close that
 * followed sent GOAWAY NO_ERROR and a CANCEL, so the gRPC client saw a graceful GOAWAY and the frontend logged end=fin
 * (newuser27).
 */
class L7Http2PolicyChangeTest {
    static final String ALLOW = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-frontend, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {methods: ["POST"], paths: ["/test.Echo/Stream"]}}]
            """;
    static final String DENY = """
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-frontend, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
            """;

    static final String DENY_STREAM = """
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-stream, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - to: [{operation: {paths: ["/test.Echo/Stream", "/test.Echo/Hold"]}}]
            """;
    /** {@link #ALLOW} for the app's three methods. */
    static final String ALLOW_ALL = ALLOW.replace("paths: [\"/test.Echo/Stream\"]",
            "paths: [\"/test.Echo/Stream\", \"/test.Echo/Allowed\", \"/test.Echo/Hold\"]");
    static final io.grpc.MethodDescriptor<byte[], byte[]> HOLD = L7Http2Test.method("Hold", io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING);

    /** The app: Stream echoes each message; Hold reads and never answers; Allowed answers "ok". */
    private static Server app(InetAddress ip) throws java.io.IOException {
        return NettyServerBuilder.forAddress(new InetSocketAddress(ip, 0)).addService(ServerServiceDefinition.builder("test.Echo")
                .addMethod(L7Http2Test.STREAM, ServerCalls.asyncBidiStreamingCall(obs -> new io.grpc.stub.StreamObserver<byte[]>() {
                    @Override
                    public void onNext(byte[] v) {
                        obs.onNext(v);
                    }

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {
                        obs.onCompleted();
                    }
                }))
                .addMethod(HOLD, ServerCalls.asyncBidiStreamingCall(obs -> new io.grpc.stub.StreamObserver<byte[]>() {
                    @Override
                    public void onNext(byte[] v) {}

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {}
                }))
                .addMethod(L7Http2Test.ALLOWED, ServerCalls.asyncUnaryCall((req, obs) -> {
                    obs.onNext("ok".getBytes(StandardCharsets.UTF_8));
                    obs.onCompleted();
                })).build()).build().start();
    }

    /**
     * The app behind a backend mesh enforcing {@code engine} on its gRPC port, a frontend mesh capturing a loopback
     * port to it, and a plaintext grpc-java channel to that port: real sockets, real mTLS, one HBONE connection.
     */
    private static final class Scene implements AutoCloseable {
        final Server app;
        final Mesh server;
        final Mesh client;
        final ManagedChannel ch;

        Scene(PolicyEngine engine) throws Exception {
            this(engine, null);
        }

        /** {@code gate}: where the backend's port is instead of the app's (a listener the test controls), or null. */
        Scene(PolicyEngine engine, java.net.ServerSocket gate) throws Exception {
            InetAddress ip = InetAddress.getByName("127.0.0.2");
            app = app(ip);
            int port = gate != null ? gate.getLocalPort() : ((InetSocketAddress) app.getListenSockets().get(0)).getPort();
            L7Pair pair = new L7Pair(ip, InetAddress.getByName("127.0.0.3"), Map.of(port, AppProtocol.GRPC),
                    Map.of("b", new InetSocketAddress(ip, 15008)), engine, b -> b.threads(2));
            server = pair.server;
            client = pair.client();
            InetSocketAddress via = client.capture(Capture.forward(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                    new InetSocketAddress(ip, port)));
            ch = NettyChannelBuilder.forAddress("127.0.0.1", via.getPort()).usePlaintext().build();
        }

        /** Starts a bidi call of {@code method}: its messages as text, then "error STATUS" or "completed", go to {@code got}. */
        io.grpc.stub.StreamObserver<byte[]> call(io.grpc.MethodDescriptor<byte[], byte[]> method, BlockingQueue<String> got) {
            return ClientCalls.asyncBidiStreamingCall(ch.newCall(method, CallOptions.DEFAULT.withDeadlineAfter(60, TimeUnit.SECONDS)),
                    new io.grpc.stub.StreamObserver<>() {
                        @Override
                        public void onNext(byte[] b) {
                            got.add(new String(b, StandardCharsets.UTF_8));
                        }

                        @Override
                        public void onError(Throwable t) {
                            got.add("error " + Status.fromThrowable(t));
                        }

                        @Override
                        public void onCompleted() {
                            got.add("completed");
                        }
                    });
        }

        @Override
        public void close() {
            ch.shutdownNow();
            client.close();
            server.close();
            app.shutdownNow();
        }
    }

    /**
     * Beyond Envoy (which decides a request once, on its headers): a DENY added for a method ends that method's open
     * streams with the answer a new call gets, PERMISSION_DENIED "RBAC: access denied" (by trailers once the response
     * started, trailers-only before), logged with both identities and the deciding policy; the connection and its
     * other calls go on. Without the per-request re-decision, the streams went on (newuser27, 2 December).
     */
    @Test
    void anOpenGrpcStreamOfAMethodANewDenyNamesEndsPermissionDenied() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", ALLOW_ALL)).build();
        try (Scene scene = new Scene(engine); io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            BlockingQueue<String> held = new LinkedBlockingQueue<>();
            scene.call(HOLD, held).onNext("wait".getBytes(StandardCharsets.UTF_8));
            BlockingQueue<String> got = new LinkedBlockingQueue<>();
            scene.call(L7Http2Test.STREAM, got).onNext("one".getBytes(StandardCharsets.UTF_8));
            assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("one");
            // Both requests are forwarded (the echo came back on the same connection, after Hold's HEADERS).
            assertThat(held).isEmpty();
            engine.replace(PolicyLoader.fromString("p.yaml", ALLOW_ALL + DENY_STREAM));
            // Its response started: trailers grpc-status 7.
            assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("error Status{code=PERMISSION_DENIED, description=RBAC: access denied, cause=null}");
            // No response yet: the trailers-only answer a call denied at its start gets.
            assertThat(held.poll(30, TimeUnit.SECONDS)).isEqualTo("error Status{code=PERMISSION_DENIED, description=RBAC: access denied, cause=null}");
            assertThat(err.awaitLine("request POST /test.Echo/Stream from spiffe://cluster.local/ns/prod/sa/frontend",
                    "ended because it is no longer allowed after a policy update"))
                    .contains("(spiffe://cluster.local/ns/prod/sa/backend)").contains("prod/deny-stream");
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/test.Echo/Stream\" ")).contains(" grpc_status=7")
                    .contains("prod/deny-stream");
            // The same connection still carries the calls the policies allow.
            byte[] ok = ClientCalls.blockingUnaryCall(scene.ch, L7Http2Test.ALLOWED, CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS),
                    new byte[0]);
            assertThat(new String(ok, StandardCharsets.UTF_8)).isEqualTo("ok");
            assertThat(err.count("access - inbound src=", "end=")).as("the tunnel is not closed").isZero();
        }
    }

    /**
     * A listener whose accept queue is full: a connection to it is neither accepted nor refused (its SYNs are dropped)
     * until {@link #open}, which empties the queue, so a dial to it waits as one to a slow application does.
     */
    static final class Gate implements AutoCloseable {
        final java.net.ServerSocket listener;
        final List<java.net.Socket> fillers = new java.util.ArrayList<>();

        Gate(InetAddress ip) throws java.io.IOException {
            listener = new java.net.ServerSocket(0, 1, ip);
            for (int i = 0; i < 16; i++) {
                java.net.Socket s = new java.net.Socket();
                try {
                    s.connect(new InetSocketAddress(ip, listener.getLocalPort()), 300);
                    fillers.add(s);
                } catch (java.net.SocketTimeoutException full) {
                    s.close();
                    return;
                }
            }
            throw new IllegalStateException("the accept queue never filled");
        }

        /** Accepts the fillers, then the next connection, and pipes it to {@code app} both ways. */
        void open(InetSocketAddress app) {
            Thread t = new Thread(() -> {
                try {
                    for (int i = 0; i < fillers.size(); i++) {
                        listener.accept().close();
                    }
                    java.net.Socket in = listener.accept();
                    java.net.Socket out = new java.net.Socket(app.getAddress(), app.getPort());
                    pipe(in, out);
                    pipe(out, in);
                } catch (java.io.IOException e) {
                    // the test asserts what the client sees
                }
            }, "gate");
            t.setDaemon(true);
            t.start();
        }

        private static void pipe(java.net.Socket from, java.net.Socket to) {
            Thread t = new Thread(() -> {
                try {
                    from.getInputStream().transferTo(to.getOutputStream());
                } catch (java.io.IOException e) {
                    // closed
                }
            }, "gate-pipe");
            t.setDaemon(true);
            t.start();
        }

        @Override
        public void close() throws java.io.IOException {
            for (java.net.Socket s : fillers) {
                s.close();
            }
            listener.close();
        }
    }

    /**
     * A stream denied by a policy change while its application connection is still being dialled is answered (trailers-only
     * PERMISSION_DENIED), and when the dial then completes the stream it opened is left unused: until 3 December the
     * dial's listener wrote the released queue's null head (a NullPointerException, the client connection left with
     * reading off, its queued request bytes never released) (a break-it pass).
     */
    @Test
    void aStreamDeniedWhileItsApplicationIsDialledLeavesTheConnectionWorking() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", ALLOW_ALL)).build();
        try (Gate gate = new Gate(InetAddress.getByName("127.0.0.2")); Scene scene = new Scene(engine, gate.listener);
             io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            BlockingQueue<String> got = new LinkedBlockingQueue<>();
            scene.call(L7Http2Test.STREAM, got).onNext("one".getBytes(StandardCharsets.UTF_8));
            // Decided and dialling: nothing comes back while the gate is shut.
            assertThat(got.poll(1, TimeUnit.SECONDS)).isNull();
            engine.replace(PolicyLoader.fromString("p.yaml", ALLOW_ALL + DENY_STREAM));
            assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("error Status{code=PERMISSION_DENIED, description=RBAC: access denied, cause=null}");
            gate.open((InetSocketAddress) scene.app.getListenSockets().get(0));
            // The same client connection carries the next allowed call, through the application connection the dial made.
            byte[] ok = ClientCalls.blockingUnaryCall(scene.ch, L7Http2Test.ALLOWED, CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS),
                    new byte[0]);
            assertThat(new String(ok, StandardCharsets.UTF_8)).isEqualTo("ok");
            assertThat(err.text()).doesNotContain("NullPointerException").doesNotContain("An exception was thrown");
            assertThat(err.count("access - inbound src=", "end=")).as("the tunnel is not closed").isZero();
        }
    }

    /**
     * The same, the dial then failing (the application's port closed), with a client that keeps its request side open
     * after the answer (Node's http2; grpc-java resets its stream and hides the case): the call that shares the dial
     * gets Envoy's UF answer (trailers-only {@code grpc-status: 14}) on the same connection. Until 3 December the denied
     * stream, already answered, was answered again, a second HEADERS after END_STREAM, and the client's whole
     * connection ended with GOAWAY INTERNAL_ERROR (a break-it pass).
     */
    @Test
    void aStreamDeniedWhileItsApplicationIsDialledThenUnreachableLeavesTheConnectionWorking() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", ALLOW_ALL)).build();
        Gate gate = new Gate(InetAddress.getByName("127.0.0.2"));
        try (gate; Scene scene = new Scene(engine, gate.listener)) {
            String[] via = scene.ch.authority().split(":");
            Process node = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("grpc-held-open.js"), via[0], via[1]).redirectErrorStream(true));
            BlockingQueue<String> lines = new LinkedBlockingQueue<>();
            Thread reader = new Thread(() -> new java.io.BufferedReader(new java.io.InputStreamReader(node.getInputStream(),
                    StandardCharsets.UTF_8)).lines().forEach(lines::add), "node-out");
            reader.setDaemon(true);
            reader.start();
            try {
                assertThat(lines.poll(1, TimeUnit.SECONDS)).as("nothing while the dial waits").isNull();
                engine.replace(PolicyLoader.fromString("p.yaml", ALLOW_ALL + DENY_STREAM));
                assertThat(lines.poll(30, TimeUnit.SECONDS)).isEqualTo("/test.Echo/Stream response 7 200");
                node.getOutputStream().write("second\n".getBytes(StandardCharsets.US_ASCII));
                node.getOutputStream().flush();
                Thread.sleep(500);
                gate.close();
                List<String> seen = new java.util.ArrayList<>();
                String answer;
                while ((answer = lines.poll(30, TimeUnit.SECONDS)) != null && !answer.startsWith("/test.Echo/Allowed")) {
                    seen.add(answer);
                }
                assertThat(seen).as("before the second call's answer").isEmpty();
                // Envoy's answer for an application it could not reach (UF): UNAVAILABLE, trailers-only.
                assertThat(answer).isEqualTo("/test.Echo/Allowed response 14 200");
            } finally {
                node.destroyForcibly();
            }
        }
    }

    @Test
    void anOpenGrpcStreamDeniedByAPolicyChangeIsReset() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", ALLOW)).build();
        try (Scene scene = new Scene(engine); io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            BlockingQueue<String> got = new LinkedBlockingQueue<>();
            scene.call(L7Http2Test.STREAM, got).onNext("one".getBytes(StandardCharsets.UTF_8));
            assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("one");
            engine.replace(PolicyLoader.fromString("p.yaml", ALLOW + DENY));
            String end = got.poll(30, TimeUnit.SECONDS);
            assertThat(end).startsWith("error Status{code=UNAVAILABLE").doesNotContain("GOAWAY").doesNotContain("NO_ERROR");
            assertThat(err.awaitLine("access - inbound src=", "end=")).contains(" end=reset error=\"connection closed due to policy change\"");
            assertThat(err.awaitLine("access - outbound src=", "end=")).contains(" end=reset");
        }
    }
}
