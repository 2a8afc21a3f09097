package io.zerohop.hbone;

import io.netty.channel.IoEventLoop;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SingleThreadIoEventLoop;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.RejectedExecutionHandlers;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One event loop that counts the tasks handed to it: {@link #fromOutside()} those submitted by
 * another thread (each one wakes a sleeping loop: an eventfd write and an epoll return), and
 * {@link #all()} every task; {@link #scheduled()} counts timers apart (they do not pass the task queue).
 */
final class CountingLoopGroup extends MultiThreadIoEventLoopGroup {
    static final String THREAD = "hbone-counted";
    // Assigned by newChild, which the super constructor calls: no initializer, or it would be reset.
    private CountingQueue queue;
    /** See {@link #runOutsideTasksBeforeReturning}. */
    private volatile boolean synchronous;

    CountingLoopGroup() {
        super(1, new DefaultThreadFactory(THREAD, true), NioIoHandler.newFactory());
    }

    @Override
    protected IoEventLoop newChild(Executor executor, IoHandlerFactory factory, Object... args) {
        queue = new CountingQueue();
        return new SingleThreadIoEventLoop(this, executor, factory, queue, new ConcurrentLinkedQueue<>(),
                RejectedExecutionHandlers.reject()) {
            @Override
            public void execute(Runnable task) {
                if (!synchronous || inEventLoop()) {
                    super.execute(task);
                    return;
                }
                java.util.concurrent.CountDownLatch ran = new java.util.concurrent.CountDownLatch(1);
                super.execute(new Runnable() {
                    @Override
                    public void run() {
                        try {
                            task.run();
                        } finally {
                            ran.countDown();
                        }
                    }

                    @Override
                    public String toString() {
                        return task.toString();
                    }
                });
                try {
                    if (!ran.await(10, java.util.concurrent.TimeUnit.SECONDS)) {
                        throw new IllegalStateException("the loop did not run " + task + " within 10 s");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }

            @Override
            public io.netty.util.concurrent.ScheduledFuture<?> schedule(Runnable task, long delay, java.util.concurrent.TimeUnit unit) {
                queue.scheduled.incrementAndGet();
                return super.schedule(task, delay, unit);
            }

            @Override
            public <V> io.netty.util.concurrent.ScheduledFuture<V> schedule(java.util.concurrent.Callable<V> task, long delay,
                                                                             java.util.concurrent.TimeUnit unit) {
                queue.scheduled.incrementAndGet();
                return super.schedule(task, delay, unit);
            }
        };
    }

    /**
     * While on, a task handed over from another thread has run on the loop before {@code execute}
     * returns: the interleaving where the loop, woken by the task, finishes it while the caller is
     * still on its next line (which a loaded machine produces now and then), made certain.
     */
    void runOutsideTasksBeforeReturning(boolean on) {
        synchronous = on;
    }

    int fromOutside() {
        return queue.outside.get();
    }

    /** Tasks handed over by {@code thread} since the last {@link #resetCounts}. */
    int from(Thread thread) {
        String name = thread.getName() + ": ";
        return (int) queue.outsiders.stream().filter(t -> t.startsWith(name)).count();
    }

    int all() {
        return queue.all.get();
    }

    /** Timers scheduled ({@code schedule} calls, from any thread). */
    int scheduled() {
        return queue.scheduled.get();
    }

    /** The tasks counted by {@link #fromOutside()}: thread and task. */
    java.util.List<String> outsiders() {
        return java.util.List.copyOf(queue.outsiders);
    }

    void resetCounts() {
        queue.outsiders.clear();
        queue.scheduled.set(0);
        queue.outside.set(0);
        queue.all.set(0);
    }

    private static final class CountingQueue extends ConcurrentLinkedQueue<Runnable> {
        final AtomicInteger outside = new AtomicInteger();
        final AtomicInteger all = new AtomicInteger();
        final AtomicInteger scheduled = new AtomicInteger();
        /** Who handed each task from outside, and what it was: a failing count names them. */
        final java.util.Queue<String> outsiders = new ConcurrentLinkedQueue<>();

        @Override
        public boolean offer(Runnable task) {
            all.incrementAndGet();
            if (!Thread.currentThread().getName().startsWith(THREAD)) {
                outside.incrementAndGet();
                outsiders.add(Thread.currentThread().getName() + ": " + task);
            }
            return super.offer(task);
        }
    }
}
