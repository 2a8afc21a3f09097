package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.internal.Transports;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An HBONE connection dialled by a handler of one of the client's own loops, in the middle of an epoll batch, is not hit
 * by the event of a connection closed earlier in that batch. Netty's epoll loop finds an event's channel by its
 * descriptor number alone ({@code EpollIoHandler.processReady}, 4.2.18): the handler closes connection A (its number is
 * freed) and opens a tunnel that needs a new HBONE connection (its socket takes A's number); A's reset, still in the
 * batch, then reached the new connection while it connected, and its TLS handshake failed ("closed during setup").
 * Made deterministic here: the loop is held busy while connection B gets a byte and A's peer resets, so that both events
 * are in one batch, B's first. {@code ClientConnection} now dials from a task of the loop, after the batch, as the relay
 * dials do (mesh-hbone README "Inside"; {@code UpstreamResetChurnTest} for those).
 */
@Timeout(120)
class DialInsideBatchTest {
    private static final int ROUNDS = 20;

    @Test
    void aTunnelOpenedFromAnEpollBatchOnANewConnectionSucceeds() throws Exception {
        EventLoopGroup group = Transports.newGroup(1, "batch");
        try (Mesh mesh = new Mesh(); ServerSocket peers = new ServerSocket()) {
            peers.bind(new InetSocketAddress("127.0.0.1", 0), 64);
            List<HboneServer> servers = new ArrayList<>();
            try (HboneClient client = mesh.client().eventLoopGroup(group).build()) {
                for (int i = 0; i <= ROUNDS; i++) {
                    servers.add(mesh.server((dst, id, local) -> Destination.embedded((stream, t) -> { })).build().start().get());
                }
                // The client's TLS context for this identity pair, made once: later opens find it ready and dial at once.
                client.connect(Mesh.loopback(25), mesh.expectServer(), servers.get(0).localAddress()).get(10, TimeUnit.SECONDS).close();
                List<String> failures = new ArrayList<>();
                for (int round = 1; round <= ROUNDS; round++) {
                    String failure = round(group, client, mesh, peers, servers.get(round).localAddress());
                    if (failure != null) {
                        failures.add("round " + round + ": " + failure);
                    }
                }
                assertThat(failures).as("tunnels opened from inside a batch, each on a new HBONE connection").isEmpty();
            } finally {
                for (HboneServer s : servers) {
                    s.close();
                }
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /** One batch: B readable, then A reset; B's handler closes A and opens a tunnel to {@code hbone}. Null: it opened. */
    private static String round(EventLoopGroup group, HboneClient client, Mesh mesh, ServerSocket peers, InetSocketAddress hbone)
            throws Exception {
        EventLoop loop = group.next();
        CompletableFuture<CompletableFuture<HboneStream>> opened = new CompletableFuture<>();
        Channel[] a = new Channel[1];
        Channel chA = connect(loop, peers, null);
        a[0] = chA;
        Socket peerA = peers.accept();
        Channel chB = connect(loop, peers, new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ReferenceCountUtil.release(msg);
                if (!opened.isDone()) {
                    a[0].close(); // frees A's descriptor number, inside the batch
                    opened.complete(client.connect(Mesh.loopback(25), mesh.expectServer(), hbone));
                }
            }
        });
        Socket peerB = peers.accept();
        try {
            CountDownLatch held = new CountDownLatch(1);
            CountDownLatch triggered = new CountDownLatch(1);
            loop.execute(() -> {
                held.countDown();
                try {
                    triggered.await(5, TimeUnit.SECONDS);
                    Thread.sleep(50); // both events reach the ready list before the loop waits on epoll again
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            held.await(5, TimeUnit.SECONDS);
            peerB.getOutputStream().write(1);
            peerB.getOutputStream().flush();
            peerA.setSoLinger(true, 0);
            peerA.close(); // RST: EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP for A, after B's EPOLLIN
            triggered.countDown();
            try {
                opened.get(10, TimeUnit.SECONDS).get(15, TimeUnit.SECONDS).close();
                return null;
            } catch (java.util.concurrent.ExecutionException e) {
                return String.valueOf(e.getCause());
            }
        } finally {
            chB.close().sync();
            peerB.close();
        }
    }

    private static Channel connect(EventLoop loop, ServerSocket peers, ChannelInboundHandlerAdapter handler) throws Exception {
        return new Bootstrap().group(loop).channel(Transports.socketChannel(loop.parent()))
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (handler != null) {
                            ch.pipeline().addLast(handler);
                        }
                    }
                })
                .connect(peers.getLocalSocketAddress()).sync().channel();
    }
}
