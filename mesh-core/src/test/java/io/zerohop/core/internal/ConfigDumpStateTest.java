package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;

/**
 * {@code /config_dump}'s {@code Unavailable: <error>} (ztunnel's src/admin.rs {@code dump_certs}: {@code format!("Unavailable:
 * {err}")}, its test expecting {@code "Unavailable: the identity is no longer needed"}): the error's own words, never a Java
 * class name (a new-user pass found {@code Unavailable: java.io.IOException: ...}).
 */
class ConfigDumpStateTest {
    @Test
    void aFailedFetchShowsItsMessageWithoutTheFuturesWrappers() {
        CompletableFuture<Void> f = CompletableFuture.supplyAsync(() -> {
            throw new CompletionException(new IOException("SPIRE agent socket /run/spire/agent.sock: connection refused"));
        });
        String shown = f.handle((v, e) -> ConfigDump.unavailable(e)).join();
        assertThat(shown).isEqualTo("SPIRE agent socket /run/spire/agent.sock: connection refused");
    }

    @Test
    void aWrapperThatOnlyRepeatsItsCauseIsSkipped() {
        // new RuntimeException(cause) takes cause.toString() as its message: "java.io.IOException: no such file".
        Throwable e = new ExecutionException(new RuntimeException(new IOException("certs/cert.pem: no such file")));
        assertThat(ConfigDump.unavailable(e)).isEqualTo("certs/cert.pem: no such file");
    }

    @Test
    void aWrapperWithItsOwnWordsKeepsThem() {
        Throwable e = new CompletionException(new IllegalStateException("the identity is no longer needed", new IOException("x")));
        assertThat(ConfigDump.unavailable(e)).isEqualTo("the identity is no longer needed");
    }

    @Test
    void anErrorWithoutAMessageIsItsSimpleName() {
        assertThat(ConfigDump.unavailable(new CompletionException(new java.util.concurrent.TimeoutException())))
                .isEqualTo("TimeoutException");
    }

    /**
     * The certificates are sorted by identity, as ztunnel's {@code dump_certs} sorts them (src/admin.rs: "Sort for
     * determinism", {@code sort_by(identity)}), whatever order the registry served them in: {@code istioctl ztunnel-config
     * certificates} prints the dump's order. Until 6 December they came in registry order (prod/frontend before
     * legacy/old).
     */
    @Test
    void certificatesAreSortedByIdentityAsZtunnels() throws Exception {
        io.zerohop.identity.InMemoryCa ca = io.zerohop.identity.InMemoryCa.create("cluster.local");
        java.util.Set<io.spiffe.spiffeid.SpiffeId> served = new java.util.LinkedHashSet<>();
        for (String id : new String[] {"spiffe://cluster.local/ns/prod/sa/frontend", "spiffe://cluster.local/ns/legacy/sa/old",
                "spiffe://cluster.local/ns/prod/sa/backend"}) {
            io.spiffe.spiffeid.SpiffeId s = io.spiffe.spiffeid.SpiffeId.parse(id);
            served.add(s);
            ca.svid(s).get(10, java.util.concurrent.TimeUnit.SECONDS);
        }
        String json = ConfigDump.render(java.util.List.of(), null, ca, served, java.util.Map.of(), 0, java.util.Set.of(),
                java.util.Set.of(), java.util.Map.of());
        var certs = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json).get("certificates");
        java.util.List<String> ids = new java.util.ArrayList<>();
        certs.forEach(c -> ids.add(c.get("identity").asText()));
        assertThat(ids).containsExactly("spiffe://cluster.local/ns/legacy/sa/old", "spiffe://cluster.local/ns/prod/sa/backend",
                "spiffe://cluster.local/ns/prod/sa/frontend");
        certs.forEach(c -> assertThat(c.get("state").asText()).isEqualTo("Available"));
    }
}
