package io.zerohop.core.internal;

import static io.zerohop.core.internal.PartsFixture.BACKEND;
import static io.zerohop.core.internal.PartsFixture.FRONTEND;
import static io.zerohop.core.internal.PartsFixture.FRONTEND_IP;
import static io.zerohop.core.internal.PartsFixture.LEGACY;
import static io.zerohop.core.internal.PartsFixture.ip;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
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

    /** A pod of frontend's service account on node {@code n}, at 10.3.0.5. */
    static final Workload ON_N = new Workload("prod", "frontend-n", "frontend", Map.of("app", "frontend"),
            List.of(ip("10.3.0.5")), Workload.Protocol.HBONE, "n", "cluster.local");

    /** Who a tunnel from {@code peer} claiming ON_N is, with node n known by {@code hbone} (or null) and {@code addresses}. */
    static Workload claimFrom(String peer, String hbone, String... addresses) {
        List<InetAddress> from = new ArrayList<>();
        for (String a : addresses) {
            from.add(ip(a));
        }
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(ON_N), hbone == null ? Map.of() : Map.of("n", new InetSocketAddress(ip(hbone), 15008)),
                Map.of("n", from));
        return new TunnelSource(r, null).of(FRONTEND.identity(), new InetSocketAddress(ip(peer), 41000),
                Map.of("forwarded", "for=\"10.3.0.5:5000\""), true);
    }

    @Test
    @DisplayName("node binding: a claim is believed only from an address of the claimed pod's node, where the registry knows one of that family")
    void aClaimIsBoundToThePodsNodeWhereTheRegistryKnowsItsAddress() {
        assertThat(claimFrom("192.168.0.7", "192.168.0.7")).as("from the node's hboneAddress IP").isEqualTo(ON_N);
        assertThat(claimFrom("192.168.0.8", "192.168.0.7")).as("from another IPv4 address").isNull();
        assertThat(claimFrom("192.168.0.8", "192.168.0.7", "192.168.0.8")).as("from a declared second interface").isEqualTo(ON_N);
        assertThat(claimFrom("fd00::8", "192.168.0.7")).as("IPv6: the registry knows no IPv6 address of n").isEqualTo(ON_N);
        assertThat(claimFrom("fd00::8", "192.168.0.7", "fd00::7")).as("IPv6, n's IPv6 address known").isNull();
        assertThat(claimFrom("fd00::7", null, "fd00::7")).as("a declared address alone binds").isEqualTo(ON_N);
        assertThat(claimFrom("192.168.0.8", null, "fd00::7")).as("IPv4 where only IPv6 is known").isEqualTo(ON_N);
        assertThat(claimFrom("192.168.0.8", null)).as("node n with no known address: identity only, as before").isEqualTo(ON_N);
        assertThat(claimFrom("::ffff:192.168.0.7", "192.168.0.7")).as("an IPv4-mapped peer is its IPv4 address").isEqualTo(ON_N);
    }

    @Test
    @DisplayName("a claim from another node's address is logged with the peer, both identities and the node's addresses")
    void aClaimFromAnotherNodeIsLogged() {
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(ON_N), Map.of("n", new InetSocketAddress(ip("192.168.0.7"), 15008)), Map.of("n", List.of(ip("fd00::7"))));
        try (CapturedStderr err = new CapturedStderr()) {
            TunnelSource.Source s = new TunnelSource(r, f.refusals).source(FRONTEND.identity(), nodeProxy,
                    Map.of("forwarded", "for=\"10.3.0.5:5000\""), true);
            assertThat(s).isEqualTo(new TunnelSource.Source(null, nodeProxy.getAddress(), false));
            assertThat(err.count("untrusted forwarded claim from 192.168.0.2:41000 (" + FRONTEND.identity()
                    + "): for=10.3.0.5 is prod/frontend-n (spiffe://cluster.local/ns/prod/sa/frontend) on node n, whose proxy dials from "
                    + "fd00::7, 192.168.0.7; source known by its SPIFFE ID only")).isEqualTo(1);
        }
    }
}
