package io.zerohop.example.library;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.TestMesh;
import io.zerohop.testing.ZerohopTest;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A unit test of one's own service, as the README suggests: zerohop-testing's {@link TestMesh}
 * gives a fresh in-memory CA per class; the service and its callers are real {@link Mesh}es on
 * loopback with real TLS. The service's address (a TEST-NET-1 IP) is never dialled: the caller's
 * registry places it behind the service's HBONE listener (its {@code node}), which listens on an
 * ephemeral port, so the test needs no fixed port or extra loopback address.
 */
@ZerohopTest
class OrdersServiceTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: orders-allow-web
              namespace: shop
            spec:
              selector:
                matchLabels:
                  app: orders
              action: ALLOW
              rules:
              - from:
                - source:
                    principals: ["cluster.local/ns/shop/sa/web"]
            """;

    static Workload orders;
    static OrdersService service;
    static WorkloadRegistry callersView;

    @BeforeAll
    static void startService(TestMesh t) throws Exception {
        orders = new Workload("shop", "orders", "orders", Map.of("app", "orders"),
                List.of(InetAddress.getByName("192.0.2.10")), Workload.Protocol.HBONE, "orders-node", TestMesh.TRUST_DOMAIN);
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("orders-policy.yaml", POLICY)).build();
        service = OrdersService.start(t.ca(), WorkloadRegistry.of(List.of(orders), Map.of()), orders, "orders-node", policy,
                new InetSocketAddress("127.0.0.1", 0));
        callersView = WorkloadRegistry.of(List.of(orders), Map.of("orders-node", service.hboneAddress()));
    }

    @AfterAll
    static void stopService() throws Exception {
        service.close();
    }

    private static Mesh caller(TestMesh t, String sa) {
        return t.closeLater(Mesh.builder().identityProvider(t.ca()).identity(t.identity("shop", sa))
                .workloads(callersView).threads(1).build());
    }

    @Test
    void anAllowedCallerIsAnsweredAndTheServiceSeesItsVerifiedIdentity(TestMesh t) throws Exception {
        String answer = OrdersClient.order(caller(t, "web"), service.appAddress(), "42");
        assertThat(answer).isEqualTo("order 42 for spiffe://cluster.local/ns/shop/sa/web");
    }

    @Test
    void aPlainTcpClientReachesTheServiceThroughAForwardCapture(TestMesh t) throws Exception {
        // An app that cannot take a SocketFactory dials a local port; the mesh tunnels what it
        // accepts there as its own identity (the source is no registry workload).
        Mesh web = caller(t, "web");
        InetSocketAddress local = web.capture(io.zerohop.core.Capture.forward(new InetSocketAddress("127.0.0.1", 0), service.appAddress()));
        try (java.net.Socket s = new java.net.Socket(local.getAddress(), local.getPort())) {
            s.getOutputStream().write("order 45\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            s.shutdownOutput();
            s.setSoTimeout(10_000);
            assertThat(new String(s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII))
                    .isEqualTo("order 45 for spiffe://cluster.local/ns/shop/sa/web\n");
        }
    }

    @Test
    void aCallerThePolicyDoesNotNameIsRefusedWith401BeforeTheServiceSeesIt(TestMesh t) {
        assertThatThrownBy(() -> OrdersClient.order(caller(t, "batch"), service.appAddress(), "43"))
                .isInstanceOf(HboneRefusedException.class)
                .satisfies(e -> assertThat(((HboneRefusedException) e).status()).isEqualTo(401));
    }

    @Test
    void aCallerFromAnotherTrustDomainIsRefusedInTheHandshake(TestMesh t) throws Exception {
        // Its own CA: the orders service does not trust it, and it does not trust the orders service.
        io.zerohop.identity.InMemoryCa other = io.zerohop.identity.InMemoryCa.create("partner.example");
        SpiffeId outsider = SpiffeId.parse("spiffe://partner.example/ns/shop/sa/web");
        Mesh m = t.closeLater(Mesh.builder().identityProvider(other).identity(outsider).workloads(callersView).threads(1).build());
        assertThatThrownBy(() -> OrdersClient.order(m, service.appAddress(), "44"))
                .isInstanceOf(javax.net.ssl.SSLHandshakeException.class)
                .hasMessageContaining("no trust bundle for trust domain cluster.local (trusted: [partner.example])");
    }
}
