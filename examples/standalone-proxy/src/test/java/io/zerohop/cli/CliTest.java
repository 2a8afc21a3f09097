package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SvidVerifier;
import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.TrustDomain;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The CLI in-process: real files, real CA, exit codes and the one-line messages people read. */
class CliTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    static Path policies() throws Exception {
        return Path.of(CliTest.class.getResource("/policies/backend.yaml").toURI()).getParent();
    }

    @Test
    void aMissingFileIsNamedAsMissing(@TempDir Path dir) {
        Path missing = dir.resolve("workloads.yaml");
        assertThat(Zerohop.run("proxy", "--in-memory-ca", "--workloads", missing.toString(), "--inbound", "127.0.0.1:0",
                "--metrics", "off", "--readiness", "off", "--admin", "off")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop proxy: --workloads: " + missing + " does not exist" + System.lineSeparator());
    }

    /**
     * A tab in a --workloads file names the field as a policy file's does (new-user pass: it named only the
     * line, in SnakeYAML's words); mesh-core's WorkloadRegistryIndentTest covers every line of an example.
     */
    @Test
    void aTabInTheWorkloadsFileNamesItsField(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("workloads.yaml"), "workloads:\n  - namespace: prod\n\tname: backend\n");
        // Exit 1 and no --help hint, as a malformed policy file: the file is wrong, not the command line.
        assertThat(proxy("--workloads", w.toString(), "--inbound", "off")).isEqualTo("exit 1: zerohop proxy: " + w
                + ":3: workloads[0].name: invalid YAML: a tab character (\\t) in the indentation: YAML indents with spaces only;"
                + " replace the tab with spaces");
        assertThat(std.err.toString()).doesNotContain("--help");
    }

    /** {@code zerohop proxy --in-memory-ca} with every listener off and {@code more}: exit code and the first stderr line. */
    private String proxy(String... more) {
        String[] args = new String[more.length + 8];
        System.arraycopy(new String[] {"proxy", "--in-memory-ca", "--metrics", "off", "--readiness", "off", "--admin", "off"}, 0, args, 0, 8);
        System.arraycopy(more, 0, args, 8, more.length);
        std.err.reset();
        int code = Zerohop.run(args);
        return "exit " + code + ": " + std.err.toString().lines().findFirst().orElse("");
    }

    /**
     * An empty --cluster-id stays refused (the option is zerohop's own) but says so plainly, with the two ways
     * a user meant: the default, or ztunnel's empty id from CLUSTER_ID="" (ClusterIdOptionTest). It said the
     * id's syntax rule, {@code cluster id must be printable ASCII ...: ""}.
     */
    @Test
    void anEmptyClusterIdSaysHowToGetTheDefaultOrAnEmptyId() {
        assertThat(proxy("--inbound", "off", "--cluster-id", "")).isEqualTo("exit 2: zerohop proxy: --cluster-id: empty; omit it to use"
                + " $ISTIO_META_CLUSTER_ID, else $CLUSTER_ID, else Kubernetes, or set CLUSTER_ID=\"\" (with ISTIO_META_CLUSTER_ID unset)"
                + " to send an empty ClusterID as ztunnel does");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a path option says whether the path does not exist, is the wrong kind, or is not readable; exit 2")
    void aBadPathSaysWhatIsWrongWithIt(@TempDir Path dir) throws Exception {
        Path nope = dir.resolve("nope");
        assertThat(proxy("--inbound", "off", "--policies", nope + "/")).isEqualTo("exit 2: zerohop proxy: --policies: " + nope + " does not exist");
        Path file = Files.writeString(dir.resolve("workloads.yaml"), "workloads: []\n");
        assertThat(proxy("--inbound", "off", "--policies", file.resolve("p.yaml").toString())).isEqualTo("exit 2: zerohop proxy: --policies: "
                + file.resolve("p.yaml") + " does not exist (" + file + " is not a directory)");
        assertThat(proxy("--inbound", "off", "--workloads", dir.toString())).isEqualTo("exit 2: zerohop proxy: --workloads: " + dir + " is not a file");
        std.err.reset();
        assertThat(Zerohop.run("proxy", "--ca", file.toString(), "--inbound", "off")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop proxy: --ca: " + file + " is not a directory");
        // The files a --ca directory must hold, named with the option (an operator pass: exit 1, "no such file: DIR/root.pem").
        Path emptyCa = Files.createDirectory(dir.resolve("ca"));
        std.err.reset();
        assertThat(Zerohop.run("proxy", "--ca", emptyCa.toString(), "--inbound", "off")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop proxy: --ca: " + emptyCa.resolve("root.pem") + " does not exist");
        // Permissions bind only a non-root user (CI runs as root, which reads everything).
        Path locked = Files.createDirectory(dir.resolve("locked"));
        Files.setPosixFilePermissions(locked, java.util.Set.of());
        try {
            org.junit.jupiter.api.Assumptions.assumeFalse(Files.isReadable(locked), "running as root: permissions are not enforced");
            assertThat(proxy("--inbound", "off", "--policies", locked.toString()))
                    .isEqualTo("exit 2: zerohop proxy: --policies: " + locked + " is not readable (permission denied)");
        } finally {
            Files.setPosixFilePermissions(locked, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        }
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a bad listener address is a usage error (exit 2) naming the option, checked before anything starts")
    void aBadListenerAddressIsAUsageError() {
        assertThat(proxy("--inbound", "127.0.0.1:99999")).isEqualTo("exit 2: zerohop proxy: --inbound: port 99999 out of range 0..65535");
        assertThat(std.err.toString().lines().toList()).hasSize(2).last().isEqualTo("Run 'zerohop proxy --help' for usage.");
        assertThat(proxy("--inbound", "off", "--socks5=localhost:1080"))
                .isEqualTo("exit 2: zerohop proxy: --socks5: \"localhost\" is not an IP address literal");
        assertThat(proxy("--inbound", "off", "--drain", "5x")).isEqualTo("exit 2: zerohop proxy: --drain: bad duration \"5x\" (examples: 500ms, 90s, 15m, 24h, 7d)");
        // Past the library's limit: a usage error naming the option before anything starts (was exit 1, naming `drain`).
        assertThat(proxy("--inbound", "off", "--drain", "36501d"))
                .isEqualTo("exit 2: zerohop proxy: --drain: duration \"36501d\" is too long (at most 36500d, 100 years)");
        assertThat(proxy("--inbound", "off", "--inbound-transparent"))
                .isEqualTo("exit 2: zerohop proxy: --inbound-transparent: needs an HBONE listener, but --inbound is off");
        assertThat(std.out.toString()).doesNotContain("zerohop proxy ready");
    }

    /** A new-user pass wrote {@code --handshake-timeout 500ms} (Go's and Kubernetes' form) and {@code --drain 10}, both refused unclearly. */
    @Test
    @org.junit.jupiter.api.DisplayName("durations: ms, s, m, h, d; a number without a unit is named as such")
    void durationsTakeMillisecondsAndNameAMissingUnit() {
        assertThat(Cli.duration("500ms")).isEqualTo(java.time.Duration.ofMillis(500));
        assertThat(Cli.duration("90s")).isEqualTo(java.time.Duration.ofSeconds(90));
        assertThat(Cli.duration("15m")).isEqualTo(java.time.Duration.ofMinutes(15));
        assertThat(Cli.duration("7d")).isEqualTo(java.time.Duration.ofDays(7));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Cli.duration("10"))
                .hasMessage("bad duration \"10\": no unit (examples: 500ms, 90s, 15m, 24h, 7d)");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Cli.duration("5"))
                .hasMessage("bad duration \"5\": no unit (examples: 500ms, 90s, 15m, 24h, 7d)");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Cli.duration("5ns"))
                .hasMessage("bad duration \"5ns\" (examples: 500ms, 90s, 15m, 24h, 7d)");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Cli.duration("-5ms")).hasMessage("duration \"-5ms\" is negative");
        // New-user pass: 'zerohop proxy --drain 3000000000000h' exited 1 with the bare line "zerohop proxy: long overflow".
        // And the library's limit (36500d): past it the builder refused it only once the proxy had started, exit 1,
        // naming its Java setter (a new-user pass: --drain=36501d).
        assertThat(Cli.duration("36500d")).isEqualTo(java.time.Duration.ofDays(36500));
        for (String tooLong : new String[] {"36501d", "876025h", "106752d", "3000000000000h", "9223372036854775807m", "9223372036854775807s"}) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> Cli.duration(tooLong))
                    .hasMessage("duration \"" + tooLong + "\" is too long (at most 36500d, 100 years)");
        }
    }

    /**
     * PEM files that are no identity for their own bundle (a certificate of another CA) are an
     * identity failure, exit 4, as in {@code connect} (ConnectCommandTest); they exited 1.
     */
    @Test
    void aPemCertificateThatDoesNotChainToItsBundleExits4(@TempDir Path dir) throws Exception {
        try (InMemoryCa ca = InMemoryCa.create("cluster.local"); InMemoryCa other = InMemoryCa.create("cluster.local")) {
            java.time.Instant now = java.time.Instant.now();
            io.zerohop.identity.IssuedCertificate cert = other.issue(io.zerohop.identity.LeafSpec.svid(
                    "spiffe://cluster.local/ns/prod/sa/web", now.minusSeconds(60), now.plus(Duration.ofHours(1))));
            assertThat(proxyWithPem(dir, cert, ca)).as(std.err.toString()).isEqualTo(4);
        }
        assertThat(std.err.toString().lines().toList()).singleElement().asString()
                .startsWith("zerohop proxy: no usable identity in the PEM files: " + dir.resolve("cert.pem") + " against " + dir.resolve("bundle.pem"));
        assertThat(std.out.toString()).doesNotContain("zerohop proxy ready");
    }

    /** {@code zerohop proxy} on {@code cert} written as PEM files in {@code dir}, trusting {@code ca}'s root; its exit code. */
    private static int proxyWithPem(Path dir, io.zerohop.identity.IssuedCertificate cert, InMemoryCa ca) throws Exception {
        Path chain = Files.writeString(dir.resolve("cert.pem"), cert.chainPem());
        Path key = Files.writeString(dir.resolve("key.pem"), cert.keyPem());
        Path bundle = Files.writeString(dir.resolve("bundle.pem"), Pem.certificates(List.of(ca.root())));
        return Zerohop.run("proxy", "--cert", chain.toString(), "--key", key.toString(), "--trust-bundle", bundle.toString(),
                "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "off", "--admin", "off");
    }

    /** A URI SAN that is no SPIFFE ID is the same identity failure, exit 4 naming the SAN (it exited 1 with java-spiffe's bare text). */
    @Test
    void aPemCertificateWhoseUriSanIsNoSpiffeIdExits4(@TempDir Path dir) throws Exception {
        String san = "spiffe://cluster.local/ns//sa/web";
        try (InMemoryCa ca = InMemoryCa.create("cluster.local")) {
            java.time.Instant now = java.time.Instant.now();
            io.zerohop.identity.IssuedCertificate cert = ca.issue(io.zerohop.identity.LeafSpec.svid(
                    "spiffe://cluster.local/ns/prod/sa/web", now.minusSeconds(60), now.plus(Duration.ofHours(1))).withUriSans(san));
            assertThat(proxyWithPem(dir, cert, ca)).as(std.err.toString()).isEqualTo(4);
        }
        assertThat(std.err.toString().lines().toList()).singleElement().asString()
                .startsWith("zerohop proxy: no usable identity in the PEM files: ").contains("URI SAN \"" + san + "\" is not a SPIFFE ID");
    }

    /**
     * A leaf whose extendedKeyUsage lacks a TLS role (X509-SVID section 4.4; webpki's "required if present", which ztunnel's
     * peers apply) is refused by every peer in that role, and the refused side hears only certificate_unknown. Made by the
     * real {@code openssl} as an operator's own CA would: {@code connect}, which only dials, refuses it itself (exit 4); the
     * proxy, which both dials and serves, starts and warns naming the role.
     */
    @Test
    void aPemCertificateWithoutATlsRoleInItsExtendedKeyUsageIsNamedAtStart(@TempDir Path dir) throws Exception {
        String id = "spiffe://cluster.local/ns/prod/sa/web";
        openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                "-out", "ca.crt", "-subj", "/O=cluster.local", "-days", "1", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "subjectAltName=URI:spiffe://cluster.local");
        openssl(dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key.pem",
                "-out", "leaf.csr", "-subj", "/O=cluster.local");
        Files.writeString(dir.resolve("ext.cnf"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                + "extendedKeyUsage=serverAuth\nsubjectAltName=URI:" + id + "\n");
        openssl(dir, "x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
                "-extfile", "ext.cnf", "-out", "cert.pem");
        String[] files = {"--cert", dir.resolve("cert.pem").toString(), "--key", dir.resolve("key.pem").toString(),
                "--trust-bundle", dir.resolve("ca.crt").toString()};

        java.util.List<String> connect = new java.util.ArrayList<>(List.of("connect", "--via", "127.0.0.1:9", "--target", "10.0.0.2:80",
                "--expect", "spiffe://cluster.local/ns/prod/sa/backend"));
        connect.addAll(List.of(files));
        assertThat(Zerohop.run(connect.toArray(String[]::new))).as(std.err.toString()).isEqualTo(4);
        assertThat(std.err.toString().lines().toList()).singleElement().asString()
                .startsWith("zerohop connect: no usable identity in the PEM files: " + dir.resolve("cert.pem") + ": " + id
                        + ": leaf has extendedKeyUsage [1.3.6.1.5.5.7.3.1] without clientAuth (1.3.6.1.5.5.7.3.2)");

        java.util.List<String> proxyArgs = new java.util.ArrayList<>(List.of("proxy", "--inbound", "127.0.0.1:0", "--metrics", "off",
                "--readiness", "off", "--admin", "127.0.0.1:0", "--drain", "0s"));
        proxyArgs.addAll(List.of(files));
        java.util.concurrent.CompletableFuture<Integer> proxy = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> Zerohop.run(proxyArgs.toArray(String[]::new)));
        io.zerohop.testing.netty.Await.until("the ready line", Hang.BOUND, () -> std.out.toString().contains("zerohop proxy ready"));
        var admin = java.util.regex.Pattern.compile("admin (127\\.0\\.0\\.1:\\d+);").matcher(std.out.toString());
        assertThat(admin.find()).as(std.out.toString()).isTrue();
        // A reload to another such certificate says it again (a new-user pass: a reload said only "reloaded").
        openssl(dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key2.pem",
                "-out", "leaf2.csr", "-subj", "/O=cluster.local");
        openssl(dir, "x509", "-req", "-in", "leaf2.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
                "-extfile", "ext.cnf", "-out", "cert2.pem");
        Files.move(dir.resolve("key2.pem"), dir.resolve("key.pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.move(dir.resolve("cert2.pem"), dir.resolve("cert.pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        io.zerohop.testing.netty.Await.until("the warning after the reload", java.time.Duration.ofSeconds(60),
                () -> std.err.toString().lines().filter(l -> l.contains("warning: --cert")).count() >= 2);
        AdminQuit.quit(admin.group(1));
        assertThat(io.zerohop.testing.netty.Await.result(proxy, Hang.BOUND)).isZero();
        assertThat(std.err.toString().lines().filter(l -> l.contains("warning: --cert")).distinct()).singleElement().asString()
                .isEqualTo("zerohop proxy: warning: --cert " + dir.resolve("cert.pem") + ": " + id + ": leaf has extendedKeyUsage"
                        + " [1.3.6.1.5.5.7.3.1] without clientAuth (1.3.6.1.5.5.7.3.2), so it may not authenticate a TLS client"
                        + " (X509-SVID section 4.4); peers refuse it, so every new connection from this proxy fails its handshake");
    }

    private static void openssl(Path dir, String... args) throws Exception {
        java.util.List<String> cmd = new java.util.ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(String.join(" ", cmd) + "\n" + out).isZero();
    }

    @Test
    void caInitRefusesATrustDomainNotInCanonicalFormAsTheProxyDoes(@TempDir Path dir) throws Exception {
        // Until 3 December `ca init` folded it to cluster.local, where `proxy --trust-domain Cluster.Local` refused it.
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "Cluster.Local", "--out", dir.resolve("ca").toString())).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop ca init: --trust-domain: invalid trust domain \"Cluster.Local\": not in canonical"
                + " form (trust domain must be lower case)");
        assertThat(dir.resolve("ca")).doesNotExist();
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.resolve("ca").toString())).isZero();
        assertThat(std.out.toString()).startsWith("CA for trust domain cluster.local written to ");
        assertThat(InMemoryCa.load(dir.resolve("ca"), Duration.ofHours(1)).trustDomain().getName()).isEqualTo("cluster.local");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("ca init --force over a CA says that running proxies keep the old root")
    void replacingACaSaysWhatRunningProxiesKeep(@TempDir Path dir) throws Exception {
        String out = dir.resolve("replaced").toString();
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", out)).isZero();
        assertThat(std.out.toString()).doesNotContain("Replaced");
        std.out.reset();
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", out, "--force")).isZero();
        assertThat(std.out.toString()).contains("Replaced the CA that was there: proxies running with --ca " + out
                + " keep the old root until they restart");
    }

    @Test
    void aListenerThatCannotBindFailsWithoutSayingStopped() throws Exception {
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            assertThat(Zerohop.run("proxy", "--in-memory-ca", "--inbound", "127.0.0.1:" + taken.getLocalPort(),
                    "--metrics", "off", "--readiness", "off", "--admin", "off")).isEqualTo(1);
        }
        assertThat(std.err.toString()).contains("zerohop proxy: --inbound 127.0.0.1:").contains(": cannot listen: Address already in use");
        assertThat(std.out.toString()).doesNotContain("zerohop proxy ready").doesNotContain("zerohop proxy: stopped");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a port in use names the listener's option and address, and what the kernel said, once; exit 1")
    void aPortInUseNamesItsOption() throws Exception {
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            String at = "127.0.0.1:" + taken.getLocalPort();
            assertThat(Zerohop.run("proxy", "--in-memory-ca", "--inbound", "127.0.0.1:0", "--metrics", at,
                    "--readiness", "off", "--admin", "off")).isEqualTo(1);

            assertThat(std.err.toString().lines().filter(l -> l.startsWith("zerohop proxy: ")).toList())
                    .containsExactly("zerohop proxy: --metrics " + at + ": cannot listen: Address already in use (another process listens"
                            + " there: a zerohop proxy still draining keeps its metrics, readiness and admin ports until it exits;"
                            + " `ss -ltnp` names the process; to run this proxy beside it, give it --metrics ADDR, or --metrics off)");
            // A start that failed drains nothing: no "draining for up to" / "drained" lines before the error (an operator pass).
            assertThat(std.err.toString()).doesNotContain("draining for up to").doesNotContain("drained");
        }
        assertThat(std.out.toString()).doesNotContain("zerohop proxy ready");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("the ports a draining proxy keeps are tried before the HBONE port listens")
    void theDrainKeptPortsAreTriedFirst() throws Exception {
        // Both taken: the metrics port is named, so nothing listened before it was tried. A proxy started beside a draining
        // one bound its HBONE port first, accepted tunnels, then failed on --metrics and reset them (a day-2 pass,
        // 5 December); here it named --inbound.
        try (java.net.ServerSocket hbone = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
             java.net.ServerSocket metrics = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            assertThat(Zerohop.run("proxy", "--in-memory-ca", "--inbound", "127.0.0.1:" + hbone.getLocalPort(),
                    "--metrics", "127.0.0.1:" + metrics.getLocalPort(), "--readiness", "off", "--admin", "off")).isEqualTo(1);
            assertThat(std.err.toString().lines().filter(l -> l.startsWith("zerohop proxy: ")).toList())
                    .singleElement().asString().startsWith("zerohop proxy: --metrics 127.0.0.1:" + metrics.getLocalPort() + ": cannot listen");
        }
    }

    @Test
    @org.junit.jupiter.api.DisplayName("the ready line shows a wildcard listener as given (0.0.0.0:PORT, [::]:PORT), not [0:0:0:0:0:0:0:0]")
    void theReadyLineShowsListenersAsGiven() throws Exception {
        java.util.concurrent.CompletableFuture<Integer> proxy = java.util.concurrent.CompletableFuture.supplyAsync(() -> Zerohop.run(
                "proxy", "--in-memory-ca", "--inbound", "127.0.0.1:0", "--socks5", "0.0.0.0:0", "--metrics", "[::]:0",
                "--readiness", "off", "--admin", "127.0.0.1:0", "--drain", "0s"));
        io.zerohop.testing.netty.Await.until("the ready line", Hang.BOUND, () -> std.out.toString().contains("zerohop proxy ready"));
        String ready = std.out.toString();
        var admin = java.util.regex.Pattern.compile("admin (127\\.0\\.0\\.1:\\d+);").matcher(ready);
        assertThat(admin.find()).as(ready).isTrue();
        AdminQuit.quit(admin.group(1));
        assertThat(io.zerohop.testing.netty.Await.result(proxy, Hang.BOUND)).isZero();
        assertThat(ready).containsPattern("zerohop proxy ready: hbone 127\\.0\\.0\\.1:\\d+, socks5 0\\.0\\.0\\.0:\\d+, metrics \\[::]:\\d+,")
                .doesNotContain("0:0:0:0");
    }

    /**
     * newuser3: with a registry of another trust domain the in-memory CA never issues its workloads'
     * SVIDs, and the proxy printed "ready" while /healthz/ready answered 500 (pending: identity). The
     * ready line now waits for readiness; after 5 s stderr says what is pending and where it listens.
     * The test waits for that line itself (bounded only against a hang): the 5 s are the proxy's, and a
     * 10 s wait raced them on a loaded CI machine. The order is asserted by events: the line, then
     * /healthz/ready's 500, and still no ready line.
     */
    @Test
    @org.junit.jupiter.api.DisplayName("the ready line waits for /healthz/ready; not ready after 5 s says what is pending")
    void theReadyLineWaitsForReadiness(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("workloads.yaml"),
                "trustDomain: example.org\nworkloads:\n  - {namespace: prod, name: backend, addresses: [127.0.0.1]}\n");
        java.util.concurrent.CompletableFuture<Integer> proxy = java.util.concurrent.CompletableFuture.supplyAsync(() -> Zerohop.run(
                "proxy", "--in-memory-ca", "--workloads", w.toString(), "--inbound", "127.0.0.1:0", "--metrics", "off",
                "--readiness", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--drain", "0s"));
        io.zerohop.testing.netty.Await.until("the not-ready line", Hang.BOUND, () -> std.err.toString().contains("not ready after 5 s") || proxy.isDone());
        String line = std.err.toString().lines().filter(l -> l.contains("not ready after 5 s")).findFirst()
                .orElseThrow(() -> new AssertionError("the proxy ended without the not-ready line; stderr: " + std.err));
        assertThat(line).startsWith("zerohop proxy: not ready after 5 s, pending: identity (/healthz/ready answers 500;");
        var ready = java.util.regex.Pattern.compile("readiness (127\\.0\\.0\\.1:\\d+)").matcher(line);
        var admin = java.util.regex.Pattern.compile("admin (127\\.0\\.0\\.1:\\d+);").matcher(line);
        assertThat(ready.find() && admin.find()).as(line).isTrue();
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        java.net.http.HttpResponse<String> r = http.send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://" + ready.group(1) + "/healthz/ready")).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(500);
        assertThat(r.body()).contains("pending: identity");
        assertThat(std.out.toString()).as("no ready line while /healthz/ready answers 500").doesNotContain("zerohop proxy ready");
        AdminQuit.quit(admin.group(1));
        assertThat(io.zerohop.testing.netty.Await.result(proxy, Hang.BOUND)).isZero();
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a usage error is one line naming the mistake and one hint, not the whole usage; exit 2")
    void aUsageErrorIsOneLineAndAHint() {
        assertThat(Zerohop.run("proxy", "--istio-ca", "istiod.istio-system.svc:15012")).isEqualTo(2);
        assertThat(std.err.toString().lines().toList()).containsExactly(
                "zerohop proxy: Missing required argument(s): --istio-ca-root=FILE, --token-file=FILE",
                "Run 'zerohop proxy --help' for usage.");
        std.err.reset();
        assertThat(Zerohop.run("policy", "check", "--policies", "p/", "--dest", "prod/web", "--souce=x")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: Unknown option: '--souce=x'")
                .contains("--source").endsWith("Run 'zerohop policy check --help' for usage." + System.lineSeparator())
                .doesNotContain("Usage:");
    }

    /**
     * A word that names no command is called an unknown command and the commands are listed. New-user pass:
     * {@code zerohop bogus} said "Unmatched argument at index 0: 'bogus'" (picocli's parser term) with no
     * list, and {@code zerohop polcy check} called both words unmatched arguments.
     */
    @Test
    @org.junit.jupiter.api.DisplayName("an unknown command is named as one, with the commands to choose from; exit 2")
    void anUnknownCommandIsNamedWithTheChoices() {
        String commands = "(commands: ca, policy, connect, proxy, demo, help)";
        assertThat(exitAndErr("bogus")).containsExactly("exit 2", "zerohop: unknown command 'bogus' " + commands,
                "Run 'zerohop --help' for usage.");
        assertThat(exitAndErr("polcy", "check")).containsExactly("exit 2", "zerohop: unknown command 'polcy' " + commands,
                "Did you mean: zerohop policy?", "Run 'zerohop --help' for usage.");
        assertThat(exitAndErr("policy", "chek")).containsExactly("exit 2", "zerohop policy: unknown command 'chek' (commands: check)",
                "Did you mean: policy check?", "Run 'zerohop policy --help' for usage.");
        // A word after a command that takes none is no command: picocli's message stands.
        assertThat(exitAndErr("demo", "extra")).startsWith("exit 2", "zerohop demo: Unmatched argument at index 1: 'extra'");
    }

    /** "exit N", then stderr's lines, of one in-process run. */
    private List<String> exitAndErr(String... args) {
        std.err.reset();
        int code = Zerohop.run(args);
        return java.util.stream.Stream.concat(java.util.stream.Stream.of("exit " + code), std.err.toString().lines()).toList();
    }

    /** Exit code, stdout and stderr of one run on a given model. */
    private static String transcript(picocli.CommandLine cli, String... args) {
        java.io.StringWriter o = new java.io.StringWriter();
        java.io.StringWriter e = new java.io.StringWriter();
        cli.setOut(new java.io.PrintWriter(o, true));
        cli.setErr(new java.io.PrintWriter(e, true));
        int code = Zerohop.run(cli, args);
        return "exit " + code + "\n--- out\n" + o + "--- err\n" + e;
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {
        "proxy --help", "proxy -h", "proxy --version", "proxy -V", "proxy --bogus", "proxy --inbund=127.0.0.1:0",
        "proxy --istio-ca istiod:15012", "proxy help",
        "ca", "ca --help", "ca init --help", "ca bogus", "ca isue", "ca init", "ca issue --ttl",
        "policy", "policy --help", "policy check --help", "policy check --souce=x", "policy chek",
        "connect", "connect --help", "connect --bogus", "demo --help", "demo --bogus=1"})
    @org.junit.jupiter.api.DisplayName("a subcommand built alone prints, refuses and suggests exactly as in the full model")
    void aSubcommandBuiltAloneBehavesAsInTheFullModel(String line) {
        String[] args = line.split(" ");
        picocli.CommandLine sparse = Zerohop.commandLine(args);
        assertThat(sparse.getSubcommands()).as("only the subcommand being run is built").containsOnlyKeys(args[0]);
        assertThat(transcript(sparse, args)).isEqualTo(transcript(new picocli.CommandLine(new Zerohop()), args));
    }

    /** {@code -V} is listed in every subcommand's usage; it printed nothing there (exit 0) until 4 December (a break-it pass). */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"proxy -V", "ca --version", "ca init -V", "ca issue -V", "policy -V",
        "policy check -V", "connect -V", "demo --version"})
    void everySubcommandPrintsTheVersion(String line) {
        String[] args = line.split(" ");
        assertThat(transcript(Zerohop.commandLine(args), args)).isEqualTo("exit 0\n--- out\n" + Zerohop.VERSION + "\n--- err\n");
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"", "--help", "-V", "help", "help proxy", "prxy", "bogus --help"})
    @org.junit.jupiter.api.DisplayName("no subcommand word: the full model, so the top usage lists every subcommand and typos get suggestions")
    void withoutASubcommandWordTheFullModelIsBuilt(String line) {
        String[] args = line.isEmpty() ? new String[0] : line.split(" ");
        assertThat(Zerohop.commandLine(args).getSubcommands()).containsKeys("ca", "policy", "connect", "proxy", "demo", "help");
    }

    static final String HTTP_ONLY_DENY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-admin, namespace: prod}
            spec:
              action: DENY
              rules:
              - to: [{operation: {paths: ["/admin"]}}]
            """;

    private static int count(String haystack, String needle) {
        int n = 0;
        for (int i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    @Test
    @org.junit.jupiter.api.DisplayName("policy check prints each load warning once (the loader's own log line is not repeated)")
    void policyCheckPrintsEachWarningOnce(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("p.yaml"), HTTP_ONLY_DENY);
        // Exit 3: a connection whose first bytes are not HTTP is denied on this auto port (PolicyCheckTest).
        assertThat(Zerohop.run("policy", "check", "--policies", dir.toString(), "--dest", "prod/web:8080")).isEqualTo(3);
        assertThat(count(std.err.toString(), "prod/deny-admin: spec.rules[0].to[0].operation.paths: HTTP attributes (paths): zerohop enforces them itself")).as(std.err.toString()).isEqualTo(1);
        assertThat(std.err.toString()).startsWith("note: " + dir.resolve("p.yaml") + ":7: AuthorizationPolicy prod/deny-admin: spec.rules[0].to[0].operation.paths");
        // The silenced logger is the one the loader logs on.
        assertThat(Class.forName(PolicyCommand.Check.LOADER_LOGGER).getSimpleName()).isEqualTo("Loader");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("proxy start with --workloads: an ALLOW policy selecting no workload is logged once, as policy check warns")
    void proxyWarnsOnceOfAnAllowPolicyThatSelectsNoWorkload(@TempDir Path dir) throws Exception {
        Path policies = Files.createDirectories(dir.resolve("policies"));
        // A mistyped label value: a valid policy that selects nothing, leaving prod/checkout open (new-user pass:
        // only policy check --workloads said so).
        Files.writeString(policies.resolve("p.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-frontend, namespace: prod}
                spec:
                  selector: {matchLabels: {app: checkuot}}
                  rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/frontend]}}]}]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-legacy, namespace: prdo}
                spec:
                  selector: {matchLabels: {app: checkout}}
                  action: DENY
                  rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/legacy]}}]}]
                ---
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: from-frontend, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {app: checkuot}}
                  ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]
                """);
        Path workloads = dir.resolve("w.yaml");
        Files.writeString(workloads, """
                workloads:
                  - {name: checkout, namespace: prod, serviceAccount: checkout, addresses: ["127.0.54.9"], labels: {app: checkout}}
                """);
        // Fails after the policies are loaded (the identity files are empty), so the start-up output is complete.
        for (String f : List.of("c.pem", "k.pem", "b.pem")) {
            Files.writeString(dir.resolve(f), "");
        }
        assertThat(Zerohop.run("proxy", "--policies", policies.toString(), "--workloads", workloads.toString(),
                "--cert", dir.resolve("c.pem").toString(), "--key", dir.resolve("k.pem").toString(),
                "--trust-bundle", dir.resolve("b.pem").toString(), "--inbound", "127.0.54.9:0", "--metrics", "off",
                "--readiness", "off", "--admin", "off")).isNotZero();
        assertThat(count(std.err.toString(), "AuthorizationPolicy prod/allow-frontend (ALLOW) selects no workload in " + workloads
                + " (its selector app=checkuot), so it allows nothing and the policy has no effect: a mistyped selector label"
                + " leaves the workload it was written for open (allowed by default) unless another ALLOW policy selects it")).as(std.err.toString()).isEqualTo(1);
        // Whatever the action or kind, as istioctl analyze's IST0127 (new-user pass: a DENY in a mistyped namespace
        // and a Cilium policy were silent).
        assertThat(count(std.err.toString(), "AuthorizationPolicy prdo/deny-legacy (DENY) selects no workload in " + workloads
                + " (its selector app=checkout), so it denies nothing: a mistyped metadata.namespace (prdo has no workload;"
                + " did you mean prod?) leaves the workload it was written for without the denial")).as(std.err.toString()).isEqualTo(1);
        assertThat(count(std.err.toString(), "CiliumNetworkPolicy prod/from-frontend selects no workload in " + workloads
                + " (its endpointSelector app=checkuot), so it applies to nothing")).as(std.err.toString()).isEqualTo(1);
    }

    @Test
    @org.junit.jupiter.api.DisplayName("proxy start: a policy directory is loaded once and each warning logged once")
    void proxyLogsEachWarningOnce(@TempDir Path dir) throws Exception {
        Path policies = Files.createDirectories(dir.resolve("policies"));
        Files.writeString(policies.resolve("p.yaml"), HTTP_ONLY_DENY);
        // Fails after the policies are loaded (the identity files are empty), so the start-up output is complete.
        for (String f : List.of("c.pem", "k.pem", "b.pem")) {
            Files.writeString(dir.resolve(f), "");
        }
        assertThat(Zerohop.run("proxy", "--policies", policies.toString(), "--cert", dir.resolve("c.pem").toString(),
                "--key", dir.resolve("k.pem").toString(), "--trust-bundle", dir.resolve("b.pem").toString(),
                "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "off", "--admin", "off")).isNotZero();
        assertThat(count(std.err.toString(), "prod/deny-admin: spec.rules[0].to[0].operation.paths: HTTP attributes (paths): zerohop enforces them itself")).as(std.err.toString()).isEqualTo(1);
    }

    /**
     * A mistyped --node (node-A for the registry's node-a) made a proxy that served none of its workloads (every
     * tunnel answered 400) and said "ready ... 1 workloads". Not an error: a node may have no workload yet.
     */
    @Test
    @org.junit.jupiter.api.DisplayName("proxy start: a --node no registry workload is on gets a warning naming the registry's nodes")
    void aNodeWithoutWorkloadsIsNamedInAWarning(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("workloads.yaml"), """
                nodes: [{name: node-a}, {name: node-b}]
                workloads:
                  - {namespace: prod, name: backend, addresses: [10.0.1.2], node: node-a}
                  - {namespace: prod, name: db, addresses: [10.0.1.3], node: node-b}
                """);
        // Fails after the registry is read (the identity files are empty), so the start-up output is complete.
        for (String f : List.of("c.pem", "k.pem", "b.pem")) {
            Files.writeString(dir.resolve(f), "");
        }
        String[] start = {"proxy", "--workloads", w.toString(), "--cert", dir.resolve("c.pem").toString(),
                "--key", dir.resolve("k.pem").toString(), "--trust-bundle", dir.resolve("b.pem").toString(),
                "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "off", "--admin", "off", "--node"};
        assertThat(Zerohop.run(concat(start, new String[] {"node-A"}))).isNotZero();
        assertThat(std.err.toString()).contains("zerohop proxy: warning: --node node-A: no workload of " + w
                + " is on this node (its workloads' nodes: node-a, node-b); tunnels to them will be refused (400)");
        std.err.reset();
        assertThat(Zerohop.run(concat(start, new String[] {"node-a"}))).isNotZero();
        assertThat(std.err.toString()).doesNotContain("warning: --node");
    }

    /**
     * A new-user pass (7 December) started {@code --node n1} with a --workloads file of no {@code node:} field and read
     * "(its workloads' nodes: )": an empty list, and no way out. It says what is missing and the two ways out.
     */
    @Test
    void aNodeWhenNoWorkloadNamesANodeSaysSo(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("workloads.yaml"), """
                workloads:
                  - {namespace: prod, name: backend, addresses: [10.0.1.2]}
                """);
        for (String f : List.of("c.pem", "k.pem", "b.pem")) {
            Files.writeString(dir.resolve(f), "");
        }
        assertThat(Zerohop.run("proxy", "--workloads", w.toString(), "--cert", dir.resolve("c.pem").toString(),
                "--key", dir.resolve("k.pem").toString(), "--trust-bundle", dir.resolve("b.pem").toString(),
                "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "off", "--admin", "off", "--node", "n1")).isNotZero();
        assertThat(std.err.toString()).contains("zerohop proxy: warning: --node n1: no workload of " + w + " is on this node (none"
                + " of its workloads has a node: field: give each the node: of the proxy that serves it, or leave --node out to serve"
                + " those whose address is on this host); tunnels to them will be refused (400)");
    }

    /**
     * A proxy with a CA presents each workload's own SVID, picked by the address dialled; a node {@code hboneAddress} makes
     * every tunnel to the node's workloads dial that one address. A new-user pass started such a proxy: ready, then every
     * tunnel failed ("no local identity serves that address"), and nothing said why at start. The advice to give the proxy
     * one identity fits only a node whose workloads share it: a second new-user pass (h406) followed it on a node of several
     * identities and got a proxy that never became ready ("identity ... not ready: no SVID for ...").
     */
    @Test
    @org.junit.jupiter.api.DisplayName("proxy start with a CA: a node hboneAddress that cannot serve the node's workloads is named")
    void aNodeHboneAddressAProxyWithACaCannotServeIsNamed(@TempDir Path dir) throws Exception {
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.resolve("ca").toString())).isZero();
        String nodes = "nodes: [{name: node-b, hboneAddress: \"127.0.93.40:15008\"}]\nworkloads:\n";
        String backend = "  - {namespace: prod, name: backend, addresses: [127.0.93.41], node: node-b}\n";
        String db = "  - {namespace: prod, name: db, serviceAccount: db, addresses: [127.0.93.42], node: node-b}\n";
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.93.40"))) {
            // Fails at the taken HBONE port, after the registry was read: the start-up warnings are all out.
            java.util.function.Function<String, String> start = text -> {
                try {
                    Path w = Files.writeString(dir.resolve("workloads.yaml"), text);
                    std.err.reset();
                    assertThat(Zerohop.run("proxy", "--ca", dir.resolve("ca").toString(), "--workloads", w.toString(), "--node", "node-b",
                            "--inbound", "127.0.93.40:" + taken.getLocalPort(), "--metrics", "off", "--readiness", "off", "--admin", "off")).isNotZero();
                    return std.err.toString();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            };
            String w = dir.resolve("workloads.yaml").toString();
            assertThat(start.apply(nodes + backend + db)).contains("zerohop proxy: warning: --workloads " + w + ": node node-b's"
                    + " hboneAddress 127.0.93.40:15008 is no workload's address, so every tunnel to the node's workloads fails there (none"
                    + " of their SVIDs is presented at it): with --ca this proxy presents each workload's own SVID, picked by the address"
                    + " dialled; leave hboneAddress out (tunnels then dial each workload's IP on 15008, as ztunnel's); one identity"
                    + " for the proxy (--cert/--key/--trust-bundle or --spire-socket) would not do: the node's workloads have 2"
                    + " (spiffe://cluster.local/ns/prod/sa/db, spiffe://cluster.local/ns/prod/sa/default), and a proxy with one SVID"
                    + " never gets the others' (it stays unready)");
            // One identity on the node, at no workload's address: that identity's SVID for the proxy does serve it.
            assertThat(start.apply(nodes + backend)).contains("node node-b's hboneAddress 127.0.93.40:15008 is no workload's"
                    + " address, so every tunnel to the node's workloads fails there (none of their SVIDs is presented at it): with --ca"
                    + " this proxy presents each workload's own SVID, picked by the address dialled; leave hboneAddress out (tunnels then"
                    + " dial each workload's IP on 15008, as ztunnel's) or give the proxy the one identity of the node's workloads,"
                    + " spiffe://cluster.local/ns/prod/sa/default (--cert/--key/--trust-bundle or --spire-socket)");
            // At one workload's address, with two identities on the node: the other's tunnels are refused.
            assertThat(start.apply(nodes.replace("127.0.93.40:15008", "127.0.93.41:15008") + backend + db))
                    .contains("node node-b's hboneAddress 127.0.93.41:15008 is prod/backend's address, so tunnels to the node's workloads"
                            + " of other identities are refused (400)");
            // At the address of the node's one identity, or no hboneAddress: nothing to say.
            assertThat(start.apply(nodes.replace("127.0.93.40:15008", "127.0.93.41:15008") + backend)).doesNotContain("hboneAddress");
            assertThat(start.apply("nodes: [{name: node-b}]\nworkloads:\n" + backend + db)).doesNotContain("hboneAddress");
        }
    }

    /**
     * A {@code zerohop proxy} start with {@code workloads} and {@code extra} that fails after the registry is read
     * (its identity files are empty), so the start-up warnings are all out when it returns; every listener off.
     */
    private static String[] startWithoutIdentity(Path dir, Path workloads, String... extra) throws Exception {
        for (String f : List.of("c.pem", "k.pem", "b.pem")) {
            Files.writeString(dir.resolve(f), "");
        }
        return concat(new String[] {"proxy", "--workloads", workloads.toString(), "--cert", dir.resolve("c.pem").toString(),
                "--key", dir.resolve("k.pem").toString(), "--trust-bundle", dir.resolve("b.pem").toString(),
                "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off"}, extra);
    }

    /**
     * A --forward whose target is no registry workload refuses every connection (no identity to verify), one INFO
     * line each, while the ready line lists it (new-user pass). A --workloads file is read once, so with one that can
     * never change: refused before anything starts (exit 2); --passthrough-unknown is the documented way to relay it.
     * Without --workloads it stays a warning (ForwardCheckTest).
     */
    @Test
    @org.junit.jupiter.api.DisplayName("proxy start: a --forward to an address no workload of the --workloads file has is refused")
    void aForwardToAnUnknownTargetIsRefused(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("workloads.yaml"), "workloads:\n  - {namespace: prod, name: backend, addresses: [10.0.1.2]}\n");
        String[] start = startWithoutIdentity(dir, w, "--forward", "127.0.0.1:0=10.0.1.9:80", "--forward", "127.0.0.1:0=10.0.1.2:8080");
        assertThat(Zerohop.run(start)).isEqualTo(2);
        assertThat(std.err.toString()).contains("zerohop proxy: --forward 127.0.0.1:0=10.0.1.9:80: 10.0.1.9 is no workload or service address of " + w
                + ", which is read once at start, so every connection to it would be refused (add the workload to " + w
                + ", or give --passthrough-unknown to relay it as plain TCP)")
                .doesNotContain("10.0.1.2 is no workload");
        std.err.reset();
        assertThat(Zerohop.run(concat(start, new String[] {"--passthrough-unknown"}))).isNotZero().isNotEqualTo(2);
        assertThat(std.err.toString()).doesNotContain("--forward 127.0.0.1:0=10.0.1.9:80");
    }

    /**
     * A --forward to a Service VIP of the --workloads file is a known destination (the proxy picks an endpoint per
     * connection); at a port the Service lacks every connection would be refused (ztunnel's NoHealthyUpstream), even with
     * --passthrough-unknown, which never relays a VIP: refused at start, naming the Service and its ports.
     */
    @Test
    @org.junit.jupiter.api.DisplayName("proxy start: a --forward to a Service VIP is known; at a port the Service lacks it is refused")
    void aForwardToAServiceVip(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("workloads.yaml"), """
                workloads:
                  - {namespace: prod, name: backend, addresses: [10.0.1.2], labels: {app: backend}}
                services:
                  - {namespace: prod, name: backend, addresses: [10.96.0.20], ports: {80: 8080}, selector: {app: backend}}
                """);
        String[] known = startWithoutIdentity(dir, w, "--forward", "127.0.0.1:0=10.96.0.20:80");
        assertThat(Zerohop.run(known)).isNotEqualTo(2);
        assertThat(std.err.toString()).doesNotContain("--forward 127.0.0.1:0=10.96.0.20:80");
        std.err.reset();
        String[] wrongPort = startWithoutIdentity(dir, w, "--forward", "127.0.0.1:0=10.96.0.20:81");
        assertThat(Zerohop.run(concat(wrongPort, new String[] {"--passthrough-unknown"}))).isEqualTo(2);
        assertThat(std.err.toString()).contains("zerohop proxy: --forward 127.0.0.1:0=10.96.0.20:81: 10.96.0.20 is the address of"
                + " service prod/backend of " + w + ", which has no port 81 (its ports: 80), so every connection to it would be refused");
        // A Service no endpoint of which can take the port: a warning at start (a new-user pass: it started silently).
        Path empty = Files.writeString(dir.resolve("empty.yaml"), """
                workloads:
                  - {namespace: prod, name: backend, addresses: [10.0.1.2], labels: {app: backend}}
                services:
                  - {namespace: prod, name: none, addresses: [10.96.0.21], ports: {80: 8080}, selector: {app: nothing}}
                  - {namespace: prod, name: grpc, addresses: [10.96.0.22], ports: {80: grpc}, selector: {app: backend}}
                """);
        std.err.reset();
        assertThat(Zerohop.run(startWithoutIdentity(dir, empty, "--forward", "127.0.0.1:0=10.96.0.21:80,127.0.0.1:0=10.96.0.22:80")))
                .isNotEqualTo(2);
        assertThat(std.err.toString()).contains("warning: --forward 127.0.0.1:0=10.96.0.21:80: service prod/none of " + empty
                + " has no endpoint that can take port 80 (it selects no healthy workload); every connection to it will be refused")
                .contains("warning: --forward 127.0.0.1:0=10.96.0.22:80: service prod/grpc of " + empty
                + " has no endpoint that can take port 80 (no endpoint has a container port named \"grpc\")");
    }

    /**
     * A registry of another trust domain than the proxy's: its workloads get no SVID, the proxy printed "ready"
     * while readiness said "pending: identity", and each tunnel was reset with a stack trace (new-user pass).
     */
    @Test
    @org.junit.jupiter.api.DisplayName("proxy start: a --workloads trustDomain other than --trust-domain gets a warning naming both")
    void aRegistryOfAnotherTrustDomainIsAWarning(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("workloads.yaml"),
                "trustDomain: example.org\nworkloads:\n  - {namespace: prod, name: backend, addresses: [10.0.1.2]}\n");
        Path ca = dir.resolve("ca");
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", ca.toString())).isZero();
        // Each start fails after the identity source is built: --metrics on a port a ServerSocket holds.
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            String[] start = {"proxy", "--workloads", w.toString(), "--inbound", "off", "--metrics", "127.0.0.1:" + taken.getLocalPort(),
                    "--readiness", "off", "--admin", "off"};
            assertThat(Zerohop.run(concat(start, new String[] {"--in-memory-ca"}))).isNotZero();
            assertThat(std.err.toString()).contains("zerohop proxy: warning: --workloads " + w + ": trustDomain example.org, but --trust-domain is "
                    + "cluster.local: its workloads' identities are not of the mesh's trust domain");
            std.err.reset();
            assertThat(Zerohop.run(concat(start, new String[] {"--in-memory-ca", "--trust-domain", "example.org"}))).isNotZero();
            assertThat(std.err.toString()).doesNotContain("warning: --workloads");
            std.err.reset();
            // A CA directory has its own trust domain, which --trust-domain does not change (new-user pass: --ca of
            // cluster.local, registry cluster.local, --trust-domain other.local said "no SVID can be issued" while
            // every tunnel worked; and a registry of another domain than the CA's got no warning).
            assertThat(Zerohop.run(concat(start, new String[] {"--ca", ca.toString(), "--trust-domain", "example.org"}))).isNotZero();
            assertThat(std.err.toString()).contains("zerohop proxy: warning: --workloads " + w + ": trustDomain example.org, but the CA of --ca "
                    + ca + " is of cluster.local: no SVID is issued or accepted for its workloads").doesNotContain("--trust-domain is");
            std.err.reset();
            Path same = Files.writeString(dir.resolve("same.yaml"), "workloads:\n  - {namespace: prod, name: backend, addresses: [10.0.1.2]}\n");
            start[2] = same.toString();
            assertThat(Zerohop.run(concat(start, new String[] {"--ca", ca.toString(), "--trust-domain", "other.local"}))).isNotZero();
            assertThat(std.err.toString()).doesNotContain("warning: --workloads");
        }
    }

    /** An empty (or wrongly mounted) --policies directory allows everything: said at start, as policy check says it. */
    @Test
    @org.junit.jupiter.api.DisplayName("proxy start: a --policies that loads no policy gets a warning saying everything is allowed")
    void anEmptyPolicyDirectoryIsAWarning(@TempDir Path dir) throws Exception {
        Path policies = Files.createDirectories(dir.resolve("policies"));
        for (String f : List.of("c.pem", "k.pem", "b.pem")) {
            Files.writeString(dir.resolve(f), "");
        }
        String[] start = {"proxy", "--policies", policies.toString(), "--cert", dir.resolve("c.pem").toString(),
                "--key", dir.resolve("k.pem").toString(), "--trust-bundle", dir.resolve("b.pem").toString(),
                "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "off", "--admin", "off"};
        assertThat(Zerohop.run(start)).isNotZero();
        // Said once, by the loader (PolicyLoader.fromDirectory): the proxy's own line would repeat it.
        assertThat(std.err.toString()).contains(policies + ": no policy loaded from it: it holds no *.yaml, *.yml or *.json file;"
                + " every authenticated peer is allowed until one holds a policy").doesNotContain("zerohop proxy: warning: --policies");
        std.err.reset();
        Files.writeString(policies.resolve("p.yaml"), HTTP_ONLY_DENY);
        assertThat(Zerohop.run(start)).isNotZero();
        assertThat(std.err.toString()).doesNotContain("no policy loaded");
    }

    @Test
    void caInitThenIssueWritesAVerifiableSvid(@TempDir Path dir) throws Exception {
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.resolve("ca").toString())).isZero();
        assertThat(Zerohop.run("ca", "issue", "--ca", dir.resolve("ca").toString(), "--id", "spiffe://cluster.local/ns/prod/sa/web",
                "--out", dir.resolve("web").toString(), "--ttl", "2h")).isZero();
        List<X509Certificate> chain = Pem.parseCertificates(Pem.read(dir.resolve("web/cert.pem")));
        List<X509Certificate> roots = Pem.parseCertificates(Pem.read(dir.resolve("web/bundle.pem")));
        X509BundleSet bundles = X509BundleSet.of(List.of(new X509Bundle(TrustDomain.parse("cluster.local"), new HashSet<>(roots))));
        assertThat(SvidVerifier.verify(chain.toArray(new X509Certificate[0]), bundles).toString())
                .isEqualTo("spiffe://cluster.local/ns/prod/sa/web");
        assertThat(Duration.between(chain.get(0).getNotBefore().toInstant(), chain.get(0).getNotAfter().toInstant()))
                .isLessThanOrEqualTo(Duration.ofHours(2).plusMinutes(2)); // back-dated 2 min, as istiod (InMemoryCa.BACKDATE)
        assertThat(Pem.parsePrivateKey(Pem.read(dir.resolve("web/key.pem"))).getAlgorithm()).isEqualTo("EC");
        assertThat(InMemoryCa.load(dir.resolve("ca"), Duration.ofHours(1)).trustDomain().getName()).isEqualTo("cluster.local");
    }

    @Test
    void caRefusesToOverwriteAndExplainsBadInput(@TempDir Path dir) {
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.toString())).isZero();
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.toString())).isEqualTo(1);
        assertThat(std.err.toString()).contains("exists; pass --force");
        assertThat(Zerohop.run("ca", "issue", "--ca", dir.toString(), "--id", "spiffe://Bad/x", "--out", dir.resolve("x").toString()))
                .as("a malformed --id is a usage error").isEqualTo(2);
        assertThat(std.err.toString()).contains("invalid SPIFFE ID \"spiffe://Bad/x\"");
        assertThat(Zerohop.run("ca", "issue", "--ca", dir.toString(), "--id", "spiffe://cluster.local/a", "--out", dir.resolve("x").toString(),
                "--ttl", "soon")).as("a malformed option value is a usage error").isEqualTo(2);
        assertThat(std.err.toString()).contains("bad duration \"soon\"");
        assertThat(Zerohop.run("ca", "init", "--out", dir.toString())).isEqualTo(2);
        assertThat(std.err.toString()).contains("Missing required option: '--trust-domain");
    }

    @Test
    void policyCheckExplainsAllowAndDenyInOneLine() throws Exception {
        int allow = Zerohop.run("policy", "check", "--policies", policies().toString(),
                "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend:8080");
        assertThat(allow).isZero();
        assertThat(std.out.toString().strip()).startsWith("ALLOW by prod/backend-allow-frontend").doesNotContain("\n");
        std.out.reset();
        int deny = Zerohop.run("policy", "check", "--policies", policies().toString(),
                "--source", "spiffe://cluster.local/ns/legacy/sa/old", "--dest", "prod/backend:8080");
        assertThat(deny).isEqualTo(3);
        assertThat(std.out.toString().strip()).startsWith("DENY");
    }

    @Test
    void policyCheckRejectsMalformedDest() throws Exception {
        assertThat(Zerohop.run("policy", "check", "--policies", policies().toString(), "--dest", "backend")).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop policy check: --dest: must be NS/WORKLOAD[:PORT]");
    }

    // The demo's tests are in DemoCommandTest.

    @Test
    void connectCopiesStdinThroughOneTunnelAndReportsRefusals(@TempDir Path dir) throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        ca.save(dir.resolve("ca"));
        assertThat(Zerohop.run("ca", "issue", "--ca", dir.resolve("ca").toString(), "--id", "spiffe://cluster.local/ns/prod/sa/cli",
                "--out", dir.resolve("cli").toString())).isZero();
        var serverId = io.zerohop.identity.SpiffeIds.istio("cluster.local", "prod", "echo");
        try (var tls = io.zerohop.identity.MeshTls.builder(ca).build();
             var accept = new io.zerohop.hbone.HboneServerSocket();
             var server = io.zerohop.hbone.HboneServer.builder().tls(tls).bind(new java.net.InetSocketAddress("127.0.0.1", 0))
                     .identity(serverId)
                     .destinations((dst, id, local) -> dst.getPort() == 7 ? io.zerohop.hbone.Destination.embedded(accept) : null)
                     .authorizer(r -> r.peer().getPath().endsWith("/sa/cli") ? io.zerohop.hbone.AuthzDecision.allow()
                             : io.zerohop.hbone.AuthzDecision.deny("not the cli"))
                     .threads(1).build().start().get(Hang.BOUND.toSeconds(), java.util.concurrent.TimeUnit.SECONDS)) {
            Thread echo = new Thread(() -> {
                try (var s = accept.accept()) {
                    s.getInputStream().transferTo(s.getOutputStream());
                    s.shutdownOutput();
                } catch (java.io.IOException ignored) {
                    // the assertion on stdout reports it
                }
            });
            echo.start();
            String via = "127.0.0.1:" + server.localAddress().getPort();
            String[] common = {"--via", via, "--cert", dir.resolve("cli/cert.pem").toString(), "--key", dir.resolve("cli/key.pem").toString(),
                    "--trust-bundle", dir.resolve("cli/bundle.pem").toString()};
            java.io.InputStream oldIn = System.in;
            std.out.reset();
            try {
                System.setIn(new java.io.ByteArrayInputStream("hello through hbone\n".getBytes()));
                int rc = Zerohop.run(concat(new String[] {"connect", "--target", "10.1.2.3:7", "--expect", serverId.toString()}, common));
                assertThat(rc).as(std.err.toString()).isZero();
                assertThat(std.out.toString()).isEqualTo("hello through hbone\n");

                System.setIn(new java.io.ByteArrayInputStream(new byte[0]));
                int refused = Zerohop.run(concat(new String[] {"connect", "--target", "10.1.2.3:8", "--expect", serverId.toString()}, common));
                assertThat(refused).isEqualTo(3);
                assertThat(std.err.toString()).contains("HTTP 400");

                int wrongId = Zerohop.run(concat(new String[] {"connect", "--target", "10.1.2.3:7", "--expect",
                        "spiffe://cluster.local/ns/prod/sa/other"}, common));
                assertThat(wrongId).isEqualTo(4);
                assertThat(std.err.toString()).contains("TLS to " + via + " failed").contains("is not the expected spiffe://cluster.local/ns/prod/sa/other");
            } finally {
                System.setIn(oldIn);
            }
            echo.join(10_000);
        }
    }

    /**
     * connect's 400 line points to the line a real zerohop proxy prints for it. New-user pass: it named
     * "HBONE CONNECT refused", which a proxy with its access log on (the default) may print at DEBUG only;
     * the access line carries the reason. The proxy runs in its own JVM on this engineer's loopback address.
     */
    @Test
    @org.junit.jupiter.api.Timeout(180)
    void connectsRefusalNamesTheLineTheProxyPrints(@TempDir Path dir) throws Exception {
        String ca = dir.resolve("ca").toString();
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", ca)).isZero();
        for (String sa : List.of("backend", "web")) {
            assertThat(Zerohop.run("ca", "issue", "--ca", ca, "--id", "spiffe://cluster.local/ns/prod/sa/" + sa, "--out",
                    dir.resolve(sa).toString())).isZero();
        }
        Path workloads = Files.writeString(dir.resolve("w.yaml"), """
                workloads:
                  - {name: backend, namespace: prod, serviceAccount: backend, addresses: ["127.0.54.12"], labels: {app: backend}}
                """);
        Path policies = Files.createDirectories(dir.resolve("policies"));
        String b = dir.resolve("backend").toString();
        try (RetryLogTest.Proc p = RetryLogTest.Proc.start(List.of("proxy", "--policies", policies.toString(), "--workloads",
                workloads.toString(), "--cert", b + "/cert.pem", "--key", b + "/key.pem", "--trust-bundle", b + "/bundle.pem",
                "--inbound", "127.0.54.12:15008", "--metrics", "off", "--readiness", "off", "--admin", "off"), List.of())) {
            p.await(err -> err.stream().anyMatch(l -> l.contains("HBONE listener on 127.0.54.12:15008")), "the listener");
            String w = dir.resolve("web").toString();
            java.io.InputStream oldIn = System.in;
            try {
                System.setIn(new java.io.ByteArrayInputStream(new byte[0]));
                std.err.reset();
                assertThat(Zerohop.run("connect", "--via", "127.0.54.12:15008", "--target", "127.0.54.13:8080", "--expect",
                        "spiffe://cluster.local/ns/prod/sa/backend", "--cert", w + "/cert.pem", "--key", w + "/key.pem",
                        "--trust-bundle", w + "/bundle.pem")).isEqualTo(3);
            } finally {
                System.setIn(oldIn);
            }
            String said = std.err.toString();
            Matcher quoted = Pattern.compile("its access line \"([^\"]*)\"").matcher(said);
            assertThat(quoted.find()).as(said).isTrue();
            p.await(err -> err.stream().anyMatch(l -> l.contains(" status=400 ")), "the refusal's access line");
            String[] parts = quoted.group(1).split(Pattern.quote(" ... "));
            assertThat(p.err()).as("the proxy's stderr holds the line connect names: %s", said).anyMatch(l -> {
                int at = l.indexOf(" INFO access - ");
                for (String part : parts) {
                    at = at < 0 ? -1 : l.indexOf(part.replace("reason=...", "reason=\""), at);
                }
                return at >= 0;
            });
            assertThat(p.stop()).isZero();
        }
    }

    static String[] concat(String[] a, String[] b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void everyCommandHasHelp() {
        for (String[] cmd : new String[][] {{"--help"}, {"ca", "--help"}, {"ca", "init", "--help"}, {"ca", "issue", "--help"},
                {"policy", "check", "--help"}, {"connect", "--help"}, {"proxy", "--help"}, {"demo", "--help"}}) {
            std.out.reset();
            assertThat(Zerohop.run(cmd)).as(String.join(" ", cmd)).isZero();
            assertThat(std.out.toString()).contains("Usage:");
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"", "ca", "ca init", "ca issue", "policy", "policy check", "connect",
        "proxy", "demo"})
    @org.junit.jupiter.api.DisplayName("every usage fits 80 columns without an address cut after its colon")
    void everyUsageFits80Columns(String command) {
        picocli.CommandLine cli = new picocli.CommandLine(new Zerohop());
        for (String word : command.isEmpty() ? new String[0] : command.split(" ")) {
            cli = cli.getSubcommands().get(word);
        }
        cli.setUsageHelpAutoWidth(false);
        cli.setUsageHelpWidth(80);
        List<String> lines = cli.getUsageMessage(picocli.CommandLine.Help.Ansi.OFF).lines().toList();
        for (int i = 0; i < lines.size(); i++) {
            assertThat(lines.get(i).length()).as("line %d: %s", i + 1, lines.get(i)).isLessThanOrEqualTo(80);
            // picocli's line breaking may split "0.0.0.0:" from "15020": such an address must not sit where a line
            // wraps. A heading word ("Exit codes:") may end a line.
            if (i + 1 < lines.size() && lines.get(i).endsWith(":") && !lines.get(i).matches(".*(^| )[A-Za-z]+:")) {
                assertThat(lines.get(i + 1).strip()).as("line %d after \"%s\"", i + 2, lines.get(i)).doesNotMatch("^[0-9].*");
            }
        }
        if (command.equals("proxy")) {
            // The synopsis names what is required instead of listing all 25 options over 17 lines.
            assertThat(lines.subList(0, 4)).allMatch(l -> !l.contains("--admin")).first().asString()
                    .isEqualTo("Usage: zerohop proxy [OPTIONS] IDENTITY-SOURCE");
            assertThat(lines).contains("  2  usage: an option on the command line or in the --config file (the");
        }
    }

    /**
     * The decision the help states (new-user pass: a --workloads error exited 1 while the help's exit 2 named "the
     * config file's line", read as any file's): an input file's content is exit 1, for the proxy and policy check
     * alike (--workloads, --policies; the file is wrong, not the command line); the --config file is the command
     * line in a file, so its content is a usage error, exit 2, as a path option that names nothing readable.
     */
    @Test
    void anInputFileExits1AndTheConfigFile2AsTheHelpSays(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("w.yaml"), "workload: []\n");
        Path p = Files.writeString(dir.resolve("p.yaml"), "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                + "metadata: {name: x, namespace: prod}\nspec: {actoin: DENY}\n");
        Path c = Files.writeString(dir.resolve("c.yaml"), "inbund: 127.0.64.9:0\n");
        assertThat(proxy("--workloads", w.toString(), "--inbound", "off")).startsWith("exit 1: zerohop proxy: " + w + ":1: workload: ");
        assertThat(proxy("--policies", p.toString(), "--inbound", "off")).startsWith("exit 1: zerohop proxy: " + p + ":4: spec.actoin: ");
        assertThat(Zerohop.run("policy", "check", "--policies", p.toString(), "--dest", "prod/web")).isEqualTo(1);
        std.err.reset();
        assertThat(Zerohop.run("policy", "check", "--policies", Files.createDirectory(dir.resolve("none")).toString(),
                "--workloads", w.toString(), "--dest", "prod/web")).isEqualTo(1);
        assertThat(std.err.toString()).startsWith("zerohop policy check: " + w + ":1: workload: ");
        assertThat(proxy("--config", c.toString())).startsWith("exit 2: zerohop proxy: " + c + ":1: inbund: ");
        assertThat(proxy("--workloads", dir.resolve("none.yaml").toString())).startsWith("exit 2: zerohop proxy: --workloads: ");
        std.out.reset();
        assertThat(Zerohop.run("proxy", "--help")).isZero();
        assertThat(std.out.toString().replaceAll("\\s+", " "))
                .contains("1 failure, including an input file's content: a --workloads or --policies file that does not load"
                        + " (the message names file:line: field); a listener that cannot bind")
                .contains("2 usage: an option on the command line or in the --config file (the message names the flag, or"
                        + " file:line: key), or a path option that names no readable file or directory");
        std.out.reset();
        assertThat(Zerohop.run("policy", "check", "--help")).isZero();
        assertThat(std.out.toString().replaceAll("\\s+", " ")).contains("1 = a --policies or --workloads file that does not load"
                + " (the message names file:line: field), as the proxy exits");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("zerohop --help lists each command with a whole sentence, not a line cut at a comma")
    void topLevelHelpShowsWholeSentences() {
        assertThat(Zerohop.run("--help")).isZero();
        assertThat(std.out.toString().lines().filter(l -> l.startsWith("  proxy")).findFirst().orElseThrow()).doesNotEndWith(",");
        std.out.reset();
        assertThat(Zerohop.run("policy", "check", "--help")).isZero();
        assertThat(std.out.toString().replaceAll("\\s+", " ")).contains("--label=KEY=VALUE").contains("1 = a --policies or --workloads file");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a malformed policy file: the full command name, then file:line: field: reason; exit 1")
    void aBadPolicyFileIsNamedWithLineAndField(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("bad.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: x, namespace: prod}
                spec:
                  action: DENY
                  rules:
                  - to: [{operation: {ports: [8080]}}]
                """);
        assertThat(Zerohop.run("policy", "check", "--policies", f.toString(), "--dest", "prod/web")).isEqualTo(1);
        assertThat(std.err.toString()).isEqualTo("zerohop policy check: " + f + ":7: spec.rules[0].to[0].operation.ports[0]: "
                + "expected a string, found integer 8080 (quote it)" + System.lineSeparator());
    }
}
