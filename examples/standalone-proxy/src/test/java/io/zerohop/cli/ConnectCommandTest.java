package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.IssuedCertificate;
import io.zerohop.identity.LeafSpec;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SpiffeIds;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code zerohop connect} run as a user runs it: a child JVM with real stdin, stdout and stderr,
 * against a real HBONE server over mTLS (certificates from the in-memory CA, written as PEM files).
 */
@Timeout(120)
class ConnectCommandTest {
    static final SpiffeId SERVER = SpiffeIds.istio("cluster.local", "prod", "echo");
    static final SpiffeId CLI = SpiffeIds.istio("cluster.local", "prod", "cli");

    @TempDir
    static Path dir;
    static InMemoryCa ca;
    static MeshTls tls;
    static HboneServerSocket accept;
    static HboneServer server;
    static Thread echo;

    @BeforeAll
    static void start() throws Exception {
        ca = InMemoryCa.create("cluster.local");
        tls = MeshTls.builder(ca).build();
        accept = new HboneServerSocket();
        server = HboneServer.builder().tls(tls).bind(new InetSocketAddress("127.0.0.1", 0)).identity(SERVER)
                .destinations((dst, id, local) -> dst.getPort() == 7 ? Destination.embedded(accept)
                        // Port 9: accepted (200), then reset by the far side before any data.
                        : dst.getPort() == 9 ? Destination.embedded((ch, info) -> HboneStream.reset(ch)) : null)
                .authorizer(r -> AuthzDecision.allow()).threads(1).build().start().get(Hang.BOUND.toSeconds(), TimeUnit.SECONDS);
        echo = new Thread(() -> {
            while (true) {
                try (var s = accept.accept()) {
                    s.getInputStream().transferTo(s.getOutputStream());
                    s.shutdownOutput();
                } catch (java.io.IOException e) {
                    return;
                }
            }
        }, "echo");
        echo.setDaemon(true);
        echo.start();
        Instant now = Instant.now();
        write("good", ca.issue(LeafSpec.svid(CLI.toString(), now.minusSeconds(60), now.plus(Duration.ofHours(1)))), List.of(ca.root()));
        // Same trust domain, another CA the client also trusts: the client's own SVID is valid to
        // itself and it accepts the server, but the server refuses the client's certificate.
        InMemoryCa rogue = InMemoryCa.create("cluster.local");
        write("rogue", rogue.issue(LeafSpec.svid(CLI.toString(), now.minusSeconds(60), now.plus(Duration.ofHours(1)))),
                List.of(ca.root(), rogue.root()));
        // Files that are no identity for their own bundle: the client refuses itself before it dials.
        write("unchained", rogue.issue(LeafSpec.svid(CLI.toString(), now.minusSeconds(60), now.plus(Duration.ofHours(1)))),
                List.of(ca.root()));
        write("expired", ca.issue(LeafSpec.svid(CLI.toString(), now.minus(Duration.ofHours(2)), now.minus(Duration.ofHours(1)))),
                List.of(ca.root()));
        write("otherkey", ca.issue(LeafSpec.svid(CLI.toString(), now.minusSeconds(60), now.plus(Duration.ofHours(1)))), List.of(ca.root()));
        Files.copy(dir.resolve("expired/key.pem"), dir.resolve("otherkey/key.pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        // A client of another CA that trusts only that CA: the server's certificate does not chain for it.
        write("stranger", rogue.issue(LeafSpec.svid(CLI.toString(), now.minusSeconds(60), now.plus(Duration.ofHours(1)))),
                List.of(rogue.root()));
    }

    static void write(String name, IssuedCertificate cert, List<java.security.cert.X509Certificate> roots) throws Exception {
        Path d = Files.createDirectories(dir.resolve(name));
        Files.writeString(d.resolve("cert.pem"), cert.chainPem());
        Files.writeString(d.resolve("key.pem"), cert.keyPem());
        Files.writeString(d.resolve("bundle.pem"), Pem.certificates(roots));
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
        accept.close();
        tls.close();
        ca.close();
    }

    record Run(int exit, String stdout, String stderr) {}

    static Run connect(String certs, String stdin, String... extra) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Zerohop.class.getName(), "connect",
                "--cert", dir.resolve(certs + "/cert.pem").toString(), "--key", dir.resolve(certs + "/key.pem").toString(),
                "--trust-bundle", dir.resolve(certs + "/bundle.pem").toString()));
        cmd.addAll(List.of(extra));
        if (!cmd.contains("--via")) {
            cmd.addAll(List.of("--via", "127.0.0.1:" + server.localAddress().getPort()));
        }
        if (!cmd.contains("--target")) {
            cmd.addAll(List.of("--target", "10.1.2.3:7"));
        }
        if (!cmd.contains("--expect")) {
            cmd.addAll(List.of("--expect", SERVER.toString()));
        }
        Path out = Files.createTempFile(dir, "out", ".txt");
        Path err = Files.createTempFile(dir, "err", ".txt");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        try (OutputStream in = p.getOutputStream()) {
            in.write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("zerohop connect ends").isTrue();
        return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    @Test
    void printsNothingButDataUnlessVerbose() throws Exception {
        Run quiet = connect("good", "hello through hbone\n");
        assertThat(quiet.exit()).as(quiet.stderr()).isZero();
        assertThat(quiet.stdout()).isEqualTo("hello through hbone\n");
        assertThat(quiet.stderr()).isEmpty();

        Run verbose = connect("good", "again\n", "-v");
        assertThat(verbose.exit()).as(verbose.stderr()).isZero();
        assertThat(verbose.stdout()).isEqualTo("again\n");
        assertThat(verbose.stderr()).as("-v shows what the quiet run hid").contains(" INFO ");
    }

    @Test
    void clientCertificateRefusedByTheServerExits4() throws Exception {
        Run r = connect("rogue", "never delivered\n");
        assertThat(r.exit()).as(r.stderr()).isEqualTo(4);
        assertThat(r.stdout()).isEmpty();
        assertThat(r.stderr().lines().toList()).hasSize(1);
        assertThat(r.stderr()).startsWith("zerohop connect: TLS to 127.0.0.1:");
    }

    /**
     * The CLI's exit-code table: 4 for "TLS or identity failure". Files that are not an X.509-SVID
     * for their own trust bundle are refused by the client itself before it dials (they exited 1,
     * as an unexpected error); the line names the file and the reason.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"unchained", "expired", "otherkey"})
    void ownFilesThatAreNoValidSvidExit4(String certs) throws Exception {
        Run r = connect(certs, "never delivered\n");
        assertThat(r.exit()).as(r.stderr()).isEqualTo(4);
        assertThat(r.stdout()).isEmpty();
        assertThat(r.stderr().lines().toList()).singleElement().asString()
                .startsWith("zerohop connect: no usable identity in the PEM files: ")
                .contains(dir.resolve(certs).toString());
    }

    /**
     * The client refuses the server's certificate, which does not chain to the client's bundle (another
     * identity than --expect: CliTest.connectCopiesStdinThroughOneTunnelAndReportsRefusals).
     */
    @Test
    void aServerCertificateOutsideTheClientsBundleExits4() throws Exception {
        Run r = connect("stranger", "never delivered\n");
        assertThat(r.exit()).as(r.stderr()).isEqualTo(4);
        assertThat(r.stdout()).isEmpty();
        assertThat(r.stderr().lines().toList()).singleElement().asString().startsWith("zerohop connect: TLS to 127.0.0.1:");
    }

    @Test
    void aClosedPortIsOneLineSayingWhatTheKernelSaidOnce() throws Exception {
        int closed;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        Run r = connect("good", "", "--via", "127.0.0.1:" + closed);
        assertThat(r.exit()).as(r.stderr()).isEqualTo(1);
        assertThat(r.stderr().lines().toList()).containsExactly(
                "zerohop connect: HBONE connection to 127.0.0.1:" + closed + " failed: Connection refused");
    }

    /** A port that accepts and closes at once: hbone's message named the connection, and so did the CLI's prefix. */
    @Test
    void aPortThatClosesAtOnceIsNamedOnce() throws Exception {
        try (java.net.ServerSocket closing = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Thread answer = new Thread(() -> {
                try (java.net.Socket s = closing.accept()) {
                    // A FIN before any byte: hbone reads it as "closed during setup". The ClientHello is then drained, so
                    // the close never finds unread data (which would make it a reset instead of the FIN).
                    s.shutdownOutput();
                    s.getInputStream().transferTo(java.io.OutputStream.nullOutputStream());
                } catch (java.io.IOException ignored) {
                    // the client's line is the assertion
                }
            });
            answer.start();
            Run r = connect("good", "", "--via", "127.0.0.1:" + closing.getLocalPort());
            assertThat(r.exit()).as(r.stderr()).isNotZero();
            String line = r.stderr().lines().collect(java.util.stream.Collectors.joining("\n"));
            assertThat(line).startsWith("zerohop connect: ").doesNotContain("\n").contains("127.0.0.1:" + closing.getLocalPort());
            assertThat(line.split("127\\.0\\.0\\.1:" + closing.getLocalPort(), -1)).as(line).hasSize(2);
            // And what it may mean, as for a plaintext or silent port (new-user pass: "closed during setup" alone).
            assertThat(line).isEqualTo("zerohop connect: HBONE connection to 127.0.0.1:" + closing.getLocalPort() + " failed: closed "
                    + "during setup (it closed the connection before the TLS handshake completed: is it an HBONE port, 15008? If so, its log says why; a proxy with no certificate for that address (unavailable, expired, not yet issued, or no workload of its node there) closes so)");
            answer.join(10_000);
        }
    }

    @Test
    void aPlaintextPortAsViaSaysSo() throws Exception {
        try (java.net.ServerSocket plain = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Thread answer = new Thread(() -> {
                try (java.net.Socket s = plain.accept()) {
                    s.getOutputStream().write("HTTP/1.1 400 Bad Request\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    s.getInputStream().read(new byte[4096]);
                } catch (java.io.IOException ignored) {
                    // the client's line is the assertion
                }
            });
            answer.start();
            Run r = connect("good", "", "--via", "127.0.0.1:" + plain.getLocalPort());
            assertThat(r.exit()).as(r.stderr()).isEqualTo(4);
            assertThat(r.stderr().lines().toList()).singleElement().asString()
                    .startsWith("zerohop connect: TLS to 127.0.0.1:" + plain.getLocalPort() + " failed: ")
                    .endsWith("(the peer at 127.0.0.1:" + plain.getLocalPort() + " does not speak TLS: is it an HBONE port, 15008?)");
            answer.join(10_000);
        }
    }

    /**
     * New-user pass: a --via port that accepts TCP and never writes (here a listening socket nobody accepts
     * from: the kernel completes the TCP handshake from its backlog) ended in "handshake timed out after
     * 10000ms" and no hint. --handshake-timeout shortens the wait; no timing is asserted.
     */
    @Test
    void aSilentPortAsViaSaysItSentNothing() throws Exception {
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Run r = connect("good", "", "--via", "127.0.0.1:" + silent.getLocalPort(), "--handshake-timeout", "1s");
            assertThat(r.exit()).as(r.stderr()).isEqualTo(4);
            assertThat(r.stderr().lines().toList()).singleElement().asString()
                    .startsWith("zerohop connect: TLS to 127.0.0.1:" + silent.getLocalPort() + " failed: ")
                    // zerohop's words, the duration as --handshake-timeout is written (Netty's: "handshake timed out after 1000ms").
                    .contains("): TLS handshake timed out after 1s (")
                    .endsWith("(the peer at 127.0.0.1:" + silent.getLocalPort() + " accepted TCP but sent no TLS answer in 1s: "
                            + "is it an HBONE port, 15008?)");
        }
        Run bad = connect("good", "", "--handshake-timeout", "0s");
        assertThat(bad.exit()).isEqualTo(2);
        assertThat(bad.stderr()).startsWith("zerohop connect: --handshake-timeout: must be positive");
    }

    /**
     * A port that echoes (any plain TCP service that answers with what it got) sends our ClientHello
     * back: a valid TLS record, so it reaches BoringSSL, which said only
     * {@code error:100000df:SSL routines:OPENSSL_internal:UNEXPECTED_MESSAGE}.
     */
    @Test
    void anEchoingPortAsViaSaysItIsNoTlsPeer() throws Exception {
        try (java.net.ServerSocket echo = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Thread answer = new Thread(() -> {
                try (java.net.Socket s = echo.accept()) {
                    s.getInputStream().transferTo(s.getOutputStream());
                } catch (java.io.IOException ignored) {
                    // the client's line is the assertion
                }
            });
            answer.start();
            Run r = connect("good", "", "--via", "127.0.0.1:" + echo.getLocalPort());
            assertThat(r.exit()).as(r.stderr()).isEqualTo(4);
            assertThat(r.stderr().lines().toList()).singleElement().asString()
                    .startsWith("zerohop connect: TLS to 127.0.0.1:" + echo.getLocalPort() + " failed: ")
                    .endsWith("(the peer at 127.0.0.1:" + echo.getLocalPort() + " does not speak TLS: is it an HBONE port, 15008?)");
            answer.join(10_000);
        }
    }

    /** The hint is for a peer that is no TLS server; a TLS server's refusal (an alert) gets none. */
    @Test
    void theNoTlsHintIsOnlyForNonTlsReplies() {
        assertThat(ConnectCommand.notTls("HBONE TLS handshake with 127.0.0.1:1 failed (...): error:100000df:SSL routines:OPENSSL_internal:UNEXPECTED_MESSAGE")).isTrue();
        assertThat(ConnectCommand.notTls("error:1000010b:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER")).isTrue();
        assertThat(ConnectCommand.notTls("not an SSL/TLS record: 485454502f")).isTrue();
        assertThat(ConnectCommand.notTls("error:10000416:SSL routines:OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_UNKNOWN")).isFalse();
        assertThat(ConnectCommand.notTls("error:10000410:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE")).isFalse();
    }

    /**
     * New-user pass: {@code --via} one workload's address and {@code --target} another workload got a bare 400.
     * The line says what a 400 can mean and what to dial instead (the server's log line says which it was).
     */
    @Test
    void aRefusalSaysTheStatusOnceAndWhatItMeans() throws Exception {
        Run r = connect("good", "", "--target", "10.1.2.3:8");
        assertThat(r.exit()).as(r.stderr()).isEqualTo(3);
        assertThat(r.stderr().lines().toList()).containsExactly("zerohop connect: refused by 127.0.0.1:" + server.localAddress().getPort()
                + ": HTTP 400 for CONNECT 10.1.2.3:8 (that endpoint tunnels only to the address dialled, and to no other"
                + " workload's, whatever its identity (it presented " + SERVER + "), or the request was malformed; an HBONE"
                + " endpoint presents the SVID of the workload at the address"
                + " dialled and tunnels only to that address (ztunnel's validate_destination): dial the target's own address,"
                + " --via 10.1.2.3:15008, --expect its SPIFFE ID (a zerohop proxy's default --inbound 0.0.0.0:15008 serves every local workload's"
                + " address; a Service VIP is no HBONE target: connect to one of its pods, as a proxy's capture does for a VIP);"
                + " the endpoint's log says which: its access line \"inbound refused ... status=400 reason=...\""
                + " (with --access-log-format ztunnel: \"connection failed ... error=...\"))");
        // Dialled at the target's own address already: nothing else to dial.
        Run same = connect("good", "", "--target", "127.0.0.1:8");
        assertThat(same.exit()).as(same.stderr()).isEqualTo(3);
        assertThat(same.stderr().lines().toList()).containsExactly("zerohop connect: refused by 127.0.0.1:" + server.localAddress().getPort()
                + ": HTTP 400 for CONNECT 127.0.0.1:8 (that endpoint serves no workload at 127.0.0.1, or the request was"
                + " malformed; the endpoint's log says which: its access line \"inbound refused ... status=400 reason=...\""
                + " (with --access-log-format ztunnel: \"connection failed ... error=...\"))");
    }

    /**
     * New-user pass: a tunnel the far side resets after the 200 exited 1, documented nowhere. It still exits 1
     * (the output may be a truncated answer, unlike a clean end's 0) and says so in one line.
     */
    @Test
    void aResetAfterSetUpExits1SayingTheOutputMayBeIncomplete() throws Exception {
        Run r = connect("good", "", "--target", "10.1.2.3:9");
        assertThat(r.exit()).as(r.stderr()).isEqualTo(1);
        assertThat(r.stderr().lines().toList()).containsExactly("zerohop connect: tunnel to 10.1.2.3:9 via 127.0.0.1:"
                + server.localAddress().getPort() + " was reset after it was set up (Connection reset): what was printed may be incomplete");
        Run clean = connect("good", "bye\n");
        assertThat(clean.exit()).as("a clean end: " + clean.stderr()).isZero();
    }

    /** spiffe/spiffe X509-SVID.md 4.1: a trust domain alone (no path) is never a workload identity. */
    @Test
    void expectingATrustDomainIsAUsageError() throws Exception {
        Run r = connect("good", "", "--expect", "spiffe://cluster.local");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).contains("--expect: spiffe://cluster.local: a workload SPIFFE ID has a path");
    }

    /**
     * New-user pass: {@code --expect "A, B"} failed on the space ("invalid SPIFFE ID \" spiffe://...\": Scheme is
     * missing"), and a policy's principal form (no spiffe://) got no hint of the form to write, as policy check gives.
     */
    @Test
    void expectTakesASpacedListAndNamesThePrincipalForm() throws Exception {
        Run spaced = connect("good", "hello\n", "--expect", "spiffe://cluster.local/ns/prod/sa/other, " + SERVER);
        assertThat(spaced.exit()).as(spaced.stderr()).isZero();
        assertThat(spaced.stdout()).isEqualTo("hello\n");
        String principal = SERVER.toString().substring("spiffe://".length());
        Run bare = connect("good", "", "--expect", principal);
        assertThat(bare.exit()).isEqualTo(2);
        assertThat(bare.stderr().lines().findFirst().orElse("")).isEqualTo("zerohop connect: --expect: \"" + principal
                + "\" is not a SPIFFE ID: write " + SERVER + " (policies' principals leave spiffe:// out; --expect is the server's SPIFFE ID)");
        // A bare name: spiffe://backend, which the check below refuses as a trust domain alone, was suggested (new-user pass).
        Run name = connect("good", "", "--expect", "backend");
        assertThat(name.exit()).isEqualTo(2);
        assertThat(name.stderr().lines().findFirst().orElse("")).isEqualTo("zerohop connect: --expect: \"backend\" is not a SPIFFE ID:"
                + " write the server's SPIFFE ID, spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT (e.g. spiffe://cluster.local/ns/default/sa/backend)");
    }
}
