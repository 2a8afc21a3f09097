package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.channel.EventLoop;
import io.zerohop.core.Mesh;
import io.zerohop.hbone.internal.LatencyMode;
import io.zerohop.hbone.internal.LoopPoll;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.identity.InMemoryCa;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * mesh-hbone's opt-in latency mode ({@code -Dzerohop.hbone.loopPollMicros}, mesh-hbone README
 * "Latency mode") reaches the one event loop group a {@link Mesh} makes for its listeners and
 * clients (the node proxy's and an embedded mesh's), not only the groups HboneClient and HboneServer
 * make themselves: the mesh's loops run mesh-hbone's {@link LoopPoll} with the property's window, its
 * sleep counter the witness. What that strategy does to wake-ups is mesh-hbone's
 * {@code LatencyModeTest} (a frozen clock; a real 10 ms window here counted 254 voluntary switches
 * per 2,000 handed tasks at load 16 against ~1,000 for the default loop: load-dependent, so not
 * asserted here). No assertion is on time.
 */
class MeshLatencyModeTest {
    private static InMemoryCa ca;

    @BeforeAll
    static void ca() {
        ca = InMemoryCa.create("cluster.local");
    }

    @AfterAll
    static void close() {
        ca.close();
    }

    /** A mesh runtime built while the property has {@code value} (null: unset); the property is restored after. */
    private static MeshRuntime runtime(String value) {
        String before = System.getProperty(LatencyMode.POLL_PROPERTY);
        try {
            if (value == null) {
                System.clearProperty(LatencyMode.POLL_PROPERTY);
            } else {
                System.setProperty(LatencyMode.POLL_PROPERTY, value);
            }
            MeshSettings s = new MeshSettings();
            s.identityProvider(ca);
            s.threads(1);
            s.drain(Duration.ZERO);
            return new MeshRuntime(s.config());
        } finally {
            if (before == null) {
                System.clearProperty(LatencyMode.POLL_PROPERTY);
            } else {
                System.setProperty(LatencyMode.POLL_PROPERTY, before);
            }
        }
    }

    @Test
    @DisplayName("with -Dzerohop.hbone.loopPollMicros the mesh's loops poll with mesh-hbone's strategy and that window; without it they do not")
    void theMeshLoopGroupPollsInLatencyMode() throws Exception {
        Assumptions.assumeTrue(Transports.epoll(), "epoll (the mode is epoll only)");
        MeshRuntime on = runtime("1");
        try {
            LoopPoll poll = on.loopPoll();
            assertThat(poll).as("the mesh's polling strategy").isNotNull();
            assertThat(poll.windowNanos()).isEqualTo(1_000);
            EventLoop loop = on.eventLoopGroup().next();
            loop.submit(() -> { }).get(30, TimeUnit.SECONDS);
            // The strategy counts every sleep of a loop it drives: idle past its 1 µs window, the
            // mesh's loop sleeps, so the count moves only if that loop runs this strategy.
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (poll.sleeps() == 0) {
                assertThat(System.nanoTime() - end).as("still waiting for the mesh's loop to sleep through its LoopPoll").isNegative();
                Thread.onSpinWait();
            }
        } finally {
            on.shutdown().get(30, TimeUnit.SECONDS);
        }
        MeshRuntime off = runtime(null);
        try {
            assertThat(off.loopPoll()).as("no polling strategy: Netty's default select").isNull();
            off.eventLoopGroup().next().submit(() -> { }).get(30, TimeUnit.SECONDS);
        } finally {
            off.shutdown().get(30, TimeUnit.SECONDS);
        }
    }

    @Test
    @DisplayName("a malformed -Dzerohop.hbone.loopPollMicros fails Mesh.build() naming the property")
    void aMalformedValueFailsTheBuild() {
        String before = System.getProperty(LatencyMode.POLL_PROPERTY);
        System.setProperty(LatencyMode.POLL_PROPERTY, "100us");
        try {
            assertThatThrownBy(() -> Mesh.builder().identityProvider(ca).threads(1).build())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("-Dzerohop.hbone.loopPollMicros=100us: expected whole microseconds from 0 (off) to 10000");
        } finally {
            if (before == null) {
                System.clearProperty(LatencyMode.POLL_PROPERTY);
            } else {
                System.setProperty(LatencyMode.POLL_PROPERTY, before);
            }
        }
    }
}
