package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.MaxMessagesRecvByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;

/**
 * The receive allocators of the channels every open tunnel keeps: each channel's read handle is one
 * object of 32-40 bytes where Netty's are three (its handle, the handle's "maybe more data" supplier
 * and, for adaptive reads, an {@code AdaptiveCalculator}: 72 bytes per HTTP/2 stream channel, 112 per
 * TCP channel; issue 14). What they decide is Netty 4.2's, decision for decision:
 * <ul>
 *   <li>{@link #TCP}: {@code AdaptiveRecvByteBufAllocator}'s defaults (netty/netty
 *       transport/.../AdaptiveRecvByteBufAllocator.java and common/.../AdaptiveCalculator.java):
 *       reads of 64 B to 64 KiB starting at 2 KiB, the next size up four steps of its size table
 *       when a read filled the buffer or a read burst reached the current size, down one step after
 *       two bursts that would have fit one step lower.</li>
 *   <li>{@link #STREAM}: for HTTP/2 stream channels, which read frames their connection already
 *       decoded and never allocate a buffer; it only counts reads, as the {@code
 *       FixedRecvByteBufAllocator} it replaces did (its buffer size, 2 KiB, is never used).</li>
 * </ul>
 * Both stop a read burst as Netty's {@code DefaultMaxMessagesRecvByteBufAllocator.MaxMessageHandle}
 * does: auto-read off, a read that did not fill its buffer, {@value #MAX_READS} reads, or no bytes
 * read. The limit is fixed: these instances are shared by every such channel, so the
 * {@code MAX_MESSAGES_PER_READ} option cannot be set through one of them (it would change them all);
 * setting it fails with {@link UnsupportedOperationException}.
 */
final class TunnelReads implements MaxMessagesRecvByteBufAllocator {
    /** Reads per burst, what Netty's socket channels' metadata and the stream channels set (16). */
    static final int MAX_READS = 16;

    /** Every relayed TCP connection's (upstream, captured): adaptive sizes, 64 B to 64 KiB. */
    static final TunnelReads TCP = new TunnelReads(true);
    /** Every tunnel stream channel's: counts reads only. */
    static final TunnelReads STREAM = new TunnelReads(false);

    /** Netty's size table: 16 to 496 by 16, then powers of two from 512 while an int holds them. */
    private static final int[] SIZES;
    private static final int MIN_INDEX;
    private static final int INITIAL_INDEX;
    private static final int MAX_INDEX;
    /** Steps up after a full read, steps down after two small bursts (Netty's INDEX_INCREMENT / INDEX_DECREMENT). */
    private static final int UP = 4;
    private static final int DOWN = 1;
    /** What a counting handle's buffer would be; stream channels never ask for one. */
    private static final int STREAM_BUFFER = 2048;

    static {
        int[] sizes = new int[31 + 22];
        int n = 0;
        for (int s = 16; s < 512; s += 16) {
            sizes[n++] = s;
        }
        for (int s = 512; s > 0; s <<= 1) {
            sizes[n++] = s;
        }
        SIZES = java.util.Arrays.copyOf(sizes, n);
        MIN_INDEX = indexOf(64);
        INITIAL_INDEX = indexOf(2048);
        MAX_INDEX = indexOf(65536);
    }

    private static int indexOf(int size) {
        for (int i = 0; i < SIZES.length; i++) {
            if (SIZES[i] == size) {
                return i;
            }
        }
        throw new AssertionError(size);
    }

    private final boolean adaptive;

    private TunnelReads(boolean adaptive) {
        this.adaptive = adaptive;
    }

    @SuppressWarnings("deprecation")
    @Override
    public Handle newHandle() {
        return adaptive ? new Adaptive() : new Counting();
    }

    @Override
    public int maxMessagesPerRead() {
        return MAX_READS;
    }

    @Override
    public MaxMessagesRecvByteBufAllocator maxMessagesPerRead(int maxMessagesPerRead) {
        throw new UnsupportedOperationException("the tunnel channels' receive allocator is shared and reads at most "
                + MAX_READS + " messages per burst; set a RecvByteBufAllocator of the channel's own instead");
    }

    /**
     * One channel's read burst: what Netty's {@code MaxMessageHandle} keeps, in one object (the
     * handle is its own "maybe more data" supplier). Event loop only.
     */
    @SuppressWarnings("deprecation")
    static class Counting implements RecvByteBufAllocator.ExtendedHandle, UncheckedBooleanSupplier {
        private ChannelConfig config;
        private int totalMessages;
        private int totalBytesRead;
        private int attemptedBytesRead;
        private int lastBytesRead;

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            return alloc.ioBuffer(guess());
        }

        @Override
        public int guess() {
            return STREAM_BUFFER;
        }

        @Override
        public void reset(ChannelConfig config) {
            this.config = config;
            totalMessages = 0;
            totalBytesRead = 0;
        }

        @Override
        public void incMessagesRead(int numMessages) {
            totalMessages += numMessages;
        }

        @Override
        public void lastBytesRead(int bytes) {
            lastBytesRead = bytes;
            if (bytes > 0) {
                totalBytesRead += bytes;
            }
        }

        @Override
        public int lastBytesRead() {
            return lastBytesRead;
        }

        @Override
        public void attemptedBytesRead(int bytes) {
            attemptedBytesRead = bytes;
        }

        @Override
        public int attemptedBytesRead() {
            return attemptedBytesRead;
        }

        /** The burst's bytes, {@link Integer#MAX_VALUE} once they overflowed an int (as Netty's). */
        final int totalBytesRead() {
            return totalBytesRead < 0 ? Integer.MAX_VALUE : totalBytesRead;
        }

        /** Maybe more data: the last read filled what it attempted. */
        @Override
        public boolean get() {
            return attemptedBytesRead == lastBytesRead;
        }

        @Override
        public boolean continueReading() {
            return continueReading(this);
        }

        @Override
        public boolean continueReading(UncheckedBooleanSupplier maybeMoreData) {
            return config.isAutoRead() && maybeMoreData.get() && totalMessages < MAX_READS && totalBytesRead > 0;
        }

        @Override
        public void readComplete() {}
    }

    /** {@link Counting} with Netty's adaptive read size. Event loop only. */
    static final class Adaptive extends Counting {
        /** Into {@link #SIZES}: the next read's size. */
        private byte index = (byte) INITIAL_INDEX;
        private boolean decreaseNow;

        @Override
        public int guess() {
            return SIZES[index];
        }

        @Override
        public void lastBytesRead(int bytes) {
            // A read that filled its buffer: maybe much more is waiting, grow before the next one.
            if (bytes == attemptedBytesRead()) {
                record(bytes);
            }
            super.lastBytesRead(bytes);
        }

        @Override
        public void readComplete() {
            record(totalBytesRead());
        }

        private void record(int size) {
            if (size <= SIZES[Math.max(0, index - DOWN)]) {
                if (decreaseNow) {
                    index = (byte) Math.max(index - DOWN, MIN_INDEX);
                    decreaseNow = false;
                } else {
                    decreaseNow = true;
                }
            } else if (size >= SIZES[index]) {
                index = (byte) Math.min(index + UP, MAX_INDEX);
                decreaseNow = false;
            }
        }
    }
}
