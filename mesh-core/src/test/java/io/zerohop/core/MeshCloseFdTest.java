package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.Route;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Closing a mesh closes the file descriptor of its pooled client connection, also when a tunnel was
 * still open on it. The drain ends on an event loop, and Netty 4.2.18's loop, asked from one of its
 * own tasks to stop with no quiet period, ends without closing the channels still registered on it:
 * the connection, in its lingering close after the GOAWAY, kept its descriptor for the life of the
 * process, one per mesh (found by a new-user pass: a JUnit suite that built a mesh per test gathered
 * them). Linux only (reads /proc).
 */
class MeshCloseFdTest {

    @Test
    void closingAClientMeshWithATunnelOpenClosesItsHboneConnectionsDescriptor() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        SpiffeId be = SpiffeIds.istio("cluster.local", "prod", "backend");
        SpiffeId fe = SpiffeIds.istio("cluster.local", "prod", "frontend");
        try (MeshTls tls = MeshTls.builder(ca).build(); HboneServerSocket sockets = new HboneServerSocket()) {
            HboneServer server = HboneServer.builder().tls(tls).identity(be).bind(new InetSocketAddress("127.0.0.1", 0))
                    .destinations((d, id, l) -> Destination.embedded(sockets)).authorizer(Authorizer.allowAll()).build()
                    .start().get(10, TimeUnit.SECONDS);
            try {
                Mesh client = Mesh.builder().identityProvider(ca).identity(fe).drain(Duration.ZERO).threads(1).build();
                HboneStream stream = client.connect(fe, new InetSocketAddress("127.0.0.1", 8080),
                        new Route(server.localAddress(), be)).get(10, TimeUnit.SECONDS);
                Socket s = stream.toSocket();
                s.getOutputStream().write(1);
                HboneSocket in = sockets.accept();
                assertThat(in.getInputStream().read()).isEqualTo(1);
                List<String> connection = clientSockets(server.localAddress().getPort());
                assertThat(connection).as("the client's HBONE connection, by socket inode").hasSize(1);

                client.close(); // the tunnel is still open: the drain (0 s) resets it, then the connection closes

                assertThat(openSockets()).as("descriptors of this process still holding the client connection")
                        .doesNotContainAnyElementsOf(connection);
                in.close();
            } finally {
                server.close();
            }
        }
    }

    /**
     * A new-user pass: close() called on an event loop thread (a callback) blocked that loop for the
     * drain plus 8 s, since the drain needs the loops. It now starts the shutdown and returns.
     */
    @Test
    void closeOnAnEventLoopThreadDoesNotWaitForTheDrain() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        SpiffeId be = SpiffeIds.istio("cluster.local", "prod", "backend");
        SpiffeId fe = SpiffeIds.istio("cluster.local", "prod", "frontend");
        io.netty.channel.DefaultEventLoop loop = new io.netty.channel.DefaultEventLoop();
        try (MeshTls tls = MeshTls.builder(ca).build(); HboneServerSocket sockets = new HboneServerSocket()) {
            HboneServer server = HboneServer.builder().tls(tls).identity(be).bind(new InetSocketAddress("127.0.0.1", 0))
                    .destinations((d, id, l) -> Destination.embedded(sockets)).authorizer(Authorizer.allowAll()).build()
                    .start().get(10, TimeUnit.SECONDS);
            try {
                Mesh client = Mesh.builder().identityProvider(ca).identity(fe).drain(Duration.ofSeconds(60)).threads(1).build();
                Socket s = client.connect(fe, new InetSocketAddress("127.0.0.1", 8080), new Route(server.localAddress(), be))
                        .get(10, TimeUnit.SECONDS).toSocket();
                s.getOutputStream().write(1);
                HboneSocket in = sockets.accept();
                assertThat(in.getInputStream().read()).isEqualTo(1);

                // The open tunnel holds the drain for up to 60 s: a close that waited would not return in 20.
                loop.submit(client::close).get(20, TimeUnit.SECONDS);
                assertThat(client.shutdown()).as("the drain still waits for the open tunnel").isNotDone();

                s.close();
                in.close();
                client.shutdown().get(20, TimeUnit.SECONDS);
            } finally {
                server.close();
            }
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }

    /** The inodes ("socket:[N]") of established TCP sockets whose remote port is {@code port}: the client ends. */
    private static List<String> clientSockets(int port) throws IOException {
        List<String> out = new ArrayList<>();
        for (String file : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            List<String> lines = Files.readAllLines(Path.of(file));
            for (String line : lines.subList(1, lines.size())) {
                String[] f = line.trim().split("\\s+");
                int remotePort = Integer.parseInt(f[2].substring(f[2].indexOf(':') + 1), 16);
                if (remotePort == port && f[3].equals("01")) {
                    out.add("socket:[" + f[9] + "]");
                }
            }
        }
        return out;
    }

    private static List<String> openSockets() throws IOException {
        List<String> out = new ArrayList<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                try {
                    out.add(Files.readSymbolicLink(fd).toString());
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        }
        return out;
    }
}
