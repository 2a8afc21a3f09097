package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.ssl.SslContext;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
import io.zerohop.identity.IdentityListener;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.identity.testing.Handshakes;
import io.zerohop.testing.FakeIstioCa;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --istio-ca}'s trust bundle follows the root file: when istiod rotates its root it adds the
 * new one to the {@code istio-ca-root-cert} ConfigMap, and a peer on another node whose certificate
 * chains to it must be accepted here without a restart (ztunnel follows the file: istio/ztunnel
 * src/tls/control.rs {@code RootCertManager}). Real gRPC to {@link FakeIstioCa} over TLS, real TLS
 * handshakes between this node's context and the peer's; waits are generous, nothing is timed.
 */
class IstioCaProviderTest {
    static final SpiffeId LOCAL = SpiffeIds.istio("cluster.local", "shop", "cart");
    static final SpiffeId PEER = SpiffeIds.istio("cluster.local", "shop", "checkout");
    static final FakeIstioCa.Pod NODE_PROXY = new FakeIstioCa.Pod("istio-system", "ztunnel-a", "uid-zt", "ztunnel", "node-a");

    @Test
    void aPeerUnderARootAddedToTheRootFileIsAccepted(@TempDir Path dir) throws Exception {
        InMemoryCa istio = InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build();
        Path rootFile = dir.resolve("root-cert.pem");
        Pem.write(rootFile, Pem.certificates(List.of(istio.root())), false);
        Path token = Files.writeString(dir.resolve("istio-token"), "node-token\n");
        BlockingQueue<X509BundleSet> heard = new LinkedBlockingQueue<>();
        try (FakeIstioCa istiod = new FakeIstioCa(istio, "node-token", Files.createDirectory(dir.resolve("istiod-tls")));
             IstioCaProvider provider = IstioCaProvider.create("127.0.0.1:" + istiod.port(), rootFile, token, null,
                     FakeIstioCa.SERVER_NAME, "cluster.local", ProxyCommand.DEFAULT_SECRET_TTL, java.util.Map.of(), o -> "--" + o);
             MeshTls local = MeshTls.builder(provider).build();
             Handshakes handshakes = new Handshakes()) {
            istiod.nodeAuthorization(new FakeIstioCa.NodeAuthorization(Set.of("istio-system/ztunnel"), NODE_PROXY,
                    List.of(NODE_PROXY, new FakeIstioCa.Pod("shop", "cart-1", "uid-cart", "cart", "node-a"))));
            provider.addListener(new IdentityListener() {
                @Override
                public void bundlesChanged(X509BundleSet bundles) {
                    heard.add(bundles);
                }
            });
            X509Certificate old = istio.root();
            SslContext server = local.server(LOCAL).get(30, TimeUnit.SECONDS);
            // The state /config_dump reads is the certificate manager's, passed on (no fetch of its own).
            assertThat(provider.certificateState(LOCAL)).containsInstanceOf(io.zerohop.identity.CertificateState.Available.class);
            assertThat(provider.certificateState(PEER)).as("never asked for").isEmpty();

            istio.rotateRoot();   // istiod signs under a new root; a peer on another node already has a certificate under it
            try (MeshTls peer = MeshTls.builder(istio).build()) {
                SslContext client = peer.client(PEER, Set.of(LOCAL)).get(30, TimeUnit.SECONDS);
                Handshakes.Outcome before = handshakes.run(server, client);
                assertThat(before.succeeded()).as("before the root file holds the new root").isFalse();
                assertThat(before.serverError()).as("this node refused the peer's chain")
                        .hasStackTraceContaining(PEER + ": chain does not verify against the trust bundle of cluster.local");

                Pem.write(rootFile, Pem.certificates(List.of(old, istio.root())), false);   // istiod updates the ConfigMap
                X509BundleSet now = heard.poll(60, TimeUnit.SECONDS);
                assertThat(now).as("bundles heard after the root file changed").isNotNull();
                assertThat(now.getBundleForTrustDomain(TrustDomain.parse("cluster.local")).getX509Authorities())
                        .containsExactlyInAnyOrder(old, istio.root());
                assertThat(provider.bundles()).isEqualTo(now);

                Handshakes.Outcome after = handshakes.run(local.server(LOCAL).get(30, TimeUnit.SECONDS), client);
                assertThat(after.succeeded()).as(after.errors()).isTrue();
                assertThat(after.serverSawPeer()).isEqualTo(PEER);
            }
        } finally {
            istio.close();
        }
    }
}
