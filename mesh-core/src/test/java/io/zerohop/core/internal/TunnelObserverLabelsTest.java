package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Open tunnels with equal metric labels hold one {@link TrafficLabels} instance (issue 14: each
 * open tunnel kept its own 104-byte copy, 1 MB per proxy at 10,000 tunnels), and the metrics read
 * as before: the labels stay equal, the close still carries its response flags.
 */
class TunnelObserverLabelsTest {
    static final SpiffeId ECHO = SpiffeId.parse("spiffe://cluster.local/ns/bench/sa/echo");

    /** Records what the observer hands the metrics sink. */
    static final class Recording implements TunnelObserver.Sink {
        final List<TrafficLabels> opened = new ArrayList<>();
        final List<TrafficLabels> closed = new ArrayList<>();

        @Override
        public void opened(TrafficLabels labels) {
            opened.add(labels);
        }

        @Override
        public void bytes(TrafficLabels labels, long sent, long received) {
        }

        @Override
        public void closed(TrafficLabels labels) {
            closed.add(labels);
        }
    }

    static final TunnelCounters NO_BYTES = new TunnelCounters() {
        @Override
        public long bytesSent() {
            return 0;
        }

        @Override
        public long bytesReceived() {
            return 0;
        }
    };

    static TunnelInfo tunnel(int i) {
        String baggage = new String(Baggage.of(WorkloadStringsTest.CLIENT).formatHeader());
        return new TunnelInfo(TunnelInfo.Direction.OUTBOUND, WorkloadStringsTest.CLIENT.identity(), ECHO,
                new InetSocketAddress("127.0.0.3", 40000 + i), new InetSocketAddress("127.0.0.2", 15008),
                new InetSocketAddress("127.0.0.2", 8080), Map.of("baggage", baggage));
    }

    @Test
    @DisplayName("three open tunnels between the same workloads share one TrafficLabels; each close still reports its flags")
    void openTunnelsShareTheirLabels() {
        Recording sink = new Recording();
        TunnelObserver observer = new TunnelObserver(WorkloadRegistry.of(List.of(WorkloadStringsTest.CLIENT), Map.of()), sink, null);
        List<TunnelInfo> tunnels = List.of(tunnel(0), tunnel(1), tunnel(2));
        for (TunnelInfo t : tunnels) {
            observer.tunnelOpened(t, NO_BYTES);
        }
        assertThat(sink.opened).hasSize(3);
        assertThat(sink.opened.get(1)).isSameAs(sink.opened.get(0));
        assertThat(sink.opened.get(2)).isSameAs(sink.opened.get(0));
        assertThat(sink.opened.get(0)).isEqualTo(observer.labels(tunnel(3)));

        observer.tunnelClosed(new TunnelResult(tunnels.get(0), 200, 0, 0, Duration.ZERO, false, null));
        // A peer's RST_STREAM CONNECT_ERROR (code 10): a failure to ztunnel (TunnelEndFailureTest).
        observer.tunnelClosed(new TunnelResult(tunnels.get(1), 200, 0, 0, Duration.ZERO, true, "reset by peer", 10));
        assertThat(sink.closed).extracting(TrafficLabels::responseFlags).containsExactly(TrafficLabels.NO_FLAGS, "CONNECT");
        assertThat(sink.closed.get(1).withResponseFlags(TrafficLabels.NO_FLAGS)).isEqualTo(sink.opened.get(0));
    }

    @Test
    @DisplayName("inbound behind a node proxy: source_* names the pod that forwarded: for= names when it has the peer's identity")
    void aNodeProxiedTunnelIsLabelledWithItsPod() {
        TunnelObserver observer = new TunnelObserver(WorkloadRegistry.of(List.of(WorkloadStringsTest.CLIENT), Map.of()), null, null);
        InetSocketAddress nodeProxy = new InetSocketAddress("127.0.0.1", 40000);
        Map<String, String> claim = Map.of("forwarded", "for=\"127.0.0.3:5000\"");
        TrafficLabels l = observer.labels(new TunnelInfo(TunnelInfo.Direction.INBOUND, ECHO, WorkloadStringsTest.CLIENT.identity(),
                new InetSocketAddress("127.0.0.2", 15008), nodeProxy, new InetSocketAddress("127.0.0.2", 8080), claim));
        assertThat(l.sourceWorkload()).as("was unknown without baggage").isEqualTo("client");
        assertThat(l.sourceWorkloadNamespace()).isEqualTo("bench");
        SpiffeId other = SpiffeId.parse("spiffe://cluster.local/ns/bench/sa/other");
        TrafficLabels forged = observer.labels(new TunnelInfo(TunnelInfo.Direction.INBOUND, ECHO, other,
                new InetSocketAddress("127.0.0.2", 15008), nodeProxy, new InetSocketAddress("127.0.0.2", 8080), claim));
        assertThat(forged.sourceWorkload()).as("a claim of another identity's pod").isEqualTo(TrafficLabels.UNKNOWN);
        assertThat(forged.sourcePrincipal()).isEqualTo(other.toString());
    }
    /**
     * The access line shows the {@code for=} the policy decided on: the last, as {@link TunnelSource#forwardedFor} reads it.
     * A new-user pass sent {@code forwarded: for=127.0.82.99, for=127.0.82.10}: a DENY on 127.0.82.10 matched, and ztunnel's
     * {@code src.addr} (and zerohop's {@code forwarded_for=}) named 127.0.82.99, the address the caller chose.
     */
    @Test
    void theLoggedForwardedAddressIsTheOneDecidedOn() throws Exception {
        for (String header : new String[] {"for=127.0.82.99, for=127.0.82.10", "for=127.0.82.99;proto=http, for=\"127.0.82.10\"",
                "for=\"[2001:db8::1]:80\", for=127.0.82.10"}) {
            TunnelInfo t = new TunnelInfo(TunnelInfo.Direction.INBOUND, ECHO, WorkloadStringsTest.CLIENT.identity(),
                    new InetSocketAddress("127.0.0.2", 15008), new InetSocketAddress("127.0.0.1", 40000),
                    new InetSocketAddress("127.0.0.2", 8080), Map.of("forwarded", header));
            assertThat(TunnelObserver.forwardedFor(t)).as(header).contains("127.0.82.10");
            assertThat(TunnelSource.forwardedFor(header)).as(header).isEqualTo(java.net.InetAddress.getByName("127.0.82.10"));
        }
        // The last node unknown or obfuscated: nothing is shown, as nothing is decided on; the quoted port stays.
        TunnelInfo unknown = new TunnelInfo(TunnelInfo.Direction.INBOUND, ECHO, WorkloadStringsTest.CLIENT.identity(),
                new InetSocketAddress("127.0.0.2", 15008), new InetSocketAddress("127.0.0.1", 40000),
                new InetSocketAddress("127.0.0.2", 8080), Map.of("forwarded", "for=127.0.82.99, for=unknown"));
        assertThat(TunnelObserver.forwardedFor(unknown)).isEmpty();
        TunnelInfo port = new TunnelInfo(TunnelInfo.Direction.INBOUND, ECHO, WorkloadStringsTest.CLIENT.identity(),
                new InetSocketAddress("127.0.0.2", 15008), new InetSocketAddress("127.0.0.1", 40000),
                new InetSocketAddress("127.0.0.2", 8080), Map.of("forwarded", "for=\"127.0.0.3:5000\""));
        assertThat(TunnelObserver.forwardedFor(port)).contains("127.0.0.3:5000");
        // Quoted strings are read as the decision reads them: a "for=" inside host's quoted value is no node (a final
        // new-user pass: a split on ',' and ';' logged 6.6.6.6); a header the decision refuses shows no address.
        for (String[] c : new String[][] {{"for=127.0.82.10;host=\"x,for=6.6.6.6\"", "127.0.82.10"}, {"for=1.2.3.4;for=5.6.7.8", null}}) {
            TunnelInfo q = new TunnelInfo(TunnelInfo.Direction.INBOUND, ECHO, WorkloadStringsTest.CLIENT.identity(),
                    new InetSocketAddress("127.0.0.2", 15008), new InetSocketAddress("127.0.0.1", 40000),
                    new InetSocketAddress("127.0.0.2", 8080), Map.of("forwarded", c[0]));
            assertThat(TunnelObserver.forwardedFor(q)).as(c[0]).isEqualTo(java.util.Optional.ofNullable(c[1]));
        }
    }
}
