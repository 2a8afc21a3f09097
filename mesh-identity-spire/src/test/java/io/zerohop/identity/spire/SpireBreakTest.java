package io.zerohop.identity.spire;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.workloadapi.grpc.Workload;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.CapturedStderr;
import io.zerohop.testing.WorkloadApiServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Controls from a break-it pass against the SPIFFE Workload API and Workload Endpoint specs, go-spiffe and java-spiffe:
 * behaviours that held before it, pinned so that a java-spiffe upgrade that changes them is seen. Real gRPC on Unix
 * sockets ({@link WorkloadApiServer}, {@link RawWorkloadApi}).
 */
class SpireBreakTest {
    private static final SpiffeId WEB = SpiffeId.parse("spiffe://spire.test/web");
    private static final SpiffeId PARTNER_WEB = SpiffeId.parse("spiffe://partner.test/web");
    private static final InMemoryCa CA = InMemoryCa.create("spire.test");
    private static final InMemoryCa PARTNER = InMemoryCa.create("partner.test");

    @TempDir
    Path dir;

    static Workload.X509SVID message(X509Svid svid, InMemoryCa ca) {
        return message(svid, svid.getPrivateKey(), ca);
    }

    /** The X509SVID message of {@code svid}'s chain with {@code key} (its own or not) and {@code ca}'s bundle. */
    static Workload.X509SVID message(X509Svid svid, java.security.PrivateKey key, InMemoryCa ca) {
        return Workload.X509SVID.newBuilder().setSpiffeId(svid.getSpiffeId().toString())
                .setX509Svid(WorkloadApiServer.der(svid.getChain()))
                .setX509SvidKey(ByteString.copyFrom(key.getEncoded()))
                .setBundle(WorkloadApiServer.der(ca.bundle().getX509Authorities())).build();
    }

    /**
     * SVIDs of two trust domains (X509SVID.bundle is the bundle of each SVID's own trust domain): both served, each
     * trust domain's bundle from its SVID, the first SVID the default (Workload API 8).
     */
    @Test // control: held before
    void svidsOfSeveralTrustDomainsEachBringTheirBundle() throws Exception {
        Path s = dir.resolve("agent.sock");
        try (WorkloadApiServer agent = new WorkloadApiServer(s)) {
            X509Svid web = CA.issue(WEB);
            X509Svid partnerWeb = PARTNER.issue(PARTNER_WEB);
            agent.push(Workload.X509SVIDResponse.newBuilder().addSvids(message(web, CA)).addSvids(message(partnerWeb, PARTNER)).build());
            try (SpireIdentityProvider p = SpireIdentityProvider.builder().address("unix:" + s).initialTimeout(Duration.ofSeconds(20)).build()) {
                assertThat(p.defaultIdentity()).contains(WEB);
                assertThat(p.svid(PARTNER_WEB).get().getLeaf()).isEqualTo(partnerWeb.getLeaf());
                assertThat(p.bundles().getBundleForTrustDomain(TrustDomain.parse("partner.test")).getX509Authorities())
                        .containsExactlyElementsOf(PARTNER.bundle().getX509Authorities());
                assertThat(p.bundles().getBundleForTrustDomain(TrustDomain.parse("spire.test")).getX509Authorities())
                        .containsExactlyElementsOf(CA.bundle().getX509Authorities());
            }
        }
    }

    /**
     * An SVID whose mandatory {@code bundle} is empty (Workload API 4.5: the client SHOULD report an error and discard
     * the message): java-spiffe refuses the update ("No certificates found"), the last context keeps serving with a
     * WARN line. go-spiffe differs here: {@code x509.ParseCertificates} of nothing is an empty bundle, installed;
     * zerohop follows the spec (and java-spiffe).
     */
    @Test // control: held before
    void anUpdateWithAnEmptyBundleIsDiscarded() throws Exception {
        Path s = dir.resolve("agent.sock");
        try (WorkloadApiServer agent = new WorkloadApiServer(s); CapturedStderr err = new CapturedStderr()) {
            X509Svid first = CA.issue(WEB);
            agent.push(Workload.X509SVIDResponse.newBuilder().addSvids(message(first, CA)).build());
            try (SpireIdentityProvider p = SpireIdentityProvider.builder().address("unix:" + s).initialTimeout(Duration.ofSeconds(20)).build()) {
                agent.push(Workload.X509SVIDResponse.newBuilder().addSvids(message(CA.issue(WEB), CA).toBuilder().clearBundle()).build());
                err.awaitLine("WARN", "Error processing X.509 Context update", "No certificates found", "still serving the last SVIDs [" + WEB + "]");
                assertThat(p.svid(WEB).get().getLeaf()).isEqualTo(first.getLeaf());
                assertThat(p.bundles().getBundleForTrustDomain(TrustDomain.parse("spire.test")).getX509Authorities()).isNotEmpty();
            }
        }
    }

    /**
     * A response over gRPC's default 4 MiB inbound limit (java-spiffe's channel keeps it, as go-spiffe's grpc-go
     * does): RESOURCE_EXHAUSTED, a failed attempt retried on the back-off, one WARN line each; the next, smaller
     * response is taken (held before). The frames still arriving on the cancelled stream made grpc-java's
     * {@code AbstractClientStream} log "Received data on closed stream" at INFO through java.util.logging, some 30
     * two-line records on stderr per attempt, beside the provider's one line; they are the provider's records now
     * (DEBUG), as java-spiffe's own ({@link JulRetryLog}); until 6 December they reached JUL's handlers.
     */
    @Test
    void aResponseOverFourMebibytesIsAFailedAttemptOnOneLine() throws Exception {
        Path s = dir.resolve("agent.sock");
        X509Svid web = CA.issue(WEB);
        byte[] small = Workload.X509SVIDResponse.newBuilder().addSvids(message(web, CA)).build().toByteArray();
        // The same message with an unknown length-delimited field 99 of 5 MiB (protobuf keeps unknown fields).
        java.io.ByteArrayOutputStream huge = new java.io.ByteArrayOutputStream();
        com.google.protobuf.CodedOutputStream out = com.google.protobuf.CodedOutputStream.newInstance(huge);
        out.writeRawBytes(small);
        out.writeByteArray(99, new byte[5 << 20]);
        out.flush();
        try (JulCapture jul = new JulCapture(); RawWorkloadApi api = new RawWorkloadApi(s); CapturedStderr err = new CapturedStderr()) {
            WorkloadApiUnreadableTest.answer(api, i -> i == 0 ? huge.toByteArray() : small);
            CompletableFuture<SpireIdentityProvider> f = SpireIdentityProvider.builder().address("unix:" + s).buildAsync();
            try {
                err.awaitLine("WARN", "RESOURCE_EXHAUSTED", "exceeds maximum size 4194304", "(attempt 1); no SVID yet; next try in 1s ");
                try (SpireIdentityProvider p = f.get(30, TimeUnit.SECONDS)) {
                    assertThat(p.svid(WEB).get().getLeaf()).isEqualTo(web.getLeaf());
                }
                assertThat(jul.published).as("grpc-java's client records from the provider's threads that reached JUL")
                        .noneMatch(r -> r.getLoggerName().startsWith("io.grpc.internal."));
            } finally {
                f.cancel(false);
                f.thenAccept(SpireIdentityProvider::close);
            }
        }
    }

    /**
     * gRPC's channel, backing off after a failed connect, fails each call at once with its last connect error: "no such
     * file" goes on after the agent's socket is back (measured by helper 400: attempts 14 to 16 after a 78 s outage). The
     * WARN line then says the socket is there and why the attempt failed all the same, where it said "no such file" only
     * (helper 407). The socket here is a real agent's, listening.
     */
    @Test
    void anAttemptFailingWithNoSuchFileWhileTheSocketIsBackSaysGrpcIsStillBackingOff() throws Exception {
        Path s = dir.resolve("back/agent.sock");
        Files.createDirectories(s.getParent());
        assertThat(SpireIdentityProvider.unreachable("UNAVAILABLE: io exception: no such file", "unix://" + s))
                .isEqualTo("the agent is unreachable (UNAVAILABLE: io exception: no such file: no socket at " + s + ")");
        try (WorkloadApiServer agent = new WorkloadApiServer(s)) {
            assertThat(SpireIdentityProvider.unreachable("UNAVAILABLE: io exception: no such file", "unix:" + s))
                    .isEqualTo("the agent is unreachable (UNAVAILABLE: io exception: no such file; the socket " + s + " is there now:"
                            + " gRPC's channel repeats its last connect error until its own connect back-off (1s growing x1.6 up to"
                            + " 120s, reset by a connection that succeeds) lets it dial again)");
        }
    }

    /**
     * The socket does not exist when the provider starts (the agent starts after the workload): UNAVAILABLE, retried
     * on go-spiffe's back-off, until the agent's socket appears, directory included.
     */
    @Test // control: held before
    void aSocketThatAppearsAfterTheStartIsFound() throws Exception {
        Path s = dir.resolve("later/agent.sock");
        try (CapturedStderr err = new CapturedStderr()) {
            CompletableFuture<SpireIdentityProvider> f = SpireIdentityProvider.builder().address("unix://" + s).buildAsync();
            try {
                // What is happening, not only gRPC's error (helper 407; before: "UNAVAILABLE: io exception: no such file (attempt 1)").
                err.awaitLine("WARN", "Workload API at unix://" + s + ": the agent is unreachable (UNAVAILABLE: io exception: no such file:"
                        + " no socket at " + s + ") (attempt 1); no SVID yet; next try in 1s ");
                Files.createDirectories(s.getParent());
                try (WorkloadApiServer agent = new WorkloadApiServer(s)) {
                    agent.serve(CA.issue(WEB), CA.bundle());
                    try (SpireIdentityProvider p = f.get(60, TimeUnit.SECONDS)) {
                        assertThat(p.defaultIdentity()).contains(WEB);
                    }
                }
            } finally {
                f.cancel(false);
                f.thenAccept(SpireIdentityProvider::close);
            }
        }
    }

    /**
     * A stream the server ends with status OK right after each first response: reopened each time after 1 s (the
     * back-off reset by the response, as go-spiffe's watchX509Context resets it on each message), never given up.
     */
    @Test // control: held before
    void aStreamEndedAfterEachFirstResponseIsReopenedEachTime() throws Exception {
        Path s = dir.resolve("agent.sock");
        X509Svid web = CA.issue(WEB);
        try (RawWorkloadApi api = new RawWorkloadApi(s); CapturedStderr err = new CapturedStderr()) {
            byte[] response = Workload.X509SVIDResponse.newBuilder().addSvids(message(web, CA)).build().toByteArray();
            CompletableFuture<SpireIdentityProvider> f = SpireIdentityProvider.builder().address("unix:" + s).buildAsync();
            try {
                for (int i = 0; i < 3; i++) {
                    RawWorkloadApi.Call c = api.next();
                    c.send(response);
                    c.close(Status.OK);
                }
                try (SpireIdentityProvider p = f.get(30, TimeUnit.SECONDS)) {
                    assertThat(p.defaultIdentity()).contains(WEB);
                    api.next(); // a fourth stream: the third end was reopened too
                    assertThat(err.count("ended the X.509 context stream (status OK)", "reopening it in 1s ")).isEqualTo(3);
                    assertThat(err.count("reopening it in 2s")).isZero();
                }
            } finally {
                f.cancel(false);
                f.thenAccept(SpireIdentityProvider::close);
            }
        }
    }
}
