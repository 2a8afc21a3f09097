package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.testing.MutableClock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CertificateManagerTest {
    private static final SpiffeId A = SpiffeIds.istio("node.test", "ns1", "a");
    private static final SpiffeId B = SpiffeIds.istio("node.test", "ns1", "b");

    private MutableClock clock;
    private InMemoryCa ca;
    private final List<AutoCloseable> toClose = new ArrayList<>();

    /** Counts issuances and fails them on demand, like a CA that goes down. */
    private final class CountingIssuer implements CertificateIssuer {
        final AtomicInteger calls = new AtomicInteger();
        final List<SpiffeId> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        final AtomicBoolean down = new AtomicBoolean();
        volatile CompletableFuture<Void> gate = CompletableFuture.completedFuture(null);

        @Override
        public CompletableFuture<X509Svid> issue(SpiffeId id) {
            calls.incrementAndGet();
            asked.add(id);
            if (down.get()) {
                return CompletableFuture.failedFuture(new IllegalStateException("CA unavailable"));
            }
            return gate.thenApply(v -> ca.issue(id));
        }
    }

    @BeforeEach
    void setUp() {
        // fresh per test: the CA shares the test's clock, so its validity windows move with it
        clock = new MutableClock(Instant.now());
        ca = InMemoryCa.builder().trustDomain("node.test").svidTtl(Duration.ofHours(2)).clock(clock).build();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
    }

    private CertificateManager manager(CertificateIssuer issuer) {
        CertificateManager m = CertificateManager.builder().issuer(issuer).trustBundles(ca.bundles())
                .clock(clock).checkInterval(null).build();
        toClose.add(m);
        return m;
    }

    private static X509Svid get(CertificateManager m, SpiffeId id) throws Exception {
        return m.svid(id).get(10, TimeUnit.SECONDS);
    }

    @Test
    void issuesPerIdentityOnFirstUse() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = manager(issuer);

        X509Svid a = get(m, A);
        X509Svid b = get(m, B);

        assertThat(a.getSpiffeId()).isEqualTo(A);
        assertThat(b.getSpiffeId()).isEqualTo(B);
        assertThat(get(m, A)).isSameAs(a);
        assertThat(issuer.calls).hasValue(2);
        assertThat(m.identities()).containsExactlyInAnyOrder(A, B);
        assertThat(m.defaultIdentity()).isEmpty();
        assertThat(SvidVerifier.verify(a.getChainArray(), m.bundles(), java.util.Date.from(clock.instant()))).isEqualTo(A);
    }

    @Test
    void concurrentFirstRequestsShareOneIssuance() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        issuer.gate = new CompletableFuture<>();
        CertificateManager m = manager(issuer);
        int callers = 32;
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<CompletableFuture<CompletableFuture<X509Svid>>> asked = new ArrayList<>();
            for (int i = 0; i < callers; i++) {
                asked.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        start.await();
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                    return m.svid(A);
                }, pool));
            }
            start.countDown();
            List<CompletableFuture<X509Svid>> futures = new ArrayList<>();
            for (var f : asked) {
                futures.add(f.get(10, TimeUnit.SECONDS));
            }
            assertThat(futures).allMatch(f -> !f.isDone());
            issuer.gate.complete(null);

            Set<X509Svid> got = new HashSet<>();
            for (var f : futures) {
                got.add(f.get(10, TimeUnit.SECONDS));
            }
            assertThat(got).hasSize(1);
            assertThat(issuer.calls).hasValue(1);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void refreshesPastHalfLifeAndFiresSvidRotated() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = manager(issuer);
        LinkedBlockingQueue<X509Svid> rotated = new LinkedBlockingQueue<>();
        m.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                rotated.add(svid);
            }
        });
        X509Svid first = get(m, A);

        clock.advance(Duration.ofMinutes(20)); // lifetime is 2 h + 1 min of back-dating: not yet half-way
        m.refreshDue().get(10, TimeUnit.SECONDS);
        assertThat(issuer.calls).hasValue(1);

        clock.advance(Duration.ofMinutes(50));
        m.refreshDue().get(10, TimeUnit.SECONDS);

        assertThat(issuer.calls).hasValue(2);
        X509Svid second = rotated.poll(10, TimeUnit.SECONDS);
        assertThat(second).isNotNull();
        assertThat(second.getLeaf()).isNotEqualTo(first.getLeaf());
        assertThat(get(m, A)).as("the listener and later callers see the same new SVID").isSameAs(second);
        assertThat(m.refreshAt(second)).isAfter(clock.instant());
    }

    @Test
    void failedRefreshKeepsServingUntilExpiry() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = manager(issuer);
        CountDownLatch rotated = new CountDownLatch(1);
        m.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                rotated.countDown();
            }
        });
        X509Svid first = get(m, A);
        issuer.down.set(true);

        clock.advance(Duration.ofMinutes(90));
        m.refreshDue().get(10, TimeUnit.SECONDS);
        assertThat(issuer.calls).as("a refresh was attempted").hasValue(2);
        assertThat(get(m, A)).as("CA down: the current SVID keeps serving").isSameAs(first);
        assertThat(issuer.calls).as("asking within the failed refresh's backoff does not ask the CA").hasValue(2);
        assertThat(rotated.getCount()).isEqualTo(1);

        clock.advance(Duration.ofMinutes(40)); // past notAfter, and past the backoff: asked again
        assertThatThrownBy(() -> get(m, A)).isInstanceOf(ExecutionException.class)
                .cause().hasMessageContaining("CA unavailable");
        assertThat(issuer.calls).hasValue(3);

        issuer.down.set(false);
        // Past the second failure's backoff: 150 s, as the identity has been failing for 40 minutes (over the backoff
        // crate's 15-minute max_elapsed_time, ztunnel waits exactly CERT_REFRESH_FAILURE_RETRY_DELAY_MAX_INTERVAL).
        assertThat(m.nextAttempt(A)).contains(clock.instant().plusSeconds(150));
        clock.advance(Duration.ofSeconds(150));
        assertThat(get(m, A).getLeaf()).as("recovers once the CA is back").isNotEqualTo(first.getLeaf());
    }

    @Test
    void concurrentRefreshesShareOneIssuance() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = manager(issuer);
        get(m, A);
        issuer.gate = new CompletableFuture<>();
        clock.advance(Duration.ofMinutes(70));

        List<CompletableFuture<Void>> checks = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            checks.add(m.refreshDue());
            m.svid(A);
        }
        assertThat(issuer.calls).hasValue(2);
        issuer.gate.complete(null);
        for (var c : checks) {
            c.get(10, TimeUnit.SECONDS);
        }
        assertThat(issuer.calls).hasValue(2);
    }

    @Test
    void boundedByMaximumSize() throws Exception {
        CertificateManager m = CertificateManager.builder().issuer(CertificateIssuer.of(ca)).trustBundles(ca.bundles())
                .maximumSize(3).clock(clock).checkInterval(null).build();
        toClose.add(m);
        for (int i = 0; i < 20; i++) {
            get(m, SpiffeIds.istio("node.test", "ns", "sa" + i));
        }
        assertThat(m.identities()).hasSizeLessThanOrEqualTo(3);
    }

    @Test
    void forgetDropsAnIdentityAndARunningRefreshDoesNotResurrectIt() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = manager(issuer);
        get(m, A);
        issuer.gate = new CompletableFuture<>();
        clock.advance(Duration.ofMinutes(70));
        CompletableFuture<Void> refresh = m.refreshDue();

        m.forget(A);
        issuer.gate.complete(null);
        refresh.get(10, TimeUnit.SECONDS);

        assertThat(m.identities()).doesNotContain(A);
    }

    @Test
    void aForgottenIdentityIsNoLongerReissuedAndListenersHearOfItOnce() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = manager(issuer);
        List<SpiffeId> forgotten = new java.util.concurrent.CopyOnWriteArrayList<>();
        m.addListener(new IdentityListener() {
            @Override
            public void svidForgotten(SpiffeId id) {
                forgotten.add(id);
            }
        });
        get(m, A);
        get(m, B);
        m.forget(A);
        m.forget(A);
        m.forget(SpiffeIds.istio("node.test", "ns1", "never-held"));
        assertThat(forgotten).as("once, and only for what was held").containsExactly(A);

        clock.advance(Duration.ofMinutes(70)); // both past half-life: only B is still held, so only B is re-issued
        m.refreshDue().get(10, TimeUnit.SECONDS);
        assertThat(issuer.calls).as("2 first issues + B's re-issue; A's CSRs stopped").hasValue(3);
        assertThat(m.identities()).containsExactly(B);
    }

    @Test
    void issuerAnsweringForAnotherIdentityIsRejected() {
        CertificateManager m = manager(id -> CompletableFuture.completedFuture(ca.issue(B)));

        assertThatThrownBy(() -> get(m, A)).isInstanceOf(ExecutionException.class)
                .cause().hasMessageContaining("for " + B + " when asked for " + A);
        assertThat(m.identities()).as("nothing held for a failed fetch").isEmpty();
    }

    @Test
    void issuerThatThrowsFailsTheFuture() {
        CertificateManager m = manager(id -> {
            throw new IllegalStateException("boom");
        });
        assertThatThrownBy(() -> get(m, A)).isInstanceOf(ExecutionException.class).cause().hasMessage("boom");
    }

    /**
     * A library user's pass: an SVID the issuer refused printed Caffeine's "Exception thrown during
     * asynchronous load" WARNING with a stack trace through java.util.logging (for applications without
     * a System.Logger bridge), beside zerohop's own report of the failure. The caller still gets the
     * issuer's error itself, not a cancellation.
     */
    @Test
    void aFailedIssuanceIsNotLoggedByTheCacheAndFailsWithTheIssuersError() throws Exception {
        try (CaffeineWarnings caffeine = new CaffeineWarnings()) {
            CountingIssuer issuer = new CountingIssuer();
            issuer.down.set(true);
            CertificateManager m = manager(issuer);
            CompletableFuture<X509Svid> f = m.svid(A);
            assertThatThrownBy(() -> f.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOf(IllegalStateException.class).hasMessage("CA unavailable");
            assertThat(f.isCancelled()).isFalse();
            assertThatThrownBy(() -> get(m, A)).as("remembered until its retry is due").cause().hasMessage("CA unavailable");
            assertThat(issuer.calls).hasValue(1);
            issuer.down.set(false);
            clock.advance(Duration.ofSeconds(2)); // past the first backoff (1 s ±20 %)
            assertThat(get(m, A).getSpiffeId()).isEqualTo(A);
            assertThat(issuer.calls).hasValue(2);
            assertThat(caffeine.seen).as("nothing logged by the cache").isEmpty();
        }
    }

    @Test
    void backgroundCheckRefreshesWithoutBeingAsked() throws Exception {
        // real clock: the in-memory CA back-dates by two minutes, so a short-lived SVID is due at once
        InMemoryCa shortLived = InMemoryCa.builder().trustDomain("node.test").svidTtl(Duration.ofSeconds(30)).build();
        CertificateManager m = CertificateManager.builder().issuer(CertificateIssuer.of(shortLived))
                .trustBundles(shortLived.bundles()).checkInterval(Duration.ofMillis(20)).build();
        toClose.add(m);
        CountDownLatch rotated = new CountDownLatch(1);
        m.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                rotated.countDown();
            }
        });
        X509Svid first = get(m, A);

        assertThat(rotated.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(get(m, A).getLeaf()).isNotEqualTo(first.getLeaf());
    }

    @Test
    void updateBundlesTellsListeners() throws Exception {
        CertificateManager m = manager(CertificateIssuer.of(ca));
        LinkedBlockingQueue<X509BundleSet> seen = new LinkedBlockingQueue<>();
        m.addListener(new IdentityListener() {
            @Override
            public void bundlesChanged(X509BundleSet set) {
                seen.add(set);
            }
        });
        ca.rotateRoot();
        m.updateBundles(ca.bundles());

        assertThat(seen.poll(5, TimeUnit.SECONDS)).isEqualTo(ca.bundles());
        assertThat(m.bundles()).isEqualTo(ca.bundles());
    }

    @Test
    void builderSaysWhatIsMissing() {
        assertThatThrownBy(() -> CertificateManager.builder().build())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("issuer").hasMessageContaining("trustBundles");
        assertThatThrownBy(() -> CertificateManager.builder().refreshFraction(1.0)).hasMessageContaining("refreshFraction");
        assertThatThrownBy(() -> CertificateManager.builder().maximumSize(0)).hasMessageContaining("maximumSize");
        assertThatThrownBy(() -> CertificateManager.builder().checkInterval(Duration.ZERO)).hasMessageContaining("checkInterval");
        assertThatThrownBy(() -> CertificateManager.builder().maxConcurrentFetches(0)).hasMessageContaining("maxConcurrentFetches");
    }

    /**
     * Review finding (CaReviewReproTest): a refused identity was asked for again on every request, one CSR to istiod
     * per connection. ztunnel (src/identity/manager.rs Worker::run) keeps the failure as CertState::Unavailable(err)
     * and answers callers with it until the identity's retry, on a backoff starting at 1 s (±20 %), doubling.
     */
    @Test
    void aRefusedIdentityIsNotAskedForAgainBeforeItsRetryIsDue() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        issuer.down.set(true);
        CertificateManager m = manager(issuer);

        Throwable first = failure(m.svid(A));
        for (int i = 0; i < 20; i++) {
            CompletableFuture<X509Svid> f = m.svid(A);
            assertThat(f).as("answered at once, from the stored failure").isDone();
            assertThat(failure(f)).as("the original error itself: its type and message").isSameAs(first);
        }
        assertThat(first).isInstanceOf(IllegalStateException.class).hasMessage("CA unavailable");
        assertThat(first.getSuppressed()).as("says when the CA is asked next").singleElement()
                .satisfies(s -> assertThat(s.getMessage()).contains("not asked for " + A + " again before "));
        assertThat(issuer.calls).hasValue(1);

        clock.advance(Duration.ofMillis(700)); // the first wait is 0.8 s at least
        failure(m.svid(A));
        assertThat(issuer.calls).hasValue(1);
        clock.advance(Duration.ofMillis(600)); // 1.3 s: past 1.2 s, the longest first wait
        failure(m.svid(A));
        assertThat(issuer.calls).as("asked again once the retry is due").hasValue(2);

        clock.advance(Duration.ofMillis(1500)); // the second wait is 2 s ±20 %: 1.6 s at least
        failure(m.svid(A));
        assertThat(issuer.calls).hasValue(2);
        clock.advance(Duration.ofMillis(1000));
        issuer.down.set(false);
        assertThat(get(m, A).getSpiffeId()).isEqualTo(A);
        assertThat(issuer.calls).hasValue(3);
        assertThat(get(m, A).getSpiffeId()).isEqualTo(A);
        assertThat(issuer.calls).as("held now: no more requests").hasValue(3);
    }

    /** Finding 1 through MeshTls: its context cache drops a failed load, so each new context lookup asked the CA again. */
    @Test
    void aTlsContextLookupForARefusedIdentityDoesNotAskTheCaEachTime() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        issuer.down.set(true);
        CertificateManager m = manager(issuer);
        try (MeshTls tls = MeshTls.builder(m).build()) {
            for (int i = 0; i < 20; i++) {
                assertThat(failure(tls.client(A, Set.of()))).hasMessage("CA unavailable");
                assertThat(failure(tls.server(A))).hasMessage("CA unavailable");
            }
        }
        assertThat(issuer.calls).hasValue(1);
    }

    /** ztunnel's randomization_factor 0.2: identities that failed together are retried at different times, each in 0.8..1.2 s. */
    @Test
    void identitiesThatFailedTogetherAreRetriedSpreadOut() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        issuer.down.set(true);
        CertificateManager m = manager(issuer);
        List<SpiffeId> ids = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            ids.add(SpiffeIds.istio("node.test", "ns", "sa" + i));
            failure(m.svid(ids.get(i)));
        }
        java.util.Map<SpiffeId, Integer> retriedAtStep = new java.util.HashMap<>();
        clock.advance(Duration.ofMillis(750));
        for (int step = 0; step <= 10; step++) { // 0.75 s .. 1.25 s in 50 ms steps
            for (SpiffeId id : ids) {
                int before = issuer.calls.get();
                failure(m.svid(id));
                if (issuer.calls.get() > before) {
                    assertThat(retriedAtStep.put(id, step)).as("one retry per identity").isNull();
                }
            }
            clock.advance(Duration.ofMillis(50));
        }
        assertThat(retriedAtStep).as("every identity retried by 1.2 s").hasSize(40);
        assertThat(retriedAtStep.values()).as("none before 0.8 s").doesNotContain(0);
        assertThat(new HashSet<>(retriedAtStep.values())).as("jitter: not all at once").hasSizeGreaterThan(1);
    }

    /**
     * ztunnel's ExponentialBackoff (src/identity/manager.rs Worker::run; backoff 0.4.0 next_backoff): 1 s doubling, capped at
     * 150 s and randomized ±20 % after the cap (120 to 180 s).
     */
    @Test
    void theBackoffDoublesFromOneSecondTo150WithItsJitter() {
        Duration start = Duration.ZERO;
        assertThat(CertificateManager.retryDelay(1, 0.5, start)).isEqualTo(Duration.ofSeconds(1));
        assertThat(CertificateManager.retryDelay(1, 0, start)).isEqualTo(Duration.ofMillis(800));
        assertThat(CertificateManager.retryDelay(1, 0.9999, start)).isEqualTo(Duration.ofMillis(1200));
        assertThat(CertificateManager.retryDelay(2, 0.5, start)).isEqualTo(Duration.ofSeconds(2));
        assertThat(CertificateManager.retryDelay(8, 0.5, start)).isEqualTo(Duration.ofSeconds(128));
        assertThat(CertificateManager.retryDelay(9, 0.5, start)).isEqualTo(Duration.ofSeconds(150));
        assertThat(CertificateManager.retryDelay(9, 0, start)).isEqualTo(Duration.ofSeconds(120));
        assertThat(CertificateManager.retryDelay(1_000, 0.9999, Duration.ofMinutes(5)))
                .as("the crate randomizes the capped interval too").isEqualTo(Duration.ofMillis(179_994));
    }

    /**
     * The backoff crate's default max_elapsed_time (15 minutes): past it, or when the wait would take the identity past it,
     * next_backoff is None and ztunnel waits exactly CERT_REFRESH_FAILURE_RETRY_DELAY_MAX_INTERVAL. zerohop kept the jitter.
     */
    @Test
    void afterFifteenMinutesOfFailuresTheWaitIsExactly150() {
        for (double random : new double[] {0, 0.3, 0.9999}) {
            assertThat(CertificateManager.retryDelay(12, random, Duration.ofMinutes(15).plusMillis(1))).isEqualTo(Duration.ofSeconds(150));
            assertThat(CertificateManager.retryDelay(3, random, Duration.ofMinutes(20))).isEqualTo(Duration.ofSeconds(150));
        }
        // 12 min 50 s in: a wait over 130 s would end past 15 minutes, so it is 150 s; a shorter one stays.
        assertThat(CertificateManager.retryDelay(10, 0.25, Duration.ofSeconds(770))).isEqualTo(Duration.ofSeconds(150));
        assertThat(CertificateManager.retryDelay(10, 0, Duration.ofSeconds(770))).isEqualTo(Duration.ofSeconds(120));
        assertThat(CertificateManager.retryDelay(10, 0.9999, Duration.ofSeconds(600))).isEqualTo(Duration.ofMillis(179_994));
    }

    /** The 15 minutes count from the end of the identity's first failure in a row, on the manager's clock, and restart after a success. */
    @Test
    void anIdentityFailingForFifteenMinutesIsRetriedEvery150Seconds() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        issuer.down.set(true);
        CertificateManager m = manager(issuer);
        Instant firstFailure = clock.instant();
        failure(m.svid(A));
        List<Duration> waits = new ArrayList<>();
        List<Duration> failingFor = new ArrayList<>();
        for (int attempt = 0; attempt < 30; attempt++) {
            Instant at = m.nextAttempt(A).orElseThrow();
            waits.add(Duration.between(clock.instant(), at));
            failingFor.add(Duration.between(firstFailure, clock.instant()));
            clock.advance(Duration.between(clock.instant(), at));
            failure(m.svid(A)); // due: this caller's request is the retry, and it fails
        }
        for (int i = 0; i < waits.size(); i++) {
            if (failingFor.get(i).compareTo(Duration.ofMinutes(15)) > 0) {
                assertThat(waits.get(i)).as("wait %d, %s after the first failure", i, failingFor.get(i)).isEqualTo(Duration.ofSeconds(150));
            }
        }
        assertThat(failingFor.get(failingFor.size() - 1)).isGreaterThan(Duration.ofMinutes(30));

        issuer.down.set(false);
        clock.advance(Duration.between(clock.instant(), m.nextAttempt(A).orElseThrow()));
        get(m, A);
        issuer.down.set(true);
        clock.advance(Duration.ofHours(1).plusMinutes(1)); // past the refresh point: the re-issue fails
        Instant t = clock.instant();
        get(m, A); // still served; a refresh starts and fails
        assertThat(Duration.between(t, m.nextAttempt(A).orElseThrow())).as("a success restarts the backoff")
                .isBetween(Duration.ofMillis(800), Duration.ofMillis(1200));
    }

    /**
     * Review finding (CaReviewReproTest): past half-life with the CA down, every svid() and every background check
     * re-issued. ztunnel keeps the valid certificate and schedules one retry per identity on its backoff.
     */
    @Test
    void aFailingRenewalIsRetriedOnItsBackoffNotOnEveryRequestOrCheck() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = manager(issuer);
        X509Svid first = get(m, A);
        issuer.down.set(true);
        clock.advance(Duration.ofMinutes(70)); // past half of the 2 h

        for (int i = 0; i < 10; i++) {
            assertThat(get(m, A)).as("the valid SVID keeps serving").isSameAs(first);
            m.refreshDue().get(10, TimeUnit.SECONDS);
        }
        assertThat(issuer.calls).as("the first issue and one renewal").hasValue(2);

        clock.advance(Duration.ofMillis(1300));
        assertThat(get(m, A)).isSameAs(first);
        m.refreshDue().get(10, TimeUnit.SECONDS);
        assertThat(issuer.calls).as("one retry once its backoff ended").hasValue(3);

        clock.advance(Duration.ofMillis(1500)); // second wait: 1.6 s at least
        m.refreshDue().get(10, TimeUnit.SECONDS);
        assertThat(get(m, A)).isSameAs(first);
        assertThat(issuer.calls).hasValue(3);
        clock.advance(Duration.ofMillis(1000));
        issuer.down.set(false);
        m.refreshDue().get(10, TimeUnit.SECONDS);
        assertThat(issuer.calls).hasValue(4);
        assertThat(get(m, A).getLeaf()).as("renewed").isNotEqualTo(first.getLeaf());
    }

    /** ztunnel: the retry after a failed renewal is at min(backoff, expiry), so a valid SVID never lapses waiting for it. */
    @Test
    void aFailedRenewalIsRetriedNoLaterThanTheSvidExpires() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = manager(issuer);
        X509Svid first = get(m, A);
        issuer.down.set(true);
        Instant notAfter = first.getLeaf().getNotAfter().toInstant();
        clock.advance(Duration.between(clock.instant(), notAfter).minusMillis(500));
        m.refreshDue().get(10, TimeUnit.SECONDS);
        assertThat(issuer.calls).hasValue(2);

        clock.advance(Duration.ofMillis(250));
        m.refreshDue().get(10, TimeUnit.SECONDS);
        assertThat(get(m, A)).isSameAs(first);
        assertThat(issuer.calls).as("backing off").hasValue(2);

        clock.advance(Duration.ofMillis(250)); // the SVID's expiry, before the 0.8 s the backoff alone would wait
        m.refreshDue().get(10, TimeUnit.SECONDS);
        assertThat(issuer.calls).as("retried at expiry").hasValue(3);
        assertThat(failure(m.svid(A))).hasMessage("CA unavailable");
    }

    /** ztunnel retries a failed identity itself (it stays managed): nobody has to ask for it again. */
    @Test
    void aFailedIdentityIsRetriedInTheBackgroundAndListenersHearWhenItRecovers() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        InMemoryCa real = InMemoryCa.builder().trustDomain("node.test").build();
        toClose.add(real);
        CertificateManager m = CertificateManager.builder().trustBundles(real.bundles())
                .issuer(id -> calls.incrementAndGet() == 1 ? CompletableFuture.failedFuture(new IllegalStateException("CA unavailable"))
                        : CompletableFuture.completedFuture(real.issue(id)))
                .checkInterval(Duration.ofHours(1)) // the retry's own timer, not the periodic check
                .build();
        toClose.add(m);
        LinkedBlockingQueue<X509Svid> rotated = new LinkedBlockingQueue<>();
        m.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                rotated.add(svid);
            }
        });
        assertThat(failure(m.svid(A))).hasMessage("CA unavailable");

        X509Svid recovered = rotated.poll(20, TimeUnit.SECONDS);
        assertThat(recovered).as("retried without being asked").isNotNull();
        assertThat(recovered.getSpiffeId()).isEqualTo(A);
        assertThat(m.identities()).containsExactly(A);
        assertThat(get(m, A)).isSameAs(recovered);
        assertThat(calls).hasValue(2);
    }

    /** ztunnel's SecretManager runs at most 8 fetch_certificate calls at once (SecretManagerConfig.concurrency). */
    @Test
    void atMostEightFetchesRunAtOnce() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        issuer.gate = new CompletableFuture<>();
        CertificateManager m = manager(issuer);
        List<CompletableFuture<X509Svid>> all = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            all.add(m.svid(SpiffeIds.istio("node.test", "ns", "sa" + i)));
        }
        assertThat(issuer.calls).as("8 requests to the CA, 12 queued").hasValue(8);
        issuer.gate.complete(null);
        for (CompletableFuture<X509Svid> f : all) {
            f.get(10, TimeUnit.SECONDS);
        }
        assertThat(issuer.calls).hasValue(20);
    }

    /** ztunnel's priorities: a fetch a caller waits for runs before a queued refresh (RealTime before Background). */
    @Test
    void aCallersFetchRunsBeforeQueuedRefreshes() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = CertificateManager.builder().issuer(issuer).trustBundles(ca.bundles())
                .clock(clock).checkInterval(null).maxConcurrentFetches(1).build();
        toClose.add(m);
        get(m, A);
        clock.advance(Duration.ofMinutes(70)); // A is due for refresh
        SpiffeId x = SpiffeIds.istio("node.test", "ns1", "x");
        SpiffeId y = SpiffeIds.istio("node.test", "ns1", "y");
        issuer.gate = new CompletableFuture<>();
        CompletableFuture<X509Svid> fx = m.svid(x); // takes the one slot
        CompletableFuture<Void> refresh = m.refreshDue(); // A's refresh queues
        CompletableFuture<X509Svid> fy = m.svid(y); // a caller waits: ahead of it
        assertThat(issuer.asked).containsExactly(A, x);

        issuer.gate.complete(null);
        fx.get(10, TimeUnit.SECONDS);
        fy.get(10, TimeUnit.SECONDS);
        refresh.get(10, TimeUnit.SECONDS);
        assertThat(issuer.asked).containsExactly(A, x, y, A);
    }

    /**
     * certificateState reads ztunnel's CertState (src/identity/manager.rs, as collect_certs reads it for the admin dump)
     * and changes nothing: no fetch, no queued warm-up moved ahead, no refresh of an SVID past its refresh point.
     */
    @Test
    void certificateStateReadsWithoutFetching() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = oneAtATime(issuer);
        assertThat(m.certificateState(A)).as("never asked").isEmpty();
        assertThat(issuer.calls).hasValue(0);

        issuer.gate = new CompletableFuture<>();
        CompletableFuture<X509Svid> a = m.svid(A);
        CompletableFuture<X509Svid> b = m.prefetch(B);
        CompletableFuture<X509Svid> x = m.prefetch(n("x"));
        assertThat(m.certificateState(A)).containsInstanceOf(CertificateState.Initializing.class);
        assertThat(m.certificateState(n("x"))).containsInstanceOf(CertificateState.Initializing.class);
        issuer.gate.complete(null);
        CompletableFuture.allOf(a, b, x).get(10, TimeUnit.SECONDS);
        assertThat(issuer.asked).as("x's warm-up was not moved ahead of b's").containsExactly(A, B, n("x"));
        assertThat(m.certificateState(A)).hasValueSatisfying(st ->
                assertThat(((CertificateState.Available) st).svid()).isSameAs(a.join()));

        // Past its refresh point: still Available, and no re-issue started by the read.
        clock.advance(Duration.ofMinutes(90));
        assertThat(m.certificateState(A)).containsInstanceOf(CertificateState.Available.class);
        assertThat(issuer.calls).hasValue(3);

        issuer.down.set(true);
        assertThat(failure(m.svid(n("y")))).hasMessage("CA unavailable");
        assertThat(m.certificateState(n("y"))).hasValueSatisfying(st ->
                assertThat(((CertificateState.Unavailable) st).error()).hasMessage("CA unavailable"));
        m.forget(n("y"));
        assertThat(m.certificateState(n("y"))).as("forgotten").isEmpty();
        assertThat(issuer.calls).hasValue(4);
        assertThatThrownBy(() -> m.certificateState(null)).isInstanceOf(NullPointerException.class);
    }

    private CertificateManager oneAtATime(CountingIssuer issuer) {
        CertificateManager m = CertificateManager.builder().issuer(issuer).trustBundles(ca.bundles())
                .clock(clock).checkInterval(null).maxConcurrentFetches(1).build();
        toClose.add(m);
        return m;
    }

    private static SpiffeId n(String name) {
        return SpiffeIds.istio("node.test", "ns1", name);
    }

    /**
     * ztunnel's test_priority (src/identity/manager.rs): with one fetch at a time, a caller's fetch (RealTime), then a
     * warm-up (Warmup), then a refresh (Background), whatever order they were asked in. Until 6 December the mesh's
     * warm-ups were callers' fetches and ran in the order asked.
     */
    @Test
    void fetchesRunCallersFirstThenWarmUpsThenRefreshes() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = oneAtATime(issuer);
        get(m, A);
        clock.advance(Duration.ofMinutes(70)); // A is due for refresh
        issuer.gate = new CompletableFuture<>();
        CompletableFuture<X509Svid> first = m.svid(n("id1")); // takes the one slot
        CompletableFuture<Void> refresh = m.refreshDue(); // Background
        CompletableFuture<X509Svid> warm = m.prefetch(n("id3")); // Warmup
        CompletableFuture<X509Svid> caller = m.svid(n("id4")); // RealTime
        assertThat(issuer.asked).containsExactly(A, n("id1"));

        issuer.gate.complete(null);
        for (CompletableFuture<?> f : List.of(first, refresh, warm, caller)) {
            f.get(10, TimeUnit.SECONDS);
        }
        assertThat(issuer.asked).containsExactly(A, n("id1"), n("id4"), n("id3"), A);
    }

    /** ztunnel's test_warmup_new: a caller's first fetch does not wait behind queued warm-ups of other identities. */
    @Test
    void aCallersFetchRunsBeforeQueuedWarmUps() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = oneAtATime(issuer);
        issuer.gate = new CompletableFuture<>();
        List<CompletableFuture<X509Svid>> warm = new ArrayList<>();
        for (int i = 1; i < 5; i++) {
            warm.add(m.prefetch(n("warmup-" + i)));
        }
        CompletableFuture<X509Svid> realtime = m.svid(n("realtime"));
        issuer.gate.complete(null);
        assertThat(realtime.get(10, TimeUnit.SECONDS).getSpiffeId()).isEqualTo(n("realtime"));
        for (CompletableFuture<X509Svid> f : warm) {
            f.get(10, TimeUnit.SECONDS);
        }
        assertThat(issuer.asked).containsExactly(n("warmup-1"), n("realtime"), n("warmup-2"), n("warmup-3"), n("warmup-4"));
    }

    /** ztunnel's test_warmup_existing: a caller asking for an identity whose warm-up is queued moves it ahead. */
    @Test
    void aCallerMovesAQueuedWarmUpOfItsIdentityAhead() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = oneAtATime(issuer);
        issuer.gate = new CompletableFuture<>();
        List<CompletableFuture<X509Svid>> warm = new ArrayList<>();
        for (int i = 1; i < 5; i++) {
            warm.add(m.prefetch(n("warmup-" + i)));
        }
        CompletableFuture<X509Svid> caller = m.svid(n("warmup-4"));
        issuer.gate.complete(null);
        assertThat(caller.get(10, TimeUnit.SECONDS)).isSameAs(warm.get(3).get(10, TimeUnit.SECONDS));
        for (CompletableFuture<X509Svid> f : warm) {
            f.get(10, TimeUnit.SECONDS);
        }
        assertThat(issuer.asked).as("one fetch of warmup-4, second").containsExactly(
                n("warmup-1"), n("warmup-4"), n("warmup-2"), n("warmup-3"));
    }

    /**
     * ztunnel's test_forget_pending (src/identity/manager.rs): an identity forgotten while its fetch waits for a slot
     * is never asked of the CA (its {@code Request::Forget} removes it from {@code pending}), and those waiting for it
     * hear "the identity is no longer needed" ({@code Error::Forgotten}). Until 6 December the queued fetch still
     * sent its CSR when its turn came, for a workload that had left the node, and a queued refresh likewise.
     */
    @Test
    void aFetchStillQueuedWhenItsIdentityIsForgottenIsNeverSent() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = oneAtATime(issuer);
        get(m, A);
        clock.advance(Duration.ofMinutes(70)); // A is due for refresh
        issuer.gate = new CompletableFuture<>();
        CompletableFuture<X509Svid> running = m.svid(n("running")); // takes the one slot
        CompletableFuture<X509Svid> warm = m.prefetch(n("left")); // a pod's warm-up, queued
        CompletableFuture<Void> refresh = m.refreshDue(); // A's refresh, queued
        m.forget(n("left"));
        m.forget(A);

        assertThat(failure(warm)).hasMessageContaining("no longer needed").hasMessageContaining(n("left").toString());
        issuer.gate.complete(null);
        running.get(10, TimeUnit.SECONDS);
        refresh.get(10, TimeUnit.SECONDS);
        assertThat(issuer.asked).as("no CSR for what was forgotten before its turn").containsExactly(A, n("running"));
        assertThat(m.identities()).containsExactly(n("running"));
        assertThat(get(m, n("left")).getSpiffeId()).as("asked for again later: a new fetch").isEqualTo(n("left"));
    }

    /**
     * ztunnel's test_forget_pending (src/identity/manager.rs) with the fetch already at the CA: those waiting for it get
     * {@code Error::Forgotten} at once (their watch channel's sender goes with the identity's state), not the
     * certificate whenever the CA answers. Until 6 December they waited for the CA, and a workload gone and back while
     * its warm-up ran was never warmed up again (the mesh's fetcher still saw that warm-up under way).
     */
    @Test
    void thoseWaitingForARunningFetchOfAForgottenIdentityHearSoAtOnce() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = oneAtATime(issuer);
        issuer.gate = new CompletableFuture<>();
        CompletableFuture<X509Svid> warm = m.prefetch(n("left")); // at the CA
        CompletableFuture<X509Svid> caller = m.svid(n("left"));
        m.forget(n("left"));

        assertThat(failure(warm)).hasMessageContaining("no longer needed").hasMessageContaining(n("left").toString());
        assertThat(failure(caller)).hasMessageContaining("no longer needed");
        issuer.gate.complete(null);
        assertThat(get(m, n("other")).getSpiffeId()).isEqualTo(n("other")); // the slot is free again
        assertThat(m.identities()).as("what the CA answered for it is not kept").containsExactly(n("other"));
    }

    /**
     * ztunnel's Worker::run: a {@code Request::Fetch} for an identity whose fetch is still running after a
     * {@code Request::Forget} ({@code Fetch::Forgetting}) turns it back to {@code Fetch::Processing}; the answer is
     * stored, no second CSR sent. Until 6 December the identity asked for again sent another CSR.
     */
    @Test
    void anIdentityAskedForAgainWhileItsForgottenFetchRunsTakesThatFetch() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = oneAtATime(issuer);
        issuer.gate = new CompletableFuture<>();
        CompletableFuture<X509Svid> first = m.prefetch(n("back"));
        m.forget(n("back"));
        assertThat(failure(first)).hasMessageContaining("no longer needed");
        CompletableFuture<X509Svid> again = m.prefetch(n("back")); // the pod is back, the CSR still at the CA
        issuer.gate.complete(null);

        assertThat(again.get(10, TimeUnit.SECONDS).getSpiffeId()).isEqualTo(n("back"));
        assertThat(issuer.asked).as("one CSR").containsExactly(n("back"));
        assertThat(m.identities()).containsExactly(n("back"));
        assertThat(get(m, n("back"))).isSameAs(again.get());
        assertThat(issuer.calls).hasValue(1);
    }

    /**
     * ztunnel's worker takes a Forget and a Fetch of one identity one after the other, so an identity asked for again while
     * it is being forgotten either keeps its running fetch or takes it back (Fetch::Forgetting to Processing): never a
     * second CSR (src/identity/manager.rs Worker::run). zerohop's forget took the entry out of the map before it
     * registered the running fetch for take-back, and a lookup in between started a second fetch; so did one landing
     * after the pump took the fetch off the queue and before it marked it running. Races a forget with a new request
     * for each of many identities, each with its first fetch at the issuer; counts the CSRs. A race, not a schedule: on
     * the old code three runs of its 300 rounds sent a second CSR in 4, 19 and 25 of them.
     */
    @Test
    void anIdentityAskedForAgainAsItIsForgottenSendsNoSecondCsr() throws Exception {
        java.util.Map<SpiffeId, AtomicInteger> csrs = new java.util.concurrent.ConcurrentHashMap<>();
        List<CompletableFuture<X509Svid>> atTheCa = new java.util.concurrent.CopyOnWriteArrayList<>();
        CertificateIssuer issuer = id -> {
            csrs.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
            CompletableFuture<X509Svid> f = new CompletableFuture<>();
            atTheCa.add(f);
            return f;
        };
        CertificateManager m = CertificateManager.builder().issuer(issuer).trustBundles(ca.bundles()).clock(clock)
                .checkInterval(null).maxConcurrentFetches(1_000_000).build();
        toClose.add(m);
        ExecutorService two = Executors.newFixedThreadPool(2);
        try {
            for (int round = 0; round < 300; round++) {
                SpiffeId id = SpiffeIds.istio("node.test", "race", "sa" + round);
                CompletableFuture<X509Svid> first = m.svid(id); // its fetch is at the issuer now
                AtomicBoolean ready = new AtomicBoolean();
                AtomicBoolean asking = new AtomicBoolean();
                AtomicBoolean done = new AtomicBoolean();
                java.util.concurrent.Future<?> forgot = two.submit(() -> {
                    ready.set(true);
                    while (!asking.get()) {
                        Thread.onSpinWait();
                    }
                    m.forget(id);
                    done.set(true);
                });
                // Asks again and again, the forgetting thread ready to go, so that a request lands inside the forget.
                java.util.concurrent.Future<CompletableFuture<X509Svid>> again = two.submit(() -> {
                    while (!ready.get()) {
                        Thread.onSpinWait();
                    }
                    for (int i = 0; i < 3_000 && !done.get(); i++) {
                        m.svid(id);
                        asking.set(true);
                    }
                    return m.svid(id);
                });
                forgot.get(10, TimeUnit.SECONDS);
                CompletableFuture<X509Svid> second = again.get(10, TimeUnit.SECONDS);
                assertThat(csrs.get(id)).as("CSRs for %s (round %d)", id, round).hasValue(1);
                for (CompletableFuture<X509Svid> f : atTheCa) {
                    f.completeExceptionally(new IllegalStateException("round over")); // no key pair per round: quick
                }
                atTheCa.clear();
                assertThat(failure(first)).hasMessageContaining("no longer needed");
                // Asked before the forget: told it is no longer needed; after: the running fetch's SVID.
                second.handle((svid, err) -> svid != null ? svid.getSpiffeId() : err.getMessage()).get(10, TimeUnit.SECONDS);
            }
        } finally {
            two.shutdownNow();
        }
    }

    /** A prefetch is svid in all else: a held SVID is answered as it is, without asking the CA. */
    @Test
    void aPrefetchOfAHeldSvidAnswersIt() throws Exception {
        CountingIssuer issuer = new CountingIssuer();
        CertificateManager m = manager(issuer);
        X509Svid held = get(m, A);
        assertThat(m.prefetch(A).get(10, TimeUnit.SECONDS)).isSameAs(held);
        assertThat(issuer.calls).hasValue(1);
    }

    private static Throwable failure(CompletableFuture<?> f) {
        try {
            f.get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (Exception e) {
            throw new AssertionError("no failure: " + e, e);
        }
        throw new AssertionError("completed without failing");
    }
}
