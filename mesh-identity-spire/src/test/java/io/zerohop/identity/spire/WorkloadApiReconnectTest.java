package io.zerohop.identity.spire;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.workloadapi.grpc.Workload;
import io.zerohop.identity.MeshTls;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.CapturedStderr;
import io.zerohop.testing.WorkloadApiServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The provider across many losses of the Workload API stream, against zerohop-testing's {@link WorkloadApiServer} on a real
 * Unix socket: the agent restarting (grpc-java's {@code shutdownNow} resets the stream: CANCELLED, then UNAVAILABLE until the
 * socket is back; java-spiffe retries both on the same client and channel) and the
 * agent ending the stream with status OK (reopened by the provider on a client of its own, the last one closed). Waits are
 * bounded polls for a condition, never assertions on time.
 */
class WorkloadApiReconnectTest {
    private static final SpiffeId WEB = SpiffeId.parse("spiffe://spire.test/web");
    private static final SpiffeId CLIENT = SpiffeId.parse("spiffe://spire.test/client");
    private static final InMemoryCa CA = InMemoryCa.create("spire.test");
    /** This helper's loopback address (ports 53300-53499). */
    private static final String HOST = "127.0.204.1";

    private Path dir;

    @BeforeEach
    void socketDir() throws IOException {
        // Unix sockets of this helper's tests live under /tmp/h400 (shared machine: no collision with others' sockets).
        Path root = Files.createDirectories(Path.of("/tmp/h400/sock"));
        dir = Files.createTempDirectory(root, "reconnect");
    }

    @AfterEach
    void removeSocketDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
    }

    /** This JVM's open descriptors by kind ({@code socket}, {@code anon_inode:[eventpoll]}, ...), read from /proc/self/fd. */
    static Map<String, Integer> fds() throws IOException {
        Map<String, Integer> kinds = new TreeMap<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : s.toList()) {
                String target;
                try {
                    target = Files.readSymbolicLink(fd).toString();
                } catch (IOException gone) {
                    continue; // closed between the listing and the read (the listing's own descriptor among them)
                }
                String kind = target.startsWith("socket:") ? "socket" : target.startsWith("anon_inode:") ? target
                        : target.startsWith("pipe:") ? "pipe" : "file";
                kinds.merge(kind, 1, Integer::sum);
            }
        }
        return kinds;
    }

    /** Threads alive whose name starts with {@code prefix}. */
    static long threads(String prefix) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.isAlive() && t.getName().startsWith(prefix)).count();
    }

    /** What this JVM holds: descriptors by kind, and the threads java-spiffe's clients run on. */
    static Map<String, Long> held() throws IOException {
        Map<String, Long> m = new TreeMap<>();
        fds().forEach((k, v) -> m.put("fd " + k, (long) v));
        // Not all threads: the JVM's compiler threads and gRPC's shared executor (60 s keep-alive) come and go on their own.
        m.put("threads zerohop-spire* (java-spiffe's executor, its event loops)", threads("zerohop-spire"));
        m.put("threads pool-* (java-spiffe's retry executors)", threads("pool-"));
        return m;
    }

    /**
     * The least of each count over a few seconds: a client closed by the last reopening shuts its event loops down
     * gracefully (Netty's 2 s quiet period), so a single reading may still hold its descriptors.
     */
    static Map<String, Long> low() throws Exception {
        Map<String, Long> low = held();
        long until = System.nanoTime() + Duration.ofSeconds(6).toNanos();
        while (System.nanoTime() < until) {
            Thread.sleep(100); // sampling, bounded; no assertion on time
            held().forEach((k, v) -> low.merge(k, v, Math::min));
        }
        return low;
    }

    /** Polls (bounded) until no count exceeds {@code bound}'s; returns the last reading, which the caller asserts on. */
    static Map<String, Long> settle(Map<String, Long> bound) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        Map<String, Long> seen = held();
        while (!within(seen, bound) && System.nanoTime() < deadline) {
            Thread.sleep(100); // polling a condition, bounded; no assertion on time
            seen = held();
        }
        return seen;
    }

    static boolean within(Map<String, Long> seen, Map<String, Long> bound) {
        return seen.entrySet().stream().allMatch(e -> e.getValue() <= bound.getOrDefault(e.getKey(), 0L));
    }

    static X509Svid awaitRotation(LinkedBlockingQueue<WorkloadApiUpdatesTest.Event> ev, X509Svid expected, String what) throws Exception {
        WorkloadApiUpdatesTest.Event e = WorkloadApiUpdatesTest.await(ev, what,
                x -> x.kind().equals("rotated") && ((X509Svid) x.value()).getLeaf().equals(expected.getLeaf()));
        return (X509Svid) e.value();
    }

    /**
     * Fifty losses of the stream, alternately an agent restart and a stream ended with status OK, each followed by a rotated
     * SVID that must reach the provider: afterwards this JVM holds as many descriptors of each kind (sockets: connections to
     * the agent; eventpoll/eventfd: Netty event loops of java-spiffe's channels) and as many provider threads as after the
     * first loss of each kind. While the agent is away, the last SVID is served at once (no wait on a retry).
     */
    @Test // control: held before (with reopen()'s closeClient(old) removed it fails: eventpoll descriptors 9 -> 109, zerohop-spire threads 8 -> 80)
    void fiftyReconnectsLeakNoDescriptorThreadOrConnection() throws Exception {
        Path sock = dir.resolve("agent.sock");
        WorkloadApiServer agent = new WorkloadApiServer(sock);
        try (CapturedStderr err = new CapturedStderr()) {
            X509Svid current = CA.issue(WEB);
            agent.serve(List.of(current), CA.bundle(), List.of());
            try (SpireIdentityProvider p = SpireIdentityProvider.builder().address("unix:" + sock)
                    .initialTimeout(Duration.ofSeconds(30)).build()) {
                var ev = WorkloadApiUpdatesTest.events(p);
                Map<String, Long> baseline = null;
                for (int i = 0; i < 52; i++) {
                    X509Svid next = CA.issue(WEB);
                    if (i % 2 == 0) {
                        agent.stop(); // the agent restarting (CANCELLED, then UNAVAILABLE until it is back; java-spiffe retries on its client)
                        assertThat(p.svid(WEB)).as("served at once while the agent is away (loss " + i + ")").isCompleted();
                        assertThat(p.svid(WEB).get().getLeaf()).isEqualTo(current.getLeaf());
                        agent = new WorkloadApiServer(sock);
                        agent.serve(List.of(next), CA.bundle(), List.of());
                    } else {
                        agent.completeStreams(); // the stream ended with status OK: the provider reopens it
                        agent.serve(List.of(next), CA.bundle(), List.of());
                        assertThat(p.svid(WEB)).as("served at once while the stream is reopened (loss " + i + ")").isCompleted();
                    }
                    awaitRotation(ev, next, "the SVID rotated after loss " + i);
                    current = next;
                    if (i == 1) {
                        // One loss of each kind behind: lazily made shared things (gRPC's timer, the delayed executor) exist.
                        baseline = low();
                    }
                }
                Map<String, Long> after = settle(baseline);
                System.out.println("held after the first two losses " + baseline + ", after 50 more " + after);
                final Map<String, Long> bound = baseline;
                assertThat(after).as("descriptors by kind and threads after 50 more losses, against after the first two: %s", bound)
                        .allSatisfy((k, v) -> assertThat(v).as(k).isLessThanOrEqualTo(bound.getOrDefault(k, 0L)));
                assertThat(agent.openStreams()).as("streams open at the agent").isEqualTo(1);
                assertThat(p.svid(WEB).get().getLeaf()).isEqualTo(current.getLeaf());
            }
        } finally {
            agent.close();
        }
    }

    /** The server certificate a real TLS client saw, over TCP on this helper's loopback address, or the handshake's failure. */
    static X509Certificate handshake(SslContext server, SslContext client, int port) throws Exception {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            CompletableFuture<Void> served = new CompletableFuture<>();
            Channel listener = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            SslHandler h = server.newHandler(ch.alloc());
                            ch.pipeline().addLast(h, CLOSE_ON_ERROR);
                            h.handshakeFuture().addListener(f -> {
                                if (f.isSuccess()) {
                                    served.complete(null);
                                } else {
                                    served.completeExceptionally(f.cause());
                                }
                            });
                        }
                    }).bind(new InetSocketAddress(HOST, port)).sync().channel();
            try {
                CompletableFuture<X509Certificate> seen = new CompletableFuture<>();
                Channel ch = new Bootstrap().group(group).channel(NioSocketChannel.class)
                        .handler(new ChannelInitializer<SocketChannel>() {
                            @Override
                            protected void initChannel(SocketChannel ch) {
                                SslHandler h = client.newHandler(ch.alloc(), HOST, port);
                                ch.pipeline().addLast(h, CLOSE_ON_ERROR);
                                h.handshakeFuture().addListener(f -> {
                                    if (f.isSuccess()) {
                                        seen.complete((X509Certificate) h.engine().getSession().getPeerCertificates()[0]);
                                    } else {
                                        seen.completeExceptionally(f.cause());
                                    }
                                });
                            }
                        }).connect(HOST, port).sync().channel();
                try {
                    X509Certificate cert = seen.get(10, TimeUnit.SECONDS);
                    served.get(10, TimeUnit.SECONDS);
                    return cert;
                } finally {
                    ch.close().sync();
                }
            } finally {
                listener.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @ChannelHandler.Sharable
    private static final class CloseOnError extends ChannelInboundHandlerAdapter {
        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close(); // the handshake future carries the failure
        }
    }

    private static final ChannelHandler CLOSE_ON_ERROR = new CloseOnError();

    /**
     * TLS over the agent's absence and return: while the agent is away (its attempts failing), handshakes still present the
     * last SVID; once it is back with a rotated SVID signed by a new root, and a bundle of that root only, a handshake
     * presents the new SVID and both sides verify it against the new bundle (the old bundle would refuse it), so both the SVID
     * and the bundle of the update reached TLS. Each context is asked of {@link MeshTls} again per handshake, as mesh-core does.
     */
    @Test // control: held before
    void theLastSvidServesTlsWhileTheAgentIsAwayAndItsRotationReachesTls() throws Exception {
        InMemoryCa ca = InMemoryCa.create("spire.test");
        Path sock = dir.resolve("agent.sock");
        WorkloadApiServer agent = new WorkloadApiServer(sock);
        try (CapturedStderr err = new CapturedStderr()) {
            X509Svid web = ca.issue(WEB);
            agent.serve(List.of(web, ca.issue(CLIENT)), ca.bundle(), List.of());
            try (SpireIdentityProvider p = SpireIdentityProvider.builder().address("unix:" + sock)
                    .initialTimeout(Duration.ofSeconds(30)).build();
                    MeshTls tls = MeshTls.builder(p).build()) {
                var ev = WorkloadApiUpdatesTest.events(p);
                assertThat(handshake(tls.server(WEB).join(), tls.client(CLIENT, Set.of(WEB)).join(), 53300))
                        .isEqualTo(web.getLeaf());

                agent.stop();
                err.awaitLine("WARN", "(attempt 2)", "still serving the last SVIDs");
                assertThat(handshake(tls.server(WEB).join(), tls.client(CLIENT, Set.of(WEB)).join(), 53301))
                        .as("the last SVID, while the agent is away").isEqualTo(web.getLeaf());

                ca.rotateRoot();
                ca.retireOldRoots();
                X509Svid rotated = ca.issue(WEB);
                X509Svid rotatedClient = ca.issue(CLIENT);
                agent = new WorkloadApiServer(sock);
                agent.serve(List.of(rotated, rotatedClient), ca.bundle(), List.of());
                // bundlesChanged comes first (SpireIdentityProvider.update), then one svidRotated per SVID, in no set order;
                // the client's old SVID, of the retired root, would be refused by the new bundle.
                WorkloadApiUpdatesTest.await(ev, "the new bundle", e -> e.kind().equals("bundles"));
                java.util.Set<X509Certificate> leaves = new java.util.HashSet<>(Set.of(rotated.getLeaf(), rotatedClient.getLeaf()));
                while (!leaves.isEmpty()) {
                    WorkloadApiUpdatesTest.Event e = WorkloadApiUpdatesTest.await(ev, "the rotated SVIDs " + leaves,
                            x -> x.kind().equals("rotated") && leaves.contains(((X509Svid) x.value()).getLeaf()));
                    leaves.remove(((X509Svid) e.value()).getLeaf());
                }
                assertThat(handshake(tls.server(WEB).join(), tls.client(CLIENT, Set.of(WEB)).join(), 53302))
                        .as("the rotated SVID, verified against the rotated bundle").isEqualTo(rotated.getLeaf());
            }
        } finally {
            agent.close();
        }
    }

    /**
     * A stream the agent ends with status UNAVAILABLE after its first response (grpc-go's status when a server stops a
     * stream while going away): one WARN line, the last SVID served at once meanwhile, and the retry, 1 s after (go-spiffe's
     * back-off, reset by the response: client.go {@code watchX509Context}, {@code handleWatchError}), goes over the same
     * java-spiffe client and its channel (its {@code RetryHandler} calls the stub again), as go-spiffe's does over its one
     * {@code grpc.ClientConn}; its rotated SVID is served.
     */
    @Test // control: held before
    void aStreamEndedWithUnavailableIsRetriedOnTheSameChannel() throws Exception {
        Path sock = dir.resolve("agent.sock");
        X509Svid first = CA.issue(WEB);
        X509Svid next = CA.issue(WEB);
        try (RawWorkloadApi api = new RawWorkloadApi(sock); CapturedStderr err = new CapturedStderr()) {
            CompletableFuture<SpireIdentityProvider> f = SpireIdentityProvider.builder().address("unix:" + sock).buildAsync();
            try {
                RawWorkloadApi.Call c = api.next();
                c.send(response(first));
                SpireIdentityProvider p = f.get(30, TimeUnit.SECONDS);
                var client = p.client();
                var ev = WorkloadApiUpdatesTest.events(p);
                c.close(Status.UNAVAILABLE.withDescription("agent going away"));
                err.awaitLine("WARN", "UNAVAILABLE: agent going away (attempt 1)", "still serving the last SVIDs [" + WEB + "]",
                        "next try in 1s ");
                assertThat(p.svid(WEB)).isCompleted();
                assertThat(p.svid(WEB).get().getLeaf()).isEqualTo(first.getLeaf());

                api.next().send(response(next));
                awaitRotation(ev, next, "the SVID of the retried stream");
                assertThat(p.client()).as("the java-spiffe client (and its channel) of the first stream").isSameAs(client);
                assertThat(err.count("reopening it")).isZero();
                p.close();
            } finally {
                f.cancel(false);
                f.thenAccept(SpireIdentityProvider::close);
            }
        }
    }

    static byte[] response(X509Svid svid) {
        return Workload.X509SVIDResponse.newBuilder().addSvids(SpireBreakTest.message(svid, CA)).build().toByteArray();
    }
}
