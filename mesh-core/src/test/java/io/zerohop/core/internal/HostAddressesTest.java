package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.zerohop.core.WorkloadRegistry;
import io.zerohop.testing.LinuxCapabilities;
import java.net.InetAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@link LocalWorkloads#hostHas} follows the host's interfaces: it decides whether a caller that is no workload may
 * borrow the mesh's own identity, so an address that leaves this host must stop counting as this host's (a new-user pass
 * moved one to another network namespace and its caller still got the PEM SVID: the answer was kept forever). A real
 * address on the loopback interface (outside 127/8, so only the interface list says it is the host's), where the test
 * may add one (CAP_NET_ADMIN); skipped elsewhere.
 */
class HostAddressesTest {
    static void ip(String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0).as(String.join(" ", cmd) + ": " + out).isTrue();
    }

    /** Polls {@code hostHas} until it answers {@code expected}, at most 15 s (the snapshot lives 1 s); no time is asserted. */
    static boolean settlesTo(LocalWorkloads local, InetAddress a, boolean expected) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (local.hostHas(a) != expected && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        return local.hostHas(a) == expected;
    }

    /**
     * An IPv6 link-local address is this host's only on the link that holds it: a caller on another link that used this
     * host's eth0 link-local address as its own borrowed the identity (a new-user pass). Needs an interface with one.
     */
    @Test
    void aLinkLocalAddressIsTheHostsOnlyOnItsOwnLink() throws Exception {
        java.net.Inet6Address own = null;
        int index = 0;
        for (java.util.Enumeration<java.net.NetworkInterface> e = java.net.NetworkInterface.getNetworkInterfaces(); own == null && e.hasMoreElements(); ) {
            java.net.NetworkInterface nif = e.nextElement();
            for (java.util.Enumeration<InetAddress> as = nif.getInetAddresses(); as.hasMoreElements(); ) {
                if (as.nextElement() instanceof java.net.Inet6Address v6 && v6.isLinkLocalAddress()) {
                    own = v6;
                    index = nif.getIndex();
                    break;
                }
            }
        }
        assumeTrue(own != null, "no interface with an IPv6 link-local address here");
        LocalWorkloads local = new LocalWorkloads(WorkloadRegistry.empty(), null);
        byte[] bytes = own.getAddress();
        assertThat(local.hostHas(java.net.Inet6Address.getByAddress(null, bytes, index))).as("on its own link").isTrue();
        assertThat(local.hostHas(java.net.Inet6Address.getByAddress(null, bytes, index + 1000))).as("on another link").isFalse();
        assertThat(local.hostHas(InetAddress.getByAddress(bytes))).as("no scope: not known to be this host's").isFalse();
    }

    @Test
    void anAddressThatLeavesTheHostStopsBeingTheHosts() throws Exception {
        assumeTrue(LinuxCapabilities.has(LinuxCapabilities.NET_ADMIN), "needs CAP_NET_ADMIN to add an address");
        InetAddress a = InetAddress.getByName("198.51.100.77");
        LocalWorkloads local = new LocalWorkloads(WorkloadRegistry.empty(), null);
        try {
            assertThat(settlesTo(local, a, false)).as("not yet the host's").isTrue();
            ip("addr", "add", "198.51.100.77/32", "dev", "lo");
            assertThat(settlesTo(local, a, true)).as("added to the host").isTrue();
            ip("addr", "del", "198.51.100.77/32", "dev", "lo");
            assertThat(settlesTo(local, a, false)).as("gone from the host").isTrue();
        } finally {
            new ProcessBuilder("ip", "addr", "del", "198.51.100.77/32", "dev", "lo").start().waitFor(10, TimeUnit.SECONDS);
        }
        assertThat(local.hostHas(InetAddress.getLoopbackAddress())).isTrue();
    }
}
