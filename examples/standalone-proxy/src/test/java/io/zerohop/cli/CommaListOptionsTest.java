package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every comma-list option ({@code --trust-domain-aliases} of proxy and policy check, {@code --forward},
 * {@code --expect}) refuses an empty element wherever the stray comma is, with one message: picocli dropped a trailing
 * one ({@code "old-td,"} was taken as {@code old-td}, silently) and kept the others ({@code "a,,b"} was refused as an
 * invalid alias {@code ""}), a new-user pass. A template that left a variable empty ({@code "old-td,$NEW_TD"}) is
 * said, not guessed at.
 */
// A value taken silently starts the proxy, which runs until stopped: the timeout turns that into a failure.
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class CommaListOptionsTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    private static final String[] OFF = {"--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off"};

    private String proxy(String... args) {
        String[] out = new String[2 + args.length + OFF.length];
        out[0] = "proxy";
        out[1] = "--in-memory-ca";
        System.arraycopy(args, 0, out, 2, args.length);
        System.arraycopy(OFF, 0, out, 2 + args.length, OFF.length);
        return std.run(out);
    }

    private static String refused(String command, String option, String value, String label) {
        return "exit 2: zerohop " + command + ": " + option + ": \"" + value + "\" has an empty element (a comma at the start, at the end"
                + " or doubled): write " + label + "[," + label + "...] | Run 'zerohop " + command + " --help' for usage.";
    }

    @Test
    void anEmptyElementIsRefusedInAnyPosition() {
        for (String v : new String[] {"old-td,", ",old-td", "old-td,,td2", ","}) {
            assertThat(proxy("--trust-domain-aliases", v)).isEqualTo(refused("proxy", "--trust-domain-aliases", v, "DOMAIN"));
        }
        assertThat(proxy("--trust-domain-aliases=old-td,")).isEqualTo(refused("proxy", "--trust-domain-aliases", "old-td,", "DOMAIN"));
        assertThat(proxy("--trust-domain-aliases", "td0", "--trust-domain-aliases", "old-td,"))
                .isEqualTo(refused("proxy", "--trust-domain-aliases", "old-td,", "DOMAIN"));
        assertThat(proxy("--forward", "127.0.102.1:8080=10.0.1.2:8080,"))
                .isEqualTo(refused("proxy", "--forward", "127.0.102.1:8080=10.0.1.2:8080,", "LOCAL=TARGET"));
    }

    @Test
    void policyCheckAndConnectAlike(@TempDir Path dir) {
        assertThat(std.run("policy", "check", "--policies", dir.toString(), "--dest", "prod/backend:8080", "--trust-domain-aliases", "old-td,"))
                .isEqualTo(refused("policy check", "--trust-domain-aliases", "old-td,", "DOMAIN"));
        assertThat(std.run("connect", "--target", "127.0.102.1:8080", "--via", "127.0.102.1:15008", "--cert", "c.pem", "--key", "k.pem",
                "--trust-bundle", "b.pem", "--expect", "spiffe://cluster.local/ns/prod/sa/backend,"))
                .isEqualTo(refused("connect", "--expect", "spiffe://cluster.local/ns/prod/sa/backend,", "SPIFFE_ID"));
    }

    @Test
    void inTheConfigFileTheLineIsNamed(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("proxy.yaml"), "in-memory-ca: true\ntrust-domain-aliases: [td0, \"old-td,\"]\n");
        assertThat(std.run("proxy", "--config", f.toString(), "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off"))
                .isEqualTo("exit 2: zerohop proxy: " + f + ":2: trust-domain-aliases: \"old-td,\" has an empty element (a comma at the"
                        + " start, at the end or doubled): write DOMAIN[,DOMAIN...] | Run 'zerohop proxy --help' for usage.");
    }

    @Test
    void wellFormedListsStillParse() {
        // Still past the list check: the alias's own check speaks.
        assertThat(proxy("--trust-domain-aliases", "old-td,Old_TD")).startsWith(
                "exit 2: zerohop proxy: --trust-domain-aliases: invalid trust domain alias \"Old_TD\"");
    }
}
