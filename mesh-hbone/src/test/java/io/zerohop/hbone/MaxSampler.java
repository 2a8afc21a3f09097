package io.zerohop.hbone;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/** The largest value a counter of the server under test took while sampled, from a thread of its own. */
final class MaxSampler implements AutoCloseable {
    final AtomicLong max = new AtomicLong();
    private final AtomicBoolean run = new AtomicBoolean(true);
    private final Thread t;

    MaxSampler(String name, LongSupplier counter) {
        t = new Thread(() -> {
            while (run.get()) {
                max.accumulateAndGet(counter.getAsLong(), Math::max);
                Thread.onSpinWait();
            }
        }, name);
        t.setDaemon(true);
        t.start();
    }

    @Override
    public void close() throws InterruptedException {
        run.set(false);
        t.join();
    }
}
