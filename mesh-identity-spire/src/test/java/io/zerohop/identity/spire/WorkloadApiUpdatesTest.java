package io.zerohop.identity.spire;

import io.zerohop.identity.testing.MutableClock;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.workloadapi.grpc.Workload;
import io.zerohop.identity.IdentityListener;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.CapturedStderr;
import io.zerohop.testing.WorkloadApiServer;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.logging.Level;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the provider makes of the Workload API's stream over time, against a real gRPC server on a
 * Unix socket (or loopback TCP) that can do what SPIRE's agent does: push a smaller set, answer
 * PERMISSION_DENIED on the open stream, end the stream with status OK, stop. Waits are bounded
 * polls for an event or a log line, never assertions on time.
 */
class WorkloadApiUpdatesTest {
    private static final SpiffeId WEB = SpiffeId.parse("spiffe://spire.test/web");
    private static final SpiffeId ADMIN = SpiffeId.parse("spiffe://spire.test/admin");
    private static final TrustDomain PARTNER = TrustDomain.parse("partner.test");
    private static final InMemoryCa CA = InMemoryCa.create("spire.test");
    private static final InMemoryCa PARTNER_CA = InMemoryCa.create("partner.test");
    /** Generous: the back-off (go-spiffe's, GoSpiffeBackoff) waits 1 s, then 2 s, 3 s... */
    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    /** The agent: zerohop-testing's Workload API server serving this test's CA bundle. */
    static WorkloadApiServer agent(Path socket) throws Exception {
        return new WorkloadApiServer(socket);
    }

    static void serve(WorkloadApiServer a, List<X509Svid> svids, Collection<X509Bundle> federated) {
        a.serve(svids, CA.bundle(), federated);
    }

    /** A listener event: svidRotated, svidForgotten or bundlesChanged. */
    record Event(String kind, Object value) {}

    static LinkedBlockingQueue<Event> events(SpireIdentityProvider p) {
        LinkedBlockingQueue<Event> q = new LinkedBlockingQueue<>();
        p.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                q.add(new Event("rotated", svid));
            }

            @Override
            public void svidForgotten(SpiffeId id) {
                q.add(new Event("forgotten", id));
            }

            @Override
            public void bundlesChanged(X509BundleSet set) {
                q.add(new Event("bundles", set));
            }
        });
        return q;
    }

    /** The first event matching, waiting up to {@link #WAIT}; fails naming what came instead. */
    static Event await(LinkedBlockingQueue<Event> q, String what, Predicate<Event> wanted) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        List<Event> seen = new CopyOnWriteArrayList<>();
        for (long left; (left = deadline - System.nanoTime()) > 0; ) {
            Event e = q.poll(left, TimeUnit.NANOSECONDS);
            if (e != null && wanted.test(e)) {
                return e;
            }
            if (e != null) {
                seen.add(e);
            }
        }
        throw new AssertionError("no " + what + " within " + WAIT + "; events: " + seen);
    }

    static Predicate<Event> forgotten(SpiffeId id) {
        return e -> e.kind().equals("forgotten") && e.value().equals(id);
    }

    static Predicate<Event> rotated(SpiffeId id) {
        return e -> e.kind().equals("rotated") && ((X509Svid) e.value()).getSpiffeId().equals(id);
    }

    static boolean trusts(SpireIdentityProvider p, TrustDomain td) {
        return p.bundles().getBundles().containsKey(td);
    }

    private SpireIdentityProvider connect(SpireIdentityProvider.Builder b) {
        return b.address("unix:" + dir.resolve("agent.sock")).initialTimeout(WAIT).build();
    }

    private static Throwable failure(CompletableFuture<X509Svid> f) {
        assertThat(f).isCompletedExceptionally();
        return assertThatThrownBy(f::get).isInstanceOf(ExecutionException.class).actual().getCause();
    }

    // Each response is the full set (SPIFFE Workload API 4.3, 4.4): what it lacks is no longer trusted or served.

    @Test // control: held before the fix too
    void federatedBundleAbsentFromTheNextUpdateIsDropped() throws Exception {
        try (WorkloadApiServer a = agent(dir.resolve("agent.sock"))) {
            serve(a, List.of(CA.issue(WEB)), List.of(PARTNER_CA.bundle()));
            try (SpireIdentityProvider p = connect(SpireIdentityProvider.builder())) {
                var ev = events(p);
                serve(a, List.of(CA.issue(WEB)), List.of());
                await(ev, "bundlesChanged", e -> e.kind().equals("bundles"));
                assertThat(trusts(p, PARTNER)).isFalse();
            }
        }
    }

    @Test
    void updateWithoutThePinnedSvidStillReplacesTheBundlesAndStopsServingIt() throws Exception {
        try (WorkloadApiServer a = agent(dir.resolve("agent.sock"))) {
            serve(a, List.of(CA.issue(WEB), CA.issue(ADMIN)), List.of(PARTNER_CA.bundle()));
            try (SpireIdentityProvider p = connect(SpireIdentityProvider.builder().spiffeId(ADMIN))) {
                var ev = events(p);
                X509Svid web = CA.issue(WEB);
                // One update takes away both the pinned SVID's entry and the federation with partner.test.
                serve(a, List.of(web), List.of());

                await(ev, "bundlesChanged", e -> e.kind().equals("bundles"));
                assertThat(trusts(p, PARTNER)).as("partner.test's bundle, absent from the update").isFalse();
                await(ev, "svidForgotten(admin)", forgotten(ADMIN));
                assertThat(failure(p.svid(ADMIN))).hasMessageContaining("no SVID for " + ADMIN).hasMessageContaining("no longer gives it");
                assertThat(p.defaultIdentity()).contains(ADMIN);
                assertThat(p.svid(WEB).get().getLeaf()).isEqualTo(web.getLeaf());
            }
        }
    }

    @Test
    void svidAbsentFromAnUpdateIsForgotten() throws Exception {
        try (WorkloadApiServer a = agent(dir.resolve("agent.sock"))) {
            serve(a, List.of(CA.issue(WEB), CA.issue(ADMIN)), List.of());
            try (SpireIdentityProvider p = connect(SpireIdentityProvider.builder())) {
                var ev = events(p);
                serve(a, List.of(CA.issue(WEB)), List.of());

                await(ev, "svidForgotten(admin)", forgotten(ADMIN));
                assertThat(failure(p.svid(ADMIN))).hasMessageContaining(ADMIN.toString()).hasMessageContaining("no longer gives it");
                assertThat(p.defaultIdentity()).contains(WEB);
            }
        }
    }

    /**
     * An update with a mismatched pair is refused whole, its bundles too, as go-spiffe's {@code parseX509Context}
     * refuses it (its X509Source keeps the last context); until 6 December its bundles replaced the trusted ones.
     */
    @Test
    void updateWithAKeyMismatchKeepsTheLastBundlesToo() throws Exception {
        try (WorkloadApiServer a = agent(dir.resolve("agent.sock")); CapturedStderr err = new CapturedStderr()) {
            X509Svid first = CA.issue(WEB);
            serve(a, List.of(first), List.of(PARTNER_CA.bundle()));
            try (SpireIdentityProvider p = connect(SpireIdentityProvider.builder())) {
                var ev = events(p);
                // A certificate with another SVID's key, and no federated bundle any more.
                a.push(Workload.X509SVIDResponse.newBuilder().addSvids(Workload.X509SVID.newBuilder().setSpiffeId(WEB.toString())
                        .setX509Svid(ByteString.copyFrom(CA.issue(WEB).getLeaf().getEncoded()))
                        .setX509SvidKey(ByteString.copyFrom(CA.issue(WEB).getPrivateKey().getEncoded()))
                        .setBundle(WorkloadApiServer.der(CA.bundle().getX509Authorities()))).build());

                err.awaitLine("WARN", "sent an update whose SVID for " + WEB + " has a key that does not match", "bundles included");
                assertThat(trusts(p, PARTNER)).as("the refused update's bundles are not installed").isTrue();
                assertThat(p.svid(WEB).get().getLeaf()).as("the last good SVID, not the mismatched pair").isEqualTo(first.getLeaf());
                assertThat(ev).as("no event for a refused update").isEmpty();
            }
        }
    }

    /**
     * The default SVID is the first of the latest response (SPIFFE Workload API 8): an update that puts another first
     * moves an unpinned provider's default, as go-spiffe's X509Source, and says so, since what read the default at its
     * start keeps the old one; until 6 December nothing said it. A pinned provider's default does not move.
     */
    @Test
    void anUpdateThatPutsAnotherSvidFirstMovesTheUnpinnedDefaultAndSaysSo() throws Exception {
        try (WorkloadApiServer a = agent(dir.resolve("agent.sock")); CapturedStderr err = new CapturedStderr()) {
            serve(a, List.of(CA.issue(WEB), CA.issue(ADMIN)), List.of());
            try (SpireIdentityProvider p = connect(SpireIdentityProvider.builder());
                    SpireIdentityProvider pinned = connect(SpireIdentityProvider.builder().spiffeId(WEB))) {
                assertThat(p.defaultIdentity()).contains(WEB);
                var ev = events(p);
                var pinnedEv = events(pinned);
                serve(a, List.of(CA.issue(ADMIN), CA.issue(WEB)), List.of());
                await(ev, "svidRotated(admin)", rotated(ADMIN));
                await(pinnedEv, "svidRotated(admin) at the pinned provider", rotated(ADMIN));
                assertThat(p.defaultIdentity()).contains(ADMIN);
                assertThat(pinned.defaultIdentity()).contains(WEB);
                err.awaitLine("WARN", "its default SVID (the first of its update) is now " + ADMIN + ", was " + WEB);
                assertThat(err.count("its default SVID")).as("only the unpinned provider's line").isEqualTo(1);
            }
        }
    }

    /**
     * An agent that moves the default with every update (here: every update at once) costs {@link WarnBudget#BURST}
     * lines a minute, and the next line written says how many were left out; until 6 December it was a line per update.
     * The provider's clock moves the minute on, no waiting.
     */
    @Test
    void theDefaultMovedLinesAreRateLimited() throws Exception {
        MutableClock clock = new MutableClock(java.time.Instant.now());
        try (WorkloadApiServer a = agent(dir.resolve("agent.sock")); CapturedStderr err = new CapturedStderr()) {
            serve(a, List.of(CA.issue(WEB), CA.issue(ADMIN)), List.of());
            try (SpireIdentityProvider p = connect(SpireIdentityProvider.builder().clock(clock))) {
                var ev = events(p);
                int moves = WarnBudget.BURST * 2;
                for (int i = 1; i <= moves; i++) {
                    serve(a, i % 2 == 1 ? List.of(CA.issue(ADMIN), CA.issue(WEB)) : List.of(CA.issue(WEB), CA.issue(ADMIN)), List.of());
                    await(ev, "svidRotated (update " + i + ")", e -> e.kind().equals("rotated"));
                    await(ev, "svidRotated (update " + i + ")", e -> e.kind().equals("rotated"));
                }
                assertThat(p.defaultIdentity()).contains(WEB);
                assertThat(err.count("its default SVID (the first of its update) is now")).isEqualTo(WarnBudget.BURST);

                clock.advance(WarnBudget.WINDOW);
                serve(a, List.of(CA.issue(ADMIN), CA.issue(WEB)), List.of());
                err.awaitLine("WARN", "its default SVID (the first of its update) is now " + ADMIN,
                        "(" + (moves - WarnBudget.BURST) + " more such lines not written before this one: at most " + WarnBudget.BURST + " per 1 min)");
                assertThat(err.count("its default SVID (the first of its update) is now")).isEqualTo(WarnBudget.BURST + 1);
            }
        }
    }

    // PERMISSION_DENIED once serving (SPIFFE Workload API 5.2.1: the client SHOULD cease using the SVIDs).

    @Test
    void permissionDeniedOnTheOpenStreamWithdrawsTheSvidsAndTheRetryFindsTheNewEntry() throws Exception {
        try (WorkloadApiServer a = agent(dir.resolve("agent.sock")); CapturedStderr err = new CapturedStderr()) {
            serve(a, List.of(CA.issue(WEB)), List.of(PARTNER_CA.bundle()));
            try (SpireIdentityProvider p = connect(SpireIdentityProvider.builder())) {
                var ev = events(p);
                a.denyAll(); // the workload's registration entry deleted

                await(ev, "svidForgotten(web)", forgotten(WEB));
                assertThat(failure(p.svid(WEB))).hasMessageContaining("no SVID for " + WEB).hasMessageContaining("PERMISSION_DENIED");
                assertThat(trusts(p, PARTNER)).as("bundles stay until the next response").isTrue();
                err.awaitLine("PERMISSION_DENIED: no identity issued (attempt 1)", "stopped serving the SVIDs [" + WEB + "]",
                        "next try in 1s");

                // The entry comes back: java-spiffe 0.8.17 keeps retrying PERMISSION_DENIED (an unreleased
                // java-spiffe cancels the watch instead; this pins the retry zerohop relies on).
                X509Svid back = CA.issue(WEB);
                serve(a, List.of(back), List.of());
                Event e = await(ev, "svidRotated(web)", rotated(WEB));
                assertThat(((X509Svid) e.value()).getLeaf()).isEqualTo(back.getLeaf());
                assertThat(p.svid(WEB).get().getLeaf()).isEqualTo(back.getLeaf());
                assertThat(trusts(p, PARTNER)).isFalse();
                // Said at INFO, as the withdrawal was at WARN: it was DEBUG, and the last line seen said nothing was served.
                err.awaitLine("INFO", "gives this workload " + WEB + " again", "serving it");
            }
        }
    }

    /**
     * The delays between attempts are go-spiffe's (spiffe/go-spiffe v2 workloadapi/backoff.go {@code linearBackoff}:
     * 1 s, 2 s, 3 s, ... at most 30 s; backoff_test.go {@code TestLinearBackoff}), and start over after an update
     * (client.go {@code watchX509Context} resets the back-off on each response). An unregistered workload: SPIRE
     * answers PERMISSION_DENIED to every attempt until its entry exists. The third delay tells the two apart:
     * java-spiffe's default, used until 6 December, doubles (1 s, 2 s, 4 s, ... 60 s). No time is measured: the
     * lines name the delays, and GoSpiffeBackoffTest shows java-spiffe's RetryHandler schedules those.
     */
    @Test
    void retriesWaitGoSpiffesBackOffAndStartOverAfterAnUpdate() throws Exception {
        String linear = "(back-off growing by 1s up to 30s, as go-spiffe's)";
        try (WorkloadApiServer a = agent(dir.resolve("agent.sock")); CapturedStderr err = new CapturedStderr()) {
            CompletableFuture<SpireIdentityProvider> f = SpireIdentityProvider.builder().address(a.address()).buildAsync();
            try {
                err.awaitLine("PERMISSION_DENIED: no identity issued (attempt 1)", "no SVID yet", "next try in 1s ");
                err.awaitLine("PERMISSION_DENIED: no identity issued (attempt 2)", "no SVID yet", "next try in 2s ");
                // java-spiffe's default doubling waited 4 s here
                String third = err.awaitLine("PERMISSION_DENIED: no identity issued (attempt 3)", "no SVID yet", "next try in 3s ");
                assertThat(third).endsWith("next try in 3s " + linear);

                serve(a, List.of(CA.issue(WEB)), List.of()); // the entry registered: the next attempt gets it
                SpireIdentityProvider p = f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                assertThat(p.defaultIdentity()).contains(WEB);

                a.denyAll(); // the entry deleted again: the count and the delay start over
                long deadline = System.nanoTime() + WAIT.toNanos();
                while (err.count("(attempt 1)", "next try in 1s " + linear) < 2 && System.nanoTime() < deadline) {
                    Thread.sleep(20); // polling a condition, bounded; no assertion on time
                }
                assertThat(err.count("(attempt 1)", "next try in 1s " + linear)).as("attempt 1 again after the update").isEqualTo(2);
            } finally {
                f.cancel(false);
                f.thenAccept(SpireIdentityProvider::close);
            }
        }
    }

    @Test // control: held before the fix too
    void agentRestartWithUnavailableIsFollowed() throws Exception {
        Path sock = dir.resolve("agent.sock");
        WorkloadApiServer a = agent(sock);
        serve(a, List.of(CA.issue(WEB)), List.of());
        try (SpireIdentityProvider p = connect(SpireIdentityProvider.builder())) {
            var ev = events(p);
            a.stop(); // the agent restarting: UNAVAILABLE, not an ended stream
            try (WorkloadApiServer b = agent(sock)) {
                X509Svid next = CA.issue(WEB);
                serve(b, List.of(next), List.of());
                await(ev, "svidRotated(web)", rotated(WEB));
                assertThat(p.svid(WEB).get().getLeaf()).isEqualTo(next.getLeaf());
            }
        }
    }

    /**
     * java-spiffe 0.8.17 ends the watch on a stream completed with status OK, and says so only at
     * INFO; zerohop reopens it (SPIFFE Workload API 4.2) even with java-spiffe's logging turned down
     * to WARNING, which still applies to records of other java-spiffe clients.
     */
    @Test
    void streamEndedByTheServerIsReopened() throws Exception {
        java.util.logging.Logger spiffe = java.util.logging.Logger.getLogger("io.spiffe");
        java.util.logging.Logger observers = java.util.logging.Logger.getLogger("io.spiffe.workloadapi.StreamObservers");
        Level spiffeLevel = spiffe.getLevel();
        Level observersLevel = observers.getLevel();
        spiffe.setLevel(Level.WARNING);
        observers.setLevel(Level.WARNING);
        try (JulCapture capture = new JulCapture(); WorkloadApiServer a = agent(dir.resolve("agent.sock")); CapturedStderr err = new CapturedStderr()) {
            serve(a, List.of(CA.issue(WEB)), List.of(PARTNER_CA.bundle()));
            try (SpireIdentityProvider p = connect(SpireIdentityProvider.builder())) {
                var ev = events(p);
                a.completeStreams();
                X509Svid next = CA.issue(WEB);
                serve(a, List.of(next), List.of()); // what the next stream gets: rotated, federation removed

                err.awaitLine("ended the X.509 context stream (status OK)", "still serving the last SVIDs [" + WEB + "]",
                        "reopening it in 1s");
                await(ev, "svidRotated(web) on the reopened stream", rotated(WEB));
                assertThat(p.svid(WEB).get().getLeaf()).isEqualTo(next.getLeaf());
                assertThat(trusts(p, PARTNER)).isFalse();
            }
            observers.info("another client's INFO record");
            observers.warning("another client's WARNING record");
            assertThat(capture.messages()).containsExactly("another client's WARNING record");
        } finally {
            spiffe.setLevel(spiffeLevel);
            observers.setLevel(observersLevel);
        }
    }

    /**
     * java-spiffe 0.8.17's {@code DefaultWorkloadApiClient.watchX509Context} adds a {@code CancellableContext} to a list
     * that only its {@code close()} empties: a watch reopened on the same client after each end of the stream kept one
     * more for the provider's life (an agent ending the stream every second: ~86,000 a day). Each reopening now gets a
     * client of its own and closes the last, so the client in use holds one. Read by reflection: the list is private,
     * and this pins it for a java-spiffe upgrade.
     */
    @Test
    void aReopenedStreamLeavesNoWatchContextBehind() throws Exception {
        try (WorkloadApiServer a = agent(dir.resolve("agent.sock")); CapturedStderr err = new CapturedStderr()) {
            serve(a, List.of(CA.issue(WEB)), List.of());
            try (SpireIdentityProvider p = connect(SpireIdentityProvider.builder())) {
                for (int i = 1; i <= 3; i++) {
                    a.completeStreams();
                    long deadline = System.nanoTime() + WAIT.toNanos();
                    while (a.openStreams() == 0 && System.nanoTime() < deadline) {
                        Thread.sleep(20); // polling a condition, bounded; no assertion on time
                    }
                    assertThat(a.openStreams()).as("stream " + (i + 1) + " opened").isEqualTo(1);
                }
                java.lang.reflect.Field f = io.spiffe.workloadapi.DefaultWorkloadApiClient.class.getDeclaredField("cancellableContexts");
                f.setAccessible(true);
                long until = System.nanoTime() + WAIT.toNanos();
                int held;
                while ((held = ((List<?>) f.get(p.client())).size()) != 1 && System.nanoTime() < until) {
                    Thread.sleep(20); // polling a condition, bounded; no assertion on time
                }
                assertThat(held).as("watch contexts java-spiffe holds after 3 reopenings").isEqualTo(1);
                assertThat(p.svid(WEB)).isCompleted();
                assertThat(err.count("ended the X.509 context stream (status OK)")).isEqualTo(3);
            }
        }
    }

    // An SVID past its notAfter is not handed out.

    @Test
    void expiredSvidIsNotHandedOutAndTheWarningSaysSo() throws Exception {
        WorkloadApiServer a = agent(dir.resolve("agent.sock"));
        X509Svid svid = CA.issue(WEB);
        Instant notAfter = svid.getLeaf().getNotAfter().toInstant();
        serve(a, List.of(svid), List.of());
        MutableClock clock = new MutableClock(java.time.Instant.now());
        try (CapturedStderr err = new CapturedStderr(); SpireIdentityProvider p = connect(SpireIdentityProvider.builder().clock(clock))) {
            a.stop(); // the agent gone: no new SVID comes
            clock.advance(Duration.between(clock.instant(), notAfter).plusSeconds(1)); // its notAfter passed, without waiting

            assertThat(failure(p.svid(WEB))).hasMessageContaining("no SVID for " + WEB)
                    .hasMessageContaining("expired at " + notAfter).hasMessageContaining("has not sent a new one");
            err.awaitLine("the SVID of " + WEB + " expired at " + notAfter, "the agent has not sent a new one: not serving it");
        }
    }

    /**
     * An update whose SVID expired before it arrived (an agent whose clock is behind this host's): refused by
     * svid() as any expired SVID, and said at once, where it happens; until 6 December the only line was the INFO
     * that the provider serves it.
     */
    @Test
    void svidExpiredOnArrivalIsSaidAtOnce() throws Exception {
        Instant notAfter = Instant.now().minusSeconds(60).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        X509Svid expired = CA.issue(io.zerohop.identity.LeafSpec.svid(WEB.toString(), notAfter.minusSeconds(3600), notAfter)).toSvid();
        try (WorkloadApiServer a = agent(dir.resolve("agent.sock")); CapturedStderr err = new CapturedStderr()) {
            serve(a, List.of(expired), List.of());
            try (SpireIdentityProvider p = connect(SpireIdentityProvider.builder())) {
                err.awaitLine("WARN", "sent an SVID for " + WEB + " that had expired at " + notAfter + ", before it arrived",
                        "not serving it");
                assertThat(failure(p.svid(WEB))).hasMessageContaining("expired at " + notAfter);
            }
        }
    }

    /** An agent whose clock lags, sending such an SVID with every update, costs {@link WarnBudget#BURST} lines a minute. */
    @Test
    void theExpiredOnArrivalLinesAreRateLimited() throws Exception {
        Instant notAfter = Instant.now().minusSeconds(60).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        try (WorkloadApiServer a = agent(dir.resolve("agent.sock")); CapturedStderr err = new CapturedStderr()) {
            serve(a, List.of(CA.issue(WEB), expired(ADMIN, notAfter)), List.of());
            try (SpireIdentityProvider p = connect(SpireIdentityProvider.builder())) {
                var ev = events(p);
                for (int i = 1; i <= WarnBudget.BURST * 2; i++) {
                    serve(a, List.of(CA.issue(WEB), expired(ADMIN, notAfter)), List.of());
                    await(ev, "svidRotated (update " + i + ")", e -> e.kind().equals("rotated"));
                    await(ev, "svidRotated (update " + i + ")", e -> e.kind().equals("rotated"));
                }
                assertThat(err.count("sent an SVID for " + ADMIN + " that had expired at " + notAfter)).isEqualTo(WarnBudget.BURST);
            }
        }
    }

    private static X509Svid expired(SpiffeId id, Instant notAfter) throws Exception {
        return CA.issue(io.zerohop.identity.LeafSpec.svid(id.toString(), notAfter.minusSeconds(3600), notAfter)).toSvid();
    }

    // Addresses.

    @Test // control: held before the fix too
    void tcpEndpoint() throws Exception {
        int port;
        try (var s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        try (WorkloadApiServer a = WorkloadApiServer.tcp(port)) {
            serve(a, List.of(CA.issue(WEB)), List.of());
            try (SpireIdentityProvider p = SpireIdentityProvider.builder().address("tcp://127.0.0.1:" + port).initialTimeout(WAIT).build()) {
                assertThat(p.defaultIdentity()).contains(WEB);
            }
        }
    }

    /** java-spiffe 0.8.17 refuses an IPv6 tcp:// address (its validator sees the URI host with brackets); the error says so. */
    @Test
    void tcpIpv6AddressIsRefusedSayingWhy() {
        assertThatThrownBy(() -> SpireIdentityProvider.builder().address("tcp://[::1]:8081"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("tcp://[::1]:8081")
                .hasMessageContaining("no IPv6 address").hasMessageContaining("IPv4 address or a unix: socket");
    }

    @Test
    void invalidAddressFromTheEnvironmentNamesTheVariable() {
        CompletableFuture<SpireIdentityProvider> f = SpireIdentityProvider.builder()
                .environment(Map.of("SPIFFE_ENDPOINT_SOCKET", "http://agent.sock")::get).buildAsync();
        assertThatThrownBy(f::get).isInstanceOf(ExecutionException.class).cause().isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("\"http://agent.sock\" in SPIFFE_ENDPOINT_SOCKET");
    }
}
