package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.hbone.internal.Authority;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

class AuthorityTest {
    @Test
    void parsesLiteralIpPort() {
        assertThat(Authority.parse("10.0.0.2:8080")).isEqualTo(new InetSocketAddress("10.0.0.2", 8080));
        assertThat(Authority.parse("[fd00::2]:80")).isEqualTo(new InetSocketAddress("fd00::2", 80));
        assertThat(Authority.parse("[::ffff:10.0.0.1]:80")).isNotNull();
    }

    /**
     * An IPv4-mapped IPv6 literal stays IPv6, as ztunnel's {@code HboneAddress::try_from} keeps it a {@code SocketAddr::V6}
     * (istio/ztunnel src/proxy.rs), so it is no IPv4 workload's address: ztunnel answers 400 ({@code IPMismatch},
     * src/proxy/inbound.rs {@code validate_destination}); the JDK made it the IPv4 address and the tunnel was served
     * (a review pass, helper 255).
     */
    @Test
    void anIpv4MappedAddressStaysIpv6() {
        InetSocketAddress mapped = Authority.parse("[::ffff:10.0.0.1]:80");
        assertThat(mapped.getAddress()).isInstanceOf(java.net.Inet6Address.class);
        assertThat(mapped).isNotEqualTo(new InetSocketAddress("10.0.0.1", 80));
        assertThat(DestinationResolver.sameIp().resolve(mapped, null, new InetSocketAddress("10.0.0.1", 15008))).isNull();
        assertThat(Authority.format(mapped)).isEqualTo("[::ffff:a00:1]:80");
    }

    @Test
    void rejectsEverythingElse() {
        for (String a : new String[] {null, "", "svc.ns.svc.cluster.local:80", "10.0.0.2", "10.0.0.2:", "10.0.0.2:0",
                "10.0.0.2:65536", "10.0.0.2:+80", "fd00::2:80", "[fd00::2]", "[fd00::2]:", "[10.0.0.2]:80",
                "010.0.0.2:80x", " 10.0.0.2:80", "[fe80::1%25eth0]:80",
                // Rust's Ipv4Addr parser (ztunnel's HboneAddress::try_from) refuses leading zeros.
                "127.000.000.001:80", "010.0.0.2:80", "10.0.0.02:80", "[::ffff:010.0.0.1]:80"}) {
            assertThat(Authority.parse(a)).as(String.valueOf(a)).isNull();
        }
    }

    /**
     * Ports as ztunnel's Rust parsers read them ({@code SocketAddr}'s {@code read_port}, {@code u16::from_str}): leading
     * zeros of any number; past 65535, zero or signed, none (InboundAuthorityBreakTest shows the tunnels).
     */
    @Test
    void portsTakeLeadingZerosAsRustDoes() {
        assertThat(Authority.parse("10.0.0.2:080")).isEqualTo(new InetSocketAddress("10.0.0.2", 80));
        assertThat(Authority.parse("10.0.0.2:000000000000000080")).isEqualTo(new InetSocketAddress("10.0.0.2", 80));
        assertThat(Authority.parse("[fd00::2]:0008080")).isEqualTo(new InetSocketAddress("fd00::2", 8080));
        assertThat(Authority.hostname("a.example:000080")).isEqualTo("a.example");
        assertThat(Authority.port("a.example:000080")).isEqualTo(80);
        for (String a : new String[] {"10.0.0.2:065536", "10.0.0.2:0000", "10.0.0.2:+080", "10.0.0.2:99999999999999999999"}) {
            assertThat(Authority.parse(a)).as(a).isNull();
        }
        assertThat(Authority.hostname("a.example:065536")).isNull();
    }

    @Test
    void hostnamesAreToldFromMalformedIps() {
        assertThat(Authority.hostname("backend.prod.svc.cluster.local:8080")).isEqualTo("backend.prod.svc.cluster.local");
        assertThat(Authority.hostname("example.com:80")).isEqualTo("example.com");
        for (String a : new String[] {"127.000.000.001:80", "1.2.3:80", "10.0.0.2:80", "example.com", "example.com:0",
                "example.com:99999", "-bad.com:80", "a..b:80", "exa_mple.com:80", "[::1]:80", ":80"}) {
            assertThat(Authority.hostname(a)).as(a).isNull();
        }
    }

    @Test
    void formatsWithBracketsForIpv6() {
        assertThat(Authority.format(new InetSocketAddress("10.0.0.2", 80))).isEqualTo("10.0.0.2:80");
        assertThat(Authority.format(new InetSocketAddress("fd00::2", 80))).isEqualTo("[fd00::2]:80");
    }

    /**
     * Log lines print addresses as ztunnel's access log does (Rust's SocketAddr display for
     * src.addr/dst.addr, istio/ztunnel src/proxy/metrics.rs), not as InetSocketAddress.toString()
     * ("/10.0.0.1:8080").
     */
    @Test
    void textIsWhatZtunnelLogs() throws Exception {
        assertThat(Authority.text(new InetSocketAddress("10.0.0.1", 8080))).isEqualTo("10.0.0.1:8080");
        assertThat(Authority.text(new InetSocketAddress("::1", 8080))).isEqualTo("[::1]:8080");
        assertThat(Authority.text(new InetSocketAddress("fd00:0:0:0:0:0:0:2", 15008))).isEqualTo("[fd00::2]:15008");
        assertThat(Authority.text(new InetSocketAddress(java.net.Inet6Address.getByAddress(null,
                java.net.InetAddress.getByName("fe80::1").getAddress(), 2), 80))).isEqualTo("[fe80::1%2]:80");
        assertThat(Authority.text(InetSocketAddress.createUnresolved("backend.prod", 80))).isEqualTo("backend.prod:80");
        assertThat(Authority.text(null)).isEqualTo("null");
    }
}
