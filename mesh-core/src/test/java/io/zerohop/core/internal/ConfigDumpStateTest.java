package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;

/**
 * {@code /config_dump}'s {@code Unavailable: <error>} (ztunnel's src/admin.rs {@code dump_certs}: {@code format!("Unavailable:
 * {err}")}, its test expecting {@code "Unavailable: the identity is no longer needed"}): the error's own words, never a Java
 * class name (a new-user pass found {@code Unavailable: java.io.IOException: ...}).
 */
class ConfigDumpStateTest {
    @Test
    void aFailedFetchShowsItsMessageWithoutTheFuturesWrappers() {
        CompletableFuture<Void> f = CompletableFuture.supplyAsync(() -> {
            throw new CompletionException(new IOException("SPIRE agent socket /run/spire/agent.sock: connection refused"));
        });
        String shown = f.handle((v, e) -> ConfigDump.unavailable(e)).join();
        assertThat(shown).isEqualTo("SPIRE agent socket /run/spire/agent.sock: connection refused");
    }

    @Test
    void aWrapperThatOnlyRepeatsItsCauseIsSkipped() {
        // new RuntimeException(cause) takes cause.toString() as its message: "java.io.IOException: no such file".
        Throwable e = new ExecutionException(new RuntimeException(new IOException("certs/cert.pem: no such file")));
        assertThat(ConfigDump.unavailable(e)).isEqualTo("certs/cert.pem: no such file");
    }

    @Test
    void aWrapperWithItsOwnWordsKeepsThem() {
        Throwable e = new CompletionException(new IllegalStateException("the identity is no longer needed", new IOException("x")));
        assertThat(ConfigDump.unavailable(e)).isEqualTo("the identity is no longer needed");
    }

    @Test
    void anErrorWithoutAMessageIsItsSimpleName() {
        assertThat(ConfigDump.unavailable(new CompletionException(new java.util.concurrent.TimeoutException())))
                .isEqualTo("TimeoutException");
    }
}
