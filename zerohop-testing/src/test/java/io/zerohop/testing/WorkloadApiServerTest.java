package io.zerohop.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.stub.MetadataUtils;
import io.spiffe.workloadapi.grpc.SpiffeWorkloadAPIGrpc;
import io.spiffe.workloadapi.grpc.Workload;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A new user's proxy test logged {@code WARN ... ServerBootstrap - Unknown channel option 'SO_KEEPALIVE' for channel
 * ... EpollDomainSocketChannel} on every Workload API stream: grpc-netty sets it on every accepted channel, and a Unix
 * domain socket has none. A real gRPC call on the real socket; the server's log is read from stderr (slf4j-simple).
 */
class WorkloadApiServerTest {
    @TempDir
    Path dir;

    @Test
    void aStreamOnTheDomainSocketLogsNoUnknownChannelOption() throws Exception {
        Path socket = dir.resolve("agent.sock");
        EventLoopGroup loop = new EpollEventLoopGroup(1);
        try (CapturedStderr log = new CapturedStderr(); WorkloadApiServer agent = new WorkloadApiServer(socket)) {
            assertThat(Files.exists(socket)).isTrue();
            ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                    .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();
            try {
                Metadata header = new Metadata();
                header.put(Metadata.Key.of("workload.spiffe.io", Metadata.ASCII_STRING_MARSHALLER), "true");
                var stub = SpiffeWorkloadAPIGrpc.newBlockingStub(channel)
                        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(header)).withDeadlineAfter(10, TimeUnit.SECONDS);
                // Nothing served yet: SPIRE's answer for an unregistered workload, after the server accepted the stream.
                StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
                        () -> stub.fetchX509SVID(Workload.X509SVIDRequest.getDefaultInstance()).next());
                assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
            // The server's child channel was configured (options set) before the call reached it.
            assertThat(log.count("ServerBootstrap", "Unknown channel option")).as(log.text()).isZero();
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
        }
    }
}
