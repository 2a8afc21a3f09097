package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --crl-path}, else ztunnel's {@code CRL_PATH} (istio/ztunnel {@code src/config.rs}, an empty value is unset):
 * the CRL file {@code Mesh.Builder.crlPath} enforces. A file that does not parse stops the start naming it (ztunnel's
 * {@code CrlManager::new} fails on it, {@code src/tls/crl.rs} {@code test_crl_manager_invalid_file}).
 */
class CrlPathOptionTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    void theFlagWinsThenCrlPathAndAnEmptyVariableIsNone() {
        assertThat(ProxyCommand.crlPath(Path.of("/flag/crl.pem"), Map.of("CRL_PATH", "/env/crl.pem"))).isEqualTo(Path.of("/flag/crl.pem"));
        assertThat(ProxyCommand.crlPath(null, Map.of("CRL_PATH", "/env/crl.pem"))).isEqualTo(Path.of("/env/crl.pem"));
        assertThat(ProxyCommand.crlPath(null, Map.of("CRL_PATH", ""))).isNull();
    }

    /** h406's new-user pass: a directory in the variable was exit 1, "java.io.IOException: Is a directory". */
    @Test
    void aDirectoryInCrlPathIsAnErrorNamingTheVariable(@TempDir Path dir) {
        assertThatThrownBy(() -> ProxyCommand.crlPath(null, Map.of("CRL_PATH", dir.toString())))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("$CRL_PATH: " + dir + " is not a file (a CRL file: PEM CRLs or one DER CRL)");
        assertThat(ProxyCommand.crlPath(Path.of("/flag/crl.pem"), Map.of("CRL_PATH", dir.toString()))).isEqualTo(Path.of("/flag/crl.pem"));
        assertThat(ProxyCommand.crlPath(null, Map.of())).isNull();
    }

    @Test
    void aFileThatIsNoCrlStopsTheStartNamingIt(@TempDir Path dir) throws Exception {
        Path bad = Files.writeString(dir.resolve("crl.pem"), "not a valid CRL");
        String out = std.run("proxy", "--in-memory-ca", "--crl-path", bad.toString(), "--inbound", "off", "--metrics", "off",
                "--readiness", "off", "--admin", "off");
        assertThat(out).startsWith("exit 1: zerohop proxy: CRL file " + bad + ": neither PEM (it does not start with -----BEGIN) nor a DER CRL");
    }
}
