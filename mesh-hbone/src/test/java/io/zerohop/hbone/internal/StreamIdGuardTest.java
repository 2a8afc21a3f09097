package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2Connection;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Which streams the server's {@link H2Codecs.StreamIdGuard} holds as reset by this side, on a clock the test moves: as
 * hyperium/h2's reset-stream queue (src/proto/streams/recv.rs {@code enqueue_reset_expiration} and
 * {@code clear_expired_reset_streams}; src/proto/mod.rs {@code DEFAULT_RESET_STREAM_MAX} = 50,
 * {@code DEFAULT_RESET_STREAM_SECS} = 1), the streams whose late frames it ignores. The wire behaviour is
 * {@code ServerResetStreamCacheTest}'s.
 */
class StreamIdGuardTest {
    private long now = 1_000_000_000L;
    private final H2Codecs.StreamIdGuard guard = new H2Codecs.StreamIdGuard(new DefaultHttp2Connection(true), () -> now);

    @Test
    void aResetStreamIsHeldForOneSecond() {
        guard.recordReset(1);
        now += TimeUnit.MILLISECONDS.toNanos(1_000);
        assertThat(guard.resetHere(1)).as("at one second").isTrue();
        now += 1;
        assertThat(guard.resetHere(1)).as("past one second").isFalse();
    }

    /**
     * When 50 are held, h2 does not hold the next one at all ("dropped ..., over max_concurrent_reset_streams") and keeps
     * the older ones; until 6 December the newest 50 were kept, with no time limit.
     */
    @Test
    void aStreamResetWhileFiftyAreHeldIsNotHeldAndTheOlderStay() {
        for (int id = 1; id <= 2 * 50 - 1; id += 2) {
            guard.recordReset(id);
            now += 1_000;
        }
        guard.recordReset(101);
        assertThat(guard.resetHere(101)).as("the 51st").isFalse();
        assertThat(guard.resetHere(1)).as("the first").isTrue();
        assertThat(guard.resetHere(99)).as("the 50th").isTrue();
        // Once the oldest expire, there is room again.
        now += TimeUnit.SECONDS.toNanos(1);
        guard.recordReset(103);
        assertThat(guard.resetHere(103)).isTrue();
        assertThat(guard.resetHere(1)).isFalse();
    }

    /** A stream is held once, however many RST_STREAM frames name it (Netty answers late frames with more). */
    @Test
    void aStreamResetTwiceTakesOnePlace() {
        for (int i = 0; i < 60; i++) {
            guard.recordReset(1);
        }
        for (int id = 3; id <= 2 * 50 - 1; id += 2) {
            guard.recordReset(id);
        }
        assertThat(guard.resetHere(99)).as("the 50th stream").isTrue();
    }
}
