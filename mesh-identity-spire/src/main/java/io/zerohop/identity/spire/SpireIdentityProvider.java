package io.zerohop.identity.spire;

import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.exception.SocketEndpointAddressException;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.workloadapi.Address;
import io.spiffe.workloadapi.DefaultWorkloadApiClient;
import io.spiffe.workloadapi.Watcher;
import io.spiffe.workloadapi.WorkloadApiClient;
import io.spiffe.workloadapi.X509Context;
import io.zerohop.identity.CertificateState;
import io.zerohop.identity.IdentityListener;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.identity.SvidKeyMismatchException;
import io.zerohop.identity.internal.ListenerSet;
import io.zerohop.identity.internal.Svids;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The SPIRE agent's Workload API (any SPIFFE Workload API server) over its Unix socket, through
 * java-spiffe's {@link WorkloadApiClient}: the X.509 context stream delivers SVIDs and bundles as
 * the agent rotates them, and each change becomes an {@link IdentityListener} event.
 *
 * <p>A workload may be given several SVIDs; all of them are served, and the default identity is
 * the first one (the Workload API's default) unless {@link Builder#spiffeId} picks another.
 *
 * <p>Each update is the whole truth (SPIFFE Workload API, 4.3 "Stream Responses" and 4.4: every
 * response carries the full set, and what it leaves out is redacted): its bundles replace the
 * trusted ones, and an SVID it no longer carries, the {@link Builder#spiffeId pinned} one included,
 * stops being served, listeners hearing {@link IdentityListener#svidForgotten}. java-spiffe's
 * {@code DefaultX509Source.setX509Context} likewise installs each update's SVID and bundle set
 * together, and Cilium's {@code SpireDelegateClient.handleX509SVIDUpdate} replaces its SVID store
 * with each update's. A PERMISSION_DENIED answer (SPIRE's once the workload's registration
 * entries are deleted) withdraws every SVID (5.2.1: the client SHOULD cease using them) and keeps
 * the bundles until the next response; an SVID past its notAfter is never handed out.
 *
 * <p>Reconnection after a failure is java-spiffe's (PERMISSION_DENIED included), on go-spiffe's
 * back-off ({@link GoSpiffeBackoff}: 1 s, 1 s more after each failed attempt, at most 30 s, reset by
 * each update; spiffe/go-spiffe v2 workloadapi/backoff.go); a stream the server ends with status
 * OK, which java-spiffe 0.8.17 only logs, is reopened here with the same back-off (4.2: the client SHOULD establish a new connection), as
 * go-spiffe's {@code Client.WatchX509Context} retries every end of a watch but cancellation and
 * INVALID_ARGUMENT ({@code handleWatchError}). Until a new context arrives the last one keeps
 * serving, within the limits above.
 *
 * <p>Each failed attempt (no agent behind the socket, the agent refusing the workload, the stream
 * dropped) is one WARN line naming the address, the cause and the delay before the next attempt,
 * as ztunnel reports a failed certificate fetch (src/identity/manager.rs: "certificate fetch failed
 * (...) and no valid existing certificate; will retry in ... (backoff capped at ...)"); the stack
 * trace only at DEBUG. java-spiffe's own per-attempt SEVERE records with stack traces are taken
 * over ({@link JulRetryLog}). The attempts never stop: go-spiffe's back-off (1 s, 2 s, 3 s, ... at
 * most 30 s, unlimited attempts; until 6 December java-spiffe's default, 1 s doubling to 60 s) is
 * passed to java-spiffe explicitly, so the delays logged are the ones in force.
 */
public final class SpireIdentityProvider implements IdentityProvider {
    private static final Logger log = LoggerFactory.getLogger(SpireIdentityProvider.class);

    /**
     * What is served. {@code svids}: the latest update's SVIDs (for one whose key did not match its
     * certificate, the last good one of that ID), none after PERMISSION_DENIED. {@code gone}: why an
     * ID served before, or the pinned default, is not served now, for {@link #svid}'s failure.
     * {@code mismatched}: the IDs whose SVID in the latest update had a key that does not match its
     * certificate, with that failure ({@link SvidKeyMismatchException}), the cause of {@link #svid}'s.
     */
    private record State(Map<SpiffeId, X509Svid> svids, SpiffeId defaultId, X509BundleSet bundles, Map<SpiffeId, String> gone,
            Map<SpiffeId, GeneralSecurityException> mismatched) {}

    /** go-spiffe's back-off, given to java-spiffe's client: the logged delays ({@link GoSpiffeBackoff#delay}) are the ones in force. */
    private static final GoSpiffeBackoff BACKOFF = new GoSpiffeBackoff();

    private final String address;
    private final SpiffeId wanted;
    /**
     * java-spiffe's client, and its callback executor ({@link JulRetryLog}'s threads: a reopened watch starts there, so
     * its records are this provider's). Replaced by each reopening ({@link #reopen}), under this provider's lock.
     */
    private volatile WorkloadApiClient client;
    private volatile Executor executor;
    /** What "now" is for SVID expiry ({@link #svid}, the WARN lines) and the WARN budgets: the system clock, a test's own in tests. */
    private final java.time.Clock clock;
    /** One budget per kind of WARN line the agent causes with each update it sends ({@link WarnBudget}). */
    private final WarnBudget expiredWarns;
    private final WarnBudget defaultWarns;
    private final WarnBudget mismatchWarns;
    private final ListenerSet listeners = new ListenerSet();
    private final CompletableFuture<SpireIdentityProvider> ready = new CompletableFuture<>();
    private final Watcher<X509Context> watcher = new Watcher<>() {
        @Override
        public void onUpdate(X509Context context) {
            update(context);
        }

        @Override
        public void onError(Throwable error) {
            // java-spiffe only gets here once it gives up (INVALID_ARGUMENT, retries exhausted) or
            // for an update it could not parse; either way the last good context keeps serving
            // (its SVIDs until their notAfter: svid()).
            String why = describe(error);
            if (!ready.isDone() && isRefusedUpdate(error)) {
                // Its StreamObservers.onNext could not make a context of a response and keeps the stream open: the
                // agent's next update may be good. go-spiffe's X509Source waits for one (watcher.OnX509ContextWatchError
                // does nothing; Client.watchX509Context goes on to the next message); failing here failed the build
                // for good and closed the provider (zerohop proxy --spire-socket exited; helper 264).
                refused(why, error);
                log.warn("Workload API at {}: {}; no SVID yet; waiting for its next update", address, why);
                if (log.isDebugEnabled()) {
                    log.debug("Workload API at " + address + ": update refused", error);
                }
                return;
            }
            if (ready.completeExceptionally(new IllegalStateException(
                    "Workload API at " + address + " gave no X.509 context: " + why, error))) {
                return;
            }
            if (!closed) {
                log.warn("Workload API at {}: {}; {}", address, why, serving(state));
                if (log.isDebugEnabled()) {
                    log.debug("Workload API at " + address + ": " + why, error);
                }
            }
        }
    };
    private volatile State state;
    private volatile boolean closed;
    /**
     * Why the latest update before the first context was refused (java-spiffe could not make a context of it, or an SVID's
     * key does not match its certificate), for the build's timeout message, and the refusal itself, that message's
     * exception's cause; both null once a context is installed. Set together ({@link #refused}).
     */
    private volatile RefusedUpdate refusedUpdate;

    /**
     * An update refused before the first context: what the timeout says and the error itself, which go-spiffe's
     * {@code Client.watchX509Context} hands the watcher ({@code OnX509ContextWatchError(err)}) after logging it ("Failed to
     * parse X509-SVID response: %v"). Until helper 345 (7 December) only the text was kept and {@code build()}'s timeout
     * had no cause: the {@code SvidKeyMismatchException} or java-spiffe's {@code X509ContextException} (with the
     * certificate parser's error under it) was lost.
     */
    private record RefusedUpdate(String why, Throwable cause) {}

    private void refused(String why, Throwable cause) {
        refusedUpdate = new RefusedUpdate(why, cause);
    }

    /** Why the attempts before the first context were cancelled ({@link #cancelled}), for the build's timeout message; else null. */
    private volatile String unreadable;
    /** Failed attempts since the last context, as java-spiffe's RetryHandler counts them (reset on each update). */
    private int failures;
    /** A failure record was reported and java-spiffe's retry record for it has not come yet (see {@link #cancelled}). */
    private boolean failureReported;
    /** Streams the server ended with status OK since the last context: the reopening back-off's count (reset on each update). */
    private int reopens;

    private SpireIdentityProvider(String address, SpiffeId wanted, WorkloadApiClient client, Executor executor, java.time.Clock clock) {
        this.address = address;
        this.wanted = wanted;
        this.client = client;
        this.executor = executor;
        this.clock = clock;
        this.expiredWarns = new WarnBudget(clock);
        this.defaultWarns = new WarnBudget(clock);
        this.mismatchWarns = new WarnBudget(clock);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The Workload API address in use, e.g. {@code unix:/run/spire/sockets/agent.sock}. */
    public String address() {
        return address;
    }

    private void start() {
        client.watchX509Context(watcher);
    }

    /**
     * One of java-spiffe's log records from this provider's threads: a failed attempt (SEVERE with
     * the gRPC error) becomes one WARN line, and on PERMISSION_DENIED withdraws the SVIDs; the end
     * of the stream with status OK reopens it; the rest (its "retrying", "client is closed") go to
     * DEBUG.
     */
    private void julRecord(java.util.logging.LogRecord r) {
        if (JulRetryLog.isStreamCompleted(r)) {
            streamCompleted();
            return;
        }
        if (JulRetryLog.isRetrying(r)) {
            boolean reported;
            synchronized (this) {
                reported = failureReported;
                failureReported = false;
            }
            if (!reported) {
                cancelled();
            }
            log.debug("java-spiffe: {}", r.getMessage());
            return;
        }
        if (!JulRetryLog.isFailure(r)) {
            if (r.getThrown() != null && !closed) {
                // gRPC's "Exception thrown by onClose()" while open: a java-spiffe failure worth a line, not a stack trace.
                log.warn("Workload API at {}: java-spiffe: {}: {}", address, r.getMessage(), describe(r.getThrown()));
            } else {
                log.debug("java-spiffe: {}", r.getMessage(), r.getThrown());
            }
            return;
        }
        Throwable t = r.getThrown();
        String cause = describeFailure(t);
        if (closed) {
            log.debug("Workload API at {}: {} (closed)", address, cause);
            return;
        }
        if (cause.startsWith("INVALID_ARGUMENT")) {
            // Not retried by java-spiffe (StreamObservers.isErrorNotRetryable): onError reports it.
            log.debug("Workload API at {}: {}", address, cause, t);
            return;
        }
        int n;
        State s;
        List<SpiffeId> withdrawn = List.of();
        synchronized (this) {
            n = ++failures;
            failureReported = true;
            s = state;
            if (cause.startsWith("PERMISSION_DENIED") && s != null && !s.svids().isEmpty()) {
                // SPIRE answers so once the workload's registration entries are deleted, on the open stream too;
                // SPIFFE Workload API 5.2.1: the client SHOULD cease using the SVIDs. java-spiffe 0.8.17 retries
                // it (wanted: the entry may come back) without telling the watcher, so this record is the only sign.
                // The bundles stay: 5.2.1 withdraws the SVIDs, and the next response replaces the bundles anyway.
                withdrawn = List.copyOf(s.svids().keySet());
                Map<SpiffeId, String> gone = new LinkedHashMap<>(s.gone());
                String why = "the Workload API at " + address + " answered " + cause
                        + ": the agent gives this workload no identity any more (SPIRE: its registration entries were deleted),"
                        + " so its SVIDs are no longer served";
                withdrawn.forEach(id -> gone.put(id, why));
                s = new State(Map.of(), s.defaultId(), s.bundles(), Map.copyOf(gone), Map.of());
                state = s;
                withdrawn.forEach(listeners::svidForgotten);
            }
        }
        // RetryHandler.scheduleRetry: the first retry waits the initial delay, each next one GoSpiffeBackoff.nextDelay of the last.
        long seconds = GoSpiffeBackoff.delay(n).toSeconds();
        String serving = withdrawn.isEmpty() ? serving(s) : "stopped serving the SVIDs " + withdrawn
                + " (the agent gives this workload no identity any more; SPIRE answers so once its registration entries"
                + " are deleted); the bundles stay until its next response";
        log.warn("Workload API at {}: {} (attempt {}); {}; next try in {}s ({})",
                address, t != null && t.getCause() != null ? unreachable(cause, address) : cause, n, serving, seconds, GoSpiffeBackoff.describe());
        if (log.isDebugEnabled()) {
            log.debug("Workload API at " + address + ": attempt " + n + " failed", t);
        }
    }

    /**
     * A retry java-spiffe scheduled without a failure record: the stream ended with CANCELLED, which its
     * {@code StreamObservers.onError} does not log. Once open, that is grpc-java's {@code ClientCallImpl}
     * cancelling the call because a response could not be read: bytes that are no {@code X509SVIDResponse},
     * or a field java-spiffe 0.8.17's {@code GrpcConversionUtils} fails on with an unchecked exception (a
     * federated bundle keyed by something that is no trust domain, a {@code spiffe_id} with trailing
     * blanks), which escapes its {@code onNext}; or the server cancelled the call. java-spiffe retries it
     * with the same back-off, and the same response comes again: until 6 December that loop said nothing,
     * not even at WARN, the attempt count ({@link #failedAttempts}) and the delays the next lines named
     * went out of step with java-spiffe's, and {@code build()}'s timeout asked whether the agent was
     * running. go-spiffe logs both ({@code Client.watchX509Context}: "Failed to parse X509-SVID response";
     * {@code handleWatchError}: "Failed to watch the Workload API" for the INTERNAL of an unreadable message).
     */
    private void cancelled() {
        if (closed) {
            log.debug("Workload API at {}: stream cancelled (closed)", address);
            return;
        }
        int n;
        State s;
        synchronized (this) {
            n = ++failures;
            s = state;
        }
        unreadable = CANCELLED;
        log.warn("Workload API at {}: {} (attempt {}); {}; next try in {}s ({})", address, CANCELLED, n, serving(s),
                GoSpiffeBackoff.delay(n).toSeconds(), GoSpiffeBackoff.describe());
    }

    /** What {@link #cancelled} reports: the causes a CANCELLED stream has, java-spiffe giving none. */
    static final String CANCELLED = "CANCELLED: the X.509 context stream was cancelled without a cause java-spiffe reports:"
            + " a response it could not read (no X509SVIDResponse, or a field it cannot parse, such as a federated bundle"
            + " keyed by no trust domain), or the server cancelled the call";

    /**
     * The server ended the X.509 context stream with status OK (a server stopping gracefully, or one
     * that ends streams on its own). java-spiffe 0.8.17's {@code StreamObservers.onCompleted} closes
     * the watch and logs at INFO, nothing more, so no update would ever arrive again. SPIFFE Workload
     * API 4.2: the client SHOULD establish a new connection; go-spiffe's {@code WatchX509Context}
     * retries an ended stream like a failed one, with its back-off reset by each message. So: a new
     * watch after the same back-off as the retries ({@link GoSpiffeBackoff}), the count reset by each update.
     */
    private void streamCompleted() {
        if (closed) {
            log.debug("Workload API at {}: stream completed (closed)", address);
            return;
        }
        int n;
        synchronized (this) {
            n = ++reopens;
        }
        long seconds = GoSpiffeBackoff.delay(n).toSeconds();
        log.warn("Workload API at {} ended the X.509 context stream (status OK); {}; reopening it in {}s ({})",
                address, serving(state), seconds, GoSpiffeBackoff.describe());
        CompletableFuture.delayedExecutor(seconds, TimeUnit.SECONDS, executor).execute(this::reopen);
    }

    private void reopen() {
        // Under the lock close() takes first: no watch starts on a client being closed.
        synchronized (this) {
            if (closed) {
                return;
            }
            failures = 0; // the new watch has a RetryHandler of its own, counting from the first delay again
            failureReported = false;
            // On a client of its own: java-spiffe 0.8.17's DefaultWorkloadApiClient.watchX509Context adds each watch's
            // CancellableContext to a list only its close() empties, so a watch reopened on the same client left one behind
            // for good (an agent ending the stream every second: ~86,000 a day). The last client, whose stream has ended,
            // is closed instead, and the list goes with it. No java-spiffe code is copied or patched.
            WorkloadApiClient old = client;
            try {
                java.util.concurrent.ExecutorService fresh = JulRetryLog.executor("zerohop-spire", this::julRecord);
                try {
                    client = newClient(address, fresh);
                } catch (SocketEndpointAddressException | RuntimeException e) {
                    fresh.shutdown();
                    throw e;
                }
                executor = fresh;
            } catch (SocketEndpointAddressException | RuntimeException e) {
                // The address was taken once; should a new client fail all the same, the watch reopens on the last one.
                log.debug("Workload API at {}: a new client for the reopened stream failed ({}); reopening on the last one", address, e.toString());
            }
            try {
                client.watchX509Context(watcher);
            } catch (RuntimeException e) {
                log.warn("Workload API at {}: cannot reopen the X.509 context stream: {}", address, e.toString());
            }
            if (client != old) {
                closeClient(old);
            }
        }
    }

    /**
     * A gRPC failure on one line: the status ({@code UNAVAILABLE: io exception}) and what the
     * socket said, e.g. {@code no such file} (Netty's native connect maps ENOENT to a
     * FileNotFoundException without a message) or {@code Connection refused}.
     */
    static String describeFailure(Throwable t) {
        String top = t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        if (root == t) {
            return top;
        }
        String why = root.getMessage();
        if (why == null) {
            why = root instanceof java.io.FileNotFoundException ? "no such file" : root.getClass().getSimpleName();
        }
        why = why.replaceFirst("^\\w+\\(\\.\\.\\) failed(?: with error\\(-?\\d+\\))?: ", "");
        return top.endsWith(why) ? top : top + ": " + why;
    }

    /**
     * What a failed attempt's WARN line says happened: for an UNAVAILABLE of the transport (a socket error under it, not
     * a status the agent sent), that the agent is unreachable, with gRPC's error
     * and what the socket is now. While gRPC's channel backs off after a failed connect (grpc-java's
     * {@code InternalSubchannel}: 1 s, x1.6, up to 120 s; grpc-go's {@code backoff.DefaultConfig} for go-spiffe alike),
     * every call on it fails at once with the error of its last connect, so "no such file" is repeated after the agent's
     * socket is back, until that back-off lets the channel dial again; the line then says the socket is there and why the
     * attempt failed all the same (helper 407, 7 December: it repeated "no such file" with nothing more). The back-off is
     * gRPC's own and is reset by a connection that succeeds ({@code InternalSubchannel.TransportListener.transportReady}
     * clears its {@code reconnectPolicy}), so an agent that served the stream again starts the next outage at 1 s.
     */
    static String unreachable(String cause, String address) {
        if (!cause.startsWith("UNAVAILABLE")) {
            return cause;
        }
        java.nio.file.Path socket = unixSocket(address);
        String where = "";
        if (socket != null && cause.endsWith("no such file")) {
            where = java.nio.file.Files.exists(socket)
                    ? "; the socket " + socket + " is there now: gRPC's channel repeats its last connect error until its own connect"
                            + " back-off (1s growing x1.6 up to 120s, reset by a connection that succeeds) lets it dial again"
                    : ": no socket at " + socket;
        }
        return "the agent is unreachable (" + cause + where + ")";
    }

    /** The file of a {@code unix:} address, else null. */
    private static java.nio.file.Path unixSocket(String address) {
        if (!address.startsWith("unix:")) {
            return null;
        }
        try {
            String path = java.net.URI.create(address).getPath();
            return path == null || path.isEmpty() ? null : java.nio.file.Path.of(path);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /**
     * java-spiffe 0.8.17's {@code StreamObservers} calls the watcher's {@code onError} with
     * {@code "Error processing X.509 Context update"} for a response it could not turn into a context
     * (the stream stays open), and with {@code "Cancelling X.509 Context watch"} when it gives up.
     */
    static boolean isRefusedUpdate(Throwable error) {
        return error.getMessage() != null && error.getMessage().startsWith("Error processing X.509 Context update");
    }

    /**
     * No attempt has failed and no stream has ended since the last context: before the first, the
     * endpoint holds the call without answering, which SPIRE's agent never does (it answers at once, or
     * refuses an unregistered workload with PERMISSION_DENIED), so {@code build()}'s timeout does not
     * ask whether the agent runs.
     */
    synchronized boolean nothingEnded() {
        return failures == 0 && reopens == 0;
    }

    /** The java-spiffe client in use (tests: what it holds). */
    WorkloadApiClient client() {
        return client;
    }

    /** Failed attempts since the last context (for tests: the count the WARN lines show). */
    synchronized int failedAttempts() {
        return failures;
    }

    private static String describe(Throwable error) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (sb.length() > 0) {
                sb.append(": ");
            }
            sb.append(t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName());
        }
        return sb.toString();
    }

    /**
     * What a WARN line says is served while the agent is away: the SVIDs still valid, those that
     * expired (not handed out: {@link #svid}), or none.
     */
    private String serving(State s) {
        if (s == null) {
            return "no SVID yet";
        }
        Instant now = clock.instant();
        List<SpiffeId> valid = new ArrayList<>();
        List<String> parts = new ArrayList<>();
        for (X509Svid svid : s.svids().values()) {
            Instant notAfter = Svids.notAfter(svid);
            if (now.isAfter(notAfter)) {
                parts.add("the SVID of " + svid.getSpiffeId() + " expired at " + notAfter + " and the agent has not sent a new one: not serving it");
            } else {
                valid.add(svid.getSpiffeId());
            }
        }
        if (!valid.isEmpty()) {
            parts.add(0, "still serving the last SVIDs " + valid);
        }
        if (s.svids().isEmpty()) {
            parts.add("serving no SVID (" + s.gone().keySet() + " withdrawn)");
        }
        return String.join("; ", parts);
    }

    /**
     * Installs one update. Its bundles always replace the trusted ones and its SVIDs the served ones
     * (SPIFFE Workload API 4.3/4.4: each response is the full set; what it lacks is redacted; as
     * java-spiffe's {@code DefaultX509Source.setX509Context} and Cilium's
     * {@code SpireDelegateClient.handleX509SVIDUpdate} install each update whole). An SVID served
     * before and absent now, the pinned default included, is forgotten: {@link #svid} fails naming
     * it and listeners hear {@link IdentityListener#svidForgotten}.
     *
     * <p>An update with an SVID whose key does not match its certificate (java-spiffe does not check)
     * is refused whole, bundles included, as go-spiffe refuses it: its {@code parseX509Context} fails
     * at the first SVID {@code x509svid.ParseRaw} rejects ("leaf certificate does not match private
     * key"), {@code Client.watchX509Context} logs it and calls the watcher's
     * {@code OnX509ContextWatchError}, which in {@code X509Source}'s watcher does nothing, so the
     * last complete context keeps serving. Until 6 December zerohop installed the rest of such an
     * update. The previous set keeps serving (each SVID until its notAfter), one WARN line names the
     * IDs, and {@link #svid}'s failure for such an ID, once nothing valid is left of it, has the
     * {@link SvidKeyMismatchException} as its cause, so that mesh-core counts the open
     * {@code TLS_FAILURE} as for the Istio CA's mismatched certificate (ztunnel: rustls refusing the
     * pair, {@code Error::Tls}). Before the first context such an update is waited past.
     */
    private synchronized void update(X509Context context) {
        failures = 0;
        reopens = 0;
        State old = state;
        Map<SpiffeId, X509Svid> svids = new LinkedHashMap<>();
        Map<SpiffeId, GeneralSecurityException> mismatched = new LinkedHashMap<>();
        for (X509Svid svid : context.getX509Svids()) {
            SpiffeId id = svid.getSpiffeId();
            try {
                // java-spiffe does not check that key and certificate belong together. Every SVID of the update, a second
                // one of an ID too (not served), as go-spiffe's parseX509SVIDs parses each. Both skip an SVID whose non-empty
                // hint repeats an earlier one's before parsing it (Workload API: "the first message in the list SHOULD be
                // selected"): java-spiffe 0.8.17's GrpcConversionUtils.getListOfX509Svid, so such an SVID never gets here.
                Svids.requireKeyMatches(svid.getPrivateKey(), svid.getLeaf());
            } catch (GeneralSecurityException e) {
                mismatched.putIfAbsent(id, e);
                continue;
            }
            svids.putIfAbsent(id, svid); // the first SVID of an ID is the one served
        }
        if (!mismatched.isEmpty()) {
            refuseMismatched(old, mismatched);
            return;
        }
        for (X509Svid svid : svids.values()) {
            Instant notAfter = Svids.notAfter(svid);
            String note;
            if (clock.instant().isAfter(notAfter) && (note = expiredWarns.admit()) != null) {
                // Installed all the same (the update is the whole set; go-spiffe's X509Source would serve it), and svid()
                // refuses it; said here, where it happens, since svid()'s failure can only say it expired.
                log.warn("Workload API at {} sent an SVID for {} that had expired at {}, before it arrived (is this host's clock"
                        + " ahead of the agent's?); not serving it{}", address, svid.getSpiffeId(), notAfter, note);
            }
        }
        SpiffeId defaultId = wanted != null ? wanted : context.getDefaultSvid().getSpiffeId();
        if (old == null) {
            if (!svids.containsKey(defaultId)) {
                String msg = "Workload API at " + address + " offers " + svids.keySet() + " but not " + defaultId;
                if (!ready.completeExceptionally(new IllegalStateException(msg))) {
                    log.warn("{}; ignoring this update", msg);
                }
                return;
            }
            state = new State(Map.copyOf(svids), defaultId, context.getX509BundleSet(), Map.of(), Map.of());
            refusedUpdate = null;
            log.info("Workload API at {} serves {} (trust domains {})", address, svids.keySet(),
                    context.getX509BundleSet().getBundles().keySet());
            ready.complete(this);
            return;
        }
        List<SpiffeId> forgotten = new ArrayList<>();
        for (SpiffeId id : old.svids().keySet()) {
            if (!svids.containsKey(id)) {
                forgotten.add(id);
            }
        }
        // Why each ID known before (served, already gone, or the pinned default) is not served now.
        Map<SpiffeId, String> gone = new LinkedHashMap<>();
        String absent = "the Workload API at " + address + " no longer gives it to this workload (its latest update has only "
                + svids.keySet() + ")";
        java.util.Set<SpiffeId> known = new java.util.LinkedHashSet<>(old.svids().keySet());
        known.addAll(old.gone().keySet());
        known.add(defaultId);
        for (SpiffeId id : known) {
            if (!svids.containsKey(id)) {
                gone.put(id, absent);
            }
        }
        State fresh = new State(Map.copyOf(svids), defaultId, context.getX509BundleSet(), Map.copyOf(gone), Map.of());
        state = fresh;
        String note;
        if (!defaultId.equals(old.defaultId()) && (note = defaultWarns.admit()) != null) {
            // SPIFFE Workload API 8: the default is the first SVID of the latest response; defaultIdentity() follows it, as
            // go-spiffe's X509Source does, silently. A Mesh or zerohop proxy reads defaultIdentity() once, at its start.
            log.warn("Workload API at {}: its default SVID (the first of its update) is now {}, was {}; what took {} at its start"
                    + " (a Mesh, zerohop proxy) keeps presenting it while the agent gives it; pin one with spiffeId(...) (--spiffe-id){}",
                    address, defaultId, old.defaultId(), old.defaultId(), note);
        }
        if (!old.bundles().equals(fresh.bundles())) {
            listeners.bundlesChanged(fresh.bundles());
        }
        if (!forgotten.isEmpty()) {
            log.warn("Workload API at {} no longer gives this workload {} (its update has {}); stopped serving {}{}", address, forgotten,
                    svids.keySet(), forgotten.size() == 1 ? "it" : "them", forgotten.contains(defaultId)
                            ? "; " + defaultId + " is this provider's default identity: nothing presents it until the agent gives it again" : "");
            forgotten.forEach(listeners::svidForgotten);
        }
        for (X509Svid svid : fresh.svids().values()) {
            if (!Svids.sameChain(old.svids().get(svid.getSpiffeId()), svid)) {
                if (old.svids().containsKey(svid.getSpiffeId())) {
                    log.debug("Workload API at {} rotated {} (valid until {})", address, svid.getSpiffeId(),
                            svid.getLeaf().getNotAfter().toInstant());
                } else {
                    // After a WARN that it stopped serving (withdrawn, PERMISSION_DENIED), or for a new ID: its end must be
                    // as visible as its start, or the last operator-visible line says nothing is served (a new-user pass).
                    log.info("Workload API at {} gives this workload {}{} (valid until {}); serving it", address, svid.getSpiffeId(),
                            old.gone().containsKey(svid.getSpiffeId()) ? " again" : "", svid.getLeaf().getNotAfter().toInstant());
                }
                listeners.svidRotated(svid);
            }
        }
    }

    /**
     * An update with SVIDs whose key does not match their certificate, refused whole ({@link #update}; go-spiffe's
     * {@code parseX509Context}): the last complete context keeps serving, the IDs are remembered for {@link #svid}'s
     * failure (its cause) until the next update installed, and one WARN line names them (within {@link WarnBudget}'s budget).
     */
    private void refuseMismatched(State old, Map<SpiffeId, GeneralSecurityException> mismatched) {
        String ids = mismatched.keySet().toString();
        String why = mismatched.values().iterator().next().getMessage();
        if (old == null) {
            // nothing served yet, nothing to take back: wait for the agent's next update; build()'s timeout names it
            refused("the SVID for " + String.join(", ", mismatched.keySet().stream().map(SpiffeId::toString).toList())
                    + " has a key that does not match its certificate (" + why + "); go-spiffe refuses such an update whole",
                    mismatched.values().iterator().next());
        } else {
            Map<SpiffeId, String> gone = new LinkedHashMap<>(old.gone());
            for (SpiffeId id : mismatched.keySet()) {
                if (!old.svids().containsKey(id)) {
                    gone.put(id, "the Workload API at " + address + " sent a certificate for it whose key does not match ("
                            + mismatched.get(id).getMessage() + "), in an update not installed");
                }
            }
            state = new State(old.svids(), old.defaultId(), old.bundles(), Map.copyOf(gone), Map.copyOf(mismatched));
        }
        String note = mismatchWarns.admit();
        if (note != null) {
            log.warn("Workload API at {} sent an update whose SVID for {} has a key that does not match its certificate ({});"
                    + " not installing any of it, bundles included, as go-spiffe refuses it; {}{}", address,
                    mismatched.size() == 1 ? mismatched.keySet().iterator().next() : ids, why,
                    old == null ? "no SVID yet; waiting for its next update" : serving(old), note);
        }
    }

    @Override
    public Optional<SpiffeId> defaultIdentity() {
        return Optional.of(state.defaultId());
    }

    /**
     * The SVID of {@code id} in force: fails when the agent never gave it, no longer gives it (absent
     * from its latest update, or PERMISSION_DENIED), or when it has expired and the agent has not sent
     * a new one. ztunnel likewise keeps a certificate whose renewal failed only until its expiry, then
     * has none (src/identity/manager.rs: "retaining existing valid certificate until ..."); an expired
     * one handed out would only fail handshakes later, at the peer, with a vaguer alert. No listener
     * event marks the expiry ({@code MeshTls} asks again once a cached SVID's notAfter passes).
     */
    @Override
    public CompletableFuture<X509Svid> svid(SpiffeId id) {
        Objects.requireNonNull(id, "id must not be null");
        State s = state;
        X509Svid svid = s.svids().get(id);
        // The key mismatch as the cause: mesh-core counts an open that failed for it TLS_FAILURE, as for the Istio CA's.
        GeneralSecurityException mismatch = s.mismatched().get(id);
        if (svid == null) {
            String why = s.gone().get(id);
            if (why != null) {
                return CompletableFuture.failedFuture(new IllegalStateException("no SVID for " + id + ": " + why, mismatch));
            }
            return CompletableFuture.failedFuture(new IllegalArgumentException(
                    "no SVID for " + id + ": the Workload API at " + address + " gives this workload only " + s.svids().keySet()));
        }
        Instant notAfter = Svids.notAfter(svid);
        if (clock.instant().isAfter(notAfter)) {
            return CompletableFuture.failedFuture(new IllegalStateException("no SVID for " + id + ": the last one expired at "
                    + notAfter + " and the Workload API at " + address + (mismatch == null ? " has not sent a new one"
                    : " has sent none since whose key matches its certificate (" + mismatch.getMessage() + ")"), mismatch));
        }
        return CompletableFuture.completedFuture(svid);
    }

    /**
     * What {@link #svid} answers, which only reads the agent's latest update: {@code Available}, or {@code Unavailable}
     * with {@link #svid}'s error (never given, withdrawn, expired). The Workload API pushes every SVID, so there is no
     * fetch to start or to be {@code Initializing}.
     */
    @Override
    public Optional<CertificateState> certificateState(SpiffeId id) {
        return Optional.of(CertificateState.of(svid(id)));
    }

    @Override
    public X509BundleSet bundles() {
        return state.bundles();
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
        synchronized (this) {
            closed = true; // under the lock reopen() checks it in
        }
        listeners.clear();
        closeClient(client);
    }

    /** Closes a java-spiffe client (its channel, its executors, its watch contexts), its records taken as this provider's. */
    private void closeClient(WorkloadApiClient c) {
        try {
            JulRetryLog.on(this::julRecord, () -> {
                try {
                    c.close();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        } catch (RuntimeException e) {
            log.debug("closing the Workload API client: {}", e.toString());
        }
    }

    /** java-spiffe's client for {@code address}, with go-spiffe's back-off, calling back on {@code executor}. */
    private static WorkloadApiClient newClient(String address, java.util.concurrent.ExecutorService executor)
            throws SocketEndpointAddressException {
        return DefaultWorkloadApiClient.newClient(DefaultWorkloadApiClient.ClientOptions.builder().spiffeSocketPath(address)
                .exponentialBackoffPolicy(BACKOFF).executorService(executor).build());
    }

    /**
     * java-spiffe's check of a Workload API address (the one its client applies), its refusal of an
     * IPv6 {@code tcp://} address explained: {@code Address.parseAddress} (java-spiffe 0.8.17) checks
     * the host of the {@link java.net.URI}, which keeps an IPv6 literal's brackets, as an IP address,
     * so it refuses {@code tcp://[::1]:8081} although the Workload Endpoint spec (4) allows any IP
     * address; and its client takes the address only as that string, so zerohop cannot connect to
     * such an address through it. Should a later java-spiffe accept the form, so does this.
     *
     * <p>The scheme is taken in any case ({@code UNIX:///path}, {@code TCP://ip:port}) and handed on
     * in lower case: RFC 3986 3.1 (the spec's URI, Workload Endpoint 4) has schemes case-insensitive,
     * and go-spiffe takes them so ({@code TargetFromAddress}: Go's {@code url.Parse} lowers the
     * scheme); java-spiffe 0.8.17's {@code AddressScheme.parseScheme} compares them exactly, so until
     * 6 December such a {@code SPIFFE_ENDPOINT_SOCKET}, which a go-spiffe workload next to zerohop
     * uses, was refused.
     *
     * @return the address java-spiffe is given: {@code address} with its scheme in lower case
     */
    static String checkAddress(String address) throws SocketEndpointAddressException {
        int colon = address.indexOf(':');
        if (colon > 0) {
            String scheme = address.substring(0, colon);
            if (scheme.equalsIgnoreCase("unix") || scheme.equalsIgnoreCase("tcp")) {
                address = scheme.toLowerCase(java.util.Locale.ROOT) + address.substring(colon);
            }
        }
        try {
            Address.parseAddress(address);
            return address;
        } catch (SocketEndpointAddressException e) {
            if (address.regionMatches(true, 0, "tcp://[", 0, 7)) {
                throw new SocketEndpointAddressException("java-spiffe's Workload API client takes no IPv6 address"
                        + " (its Address.parseAddress: " + e.getMessage() + "); use an IPv4 address or a unix: socket", e);
            }
            throw e;
        }
    }

    public static final class Builder {
        private String address;
        private SpiffeId spiffeId;
        private Duration initialTimeout = Duration.ofSeconds(30);
        private java.util.function.Function<String, String> environment = System::getenv;
        private java.time.Clock clock = java.time.Clock.systemUTC();

        private Builder() {}

        /** What "now" is for SVID expiry and the WARN budgets (tests: a clock they move, instead of waiting). */
        Builder clock(java.time.Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * The Workload API address ({@code unix:/path/to/agent.sock} or {@code tcp://ip:port}, an IPv4
         * address: see the module's README);
         * defaults to the {@code SPIFFE_ENDPOINT_SOCKET} environment variable.
         */
        public Builder address(String address) {
            Objects.requireNonNull(address, "address");
            try {
                this.address = checkAddress(address);
            } catch (SocketEndpointAddressException e) {
                throw new IllegalArgumentException("invalid Workload API address \"" + address + "\": " + e.getMessage(), e);
            }
            return this;
        }

        /** Where {@code SPIFFE_ENDPOINT_SOCKET} is read (tests: an environment of their own). */
        Builder environment(java.util.function.Function<String, String> getenv) {
            this.environment = Objects.requireNonNull(getenv, "getenv");
            return this;
        }

        /** Which of several SVIDs is the default identity; the Workload API's default otherwise. */
        public Builder spiffeId(SpiffeId id) {
            this.spiffeId = Objects.requireNonNull(id, "spiffeId");
            return this;
        }

        /** How long {@link #build()} waits for the first X.509 context (default 30 s). */
        public Builder initialTimeout(Duration timeout) {
            Objects.requireNonNull(timeout, "initialTimeout");
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("initialTimeout must be positive, got " + timeout);
            }
            this.initialTimeout = timeout;
            return this;
        }

        /** Connects and completes once the first X.509 context has arrived. */
        public CompletableFuture<SpireIdentityProvider> buildAsync() {
            SpireIdentityProvider p;
            try {
                p = begin();
            } catch (IllegalStateException e) {
                return CompletableFuture.failedFuture(e);
            }
            return p.ready;
        }

        /**
         * The provider, connecting; its {@code ready} future completes with the first X.509 context
         * (closing it when it fails or is cancelled). Package-private: tests watch its attempts.
         *
         * @throws IllegalStateException when there is no address or the client cannot be made
         */
        SpireIdentityProvider begin() {
            String addr = address != null ? address : environment.apply(Address.SOCKET_ENV_VARIABLE);
            if (addr == null || addr.isBlank()) {
                throw new IllegalStateException("no Workload API address: set "
                        + Address.SOCKET_ENV_VARIABLE + " (e.g. unix:/run/spire/sockets/agent.sock) or call address(...)");
            }
            if (address == null) {
                // address(...) checked its own; this one comes from the environment, which the message must name.
                try {
                    addr = checkAddress(addr);
                } catch (SocketEndpointAddressException e) {
                    throw new IllegalStateException("invalid Workload API address \"" + addr + "\" in "
                            + Address.SOCKET_ENV_VARIABLE + ": " + e.getMessage(), e);
                }
            }
            WorkloadApiClient client;
            // The provider exists only once the client does; the executor's records wait for it (none come before start()).
            java.util.concurrent.atomic.AtomicReference<SpireIdentityProvider> owner = new java.util.concurrent.atomic.AtomicReference<>();
            java.util.concurrent.ExecutorService executor = JulRetryLog.executor("zerohop-spire", r -> {
                SpireIdentityProvider o = owner.get();
                if (o != null) {
                    o.julRecord(r);
                }
            });
            try {
                client = newClient(addr, executor);
            } catch (SocketEndpointAddressException | RuntimeException e) {
                executor.shutdown();
                throw new IllegalStateException("cannot connect to the Workload API at " + addr + ": " + e.getMessage(), e);
            }
            SpireIdentityProvider p = new SpireIdentityProvider(addr, spiffeId, client, executor, clock);
            owner.set(p);
            p.start();
            p.ready.whenComplete((ok, err) -> {
                if (err != null) {
                    p.close();
                }
            });
            return p;
        }

        /**
         * Connects and waits up to the initial timeout for the first X.509 context.
         *
         * @throws IllegalStateException when none arrives in time or the server refuses, saying why
         */
        public SpireIdentityProvider build() {
            SpireIdentityProvider p = begin();
            CompletableFuture<SpireIdentityProvider> f = p.ready;
            try {
                return f.get(initialTimeout.toNanos(), TimeUnit.NANOSECONDS);
            } catch (ExecutionException e) {
                throw e.getCause() instanceof IllegalStateException ise ? ise : new IllegalStateException(e.getCause());
            } catch (TimeoutException e) {
                f.thenAccept(SpireIdentityProvider::close);
                f.cancel(false);
                RefusedUpdate refused = p.refusedUpdate;
                throw new IllegalStateException("no X.509 context from the Workload API at "
                        + p.address + " within " + initialTimeout
                        + (refused != null ? "; the update it sent could not be used (" + refused.why() + ")"
                                : p.unreadable != null ? "; " + p.unreadable
                                : p.nothingEnded() ? "; no attempt failed: the endpoint took the call, or is still being connected to,"
                                        + " and has sent no response (SPIFFE Workload API 4.3: the first one MUST come without delay)"
                                : "; is the agent running and is this workload registered?"), refused != null ? refused.cause() : null);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                f.cancel(false);
                throw new IllegalStateException("interrupted while waiting for the Workload API", e);
            }
        }
    }
}
