package io.zerohop.identity;

import io.zerohop.identity.internal.Crls;
import io.zerohop.identity.internal.FileWatcher;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.cert.X509CRL;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Certificate revocation lists read from one file and enforced on mesh TLS in both directions, as ztunnel's
 * {@code CRL_PATH} (istio/ztunnel {@code src/tls/crl.rs} {@code CrlManager}, {@code src/config.rs}).
 *
 * <p>The file holds PEM {@code X509 CRL} blocks (several CRLs, of several issuers, concatenated; other PEM items are
 * skipped) or one DER CRL; an empty file, or one without a CRL block, revokes nothing. It is parsed once per change,
 * never per handshake: the handshakes read the set in force ({@link MeshTls.Builder#crl}). What a CRL revokes and
 * which CRL applies are webpki's rules under ztunnel's options (every certificate of the path but the trust anchor,
 * the CRL of its issuer, unknown status allowed, an expired CRL still applied; {@code internal.Crls}).
 *
 * <p>As ztunnel: a file missing at start is a warning and nothing is revoked until it appears ({@code CrlManager::new}
 * "crl file not found, will retry"); a file that does not parse at start is an error ({@link Builder#build} throws,
 * naming the file and the CRL); a change that does not parse on reload leaves the previous CRLs in force (ztunnel's
 * watcher logs {@code failed to reload crl} at debug and keeps its set; logged here at WARN, once per bad content).
 * The file's directory is watched (a Kubernetes ConfigMap or Secret volume swaps its {@code ..data} symlink, which a
 * watch on the file would miss: ztunnel watches the parent with notify's {@code FileIdMap} for the same reason) and
 * polled as a fallback. After each reload the listeners run ({@link MeshTls} re-checks its live connections and
 * closes those whose peer is now revoked, as ztunnel's {@code RevocationIndex::navigate}).
 */
public final class CrlFile implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CrlFile.class);

    private final Path path;
    private final FileWatcher watcher;
    private final CopyOnWriteArrayList<Runnable> listeners = new CopyOnWriteArrayList<>();
    private volatile Crls crls;
    // Guarded by this: what was last read (null: missing), and the last content that failed, reported once.
    private byte[] lastContent;
    private byte[] lastFailed;

    private CrlFile(Builder b) {
        this.path = b.path;
        byte[] data = read(path);
        if (data == null) {
            log.warn("CRL file {} not found; no certificate is revoked until it appears (ztunnel: crl file not found, will retry)", path);
            crls = Crls.NONE;
        } else {
            crls = Crls.parse(data, "CRL file " + path);
            log.info("loaded {} CRL(s) from {}", crls.size(), path);
            warnIfNoCrlBlock(crls);
        }
        lastContent = data;
        Path dir = path.toAbsolutePath().getParent();
        this.watcher = new FileWatcher("zerohop-crl-watch", Set.of(dir), b.watch, b.pollInterval, b.settle, this::reloadQuietly);
    }

    /**
     * ztunnel reads a PEM file without a CRL block as "no revocations" (a debug line), and so does zerohop; but a file of
     * only certificates or keys is almost always the wrong file (the CA's certificate given for its CRL), and the operator
     * would believe revocation is on.
     */
    private void warnIfNoCrlBlock(Crls read) {
        if (read.size() == 0 && !read.otherPemBlocks().isEmpty()) {
            log.warn("CRL file {} holds no X509 CRL block, only {}: nothing is revoked (is it the right file?)", path,
                    read.otherPemBlocks());
        }
    }

    /** Reads {@code path} with default reload settings. */
    public static CrlFile load(Path path) {
        return builder(path).build();
    }

    public static Builder builder(Path path) {
        return new Builder(path);
    }

    /** The file read. */
    public Path path() {
        return path;
    }

    /**
     * The CRLs in force, in file order (empty when the file is missing or holds none); one list object per reload, so
     * its identity tells whether the CRLs changed between two reads.
     */
    public List<X509CRL> crls() {
        return crls.crls();
    }

    /** The parsed set in force, for the verifier. */
    Crls current() {
        return crls;
    }

    /** Runs {@code listener} on the watcher thread after each reload that changed the CRLs in force. */
    public void addListener(Runnable listener) {
        listeners.add(Objects.requireNonNull(listener, "listener"));
    }

    public void removeListener(Runnable listener) {
        listeners.remove(listener);
    }

    /**
     * Reads the file now and installs its CRLs when they changed; the watcher calls this on its own.
     *
     * @return true when new CRLs were installed (listeners have run)
     * @throws IllegalArgumentException naming the file and the CRL when the content does not parse; the previous CRLs
     *     stay in force
     */
    public boolean reload() {
        synchronized (this) {
            byte[] data = read(path);
            if (Arrays.equals(data, lastContent)) {
                return false;
            }
            if (data == null) {
                // ztunnel's load fails on a missing file (IoError) and keeps the set it had; so does this.
                log.warn("CRL file {} disappeared; the {} CRL(s) read before stay in force", path, crls.size());
                lastContent = null;
                return false;
            }
            Crls fresh;
            try {
                fresh = Crls.parse(data, "CRL file " + path);
            } catch (IllegalArgumentException e) {
                if (!Arrays.equals(data, lastFailed)) {
                    lastFailed = data;
                    log.warn("{}; the {} CRL(s) read before stay in force", e.getMessage(), crls.size());
                }
                throw e;
            }
            crls = fresh;
            lastContent = data;
            lastFailed = null;
            log.info("reloaded {} CRL(s) from {}", fresh.size(), path);
            warnIfNoCrlBlock(fresh);
        }
        for (Runnable l : listeners) {
            try {
                l.run();
            } catch (RuntimeException e) {
                log.warn("CRL listener {} failed: {}", l, e.toString(), e);
            }
        }
        return true;
    }

    private void reloadQuietly() {
        try {
            reload();
        } catch (IllegalArgumentException e) {
            // logged in reload
        }
    }

    private static byte[] read(Path path) {
        try {
            return Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new IllegalArgumentException("CRL file " + path + " cannot be read: " + e, e);
        }
    }

    /** Stops watching the file; the CRLs read stay in force for whoever holds them. */
    @Override
    public void close() {
        watcher.close();
    }

    public static final class Builder {
        private final Path path;
        private boolean watch = true;
        private Duration pollInterval = Duration.ofSeconds(30);
        private Duration settle = Duration.ofMillis(100);

        private Builder(Path path) {
            this.path = Objects.requireNonNull(path, "path");
        }

        /** Watch the directory for changes (default on); polling runs either way. */
        public Builder watch(boolean on) {
            this.watch = on;
            return this;
        }

        /** How often the file is read regardless of events (default 30 s). */
        public Builder pollInterval(Duration interval) {
            Objects.requireNonNull(interval, "pollInterval");
            if (interval.isNegative() || interval.isZero()) {
                throw new IllegalArgumentException("pollInterval must be positive, got " + interval);
            }
            this.pollInterval = interval;
            return this;
        }

        /** After a change event, how long the directory must stay quiet before the file is read (default 100 ms). */
        public Builder settleTime(Duration settle) {
            Objects.requireNonNull(settle, "settleTime");
            if (settle.isNegative()) {
                throw new IllegalArgumentException("settleTime must not be negative, got " + settle);
            }
            this.settle = settle;
            return this;
        }

        /**
         * Reads the file and starts watching it.
         *
         * @throws IllegalArgumentException naming the file and what is wrong, when it exists and does not parse as CRLs
         *     (ztunnel fails to start its CRL manager for the same content), or cannot be read
         */
        public CrlFile build() {
            return new CrlFile(this);
        }
    }
}
