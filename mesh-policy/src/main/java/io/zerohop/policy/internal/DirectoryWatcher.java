package io.zerohop.policy.internal;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
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

    /** What the watcher fingerprints: a directory's policy files, or one policy file. */
    interface Files {
        List<Path> list() throws IOException;
    }

    private final Files files;
    /** Which names in the directory an event must name to count: every name for a policy directory. */
    private final java.util.function.Predicate<Path> relevant;

    public DirectoryWatcher(Path dir, Duration poll, Runnable onChange) throws IOException {
        this(dir, () -> Loader.policyFiles(dir), name -> true, poll, onChange);
    }

    /**
     * Watches {@code file}'s directory and calls back when that file changes (editors replace a file by
     * renaming, which only its directory sees). Only events naming the file, or a hidden {@code ..}
     * entry (a ConfigMap mount's atomic swap), count: the directory may hold anything, e.g. the proxy's
     * own log, whose every line would otherwise be a reload.
     */
    public static DirectoryWatcher ofFile(Path file, Duration poll, Runnable onChange) throws IOException {
        Path name = file.getFileName();
        return new DirectoryWatcher(file.toAbsolutePath().getParent(), () -> List.of(file),
                n -> n.equals(name) || n.toString().startsWith(".."), poll, onChange);
    }

    private DirectoryWatcher(Path dir, Files files, java.util.function.Predicate<Path> relevant, Duration poll, Runnable onChange)
            throws IOException {
        this.files = files;
        this.relevant = relevant;
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
                        for (java.nio.file.WatchEvent<?> e : key.pollEvents()) {
                            // OVERFLOW has no name: anything may have changed.
                            event |= !(e.context() instanceof Path name) || relevant.test(name);
                        }
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
            for (Path f : files.list()) {
                sb.append(f.getFileName()).append(':').append(java.nio.file.Files.size(f)).append(':')
                        .append(java.nio.file.Files.getLastModifiedTime(f).toMillis()).append(';');
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
