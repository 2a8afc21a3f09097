package io.zerohop.hbone;

import io.netty.channel.ChannelHandler;
import java.util.concurrent.TimeUnit;

/**
 * The set-up of the tests that count what the client hands its event loop: a {@link Mesh}, an HBONE
 * server giving every tunnel to one sharable {@code peer} handler in-process (echo, discard...), and
 * a client whose event loop group is a {@link CountingLoopGroup}.
 */
final class CountedClient implements AutoCloseable {
    final Mesh mesh = new Mesh();
    final HboneServer server;
    final CountingLoopGroup loop = new CountingLoopGroup();
    final HboneClient client;

    CountedClient(ChannelHandler peer) throws Exception {
        server = mesh.server((dst, id, local) -> Destination.embedded((ch, info) -> ch.pipeline().addLast(peer)))
                .build().start().get(10, TimeUnit.SECONDS);
        client = mesh.client().eventLoopGroup(loop).build();
    }

    @Override
    public void close() throws Exception {
        client.close();
        server.close();
        loop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).await(10, TimeUnit.SECONDS);
        mesh.close();
    }
}
