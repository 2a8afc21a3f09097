package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A wrong option value of {@code ca init}, {@code ca issue} and {@code connect} is a usage error as in
 * {@code proxy} and {@code policy check}: exit 2, one line naming the option, the {@code --help} hint,
 * and nothing written or dialled. Found by a new-user pass: these exited 1 without naming the option,
 * and {@code ca issue --ca root.pem} said "root.pem missing".
 */
class UsageErrorsTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    private String run(String... args) {
        return std.run(args);
    }

    @Test
    @DisplayName("ca init: an invalid --trust-domain is a usage error naming the option; no CA is written")
    void caInitBadTrustDomain(@TempDir Path dir) {
        assertThat(run("ca", "init", "--trust-domain", "bad domain", "--out", dir.resolve("ca").toString()))
                .startsWith("exit 2: zerohop ca init: --trust-domain: invalid trust domain \"bad domain\"")
                .endsWith("Run 'zerohop ca init --help' for usage.");
        assertThat(dir.resolve("ca")).doesNotExist();
    }

    @Test
    @DisplayName("ca issue: --ca that is missing, a file, or not a CA; --id invalid or without a path; --ttl malformed: exit 2, option named, nothing written")
    void caIssueBadOptions(@TempDir Path dir) throws Exception {
        Path ca = dir.resolve("ca");
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", ca.toString())).isZero();
        Path out = dir.resolve("out");
        String id = "spiffe://cluster.local/ns/prod/sa/web";

        assertThat(run("ca", "issue", "--ca", dir.resolve("nope").toString(), "--id", id, "--out", std.out.toString()))
                .startsWith("exit 2: zerohop ca issue: --ca: " + dir.resolve("nope") + " does not exist | Run 'zerohop ca issue --help'");
        assertThat(run("ca", "issue", "--ca", ca.resolve("root.pem").toString(), "--id", id, "--out", std.out.toString()))
                .startsWith("exit 2: zerohop ca issue: --ca: " + ca.resolve("root.pem") + " is not a directory");
        Path empty = Files.createDirectory(dir.resolve("empty"));
        assertThat(run("ca", "issue", "--ca", empty.toString(), "--id", id, "--out", std.out.toString()))
                .startsWith("exit 2: zerohop ca issue: --ca: " + empty + " holds no CA (root.pem missing); run `zerohop ca init` first");
        assertThat(run("ca", "issue", "--ca", ca.toString(), "--id", "spiffe://Bad/x", "--out", std.out.toString()))
                .startsWith("exit 2: zerohop ca issue: --id: invalid SPIFFE ID \"spiffe://Bad/x\"");
        assertThat(run("ca", "issue", "--ca", ca.toString(), "--id", "spiffe://cluster.local", "--out", std.out.toString()))
                .startsWith("exit 2: zerohop ca issue: --id: a workload SPIFFE ID has a path");
        assertThat(run("ca", "issue", "--ca", ca.toString(), "--id", id, "--out", std.out.toString(), "--ttl", "soon"))
                .startsWith("exit 2: zerohop ca issue: --ttl: bad duration \"soon\"");
        assertThat(out).as("no usage error writes anything").doesNotExist();
        // A trust domain the CA does not hold is not a typo of the option's form: it stays a failure (1).
        assertThat(run("ca", "issue", "--ca", ca.toString(), "--id", "spiffe://other.local/x", "--out", std.out.toString()))
                .startsWith("exit 1: zerohop ca issue: spiffe://other.local/x is not in trust domain cluster.local");
    }

    @Test
    @DisplayName("a mistyped option is named as unknown, with the suggestion, even when it hides a required one")
    void aTypoIsUnknownNotMissing(@TempDir Path dir) {
        assertThat(run("ca", "init", "--trust-domian", "cluster.local", "--out", dir.resolve("ca").toString()))
                .startsWith("exit 2: zerohop ca init: Unknown option: '--trust-domian' (its value 'cluster.local') | ")
                .contains("--trust-domain")
                .doesNotContain("Missing required");
        // picocli named the value as a second unknown option ("Unknown options: '--polices', 'polB'": new-user pass).
        assertThat(run("proxy", "--in-memory-ca", "--polices", "polB", "--inbund=:0", "--kubernetes", "--node", ""))
                .startsWith("exit 2: zerohop proxy: Unknown options: '--polices' (its value 'polB'), '--inbund=:0' | ")
                .contains("--policies");
        assertThat(Zerohop.unknownOptions(java.util.List.of("stray"), "picocli's")).isEqualTo("picocli's");
        assertThat(run("ca", "init", "--out", dir.resolve("ca").toString()))
                .as("nothing unknown: the missing option is the message")
                .startsWith("exit 2: zerohop ca init: Missing required option: '--trust-domain=<trustDomain>'");
        assertThat(dir.resolve("ca")).doesNotExist();
    }

    @Test
    @DisplayName("ca init / ca issue: an --out that cannot be a directory is a usage error saying why (it printed only the path)")
    void outThatCannotBeADirectory(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("afile"), "x");
        assertThat(run("ca", "init", "--trust-domain", "cluster.local", "--out", file.toString()))
                .startsWith("exit 2: zerohop ca init: --out: " + file + " is not a directory | Run 'zerohop ca init --help'");
        assertThat(run("ca", "init", "--trust-domain", "cluster.local", "--out", file.resolve("ca").toString()))
                .startsWith("exit 2: zerohop ca init: --out: cannot create directory " + file.resolve("ca") + ": Not a directory");
        Path ca = dir.resolve("ca");
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", ca.toString())).isZero();
        assertThat(run("ca", "issue", "--ca", ca.toString(), "--id", "spiffe://cluster.local/ns/prod/sa/web", "--out", file.toString()))
                .startsWith("exit 2: zerohop ca issue: --out: " + file + " is not a directory");
    }

    @Test
    @DisplayName("demo: an --ip-prefix that is not a loopback /24 is a usage error naming it (exit 2), before anything starts")
    void demoBadIpPrefix() {
        for (String bad : new String[] {"10.0.0", "127.0.0.300", "127.999.0", "abc"}) {
            assertThat(run("demo", "--ip-prefix", bad)).startsWith("exit 2: zerohop demo: --ip-prefix: must be the first three octets "
                    + "of a loopback /24, like 127.0.0 (got \"" + bad + "\") | Run 'zerohop demo --help' for usage.");
        }
    }

    @Test
    @DisplayName("ca issue: a negative or zero --ttl is a usage error naming --ttl, not \"svidTtl must be positive, got PT-1H\"")
    void caIssueTtlMustBePositive(@TempDir Path dir) {
        Path ca = dir.resolve("ca");
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", ca.toString())).isZero();
        String[] common = {"ca", "issue", "--ca", ca.toString(), "--id", "spiffe://cluster.local/ns/prod/sa/web",
                "--out", dir.resolve("out").toString(), "--ttl"};
        assertThat(run(concat(common, "-1h"))).startsWith("exit 2: zerohop ca issue: --ttl: duration \"-1h\" is negative | Run");
        assertThat(run(concat(common, "0s"))).startsWith("exit 2: zerohop ca issue: --ttl: an SVID needs a validity above zero | Run");
        assertThat(run(concat(common, "500ms"))).startsWith("exit 2: zerohop ca issue: --ttl: an SVID's validity is in whole seconds: give at least 1s | Run");
        // New-user pass: 100000d issued a leaf valid until 2300 from a CA that ends far sooner.
        assertThat(run(concat(common, "36500d"))).startsWith("exit 2: zerohop ca issue: --ttl: an SVID valid for 36500d would outlive "
                + "its CA (valid until ");
        // New-user pass: past year 9999 the issue failed inside X.509 encoding, exit 1:
        // "zerohop ca issue: java.io.IOException: Parse Generalized time, invalid format".
        assertThat(run(concat(common, "1000000000d"))).startsWith("exit 2: zerohop ca issue: --ttl: duration \"1000000000d\" is too long "
                + "(at most 36500d, 100 years) | Run");
        assertThat(dir.resolve("out")).doesNotExist();
    }

    @Test
    @DisplayName("connect: a missing --cert/--key/--trust-bundle is a usage error naming the option, before any dial")
    void connectMissingFiles(@TempDir Path dir) throws Exception {
        Path ca = dir.resolve("ca");
        Path web = dir.resolve("web");
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", ca.toString())).isZero();
        assertThat(Zerohop.run("ca", "issue", "--ca", ca.toString(), "--id", "spiffe://cluster.local/ns/prod/sa/web",
                "--out", web.toString())).isZero();
        String[] common = {"connect", "--via", "127.0.0.1:9", "--target", "127.0.0.1:8080",
                "--expect", "spiffe://cluster.local/ns/prod/sa/backend"};
        Path nope = dir.resolve("nope.pem");
        assertThat(run(concat(common, "--cert", nope.toString(), "--key", web.resolve("key.pem").toString(),
                "--trust-bundle", web.resolve("bundle.pem").toString())))
                .startsWith("exit 2: zerohop connect: --cert: " + nope + " does not exist | Run 'zerohop connect --help'");
        assertThat(run(concat(common, "--cert", web.resolve("cert.pem").toString(), "--key", web.toString(),
                "--trust-bundle", web.resolve("bundle.pem").toString())))
                .startsWith("exit 2: zerohop connect: --key: " + web + " is not a file");
        assertThat(run(concat(common, "--cert", web.resolve("cert.pem").toString(), "--key", web.resolve("key.pem").toString(),
                "--trust-bundle", nope.toString())))
                .startsWith("exit 2: zerohop connect: --trust-bundle: " + nope + " does not exist");
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /**
     * A new-user pass: {@code proxy --trust-domain Cluster_Local} exited 1 with "invalid SPIFFE ID
     * spiffe://Cluster_Local" (no option named), and a root namespace that no namespace can have was taken
     * as given (its mesh-wide policies then applied nowhere).
     */
    @Test
    @DisplayName("proxy: a malformed --trust-domain or --root-namespace is a usage error naming the option")
    void proxyBadTrustDomainOrRootNamespace() {
        // A new-user pass: --in-memory-ca=false still started the in-memory CA (the group's only choice, its value unread).
        assertThat(run("proxy", "--in-memory-ca=false", "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off"))
                .startsWith("exit 2: zerohop proxy: --in-memory-ca: switches the in-memory CA off, and no other identity source is given")
                .endsWith("Run 'zerohop proxy --help' for usage.");
        assertThat(run("proxy", "--in-memory-ca", "--trust-domain", "Cluster_Local", "--inbound", "off", "--metrics", "off",
                "--readiness", "off", "--admin", "off"))
                .isEqualTo("exit 2: zerohop proxy: --trust-domain: invalid trust domain \"Cluster_Local\": not in canonical form"
                        + " (trust domain must be lower case) | Run 'zerohop proxy --help' for usage.");
        assertThat(run("proxy", "--in-memory-ca", "--root-namespace", "istio system", "--inbound", "off", "--metrics", "off",
                "--readiness", "off", "--admin", "off"))
                .isEqualTo("exit 2: zerohop proxy: --root-namespace: \"istio system\" is not a namespace name (lower-case DNS label,"
                        + " e.g. istio-system) | Run 'zerohop proxy --help' for usage.");
        // policy check alike: it took Istio-System and decided as if no policy were mesh-wide (new-user pass).
        assertThat(run("policy", "check", "--policies", ".", "--dest", "prod/backend:8080", "--root-namespace", "Istio-System"))
                .isEqualTo("exit 2: zerohop policy check: --root-namespace: \"Istio-System\" is not a namespace name (lower-case DNS label,"
                        + " e.g. istio-system) | Run 'zerohop policy check --help' for usage.");
    }

    /**
     * An empty path names the working directory to the JDK: a new-user pass ran {@code zerohop proxy
     * --policies ""} (a variable left unset) and got the working directory's YAML loaded as its policies.
     * "--kubernetes --node ''" follows (checked after the paths), so that were a path accepted the run
     * would end on that usage error, not start a proxy.
     */
    @Test
    @DisplayName("an empty --policies, --workloads, --ca or --out is a usage error naming the option, not the working directory")
    void anEmptyPathIsRefused(@TempDir Path dir) throws Exception {
        String hint = ": an empty path (write \".\" for the working directory) | Run 'zerohop ";
        assertThat(run("proxy", "--in-memory-ca", "--policies", "", "--kubernetes", "--node", ""))
                .isEqualTo("exit 2: zerohop proxy: --policies" + hint + "proxy --help' for usage.");
        assertThat(run("proxy", "--in-memory-ca", "--workloads=", "--kubernetes", "--node", ""))
                .isEqualTo("exit 2: zerohop proxy: --workloads" + hint + "proxy --help' for usage.");
        assertThat(run("proxy", "--ca", "", "--kubernetes", "--node", "")).isEqualTo("exit 2: zerohop proxy: --ca" + hint + "proxy --help' for usage.");
        assertThat(run("policy", "check", "--policies", "", "--dest", "prod/backend:8080"))
                .isEqualTo("exit 2: zerohop policy check: --policies" + hint + "policy check --help' for usage.");
        assertThat(run("ca", "init", "--trust-domain", "cluster.local", "--out", ""))
                .isEqualTo("exit 2: zerohop ca init: --out" + hint + "ca init --help' for usage.");
        Path config = Files.writeString(dir.resolve("proxy.yaml"), "in-memory-ca: true\npolicies: \"\"\n");
        assertThat(run("proxy", "--config", config.toString(), "--kubernetes", "--node", ""))
                .isEqualTo("exit 2: zerohop proxy: " + config + ":2: policies" + hint + "proxy --help' for usage.");
    }

    /**
     * {@code --crl-path} names a file that may not exist yet (ztunnel's CRL manager waits for it, and so does
     * {@code CrlFile}), but never an empty path or a directory. A new-user pass (h406) ran {@code --crl-path ""} and got
     * exit 1, "CRL file  cannot be read: java.io.IOException: Is a directory", where every other empty path is a usage
     * error naming the option. "--kubernetes --node ''" follows, as above: a path let through ends on that usage error.
     */
    @Test
    @DisplayName("an empty --crl-path, or one naming a directory, is a usage error naming the option; a missing file is waited for")
    void anEmptyOrDirectoryCrlPathIsRefused(@TempDir Path dir) throws Exception {
        String help = " | Run 'zerohop proxy --help' for usage.";
        assertThat(run("proxy", "--in-memory-ca", "--crl-path", "", "--kubernetes", "--node", ""))
                .isEqualTo("exit 2: zerohop proxy: --crl-path: an empty path (write \".\" for the working directory)" + help);
        assertThat(run("proxy", "--in-memory-ca", "--crl-path", dir.toString(), "--kubernetes", "--node", ""))
                .isEqualTo("exit 2: zerohop proxy: --crl-path: " + dir + " is not a file (a CRL file: PEM CRLs or one DER CRL)" + help);
        Path config = Files.writeString(dir.resolve("proxy.yaml"), "in-memory-ca: true\ncrl-path: \"\"\n");
        assertThat(run("proxy", "--config", config.toString(), "--kubernetes", "--node", ""))
                .isEqualTo("exit 2: zerohop proxy: " + config + ":2: crl-path: an empty path (write \".\" for the working directory)"
                        + help);
        assertThat(run("proxy", "--in-memory-ca", "--crl-path", dir.resolve("later/crl.pem").toString(), "--kubernetes", "--node", ""))
                .startsWith("exit 2: zerohop proxy: --kubernetes: needs --node NAME");
    }

    /**
     * Every usage error ends with the same pointer to {@code --help}, whichever code path found it (the
     * session's closing note: a mistyped {@code --config} key got a did-you-mean and nothing after it, and a
     * refusal with exit 2 from where the Istio CA provider is built ended without the hint too).
     */
    @Test
    @DisplayName("a mistake in the --config file, and a late refusal with exit 2, end with the --help hint as a mistyped flag does")
    void everyUsageErrorEndsWithTheHelpHint(@TempDir Path dir) throws Exception {
        String hint = "Run 'zerohop proxy --help' for usage.";
        // The reference: a mistyped flag (picocli's parser).
        assertThat(run("proxy", "--in-memory-ca", "--polices", "x")).startsWith("exit 2: zerohop proxy: Unknown option: '--polices'")
                .endsWith(" | " + hint);
        Path typo = Files.writeString(dir.resolve("typo.yaml"), "in-memory-ca: true\npolices: x\n");
        assertThat(run("proxy", "--config", typo.toString())).isEqualTo("exit 2: zerohop proxy: " + typo
                + ":2: polices: unknown option; did you mean policies? (keys are the long options of `zerohop proxy --help` without dashes) | " + hint);
        Path tab = Files.writeString(dir.resolve("tab.yaml"), "in-memory-ca: true\n\tnode: a\n");
        assertThat(run("proxy", "--config", tab.toString())).startsWith("exit 2: zerohop proxy: " + tab + ":2: ").endsWith(" | " + hint);
        assertThat(run("proxy", "--config", dir.resolve("missing.yaml").toString()))
                .isEqualTo("exit 2: zerohop proxy: config file " + dir.resolve("missing.yaml") + " does not exist | " + hint);
        // Checked where the Istio CA provider is built, in call(): a Cli.RefusedException with exit 2.
        Path root = Files.writeString(dir.resolve("root-cert.pem"), "");
        Path token = Files.writeString(dir.resolve("token"), "t");
        assertThat(run("proxy", "--istio-ca", "istiod", "--istio-ca-root", root.toString(), "--token-file", token.toString(),
                "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off"))
                .startsWith("exit 2: zerohop proxy: --istio-ca: \"istiod\" is not HOST:PORT").endsWith(" | " + hint);
        // ztunnel's CA_ADDRESS form, a URL: refused here, not by gRPC's "Invalid host or port" with exit 1 (helper 269).
        assertThat(run("proxy", "--istio-ca", "https://istiod:15012", "--istio-ca-root", root.toString(), "--token-file", token.toString(),
                "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off"))
                .startsWith("exit 2: zerohop proxy: --istio-ca: \"https://istiod:15012\" is not HOST:PORT (e.g. istiod.istio-system.svc:15012,"
                        + " without the URL's scheme)").endsWith(" | " + hint);
    }
    /**
     * A new-user pass moving a second proxy's admin listener wrote {@code --admin 15100} and read only that it is not
     * ip:port: the line now gives the address to write, on the option's own default address ({@code :15100} would be
     * 0.0.0.0, which for the admin listener is a warning).
     */
    @Test
    void aListenerGivenAPortAloneIsToldTheAddressToWrite() {
        assertThat(run("proxy", "--in-memory-ca", "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "15100"))
                .startsWith("exit 2: zerohop proxy: --admin: \"15100\" is not ip:port: a port alone; give the address too,"
                        + " e.g. --admin 127.0.0.1:15100 (its default address)");
        assertThat(run("proxy", "--in-memory-ca", "--inbound", "off", "--metrics", "15120", "--readiness", "off", "--admin", "off"))
                .startsWith("exit 2: zerohop proxy: --metrics: \"15120\" is not ip:port: a port alone; give the address too,"
                        + " e.g. --metrics 0.0.0.0:15120 (its default address)");
    }
}
