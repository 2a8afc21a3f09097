package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code zerohop proxy --workloads FILE --forward LOCAL=VIP:PORT} as the README says: the file's {@code services:} entry
 * makes VIP:PORT a known destination, and a connection to the forward goes over HBONE, as the client workload, to the
 * Service's endpoint at its target port (the proxy's own inbound at the endpoint's address on 15008, which presents the
 * endpoint's SVID), where the application answers.
 */
class ForwardToServiceVipTest {
    @Test
    void aForwardToAServiceVipReachesItsEndpointOverHbone(@TempDir Path dir) throws Exception {
        try (ServerSocket app = ForwardSourceTest.oneByteEcho("127.0.152.32")) {
            Path w = Files.writeString(dir.resolve("w.yaml"), """
                    workloads:
                      - {namespace: prod, name: client, serviceAccount: client, addresses: [127.0.152.31]}
                      - {namespace: prod, name: web-1, serviceAccount: web, addresses: [127.0.152.32], labels: {app: web},
                         namedPorts: {http: APP}}
                    services:
                      - {namespace: prod, name: web, addresses: [127.0.152.100], ports: {80: http}, selector: {app: web}}
                    """.replace("APP", String.valueOf(app.getLocalPort())));
            try (ChildProxy proxy = new ChildProxy(List.of(), "--in-memory-ca", "--workloads", w.toString(),
                    "--inbound", "127.0.152.32:15008", "--forward", "127.0.152.21:0=127.0.152.100:80",
                    "--metrics", "off", "--readiness", "off", "--admin", "off")) {
                try (Socket s = proxy.dialForward("127.0.152.21", "127.0.152.31")) {
                    s.getOutputStream().write('x');
                    assertThat(s.getInputStream().read()).as(proxy.output()).isEqualTo('x');
                }
                proxy.stop();
                assertThat(proxy.output()).containsPattern("outbound src=127\\.0\\.152\\.31:\\d+ src_id=spiffe://cluster\\.local/ns/prod/sa/client"
                        + " dst=127\\.0\\.152\\.32:" + app.getLocalPort() + " dst_id=spiffe://cluster\\.local/ns/prod/sa/web ");
            }
        }
    }

    /**
     * A forward to a Service VIP whose Service has no endpoint (the start only warns: endpoints may come later), in
     * ztunnel's access-log format: the connection is reset (nothing
     * sent anywhere) and the log has ztunnel's outbound early deny for {@code Error::NoHealthyUpstream}
     * (src/proxy/outbound.rs {@code proxy}: {@code log_early_deny} of any {@code build_request} error): {@code connection
     * failed} at WARN, {@code direction="outbound"}, {@code error="no healthy upstream: VIP:PORT"}. It had none before
     * 5 December.
     */
    @Test
    void aVipWithoutAnUpstreamIsZtunnelsEarlyDeny(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("w.yaml"), """
                workloads:
                  - {namespace: prod, name: client, serviceAccount: client, addresses: [127.0.152.41]}
                  - {namespace: prod, name: web-1, serviceAccount: web, addresses: [127.0.152.42], labels: {app: web}}
                services:
                  - {namespace: prod, name: api, addresses: [127.0.152.101], ports: {80: 8080}, selector: {app: api}}
                """);
        try (ChildProxy proxy = new ChildProxy(List.of(), "--in-memory-ca", "--workloads", w.toString(),
                "--forward", "127.0.152.22:0=127.0.152.101:80", "--access-log-format", "ztunnel", "--inbound", "off",
                "--metrics", "off", "--readiness", "off", "--admin", "off")) {
            try (Socket s = proxy.dialForward("127.0.152.22", "127.0.152.41")) {
                s.getOutputStream().write('x');
                assertThat(catchThrowable(() -> s.getInputStream().read())).as(proxy.output())
                        .isInstanceOf(java.net.SocketException.class).hasMessageContaining("reset");
            }
            proxy.stop();
            assertThat(proxy.output()).containsPattern("\\twarn\\taccess\\tconnection failed\\tsrc\\.addr=127\\.0\\.152\\.41:\\d+"
                    + " dst\\.addr=127\\.0\\.152\\.101:80 direction=\"outbound\" error=\"no healthy upstream: 127\\.0\\.152\\.101:80\"");
        }
    }
}
