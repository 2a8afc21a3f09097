package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.DestinationResolver;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * How an established tunnel's end counts in the metrics and reads in ztunnel's access-log format:
 * as ztunnel's. ztunnel ignores a TCP reset, a lost connection and a broken pipe during the copy
 * (istio/ztunnel src/copy.rs {@code ignore_io_errors}: "users expect errors to occur only when we
 * cannot connect to the backend at all"), reads RST_STREAM NO_ERROR/CANCEL as the end of input and
 * STREAM_CLOSED as a broken pipe (src/proxy/h2.rs); any other RST_STREAM code is h2's remote reset
 * ({@code h2_to_io_error}: "stream error received: " and h2's reason, hyperium/h2 src/error.rs and
 * src/frame/reason.rs), an error of the copy direction reading the HBONE stream ({@code send:}
 * inbound, {@code receive:} outbound, src/copy.rs {@code copy_bidirectional}, src/proxy.rs), counted
 * as ConnectionFailure, {@code CONNECT} (src/proxy/metrics.rs {@code extract_failure_reason}).
 * Real mTLS, a real HBONE client and server each reporting to a real observer (ztunnel-format lines
 * collected instead of written), a real upstream socket on 127.0.53.1.
 */
@Timeout(60)
class TunnelEndFailureTest {
    static final SpiffeId BACKEND = SpiffeIds.istio("cluster.local", "prod", "backend");
    static final SpiffeId FRONTEND = SpiffeIds.istio("cluster.local", "prod", "frontend");
    static final String CONNECT_ERROR_TEXT = "connection established in response to a CONNECT request was reset or abnormally closed";

    /** One side's observer: its closed labels and its ztunnel-format lines (text and JSON). */
    static final class Side implements TunnelObserver.Sink {
        final List<TrafficLabels> closed = new CopyOnWriteArrayList<>();
        final List<String> lines = new CopyOnWriteArrayList<>();
        final List<String> json = new CopyOnWriteArrayList<>();
        final TunnelObserver observer = new TunnelObserver(WorkloadRegistry.of(List.of(WorkloadStringsTest.CLIENT), Map.of()), this, null,
                TrafficLabels.DEFAULT_CLUSTER, ZtunnelFailedOpenLogTest.debugLogger(), (level, line) -> {
                    json.add(line.json(level, "T"));
                    lines.add(line.text(level, "T"));
                });

        @Override
        public void opened(TrafficLabels labels) {
        }

        @Override
        public void bytes(TrafficLabels labels, long sent, long received) {
        }

        @Override
        public void closed(TrafficLabels labels) {
            closed.add(labels);
        }

        /** The one connection complete line, once the close was reported (the count comes first, then the line). */
        String complete() {
            await(() -> closed.size() == 1 && lines.stream().anyMatch(l -> l.contains("\tconnection complete\t"))
                    && json.stream().anyMatch(j -> j.contains("\"connection complete\"")));
            List<String> c = lines.stream().filter(l -> l.contains("\tconnection complete\t")).toList();
            assertThat(c).hasSize(1);
            return c.get(0);
        }
    }

    final Side client = new Side();
    final Side server = new Side();
    /** The server's drain (MeshRuntime's TunnelCount, wired to the observer as MeshRuntime wires it). */
    final TunnelCount drain = new TunnelCount();
    MeshTls tls;
    ServerSocket app;
    HboneServer hbone;
    HboneClient hboneClient;

    @BeforeEach
    void start() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.53.1");
        tls = MeshTls.builder(InMemoryCa.create("cluster.local")).build();
        app = new ServerSocket(0, 50, ip);
        app.setSoTimeout(20_000);
        hbone = HboneServer.builder().tls(tls).identity(BACKEND).bind(new InetSocketAddress(ip, 0)).destinations(DestinationResolver.sameIp())
                .authorizer(Authorizer.allowAll()).listener(new FanOut(server.observer, drain)).threads(1).build().start().get(10, TimeUnit.SECONDS);
        server.observer.drainDeadline(drain::deadlinePassed);
        hboneClient = HboneClient.builder().tls(tls).identity(FRONTEND).listener(client.observer).threads(1).build();
    }

    @AfterEach
    void stop() throws Exception {
        hboneClient.close();
        hbone.close();
        app.close();
        tls.close();
    }

    record Open(HboneStream stream, Socket upstream) {}

    Open open() throws Exception {
        HboneStream s = hboneClient.connect(new InetSocketAddress(app.getInetAddress(), app.getLocalPort()), Set.of(BACKEND), hbone.localAddress())
                .get(20, TimeUnit.SECONDS);
        Socket up = app.accept();
        up.setSoTimeout(20_000);
        return new Open(s, up);
    }

    static void await(BooleanSupplier c) {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!c.getAsBoolean()) {
            assertThat(System.nanoTime() - end).as("condition within 20 s").isNegative();
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }

    static void assertNoFailure(Side side) {
        String line = side.complete();
        assertThat(side.closed).extracting(TrafficLabels::responseFlags).containsExactly(TrafficLabels.NO_FLAGS);
        assertThat(side.closed.get(0).failed()).isFalse();
        assertThat(line).contains("\tinfo\taccess\tconnection complete\t").doesNotContain("error=");
        assertThat(side.json).filteredOn(j -> j.contains("\"connection complete\"")).singleElement().asString()
                .contains("\"level\":\"info\"").doesNotContain("\"error\"");
    }

    static void assertFailure(Side side, String error) {
        String line = side.complete();
        assertThat(side.closed).extracting(TrafficLabels::responseFlags).containsExactly("CONNECT");
        assertThat(side.closed.get(0).failed()).isTrue();
        assertThat(line).contains("\terror\taccess\tconnection complete\t").endsWith(" error=\"" + error + "\"");
        assertThat(side.json).filteredOn(j -> j.contains("\"connection complete\"")).singleElement().asString()
                .contains("\"level\":\"error\"").contains("\"error\":\"" + error + "\"");
    }

    /**
     * The new user's case: the upstream writes a banner and resets (SO_LINGER 0, as a close with
     * unread input does). The server, whose upstream was reset, counts no failure; its abort reaches
     * the client as RST_STREAM CONNECT_ERROR (DESIGN §3), which ztunnel reads as an error: the
     * client's outbound counts it, with h2's remote reset on its receive side.
     */
    @Test
    void anUpstreamResetIsNoFailureWhereItHappened() throws Exception {
        Open o = open();
        // The client's socket stays open until both sides have reported: its own close would race the reset.
        try (Socket tunnel = o.stream().toSocket()) {
            try (Socket up = o.upstream()) {
                OutputStream out = up.getOutputStream();
                out.write("banner\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                InputStream in = tunnel.getInputStream();
                assertThat(new String(in.readNBytes(7), StandardCharsets.US_ASCII)).isEqualTo("banner\n");
                up.setSoLinger(true, 0);
            }
            assertNoFailure(server);
            assertFailure(client, "receive: io error: stream error received: " + CONNECT_ERROR_TEXT);
        }
    }

    /** The client's application resets its end: RST_STREAM CONNECT_ERROR; the server (reading it) counts, the client does not. */
    @Test
    void aPeersConnectErrorIsAFailureOfTheSideThatReceivedIt() throws Exception {
        Open o = open();
        try (Socket up = o.upstream()) {
            o.stream().reset();
            assertFailure(server, "send: io error: stream error received: " + CONNECT_ERROR_TEXT);
            assertNoFailure(client);
        }
    }

    /** RST_STREAM INTERNAL_ERROR: h2's reason for code 2. */
    @Test
    void aPeersInternalErrorIsAFailureWithH2sReason() throws Exception {
        resetWith(Http2Error.INTERNAL_ERROR);
        assertFailure(server, "send: io error: stream error received: unexpected internal error encountered");
    }

    /** RST_STREAM STREAM_CLOSED: a broken pipe to ztunnel (src/proxy/h2.rs), ignored. */
    @Test
    void aPeersStreamClosedIsNoFailure() throws Exception {
        resetWith(Http2Error.STREAM_CLOSED);
        assertNoFailure(server);
    }

    void resetWith(Http2Error code) throws Exception {
        Open o = open();
        try (Socket up = o.upstream()) {
            Channel ch = o.stream().channel();
            ch.writeAndFlush(new DefaultHttp2ResetFrame(code)).sync();
            await(() -> server.closed.size() == 1);
        }
    }

    /**
     * The HBONE connection is lost (a TCP reset under TLS): no RST_STREAM on either side, no failure
     * on either side (ztunnel's ConnectionReset / UnexpectedEof, ignored).
     */
    @Test
    void aLostHboneConnectionIsNoFailure() throws Exception {
        Open o = open();
        try (Socket up = o.upstream()) {
            Channel connection = o.stream().channel().parent();
            connection.eventLoop().execute(() -> {
                connection.config().setOption(ChannelOption.SO_LINGER, 0);
                connection.unsafe().close(connection.voidPromise());
            });
            assertNoFailure(client);
            assertNoFailure(server);
        }
    }

    /**
     * An inbound CONNECT whose upstream refuses the dial: the server's line is ztunnel's
     * {@code Error::ConnectionFailed}, {@code connection failed: } and the dial's error
     * (istio/ztunnel src/proxy/inbound.rs {@code map_err(Error::ConnectionFailed)}, src/proxy.rs), not
     * zerohop's {@code upstream ADDR unreachable: }; counted CONNECT (ConnectionFailure) as before. The error
     * is Rust's {@code io::Error} text, {@code Connection refused (os error 111)}, not Netty's
     * {@code finishConnect(..) failed with error(-111): ...} (DialErrors).
     */
    @Test
    void anUnreachableUpstreamIsConnectionFailed() throws Exception {
        int closed;
        try (ServerSocket gone = new ServerSocket(0, 1, app.getInetAddress())) {
            closed = gone.getLocalPort();
        }
        Throwable t = org.assertj.core.api.Assertions.catchThrowable(() -> hboneClient.connect(new InetSocketAddress(app.getInetAddress(), closed),
                Set.of(BACKEND), hbone.localAddress()).get(20, TimeUnit.SECONDS));
        assertThat(t).isNotNull();
        String line = server.complete();
        assertThat(server.closed).extracting(TrafficLabels::responseFlags).containsExactly("CONNECT");
        assertThat(line).contains("\terror\taccess\tconnection complete\t")
                .contains(" error=\"connection failed: Connection refused (os error 111)\"").doesNotContain("unreachable");
    }

    /**
     * A tunnel cut at the drain deadline: ztunnel's {@code ClosedFromDrain}, "connection closed due to
     * connection drain" (istio/ztunnel src/proxy.rs), which a connection result still unrecorded when
     * the force shutdown drops its task records (src/proxy/metrics.rs {@code impl Drop for
     * ConnectionResult}), a ConnectionFailure: CONNECT, though the cut itself is a reset.
     */
    @Test
    void aTunnelCutAtTheDrainDeadlineIsClosedFromDrain() throws Exception {
        Open o = open();
        java.util.concurrent.ScheduledExecutorService timer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
        try (Socket up = o.upstream()) {
            TunnelCount.Left left = drain.awaitIdle(java.time.Duration.ZERO, java.time.Duration.ofSeconds(2), timer).get(20, TimeUnit.SECONDS);
            assertThat(left.tunnels()).isEqualTo(1);
            assertFailure(server, "connection closed due to connection drain");
        } finally {
            timer.shutdownNow();
        }
    }
}
