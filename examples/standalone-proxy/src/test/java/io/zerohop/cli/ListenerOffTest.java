package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every listener option of {@code zerohop proxy} takes {@code off}: those on by default ({@code --inbound},
 * {@code --metrics}, {@code --readiness}, {@code --admin}) took it, those off by default ({@code --transparent},
 * {@code --socks5}, {@code --plaintext-inbound}) refused it as no {@code ip:port} (a new-user pass). Each case ends
 * on a later usage error ({@code --access-log-format}, checked after the listeners), which proves the listener
 * values passed without starting a proxy.
 */
class ListenerOffTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    private static final String LATER = "exit 2: zerohop proxy: --access-log-format: must be zerohop, ztunnel or ztunnel-json,"
            + " got \"bogus\" | Run 'zerohop proxy --help' for usage.";

    private String proxy(String... args) {
        String[] out = new String[args.length + 12];
        String[] head = {"proxy", "--in-memory-ca", "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off",
                "--access-log-format", "bogus"};
        System.arraycopy(head, 0, out, 0, head.length);
        System.arraycopy(args, 0, out, head.length, args.length);
        return std.run(out);
    }

    @Test
    void everyListenerTakesOff() {
        for (String option : new String[] {"--transparent", "--socks5", "--plaintext-inbound"}) {
            assertThat(proxy(option, "off")).as(option).isEqualTo(LATER);
            assertThat(proxy(option + "=off")).as(option).isEqualTo(LATER);
            // The words that do not turn it off are refused naming the one that does, as for --metrics.
            assertThat(proxy(option, "no")).as(option).isEqualTo("exit 2: zerohop proxy: " + option
                    + ": \"no\" is not ip:port: write off to turn the listener off | Run 'zerohop proxy --help' for usage.");
        }
        assertThat(proxy()).isEqualTo(LATER);
    }

    @Test
    void inTheConfigFileToo(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("proxy.yaml"), "in-memory-ca: true\nsocks5: \"off\"\ntransparent: \"off\"\n"
                + "plaintext-inbound: \"off\"\naccess-log-format: bogus\n");
        assertThat(std.run("proxy", "--config", f.toString(), "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off"))
                .isEqualTo("exit 2: zerohop proxy: " + f + ":5: access-log-format: must be zerohop, ztunnel or ztunnel-json, got \"bogus\""
                        + " | Run 'zerohop proxy --help' for usage.");
    }

    @Test
    void theHelpSaysSo() {
        assertThat(std.run("proxy", "--help")).startsWith("exit 0");
        String help = std.out.toString().replaceAll("\\s+", " ");
        assertThat(help).contains("SOCKS5 outbound capture listener, or off (the default)")
                .contains("TPROXY outbound capture listener (IP_TRANSPARENT), or off (the default)")
                .contains("refuses it), or off (the default)");
    }
}
