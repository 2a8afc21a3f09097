package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.util.internal.ThreadExecutorMap;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.util.ArrayDeque;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The state a {@link TunnelSocket} shares between application threads (its blocking streams, here)
 * and the tunnel's event loop (the {@link SocketBridge}): bytes read and not yet taken, the end of
 * input, reset and close flags, under one lock with a condition for readable; writers wait on their
 * connection's {@link WriteBudget}.
 * Reads ask the channel for more only while less than {@link #HIGH_WATER} bytes wait unread, so a
 * slow reader stops the HTTP/2 window; writes block while the tunnel channel is not writable or
 * more than {@link WriteBudget#HIGH} bytes, from all the sockets on the tunnel's connection, wait for
 * its event loop to take them.
 */
final class SocketState {
    static final int HIGH_WATER = 1024 * 1024;
    static final int LOW_WATER = 256 * 1024;
    /** Large enough that TLS records rarely span two buffers (Netty copies those through the heap). */
    static final int WRITE_CHUNK = 256 * 1024;
    /**
     * Bytes writers may hand to the event loop before the loop has taken them into the channel.
     * A stream channel counts its pending bytes (and so turns unwritable) only on its event loop, so
     * {@code isWritable()} alone never stopped a writer on another thread: it queued write tasks
     * without bound (with heap buffers a 1 GiB heap ran out within seconds of bulk writing; with direct
     * ones Netty's allocator made and zeroed new chunks all the time). Writers now wait above
     * {@link #SUBMIT_HIGH} until the loop has caught up to {@link #SUBMIT_LOW}, counted over all the
     * sockets of one connection ({@link WriteBudget}).
     */
    static final int SUBMIT_HIGH = WriteBudget.HIGH;
    static final int SUBMIT_LOW = WriteBudget.LOW;

    private final TunnelSocket socket;
    final ReentrantLock lock = new ReentrantLock();
    final Condition readable = lock.newCondition();
    final ArrayDeque<ByteBuf> queue = new ArrayDeque<>();
    /**
     * The last buffer of {@link #queue} when it is this socket's own copy, to which small reads are appended
     * ({@link #enqueue}); null otherwise. Cleared as the reader takes it: a buffer released is never written again.
     */
    private ByteBuf merging;
    long buffered;
    boolean eof;
    boolean reset;
    boolean inactive;
    boolean readPending;
    boolean inputShutdown;
    boolean outputShutdown;
    boolean discardInput;
    volatile boolean closed;
    /** Bytes this socket submitted to the event loop by {@code write} and not yet written into the channel there. */
    final AtomicLong submitted = new AtomicLong();
    /** The connection's, set by the first write (the channel is known then); null before. */
    private volatile WriteBudget budget;
    /** This socket's writer's place in {@link #budget}'s queue. */
    private WriteBudget.Waiter waiter;
    volatile Throwable writeError;
    final InputStream in = new In();
    final OutputStream out = new Out();
    /**
     * Nanoseconds a reader spins before it parks ({@link LatencyMode#SPIN_PROPERTY}); 0 parks at once.
     * A reader that is spinning is not in {@link #readable}'s wait queue, so the event loop's
     * {@code signalAll} finds nobody to unpark: the hand-off costs no futex call on either side.
     */
    private final long spinNanos;
    /** Bumped under {@link #lock} with every signal of {@link #readable}: what a spinning reader watches. */
    private volatile int readableSignals;
    /** Times a reader parked on {@link #readable} (tests: a spin that worked parks none). */
    private volatile long parks;
    /** Times a reader began to spin (tests). */
    private volatile long spins;
    /** Under {@link #lock}: spins that missed make the next ones rarer. */
    private final LoopPoll.Backoff spinBackoff = new LoopPoll.Backoff();

    SocketState(TunnelSocket socket, long spinNanos) {
        this.socket = socket;
        this.spinNanos = spinNanos;
    }

    /** Wakes readers: one parked on {@link #readable}, or one spinning. Under {@link #lock}. */
    void signalReadable() {
        readableSignals++; // only under the lock: no lost update
        readable.signalAll();
    }

    long parks() {
        return parks;
    }

    long spins() {
        return spins;
    }

    /**
     * Queues {@code buf} for the reader. {@link #HIGH_WATER} counts bytes, so a queue of small buffers held far more
     * than its bytes: a destination flooding 1-byte DATA frames to an application that does not read queued a buffer of
     * ~150 bytes of objects per byte, up to 1 MiB of them (a hostile-peer pass, 5 December). A small buffer behind
     * others is merged ({@link SmallBuffers}); a reader that keeps up (an empty queue) costs no copy. When a copy cannot
     * be made, {@code buf} is queued as it is. Under {@link #lock}; takes {@code buf}.
     */
    void enqueue(ByteBuf buf, io.netty.buffer.ByteBufAllocator alloc) {
        buffered += buf.readableBytes();
        if (!SmallBuffers.small(buf) || queue.isEmpty()) {
            merging = null;
            queue.add(buf);
        } else if (!SmallBuffers.appendTo(merging, buf)) {
            ByteBuf own = SmallBuffers.copyOf(alloc, buf);
            merging = own;
            queue.add(own != null ? own : buf);
        }
    }

    /** Under {@link #lock}. */
    void releaseQueue() {
        merging = null;
        ByteBuf b;
        while ((b = queue.poll()) != null) {
            b.release();
        }
        buffered = 0;
    }

    /**
     * The tunnel's channel is gone while the application still holds this socket with bytes unread: they stay readable (as
     * a TCP socket's after its peer's FIN or its connection's end), but as heap copies the garbage collector frees with the
     * socket, and the channel's buffers go back to their allocator now. Kept as they were, they were released only by
     * {@code close()}: a socket the application dropped unclosed leaked them, up to its high-water mark (a new-user pass:
     * a server socket dropped after reading 10 of 256 KiB, or an HboneClient closed under a socket never closed). One copy,
     * only on this path; the caller holds {@link #lock}.
     */
    void detachQueue() {
        merging = null;
        int n = queue.size();
        for (int i = 0; i < n; i++) {
            ByteBuf b = queue.poll();
            try {
                queue.add(io.netty.buffer.Unpooled.wrappedBuffer(io.netty.buffer.ByteBufUtil.getBytes(b)));
            } finally {
                b.release();
            }
        }
    }

    /** Drops what is unread and wakes every waiter; true when something was unread. */
    boolean close() {
        boolean unread;
        lock.lock();
        try {
            closed = true;
            unread = !queue.isEmpty();
            releaseQueue();
            signalReadable();
        } finally {
            lock.unlock();
        }
        wakeWriters();
        return unread;
    }

    /** Wakes this socket's writer, if it waits, to look again (writability, close, inactive). Any thread. */
    void wakeWriters() {
        WriteBudget b = budget;
        if (b != null) {
            b.wake(waiter);
        }
    }

    private WriteBudget budget(Channel channel) {
        WriteBudget b = budget;
        if (b == null) {
            b = WriteBudget.of(channel);
            waiter = b.newWaiter();
            budget = b; // after the waiter: wakeWriters() reads budget first
        }
        return b;
    }

    /**
     * Both directions have ended: the peer's END_STREAM has been read and our output was shut down
     * (its END_STREAM handed to the loop ahead of anything queued later), so a graceful close has
     * nothing left to send or to drain.
     */
    boolean ended() {
        lock.lock();
        try {
            return eof && outputShutdown;
        } finally {
            lock.unlock();
        }
    }

    /** Input ends here: what arrives from now on is dropped (the channel keeps reading it). */
    void shutdownInput(Channel c) {
        lock.lock();
        try {
            inputShutdown = true;
            discardInput = true;
            releaseQueue();
            signalReadable();
            if (!readPending && !eof) {
                readPending = true;
                c.eventLoop().execute(c::read);
            }
        } finally {
            lock.unlock();
        }
    }

    private final class In extends InputStream {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            java.util.Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) {
                return 0;
            }
            Channel channel = socket.requireConnected();
            int soTimeout = socket.soTimeout();
            boolean askMore = false;
            boolean spun = spinNanos <= 0;
            int n;
            lock.lock();
            try {
                long deadline = soTimeout > 0 ? System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(soTimeout) : 0;
                while (queue.isEmpty()) {
                    if (closed) {
                        throw new SocketException("Socket closed");
                    }
                    if (reset) {
                        throw new SocketException("Connection reset");
                    }
                    if (eof || inputShutdown) {
                        return -1;
                    }
                    if (inactive) {
                        throw new SocketException("Connection reset");
                    }
                    if (ThreadExecutorMap.currentExecutor() == channel.eventLoop()) {
                        // The bytes this read waits for arrive on this very thread: it would wait out
                        // its timeout (or forever) and stall every tunnel of the connection meanwhile.
                        // (Asked of the thread, not inEventLoop(): an EmbeddedChannel's loop claims
                        // every thread, and a test reader on it is not on a loop.)
                        throw new IOException("blocking read on the event loop that delivers this tunnel's bytes would never "
                                + "return: read on another thread (a connect future completes on the event loop: use "
                                + "thenApplyAsync/thenAcceptAsync with an executor of yours)");
                    }
                    if (!spun) {
                        spun = true;
                        if (spinBackoff.tryNow()) {
                            int seen = readableSignals;
                            spins++; // under the lock
                            lock.unlock();
                            boolean hit;
                            try {
                                hit = spinWhileUnsignalled(seen, deadline);
                            } finally {
                                lock.lock();
                            }
                            spinBackoff.record(hit);
                            continue;
                        }
                    }
                    parks++; // under the lock
                    try {
                        if (deadline == 0) {
                            readable.await();
                        } else {
                            long left = deadline - System.nanoTime();
                            if (left <= 0) {
                                throw new SocketTimeoutException("Read timed out");
                            }
                            readable.awaitNanos(left);
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new InterruptedIOException("interrupted while reading");
                    }
                }
                if (reset) {
                    throw new SocketException("Connection reset");
                }
                ByteBuf head = queue.peek();
                n = Math.min(len, head.readableBytes());
                head.readBytes(b, off, n);
                buffered -= n;
                if (!head.isReadable()) {
                    queue.poll();
                    if (head == merging) {
                        merging = null;
                    }
                    head.release();
                }
                if (!readPending && !eof && !inactive && buffered < LOW_WATER) {
                    readPending = true;
                    askMore = true;
                }
            } finally {
                lock.unlock();
            }
            if (askMore) {
                channel.eventLoop().execute(channel::read);
            }
            return n;
        }

        @Override
        public int available() throws IOException {
            lock.lock();
            try {
                if (closed) {
                    // As java.net.Socket's stream: 0 from a closed socket read as "nothing yet" (a new-user pass).
                    throw new SocketException("Socket closed");
                }
                return (int) Math.min(Integer.MAX_VALUE, buffered);
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    /** Spins (without the lock) until the loop signals or the spin or the read deadline is over; true when signalled. */
    private boolean spinWhileUnsignalled(int seen, long readDeadline) {
        long end = System.nanoTime() + spinNanos;
        if (readDeadline != 0 && readDeadline - end < 0) {
            end = readDeadline;
        }
        for (int turn = 1; System.nanoTime() - end < 0; turn++) {
            if (readableSignals != seen) {
                return true;
            }
            LatencyMode.pause(turn);
        }
        return readableSignals != seen;
    }

    private final class Out extends OutputStream {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            java.util.Objects.checkFromIndexSize(off, len, b.length);
            Channel channel = socket.requireConnected();
            WriteBudget budget = budget(channel);
            // One flush per write() call (or per high-water mark reached), not per chunk: every flush
            // is a task on the event loop and a TLS record boundary. Failures need no per-chunk
            // listener: the void promise fires exceptionCaught, which records writeError and closes.
            // The last chunk goes with its flush: one task for the event loop instead of two.
            while (len > 0) {
                checkWritable(channel);
                int n = Math.min(len, WRITE_CHUNK);
                ByteBuf buf = channel.alloc().ioBuffer(n);
                buf.writeBytes(b, off, n);
                off += n;
                len -= n;
                boolean wait = budget.submitted.get() + n >= SUBMIT_HIGH || !channel.isWritable();
                submit(channel, budget, buf, len == 0 || wait);
                if (wait) {
                    if (ThreadExecutorMap.currentExecutor() == channel.eventLoop()
                            && (budget.submitted.get() > SUBMIT_LOW || !channel.isWritable())) {
                        // What this write would wait for (the peer's WINDOW_UPDATE, or other writers' bytes taken into
                        // the channel) happens on this very thread: it would wait for good, with every tunnel of the
                        // connection stalled (as a read here, above). What was submitted stays queued in the channel.
                        throw new IOException("blocking write on the event loop that carries this tunnel would never "
                                + "return once the peer's flow-control window is full: write on another thread (a connect "
                                + "future completes on the event loop: use thenApplyAsync/thenAcceptAsync with an executor of yours)");
                    }
                    awaitWritable(channel, budget);
                }
            }
        }

        @Override
        public void flush() {
            // every write is flushed
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    private void checkWritable(Channel channel) throws IOException {
        if (closed) {
            throw new SocketException("Socket closed");
        }
        if (outputShutdown) {
            throw new SocketException("Socket output is shutdown");
        }
        Throwable err = writeError;
        if (err != null || !channel.isActive()) {
            SocketException e = new SocketException(reset ? "Connection reset" : "Broken pipe");
            if (err != null) {
                e.initCause(err);
            }
            throw e;
        }
    }

    /** Hands {@code buf} to the channel on its event loop, counted in {@link #submitted} and the budget until it is there. */
    private void submit(Channel channel, WriteBudget budget, ByteBuf buf, boolean flush) throws IOException {
        if (channel.eventLoop().inEventLoop()) {
            channel.write(buf, channel.voidPromise());
            if (flush) {
                channel.flush();
            }
            return;
        }
        int n = buf.readableBytes();
        WriteTask task;
        if (submitted.compareAndSet(0, n)) {
            // Nothing in flight, so no run of the reusable task is left that still reads its fields.
            task = reusableTask;
        } else {
            submitted.addAndGet(n);
            task = new WriteTask();
        }
        budget.add(n);
        task.set(channel, buf, flush, n);
        try {
            channel.eventLoop().execute(task);
        } catch (RejectedExecutionException e) {
            task.set(null, null, false, 0);
            submitted.addAndGet(-n);
            budget.release(n);
            buf.release();
            throw (SocketException) new SocketException("Broken pipe").initCause(e);
        }
    }

    /**
     * The write task for the chunk in flight when no other is: a writer claims it by moving
     * {@link #submitted} from 0 (issue 14: a task object per {@code write()} was the one allocation
     * of a 1 KiB echo's writer besides its buffer). A run takes the fields before it counts its bytes
     * down, so a writer that claims the task after that count cannot change what the run writes.
     */
    private final WriteTask reusableTask = new WriteTask();

    private final class WriteTask implements Runnable {
        private Channel channel;
        private ByteBuf buf;
        private boolean flush;
        private int bytes;

        void set(Channel channel, ByteBuf buf, boolean flush, int bytes) {
            this.channel = channel;
            this.buf = buf;
            this.flush = flush;
            this.bytes = bytes;
        }

        @Override
        public void run() {
            Channel c = channel;
            ByteBuf b = buf;
            boolean f = flush;
            int n = bytes;
            set(null, null, false, 0);
            try {
                c.write(b, c.voidPromise());
                if (f) {
                    c.flush();
                }
            } finally {
                // Counted down whatever the write did, or a waiting writer would wait for good.
                submitted.addAndGet(-n);
                budget.release(n);
            }
        }
    }

    private void awaitWritable(Channel channel, WriteBudget budget) throws IOException {
        try {
            budget.await(waiter, () -> (budget.submitted.get() > SUBMIT_LOW || !channel.isWritable())
                    && channel.isActive() && writeError == null && !closed);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while writing");
        }
    }
}
