package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Metadata;
import io.grpc.Status;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.FakeIstioCa;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * ztunnel's {@code SECRET_TTL} and {@code CA_HEADER_*} under {@code zerohop proxy --istio-ca} (istio/ztunnel src/config.rs:
 * {@code parse_duration_default(SECRET_TTL, DEFAULT_TTL)}, {@code parse_headers(ISTIO_CA_HEADER_PREFIX)} and its test
 * {@code config_from_proxyconfig}, which sets {@code CA_HEADER_HEADER_BAZ=baz}; src/identity/caclient.rs
 * {@code fetch_certificate}: {@code validity_duration: secret_ttl} in whole seconds, each header put on the request).
 * Until 6 December zerohop read neither: every CSR asked for 24 h and no header was sent. The whole CLI runs in a child
 * JVM (for its environment) against {@link FakeIstioCa} in this JVM over real TLS; the fake refuses the first request, so
 * the child exits 4 before any listener binds, and what it sent is read from the fake.
 */
class IstioCaEnvTest {
    static final FakeIstioCa.Pod NODE_PROXY = new FakeIstioCa.Pod("istio-system", "ztunnel-a", "uid-zt", "ztunnel", "node-a");
    static final List<String> CLEAN = List.of("SECRET_TTL", "CLUSTER_ID", "ISTIO_META_CLUSTER_ID", "CONNECTION_TERMINATION_DEADLINE",
            "TERMINATION_GRACE_PERIOD_SECONDS", "RUST_LOG", "PILOT_HTTP10", "ISTIO_META_HTTP10", "NODE_NAME");

    @TempDir
    static Path dir;

    static InMemoryCa istio;
    static FakeIstioCa istiod;
    static Path root;
    static Path token;
    static Path workloads;

    @BeforeAll
    static void istiod() throws Exception {
        istio = InMemoryCa.builder().trustDomain("cluster.local").intermediate(true).build();
        istiod = new FakeIstioCa(istio, "node-token", Files.createDirectory(dir.resolve("istiod-tls")));
        istiod.nodeAuthorization(new FakeIstioCa.NodeAuthorization(java.util.Set.of("istio-system/ztunnel"), NODE_PROXY,
                List.of(NODE_PROXY, new FakeIstioCa.Pod("shop", "cart-1", "uid-cart", "cart", "node-a"))));
        root = dir.resolve("root-cert.pem");
        Pem.write(root, Pem.certificates(List.of(istio.root())), false);
        token = Files.writeString(dir.resolve("istio-token"), "node-token\n");
        // The address is never bound: the start stops at the CA's refusal, before any listener.
        workloads = Files.writeString(dir.resolve("workloads.yaml"), """
                trustDomain: cluster.local
                nodes: [{name: node-a}]
                workloads:
                  - {namespace: shop, name: cart, serviceAccount: cart, addresses: [127.0.131.2], protocol: HBONE, node: node-a}
                """);
    }

    @AfterAll
    static void stop() {
        if (istiod != null) {
            istiod.close();
        }
        if (istio != null) {
            istio.close();
        }
    }

    @BeforeEach
    void refuse() {
        // A refusal no retry mends: the child's start-up check exits 4 after its one request.
        istiod.failWith(Status.PERMISSION_DENIED.withDescription("IstioCaEnvTest stops the start here"));
    }

    /** zerohop proxy --istio-ca against the fake, every listener off, {@code env} added to a cleaned environment. */
    static CliChild.Result proxy(Map<String, String> env) throws Exception {
        List<String> unset = new java.util.ArrayList<>(CLEAN);
        System.getenv().keySet().stream().filter(k -> k.startsWith("CA_HEADER_")).forEach(unset::add);
        return CliChild.run(env, unset, "proxy", "--istio-ca", "127.0.0.1:" + istiod.port(), "--istio-ca-root", root.toString(),
                "--token-file", token.toString(), "--istio-ca-hostname", FakeIstioCa.SERVER_NAME, "--workloads", workloads.toString(),
                "--node", "node-a", "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off", "--drain", "1s");
    }

    static String header(FakeIstioCa.Seen seen, String name) {
        return seen.headers().get(Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER));
    }

    /**
     * {@code SECRET_TTL} in duration-str's grammar, as ztunnel parses it, reaches the CSR request as ztunnel sends it: its
     * whole seconds in {@code validity_duration} ({@code secret_ttl.as_secs()}, src/identity/manager.rs); and every
     * {@code CA_HEADER_NAME} is the gRPC header {@code name}, lower-cased (tonic's {@code AsciiMetadataKey}), beside the
     * token and {@code ClusterID}; ztunnel's test's {@code CA_HEADER_HEADER_BAZ=baz} among them.
     */
    @Test
    @Timeout(120)
    void secretTtlAndCaHeadersReachTheCa() throws Exception {
        int before = istiod.seen().size();
        Map<String, String> env = new LinkedHashMap<>();
        env.put("SECRET_TTL", "1h 30m+30s500ms");
        env.put("CA_HEADER_HEADER_BAZ", "baz");
        env.put("CA_HEADER_X-Tenant", "blue team");
        env.put("XDS_HEADER_HEADER_FOO", "foo");
        env.put("CA_HEADER_CLUSTERID", "east");
        CliChild.Result r = proxy(env);
        assertThat(r.exit()).as(r.output()).isEqualTo(4);
        List<FakeIstioCa.Seen> seen = istiod.seen().subList(before, istiod.seen().size());
        assertThat(seen).as(r.output()).hasSize(1);
        FakeIstioCa.Seen s = seen.get(0);
        assertThat(s.request().validityDurationSeconds()).as("1h 30m 30.5s in whole seconds").isEqualTo(5430);
        assertThat(header(s, "header_baz")).isEqualTo("baz");
        assertThat(header(s, "x-tenant")).isEqualTo("blue team");
        assertThat(header(s, "header_foo")).as("XDS_HEADER_* is for istiod's xDS, which zerohop has no client of").isNull();
        // ztunnel's channel puts CLUSTER_ID's over it (src/identity/auth.rs insert_headers); zerohop says so at start.
        assertThat(header(s, "clusterid")).isEqualTo("Kubernetes");
        assertThat(r.output()).contains("zerohop proxy: warning: $CA_HEADER_CLUSTERID is not sent: the ClusterID header is the"
                + " cluster id's (--cluster-id, $ISTIO_META_CLUSTER_ID, $CLUSTER_ID), as ztunnel's replaces it");
        assertThat(header(s, "authorization")).isEqualTo("Bearer node-token");
    }

    /** Without SECRET_TTL the request asks for ztunnel's DEFAULT_TTL, 24 h, and no other header is sent. */
    @Test
    @Timeout(120)
    void withoutTheVariablesTheRequestAsksFor24Hours() throws Exception {
        int before = istiod.seen().size();
        CliChild.Result r = proxy(Map.of());
        assertThat(r.exit()).as(r.output()).isEqualTo(4);
        FakeIstioCa.Seen s = istiod.seen().get(before);
        assertThat(s.request().validityDurationSeconds()).isEqualTo(86_400);
        assertThat(s.headers().keys()).doesNotContain("header_baz", "x-tenant");
    }

    /**
     * A bad value stops the start with exit 2 before the CA is asked, naming the variable alone, as ztunnel's
     * {@code Error::EnvVar} ("invalid env var SECRET_TTL=soon (...)") and {@code Error::InvalidHeaderKey}/{@code Value};
     * with no {@code --help} hint, which is about options.
     */
    @Test
    @Timeout(120)
    void aBadVariableStopsTheStartNamingIt() throws Exception {
        int before = istiod.seen().size();
        CliChild.Result ttl = proxy(Map.of("SECRET_TTL", "soon"));
        assertThat(ttl.exit()).as(ttl.output()).isEqualTo(2);
        assertThat(ttl.output()).isEqualTo("zerohop proxy: $SECRET_TTL: bad duration \"soon\" (examples: 500ms, 90s, 15m, 24h, 7d);"
                + " ztunnel's sums of units are taken too (12h, 1h30m, 3600)\n");

        CliChild.Result bin = proxy(Map.of("CA_HEADER_TRACE-BIN", "x"));
        assertThat(bin.exit()).as(bin.output()).isEqualTo(2);
        assertThat(bin.output()).isEqualTo("zerohop proxy: $CA_HEADER_TRACE-BIN: \"trace-bin\" ends in -bin, the suffix of a binary"
                + " gRPC header; a CA header is text (ztunnel refuses it too: failed to parse header key)\n");
        assertThat(istiod.seen()).as("no request was made").hasSize(before);
    }

    /**
     * A SECRET_TTL past istiod's MAX_WORKLOAD_CERT_TTL (90 days): istiod refuses the CSR (security/pkg/pki/ca/ca.go
     * {@code sign}: "requested TTL ... is greater than the max allowed TTL", a TTLError, INVALID_ARGUMENT), which no
     * retry mends: the start exits 4 saying so, as README's "Coming from ztunnel" row says.
     */
    @Test
    @Timeout(120)
    void aLifetimePastIstiodsMaximumStopsTheStart() throws Exception {
        istiod.failWith(null);
        int before = istiod.seen().size();
        CliChild.Result r = proxy(Map.of("SECRET_TTL", "91d"));
        assertThat(r.exit()).as(r.output()).isEqualTo(4);
        assertThat(istiod.seen().get(before).request().validityDurationSeconds()).isEqualTo(91L * 86_400);
        assertThat(r.output()).as(r.output()).contains("INVALID_ARGUMENT");
    }

    @Test
    void secretTtlIsReadAsZtunnelReadsIt() {
        assertThat(ProxyCommand.secretTtl(Map.of())).as("ztunnel's DEFAULT_TTL").isEqualTo(Duration.ofHours(24));
        Map<String, Duration> values = new LinkedHashMap<>();
        values.put("12h", Duration.ofHours(12));
        values.put("1d", Duration.ofDays(1));
        values.put("1h30m", Duration.ofMinutes(90));
        values.put("1h 30m", Duration.ofMinutes(90));
        values.put("3600", Duration.ofHours(1));
        values.put("2 hr", Duration.ofHours(2));
        values.put("90S", Duration.ofSeconds(90));
        values.put("500ms", Duration.ofMillis(500));
        values.put("0", Duration.ZERO);
        values.put("90 days", Duration.ofDays(90));   // duration-str 0.21.0's plurals (src/unit.rs)
        values.forEach((v, d) -> assertThat(ProxyCommand.secretTtl(Map.of("SECRET_TTL", v))).as(v).isEqualTo(d));
        for (String bad : new String[] {"soon", "", " ", "-1h", "1.5h", "1 fortnight", "200y"}) {
            assertThatThrownBy(() -> ProxyCommand.secretTtl(Map.of("SECRET_TTL", bad))).as(bad)
                    .isInstanceOf(Cli.RefusedException.class).hasMessageStartingWith("$SECRET_TTL: ");
        }
    }

    /**
     * Under one second ztunnel sends 0 ({@code as_secs()}), and istiod signs for its default (security/pkg/pki/ca/ca.go
     * {@code sign}); the fake's is istiod's 24 h. In-process: IstioCaProvider as the proxy builds it.
     */
    @Test
    @Timeout(120)
    void underOneSecondAsksForTheCasDefault() throws Exception {
        istiod.failWith(null);
        int before = istiod.seen().size();
        try (IstioCaProvider provider = IstioCaProvider.create("127.0.0.1:" + istiod.port(), root, token, null, FakeIstioCa.SERVER_NAME,
                "cluster.local", ProxyCommand.secretTtl(Map.of("SECRET_TTL", "500ms")), Map.of(), o -> "--" + o)) {
            var svid = provider.svid(SpiffeIds.istio("cluster.local", "shop", "cart")).get(30, TimeUnit.SECONDS);
            assertThat(istiod.seen().get(before).request().validityDurationSeconds()).isZero();
            long lifetime = svid.getLeaf().getNotAfter().getTime() - svid.getLeaf().getNotBefore().getTime();
            assertThat(Duration.ofMillis(lifetime)).isBetween(FakeIstioCa.DEFAULT_CERT_TTL, FakeIstioCa.DEFAULT_CERT_TTL.plusMinutes(2));
        }
    }

    @Test
    void caHeadersAreNamedAsZtunnelNamesThem() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("CA_HEADER_HEADER_BAZ", "baz");   // src/config.rs config_from_proxyconfig
        env.put("XDS_HEADER_HEADER_FOO", "foo");
        env.put("ca_header_lower", "x");          // strip_prefix is case-sensitive
        env.put("CA_HEADER_x.Y_z-1", " spaced\tvalue ");
        env.put("CA_HEADER_EMPTY", "");
        ProxyCommand.CaHeaders h = ProxyCommand.caHeaders(env);
        assertThat(h.headers()).containsExactly(Map.entry("empty", ""), Map.entry("header_baz", "baz"),
                Map.entry("x.y_z-1", " spaced\tvalue "));
        assertThat(h.warnings()).isEmpty();

        // ztunnel's channel replaces both with the token and CLUSTER_ID (src/identity/auth.rs insert_headers): not sent.
        ProxyCommand.CaHeaders replaced = ProxyCommand.caHeaders(Map.of("CA_HEADER_CLUSTERID", "east", "CA_HEADER_Authorization", "x"));
        assertThat(replaced.headers()).isEmpty();
        assertThat(replaced.warnings()).containsExactly(
                "$CA_HEADER_Authorization is not sent: the authorization header is the bearer token of --token-file, as ztunnel's replaces it",
                "$CA_HEADER_CLUSTERID is not sent: the ClusterID header is the cluster id's (--cluster-id, $ISTIO_META_CLUSTER_ID,"
                        + " $CLUSTER_ID), as ztunnel's replaces it");
    }

    /**
     * Names gRPC reserves are not sent, each with a warning, where they were taken and then replaced or dropped by
     * grpc-java without a word (IstioCaClientTest.headersGrpcReservesAreRefusedByTheBuilder). ztunnel's tonic drops
     * te, content-type and the three response names from its request too (tonic/src/metadata/map.rs
     * GRPC_RESERVED_HEADERS) and sends user-agent, grpc-timeout and the encodings as written.
     */
    @Test
    void caHeadersGrpcReservesAreNotSentAndSaySo() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("CA_HEADER_User-Agent", "ops/1");
        env.put("CA_HEADER_GRPC-TIMEOUT", "1S");
        env.put("CA_HEADER_TE", "trailers");
        env.put("CA_HEADER_grpc-status", "0");
        env.put("CA_HEADER_X-TENANT", "blue");
        ProxyCommand.CaHeaders h = ProxyCommand.caHeaders(env);
        assertThat(h.headers()).containsExactly(Map.entry("x-tenant", "blue"));
        assertThat(h.warnings()).containsExactly(
                "$CA_HEADER_GRPC-TIMEOUT is not sent: gRPC reserves the header grpc-timeout, which zerohop's gRPC client sets or"
                        + " drops itself (ztunnel's sends it)",
                "$CA_HEADER_TE is not sent: gRPC reserves the header te (ztunnel's gRPC client drops it too)",
                "$CA_HEADER_User-Agent is not sent: gRPC reserves the header user-agent, which zerohop's gRPC client sets or"
                        + " drops itself (ztunnel's sends it)",
                "$CA_HEADER_grpc-status is not sent: gRPC reserves the header grpc-status (ztunnel's gRPC client drops it too)");
    }

    /**
     * A connection-specific header (RFC 9113 section 8.2.2) fails every CSR, not the start: hyperium/h2's client refuses
     * to send it (src/proto/streams/send.rs {@code check_headers}: connection, transfer-encoding, upgrade, keep-alive,
     * proxy-connection; ztunnel's tonic channel then fails each request with a user error), and an HTTP/2 server resets the
     * stream that carries it (the fake's grpc-java Netty server: RST_STREAM PROTOCOL_ERROR, as below). zerohop refuses
     * it at start, naming the variable, where ztunnel starts and then fails to get any certificate.
     */
    @Test
    void connectionSpecificHeadersAreRefusedAtStart() throws Exception {
        for (String var : new String[] {"CA_HEADER_Connection", "CA_HEADER_KEEP-ALIVE", "CA_HEADER_proxy-connection",
                "CA_HEADER_Transfer-Encoding", "CA_HEADER_UPGRADE"}) {
            String name = var.substring("CA_HEADER_".length()).toLowerCase(java.util.Locale.ROOT);
            assertThatThrownBy(() -> ProxyCommand.caHeaders(Map.of(var, "close"))).as(var)
                    .isInstanceOf(Cli.RefusedException.class)
                    .hasMessage("$" + var + ": " + name + " is a connection-specific header, which HTTP/2 forbids (RFC 9113 8.2.2):"
                            + " every CA request would be reset (ztunnel's would fail too, but after the start)");
        }
        // Sent as it was, every request got RST_STREAM PROTOCOL_ERROR from the fake; IstioCaClient.Builder.header now
        // refuses it too (IstioCaClientTest.headersNoRequestCanCarryAreRefusedByTheBuilder).
        assertThatThrownBy(() -> IstioCaProvider.create("127.0.0.1:" + istiod.port(), root, token, null, FakeIstioCa.SERVER_NAME,
                "cluster.local", Duration.ofHours(1), Map.of("connection", "close"), o -> "--" + o))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("connection-specific");
    }

    @Test
    void badHeaderVariablesAreRefusedNamingThem() {
        Map<String, String> bad = new LinkedHashMap<>();
        bad.put("CA_HEADER_", "no name after the prefix");
        bad.put("CA_HEADER_A B", "a space");
        bad.put("CA_HEADER_A:B", "a colon");
        bad.put("CA_HEADER_X-BIN", "a binary key");
        bad.put("CA_HEADER_X!", "an HTTP token character grpc-java does not send");
        for (Map.Entry<String, String> e : bad.entrySet()) {
            assertThatThrownBy(() -> ProxyCommand.caHeaders(Map.of(e.getKey(), "v"))).as(e.getValue())
                    .isInstanceOf(Cli.RefusedException.class).hasMessageStartingWith("$" + e.getKey() + ": ");
        }
        for (String value : new String[] {"a\nb", "a\u0000", "\u007f"}) {
            assertThatThrownBy(() -> ProxyCommand.caHeaders(Map.of("CA_HEADER_X", value))).as(value)
                    .hasMessageStartingWith("$CA_HEADER_X: the value holds U+").hasMessageEndingWith("failed to parse header value)");
        }
        // The http crate's HeaderValue::from_str (is_valid: b >= 32 && b != 127 || b == b'\t', hyperium/http
        // src/header/value.rs), under tonic's AsciiMetadataValue::from_str, takes UTF-8's bytes: ztunnel sends "caf\u00e9".
        // grpc-java's ASCII marshaller would send '?' for it, so zerohop refuses it, without claiming ztunnel does.
        assertThatThrownBy(() -> ProxyCommand.caHeaders(Map.of("CA_HEADER_X", "caf\u00e9")))
                .hasMessage("$CA_HEADER_X: the value holds U+00E9, but zerohop's gRPC client sends visible ASCII, spaces and tabs"
                        + " only (ztunnel would send its UTF-8 bytes)");
        assertThatThrownBy(() -> ProxyCommand.caHeaders(Map.of("CA_HEADER_Tenant", "a", "CA_HEADER_TENANT", "b")))
                .hasMessage("$CA_HEADER_Tenant: $CA_HEADER_TENANT names the same header, tenant (header names are not case-sensitive): keep one");
    }
}
