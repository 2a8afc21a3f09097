package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A CiliumNetworkPolicy on a named port ({@code port: http}) decided by a real proxy over real TLS and HBONE on
 * loopback (127.0.123.x): the destination's registry workload carries its container ports by name, and the tunnel to
 * the port the name resolves to is let through while one to another port of the same pod is refused (cilium/cilium
 * {@code Endpoint.GetNamedPort}: an ingress named port resolves against the pod's own ports). Two echo apps on
 * ephemeral ports of the pod's address; the name is given the first one's number. The peer is selected as
 * {@code fromEntities: [cluster]}: the client tunnels from 127.0.0.1, not its pod's address, so its labels are unknown.
 */
class CiliumNamedPortTunnelTest {
    static final String TD = "cluster.local";

    @Test
    void theTunnelToTheNamedPortPassesAndAnotherPortIsRefused() throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        InetAddress serverIp = InetAddress.getByName("127.0.123.12");
        try (ServerSocket named = CrossNodeSourceTest.echoOn(serverIp); ServerSocket other = CrossNodeSourceTest.echoOn(serverIp)) {
            Workload client = new Workload("prod", "client", "client", Map.of("app", "client"),
                    List.of(InetAddress.getByName("127.0.123.11")), Workload.Protocol.HBONE, "node-a", TD);
            Workload web = new Workload("prod", "web", "web", Map.of("app", "web"), List.of(serverIp), Workload.Protocol.HBONE,
                    "node-b", TD, Map.of(), Map.of("http", named.getLocalPort()));
            WorkloadRegistry registry = WorkloadRegistry.of(List.of(client, web), Map.of());
            PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", """
                    apiVersion: cilium.io/v2
                    kind: CiliumNetworkPolicy
                    metadata: {name: web-http, namespace: prod}
                    spec:
                      endpointSelector: {matchLabels: {app: web}}
                      ingress:
                      - fromEntities: [cluster]
                        toPorts:
                        - ports: [{port: http, protocol: TCP}]
                    """)).build();
            try (Mesh server = Mesh.builder().identityProvider(ca).identity(web.identity()).workloads(registry).policies(policy)
                    .inbound(new InetSocketAddress(serverIp, 0)).threads(2).build()) {
                server.start().get(10, TimeUnit.SECONDS);
                registry.replace(List.of(client, web), Map.of("node-b", server.inboundAddress()));
                try (Mesh mesh = Mesh.builder().identityProvider(ca).workloads(registry).threads(2).build()) {
                    HboneStream s = mesh.connect(client.identity(), new InetSocketAddress(serverIp, named.getLocalPort()))
                            .get(20, TimeUnit.SECONDS);
                    s.close();
                    Throwable refused = catchThrowable(() -> mesh.connect(client.identity(),
                            new InetSocketAddress(serverIp, other.getLocalPort())).get(20, TimeUnit.SECONDS));
                    assertThat(refused).as("port %d is not the pod's http", other.getLocalPort()).hasMessageContaining("401");
                }
            }
        }
    }
}
