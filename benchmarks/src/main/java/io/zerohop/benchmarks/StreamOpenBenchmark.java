package io.zerohop.benchmarks;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import java.net.InetSocketAddress;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import io.zerohop.hbone.internal.Inspect;

/**
 * Opening an HBONE tunnel on a warm pooled connection (no TLS handshake): CONNECT → 200 over
 * loopback to an in-process {@link HboneServer} whose embedded handler closes the stream when the
 * client does. One op = open (future completes on the 200) + graceful close until the stream
 * channel closed, so streams never pile up and the pool never opens a second connection (checked at
 * tear-down).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
public class StreamOpenBenchmark {
    private InMemoryCa ca;
    private MeshTls tls;
    private HboneServer server;
    private HboneClient client;
    private InetSocketAddress target;
    private Set<SpiffeId> expected;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        ca = InMemoryCa.create("cluster.local");
        tls = MeshTls.builder(ca).build();
        SpiffeId serverId = SpiffeIds.istio("cluster.local", "bench", "server");
        server = HboneServer.builder().tls(tls).identity(serverId).bind(new InetSocketAddress("127.0.0.3", 0))
                .destinations((dst, id, local) -> Destination.embedded((ch, info) -> ch.pipeline().addLast(new CloseOnEnd())))
                .authorizer(Authorizer.allowAll()).threads(1)
                .build().start().get(10, TimeUnit.SECONDS);
        client = HboneClient.builder().tls(tls).identity(SpiffeIds.istio("cluster.local", "bench", "client")).threads(1).build();
        target = new InetSocketAddress("127.0.0.3", 8080);
        expected = Set.of(serverId);
        openAndClose(); // the handshake happens here, not in the measurement
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        int connections = Inspect.connectionCount(client, expected, server.localAddress());
        client.close();
        server.close();
        tls.close();
        ca.close();
        if (connections != 1) {
            throw new IllegalStateException("expected one warm pooled connection, pool had " + connections);
        }
    }

    @Benchmark
    public Object openStream() throws Exception {
        return openAndClose();
    }

    private Object openAndClose() throws Exception {
        HboneStream s = client.connect(target, expected, server.localAddress()).get(10, TimeUnit.SECONDS);
        s.close();
        s.channel().closeFuture().get(10, TimeUnit.SECONDS);
        return s;
    }

    /** Server side: closes (END_STREAM back) when the client's END_STREAM arrives. */
    static final class CloseOnEnd extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                HboneStream.shutdownOutput(ctx.channel()).addListener(f -> ctx.close());
            }
            ReferenceCountUtil.release(evt);
        }
    }
}
