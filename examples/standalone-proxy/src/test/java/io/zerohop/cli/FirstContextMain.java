package io.zerohop.cli;

import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import java.util.Set;

/**
 * A child JVM for {@link StartFootprintTest}: what a node proxy does before and at its first tunnel, as far as
 * TLS goes. The start-up thread's two Netty initialisations ({@link NettyTlsProbe#answer},
 * {@link NettyTlsProbe#skipTrustManagerWrapperProbe}, left out with the argument {@code noskip}), then a
 * workload's first server and client contexts with BoringSSL, from an in-memory CA; prints "contexts built"
 * and exits 0.
 */
final class FirstContextMain {
    private FirstContextMain() {}

    public static void main(String[] args) throws Exception {
        NettyTlsProbe.answer();
        if (!(args.length > 0 && args[0].equals("noskip"))) {
            NettyTlsProbe.skipTrustManagerWrapperProbe();
        }
        SpiffeId id = SpiffeId.parse("spiffe://cluster.local/ns/default/sa/web");
        try (InMemoryCa ca = InMemoryCa.create("cluster.local");
                MeshTls tls = MeshTls.builder(ca).sslProvider(SslProvider.OPENSSL).build()) {
            SslContext server = tls.server(id).get();
            SslContext client = tls.client(id, Set.of(id)).get();
            ReferenceCountUtil.release(server);
            ReferenceCountUtil.release(client);
        }
        System.out.println("contexts built");
        System.exit(0);
    }
}
