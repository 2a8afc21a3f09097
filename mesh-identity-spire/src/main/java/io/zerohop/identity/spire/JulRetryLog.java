package io.zerohop.identity.spire;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Turns java-spiffe's per-retry log records into the provider's own one-line reports.
 *
 * <p>java-spiffe 0.8 logs every failed attempt of its X.509 context stream through
 * java.util.logging at SEVERE with the whole gRPC stack trace ({@code StreamObservers},
 * "X.509 context observer error", before it schedules the next attempt of its exponential
 * back-off), and tells the watcher nothing until it gives up; with no agent behind the socket
 * that was ~40 lines per attempt on stderr. The record carries no address, so a record is
 * attributed to a provider by the thread it is logged on: each provider gives java-spiffe its
 * own executor (the stubs' callback executor), whose threads carry that provider's sink. Records
 * logged on any other thread (another java-spiffe client in the same JVM) go to the JUL parent
 * handlers unchanged, as they would have without this.
 *
 * <p>Two records are more than log lines: the SEVERE one of a failed attempt is the only sign of
 * PERMISSION_DENIED the provider gets (java-spiffe 0.8.17 retries it without telling the watcher),
 * and the INFO "stream is completed" one the only sign of a stream the server ended with status OK
 * (java-spiffe's {@code StreamObservers.onCompleted} closes the watch and logs, nothing else). A
 * logging configuration that silences java-spiffe ({@code io.spiffe.level = WARNING}, a habit from
 * its stack traces) would hide both, so {@link #install} lets every record through these loggers
 * and applies the level they were configured with only to the records it hands on to JUL's
 * handlers.
 */
final class JulRetryLog {
    /**
     * java-spiffe's loggers (io.spiffe.workloadapi.StreamObservers, DefaultWorkloadApiClient), and gRPC's call logger: on
     * a provider's close, java-spiffe 0.8.17's {@code DefaultWorkloadApiClient.close} shuts its retry executor down while
     * the cancelled stream's {@code onError} still runs on the stub executor; its retry is then rejected
     * ({@code RetryHandler.scheduleRetry}), and gRPC's {@code ClientCallImpl.closeObserver} logged "Exception thrown by
     * onClose() in ClientCall" at WARNING with a 25-line stack trace on stderr (the official CI of 5 December failed
     * SpiffeIdOptionTest on it: the CLI closes the unpinned provider it waited on). On a provider's threads it is the
     * provider's record now (DEBUG once closed); on other threads it reaches JUL as before. Likewise gRPC's client
     * stream logger: the frames still arriving on a stream gRPC cancelled (a response over its 4 MiB limit) are each
     * an INFO "Received data on closed stream", some 30 on stderr per attempt until 6 December.
     */
    private static final String[] NAMES = {"io.spiffe.workloadapi.StreamObservers", "io.spiffe.workloadapi.DefaultWorkloadApiClient",
            "io.grpc.internal.ClientCallImpl", "io.grpc.internal.AbstractClientStream"};

    /** Strong references: JUL holds loggers weakly, and a collected logger would lose the handler. */
    private static final Logger[] LOGGERS = new Logger[NAMES.length];

    /** The level each logger was configured with (null: inherited), which records handed on to JUL still obey. */
    private static final Level[] CONFIGURED = new Level[NAMES.length];

    /** java-spiffe's {@code StreamObservers.onCompleted} message: the server ended the stream with status OK. */
    private static final String STREAM_COMPLETED = "Workload API stream is completed";

    /** java-spiffe's {@code StreamObservers.handleX509ContextRetry} message, logged at FINE before each retry it schedules. */
    private static final String RETRYING = "Retrying connecting to Workload API to register X.509 context watcher";

    private static final ThreadLocal<Consumer<LogRecord>> SINK = new ThreadLocal<>();

    private JulRetryLog() {}

    private static synchronized void install() {
        if (LOGGERS[0] != null) {
            // A configuration read since the last provider was built may have set a level again: take it as the
            // one for other clients' records, and let every record through for the providers (see the class doc).
            for (int i = 0; i < NAMES.length; i++) {
                if (LOGGERS[i].getLevel() != Level.ALL) {
                    CONFIGURED[i] = LOGGERS[i].getLevel();
                    LOGGERS[i].setLevel(Level.ALL);
                }
            }
            return;
        }
        for (int i = 0; i < NAMES.length; i++) {
            Logger l = Logger.getLogger(NAMES[i]);
            int index = i;
            CONFIGURED[i] = l.getLevel();
            l.setLevel(Level.ALL);
            l.setUseParentHandlers(false);
            l.addHandler(new Handler() {
                @Override
                public void publish(LogRecord r) {
                    Consumer<LogRecord> sink = SINK.get();
                    if (sink != null) {
                        sink.accept(r);
                        return;
                    }
                    if (r.getLevel().intValue() < threshold(l, CONFIGURED[index]).intValue()) {
                        return; // what the configured (or inherited) level would have dropped before this handler
                    }
                    for (Logger p = l.getParent(); p != null; p = p.getUseParentHandlers() ? p.getParent() : null) {
                        for (Handler h : p.getHandlers()) {
                            h.publish(r);
                        }
                    }
                }

                @Override
                public void flush() {}

                @Override
                public void close() {}
            });
            LOGGERS[i] = l;
        }
    }

    /** The level a record must reach to pass {@code l} had it kept {@code configured}: that, else the nearest ancestor's. */
    private static Level threshold(Logger l, Level configured) {
        if (configured != null) {
            return configured;
        }
        for (Logger p = l.getParent(); p != null; p = p.getParent()) {
            if (p.getLevel() != null) {
                return p.getLevel();
            }
        }
        return Level.INFO; // LogManager's default for the root logger
    }

    /**
     * An executor for java-spiffe's stubs whose threads send java-spiffe's log records to
     * {@code sink} instead of JUL's handlers. Daemon threads: an unclosed provider does not keep
     * the JVM alive.
     */
    static ExecutorService executor(String name, Consumer<LogRecord> sink) {
        install();
        return Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(() -> {
                SINK.set(sink);
                r.run();
            }, name);
            t.setDaemon(true);
            return t;
        });
    }

    /** Runs {@code body} with java-spiffe's records on this thread sent to {@code sink} (its close() logs). */
    static void on(Consumer<LogRecord> sink, Runnable body) {
        Consumer<LogRecord> before = SINK.get();
        SINK.set(sink);
        try {
            body.run();
        } finally {
            SINK.set(before);
        }
    }

    static boolean isFailure(LogRecord r) {
        return r.getLevel().intValue() >= Level.SEVERE.intValue() && r.getThrown() != null;
    }

    /**
     * java-spiffe's record that it schedules another attempt of the X.509 context watch (StreamObservers, java-spiffe
     * 0.8.17), after every failure it retries: the SEVERE failure record comes first, except for CANCELLED, which it
     * does not log.
     */
    static boolean isRetrying(LogRecord r) {
        return RETRYING.equals(r.getMessage()) && NAMES[0].equals(r.getLoggerName());
    }

    /** java-spiffe's record of a stream the server ended with status OK (StreamObservers.onCompleted, java-spiffe 0.8.17). */
    static boolean isStreamCompleted(LogRecord r) {
        return STREAM_COMPLETED.equals(r.getMessage()) && NAMES[0].equals(r.getLoggerName());
    }
}
