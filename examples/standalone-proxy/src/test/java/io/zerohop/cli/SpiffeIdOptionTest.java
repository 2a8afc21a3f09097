package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.WorkloadApiServer;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code zerohop proxy --spire-socket=PATH --spiffe-id=ID}: which of the agent's SVIDs is the proxy's own identity
 * ({@code SpireIdentityProvider.Builder.spiffeId}). The proxy runs in a JVM of its own against zerohop-testing's
 * {@link WorkloadApiServer} (a real gRPC Workload API server on a Unix socket), and what it presents is read where a
 * peer reads it: the leaf certificate of a TLS handshake with its HBONE listener, dialled at 127.0.0.1, an address of
 * no registry workload, where the proxy presents its own identity.
 */
class SpiffeIdOptionTest {
    private static final SpiffeId FIRST = SpiffeId.parse("spiffe://cluster.local/ns/zerohop-system/sa/zerohop-node");
    private static final SpiffeId SECOND = SpiffeId.parse("spiffe://cluster.local/ns/zerohop-system/sa/zerohop-gateway");
    private static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/test/sa/client");
    private static InMemoryCa ca;

    @RegisterExtension
    final StdStreams std = new StdStreams();

    @BeforeAll
    static void ca() {
        ca = InMemoryCa.create("cluster.local");
    }

    @AfterAll
    static void closeCa() {
        ca.close();
    }

    private static RetryLogTest.Proc proxy(WorkloadApiServer spire, String... more) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("proxy", "--spire-socket", spire.socket().toString(),
                "--inbound", "127.0.0.1:0", "--metrics", "off", "--readiness", "off", "--admin", "off", "--drain", "0s"));
        args.addAll(List.of(more));
        return RetryLogTest.Proc.start(args, List.of());
    }

    /** The ready line, once printed (null when the proxy exited first). */
    private static String awaitReady(RetryLogTest.Proc p) throws InterruptedException {
        p.awaitOut(out -> out.stream().anyMatch(l -> l.startsWith("zerohop proxy ready: ")), "the ready line");
        return p.out().stream().filter(l -> l.startsWith("zerohop proxy ready: ")).findFirst().orElse(null);
    }

    @Test
    @Timeout(120)
    @DisplayName("two SVIDs served: --spiffe-id of the second makes the proxy present the second; without it, the first"
            + " (the Workload API's default); the ready line names the identity")
    void pinsTheSecondOfTwoSvids(@TempDir Path dir) throws Exception {
        try (WorkloadApiServer spire = new WorkloadApiServer(dir.resolve("agent.sock"))) {
            spire.serve(List.of(ca.issue(FIRST), ca.issue(SECOND)), ca.bundle(), List.of());
            try (RetryLogTest.Proc p = proxy(spire, "--spiffe-id", SECOND.toString())) {
                String ready = awaitReady(p);
                assertThat(ready).as("stdout %s, stderr %s", p.out(), p.err()).isNotNull()
                        .contains("identity source SPIRE unix:" + spire.socket() + " (own identity " + SECOND + ", --spiffe-id)");
                assertThat(presented(hbone(ready))).isEqualTo(SECOND);
                assertThat(p.out()).contains("zerohop proxy: waiting for an SVID of " + SECOND + " from the Workload API at unix:"
                        + spire.socket() + "; listeners start once it arrives");
                assertThat(p.stop()).isZero();
                assertThat(p.err()).as("no warning: the pinned ID was given at once").noneMatch(l -> l.contains("WARN") || l.contains("warning"));
            }
            try (RetryLogTest.Proc p = proxy(spire)) {
                String ready = awaitReady(p);
                assertThat(ready).as("stdout %s, stderr %s", p.out(), p.err()).isNotNull()
                        .contains("identity source SPIRE unix:" + spire.socket() + " (own identity " + FIRST + ", the Workload API's default)");
                assertThat(presented(hbone(ready))).isEqualTo(FIRST);
                assertThat(p.stop()).isZero();
            }
        }
    }

    @Test
    @Timeout(120)
    @DisplayName("a pinned ID the agent does not give: one WARN naming it and the IDs given, no listener, no ready line,"
            + " whatever the agent pushes meanwhile; once given, the proxy starts and presents it; SIGTERM ends either wait with exit 0")
    void absentPinnedIdWaitsWithOneWarning(@TempDir Path dir) throws Exception {
        try (WorkloadApiServer spire = new WorkloadApiServer(dir.resolve("agent.sock"))) {
            spire.serve(ca.issue(FIRST), ca.bundle());
            String warning = "zerohop proxy: warning: --spiffe-id " + SECOND + ": the Workload API at unix:"
                    + spire.socket() + " gives this workload only [" + FIRST + "]; waiting for the agent to give it";
            try (RetryLogTest.Proc p = proxy(spire, "--spiffe-id", SECOND.toString())) {
                // The warning, or a start that should not happen (the assertions below then say which).
                p.await(err -> err.stream().anyMatch(l -> l.contains(warning)) || p.out().size() > 1, "the warning");
                assertThat(p.out()).as("stdout, stderr %s", p.err()).containsExactly("zerohop proxy: waiting for an SVID of " + SECOND
                        + " from the Workload API at unix:" + spire.socket() + "; listeners start once it arrives");
                // Pushed on the open stream: a rotation of the SVID it does give, then another ID; still not the pinned one.
                spire.serve(ca.issue(FIRST), ca.bundle());
                spire.serve(List.of(ca.issue(FIRST), ca.issue(CLIENT)), ca.bundle(), List.of());
                // The agent gives it (its registration entry reached the agent): the proxy starts and presents it.
                spire.serve(List.of(ca.issue(FIRST), ca.issue(CLIENT), ca.issue(SECOND)), ca.bundle(), List.of());
                String ready = awaitReady(p);
                assertThat(ready).as("stdout %s, stderr %s", p.out(), p.err()).isNotNull().contains("(own identity " + SECOND + ", --spiffe-id)");
                assertThat(presented(hbone(ready))).isEqualTo(SECOND);
                assertThat(p.stop()).isZero();
                List<String> warnings = p.err().stream().filter(l -> l.contains("warning") || l.contains("WARN")).toList();
                assertThat(warnings).as("stderr %s", p.err()).hasSize(1);
                assertThat(warnings.get(0)).startsWith(warning).endsWith(": until then no listener starts, so the proxy is"
                        + " not ready and presents no other identity");
            }
            spire.serve(ca.issue(FIRST), ca.bundle());
            try (RetryLogTest.Proc p = proxy(spire, "--spiffe-id", SECOND.toString())) {
                p.await(err -> err.stream().anyMatch(l -> l.contains(warning)), "the warning");
                int exit = p.stop();
                assertThat(p.out()).as("stderr %s", p.err()).endsWith("zerohop proxy: SIGTERM before an SVID arrived; stopped")
                        .noneMatch(l -> l.startsWith("zerohop proxy ready"));
                assertThat(exit).isZero();
            }
        }
    }

    @Test
    @DisplayName("--spiffe-id with another identity source, or malformed: exit 2 naming the option (and --spire-socket), the value quoted")
    void usageErrors(@TempDir Path dir) throws Exception {
        String off = "--inbound=off --metrics=off --readiness=off --admin=off";
        String hint = " | Run 'zerohop proxy --help' for usage.";
        assertThat(run("--in-memory-ca --spiffe-id spiffe://cluster.local/a " + off)).isEqualTo("exit 2: zerohop proxy: --spiffe-id:"
                + " picks one of the SPIRE agent's SVIDs, so it needs --spire-socket; the identity source here is --in-memory-ca, which"
                + " has no choice of SVID (drop --spiffe-id, or use --spire-socket)" + hint);
        Path caDir = dir.resolve("ca");
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", caDir.toString())).isZero();
        assertThat(run("--ca " + caDir + " --spiffe-id spiffe://cluster.local/a " + off))
                .startsWith("exit 2: zerohop proxy: --spiffe-id: picks one of the SPIRE agent's SVIDs, so it needs --spire-socket;"
                        + " the identity source here is --ca,");
        // In the config file: named by file:line, as every option there.
        Path config = Files.writeString(dir.resolve("proxy.yaml"), "ca: " + caDir + "\nspiffe-id: spiffe://cluster.local/a\n");
        assertThat(run("--config " + config + " " + off)).startsWith("exit 2: zerohop proxy: " + config + ":2: spiffe-id: picks one of"
                + " the SPIRE agent's SVIDs, so it needs --spire-socket; the identity source here is " + config + ":1: ca,");
        Path caFile = Files.writeString(dir.resolve("ca.yaml"), "ca: " + caDir + "\n");
        assertThat(run("--config " + caFile + " --spiffe-id spiffe://cluster.local/a " + off)).startsWith("exit 2: zerohop proxy:"
                + " --spiffe-id: picks one of the SPIRE agent's SVIDs, so it needs --spire-socket; the identity source here is "
                + caFile + ":1: ca,");
        // No identity source at all: picocli's "Missing required argument (specify one of these): (--spire-socket=PATH |
        // --ca=DIR | ...)" did not say which one --spiffe-id needs.
        String alone = ": picks one of the SPIRE agent's SVIDs, so it needs --spire-socket=PATH (the agent's Workload API socket);"
                + " no identity source is given" + hint;
        assertThat(run("--spiffe-id spiffe://cluster.local/a " + off)).isEqualTo("exit 2: zerohop proxy: --spiffe-id" + alone);
        Path pinOnly = Files.writeString(dir.resolve("pin.yaml"), "spiffe-id: spiffe://cluster.local/a\n");
        assertThat(run("--config " + pinOnly + " " + off)).isEqualTo("exit 2: zerohop proxy: " + pinOnly + ":1: spiffe-id" + alone);
        // With an incomplete identity source, picocli's message about what it misses stays (a final new-user pass).
        assertThat(run("--spiffe-id spiffe://cluster.local/a --cert c.pem " + off)).startsWith("exit 2: zerohop proxy: Missing required")
                .contains("--key").doesNotContain("no identity source is given");
        // Without --spiffe-id, picocli's list of the sources stays.
        assertThat(run(off)).startsWith("exit 2: zerohop proxy: Missing required argument (specify one of these): (--spire-socket=PATH");

        String spire = "--spire-socket " + dir.resolve("agent.sock") + " " + off + " --spiffe-id ";
        assertThat(run(spire + "cluster.local/a")).isEqualTo("exit 2: zerohop proxy: --spiffe-id: invalid SPIFFE ID \"cluster.local/a\":"
                + " Scheme is missing or invalid" + hint);
        assertThat(run(spire + "spiffe://cluster.local")).isEqualTo("exit 2: zerohop proxy: --spiffe-id: invalid SPIFFE ID"
                + " \"spiffe://cluster.local\": no path; a workload SPIFFE ID has a path (spiffe://trust-domain/path), and the agent"
                + " gives no SVID of a trust domain alone" + hint);
        assertThat(run(spire + "spiffe://cluster*local/a")).isEqualTo("exit 2: zerohop proxy: --spiffe-id: invalid SPIFFE ID"
                + " \"spiffe://cluster*local/a\": Trust domain characters are limited to lowercase letters, numbers, dots, dashes,"
                + " and underscores" + hint);
        assertThat(run(spire + "spiffe://Cluster.Local/a")).isEqualTo("exit 2: zerohop proxy: --spiffe-id: invalid SPIFFE ID"
                + " \"spiffe://Cluster.Local/a\": not in canonical form (trust domain must be lower case)" + hint);
        assertThat(std.out.toString()).as("nothing started").doesNotContain("waiting for an SVID");
    }

    private String run(String args) {
        return std.run(("proxy " + args).split(" "));
    }

    /** The HBONE listener the ready line names. */
    private static InetSocketAddress hbone(String ready) {
        Matcher m = Pattern.compile("hbone (127\\.0\\.0\\.1):(\\d+)").matcher(ready);
        assertThat(m.find()).as(ready).isTrue();
        return new InetSocketAddress(m.group(1), Integer.parseInt(m.group(2)));
    }

    /**
     * The SPIFFE ID of the leaf certificate {@code at} presents in a TLS handshake (ALPN h2, as HBONE's) from a client
     * with an SVID of the same CA. Every server certificate is taken: what it is, not whether it verifies, is asserted.
     */
    private static SpiffeId presented(InetSocketAddress at) throws Exception {
        X509Svid client = ca.issue(CLIENT);
        char[] pw = "x".toCharArray();
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        keys.setKeyEntry("client", client.getPrivateKey(), pw, client.getChain().toArray(new X509Certificate[0]));
        javax.net.ssl.KeyManagerFactory kmf = javax.net.ssl.KeyManagerFactory.getInstance(javax.net.ssl.KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, pw);
        javax.net.ssl.TrustManager any = new javax.net.ssl.X509TrustManager() {
            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType) {}

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String authType) {}

            @Override
            public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
            }
        };
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(kmf.getKeyManagers(), new javax.net.ssl.TrustManager[] {any}, null);
        try (SSLSocket s = (SSLSocket) tls.getSocketFactory().createSocket()) {
            s.connect(at, 10_000);
            s.setSoTimeout(10_000);
            SSLParameters params = s.getSSLParameters();
            params.setApplicationProtocols(new String[] {"h2"});
            s.setSSLParameters(params);
            s.startHandshake();
            X509Certificate leaf = (X509Certificate) s.getSession().getPeerCertificates()[0];
            String uri = leaf.getSubjectAlternativeNames().stream().filter(n -> (Integer) n.get(0) == 6).map(n -> (String) n.get(1))
                    .findFirst().orElseThrow(() -> new AssertionError("no URI SAN in " + leaf));
            return SpiffeId.parse(uri);
        }
    }
}
