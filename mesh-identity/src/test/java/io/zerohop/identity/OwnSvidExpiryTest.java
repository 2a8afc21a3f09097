package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.ssl.SslProvider;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.testing.FixedIdentityProvider;
import io.zerohop.identity.testing.Handshakes;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * An SVID past its NotAfter is never presented, whatever provider hands it over: ztunnel's certificate manager keeps a
 * certificate only until it expires (istio/ztunnel src/identity/manager.rs), and the providers here refuse one
 * (mesh-identity README), but {@link IdentityProvider} is public and a user's own provider may still answer with one.
 * Until 7 December {@link MeshTls} built a context on it and every handshake failed at the peer with
 * {@code certificate_expired}, the local side saying only that it had received that alert (a break-it pass, helper 381).
 */
class OwnSvidExpiryTest {
    static final SpiffeId CLIENT = SpiffeIds.istio("cluster.local", "prod", "frontend");
    static final SpiffeId SERVER = SpiffeIds.istio("cluster.local", "prod", "backend");
    static Handshakes handshakes;
    static InMemoryCa ca;

    @BeforeAll
    static void setUp() {
        handshakes = new Handshakes();
        ca = InMemoryCa.create("cluster.local");
    }

    @AfterAll
    static void tearDown() {
        handshakes.close();
        ca.close();
    }

    @ParameterizedTest
    @EnumSource(value = SslProvider.class, names = {"OPENSSL", "JDK"})
    void anExpiredSvidFromTheProviderIsNotPresentedAndARenewedOneIs(SslProvider provider) throws Exception {
        Instant past = Instant.now().minus(Duration.ofDays(2)).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        FixedIdentityProvider stale = new FixedIdentityProvider(
                ca.issue(LeafSpec.svid(CLIENT.toString(), past, past.plus(Duration.ofHours(1)))).toSvid(), ca.bundles());
        try (MeshTls clientTls = MeshTls.builder(stale).sslProvider(provider).build();
             MeshTls serverTls = MeshTls.builder(ca).sslProvider(provider).build()) {
            assertThatThrownBy(() -> clientTls.client(CLIENT, Set.of(SERVER)).join()).isInstanceOf(CompletionException.class)
                    .hasMessageContaining("returned an SVID for " + CLIENT + " that expired at " + past.plus(Duration.ofHours(1)))
                    .hasMessageContaining("not presenting it");
            assertThatThrownBy(() -> clientTls.server(CLIENT).join()).hasMessageContaining("not presenting it");

            // The refusal is not kept: the provider's renewed SVID is presented at the next ask.
            stale.rotate(ca.issue(CLIENT));
            Handshakes.Outcome o = handshakes.run(serverTls.server(SERVER).join(), clientTls.client(CLIENT, Set.of(SERVER)).join());
            assertThat(o.succeeded()).as(o.errors()).isTrue();
            assertThat(o.serverSawPeer()).isEqualTo(CLIENT);
        }
    }
}
