package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.SpiffeIds;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/**
 * A new user's server with {@code identity(id)} of another trust domain than its CA's started, then failed every
 * handshake ("no TLS context for ...") while its clients read "closed during setup": build() now refuses it, naming
 * the identity and the provider's reason, as {@code Mesh.Builder.identity} does. A selector stays per connection.
 */
class FixedIdentityCheckTest {
    private static final SpiffeId FOREIGN = SpiffeIds.istio("other.example", "prod", "server");

    @Test
    void aFixedIdentityTheProviderCannotIssueFailsAtBuild() {
        try (Mesh mesh = new Mesh()) {
            assertThatThrownBy(() -> mesh.server(DestinationResolver.sameIp()).identity(FOREIGN).build())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("identity(" + FOREIGN + "): the identity provider (InMemoryCa) cannot give a server TLS context for it: ")
                    .hasMessageContaining("not in trust domain cluster.local");
        }
    }

    @Test
    void aServableIdentityAndASelectorStillBuild() throws Exception {
        try (Mesh mesh = new Mesh()) {
            try (HboneServer s = mesh.server(DestinationResolver.sameIp()).build()) {
                assertThat(s.start().get().localAddress()).isNotNull();
            }
            // Chosen per connection: not checked at build, as before.
            mesh.server(DestinationResolver.sameIp()).identitySelector(IdentitySelector.fixed(FOREIGN)).build().close();
            // The later call wins: a selector after a refused identity replaces it.
            mesh.server(DestinationResolver.sameIp()).identity(FOREIGN).identitySelector(local -> mesh.serverId).build().close();
            assertThatThrownBy(() -> mesh.server(DestinationResolver.sameIp()).identitySelector(local -> mesh.serverId).identity(FOREIGN).build())
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }
}
