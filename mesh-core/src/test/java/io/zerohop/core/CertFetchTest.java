package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.IdentityListener;
import io.zerohop.identity.InMemoryCa;
import java.math.BigInteger;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A node proxy fetches the certificate of a local HBONE workload when the workload appears and
 * forgets it once the last local workload with that identity is gone, as ztunnel in shared mode
 * (istio/ztunnel src/cert_fetcher.rs {@code should_prefetch_certificate}: only its own node's workloads,
 * only HBONE ones; src/xds.rs {@code remove_internal}: {@code clear_cert} when
 * {@code was_last_identity_on_node}). Before, a node proxy re-issued the certificate of every identity
 * it had ever served for as long as it ran, and fetched a new pod's only at its first connection.
 * The CA is a real in-memory CA; its listener reports what it issued and what it was told to forget.
 */
class CertFetchTest {
    private static final String TD = "cluster.local";

    private static Workload pod(String name, String sa, String ip, Workload.Protocol protocol, String node) throws Exception {
        return new Workload("prod", name, sa, Map.of("app", name), List.of(InetAddress.getByName(ip)), protocol, node, TD);
    }

    private static SpiffeId id(String sa) {
        return SpiffeId.parse("spiffe://" + TD + "/ns/prod/sa/" + sa);
    }

    @Test
    void fetchesANewLocalHboneWorkloadsCertificateAndForgetsItWhenItsLastWorkloadLeaves() throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        Set<SpiffeId> issued = ConcurrentHashMap.newKeySet();
        List<SpiffeId> forgotten = new java.util.concurrent.CopyOnWriteArrayList<>();
        ca.addListener(new IdentityListener() {
            @Override
            public void svidRotated(X509Svid svid) {
                issued.add(svid.getSpiffeId());
            }

            @Override
            public void svidForgotten(SpiffeId id) {
                forgotten.add(id);
            }
        });
        Workload a = pod("a", "a", "127.0.91.1", Workload.Protocol.HBONE, "n1");
        Workload other = pod("b", "b", "127.0.91.2", Workload.Protocol.HBONE, "n2");
        Workload plain = pod("c", "c", "127.0.91.3", Workload.Protocol.TCP, "n1");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(a, other, plain), Map.of());
        try (Mesh mesh = Mesh.builder().identityProvider(ca).identity(id("own")).workloads(registry).node("n1").threads(1).build()) {
            mesh.start().get(10, TimeUnit.SECONDS);
            assertThat(issued).as("at start: the node's HBONE workload and the mesh's own identity").containsExactlyInAnyOrder(id("a"), id("own"));

            Workload d = pod("d", "d", "127.0.91.4", Workload.Protocol.HBONE, "n1");
            registry.put(d);
            await(() -> issued.contains(id("d")), "the new local workload's certificate fetched before any connection");

            BigInteger first = ca.svid(id("a")).get().getLeaf().getSerialNumber();
            registry.remove("prod", "a");
            await(() -> forgotten.contains(id("a")), "the certificate of the identity that left the node forgotten");
            assertThat(ca.svid(id("a")).get().getLeaf().getSerialNumber()).as("asked again: a new certificate").isNotEqualTo(first);

            // Two pods of one service account: the first leaving keeps the certificate.
            Workload e1 = pod("e1", "e", "127.0.91.5", Workload.Protocol.HBONE, "n1");
            Workload e2 = pod("e2", "e", "127.0.91.6", Workload.Protocol.HBONE, "n1");
            registry.put(e1);
            registry.put(e2);
            await(() -> issued.contains(id("e")), "e fetched");
            List<Workload> without = new ArrayList<>(registry.all());
            without.remove(e1);
            without.remove(d);
            registry.replace(without, Map.of());
            await(() -> forgotten.contains(id("d")), "d forgotten");
            assertThat(forgotten).as("e still has a local workload; the mesh's own identity and other nodes' are never touched")
                    .doesNotContain(id("e"), id("own"), id("b"));
            assertThat(issued).as("neither another node's workload nor a TCP one is fetched").doesNotContain(id("b"), id("c"));
        }
    }

    /**
     * The mesh's warm-up is ztunnel's {@code Priority::Warmup} (src/cert_fetcher.rs {@code prefetch_cert}): with the
     * Istio CA's {@code CertificateManager} fetching one certificate at a time, a TLS context a connection needs (an
     * identity no warm-up asked for) is fetched before the warm-ups still queued. Until 6 December the warm-ups were
     * callers' fetches, and the connection waited behind all of them (the issuer saw x last).
     */
    @Test
    void aConnectionsCertificateIsFetchedBeforeQueuedWarmUps() throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        java.util.concurrent.CompletableFuture<Void> gate = new java.util.concurrent.CompletableFuture<>();
        List<SpiffeId> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        io.zerohop.identity.CertificateManager m = io.zerohop.identity.CertificateManager.builder().trustBundles(ca.bundles())
                .maxConcurrentFetches(1).issuer(id -> {
                    asked.add(id);
                    return gate.thenApply(v -> ca.issue(id));
                }).build();
        List<Workload> pods = new ArrayList<>();
        for (int i = 1; i <= 4; i++) {
            pods.add(pod("w" + i, "w" + i, "127.0.172.2" + i, Workload.Protocol.HBONE, "n1"));
        }
        SpiffeId x = id("x");
        try (Mesh mesh = Mesh.builder().identityProvider(m).identity(id("own")).workloads(WorkloadRegistry.of(pods, Map.of()))
                .node("n1").threads(1).build();
             io.zerohop.identity.MeshTls tls = io.zerohop.identity.MeshTls.builder(m).build()) {
            mesh.start().get(10, TimeUnit.SECONDS);
            await(() -> asked.size() == 1, "the first warm-up fetch under way, the other four queued");
            var context = tls.server(x); // what an inbound connection to x looks up
            gate.complete(null);
            context.get(10, TimeUnit.SECONDS);
            mesh.ready().get(10, TimeUnit.SECONDS);
            assertThat(asked).hasSize(6);
            assertThat(asked.get(1)).as("x right after the warm-up that was running, in " + asked).isEqualTo(x);
        } finally {
            m.close();
            ca.close();
        }
    }

    /**
     * A pod that leaves the node while its certificate's warm-up is at the CA and comes back (a restart with the same
     * service account) before the CA answers is warmed up by that answer, as ztunnel's: its cert fetcher asks again
     * (src/cert_fetcher.rs prefetch_cert), and its SecretManager keeps the running fetch of an identity asked for again
     * after a forget (Worker::run, Fetch::Forgetting to Processing). Until 6 December the forgotten fetch's answer was
     * dropped and the fetcher, still waiting for it, never asked again: the pod's first connection waited for a CSR.
     */
    @Test
    void aPodBackBeforeItsForgottenWarmUpIsAnsweredIsWarmedUpByThatAnswer() throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        java.util.concurrent.CompletableFuture<Void> gate = new java.util.concurrent.CompletableFuture<>();
        List<SpiffeId> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        io.zerohop.identity.CertificateManager m = io.zerohop.identity.CertificateManager.builder().trustBundles(ca.bundles())
                .issuer(id -> {
                    asked.add(id);
                    return id.equals(id("own")) ? java.util.concurrent.CompletableFuture.completedFuture(ca.issue(id))
                            : gate.thenApply(v -> ca.issue(id));
                }).build();
        List<SpiffeId> forgotten = new java.util.concurrent.CopyOnWriteArrayList<>();
        m.addListener(new IdentityListener() {
            @Override
            public void svidForgotten(SpiffeId id) {
                forgotten.add(id);
            }
        });
        Workload w = pod("w", "w", "127.0.174.31", Workload.Protocol.HBONE, "n1");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(w), Map.of());
        try (Mesh mesh = Mesh.builder().identityProvider(m).identity(id("own")).workloads(registry).node("n1").threads(1).build()) {
            mesh.start().get(10, TimeUnit.SECONDS);
            await(() -> asked.contains(id("w")), "w's warm-up at the CA");
            registry.remove("prod", "w");
            await(() -> forgotten.contains(id("w")), "w forgotten once its pod left");
            registry.put(w);
            registry.put(pod("z", "z", "127.0.174.32", Workload.Protocol.HBONE, "n1")); // seen by the same check as w's return
            await(() -> asked.contains(id("z")), "the check that saw w back");
            gate.complete(null);
            await(() -> m.identities().contains(id("w")), "w's certificate held, from the CA's answer to the first CSR");
            assertThat(asked.stream().filter(id("w")::equals).count()).as("one CSR for w, in " + asked).isEqualTo(1);
            mesh.ready().get(10, TimeUnit.SECONDS);
        } finally {
            m.close();
            ca.close();
        }
    }

    /**
     * A new-user pass: a single-identity provider (PEM files) with a registry listing other workloads on
     * this host never became ready, and the one WARN ("identity not ready: CompletionException: ...")
     * did not say why the mesh asked for another identity nor what to do.
     */
    @Test
    void aSingleIdentityProviderAskedForAnotherLocalWorkloadSaysWhyAndWhatToDo() throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        Workload backend = pod("backend", "backend", "127.0.91.11", Workload.Protocol.HBONE, null);
        Workload frontend = pod("frontend", "frontend", "127.0.91.12", Workload.Protocol.HBONE, null);
        OneIdentity pem = new OneIdentity(ca, id("backend"));
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr();
             Mesh mesh = Mesh.builder().identityProvider(pem).workloads(WorkloadRegistry.of(List.of(backend, frontend), Map.of()))
                     .threads(1).build()) {
            mesh.start().get(10, TimeUnit.SECONDS);
            String line = err.awaitLine("identity " + id("frontend") + " not ready");
            assertThat(line).contains("no SVID for " + id("frontend"))
                    .contains("registry workload prod/frontend because it has an address of this host (127.0.91.12)")
                    .contains("holds only " + id("backend")).contains("node(...)")
                    .doesNotContain("CompletionException");
            assertThat(err.count("identity " + id("backend") + " not ready")).isZero();
        }
    }

    /** As PemFileIdentityProvider: one identity, a failed future for any other. */
    record OneIdentity(InMemoryCa ca, SpiffeId only) implements io.zerohop.identity.IdentityProvider {
        @Override
        public java.util.Optional<SpiffeId> defaultIdentity() {
            return java.util.Optional.of(only);
        }

        @Override
        public java.util.concurrent.CompletableFuture<X509Svid> svid(SpiffeId id) {
            return id.equals(only) ? ca.svid(id)
                    : java.util.concurrent.CompletableFuture.failedFuture(new IllegalArgumentException("no SVID for " + id));
        }

        @Override
        public io.spiffe.bundle.x509bundle.X509BundleSet bundles() {
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

    /** Polls {@code done} every 20 ms for up to 20 s (also used by ClientRetireTest). */
    static void await(java.util.function.BooleanSupplier done, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 20 s: " + what);
            }
            Thread.sleep(20);
        }
    }
}
