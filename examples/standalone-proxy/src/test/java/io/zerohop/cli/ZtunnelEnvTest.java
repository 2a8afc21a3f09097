package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.io.OutputStream;
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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ztunnel's tuning variables (istio/ztunnel src/config.rs {@code construct_config}), read by {@code zerohop proxy}
 * ({@link ZtunnelEnv}): honoured ones parsed as ztunnel parses them, the others named in a start-up warning when set to
 * something other than ztunnel's default. Until 7 December none of them was read, and none was warned about.
 */
class ZtunnelEnvTest {
    private static final int CPUS = 7;

    private static Integer threads(String... kv) throws Cli.RefusedException {
        return ZtunnelEnv.workerThreads(env(kv), CPUS);
    }

    private static Map<String, String> env(String... kv) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    /** The cases of src/config.rs {@code tests::test_parse_worker_threads}, with CPUS standing for num_cpus. */
    @Test
    void workerThreadsAsZtunnelsTestParseWorkerThreads() throws Exception {
        assertThat(threads("ZTUNNEL_WORKER_THREADS", "4")).isEqualTo(4);
        assertThat(threads("ZTUNNEL_CPU_LIMIT", "8", "ZTUNNEL_WORKER_THREADS", "50%")).isEqualTo(4);
        assertThat(threads("ZTUNNEL_CPU_LIMIT", "16", "ZTUNNEL_WORKER_THREADS", "30%")).as("4.8 rounds up").isEqualTo(5);
        assertThat(threads("ZTUNNEL_CPU_LIMIT", "4", "ZTUNNEL_WORKER_THREADS", "10%")).as("0.4 rounds up to 1").isEqualTo(1);
        assertThat(threads()).as("unset: ztunnel's default, a quarter of 7 CPUs rounded up, at least 2").isEqualTo(2);
        // get_cpu_count: the processors, ZTUNNEL_CPU_LIMIT, and an explicit resource limit before it.
        assertThat(ZtunnelEnv.cpuCount(env(), CPUS)).isEqualTo(CPUS);
        assertThat(ZtunnelEnv.cpuCount(env("ZTUNNEL_CPU_LIMIT", "12"), CPUS)).isEqualTo(12);
        assertThat(ZtunnelEnv.cpuCount(env("ZTUNNEL_CPU_LIMIT", "12", "ZTUNNEL_RESOURCE_CPU_LIMIT", "3"), CPUS)).isEqualTo(3);
        // default_worker_threads: an explicit limit is the count, even below the default; quantities round up.
        assertThat(threads("ZTUNNEL_RESOURCE_CPU_LIMIT", "16")).isEqualTo(16);
        assertThat(threads("ZTUNNEL_RESOURCE_CPU_LIMIT", "1")).isEqualTo(1);
        assertThat(threads("ZTUNNEL_RESOURCE_CPU_LIMIT", "500m")).isEqualTo(1);
        assertThat(threads("ZTUNNEL_RESOURCE_CPU_LIMIT", "2500m")).isEqualTo(3);
        assertThat(threads("ZTUNNEL_RESOURCE_CPU_LIMIT", "1.5")).isEqualTo(2);
        // A request raises the floor; with a limit the limit is the count unless the request is above it.
        assertThat(threads("ZTUNNEL_RESOURCE_CPU_REQUEST", "8")).as("above a quarter of the CPUs").isEqualTo(8);
        assertThat(threads("ZTUNNEL_RESOURCE_CPU_REQUEST", "1")).as("the default, not lowered").isEqualTo(2);
        assertThat(threads("ZTUNNEL_RESOURCE_CPU_LIMIT", "16", "ZTUNNEL_RESOURCE_CPU_REQUEST", "4")).isEqualTo(16);
        assertThat(threads("ZTUNNEL_RESOURCE_CPU_LIMIT", "4", "ZTUNNEL_RESOURCE_CPU_REQUEST", "8")).isEqualTo(8);
        // 0 is every CPU, as proxy concurrency 0.
        assertThat(threads("ZTUNNEL_WORKER_THREADS", "0", "ZTUNNEL_CPU_LIMIT", "6")).isEqualTo(6);
        assertThat(threads("ZTUNNEL_WORKER_THREADS", "0")).isEqualTo(CPUS);
        // Rust's usize::from_str takes a leading +.
        assertThat(threads("ZTUNNEL_WORKER_THREADS", "+3")).isEqualTo(3);
    }

    /**
     * With no thread variable, ztunnel's {@code default_worker_threads} (src/config.rs, {@code DEFAULT_WORKER_THREAD_CPU_FRACTION}):
     * a quarter of {@code get_cpu_count} rounded up, raised to the CPU request and to 2; {@code ZTUNNEL_CPU_LIMIT} (the
     * chart's downward-API {@code limits.cpu}) is that count. The cases of {@code tests::test_parse_worker_threads}'s
     * "node fraction" part. zerohop took max(2, processors) before: 16 threads on 16 CPUs, where ztunnel runs 4.
     */
    @Test
    void withNoThreadVariableAQuarterOfTheCpusAsZtunnelsDefaultWorkerThreads() throws Exception {
        assertThat(ZtunnelEnv.workerThreads(env(), 16)).isEqualTo(4);
        assertThat(ZtunnelEnv.workerThreads(env(), 17)).as("4.25 rounds up").isEqualTo(5);
        assertThat(ZtunnelEnv.workerThreads(env(), 1)).as("at least DEFAULT_WORKER_THREADS").isEqualTo(2);
        assertThat(ZtunnelEnv.workerThreads(env("ZTUNNEL_CPU_LIMIT", "32"), 4)).as("25% of 32").isEqualTo(8);
        assertThat(ZtunnelEnv.workerThreads(env("ZTUNNEL_RESOURCE_CPU_REQUEST", "6"), 16)).as("the request raises it").isEqualTo(6);
        assertThat(ZtunnelEnv.workerThreads(env("ZTUNNEL_RESOURCE_CPU_REQUEST", "3"), 16)).as("not lowered by it").isEqualTo(4);
        assertThat(ZtunnelEnv.read(Map.of(), 16).threads()).as("a start with no variable sets them").isEqualTo(4);
    }

    /** What ztunnel's parsers refuse stops the start, naming the variable and the value (its {@code Error::EnvVar}). */
    @Test
    void badWorkerThreadValuesAreRefusedNamingTheVariable() {
        Map<String, String> bad = new java.util.LinkedHashMap<>();
        bad.put("four", "invalid digit found in string");
        bad.put("-1", "invalid digit found in string");
        bad.put(" 4", "invalid digit found in string");
        bad.put("", "cannot parse integer from empty string");
        bad.put("0%", "percentage must be between 0 and 100");
        bad.put("150%", "percentage must be between 0 and 100");
        bad.put("half%", "invalid percentage");
        bad.put("50d%", "invalid percentage"); // Java's parseDouble takes 50d; Rust's f64 does not
        bad.forEach((v, why) -> assertThatThrownBy(() -> threads("ZTUNNEL_WORKER_THREADS", v)).as(v)
                .isInstanceOf(Cli.RefusedException.class)
                .hasMessageStartingWith("$ZTUNNEL_WORKER_THREADS: \"" + v + "\" does not parse: ")
                .hasMessageContaining(why));
        for (String q : new String[] {"0", "-2", "0m", "two", "1.5x", "inf", " 2"}) {
            assertThatThrownBy(() -> threads("ZTUNNEL_RESOURCE_CPU_LIMIT", q)).as(q)
                    .hasMessageStartingWith("$ZTUNNEL_RESOURCE_CPU_LIMIT: \"" + q + "\" does not parse: ");
        }
        assertThatThrownBy(() -> threads("ZTUNNEL_WORKER_THREADS", "50%", "ZTUNNEL_CPU_LIMIT", "8cpu"))
                .hasMessageStartingWith("$ZTUNNEL_CPU_LIMIT: \"8cpu\" does not parse: invalid digit found in string");
        // ztunnel takes it; zerohop's event loops stop at 1024: refused, not clamped.
        assertThatThrownBy(() -> threads("ZTUNNEL_WORKER_THREADS", "2000"))
                .hasMessage("$ZTUNNEL_WORKER_THREADS: \"2000\" is refused: 2000 worker threads, more than zerohop's 1024 event-loop threads");
    }

    @Test
    void thePoolVariablesAsZtunnelReadsThem() throws Exception {
        ZtunnelEnv.Tuning none = ZtunnelEnv.read(Map.of(), CPUS);
        assertThat(none.threads()).as("ztunnel's default on 7 CPUs").isEqualTo(2);
        assertThat(none.poolMaxStreams()).isNull();
        assertThat(none.poolUnusedReleaseTimeout()).isNull();
        assertThat(none.warnings()).isEmpty();
        ZtunnelEnv.Tuning t = ZtunnelEnv.read(Map.of("POOL_MAX_STREAMS_PER_CONNECTION", "+7", "POOL_UNUSED_RELEASE_TIMEOUT", "1m30s"), CPUS);
        assertThat(t.poolMaxStreams()).isEqualTo(7);
        assertThat(t.poolUnusedReleaseTimeout()).isEqualTo(Duration.ofSeconds(90));
        // duration_str reads a bare number as seconds.
        assertThat(ZtunnelEnv.read(Map.of("POOL_UNUSED_RELEASE_TIMEOUT", "300"), CPUS).poolUnusedReleaseTimeout()).isEqualTo(Duration.ofMinutes(5));
        assertThat(ZtunnelEnv.read(Map.of("POOL_MAX_STREAMS_PER_CONNECTION", "65535"), CPUS).poolMaxStreams()).isEqualTo(65535);
        // A u16.
        assertThatThrownBy(() -> ZtunnelEnv.read(Map.of("POOL_MAX_STREAMS_PER_CONNECTION", "65536"), CPUS))
                .hasMessageStartingWith("$POOL_MAX_STREAMS_PER_CONNECTION: \"65536\" does not parse: number too large to fit in target type");
        assertThatThrownBy(() -> ZtunnelEnv.read(Map.of("POOL_MAX_STREAMS_PER_CONNECTION", "100s"), CPUS))
                .hasMessageStartingWith("$POOL_MAX_STREAMS_PER_CONNECTION: \"100s\" does not parse: invalid digit found in string");
        assertThatThrownBy(() -> ZtunnelEnv.read(Map.of("POOL_UNUSED_RELEASE_TIMEOUT", "soon"), CPUS))
                .hasMessageStartingWith("$POOL_UNUSED_RELEASE_TIMEOUT: bad duration \"soon\"");
    }

    /**
     * ztunnel takes 0 for both pool variables (src/config.rs {@code parse_default}, {@code parse_duration_default}) and
     * runs: 0 streams is 1, as {@code will_be_at_max_streamcount} (src/proxy/h2/client.rs) is true at the first check-in for
     * both; a 0 release timeout drops the connection from the pool as it is checked in (src/proxy/pool.rs
     * {@code maybe_checkin_conn}, pingora's {@code idle_timeout(Some(0))}), so no tunnel shares one and it closes when its
     * tunnel ends. zerohop refused both until 7 December; its pool's 0 idle timeout is "never", so 0 is not passed on as 0.
     */
    @Test
    void zeroPoolValuesMeanAConnectionPerTunnelAsInZtunnel() throws Exception {
        assertThat(ZtunnelEnv.read(Map.of("POOL_MAX_STREAMS_PER_CONNECTION", "0"), CPUS).poolMaxStreams()).isEqualTo(1);
        for (String zero : new String[] {"0", "0s", "0ms"}) {
            ZtunnelEnv.Tuning t = ZtunnelEnv.read(Map.of("POOL_UNUSED_RELEASE_TIMEOUT", zero, "POOL_MAX_STREAMS_PER_CONNECTION", "100"), CPUS);
            assertThat(t.poolMaxStreams()).as(zero).isEqualTo(1);
            assertThat(t.poolUnusedReleaseTimeout()).as(zero).isPositive().isLessThan(Duration.ofMillis(1));
            // What the proxy passes on is taken by the mesh.
            io.zerohop.core.Mesh.builder().maxStreamsPerConnection(t.poolMaxStreams()).idleTimeout(t.poolUnusedReleaseTimeout());
        }
    }

    /** ztunnel's u32s, with its defaults for those not set; what HTTP/2 or zerohop's HBONE cannot take is refused, named. */
    @Test
    void http2VariablesAsZtunnelReadsThem() throws Exception {
        assertThat(ZtunnelEnv.http2(Map.of())).isNull();
        assertThat(ZtunnelEnv.http2(Map.of("HTTP2_FRAME_SIZE", "16384")))
                .isEqualTo(new ZtunnelEnv.Http2(4 * 1024 * 1024, 16 * 1024 * 1024, 16_384));
        assertThat(ZtunnelEnv.http2(Map.of("HTTP2_STREAM_WINDOW_SIZE", "+1048576", "HTTP2_CONNECTION_WINDOW_SIZE", "2097152")))
                .isEqualTo(new ZtunnelEnv.Http2(1_048_576, 2_097_152, 1024 * 1024));
        assertThatThrownBy(() -> ZtunnelEnv.http2(Map.of("HTTP2_STREAM_WINDOW_SIZE", "4MiB")))
                .hasMessageStartingWith("$HTTP2_STREAM_WINDOW_SIZE: \"4MiB\" does not parse: invalid digit found in string");
        assertThatThrownBy(() -> ZtunnelEnv.http2(Map.of("HTTP2_CONNECTION_WINDOW_SIZE", "4294967296")))
                .hasMessageStartingWith("$HTTP2_CONNECTION_WINDOW_SIZE: \"4294967296\" does not parse: number too large");
        assertThatThrownBy(() -> ZtunnelEnv.http2(Map.of("HTTP2_CONNECTION_WINDOW_SIZE", "4294967295")))
                .hasMessageStartingWith("$HTTP2_CONNECTION_WINDOW_SIZE: \"4294967295\" is refused: an HTTP/2 window is at most 2147483647");
        assertThatThrownBy(() -> ZtunnelEnv.http2(Map.of("HTTP2_STREAM_WINDOW_SIZE", "1024")))
                .hasMessageStartingWith("$HTTP2_STREAM_WINDOW_SIZE: \"1024\" is refused: zerohop's HBONE takes a window of at least 65535");
        assertThatThrownBy(() -> ZtunnelEnv.http2(Map.of("HTTP2_FRAME_SIZE", "16383")))
                .hasMessageStartingWith("$HTTP2_FRAME_SIZE: \"16383\" is refused: an HTTP/2 frame size is 16384-16777215");
        assertThatThrownBy(() -> ZtunnelEnv.http2(Map.of("HTTP2_STREAM_WINDOW_SIZE", "2147483647")))
                .hasMessageStartingWith("$HTTP2_STREAM_WINDOW_SIZE: \"2147483647\" is refused: stream window 2147483647 bytes is above"
                        + " the mesh's unread-bytes budget");
    }

    /**
     * ztunnel's {@code SocketConfig} variables: once one is set the others take ztunnel's defaults (180s, 180s, 9, on, no
     * user timeout: src/config.rs {@code SocketConfig::default}); booleans are Rust's, exactly true or false.
     */
    @Test
    void keepaliveVariablesAsZtunnelReadsThem() throws Exception {
        assertThat(ZtunnelEnv.keepalive(Map.of())).as("none: zerohop's default stays").isNull();
        assertThat(ZtunnelEnv.keepalive(Map.of("KEEPALIVE_TIME", "1m")))
                .isEqualTo(new io.zerohop.hbone.TcpKeepalive(true, Duration.ofMinutes(1), Duration.ofSeconds(180), 9, false));
        io.zerohop.hbone.TcpKeepalive ut = ZtunnelEnv.keepalive(Map.of("USER_TIMEOUT_ENABLED", "true", "KEEPALIVE_INTERVAL", "10s",
                "KEEPALIVE_RETRIES", "+3", "KEEPALIVE_TIME", "30"));
        // src/proxy.rs setup_socket: TCP_USER_TIMEOUT = keepalive_time + keepalive_retries * keepalive_interval.
        assertThat(ut.userTimeoutMillis()).isEqualTo(60_000);
        assertThat(ZtunnelEnv.keepalive(Map.of("KEEPALIVE_ENABLED", "false")).enabled()).isFalse();
        for (String b : new String[] {"True", "1", "yes", ""}) {
            assertThatThrownBy(() -> ZtunnelEnv.keepalive(Map.of("KEEPALIVE_ENABLED", b))).as(b)
                    .hasMessageStartingWith("$KEEPALIVE_ENABLED: \"" + b + "\" does not parse: provided string was not `true` or `false`");
        }
        assertThatThrownBy(() -> ZtunnelEnv.keepalive(Map.of("KEEPALIVE_TIME", "soon")))
                .hasMessageStartingWith("$KEEPALIVE_TIME: bad duration \"soon\"");
        assertThatThrownBy(() -> ZtunnelEnv.keepalive(Map.of("KEEPALIVE_INTERVAL", "500ms")))
                .hasMessageStartingWith("$KEEPALIVE_INTERVAL: \"500ms\" is refused: Linux takes 1s-32767s");
        assertThatThrownBy(() -> ZtunnelEnv.keepalive(Map.of("KEEPALIVE_RETRIES", "200")))
                .hasMessageStartingWith("$KEEPALIVE_RETRIES: \"200\" is refused: Linux takes 1-127 keepalive probes");
        assertThatThrownBy(() -> ZtunnelEnv.keepalive(Map.of("KEEPALIVE_RETRIES", "-1")))
                .hasMessageStartingWith("$KEEPALIVE_RETRIES: \"-1\" does not parse: invalid digit found in string");
    }

    /**
     * ztunnel's {@code ENABLE_RESPONSE_BAGGAGE} (src/config.rs {@code parse_default(ENABLE_ENHANCED_BAGGAGE, true)}): unset
     * leaves {@code Mesh.Builder.responseBaggage} at its default (on), {@code false} switches it off, without the "not read"
     * warning it had until 7 December; any other value stops the start, as Rust's {@code bool::from_str} does ztunnel's.
     * What the switch does to the 200 and the metrics: mesh-core {@code ResponseBaggageSwitchTest}.
     */
    @Test
    void responseBaggageAsZtunnelReadsIt() throws Exception {
        assertThat(ZtunnelEnv.read(env(), CPUS).responseBaggage()).isNull();
        assertThat(ZtunnelEnv.read(env("ENABLE_RESPONSE_BAGGAGE", "true"), CPUS).responseBaggage()).isTrue();
        ZtunnelEnv.Tuning off = ZtunnelEnv.read(env("ENABLE_RESPONSE_BAGGAGE", "false"), CPUS);
        assertThat(off.responseBaggage()).isFalse();
        assertThat(off.warnings()).isEmpty();
        for (String b : new String[] {"False", "0", "no", ""}) {
            assertThatThrownBy(() -> ZtunnelEnv.read(env("ENABLE_RESPONSE_BAGGAGE", b), CPUS)).as(b)
                    .hasMessageStartingWith("$ENABLE_RESPONSE_BAGGAGE: \"" + b + "\" does not parse: provided string was not `true` or `false`");
        }
    }

    /** A variable zerohop does not honour is named once when its value differs from ztunnel's default, never when equal. */
    @Test
    void unhonouredVariablesWarnOnlyWhenTheyAskForSomethingElse() throws Exception {
        Map<String, String> defaults = env("ENABLE_PROXY", "true", "KEEPALIVE_TIME", "3m", "KEEPALIVE_INTERVAL", "180",
                "KEEPALIVE_RETRIES", "+9", "KEEPALIVE_ENABLED", "true", "USER_TIMEOUT_ENABLED", "false", "INPOD_PORT_REUSE", "true",
                "ISTIO_META_DNS_CAPTURE", "false", "HTTP2_FRAME_SIZE", "1048576", "IPV6_ENABLED", "true", "PROXY_MODE", "shared",
                "NETWORK", "", "ENABLE_RESPONSE_BAGGAGE", "true", "ISTIO_META_ENABLE_HBONE", "true", "KUBERNETES_SERVICE_HOST", "10.0.0.1");
        assertThat(ZtunnelEnv.read(defaults, CPUS).warnings()).isEmpty();
        // istiod's address, as the chart writes it (with a revision too), is a note; another control plane's is a warning.
        for (String istiod : new String[] {"istiod.istio-system.svc:15012", "istiod-1-24.istio-system.svc:15012",
                "https://istiod.istio-system.svc:15012", "istiod.istio-system.svc.cluster.local:15012"}) {
            ZtunnelEnv.Tuning t = ZtunnelEnv.read(env("XDS_ADDRESS", istiod), CPUS);
            assertThat(t.warnings()).as(istiod).isEmpty();
            assertThat(t.notes()).as(istiod).singleElement().asString().startsWith("$XDS_ADDRESS=" + istiod + " is not used:");
        }
        for (String other : new String[] {"cp.example.com:15012", "istiod.istio-system.svc:15010", "istiod.evil.example:15012"}) {
            assertThat(ZtunnelEnv.read(env("XDS_ADDRESS", other), CPUS).warnings()).as(other).singleElement().asString()
                    .startsWith("$XDS_ADDRESS=" + other + " is not read: zerohop has no xDS client");
        }
        List<String> w = ZtunnelEnv.read(env("ISTIO_META_DNS_CAPTURE", "True", "PROXY_MODE", "dedicated",
"XDS_HEADER_B", "2", "XDS_HEADER_A", "1", "FAKE_CA", "true"), CPUS).warnings();
        assertThat(w).containsExactly(
                "$PROXY_MODE=dedicated is not read: zerohop has no dedicated mode: `zerohop proxy` serves the workloads of its node"
                        + " (--node), or presents its own SVID with --cert/--spire-socket",
                "$FAKE_CA=true is not read: zerohop has no fake CA setting: give --in-memory-ca (development only) or --istio-ca",
                "$ISTIO_META_DNS_CAPTURE=True is not read: zerohop has no DNS proxy; pods' DNS is not captured or answered for"
                        + " ServiceEntry hosts",
                "$XDS_HEADER_A, $XDS_HEADER_B not read: zerohop has no xDS client to send them to");
    }

    /**
     * A real start: {@code POOL_MAX_STREAMS_PER_CONNECTION=1} makes two concurrent tunnels to one destination take two
     * HBONE connections (the pool's count in /config_dump), where the default takes one, as ztunnel's pool opens a new
     * connection once one is at its stream count (src/proxy/pool.rs {@code maybe_checkin_conn}); and
     * {@code ISTIO_META_DNS_CAPTURE=true} gets its warning.
     */
    @Test
    @org.junit.jupiter.api.Timeout(180)
    void aRealStartHonoursThePoolVariableAndWarnsForDnsCapture(@TempDir Path dir) throws Exception {
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.resolve("ca").toString())).isZero();
        assertThat(Zerohop.run("ca", "issue", "--ca", dir.resolve("ca").toString(), "--id", "spiffe://cluster.local/ns/prod/sa/web",
                "--out", dir.resolve("pem").toString(), "--ttl", "2h")).isZero();
        Path w = Files.writeString(dir.resolve("w.yaml"), """
                nodes:
                  - {name: n1, hboneAddress: "127.0.205.2:53501"}
                workloads:
                  - {namespace: prod, name: web, serviceAccount: web, addresses: [127.0.205.3], node: n1}
                """);
        try (ServerSocket app = echo("127.0.205.3", 53503)) {
            Started byDefault = poolConnections(dir, w, Map.of(), 53510);
            assertThat(byDefault.connections()).as("the default: both tunnels on one connection").isEqualTo(1);
            assertThat(byDefault.output()).doesNotContain("is not read:");
            Started tuned = poolConnections(dir, w, Map.of("POOL_MAX_STREAMS_PER_CONNECTION", "1", "ISTIO_META_DNS_CAPTURE", "true"), 53520);
            assertThat(tuned.connections()).as("one stream per connection").isEqualTo(2);
            assertThat(tuned.output()).contains("zerohop proxy: warning: $ISTIO_META_DNS_CAPTURE=true is not read: zerohop has no DNS proxy");
        }
    }

    /**
     * A real start with {@code POOL_UNUSED_RELEASE_TIMEOUT=0}: as in ztunnel, where the pool drops a connection as it checks
     * it in (src/proxy/pool.rs {@code maybe_checkin_conn}, pingora's {@code idle_timeout(Some(0))}), two tunnels at once take
     * two HBONE connections and none is left in the pool once they ended (the pools' count in /config_dump).
     */
    @Test
    @org.junit.jupiter.api.Timeout(180)
    void aRealStartWithAZeroReleaseTimeoutKeepsNoConnection(@TempDir Path dir) throws Exception {
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.resolve("ca").toString())).isZero();
        assertThat(Zerohop.run("ca", "issue", "--ca", dir.resolve("ca").toString(), "--id", "spiffe://cluster.local/ns/prod/sa/web",
                "--out", dir.resolve("pem").toString(), "--ttl", "2h")).isZero();
        Path w = Files.writeString(dir.resolve("w.yaml"), """
                nodes:
                  - {name: n1, hboneAddress: "127.0.212.21:54931"}
                workloads:
                  - {namespace: prod, name: web, serviceAccount: web, addresses: [127.0.212.22], node: n1}
                """);
        try (ServerSocket app = echo("127.0.212.22", 54933);
                ChildProxy proxy = new ChildProxy(Map.of("POOL_UNUSED_RELEASE_TIMEOUT", "0"), List.of(), "--cert",
                        dir.resolve("pem/cert.pem").toString(), "--key", dir.resolve("pem/key.pem").toString(), "--trust-bundle",
                        dir.resolve("pem/bundle.pem").toString(), "--workloads", w.toString(), "--node", "n1", "--inbound", "127.0.212.21:54931",
                        "--forward", "127.0.212.20:54930=127.0.212.22:54933", "--admin", "127.0.212.20:54934", "--metrics", "off",
                        "--readiness", "off")) {
            try (Socket a = proxy.dialForward("127.0.212.20", "127.0.212.20"); Socket b = proxy.dialForward("127.0.212.20", "127.0.212.20")) {
                for (Socket s : List.of(a, b)) {
                    s.getOutputStream().write('x');
                    assertThat(s.getInputStream().read()).as(proxy.output()).isEqualTo('x');
                }
                assertThat(pooled("127.0.212.20:54934")).as("a connection per tunnel").isEqualTo(2);
            }
            int left = -1;
            for (int i = 0; i < 100 && left != 0; i++) { // the tunnels' ends reach the proxy after the sockets' close
                left = pooled("127.0.212.20:54934");
                if (left != 0) {
                    Thread.sleep(100);
                }
            }
            assertThat(left).as("closed with their tunnels: " + proxy.output()).isZero();
            assertThat(proxy.stop()).as(proxy.output()).isZero();
        }
    }

    /** The HBONE connections of the proxy's pools, from its admin's /config_dump. */
    private static int pooled(String admin) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://" + admin + "/config_dump")).build(),
                HttpResponse.BodyHandlers.ofString());
        int n = 0;
        for (JsonNode p : new ObjectMapper().readTree(r.body()).get("pools")) {
            n += p.get("connections").asInt();
        }
        return n;
    }

    /** Starts the proxy with {@code env}, opens two tunnels at once through its forward, and sums the pools' connections. */
    /**
     * A real start: {@code HTTP2_STREAM_WINDOW_SIZE} and {@code HTTP2_FRAME_SIZE} are the SETTINGS a real HTTP/2 client
     * meets on the HBONE listener, as ztunnel's h2 server advertises them (src/proxy/h2/server.rs
     * {@code initial_window_size}, {@code max_frame_size}). (The connection window is not seen here: Netty's frame codec
     * keeps stream 0's WINDOW_UPDATE to itself, and zerohop's grows past the variable's with the streams admitted.)
     */
    @Test
    @org.junit.jupiter.api.Timeout(180)
    void aRealStartAdvertisesTheHttp2Variables(@TempDir Path dir) throws Exception {
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.resolve("ca").toString())).isZero();
        assertThat(Zerohop.run("ca", "issue", "--ca", dir.resolve("ca").toString(), "--id", "spiffe://cluster.local/ns/prod/sa/web",
                "--out", dir.resolve("pem").toString(), "--ttl", "2h")).isZero();
        try (ChildProxy proxy = new ChildProxy(Map.of("HTTP2_STREAM_WINDOW_SIZE", "1048576", "HTTP2_FRAME_SIZE", "65536",
                "HTTP2_CONNECTION_WINDOW_SIZE", "33554432"), List.of(), "--cert", dir.resolve("pem/cert.pem").toString(), "--key",
                dir.resolve("pem/key.pem").toString(), "--trust-bundle", dir.resolve("pem/bundle.pem").toString(),
                "--inbound", "127.0.205.4:53530", "--admin", "off", "--metrics", "off", "--readiness", "off")) {
            assertThat(proxy.output()).contains("zerohop proxy ready:");
            long[] seen = serverSettings(dir, new InetSocketAddress("127.0.205.4", 53530));
            assertThat(seen[0]).as("SETTINGS_INITIAL_WINDOW_SIZE").isEqualTo(1_048_576);
            assertThat(seen[1]).as("SETTINGS_MAX_FRAME_SIZE").isEqualTo(65_536);
            assertThat(proxy.stop()).as(proxy.output()).isZero();
            assertThat(proxy.output()).doesNotContain("is not read:");
        }
    }

    /**
     * The {@code env:} every ztunnel DaemonSet of istio's chart carries (istio/istio manifests/charts/ztunnel/templates/
     * daemonset.yaml, with values.yaml's defaults: {@code requests.cpu: 200m}, no CPU limit, {@code logLevel: info}, grace
     * 30 s), carried over: the proxy starts with no warning, since none of them asks for something zerohop does not do, and
     * says once, at info, that {@code XDS_ADDRESS} (always istiod's) is not used and where its workloads come from instead.
     * Until 7 December that start printed "warning: $XDS_ADDRESS=... is not read" every time.
     */
    @Test
    @org.junit.jupiter.api.Timeout(180)
    void theZtunnelChartsEnvStartsWithNoWarning(@TempDir Path dir) throws Exception {
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.resolve("ca").toString())).isZero();
        assertThat(Zerohop.run("ca", "issue", "--ca", dir.resolve("ca").toString(), "--id", "spiffe://cluster.local/ns/prod/sa/web",
                "--out", dir.resolve("pem").toString(), "--ttl", "2h")).isZero();
        Map<String, String> chart = new HashMap<>();
        chart.put("CA_ADDRESS", "istiod.istio-system.svc:15012");
        chart.put("XDS_ADDRESS", "istiod.istio-system.svc:15012");
        chart.put("RUST_LOG", "info");
        chart.put("RUST_BACKTRACE", "1");
        chart.put("ISTIO_META_CLUSTER_ID", "Kubernetes");
        chart.put("INPOD_ENABLED", "true");
        chart.put("TERMINATION_GRACE_PERIOD_SECONDS", "30");
        chart.put("POD_NAME", "ztunnel-x7k2p");
        chart.put("POD_NAMESPACE", "istio-system");
        chart.put("INSTANCE_IP", "127.0.212.1");
        chart.put("SERVICE_ACCOUNT", "ztunnel");
        chart.put("ZTUNNEL_CPU_LIMIT", "8"); // no limit: the downward API gives the node's allocatable CPUs
        chart.put("ZTUNNEL_RESOURCE_CPU_REQUEST", "1"); // 200m with divisor "1", rounded up by the kubelet
        try (ChildProxy proxy = new ChildProxy(chart, List.of(), "--cert", dir.resolve("pem/cert.pem").toString(), "--key",
                dir.resolve("pem/key.pem").toString(), "--trust-bundle", dir.resolve("pem/bundle.pem").toString(),
                "--inbound", "127.0.212.1:54900", "--admin", "off", "--metrics", "off", "--readiness", "off")) {
            assertThat(proxy.output()).contains("zerohop proxy ready:");
            assertThat(proxy.stop()).as(proxy.output()).isZero();
            String out = proxy.output();
            // Not the SIGINT line: it depends on how the test runner was started (from a script in the background, SIGINT
            // is ignored and the child inherits it: a fresh-clone CI run met it), not on the environment under test.
            String warnings = out.lines().filter(l -> !l.contains("SIGINT is ignored by this process"))
                    .collect(java.util.stream.Collectors.joining("\n"));
            assertThat(warnings).as(out).doesNotContainIgnoringCase("warn");
            assertThat(out.lines().filter(l -> l.contains("XDS_ADDRESS")).toList()).as(out).singleElement().asString()
                    .contains("$XDS_ADDRESS=istiod.istio-system.svc:15012 is not used: zerohop has no xDS client")
                    .contains("--inbound-endpoint, --workloads or --kubernetes");
        }
    }

    /**
     * A real start: what the proxy's HBONE client sends a peer's HBONE port, read raw off the TLS connection (the preface,
     * its SETTINGS and the WINDOW_UPDATE of stream 0 before the first HEADERS): {@code HTTP2_STREAM_WINDOW_SIZE} as
     * {@code SETTINGS_INITIAL_WINDOW_SIZE}, {@code HTTP2_FRAME_SIZE} as {@code SETTINGS_MAX_FRAME_SIZE} and
     * {@code HTTP2_CONNECTION_WINDOW_SIZE} as the connection window (65535 + the increment), as ztunnel's h2 client builder
     * takes them (src/proxy/h2/client.rs {@code spawn_connection}: {@code initial_window_size},
     * {@code initial_connection_window_size}, {@code max_frame_size}). Four streams per connection keep zerohop's one
     * stream window per admitted stream (4 MiB) under the variable's 32 MiB, so the variable is what is granted.
     */
    @Test
    @org.junit.jupiter.api.Timeout(180)
    void aRealStartsHboneClientSendsTheHttp2Variables(@TempDir Path dir) throws Exception {
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.resolve("ca").toString())).isZero();
        assertThat(Zerohop.run("ca", "issue", "--ca", dir.resolve("ca").toString(), "--id", "spiffe://cluster.local/ns/prod/sa/web",
                "--out", dir.resolve("pem").toString(), "--ttl", "2h")).isZero();
        Path w = Files.writeString(dir.resolve("w.yaml"), """
                nodes:
                  - {name: n0, hboneAddress: "127.0.212.9:54919"}
                  - {name: n1, hboneAddress: "127.0.212.10:54920"}
                workloads:
                  - {namespace: prod, name: web, serviceAccount: web, addresses: [127.0.212.11], node: n1}
                """);
        java.util.concurrent.CompletableFuture<Map<String, Long>> sent = new java.util.concurrent.CompletableFuture<>();
        io.netty.channel.EventLoopGroup group = new io.netty.channel.MultiThreadIoEventLoopGroup(1, io.netty.channel.nio.NioIoHandler.newFactory());
        try {
            io.netty.handler.ssl.SslContext tls = io.netty.handler.ssl.SslContextBuilder.forServer(dir.resolve("pem/cert.pem").toFile(),
                            dir.resolve("pem/key.pem").toFile())
                    .clientAuth(io.netty.handler.ssl.ClientAuth.OPTIONAL)
                    // The client's certificate is not what is looked at here.
                    .trustManager(io.netty.handler.ssl.util.InsecureTrustManagerFactory.INSTANCE)
                    .applicationProtocolConfig(new io.netty.handler.ssl.ApplicationProtocolConfig(
                            io.netty.handler.ssl.ApplicationProtocolConfig.Protocol.ALPN,
                            io.netty.handler.ssl.ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                            io.netty.handler.ssl.ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, "h2"))
                    .build();
            io.netty.channel.Channel hbone = new io.netty.bootstrap.ServerBootstrap().group(group)
                    .channel(io.netty.channel.socket.nio.NioServerSocketChannel.class)
                    .childHandler(new io.netty.channel.ChannelInitializer<io.netty.channel.socket.SocketChannel>() {
                        @Override
                        protected void initChannel(io.netty.channel.socket.SocketChannel c) {
                            c.pipeline().addLast(tls.newHandler(c.alloc()), new RawH2Frames(sent));
                        }
                    }).bind(new InetSocketAddress("127.0.212.10", 54920)).sync().channel();
            try (ChildProxy proxy = new ChildProxy(Map.of("HTTP2_STREAM_WINDOW_SIZE", "1048576", "HTTP2_FRAME_SIZE", "65536",
                    "HTTP2_CONNECTION_WINDOW_SIZE", "33554432", "POOL_MAX_STREAMS_PER_CONNECTION", "4"), List.of(), "--cert",
                    dir.resolve("pem/cert.pem").toString(), "--key", dir.resolve("pem/key.pem").toString(), "--trust-bundle",
                    dir.resolve("pem/bundle.pem").toString(), "--workloads", w.toString(), "--node", "n0", "--inbound", "127.0.212.9:54919",
                    "--forward", "127.0.212.8:54918=127.0.212.11:54921", "--admin", "off", "--metrics", "off", "--readiness", "off")) {
                try (Socket s = proxy.dialForward("127.0.212.8", "127.0.212.8")) {
                    s.getOutputStream().write('x');
                    Map<String, Long> seen;
                    try {
                        seen = sent.get(30, java.util.concurrent.TimeUnit.SECONDS);
                    } catch (java.util.concurrent.TimeoutException e) {
                        throw new AssertionError("no HEADERS from the proxy's client in 30 s; its output:\n" + proxy.output(), e);
                    }
                    assertThat(seen.get("preface")).as(proxy.output()).isEqualTo(1);
                    assertThat(seen.get("SETTINGS_INITIAL_WINDOW_SIZE")).isEqualTo(1_048_576);
                    assertThat(seen.get("SETTINGS_MAX_FRAME_SIZE")).isEqualTo(65_536);
                    assertThat(seen.get("connection window")).as(seen.toString()).isEqualTo(33_554_432);
                    assertThat(seen.get("SETTINGS_ENABLE_PUSH")).as("push off, as ztunnel's enable_push(false)").isEqualTo(0);
                }
            } finally {
                hbone.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).sync();
        }
    }

    /**
     * Reads an HTTP/2 client's first bytes as they are on the wire: the preface, then frames up to the first HEADERS (after
     * answering the preface with an empty SETTINGS);
     * completes {@code seen} with the SETTINGS parameters by name, {@code preface} 1, and {@code connection window} (65535
     * plus the increments of stream 0's WINDOW_UPDATEs before that HEADERS).
     */
    private static final class RawH2Frames extends io.netty.handler.codec.ByteToMessageDecoder {
        private static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        private final java.util.concurrent.CompletableFuture<Map<String, Long>> seen;
        private final Map<String, Long> values = new HashMap<>();
        private boolean preface;

        RawH2Frames(java.util.concurrent.CompletableFuture<Map<String, Long>> seen) {
            this.seen = seen;
            values.put("connection window", 65_535L);
        }

        @Override
        protected void decode(io.netty.channel.ChannelHandlerContext ctx, io.netty.buffer.ByteBuf in, List<Object> out) {
            if (!preface) {
                if (in.readableBytes() < PREFACE.length) {
                    return;
                }
                byte[] p = new byte[PREFACE.length];
                in.readBytes(p);
                if (!java.util.Arrays.equals(p, PREFACE)) {
                    seen.completeExceptionally(new AssertionError("not the HTTP/2 preface"));
                    ctx.close();
                    return;
                }
                preface = true;
                values.put("preface", 1L);
                // The server's own (empty) SETTINGS: zerohop's client opens its first stream once the peer's arrived.
                ctx.writeAndFlush(ctx.alloc().buffer(9).writeMedium(0).writeByte(0x4).writeByte(0).writeInt(0));
            }
            while (!seen.isDone() && in.readableBytes() >= 9) {
                int length = in.getUnsignedMedium(in.readerIndex());
                if (in.readableBytes() < 9 + length) {
                    return;
                }
                int type = in.getUnsignedByte(in.readerIndex() + 3);
                int flags = in.getUnsignedByte(in.readerIndex() + 4);
                int stream = in.getInt(in.readerIndex() + 5) & 0x7fff_ffff;
                in.skipBytes(9);
                io.netty.buffer.ByteBuf payload = in.readSlice(length);
                if (type == 0x4 && (flags & 0x1) == 0) {
                    String[] names = {null, "SETTINGS_HEADER_TABLE_SIZE", "SETTINGS_ENABLE_PUSH", "SETTINGS_MAX_CONCURRENT_STREAMS",
                            "SETTINGS_INITIAL_WINDOW_SIZE", "SETTINGS_MAX_FRAME_SIZE", "SETTINGS_MAX_HEADER_LIST_SIZE"};
                    while (payload.readableBytes() >= 6) {
                        int id = payload.readUnsignedShort();
                        long v = payload.readUnsignedInt();
                        values.put(id < names.length && id > 0 ? names[id] : "0x" + Integer.toHexString(id), v);
                    }
                } else if (type == 0x8 && stream == 0) {
                    long inc = payload.getUnsignedInt(payload.readerIndex()) & 0x7fff_ffffL;
                    values.put("update " + values.size() + " (" + inc + ")", inc);
                    values.merge("connection window", payload.readUnsignedInt() & 0x7fff_ffffL, Long::sum);
                } else if (type == 0x1) {
                    seen.complete(Map.copyOf(values));
                }
            }
            if (seen.isDone()) {
                in.skipBytes(in.readableBytes());
            }
        }

        @Override
        public void exceptionCaught(io.netty.channel.ChannelHandlerContext ctx, Throwable cause) {
            seen.completeExceptionally(cause);
            ctx.close();
        }
    }

    /**
     * A real start: {@code KEEPALIVE_TIME=42s} is the TCP keepalive of the proxy's HBONE connections, dialled and accepted,
     * as ztunnel's {@code setup_socket} sets it on its sockets: the kernel's keepalive timer on each (ss -o) is due
     * within 42 s, where zerohop's default is 180 s. So is it of the captured connection the outbound (forward) listener
     * accepted and of the inbound tunnel's dial to the application: ztunnel sets it on every socket it dials
     * ({@code DefaultSocketFactory::setup_socket} through {@code freebind_connect}, src/proxy.rs) and on what its outbound
     * and plaintext-inbound listeners accept ({@code Listener::accept}, src/socket.rs; {@code set_socket_options} in
     * src/proxy/outbound.rs and inbound_passthrough.rs). Before 7 December neither of those two had a keepalive timer at
     * all (ss -o showed none; h408).
     */
    @Test
    @org.junit.jupiter.api.Timeout(180)
    void aRealStartSetsTheKeepaliveOfItsHboneConnectionsCapturedConnectionsAndApplicationDials(@TempDir Path dir) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(io.netty.channel.epoll.Epoll.isAvailable(), "TCP_KEEPIDLE needs epoll");
        assertThat(Zerohop.run("ca", "init", "--trust-domain", "cluster.local", "--out", dir.resolve("ca").toString())).isZero();
        assertThat(Zerohop.run("ca", "issue", "--ca", dir.resolve("ca").toString(), "--id", "spiffe://cluster.local/ns/prod/sa/web",
                "--out", dir.resolve("pem").toString(), "--ttl", "2h")).isZero();
        Path w = Files.writeString(dir.resolve("w.yaml"), """
                nodes:
                  - {name: n1, hboneAddress: "127.0.205.6:53541"}
                workloads:
                  - {namespace: prod, name: web, serviceAccount: web, addresses: [127.0.205.7], node: n1}
                """);
        try (ServerSocket app = echo("127.0.205.7", 53543);
                ChildProxy proxy = new ChildProxy(Map.of("KEEPALIVE_TIME", "42s"), List.of(), "--cert", dir.resolve("pem/cert.pem").toString(),
                        "--key", dir.resolve("pem/key.pem").toString(), "--trust-bundle", dir.resolve("pem/bundle.pem").toString(),
                        "--workloads", w.toString(), "--node", "n1", "--inbound", "127.0.205.6:53541",
                        "--forward", "127.0.205.5:53542=127.0.205.7:53543", "--admin", "off", "--metrics", "off", "--readiness", "off")) {
            try (Socket s = proxy.dialForward("127.0.205.5", "127.0.205.5")) {
                s.getOutputStream().write('x');
                assertThat(s.getInputStream().read()).as(proxy.output()).isEqualTo('x');
                // Both ends of the HBONE connection are this proxy's: its client's socket and its listener's.
                assertThat(keepaliveSeconds("dst 127.0.205.6:53541")).as("dialled").isLessThanOrEqualTo(42);
                assertThat(keepaliveSeconds("src 127.0.205.6:53541")).as("accepted").isLessThanOrEqualTo(42);
                assertThat(keepaliveSeconds("src 127.0.205.5:53542")).as("the captured connection, accepted").isLessThanOrEqualTo(42);
                assertThat(keepaliveSeconds("dst 127.0.205.7:53543")).as("the application's, dialled").isLessThanOrEqualTo(42);
            }
            assertThat(proxy.stop()).as(proxy.output()).isZero();
        }
    }

    /**
     * When the kernel's keepalive timer of the one established socket {@code filter} selects is due, in seconds (ss -tno
     * prints {@code timer:(keepalive,41sec,0)} or {@code 2min59sec}). Asked again while the socket shows another timer
     * (a PING in flight arms the retransmission timer instead), at most 50 times.
     */
    private static double keepaliveSeconds(String filter) throws Exception {
        java.util.regex.Pattern p = java.util.regex.Pattern.compile("timer:\\(keepalive,(?:(\\d+)min)?(?:([\\d.]+)sec)?(?:([\\d.]+)ms)?,");
        String out = "";
        for (int i = 0; i < 50; i++) {
            Process ss = new ProcessBuilder(List.of("ss", "-tno", "state", "established", filter)).redirectErrorStream(true).start();
            out = new String(ss.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            ss.waitFor();
            java.util.regex.Matcher m = p.matcher(out);
            if (m.find()) {
                return (m.group(1) == null ? 0 : 60 * Double.parseDouble(m.group(1))) + (m.group(2) == null ? 0 : Double.parseDouble(m.group(2)))
                        + (m.group(3) == null ? 0 : Double.parseDouble(m.group(3)) / 1000);
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no keepalive timer for " + filter + " in:\n" + out);
    }

    /** The HBONE server's first SETTINGS (initial window, max frame size), as a TLS h2 client with the SVID of {@code dir/pem} sees them. */
    private static long[] serverSettings(Path dir, InetSocketAddress to) throws Exception {
        io.netty.handler.ssl.SslContext tls = io.netty.handler.ssl.SslContextBuilder.forClient()
                .keyManager(dir.resolve("pem/cert.pem").toFile(), dir.resolve("pem/key.pem").toFile())
                // Only the SETTINGS are looked at: the server's certificate is the mesh's business (its own tests).
                .trustManager(io.netty.handler.ssl.util.InsecureTrustManagerFactory.INSTANCE)
                .applicationProtocolConfig(new io.netty.handler.ssl.ApplicationProtocolConfig(
                        io.netty.handler.ssl.ApplicationProtocolConfig.Protocol.ALPN,
                        io.netty.handler.ssl.ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        io.netty.handler.ssl.ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, "h2"))
                .build();
        java.util.concurrent.CompletableFuture<long[]> settings = new java.util.concurrent.CompletableFuture<>();
        io.netty.channel.EventLoopGroup group = new io.netty.channel.MultiThreadIoEventLoopGroup(1, io.netty.channel.nio.NioIoHandler.newFactory());
        try {
            io.netty.channel.Channel ch = new io.netty.bootstrap.Bootstrap().group(group).channel(io.netty.channel.socket.nio.NioSocketChannel.class)
                    .handler(new io.netty.channel.ChannelInitializer<io.netty.channel.socket.SocketChannel>() {
                        @Override
                        protected void initChannel(io.netty.channel.socket.SocketChannel c) {
                            c.pipeline().addLast(tls.newHandler(c.alloc()), io.netty.handler.codec.http2.Http2FrameCodecBuilder.forClient().build(),
                                    new io.netty.channel.ChannelInboundHandlerAdapter() {
                                        @Override
                                        public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                                            if (msg instanceof io.netty.handler.codec.http2.Http2SettingsFrame f) {
                                                settings.complete(new long[] {
                                                        f.settings().initialWindowSize() == null ? 65_535 : f.settings().initialWindowSize(),
                                                        f.settings().maxFrameSize() == null ? 16_384 : f.settings().maxFrameSize()});
                                            }
                                            io.netty.util.ReferenceCountUtil.release(msg);
                                        }

                                        @Override
                                        public void exceptionCaught(io.netty.channel.ChannelHandlerContext ctx, Throwable cause) {
                                            settings.completeExceptionally(cause);
                                        }

                                        @Override
                                        public void channelInactive(io.netty.channel.ChannelHandlerContext ctx) {
                                            settings.completeExceptionally(new IllegalStateException("closed before SETTINGS"));
                                        }
                                    });
                        }
                    }).connect(to).sync().channel();
            try {
                return settings.get(20, java.util.concurrent.TimeUnit.SECONDS);
            } finally {
                ch.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).sync();
        }
    }

    private record Started(int connections, String output) {}

    private Started poolConnections(Path dir, Path w, Map<String, String> env, int port) throws Exception {
        try (ChildProxy proxy = new ChildProxy(env, List.of(), "--cert", dir.resolve("pem/cert.pem").toString(), "--key",
                dir.resolve("pem/key.pem").toString(), "--trust-bundle", dir.resolve("pem/bundle.pem").toString(),
                "--workloads", w.toString(), "--node", "n1", "--inbound", "127.0.205.2:53501",
                "--forward", "127.0.205.1:" + port + "=127.0.205.3:53503", "--admin", "127.0.205.1:" + (port + 1),
                "--metrics", "off", "--readiness", "off")) {
            int n = 0;
            try (Socket a = proxy.dialForward("127.0.205.1", "127.0.205.1"); Socket b = proxy.dialForward("127.0.205.1", "127.0.205.1")) {
                // Each tunnel carries a byte there and back: both are open at once when the dump is read.
                for (Socket s : List.of(a, b)) {
                    s.getOutputStream().write('x');
                    assertThat(s.getInputStream().read()).as(proxy.output()).isEqualTo('x');
                }
                HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.205.1:" + (port + 1) + "/config_dump")).build(), HttpResponse.BodyHandlers.ofString());
                for (JsonNode p : new ObjectMapper().readTree(r.body()).get("pools")) {
                    n += p.get("connections").asInt();
                }
            }
            // Closed first: open tunnels would hold the drain.
            assertThat(proxy.stop()).as(proxy.output()).isZero();
            return new Started(n, proxy.output());
        }
    }

    /** Echoes every byte of every connection, each on its own thread, until closed. */
    private static ServerSocket echo(String ip, int port) throws java.io.IOException {
        ServerSocket s = new ServerSocket();
        s.bind(new InetSocketAddress(ip, port));
        Thread t = new Thread(() -> {
            while (!s.isClosed()) {
                try {
                    Socket c = s.accept();
                    Thread relay = new Thread(() -> {
                        try (c; InputStream in = c.getInputStream(); OutputStream out = c.getOutputStream()) {
                            for (int b; (b = in.read()) >= 0; ) {
                                out.write(b);
                            }
                        } catch (java.io.IOException closed) {
                            // the tunnel ended
                        }
                    }, "echo-connection");
                    relay.setDaemon(true);
                    relay.start();
                } catch (java.io.IOException closed) {
                    return;
                }
            }
        }, "echo");
        t.setDaemon(true);
        t.start();
        return s;
    }
}
