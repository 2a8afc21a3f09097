package io.zerohop.identity.spire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.workloadapi.grpc.SpiffeWorkloadAPIGrpc;
import io.spiffe.workloadapi.grpc.Workload;
import io.zerohop.identity.IdentityListener;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.WorkloadApiServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SpireIdentityProviderTest {
    private static final SpiffeId ID = SpiffeId.parse("spiffe://spire.test/workload/api");
    private static InMemoryCa ca;

    @TempDir
    Path dir;

    private WorkloadApiServer server;
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeAll
    static void ca() {
        ca = InMemoryCa.create("spire.test");
    }

    @BeforeEach
    void startServer() throws Exception {
        server = new WorkloadApiServer(dir.resolve("agent.sock"));
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
        server.close();
    }

    private SpireIdentityProvider connect(SpireIdentityProvider.Builder b) {
        SpireIdentityProvider p = b.build();
        toClose.add(p);
        return p;
    }

    private SpireIdentityProvider connect() {
        return connect(SpireIdentityProvider.builder().address(server.address()).initialTimeout(Duration.ofSeconds(20)));
    }

    @Test
    void servesSvidAndBundleFromTheWorkloadApiOverAUnixSocket() throws Exception {
        X509Svid issued = ca.issue(ID);
        server.serve(issued, ca.bundle());

        SpireIdentityProvider p = connect();

        assertThat(p.defaultIdentity()).contains(ID);
        X509Svid served = p.svid(ID).get(5, TimeUnit.SECONDS);
        assertThat(served.getChain()).isEqualTo(issued.getChain());
        assertThat(served.getPrivateKey().getEncoded()).isEqualTo(issued.getPrivateKey().getEncoded());
        assertThat(p.bundles().getBundleForTrustDomain(TrustDomain.parse("spire.test")).getX509Authorities())
                .containsExactly(ca.root());
        assertThat(server.rejectedCalls()).as("java-spiffe sends the security header").isZero();
    }

    @Test
    void svidForAnIdentityTheWorkloadLacksFailsClearly() throws Exception {
        server.serve(ca.issue(ID), ca.bundle());
        SpireIdentityProvider p = connect();
        SpiffeId other = SpiffeId.parse("spiffe://spire.test/other");

        assertThatThrownBy(() -> p.svid(other).get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .cause().hasMessageContaining(other.toString()).hasMessageContaining("only [" + ID + "]");
        assertThatThrownBy(() -> p.svid(null)).isInstanceOf(NullPointerException.class).hasMessage("id must not be null");
    }

    /** The state /config_dump reads (ztunnel's CertState): what svid answers, Available or Unavailable with its error. */
    @Test
    void certificateStateIsWhatSvidAnswers() throws Exception {
        X509Svid issued = ca.issue(ID);
        server.serve(issued, ca.bundle());
        SpireIdentityProvider p = connect();
        SpiffeId other = SpiffeId.parse("spiffe://spire.test/other");

        assertThat(p.certificateState(ID)).hasValueSatisfying(st -> assertThat(
                ((io.zerohop.identity.CertificateState.Available) st).svid().getChain()).isEqualTo(issued.getChain()));
        assertThat(p.certificateState(other)).hasValueSatisfying(st -> assertThat(
                ((io.zerohop.identity.CertificateState.Unavailable) st).error()).hasMessageContaining("only [" + ID + "]"));
        assertThatThrownBy(() -> p.certificateState(null)).isInstanceOf(NullPointerException.class);
    }

    @Test
    void rotationPushedByTheServerReachesListenersAndSvid() throws Exception {
        server.serve(ca.issue(ID), ca.bundle());
        SpireIdentityProvider p = connect();
        LinkedBlockingQueue<X509Svid> rotated = new LinkedBlockingQueue<>();
        LinkedBlockingQueue<X509BundleSet> bundles = new LinkedBlockingQueue<>();
        p.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                rotated.add(svid);
            }

            @Override
            public void bundlesChanged(X509BundleSet set) {
                bundles.add(set);
            }
        });

        X509Svid next = ca.issue(ID);
        server.serve(next, ca.bundle());

        X509Svid seen = rotated.poll(10, TimeUnit.SECONDS);
        assertThat(seen).as("svidRotated after the pushed update").isNotNull();
        assertThat(seen.getLeaf()).isEqualTo(next.getLeaf());
        assertThat(p.svid(ID).get(5, TimeUnit.SECONDS).getLeaf()).isEqualTo(next.getLeaf());
        assertThat(bundles).as("same bundle: no bundle event").isEmpty();
    }

    @Test
    void rootRotationAndFederationArriveAsBundleEvents() throws Exception {
        InMemoryCa rotating = InMemoryCa.create("spire.test");
        X509Svid svid = rotating.issue(ID);
        server.serve(svid, rotating.bundle());
        SpireIdentityProvider p = connect();
        LinkedBlockingQueue<X509BundleSet> bundles = new LinkedBlockingQueue<>();
        p.addListener(new IdentityListener() {
            @Override
            public void bundlesChanged(X509BundleSet set) {
                bundles.add(set);
            }
        });

        rotating.rotateRoot();
        InMemoryCa partner = InMemoryCa.create("partner.test");
        server.serve(List.of(svid), rotating.bundle(), List.of(partner.bundle()));

        X509BundleSet set = bundles.poll(10, TimeUnit.SECONDS);
        assertThat(set).as("bundlesChanged after the pushed update").isNotNull();
        assertThat(set.getBundleForTrustDomain(TrustDomain.parse("spire.test")).getX509Authorities()).hasSize(2);
        assertThat(set.getBundleForTrustDomain(TrustDomain.parse("partner.test")).getX509Authorities())
                .containsExactly(partner.root());
        assertThat(p.bundles()).isEqualTo(set);
    }

    @Test
    void severalSvidsAreAllServedAndOneCanBeTheDefault() throws Exception {
        SpiffeId second = SpiffeId.parse("spiffe://spire.test/workload/admin");
        server.serve(List.of(ca.issue(ID), ca.issue(second)), ca.bundle(), List.of());

        SpireIdentityProvider p = connect(SpireIdentityProvider.builder().address(server.address()).spiffeId(second));

        assertThat(p.defaultIdentity()).contains(second);
        assertThat(p.svid(ID).get(5, TimeUnit.SECONDS).getSpiffeId()).isEqualTo(ID);
        assertThat(p.svid(second).get(5, TimeUnit.SECONDS).getSpiffeId()).isEqualTo(second);
    }

    @Test
    void requestedDefaultThatIsNotOfferedFailsTheBuild() {
        server.serve(ca.issue(ID), ca.bundle());
        SpiffeId absent = SpiffeId.parse("spiffe://spire.test/absent");

        assertThatThrownBy(() -> connect(SpireIdentityProvider.builder().address(server.address()).spiffeId(absent)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("but not " + absent);
    }

    @Test
    void updateWithAKeyThatDoesNotMatchIsIgnored() throws Exception {
        X509Svid first = ca.issue(ID);
        server.serve(first, ca.bundle());
        SpireIdentityProvider p = connect();
        LinkedBlockingQueue<X509Svid> rotated = new LinkedBlockingQueue<>();
        p.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                rotated.add(svid);
            }
        });

        X509Svid other = ca.issue(ID);
        server.push(Workload.X509SVIDResponse.newBuilder().addSvids(Workload.X509SVID.newBuilder()
                .setSpiffeId(ID.toString())
                .setX509Svid(ByteString.copyFrom(ca.issue(ID).getLeaf().getEncoded()))
                .setX509SvidKey(ByteString.copyFrom(other.getPrivateKey().getEncoded()))
                .setBundle(ByteString.copyFrom(ca.root().getEncoded()))).build());
        server.serve(other, ca.bundle());

        X509Svid seen = rotated.poll(10, TimeUnit.SECONDS);
        assertThat(seen).isNotNull();
        assertThat(seen.getLeaf()).as("the mismatched pair was never installed").isEqualTo(other.getLeaf());
        assertThat(rotated).isEmpty();
    }

    @Test
    void serverRejectsCallsWithoutTheSecurityHeaderAsSpireDoes() throws Exception {
        server.serve(ca.issue(ID), ca.bundle());
        EventLoopGroup group = new EpollEventLoopGroup(1);
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(server.socket().toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
        try {
            var responses = SpiffeWorkloadAPIGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .fetchX509SVID(Workload.X509SVIDRequest.getDefaultInstance());
            assertThatThrownBy(responses::hasNext).isInstanceOf(StatusRuntimeException.class)
                    .satisfies(e -> assertThat(Status.fromThrowable(e).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT))
                    .hasMessageContaining("security header missing");
            assertThat(server.rejectedCalls()).isEqualTo(1);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void unregisteredWorkloadTimesOutWithAHint() {
        // no serve(): the server answers PERMISSION_DENIED and java-spiffe keeps retrying
        assertThatThrownBy(() -> connect(SpireIdentityProvider.builder().address(server.address())
                .initialTimeout(Duration.ofMillis(1500))))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining(server.address()).hasMessageContaining("registered");
    }

    @Test
    void builderValidatesTheAddress() {
        assertThatThrownBy(() -> SpireIdentityProvider.builder().address("http://nope"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("http://nope");
        Assumptions.assumeTrue(System.getenv("SPIFFE_ENDPOINT_SOCKET") == null, "SPIFFE_ENDPOINT_SOCKET is set here");
        assertThatThrownBy(() -> SpireIdentityProvider.builder().build())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("SPIFFE_ENDPOINT_SOCKET");
    }


    /**
     * java-spiffe logs each failed attempt at SEVERE with its stack trace through java.util.logging
     * (StreamObservers.onError); the provider's own records become its one WARN line and never reach
     * JUL's handlers, while a record logged on any other thread (another java-spiffe client) still does.
     */
    @Test
    void javaSpiffesRetryRecordsBecomeTheProvidersLineOthersStillReachJul() throws Exception {
        JulCapture capture = new JulCapture();
        SpireIdentityProvider p = null;
        try {
            // A socket path with nothing behind it: every attempt fails with UNAVAILABLE (1 s, then 2 s apart).
            p = SpireIdentityProvider.builder().address("unix:" + dir.resolve("nothing.sock")).begin();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (p.failedAttempts() < 2 && System.nanoTime() < deadline) {
                Thread.sleep(20); // polling a condition, bounded; no assertion on time
            }
            assertThat(p.failedAttempts()).as("failed attempts within 30 s").isGreaterThanOrEqualTo(2);
            assertThat(capture.published).as("java-spiffe's records from the provider's threads").isEmpty();

            java.util.logging.Logger.getLogger("io.spiffe.workloadapi.StreamObservers").log(java.util.logging.Level.SEVERE, "another client's record");
            assertThat(capture.messages()).containsExactly("another client's record");
        } finally {
            capture.close();
            if (p != null) {
                p.close();
            }
        }
    }

    /**
     * gRPC's call logger on a provider's thread: java-spiffe's retry rejected after the provider's close made
     * {@code ClientCallImpl} log "Exception thrown by onClose() in ClientCall" with its stack trace on stderr (the
     * official CI of 5 December failed the CLI's SpiffeIdOptionTest on that line); it is the provider's record now, and
     * another thread's still reaches JUL.
     */
    @Test
    void grpcsCallRecordsOnAProvidersThreadsAreItsOwn() throws Exception {
        JulCapture capture = new JulCapture();
        java.util.List<java.util.logging.LogRecord> sunk = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.concurrent.ExecutorService executor = JulRetryLog.executor("zerohop-spire-test", sunk::add);
        try {
            java.util.logging.Logger grpc = java.util.logging.Logger.getLogger("io.grpc.internal.ClientCallImpl");
            executor.submit(() -> grpc.log(java.util.logging.Level.WARNING, "Exception thrown by onClose() in ClientCall",
                    new java.util.concurrent.RejectedExecutionException("retry executor terminated"))).get(10, TimeUnit.SECONDS);
            assertThat(sunk).extracting(java.util.logging.LogRecord::getMessage).containsExactly("Exception thrown by onClose() in ClientCall");
            assertThat(capture.published).as("what reached JUL's handlers").isEmpty();

            grpc.log(java.util.logging.Level.WARNING, "another client's call record");
            assertThat(capture.messages()).containsExactly("another client's call record");
        } finally {
            capture.close();
            executor.shutdown();
        }
    }
}
