package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.DisplayName;

/**
 * The inbound side's {@link TunnelInfo#headers()}: the tunnels of one connection share the strings
 * their CONNECTs repeat (ztunnel's outbound CONNECT: the same baggage on every tunnel of a workload,
 * a fresh traceparent each, src/proxy/outbound.rs), instead of one copy per open tunnel (issue 14,
 * memory per tunnel at 10,000 tunnels).
 */
class TunnelHeadersTest {
    // Under the server's 100 concurrent streams: the tunnels stay open (lingering), all on one connection.
    static final int TUNNELS = 90;

    @Test
    @DisplayName("the tunnels of one connection: the server's TunnelInfos share one baggage string, each keeps its own traceparent")
    void inboundTunnelsShareTheBaggageString() throws Exception {
        LinkedBlockingQueue<TunnelInfo> seen = new LinkedBlockingQueue<>();
        try (Mesh mesh = new Mesh()) {
            HboneServer server = mesh.server((dst, id, local) -> Destination.embedded((ch, info) -> seen.add(info)))
                    .build().start().get(10, TimeUnit.SECONDS);
            HboneClient client = mesh.client().build();
            try {
                String baggage = "k8s.cluster.name=Kubernetes,k8s.namespace.name=prod,k8s.deployment.name=client,"
                        + "service.name=client,service.version=v1";
                // HPACK alone shares a value only while it stays in the decoder's dynamic table (4 KiB):
                // each fresh traceparent is indexed there too and pushes the baggage out every few
                // dozen tunnels, after which it arrives as a literal again, a new string.
                for (int i = 0; i < TUNNELS; i++) {
                    HboneStream s = client.connect(Mesh.loopback(8080), mesh.expectServer(), server.localAddress(),
                            Map.of("baggage", baggage, "traceparent", String.format("00-%032x-%016x-00", i + 1, i + 1)))
                            .get(10, TimeUnit.SECONDS);
                    s.close();
                }
                java.util.Set<String> copies = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
                for (int i = 0; i < TUNNELS; i++) {
                    TunnelInfo t = seen.poll(10, TimeUnit.SECONDS);
                    assertThat(t.headers()).containsEntry("baggage", baggage)
                            .containsEntry("traceparent", String.format("00-%032x-%016x-00", i + 1, i + 1));
                    copies.add(t.headers().get("baggage"));
                }
                assertThat(copies).as("baggage strings held by %d tunnels of one connection", TUNNELS).hasSize(1);
            } finally {
                client.close();
                server.close();
            }
        }
    }

    /**
     * The authorizer sees the tunnel's own immutable header map, not a copy per CONNECT (a copy
     * rendered every value, a compact traceparent included, and built a hash table; issue 14).
     */
    @Test
    void theAuthorizerSeesTheTunnelsOwnHeaderMap() throws Exception {
        LinkedBlockingQueue<Map<String, String>> authorized = new LinkedBlockingQueue<>();
        LinkedBlockingQueue<TunnelInfo> seen = new LinkedBlockingQueue<>();
        try (Mesh mesh = new Mesh()) {
            HboneServer server = mesh.server((dst, id, local) -> Destination.embedded((ch, info) -> seen.add(info)))
                    .authorizer(r -> {
                        authorized.add(r.headers());
                        return AuthzDecision.allow();
                    })
                    .build().start().get(10, TimeUnit.SECONDS);
            HboneClient client = mesh.client().build();
            try {
                String traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
                HboneStream s = client.connect(Mesh.loopback(8080), mesh.expectServer(), server.localAddress(),
                        Map.of("baggage", "k8s.namespace.name=prod", "traceparent", traceparent)).get(10, TimeUnit.SECONDS);
                s.close();
                Map<String, String> headers = authorized.poll(10, TimeUnit.SECONDS);
                TunnelInfo info = seen.poll(10, TimeUnit.SECONDS);
                assertThat(headers).containsEntry("traceparent", traceparent).containsEntry("baggage", "k8s.namespace.name=prod");
                assertThat(headers).isSameAs(info.headers());
            } finally {
                client.close();
                server.close();
            }
        }
    }
}
