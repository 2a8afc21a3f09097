package io.zerohop.identity.spire;

import io.zerohop.identity.testing.MutableClock;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.workloadapi.grpc.Workload;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SvidKeyMismatchException;
import io.zerohop.testing.CapturedStderr;
import io.zerohop.testing.WorkloadApiServer;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An SVID whose private key does not match its certificate, from a real Workload API server on a Unix socket: the
 * provider's failure for it carries {@link SvidKeyMismatchException}, so that mesh-core counts the open
 * {@code TLS_FAILURE} as it does for the Istio CA's mismatched certificate (ztunnel: rustls refuses the pair,
 * {@code Error::Tls}); until 6 December it was a bare IllegalStateException, counted {@code IDENTITY_ERROR}. go-spiffe
 * refuses such a pair too ({@code x509svid.ParseRaw}: "leaf certificate does not match private key"), and with it the
 * whole update ({@code Client.parseX509Context}); so does zerohop since 6 December.
 */
class SpireKeyMismatchTest {
    private static final SpiffeId WEB = SpiffeId.parse("spiffe://spire.test/web");
    private static final SpiffeId ADMIN = SpiffeId.parse("spiffe://spire.test/admin");
    private static final InMemoryCa CA = InMemoryCa.create("spire.test");

    @TempDir
    Path dir;

    /** The X509SVID message of {@code svid}, with {@code key}'s private key instead of its own. */
    static Workload.X509SVID message(X509Svid svid, X509Svid key) {
        return SpireBreakTest.message(svid, key.getPrivateKey(), CA);
    }

    private static Throwable failure(CompletableFuture<X509Svid> f) {
        assertThat(f).isCompletedExceptionally();
        return assertThatThrownBy(f::get).isInstanceOf(ExecutionException.class).actual().getCause();
    }

    /**
     * go-spiffe refuses an update with such an SVID whole ({@code Client.parseX509Context} fails at the first
     * {@code x509svid.ParseRaw} error; {@code X509Source}'s watcher ignores the error and keeps the last context):
     * the previous set keeps serving, the good SVID of the same update included, and an ID only ever sent with a
     * mismatched key fails with the mismatch as cause. Until 6 December the rest of the update was installed.
     */
    @Test
    void anUpdateWithOneMismatchedSvidIsRefusedWholeAndTheMismatchIsTheCause() throws Exception {
        Path s = dir.resolve("agent.sock");
        try (WorkloadApiServer agent = new WorkloadApiServer(s); CapturedStderr err = new CapturedStderr()) {
            X509Svid first = CA.issue(WEB);
            agent.serve(List.of(first), CA.bundle(), List.of());
            try (SpireIdentityProvider p = SpireIdentityProvider.builder().address("unix:" + s).initialTimeout(Duration.ofSeconds(20)).build()) {
                var events = WorkloadApiUpdatesTest.events(p);
                X509Svid web = CA.issue(WEB);
                agent.push(Workload.X509SVIDResponse.newBuilder().addSvids(message(web, web))
                        .addSvids(message(CA.issue(ADMIN), CA.issue(ADMIN))).build());
                String line = err.awaitLine("WARN", "sent an update whose SVID for " + ADMIN + " has a key that does not match its"
                        + " certificate", "not installing any of it, bundles included", "still serving the last SVIDs [" + WEB + "]");
                assertThat(line).doesNotContain(WEB + " has a key");
                assertThat(err.count("does not match")).as("one line for the update").isEqualTo(1);
                assertThat(p.svid(WEB).get().getLeaf()).as("the previous set, not the update's good SVID").isEqualTo(first.getLeaf());
                assertThat(events).as("no listener event for a refused update").isEmpty();
                assertThat(failure(p.svid(ADMIN))).isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("whose key does not match").hasCauseInstanceOf(SvidKeyMismatchException.class);
            }
        }
    }

    /**
     * A second SVID of the same ID (zerohop serves the first) with a mismatched pair: go-spiffe's parseX509SVIDs parses
     * every SVID of the response and refuses the update for it; until 6 December zerohop skipped it unchecked and
     * installed the update.
     */
    @Test
    void aMismatchedSecondSvidOfAnIdRefusesTheUpdateToo() throws Exception {
        Path s = dir.resolve("agent.sock");
        try (WorkloadApiServer agent = new WorkloadApiServer(s); CapturedStderr err = new CapturedStderr()) {
            X509Svid first = CA.issue(WEB);
            agent.serve(List.of(first), CA.bundle(), List.of());
            try (SpireIdentityProvider p = SpireIdentityProvider.builder().address("unix:" + s).initialTimeout(Duration.ofSeconds(20)).build()) {
                X509Svid web = CA.issue(WEB);
                agent.push(Workload.X509SVIDResponse.newBuilder().addSvids(message(web, web))
                        .addSvids(message(CA.issue(WEB), CA.issue(WEB))).build());
                err.awaitLine("WARN", "sent an update whose SVID for " + WEB + " has a key that does not match its certificate");
                assertThat(p.svid(WEB).get().getLeaf()).as("the previous set").isEqualTo(first.getLeaf());
            }
        }
    }

    /** The kept SVID expires (a clock the test moves: no waiting) while the agent sends only mismatched pairs for it. */
    @Test
    void theKeptSvidExpiredAfterAMismatchedRotationFailsWithTheMismatchAsCause() throws Exception {
        Path s = dir.resolve("agent.sock");
        MutableClock clock = new MutableClock(java.time.Instant.now());
        try (WorkloadApiServer agent = new WorkloadApiServer(s); CapturedStderr err = new CapturedStderr()) {
            X509Svid kept = CA.issue(WEB);
            Instant notAfter = kept.getLeaf().getNotAfter().toInstant();
            agent.serve(List.of(kept), CA.bundle(), List.of());
            try (SpireIdentityProvider p = SpireIdentityProvider.builder().address("unix:" + s).clock(clock)
                    .initialTimeout(Duration.ofSeconds(20)).build()) {
                var events = WorkloadApiUpdatesTest.events(p);
                X509Svid next = CA.issue(WEB);
                agent.push(Workload.X509SVIDResponse.newBuilder().addSvids(message(next, CA.issue(WEB))).build());
                err.awaitLine("sent an update whose SVID for " + WEB + " has a key that does not match its certificate");
                assertThat(p.svid(WEB).get().getLeaf()).as("kept while valid").isEqualTo(kept.getLeaf());

                clock.advance(Duration.between(clock.instant(), notAfter).plusSeconds(1));
                assertThat(events).as("no rotation to the mismatched pair").noneMatch(e -> e.kind().equals("rotated"));
                assertThat(failure(p.svid(WEB))).isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("expired at " + notAfter)
                        .hasMessageContaining("has sent none since whose key matches its certificate")
                        .hasCauseInstanceOf(SvidKeyMismatchException.class);
            }
        }
    }

    /** go-spiffe's X509Source waits past a first update it cannot parse; so does the build, for a non-default SVID too. */
    @Test
    void aFirstUpdateWithAMismatchedNonDefaultSvidIsWaitedPast() throws Exception {
        Path s = dir.resolve("agent.sock");
        try (WorkloadApiServer agent = new WorkloadApiServer(s); CapturedStderr err = new CapturedStderr()) {
            X509Svid bad = CA.issue(WEB);
            agent.push(Workload.X509SVIDResponse.newBuilder().addSvids(message(bad, bad))
                    .addSvids(message(CA.issue(ADMIN), CA.issue(ADMIN))).build());
            CompletableFuture<SpireIdentityProvider> f = SpireIdentityProvider.builder().address("unix:" + s).buildAsync();
            try {
                err.awaitLine("sent an update whose SVID for " + ADMIN + " has a key that does not match", "no SVID yet; waiting for its next update");
                assertThat(f).as("the first update was not installed").isNotDone();
                X509Svid web = CA.issue(WEB);
                agent.serve(List.of(web, CA.issue(ADMIN)), CA.bundle(), List.of());
                SpireIdentityProvider p = f.get(20, java.util.concurrent.TimeUnit.SECONDS);
                assertThat(p.svid(WEB).get().getLeaf()).isEqualTo(web.getLeaf());
            } finally {
                f.cancel(false);
                f.thenAccept(SpireIdentityProvider::close);
            }
        }
    }

    @Test
    void aBuildWhoseDefaultSvidOnlyCameWithAMismatchedKeyTimesOutSayingSo() throws Exception {
        Path s = dir.resolve("agent.sock");
        try (WorkloadApiServer agent = new WorkloadApiServer(s)) {
            agent.push(Workload.X509SVIDResponse.newBuilder().addSvids(message(CA.issue(WEB), CA.issue(WEB))).build());
            assertThatThrownBy(() -> SpireIdentityProvider.builder().address("unix:" + s).initialTimeout(Duration.ofSeconds(3)).build())
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("within PT3S; the update it sent could not be used (the SVID for " + WEB
                            + " has a key that does not match its certificate")
                    // the refusal itself, as go-spiffe hands the watcher x509svid.ParseRaw's error (until helper 345: no cause)
                    .hasCauseInstanceOf(SvidKeyMismatchException.class);
        }
    }
}
