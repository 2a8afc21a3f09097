package io.zerohop.identity.spire;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class WarnBudgetTest {
    @Test
    void burstPerWindowThenTheCountOnTheNextLineWritten() {
        TestClock clock = new TestClock();
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
}
