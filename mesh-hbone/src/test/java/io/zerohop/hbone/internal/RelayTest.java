package io.zerohop.hbone.internal;

import static io.zerohop.hbone.internal.Probe.ascii;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.zerohop.testing.netty.EchoServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The one relay, on EmbeddedChannels (a TCP end stands in as {@link FakeTcp}, a tunnel end is a
 * channel with its {@link TunnelCodec}) and across two real event loops on loopback.
 */
@Timeout(60)
class RelayTest {

    /** A TCP end on an EmbeddedChannel: records FIN, RST and close instead of doing them. */
    static final class FakeTcp implements Relay.End {
        final EmbeddedChannel ch = new EmbeddedChannel();
        final List<String> did = new ArrayList<>();
        final CompletableFuture<Relay.Stats> stats = new CompletableFuture<>();
        int flushes;

        FakeTcp() {
            ch.config().setAutoRead(false);
            ch.pipeline().addFirst(new ChannelOutboundHandlerAdapter() {
                @Override
                public void flush(ChannelHandlerContext ctx) {
                    flushes++;
                    ctx.flush();
                }
            });
        }

        @Override
        public Channel channel() {
            return ch;
        }

        @Override
        public void shutdownOutput() {
            did.add("FIN");
        }

        @Override
        public void reset() {
            did.add("RST");
            ch.close();
        }

        @Override
        public void close() {
            did.add("CLOSE");
            ch.close();
        }

        @Override
        public void ended(Relay.Stats s) {
            stats.complete(s);
        }

        List<String> written() {
            List<String> out = new ArrayList<>();
            for (Object m; (m = ch.readOutbound()) != null; ) {
                ByteBuf b = (ByteBuf) m;
                out.add(b.toString(StandardCharsets.US_ASCII));
                b.release();
            }
            return out;
        }
    }

    /** A server-side tunnel stream whose CONNECT was answered (proxy mode's stream before the relay). */
    static EmbeddedChannel openTunnel() {
        TunnelCodec codec = new TunnelCodec(new TunnelCodec.Listener() {
            @Override
            public void onHeaders(ChannelHandlerContext ctx, Http2Headers headers, boolean endStream) {}

            @Override
            public void onClosed(TunnelCodec c) {}
        });
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.config().setAutoRead(false);
        ch.pipeline().addLast(HbonePipeline.TUNNEL, codec);
        ch.writeInbound(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:80"), false));
        codec.open();
        return ch;
    }

    static List<String> frames(EmbeddedChannel ch) {
        List<String> out = new ArrayList<>();
        for (Object m; (m = ch.readOutbound()) != null; ) {
            if (m instanceof Http2DataFrame d) {
                out.add(d.isEndStream() && !d.content().isReadable() ? "END_STREAM" : d.content().toString(StandardCharsets.US_ASCII));
                d.release();
            } else if (m instanceof Http2ResetFrame r) {
                out.add("RST_STREAM " + Http2Error.valueOf(r.errorCode()));
            } else {
                out.add(m.toString());
            }
        }
        return out;
    }

    @Test
    @DisplayName("a read burst is written as it came and flushed once (channelReadComplete)")
    void oneFlushPerReadBurst() {
        FakeTcp a = new FakeTcp();
        FakeTcp b = new FakeTcp();
        Relay.join(a, b);
        assertThat(a.ch.config().isAutoRead()).as("reading starts at join").isTrue();
        int before = b.flushes;
        a.ch.writeInbound(ascii("one"), ascii("two"), ascii("three"));
        assertThat(b.flushes - before).isEqualTo(1);
        assertThat(b.written()).containsExactly("one", "two", "three");
        b.ch.writeInbound(ascii("back"));
        assertThat(a.written()).containsExactly("back");
        a.ch.finishAndReleaseAll();
        b.ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("back-pressure: a side stops reading while the other is not writable and reads again when it drained")
    void readsFollowTheOtherSidesWritability() {
        FakeTcp a = new FakeTcp();
        FakeTcp b = new FakeTcp();
        b.ch.config().setWriteBufferWaterMark(new WriteBufferWaterMark(8, 16));
        Relay.join(a, b);
        a.ch.pipeline().fireChannelRead(ascii("0123456789abcdefXYZ"));
        assertThat(b.ch.isWritable()).isFalse();
        assertThat(a.ch.config().isAutoRead()).as("paused while b is full").isFalse();
        assertThat(b.ch.config().isAutoRead()).as("the other direction still reads").isTrue();
        a.ch.pipeline().fireChannelReadComplete();
        assertThat(b.ch.isWritable()).isTrue();
        assertThat(a.ch.config().isAutoRead()).as("resumed once b drained").isTrue();
        assertThat(b.written()).containsExactly("0123456789abcdefXYZ");
        a.ch.finishAndReleaseAll();
        b.ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("a throttle on an end meters the bytes written toward it and can hold the other side's reads")
    void throttleMetersAndHolds() {
        List<Integer> metered = new ArrayList<>();
        boolean[] allow = {true};
        Runnable[] recheck = new Runnable[1];
        FakeTcp a = new FakeTcp();
        EmbeddedChannel stream = openTunnel();
        Relay.Throttle throttle = new Relay.Throttle() {
            @Override
            public void attached(Channel toward, Runnable r) {
                assertThat(toward).isSameAs(stream);
                recheck[0] = r;
            }

            @Override
            public void writing(int n, ChannelPromise written) {
                written.addListener(f -> metered.add(f.isSuccess() ? n : -n));
                allow[0] = false;
            }

            @Override
            public boolean allowsReads() {
                return allow[0];
            }
        };
        Relay.join(a, Relay.tunnel(stream, throttle));
        assertThat(a.ch.config().isAutoRead()).isTrue();
        a.ch.writeInbound(ascii("12345"));
        assertThat(metered).containsExactly(5);
        assertThat(a.ch.config().isAutoRead()).as("held by the throttle").isFalse();
        allow[0] = true;
        recheck[0].run();
        assertThat(a.ch.config().isAutoRead()).isTrue();
        assertThat(frames(stream)).containsExactly("12345");
        a.ch.finishAndReleaseAll();
        stream.finishAndReleaseAll();
    }

    @Test
    @DisplayName("half-close: FIN -> END_STREAM and END_STREAM -> FIN; both ended: both closed cleanly, bytes counted")
    void halfCloseEachWay() throws Exception {
        FakeTcp tcp = new FakeTcp();
        EmbeddedChannel stream = openTunnel();
        Relay.join(tcp, Relay.tunnel(stream));
        tcp.ch.writeInbound(ascii("request"));
        tcp.ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        assertThat(frames(stream)).containsExactly("request", "END_STREAM");
        assertThat(tcp.did).isEmpty();
        stream.writeInbound(new DefaultHttp2DataFrame(ascii("response"), false));
        stream.writeInbound(new DefaultHttp2DataFrame(true));
        assertThat(tcp.written()).containsExactly("response");
        assertThat(tcp.did).containsExactly("FIN", "CLOSE");
        Relay.Stats s = tcp.stats.get(1, TimeUnit.SECONDS);
        assertThat(s.reset()).isFalse();
        assertThat(s.bytesFromA()).isEqualTo(7);
        assertThat(s.bytesFromB()).isEqualTo(8);
        stream.finishAndReleaseAll();
        tcp.ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("reset in: the tunnel's RST_STREAM resets the TCP side")
    void rstStreamResetsTcp() throws Exception {
        FakeTcp tcp = new FakeTcp();
        EmbeddedChannel stream = openTunnel();
        Relay.join(tcp, Relay.tunnel(stream));
        stream.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.CONNECT_ERROR));
        assertThat(tcp.did).containsExactly("RST");
        assertThat(tcp.stats.get(1, TimeUnit.SECONDS).reset()).isTrue();
        stream.finishAndReleaseAll();
        tcp.ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("reset out: a TCP side that fails or closes before both directions ended resets the tunnel (RST_STREAM CONNECT_ERROR)")
    void tcpResetResetsTheTunnel() throws Exception {
        for (boolean failure : new boolean[] {true, false}) {
            FakeTcp tcp = new FakeTcp();
            EmbeddedChannel stream = openTunnel();
            Relay.join(tcp, Relay.tunnel(stream));
            if (failure) {
                tcp.ch.pipeline().fireExceptionCaught(new IOException("Connection reset by peer"));
            } else {
                tcp.ch.close();
            }
            assertThat(frames(stream)).as("failure=" + failure).containsExactly("RST_STREAM CONNECT_ERROR");
            assertThat(stream.isActive()).isFalse();
            assertThat(tcp.stats.get(1, TimeUnit.SECONDS).reset()).isTrue();
            stream.finishAndReleaseAll();
            tcp.ch.finishAndReleaseAll();
        }
    }

    @Test
    @DisplayName("ztunnel src/proxy/h2.rs: the peer's CANCEL after its END_STREAM closes the TCP side, it does not reset it")
    void peerCancelClosesTcpCleanly() throws Exception {
        FakeTcp tcp = new FakeTcp();
        EmbeddedChannel stream = openTunnel();
        Relay.join(tcp, Relay.tunnel(stream));
        stream.writeInbound(new DefaultHttp2DataFrame(ascii("done"), false));
        tcp.ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        stream.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
        stream.close(); // Netty closes a stream channel after RST_STREAM
        assertThat(tcp.written()).containsExactly("done");
        assertThat(tcp.did).containsExactly("FIN", "CLOSE");
        assertThat(tcp.stats.get(1, TimeUnit.SECONDS).reset()).isFalse();
        stream.finishAndReleaseAll();
        tcp.ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("across two event loops on loopback: 4 MiB each way, FIN both ways, nothing lost, clean end")
    void acrossEventLoops() throws Exception {
        EventLoopGroup group = Transports.newGroup(2, "relay-test");
        try (EchoServer echo = new EchoServer()) {
            CompletableFuture<Relay.Stats> stats = new CompletableFuture<>();
            CompletableFuture<Boolean> differentLoops = new CompletableFuture<>();
            Channel server = new ServerBootstrap().group(group).channel(Transports.serverChannel(group))
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel accepted) {
                            EventLoop other = group.next();
                            if (other == accepted.eventLoop()) {
                                other = group.next();
                            }
                            new Bootstrap().group(other).channel(Transports.socketChannel(group))
                                    .option(ChannelOption.AUTO_READ, false)
                                    .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                                    .handler(new ChannelInboundHandlerAdapter())
                                    .connect(echo.address()).addListener(f -> {
                                        SocketChannel up = (SocketChannel) ((io.netty.channel.ChannelFuture) f).channel();
                                        differentLoops.complete(up.eventLoop() != accepted.eventLoop());
                                        Relay.End down = Relay.tcp(accepted);
                                        Relay.join(new Relay.End() {
                                            @Override
                                            public Channel channel() {
                                                return down.channel();
                                            }

                                            @Override
                                            public void shutdownOutput() {
                                                down.shutdownOutput();
                                            }

                                            @Override
                                            public void reset() {
                                                down.reset();
                                            }

                                            @Override
                                            public void close() {
                                                down.close();
                                            }

                                            @Override
                                            public void ended(Relay.Stats s) {
                                                stats.complete(s);
                                            }
                                        }, Relay.tcp(up));
                                    });
                        }
                    })
                    .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
            byte[] payload = new byte[4 * 1024 * 1024];
            new Random(9).nextBytes(payload);
            try (Socket s = new Socket()) {
                s.connect(server.localAddress());
                CompletableFuture<byte[]> back = CompletableFuture.supplyAsync(() -> {
                    try (InputStream in = s.getInputStream()) {
                        return in.readAllBytes();
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                });
                OutputStream out = s.getOutputStream();
                out.write(payload);
                s.shutdownOutput();
                assertThat(Arrays.equals(back.get(30, TimeUnit.SECONDS), payload)).isTrue();
            }
            Relay.Stats st = stats.get(10, TimeUnit.SECONDS);
            assertThat(differentLoops.getNow(false)).isTrue();
            assertThat(st.reset()).isFalse();
            assertThat(st.bytesFromA()).isEqualTo(payload.length);
            assertThat(st.bytesFromB()).isEqualTo(payload.length);
            server.close().sync();
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).sync();
        }
    }
}
