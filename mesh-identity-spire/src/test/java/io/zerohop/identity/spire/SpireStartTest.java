package io.zerohop.identity.spire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.spiffe.exception.X509ContextException;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.workloadapi.grpc.Workload;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.WorkloadApiServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How the provider comes up against a real Workload API server on a Unix socket, as go-spiffe's {@code X509Source} does
 * (spiffe/go-spiffe v2 {@code workloadapi/watcher.go}, {@code client.go} {@code watchX509Context}): an update java-spiffe
 * cannot turn into a context (it keeps the stream open) is waited past until a good one comes; a build that only ever
 * got such an update times out saying so; the SPIFFE Workload Endpoint's {@code unix:///path} form is taken and a
 * relative {@code unix:path} refused, as go-spiffe refuses an opaque URI. Until 6 December the first unusable update
 * failed the build at once and closed the provider (a review pass, helper 264).
 */
class SpireStartTest {
    private static final SpiffeId WEB = SpiffeId.parse("spiffe://spire.test/web");
    private static final SpiffeId ADMIN = SpiffeId.parse("spiffe://spire.test/admin");
    private static final InMemoryCa CA = InMemoryCa.create("spire.test");

    @TempDir
    Path dir;

    /**
     * The X509SVID message's {@code spiffe_id} is not its certificate's: java-spiffe's {@code GrpcConversionUtils}
     * refuses the whole response; go-spiffe's {@code parseX509SVIDs} does not compare them. SPIRE never sends one; other
     * Workload API servers may.
     */
    private static Workload.X509SVIDResponse mismatchedIdField(X509Svid svid) {
        return Workload.X509SVIDResponse.newBuilder().addSvids(Workload.X509SVID.newBuilder()
                .setSpiffeId(ADMIN.toString())
                .setX509Svid(WorkloadApiServer.der(svid.getChain()))
                .setX509SvidKey(ByteString.copyFrom(svid.getPrivateKey().getEncoded()))
                .setBundle(WorkloadApiServer.der(CA.bundle().getX509Authorities()))).build();
    }

    @Test
    void aFirstUpdateJavaSpiffeCannotUseIsWaitedPast() throws Exception {
        Path s = dir.resolve("agent.sock");
        try (WorkloadApiServer agent = new WorkloadApiServer(s)) {
            agent.push(mismatchedIdField(CA.issue(WEB)));
            CompletableFuture<SpireIdentityProvider> f = SpireIdentityProvider.builder().address("unix:" + s).buildAsync();
            assertThat(agent.nextStreamOpened().await(10, TimeUnit.SECONDS)).isTrue();
            agent.serve(CA.issue(WEB), CA.bundle()); // the agent's next update, on the same stream, is a good one
            try (SpireIdentityProvider p = f.get(20, TimeUnit.SECONDS)) {
                assertThat(p.svid(WEB).get().getSpiffeId()).isEqualTo(WEB);
            }
        }
    }

    @Test
    void aBuildWhoseOnlyUpdateCannotBeUsedTimesOutSayingWhy() throws Exception {
        Path s = dir.resolve("agent.sock");
        try (WorkloadApiServer agent = new WorkloadApiServer(s)) {
            agent.push(mismatchedIdField(CA.issue(WEB)));
            assertThatThrownBy(() -> SpireIdentityProvider.builder().address("unix:" + s).initialTimeout(Duration.ofSeconds(3)).build())
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("within PT3S; the update it sent could not be used")
                    .hasMessageContaining("does not match SPIFFE ID in X.509 certificate")
                    // java-spiffe's refusal itself, as go-spiffe hands the watcher its parse error (until helper 345: no cause)
                    .hasCauseInstanceOf(X509ContextException.class)
                    .satisfies(e -> assertThat(e.getCause().getCause()).isInstanceOf(X509ContextException.class)
                            .hasMessageContaining("does not match SPIFFE ID in X.509 certificate"));
        }
    }

    @Test
    void unixTripleSlashAddress() throws Exception {
        Path s = dir.resolve("agent.sock");
        try (WorkloadApiServer agent = new WorkloadApiServer(s)) {
            agent.serve(CA.issue(WEB), CA.bundle());
            try (SpireIdentityProvider p = SpireIdentityProvider.builder().address("unix://" + s).initialTimeout(Duration.ofSeconds(20)).build()) {
                assertThat(p.defaultIdentity()).contains(WEB);
            }
            try (SpireIdentityProvider p = SpireIdentityProvider.builder().environment(k -> "unix://" + s)
                    .initialTimeout(Duration.ofSeconds(20)).build()) {
                assertThat(p.defaultIdentity()).contains(WEB);
            }
            assertThatThrownBy(() -> SpireIdentityProvider.builder().address("unix:agent.sock"))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("opaque");
        }
    }

    /**
     * RFC 3986 3.1: a scheme is case-insensitive, and the Workload Endpoint spec (4) makes the address an RFC 3986
     * URI; go-spiffe takes {@code UNIX:///path} (Go's url.Parse lowers the scheme). java-spiffe 0.8.17 compares it
     * exactly, so until 6 December the provider refused it, from the builder and from the environment.
     */
    @Test
    void schemeInAnyCase() throws Exception {
        Path s = dir.resolve("agent.sock");
        try (WorkloadApiServer agent = new WorkloadApiServer(s)) {
            agent.serve(CA.issue(WEB), CA.bundle());
            try (SpireIdentityProvider p = SpireIdentityProvider.builder().address("UNIX://" + s).initialTimeout(Duration.ofSeconds(20)).build()) {
                assertThat(p.defaultIdentity()).contains(WEB);
                assertThat(p.address()).isEqualTo("unix://" + s);
            }
            try (SpireIdentityProvider p = SpireIdentityProvider.builder().environment(k -> "Unix:" + s)
                    .initialTimeout(Duration.ofSeconds(20)).build()) {
                assertThat(p.defaultIdentity()).contains(WEB);
            }
            assertThatThrownBy(() -> SpireIdentityProvider.builder().address("TCP://localhost:8081"))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("must be an IP:port");
        }
    }
}
