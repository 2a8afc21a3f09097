package io.zerohop.identity.spire;

import io.zerohop.identity.testing.MutableClock;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class WarnBudgetTest {
    @Test
    void burstPerWindowThenTheCountOnTheNextLineWritten() {
        MutableClock clock = new MutableClock(java.time.Instant.now());
        WarnBudget b = new WarnBudget(clock);
        for (int i = 0; i < WarnBudget.BURST; i++) {
            assertThat(b.admit()).isEmpty();
        }
        assertThat(b.admit()).isNull();
        assertThat(b.admit()).isNull();
        clock.advance(WarnBudget.WINDOW.minusSeconds(1));
        assertThat(b.admit()).as("still the same window").isNull();
        clock.advance(java.time.Duration.ofSeconds(1));
        assertThat(b.admit()).isEqualTo(" (3 more such lines not written before this one: at most 3 per 1 min)");
        assertThat(b.admit()).isEmpty();
        for (int i = 2; i < WarnBudget.BURST; i++) {
            b.admit();
        }
        assertThat(b.admit()).isNull();
        clock.advance(WarnBudget.WINDOW);
        assertThat(b.admit()).isEqualTo(" (1 more such line not written before this one: at most 3 per 1 min)");
    }

    /**
     * The wall clock set back an hour (an NTP step on a host whose clock ran ahead, the case the "SVID expired on
     * arrival" line asks about) once the budget is spent: as golang.org/x/time/rate's Limiter.advance, the window is
     * taken from the new time, so the kind is muted for at most one window. Until then it stayed muted for the hour.
     */
    @Test
    void aClockSetBackMutesAKindForAtMostOneWindow() {
        MutableClock clock = new MutableClock(java.time.Instant.now());
        WarnBudget b = new WarnBudget(clock);
        for (int i = 0; i < WarnBudget.BURST; i++) {
            assertThat(b.admit()).isEmpty();
        }
        assertThat(b.admit()).isNull();
        clock.advance(java.time.Duration.ofHours(-1));
        assertThat(b.admit()).as("the spent budget is not refilled by the step").isNull();
        clock.advance(WarnBudget.WINDOW);
        assertThat(b.admit()).as("one window after the step").isEqualTo(" (2 more such lines not written before this one: at most 3 per 1 min)");
    }
}
