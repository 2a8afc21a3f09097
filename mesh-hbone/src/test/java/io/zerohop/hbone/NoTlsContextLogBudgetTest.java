package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.SpiffeIds;
import java.net.Socket;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * While the served identity has no TLS context (an expired PEM certificate, a CA that cannot issue), every accepted
 * connection is closed before TLS: a day-2 operations pass (5 December) made 500 plain TCP connects, no TLS needed, and
 * got 500 WARN lines. They share the connection lines' budget (20 per 10 s, then a count of those suppressed), as the
 * neighbouring "no local identity serves that address" line does.
 */
@Timeout(60)
class NoTlsContextLogBudgetTest {
    @Test
    void unauthenticatedConnectsCannotFloodTheLog() throws Exception {
        try (Mesh mesh = new Mesh()) {
            // A selected identity of a trust domain the CA does not sign for: the server starts (no fixed identity to check
            // at build) and every connection's TLS context fails, as with an expired certificate.
            SpiffeId foreign = SpiffeIds.istio("other.domain", "prod", "server");
            HboneServer server = mesh.server((dst, id, local) -> null).identitySelector(local -> foreign).build().start().get();
            try {
                List<String> lines = ServerNoiseTest.logLines(() -> {
                    for (int i = 0; i < 60; i++) {
                        try (Socket s = new Socket(server.localAddress().getAddress(), server.localAddress().getPort())) {
                            s.setSoTimeout(10_000);
                            assertThat(s.getInputStream().read()).as("closed before TLS").isEqualTo(-1);
                        }
                    }
                });
                long warned = lines.stream().filter(l -> l.contains("no TLS context for " + foreign)).count();
                assertThat(warned).as("no-TLS-context lines for 60 connects").isBetween(1L, 20L);
            } finally {
                server.close();
            }
        }
    }
}
