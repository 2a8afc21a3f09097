package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code zerohop proxy --root-namespace} with a typo that is still a namespace name: one warning at load, in its own JVM. */
class RootNamespaceProxyTest {
    private static final String WARNING = "WARN RootNamespaceCheck - root namespace istio-sytem (--root-namespace) holds no"
            + " AuthorizationPolicy or PeerAuthentication, but 1 in istio-system: those apply to their own namespace only,"
            + " not mesh-wide; is the root namespace or their namespace mistyped?";

    private static List<String> proxy(Path policies, String root) throws Exception {
        try (RetryLogTest.Proc p = RetryLogTest.Proc.start(List.of("proxy", "--in-memory-ca", "--policies", policies.toString(),
                "--root-namespace", root, "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "off", "--admin", "off"),
                List.of())) {
            p.awaitOut(out -> out.stream().anyMatch(l -> l.startsWith("zerohop proxy ready: ")), "the ready line");
            assertThat(p.out()).anyMatch(l -> l.startsWith("zerohop proxy ready: ") && l.endsWith("; policies 1"));
            assertThat(p.stop()).isZero();
            return p.err();
        }
    }

    @Test
    @Timeout(120)
    @DisplayName("a mesh-wide policy in istio-system with --root-namespace istio-sytem: one WARN line at load; none with the right root")
    void aMistypedRootNamespaceIsWarnedOnceAtLoad(@TempDir Path dir) throws Exception {
        Path policies = Files.createDirectories(dir.resolve("policies"));
        Files.writeString(policies.resolve("deny.yaml"), PolicyCheckTest.MESH_DENY);
        List<String> typo = proxy(policies, "istio-sytem");
        assertThat(typo.stream().filter(l -> l.contains("RootNamespaceCheck")).toList()).as("stderr %s", typo)
                .singleElement().asString().endsWith(WARNING);
        List<String> right = proxy(policies, "istio-system");
        assertThat(right).as("stderr").noneMatch(l -> l.contains("RootNamespaceCheck"));
    }
}
