package io.zerohop.cli;

import org.slf4j.simple.SimpleServiceProvider;

/**
 * slf4j-simple as the CLI configures it ({@code simplelogger.properties}), with its timestamps
 * written by {@link LogTime} from the first line on: installed here, inside slf4j's initialisation,
 * a logger asked for on another thread meanwhile gets slf4j's substitute, which replays its lines
 * once this is done. {@link Zerohop#main} names this class in {@code slf4j.provider}.
 */
public final class LogProvider extends SimpleServiceProvider {
    /** For slf4j, which instantiates the class named in {@code slf4j.provider}. */
    public LogProvider() {}

    /** slf4j-simple's factory with {@link LogShape}'s loggers (slf4j-simple's own until ztunnel's shape is chosen). */
    private org.slf4j.ILoggerFactory factory;

    @Override
    public void initialize() {
        super.initialize();
        factory = new LogShape.Factory();
        LogTime.install();
    }

    @Override
    public org.slf4j.ILoggerFactory getLoggerFactory() {
        return factory;
    }

    /**
     * Returns once slf4j is initialised: initialises it on this thread, or waits for the thread that is doing so.
     * slf4j gives a second thread asking during another's initialisation its substitute factory at once; what that
     * thread logs meanwhile (Micrometer's and Netty's DEBUG "Using SLF4J as the default logging framework") is
     * recorded and replayed with slf4j's "A number (1) of logging calls during the initialization phase have been
     * intercepted and are now being replayed" warning on stderr (new-user pass: once in five starts). slf4j 2.0
     * initialises holding {@code LoggerFactory.class}'s monitor ({@code getProvider}), so holding it here orders the
     * two threads; {@code LogRaceTest} fails if a later slf4j stops doing so. Call it before a thread's first log
     * line, never from inside slf4j's initialisation.
     */
    static void awaitInitialised() {
        synchronized (org.slf4j.LoggerFactory.class) {
            org.slf4j.LoggerFactory.getILoggerFactory();
        }
    }

    /**
     * Makes this process's slf4j use this provider, unless a provider is named already; before slf4j's
     * first use. slf4j reports at INFO that it loads a named provider; that line is kept off stderr
     * unless {@code slf4j.internal.verbosity} is set.
     */
    static void select() {
        if (System.getProperty("slf4j.provider") == null) {
            System.setProperty("slf4j.provider", LogProvider.class.getName());
            if (System.getProperty("slf4j.internal.verbosity") == null) {
                System.setProperty("slf4j.internal.verbosity", "WARN");
            }
        }
    }
}
