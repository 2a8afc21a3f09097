package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * A ztunnel DaemonSet's {@code CA_ADDRESS} (ztunnel's chart sets it, with {@code XDS_ADDRESS}) is no identity source for
 * zerohop: {@code zerohop proxy} without one exits 2 naming the options, and with the variable set it also says that
 * zerohop ignores it and gives the {@code --istio-ca} options that are its counterpart (helper 262).
 */
class CaAddressHintTest {
    private static final CommandLine PROXY = new CommandLine(new ProxyCommand());
    private static final Map<String, String> ENV = Map.of("CA_ADDRESS", "istiod.istio-system.svc:15012");

    @Test
    void ztunnelsVariableIsNamedWithTheOptionsThatReplaceIt() {
        assertThat(Zerohop.caAddressHint(PROXY, new String[] {"--node", "n"}, ENV))
                .startsWith(" ($CA_ADDRESS is ztunnel's variable, which zerohop does not read")
                .contains("--istio-ca istiod.istio-system.svc:15012 --istio-ca-root /var/run/secrets/istio/root-cert.pem"
                        + " --token-file /var/run/secrets/tokens/istio-token");
    }

    /** ztunnel's own default is a URL; the hint gives what --istio-ca takes, HOST:PORT (helper 269). */
    @Test
    void aUrlIsGivenAsHostAndPort() {
        assertThat(Zerohop.caAddressHint(PROXY, new String[] {"--node", "n"}, Map.of("CA_ADDRESS", "https://istiod.istio-system.svc:15012/")))
                .contains("--istio-ca istiod.istio-system.svc:15012 --istio-ca-root");
    }

    @Test
    void nothingWithoutTheVariableOrWithAnIdentityOption() {
        assertThat(Zerohop.caAddressHint(PROXY, new String[] {"--node", "n"}, Map.of())).isNull();
        assertThat(Zerohop.caAddressHint(PROXY, new String[] {"--node", "n"}, Map.of("CA_ADDRESS", " "))).isNull();
        assertThat(Zerohop.caAddressHint(PROXY, new String[] {"--istio-ca=x:1"}, ENV)).as("its other options are missing").isNull();
        assertThat(Zerohop.caAddressHint(PROXY, new String[] {"--cert", "c.pem"}, ENV)).isNull();
    }

    /**
     * The hint reaches the usage error a started {@code zerohop proxy} prints (exit 2), not only {@link Zerohop#caAddressHint}'s
     * return value: a separate JVM, since the variable is read from the environment (helper 268: with the hint dropped
     * from the message the two tests above still passed).
     */
    @Test
    @org.junit.jupiter.api.Timeout(60)
    void theUsageErrorOfAStartedProxyCarriesIt() throws Exception {
        CliChild.Result r = CliChild.run(java.util.Map.of("CA_ADDRESS", "istiod.istio-system.svc:15012"), java.util.List.of(),
                "proxy", "--node", "n");
        String out = r.output();
        assertThat(r.exit()).as(out).isEqualTo(2);
        assertThat(out).contains("$CA_ADDRESS is ztunnel's variable, which zerohop does not read")
                .contains("--istio-ca istiod.istio-system.svc:15012");
    }
}
