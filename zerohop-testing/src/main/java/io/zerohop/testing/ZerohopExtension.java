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

    @Override
    public void beforeAll(ExtensionContext context) {
        synchronized (ZerohopExtension.class) {
            if (System.getProperty(DRAIN_PROPERTY) == null) {
                System.setProperty(DRAIN_PROPERTY, "PT0S");
                context.getStore(NAMESPACE).put(SET_DRAIN, Boolean.TRUE);
            }
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        // Only the class that set it clears it (a @Nested class runs inside its outer class's).
        if (Boolean.TRUE.equals(context.getStore(NAMESPACE).remove(SET_DRAIN, Boolean.class))) {
            synchronized (ZerohopExtension.class) {
                System.clearProperty(DRAIN_PROPERTY);
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
        // Store values that are AutoCloseable are closed by JUnit when their context ends (JUnit 5.13+).
        return classContext.getStore(NAMESPACE).getOrComputeIfAbsent(
                classContext.getRequiredTestClass(), c -> TestMesh.create(), TestMesh.class);
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
