package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * gRPC over HTTP/1.1 on a port declared {@code grpc} is observed as gRPC, as Istio's Envoy observes it: the
 * {@code grpc_stats} filter istiod puts in every inbound connection manager (istio/istio
 * pilot/pkg/networking/core/listener_builder.go, {@code xdsfilters.GrpcStats}) and Istio's stats filter (istio/proxy
 * source/extensions/filters/http/istio_stats/istio_stats.cc, {@code is_grpc_ = isGrpcRequestHeaders}) test the
 * content-type alone, whatever the HTTP version: its messages are counted both ways
 * ({@code istio_request_messages_total}, {@code istio_response_messages_total}), its request is
 * {@code request_protocol="grpc"} and its {@code grpc_response_status} is the application's, from the HTTP/2 trailers
 * Envoy's filters see before its HTTP/1 codec drops them, or from a trailers-only head. Until 7 December such a call
 * counted no message and was {@code request_protocol="http"} with an empty {@code grpc_response_status}. Real peers:
 * curl and grpc-java's server, plaintext inbound, 127.0.211.10, ports 63510-63511.
 */
class L7GrpcOverHttp1MetricsTest {
    private static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-grpc, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {paths: ["/test.Echo/Allowed", "/test.Echo/Missing"]}}]
            """;

    @Test
    void grpcOverHttp11IsCountedAsGrpc() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.211.10");
        Server grpc = NettyServerBuilder.forAddress(new InetSocketAddress(ip, 63510)).addService(ServerServiceDefinition.builder("test.Echo")
                .addMethod(L7Http2Test.ALLOWED, ServerCalls.asyncUnaryCall((req, obs) -> {
                    obs.onNext(("echo " + new String(req, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
                    obs.onCompleted();
                }))
                .addMethod(L7Http2Test.DENIED, ServerCalls.asyncUnaryCall((req, obs) -> {
                    obs.onNext(req);
                    obs.onCompleted();
                })).build()).build().start();
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(63510, AppProtocol.GRPC));
        Path body = Files.createTempFile("grpc-frame", ".bin");
        try (Mesh server = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b")
                .policies(PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build())
                .meterRegistry(meters).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            InetSocketAddress via = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 63511), new InetSocketAddress(ip, 63510)));
            String base = "http://" + via.getAddress().getHostAddress() + ":" + via.getPort();
            byte[] msg = "over h1".getBytes(StandardCharsets.UTF_8);
            ByteArrayOutputStream frame = new ByteArrayOutputStream();
            frame.write(0);
            frame.write(new byte[] {0, 0, 0, (byte) msg.length});
            frame.write(msg);
            Files.write(body, frame.toByteArray());

            String allowed = curl(base + "/test.Echo/Allowed", body);
            assertThat(allowed).startsWith("HTTP/1.1 200 ").contains("echo over h1");
            assertThat(L7Http2Test.awaitCount(() -> meters.find("istio.requests").tag("request_protocol", "grpc")
                    .tag("grpc_response_status", "0").tag("response_code", "200").counter(), 1).count()).isEqualTo(1);
            assertThat(meters.find("istio.request.messages").counter().count()).isEqualTo(1);
            assertThat(meters.find("istio.response.messages").counter().count()).isEqualTo(1);

            // grpc-java's trailers-only answer to a method it does not have: the status is in the head.
            assertThat(curl(base + "/test.Echo/Missing", body)).startsWith("HTTP/1.1 200 ").contains("grpc-status: 12");
            assertThat(L7Http2Test.awaitCount(() -> meters.find("istio.requests").tag("request_protocol", "grpc")
                    .tag("grpc_response_status", "12").counter(), 1).count()).isEqualTo(1);

            // A denied call's message is not counted (grpc_stats comes after RBAC): its local reply is grpc-status 7.
            assertThat(curl(base + "/test.Echo/Denied", body)).startsWith("HTTP/1.1 200 ").contains("grpc-status: 7");
            assertThat(L7Http2Test.awaitCount(() -> meters.find("istio.requests").tag("request_protocol", "grpc")
                    .tag("grpc_response_status", "7").counter(), 1).count()).isEqualTo(1);
            assertThat(meters.find("istio.request.messages").counter().count()).isEqualTo(2);
            assertThat(meters.find("istio.response.messages").counter().count()).isEqualTo(1);
            assertThat(meters.find("istio.requests").tag("request_protocol", "http").counter()).isNull();
        } finally {
            Files.deleteIfExists(body);
            grpc.shutdownNow();
        }
    }

    private static String curl(String url, Path body) throws Exception {
        return ChildProcess.run("curl", "-sS", "--max-time", "20", "--http1.1", "-i", "-H", "content-type: application/grpc",
                "-H", "te: trailers", "--data-binary", "@" + body, url);
    }
}
