package io.zerohop.identity;

import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.internal.FileWatcher;
import io.zerohop.identity.internal.ListenerSet;
import io.zerohop.identity.internal.PemFiles;
import io.zerohop.identity.internal.Svids;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One workload identity read from PEM files, as cert-manager ({@code tls.crt}, {@code tls.key},
 * {@code ca.crt}) or Vault agent write them, reloaded when they change.
 *
 * <p>Files are watched (directory WatchService) and polled as a fallback. A new set of files is
 * installed only when it is complete and valid: the chain parses and is an X.509-SVID, the key
 * belongs to the leaf, the leaf verifies against the trust bundle file, and the SPIFFE ID is the
 * one served so far. Anything else (a half-written file, a key from the previous rotation) is
 * logged with the file names and the previous identity keeps serving.
 *
 * <p>The trust bundle file may hold several roots; they form the bundle of the SVID's own trust
 * domain. Other trust domains' bundles can be added from files with
 * {@link Builder#federatedBundle(String, Path)}.
 */
public final class PemFileIdentityProvider implements IdentityProvider {
    private static final Logger log = LoggerFactory.getLogger(PemFileIdentityProvider.class);
    /** The least time between two warnings that the served SVID expired unrenewed. */
    private static final long EXPIRED_WARN_INTERVAL_MILLIS = 60_000;
    /** When the last such warning was logged (epoch milliseconds), or {@code Long.MIN_VALUE}. */
    private volatile long expiredWarnedAt = Long.MIN_VALUE;

    private final Path certFile;
    private final Path bundleFile;
    private final PemFiles files;
    private final Clock clock;
    private final Consumer<? super Exception> onReloadFailure;
    private final ListenerSet listeners = new ListenerSet();
    private final FileWatcher watcher;

    private volatile PemFiles.Material material;
    // Guarded by this: the last contents that failed, so a bad file is reported once, not every poll.
    private List<byte[]> lastFailed;

    private PemFileIdentityProvider(Builder b) {
        this.certFile = b.certFile;
        this.bundleFile = b.bundleFile;
        this.files = new PemFiles(b.certFile, b.keyFile, b.bundleFile, b.federated, b.clock);
        this.clock = b.clock;
        this.onReloadFailure = b.onReloadFailure;
        List<byte[]> contents;
        try {
            contents = files.readAll();
            this.material = files.parse(contents, null);
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("cannot load identity from " + files.files() + ": " + e.getMessage(), e);
        }
        log.info("serving {} from {} (valid until {})", material.svid().getSpiffeId(), certFile,
                material.svid().getLeaf().getNotAfter().toInstant());
        Set<Path> dirs = new LinkedHashSet<>();
        for (Path p : files.allFiles()) {
            dirs.add(p.toAbsolutePath().getParent());
        }
        this.watcher = new FileWatcher("zerohop-pem-watch", dirs, b.watch, b.pollInterval, b.settle, this::reloadQuietly);
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * The layout of a cert-manager {@code Certificate} secret mounted at {@code dir}:
     * {@code tls.crt}, {@code tls.key}, {@code ca.crt}; default reload settings.
     */
    public static PemFileIdentityProvider certManager(Path dir) {
        return builder().directory(dir).build();
    }

    /** The SVID in force now. */
    public X509Svid current() {
        return material.svid();
    }

    /**
     * Reads the files now and installs them if they changed and are valid; the watcher calls this
     * on its own. Returns {@code true} when new material was installed (listeners have been told),
     * {@code false} when the files hold what is already served.
     *
     * @throws IOException if a file cannot be read; the previous identity keeps serving
     * @throws GeneralSecurityException if the files are not a valid identity (the message says
     *     which and why); the previous identity keeps serving
     */
    public synchronized boolean reload() throws IOException, GeneralSecurityException {
        PemFiles.Material old = material;
        List<byte[]> contents = files.readAll();
        if (PemFiles.sameContents(contents, old.contents())) {
            lastFailed = null;
            return false;
        }
        PemFiles.Material fresh = files.parse(contents, old.svid().getSpiffeId());
        material = fresh;
        lastFailed = null;
        boolean svidChanged = !Svids.sameChain(old.svid(), fresh.svid());
        boolean bundlesChanged = !old.bundles().equals(fresh.bundles());
        if (svidChanged) {
            log.info("reloaded {} from {} (valid until {})", fresh.svid().getSpiffeId(), certFile,
                    fresh.svid().getLeaf().getNotAfter().toInstant());
        }
        if (bundlesChanged) {
            log.info("reloaded trust bundles from {}: {}", bundleFile, fresh.bundles().getBundles().keySet());
            listeners.bundlesChanged(fresh.bundles());
        }
        if (svidChanged) {
            listeners.svidRotated(fresh.svid());
        }
        return svidChanged || bundlesChanged;
    }

    private synchronized void reloadQuietly() {
        List<byte[]> before = lastFailed;
        try {
            reload();
        } catch (IOException | GeneralSecurityException e) {
            List<byte[]> now;
            try {
                now = files.readAll();
            } catch (IOException io) {
                now = null;
            }
            if (before == null || now == null || !PemFiles.sameContents(before, now)) {
                log.warn("not reloading identity from {}: {}; still serving {} (valid until {})", files.files(), e.getMessage(),
                        material.svid().getSpiffeId(), material.svid().getLeaf().getNotAfter().toInstant());
                if (onReloadFailure != null) {
                    try {
                        onReloadFailure.accept(e);
                    } catch (RuntimeException cb) {
                        log.warn("onReloadFailure callback failed: {}", cb.toString(), cb);
                    }
                }
            }
            lastFailed = now;
        }
    }

    // ---- IdentityProvider ----

    @Override
    public Optional<SpiffeId> defaultIdentity() {
        return Optional.of(material.svid().getSpiffeId());
    }

    /**
     * What {@link #svid} answers from the files' last good contents, {@code Available} or {@code Unavailable}, without its
     * WARN for an expired SVID (reading {@code /config_dump} is not a connection refused).
     */
    @Override
    public Optional<CertificateState> certificateState(SpiffeId id) {
        return Optional.of(CertificateState.of(answer(id, false)));
    }

    @Override
    public CompletableFuture<X509Svid> svid(SpiffeId id) {
        return answer(id, true);
    }

    private CompletableFuture<X509Svid> answer(SpiffeId id, boolean warn) {
        Objects.requireNonNull(id, "id must not be null");
        X509Svid svid = material.svid();
        if (!svid.getSpiffeId().equals(id)) {
            return CompletableFuture.failedFuture(new IllegalArgumentException(
                    "no SVID for " + id + ": the PEM files at " + certFile + " hold only " + svid.getSpiffeId()));
        }
        // As SpireIdentityProvider and ztunnel's certificate manager (src/identity/manager.rs: a certificate is kept until
        // it expires, not after): an expired one handed out failed every handshake at the peer ("certificate expired")
        // while this proxy served it, rebuilt a TLS context for it at each handshake and logged nothing (a new-user pass).
        Instant notAfter = svid.getLeaf().getNotAfter().toInstant();
        Instant now = clock.instant();
        if (now.isAfter(notAfter)) {
            IllegalStateException expired = new IllegalStateException("no SVID for " + id + ": the one in " + certFile
                    + " expired at " + notAfter + " and the files have not been renewed (they are read again when they change)");
            // Said where an operator looks, at most once a minute: each refused handshake is otherwise only an access
            // line at INFO, and readiness stays green (as ztunnel's, which warns at each retry of its fetch,
            // src/identity/manager.rs "certificate fetch failed ... and no valid existing certificate"; a lifecycle
            // pass, helper 231).
            long last = expiredWarnedAt;
            if (warn && (last == Long.MIN_VALUE || now.toEpochMilli() - last >= EXPIRED_WARN_INTERVAL_MILLIS)) {
                expiredWarnedAt = now.toEpochMilli();
                log.warn("{}; every new connection of {} fails until they are (said at most once a minute)", expired.getMessage(), id);
            }
            return CompletableFuture.failedFuture(expired);
        }
        return CompletableFuture.completedFuture(svid);
    }

    @Override
    public X509BundleSet bundles() {
        return material.bundles();
    }

    @Override
    public void addListener(IdentityListener listener) {
        listeners.add(listener);
    }

    @Override
    public void removeListener(IdentityListener listener) {
        listeners.remove(listener);
    }

    @Override
    public void close() {
        watcher.close();
        listeners.clear();
    }

    public static final class Builder {
        private Path certFile;
        private Path keyFile;
        private Path bundleFile;
        private final Map<TrustDomain, Path> federated = new LinkedHashMap<>();
        private boolean watch = true;
        private Duration pollInterval = Duration.ofSeconds(30);
        private Duration settle = Duration.ofMillis(100);
        private Clock clock = Clock.systemUTC();
        private Consumer<? super Exception> onReloadFailure;

        private Builder() {}

        /** cert-manager's names in {@code dir}: {@code tls.crt}, {@code tls.key}, {@code ca.crt}. */
        public Builder directory(Path dir) {
            Objects.requireNonNull(dir, "dir");
            return certificateChain(dir.resolve("tls.crt")).privateKey(dir.resolve("tls.key")).trustBundle(dir.resolve("ca.crt"));
        }

        /** The leaf certificate followed by any intermediates (PEM). */
        public Builder certificateChain(Path file) {
            this.certFile = Objects.requireNonNull(file, "certificateChain");
            return this;
        }

        /** The leaf's private key: PKCS#8, SEC1 (EC) or PKCS#1 (RSA) PEM. */
        public Builder privateKey(Path file) {
            this.keyFile = Objects.requireNonNull(file, "privateKey");
            return this;
        }

        /** Roots (one or more, PEM) of the SVID's own trust domain. */
        public Builder trustBundle(Path file) {
            this.bundleFile = Objects.requireNonNull(file, "trustBundle");
            return this;
        }

        /**
         * Roots (one or more, PEM) of another trust domain to trust too (SPIFFE federation), reloaded like the rest.
         * {@code trustDomain} is the name alone in canonical form ({@code partner.example}), as
         * {@link SpiffeIds#trustDomain}, {@link InMemoryCa} and {@code Mesh.Builder.trustDomain} take it.
         *
         * @throws IllegalArgumentException {@code invalid trust domain "NAME": REASON} for a null name, upper case
         *                                  ({@code Partner.Example}), a {@code spiffe://} prefix or a path, or characters a
         *                                  trust domain cannot hold
         * @throws NullPointerException     when {@code file} is null
         */
        public Builder federatedBundle(String trustDomain, Path file) {
            // SpiffeIds' canonical check, not java-spiffe's TrustDomain.parse: that folded "Partner.Example" to lower case
            // and took "spiffe://partner.example", names the rest of the mesh refuses (a new-user pass).
            TrustDomain td = SpiffeIds.trustDomain(trustDomain);
            federated.put(td, Objects.requireNonNull(file, "file"));
            return this;
        }

        /** Watch the files' directories for changes (default on); polling runs either way. */
        public Builder watch(boolean on) {
            this.watch = on;
            return this;
        }

        /** How often the files are re-read when no change event arrives (default 30 s). */
        public Builder pollInterval(Duration interval) {
            this.pollInterval = positive("pollInterval", interval);
            return this;
        }

        /** After a change event, how long the files must stay quiet before they are read (default 100 ms). */
        public Builder settleTime(Duration settle) {
            Objects.requireNonNull(settle, "settleTime");
            if (settle.isNegative()) {
                throw new IllegalArgumentException("settleTime must not be negative, got " + settle);
            }
            this.settle = settle;
            return this;
        }

        /** The clock the leaf's validity is checked against on load, and when {@link #svid} hands it out. */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * Told why, each time changed files fail to load in the background (for health checks and
         * metrics); the previous identity keeps serving.
         */
        public Builder onReloadFailure(Consumer<? super Exception> callback) {
            this.onReloadFailure = callback;
            return this;
        }

        /**
         * Reads and checks the files and starts watching them.
         *
         * @throws IllegalStateException if the files are missing or not a valid identity, saying which and why
         */
        public PemFileIdentityProvider build() {
            List<String> missing = new ArrayList<>();
            if (certFile == null) {
                missing.add("certificateChain");
            }
            if (keyFile == null) {
                missing.add("privateKey");
            }
            if (bundleFile == null) {
                missing.add("trustBundle");
            }
            if (!missing.isEmpty()) {
                throw new IllegalStateException("PemFileIdentityProvider needs " + String.join(", ", missing)
                        + " (or directory(dir) for cert-manager's tls.crt, tls.key, ca.crt)");
            }
            return new PemFileIdentityProvider(this);
        }

        private static Duration positive(String what, Duration d) {
            Objects.requireNonNull(d, what);
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + " must be positive, got " + io.zerohop.identity.internal.HumanText.duration(d));
            }
            return d;
        }
    }
}
