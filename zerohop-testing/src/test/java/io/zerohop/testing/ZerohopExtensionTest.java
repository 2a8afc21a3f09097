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
import java.util.List;
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

    /**
     * Also: JUnit 5.13+ warns once per type about a store value that is a {@code CloseableResource} but not
     * {@code AutoCloseable} (junit5 {@code AbstractExtensionContext.createCloseAction}); every user of {@code @ZerohopTest}
     * read "WARNING: Type implements CloseableResource but not AutoCloseable: ...ZerohopExtension$Closing" (a new-user pass).
     */
    @Test
    void eachClassGetsItsOwnMeshWhichIsClosedAfterIt() throws Exception {
        java.util.logging.Logger junit = java.util.logging.Logger.getLogger(
                "org.junit.jupiter.engine.descriptor.AbstractExtensionContext");
        List<String> warnings = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Handler handler = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord r) {
                warnings.add(r.getMessage());
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        junit.addHandler(handler);
        try {
            EngineTestKit.engine("junit-jupiter").selectors(selectClass(SampleA.class), selectClass(SampleB.class))
                    .execute().testEvents().assertStatistics(s -> s.started(3).succeeded(3).failed(0));
        } finally {
            junit.removeHandler(handler);
        }
        assertThat(warnings).as("JUnit's warnings").noneMatch(w -> w.contains("ZerohopExtension"));

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

    /**
     * JUnit before 5.13 closes only {@code Store.CloseableResource} values; the mesh was stored as a plain AutoCloseable, and
     * under JUnit 5.10 its servers outlived the class (a new-user pass). JUnit 5.13 with the auto-close of AutoCloseable
     * values turned off closes what 5.10 closes.
     */
    @Test
    void theMeshIsClosedAfterItsClassWhereJunitClosesOnlyCloseableResources() {
        SERVERS.remove("A");
        EngineTestKit.engine("junit-jupiter").selectors(selectClass(SampleA.class))
                .configurationParameter("junit.jupiter.extensions.store.close.autocloseable.enabled", "false")
                .execute().testEvents().assertStatistics(s -> s.started(2).succeeded(2).failed(0));
        assertThatThrownBy(() -> {
            try (Socket s = new Socket()) {
                s.connect(SERVERS.get("A"), 5_000);
            }
        }).isInstanceOf(ConnectException.class);
    }

    /** Set by {@link SampleQuick}'s last afterAll callback: ZerohopExtension's afterAll has run for that class. */
    static final java.util.concurrent.CountDownLatch QUICK_ENDED = new java.util.concurrent.CountDownLatch(1);

    /** Runs after ZerohopExtension's afterAll (callbacks run in the reverse order of registration). */
    static final class QuickEnded implements org.junit.jupiter.api.extension.AfterAllCallback {
        @Override
        public void afterAll(org.junit.jupiter.api.extension.ExtensionContext context) {
            QUICK_ENDED.countDown();
        }
    }

    /** Counted down by {@link SampleQuick}'s {@code @BeforeAll}: ZerohopExtension's beforeAll has run for it. */
    static final java.util.concurrent.CountDownLatch QUICK_STARTED = new java.util.concurrent.CountDownLatch(1);

    /** Holds {@link SampleSlow} until {@link SampleQuick} has started: Quick is the class that set the property. */
    static final class AfterQuickStarted implements org.junit.jupiter.api.extension.BeforeAllCallback {
        @Override
        public void beforeAll(org.junit.jupiter.api.extension.ExtensionContext context) throws InterruptedException {
            QUICK_STARTED.await(20, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    @org.junit.jupiter.api.extension.ExtendWith(QuickEnded.class)
    @ZerohopTest
    static class SampleQuick {
        @BeforeAll
        static void started() {
            QUICK_STARTED.countDown();
        }

        @Test
        void endsOnceSlowHasStarted() throws InterruptedException {
            SLOW_STARTED.await(20, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    /** Counted down by {@link SampleSlow}'s {@code @BeforeAll}: ZerohopExtension's beforeAll has run for it too. */
    static final java.util.concurrent.CountDownLatch SLOW_STARTED = new java.util.concurrent.CountDownLatch(1);

    @org.junit.jupiter.api.extension.ExtendWith(AfterQuickStarted.class)
    @ZerohopTest
    static class SampleSlow {
        @BeforeAll
        static void started() {
            SLOW_STARTED.countDown();
        }

        @Test
        void stillSeesAZeroDrainAfterTheOtherClassEnded() throws Exception {
            boolean ended = QUICK_ENDED.await(20, java.util.concurrent.TimeUnit.SECONDS);
            DRAINS.put("slow", ended + " " + System.getProperty(ZerohopExtension.DRAIN_PROPERTY));
        }
    }

    /**
     * JUnit's parallel class execution: the drain property was one global flag that the first class to end cleared while
     * another still ran (a new-user pass: its Mesh then waited the 10 s default drain). Now cleared by the last class.
     */
    @Test
    void parallelClassesKeepTheZeroDrainUntilTheLastEnds() {
        EngineTestKit.engine("junit-jupiter").selectors(selectClass(SampleSlow.class), selectClass(SampleQuick.class))
                .configurationParameter("junit.jupiter.execution.parallel.enabled", "true")
                .configurationParameter("junit.jupiter.execution.parallel.mode.classes.default", "concurrent")
                .configurationParameter("junit.jupiter.execution.parallel.config.strategy", "fixed")
                .configurationParameter("junit.jupiter.execution.parallel.config.fixed.parallelism", "2")
                .execute().testEvents().assertStatistics(s -> s.started(2).succeeded(2).failed(0));
        assertThat(DRAINS).containsEntry("slow", "true PT0S");
        assertThat(System.getProperty(ZerohopExtension.DRAIN_PROPERTY)).as("after both").isNull();
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
