package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
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
        StreamHandler echo = echo();
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

            assertThat(echoesOneMiB(client, mesh, via, ECHO, 1, null)).as("1 MiB echoed intact beside the stalled tunnels").isTrue();
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

    /** Streams per connection, each way, in the tests of the connection window's updates. */
    static final int STREAMS = 8;
    static final int SMALL_WINDOW = 64 * 1024;
    static final int SMALL_CHUNK = 16 * 1024;

    /**
     * All but one of a connection's streams stalled with full stream windows hold 7/8 of its connection window (64 KiB
     * streams, 8 x 64 KiB = 512 KiB): the eighth still echoes 1 MiB. Netty's default connection update comes once half
     * the window (256 KiB) was taken, which the 64 KiB the stalled ones left could never reach: the echo stopped after
     * 64 KiB (H2Config#connectionUpdate). Client to server: the server's connection window.
     */
    @Test
    @DisplayName("seven of eight tunnels stalled client->server (7/8 of the connection window held): the eighth echoes 1 MiB")
    void stalledTunnelsHoldingMoreThanHalfTheConnectionWindowStopNoOtherUpload() throws Exception {
        stalledTunnelsHoldingMostOfTheConnectionWindow(true);
    }

    /** {@link #stalledTunnelsHoldingMoreThanHalfTheConnectionWindowStopNoOtherUpload} server to client: the client's window. */
    @Test
    @DisplayName("seven of eight tunnels stalled server->client (7/8 of the connection window held): the eighth echoes 1 MiB")
    void stalledTunnelsHoldingMoreThanHalfTheConnectionWindowStopNoOtherDownload() throws Exception {
        stalledTunnelsHoldingMostOfTheConnectionWindow(false);
    }

    private void stalledTunnelsHoldingMostOfTheConnectionWindow(boolean upload) throws Exception {
        int stalledCount = STREAMS - 1;
        CountDownLatch full = new CountDownLatch(stalledCount);
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
        StreamHandler floods = (stream, tunnel) -> floodWindow(stream, full);
        try (Mesh mesh = new Mesh();
             HboneServer server = mesh.server((dst, id, local) -> switch (dst.getPort()) {
                 case STALL_UP -> Destination.embedded(neverReads);
                 case STALL_DOWN -> Destination.embedded(floods);
                 case ECHO -> Destination.embedded(echo());
                 default -> null;
             }).bind(new InetSocketAddress("127.0.220.1", 0)).maxConcurrentStreams(STREAMS)
                     .streamWindow(SMALL_WINDOW).connectionWindow(65_535).build().start().get();
             HboneClient client = mesh.client().maxStreamsPerConnection(STREAMS)
                     .streamWindow(SMALL_WINDOW).connectionWindow(65_535).build()) {
            InetSocketAddress via = server.localAddress();
            List<HboneStream> stalled = new ArrayList<>();
            for (int i = 0; i < stalledCount; i++) {
                HboneStream s = client.connect(Mesh.loopback(upload ? STALL_UP : STALL_DOWN), mesh.expectServer(), via).get(10, TimeUnit.SECONDS);
                stalled.add(s);
                if (upload) {
                    s.channel().eventLoop().execute(() -> floodWindow(s.channel(), full));
                } else {
                    s.channel().config().setAutoRead(false); // this app never reads
                }
            }
            // Every write completes only once its bytes went out in the peer's stream window: 7 x 64 KiB are held unread.
            assertThat(full.await(30, TimeUnit.SECONDS)).as("every stalled tunnel got its whole stream window").isTrue();

            assertThat(echoesOneMiB(client, mesh, via, ECHO, 2, () -> assertThat(Inspect.connectionCount(server))
                    .as("one HTTP/2 connection carries them all").isEqualTo(1))).as("1 MiB echoed intact beside tunnels holding 7/8 of the connection window")
                    .isTrue();
            for (HboneStream st : stalled) {
                st.channel().config().setAutoRead(true);
                st.reset();
                st.channel().closeFuture().await(10, TimeUnit.SECONDS);
            }
        }
    }

    /** Writes one {@link #SMALL_WINDOW} in {@link #SMALL_CHUNK} buffers, counting down {@code full} once all went out. */
    static void floodWindow(Channel ch, CountDownLatch full) {
        AtomicLong sent = new AtomicLong();
        for (int i = 0; i < SMALL_WINDOW / SMALL_CHUNK; i++) {
            ch.write(Unpooled.wrappedBuffer(DATA, 0, SMALL_CHUNK)).addListener(f -> {
                if (f.isSuccess() && sent.addAndGet(SMALL_CHUNK) == SMALL_WINDOW) {
                    full.countDown();
                }
            });
        }
        ch.flush();
    }

    /**
     * Whether 1 MiB (random bytes from {@code seed}) sent through a new tunnel of {@code client} to the echo on
     * {@code port} comes back intact within 60 s: false when it does not (the tunnel's bytes stopped behind others).
     * {@code whileOpen} (may be null) runs once the tunnel is open, before any byte.
     */
    static boolean echoesOneMiB(HboneClient client, Mesh mesh, java.net.InetSocketAddress via, int port, long seed, Runnable whileOpen)
            throws Exception {
        byte[] payload = new byte[1024 * 1024];
        new Random(seed).nextBytes(payload);
        try (HboneSocket s = client.connectSocket(Mesh.loopback(port), mesh.expectServer(), via, Duration.ofSeconds(10))) {
            if (whileOpen != null) {
                whileOpen.run();
            }
            CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
                try {
                    OutputStream out = s.getOutputStream();
                    out.write(payload);
                    out.flush();
                    s.shutdownOutput();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            CompletableFuture<byte[]> back = CompletableFuture.supplyAsync(() -> {
                try {
                    return s.getInputStream().readNBytes(payload.length);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            byte[] got;
            try {
                got = back.get(60, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                return false;
            }
            sent.get(10, TimeUnit.SECONDS);
            return Arrays.equals(got, payload);
        }
    }

    static StreamHandler echo() {
        return (stream, tunnel) -> stream.pipeline().addLast(new ChannelInboundHandlerAdapter() {
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
    }
}
