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
 *
 * <p>A file written in place is read only once it has settled: no event and no change of any file's
 * size or modification time for {@link #SETTLE} (Istio's injector debounces its config files by
 * 100 ms, pkg/kube/inject/webhook.go {@code watchDebounceDelay}). A first chunk of a policy is often a
 * valid policy that allows more than the whole file (an ALLOW before its {@code to}), and an emptied
 * file drops its DENY policies: both were in force for as long as the writer paused (newuser21). A
 * file that became empty, or was deleted, waits {@link #EMPTIED} more, since {@code cat > file} empties it
 * before the command writing it has produced anything, and {@code rm file; generate > file} removes it first; so
 * does a changed file that holds no YAML document, only comments, blank lines or {@code ---} (a
 * {@code helm template} header, {@code # Source: chart/templates/policy.yaml}, written before the policy by a
 * generator that then pauses): the loader refuses a file with no object (the set in force stays, with an ERROR), and the wait
 * spares that ERROR when the writer finishes within it. A writer pausing longer is still read half-written: write
 * a temporary file, then rename it (what ConfigMap mounts, kubectl cp and most editors do).
 *
 * <p>A change is a change of a file's name, size or modification time, or of its identity: its real path, file key
 * (device and inode) and status-change time. The directory is watched where it resolved when the watch began (inotify
 * follows a symbolic link once), so swapping a link to a new version ({@code ln -sfn v2 policies}, git-sync's
 * {@code --link}) raises no event there and only the poll sees it; a version whose files kept the old names, sizes and
 * times ({@code tar x}, {@code rsync -a}, {@code cp -p}; a one-word edit keeps the size) was never loaded until an
 * operator's break-it pass (helper 380). Istio's file watcher compares a hash of the content (istio/istio
 * pkg/filewatcher/worker.go {@code getHashSum}); the identity serves the same end without reading every file at every
 * poll: a swap changes the real path and file key, and any write the ctime, which unlike the mtime no tool sets back.
 * After a swap the watch moves to the new target, for prompt events there.
 */
public final class DirectoryWatcher implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DirectoryWatcher.class);
    /** Quiet time before a change is read: editors and ConfigMap updates touch several files, writers pause. */
    static final Duration SETTLE = Duration.ofMillis(250);
    /** Further quiet time before a file that became empty is read as empty. */
    static final Duration EMPTIED = Duration.ofSeconds(2);

    private final Path dir;
    private final Duration poll;
    private final Runnable onChange;
    private final WatchService watchService;
    /** The directory's watch; re-registered when {@link #dir} resolves elsewhere (a swapped symbolic link). */
    private WatchKey key;
    private String watchedDir;
    private final Thread thread;
    private final Duration settle;
    private final Duration emptied;
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
        this(dir, () -> Loader.policyFiles(dir), name -> true, poll, SETTLE, EMPTIED, onChange);
    }

    /** {@link #DirectoryWatcher(Path, Duration, Runnable)} with other quiet times (tests). */
    DirectoryWatcher(Path dir, Duration poll, Duration settle, Duration emptied, Runnable onChange) throws IOException {
        this(dir, () -> Loader.policyFiles(dir), name -> true, poll, settle, emptied, onChange);
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
                n -> n.equals(name) || n.toString().startsWith(".."), poll, SETTLE, EMPTIED, onChange);
    }

    private DirectoryWatcher(Path dir, Files files, java.util.function.Predicate<Path> relevant, Duration poll, Duration settle,
                             Duration emptied, Runnable onChange) throws IOException {
        this.settle = settle;
        this.emptied = emptied;
        this.files = files;
        this.relevant = relevant;
        this.dir = dir;
        this.poll = poll;
        this.onChange = onChange;
        WatchService ws = null;
        try {
            ws = FileSystems.getDefault().newWatchService();
            key = register(ws);
            watchedDir = dirIdentity(dir);
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
                    event = drain(watchService.poll(poll.toMillis(), TimeUnit.MILLISECONDS));
                } else {
                    Thread.sleep(poll.toMillis());
                }
                if (closed) {
                    return;
                }
                String now = fingerprint();
                if (event || !now.equals(fingerprint)) {
                    String before = fingerprint;
                    now = settled(now, settle);
                    if (emptiedFile(before, now) || blankFile(before, now)) {
                        now = settled(now, emptied);
                    }
                    if (closed) {
                        return;
                    }
                    fingerprint = now;
                    rewatch();
                    onChange.run();
                }
            } catch (InterruptedException | ClosedWatchServiceException e) {
                return;
            } catch (RuntimeException e) {
                LOG.warn("policy watcher for {}: {}", dir, e.toString());
            }
        }
    }

    private WatchKey register(WatchService ws) throws IOException {
        return dir.register(ws, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE,
                StandardWatchEventKinds.ENTRY_MODIFY);
    }

    /**
     * Moves the watch to where {@link #dir} now is, when a symbolic link on its way was swapped or the directory itself
     * replaced ({@code mv policies policies.old && mv policies.new policies}, or deleted and made anew): the watch
     * follows the directory it was given, not its name.
     */
    private void rewatch() {
        String now = dirIdentity(dir);
        if (watchService == null || now == null || (now.equals(watchedDir) && key != null && key.isValid())) {
            return;
        }
        try {
            WatchKey next = register(watchService);
            if (key != null && !key.equals(next)) {
                key.cancel();
            }
            key = next;
            watchedDir = now;
            LOG.debug("policy watcher for {}: now watching {}", dir, now);
        } catch (IOException e) {
            // The poll still sees every change there, later.
            LOG.debug("policy watcher for {}: cannot watch {}: {}", dir, now, e.toString());
        }
    }

    /** The directory's real path and file key; null when it cannot be read. */
    private static String dirIdentity(Path p) {
        try {
            return p.toRealPath() + "|" + java.nio.file.Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
        } catch (IOException e) {
            return null;
        }
    }

    /** Whether {@code key} (and every key queued behind it) named a relevant file; resets them. */
    private boolean drain(WatchKey key) {
        boolean event = false;
        for (WatchKey k = key; k != null; k = watchService.poll()) {
            for (java.nio.file.WatchEvent<?> e : k.pollEvents()) {
                // OVERFLOW has no name: anything may have changed.
                event |= !(e.context() instanceof Path name) || relevant.test(name);
            }
            k.reset();
        }
        return event;
    }

    /** Waits until {@code quiet} passes with no relevant event and no change of the fingerprint; returns the fingerprint then. */
    private String settled(String now, Duration quiet) throws InterruptedException {
        while (!closed) {
            boolean event;
            if (watchService != null) {
                event = drain(watchService.poll(quiet.toMillis(), TimeUnit.MILLISECONDS));
            } else {
                Thread.sleep(quiet.toMillis());
                event = false;
            }
            String later = fingerprint();
            if (!event && later.equals(now)) {
                return now;
            }
            now = later;
        }
        return now;
    }

    /**
     * Whether a file of {@code before} has size 0 in {@code now} and had more, or is gone: {@code rm f; generate > f}
     * left the directory without its policies until the new file came (newuser22).
     */
    static boolean emptiedFile(String before, String now) {
        before = entries(before);
        now = entries(now);
        java.util.Map<String, String> sizes = new java.util.HashMap<>();
        for (String entry : before.split(";")) {
            String[] f = entry.split(":");
            if (f.length == 3) {
                sizes.put(f[0], f[1]);
            }
        }
        java.util.Set<String> present = new java.util.HashSet<>();
        for (String entry : now.split(";")) {
            String[] f = entry.split(":");
            if (f.length == 3) {
                present.add(f[0]);
                if (f[1].equals("0") && sizes.containsKey(f[0]) && !sizes.get(f[0]).equals("0")) {
                    return true;
                }
            }
        }
        return !present.containsAll(sizes.keySet());
    }

    /**
     * Whether a file whose entry changed since {@code before} (or is new) now holds bytes but no YAML document:
     * refused by the loader, like an emptied file. Only changed files are read, and only small ones.
     */
    private boolean blankFile(String before, String now) {
        java.util.Set<String> was = new java.util.HashSet<>(java.util.Arrays.asList(entries(before).split(";")));
        java.util.Set<String> is = new java.util.HashSet<>(java.util.Arrays.asList(entries(now).split(";")));
        try {
            for (Path f : files.list()) {
                String e = entry(f);
                if (is.contains(e) && !was.contains(e) && java.nio.file.Files.size(f) > 0 && java.nio.file.Files.size(f) <= 1 << 20
                        && noDocument(java.nio.file.Files.readString(f))) {
                    return true;
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            // Unreadable or not UTF-8: not a blank file; the load says what it is.
        }
        return false;
    }

    /**
     * Whether {@code text} is only comments, blank lines, directives ({@code %YAML}) and document markers ({@code ---},
     * {@code ...}): a YAML stream with no document in it.
     */
    static boolean noDocument(String text) {
        for (String line : text.replace("\uFEFF", "").split("\r?\n|\r", -1)) {
            String l = line.strip();
            if (!(l.isEmpty() || l.startsWith("#") || l.startsWith("%") || l.matches("(---|\\.\\.\\.)(\\s+#.*)?"))) {
                return false;
            }
        }
        return true;
    }

    private static String entry(Path f) throws IOException {
        return f.getFileName() + ":" + java.nio.file.Files.size(f) + ":" + java.nio.file.Files.getLastModifiedTime(f).toMillis();
    }

    /** The {@code name:size:mtime;} entries of a fingerprint, without the identities that follow them. */
    private static String entries(String fingerprint) {
        int nl = fingerprint.indexOf('\n');
        return nl < 0 ? fingerprint : fingerprint.substring(0, nl);
    }

    private static final boolean UNIX_VIEW = FileSystems.getDefault().supportedFileAttributeViews().contains("unix");

    /** {@code f}'s real path, file key and status-change time (class Javadoc): what a swap or any write changes. */
    private static String identity(Path f) {
        StringBuilder sb = new StringBuilder();
        try {
            sb.append(f.toRealPath()).append('|')
                    .append(java.nio.file.Files.readAttributes(f, java.nio.file.attribute.BasicFileAttributes.class).fileKey());
            if (UNIX_VIEW) {
                sb.append('|').append(java.nio.file.Files.getAttribute(f, "unix:ctime"));
            }
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            sb.append('|').append(e.getClass().getSimpleName());
        }
        return sb.toString();
    }

    private String fingerprint() {
        StringBuilder sb = new StringBuilder();
        StringBuilder ids = new StringBuilder();
        try {
            for (Path f : files.list()) {
                sb.append(entry(f)).append(';');
                ids.append(identity(f)).append(';');
            }
        } catch (IOException e) {
            sb.append("unreadable:").append(e.getMessage());
        }
        return sb.append('\n').append(ids).toString();
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
