package io.zerohop.hbone;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Set;

/** Per-test-class CA, identities and TLS (fresh CA per class, per DESIGN §8). */
final class Mesh implements AutoCloseable {
    final InMemoryCa ca = InMemoryCa.create("cluster.local");
    final MeshTls tls = MeshTls.builder(ca).build();
    final SpiffeId serverId = SpiffeIds.istio("cluster.local", "prod", "server");
    final SpiffeId clientId = SpiffeIds.istio("cluster.local", "prod", "client");

    HboneServer.Builder server(DestinationResolver destinations) {
        return HboneServer.builder().tls(tls).identity(serverId).bind(new InetSocketAddress("127.0.0.1", 0))
                .destinations(destinations).authorizer(Authorizer.allowAll()).threads(2);
    }

    /** A server that proxies every CONNECT to {@code upstream} and refuses any other destination. */
    HboneServer.Builder proxyTo(InetSocketAddress upstream) {
        return server((dst, id, local) -> dst.equals(upstream) ? Destination.proxy(upstream) : null);
    }

    /** A frame-level peer with the client's identity over mutual TLS to {@code server}, its connection preface sent. */
    RawFrames peer(HboneServer server) throws Exception {
        return rawPeer(server).preface();
    }

    /** {@link #peer} before its connection preface: the test sends what it wants first. */
    RawFrames rawPeer(HboneServer server) throws Exception {
        return new RawFrames(tls.client(clientId, expectServer()).get(), server.localAddress());
    }

    HboneClient.Builder client() {
        return HboneClient.builder().tls(tls).identity(clientId).threads(2).connectTimeout(Duration.ofSeconds(10));
    }

    Set<SpiffeId> expectServer() {
        return Set.of(serverId);
    }

    /** A tunnel from {@code client} through {@code server} to 127.0.0.1:25; the open waits at most 10 s. */
    HboneStream open(HboneClient client, HboneServer server) throws Exception {
        return client.connect(loopback(25), expectServer(), server.localAddress()).get(10, java.util.concurrent.TimeUnit.SECONDS);
    }

    /** {@code s}'s blocking socket, with a 10 s read timeout (a guard only). */
    static HboneSocket socket(HboneStream s) throws java.io.IOException {
        HboneSocket socket = s.toSocket();
        socket.setSoTimeout(10_000);
        return socket;
    }

    static InetSocketAddress loopback(int port) {
        return new InetSocketAddress("127.0.0.1", port);
    }

    @Override
    public void close() {
        tls.close();
        ca.close();
    }
}
