package io.zerohop.core.internal.http;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.AppProtocol;
import io.zerohop.policy.WorkloadRef;
import io.zerohop.core.internal.CaptureListener;
import io.zerohop.hbone.internal.Relay;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.testing.netty.Await;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.net.StandardSocketOptions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * This package's tests' plaintext L7 listener: {@link HttpEnforcement#plaintext} in front of an application, wired as
 * the plaintext inbound wires it (auto-read off and half-closure on for the client's connection, the application dialled
 * by {@link CaptureListener#connectTcp} on the client's loop for the first request), for the workload
 * {@link #BACKEND} ({@code spiffe://cluster.local/ns/prod/sa/backend}).
 */
final class PlaintextL7 {
    static final WorkloadRef BACKEND = new WorkloadRef("prod", "backend", "backend", Map.of());
    static final SpiffeId BACKEND_ID = SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/backend");

    private PlaintextL7() {
    }

    /** A listener at {@code at} (port 0: any) in front of the {@code http} port {@code app}; its channel, bound. */
    static Channel listen(HttpEnforcement http, EventLoopGroup group, InetSocketAddress at, InetSocketAddress app) throws InterruptedException {
        return listen(http, group, at, app, AppProtocol.HTTP, b -> { }, client -> { });
    }

    /**
     * {@link #listen(HttpEnforcement, EventLoopGroup, InetSocketAddress, InetSocketAddress)} for an application port
     * declared {@code protocol}, with {@code options} applied to the server bootstrap (child options such as an
     * allocator) and {@code accepted} told of each client connection before the L7 handlers are added.
     */
    static Channel listen(HttpEnforcement http, EventLoopGroup group, InetSocketAddress at, InetSocketAddress app, AppProtocol protocol,
                          Consumer<ServerBootstrap> options, Consumer<SocketChannel> accepted) throws InterruptedException {
        return listen(http, group, at, app, protocol, options, accepted, client -> CaptureListener.connectTcp(client.eventLoop(), app));
    }

    /** The same, the application dialled by {@code dial} ({@link #dial}: with socket options of the test's own). */
    static Channel listen(HttpEnforcement http, EventLoopGroup group, InetSocketAddress at, InetSocketAddress app, AppProtocol protocol,
                          Consumer<ServerBootstrap> options, Consumer<SocketChannel> accepted, Dial dial) throws InterruptedException {
        ServerBootstrap b = new ServerBootstrap().group(group).channel(Transports.serverChannel(group))
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.AUTO_READ, false).childOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        options.accept(b);
        return b.childHandler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel client) {
                accepted.accept(client);
                http.plaintext(client, () -> dial.dial(client), client.remoteAddress(), app, BACKEND, BACKEND_ID, protocol)
                        .joinFrom(Relay.tcp(client));
            }
        }).bind(at).sync().channel();
    }

    /**
     * A raw application at {@code at}: a Netty server on {@code group} with {@code options} applied (auto-read off, small
     * receive buffers) whose accepted connections are given to {@code accepted} to add handlers or keep; its channel, bound.
     */
    static Channel application(EventLoopGroup group, InetSocketAddress at, Consumer<ServerBootstrap> options,
                               Consumer<SocketChannel> accepted) throws InterruptedException {
        ServerBootstrap b = new ServerBootstrap().group(group).channel(Transports.serverChannel(group)).option(ChannelOption.SO_REUSEADDR, true);
        options.accept(b);
        return b.childHandler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
                accepted.accept(ch);
            }
        }).bind(at).sync().channel();
    }

    /** Dials the application for a client's connection (at its first request), on that connection's loop. */
    interface Dial {
        CompletableFuture<Relay.End> dial(SocketChannel client);
    }

    /**
     * A dial of {@code app} with auto-read off and half-closure on, as the plaintext inbound's, and {@code options} of the
     * test's own (small socket buffers, an allocator to count); {@code connected} is told of each connected channel.
     */
    static Dial dial(InetSocketAddress app, Consumer<Bootstrap> options, Consumer<Channel> connected) {
        return client -> {
            CompletableFuture<Relay.End> up = new CompletableFuture<>();
            Bootstrap b = new Bootstrap().group(client.eventLoop()).channel(Transports.socketChannel(client.eventLoop()))
                    .option(ChannelOption.AUTO_READ, false).option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .handler(new ChannelInboundHandlerAdapter());
            options.accept(b);
            b.connect(app).addListener((ChannelFuture f) -> {
                if (f.isSuccess()) {
                    connected.accept(f.channel());
                    up.complete(Relay.tcp((DuplexChannel) f.channel()));
                } else {
                    up.completeExceptionally(f.cause());
                }
            });
            return up;
        };
    }

    /**
     * Ends what a per-test rig started around a Node application: {@code toClose} in reverse order (listeners, raw
     * applications), the group, then the process (L7AppDialRetryTest, L7AppStreamResetCodeTest, L7H2ClientEndTest).
     */
    static void stop(List<AutoCloseable> toClose, EventLoopGroup group, Process node) throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        node.destroy();
        node.waitFor(10, TimeUnit.SECONDS);
    }

    /**
     * One test's loop group, application and proxy listener, and the connections each accepted or dialled, ended in one
     * order by {@link #close}: the test's clients reset, the proxy's client connections awaited closed (each one's end
     * closes its application connection and releases what it queued there), then the listener, the application, its
     * connections and the group. The group ends as a mesh ends its loops ({@code Transports.shutdown}, every channel
     * closed first; see L7BudgetDriftTest's {@code pipelinedUploadsOpenAtTheGroupsShutdownLeakNothing}).
     */
    static final class Ends implements AutoCloseable {
        final EventLoopGroup group;
        /** The application's accepted connections, as {@link #application} hands them over. */
        final List<Channel> appConnections = new CopyOnWriteArrayList<>();
        /** The proxy's client connections, as {@link #listen}'s {@code accepted} hands them over. */
        final List<Channel> accepted = new CopyOnWriteArrayList<>();
        /** The proxy's application connections, as {@link #dial}'s {@code connected} hands them over. */
        final List<Channel> upstreams = new CopyOnWriteArrayList<>();
        /** The test's own client sockets: reset (SO_LINGER 0) at {@link #close} if still open. */
        final List<java.nio.channels.SocketChannel> clients = new CopyOnWriteArrayList<>();
        Channel app;
        Channel listener;

        Ends(int threads, String name) {
            group = Transports.newGroup(threads, name);
        }

        @Override
        public void close() throws Exception {
            for (java.nio.channels.SocketChannel c : clients) {
                if (c.isOpen()) {
                    c.setOption(StandardSocketOptions.SO_LINGER, 0);
                    c.close();
                }
            }
            try {
                Await.until("the proxy's client connections closed", () -> accepted.stream().noneMatch(Channel::isActive));
            } finally {
                if (listener != null) {
                    listener.close().sync();
                }
                if (app != null) {
                    app.close().sync();
                }
                for (Channel ch : appConnections) {
                    ch.close().sync();
                }
                Transports.shutdown(group, TimeUnit.SECONDS.toMillis(1)).sync();
            }
        }
    }

    /** An application handler: after the first read, writes {@code head} and then 16 KiB buffers for ever while its connection is writable. */
    static final class AnswersForEver extends ChannelInboundHandlerAdapter {
        private final String head;
        private boolean answering;

        AnswersForEver(String head) {
            this.head = head;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
            if (!answering) {
                answering = true;
                ctx.write(Unpooled.copiedBuffer(head, StandardCharsets.US_ASCII));
                more(ctx);
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (answering) {
                more(ctx);
            }
        }

        private void more(ChannelHandlerContext ctx) {
            while (ctx.channel().isActive() && ctx.channel().isWritable()) {
                ByteBuf b = Unpooled.wrappedBuffer(new byte[16 * 1024]);
                ctx.write(b);
            }
            ctx.flush();
        }
    }
}
