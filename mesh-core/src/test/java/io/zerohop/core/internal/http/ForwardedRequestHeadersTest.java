package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.util.AsciiString;
import java.net.InetAddress;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * What no loopback test can reach: the source ranges Cilium's Envoy takes as internal (cilium/cilium pkg/envoy
 * {@code GetInternalListenerCIDRs}: 10/8, 172.16/12, 192.168/16, 127.0.0.1/32, ::1/128), under which a request without
 * {@code x-forwarded-for} keeps its id (envoyproxy/envoy conn_manager_utility.cc {@code mutateRequestHeaders}:
 * {@code internal_request}, {@code edge_request}); and the ids' shape across refills of the per-thread buffer
 * (source/common/common/random_generator.cc {@code RandomGeneratorImpl::uuid}: 2048 bytes, 128 ids).
 */
class ForwardedRequestHeadersTest {
    @Test
    void ciliumsInternalRangesAsItsInternalAddressConfig() throws Exception {
        for (String internal : new String[] {"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.254", "192.168.3.4",
                "127.0.0.1", "::1"}) {
            assertThat(io.zerohop.core.HeaderValidation.ciliumEdgeRequest(false, InetAddress.getByName(internal))).as(internal).isFalse();
            assertThat(io.zerohop.core.HeaderValidation.ciliumEdgeRequest(true, InetAddress.getByName(internal))).as(internal + " with XFF")
                    .isTrue();
        }
        for (String edge : new String[] {"11.0.0.1", "172.15.255.255", "172.32.0.1", "192.169.0.1", "127.0.0.2",
                "127.0.198.4", "100.64.0.1", "fd00::1", "2001:db8::1", "8.8.8.8"}) {
            assertThat(io.zerohop.core.HeaderValidation.ciliumEdgeRequest(false, InetAddress.getByName(edge))).as(edge).isTrue();
        }
    }

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
