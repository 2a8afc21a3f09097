package io.zerohop.identity.spire;

import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.spiffe.workloadapi.grpc.SpiffeWorkloadAPIGrpc;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A Workload API endpoint on a real Unix socket that answers {@code FetchX509SVID} with whatever bytes and status a
 * test gives it, so that it can send what no well-behaved agent sends (bytes that are no protobuf message, fields java-spiffe
 * cannot parse, a status of its choice) and what grpc-java's generated server would not let a test write. Each call is
 * handed to the test as a {@link Call} on {@link #calls}; the test answers it.
 */
final class RawWorkloadApi implements AutoCloseable {
    private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    private static final MethodDescriptor<byte[], byte[]> FETCH_X509_SVID = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.SERVER_STREAMING)
            .setFullMethodName(SpiffeWorkloadAPIGrpc.getFetchX509SVIDMethod().getFullMethodName())
            .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();

    /** One {@code FetchX509SVID} call: its headers, and the means to answer it. */
    record Call(ServerCall<byte[], byte[]> call, Metadata headers) {
        void send(byte[] message) {
            synchronized (call) {
                call.sendMessage(message);
            }
        }

        void close(Status status) {
            synchronized (call) {
                call.close(status, new Metadata());
            }
        }
    }

    /** The calls received, in order. */
    final LinkedBlockingQueue<Call> calls = new LinkedBlockingQueue<>();

    private final EventLoopGroup group = new EpollEventLoopGroup(1);
    private final Server server;

    RawWorkloadApi(Path socket) throws IOException {
        ServerCallHandler<byte[], byte[]> handler = (call, headers) -> {
            call.sendHeaders(new Metadata());
            call.request(1);
            calls.add(new Call(call, headers));
            return new ServerCall.Listener<>() {};
        };
        server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class).bossEventLoopGroup(group).workerEventLoopGroup(group)
                .withChildOption(ChannelOption.SO_KEEPALIVE, null)
                .addService(ServerServiceDefinition.builder(SpiffeWorkloadAPIGrpc.SERVICE_NAME).addMethod(FETCH_X509_SVID, handler).build())
                .build().start();
    }

    /** The next call, waiting up to 30 s; fails when none comes. */
    Call next() throws InterruptedException {
        Call c = calls.poll(30, TimeUnit.SECONDS);
        if (c == null) {
            throw new AssertionError("no FetchX509SVID call within 30 s");
        }
        return c;
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
    }
}
