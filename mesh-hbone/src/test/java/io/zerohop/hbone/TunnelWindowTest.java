package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2WindowUpdateFrame;
import io.zerohop.hbone.internal.HbonePipeline;
import io.zerohop.hbone.interop.EmbeddedEcho;
import java.io.DataInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A tunnel's receive window is returned by its {@code TunnelCodec} straight to the connection's flow
 * controller (issue 14), not by Netty's stream channel writing a WINDOW_UPDATE frame object through
 * both pipelines on every read. The frames written into each connection's HTTP/2 codec are counted
 * by a handler in front of it; what reaches the wire is still decided by the flow controller (RFC
 * 9113 section 6.9), so bulk transfers over windows far smaller than what they move must still
 * complete in both directions. Own mechanics, no upstream to cite.
 */
@Timeout(120)
class TunnelWindowTest {
    private Mesh mesh;
    private HboneServer server;
    private HboneClient client;
    /** Counts what the server's connections write into their HTTP/2 codecs. */
    private final FrameCounter serverFrames = new FrameCounter();
    private final EmbeddedEcho echo = new EmbeddedEcho();

    @AfterEach
    void stop() {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
        if (mesh != null) {
            mesh.close();
        }
    }

    private void start(int streamWindow, int connectionWindow) throws Exception {
        mesh = new Mesh();
        server = mesh.server((dst, id, local) -> Destination.embedded(this::echo))
                .streamWindow(streamWindow).connectionWindow(connectionWindow).build().start().get(10, TimeUnit.SECONDS);
        client = mesh.client().streamWindow(streamWindow).connectionWindow(connectionWindow).build();
    }

    /** {@link EmbeddedEcho} (with back-pressure), its connection's frames counted. */
    private void echo(Channel stream, TunnelInfo tunnel) {
        serverFrames.addTo(stream.parent());
        echo.initStream(stream, tunnel);
    }

    @Test
    void echoesWriteNoWindowUpdateFramePerRead() throws Exception {
        start(4 * 1024 * 1024, 16 * 1024 * 1024);
        HboneStream stream = client.connect(Mesh.loopback(8080), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
        FrameCounter clientFrames = new FrameCounter();
        stream.channel().eventLoop().submit(() -> clientFrames.addTo(stream.channel().parent())).get(10, TimeUnit.SECONDS);
        int echoes = 200;
        try (Socket s = stream.toSocket()) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] request = new byte[1024];
            byte[] response = new byte[1024];
            for (int i = 0; i < echoes; i++) {
                request[0] = (byte) i;
                out.write(request);
                in.readFully(response);
                assertThat(response[0]).isEqualTo((byte) i);
            }
            // The counters sit on the data path: every echo's DATA passed them, both ways.
            assertThat(clientFrames.data.get()).isEqualTo(echoes);
            assertThat(serverFrames.data.get()).isEqualTo(echoes);
            // Netty's stream channel wrote one WINDOW_UPDATE frame object per read on either side (200 each).
            assertThat(clientFrames.windowUpdates.get()).as("client stream WINDOW_UPDATE frames written").isZero();
            assertThat(serverFrames.windowUpdates.get()).as("server stream WINDOW_UPDATE frames written").isZero();
        }
    }

    /**
     * 65,535-byte stream and connection windows (the smallest allowed) and 4 MiB each way on three
     * tunnels at once: nothing moves past the first 64 KiB unless both ends return what their
     * readers took, per stream and for the connection.
     */
    @Test
    void smallWindowsStillCarryBulkBothWays() throws Exception {
        start(65_535, 65_535);
        int tunnels = 3;
        int total = 4 * 1024 * 1024;
        List<CompletableFuture<long[]>> results = new ArrayList<>();
        List<Socket> sockets = new ArrayList<>();
        for (int t = 0; t < tunnels; t++) {
            Socket s = client.connectSocket(Mesh.loopback(8080), mesh.expectServer(), server.localAddress(), java.time.Duration.ofSeconds(10));
            s.setSoTimeout(30_000);
            sockets.add(s);
            int seed = t;
            CompletableFuture<Long> sent = CompletableFuture.supplyAsync(() -> {
                try {
                    CRC32 crc = new CRC32();
                    byte[] chunk = new byte[16 * 1024 + 7];
                    OutputStream out = s.getOutputStream();
                    for (int done = 0; done < total; ) {
                        int n = Math.min(chunk.length, total - done);
                        for (int i = 0; i < n; i++) {
                            chunk[i] = (byte) (done + i + seed);
                        }
                        out.write(chunk, 0, n);
                        crc.update(chunk, 0, n);
                        done += n;
                    }
                    s.shutdownOutput();
                    return crc.getValue();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            CompletableFuture<long[]> received = CompletableFuture.supplyAsync(() -> {
                try {
                    CRC32 crc = new CRC32();
                    byte[] buf = new byte[8192];
                    InputStream in = s.getInputStream();
                    long got = 0;
                    for (int n; (n = in.read(buf)) >= 0; ) {
                        crc.update(buf, 0, n);
                        got += n;
                    }
                    return new long[] {got, crc.getValue()};
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            results.add(sent.thenCombine(received, (crc, r) -> new long[] {r[0], r[1], crc}));
        }
        for (CompletableFuture<long[]> r : results) {
            long[] v = r.get(100, TimeUnit.SECONDS);
            assertThat(v[0]).as("bytes echoed").isEqualTo(total);
            assertThat(v[1]).as("CRC of the echo").isEqualTo(v[2]);
        }
        for (Socket s : sockets) {
            s.close();
        }
    }

    /** Counts DATA and WINDOW_UPDATE frame objects written into a connection's HTTP/2 codec. */
    @ChannelHandler.Sharable
    static final class FrameCounter extends ChannelOutboundHandlerAdapter {
        final AtomicInteger data = new AtomicInteger();
        final AtomicInteger windowUpdates = new AtomicInteger();
        private final String name = "test-frame-counter-" + System.identityHashCode(this);

        /** Right in front of the codec, once per connection; on the connection's event loop. */
        void addTo(Channel connection) {
            if (connection.pipeline().get(name) == null) {
                connection.pipeline().addAfter(HbonePipeline.H2, name, this);
            }
        }

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
            if (msg instanceof Http2WindowUpdateFrame) {
                windowUpdates.incrementAndGet();
            } else if (msg instanceof Http2DataFrame) {
                data.incrementAndGet();
            }
            ctx.write(msg, promise);
        }
    }
}
