package io.zerohop.testing;

import java.util.Optional;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * Resolves {@link TestMesh} parameters: one mesh per test class, created on first use and closed
 * (servers, clients, CA) when the class is done. Every method of the class, {@code @BeforeAll}
 * and {@code @AfterAll} included, sees the same mesh; another class, or a {@code @Nested} class,
 * gets its own CA, so trust never leaks between classes. Use it through {@link ZerohopTest}.
 *
 * <p>While the class runs, a {@code Mesh} it builds without {@code drain(...)} has a zero drain (system property
 * {@value #DRAIN_PROPERTY}, which mesh-core reads as the builder's default): its {@code close()} resets what is
 * still open at once instead of waiting the default 10 s, which an idle keep-alive connection's tunnel always took
 * (newuser23). A value given on the command line ({@code -Dio.zerohop.test.drain=PT2S}) is left alone.
 */
public final class ZerohopExtension implements ParameterResolver, BeforeAllCallback, AfterAllCallback {
    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(ZerohopExtension.class);
    /** mesh-core's {@code MeshSettings.TEST_DRAIN_PROPERTY} (zerohop-testing does not depend on mesh-core). */
    public static final String DRAIN_PROPERTY = "io.zerohop.test.drain";
    private static final String SET_DRAIN = "set-drain";
    /** Classes (outer and @Nested each count) running under this extension now; guarded by the class lock. */
    private static int running;
    /** Whether this extension set {@link #DRAIN_PROPERTY} (not the command line); guarded by the class lock. */
    private static boolean setHere;

    @Override
    public void beforeAll(ExtensionContext context) {
        synchronized (ZerohopExtension.class) {
            if (running == 0 && System.getProperty(DRAIN_PROPERTY) == null) {
                System.setProperty(DRAIN_PROPERTY, "PT0S");
                setHere = true;
            }
            running++;
            context.getStore(NAMESPACE).put(SET_DRAIN, Boolean.TRUE);
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        // Cleared when the last class running under the extension ends: with JUnit's parallel class execution, the
        // first class to end cleared it while the others still ran (a new-user pass: a Mesh closed 3 s later waited
        // the 10 s default drain).
        if (Boolean.TRUE.equals(context.getStore(NAMESPACE).remove(SET_DRAIN, Boolean.class))) {
            synchronized (ZerohopExtension.class) {
                if (--running == 0 && setHere) {
                    System.clearProperty(DRAIN_PROPERTY);
                    setHere = false;
                }
            }
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return parameter.getParameter().getType() == TestMesh.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        ExtensionContext classContext = classContext(context);
        return classContext.getStore(NAMESPACE).getOrComputeIfAbsent(
                classContext.getRequiredTestClass(), c -> new Closing(TestMesh.create()), Closing.class).mesh;
    }

    /**
     * The store's value for a class's mesh. JUnit closes a store value that is a {@code Store.CloseableResource} when its
     * context ends, in every version since 5.1; a plain {@code AutoCloseable} only from 5.13 (and not with
     * {@code junit.jupiter.extensions.store.close.autocloseable.enabled=false}). The mesh was stored as it is, so under
     * JUnit 5.10 nothing closed it and its servers and threads outlived the class (a new-user pass). AutoCloseable too:
     * JUnit 5.13+ warns once per type about a value that is only a CloseableResource ("Type implements CloseableResource
     * but not AutoCloseable"), and its close action (junit5 {@code AbstractExtensionContext.createCloseAction}) closes an
     * AutoCloseable and returns, so a value of both types is still closed once, on every version.
     */
    @SuppressWarnings("deprecation") // Store.CloseableResource: deprecated in 5.13, the one type older versions close
    private static final class Closing implements ExtensionContext.Store.CloseableResource, AutoCloseable {
        final TestMesh mesh;

        Closing(TestMesh mesh) {
            this.mesh = mesh;
        }

        @Override
        public void close() throws Exception {
            mesh.close();
        }
    }

    /** The context of the innermost test class around {@code context} (a method's parent, or itself). */
    private static ExtensionContext classContext(ExtensionContext context) {
        ExtensionContext c = context;
        while (c.getTestMethod().isPresent()) {
            Optional<ExtensionContext> parent = c.getParent();
            if (parent.isEmpty()) {
                break;
            }
            c = parent.get();
        }
        return c;
    }
}
