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
    /**
     * Each watched directory's key; null while the directory is gone. A key becomes invalid when its directory is removed
     * or replaced ({@code rm -r dir; cp -r new dir}), and a new directory at the same path is another inode: until
     * 5 December such a directory was never watched again and changes waited for the poll (30 s by default; a day-2 pass
     * saw a renewed certificate reloaded 25 s late). Watcher thread only, after the constructor.
     */
    private final java.util.Map<Path, WatchKey> keys = new java.util.LinkedHashMap<>();
    /** While a directory is unwatched, it is looked for this often (the settle time, at least 100 ms), not every poll. */
    private final long rewatchNanos;
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
        this.rewatchNanos = Math.max(TimeUnit.MILLISECONDS.toNanos(100), settle.toNanos());
        this.watchService = watch ? register(directories, keys) : null;
        this.thread = new Thread(this::run, name);
        thread.setDaemon(true);
        thread.start();
    }

    private static WatchService register(Set<Path> directories, java.util.Map<Path, WatchKey> keys) {
        WatchService ws = null;
        try {
            ws = FileSystems.getDefault().newWatchService();
            for (Path dir : directories) {
                keys.put(dir, watch(dir, ws));
            }
            return ws;
        } catch (IOException | UnsupportedOperationException e) {
            log.warn("cannot watch {} for changes ({}); relying on polling", directories, e.toString());
            closeQuietly(ws);
            return null;
        }
    }

    private static WatchKey watch(Path dir, WatchService ws) throws IOException {
        return dir.register(ws, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
                StandardWatchEventKinds.ENTRY_DELETE);
    }

    /**
     * Watches again each directory whose key is no longer valid, if it exists again; true when one came back (what it
     * holds now may be new: checked at once).
     */
    private boolean rewatch() {
        boolean back = false;
        for (java.util.Map.Entry<Path, WatchKey> e : keys.entrySet()) {
            WatchKey k = e.getValue();
            if (k != null && k.isValid()) {
                continue;
            }
            try {
                e.setValue(watch(e.getKey(), watchService));
                log.info("watching {} again: it was removed or replaced", e.getKey());
                back = true;
            } catch (IOException e2) {
                if (k != null) {
                    // Once per loss, not at every look.
                    if (e2 instanceof java.nio.file.NoSuchFileException) {
                        log.info("{} was removed; looking for it every {} ms until it is back", e.getKey(), TimeUnit.NANOSECONDS.toMillis(rewatchNanos));
                    } else {
                        log.warn("cannot watch {} again ({}); trying every {} ms, and polling meanwhile", e.getKey(), e2.toString(),
                                TimeUnit.NANOSECONDS.toMillis(rewatchNanos));
                    }
                }
                e.setValue(null);
            }
        }
        return back;
    }

    private boolean allWatched() {
        for (WatchKey k : keys.values()) {
            if (k == null || !k.isValid()) {
                return false;
            }
        }
        return true;
    }

    private void run() {
        try {
            while (closed.getCount() > 0) {
                if (watchService == null) {
                    if (closed.await(pollNanos, TimeUnit.NANOSECONDS)) {
                        return;
                    }
                } else if (!allWatched()) {
                    // A directory is gone or replaced: look for it often, check when it is back (and at the poll as ever).
                    boolean event = drain(watchService.poll(rewatchNanos, TimeUnit.NANOSECONDS));
                    boolean back = rewatch();
                    if (!back && !event && !pollDue()) {
                        continue;
                    }
                    // A directory coming back is usually still being filled (cp -r): read it once it is quiet.
                    while ((back || event) && drain(watchService.poll(settleNanos, TimeUnit.NANOSECONDS))) {
                        // keep draining until the writer has been quiet for the settle time
                    }
                } else if (drain(watchService.poll(pollNanos, TimeUnit.NANOSECONDS))) {
                    while (drain(watchService.poll(settleNanos, TimeUnit.NANOSECONDS))) {
                        // keep draining until the writer has been quiet for the settle time
                    }
                }
                if (closed.getCount() == 0) {
                    return;
                }
                if (watchService != null) {
                    rewatch();
                }
                lastCheck = System.nanoTime();
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

    /** When the check last ran. Watcher thread only. */
    private long lastCheck = System.nanoTime();

    private boolean pollDue() {
        return System.nanoTime() - lastCheck >= pollNanos;
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
