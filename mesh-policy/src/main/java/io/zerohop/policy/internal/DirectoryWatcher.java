package io.zerohop.policy.internal;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Calls back when the policy files of a directory change. WatchService gives prompt notice; a
 * fingerprint poll on every timeout covers file systems where it is slow or silent (network
 * mounts, some container overlays) and Kubernetes ConfigMap symlink swaps.
 */
public final class DirectoryWatcher implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DirectoryWatcher.class);
    /** Editors and ConfigMap updates touch several files; reload once they have settled. */
    private static final long SETTLE_MILLIS = 50;

    private final Path dir;
    private final Duration poll;
    private final Runnable onChange;
    private final WatchService watchService;
    private final Thread thread;
    private volatile boolean closed;
    private String fingerprint;

    public DirectoryWatcher(Path dir, Duration poll, Runnable onChange) throws IOException {
        this.dir = dir;
        this.poll = poll;
        this.onChange = onChange;
        WatchService ws = null;
        try {
            ws = FileSystems.getDefault().newWatchService();
            dir.register(ws, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE,
                    StandardWatchEventKinds.ENTRY_MODIFY);
        } catch (IOException | UnsupportedOperationException e) {
            LOG.info("no WatchService for {} ({}); polling every {}", dir, e.toString(), poll);
            if (ws != null) {
                ws.close();
            }
            ws = null;
        }
        this.watchService = ws;
        this.fingerprint = fingerprint();
        this.thread = new Thread(this::run, "zerohop-policy-watch");
        this.thread.setDaemon(true);
        this.thread.start();
    }

    private void run() {
        while (!closed) {
            try {
                boolean event = false;
                if (watchService != null) {
                    WatchKey key = watchService.poll(poll.toMillis(), TimeUnit.MILLISECONDS);
                    while (key != null) {
                        event = true;
                        key.pollEvents();
                        key.reset();
                        key = watchService.poll(SETTLE_MILLIS, TimeUnit.MILLISECONDS);
                    }
                } else {
                    Thread.sleep(poll.toMillis());
                }
                if (closed) {
                    return;
                }
                String now = fingerprint();
                if (event || !now.equals(fingerprint)) {
                    fingerprint = now;
                    onChange.run();
                }
            } catch (InterruptedException | ClosedWatchServiceException e) {
                return;
            } catch (RuntimeException e) {
                LOG.warn("policy watcher for {}: {}", dir, e.toString());
            }
        }
    }

    private String fingerprint() {
        StringBuilder sb = new StringBuilder();
        try {
            List<Path> files = Loader.policyFiles(dir);
            for (Path f : files) {
                sb.append(f.getFileName()).append(':').append(Files.size(f)).append(':')
                        .append(Files.getLastModifiedTime(f).toMillis()).append(';');
            }
        } catch (IOException e) {
            sb.append("unreadable:").append(e.getMessage());
        }
        return sb.toString();
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
        if (watchService != null) {
            try {
                watchService.close();
            } catch (IOException e) {
                LOG.debug("closing watch service", e);
            }
        }
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
