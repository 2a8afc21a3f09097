package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.util.AsciiString;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The ids' shape across refills of the per-thread buffer (envoyproxy/envoy source/common/common/random_generator.cc
 * {@code RandomGeneratorImpl::uuid}: 2048 bytes, 128 ids).
 */
class ForwardedRequestHeadersTest {
    @Test
    void idsAreUuidV4AcrossBufferRefills() {
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < 1000; i++) {
            AsciiString id = ForwardedRequestHeaders.uuid();
            assertThat(id.toString()).matches("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
            ids.add(id.toString());
        }
        assertThat(ids).hasSize(1000);
    }
}
