package io.zerohop.cli;

import org.slf4j.simple.SimpleServiceProvider;

/**
 * slf4j-simple whose initialisation waits (up to 2 s) until another thread has logged through slf4j's substitute
 * factory: it makes the race {@link LogRaceTest} checks happen on every run instead of once in five. Named by a
 * child JVM's {@code -Dslf4j.provider}; test-only, not a mock of anything the proxy uses (the real provider is
 * slf4j-simple too).
 */
public final class SlowLogProvider extends SimpleServiceProvider {
    public SlowLogProvider() {}

    @Override
    public void initialize() {
        long end = System.nanoTime() + 2_000_000_000L;
        try {
            // slf4j's own queue of recorded calls: package-private, read by reflection (the child JVM runs on the class path).
            java.lang.reflect.Field f = org.slf4j.LoggerFactory.class.getDeclaredField("SUBST_PROVIDER");
            f.setAccessible(true);
            var queue = ((org.slf4j.helpers.SubstituteServiceProvider) f.get(null)).getSubstituteLoggerFactory().getEventQueue();
            while (queue.isEmpty() && System.nanoTime() < end) {
                Thread.sleep(5);
            }
        } catch (ReflectiveOperationException | InterruptedException e) {
            throw new IllegalStateException(e);
        }
        super.initialize();
    }
}
