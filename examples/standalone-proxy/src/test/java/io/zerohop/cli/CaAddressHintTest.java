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

    @Test
    void nothingWithoutTheVariableOrWithAnIdentityOption() {
        assertThat(Zerohop.caAddressHint(PROXY, new String[] {"--node", "n"}, Map.of())).isNull();
        assertThat(Zerohop.caAddressHint(PROXY, new String[] {"--node", "n"}, Map.of("CA_ADDRESS", " "))).isNull();
        assertThat(Zerohop.caAddressHint(PROXY, new String[] {"--istio-ca=x:1"}, ENV)).as("its other options are missing").isNull();
        assertThat(Zerohop.caAddressHint(PROXY, new String[] {"--cert", "c.pem"}, ENV)).isNull();
    }
}
