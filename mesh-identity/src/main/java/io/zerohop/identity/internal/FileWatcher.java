package io.zerohop.identity.internal;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a check when files in some directories change, and every poll interval regardless.
 *
 * <p>Directories are watched rather than files because Kubernetes secret volumes and most
 * writers replace files by rename (or swap a {@code ..data} symlink), which a watch on the old
 * inode would miss. Polling stays on as a fallback: WatchService misses events on network and
 * overlay file systems, and its key can be invalidated when a directory is recreated.
 */
public final class FileWatcher implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(FileWatcher.class);

    private final Runnable check;
    private final long pollNanos;
    private final long settleNanos;
    private final WatchService watchService;
    private final CountDownLatch closed = new CountDownLatch(1);
    private final Thread thread;

    /**
     * @param settle after an event, wait until no further event arrives for this long before
     *     checking, so that writers updating several files one by one are seen once, complete
     */
    public FileWatcher(String name, Set<Path> directories, boolean watch, Duration pollInterval, Duration settle, Runnable check) {
        this.check = check;
        this.pollNanos = pollInterval.toNanos();
        this.settleNanos = settle.toNanos();
        this.watchService = watch ? register(directories) : null;
        this.thread = new Thread(this::run, name);
        thread.setDaemon(true);
        thread.start();
    }

    private static WatchService register(Set<Path> directories) {
        WatchService ws = null;
        try {
            ws = FileSystems.getDefault().newWatchService();
            for (Path dir : directories) {
                dir.register(ws, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
                        StandardWatchEventKinds.ENTRY_DELETE);
            }
            return ws;
        } catch (IOException | UnsupportedOperationException e) {
            log.warn("cannot watch {} for changes ({}); relying on polling", directories, e.toString());
            closeQuietly(ws);
            return null;
        }
    }

    private void run() {
        try {
            while (closed.getCount() > 0) {
                if (watchService == null) {
                    if (closed.await(pollNanos, TimeUnit.NANOSECONDS)) {
                        return;
                    }
                } else if (drain(watchService.poll(pollNanos, TimeUnit.NANOSECONDS))) {
                    while (drain(watchService.poll(settleNanos, TimeUnit.NANOSECONDS))) {
                        // keep draining until the writer has been quiet for the settle time
                    }
                }
                if (closed.getCount() == 0) {
                    return;
                }
                try {
                    check.run();
                } catch (RuntimeException e) {
                    log.warn("file check failed: {}", e.toString(), e);
                }
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // closed
        }
    }

    private static boolean drain(WatchKey key) {
        if (key == null) {
            return false;
        }
        key.pollEvents();
        key.reset();
        return true;
    }

    @Override
    public void close() {
        closed.countDown();
        closeQuietly(watchService);
        thread.interrupt();
    }

    private static void closeQuietly(WatchService ws) {
        if (ws != null) {
            try {
                ws.close();
            } catch (IOException ignored) {
                // nothing left to release
            }
        }
    }
}
