package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The HTTP/1.0 switch from Istio's variables: istiod's {@code PILOT_HTTP10} read as its {@code env.Register} bool
 * (istio/istio pkg/env/var.go: Go's {@code strconv.ParseBool}) and the proxy's {@code ISTIO_META_HTTP10} as
 * {@code enableHTTP10} reads it (pilot/pkg/networking/core/listener.go: only {@code "1"}); either on is on
 * ({@code features.HTTP10 || enableHTTP10(node.Metadata.HTTP10)}). A value Istio would silently read as off is an
 * error here.
 */
class Http10EnvTest {
    @Test
    void offUnlessOneOfIstiosVariablesSaysOn() {
        assertThat(Http10Env.acceptHttp10(Map.of())).isFalse();
        assertThat(Http10Env.acceptHttp10(Map.of("PILOT_HTTP10", "", "ISTIO_META_HTTP10", ""))).isFalse();
        for (String on : new String[] {"1", "t", "T", "TRUE", "true", "True"}) {
            assertThat(Http10Env.acceptHttp10(Map.of("PILOT_HTTP10", on))).as(on).isTrue();
        }
        for (String off : new String[] {"0", "f", "F", "FALSE", "false", "False"}) {
            assertThat(Http10Env.acceptHttp10(Map.of("PILOT_HTTP10", off))).as(off).isFalse();
        }
        assertThat(Http10Env.acceptHttp10(Map.of("ISTIO_META_HTTP10", "1"))).isTrue();
        assertThat(Http10Env.acceptHttp10(Map.of("ISTIO_META_HTTP10", "0"))).isFalse();
        assertThat(Http10Env.acceptHttp10(Map.of("PILOT_HTTP10", "false", "ISTIO_META_HTTP10", "1"))).isTrue();
        assertThat(Http10Env.acceptHttp10(Map.of("PILOT_HTTP10", "true", "ISTIO_META_HTTP10", "0"))).isTrue();
        // Only istiod's own switch lists http/1.0 in an auto port's HTTP match (match.go NewAppProtocol).
        assertThat(Http10Env.pilotHttp10(Map.of("PILOT_HTTP10", "true", "ISTIO_META_HTTP10", "0"))).isTrue();
        assertThat(Http10Env.pilotHttp10(Map.of("PILOT_HTTP10", "false", "ISTIO_META_HTTP10", "1"))).isFalse();
        assertThat(Http10Env.pilotHttp10(Map.of("ISTIO_META_HTTP10", "1"))).isFalse();
    }

    @Test
    void aValueIstioWouldReadAsOffSilentlyIsAnErrorNamingTheVariable() {
        assertThatThrownBy(() -> Http10Env.acceptHttp10(Map.of("PILOT_HTTP10", "yes")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("$PILOT_HTTP10: \"yes\" must be true or false");
        assertThatThrownBy(() -> Http10Env.acceptHttp10(Map.of("ISTIO_META_HTTP10", "true")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("$ISTIO_META_HTTP10: \"true\" must be \"1\"");
    }

    /** {@code zerohop proxy} reads them: a bad value is a usage error (exit 2) before anything listens. */
    @Test
    void theProxyCommandRefusesABadValueWithExit2() throws Exception {
        java.util.List<String> cmd = java.util.List.of(java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Zerohop.class.getName(), "proxy", "--inbound", "127.0.52.8:0",
                "--metrics", "off", "--readiness", "127.0.52.8:0", "--admin", "off", "--drain", "0s", "--in-memory-ca");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("ISTIO_META_HTTP10", "true");
        pb.environment().remove("PILOT_HTTP10");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isEqualTo(2);
        assertThat(out).contains("$ISTIO_META_HTTP10: \"true\" must be \"1\"").doesNotContain("ready");
    }
}
