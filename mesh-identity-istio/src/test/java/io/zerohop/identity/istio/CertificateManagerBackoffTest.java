package io.zerohop.identity.istio;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.CertificateManager;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.FakeIstioCa;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The review's reproductions (a real in-process gRPC istiod, the node-mode client): a CertificateManager in front of
 * istiod backs off a failing identity as ztunnel's SecretManager does (istio/ztunnel src/identity/manager.rs
 * Worker::run: CertState::Unavailable(err), a per-identity ExponentialBackoff from 1 s to 150 s), instead of sending
 * one CSR per connection. Time is the manager's test clock: nothing here sleeps.
 */
class CertificateManagerBackoffTest {
    private static final SpiffeId X = SpiffeIds.istio("cluster.local", "a", "x");

    static final class TestClock extends Clock {
        private volatile Instant now = Instant.now();

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public Instant instant() {
            return now;
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }
    }

    /** istiod without CA_TRUSTED_NODE_ACCOUNTS refuses every impersonation: 20 connections of the pod were 20 CSRs. */
    @Test
    void aRefusedImpersonationIsAskedForOnceUntilItsRetryIsDue(@TempDir Path tmp) throws Exception {
        InMemoryCa istio = InMemoryCa.create("cluster.local");
        TestClock clock = new TestClock();
        try (FakeIstioCa fake = new FakeIstioCa(istio, "zt-token", null);
             IstioCaClient c = client(fake, istio, tmp);
             CertificateManager m = CertificateManager.builder().issuer(c).trustBundles(istio.bundles())
                     .clock(clock).checkInterval(null).build()) {
            Throwable first = failure(m, X);
            for (int i = 0; i < 20; i++) {
                assertThat(failure(m, X)).as("the stored refusal, as it came").isSameAs(first);
            }
            assertThat(fake.seen()).as("CSRs sent to istiod for one refused identity").hasSize(1);
            assertThat(first).isInstanceOf(IstioCaClient.CaException.class).hasMessageContaining("CA_TRUSTED_NODE_ACCOUNTS");
            assertThat(((IstioCaClient.CaException) first).grpcStatus()).isEqualTo("UNAUTHENTICATED");

            clock.advance(Duration.ofMillis(1300)); // past the first backoff (1 s ±20 %)
            failure(m, X);
            assertThat(fake.seen()).as("asked again once, when its retry was due").hasSize(2);
        } finally {
            istio.close();
        }
    }

    /** istiod restarting while the SVID is past half-life: every svid() sent a renewal CSR. */
    @Test
    void aFailingRenewalServesTheHeldSvidAndAsksOncePerBackoff(@TempDir Path tmp) throws Exception {
        InMemoryCa istio = InMemoryCa.create("cluster.local");
        TestClock clock = new TestClock();
        try (FakeIstioCa fake = new FakeIstioCa(istio, "zt-token", null);
             IstioCaClient c = client(fake, istio, tmp);
             CertificateManager m = CertificateManager.builder().issuer(c).trustBundles(istio.bundles())
                     .clock(clock).checkInterval(null).build()) {
            fake.lenient(true); // about retries, not istiod's node authorizer
            var held = m.svid(X).get(10, TimeUnit.SECONDS);
            fake.failWith(Status.UNAVAILABLE.withDescription("istiod restarting"));
            clock.advance(Duration.ofHours(13)); // past half of the 24 h
            int before = fake.seen().size();

            m.svid(X).get(10, TimeUnit.SECONDS);
            awaitSeen(fake, before + 1); // the renewal's CSR (its answer arrives on a gRPC thread)
            m.refreshDue().get(10, TimeUnit.SECONDS);
            for (int i = 0; i < 10; i++) {
                assertThat(m.svid(X).get(10, TimeUnit.SECONDS)).as("the held SVID keeps serving").isSameAs(held);
                m.refreshDue().get(10, TimeUnit.SECONDS);
            }
            assertThat(fake.seen().size() - before).as("renewal CSRs for one identity").isEqualTo(1);
        } finally {
            istio.close();
        }
    }

    /** A node proxy's client of {@code fake} (impersonating, the token it expects). */
    private static IstioCaClient client(FakeIstioCa fake, InMemoryCa istio, Path tmp) throws Exception {
        Path token = Files.writeString(tmp.resolve("token"), "zt-token");
        return IstioCaClient.builder().address("127.0.0.1", fake.port()).plaintext()
                .meshRoots(List.of(istio.root())).tokenFile(token).impersonate(true).build();
    }

    private static void awaitSeen(FakeIstioCa fake, int n) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (fake.seen().size() < n && System.nanoTime() < end) {
            Thread.sleep(10);
        }
    }

    private static Throwable failure(CertificateManager m, SpiffeId id) throws Exception {
        try {
            m.svid(id).get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            return e.getCause();
        }
        throw new AssertionError("issued " + id);
    }
}
