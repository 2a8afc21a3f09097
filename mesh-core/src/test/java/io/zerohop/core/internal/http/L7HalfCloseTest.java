package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.zerohop.core.AppProtocol;
import io.zerohop.hbone.internal.Relay;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.PolicyEngine;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The L7 path's FINs come after the bytes written before them, as the relay's do (mesh-hbone
 * RelayHalfCloseTest): Netty's {@code shutdownOutput()} and {@code close()} fail writes still queued, so
 * a FIN sent at once cut short what the slow side had not taken yet. Real sockets on loopback with
 * small socket buffers, wired as the plaintext inbound listener wires them
 * ({@link HttpEnforcement#plaintext}, both ends {@link Relay#tcp}); each reader starts reading only
 * once the FIN was decided, so everything still queued in Netty at that moment is what a dropped
 * write would lose.
 */
@Timeout(60)
class L7HalfCloseTest {
    static final int SMALL_BUFFER = 4 << 10;
    static final int BODY = 512 << 10;
    /** Large enough that the whole body is queued in Netty without back-pressure stopping the sender. */
    static final WriteBufferWaterMark ROOMY = new WriteBufferWaterMark(BODY * 2, BODY * 4);
    static final InetAddress LO = InetAddress.getLoopbackAddress();

    private final EventLoopGroup group = Transports.newGroup(1, "l7-half-close");
    private final byte[] body = new byte[BODY];
    private ServerSocket app;
    private Channel listener;
    /** Counted down once the filter has seen the client's FIN (it queued or acted on its end of input). */
    private final CountDownLatch clientFinSeen = new CountDownLatch(1);

    @BeforeEach
    void start() throws Exception {
        new Random(5).nextBytes(body);
        app = new ServerSocket();
        app.setReceiveBufferSize(SMALL_BUFFER);
        app.bind(new InetSocketAddress(LO, 0));
        HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().build(), group, null, null, 1000);
        InetSocketAddress appAddress = (InetSocketAddress) app.getLocalSocketAddress();
        // The application's connection with the same small buffers, dialled for the first request.
        listener = PlaintextL7.listen(http, group, new InetSocketAddress(LO, 0), appAddress, AppProtocol.HTTP,
                b -> b.childOption(ChannelOption.SO_SNDBUF, SMALL_BUFFER).childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, ROOMY),
                client -> client.pipeline().addLast(new FinWatch()),
                PlaintextL7.dial(appAddress, b -> b.option(ChannelOption.SO_SNDBUF, SMALL_BUFFER)
                        .option(ChannelOption.WRITE_BUFFER_WATER_MARK, ROOMY), up -> { }));
    }

    @AfterEach
    void stop() throws Exception {
        listener.close().sync();
        app.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    private Socket client() throws IOException {
        Socket s = new Socket();
        s.setReceiveBufferSize(SMALL_BUFFER);
        s.connect(listener.localAddress());
        return s;
    }

    /** First in the client connection's pipeline: the FIN reaches the HTTP handlers within this call. */
    private final class FinWatch extends ChannelInboundHandlerAdapter {
        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            ctx.fireUserEventTriggered(evt);
            if (evt instanceof ChannelInputShutdownEvent) {
                clientFinSeen.countDown();
            }
        }
    }

    static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        for (int c; (c = in.read()) >= 0; ) {
            head.write(c);
            byte[] h = head.toByteArray();
            int n = h.length;
            if (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n' && h[n - 2] == '\r' && h[n - 1] == '\n') {
                break;
            }
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    @Test
    @DisplayName("a response followed by the FIN of Connection: close reaches a slow client whole (Http1Filter's FIN to the client)")
    void responseTailReachesASlowClient() throws Exception {
        CountDownLatch appSawClose = new CountDownLatch(1);
        CompletableFuture<Void> served = CompletableFuture.runAsync(() -> {
            try (Socket s = app.accept()) {
                readHead(s.getInputStream());
                OutputStream out = s.getOutputStream();
                out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + BODY + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(body);
                out.flush();
                // The filter closes its upstream connection and sends the client its FIN in one event-loop task.
                assertThat(s.getInputStream().read()).isEqualTo(-1);
                appSawClose.countDown();
            } catch (IOException e) {
                throw new CompletionException(e);
            }
        });
        try (Socket c = client()) {
            c.getOutputStream().write("GET /big HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(appSawClose.await(30, TimeUnit.SECONDS)).as("the app's connection was closed after its answer").isTrue();
            InputStream in = c.getInputStream();
            String head = readHead(in);
            assertThat(head).startsWith("HTTP/1.1 200 OK\r\n");
            byte[] got = in.readAllBytes();
            assertThat(got.length).as("body bytes before the FIN").isEqualTo(BODY);
            assertThat(Arrays.equals(got, body)).isTrue();
        }
        served.get(10, TimeUnit.SECONDS);
    }

    @Test
    @DisplayName("a request body followed by the client's FIN reaches a slow application whole (TcpUpstream's FIN to the app)")
    void requestTailReachesASlowApplication() throws Exception {
        CompletableFuture<byte[]> received = CompletableFuture.supplyAsync(() -> {
            try (Socket s = app.accept()) {
                InputStream in = s.getInputStream();
                readHead(in);
                // The filter passes the client's FIN on once the exchange is over: answer once the FIN is
                // in, without reading the body, then read it after the answer reached the client.
                assertThat(clientFinSeen.await(30, TimeUnit.SECONDS)).isTrue();
                s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                return in.readAllBytes();
            } catch (Exception e) {
                throw new CompletionException(e);
            }
        });
        try (Socket c = client()) {
            OutputStream out = c.getOutputStream();
            out.write(("POST /upload HTTP/1.1\r\nHost: backend\r\nContent-Length: " + BODY + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            c.shutdownOutput();
            // The answer's last byte and the FIN to the app leave in one event-loop task.
            String head = readHead(c.getInputStream());
            assertThat(head).startsWith("HTTP/1.1 200 OK\r\n");
            byte[] got = received.get(30, TimeUnit.SECONDS);
            assertThat(got.length).as("request body bytes before the FIN").isEqualTo(BODY);
            assertThat(Arrays.equals(got, body)).isTrue();
        }
    }
}
