package io.zerohop.identity.spire;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** Records what reaches JUL's root handlers (java-spiffe's log records that {@link JulRetryLog} hands on) while open. */
final class JulCapture extends Handler implements AutoCloseable {
    final List<LogRecord> published = new CopyOnWriteArrayList<>();

    JulCapture() {
        Logger.getLogger("").addHandler(this);
    }

    List<String> messages() {
        return published.stream().map(LogRecord::getMessage).toList();
    }

    @Override
    public void publish(LogRecord r) {
        published.add(r);
    }

    @Override
    public void flush() {}

    @Override
    public void close() {
        Logger.getLogger("").removeHandler(this);
    }
}
