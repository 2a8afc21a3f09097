package io.zerohop.testing;

import java.util.Optional;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * Resolves {@link TestMesh} parameters: one mesh per test class, created on first use and closed
 * (servers, clients, CA) when the class is done. Every method of the class, {@code @BeforeAll}
 * and {@code @AfterAll} included, sees the same mesh; another class, or a {@code @Nested} class,
 * gets its own CA, so trust never leaks between classes. Use it through {@link ZerohopTest}.
 */
public final class ZerohopExtension implements ParameterResolver {
    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(ZerohopExtension.class);

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
