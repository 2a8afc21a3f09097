package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The proxy initialises slf4j on its start thread while the main thread parses the options; a line the main
 * thread logged meanwhile (Micrometer's DEBUG "Using SLF4J as the default logging framework") was recorded and
 * replayed by slf4j with a three-line "SLF4J(W): A number (1) of logging calls during the initialization phase
 * have been intercepted and are now being replayed" warning on stderr (new-user pass: once in five starts). Now
 * the main thread waits for that initialisation before it logs ({@link LogProvider#awaitInitialised}). A child
 * JVM with {@link SlowLogProvider}, whose initialisation lasts until some other thread has logged (2 s at most),
 * makes the old race certain: without the wait its output had the warning on every run.
 */
class LogRaceTest {
    @Test
    void noLogLineIsInterceptedWhileSlf4jInitialises() throws Exception {
        try (ChildProxy proxy = new ChildProxy(List.of("-Dslf4j.provider=" + SlowLogProvider.class.getName()), "--in-memory-ca",
                "--inbound", "127.0.64.20:0", "--metrics", "off", "--readiness", "off", "--admin", "off")) {
            assertThat(proxy.output()).contains("zerohop proxy ready:");
            int exit = proxy.stop();
            assertThat(proxy.output()).doesNotContain("SLF4J(W)").doesNotContain("intercepted");
            assertThat(exit).as(proxy.output()).isZero();
        }
    }
}
