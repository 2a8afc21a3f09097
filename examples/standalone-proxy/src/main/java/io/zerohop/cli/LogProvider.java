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

    @Override
    public void initialize() {
        super.initialize();
        LogTime.install();
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
