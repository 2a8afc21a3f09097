package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --socks5 true} (or {@code yes}, {@code on}) is a usage error that says the option takes an address or
 * {@code off}, and how to switch the listener on at its default address: the flag alone, or {@code socks5: true} in the
 * {@code --config} file (ConfigFile expands it to the flag alone). A new-user pass got {@code "true" is not ip:port}.
 */
class ListenerSwitchWordTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    private String proxy(String... more) {
        String[] args = new String[more.length + 9];
        System.arraycopy(new String[] {"proxy", "--in-memory-ca", "--inbound", "off", "--metrics", "off", "--readiness", "off",
                "--admin=off"}, 0, args, 0, 9);
        System.arraycopy(more, 0, args, 9, more.length);
        int code = Zerohop.run(args);
        return "exit " + code + ": " + std.err.toString().lines().findFirst().orElse("");
    }

    @Test
    void socks5TrueSaysItTakesAnAddressAndNamesTheSwitch() {
        assertThat(proxy("--socks5", "true")).isEqualTo("exit 2: zerohop proxy: --socks5: \"true\" is not an address: this option"
                + " takes an address (host:port) or off; to turn it on at its default address (127.0.0.1:15080), give --socks5"
                + " without a value, or write \"socks5: true\" in the --config file");
    }

    @Test
    void yesOnAnotherOptionalListenerToo() {
        assertThat(proxy("--transparent=yes")).startsWith("exit 2: zerohop proxy: --transparent: \"yes\" is not an address:")
                .contains("(0.0.0.0:15001), give --transparent without a value, or write \"transparent: true\"");
    }

    @Test
    void aListenerWithoutADefaultAddressSaysOnlyWhatItTakes() {
        String[] args = {"proxy", "--in-memory-ca", "--inbound", "off", "--readiness", "off", "--admin", "off", "--metrics", "on"};
        assertThat(Zerohop.run(args)).isEqualTo(2);
        assertThat(std.err.toString().lines().findFirst().orElse("")).isEqualTo("zerohop proxy: --metrics: \"on\" is not an"
                + " address: this option takes an address (host:port) or off");
    }

    @Test
    void aConfigFileWordOtherThanTrueIsNamedAtItsLine(@TempDir Path dir) throws Exception {
        Path cfg = Files.writeString(dir.resolve("proxy.yaml"), "in-memory-ca: true\ninbound: \"off\"\nsocks5: \"yes\"\n");
        assertThat(proxy("--config", cfg.toString())).startsWith("exit 2: zerohop proxy: " + cfg + ":3: socks5: \"yes\" is not an"
                + " address").contains("write \"socks5: true\" in the --config file");
    }
}
