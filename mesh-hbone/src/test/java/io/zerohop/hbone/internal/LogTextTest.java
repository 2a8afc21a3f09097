package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Durations in log lines read as the options that set them are written (newuser21: "within PT10S"). */
class LogTextTest {
    @Test
    void durationsInTheLargestExactUnit() {
        assertThat(LogText.duration(Duration.ofSeconds(10))).isEqualTo("10s");
        assertThat(LogText.duration(Duration.ofSeconds(20))).isEqualTo("20s");
        assertThat(LogText.duration(Duration.ofMillis(500))).isEqualTo("500ms");
        assertThat(LogText.duration(Duration.ofMillis(1500))).isEqualTo("1500ms");
        assertThat(LogText.duration(Duration.ofMinutes(10))).isEqualTo("10m");
        assertThat(LogText.duration(Duration.ofHours(2))).isEqualTo("2h");
        assertThat(LogText.duration(Duration.ofDays(1))).isEqualTo("1d");
        assertThat(LogText.duration(Duration.ZERO)).isEqualTo("0s");
        assertThat(LogText.duration(Duration.ofNanos(250_000))).isEqualTo("250µs");
    }

    @Test
    void aCountAgreesWithItsNoun() {
        assertThat(LogText.count(1, "tunnel", "tunnels")).isEqualTo("1 tunnel");
        assertThat(LogText.count(0, "tunnel", "tunnels")).isEqualTo("0 tunnels");
        assertThat(LogText.count(2, "policy", "policies")).isEqualTo("2 policies");
    }

    /** Text chosen by someone else (a deny reason) cannot end a log line: quoted, with mesh-core's access-line escapes. */
    @Test
    void quotedTextCannotEndTheLine() {
        assertThat(LogText.quoted("slow down\r\nX-Injected: 1")).isEqualTo("\"slow down\\x0d\\x0aX-Injected: 1\"");
        assertThat(LogText.quoted("a \"b\" \\ c\td\u007fe\u0085f\u2028g")).isEqualTo("\"a \\x22b\\x22 \\x5c c\\x09d\\x7fe\\x85f\\u2028g\"");
        assertThat(LogText.quoted("plain text, caf\u00e9")).isEqualTo("\"plain text, caf\u00e9\"");
        assertThat(LogText.quoted(null)).isEqualTo("-");
    }
}
