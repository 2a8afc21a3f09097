package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.Route;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A new-user pass: a Mesh could not federate. {@code InMemoryCa.federate} had no effect through it, since the mesh built
 * its own {@code MeshTls} with federation off, and the handshake error named {@code MeshTls.Builder.federation(true)},
 * which a Mesh user cannot reach. {@code Mesh.Builder.federation} passes it through; off by default, as MeshTls's.
 */
class MeshFederationTest {
    private static final SpiffeId BACKEND = SpiffeIds.istio("cluster.local", "prod", "backend");
    private static final SpiffeId PARTNER = SpiffeIds.istio("partner.example", "shop", "web");

    @Test
    void meshesOfFederatedTrustDomainsConnectWithFederationOnAndAreRefusedWithItOff() throws Exception {
        InMemoryCa local = InMemoryCa.create("cluster.local");
        InMemoryCa partner = InMemoryCa.create("partner.example");
        local.federate(partner.bundle());
        partner.federate(local.bundle());

        try (HboneServerSocket sockets = new HboneServerSocket()) {
            try (Mesh server = server(local, true, sockets); Mesh client = client(partner, true)) {
                HboneStream stream = client.connect(PARTNER, new InetSocketAddress("127.0.0.1", 8080),
                        new Route(server.inboundAddress(), BACKEND)).get(10, TimeUnit.SECONDS);
                assertThat(stream.info().peerIdentity()).isEqualTo(BACKEND);
                Socket out = stream.toSocket();
                out.getOutputStream().write(7);
                try (HboneSocket in = sockets.accept()) {
                    assertThat(in.getInputStream().read()).isEqualTo(7);
                    assertThat(in.tunnel().peerIdentity()).as("the server side's peer, of the other trust domain").isEqualTo(PARTNER);
                }
                out.close();
            }
            // Off on either side (the default) refuses the other trust domain, federated bundle or not.
            for (boolean serverOn : new boolean[] {false, true}) {
                try (Mesh server = server(local, serverOn, sockets); Mesh client = client(partner, !serverOn)) {
                    assertThatThrownBy(() -> client.connect(PARTNER, new InetSocketAddress("127.0.0.1", 8080),
                            new Route(server.inboundAddress(), BACKEND)).get(10, TimeUnit.SECONDS))
                            .as("server federation %s, client %s", serverOn, !serverOn)
                            .isInstanceOf(ExecutionException.class);
                }
            }
        }
    }

    /** The handshake's refusal names the option a Mesh user has. */
    @Test
    void theRefusalNamesTheMeshOption() throws Exception {
        InMemoryCa local = InMemoryCa.create("cluster.local");
        InMemoryCa partner = InMemoryCa.create("partner.example");
        local.federate(partner.bundle());
        partner.federate(local.bundle());
        try (HboneServerSocket sockets = new HboneServerSocket();
                io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr();
                Mesh server = server(local, true, sockets); Mesh client = client(partner, false)) {
            Throwable e = catchCause(client, server);
            String all = chain(e) + "\n" + err.text();
            assertThat(all).contains("and federation is off (Mesh.Builder.federation(true), or MeshTls.Builder.federation(true)"
                    + " without a Mesh, accepts federated domains)");
        }
    }

    private static Throwable catchCause(Mesh client, Mesh server) throws Exception {
        try {
            client.connect(PARTNER, new InetSocketAddress("127.0.0.1", 8080), new Route(server.inboundAddress(), BACKEND))
                    .get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            return e.getCause();
        }
        throw new AssertionError("the tunnel opened");
    }

    private static String chain(Throwable e) {
        StringBuilder b = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            b.append(t).append('\n');
        }
        return b.toString();
    }

    private static Mesh server(InMemoryCa ca, boolean federation, HboneServerSocket sockets) throws Exception {
        Mesh m = Mesh.builder().identityProvider(ca).identity(BACKEND).federation(federation).threads(1).drain(Duration.ZERO)
                .inbound(new InetSocketAddress("127.0.0.1", 0)).build();
        m.serve(new InetSocketAddress("127.0.0.1", 8080), sockets);
        m.start().get(10, TimeUnit.SECONDS);
        return m;
    }

    private static Mesh client(InMemoryCa ca, boolean federation) {
        return Mesh.builder().identityProvider(ca).trustDomain("partner.example").identity(PARTNER).federation(federation)
                .threads(1).drain(Duration.ZERO).build();
    }
}
