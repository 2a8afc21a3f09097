package io.zerohop.cli.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * What an operator of Istio ambient points at ztunnel, pointed at a real {@code zerohop proxy} pair
 * (two child JVMs of the shaded jar on 127.0.34.x, one CA from {@code zerohop ca init}, real HBONE
 * tunnels between them): the Prometheus scrape, the ztunnel Grafana dashboard's series and the admin's
 * {@code /logging} in ztunnel's syntax.
 *
 * <p>Node A (proxy A, outbound only) has the callers {@code prod/frontend} (127.0.34.11),
 * {@code legacy/old} (127.0.34.13), {@code prod/batch} (127.0.34.14), {@code prod/cron} (127.0.34.15),
 * {@code prod/report} (127.0.34.16) and {@code legacy/old2} (127.0.34.17); node B (proxy B, HBONE on
 * 127.0.34.12, access log in ztunnel's text format; proxy A's in ztunnel's JSON) has {@code prod/backend} (127.0.34.12), an app in this
 * JVM that reads the request to its end and answers a fixed number of bytes. An AuthorizationPolicy on B denies namespace
 * {@code legacy}. Each test makes its own traffic from its own caller, so the tests' series do not
 * mix.
 */
@Timeout(120)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ZtunnelCompatE2EIT {
    static final String FRONTEND = "127.0.34.11";
    static final String BACKEND = "127.0.34.12";
    static final String OLD = "127.0.34.13";
    static final String BATCH = "127.0.34.14";
    static final String CRON = "127.0.34.15";
    static final String REPORT = "127.0.34.16";
    static final String OLD2 = "127.0.34.17";
    /** {@code prod/gone}, on node C, whose HBONE address refuses every connection. */
    static final String GONE = "127.0.34.18";
    /** A workload whose node's HBONE address is proxy B's, which presents another identity there (backend's). */
    static final String LIAR = "127.0.34.19";
    /**
     * ztunnel's {@code CommonTrafficLabels} (src/proxy/metrics.rs) with its {@code LocalityLabels}, which it encodes as
     * soon as either side is a known workload ({@code with_source}, {@code with_destination}): on every series here.
     */
    static final Set<String> ZTUNNEL_LABELS = Set.of("reporter",
            "source_workload", "source_canonical_service", "source_canonical_revision", "source_workload_namespace",
            "source_principal", "source_app", "source_version", "source_cluster",
            "destination_service", "destination_service_namespace", "destination_service_name",
            "destination_workload", "destination_canonical_service", "destination_canonical_revision",
            "destination_workload_namespace", "destination_principal", "destination_app", "destination_version",
            "destination_cluster", "request_protocol", "response_flags", "connection_security_policy",
            "source_region", "source_zone", "destination_region", "destination_zone");
    /** The response the app sends to every request. */
    static final int RESPONSE = 70;

    final HttpClient http = HttpClient.newHttpClient();
    final List<Child> children = new ArrayList<>();
    ServerSocket app;
    /** Node C's HBONE address: bound, never listening, so every connection to it is refused (no luck involved). */
    Socket deadNode;
    InetSocketAddress forwardToGone;
    InetSocketAddress forwardToLiar;
    Child proxyA;
    Child proxyB;
    InetSocketAddress forward;
    String metricsA;
    String metricsB;
    String adminB;
    String adminA;

    @BeforeAll
    void twoProxies() throws Exception {
        Path jar = Path.of(System.getProperty("zerohop.e2e.jar"));
        Path work = Files.createDirectories(Path.of(System.getProperty("zerohop.e2e.workDir"), "ztunnel-compat-" + System.nanoTime()));
        Netns.run(List.of(NodeProxyE2EIT.java(), "-jar", jar.toString(), "ca", "init", "--trust-domain", "cluster.local",
                "--out", work.resolve("ca").toString()));
        app = new ServerSocket(0, 50, InetAddress.getByName(BACKEND));
        Thread t = new Thread(this::serve, "ztunnel-compat-app");
        t.setDaemon(true);
        t.start();
        deadNode = new Socket();
        deadNode.bind(new InetSocketAddress(InetAddress.getByName("127.0.34.3"), 0));
        String dead = "127.0.34.3:" + deadNode.getLocalPort();
        Path policies = Files.createDirectories(work.resolve("policies"));
        Files.writeString(policies.resolve("deny-legacy.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: backend-deny-legacy, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules: [{from: [{source: {namespaces: [legacy]}}]}]
                """);
        String workloads = """
                trustDomain: cluster.local
                nodes:
                  - {name: node-a}
                  - {name: node-b%s}
                  - {name: node-c, hboneAddress: "%s"}
                  - {name: node-liar%1$s}
                workloads:
                  - {namespace: prod, name: frontend, serviceAccount: frontend, addresses: [%s], labels: {app: frontend, version: v1}, node: node-a}
                  - {namespace: legacy, name: old, serviceAccount: old, addresses: [%s], labels: {app: old}, node: node-a}
                  - {namespace: prod, name: batch, serviceAccount: batch, addresses: [%s], labels: {app: batch}, node: node-a}
                  - {namespace: prod, name: cron, serviceAccount: cron, addresses: [%s], labels: {app: cron}, node: node-a}
                  - {namespace: prod, name: report, serviceAccount: report, addresses: [%s], labels: {app: report}, node: node-a}
                  - {namespace: legacy, name: old2, serviceAccount: old2, addresses: [%s], labels: {app: old2}, node: node-a}
                  - {namespace: prod, name: gone, serviceAccount: gone, addresses: [%s], labels: {app: gone}, node: node-c}
                  - {namespace: prod, name: liar, serviceAccount: liar, addresses: [%11$s], labels: {app: liar}, node: node-liar}
                  - {namespace: prod, name: backend, serviceAccount: backend, addresses: [%s], labels: {app: backend, version: v2}, node: node-b}
                """;
        Files.writeString(work.resolve("b.yaml"), workloads.formatted("", dead, FRONTEND, OLD, BATCH, CRON, REPORT, OLD2, GONE, BACKEND, LIAR));
        proxyB = start("proxy-b", work, jar, "--workloads", work.resolve("b.yaml").toString(), "--node", "node-b",
                "--policies", policies.toString(), "--inbound", BACKEND + ":0", "--access-log-format", "ztunnel",
                "--metrics", "127.0.34.2:0", "--readiness", "off", "--admin", "127.0.34.2:0");
        String readyB = proxyB.awaitLine(l -> l.contains("zerohop proxy ready"), "ready", NodeProxyE2EIT.START);
        String hboneB = field(readyB, "hbone");
        metricsB = field(readyB, "metrics");
        adminB = field(readyB, "admin");
        // Proxy B picks the SVID by the address a tunnel is dialled to: A dials backend's address on B's port.
        Files.writeString(work.resolve("a.yaml"), workloads.formatted(", hboneAddress: \"" + hboneB + "\"", dead, FRONTEND, OLD, BATCH, CRON, REPORT, OLD2, GONE, BACKEND, LIAR));
        // A is configured as ztunnel's chart configures ztunnel's logging: LOG_FORMAT=json (JSON lines) and RUST_LOG
        // (here: warnings only, the access log at info), istio/ztunnel src/telemetry.rs.
        // (zerohop=info: the proxy's own lines, the ready line whose ports this test reads, are at scope zerohop's level.)
        proxyA = start("proxy-a", work, jar, Map.of("LOG_FORMAT", "json", "RUST_LOG", "warn,access=info,zerohop=info"),
                "--workloads", work.resolve("a.yaml").toString(), "--node", "node-a",
                "--inbound", "off", "--forward", "127.0.34.1:0=" + BACKEND + ":" + app.getLocalPort(),
                "--forward", "127.0.34.1:0=" + GONE + ":8080", "--forward", "127.0.34.1:0=" + LIAR + ":8080",
                "--metrics", "127.0.34.1:0", "--readiness", "off", "--admin", "127.0.34.1:0");
        String readyA = proxyA.awaitLine(l -> l.contains("zerohop proxy ready"), "ready", NodeProxyE2EIT.START);
        forward = forwardOf(readyA, BACKEND);
        forwardToGone = forwardOf(readyA, GONE);
        forwardToLiar = forwardOf(readyA, LIAR);
        metricsA = field(readyA, "metrics");
        adminA = field(readyA, "admin");
    }

    @AfterAll
    void stop() throws IOException {
        for (Child c : children) {
            c.close();
        }
        if (app != null) {
            app.close();
        }
        if (deadNode != null) {
            deadNode.close();
        }
    }

    @Test
    @DisplayName("the scrape has ztunnel's istio_tcp_* names, help texts, full label set, byte directions and response_flags for both reporters")
    void metricsAsZtunnel() throws Exception {
        assertThat(call(FRONTEND, 3000)).as("allowed caller's response").isEqualTo(RESPONSE);
        assertThat(call(OLD, 500)).as("denied caller gets nothing").isZero();
        Map<String, String> frontend = Map.of("source_workload", "frontend");
        Map<String, String> old = Map.of("source_workload", "old");
        // Each connection's last counter: a clean one's closed (its bytes come before it), a refused one's failed, which
        // MicrometerSink.closed increments just after closed (a scrape in between showed closed and no failed).
        List<Sample> b = awaitScrape(metricsB, "istio_tcp_connections_closed_total", frontend, 1);
        b = awaitScrape(metricsB, "istio_tcp_connections_failed_total", old, 1);
        List<Sample> a = awaitScrape(metricsA, "istio_tcp_connections_failed_total", old, 1);
        a = awaitScrape(metricsA, "istio_tcp_connections_closed_total", frontend, 1);

        for (List<Sample> scrape : List.of(a, b)) {
            // istio_tcp_sockets_open has ztunnel's SocketLabels (reporter only): ztunnelDashboardSeries checks it.
            assertThat(scrape.stream().filter(s -> s.name.startsWith("istio_tcp_") && !s.name.equals("istio_tcp_sockets_open")))
                    .isNotEmpty().allSatisfy(s -> assertThat(s.labels.keySet()).as(s.name).isEqualTo(ZTUNNEL_LABELS));
        }
        // Destination side (proxy B): request bytes are "received", response bytes "sent" (ztunnel, istio/istio#32399).
        Map<String, String> allowed = Map.of("reporter", "destination", "source_workload", "frontend", "source_workload_namespace", "prod",
                "source_principal", "spiffe://cluster.local/ns/prod/sa/frontend", "source_canonical_service", "frontend",
                "source_canonical_revision", "v1", "destination_workload", "backend", "destination_canonical_revision", "v2",
                "destination_principal", "spiffe://cluster.local/ns/prod/sa/backend", "connection_security_policy", "mutual_tls");
        // ztunnel's workloads carry istiod's cluster id, "Kubernetes" unless CLUSTER_ID says otherwise (src/state/workload.rs).
        allowed = with(with(allowed, "source_cluster", "Kubernetes"), "destination_cluster", "Kubernetes");
        assertThat(value(b, "istio_tcp_connections_opened_total", with(allowed, "response_flags", "-"))).isEqualTo(1);
        assertThat(value(b, "istio_tcp_connections_closed_total", with(allowed, "response_flags", "-"))).isEqualTo(1);
        assertThat(value(b, "istio_tcp_received_bytes_total", allowed)).isEqualTo(3000);
        assertThat(value(b, "istio_tcp_sent_bytes_total", allowed)).isEqualTo(RESPONSE);
        // The denied caller: opened (ztunnel opens its connection result before it authorizes), closed and failed with DENY.
        Map<String, String> denied = Map.of("reporter", "destination", "source_workload", "old", "source_workload_namespace", "legacy",
                "source_principal", "spiffe://cluster.local/ns/legacy/sa/old", "destination_workload", "backend");
        assertThat(value(b, "istio_tcp_connections_opened_total", with(denied, "response_flags", "-"))).isEqualTo(1);
        assertThat(value(b, "istio_tcp_connections_closed_total", with(denied, "response_flags", "DENY"))).isEqualTo(1);
        assertThat(value(b, "istio_tcp_connections_failed_total", with(denied, "response_flags", "DENY"))).isEqualTo(1);
        // Source side (proxy A): the same directions; the refused CONNECT is ztunnel's outbound ConnectionFailure.
        Map<String, String> source = with(with(allowed, "reporter", "source"), "response_flags", "-");
        assertThat(value(a, "istio_tcp_received_bytes_total", source)).isEqualTo(3000);
        assertThat(value(a, "istio_tcp_sent_bytes_total", source)).isEqualTo(RESPONSE);
        assertThat(value(a, "istio_tcp_connections_failed_total", Map.of("reporter", "source", "source_workload", "old",
                "response_flags", "CONNECT"))).isEqualTo(1);

        // Prometheus shows ztunnel's help texts (src/proxy/metrics.rs Metrics::new) with the "." its prometheus-client
        // appends to each (prometheus/client_rust src/registry.rs Descriptor::new).
        String text = get(metricsB, "/metrics").body();
        assertThat(text).contains("# HELP istio_tcp_connections_opened_total The total number of TCP connections opened.\n",
                "# HELP istio_tcp_connections_closed_total The total number of TCP connections closed.\n",
                "# HELP istio_tcp_received_bytes_total The size of total bytes received during request in case of a TCP connection.\n",
                "# HELP istio_tcp_sent_bytes_total The size of total bytes sent during response in case of a TCP connection.\n",
                "# HELP istio_build Istio component build info.\n");
        assertThat(get(metricsB, "/stats/prometheus").statusCode()).as("ztunnel's second metrics path").isEqualTo(200);
    }

    /**
     * ztunnel's metrics server compresses as the scraper asks (src/metrics/server.rs: tower-http's
     * {@code CompressionLayer}; tests/namespaced.rs {@code verify_metrics_compression} reads it back in each coding).
     * curl {@code --compressed} (a real client: it asks for {@code deflate, gzip, br, zstd} and decodes) gets gzip and
     * the same series as an uncompressed scrape; the JDK's client asking for deflate gets zlib; a scraper that accepts
     * nothing zerohop can write ({@code identity;q=0}) gets 406, as tower-http answers it.
     */
    @Test
    @DisplayName("metrics compressed as the scraper asks, as ztunnel's stats server")
    void metricsCompressedAsTheScraperAsks() throws Exception {
        Process curl = new ProcessBuilder("curl", "-sS", "--compressed", "-D", "-", "--max-time", "10", "http://" + metricsB + "/metrics")
                .redirectErrorStream(true).start();
        String out = new String(curl.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(curl.waitFor()).as(out).isZero();
        int split = out.indexOf("\r\n\r\n");
        assertThat(split).as(out).isPositive();
        String head = out.substring(0, split);
        assertThat(head).startsWith("HTTP/1.1 200").containsIgnoringCase("content-encoding: gzip")
                .containsIgnoringCase("vary: accept-encoding");
        String plain = get(metricsB, "/metrics").body();
        assertThat(seriesNames(out.substring(split + 4))).isEqualTo(seriesNames(plain)).contains("istio_build");

        HttpResponse<byte[]> deflate = http.send(HttpRequest.newBuilder(URI.create("http://" + metricsB + "/stats/prometheus"))
                .header("Accept-Encoding", "deflate").timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(deflate.headers().firstValue("content-encoding")).hasValue("deflate");
        try (InputStream in = new java.util.zip.InflaterInputStream(new java.io.ByteArrayInputStream(deflate.body()))) {
            assertThat(seriesNames(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8))).isEqualTo(seriesNames(plain));
        }
        HttpResponse<String> refused = http.send(HttpRequest.newBuilder(URI.create("http://" + metricsB + "/metrics"))
                .header("Accept-Encoding", "identity;q=0").timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(refused.statusCode()).isEqualTo(406);
    }

    /** The names of the series of a scrape (a sample line's text before its labels or value). */
    static Set<String> seriesNames(String scrape) {
        Set<String> names = new TreeSet<>();
        scrape.lines().filter(l -> !l.startsWith("#") && !l.isBlank()).forEach(l -> names.add(l.split("[{ ]", 2)[0]));
        return names;
    }

    /**
     * Proxy A runs with ztunnel's logging variables instead of flags: {@code LOG_FORMAT=json} gave it ztunnel's JSON
     * lines (every test reading A's access lines reads them), and {@code RUST_LOG=warn,access=info} kept its INFO
     * lines off stderr (B, without it, writes them) while its access lines at info still came out.
     */
    @Test
    @DisplayName("LOG_FORMAT and RUST_LOG as ztunnel reads them")
    void ztunnelsLoggingVariables() throws Exception {
        assertThat(call(CRON, 7)).isEqualTo(RESPONSE); // cron's other test needs only one call of its own
        proxyA.awaitLine(l -> l.startsWith("{\"level\":\"info\"") && l.contains("\"scope\":\"access\"")
                && l.contains("\"src.workload\":\"cron\""), "A's JSON access line", Duration.ofSeconds(20));
        // The proxy's own log lines are on stdout in the access lines' shape, as ztunnel's are (LogShape).
        assertThat(proxyA.lines()).as("A at RUST_LOG=warn: no info line but access's and the proxy's own (zerohop=info)")
                .noneMatch(l -> l.startsWith("[err] ") && l.contains(" INFO "))
                .noneMatch(l -> l.startsWith("{\"level\":\"info\"") && !l.contains("\"scope\":\"access\"")
                        && !l.contains("\"scope\":\"zerohop\""))
                .anyMatch(l -> l.startsWith("{\"level\":\"info\"") && l.contains("\"scope\":\"zerohop\",\"message\":\"zerohop proxy ready: "));
        assertThat(proxyB.lines()).as("B at the default level: the listener's info line, in ztunnel's text shape on stdout")
                .anyMatch(l -> l.matches("\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z\tinfo\thbone\\.HboneServer\tHBONE listener on .*"))
                .noneMatch(l -> l.startsWith("[err] ") && l.contains(" INFO "));
        // /logging lists the levels RUST_LOG started with, and a reset returns to them (ztunnel's reset: its start-up filter).
        assertThat(post(adminA, "/logging").body()).isEqualTo("current log level is warn,io.zerohop.access=info,zerohop=info\n");
        assertThat(post(adminA, "/logging?level=debug").body()).isEqualTo("current log level is debug,io.zerohop.access=info,zerohop=info\n");
        assertThat(post(adminA, "/logging?reset").body()).isEqualTo("current log level is warn,io.zerohop.access=info,zerohop=info\n");
    }

    /**
     * Istio's ztunnel dashboard (istio/istio manifests/addons/dashboards/ztunnel.libsonnet with
     * lib/queries.libsonnet): the series of its panels that a node proxy of zerohop's kind can have.
     * Not served, and said so in the README: {@code istio_dns_requests_total} (no DNS proxy),
     * {@code istio_xds_*} (no xDS), {@code workload_manager_*} (no in-pod mode); the container_*
     * series come from the kubelet.
     */
    @Test
    @DisplayName("the ztunnel dashboard's versions, connections, bytes and file-descriptor panels find their series")
    void ztunnelDashboardSeries() throws Exception {
        assertThat(call(CRON, 10)).isEqualTo(RESPONSE);
        List<Sample> a = awaitScrape(metricsA, "istio_tcp_connections_closed_total", Map.of("source_workload", "cron"), 1);
        // sum(istio_build{component="ztunnel"}) by (tag)
        assertThat(value(a, "istio_build", Map.of("component", "ztunnel"))).isEqualTo(1);
        assertThat(a).filteredOn(s -> s.name.equals("istio_build")).singleElement()
                .satisfies(s -> assertThat(s.labels.get("tag")).matches("zerohop-\\d+\\.\\d+\\.\\d+.*"));
        // sum(process_open_fds{app="ztunnel"}) by (pod): at least the listeners and the jar are open.
        assertThat(value(a, "process_open_fds", Map.of())).isGreaterThan(3);
        assertThat(value(a, "process_max_fds", Map.of())).isGreaterThanOrEqualTo(value(a, "process_open_fds", Map.of()));
        // sum by (pod) (rate(istio_tcp_{connections_opened,connections_closed,sent_bytes,received_bytes}_total[...]))
        Set<String> names = new TreeSet<>();
        a.forEach(s -> names.add(s.name));
        assertThat(names).contains("istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total",
                "istio_tcp_sent_bytes_total", "istio_tcp_received_bytes_total");
        // sum by (pod) (istio_tcp_sockets_open{app="ztunnel"}): ztunnel's gauge of accepted sockets by
        // reporter (src/proxy/metrics.rs SocketLabels); A has only capture listeners, so its
        // destination series is 0 once the cron call has ended.
        assertThat(a).filteredOn(s -> s.name.equals("istio_tcp_sockets_open")).extracting(s -> s.labels)
                .containsExactlyInAnyOrder(Map.of("reporter", "source"), Map.of("reporter", "destination"));
        assertThat(value(a, "istio_tcp_sockets_open", Map.of("reporter", "destination"))).isZero();
        assertThat(get(metricsA, "/metrics").body()).contains("# HELP istio_tcp_sockets_open The current number of open TCP sockets (unstable).\n");
    }

    /**
     * ztunnel's {@code /logging} (src/admin.rs, src/telemetry.rs set_level): {@code level=access=off}
     * silences the access log (ztunnel's target {@code access}); a later {@code level=debug} leaves it
     * off (the most specific name wins, as tracing's {@code Targets}); {@code reset} goes back to the
     * start-up levels. Whether a tunnel's line was logged is decided when it closes, before proxy B's
     * count of open tunnels drops (config_dump {@code openTunnels}), so the level changes below come
     * after each tunnel's decision.
     */
    @Test
    @DisplayName("POST /logging?level=access=off silences the access log, level=debug keeps it off, reset brings it back, access=debug adds ztunnel's connection opened")
    void loggingInZtunnelSyntax() throws Exception {
        HttpResponse<String> off = post(adminB, "/logging?level=access=off");
        assertThat(off.statusCode()).isEqualTo(200);
        assertThat(off.body()).isEqualTo("current log level is info,io.zerohop.access=off\n");
        int from = proxyB.size();
        assertThat(call(BATCH, 1111)).isEqualTo(RESPONSE);
        awaitNoOpenTunnel();
        assertThat(post(adminB, "/logging?level=debug").body()).isEqualTo("current log level is debug,io.zerohop.access=off\n");
        assertThat(call(BATCH, 2222)).isEqualTo(RESPONSE);
        awaitNoOpenTunnel();
        HttpResponse<String> reset = post(adminB, "/logging?reset");
        assertThat(reset.statusCode()).isEqualTo(200);
        assertThat(reset.body()).isEqualTo("current log level is info\n");
        assertThat(call(BATCH, 3333)).isEqualTo(RESPONSE);
        proxyB.awaitLine(from, l -> l.contains("\taccess\tconnection complete\t") && l.contains(" bytes_recv=3333 "),
                "access line of the third tunnel", Duration.ofSeconds(20));
        assertThat(proxyB.lines().subList(from, proxyB.size()))
                .noneMatch(l -> l.contains("bytes_recv=1111") || l.contains("bytes_recv=2222"));
        // ztunnel logs "connection opened" at DEBUG (ConnectionResultBuilder::build): only the fourth tunnel's shows.
        assertThat(post(adminB, "/logging?level=access=debug").statusCode()).isEqualTo(200);
        assertThat(call(BATCH, 4444)).isEqualTo(RESPONSE);
        proxyB.awaitLine(from, l -> l.contains("\taccess\tconnection complete\t") && l.contains(" bytes_recv=4444 "),
                "access line of the fourth tunnel", Duration.ofSeconds(20));
        assertThat(proxyB.lines().subList(from, proxyB.size()))
                .filteredOn(l -> l.contains("\tdebug\taccess\tconnection opened\t") && l.contains("src.workload=\"batch\""))
                .singleElement().satisfies(l -> assertThat(l).doesNotContain("bytes_").contains("direction=\"inbound\""));
        assertThat(post(adminB, "/logging?reset").body()).isEqualTo("current log level is info\n");
        assertThat(post(adminB, "/logging?level=access:bogus").statusCode()).isEqualTo(400);
    }

    /**
     * {@code --access-log-format ztunnel} on proxy B: one {@code connection complete} line per tunnel
     * with ztunnel's fields in ztunnel's order and encoding (istio/ztunnel src/proxy/metrics.rs
     * {@code record_internal}, src/telemetry.rs {@code IstioFormat}), the destination's bytes
     * unflipped (sent = response), ERROR with ztunnel's policy-rejection text for a denied caller.
     * Cluster fields are left out: zerohop's registry names no cluster.
     */
    @Test
    @DisplayName("--access-log-format ztunnel: ztunnel's own \"connection complete\" lines on stdout, fields, order and values")
    void accessLogInZtunnelFormat() throws Exception {
        assertThat(call(REPORT, 444)).isEqualTo(RESPONSE);
        assertThat(call(OLD2, 10)).isZero();
        // IstioFormat: time (RFC 3339, microseconds), level, target, message, fields; tab-separated, on stdout.
        Pattern line = Pattern.compile("(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z)\t(info|warn|error)\taccess\tconnection complete\t(.*)");
        String ok = proxyB.awaitLine(l -> line.matcher(l).matches() && l.contains("src.workload=\"report\"") && l.contains(" bytes_recv=444 "), "report's line",
                Duration.ofSeconds(20));
        Matcher m = line.matcher(ok);
        assertThat(m.matches()).isTrue();
        assertThat(m.group(2)).isEqualTo("info");
        Map<String, String> f = logfmt(m.group(3));
        assertThat(m.group(3)).startsWith("src.addr=");
        assertThat(f.keySet()).containsExactly("src.addr", "src.workload", "src.namespace", "src.identity", "src.cluster", "dst.addr",
                "dst.hbone_addr", "dst.workload", "dst.namespace", "dst.identity", "dst.cluster", "direction", "bytes_sent", "bytes_recv",
                "duration");
        assertThat(f).containsEntry("src.cluster", "\"Kubernetes\"").containsEntry("dst.cluster", "\"Kubernetes\"");
        assertThat(f.get("src.addr")).matches("127\\.0\\.34\\.16:\\d+");
        assertThat(f).containsEntry("src.workload", "\"report\"").containsEntry("src.namespace", "\"prod\"")
                .containsEntry("src.identity", "\"spiffe://cluster.local/ns/prod/sa/report\"")
                .containsEntry("dst.hbone_addr", BACKEND + ":" + app.getLocalPort())
                .containsEntry("dst.workload", "\"backend\"").containsEntry("dst.namespace", "\"prod\"")
                .containsEntry("dst.identity", "\"spiffe://cluster.local/ns/prod/sa/backend\"")
                .containsEntry("direction", "\"inbound\"").containsEntry("bytes_sent", Integer.toString(RESPONSE))
                .containsEntry("bytes_recv", "444");
        assertThat(f.get("dst.addr")).matches("127\\.0\\.34\\.12:\\d+").isNotEqualTo(f.get("dst.hbone_addr"));
        assertThat(f.get("duration")).matches("\"\\d+ms\"");

        String denied = proxyB.awaitLine(l -> line.matcher(l).matches() && l.contains("src.workload=\"old2\""), "old2's line",
                Duration.ofSeconds(20));
        m = line.matcher(denied);
        assertThat(m.matches()).isTrue();
        assertThat(m.group(2)).isEqualTo("error");
        Map<String, String> d = logfmt(m.group(3));
        assertThat(d).containsEntry("direction", "\"inbound\"").containsEntry("bytes_sent", "0").containsEntry("bytes_recv", "0")
                .containsEntry("src.identity", "\"spiffe://cluster.local/ns/legacy/sa/old2\"");
        // ztunnel's exact text (src/proxy.rs AuthorizationRejectionError::ExplicitlyDenied), what alerts grep for.
        assertThat(d.get("error")).isEqualTo("\"connection closed due to policy rejection: explicitly denied by: prod/backend-deny-legacy\"");
        assertThat(d.keySet()).endsWith("duration", "error");
        assertThat(d.get("duration")).as("ztunnel's connection complete always has one").matches("\"\\d+ms\"");
        // Proxy A's side of the same denial, in ztunnel's words for an outbound HTTP status (hyper's StatusCode).
        String outbound = proxyA.awaitLine(l -> l.startsWith("{\"level\":\"error\"") && l.contains("\"src.workload\":\"old2\""),
                "A's line for old2", Duration.ofSeconds(20));
        assertThat(new com.fasterxml.jackson.databind.ObjectMapper().readTree(outbound).get("error").asText())
                .isEqualTo("http status: 401 Unauthorized");
    }

    /**
     * {@code --access-log-format ztunnel-json} on proxy A (outbound): ztunnel's {@code IstioJsonFormat}
     * line, one JSON object per line on stdout (level, time, scope, message, then the fields; byte
     * counts as numbers), for the outbound side of a tunnel.
     */
    @Test
    @DisplayName("--access-log-format ztunnel-json: one JSON object per tunnel, ztunnel's keys")
    void accessLogInZtunnelJson() throws Exception {
        assertThat(call(REPORT, 555)).isEqualTo(RESPONSE);
        String json = proxyA.awaitLine(l -> l.startsWith("{\"level\":") && l.contains("\"bytes_sent\":555,"), "A's JSON line",
                Duration.ofSeconds(20));
        var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
        List<String> keys = new ArrayList<>();
        node.fieldNames().forEachRemaining(keys::add);
        assertThat(keys).containsExactly("level", "time", "scope", "message", "src.addr", "src.workload", "src.namespace", "src.identity",
                "src.cluster", "dst.addr", "dst.hbone_addr", "dst.workload", "dst.namespace", "dst.identity", "dst.cluster", "direction",
                "bytes_sent", "bytes_recv", "duration");
        assertThat(node.get("level").asText()).isEqualTo("info");
        assertThat(node.get("scope").asText()).isEqualTo("access");
        assertThat(node.get("message").asText()).isEqualTo("connection complete");
        assertThat(node.get("src.addr").asText()).matches("127\\.0\\.34\\.16:\\d+");
        assertThat(node.get("src.identity").asText()).isEqualTo("spiffe://cluster.local/ns/prod/sa/report");
        assertThat(node.get("direction").asText()).isEqualTo("outbound");
        assertThat(node.get("bytes_sent").isNumber()).isTrue();
        assertThat(node.get("bytes_recv").asLong()).isEqualTo(RESPONSE);
        assertThat(java.time.Instant.parse(node.get("time").asText())).isNotNull();
    }

    /**
     * A tunnel to a node whose proxy is down: the dial is refused before any stream exists. ztunnel's
     * outbound counts it (src/proxy/outbound.rs records the connection result with
     * {@code ConnectionFailure}): opened, closed and failed with {@code response_flags="CONNECT"} and
     * the destination's labels, and an access-log line.
     */
    @Test
    @DisplayName("a tunnel whose HBONE dial is refused counts as opened, closed and failed with CONNECT, and gets an access-log line")
    void refusedDialCountsAsAConnectionFailure() throws Exception {
        int from = proxyA.size();
        assertThat(call(REPORT, 10, forwardToGone)).isZero();
        Map<String, String> gone = Map.of("reporter", "source", "source_workload", "report", "destination_workload", "gone",
                "destination_principal", "spiffe://cluster.local/ns/prod/sa/gone");
        List<Sample> a = awaitScrape(metricsA, "istio_tcp_connections_failed_total", with(gone, "response_flags", "CONNECT"), 1);
        assertThat(value(a, "istio_tcp_connections_opened_total", with(gone, "response_flags", "-"))).isEqualTo(1);
        assertThat(value(a, "istio_tcp_connections_closed_total", with(gone, "response_flags", "CONNECT"))).isEqualTo(1);
        assertThat(value(a, "istio_tcp_connections_failed_total", with(gone, "response_flags", "CONNECT"))).isEqualTo(1);
        String json = proxyA.awaitLine(from, l -> l.startsWith("{\"level\":\"error\"") && l.contains("\"dst.workload\":\"gone\""),
                "A's access line", Duration.ofSeconds(20));
        var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
        assertThat(node.get("message").asText()).isEqualTo("connection complete");
        assertThat(node.get("src.workload").asText()).isEqualTo("report");
        assertThat(node.get("dst.hbone_addr").asText()).isEqualTo(GONE + ":8080");
        assertThat(node.get("dst.addr").asText()).startsWith("127.0.34.3:");
        // ztunnel's pool gets an io::Error from the dial: Error::Io, "io error: ..." (src/proxy.rs, src/proxy/pool.rs).
        assertThat(node.get("error").asText()).startsWith("io error: ").contains("Connection refused");
    }

    /**
     * Proxy B presents backend's identity where A's registry expects prod/liar: A's TLS handshake
     * fails (wrong SAN). ztunnel records each outbound connection whose HBONE dial failed with its
     * labels (src/proxy/outbound.rs {@code proxy_to_hbone}: the result is built before the dial), and
     * rustls' handshake error reaches it as an {@code io::Error} (src/proxy/pool.rs
     * {@code new_pool_conn}), {@code CONNECT} in {@code extract_failure_reason} (src/proxy/metrics.rs).
     */
    @Test
    @DisplayName("a TLS failure toward a server of the wrong identity counts per connection, with its labels and CONNECT")
    void tlsFailureCountsPerConnectionWithLabels() throws Exception {
        int from = proxyA.size();
        assertThat(call(BATCH, 10, forwardToLiar)).isZero();
        assertThat(call(BATCH, 10, forwardToLiar)).isZero();
        Map<String, String> liar = Map.of("reporter", "source", "source_workload", "batch", "source_workload_namespace", "prod",
                "source_principal", "spiffe://cluster.local/ns/prod/sa/batch", "source_cluster", "Kubernetes",
                "destination_workload", "liar", "destination_principal", "spiffe://cluster.local/ns/prod/sa/liar",
                "destination_cluster", "Kubernetes");
        List<Sample> a = awaitScrape(metricsA, "istio_tcp_connections_failed_total", with(liar, "response_flags", "CONNECT"), 2);
        assertThat(value(a, "istio_tcp_connections_opened_total", with(liar, "response_flags", "-"))).isEqualTo(2);
        assertThat(value(a, "istio_tcp_connections_closed_total", with(liar, "response_flags", "CONNECT"))).isEqualTo(2);
        assertThat(value(a, "istio_tcp_connections_failed_total", with(liar, "response_flags", "CONNECT"))).isEqualTo(2);
        assertThat(value(a, "istio_tcp_connections_closed_total", Map.of("source_workload", "unknown"))).isZero();
        // One ERROR connection complete per open with ztunnel's io::Error text; ztunnel's pool logs
        // no line of its own for the failed connection (src/proxy/pool.rs new_pool_conn).
        java.util.function.Predicate<String> liarLine = l -> l.startsWith("{\"level\":\"error\"") && l.contains("\"dst.workload\":\"liar\"");
        String first = proxyA.awaitLine(from, liarLine, "A's first liar line", Duration.ofSeconds(20));
        proxyA.awaitLine(proxyA.lines().indexOf(first) + 1, liarLine, "A's second liar line", Duration.ofSeconds(20));
        List<String> lines = proxyA.lines().subList(from, proxyA.size());
        assertThat(lines).filteredOn(liarLine).hasSize(2)
                .allSatisfy(l -> assertThat(l).contains("\"message\":\"connection complete\"").contains("\"error\":\"io error: "));
        assertThat(lines).noneMatch(l -> l.contains("\"message\":\"connection failed\"") && l.contains("\"direction\":\"outbound\""));
    }

    /** {@code key=value} pairs of a ztunnel log line's fields, values as written (quoted or bare), in order. */
    static Map<String, String> logfmt(String fields) {
        Map<String, String> out = new LinkedHashMap<>();
        Matcher m = Pattern.compile("([a-z_.]+)=(\"(?:[^\"\\\\]|\\\\.)*\"|\\S+)").matcher(fields);
        while (m.find()) {
            out.put(m.group(1), m.group(2));
        }
        return out;
    }

    /** Proxy A forwards a connection from {@code source} to the app: writes {@code up} bytes, returns how many came back. */
    int call(String source, int up) throws IOException {
        return call(source, up, forward);
    }

    /** {@link #call(String, int)} through the forward listener {@code via}. */
    int call(String source, int up, InetSocketAddress via) throws IOException {
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName(source), 0));
            try {
                s.connect(via, 10_000);
            } catch (java.net.SocketException resetDuringConnect) {
                // A refused tunnel resets the accepted connection at once; on loopback the RST can reach this socket
                // before its connect returned (SO_ERROR read after the handshake): refused, as a reset at the write is.
                return 0;
            }
            s.setSoTimeout(20_000);
            OutputStream out = s.getOutputStream();
            try {
                out.write(new byte[up]);
                s.shutdownOutput();
            } catch (IOException refused) {
                return 0;
            }
            int n = 0;
            try {
                InputStream in = s.getInputStream();
                for (int r; (r = in.read(new byte[4096])) >= 0; ) {
                    n += r;
                }
            } catch (IOException reset) {
                // a denied tunnel is reset
            }
            return n;
        }
    }

    /** The app: reads each request to its end, answers {@link #RESPONSE} bytes and closes. */
    private void serve() {
        while (!app.isClosed()) {
            try {
                Socket s = app.accept();
                Thread t = new Thread(() -> {
                    try (s) {
                        s.getInputStream().transferTo(OutputStream.nullOutputStream());
                        s.getOutputStream().write(new byte[RESPONSE]);
                    } catch (IOException e) {
                        // the tunnel was reset
                    }
                });
                t.setDaemon(true);
                t.start();
            } catch (IOException closed) {
                return;
            }
        }
    }

    void awaitNoOpenTunnel() throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        String dump;
        while (!(dump = get(adminB, "/config_dump").body()).contains("\"openTunnels\" : 0")) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("proxy B still has open tunnels:\n" + dump);
            }
            Thread.sleep(20);
        }
    }

    record Sample(String name, Map<String, String> labels, double value) {}

    private static final Pattern SAMPLE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)})? (\\S+)");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\",?");

    List<Sample> scrape(String metrics) throws Exception {
        HttpResponse<String> r = get(metrics, "/metrics");
        assertThat(r.statusCode()).isEqualTo(200);
        List<Sample> out = new ArrayList<>();
        for (String line : r.body().split("\n")) {
            Matcher m = SAMPLE.matcher(line);
            if (line.startsWith("#") || !m.matches()) {
                continue;
            }
            Map<String, String> labels = new LinkedHashMap<>();
            if (m.group(2) != null) {
                Matcher l = LABEL.matcher(m.group(2));
                while (l.find()) {
                    labels.put(l.group(1), l.group(2));
                }
            }
            out.add(new Sample(m.group(1), labels, Double.parseDouble(m.group(3))));
        }
        return out;
    }

    /** Scrapes until the sum of {@code name} over series matching {@code labels} reaches {@code atLeast}. */
    List<Sample> awaitScrape(String metrics, String name, Map<String, String> labels, double atLeast) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (true) {
            List<Sample> s = scrape(metrics);
            if (value(s, name, labels) >= atLeast) {
                return s;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError(name + labels + " did not reach " + atLeast + " at " + metrics + ": " + s);
            }
            Thread.sleep(50);
        }
    }

    static double value(List<Sample> scrape, String name, Map<String, String> labels) {
        return scrape.stream().filter(s -> s.name.equals(name) && s.labels.entrySet().containsAll(labels.entrySet()))
                .mapToDouble(Sample::value).sum();
    }

    static Map<String, String> with(Map<String, String> m, String k, String v) {
        Map<String, String> c = new LinkedHashMap<>(m);
        c.put(k, v);
        return c;
    }

    /** Proxy A's forward listener to {@code targetIp}, from its ready line ({@code forward 127.0.34.1:PORT=IP:PORT}). */
    static InetSocketAddress forwardOf(String ready, String targetIp) throws IOException {
        Matcher m = Pattern.compile("forward 127\\.0\\.34\\.1:(\\d+)=" + Pattern.quote(targetIp) + ":").matcher(ready);
        assertThat(m.find()).as("forward to " + targetIp + " in " + ready).isTrue();
        return new InetSocketAddress(InetAddress.getByName("127.0.34.1"), Integer.parseInt(m.group(1)));
    }

    /** {@code KEY HOST:PORT} from a ready line. */
    static String field(String ready, String key) {
        Matcher m = Pattern.compile("\\b" + key + " (\\d+\\.\\d+\\.\\d+\\.\\d+:\\d+)").matcher(ready);
        assertThat(m.find()).as(key + " in " + ready).isTrue();
        return m.group(1);
    }

    Child start(String name, Path work, Path jar, String... args) throws IOException {
        return start(name, work, jar, Map.of(), args);
    }

    Child start(String name, Path work, Path jar, Map<String, String> env, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(NodeProxyE2EIT.java(), "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-jar", jar.toString(), "proxy", "--ca", work.resolve("ca").toString()));
        cmd.addAll(List.of(args));
        Child c = Child.start(name, work, cmd, env);
        children.add(c);
        return c;
    }

    HttpResponse<String> get(String authority, String path) throws Exception {
        return send("GET", authority, path);
    }

    HttpResponse<String> post(String authority, String path) throws Exception {
        return send("POST", authority, path);
    }

    HttpResponse<String> send(String method, String authority, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://" + authority + path))
                .method(method, HttpRequest.BodyPublishers.noBody()).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
