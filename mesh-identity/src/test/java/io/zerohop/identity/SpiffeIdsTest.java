package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import org.junit.jupiter.api.Test;

class SpiffeIdsTest {
    @Test
    void istioLayoutRoundTripsThroughPrincipalForm() {
        SpiffeId id = SpiffeIds.istio("cluster.local", "prod", "frontend");
        assertThat(id.toString()).isEqualTo("spiffe://cluster.local/ns/prod/sa/frontend");
        assertThat(SpiffeIds.principal(id)).isEqualTo("cluster.local/ns/prod/sa/frontend");
        assertThat(SpiffeIds.fromPrincipal("cluster.local/ns/prod/sa/frontend")).isEqualTo(id);
        assertThat(SpiffeIds.fromPrincipal(id.toString())).isEqualTo(id);
        assertThat(SpiffeIds.namespace(id)).contains("prod");
        assertThat(SpiffeIds.serviceAccount(id)).contains("frontend");
    }

    @Test
    void nonIstioPathsHaveNoNamespace() {
        SpiffeId id = SpiffeIds.parse("spiffe://example.org/workload/db");
        assertThat(SpiffeIds.isIstioLayout(id)).isFalse();
        assertThat(SpiffeIds.namespace(id)).isEmpty();
        assertThat(SpiffeIds.serviceAccount(SpiffeIds.parse("spiffe://example.org/ns/a/sa/b/extra"))).isEmpty();
    }

    @Test
    void invalidIdsNameTheInput() {
        assertThatThrownBy(() -> SpiffeIds.parse("spiffe://Upper.Case/x"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("spiffe://Upper.Case/x");
        assertThatThrownBy(() -> SpiffeIds.parse("spiffe://td/a/../b")).hasMessageContaining("invalid SPIFFE ID");
        assertThatThrownBy(() -> SpiffeIds.parse("spiffe://td//b")).hasMessageContaining("invalid SPIFFE ID");
        assertThatThrownBy(() -> SpiffeIds.parse("https://td/b")).hasMessageContaining("invalid SPIFFE ID");
    }
}
