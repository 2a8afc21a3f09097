/**
 * Test support that needs no zerohop module: {@link LeakDetectionExtension} fails a test class
 * that leaked a Netty {@code ByteBuf}, {@link Await} is the one way tests wait, {@link ClosedPort}
 * is a loopback port where nothing listens and that nothing else can take, {@link SilentPort} one
 * where a connect neither completes nor fails, {@link CapturedStderr} copies the log lines a test waits for.
 */
package io.zerohop.testing.netty;
