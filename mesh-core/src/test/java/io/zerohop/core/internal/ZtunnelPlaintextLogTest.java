package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.internal.http.HttpEnforcement;
import io.zerohop.hbone.internal.Relay;
import io.zerohop.policy.Decision;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The ztunnel-format lines of plaintext-inbound connections that had none until 2 December: one refused at accept and
 * one parsed per request (or sniffed) that a decision after its start ended. ztunnel writes, for its plaintext
 * passthrough (istio/ztunnel src/proxy/inbound_passthrough.rs {@code proxy_inbound_plaintext}), {@code connection
 * opened} at DEBUG when it builds the connection result, then {@code connection complete} at ERROR with the Display of
 * its error (src/proxy/metrics.rs {@code record_internal}, src/proxy.rs {@code AuthorizationPolicyRejection},
 * {@code AuthorizationPolicyLateRejection}), no identities (plaintext: {@code connection_security_policy} is not
 * mutual_tls). The observer runs with a real slf4j logger at DEBUG and hands its lines to a list; the parsed
 * connection's two sides are Netty's EmbeddedChannels (no socket is needed to count bytes and see a close).
 */
class ZtunnelPlaintextLogTest {
    static final InetSocketAddress SRC = new InetSocketAddress("127.0.82.9", 40000);
    static final InetSocketAddress DST = new InetSocketAddress("127.0.0.3", 8080);

    final List<ZtunnelFailedOpenLogTest.Written> lines = new ArrayList<>();
    final TunnelObserverLabelsTest.Recording metrics = new TunnelObserverLabelsTest.Recording();
    final TunnelObserver observer = new TunnelObserver(WorkloadRegistry.of(List.of(WorkloadStringsTest.CLIENT), Map.of()), metrics,
            null, TrafficLabels.DEFAULT_CLUSTER, ZtunnelFailedOpenLogTest.debugLogger(),
            (level, line) -> lines.add(new ZtunnelFailedOpenLogTest.Written(level, line.text(level, "T"))));

    @Test
    void plaintextRefusedUnderStrictIsConnectionCompleteWithIstiodsConvertedPolicy() {
        observer.plainRefused(SRC, DST, "spiffe://cluster.local/ns/prod/sa/backend", "PeerAuthentication STRICT requires mTLS",
                ZtunnelAccessLog.strictRejection("istio-system"), System.nanoTime());
        assertThat(lines).extracting(ZtunnelFailedOpenLogTest.Written::level).containsExactly("debug", "error");
        assertThat(lines.get(0).text()).startsWith("T\tdebug\taccess\tconnection opened\tsrc.addr=127.0.82.9:40000 ")
                .endsWith("dst.addr=127.0.0.3:8080 dst.workload=\"client\" dst.namespace=\"bench\" dst.cluster=\"Kubernetes\" direction=\"inbound\"");
        assertThat(lines.get(1).text()).startsWith("T\terror\taccess\tconnection complete\tsrc.addr=127.0.82.9:40000 ")
                .contains(" direction=\"inbound\" bytes_sent=0 bytes_recv=0 duration=\"")
                .endsWith("ms\" error=\"connection closed due to policy rejection: explicitly denied by: istio-system/istio_converted_static_strict\"")
                .doesNotContain("identity");
        assertThat(metrics.opened).hasSize(1);
        assertThat(metrics.closed).extracting(TrafficLabels::responseFlags).containsExactly("DENY");
    }

    /** A failed dial to the workload: ztunnel's {@code Error::ConnectionFailed} ("connection failed: "), CONNECT. */
    @Test
    void aFailedDialIsConnectionFailed() {
        observer.plainDialFailed(SRC, DST, null, "Connection refused", System.nanoTime());
        assertThat(lines).extracting(ZtunnelFailedOpenLogTest.Written::level).containsExactly("debug", "error");
        assertThat(lines.get(1).text()).startsWith("T\terror\taccess\tconnection complete\tsrc.addr=127.0.82.9:40000 ")
                .contains(" bytes_sent=0 bytes_recv=0 ").endsWith(" error=\"connection failed: Connection refused\"");
        assertThat(metrics.closed).extracting(TrafficLabels::responseFlags).containsExactly("CONNECT");
    }

    /**
     * A passthrough whose dial failed: ztunnel's {@code proxy_to_tcp} (src/proxy/outbound.rs) ends its result with the
     * dial's {@code io::Error}, {@code Error::Io} ("io error: ", src/proxy.rs), CONNECT, outbound.
     */
    @Test
    void aPassthroughWhoseDialFailsIsAnIoError() {
        observer.passthroughDialFailed(SRC, DST, "Connection refused (os error 111)", System.nanoTime(), null);
        assertThat(lines).extracting(ZtunnelFailedOpenLogTest.Written::level).containsExactly("debug", "error");
        assertThat(lines.get(0).text()).startsWith("T\tdebug\taccess\tconnection opened\tsrc.addr=127.0.82.9:40000 ")
                .endsWith(" direction=\"outbound\"");
        assertThat(lines.get(1).text()).startsWith("T\terror\taccess\tconnection complete\tsrc.addr=127.0.82.9:40000 ")
                .contains(" direction=\"outbound\" bytes_sent=0 bytes_recv=0 ")
                .endsWith(" error=\"io error: Connection refused (os error 111)\"").doesNotContain("identity");
        assertThat(metrics.opened).hasSize(1);
        assertThat(metrics.closed).extracting(TrafficLabels::responseFlags).containsExactly("CONNECT");
    }

    /**
     * ztunnel's early denies of plaintext (inbound_passthrough.rs {@code log_early_deny}, before any connection result):
     * {@code connection failed} at WARN, no metrics. A self call, {@code Error::SelfCall}; an address no workload has, the
     * {@code Error::UnknownDestination} of ztunnel's shared node mode (inbound_passthrough.rs before commit 4de5e896).
     * Until 2 December neither was written in ztunnel's format. PlaintextInbound with this observer.
     */
    @Test
    void aSelfCallAndAnAddressWithoutAWorkloadAreZtunnelsEarlyDenies() {
        PartsFixture f = new PartsFixture();
        PlaintextInbound plaintext = new PlaintextInbound(f.local, f.ownPorts, f.engine, f.authorizer, f.http, observer, f.refusals);
        InetSocketAddress self = new InetSocketAddress(PartsFixture.BACKEND_IP, 15008);
        InetSocketAddress nobody = new InetSocketAddress(PartsFixture.UNKNOWN_IP, 8080);
        assertThat(plaintext.open(SRC, self, null)).isCompletedExceptionally();
        assertThat(plaintext.open(SRC, nobody, null)).isCompletedExceptionally();
        assertThat(lines).extracting(ZtunnelFailedOpenLogTest.Written::text).containsExactly(
                "T\twarn\taccess\tconnection failed\tsrc.addr=127.0.82.9:40000 dst.addr=" + io.zerohop.core.Addresses.authority(self)
                        + " direction=\"inbound\" error=\"attempted recursive call to ourselves\"",
                "T\twarn\taccess\tconnection failed\tsrc.addr=127.0.82.9:40000 dst.addr=10.9.9.9:8080"
                        + " direction=\"inbound\" error=\"unknown destination: 10.9.9.9\"");
        assertThat(metrics.opened).isEmpty();
    }

    @Test
    void aParsedConnectionDeniedAfterTheSniffIsConnectionCompleteWithTheRejection() {
        EmbeddedChannel up = new EmbeddedChannel();
        EmbeddedChannel client = new EmbeddedChannel();
        Relay.End end = observer.plainParsed(new Stub(up), SRC, DST, "spiffe://cluster.local/ns/prod/sa/backend");
        end.joinFrom(new Stub(client));
        client.writeInbound(Unpooled.copiedBuffer("\u0001\u0002junk", StandardCharsets.ISO_8859_1));
        client.<io.netty.buffer.ByteBuf>readInbound().release();
        client.attr(HttpEnforcement.DENIED_UNPARSED).set(new HttpEnforcement.UnparsedDenial(
                new Decision(false, Decision.Outcome.DENIED_DEFAULT, null, -1, "ALLOW policies apply and none matched"), "first bytes: OPAQUE"));
        client.close();
        // ztunnel's connection opened (DEBUG) when its result is built, as for every passthrough connection (since 2 December).
        assertThat(lines).extracting(ZtunnelFailedOpenLogTest.Written::level).containsExactly("debug", "error");
        assertThat(lines.get(0).text()).isEqualTo("T\tdebug\taccess\tconnection opened\tsrc.addr=127.0.82.9:40000 dst.addr=127.0.0.3:8080"
                + " dst.workload=\"client\" dst.namespace=\"bench\" dst.cluster=\"Kubernetes\" direction=\"inbound\"");
        assertThat(lines.get(1).text()).startsWith("T\terror\taccess\tconnection complete\tsrc.addr=127.0.82.9:40000 ")
                .contains(" direction=\"inbound\" bytes_sent=0 bytes_recv=6 duration=\"")
                .endsWith("ms\" error=\"connection closed due to policy rejection: allow policies exist, but none allowed\"");
        up.finishAndReleaseAll();
        client.finishAndReleaseAll();
    }

    @Test
    void aParsedConnectionCutByAPolicyChangeIsTheLateRejectionAndOneEndedCleanlyIsInfo() {
        EmbeddedChannel up = new EmbeddedChannel();
        EmbeddedChannel client = new EmbeddedChannel();
        observer.plainParsed(new Stub(up), SRC, DST, null).joinFrom(new Stub(client));
        client.writeOutbound(Unpooled.copiedBuffer("HTTP/1.1 200 OK\r\n\r\n", StandardCharsets.US_ASCII));
        client.<io.netty.buffer.ByteBuf>readOutbound().release();
        // A parsed connection is tracked, and marked, by its client's connection (its application's may never be dialled).
        client.attr(LivePlaintext.DENIED_BY_POLICY).set(Boolean.TRUE);
        client.close();
        assertThat(complete()).hasSize(1);
        assertThat(complete().get(0)).startsWith("T\terror\taccess\tconnection complete\t")
                .contains(" bytes_sent=19 bytes_recv=0 ").endsWith(" error=\"connection closed due to policy change\"");

        EmbeddedChannel up2 = new EmbeddedChannel();
        EmbeddedChannel client2 = new EmbeddedChannel();
        observer.plainParsed(new Stub(up2), SRC, DST, null).joinFrom(new Stub(client2));
        client2.close();
        assertThat(complete()).hasSize(2);
        assertThat(complete().get(1)).startsWith("T\tinfo\taccess\tconnection complete\t").doesNotContain("error=");
        up.finishAndReleaseAll();
        up2.finishAndReleaseAll();
    }

    /**
     * Past the drain deadline, only the drain's own reset of a parsed connection (TunnelCount) is ztunnel's
     * {@code ClosedFromDrain} (counted {@code CONNECT}); one its client ends then is a clean end. Until 2 December any
     * close after the deadline without an I/O error was taken for the drain's.
     */
    @Test
    void afterTheDrainDeadlineOnlyTheDrainsResetIsClosedFromDrain() {
        observer.drainDeadline(() -> true);
        EmbeddedChannel up = new EmbeddedChannel();
        EmbeddedChannel client = new EmbeddedChannel();
        observer.plainParsed(new Stub(up), SRC, DST, null).joinFrom(new Stub(client));
        client.close();
        EmbeddedChannel up2 = new EmbeddedChannel();
        EmbeddedChannel client2 = new EmbeddedChannel();
        observer.plainParsed(new Stub(up2), SRC, DST, null).joinFrom(new Stub(client2));
        TunnelCount.reset(client2);
        assertThat(complete()).hasSize(2);
        assertThat(complete().get(0)).startsWith("T\tinfo\taccess\tconnection complete\t").doesNotContain("error=");
        assertThat(complete().get(1)).startsWith("T\terror\taccess\tconnection complete\t")
                .endsWith(" error=\"connection closed due to connection drain\"");
        assertThat(metrics.opened).hasSize(2);
        assertThat(metrics.closed).extracting(TrafficLabels::responseFlags).containsExactly("-", "CONNECT");
        up.finishAndReleaseAll();
        up2.finishAndReleaseAll();
    }

    /**
     * A plain relay reset before its join (its client was gone once the dial completed: CaptureListener resets the
     * dialled end instead of joining it) ends there: counted closed with {@code -} (ztunnel's copy ignores the client's
     * reset) and its one line, {@code info}. Until 2 December it stayed counted open for ever, with no line.
     */
    @Test
    void aRelayOrParsedEndResetBeforeItsJoinIsClosedAndLogged() {
        EmbeddedChannel up = new EmbeddedChannel();
        Relay.End end = observer.plain(new Stub(up), "plaintext-inbound", true, SRC, DST, null);
        end.reset();
        end.reset();
        assertThat(metrics.opened).hasSize(1);
        assertThat(metrics.closed).extracting(TrafficLabels::responseFlags).containsExactly("-");
        assertThat(complete()).hasSize(1);
        assertThat(complete().get(0)).startsWith("T\tinfo\taccess\tconnection complete\tsrc.addr=127.0.82.9:40000 ")
                .contains(" bytes_sent=0 bytes_recv=0 ").doesNotContain("error=");
        // The same for one that would have been parsed (it was not counted at all, and had no line).
        EmbeddedChannel up2 = new EmbeddedChannel();
        Relay.End parsed = observer.plainParsed(new Stub(up2), SRC, DST, null);
        parsed.reset();
        parsed.reset();
        assertThat(metrics.opened).hasSize(2);
        assertThat(metrics.closed).extracting(TrafficLabels::responseFlags).containsExactly("-", "-");
        assertThat(complete()).hasSize(2);
        up.finishAndReleaseAll();
        up2.finishAndReleaseAll();
    }

    /**
     * A joined plain relay is the drain's cut only when the drain reset its client (TunnelCount marks it); a relay its
     * client reset past the deadline is an ordinary reset, no failure. Until 2 December any relay reset past the
     * deadline was taken for the drain's. A real Relay joins the two EmbeddedChannels and reports the end.
     */
    @Test
    void aJoinedRelayIsTheDrainsCutOnlyWhenTheDrainResetItsClient() {
        observer.drainDeadline(() -> true);
        for (boolean byDrain : new boolean[] {false, true}) {
            EmbeddedChannel up = new EmbeddedChannel();
            EmbeddedChannel client = new EmbeddedChannel();
            Relay.End end = observer.plain(new Stub(up), "plaintext-inbound", true, SRC, DST, null);
            end.joinFrom(new Stub(client));
            if (byDrain) {
                TunnelCount.reset(client);
            } else {
                client.close(); // its client's own end, past the deadline
            }
            up.finishAndReleaseAll();
            client.finishAndReleaseAll();
        }
        assertThat(complete()).hasSize(2);
        assertThat(complete().get(0)).startsWith("T\tinfo\taccess\tconnection complete\t").doesNotContain("error=");
        assertThat(complete().get(1)).startsWith("T\terror\taccess\tconnection complete\t")
                .endsWith(" error=\"connection closed due to connection drain\"");
        assertThat(metrics.closed).extracting(TrafficLabels::responseFlags).containsExactly("-", "CONNECT");
    }

    /** The {@code connection complete} lines written so far (each connection's opened line left out). */
    List<String> complete() {
        return lines.stream().map(ZtunnelFailedOpenLogTest.Written::text).filter(t -> t.contains("\tconnection complete\t")).toList();
    }

    /** A relay end over an EmbeddedChannel whose join does nothing (the parser's join is HttpEnforcement's, not tested here). */
    record Stub(Channel channel) implements Relay.End {
        @Override
        public void shutdownOutput() {
        }

        @Override
        public void reset() {
        }

        @Override
        public void close() {
            channel.close();
        }

        @Override
        public void joinFrom(Relay.End client) {
        }
    }
}
