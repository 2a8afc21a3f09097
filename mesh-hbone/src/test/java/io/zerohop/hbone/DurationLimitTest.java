package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import org.junit.jupiter.api.Test;

/**
 * A new-user pass: {@code idleTimeout(Duration.ofDays(365_000))} was accepted, then the first tunnel's {@code connect}
 * threw {@link ArithmeticException} (the idle timer holds nanoseconds, which overflow past about 292 years). The
 * builders' durations are refused past 36500 days, naming the setter and the maximum.
 */
class DurationLimitTest {

    @Test
    void clientDurationsPastTheMaximumAreRefusedNamingTheSetterAndTheMaximum() {
        assertThatThrownBy(() -> HboneClient.builder().idleTimeout(Duration.ofDays(365_000))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("idleTimeout must be at most 36500d (100 years), got 365000d");
        assertThatThrownBy(() -> HboneClient.builder().connectTimeout(ChronoUnit.FOREVER.getDuration()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("connectTimeout must be at most 36500d (100 years), got 9223372036854775807s");
        assertThatThrownBy(() -> HboneClient.builder().keepalive(Duration.ofSeconds(10), Duration.ofDays(36_501)))
                .hasMessage("ping timeout must be at most 36500d (100 years), got 36501d");
        HboneClient.builder().idleTimeout(Duration.ofDays(36_500)).connectTimeout(Duration.ofDays(36_500));
    }

    @Test
    void serverIdleTimeoutPastTheMaximumIsRefused() {
        assertThatThrownBy(() -> HboneServer.builder().idleTimeout(Duration.ofDays(365_000))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("idleTimeout must be at most 36500d (100 years), got 365000d");
        assertThatThrownBy(() -> HboneServer.builder().handshakeTimeout(ChronoUnit.FOREVER.getDuration()))
                .hasMessageStartingWith("handshakeTimeout must be at most 36500d");
        HboneServer.builder().idleTimeout(Duration.ZERO).idleTimeout(Duration.ofDays(36_500));
    }

    /** The refused value exactly: rounded to milliseconds, 36500d plus 1 ns read as the limit itself (a new-user pass). */
    @Test
    void theRefusedValueIsWrittenExactly() {
        assertThatThrownBy(() -> HboneClient.builder().idleTimeout(Duration.ofDays(36_500).plusNanos(1)))
                .hasMessage("idleTimeout must be at most 36500d (100 years), got 3153600000000000001ns");
        assertThatThrownBy(() -> HboneServer.builder().idleTimeout(Duration.ofNanos(-1000)))
                .hasMessage("idleTimeout must not be negative, got -1µs");
    }
}
