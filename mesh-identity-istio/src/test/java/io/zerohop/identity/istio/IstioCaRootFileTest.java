package io.zerohop.identity.istio;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.CapturedStderr;
import io.zerohop.testing.FakeIstioCa;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * istiod's root rotation as a node proxy sees it: istiod signs under a new root and rewrites the
 * {@code istio-ca-root-cert} ConfigMap, which the kubelet swaps into the mounted directory. ztunnel
 * follows the file (istio/ztunnel src/tls/control.rs {@code RootCertManager}; src/identity/caclient.rs
 * {@code fetch_certificate} rebuilds its channel to istiod when the file changed); so must
 * {@link IstioCaClient}. Each test has its own CA and {@link FakeIstioCa} (real gRPC, TLS on loopback),
 * since rotating a root changes both. No timing is asserted: waits are generous upper bounds.
 */
class IstioCaRootFileTest {
    static final SpiffeId X = SpiffeIds.istio("cluster.local", "a", "x");
    static final String TOKEN = "zt-token";
    /** How long a background file check may take at most (it takes a fraction of a second). */
    static final long WAIT_SECONDS = 30;

    @TempDir
    Path tmp;

    InMemoryCa istio;
    FakeIstioCa fake;
    Path token;

    @BeforeEach
    void istiod() throws Exception {
        istio = InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build();
        fake = new FakeIstioCa(istio, TOKEN, Files.createDirectory(tmp.resolve("istiod-tls")));
        // These tests are about roots, not istiod's authorization: the CSR's own SAN is signed.
        fake.lenient(true);
        token = Files.writeString(tmp.resolve("token"), TOKEN);
    }

    @AfterEach
    void stop() {
        fake.close();
        istio.close();
    }

    IstioCaClient.Builder client(Path rootFile) {
        return IstioCaClient.builder().address("127.0.0.1", fake.port()).caCertificates(rootFile)
                .authority(FakeIstioCa.SERVER_NAME).tokenFile(token).impersonate(true);
    }

    static String pem(X509Certificate... roots) {
        return Pem.certificates(List.of(roots));
    }

    /**
     * A ConfigMap volume as the kubelet writes it (kubernetes pkg/volume/util/atomic_writer.go): the file
     * is a symlink into {@code ..data}, itself a symlink to a timestamped directory; an update writes a
     * new directory and renames a new {@code ..data} link over the old one, then removes the old directory.
     */
    static final class ConfigMapVolume {
        final Path dir;
        private Path current;
        private int generation;

        ConfigMapVolume(Path dir, String content) throws Exception {
            this.dir = Files.createDirectories(dir);
            update(content);
            Files.createSymbolicLink(file(), Path.of("..data", "root-cert.pem"));
        }

        Path file() {
            return dir.resolve("root-cert.pem");
        }

        void update(String content) throws Exception {
            Path next = Files.createDirectory(dir.resolve("..2026_01_01_00_00_0" + ++generation));
            Files.writeString(next.resolve("root-cert.pem"), content);
            Path link = Files.createSymbolicLink(dir.resolve("..data_tmp"), next.getFileName());
            Files.move(link, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE);
            if (current != null) {
                Files.delete(current.resolve("root-cert.pem"));
                Files.delete(current);
            }
            current = next;
        }
    }

    /** The reviewer's reproduction: the file gains the new root, the next request verifies against it. */
    @Test
    void aRotatedRootInTheRootFileIsPickedUp() throws Exception {
        Path rootFile = Files.writeString(tmp.resolve("root-cert.pem"), pem(istio.root()));
        // No background check: the re-read before the request is what picks the new root up.
        try (IstioCaClient c = client(rootFile).rootCheckInterval(null).build()) {
            X509Certificate old = istio.root();
            c.issue(X).get(10, TimeUnit.SECONDS);
            istio.rotateRoot();   // istiod now signs under a new root; its TLS certificate is unchanged
            Files.writeString(rootFile, pem(old, istio.root()));   // rewritten in place

            X509Svid svid = c.issue(X).get(10, TimeUnit.SECONDS);
            X509Certificate top = svid.getChain().get(svid.getChain().size() - 1);
            top.verify(istio.root().getPublicKey());   // issued under the new root
            assertThat(c.meshRoots()).containsExactlyInAnyOrder(old, istio.root());
        }
    }

    /**
     * istiod's own TLS certificate comes from its CA: after the rotation it chains to the new root only, and
     * a channel that still trusted the old roots could not reach the CA any more.
     */
    @Test
    void theConnectionToTheCaFollowsTheRootFile() throws Exception {
        ConfigMapVolume volume = new ConfigMapVolume(tmp.resolve("istio-ca-root-cert"), pem(istio.root()));
        try (IstioCaClient c = client(volume.file()).rootCheckInterval(null).callTimeout(Duration.ofSeconds(10)).build()) {
            istio.rotateRoot();
            fake.reissueServerCertificate();
            volume.update(pem(istio.root()));   // the old root retired at once

            X509Svid svid = c.issue(X).get(20, TimeUnit.SECONDS);
            assertThat(svid.getSpiffeId()).isEqualTo(X);
            assertThat(c.meshRoots()).containsExactly(istio.root());
        }
    }

    /** Peers' trust must not wait for this node's next certificate request (hours away): the file is watched. */
    @Test
    void theMeshRootsFollowTheFileWithoutARequest() throws Exception {
        X509Certificate first = istio.root();
        ConfigMapVolume volume = new ConfigMapVolume(tmp.resolve("istio-ca-root-cert"), pem(first));
        BlockingQueue<List<X509Certificate>> heard = new LinkedBlockingQueue<>();
        try (IstioCaClient c = client(volume.file()).rootCheckInterval(Duration.ofMillis(200)).build()) {
            c.addMeshRootsListener(heard::add);
            assertThat(c.meshRoots()).containsExactly(first);

            istio.rotateRoot();
            volume.update(pem(first, istio.root()));   // istiod adds the new root to the bundle
            assertThat(heard.poll(WAIT_SECONDS, TimeUnit.SECONDS)).as("roots after the new one was added")
                    .containsExactlyInAnyOrder(first, istio.root());

            volume.update(pem(istio.root()));   // and later retires the old one
            assertThat(heard.poll(WAIT_SECONDS, TimeUnit.SECONDS)).as("roots after the old one was retired")
                    .containsExactly(istio.root());
            assertThat(c.meshRoots()).containsExactly(istio.root());
            assertThat(fake.seen()).as("no certificate was asked for").isEmpty();
        }
    }

    @Test
    void anEmptyOrMissingRootFileKeepsTheLastGoodRootsAndSaysSo() throws Exception {
        Path rootFile = Files.writeString(tmp.resolve("root-cert.pem"), pem(istio.root()));
        try (CapturedStderr log = new CapturedStderr();
             IstioCaClient c = client(rootFile).rootCheckInterval(null).build()) {
            c.issue(X).get(10, TimeUnit.SECONDS);

            Files.writeString(rootFile, "");
            c.issue(X).get(10, TimeUnit.SECONDS);
            c.issue(X).get(10, TimeUnit.SECONDS);
            assertThat(log.awaitLine("WARN", rootFile.toString(), "the file is empty", "keeping the 1 root(s) read before")).isNotNull();
            assertThat(log.count("WARN", rootFile.toString(), "the file is empty")).as("once, not for every request").isEqualTo(1);

            Files.delete(rootFile);
            c.issue(X).get(10, TimeUnit.SECONDS);
            assertThat(log.awaitLine("WARN", rootFile.toString(), "cannot be read", "NoSuchFileException")).isNotNull();
            assertThat(c.meshRoots()).containsExactly(istio.root());
        }
    }

    /**
     * istiod signing under a root the file does not hold yet (the ConfigMap lags by up to a minute or two):
     * the request fails, and says which root and which file, instead of PKIX's bare "does not chain".
     */
    @Test
    void aLeafUnderARootNotYetInTheFileSaysSo() throws Exception {
        Path rootFile = Files.writeString(tmp.resolve("root-cert.pem"), pem(istio.root()));
        try (IstioCaClient c = client(rootFile).rootCheckInterval(null).build()) {
            istio.rotateRoot();
            Throwable t = failure(c);
            assertThat(t).isInstanceOf(IstioCaClient.CaException.class)
                    .hasMessageContaining("does not verify")
                    .hasMessageContaining("it chains to a root the CA sent (" + istio.root().getSubjectX500Principal().getName() + ")")
                    .hasMessageContaining("not among the 1 root(s) of " + rootFile)
                    .hasMessageContaining("not (yet) in that file");
        }
    }

    /** The decision in the README: roots in the CA's answer are not added to the mesh roots; only the file's are. */
    @Test
    void rootsTheCaSendsAreNotAddedToTheMeshRoots() throws Exception {
        InMemoryCa other = InMemoryCa.create("cluster.local");
        Path rootFile = Files.writeString(tmp.resolve("root-cert.pem"), pem(istio.root()));
        fake.tamper(r -> {
            // istiod's last element holds its whole root bundle; here with a root nobody put in the file.
            List<String> chain = new ArrayList<>(r.certChain());
            chain.set(chain.size() - 1, chain.get(chain.size() - 1) + pem(other.root()));
            return new FakeIstioCa.Response(chain, List.of());
        });
        List<List<X509Certificate>> heard = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (IstioCaClient c = client(rootFile).rootCheckInterval(null).build()) {
            c.addMeshRootsListener(heard::add);
            assertThat(c.issue(X).get(10, TimeUnit.SECONDS).getSpiffeId()).isEqualTo(X);
            assertThat(c.meshRoots()).containsExactly(istio.root());
            assertThat(heard).isEmpty();
        } finally {
            other.close();
        }
    }

    private static Throwable failure(IstioCaClient c) throws Exception {
        try {
            c.issue(X).get(20, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            return e.getCause();
        }
        throw new AssertionError("the request succeeded");
    }
}
