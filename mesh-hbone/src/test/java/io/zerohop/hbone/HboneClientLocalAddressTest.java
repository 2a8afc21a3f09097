package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.testing.netty.Await;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link HboneClient.Builder#localAddress}: the HBONE connections of a client leave from the address
 * it was given, as ztunnel dials from the workload's IP (src/proxy.rs freebind_connect), and the server
 * sees that address as the tunnel's source. Linux answers on all of 127.0.0.0/8, so two clients bound
 * to 127.0.0.2 and 127.0.0.3 reach a server on 127.0.0.1.
 */
@Timeout(60)
class HboneClientLocalAddressTest {

    @Test
    void theServerSeesEachClientsLocalAddressAsTheSource() throws Exception {
        HboneServerSocket sockets = new HboneServerSocket();
        sockets.setSoTimeout(20_000);
        try (Mesh mesh = new Mesh();
             HboneServer server = mesh.server((dst, id, local) -> Destination.embedded(sockets)).build().start().get(20, TimeUnit.SECONDS)) {
            for (String source : new String[] {"127.0.0.2", "127.0.0.3"}) {
                InetAddress ip = InetAddress.getByName(source);
                try (HboneClient client = mesh.client().localAddress(ip).build();
                     HboneSocket out = client.connectSocket(Mesh.loopback(8080), mesh.expectServer(), server.localAddress(), java.time.Duration.ofSeconds(20));
                     HboneSocket in = sockets.accept()) {
                    assertThat(in.tunnel().peerAddress().getAddress()).as("the source the server saw").isEqualTo(ip);
                    assertThat(out.tunnel().localAddress().getAddress()).as("the client's side of its connection").isEqualTo(ip);
                    out.getOutputStream().write('k');
                    assertThat(in.getInputStream().read()).isEqualTo('k');
                }
            }
            // Without the option the kernel picks the source from the route: 127.0.0.1 towards 127.0.0.1.
            try (HboneClient client = mesh.client().build();
                 HboneSocket out = client.connectSocket(Mesh.loopback(8080), mesh.expectServer(), server.localAddress(), java.time.Duration.ofSeconds(20));
                 HboneSocket in = sockets.accept()) {
                assertThat(in.tunnel().peerAddress().getAddress()).isEqualTo(InetAddress.getByName("127.0.0.1"));
            }
        } finally {
            sockets.close();
        }
    }

    /** The same over IPv6: a client bound to ::1 reaches a server on [::1], which sees ::1 as the source. */
    @Test
    void anIpv6LocalAddressIsTheSourceTheServerSees() throws Exception {
        InetAddress ip6 = InetAddress.getByName("::1");
        try (java.net.ServerSocket probe = new java.net.ServerSocket()) {
            probe.bind(new InetSocketAddress(ip6, 0));
        } catch (java.io.IOException noIpv6) {
            org.junit.jupiter.api.Assumptions.abort("no IPv6 loopback here: " + noIpv6.getMessage());
        }
        HboneServerSocket sockets = new HboneServerSocket();
        sockets.setSoTimeout(20_000);
        try (Mesh mesh = new Mesh();
             HboneServer server = mesh.server((dst, id, local) -> Destination.embedded(sockets)).bind(new InetSocketAddress(ip6, 0))
                     .build().start().get(20, TimeUnit.SECONDS);
             HboneClient client = mesh.client().localAddress(ip6).build();
             HboneSocket out = client.connectSocket(Mesh.loopback(8080), mesh.expectServer(), server.localAddress(), java.time.Duration.ofSeconds(20));
             HboneSocket in = sockets.accept()) {
            assertThat(in.tunnel().peerAddress().getAddress()).as("the source the server saw").isEqualTo(ip6);
            assertThat(out.tunnel().localAddress().getAddress()).isEqualTo(ip6);
            out.getOutputStream().write('6');
            assertThat(in.getInputStream().read()).isEqualTo('6');
        } finally {
            sockets.close();
        }
    }

    @Test
    void addressesThatCannotBeASourceAreRefused() throws Exception {
        try (Mesh mesh = new Mesh()) {
            HboneClient.Builder b = mesh.client();
            assertThatThrownBy(() -> b.localAddress(InetAddress.getByName("224.0.0.1")))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multicast 224.0.0.1");
            assertThatThrownBy(() -> b.localAddress(InetAddress.getByName("ff02::1")))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multicast");
            assertThatThrownBy(() -> b.localAddress(InetAddress.getByName("255.255.255.255")))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("broadcast address 255.255.255.255");
            assertThatThrownBy(() -> b.localAddress(null)).isInstanceOf(NullPointerException.class).hasMessageContaining("localAddress");
        }
    }

    @Test
    void aTunnelToTheOtherIpVersionFailsNamingBoth() throws Exception {
        try (Mesh mesh = new Mesh();
             HboneClient client = mesh.client().localAddress(InetAddress.getByName("::1")).build()) {
            CompletableFuture<HboneStream> open = client.connect(Mesh.loopback(8080), mesh.expectServer(), new InetSocketAddress("127.0.0.1", 15008));
            assertThatThrownBy(() -> open.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("127.0.0.1:15008").hasMessageContaining("::1").hasMessageContaining("IP version");
        }
    }

    @Test
    void anAddressNotOfThisHostFailsTheDial() throws Exception {
        try (Mesh mesh = new Mesh();
             HboneClient client = mesh.client().localAddress(InetAddress.getByName("192.0.2.1")).build()) { // TEST-NET-1
            CompletableFuture<HboneStream> open = client.connect(Mesh.loopback(8080), mesh.expectServer(), new InetSocketAddress("127.0.0.1", 15008));
            Throwable failure = Await.result(open.handle((s, e) -> e));
            // Both addresses named: the kernel's "Cannot assign requested address" is about the source (newuser28).
            assertThat(failure).isInstanceOf(java.net.ConnectException.class).hasMessageContaining("127.0.0.1:15008")
                    .hasMessageContaining("from local address 192.0.2.1");
        }
    }
}
