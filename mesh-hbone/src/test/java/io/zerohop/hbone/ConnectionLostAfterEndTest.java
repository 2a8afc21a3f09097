package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.testing.netty.Await;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A client loses its HBONE connection (no GOAWAY, no close_notify: a TCP close from the pipeline's
 * head, as when its process dies) after its tunnel's END_STREAMs crossed, while the server's reader
 * has not yet taken what the client sent last (an application that has not read yet, a relay paused
 * by its upstream's back-pressure): Netty holds those DATA frames and the END_STREAM in the stream
 * channel until it is read. The tunnel was complete on the wire, both ways; the server must deliver
 * what it received and count the tunnel as ended ({@code reset=false}, zerohop's {@code end=fin}).
 * Before, the connection's close closed each open tunnel channel at once (TunnelSet), dropping the
 * frames unread: the reader never got the client's last bytes nor its end, and the tunnel counted as
 * {@code reset}, as if the client had died mid-upload. ztunnel's h2 (hyperium/h2
 * src/proto/streams/state.rs {@code recv_eof}) leaves a stream already closed by END_STREAM closed as
 * it was, its received data still readable; only an open stream turns into a broken pipe.
 *
 * <p>Where only one direction ended on the wire, the tunnel is still a reset: the server cannot tell
 * a client that stopped from one that died mid-upload (README, {@code TunnelResult.reset}). The
 * server's application reads nothing until the test has seen, on the server's own event loop, the
 * stream state the frames left (CLOSED or HALF_CLOSED_REMOTE): no timing.
 */
@Timeout(60)
class ConnectionLostAfterEndTest {
    static final byte[] BANNER = "220 banner\n".getBytes(StandardCharsets.US_ASCII);
    static final byte[] REQUEST = "QUIT\r\n".getBytes(StandardCharsets.US_ASCII);

    Mesh mesh;
    HboneServer server;
    final RecordingEvents serverEvents = new RecordingEvents();
    HboneClient client;
    /** Whether the server application ends its direction (END_STREAM after the banner). */
    volatile boolean serverEnds = true;
    final CompletableFuture<Http2StreamChannel> serverStream = new CompletableFuture<>();
    /** What the server application got: byte counts as "bytes N", then "EOF" or "inactive". */
    final LinkedBlockingQueue<String> serverGot = new LinkedBlockingQueue<>();

    @BeforeEach
    void start() throws Exception {
        mesh = new Mesh();
        StreamHandler app = new StreamHandler() {
            @Override
            public void initStream(Channel ch, TunnelInfo tunnel) {
                ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        serverGot.add("bytes " + ((ByteBuf) msg).readableBytes());
                        ((ByteBuf) msg).release();
                    }

                    @Override
                    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                        serverGot.add(evt instanceof ChannelInputShutdownEvent ? "EOF" : evt.toString());
                    }

                    @Override
                    public void channelInactive(ChannelHandlerContext ctx) {
                        serverGot.add("inactive");
                    }
                });
                ch.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(BANNER));
                if (serverEnds) {
                    HboneStream.shutdownOutput(ch);
                }
                serverStream.complete((Http2StreamChannel) ch);
            }

            @Override
            public boolean autoRead() {
                // An application that has not read yet: what the client sends waits in Netty's stream channel.
                return false;
            }
        };
        server = mesh.server((dst, id, local) -> Destination.embedded(app)).listener(serverEvents).build().start().get(10, TimeUnit.SECONDS);
        client = mesh.client().build();
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.close();
        mesh.close();
    }

    /** Opens a tunnel, reads the banner (and the server's END_STREAM when it sends one), sends REQUEST and END_STREAM. */
    HboneStream requestAndEnd() throws Exception {
        HboneStream s = mesh.open(client, server);
        HboneSocket socket = Mesh.socket(s);
        if (serverEnds) {
            assertThat(socket.getInputStream().readAllBytes()).isEqualTo(BANNER);
        } else {
            assertThat(socket.getInputStream().readNBytes(BANNER.length)).isEqualTo(BANNER);
        }
        OutputStream out = socket.getOutputStream();
        out.write(REQUEST);
        out.flush();
        socket.shutdownOutput();
        return s;
    }

    /** Waits until the server's stream is in {@code state} (read on its event loop), then closes the client's connection with nothing before it. */
    void loseConnectionOnceServerStreamIs(HboneStream s, Http2Stream.State state) throws Exception {
        Http2StreamChannel ch = serverStream.get(10, TimeUnit.SECONDS);
        Await.until("server stream " + state, () -> state == Await.result(ch.eventLoop().submit(() -> ch.stream().state())));
        Channel connection = s.channel().parent();
        connection.eventLoop().execute(() -> Transports.closeNow(connection));
    }

    @Test
    void bothEndStreamsCrossedThenTheConnectionIsLostEndsCleanlyAndDeliversEverything() throws Exception {
        HboneStream s = requestAndEnd();
        loseConnectionOnceServerStreamIs(s, Http2Stream.State.CLOSED);
        TunnelResult r = RecordingEvents.next(serverEvents.closed);
        assertThat(r.reset()).as("END_STREAM both ways on the wire: %s", r).isFalse();
        assertThat(r.error()).isNull();
        assertThat(r.bytesReceived()).isEqualTo(REQUEST.length);
        assertThat(serverGot.poll(10, TimeUnit.SECONDS)).isEqualTo("bytes " + REQUEST.length);
        assertThat(serverGot.poll(10, TimeUnit.SECONDS)).as("the client's end reaches the application").isEqualTo("EOF");
        assertThat(serverGot.poll(10, TimeUnit.SECONDS)).isEqualTo("inactive");
    }

    @Test
    void onlyTheClientsEndStreamCrossedThenTheConnectionIsLostIsAReset() throws Exception {
        serverEnds = false;
        HboneStream s = requestAndEnd();
        loseConnectionOnceServerStreamIs(s, Http2Stream.State.HALF_CLOSED_REMOTE);
        TunnelResult r = RecordingEvents.next(serverEvents.closed);
        assertThat(r.reset()).as("the server's direction never ended: %s", r).isTrue();
        assertThat(r.error()).isEqualTo("reset");
    }
}
