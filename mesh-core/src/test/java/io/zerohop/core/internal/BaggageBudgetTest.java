package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * One peer identity labels metrics with at most {@link BaggageBudget#PER_PEER} distinct baggage values; further ones are
 * labelled as no baggage, other identities keep theirs, and a value already seen keeps its labels. A hostile-peer pass
 * sent a new baggage with each refused CONNECT and ran a shipped proxy out of heap in 6 s (every distinct value is a
 * series kept for good; ztunnel labels the same way, without a bound).
 */
class BaggageBudgetTest {
    private static Baggage baggage(int i) {
        return Baggage.read("k8s.deployment.name=w" + i + ",service.name=s" + i + ",k8s.namespace.name=ns");
    }

    @Test
    void aPeerPastItsBudgetIsLabelledAsNoBaggage() {
        String attacker = "spiffe://cluster.local/ns/evil/sa/budget-" + System.nanoTime();
        for (int i = 0; i < BaggageBudget.PER_PEER; i++) {
            assertThat(TrafficLabels.Peer.derived(baggage(i), attacker).workload()).as("value %d", i).isEqualTo("w" + i);
        }
        TrafficLabels.Peer past = TrafficLabels.Peer.derived(baggage(BaggageBudget.PER_PEER), attacker);
        assertThat(past.workload()).isEqualTo(TrafficLabels.UNKNOWN);
        assertThat(past.canonicalService()).isEqualTo(TrafficLabels.UNKNOWN);
        assertThat(past.principal()).as("the identity is still its own").isEqualTo(attacker);
        assertThat(TrafficLabels.Peer.derived(baggage(3), attacker).workload()).as("a value seen before").isEqualTo("w3");
        String honest = "spiffe://cluster.local/ns/shop/sa/budget-" + System.nanoTime();
        assertThat(TrafficLabels.Peer.derived(baggage(BaggageBudget.PER_PEER + 1), honest).workload())
                .isEqualTo("w" + (BaggageBudget.PER_PEER + 1));
    }

    /** A value longer than any Kubernetes name (253) is padding: no label is made of it, nor counted against the budget. */
    @Test
    void aValueLongerThanAnyKubernetesNameIsNoLabel() {
        String peer = "spiffe://cluster.local/ns/evil/sa/pad-" + System.nanoTime();
        Baggage padded = Baggage.read("k8s.deployment.name=" + "w".repeat(254) + ",k8s.namespace.name=ns");
        assertThat(TrafficLabels.Peer.derived(padded, peer).workload()).isEqualTo(TrafficLabels.UNKNOWN);
        Baggage longest = Baggage.read("k8s.deployment.name=" + "w".repeat(253) + ",k8s.namespace.name=ns");
        assertThat(TrafficLabels.Peer.derived(longest, peer).workload()).isEqualTo("w".repeat(253));
    }
}
