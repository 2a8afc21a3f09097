package io.zerohop.core;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.Charset;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Standard output and standard error written by one background thread, so that a thread that logs
 * (a Netty event loop writing an access line) does not wait for whoever reads the process's output.
 * As ztunnel writes its log (istio/ztunnel src/telemetry.rs {@code setup_logging}: a non-blocking
 * writer, {@code lossy(false)}, {@code buffered_lines_limit(10000)}; src/telemetry/worker.rs: one
 * thread writes up to 64 queued lines at a time; its {@code WorkerGuard} flushes at exit, waiting at
 * most 1 s): up to {@value #BUFFERED_LINES} lines wait in memory while the reader is slow or stalled;
 * beyond that a writer waits for room (back-pressure, as ztunnel's, not lost lines), and
 * {@link #waits()} counts those waits. A line is what a stream was given up to a newline (a
 * {@code println}, slf4j-simple's record) or an explicit {@code flush()} (a partial line), queued as one
 * entry and written whole and in order per stream.
 *
 * <p>{@link #println} queues one line for a stream (mesh-core's ztunnel access log); {@link #install}
 * puts queueing streams in front of {@code System.out} and {@code System.err} (the CLI: slf4j-simple
 * writes {@code System.err}); {@link #flush} waits until what was queued before it is written, as a
 * stop must before the process exits (the first {@link #install} also adds a shutdown hook that does so, at most
 * {@link #STOP_FLUSH}). Thread-safe; one writer thread per JVM, started with the first
 * line, a daemon.
 */
public final class LogOutput {
    /** ztunnel's {@code buffered_lines_limit}: lines queued before a writer waits for room. */
    public static final int BUFFERED_LINES = 10_000;
    /** ztunnel's {@code WorkerGuard}: how long a stop waits for the queued lines to be written. */
    public static final Duration STOP_FLUSH = Duration.ofSeconds(1);
    /** ztunnel's worker takes up to 64 lines per write. */
    private static final int GROUP = 64;
    /** Bytes written without a flush (a long stack trace) are queued in pieces of at most this, bounding the buffer. */
    private static final int MAX_CHUNK = 64 << 10;

    private static final ArrayBlockingQueue<Chunk> queue = new ArrayBlockingQueue<>(BUFFERED_LINES);
    private static final AtomicLong waits = new AtomicLong();
    private static volatile Thread writer;

    /** A line for {@code to} (String or bytes), or, with {@code written}, a marker the writer counts down. */
    private record Chunk(PrintStream to, Object data, CountDownLatch written) {}

    private LogOutput() {}

    /**
     * Queues {@code line} and a newline for {@code to} (a queueing stream of {@link #install}: for
     * the stream behind it). Returns at once unless {@value #BUFFERED_LINES} lines are waiting.
     */
    public static void println(PrintStream to, String line) {
        enqueue(new Chunk(to instanceof Queued q ? q.sink : to, line + "\n", null));
    }

    /**
     * Waits until every line queued before this call is written and its stream flushed, at most
     * {@code max}; false when the time ran out (the reader is stalled) or the thread was interrupted.
     */
    public static boolean flush(Duration max) {
        if (writer == null) {
            return true;
        }
        CountDownLatch written = new CountDownLatch(1);
        long end = System.nanoTime() + max.toNanos();
        try {
            return queue.offer(new Chunk(null, null, written), max.toNanos(), TimeUnit.NANOSECONDS)
                    && written.await(end - System.nanoTime(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** How many times a thread found {@value #BUFFERED_LINES} lines waiting and waited for room, since start. */
    public static long waits() {
        return waits.get();
    }

    /**
     * Sets {@code System.out} and {@code System.err} to streams that queue what they are given for
     * the current ones (a stream that already queues stays). Closing the result flushes (at most
     * {@link #STOP_FLUSH}) and puts back the streams it replaced, if still set.
     */
    public static Installed install() {
        exitHook();
        PrintStream out = System.out;
        PrintStream err = System.err;
        PrintStream qOut = out instanceof Queued ? out : new Queued(out, "stdout");
        PrintStream qErr = err instanceof Queued ? err : new Queued(err, "stderr");
        System.setOut(qOut);
        System.setErr(qErr);
        return new Installed(out, qOut, err, qErr);
    }

    private static final java.util.concurrent.atomic.AtomicBoolean exitHooked = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * At the JVM's exit ({@code System.exit}, a signal), what installed streams queued is written, at most
     * {@link #STOP_FLUSH}, as ztunnel's {@code WorkerGuard} does when it is dropped: the writer is a daemon thread, so
     * lines still queued were lost (a break-it pass: 4,324 of 5,000 lines, a stack trace printed just before
     * {@code System.exit(1)} not at all).
     */
    private static void exitHook() {
        if (!exitHooked.compareAndSet(false, true)) {
            return;
        }
        try {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                for (PrintStream p : new PrintStream[] {System.out, System.err}) {
                    if (p instanceof Queued) {
                        p.flush();
                    }
                }
                flush(STOP_FLUSH);
            }, "zerohop-log-exit"));
        } catch (IllegalStateException exiting) {
            // Installed while the JVM already exits: nothing to add.
        }
    }

    /** The streams {@link #install} replaced; {@link #close} flushes and restores them. */
    public static final class Installed implements AutoCloseable {
        private final PrintStream out;
        private final PrintStream qOut;
        private final PrintStream err;
        private final PrintStream qErr;

        private Installed(PrintStream out, PrintStream qOut, PrintStream err, PrintStream qErr) {
            this.out = out;
            this.qOut = qOut;
            this.err = err;
            this.qErr = qErr;
        }

        /** Flushes (at most {@link #STOP_FLUSH}; false: lines may be left unwritten), then restores the streams. */
        @Override
        public void close() {
            // A partial line (a print without a newline) is queued too, then everything is written.
            qOut.flush();
            qErr.flush();
            flush(STOP_FLUSH);
            if (System.out == qOut) {
                System.setOut(out);
            }
            if (System.err == qErr) {
                System.setErr(err);
            }
        }
    }

    private static void enqueue(Chunk c) {
        Thread w = writer;
        if (w == null) {
            w = start();
        }
        if (Thread.currentThread() == w) {
            // A write by the writer itself (a stream that logs while being written) would wait for itself.
            write(c);
            return;
        }
        if (queue.offer(c)) {
            return;
        }
        waits.incrementAndGet();
        boolean interrupted = false;
        while (true) {
            try {
                queue.put(c);
                break;
            } catch (InterruptedException e) {
                // The line is not dropped; the interrupt is kept for the caller.
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static synchronized Thread start() {
        if (writer == null) {
            Thread t = new Thread(LogOutput::run, "zerohop-log");
            t.setDaemon(true);
            t.start();
            writer = t;
        }
        return writer;
    }

    private static void run() {
        List<Chunk> batch = new ArrayList<>(GROUP);
        while (true) {
            try {
                batch.add(queue.take());
                queue.drainTo(batch, GROUP - 1);
                PrintStream last = null;
                for (Chunk c : batch) {
                    if (last != null && c.to != last) {
                        last.flush();
                    }
                    if (c.written != null) {
                        if (last != null) {
                            last.flush();
                            last = null;
                        }
                        c.written.countDown();
                    } else {
                        write(c);
                        last = c.to;
                    }
                }
                if (last != null) {
                    last.flush();
                }
            } catch (InterruptedException e) {
                // Nobody interrupts this thread on purpose; keep writing.
            } catch (RuntimeException e) {
                // A PrintStream keeps its I/O errors to itself; anything else must not end the log.
            } finally {
                batch.clear();
            }
        }
    }

    private static void write(Chunk c) {
        if (c.data instanceof String s) {
            c.to.print(s);
        } else if (c.data instanceof byte[] b) {
            c.to.write(b, 0, b.length);
        }
    }

    /** A stream that queues each line for {@code sink}; {@link #flush} queues a partial line too. */
    private static final class Queued extends PrintStream {
        final PrintStream sink;
        private final Lines lines;

        Queued(PrintStream sink, String name) {
            this(sink, new Lines(sink), name);
        }

        private Queued(PrintStream sink, Lines lines, String name) {
            super(lines, true, charset(name));
            this.sink = sink;
            this.lines = lines;
        }

        /** An explicit flush (a prompt without a newline, {@link Installed#close}): what was printed is queued, whole or not. */
        @Override
        public void flush() {
            super.flush();
            lines.flushPartial();
        }

        /** The encoding the JVM gave the standard stream (JDK 19+: {@code stdout.encoding}), else the default. */
        private static Charset charset(String name) {
            String enc = System.getProperty(name + ".encoding", System.getProperty("sun." + name + ".encoding"));
            try {
                return enc != null ? Charset.forName(enc) : Charset.defaultCharset();
            } catch (RuntimeException e) {
                return Charset.defaultCharset();
            }
        }
    }

    /**
     * Collects the bytes of a line. PrintStream's auto-flush flushes after each piece it writes: a {@code println} is the
     * text, then the line separator, so a flush queues only what ends a line (or {@link #MAX_CHUNK} bytes): one queued
     * entry per line, so the queue holds {@value #BUFFERED_LINES} lines, not half as many.
     */
    private static final class Lines extends OutputStream {
        private final PrintStream sink;
        private byte[] buf = new byte[256];
        private int count;
        /** The end of the last whole line in {@link #buf} (after its newline), 0 when none. */
        private int lineEnd;

        Lines(PrintStream sink) {
            this.sink = sink;
        }

        @Override
        public synchronized void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            if (Thread.currentThread() == writer) {
                sink.write(b, off, len);
                return;
            }
            if (count + len > buf.length) {
                buf = Arrays.copyOf(buf, Math.max(buf.length * 2, count + len));
            }
            System.arraycopy(b, off, buf, count, len);
            for (int i = len - 1; i >= 0; i--) {
                if (b[off + i] == '\n') {
                    lineEnd = count + i + 1;
                    break;
                }
            }
            count += len;
            if (count >= MAX_CHUNK) {
                flushPartial();
            }
        }

        /**
         * PrintStream's auto-flush: queues the whole lines, keeps a partial one for its newline ({@code print("a\nb")}
         * queues {@code a} at once; a break-it pass found it held until a later newline).
         */
        @Override
        public synchronized void flush() {
            if (count >= MAX_CHUNK) {
                flushPartial();
            } else if (lineEnd > 0) {
                byte[] lines = Arrays.copyOf(buf, lineEnd);
                System.arraycopy(buf, lineEnd, buf, 0, count - lineEnd);
                count -= lineEnd;
                lineEnd = 0;
                enqueue(new Chunk(sink, lines, null));
            }
        }

        synchronized void flushPartial() {
            if (count == 0) {
                return;
            }
            byte[] line = Arrays.copyOf(buf, count);
            count = 0;
            lineEnd = 0;
            if (buf.length > 4096) {
                buf = new byte[256];
            }
            enqueue(new Chunk(sink, line, null));
        }

        @Override
        public void close() {
            flushPartial();
        }
    }
}
