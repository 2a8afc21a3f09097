package io.zerohop.testing.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.testkit.engine.EventConditions.container;
import static org.junit.platform.testkit.engine.EventConditions.event;
import static org.junit.platform.testkit.engine.EventConditions.finishedWithFailure;
import static org.junit.platform.testkit.engine.TestExecutionResultConditions.message;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.platform.testkit.engine.EngineTestKit;

/** The moved helpers still do their job: leaks fail the class, Await fails loudly, echo echoes and half-closes. */
class LeakDetectionExtensionTest {

    /** Drops a buffer without releasing it. Static member class: surefire skips it, the test kit runs it. */
    @ExtendWith(LeakDetectionExtension.class)
    static class Leaky {
        @Test
        void dropsABuffer() {
            ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(64);
            b.writeLong(42);
            b = null; // unreleased and unreachable: the leak detector reports it after a GC
        }
    }

    @Test
    void aLeakedBufferFailsTheClass() {
        EngineTestKit.engine("junit-jupiter").selectors(selectClass(Leaky.class)).execute()
                .containerEvents().assertThatEvents().haveExactly(1,
                        event(container(Leaky.class), finishedWithFailure(message(m -> m.contains("ByteBuf leak")))));
    }

    /** The access records of the report that failed TunnelSocketHandOffTest in the full run at 5222cc6 (abridged). */
    static final String FINALIZER_RELEASED = """
            
            Recent access records:\s
            #1:
            	io.netty.handler.ssl.OpenSslKeyMaterialProvider$MaterialCache.release(OpenSslKeyMaterialProvider.java:249)
            	io.netty.handler.ssl.OpenSslKeyMaterialProvider.destroyCache(OpenSslKeyMaterialProvider.java:202)
            	io.netty.handler.ssl.ReferenceCountedOpenSslContext.release(ReferenceCountedOpenSslContext.java:872)
            	io.netty.handler.ssl.OpenSsl.releaseIfNeeded(OpenSsl.java:783)
            	io.netty.handler.ssl.OpenSslContext.finalize(OpenSslContext.java:67)
            	java.base/java.lang.ref.Finalizer$FinalizerThread.run(Finalizer.java:173)
            #2:
            	io.netty.handler.ssl.OpenSslKeyMaterialManager.setKeyMaterial(OpenSslKeyMaterialManager.java:150)
            Created at:
            	io.netty.handler.ssl.DefaultOpenSslKeyMaterial.<init>(DefaultOpenSslKeyMaterial.java:53)
            """;

    @Test
    void keyMaterialItsContextsFinalizerReleasedIsNotALeakAnythingElseIs() {
        assertThat(LeakDetectionExtension.releasedByContextFinalizer("DefaultOpenSslKeyMaterial", FINALIZER_RELEASED)).isTrue();
        assertThat(LeakDetectionExtension.releasedByContextFinalizer("DefaultOpenSslKeyMaterial",
                FINALIZER_RELEASED.replace("OpenSslContext.finalize", "SomethingElse.close"))).as("released elsewhere or never").isFalse();
        assertThat(LeakDetectionExtension.releasedByContextFinalizer("PooledUnsafeDirectByteBuf", FINALIZER_RELEASED)).as("a buffer").isFalse();
    }

    @Test
    void awaitNamesWhatItWaitedFor() {
        org.assertj.core.api.Assertions.assertThatThrownBy(
                () -> Await.until("the impossible", java.time.Duration.ofMillis(50), () -> false))
                .isInstanceOf(AssertionError.class).hasMessageContaining("the impossible");
        org.assertj.core.api.Assertions.assertThatThrownBy(
                () -> Await.result(CompletableFuture.failedFuture(new IOException("refused"))))
                .isInstanceOf(AssertionError.class).hasRootCauseMessage("refused");
        assertThat(Await.result(CompletableFuture.completedFuture("x"))).isEqualTo("x");
    }

    @Test
    void echoServerEchoesAndAnswersFinWithFin() throws Exception {
        try (EchoServer echo = new EchoServer(); Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", echo.address().getPort()), 5_000);
            s.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).isEqualTo("ping");
            assertThat(echo.accepted.get()).isEqualTo(1);
        }
    }

    /** The shape of a paranoid report as Netty 4.2.18's ResourceLeakDetector prints it (abridged from a CI log). */
    private static final String REPORT = String.join("\n",
            "AdvancedLeakAwareByteBuf leaked:",
            "Recent access records: ",
            "#1:",
            "\tio.netty.buffer.AdvancedLeakAwareByteBuf.readSlice(AdvancedLeakAwareByteBuf.java:118)",
            "\tio.netty.handler.codec.http2.DefaultHttp2FrameReader.readDataFrame(DefaultHttp2FrameReader.java:418)",
            "\tio.netty.handler.codec.http2.DefaultHttp2FrameReader.processPayloadState(DefaultHttp2FrameReader.java:244)",
            "#2:",
            "\tHint: 'hbone-h2-mux' will handle the message from this point.",
            "\tio.netty.channel.DefaultChannelPipeline.touch(DefaultChannelPipeline.java:115)",
            "#3:",
            "\tHint: 'hbone-h2' will handle the message from this point.",
            "\tio.netty.channel.DefaultChannelPipeline.touch(DefaultChannelPipeline.java:115)",
            "Created at:",
            "\tio.netty.buffer.AdaptiveByteBufAllocator.newDirectBuffer(AdaptiveByteBufAllocator.java:67)",
            "\tio.netty.buffer.AbstractByteBufAllocator.directBuffer(AbstractByteBufAllocator.java:168)",
            "\tio.netty.handler.ssl.SslHandler.allocate(SslHandler.java:2379)",
            "\tio.netty.handler.ssl.SslHandler.unwrap(SslHandler.java:1488)");

    @Test
    void theSummaryNamesTheClassTheLastAccessTheOriginAndTheHandlersPassed() {
        String s = LeakDetectionExtension.summary("SomeTest", List.of(REPORT, "ByteBuf leaked (no records)"));
        assertThat(s.lines()).containsExactly(
                "Leak summary (2 in SomeTest):",
                "  AdvancedLeakAwareByteBuf: last access io.netty.handler.codec.http2.DefaultHttp2FrameReader.readDataFrame"
                        + "(DefaultHttp2FrameReader.java:418); created io.netty.handler.ssl.SslHandler.allocate(SslHandler.java:2379);"
                        + " passed ['hbone-h2', 'hbone-h2-mux']",
                "  ByteBuf: last access null; created null; passed []");
    }
}
