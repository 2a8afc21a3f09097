package io.zerohop.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneSocket;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.platform.testkit.engine.EngineTestKit;

/**
 * Runs sample test classes (static member classes: surefire skips them, the JUnit test kit runs
 * them here) and checks what {@link ZerohopExtension} promises: one mesh per class shared by its
 * methods, a fresh CA for each class, real tunnels, and everything closed after the class.
 */
class ZerohopExtensionTest {
    /** What each sample class saw, by class name. */
    static final Map<String, X509Certificate> ROOTS = new ConcurrentHashMap<>();
    static final Map<String, InetSocketAddress> SERVERS = new ConcurrentHashMap<>();
    static final Map<String, TestMesh> MESHES = new ConcurrentHashMap<>();

    @ZerohopTest
    static class SampleA {
        static TestMesh fromBeforeAll;

        @BeforeAll
        static void before(TestMesh mesh) {
            fromBeforeAll = mesh;
        }

        @Test
        void tunnelsThroughTheMesh(TestMesh mesh) throws Exception {
            assertThat(mesh).isSameAs(fromBeforeAll);
            SpiffeId backend = mesh.identity("prod", "backend");
            SpiffeId frontend = mesh.identity("prod", "frontend");
            HboneServer server = mesh.echoHboneServer(backend);
            HboneClient client = mesh.client(frontend);
            try (HboneSocket s = mesh.tunnel(client, server, backend)) {
                assertThat(s.peerIdentity()).isEqualTo(backend);
                s.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
                s.shutdownOutput();
                assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).isEqualTo("hello");
            }
            ROOTS.put("A", mesh.ca().root());
            SERVERS.put("A", server.localAddress());
            MESHES.put("A", mesh);
        }

        @Test
        void aClientExpectingAnotherIdentityIsRefused(TestMesh mesh) throws Exception {
            assertThat(mesh).isSameAs(fromBeforeAll);
            SpiffeId backend = mesh.identity("prod", "backend");
            HboneServer server = mesh.echoHboneServer(backend);
            HboneClient client = mesh.client(mesh.identity("prod", "frontend"));
            assertThatThrownBy(() -> mesh.tunnel(client, server, mesh.identity("prod", "other")))
                    .isInstanceOf(SSLException.class);
        }
    }

    @ZerohopTest
    static class SampleB {
        @Test
        void svidsComeFromThisClassesCa(TestMesh mesh) throws Exception {
            SpiffeId web = mesh.identity("shop", "web");
            assertThat(mesh.svid(web).getSpiffeId()).isEqualTo(web);
            assertThat(mesh.svid(web).getChain()).last().isNotNull();
            assertThat(mesh.serverTls(web).isServer()).isTrue();
            assertThat(mesh.clientTls(web, mesh.identity("shop", "db")).isClient()).isTrue();
            ROOTS.put("B", mesh.ca().root());
            MESHES.put("B", mesh);
        }
    }

    /** What {@link SampleDrain} and its nested class saw of the drain property. */
    static final Map<String, String> DRAINS = new ConcurrentHashMap<>();

    @ZerohopTest
    static class SampleDrain {
        @Test
        void seesAZeroDrain() {
            DRAINS.put("outer", String.valueOf(System.getProperty(ZerohopExtension.DRAIN_PROPERTY)));
        }

        @org.junit.jupiter.api.Nested
        class Inner {
            @Test
            void seesItToo() {
                DRAINS.put("nested", String.valueOf(System.getProperty(ZerohopExtension.DRAIN_PROPERTY)));
            }
        }
    }

    /**
     * newuser23: every test that closed a Mesh with an idle keep-alive connection open waited the 10 s default drain. While
     * a {@code @ZerohopTest} class runs, the default is zero (mesh-core reads the property; MeshSettings); cleared after.
     */
    @Test
    void aZerohopTestClassRunsWithAZeroDrainDefaultAndClearsItAfter() {
        assertThat(System.getProperty(ZerohopExtension.DRAIN_PROPERTY)).as("before the sample").isNull();
        EngineTestKit.engine("junit-jupiter").selectors(selectClass(SampleDrain.class))
                .execute().testEvents().assertStatistics(s -> s.started(2).succeeded(2).failed(0));
        assertThat(DRAINS).containsEntry("outer", "PT0S").containsEntry("nested", "PT0S");
        assertThat(System.getProperty(ZerohopExtension.DRAIN_PROPERTY)).as("after the sample").isNull();
    }

    @Test
    void eachClassGetsItsOwnMeshWhichIsClosedAfterIt() throws Exception {
        EngineTestKit.engine("junit-jupiter").selectors(selectClass(SampleA.class), selectClass(SampleB.class))
                .execute().testEvents().assertStatistics(s -> s.started(3).succeeded(3).failed(0));

        assertThat(ROOTS.get("A")).isNotNull();
        assertThat(ROOTS.get("B")).as("a fresh CA per class").isNotNull().isNotEqualTo(ROOTS.get("A"));
        assertThat(MESHES.get("A")).isNotSameAs(MESHES.get("B"));
        // After its class, A's HBONE server (and the echo server behind it) is closed.
        assertThatThrownBy(() -> {
            try (Socket s = new Socket()) {
                s.connect(SERVERS.get("A"), 5_000);
            }
        }).isInstanceOf(ConnectException.class);
    }

    @Test
    void closeClosesEveryResourceEvenIfOneFails() {
        TestMesh mesh = TestMesh.create();
        int[] closed = {0};
        mesh.closeLater(() -> closed[0]++);
        mesh.closeLater(() -> {
            throw new IOException("first close fails");
        });
        mesh.closeLater(() -> closed[0]++);
        assertThatThrownBy(mesh::close).isInstanceOf(IOException.class).hasMessage("first close fails");
        assertThat(closed[0]).isEqualTo(2);
    }

}
