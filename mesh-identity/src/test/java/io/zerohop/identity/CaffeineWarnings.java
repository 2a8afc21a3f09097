package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * What Caffeine's asynchronous caches log through {@code System.Logger}, which without a bridge is
 * {@code java.util.logging} (as in an application that has none). Opening it checks that route: a record
 * logged on Caffeine's logger name must arrive here, or an empty capture would prove nothing.
 */
final class CaffeineWarnings implements AutoCloseable {
    private static final String NAME = "com.github.benmanes.caffeine.cache.LocalAsyncCache";
    private final Logger jul = Logger.getLogger(NAME);
    final List<LogRecord> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final Handler handler = new Handler() {
        @Override
        public void publish(LogRecord r) {
            seen.add(r);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    CaffeineWarnings() {
        jul.addHandler(handler);
        System.getLogger(NAME).log(System.Logger.Level.WARNING, "control");
        assertThat(seen).as("control: Caffeine's System.Logger reaches java.util.logging here").hasSize(1);
        seen.clear();
    }

    @Override
    public void close() {
        jul.removeHandler(handler);
    }
}
