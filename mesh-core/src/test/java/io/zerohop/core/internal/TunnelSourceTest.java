package io.zerohop.core.internal;

import static io.zerohop.core.internal.PartsFixture.BACKEND;
import static io.zerohop.core.internal.PartsFixture.FRONTEND;
import static io.zerohop.core.internal.PartsFixture.FRONTEND_IP;
import static io.zerohop.core.internal.PartsFixture.LEGACY;
import static io.zerohop.core.internal.PartsFixture.ip;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.testing.CapturedStderr;
import java.net.InetSocketAddress;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link TunnelSource} alone. The {@code forwarded} parsing follows ztunnel's
 * {@code get_original_src_from_fwded} and its test table (istio/ztunnel src/proxy.rs at 3f3a1af7^,
 * {@code string_match}: the last {@code for=} node, IP with or without port, quoted where RFC 7239
 * needs it), except that a value outside the RFC's grammar is an error (ztunnel: none) so it can be
 * logged; the trust rule (a claim names a workload of the peer's own identity) is zerohop's.
 */
class TunnelSourceTest {
    final PartsFixture f = new PartsFixture();
    /** Node b's proxy: no workload. */
    final InetSocketAddress nodeProxy = new InetSocketAddress(ip("192.168.0.2"), 41000);

    @ParameterizedTest(name = "[{index}] {0} -> {1}")
    @CsvSource(delimiter = '|', nullValues = "NONE", textBlock = """
            ''                                                                   | NONE
            proto=https                                                          | NONE
            for=192.0.2.43                                                       | 192.0.2.43
            for="192.0.2.43"                                                     | 192.0.2.43
            for="192.0.2.43:80"                                                  | 192.0.2.43
            for="[2001:db8:cafe::17]"                                            | 2001:db8:cafe:0:0:0:0:17
            for="[2001:db8:cafe::17]:80"                                         | 2001:db8:cafe:0:0:0:0:17
            for=192.0.2.43;proto=https                                           | 192.0.2.43
            for=192.0.2.43, for="[2001:db8:cafe::17]";proto=https                | 2001:db8:cafe:0:0:0:0:17
            for=192.0.2.43, for="[2001:db8:cafe::17]", for=unknown;proto=https   | NONE
            For=192.0.2.43 ;  By=_proxy                                          | 192.0.2.43
            for="_hidden:_port"                                                  | NONE
            for="[::ffff:192.0.2.43]:80"                                         | 192.0.2.43
            for="\\192.0.2.43";x-ext=1;x-ext=2                                   | 192.0.2.43
            by=_a;for=192.0.2.9, by=_a;for=192.0.2.43                            | 192.0.2.43
            """)
    @DisplayName("ztunnel's get_original_src_from_fwded cases, and RFC 7239 nodes that name no address")
    void theLastForNodeIsTheClaim(String header, String expected) {
        assertThat(TunnelSource.forwardedFor(header)).isEqualTo(expected == null ? null : ip(expected));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            abc
            for=192.0.2.43:80
            for=[2001:db8:cafe::17]
            for="192.0.2.43
            for=192.0.2.43;for=192.0.2.44
            for=example.com
            for="192.0.2.43:99999"
            for="[fe80::1%eth0]"
            for="192.0.2.43 "
            for=192.0.2.43 x
            for=
            for="192.0.2.43\\""
            for=192.0.2.43;by=_a;BY=_b
            """)
    @DisplayName("outside RFC 7239's grammar (ztunnel: no source; here an error, so it is logged)")
    void malformedValuesAreErrors(String header) {
        assertThatThrownBy(() -> TunnelSource.forwardedFor(header)).isInstanceOf(IllegalArgumentException.class);
    }

    TunnelSource sources() {
        return new TunnelSource(f.registry, f.refusals);
    }

    @Test
    @DisplayName("a node proxy's claim of a pod of the peer's own identity names the source workload")
    void aClaimOfThePeersOwnIdentityIsTheSource() {
        assertThat(sources().of(FRONTEND.identity(), nodeProxy, Map.of("forwarded", "for=\"10.1.0.3:5000\""), true))
                .isEqualTo(FRONTEND);
        assertThat(sources().of(FRONTEND.identity(), nodeProxy, Map.of(), true)).as("no claim").isNull();
        assertThat(sources().of(FRONTEND.identity(), nodeProxy, Map.of("forwarded", "for=\"10.9.9.9:5000\""), true))
                .as("a claimed address that is no workload").isNull();
    }

    @Test
    @DisplayName("a claim of another identity's pod, or a malformed one, is logged with both identities and names nothing")
    void aClaimOfAnotherIdentityIsRefusedAndLogged() {
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(sources().of(LEGACY, nodeProxy, Map.of("forwarded", "for=\"10.1.0.3:5000\""), true)).isNull();
            assertThat(err.count("untrusted forwarded claim from 192.168.0.2:41000", "prod/frontend",
                    FRONTEND.identity().toString(), "the peer is " + LEGACY)).isEqualTo(1);
            assertThat(sources().of(LEGACY, nodeProxy, Map.of("forwarded", "for=\"10.1.0.3:5000\""), false))
                    .as("silent where the same tunnel is looked at again").isNull();
            assertThat(sources().of(FRONTEND.identity(), nodeProxy, Map.of("forwarded", "for=\"10.1.0.3\n\""), true)).isNull();
            assertThat(err.count("untrusted forwarded claim")).isEqualTo(1);
            assertThat(err.count("malformed forwarded header from 192.168.0.2:41000", FRONTEND.identity().toString(),
                    "control character", "\"for=?10.1.0.3??\"")).isEqualTo(1);
        }
    }

    @Test
    @DisplayName("the workload at the peer address is the source only with the peer's identity, and then a claim cannot replace it")
    void thePeerAddressNeedsThePeersIdentity() {
        assertThat(sources().of(FRONTEND.identity(), new InetSocketAddress(FRONTEND_IP, 40000),
                Map.of("forwarded", "for=\"10.1.0.2:5000\""), true)).as("embedded: a pod dialling itself").isEqualTo(FRONTEND);
        assertThat(sources().of(LEGACY, new InetSocketAddress(FRONTEND_IP, 40000), Map.of(), true))
                .as("another identity at frontend's address").isNull();
        assertThat(sources().of(BACKEND.identity(), new InetSocketAddress(FRONTEND_IP, 40000),
                Map.of("forwarded", "for=\"10.1.0.2:5000\""), true))
                .as("a host-network peer's address is another identity's pod: its own claim decides").isEqualTo(BACKEND);
        assertThat(sources().of(null, new InetSocketAddress(FRONTEND_IP, 40000), Map.of(), true)).as("no identity").isNull();
    }
}
