package io.zerohop.cli;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.PemFileIdentityProvider;
import io.zerohop.identity.SpiffeIds;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import javax.net.ssl.SSLException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zerohop connect}: like {@code nc}, stdin/stdout through one HBONE tunnel. */
@Command(name = "connect", mixinStandardHelpOptions = true, version = Zerohop.VERSION,
        description = {"Open one HBONE tunnel and copy stdin to it and it to stdout (like nc).",
                "Prints only the tunnel's data (stdout); log lines only with -v. A failure is one line on stderr.",
                "Identity: --cert's SPIFFE ID is the source principal the destination's policy sees; from a machine"
                        + " that is no registry workload (a laptop) there is no source workload: label rules (Cilium"
                        + " fromEndpoints) cannot match it, identity rules (Istio principals) can.",
                "Exit codes: 0 the tunnel ended cleanly, 2 usage, 3 refused by the server (HTTP status printed),"
                        + " 4 TLS or identity failure (either side refused the other's certificate, or"
                        + " --cert/--key/--trust-bundle are not a valid SVID for that bundle), 1 --via unreachable, or the"
                        + " tunnel reset after it was set up (what was printed may be incomplete), or another error."})
final class ConnectCommand implements Callable<Integer> {
    @Option(names = "--via", required = true, description = "HBONE endpoint IP:PORT: --target's IP on port 15008 (a node"
            + " proxy answers there with that workload's SVID and reaches only workloads of it), or its node's hboneAddress")
    String via;

    @Option(names = "--target", required = true, description = "Destination workload IP:PORT (the CONNECT authority)")
    String target;

    @Option(names = "--cert", required = true, description = "Own certificate chain (PEM, leaf first)")
    Path cert;

    @Option(names = "--key", required = true, description = "Own private key (PKCS#8 PEM)")
    Path key;

    @Option(names = "--trust-bundle", required = true, description = "Trusted root(s) (PEM)")
    Path bundle;

    @Option(names = "--expect", paramLabel = "SPIFFE_ID", required = true, split = ",", description = "Accepted server SPIFFE ID(s), comma separated")
    List<String> expect;

    @Option(names = "--handshake-timeout", defaultValue = "10s", paramLabel = "DURATION",
            description = "How long --via may take to complete the TLS handshake (500ms, 5s, 1m), default ${DEFAULT-VALUE}")
    String handshakeTimeout;

    @Option(names = {"-v", "--verbose"}, description = "Log lines (INFO) on stderr; without it only data and a final error line")
    boolean verbose;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (!verbose) {
            quiet();
        }
        Usage u = new Usage(spec, ConfigFile.Origins.NONE);
        InetSocketAddress hbone = u.hostPort("via", via);
        InetSocketAddress dst = u.hostPort("target", target);
        Set<SpiffeId> expected = new LinkedHashSet<>();
        for (String given : expect) {
            // "a, b" as people type a list: a SPIFFE ID holds no space, so the one after the comma is no part of it.
            String e = given.strip();
            if (!e.contains("://") && e.contains("/")) {
                // A policy's principal form (the article's "cluster.local/ns/..."), as policy check --source says it.
                throw u.error("expect", e, "\"" + e + "\" is not a SPIFFE ID: write spiffe://" + e
                        + " (policies' principals leave spiffe:// out; --expect is the server's SPIFFE ID)");
            }
            if (!e.contains("://")) {
                // A bare name ("backend"): spiffe://backend would be a trust domain alone, refused below, so the
                // suggestion is the workload ID's form, as policy check --source gives it.
                throw u.error("expect", e, "\"" + e + "\" is not a SPIFFE ID: write the server's SPIFFE ID,"
                        + " spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT"
                        + (e.matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?") ? " (e.g. spiffe://cluster.local/ns/default/sa/" + e + ")" : ""));
            }
            SpiffeId id = Usage.parse(u, "expect", e, () -> SpiffeIds.parse(e));
            if (id.getPath().isEmpty()) {
                // spiffe/spiffe X509-SVID.md 4.1: a leaf names a workload; a bare trust domain never verifies.
                throw u.error("expect", e, e + ": a workload SPIFFE ID has a path (spiffe://trust-domain/path); a trust domain alone names no workload");
            }
            expected.add(id);
        }
        java.time.Duration handshake;
        try {
            handshake = Cli.duration(handshakeTimeout);
        } catch (Cli.RefusedException e) {
            throw u.error("handshake-timeout", handshakeTimeout, e.getMessage());
        }
        if (handshake.isZero()) {
            throw u.error("handshake-timeout", handshakeTimeout, "must be positive (examples: 500ms, 5s, 1m)");
        }
        // As `proxy` checks them: a missing or unreadable file is a usage error naming its option.
        u.path("cert", cert, Usage.Kind.FILE);
        u.path("key", key, Usage.Kind.FILE);
        u.path("trust-bundle", bundle, Usage.Kind.FILE);
        try (PemFileIdentityProvider ids = Cli.pemIdentity(cert, key, bundle, false);
             MeshTls tls = MeshTls.builder(ids).build();
             HboneClient client = HboneClient.builder().tls(tls).identity(ids.defaultIdentity().orElseThrow()).threads(1)
                     .handshakeTimeout(handshake).build()) {
            String notAClient = Cli.purposeProblem(ids, cert, io.zerohop.identity.SvidVerifier.Purpose.CLIENT_AUTH);
            if (notAClient != null) {
                // Every peer refuses it with certificate_unknown, which the dialling side cannot tell from a distrusted CA.
                throw new Cli.RefusedException("no usable identity in the PEM files: " + notAClient, 4);
            }
            HboneSocket s;
            try {
                // The whole setup's bound, past the handshake's own so that its failure (and hint) is the one reported.
                java.time.Duration setup = handshake.plusSeconds(5);
                s = client.connectSocket(dst, expected, hbone, setup.compareTo(java.time.Duration.ofSeconds(15)) > 0
                        ? setup : java.time.Duration.ofSeconds(15));
            } catch (HboneRefusedException e) {
                throw new Cli.RefusedException("refused by " + via + ": HTTP " + e.status() + " for CONNECT " + target
                        + meaning(e.status(), hbone, dst, expected.size() == 1 ? expected.iterator().next().toString() : null), 3);
            } catch (java.io.IOException e) {
                boolean resetInHandshake = resetWithoutAlert(e);
                if (!resetInHandshake && (hasCause(e, SSLException.class) || hasCause(e, java.security.cert.CertificateException.class))) {
                    // mesh-hbone's own hint for a peer that is not TLS (TlsAlerts) is said below with the address, once.
                    String why = Cli.describe(e).replaceFirst(" \\(the peer does not speak TLS: [^)]*\\)[^)]*\\)", "");
                    // A port that answers in plaintext (an app port, a metrics port) is the usual slip.
                    throw new Cli.RefusedException("TLS to " + via + " failed: " + why
                            + (notTls(why) ? " (the peer at " + via + " does not speak TLS: is it an HBONE port, 15008?)"
                            : silent(why) ? " (the peer at " + via + " accepted TCP but sent no TLS answer in " + handshakeTimeout
                            + ": is it an HBONE port, 15008?)" : ""), 4);
                }
                // What the kernel said, once ("Connection refused"), not the chain of Netty's wrappers.
                // hbone's own message already names the connection ("HBONE connection to X closed during setup"): once is enough.
                String why = resetInHandshake ? "Connection reset by peer"
                        : (e.getCause() == null ? Cli.describe(e) : Cli.reason(e)).replaceFirst("^HBONE connection to \\S+ ", "");
                // A port that accepts and closes (a proxy's port with nothing behind it, a service that rejects the
                // ClientHello without an alert) said only "closed during setup" (new-user pass); the address once.
                boolean cut = why.equals("closed during setup") || why.startsWith("Connection reset");
                throw new Cli.RefusedException("HBONE connection to " + via + " failed: " + why + (cut
                        ? " (it closed the connection before the TLS handshake completed: is it an HBONE port, 15008? If so, its log says why; a proxy with no certificate for that address (unavailable, expired, not yet issued, or no workload of its node there) closes so)" : ""), 1);
            }
            try (s) {
                Thread up = new Thread(() -> {
                    // Not try-with-resources: closing a socket's stream closes the socket, and we still read.
                    try {
                        OutputStream out = s.getOutputStream();
                        System.in.transferTo(out);
                        out.flush();
                        s.shutdownOutput();
                    } catch (Exception ignored) {
                        // the download side reports what went wrong
                    }
                }, "connect-stdin");
                up.setDaemon(true);
                up.start();
                try {
                    s.getInputStream().transferTo(System.out);
                } catch (java.net.SocketException e) {
                    // A reset (RST_STREAM, or the HBONE connection lost) after the 200: the far side aborted, so what
                    // was printed may be a truncated answer; exit 1, not 0 as for a clean end (a new-user pass found
                    // exit 1 documented nowhere).
                    System.out.flush();
                    throw new Cli.RefusedException("tunnel to " + target + " via " + via + " was reset after it was set up ("
                            + Cli.describe(e) + "): what was printed may be incomplete", 1);
                }
                System.out.flush();
            }
            return 0;
        }
    }

    /**
     * Silences slf4j-simple (and JUL, which java-spiffe uses) for this process, so stdout and stderr
     * carry only the tunnel's data and the final error line. Works because nothing has logged yet
     * when a subcommand starts: slf4j-simple reads its levels once, at first use.
     */
    private static void quiet() {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "off");
        System.setProperty("org.slf4j.simpleLogger.log.io.netty", "off");
        System.setProperty("org.slf4j.simpleLogger.log.io.grpc", "off");
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.OFF);
    }

    /**
     * What an HBONE status means, as ztunnel's inbound answers (mesh-hbone/README.md, status codes), and
     * for a 400 what to do: a node proxy presents, on each address, the SVID of the workload at that
     * address and tunnels only to workloads of that identity (mesh-core README, Inbound "Resolve"), so
     * a {@code --via} on one workload's address never reaches another workload (a new-user pass got a
     * bare 400 for that). The server's log line names which 400 it was.
     *
     * @param presented the server identity the handshake verified when --expect named one, else null
     */
    /**
     * Where a zerohop proxy says why it refused a CONNECT with its access log on (the default): its access
     * line on stderr ({@code INFO access - inbound refused ... status=400 reason="..."}), or with
     * {@code --access-log-format ztunnel} ztunnel's on stdout ({@code warn access connection failed ...
     * error="..."}), as a real proxy printed them; the hbone library's {@code HBONE CONNECT refused} line may be
     * at DEBUG (a new-user pass looked for it and found nothing).
     */
    static final String REFUSAL_LINE = "its access line \"inbound refused ... status=400 reason=...\""
            + " (with --access-log-format ztunnel: \"connection failed ... error=...\")";

    private static String meaning(int status, InetSocketAddress via, InetSocketAddress target, String presented) {
        return switch (status) {
            case 401 -> " (denied by policy at the destination)";
            case 400 -> via.getAddress().equals(target.getAddress())
                    ? " (that endpoint serves no workload at " + host(target) + ", or the request was malformed;"
                    + " the endpoint's log says which: " + REFUSAL_LINE + ")"
                    : " (that endpoint tunnels only to the address dialled, and to no other workload's, whatever its"
                    + " identity" + (presented == null ? "" : " (it presented " + presented + ")") + ", or the request was"
                    + " malformed; an HBONE endpoint"
                    + " presents the SVID of the workload at the address dialled and tunnels only to that address"
                    + " (ztunnel's validate_destination): dial the target's own address, --via " + host(target) + ":15008,"
                    + " --expect its SPIFFE ID"
                    + " (a zerohop proxy's default --inbound 0.0.0.0:15008 serves every local workload's address; a Service"
                    + " VIP is no HBONE target: connect to one of its pods, as a proxy's capture does for a VIP); the"
                    + " endpoint's log says which: " + REFUSAL_LINE + ")";
            case 503 -> " (destination unreachable from that endpoint, or one of its own ports)";
            default -> "";
        };
    }

    /** The IP of {@code a} as typed in an authority ({@code [::1]} for IPv6). */
    private static String host(InetSocketAddress a) {
        String ip = a.getAddress().getHostAddress();
        return ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip;
    }

    /**
     * Whether a handshake failure says the peer's first bytes were no TLS server's answer. Netty's
     * SslHandler says {@code not an SSL/TLS record} when they cannot be a TLS record at all (an HTTP
     * reply); bytes that pass that check fail inside the TLS engine: BoringSSL's
     * {@code UNEXPECTED_MESSAGE} (a handshake message other than ServerHello, e.g. a port that echoes
     * our ClientHello back), {@code UNEXPECTED_RECORD} (a record of another type first) or
     * {@code WRONG_VERSION_NUMBER} (a record header with no TLS version), the JDK's
     * {@code Unexpected handshake message}. A TLS server that refuses us fails with an alert
     * instead ({@code CERTIFICATE_UNKNOWN}, {@code HANDSHAKE_FAILURE}...), which gets no hint.
     */
    static boolean notTls(String why) {
        return why.contains("not an SSL/TLS record") || why.contains("Unexpected handshake message")
                || why.matches("(?s).*:(UNEXPECTED_MESSAGE|UNEXPECTED_RECORD|WRONG_VERSION_NUMBER)\\b.*");
    }

    /**
     * Whether the handshake ran out of time: Netty's SslHandler, after the TCP connection was up (it starts
     * the handshake then), says {@code handshake timed out after 10000ms}, which mesh-hbone reports in zerohop's
     * words, {@code TLS handshake timed out after 10s} ({@code HboneListener.describe}). A port that accepts and never
     * writes (a server-first protocol waiting for its own greeting's answer, a stalled app) ends so.
     */
    static boolean silent(String why) {
        return why.contains("TLS handshake timed out");
    }

    /**
     * A reset that reached the handshake as an {@link SSLException} (BoringSSL's "failure when writing TLS control
     * frames" over the socket's {@code ECONNRESET} while the ClientHello was written) is a port that accepted and reset,
     * as a reset read after it is, not a TLS failure: the peer sent no alert and no certificate was judged. A new-user
     * pass saw exit 4 without the hint for one run in four against a STRICT plaintext port, exit 1 with it in the others.
     */
    static boolean resetWithoutAlert(Throwable e) {
        if (hasCause(e, java.security.cert.CertificateException.class)) {
            return false;
        }
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root instanceof java.io.IOException && !(root instanceof SSLException) && root.getMessage() != null
                && root.getMessage().contains("Connection reset");
    }

    private static boolean hasCause(Throwable t, Class<? extends Throwable> type) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (type.isInstance(c)) {
                return true;
            }
        }
        return false;
    }
}
