package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * ztunnel's admin listens on localhost only (istio/ztunnel src/config.rs {@code admin_addr: Address::Localhost}): it has
 * no authentication, and {@code POST /quitquitquit} stops the node's data plane. {@code --admin} takes any address; one
 * that is not loopback gets a warning at start naming it (helper 262: {@code --admin 0.0.0.0:15000} was silent).
 */
class AdminExposureTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

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

    /**
     * The start path: a proxy started with {@code --admin} on an address of this machine that is not loopback prints the
     * warning naming it, and its admin listener answers there; one on loopback ({@code 127.0.121.2}) prints none. The
     * non-loopback address is one of this machine's own interfaces (bound on this test's port only, for the seconds the
     * test runs); on a machine without one the case is skipped and {@link #aNonLoopbackAdminIsNamedAndLoopbackIsNot}
     * still checks the decision.
     */
    @Test
    @Timeout(180)
    void aStartedProxyWarnsOfANonLoopbackAdminAndNotOfLoopback() throws Exception {
        String loopback = "127.0.121.2:47202";
        start(loopback);
        assertThat(std.err.toString()).doesNotContain("is not a loopback address");
        std.err.reset();
        std.out.reset();

        InetAddress own = NetworkInterface.networkInterfaces().filter(AdminExposureTest::upAndNotLoopback).flatMap(NetworkInterface::inetAddresses)
                .filter(a -> a instanceof java.net.Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()
                        && !a.isAnyLocalAddress())
                .findFirst().orElse(null);
        Assumptions.assumeTrue(own != null, "this machine has no non-loopback IPv4 address to bind");
        String exposed = own.getHostAddress() + ":47201";
        start(exposed);
        assertThat(std.err.toString()).contains("zerohop proxy: warning: --admin " + exposed + " is not a loopback address: ")
                .contains("POST /quitquitquit");
        assertThat(std.out.toString()).contains("admin " + exposed);
    }

    /** Starts a proxy whose only listener is the admin on {@code admin}, waits for its ready line, stops it with /quitquitquit. */
    private void start(String admin) throws Exception {
        CompletableFuture<Integer> proxy = CompletableFuture.supplyAsync(() -> Zerohop.run("proxy", "--in-memory-ca",
                "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", admin, "--drain", "0s"));
        io.zerohop.testing.netty.Await.until("the ready line", Hang.BOUND,
                () -> std.out.toString().contains("zerohop proxy ready") || proxy.isDone());
        assertThat(proxy).as(std.out.toString() + std.err).isNotDone();
        AdminQuit.quit(admin);
        assertThat(io.zerohop.testing.netty.Await.result(proxy, Hang.BOUND)).isZero();
    }

    private static boolean upAndNotLoopback(NetworkInterface i) {
        try {
            return i.isUp() && !i.isLoopback();
        } catch (java.net.SocketException e) {
            return false;
        }
    }
}
