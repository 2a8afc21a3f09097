package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * {@link ResetBudget} on explicit clock values, so the window's edges are exact and no scheduler
 * can move them. The window opens at the first reset, as Netty's {@code Http2MaxRstFrameListener}
 * opens its RST_STREAM window (netty/netty codec-http2: {@code currentNano - lastRstFrameNano >=
 * nanosPerWindow} starts a new window at the current frame). RapidResetTest drives the same
 * budget through real connections.
 */
class ResetBudgetTest {
    static final long S = 1_000_000_000L;
    final ResetBudget budget = new ResetBudget(200, Duration.ofSeconds(30));

    /** Counts {@code n} resets at {@code at}; returns how many of them were over the budget. */
    int resets(int n, long at) {
        int over = 0;
        for (int i = 0; i < n; i++) {
            if (budget.overBudget(at)) {
                over++;
            }
        }
        return over;
    }

    @Test
    @DisplayName("200 resets in a window pass, the 201st is over the budget")
    void twoHundredPassTheNextIsOver() {
        assertThat(resets(200, 5 * S)).isZero();
        assertThat(budget.count()).isEqualTo(200);
        assertThat(budget.overBudget(6 * S)).isTrue();
        assertThat(budget.count()).isEqualTo(201);
    }

    @Test
    @DisplayName("the window opens at the first reset, not when the budget was made: a burst late in the connection's first 30 s is counted whole")
    void windowOpensAtTheFirstReset() {
        // The connection was accepted at 0 and handshakes took 29.9 s (a loaded machine). Anchored
        // at accept time, the window would end at 30 s and the 300 resets would be split 150 + 150.
        long first = 29_900_000_000L;
        assertThat(resets(150, first)).isZero();
        assertThat(resets(51, first + S)).as("resets 151-201, 1.1 s after the first").isEqualTo(1);
    }

    @Test
    @DisplayName("a window ends its length after its first reset (inclusive, as Netty's): the next reset opens a new one")
    void windowEndsItsLengthAfterTheFirstReset() {
        long first = 100 * S;
        assertThat(resets(200, first)).isZero();
        assertThat(budget.overBudget(first + 30 * S - 1)).as("1 ns before the window ends").isTrue();
        assertThat(resets(200, first + 30 * S)).as("a new window").isZero();
        assertThat(budget.count()).isEqualTo(200);
        assertThat(budget.overBudget(first + 59 * S)).isTrue();
    }

    @Test
    @DisplayName("a budget of 0 resets or a window that is not positive is refused")
    void refusesNonsense() {
        assertThatThrownBy(() -> new ResetBudget(0, Duration.ofSeconds(30))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ResetBudget(1, Duration.ZERO)).isInstanceOf(IllegalArgumentException.class);
    }
}
