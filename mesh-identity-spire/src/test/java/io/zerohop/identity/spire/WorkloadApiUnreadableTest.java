package io.zerohop.identity.spire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.workloadapi.grpc.Workload;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.CapturedStderr;
import io.zerohop.testing.WorkloadApiServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Responses java-spiffe 0.8.17 cannot read, from a real gRPC endpoint on a Unix socket ({@link RawWorkloadApi}): bytes
 * that are no {@code X509SVIDResponse}, and a federated bundle keyed by no trust domain (its {@code GrpcConversionUtils}
 * throws an unchecked exception out of {@code onNext}). grpc-java cancels the call, java-spiffe retries the CANCELLED
 * stream without a log record, and until 6 December so did the provider: no line at all, attempt counts and delays out
 * of step with java-spiffe's, and a build timeout asking whether the agent ran. go-spiffe logs each
 * ({@code Client.watchX509Context}, {@code handleWatchError}).
 */
class WorkloadApiUnreadableTest {
    private static final SpiffeId WEB = SpiffeId.parse("spiffe://spire.test/web");
    private static final InMemoryCa CA = InMemoryCa.create("spire.test");

    @TempDir
    Path dir;

    static Workload.X509SVIDResponse.Builder response(X509Svid s) {
        return Workload.X509SVIDResponse.newBuilder().addSvids(Workload.X509SVID.newBuilder().setSpiffeId(s.getSpiffeId().toString())
                .setX509Svid(WorkloadApiServer.der(s.getChain())).setX509SvidKey(ByteString.copyFrom(s.getPrivateKey().getEncoded()))
                .setBundle(WorkloadApiServer.der(CA.bundle().getX509Authorities())));
    }

    /** A federated bundle under a key java-spiffe's {@code TrustDomain.parse} refuses with an unchecked exception. */
    static byte[] badFederatedKey(X509Svid s) {
        return response(s).putFederatedBundles("not a trust domain!", WorkloadApiServer.der(CA.bundle().getX509Authorities()))
                .build().toByteArray();
    }

    /** Bytes that are no protobuf message (field 31 with an unknown wire type). */
    static final byte[] GARBAGE = {(byte) 0xff, (byte) 0xff, 0x01, 0x02};

    /** Answers the {@code i}th call (from 0) with {@code answer.apply(i)}: bytes to send, or a status to close with. */
    static void answer(RawWorkloadApi api, IntFunction<Object> answer) {
        Thread t = new Thread(() -> {
            try {
                for (int i = 0; ; i++) {
                    RawWorkloadApi.Call c = api.calls.take();
                    Object a = answer.apply(i);
                    if (a instanceof byte[] b) {
                        c.send(b);
                    } else {
                        c.close((Status) a);
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "raw-workload-api");
        t.setDaemon(true);
        t.start();
    }

    @Test
    void anUnreadableResponseIsReportedAndCountedAsAFailedAttempt() throws Exception {
        Path s = dir.resolve("agent.sock");
        X509Svid web = CA.issue(WEB);
        try (RawWorkloadApi api = new RawWorkloadApi(s); CapturedStderr err = new CapturedStderr()) {
            answer(api, i -> switch (i) {
                case 0 -> GARBAGE;
                case 1 -> Status.PERMISSION_DENIED.withDescription("no identity issued");
                default -> response(web).build().toByteArray();
            });
            CompletableFuture<SpireIdentityProvider> f = SpireIdentityProvider.builder().address("unix:" + s).buildAsync();
            try {
                err.awaitLine("WARN", "CANCELLED: the X.509 context stream was cancelled", "(attempt 1); no SVID yet; next try in 1s ");
                // The count java-spiffe's RetryHandler keeps: its second delay is 2 s (it said attempt 1, 1s).
                err.awaitLine("PERMISSION_DENIED: no identity issued (attempt 2)", "next try in 2s ");
                try (SpireIdentityProvider p = f.get(30, TimeUnit.SECONDS)) {
                    assertThat(p.svid(WEB).get().getLeaf()).isEqualTo(web.getLeaf());
                }
            } finally {
                f.cancel(false);
                f.thenAccept(SpireIdentityProvider::close);
            }
        }
    }

    @Test
    void aBuildThatOnlyGotUnreadableResponsesTimesOutSayingSo() throws Exception {
        Path s = dir.resolve("agent.sock");
        try (RawWorkloadApi api = new RawWorkloadApi(s)) {
            X509Svid web = CA.issue(WEB);
            answer(api, i -> badFederatedKey(web));
            assertThatThrownBy(() -> SpireIdentityProvider.builder().address("unix:" + s).initialTimeout(Duration.ofSeconds(3)).build())
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("within PT3S; CANCELLED: the X.509 context stream was cancelled")
                    .hasMessageContaining("a response it could not read")
                    .hasMessageNotContaining("is the agent running");
        }
    }

    /**
     * An endpoint that takes the call and never answers (SPIFFE Workload API 4.3: the first response MUST come
     * without delay; SPIRE's agent answers at once or refuses): the build's timeout says so, where it asked whether
     * the agent ran and the workload was registered, two things this endpoint had shown.
     */
    @Test
    void aBuildAgainstAnEndpointThatNeverAnswersTimesOutSayingSo() throws Exception {
        Path s = dir.resolve("agent.sock");
        try (RawWorkloadApi api = new RawWorkloadApi(s)) {
            assertThatThrownBy(() -> SpireIdentityProvider.builder().address("unix:" + s).initialTimeout(Duration.ofSeconds(2)).build())
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("within PT2S; no attempt failed: the endpoint took the call, or is still being connected to,"
                            + " and has sent no response")
                    .hasMessageNotContaining("is the agent running");
            assertThat(api.calls).as("the call the endpoint holds").hasSize(1);
        }
    }

    @Test
    void anUnreadableUpdateWhileServingKeepsTheLastSvidsAndSaysSo() throws Exception {
        Path s = dir.resolve("agent.sock");
        X509Svid first = CA.issue(WEB);
        X509Svid next = CA.issue(WEB);
        try (RawWorkloadApi api = new RawWorkloadApi(s); CapturedStderr err = new CapturedStderr()) {
            try (SpireIdentityProvider p = start(api, s, first, next)) {
                err.awaitLine("WARN", "CANCELLED: the X.509 context stream was cancelled", "(attempt 1); still serving the last SVIDs ["
                        + WEB + "]; next try in 1s ");
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (!p.svid(WEB).get().getLeaf().equals(next.getLeaf()) && System.nanoTime() < deadline) {
                    Thread.sleep(20); // polling a condition, bounded; no assertion on time
                }
                assertThat(p.svid(WEB).get().getLeaf()).as("the retry's good response").isEqualTo(next.getLeaf());
            }
        }
    }

    /** First call: a good response, then an unreadable one on the same stream; the retry gets a good one again. */
    private static SpireIdentityProvider start(RawWorkloadApi api, Path s, X509Svid first, X509Svid next) throws Exception {
        CompletableFuture<SpireIdentityProvider> f = SpireIdentityProvider.builder().address("unix:" + s).buildAsync();
        RawWorkloadApi.Call c = api.next();
        c.send(response(first).build().toByteArray());
        SpireIdentityProvider p = f.get(30, TimeUnit.SECONDS);
        assertThat(p.svid(WEB).get().getLeaf()).isEqualTo(first.getLeaf());
        answer(api, i -> response(next).build().toByteArray());
        c.send(badFederatedKey(next));
        return p;
    }
}
