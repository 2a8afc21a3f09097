package io.zerohop.testing;

import com.google.protobuf.ByteString;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.workloadapi.grpc.SpiffeWorkloadAPIGrpc;
import io.spiffe.workloadapi.grpc.Workload;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A SPIFFE Workload API server on a real Unix domain socket (epoll, as the SPIRE agent serves
 * it) or on loopback TCP ({@link #tcp}), for the X.509 context stream only. Like SPIRE, it refuses
 * calls that lack the {@code workload.spiffe.io: true} header with INVALID_ARGUMENT, answers
 * PERMISSION_DENIED while it has nothing to serve, and can end its streams as SPIRE does
 * ({@link #denyAll}, {@link #completeStreams}, {@link #stop}).
 */
public final class WorkloadApiServer implements AutoCloseable {
    private static final Metadata.Key<String> SECURITY_HEADER = Metadata.Key.of("workload.spiffe.io", Metadata.ASCII_STRING_MARSHALLER);

    private final Path socket;
    private final int tcpPort;
    private final EventLoopGroup group;
    private final Server server;
    private final List<StreamObserver<Workload.X509SVIDResponse>> streams = new CopyOnWriteArrayList<>();
    private final AtomicInteger rejected = new AtomicInteger();
    private volatile CountDownLatch streamOpened = new CountDownLatch(1);
    private volatile Workload.X509SVIDResponse current;

    public WorkloadApiServer(Path socket) throws Exception {
        this(java.util.Objects.requireNonNull(socket, "socket"), 0);
    }

    /** A server on 127.0.0.1:{@code port} ({@code tcp://127.0.0.1:port}, the Workload API's TCP form). */
    public static WorkloadApiServer tcp(int port) throws Exception {
        return new WorkloadApiServer(null, port);
    }

    private WorkloadApiServer(Path socket, int tcpPort) throws Exception {
        this.socket = socket;
        this.tcpPort = tcpPort;
        this.group = socket == null ? null : new EpollEventLoopGroup(1);
        SpiffeWorkloadAPIGrpc.SpiffeWorkloadAPIImplBase impl = new SpiffeWorkloadAPIGrpc.SpiffeWorkloadAPIImplBase() {
            @Override
            public void fetchX509SVID(Workload.X509SVIDRequest request, StreamObserver<Workload.X509SVIDResponse> out) {
                Workload.X509SVIDResponse now = current;
                if (now == null) {
                    // SPIRE answers PERMISSION_DENIED "no identity issued" for unregistered workloads
                    out.onError(Status.PERMISSION_DENIED.withDescription("no identity issued").asRuntimeException());
                    return;
                }
                ((ServerCallStreamObserver<Workload.X509SVIDResponse>) out).setOnCancelHandler(() -> streams.remove(out));
                synchronized (out) {
                    streams.add(out);
                    out.onNext(now);
                }
                streamOpened.countDown();
            }
        };
        NettyServerBuilder builder = socket == null ? NettyServerBuilder.forAddress(new java.net.InetSocketAddress("127.0.0.1", tcpPort))
                : NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(group)
                .workerEventLoopGroup(group)
                // grpc-netty sets SO_KEEPALIVE on every accepted channel (NettyServer.start); a Unix domain socket has no
                // such option, and Netty's ServerBootstrap logged "Unknown channel option 'SO_KEEPALIVE'" at WARN on each
                // stream. A null child option is removed by Netty, and grpc applies these after its own.
                .withChildOption(ChannelOption.SO_KEEPALIVE, null);
        this.server = builder
                .addService(ServerInterceptors.intercept(impl, new ServerInterceptor() {
                    @Override
                    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                        if (!"true".equals(headers.get(SECURITY_HEADER))) {
                            rejected.incrementAndGet();
                            call.close(Status.INVALID_ARGUMENT.withDescription("security header missing from request"), new Metadata());
                            return new ServerCall.Listener<>() {};
                        }
                        return next.startCall(call, headers);
                    }
                }))
                .build()
                .start();
    }

    /** {@code unix:/path} (or {@code tcp://127.0.0.1:port}), what SPIFFE_ENDPOINT_SOCKET holds. */
    public String address() {
        return socket == null ? "tcp://127.0.0.1:" + tcpPort : "unix:" + socket;
    }

    public Path socket() {
        return socket;
    }

    public int rejectedCalls() {
        return rejected.get();
    }

    public int openStreams() {
        return streams.size();
    }

    /** Counted down when the next stream has received its first response. */
    public CountDownLatch nextStreamOpened() {
        return streamOpened;
    }

    /** Sets what new streams get, and pushes it on every open stream (a rotation). */
    public void serve(List<X509Svid> svids, X509Bundle bundle, Collection<X509Bundle> federated) {
        Workload.X509SVIDResponse.Builder r = Workload.X509SVIDResponse.newBuilder();
        for (X509Svid s : svids) {
            r.addSvids(Workload.X509SVID.newBuilder()
                    .setSpiffeId(s.getSpiffeId().toString())
                    .setX509Svid(der(s.getChain()))
                    .setX509SvidKey(ByteString.copyFrom(s.getPrivateKey().getEncoded()))
                    .setBundle(der(bundle.getX509Authorities())));
        }
        for (X509Bundle f : federated) {
            r.putFederatedBundles(f.getTrustDomain().newSpiffeId().toString(), der(f.getX509Authorities()));
        }
        current = r.build();
        for (StreamObserver<Workload.X509SVIDResponse> s : streams) {
            synchronized (s) {
                s.onNext(current);
            }
        }
    }

    public void serve(X509Svid svid, X509Bundle bundle) {
        serve(List.of(svid), bundle, List.of());
    }

    /** Raw response, for sending what a broken agent might. */
    public void push(Workload.X509SVIDResponse response) {
        current = response;
        for (StreamObserver<Workload.X509SVIDResponse> s : streams) {
            synchronized (s) {
                s.onNext(response);
            }
        }
    }

    /**
     * What SPIRE does once the workload's last registration entry is deleted: PERMISSION_DENIED on every open stream,
     * and for new ones until {@link #serve} again.
     */
    public void denyAll() {
        current = null;
        for (StreamObserver<Workload.X509SVIDResponse> s : streams) {
            synchronized (s) {
                s.onError(Status.PERMISSION_DENIED.withDescription("no identity issued").asRuntimeException());
            }
        }
        streams.clear();
    }

    /** Ends every open stream cleanly (status OK), as a server stopping gracefully; new streams are still served. */
    public void completeStreams() {
        for (StreamObserver<Workload.X509SVIDResponse> s : streams) {
            synchronized (s) {
                s.onCompleted();
            }
        }
        streams.clear();
    }

    /** The agent going away (gRPC's {@code Server.Stop}): transports dropped, so clients see UNAVAILABLE, not an ended stream. */
    public void stop() {
        server.shutdownNow();
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
            if (group != null) {
                group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The certificates' DER, concatenated, as the Workload API carries chains and bundles (for {@link #push}). */
    public static ByteString der(Collection<X509Certificate> certs) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (X509Certificate c : certs) {
            try {
                out.writeBytes(c.getEncoded());
            } catch (CertificateEncodingException e) {
                throw new IllegalStateException(e);
            }
        }
        return ByteString.copyFrom(out.toByteArray());
    }


    /** Ends the open streams cleanly (status OK), then {@link #stop}s. */
    @Override
    public void close() {
        for (StreamObserver<Workload.X509SVIDResponse> s : streams) {
            try {
                s.onCompleted();
            } catch (RuntimeException ignored) {
                // stream already cancelled by the client
            }
        }
        stop();
    }
}
