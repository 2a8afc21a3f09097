package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import io.zerohop.hbone.internal.Inspect;

/**
 * Back-pressure is per tunnel: tunnels whose reader stopped, each holding a full stream window,
 * must not stop the other tunnels of their HTTP/2 connection, in either direction (istio/ztunnel#1945:
 * with 4 MiB stream and 16 MiB connection windows, four stalled tunnels stop the rest).
 */
@Timeout(120)
class HeadOfLineTest {
    static final int STALL_UP = 7101;
    static final int STALL_DOWN = 7102;
    static final int ECHO = 7103;
    static final int STALLED = 6;
    static final int CHUNK = 64 * 1024;
    static final long STREAM_WINDOW = 4 * 1024 * 1024;
    static final byte[] DATA = new byte[CHUNK];

    /** Writes {@code chunks} buffers, counting down {@code full} once a stream window's worth went out. */
    static void flood(Channel ch, int chunks, CountDownLatch full) {
        AtomicLong sent = new AtomicLong();
        for (int i = 0; i < chunks; i++) {
            ch.write(Unpooled.wrappedBuffer(DATA)).addListener(f -> {
                if (f.isSuccess() && sent.addAndGet(CHUNK) == STREAM_WINDOW) {
                    full.countDown();
                }
            });
        }
        ch.flush();
    }

    @Test
    @DisplayName("six stalled tunnels each way on one connection; a seventh still echoes 1 MiB")
    void stalledTunnelsDoNotStopTheOthers() throws Exception {
        CountDownLatch downFull = new CountDownLatch(STALLED);
        StreamHandler neverReads = new StreamHandler() {
            @Override
            public void initStream(Channel stream, TunnelInfo tunnel) {
                // auto-read stays off and nobody ever reads
            }

            @Override
            public boolean autoRead() {
                return false;
            }
        };
        StreamHandler floods = (stream, tunnel) -> flood(stream, 96, downFull);
        StreamHandler echo = (stream, tunnel) -> stream.pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ctx.write(msg);
            }

            @Override
            public void channelReadComplete(ChannelHandlerContext ctx) {
                ctx.flush();
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
                    HboneStream.shutdownOutput(ctx.channel());
                }
            }
        });
        try (Mesh mesh = new Mesh();
             HboneServer server = mesh.server((dst, id, local) -> switch (dst.getPort()) {
                 case STALL_UP -> Destination.embedded(neverReads);
                 case STALL_DOWN -> Destination.embedded(floods);
                 case ECHO -> Destination.embedded(echo);
                 default -> null;
             }).build().start().get();
             HboneClient client = mesh.client().build()) {
            InetSocketAddress via = server.localAddress();
            List<HboneStream> stalled = new ArrayList<>();
            CountDownLatch upFull = new CountDownLatch(STALLED);
            for (int i = 0; i < STALLED; i++) {
                HboneStream up = client.connect(Mesh.loopback(STALL_UP), mesh.expectServer(), via).get(10, TimeUnit.SECONDS);
                stalled.add(up);
                up.channel().eventLoop().execute(() -> flood(up.channel(), 96, upFull));
                HboneStream down = client.connect(Mesh.loopback(STALL_DOWN), mesh.expectServer(), via).get(10, TimeUnit.SECONDS);
                down.channel().config().setAutoRead(false); // this app never reads
                stalled.add(down);
            }
            // More than the 16 MiB connection window is in flight each way: each stalled tunnel filled its 4 MiB window.
            assertThat(upFull.await(30, TimeUnit.SECONDS)).as("client->server: every stalled tunnel got its stream window").isTrue();
            assertThat(downFull.await(30, TimeUnit.SECONDS)).as("server->client: every stalled tunnel got its stream window").isTrue();
            assertThat(Inspect.connectionCount(server)).as("one HTTP/2 connection carries them all").isEqualTo(1);

            byte[] payload = new byte[1024 * 1024];
            new Random(1).nextBytes(payload);
            try (HboneSocket s = client.connectSocket(Mesh.loopback(ECHO), mesh.expectServer(), via, Duration.ofSeconds(10))) {
                CompletableFuture<Void> upload = CompletableFuture.runAsync(() -> {
                    try {
                        OutputStream out = s.getOutputStream();
                        out.write(payload);
                        out.flush();
                        s.shutdownOutput();
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                InputStream in = s.getInputStream();
                byte[] back = in.readNBytes(payload.length);
                upload.get(30, TimeUnit.SECONDS);
                assertThat(Arrays.equals(back, payload)).as("1 MiB echoed intact beside the stalled tunnels").isTrue();
            }
            assertThat(Inspect.connectionCount(server)).isEqualTo(1);
            // Client-side readers resume (they read the reset); the server-side ones never do: the
            // reset alone must free what they hold (paranoid leak detection checks it).
            for (HboneStream st : stalled) {
                st.channel().config().setAutoRead(true);
                st.reset();
                st.channel().closeFuture().await(10, TimeUnit.SECONDS);
            }
        }
    }
}
