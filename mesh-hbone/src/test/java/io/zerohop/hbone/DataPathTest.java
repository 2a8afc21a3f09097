package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.SocketFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Embedded and proxy delivery: half-close, reset propagation, back-pressure, blocking sockets. */
@Timeout(60)
class DataPathTest {
    static final int SOCKETS = 8080;
    static final int STALLED = 8081;
    static final int HTTP = 8082;
    static final int UPSTREAM = 8083;
    static Mesh mesh;
    static HboneServer server;
    static HboneClient client;
    static HboneServerSocket sockets = new HboneServerSocket();
    static HboneServerSocket http = new HboneServerSocket();
    static final CompletableFuture<Channel> stalled = new CompletableFuture<>();
    static ServerSocket upstream;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        upstream = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        StreamHandler neverReads = new StreamHandler() {
            @Override
            public void initStream(Channel stream, TunnelInfo tunnel) {
                stalled.complete(stream);
            }

            @Override
            public boolean autoRead() {
                return false;
            }
        };
        server = mesh.server((dst, id, local) -> switch (dst.getPort()) {
            case SOCKETS -> Destination.embedded(sockets);
            case STALLED -> Destination.embedded(neverReads);
            case HTTP -> Destination.embedded(http);
            case UPSTREAM -> Destination.proxy(Mesh.loopback(upstream.getLocalPort()));
            default -> null;
        }).build().start().get();
        client = mesh.client().build();
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        server.close();
        sockets.close();
        http.close();
        upstream.close();
        mesh.close();
    }

    private static HboneSocket dial(int port) throws Exception {
        return client.connectSocket(Mesh.loopback(port), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10));
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void halfCloseBothDirections() throws Exception {
        try (HboneSocket c = dial(SOCKETS); HboneSocket s = sockets.accept()) {
            assertThat(s.peerIdentity()).isEqualTo(mesh.clientId);
            assertThat(s.tunnel().destination()).isEqualTo(Mesh.loopback(SOCKETS));
            // client FIN: the server reads to EOF, yet can still answer.
            c.getOutputStream().write(bytes("ping"));
            c.shutdownOutput();
            assertThat(s.getInputStream().readAllBytes()).isEqualTo(bytes("ping"));
            s.getOutputStream().write(bytes("pong"));
            s.shutdownOutput();
            assertThat(c.getInputStream().readAllBytes()).isEqualTo(bytes("pong"));
        }
        try (HboneSocket c = dial(SOCKETS); HboneSocket s = sockets.accept()) {
            // server FIN first: the client reads EOF and still sends.
            s.shutdownOutput();
            assertThat(c.getInputStream().read()).isEqualTo(-1);
            c.getOutputStream().write(bytes("late"));
            c.shutdownOutput();
            assertThat(s.getInputStream().readAllBytes()).isEqualTo(bytes("late"));
        }
    }

    @Test
    void clientResetReachesServer() throws Exception {
        HboneStream stream = client.connect(Mesh.loopback(SOCKETS), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
        try (HboneSocket s = sockets.accept()) {
            stream.reset();
            assertThatThrownBy(() -> s.getInputStream().read()).isInstanceOf(SocketException.class).hasMessageContaining("reset");
        }
    }

    @Test
    void serverResetReachesClient() throws Exception {
        try (HboneSocket c = dial(SOCKETS)) {
            HboneSocket s = sockets.accept();
            s.setSoLinger(true, 0);
            s.close();
            assertThatThrownBy(() -> c.getInputStream().read()).isInstanceOf(SocketException.class).hasMessageContaining("reset");
        }
    }

    @Test
    void upstreamTcpResetBecomesStreamReset() throws Exception {
        try (HboneSocket c = dial(UPSTREAM); Socket up = upstream.accept()) {
            c.getOutputStream().write(bytes("x"));
            assertThat(up.getInputStream().read()).isEqualTo('x');
            up.setSoLinger(true, 0);
            up.close();
            assertThatThrownBy(() -> c.getInputStream().read()).isInstanceOf(SocketException.class).hasMessageContaining("reset");
        }
    }

    @Test
    void streamResetBecomesUpstreamTcpReset() throws Exception {
        HboneStream stream = client.connect(Mesh.loopback(UPSTREAM), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
        try (Socket up = upstream.accept()) {
            stream.reset();
            assertThatThrownBy(() -> up.getInputStream().read()).isInstanceOf(SocketException.class).hasMessageContaining("reset");
        }
    }

    /** Our aborts carry CONNECT_ERROR (RFC 9113 §8.5), the code a ztunnel peer passes on as a reset. */
    @Test
    void upstreamResetArrivesAsConnectError() throws Exception {
        HboneStream stream = client.connect(Mesh.loopback(UPSTREAM), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
        CompletableFuture<Long> code = new CompletableFuture<>();
        stream.channel().pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                if (evt instanceof HboneStream.Reset r) {
                    code.complete(r.errorCode());
                }
            }
        });
        stream.channel().config().setAutoRead(true);
        try (Socket up = upstream.accept()) {
            up.setSoLinger(true, 0);
        }
        assertThat(code.get(10, TimeUnit.SECONDS)).isEqualTo(Http2Error.CONNECT_ERROR.code());
    }

    /**
     * A peer's RST_STREAM(CANCEL) or (NO_ERROR) ends its data cleanly, as ztunnel reads it: the
     * upstream app sees a FIN after everything sent, not a reset.
     */
    @Test
    void peerCancelIsACleanEnd() throws Exception {
        HboneStream stream = client.connect(Mesh.loopback(UPSTREAM), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
        try (Socket up = upstream.accept()) {
            up.setSoTimeout(10_000);
            // Written out first: a RST_STREAM discards DATA the sender still holds in flow control.
            stream.channel().writeAndFlush(Unpooled.wrappedBuffer(bytes("last words"))).sync();
            stream.channel().writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
            assertThat(up.getInputStream().readAllBytes()).isEqualTo(bytes("last words"));
        }
    }

    @Test
    void upstreamFinBecomesEndStream() throws Exception {
        try (HboneSocket c = dial(UPSTREAM); Socket up = upstream.accept()) {
            up.getOutputStream().write(bytes("bye"));
            up.shutdownOutput();
            assertThat(c.getInputStream().readAllBytes()).isEqualTo(bytes("bye"));
            c.getOutputStream().write(bytes("ok"));
            c.shutdownOutput();
            assertThat(up.getInputStream().readAllBytes()).isEqualTo(bytes("ok"));
        }
    }

    @Test
    void slowReaderBackPressuresTheSender() throws Exception {
        HboneStream stream = client.connect(Mesh.loopback(STALLED), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
        Channel serverSide = stalled.get(10, TimeUnit.SECONDS);
        Channel ch = stream.channel();
        CountDownLatch writable = new CountDownLatch(1);
        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelWritabilityChanged(ChannelHandlerContext ctx) {
                if (ctx.channel().isWritable()) {
                    writable.countDown();
                }
            }
        });
        byte[] chunk = new byte[64 * 1024];
        long written = 0;
        // The server never reads: the sender fills the 4 MiB stream window and its own buffer, then must stop.
        while (written < 64L * 1024 * 1024) {
            if (!ch.isWritable()) {
                break;
            }
            // Not sync(): a write held by flow control completes only when the window reopens.
            ch.writeAndFlush(Unpooled.wrappedBuffer(chunk));
            ch.eventLoop().submit(() -> { }).sync(); // the write was processed; writability is current
            written += chunk.length;
        }
        assertThat(ch.isWritable()).isFalse();
        long window = 4 * 1024 * 1024;
        assertThat(written).as("bytes accepted before unwritable").isGreaterThanOrEqualTo(window).isLessThan(window + 2 * 1024 * 1024);
        // Still blocked: nothing more is accepted while the reader sleeps.
        assertThat(writable.await(500, TimeUnit.MILLISECONDS)).isFalse();

        // The reader wakes up: the window reopens, the sender resumes and everything arrives.
        AtomicLong received = new AtomicLong();
        CompletableFuture<Long> eof = new CompletableFuture<>();
        serverSide.eventLoop().execute(() -> {
            serverSide.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    received.addAndGet(((ByteBuf) msg).readableBytes());
                    ((ByteBuf) msg).release();
                }

                @Override
                public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                    if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
                        eof.complete(received.get());
                        HboneStream.shutdownOutput(ctx.channel());
                    }
                }
            });
            serverSide.config().setAutoRead(true);
        });
        assertThat(writable.await(10, TimeUnit.SECONDS)).isTrue();
        for (int i = 0; i < 64; i++) {
            ch.writeAndFlush(Unpooled.wrappedBuffer(chunk)).sync(); // the reader drains now: every write completes
            written += chunk.length;
        }
        stream.shutdownOutput().sync();
        assertThat(eof.get(20, TimeUnit.SECONDS)).isEqualTo(written);
    }

    @Test
    void socketFactoryCarriesAPlainHttp11Exchange() throws Exception {
        Thread httpServer = new Thread(() -> {
            try (HboneSocket s = http.accept()) {
                BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
                String requestLine = r.readLine();
                for (String line = r.readLine(); line != null && !line.isEmpty(); line = r.readLine()) {
                    // headers
                }
                String body = "hello " + s.peerIdentity() + " " + requestLine;
                byte[] b = body.getBytes(StandardCharsets.UTF_8);
                OutputStream out = s.getOutputStream();
                out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + b.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(b);
                s.shutdownOutput();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, "http-server");
        httpServer.start();
        SocketFactory sf = client.socketFactory(addr -> addr.getPort() == HTTP || addr.getPort() == SOCKETS ? new Route(server.localAddress(), mesh.serverId) : null);
        try (Socket s = sf.createSocket("127.0.0.1", HTTP)) {
            s.setSoTimeout(10_000);
            s.setTcpNoDelay(true);
            assertThat(s.isConnected()).isTrue();
            assertThat(s.getPort()).isEqualTo(HTTP);
            s.getOutputStream().write("GET /hello HTTP/1.1\r\nHost: app\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            String response = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            assertThat(response).startsWith("HTTP/1.1 200 OK\r\n").endsWith("hello " + mesh.clientId + " GET /hello HTTP/1.1");
            assertThat(((HboneSocket) s).peerIdentity()).isEqualTo(mesh.serverId);
        }
        httpServer.join(10_000);
        // Unrouted destinations fail instead of bypassing the mesh.
        assertThatThrownBy(() -> sf.createSocket("127.0.0.1", 9)).isInstanceOf(java.net.ConnectException.class).hasMessageContaining("no HBONE route");
        // A local address asked for is refused, as HboneSocket.bind refuses it (a new-user pass: it was ignored).
        assertThatThrownBy(() -> sf.createSocket(java.net.InetAddress.getLoopbackAddress(), HTTP, java.net.InetAddress.getByName("127.0.0.9"), 0))
                .isInstanceOf(java.net.SocketException.class).hasMessageStartingWith("HBONE sockets cannot bind a local address (asked for 127.0.0.9:0)");
        assertThatThrownBy(() -> sf.createSocket("127.0.0.1", HTTP, null, 40000)).isInstanceOf(java.net.SocketException.class);
        // createSocket() + connect(addr, timeout): the path OkHttp, Apache HttpClient and JDBC drivers take.
        Socket unconnected = sf.createSocket();
        assertThat(unconnected.isConnected()).isFalse();
        unconnected.connect(Mesh.loopback(SOCKETS), 5_000);
        try (unconnected; HboneSocket s = sockets.accept()) {
            unconnected.getOutputStream().write(7);
            assertThat(s.getInputStream().read()).isEqualTo(7);
        }
    }

    @Test
    void readTimeoutApplies() throws Exception {
        try (HboneSocket c = dial(SOCKETS); HboneSocket s = sockets.accept()) {
            c.setSoTimeout(100);
            assertThatThrownBy(() -> c.getInputStream().read()).isInstanceOf(java.net.SocketTimeoutException.class);
            s.getOutputStream().write(1);
            c.setSoTimeout(10_000);
            assertThat(c.getInputStream().read()).isEqualTo(1);
        }
    }

    /**
     * A tunnel socket connects as the JDK's socket does: a negative timeout is an IllegalArgumentException, and a failed
     * connect closes the socket (a new-user pass: it stayed open, and -1 meant the default timeout).
     */
    @Test
    void aFailedConnectClosesTheSocketAsTheJdksDoes() throws Exception {
        SocketFactory sf = client.socketFactory(addr -> addr.getPort() == SOCKETS ? new Route(server.localAddress(), mesh.serverId) : null);
        try (Socket s = sf.createSocket()) {
            assertThatThrownBy(() -> s.connect(new java.net.InetSocketAddress("127.0.0.1", SOCKETS), -1))
                    .isInstanceOf(IllegalArgumentException.class).hasMessage("connect: timeout can't be negative");
            assertThatThrownBy(() -> s.connect(new java.net.InetSocketAddress("127.0.0.1", 9)))
                    .isInstanceOf(java.net.ConnectException.class).hasMessageContaining("no HBONE route");
            assertThat(s.isClosed()).as("closed by the failed connect").isTrue();
            assertThatThrownBy(() -> s.connect(new java.net.InetSocketAddress("127.0.0.1", SOCKETS)))
                    .isInstanceOf(java.net.SocketException.class).hasMessage("Socket is closed");
        }
    }
}
