package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.ssl.SslContext;
import io.spiffe.spiffeid.SpiffeId;
import java.util.Set;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** newuser25 TlsCloseTest/MistakesTest: a closed MeshTls or InMemoryCa answered as if open. */
class CloseIsTerminalTest {
    static final SpiffeId backend = SpiffeIds.istio("cluster.local", "prod", "backend");

    @Test
    void meshTlsRefusesContextsAfterClose() throws Exception {
        try (InMemoryCa ca = InMemoryCa.create("cluster.local")) {
            MeshTls tls = MeshTls.builder(ca).build();
            SslContext before = tls.server(backend).join();
            assertThat(before).isNotNull();
            tls.close();
            tls.close(); // idempotent
            assertThatThrownBy(() -> tls.server(backend).join()).isInstanceOf(CompletionException.class)
                    .cause().isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("MeshTls was closed").hasMessageContaining(backend.toString());
            assertThatThrownBy(() -> tls.client(backend, Set.of()).join())
                    .cause().isInstanceOf(IllegalStateException.class).hasMessageContaining("MeshTls was closed");
            // read-only views still answer (a drain may log them)
            assertThat(tls.bundles().getBundleForTrustDomain(ca.trustDomain()).getX509Authorities()).hasSize(1);
        }
    }

    @Test
    void inMemoryCaStopsSigningAfterClose() {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        assertThat(ca.issue(backend).getSpiffeId()).isEqualTo(backend);
        ca.close();
        ca.close(); // idempotent
        assertThatThrownBy(() -> ca.issue(backend)).isInstanceOf(IllegalStateException.class)
                .hasMessage("issue: this InMemoryCa was closed; build or load a new one");
        assertThatThrownBy(ca::rotateRoot).isInstanceOf(IllegalStateException.class).hasMessageContaining("InMemoryCa was closed");
        assertThatThrownBy(() -> ca.svid(backend).join()).cause().isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("InMemoryCa was closed");
        assertThat(ca.bundle().getX509Authorities()).hasSize(1);
    }
}
