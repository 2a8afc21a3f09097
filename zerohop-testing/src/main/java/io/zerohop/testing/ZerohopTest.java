package io.zerohop.testing;

import io.zerohop.testing.netty.LeakDetectionExtension;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Marks a test class that runs against an in-memory mesh: {@link ZerohopExtension} injects a
 * {@link TestMesh} (one per test class, fresh CA) into test methods, lifecycle methods and
 * constructors, and {@link LeakDetectionExtension} fails the class if a Netty {@code ByteBuf}
 * leaked while it ran.
 */
@Target({ElementType.TYPE, ElementType.ANNOTATION_TYPE})
@Retention(RetentionPolicy.RUNTIME)
@Documented
@ExtendWith({LeakDetectionExtension.class, ZerohopExtension.class})
public @interface ZerohopTest {}
