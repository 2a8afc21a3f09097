package io.zerohop.core.internal;

import io.zerohop.identity.testing.MutableClock;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.CertificateManager;
import io.zerohop.identity.InMemoryCa;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@code /config_dump} reads the certificates' state as ztunnel's dump does, from its SecretManager (istio/ztunnel
 * src/admin.rs {@code dump_certs} over src/identity/manager.rs {@code collect_certs} and {@code CertState}): reading
 * it sends no CSR and moves no queued fetch ahead, and an identity whose fetch failed shows {@code Unavailable:
 * <error>} with ztunnel's empty {@code certChain} and {@code rootCerts}, also while its retry runs. Until 6 December the
 * dump asked {@code provider.svid(id)}: it fetched a certificate no workload had asked for, raised a queued warm-up to a
 * connection's priority, and showed a running retry as {@code Initializing}. The CA is a real one (InMemoryCa) behind a
 * counting issuer.
 */
class ConfigDumpReadOnlyTest {
    private static final SpiffeId A = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/a");
    private static final SpiffeId B = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/b");
    private static final SpiffeId C = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/c");
    private static final SpiffeId NEVER = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/never-asked");
    private static final SpiffeId FAILS = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/fails");

    /** Signs with a real CA, counting requests; an identity with a gate waits for it; FAILS is refused the first time. */
    private static final class CountingCa {
        final InMemoryCa ca = InMemoryCa.create("cluster.local");
        final List<SpiffeId> requests = new CopyOnWriteArrayList<>();
        final Map<SpiffeId, CompletableFuture<Void>> gates = new ConcurrentHashMap<>();

        CompletableFuture<X509Svid> issue(SpiffeId id) {
            requests.add(id);
            if (id.equals(FAILS) && requests.stream().filter(FAILS::equals).count() == 1) {
                return CompletableFuture.failedFuture(new IllegalStateException("CSR signing error (istiod is not ready)"));
            }
            CompletableFuture<Void> gate = gates.getOrDefault(id, CompletableFuture.completedFuture(null));
            return gate.thenApply(v -> ca.issue(id));
        }

        CertificateManager manager(Clock clock) {
            return CertificateManager.builder().issuer(this::issue).trustBundles(ca.bundles())
                    .checkInterval(null).maxConcurrentFetches(1).clock(clock).build();
        }
    }

    private static JsonNode certificates(CertificateManager m, Set<SpiffeId> served) throws Exception {
        String json = ConfigDump.render(List.of(), null, m, served, Map.of(), 0, Set.of(), Set.of(), Map.of());
        return new ObjectMapper().readTree(json).get("certificates");
    }

    private static JsonNode of(JsonNode certs, SpiffeId id) {
        for (JsonNode c : certs) {
            if (c.get("identity").asText().equals(id.toString())) {
                return c;
            }
        }
        return null;
    }

    @Test
    void readingTheDumpStartsNoFetchAndMovesNoWarmUpAhead() throws Exception {
        CountingCa ca = new CountingCa();
        try (CertificateManager m = ca.manager(new MutableClock(java.time.Instant.now()))) {
            // A holds the one slot; B and C wait behind it as warm-ups, B first.
            ca.gates.put(A, new CompletableFuture<>());
            CompletableFuture<X509Svid> a = m.svid(A);
            CompletableFuture<X509Svid> b = m.prefetch(B);
            CompletableFuture<X509Svid> c = m.prefetch(C);
            assertThat(ca.requests).containsExactly(A);

            JsonNode certs = certificates(m, Set.of(A, C, NEVER));
            assertThat(ca.requests).as("CSRs sent by reading the dump").containsExactly(A);
            assertThat(of(certs, A).get("state").asText()).isEqualTo("Initializing");
            assertThat(of(certs, C).get("state").asText()).isEqualTo("Initializing");
            JsonNode initializing = of(certs, C);

            ca.gates.get(A).complete(null);
            CompletableFuture.allOf(a, b, c).get(10, TimeUnit.SECONDS);
            m.refreshDue().get(10, TimeUnit.SECONDS);
            assertThat(ca.requests).as("the warm-ups in the order they were asked for, and nothing else").containsExactly(A, B, C);
            // Not held by the manager, as ztunnel lists only what its SecretManager holds.
            assertThat(of(certs, NEVER)).isNull();
            // ztunnel's CertsDump: certChain and rootCerts are there, empty, until Available.
            assertThat(initializing.get("certChain").size()).isZero();
            assertThat(initializing.get("rootCerts").size()).isZero();

            certs = certificates(m, Set.of(A, B, C, NEVER));
            assertThat(certs.size()).isEqualTo(3);
            for (JsonNode cert : certs) {
                assertThat(cert.get("state").asText()).isEqualTo("Available");
                assertThat(cert.get("certChain").size()).isPositive();
                assertThat(cert.get("rootCerts").size()).isPositive();
            }
            assertThat(ca.requests).containsExactly(A, B, C);
        }
    }

    @Test
    void aFailedFetchIsUnavailableWithItsErrorAlsoWhileItsRetryRuns() throws Exception {
        CountingCa ca = new CountingCa();
        MutableClock clock = new MutableClock(java.time.Instant.now());
        try (CertificateManager m = ca.manager(clock)) {
            assertThat(m.svid(FAILS)).failsWithin(10, TimeUnit.SECONDS);
            JsonNode failed = of(certificates(m, Set.of(FAILS)), FAILS);
            // ztunnel: format!("Unavailable: {err}").
            assertThat(failed.get("state").asText()).isEqualTo("Unavailable: CSR signing error (istiod is not ready)");
            assertThat(ca.requests).containsExactly(FAILS);

            // Its retry is due and runs (held at the CA): ztunnel's state stays Unavailable until the retry's result.
            clock.advance(Duration.ofSeconds(2)); // past the first retry (1 s, ±20 %)
            ca.gates.put(FAILS, new CompletableFuture<>());
            CompletableFuture<Void> retry = m.refreshDue();
            assertThat(ca.requests).containsExactly(FAILS, FAILS);
            JsonNode c = of(certificates(m, Set.of(FAILS)), FAILS);
            assertThat(c.get("state").asText()).isEqualTo("Unavailable: CSR signing error (istiod is not ready)");
            assertThat(ca.requests).as("CSRs sent by reading the dump").containsExactly(FAILS, FAILS);

            // ztunnel's CertsDump: certChain and rootCerts are there, empty, unless Available.
            assertThat(failed.get("certChain").size()).isZero();
            assertThat(failed.get("rootCerts").size()).isZero();

            ca.gates.get(FAILS).complete(null);
            retry.get(10, TimeUnit.SECONDS);
            assertThat(of(certificates(m, Set.of(FAILS)), FAILS).get("state").asText()).isEqualTo("Available");
        }
    }
    /**
     * ztunnel's dump lists every certificate its SecretManager holds (src/admin.rs dump_certs over collect_certs), whatever
     * asked for it; zerohop's listed only the identities the mesh serves, so a certificate a connection or an embedding
     * application had fetched, or one held for a workload gone until its forget, was missing, and so was one still being
     * fetched. The served identity the manager does not hold is not listed, as before.
     */
    @Test
    void everyCertificateTheManagerHoldsIsListedServedOrNot() throws Exception {
        CountingCa ca = new CountingCa();
        try (CertificateManager m = ca.manager(Clock.systemUTC())) {
            m.svid(A).get(10, TimeUnit.SECONDS);
            m.svid(B).get(10, TimeUnit.SECONDS); // asked for, but by no served workload
            assertThat(m.svid(FAILS)).failsWithin(10, TimeUnit.SECONDS);
            ca.gates.put(C, new CompletableFuture<>());
            CompletableFuture<X509Svid> pending = m.svid(C); // at the CA (the manager's one slot) until its gate opens

            JsonNode certs = certificates(m, Set.of(A, NEVER));
            List<String> ids = new java.util.ArrayList<>();
            certs.forEach(c -> ids.add(c.get("identity").asText()));
            assertThat(ids).containsExactly(A.toString(), B.toString(), C.toString(), FAILS.toString());
            assertThat(of(certs, B).get("state").asText()).isEqualTo("Available");
            assertThat(of(certs, B).get("certChain").get(0).get("serialNumber").asText()).isNotEmpty();
            assertThat(of(certs, C).get("state").asText()).isEqualTo("Initializing");
            assertThat(of(certs, FAILS).get("state").asText()).startsWith("Unavailable: ");
            assertThat(ca.requests).as("CSRs sent by reading the dump").containsExactly(A, B, FAILS, C);

            m.forget(B);
            assertThat(of(certificates(m, Set.of(A, NEVER)), B)).as("forgotten: no longer held").isNull();
            ca.gates.get(C).complete(null);
            pending.get(10, TimeUnit.SECONDS);
        }
    }
}
