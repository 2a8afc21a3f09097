package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.WorkloadRegistry;
import io.zerohop.testing.CapturedStderr;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Text a peer or an application chose (an exception's message, a refusal's reason) is written into the access line's
 * {@code reason="..."} escaped as mesh-hbone's {@code LogText.quoted} and mesh-core's HTTP access line escape it: a CR
 * or LF in it cannot end the line and forge another (CWE-117). A new-user pass forged a line through mesh-hbone's
 * refusal log; this line had the same hole until 5 December.
 */
class TunnelObserverLogEscapeTest {
    @Test
    void aReasonWithALineBreakStaysOnItsLine() throws Exception {
        TunnelObserver observer = new TunnelObserver(WorkloadRegistry.of(List.of(WorkloadStringsTest.CLIENT), Map.of()), null, null);
        try (CapturedStderr err = new CapturedStderr()) {
            observer.tunnelFailed(TunnelObserverLabelsTest.tunnel(0), new IOException("refused\r\nforged line \"x\""));
            String line = err.awaitLine("outbound refused");
            assertThat(line).endsWith("reason=\"refused\\x0d\\x0aforged line \\x22x\\x22\"");
            assertThat(err.text().lines()).noneMatch(l -> l.startsWith("forged line"));
        }
    }
}
