package io.zerohop.benchmarks;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * A benchmark state that prints its thread's CPU time per operation after each iteration, as {@code [thread CPU x unit/op]}
 * next to JMH's score. On a shared machine the score (wall time) also counts the time the thread waited for a core; this
 * does not. A subclass counts each operation with {@code ops++} in its benchmark methods (one thread per state:
 * {@code Scope.Benchmark} with the default single thread, or {@code Scope.Thread}).
 */
public abstract class ThreadCpuPerOp {
    private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    private final boolean micros;
    /** Operations so far; a benchmark method adds one per call. */
    protected long ops;
    private long opsAtStart;
    private long cpuAtStart;

    /** @param micros print microseconds per operation (else nanoseconds) */
    protected ThreadCpuPerOp(boolean micros) {
        this.micros = micros;
    }

    @Setup(Level.Iteration)
    public void iterationStart() {
        opsAtStart = ops;
        cpuAtStart = threads.getCurrentThreadCpuTime();
    }

    @TearDown(Level.Iteration)
    public void iterationEnd() {
        long n = ops - opsAtStart;
        if (n > 0) {
            double ns = (threads.getCurrentThreadCpuTime() - cpuAtStart) / (double) n;
            System.out.print(micros ? String.format(" [thread CPU %.2f us/op]", ns / 1000) : String.format(" [thread CPU %.1f ns/op]", ns));
        }
    }
}
