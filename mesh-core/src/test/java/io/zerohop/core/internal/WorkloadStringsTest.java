package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.TunnelInfo;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Per-workload strings are built once and shared by every tunnel (issue 14: ~0.5 KB per tunnel of
 * duplicates at 10,000 tunnels), with the same bytes as before.
 */
class WorkloadStringsTest {
    static final Workload CLIENT = workload();

    static Workload workload() {
        try {
            return new Workload("bench", "client", "client", Map.of(), List.of(InetAddress.getByName("127.0.0.3")),
                    Workload.Protocol.HBONE, null, "cluster.local");
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void theBaggageHeaderOfAWorkloadIsOneStringWithTheSameBytes() {
        String first = Baggage.of(CLIENT).header();
        String second = Baggage.of(CLIENT).header();
        assertThat(second).isSameAs(first);
        assertThat(first).isEqualTo(Baggage.of(CLIENT).formatHeader())
                .isEqualTo("k8s.cluster.name=Kubernetes,k8s.namespace.name=bench,k8s.deployment.name=client,service.name=client,service.version=latest");
    }

    @Test
    void aParsedBaggageHeaderIsSharedAndReadsAsBefore() {
        String header = "k8s.cluster.name=Kubernetes,k8s.namespace.name=bench,k8s.deployment.name=client,service.name=client,service.version=latest";
        // Two tunnels carry equal but distinct strings (each decoded from its own HEADERS frame).
        Baggage a = Baggage.parse(new String(header));
        Baggage b = Baggage.parse(new String(header));
        assertThat(b).isSameAs(a).isEqualTo(Baggage.read(header)).isEqualTo(Baggage.of(CLIENT));
    }

    @Test
    void labelsOfTwoTunnelsOfOneWorkloadShareTheirStrings() {
        SpiffeId client = CLIENT.identity();
        SpiffeId echo = SpiffeId.parse("spiffe://cluster.local/ns/bench/sa/echo");
        TunnelObserver observer = new TunnelObserver(WorkloadRegistry.of(List.of(CLIENT), Map.of()), null, null);
        TrafficLabels[] labels = new TrafficLabels[2];
        for (int i = 0; i < 2; i++) {
            String baggage = new String(Baggage.of(CLIENT).formatHeader());
            labels[i] = observer.labels(new TunnelInfo(TunnelInfo.Direction.OUTBOUND, client, echo,
                    new InetSocketAddress("127.0.0.3", 40000 + i), new InetSocketAddress("127.0.0.2", 15008),
                    new InetSocketAddress("127.0.0.2", 8080), Map.of("baggage", baggage)));
        }
        assertThat(labels[1]).isEqualTo(labels[0]);
        assertThat(labels[0].sourcePrincipal()).isEqualTo("spiffe://cluster.local/ns/bench/sa/client");
        assertThat(labels[0].destinationPrincipal()).isEqualTo("spiffe://cluster.local/ns/bench/sa/echo");
        assertThat(labels[1].sourcePrincipal()).isSameAs(labels[0].sourcePrincipal());
        assertThat(labels[1].destinationPrincipal()).isSameAs(labels[0].destinationPrincipal());
        assertThat(labels[1].sourceWorkload()).isSameAs(labels[0].sourceWorkload()).isEqualTo("client");
        assertThat(labels[1].sourceWorkloadNamespace()).isSameAs(labels[0].sourceWorkloadNamespace()).isEqualTo("bench");
        assertThat(labels[1].sourceCanonicalRevision()).isSameAs(labels[0].sourceCanonicalRevision()).isEqualTo("latest");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a peer sending ever new baggage values cannot grow the table past its bound")
    void theTablesAreBounded() {
        WorkloadStrings.Table<String, String> t = new WorkloadStrings.Table<>();
        for (int i = 0; i < 3 * WorkloadStrings.MAX_ENTRIES; i++) {
            assertThat(t.get("k" + i, k -> k + "!")).isEqualTo("k" + i + "!");
        }
        assertThat(t.size()).isBetween(1L, (long) WorkloadStrings.MAX_ENTRIES);
        String v = t.get("again", k -> new String("v"));
        assertThat(t.get("again", k -> new String("v"))).isSameAs(v);
    }
}
