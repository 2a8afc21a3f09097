package io.zerohop.testing;

import io.netty.handler.ssl.SslContext;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.DestinationResolver;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.netty.Await;
import io.zerohop.testing.netty.EchoServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.Objects;
import java.util.Set;

/**
 * An in-memory mesh for one test class: a fresh {@link InMemoryCa} for trust domain
 * {@value #TRUST_DOMAIN}, {@link MeshTls} over it, SVIDs and TLS contexts for named identities, and
 * HBONE servers and clients on ephemeral loopback ports. Everything it starts is closed by
 * {@link #close()}, newest first; {@link ZerohopExtension} calls it after the class.
 *
 * <p>Thread-safe for the calls a test makes from several threads (issuing, starting peers).
 */
public final class TestMesh implements AutoCloseable {
    /** The trust domain of every test mesh (Istio's default). */
    public static final String TRUST_DOMAIN = "cluster.local";

    private final InMemoryCa ca;
    private final MeshTls tls;
    private final Deque<AutoCloseable> resources = new ArrayDeque<>();

    private TestMesh(InMemoryCa ca) {
        this.ca = ca;
        this.tls = MeshTls.builder(ca).build();
    }

    /** A mesh with a new CA (ECDSA P-256 root); usually obtained from {@link ZerohopExtension}. */
    public static TestMesh create() {
        return new TestMesh(InMemoryCa.create(TRUST_DOMAIN));
    }

    public InMemoryCa ca() {
        return ca;
    }

    public MeshTls tls() {
        return tls;
    }

    /** The Istio-style SPIFFE ID {@code spiffe://cluster.local/ns/NAMESPACE/sa/SERVICE_ACCOUNT}. */
    public SpiffeId identity(String namespace, String serviceAccount) {
        return SpiffeIds.istio(TRUST_DOMAIN, namespace, serviceAccount);
    }

    /** An X.509-SVID for {@code id} from this mesh's CA (the CA's default lifetime). */
    public X509Svid svid(SpiffeId id) {
        return ca.issue(id);
    }

    /** The server TLS context presenting {@code id}; it requires and verifies a client SVID. */
    public SslContext serverTls(SpiffeId id) {
        return Await.result(tls.server(id));
    }

    /** The client TLS context presenting {@code id} and accepting only the {@code expectedPeers}. */
    public SslContext clientTls(SpiffeId id, SpiffeId... expectedPeers) {
        return Await.result(tls.client(id, Set.copyOf(Arrays.asList(expectedPeers))));
    }

    /**
     * A server builder presenting {@code identity} on {@code 127.0.0.1:0} with two event-loop
     * threads and an authorizer that allows every authenticated peer; set
     * {@link HboneServer.Builder#destinations} (required) and anything else, then
     * {@link #start(HboneServer.Builder)} it.
     */
    public HboneServer.Builder serverBuilder(SpiffeId identity) {
        return HboneServer.builder().tls(tls).identity(identity).bind(new InetSocketAddress("127.0.0.1", 0))
                .authorizer(Authorizer.allowAll()).threads(2);
    }

    /** Builds and starts {@code builder}; the server is closed with this mesh. */
    public HboneServer start(HboneServer.Builder builder) {
        return closeLater(Await.result(builder.build().start()));
    }

    /**
     * An HBONE server presenting {@code identity} on a loopback port that proxies every tunnel to
     * a plain-TCP {@link #echoServer()}, whatever its {@code :authority} (a test target, not an open
     * proxy: it only ever dials the echo server).
     */
    public HboneServer echoHboneServer(SpiffeId identity) throws InterruptedException {
        EchoServer echo = echoServer();
        DestinationResolver toEcho = (dst, id, local) -> Destination.proxy(echo.address());
        return start(serverBuilder(identity).destinations(toEcho));
    }

    /** A plain-TCP {@link EchoServer} on a loopback port, closed with this mesh. */
    public EchoServer echoServer() throws InterruptedException {
        return closeLater(new EchoServer());
    }

    /** A client builder presenting {@code identity} with two event-loop threads and a 10 s connect timeout. */
    public HboneClient.Builder clientBuilder(SpiffeId identity) {
        return HboneClient.builder().tls(tls).identity(identity).threads(2).connectTimeout(Duration.ofSeconds(10));
    }

    /** A client presenting {@code identity}, closed with this mesh. */
    public HboneClient client(SpiffeId identity) {
        return closeLater(clientBuilder(identity).build());
    }

    /**
     * Opens a tunnel from {@code client} through {@code server} (its {@code :authority} is the
     * server's own address, which {@link #echoHboneServer} serves), accepting only a server that
     * presents {@code serverIdentity}; waits at most {@link Await#TIMEOUT}.
     *
     * @throws IOException as {@link HboneClient#connectSocket}: refused, TLS or identity failure, timeout
     */
    public HboneSocket tunnel(HboneClient client, HboneServer server, SpiffeId serverIdentity) throws IOException {
        return client.connectSocket(server.localAddress(), Set.of(serverIdentity), server.localAddress(), Await.TIMEOUT);
    }

    /** Registers {@code resource} to be closed by {@link #close()} (newest first) and returns it. */
    public <T extends AutoCloseable> T closeLater(T resource) {
        Objects.requireNonNull(resource, "resource");
        synchronized (resources) {
            resources.push(resource);
        }
        return resource;
    }

    /**
     * Closes every registered resource, newest first, then the TLS contexts and the CA. Every
     * resource is closed even if one fails; the first failure is rethrown with the others suppressed.
     */
    @Override
    public void close() throws Exception {
        Exception first = null;
        while (true) {
            AutoCloseable r;
            synchronized (resources) {
                r = resources.poll();
            }
            if (r == null) {
                break;
            }
            try {
                r.close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        tls.close();
        ca.close();
        if (first != null) {
            throw first;
        }
    }
}
