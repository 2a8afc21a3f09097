package io.zerohop.core;

import static io.zerohop.core.CertFetchTest.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.CertificateManager;
import io.zerohop.identity.IdentityListener;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.identity.InMemoryCa;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A workload certificate whose fetch failed (at start, or when the workload appeared) is asked for again on
 * ztunnel's backoff until it is issued, as ztunnel keeps its warm-up fetches managed and retries them
 * (istio/ztunnel src/cert_fetcher.rs, src/identity/manager.rs): before, it was never asked for again, and
 * readiness ("identity") stayed pending for good once the CA was back (the review's CertPrefetchRetryReproTest).
 * No connection is made in these tests: only the mesh asks. Waits are generous, never measured.
 */
class CertFetchRetryTest {
    private static final String TD = "cluster.local";
    private static final SpiffeId ZTUNNEL = SpiffeId.parse("spiffe://" + TD + "/ns/istio-system/sa/ztunnel");

    private static SpiffeId id(String sa) {
        return SpiffeId.parse("spiffe://" + TD + "/ns/prod/sa/" + sa);
    }

    private static Workload pod(String name, String ip) throws Exception {
        return new Workload("prod", name, name, Map.of("app", name), List.of(InetAddress.getByName(ip)), Workload.Protocol.HBONE,
                "n1", TD);
    }

    /** The review's reproduction: the Istio CA's manager in front of a CA that is down for one identity at start. */
    @Test
    void aWorkloadCertificateThatFailedAtStartIsRetriedAndReadinessCompletes() throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        SpiffeId a = id("a");
        Set<SpiffeId> down = ConcurrentHashMap.newKeySet();
        down.add(a);
        AtomicInteger asksForA = new AtomicInteger();
        CertificateManager m = CertificateManager.builder().trustBundles(ca.bundles()).issuer(id -> {
            if (id.equals(a)) {
                asksForA.incrementAndGet();
                if (down.contains(id)) {
                    return CompletableFuture.failedFuture(new IllegalStateException("UNAVAILABLE (istiod restarting)"));
                }
            }
            return CompletableFuture.completedFuture(ca.issue(id));
        }).build();
        try (Mesh mesh = Mesh.builder().identityProvider(m).identity(ZTUNNEL)
                .workloads(WorkloadRegistry.of(List.of(pod("a", "127.0.92.1")), Map.of())).node("n1").threads(1).build()) {
            mesh.start().get(10, TimeUnit.SECONDS);
            await(() -> asksForA.get() >= 1, "the first fetch of a's certificate");
            assertThat(mesh.pendingReadiness()).contains("identity");
            down.remove(a); // istiod is back

            await(() -> !mesh.pendingReadiness().contains("identity"), "readiness once a's certificate is issued");
            assertThat(asksForA.get()).as("a's certificate asked for again, no connection made").isGreaterThanOrEqualTo(2);
            mesh.ready().get(10, TimeUnit.SECONDS);
        } finally {
            m.close();
            ca.close();
        }
    }

    /** Any provider, not only one that retries by itself: the mesh asks again on its own backoff. */
    @Test
    void aProviderThatDoesNotRetryIsAskedAgainByTheMesh() throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        Flaky provider = new Flaky(ca);
        provider.failures.put(id("a"), new AtomicInteger(2)); // fails twice, then issues
        try (Mesh mesh = Mesh.builder().identityProvider(provider).identity(ZTUNNEL)
                .workloads(WorkloadRegistry.of(List.of(pod("a", "127.0.92.2")), Map.of())).node("n1").threads(1).build()) {
            mesh.start().get(10, TimeUnit.SECONDS);
            mesh.ready().get(20, TimeUnit.SECONDS);
            assertThat(provider.asks(id("a"))).as("two failures, then the fetch that succeeded").isEqualTo(3);
        } finally {
            ca.close();
        }
    }

    /** A start identity whose last local workload left is no longer served: readiness stops waiting for it. */
    @Test
    void readinessStopsWaitingForAnIdentityThatLeftTheNode() throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        Flaky provider = new Flaky(ca);
        provider.failures.put(id("b"), new AtomicInteger(Integer.MAX_VALUE)); // the CA never issues b
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(pod("a", "127.0.92.3"), pod("b", "127.0.92.4")), Map.of());
        try (Mesh mesh = Mesh.builder().identityProvider(provider).identity(ZTUNNEL).workloads(registry).node("n1").threads(1).build()) {
            mesh.start().get(10, TimeUnit.SECONDS);
            await(() -> provider.asks(id("b")) >= 2, "b retried");
            assertThat(mesh.pendingReadiness()).contains("identity");

            registry.remove("prod", "b");
            mesh.ready().get(20, TimeUnit.SECONDS);
            assertThat(mesh.pendingReadiness()).isEmpty();
        } finally {
            ca.close();
        }
    }

    /** A workload that appears after start and whose prefetch fails is retried too (it was "skipping"). */
    @Test
    void aFailedPrefetchOfANewWorkloadIsRetried() throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        Flaky provider = new Flaky(ca);
        provider.failures.put(id("d"), new AtomicInteger(1));
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(pod("a", "127.0.92.5")), Map.of());
        try (Mesh mesh = Mesh.builder().identityProvider(provider).identity(ZTUNNEL).workloads(registry).node("n1").threads(1).build()) {
            mesh.start().get(10, TimeUnit.SECONDS);
            mesh.ready().get(20, TimeUnit.SECONDS);
            registry.put(pod("d", "127.0.92.6"));
            await(() -> provider.issued.contains(id("d")), "d's certificate issued after its failed prefetch, no connection made");
            assertThat(provider.asks(id("d"))).isEqualTo(2);
        } finally {
            ca.close();
        }
    }

    /** A node-mode provider that fails an identity's first N requests, as a CA that refuses and then recovers; it never retries itself. */
    static final class Flaky implements IdentityProvider {
        final InMemoryCa ca;
        final Map<SpiffeId, AtomicInteger> failures = new ConcurrentHashMap<>();
        final Map<SpiffeId, AtomicInteger> asks = new ConcurrentHashMap<>();
        final Set<SpiffeId> issued = ConcurrentHashMap.newKeySet();

        Flaky(InMemoryCa ca) {
            this.ca = ca;
        }

        int asks(SpiffeId id) {
            AtomicInteger n = asks.get(id);
            return n == null ? 0 : n.get();
        }

        @Override
        public Optional<SpiffeId> defaultIdentity() {
            return Optional.empty();
        }

        @Override
        public CompletableFuture<X509Svid> svid(SpiffeId id) {
            asks.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
            AtomicInteger left = failures.get(id);
            if (left != null && left.getAndUpdate(n -> n == Integer.MAX_VALUE ? n : Math.max(0, n - 1)) > 0) {
                return CompletableFuture.failedFuture(new IllegalStateException("CA refused " + id));
            }
            issued.add(id);
            return ca.svid(id);
        }

        @Override
        public void forget(SpiffeId id) {
            ca.forget(id);
        }

        @Override
        public X509BundleSet bundles() {
            return ca.bundles();
        }

        @Override
        public void addListener(IdentityListener listener) {
            ca.addListener(listener);
        }

        @Override
        public void removeListener(IdentityListener listener) {
            ca.removeListener(listener);
        }

        @Override
        public void close() {
        }
    }
}
