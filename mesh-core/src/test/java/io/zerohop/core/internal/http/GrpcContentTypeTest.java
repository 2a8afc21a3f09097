package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Envoy's own cases for which content types are gRPC (envoyproxy/envoy test/common/grpc/common_test.cc {@code HasGrpcContentType}). */
class GrpcContentTypeTest {
    @Test
    void envoysHasGrpcContentTypeCases() {
        assertThat(H2Proxy.isGrpc(null)).isFalse();
        assertThat(H2Proxy.isGrpc("")).isFalse();
        assertThat(H2Proxy.isGrpc("application/text")).isFalse();
        assertThat(H2Proxy.isGrpc("application/grpc")).isTrue();
        assertThat(H2Proxy.isGrpc("application/grpc+")).isTrue();
        assertThat(H2Proxy.isGrpc("application/grpc+foo")).isTrue();
        assertThat(H2Proxy.isGrpc("application/grpc-")).isFalse();
        assertThat(H2Proxy.isGrpc("application/grpc-web")).isFalse();
        assertThat(H2Proxy.isGrpc("application/grpc-web+foo")).isFalse();
    }
}
