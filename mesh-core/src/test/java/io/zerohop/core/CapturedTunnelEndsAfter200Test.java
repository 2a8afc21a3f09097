package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2ChannelDuplexHandler;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.TunnelResult;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.testing.netty.SocketEnds;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The node proxy's capture path against a peer that ends the tunnel right after its 200: a
 * frame-level HTTP/2 server (Netty's frame codec over real mTLS with the destination's SVID, no HBONE
 * logic) answers the CONNECT with HEADERS 200, DATA "abc" and RST_STREAM(CANCEL), all in one socket
 * write. The mesh joins the captured connection to the tunnel in a later task than the one that read
 * all three, after the tunnel's stream channel closed. On e4a18a4 the captured application got its
 * end without the bytes (this test's first read came back empty): a cut response that looked
 * complete. Now it gets "abc" and a FIN: ztunnel reads CANCEL as the end of the peer's data
 * (istio/ztunnel src/proxy/h2.rs {@code poll_bytes}).
 */
@Timeout(60)
class CapturedTunnelEndsAfter200Test {
    static final byte[] ABC = "abc".getBytes(StandardCharsets.US_ASCII);

    @Test
    void aCapturedConnectionGetsTheBytesAndTheEndOfATunnelCutRightAfterIts200() throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.42.2");
        InetAddress frontendIp = InetAddress.getByName("127.0.42.3");
        Workload backend = new Workload("prod", "backend", "backend", Map.of(), List.of(backendIp), Workload.Protocol.HBONE, "b", "cluster.local");
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of(), List.of(frontendIp), Workload.Protocol.HBONE, null,
                "cluster.local");
        EventLoopGroup serverLoop = Transports.newGroup(1, "h2-frames");
        try (InMemoryCa ca = InMemoryCa.create("cluster.local"); MeshTls tls = MeshTls.builder(ca).build()) {
            var ssl = tls.server(backend.identity()).get(10, TimeUnit.SECONDS);
            Channel peer = new ServerBootstrap().group(serverLoop).channel(Transports.serverChannel(serverLoop))
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel c) {
                            c.pipeline().addLast(ssl.newHandler(c.alloc()), new OneWrite(), Http2FrameCodecBuilder.forServer().build(),
                                    new CutAfter200());
                        }
                    }).bind(new InetSocketAddress(backendIp, 0)).sync().channel();
            BlockingQueue<TunnelResult> closed = new LinkedBlockingQueue<>();
            WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend),
                    Map.of("b", (InetSocketAddress) peer.localAddress()));
            try (Mesh clients = Mesh.builder().identityProvider(ca).workloads(registry).onTunnelClosed(closed::add).threads(2).build()) {
                InetSocketAddress local = clients.capture(Capture.forward(new InetSocketAddress("127.0.42.1", 0),
                        new InetSocketAddress(backendIp, 9090)));
                try (Socket app = new Socket()) {
                    app.bind(new InetSocketAddress(frontendIp, 0));
                    app.connect(local, 10_000);
                    app.setSoTimeout(30_000);
                    InputStream in = app.getInputStream();
                    assertThat(in.readNBytes(3)).as("the bytes that came with the 200").isEqualTo(ABC);
                    assertThat(SocketEnds.readUntilEnd(in)).as("then a FIN (CANCEL is a clean end)").isEqualTo("eof");
                }
                TunnelResult t = closed.poll(30, TimeUnit.SECONDS);
                assertThat(t).as("the tunnel's close, for the access log and the metrics").isNotNull();
                assertThat(t.status()).isEqualTo(200);
                assertThat(t.reset()).isFalse();
                assertThat(t.bytesReceived()).isEqualTo(3);
            } finally {
                peer.close().syncUninterruptibly();
            }
        } finally {
            serverLoop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
        }
    }

    /**
     * Holds the HTTP/2 codec's flushes until {@link CutAfter200} asks for one: Netty's flow controller
     * writes DATA only at a flush and an RST_STREAM at once, so DATA before RST_STREAM takes a flush
     * in between; held here, both leave in one TLS write.
     */
    static final class OneWrite extends ChannelDuplexHandler {
        boolean release;

        @Override
        public void flush(ChannelHandlerContext ctx) {
            if (release) {
                release = false;
                ctx.flush();
            }
        }
    }

    /** HEADERS 200, DATA "abc", RST_STREAM(CANCEL) to every CONNECT; the SETTINGS and their ACKs go out as they come. */
    static final class CutAfter200 extends Http2ChannelDuplexHandler {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                OneWrite out = ctx.pipeline().get(OneWrite.class);
                if (msg instanceof Http2HeadersFrame h && h.stream() != null) {
                    ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200"), false).stream(h.stream()));
                    ctx.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(ABC), false).stream(h.stream()));
                    ctx.flush();
                    ctx.write(new DefaultHttp2ResetFrame(Http2Error.CANCEL).stream(h.stream()));
                }
                out.release = true;
                ctx.flush();
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.pipeline().get(OneWrite.class).release = true;
            ctx.flush();
        }
    }
}
