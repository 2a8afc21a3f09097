package io.zerohop.example;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class EmbeddedServiceTest {
    @Test
    void requestCrossesTheMeshAndTheServiceSeesTheCallersIdentity() throws Exception {
        String response = EmbeddedService.run();
        assertThat(response).startsWith("HTTP/1.1 200 OK")
                .endsWith("quote for spiffe://cluster.local/ns/shop/sa/web (GET /quote HTTP/1.1)");
    }
}
