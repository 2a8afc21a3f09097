package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.TunnelResult;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * {@code zerohop_tunnels_limit_resets_total{limit}}: the tunnels an HBONE server reset by one of its limits, by limit
 * (before 5 December an operator saw them only as {@code end=reset error="reset"} access lines). Other resets and clean
 * ends are not counted.
 */
class LimitResetMetricTest {
    @Test
    @DisplayName("a tunnel reset by a limit counts under that limit; a peer's reset, a plain reset and a clean end do not")
    void limitResetsAreCountedByLimit() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        TunnelObserver observer = new TunnelObserver(WorkloadRegistry.of(List.of(WorkloadStringsTest.CLIENT), Map.of()),
                new MicrometerSink(registry), null);
        int i = 0;
        for (String error : List.of(TunnelResult.INBOUND_BUDGET, TunnelResult.INBOUND_BUDGET, TunnelResult.STALLED_WINDOW,
                "reset", "reset by peer")) {
            observer.tunnelOpened(TunnelObserverLabelsTest.tunnel(i), TunnelObserverLabelsTest.NO_BYTES);
            observer.tunnelClosed(new TunnelResult(TunnelObserverLabelsTest.tunnel(i++), 200, 0, 0, Duration.ZERO, true, error));
        }
        observer.tunnelOpened(TunnelObserverLabelsTest.tunnel(i), TunnelObserverLabelsTest.NO_BYTES);
        observer.tunnelClosed(new TunnelResult(TunnelObserverLabelsTest.tunnel(i), 200, 0, 0, Duration.ZERO, false, null));

        assertThat(registry.find("zerohop.tunnels.limit.resets").counters()).extracting(c -> c.getId().getTag("limit") + "=" + c.count())
                .containsExactlyInAnyOrder("inbound_budget=2.0", "stalled_window=1.0");
    }
}
