package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/**
 * ztunnel's admin listens on localhost only (istio/ztunnel src/config.rs {@code admin_addr: Address::Localhost}): it has
 * no authentication, and {@code POST /quitquitquit} stops the node's data plane. {@code --admin} takes any address; one
 * that is not loopback gets a warning at start naming it (helper 262: {@code --admin 0.0.0.0:15000} was silent).
 */
class AdminExposureTest {
    @Test
    void aNonLoopbackAdminIsNamedAndLoopbackIsNot() {
        assertThat(ProxyCommand.adminExposure("--admin", new InetSocketAddress("0.0.0.0", 15000)))
                .startsWith("zerohop proxy: warning: --admin 0.0.0.0:15000 is not a loopback address: ")
                .contains("POST /quitquitquit").contains("localhost only");
        assertThat(ProxyCommand.adminExposure("proxy.yaml:3: admin", new InetSocketAddress("::", 15000)))
                .startsWith("zerohop proxy: warning: proxy.yaml:3: admin [::]:15000 is not a loopback address");
        assertThat(ProxyCommand.adminExposure("--admin", new InetSocketAddress("10.0.0.7", 15000))).isNotNull();
        assertThat(ProxyCommand.adminExposure("--admin", new InetSocketAddress("127.0.0.1", 15000))).isNull();
        assertThat(ProxyCommand.adminExposure("--admin", new InetSocketAddress("127.0.111.2", 42000))).isNull();
        assertThat(ProxyCommand.adminExposure("--admin", new InetSocketAddress("::1", 15000))).isNull();
        assertThat(ProxyCommand.adminExposure("--admin", null)).as("--admin off").isNull();
    }
}
