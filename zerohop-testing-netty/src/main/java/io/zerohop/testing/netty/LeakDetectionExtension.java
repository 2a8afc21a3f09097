package io.zerohop.testing.netty;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test class when Netty reports a leaked buffer while it ran. Auto-registered (JUnit
 * extension autodetection, see junit-platform.properties) in every module whose tests use the
 * mesh-identity test-jar; the factory is installed before any ByteBuf class initialises.
 */
public final class LeakDetectionExtension implements AfterAllCallback {
    private static final ConcurrentLinkedQueue<String> LEAKS = new ConcurrentLinkedQueue<>();

    static {
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new ResourceLeakDetectorFactory() {
            @Override
            public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval, long maxActive) {
                return new ResourceLeakDetector<>(resource, samplingInterval) {
                    @Override
                    protected void reportTracedLeak(String resourceType, String records) {
                        LEAKS.add(resourceType + " leaked:" + records);
                        super.reportTracedLeak(resourceType, records);
                    }

                    @Override
                    protected void reportUntracedLeak(String resourceType) {
                        LEAKS.add(resourceType + " leaked (no records)");
                        super.reportUntracedLeak(resourceType);
                    }
                };
            }
        });
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        // Leaks are noticed when a collected-but-unreleased buffer's reference is polled, which
        // happens on later allocations: collect, then allocate a few times.
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(20);
            ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(16);
            b.release();
        }
        List<String> leaks = new ArrayList<>();
        for (String s; (s = LEAKS.poll()) != null; ) {
            leaks.add(s);
        }
        if (!leaks.isEmpty()) {
            throw new AssertionError(leaks.size() + " ByteBuf leak(s) in " + context.getDisplayName() + ":\n" + String.join("\n", leaks));
        }
    }
}
