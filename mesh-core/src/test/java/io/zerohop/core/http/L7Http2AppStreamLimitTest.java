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
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The application's {@code SETTINGS_MAX_CONCURRENT_STREAMS} under a parsed HTTP/2 tunnel, as Envoy's upstream pool takes
 * it (envoyproxy/envoy source/common/http/conn_pool_base.cc {@code MultiplexedActiveClientBase::onSettings}: the peer's
 * limit is the connection's capacity, and a connection at it is busy; source/common/conn_pool/conn_pool_base.cc
 * {@code ConnPoolImplBase::newStreamImpl}: a stream no ready connection can take gets a new connection): calls beyond
 * the application's limit go on further application connections, while the client keeps its one connection. A grpc-java
 * server allowing one call per connection ({@code maxConcurrentCallsPerConnection(1)}, its SETTINGS) holds every call
 * until three have arrived, so the three concurrent calls of one client channel succeed only when each reached it. Until
 * 6 December every call went on the one application connection and those over its limit were answered 503
 * {@code connection termination} (gRPC UNAVAILABLE) at once. On this class's addresses (127.0.182.30 and .31).
 */
class L7Http2AppStreamLimitTest {

    @Test
    void callsBeyondTheApplicationsStreamLimitGoOnFurtherConnections() throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.182.30");
        InetAddress frontendIp = InetAddress.getByName("127.0.182.31");
        CountDownLatch three = new CountDownLatch(3);
        AtomicInteger connections = new AtomicInteger();
        io.grpc.Server app = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder.forAddress(new InetSocketAddress(backendIp, 53900))
                .maxConcurrentCallsPerConnection(1)
                .addTransportFilter(new io.grpc.ServerTransportFilter() {
                    @Override
                    public io.grpc.Attributes transportReady(io.grpc.Attributes attributes) {
                        connections.incrementAndGet();
                        return attributes;
                    }
                })
                .addService(io.grpc.ServerServiceDefinition.builder("test.Echo").addMethod(L7Http2Test.ALLOWED,
                        io.grpc.stub.ServerCalls.asyncUnaryCall((req, obs) -> {
                            boolean warm = new String(req, StandardCharsets.UTF_8).equals("warm");
                            if (!warm) {
                                three.countDown();
                            }
                            // Off the transport's thread: the call answers once the other two have arrived (or not at all).
                            new Thread(() -> {
                                try {
                                    if (warm || three.await(20, TimeUnit.SECONDS)) {
                                        obs.onNext(req);
                                        obs.onCompleted();
                                    } else {
                                        obs.onError(io.grpc.Status.DEADLINE_EXCEEDED.withDescription("the other calls never came").asRuntimeException());
                                    }
                                } catch (InterruptedException e) {
                                    Thread.currentThread().interrupt();
                                }
                            }).start();
                        })).build()).build().start();
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"), List.of(frontendIp),
                Workload.Protocol.HBONE, null, "cluster.local");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(backendIp),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(53900, AppProtocol.GRPC));
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend), Map.of("b", new InetSocketAddress(backendIp, 15008)));
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("limit.yaml", L7Http2AppGoAwayTest.POLICY)).build();
        io.grpc.ManagedChannel ch = null;
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy)
                .node("b").inbound(new InetSocketAddress(backendIp, 53901)).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            registry.replace(List.of(backend, frontend), Map.of("b", server.inboundAddress()));
            try (Mesh frontendProxy = Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build()) {
                InetSocketAddress via = frontendProxy.capture(Capture.forward(new InetSocketAddress(frontendIp, 53902),
                        new InetSocketAddress(backendIp, 53900)));
                ch = io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder.forAddress(via.getHostString(), via.getPort()).usePlaintext().build();
                io.grpc.CallOptions options = io.grpc.CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS);
                // A first call, so that the application's connection and its SETTINGS (one stream at a time) are there.
                assertThat(io.grpc.stub.ClientCalls.blockingUnaryCall(ch, L7Http2Test.ALLOWED, options, "warm".getBytes(StandardCharsets.UTF_8)))
                        .asString(StandardCharsets.UTF_8).isEqualTo("warm");
                List<com.google.common.util.concurrent.ListenableFuture<byte[]>> calls = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    calls.add(io.grpc.stub.ClientCalls.futureUnaryCall(ch.newCall(L7Http2Test.ALLOWED, options),
                            ("call " + i).getBytes(StandardCharsets.UTF_8)));
                }
                for (int i = 0; i < 3; i++) {
                    assertThat(calls.get(i).get(40, TimeUnit.SECONDS)).as("call " + i).asString(StandardCharsets.UTF_8).isEqualTo("call " + i);
                }
                assertThat(connections.get()).as("the application's connections from the proxy").isGreaterThanOrEqualTo(2);
            }
        } finally {
            if (ch != null) {
                ch.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            }
            app.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
    }
}
