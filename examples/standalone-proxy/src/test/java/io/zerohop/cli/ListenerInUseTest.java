package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A second {@code zerohop proxy} on a host where the first one (or ztunnel, whose ports zerohop's defaults share, istio/ztunnel
 * {@code src/config.rs} {@code DEFAULT_ADMIN_PORT}...) holds its ports: one line names every port a draining proxy keeps that
 * is taken, and the flag that moves each. Before, a new-user pass got {@code --admin ...: cannot listen: Address already in
 * use (another process listens there: a zerohop proxy still draining ...)}, no way out named, and with metrics, readiness and
 * admin all taken it named one of them, a different one from run to run.
 */
class ListenerInUseTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    /** Held by "the first proxy" (or another process): real listening sockets on this helper's loopback range. */
    static ServerSocket listening(String host, int port) throws Exception {
        ServerSocket s = new ServerSocket();
        s.bind(new InetSocketAddress(InetAddress.getByName(host), port));
        return s;
    }

    @Test
    void aSecondProxyNamesEveryTakenPortAndTheFlagsThatMoveThem() throws Exception {
        try (ServerSocket metrics = listening("127.0.248.7", 51720);
             ServerSocket readiness = listening("127.0.248.7", 51721);
             ServerSocket admin = listening("127.0.248.7", 51722)) {
            assertThat(std.run("proxy", "--in-memory-ca", "--inbound", "127.0.248.7:51723", "--metrics", "127.0.248.7:51720",
                    "--readiness", "127.0.248.7:51721", "--admin", "127.0.248.7:51722")).isEqualTo("exit 1: zerohop proxy:"
                    + " --metrics 127.0.248.7:51720, --readiness 127.0.248.7:51721 and --admin 127.0.248.7:51722: cannot listen:"
                    + " Address already in use (another process listens there: a zerohop proxy still draining keeps its metrics,"
                    + " readiness and admin ports until it exits; `ss -ltnp` names the process; to run this proxy beside it,"
                    + " give it --metrics ADDR, --readiness ADDR and --admin ADDR, each of them or off)");
        }
        assertThat(std.out.toString()).doesNotContain("zerohop proxy ready");
    }

    @Test
    void theAdminPortAloneNamesAdminAndItsOff() throws Exception {
        try (ServerSocket admin = listening("127.0.248.7", 51724)) {
            assertThat(std.run("proxy", "--in-memory-ca", "--inbound", "127.0.248.7:51725", "--metrics", "off",
                    "--readiness", "off", "--admin", "127.0.248.7:51724")).isEqualTo("exit 1: zerohop proxy:"
                    + " --admin 127.0.248.7:51724: cannot listen: Address already in use (another process listens there: a zerohop"
                    + " proxy still draining keeps its metrics, readiness and admin ports until it exits; `ss -ltnp` names the"
                    + " process; to run this proxy beside it, give it --admin ADDR, or --admin off)");
        }
    }

    @Test
    void theInboundPortNamesInbound() throws Exception {
        try (ServerSocket hbone = listening("127.0.248.7", 51726)) {
            assertThat(std.run("proxy", "--in-memory-ca", "--inbound", "127.0.248.7:51726", "--metrics", "off",
                    "--readiness", "off", "--admin", "off")).isEqualTo("exit 1: zerohop proxy: --inbound 127.0.248.7:51726:"
                    + " cannot listen: Address already in use (another process listens there: `ss -ltnp` names the process;"
                    + " to run this proxy beside it, give it --inbound ADDR, or --inbound off)");
        }
    }

    /**
     * On the defaults, the port is ztunnel's too (port 15000 itself is not this test's to bind: the line is built from the
     * option and its address, so it is asked for directly).
     */
    @Test
    void onTheDefaultPortTheLineSaysItIsZtunnelsToo() {
        Map<String, InetSocketAddress> failed = new LinkedHashMap<>();
        failed.put("admin", new InetSocketAddress("127.0.0.1", 15000));
        assertThat(new ProxyCommand().cannotListen(failed, "Address already in use")).isEqualTo("--admin 127.0.0.1:15000:"
                + " cannot listen: Address already in use (another process listens there: 15000 is ztunnel's admin port and every"
                + " zerohop proxy's default; a zerohop proxy still draining keeps its metrics, readiness and admin ports until"
                + " it exits; `ss -ltnp` names the process; to run this proxy beside it, give it --admin ADDR, or --admin off)");
    }
}
