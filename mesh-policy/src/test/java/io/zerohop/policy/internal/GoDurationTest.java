package io.zerohop.policy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * {@link GoDuration} against the behaviour Go documents for {@code time.ParseDuration} (golang/go src/time/format.go;
 * rows modelled on src/time/time_test.go {@code parseDurationTests} and {@code parseDurationErrorTests}): values, signs,
 * units, fractions, the 2^63 ns bound, and the three error kinds with Go's wording.
 */
class GoDurationTest {

    @Test
    void valuesAsGoParsesThem() {
        assertThat(GoDuration.parse("0")).isEqualTo(Duration.ZERO);
        assertThat(GoDuration.parse("-0")).isEqualTo(Duration.ZERO);
        assertThat(GoDuration.parse("5s")).isEqualTo(Duration.ofSeconds(5));
        assertThat(GoDuration.parse("-5s")).isEqualTo(Duration.ofSeconds(-5));
        assertThat(GoDuration.parse("1.5h")).isEqualTo(Duration.ofMinutes(90));
        assertThat(GoDuration.parse("1h0.5m")).isEqualTo(Duration.ofSeconds(3630));
        assertThat(GoDuration.parse("3h30m")).isEqualTo(Duration.ofMinutes(210));
        assertThat(GoDuration.parse("10.5s4m")).isEqualTo(Duration.ofMillis(250_500));
        assertThat(GoDuration.parse("1h2m3s4ms5us6ns")).isEqualTo(Duration.ofNanos(3_723_004_005_006L));
        assertThat(GoDuration.parse("11us")).isEqualTo(Duration.ofNanos(11_000));
        assertThat(GoDuration.parse("12\u00b5s")).isEqualTo(Duration.ofNanos(12_000));
        assertThat(GoDuration.parse("12\u03bcs")).isEqualTo(Duration.ofNanos(12_000));
        assertThat(GoDuration.parse("0.3333333333333333333h")).isEqualTo(Duration.ofMinutes(20));
        assertThat(GoDuration.parse("9223372036854775807ns")).isEqualTo(Duration.ofNanos(Long.MAX_VALUE));
        assertThat(GoDuration.parse("-9223372036854775808ns")).isEqualTo(Duration.ofNanos(Long.MIN_VALUE));
        assertThat(GoDuration.parse("-9223372036854775.808us")).isEqualTo(Duration.ofNanos(Long.MIN_VALUE));
        assertThat(GoDuration.parse("-9223372036s854ms775us808ns")).isEqualTo(Duration.ofNanos(Long.MIN_VALUE));
        assertThat(GoDuration.parse("-2562047h47m16.854775808s")).isEqualTo(Duration.ofNanos(Long.MIN_VALUE));
        assertThat(GoDuration.parse("2562047h47m16.854775807s")).isEqualTo(Duration.ofNanos(Long.MAX_VALUE));
        assertThat(GoDuration.parse("0.100000000000000000000h")).isEqualTo(Duration.ofMinutes(6));
        // Go's row for the first overflow check in its fraction reader.
        assertThat(GoDuration.parse("0.830103483285477580700h")).isEqualTo(Duration.ofNanos(2_988_372_539_827L));
        assertThat(GoDuration.parse("9007199254.740993s")).isEqualTo(Duration.ofSeconds(9_007_199_254L, 740_993_000));
    }

    @Test
    void errorsAsGoGivesThem() {
        for (String bad : new String[] {"", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "\"", "\u00b5s", "3000000h",
                "9223372036854775808ns", "9223372036854775.808us",
                "9223372036854775810ns", "-9223372036854775809ns", "9223372036854776us", "9223372036854ms775us808ns", ".5.5s", "1e3s", "1s "}) {
            assertThatThrownBy(() -> GoDuration.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("time: ");
        }
        assertThatThrownBy(() -> GoDuration.parse("3")).hasMessage("time: missing unit in duration \"3\"");
        assertThatThrownBy(() -> GoDuration.parse("1d")).hasMessage("time: unknown unit \"d\" in duration \"1d\"");
        assertThatThrownBy(() -> GoDuration.parse("3000000h")).hasMessage("time: invalid duration \"3000000h\"");
    }
}
