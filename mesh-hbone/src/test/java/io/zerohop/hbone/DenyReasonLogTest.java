package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.zerohop.testing.netty.EchoServer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A new-user pass: the server wrote an authorizer's deny reason into its {@code HBONE CONNECT refused} line as it was,
 * so {@code new AuthzDecision(false, 429, "slow down\r\nX-Injected: 1")} made the entry two lines, the second one
 * forged. The reason is now quoted and escaped as mesh-core's HTTP access line writes its {@code reason="..."}
 * ({@code \x0d}, {@code \x0a}, {@code \"}, {@code \\}). Read from stderr (slf4j-simple) as {@link LogAddressTest} does.
 */
@Timeout(60)
class DenyReasonLogTest {

    @Test
    void aDenyReasonWithCrLfStaysOneEscapedLine() throws Exception {
        try (Mesh mesh = new Mesh(); EchoServer echo = new EchoServer();
             HboneServer server = mesh.server(DestinationResolver.sameIp())
                     .authorizer(r -> new AuthzDecision(false, 429, "slow down\r\nX-Injected: 1 \"q\" \\"))
                     .build().start().get(10, TimeUnit.SECONDS);
             HboneClient client = mesh.client().build()) {
            List<String> lines = ServerNoiseTest.logLines(() -> {
                Throwable t = catchThrowable(() -> client.connect(echo.address(), mesh.expectServer(), server.localAddress())
                        .get(10, TimeUnit.SECONDS));
                assertThat(t.getCause()).isInstanceOf(HboneRefusedException.class);
                assertThat(((HboneRefusedException) t.getCause()).status()).isEqualTo(429);
            });
            String line = lines.stream().filter(l -> l.contains("HBONE CONNECT refused")).findFirst().orElseThrow();
            assertThat(line).endsWith(" reason=\"slow down\\x0d\\x0aX-Injected: 1 \\x22q\\x22 \\x5c\"");
            assertThat(lines).noneMatch(l -> l.startsWith("X-Injected"));
        }
    }
}
