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
        final AtomicBoolean down = new AtomicBoolean();
        volatile CompletableFuture<Void> gate = CompletableFuture.completedFuture(null);

        @Override
        public CompletableFuture<X509Svid> issue(SpiffeId id) {
            calls.incrementAndGet();
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
        assertThat(issuer.calls).as("asking past the refresh point retries").hasValue(3);
        assertThat(rotated.getCount()).isEqualTo(1);

        clock.advance(Duration.ofMinutes(40)); // past notAfter
        assertThatThrownBy(() -> get(m, A)).isInstanceOf(ExecutionException.class)
                .cause().hasMessageContaining("CA unavailable");

        issuer.down.set(false);
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
        assertThat(m.identities()).as("failures are not cached").isEmpty();
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
            assertThatThrownBy(() -> get(m, A)).as("not cached: asked again").cause().hasMessage("CA unavailable");
            assertThat(issuer.calls).hasValue(2);
            issuer.down.set(false);
            assertThat(get(m, A).getSpiffeId()).isEqualTo(A);
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
    }
}
