package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpChunkedInput;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.stream.ChunkedStream;
import io.netty.handler.stream.ChunkedWriteHandler;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.netty.Await;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An embedded application ({@code Mesh.serve}, {@link AppBridge}) that answers inside the read of its request, as a Netty
 * handler usually does ({@code channelRead} → {@code ctx.write}), and writes while its channel is writable: Netty's
 * {@link ChunkedWriteHandler} ({@code doFlush}: {@code while (channel.isWritable())}, resumed at
 * {@code channelWritabilityChanged}) and a handler looping the same way. The filter holds such an answer until the read
 * completes ({@code Http1Filter.hold}); what it holds now counts in the tunnel stream's pending outbound bytes, so the
 * stream turns unwritable past its high watermark (512 KiB) as a socket does, the application stops inside the read and
 * goes on when the stream drains; and it counts in the node's L7 budget ({@link H2HeldBudget#held()}). Until 7 December
 * (h393) the stream stayed writable: each application wrote all of its 64 MiB inside the read, and the node counted
 * ~64 MiB once it was handed on (the loop of h387, 13 million writes, was this with no end).
 *
 * <p>Bounded memory is asserted on the budget's counters, sampled while the client reads slowly: never more than
 * {@link #BOUND}, whatever the timing (the stream's watermark, its HTTP/2 window and its connection's outbound buffer,
 * each bounded). Addresses 127.0.253.1-2, ports 52200-52207.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7EmbeddedAnswerInReadTest {
    private static final int TOTAL = 64 << 20;
    private static final int CHUNK = 16 * 1024;
    /** What one connection may count: the stream's 512 KiB watermark and one write, its window, its connection's 1 MiB. */
    private static final long BOUND = 4L << 20;
    private static final byte[] PATTERN = new byte[CHUNK + 251];

    static {
        for (int i = 0; i < PATTERN.length; i++) {
            PATTERN[i] = (byte) (i % 251);
        }
    }

    @Test
    void aLoopWritingWhileWritableInsideTheReadStopsForASlowClient() throws Exception {
        LoopWhileWritable app = new LoopWhileWritable();
        run(52200, () -> new ChannelHandler[] {app}, app.written, true);
        assertThat(app.stops.get()).as("the loop stopped on an unwritable stream inside the read and after").isPositive();
        assertThat(app.resumes.get()).as("and went on at channelWritabilityChanged").isPositive();
    }

    @Test
    void aLoopWritingWhileWritableInsideTheReadSendsTheWholeResponseInOrder() throws Exception {
        LoopWhileWritable app = new LoopWhileWritable();
        run(52202, () -> new ChannelHandler[] {app}, app.written, false);
        assertThat(app.written.get()).isEqualTo(TOTAL);
    }

    @Test
    void nettysChunkedWriteHandlerAnsweringInsideTheReadStopsForASlowClient() throws Exception {
        AtomicLong written = new AtomicLong();
        run(52204, () -> chunkedApp(written), written, true);
    }

    @Test
    void nettysChunkedWriteHandlerAnsweringInsideTheReadSendsTheWholeResponseInOrder() throws Exception {
        AtomicLong written = new AtomicLong();
        run(52206, () -> chunkedApp(written), written, false);
        assertThat(written.get()).isEqualTo(TOTAL);
    }

    /**
     * Serves {@code app} on an L7 port (a DENY rule on a path: parsed), asks once, and reads the response: slowly (nothing
     * until the node counts the stalled answer, then 64 KiB at a time, the budget's count sampled at each step) or at
     * once. The body is checked byte for byte (order kept), and the count goes back once the client goes.
     */
    private static void run(int inbound, Supplier<ChannelHandler[]> app, AtomicLong written, boolean slow) throws Exception {
        InetAddress bip = InetAddress.getByName("127.0.253.1");
        int port = inbound + 1;
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(bip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"),
                List.of(InetAddress.getByName("127.0.253.2")), Workload.Protocol.HBONE, null, "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend), Map.of("b", new InetSocketAddress(bip, inbound)));
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        io.zerohop.policy.PolicyEngine policy = io.zerohop.policy.PolicyEngine.builder().policies(io.zerohop.policy.PolicyLoader.fromString("p.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-admin, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules:
                  - to:
                    - operation: {paths: ["/admin*"]}
                """)).build();
        long limit = H2HeldBudget.limit();
        // No shed: the count is what is asserted, not the budget's answer to it (before the fix it held ~64 MiB).
        H2HeldBudget.limit(1L << 40);
        long base = H2HeldBudget.held();
        int filedBase = H2HeldBudget.filed();
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy)
                .node("b").inbound(new InetSocketAddress(bip, inbound)).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            server.serve(new InetSocketAddress(bip, port), (stream, tunnel) -> stream.pipeline().addLast(app.get()));
            try (Mesh client = Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build()) {
                Socket c = client.socketFactory().createSocket(bip, port);
                c.setSoTimeout(30_000);
                c.getOutputStream().write("GET /big HTTP/1.1\r\nhost: backend\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                c.getOutputStream().flush();
                InputStream in = c.getInputStream();
                String head = readHead(in);
                assertThat(head).startsWith("HTTP/1.1 200 ").containsIgnoringCase("content-length: " + TOTAL);
                long max = 0;
                if (slow) {
                    // Nothing read: the answer stalls toward the client, counted (it was counted before too, all of it).
                    Await.until("the stalled answer counted", () -> H2HeldBudget.held() > base);
                    max = H2HeldBudget.held() - base;
                    assertThat(max).as("counted for a client that reads nothing (the application wrote %d)", written.get())
                            .isLessThanOrEqualTo(BOUND);
                }
                byte[] buf = new byte[slow ? 64 * 1024 : 1 << 20];
                long got = 0;
                while (got < TOTAL) {
                    int n = in.read(buf, 0, (int) Math.min(buf.length, TOTAL - got));
                    assertThat(n).as("body bytes at %d", got).isPositive();
                    for (int i = 0; i < n; i++) {
                        if (buf[i] != (byte) ((got + i) % 251)) {
                            throw new AssertionError("body byte " + (got + i) + " is " + buf[i] + ", expected " + (got + i) % 251);
                        }
                    }
                    got += n;
                    if (slow) {
                        max = Math.max(max, H2HeldBudget.held() - base);
                    }
                }
                assertThat(max).as("the most the node counted while the client read slowly").isLessThanOrEqualTo(BOUND);
                System.out.printf("%s: most counted %d bytes%n", slow ? "slow" : "normal", max);
                c.close();
                Await.until("the node's count back to what it was", () -> H2HeldBudget.held() == base
                        && H2HeldBudget.filed() == filedBase && H2HeldBudget.asked() == 0);
            }
        } finally {
            H2HeldBudget.limit(limit);
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int matched = 0;
        while (matched < 4) {
            int x = in.read();
            if (x < 0) {
                throw new AssertionError("the connection ended in the response's head: " + b);
            }
            b.write(x);
            matched = (x == "\r\n\r\n".charAt(matched)) ? matched + 1 : (x == '\r' ? 1 : 0);
        }
        return b.toString(StandardCharsets.ISO_8859_1);
    }

    /** A raw-bytes application: answers at its request's first read, writing 16 KiB parts while its stream is writable. */
    private static final class LoopWhileWritable extends ChannelInboundHandlerAdapter {
        final AtomicLong written = new AtomicLong();
        final AtomicInteger stops = new AtomicInteger();
        final AtomicInteger resumes = new AtomicInteger();
        private boolean answering;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
            if (!answering) {
                answering = true;
                ctx.write(Unpooled.copiedBuffer("HTTP/1.1 200 OK\r\ncontent-length: " + TOTAL + "\r\n\r\n", StandardCharsets.US_ASCII));
                more(ctx);
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (answering && ctx.channel().isWritable() && written.get() < TOTAL) {
                resumes.incrementAndGet();
                more(ctx);
            }
            ctx.fireChannelWritabilityChanged();
        }

        private void more(ChannelHandlerContext ctx) {
            long w = written.get();
            while (w < TOTAL && ctx.channel().isActive() && ctx.channel().isWritable()) {
                int n = (int) Math.min(CHUNK, TOTAL - w);
                ByteBuf b = Unpooled.wrappedBuffer(PATTERN, (int) (w % 251), n);
                ctx.write(b);
                w += n;
                written.set(w);
            }
            if (w < TOTAL) {
                stops.incrementAndGet();
            }
            ctx.flush();
        }
    }

    /**
     * Netty's own streaming: {@link HttpServerCodec}, {@link ChunkedWriteHandler}, and a handler answering a request's head
     * with a content-length and an {@link HttpChunkedInput}; what leaves the chunked handler is counted in {@code written}.
     */
    private static ChannelHandler[] chunkedApp(AtomicLong written) {
        return new ChannelHandler[] {new HttpServerCodec(), new io.netty.channel.ChannelOutboundHandlerAdapter() {
            @Override
            public void write(ChannelHandlerContext ctx, Object msg, io.netty.channel.ChannelPromise promise) {
                if (msg instanceof io.netty.handler.codec.http.HttpContent h) {
                    written.addAndGet(h.content().readableBytes());
                }
                ctx.write(msg, promise);
            }
        }, new ChunkedWriteHandler(), new SimpleChannelInboundHandler<HttpObject>() {
            @Override
            protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
                if (msg instanceof HttpRequest) {
                    DefaultHttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
                    r.headers().set(HttpHeaderNames.CONTENT_LENGTH, TOTAL);
                    ctx.write(r);
                    ctx.writeAndFlush(new HttpChunkedInput(new ChunkedStream(new PatternStream(), CHUNK)));
                }
            }
        }};
    }

    /** {@link #TOTAL} bytes of the pattern. */
    private static final class PatternStream extends InputStream {
        private long at;

        /** What is left: ChunkedStream sizes its chunks by it (0, the default, makes it read one byte per chunk). */
        @Override
        public int available() {
            return (int) Math.min(Integer.MAX_VALUE, TOTAL - at);
        }

        @Override
        public int read() {
            return at < TOTAL ? (int) (at++ % 251) : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (at >= TOTAL) {
                return -1;
            }
            int n = (int) Math.min(len, TOTAL - at);
            for (int i = 0; i < n; i++) {
                b[off + i] = (byte) ((at + i) % 251);
            }
            at += n;
            return n;
        }
    }
}
