package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelOption;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.MaxMessagesRecvByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * {@link TunnelReads} against the Netty allocators it replaces (netty/netty 4.2
 * transport/src/main/java/io/netty/channel/AdaptiveRecvByteBufAllocator.java,
 * DefaultMaxMessagesRecvByteBufAllocator.java, FixedRecvByteBufAllocator.java,
 * common/src/main/java/io/netty/util/internal/AdaptiveCalculator.java): both handles driven by
 * the same random calls, every answer compared. Netty's are the reference, run here as they are.
 */
class TunnelReadsTest {
    /**
     * What {@link #compare} allocates through, about a million buffers a run, each released on the next line: without
     * the leak detector (paranoid in the suite: a stack trace recorded per buffer), which took 16 of this class's 31 s
     * on a loaded machine. Only this allocator is untracked; the handles under test allocate nothing themselves.
     */
    static final UnpooledByteBufAllocator NO_TRACKING = new UnpooledByteBufAllocator(true, true);

    @Test
    @DisplayName("the TCP handle sizes reads and ends bursts as Netty's adaptive allocator with 16 reads per burst")
    void tcpHandleDecidesAsNettysAdaptive() {
        for (long seed = 1; seed <= 200; seed++) {
            compare(new AdaptiveRecvByteBufAllocator().maxMessagesPerRead(16), TunnelReads.TCP, seed);
        }
    }

    @Test
    @DisplayName("the stream handle counts reads and ends bursts as Netty's fixed allocator with 16 reads per burst")
    void streamHandleDecidesAsNettysFixed() {
        for (long seed = 1; seed <= 200; seed++) {
            compare(new FixedRecvByteBufAllocator(2048).maxMessagesPerRead(16), TunnelReads.STREAM, seed);
        }
    }

    @Test
    @DisplayName("a full read grows the TCP handle's guess 2 KiB -> 32 KiB -> 64 KiB; two small bursts shrink it one step")
    void adaptiveSizesFollowNettysTable() {
        ChannelConfig config = new EmbeddedChannel().config();
        RecvByteBufAllocator.Handle h = TunnelReads.TCP.newHandle();
        h.reset(config);
        assertThat(h.guess()).isEqualTo(2048);
        h.attemptedBytesRead(2048);
        h.lastBytesRead(2048);
        assertThat(h.guess()).isEqualTo(32768);
        h.attemptedBytesRead(32768);
        h.lastBytesRead(32768);
        assertThat(h.guess()).isEqualTo(65536);
        h.readComplete();
        assertThat(h.guess()).isEqualTo(65536);
        h.reset(config);
        h.readComplete(); // a burst of 0 bytes: small once
        assertThat(h.guess()).isEqualTo(65536);
        h.reset(config);
        h.readComplete(); // twice: one step down
        assertThat(h.guess()).isEqualTo(32768);
    }

    @Test
    @DisplayName("the shared allocators refuse a per-channel MAX_MESSAGES_PER_READ, which would change every channel's")
    void sharedAllocatorsRefuseMaxMessagesPerRead() {
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.config().setRecvByteBufAllocator(TunnelReads.TCP);
        assertThat(ch.config().getMaxMessagesPerRead()).isEqualTo(16);
        assertThatThrownBy(() -> ch.config().setOption(ChannelOption.MAX_MESSAGES_PER_READ, 4))
                .isInstanceOf(UnsupportedOperationException.class)
                .hasMessageContaining("shared");
        assertThat(TunnelReads.TCP.maxMessagesPerRead()).isEqualTo(16);
        ch.finishAndReleaseAll();
    }

    /**
     * Random read loops (an epoll- or stream-like burst: reset, reads until the handle says stop,
     * read complete) interleaved with single calls and auto-read switches, on two channels' configs.
     */
    @SuppressWarnings("deprecation")
    private static void compare(MaxMessagesRecvByteBufAllocator netty, TunnelReads ours, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        EmbeddedChannel ch = new EmbeddedChannel();
        ChannelConfig config = ch.config();
        RecvByteBufAllocator.ExtendedHandle a = (RecvByteBufAllocator.ExtendedHandle) netty.newHandle();
        RecvByteBufAllocator.ExtendedHandle b = (RecvByteBufAllocator.ExtendedHandle) ours.newHandle();
        List<String> trail = new ArrayList<>();
        a.reset(config);
        b.reset(config);
        for (int step = 0; step < 2_000; step++) {
            int op = rnd.nextInt(10);
            String what;
            if (op < 5) { // a burst as a channel's read loop runs it
                a.reset(config);
                b.reset(config);
                int reads = 0;
                boolean more;
                do {
                    int attempt = a.guess();
                    assertThat(b.guess()).as("guess, seed %d after %s", seed, trail).isEqualTo(attempt);
                    ByteBuf buf = b.allocate(NO_TRACKING);
                    assertThat(buf.writableBytes()).as("allocated, seed %d", seed).isGreaterThanOrEqualTo(attempt);
                    buf.release();
                    a.attemptedBytesRead(attempt);
                    b.attemptedBytesRead(attempt);
                    int got = switch (rnd.nextInt(5)) {
                        case 0 -> attempt; // filled
                        case 1 -> 0; // would block
                        case 2 -> -1; // EOF
                        default -> 1 + rnd.nextInt(attempt);
                    };
                    a.lastBytesRead(got);
                    b.lastBytesRead(got);
                    if (got > 0) {
                        a.incMessagesRead(1);
                        b.incMessagesRead(1);
                    }
                    more = a.continueReading();
                    assertThat(b.continueReading()).as("continue, seed %d after %s", seed, trail).isEqualTo(more);
                    reads++;
                } while (more && reads < 40);
                a.readComplete();
                b.readComplete();
                what = "burst" + reads;
            } else if (op < 7) { // a stream channel's frame, counted as its doRead0 counts it
                int bytes = rnd.nextInt(3) == 0 ? 9 : rnd.nextInt(70_000);
                a.attemptedBytesRead(bytes);
                b.attemptedBytesRead(bytes);
                a.lastBytesRead(bytes);
                b.lastBytesRead(bytes);
                a.incMessagesRead(1);
                b.incMessagesRead(1);
                what = "frame" + bytes;
            } else if (op == 7) {
                config.setAutoRead(!config.isAutoRead());
                what = "autoRead" + config.isAutoRead();
            } else if (op == 8) {
                a.readComplete();
                b.readComplete();
                what = "complete";
            } else {
                a.reset(config);
                b.reset(config);
                what = "reset";
            }
            trail.add(what);
            if (trail.size() > 8) {
                trail.remove(0);
            }
            assertThat(b.guess()).as("guess, seed %d after %s", seed, trail).isEqualTo(a.guess());
            assertThat(b.continueReading()).as("continue, seed %d after %s", seed, trail).isEqualTo(a.continueReading());
            assertThat(b.lastBytesRead()).isEqualTo(a.lastBytesRead());
            assertThat(b.attemptedBytesRead()).isEqualTo(a.attemptedBytesRead());
        }
        ch.finishAndReleaseAll();
    }
}
