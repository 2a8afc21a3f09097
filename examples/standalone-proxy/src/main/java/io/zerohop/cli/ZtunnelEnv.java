package io.zerohop.cli;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * ztunnel's environment variables that {@code zerohop proxy} did not read before (istio/ztunnel src/config.rs,
 * {@code construct_config}): the tuning ones it honours, parsed as ztunnel parses them, and the rest, which it does not
 * honour, each named in one start-up warning when set to something other than ztunnel's default. An operator who
 * replaces ztunnel's DaemonSet keeps its {@code env:} values; a value that changes what ztunnel does must not be
 * dropped without a word (root README, "ztunnel's environment variables", holds the whole table).
 *
 * <p>Honoured: {@code ZTUNNEL_WORKER_THREADS} (with {@code ZTUNNEL_CPU_LIMIT}, {@code ZTUNNEL_RESOURCE_CPU_LIMIT} and
 * {@code ZTUNNEL_RESOURCE_CPU_REQUEST}), {@code POOL_MAX_STREAMS_PER_CONNECTION}, {@code POOL_UNUSED_RELEASE_TIMEOUT} and
 * {@code HTTP2_STREAM_WINDOW_SIZE}, {@code HTTP2_CONNECTION_WINDOW_SIZE}, {@code HTTP2_FRAME_SIZE}, and the TCP keepalive
 * ones ({@code KEEPALIVE_*}, {@code USER_TIMEOUT_ENABLED}), and {@code ENABLE_RESPONSE_BAGGAGE} (since 7 December; warned
 * unsupported before, when {@code false}: {@code Mesh.Builder.responseBaggage}).
 * A value ztunnel's parser refuses stops the start naming the variable and the value, as ztunnel's {@code Error::EnvVar}
 * ("invalid env var {0}={1} ({2})") stops it.
 */
final class ZtunnelEnv {
    private ZtunnelEnv() {}

    /** What the variables set; a null field leaves zerohop's default (the variable was not set). */
    record Tuning(Integer threads, Integer poolMaxStreams, Duration poolUnusedReleaseTimeout, Http2 http2,
            io.zerohop.hbone.TcpKeepalive keepalive, Boolean responseBaggage, List<String> warnings, List<String> notes) {}

    /** {@code HTTP2_STREAM_WINDOW_SIZE}, {@code HTTP2_CONNECTION_WINDOW_SIZE}, {@code HTTP2_FRAME_SIZE}, defaults filled in. */
    record Http2(int streamWindow, int connectionWindow, int frameSize) {}

    /** ztunnel's defaults (src/config.rs {@code construct_config}), which are zerohop's HBONE defaults too. */
    static final int DEFAULT_STREAM_WINDOW = 4 * 1024 * 1024;
    static final int DEFAULT_CONNECTION_WINDOW = 16 * 1024 * 1024;
    static final int DEFAULT_FRAME_SIZE = 1024 * 1024;

    /**
     * {@code POOL_UNUSED_RELEASE_TIMEOUT=0}: a connection closes as soon as its one tunnel ends ({@code Duration.ZERO} is
     * "never" in zerohop's pool).
     */
    static final Duration RELEASE_AT_ONCE = Duration.ofNanos(1);

    /** ztunnel's {@code DEFAULT_WORKER_THREADS}. */
    static final int DEFAULT_WORKER_THREADS = 2;

    /** ztunnel's {@code DEFAULT_WORKER_THREAD_CPU_FRACTION}: the share of the CPUs its default takes. */
    static final double DEFAULT_WORKER_THREAD_CPU_FRACTION = 0.25;

    /** mesh-core's event-loop ceiling ({@code Mesh.Builder.threads}: 1-1024). */
    static final int MAX_THREADS = 1024;

    /**
     * Reads {@code env}; {@code processors} stands for ztunnel's {@code num_cpus::get()} (the JVM's
     * {@code availableProcessors}, which, as num_cpus on Linux, is bounded by the cgroup's CPU quota).
     *
     * @throws Cli.RefusedException (exit 2) naming the variable and its value when ztunnel would refuse it, or when
     *         zerohop cannot honour a value ztunnel takes (said why)
     */
    static Tuning read(Map<String, String> env, int processors) throws Cli.RefusedException {
        List<String> warnings = new ArrayList<>();
        Integer threads = workerThreads(env, processors);
        Integer streams = null;
        String s = env.get("POOL_MAX_STREAMS_PER_CONNECTION");
        if (s != null) {
            long n = unsigned("POOL_MAX_STREAMS_PER_CONNECTION", s, 0xFFFF);
            // 0 is 1 in ztunnel: will_be_at_max_streamcount (src/proxy/h2/client.rs) is count + 1 >= max, true for both at
            // the first check-in, so the connection never goes back to the pool and carries the one tunnel it was dialled for.
            streams = (int) Math.max(n, 1);
        }
        Duration release = null;
        String r = env.get("POOL_UNUSED_RELEASE_TIMEOUT");
        if (r != null) {
            try {
                release = ProxyCommand.ztunnelDuration(r);
            } catch (Cli.RefusedException e) {
                throw new Cli.RefusedException("$POOL_UNUSED_RELEASE_TIMEOUT: " + e.getMessage()
                        + "; ztunnel's sums of units are taken too (5m, 1m30s, 300)", 2);
            }
            if (release.isZero()) {
                // ztunnel checks a connection in as it checks it out (src/proxy/pool.rs maybe_checkin_conn) with pingora's
                // idle_timeout(Some(0)), which drops it from the pool at once: no tunnel finds it, each dials its own, and
                // the connection closes when its tunnel ends (hyper closes a client no one holds). zerohop's idle timeout
                // reads 0 as never, the opposite: one tunnel per connection and the shortest idle time are ztunnel's 0.
                release = RELEASE_AT_ONCE;
                streams = 1;
            }
        }
        Http2 http2 = http2(env);
        io.zerohop.hbone.TcpKeepalive keepalive = keepalive(env);
        // ztunnel's parse_default(ENABLE_RESPONSE_BAGGAGE, true): Mesh.Builder.responseBaggage; null leaves its default (on).
        Boolean responseBaggage = env.containsKey("ENABLE_RESPONSE_BAGGAGE") ? bool(env, "ENABLE_RESPONSE_BAGGAGE", true) : null;
        List<String> notes = new ArrayList<>();
        unsupported(env, warnings, notes);
        return new Tuning(threads, streams, release, http2, keepalive, responseBaggage, List.copyOf(warnings), List.copyOf(notes));
    }

    /**
     * ztunnel's {@code SocketConfig} (src/config.rs): {@code KEEPALIVE_ENABLED} (true), {@code KEEPALIVE_TIME} (180s),
     * {@code KEEPALIVE_INTERVAL} (180s), {@code KEEPALIVE_RETRIES} (9), {@code USER_TIMEOUT_ENABLED} (false), durations
     * as duration-str reads them, booleans exactly {@code true} or {@code false}; once any is set, the others take
     * ztunnel's defaults (so 180 s and 9 probes, where zerohop's own default leaves those to the kernel). Null when none
     * is set. A value the kernel cannot take (an idle time or interval under 1 s or over 32767 s, more than 127 probes),
     * which ztunnel's setsockopt fails on and only traces, is refused, named.
     */
    static io.zerohop.hbone.TcpKeepalive keepalive(Map<String, String> env) throws Cli.RefusedException {
        List<String> vars = List.of("KEEPALIVE_ENABLED", "KEEPALIVE_TIME", "KEEPALIVE_INTERVAL", "KEEPALIVE_RETRIES", "USER_TIMEOUT_ENABLED");
        boolean any = false;
        for (String v : vars) { // a loop, not a stream: every start runs this (StartFootprintTest, issue 14)
            any |= env.containsKey(v);
        }
        if (!any) {
            return null;
        }
        boolean enabled = bool(env, "KEEPALIVE_ENABLED", true);
        Duration time = duration(env, "KEEPALIVE_TIME", Duration.ofSeconds(180));
        Duration interval = duration(env, "KEEPALIVE_INTERVAL", Duration.ofSeconds(180));
        String r = env.get("KEEPALIVE_RETRIES");
        long retries = r == null ? 9 : unsigned("KEEPALIVE_RETRIES", r, 0xFFFF_FFFFL);
        boolean userTimeout = bool(env, "USER_TIMEOUT_ENABLED", false);
        if (retries < 1 || retries > 127) {
            throw cannotHonour("KEEPALIVE_RETRIES", r, "Linux takes 1-127 keepalive probes (TCP_KEEPCNT)");
        }
        for (String v : List.of("KEEPALIVE_TIME", "KEEPALIVE_INTERVAL")) {
            Duration d = v.equals("KEEPALIVE_TIME") ? time : interval;
            if (d.compareTo(Duration.ofSeconds(1)) < 0 || d.compareTo(Duration.ofSeconds(32_767)) > 0) {
                throw cannotHonour(v, env.get(v), "Linux takes 1s-32767s (TCP_KEEPIDLE, TCP_KEEPINTVL; ztunnel's setsockopt"
                        + " fails on it and goes on without)");
            }
        }
        return new io.zerohop.hbone.TcpKeepalive(enabled, time, interval, (int) retries, userTimeout);
    }

    /** Rust's {@code bool::from_str}: {@code true} or {@code false}, nothing else. */
    private static boolean bool(Map<String, String> env, String var, boolean dflt) throws Cli.RefusedException {
        String v = env.get(var);
        if (v == null) {
            return dflt;
        }
        if (!v.equals("true") && !v.equals("false")) {
            throw refused(var, v, "provided string was not `true` or `false`");
        }
        return v.equals("true");
    }

    private static Duration duration(Map<String, String> env, String var, Duration dflt) throws Cli.RefusedException {
        String v = env.get(var);
        if (v == null) {
            return dflt;
        }
        try {
            return ProxyCommand.ztunnelDuration(v);
        } catch (Cli.RefusedException e) {
            throw new Cli.RefusedException("$" + var + ": " + e.getMessage() + "; ztunnel's sums of units are taken too (3m, 1m30s, 180)", 2);
        }
    }

    /**
     * ztunnel's {@code window_size}, {@code connection_window_size} and {@code frame_size} ({@code u32}s, src/config.rs),
     * which it gives its h2 server and client both (src/proxy/h2/server.rs, client.rs); null when none is set. What HTTP/2
     * cannot carry (a window above 2^31-1, a frame size outside 16384-16777215, which ztunnel's parser takes as u32s) and
     * what zerohop's HBONE cannot take (a window under 65535 bytes, a stream window above the mesh's unread-bytes budget)
     * stop the start, named.
     */
    static Http2 http2(Map<String, String> env) throws Cli.RefusedException {
        String s = env.get("HTTP2_STREAM_WINDOW_SIZE");
        String c = env.get("HTTP2_CONNECTION_WINDOW_SIZE");
        String f = env.get("HTTP2_FRAME_SIZE");
        if (s == null && c == null && f == null) {
            return null;
        }
        int stream = s == null ? DEFAULT_STREAM_WINDOW : window("HTTP2_STREAM_WINDOW_SIZE", s);
        int connection = c == null ? DEFAULT_CONNECTION_WINDOW : window("HTTP2_CONNECTION_WINDOW_SIZE", c);
        int frame = DEFAULT_FRAME_SIZE;
        if (f != null) {
            long n = unsigned("HTTP2_FRAME_SIZE", f, 0xFFFF_FFFFL);
            if (n < 16_384 || n > 16_777_215) {
                throw cannotHonour("HTTP2_FRAME_SIZE", f, "an HTTP/2 frame size is 16384-16777215 (RFC 9113 6.5.2), which ztunnel's"
                        + " h2 cannot advertise either");
            }
            frame = (int) n;
        }
        try {
            io.zerohop.core.Mesh.builder().http2(stream, connection, frame);
        } catch (IllegalArgumentException e) {
            // Windows and frame size were checked above: what is left is the stream window against the budget.
            throw cannotHonour("HTTP2_STREAM_WINDOW_SIZE", s, e.getMessage().replaceFirst("^http2: ", ""));
        }
        return new Http2(stream, connection, frame);
    }

    private static int window(String var, String v) throws Cli.RefusedException {
        long n = unsigned(var, v, 0xFFFF_FFFFL);
        if (n > Integer.MAX_VALUE) {
            throw cannotHonour(var, v, "an HTTP/2 window is at most 2147483647 bytes (RFC 9113 6.9.1), which"
                    + " ztunnel's h2 cannot advertise either");
        }
        if (n < 65_535) {
            throw cannotHonour(var, v, "zerohop's HBONE takes a window of at least 65535 bytes, HTTP/2's initial one");
        }
        return (int) n;
    }

    /**
     * ztunnel's {@code parse_worker_threads(default)} with its {@code default_worker_threads} where it applies
     * (src/config.rs): {@code ZTUNNEL_WORKER_THREADS} a count, {@code 0} for every CPU ({@link #cpuCount}), or a percentage
     * of the CPUs rounded up (at least 1); without it, {@code ZTUNNEL_RESOURCE_CPU_LIMIT} (the chart's explicit limit)
     * raised to {@code ZTUNNEL_RESOURCE_CPU_REQUEST}, else a quarter of {@link #cpuCount} rounded up, raised to the request
     * and to 2 ({@code default_worker_threads}, {@code tests::test_parse_worker_threads}). Never null: {@code zerohop proxy}
     * always sets its threads, as ztunnel; {@code Mesh.Builder}'s own max(2, processors) is for an embedded mesh.
     */
    static Integer workerThreads(Map<String, String> env, int processors) throws Cli.RefusedException {
        String v = env.get("ZTUNNEL_WORKER_THREADS");
        Integer request = cpuQuantity(env, "ZTUNNEL_RESOURCE_CPU_REQUEST");
        Integer limit = cpuQuantity(env, "ZTUNNEL_RESOURCE_CPU_LIMIT");
        int threads;
        if (v != null) {
            if (v.endsWith("%")) {
                String p = v.substring(0, v.length() - 1);
                double percent;
                if (!FLOAT.matcher(p).matches()) {
                    throw refused("ZTUNNEL_WORKER_THREADS", v, "invalid percentage: invalid float literal");
                }
                percent = Double.parseDouble(p.replaceAll("(?i)inf(inity)?", "Infinity").replaceAll("(?i)nan", "NaN"));
                if (!(percent > 0.0 && percent <= 100.0)) {
                    throw refused("ZTUNNEL_WORKER_THREADS", v, "percentage must be between 0 and 100");
                }
                threads = Math.max((int) Math.ceil(cpuCount(env, processors) * percent / 100.0), 1);
            } else {
                long n = unsigned("ZTUNNEL_WORKER_THREADS", v, Long.MAX_VALUE);
                threads = n == 0 ? cpuCount(env, processors) : (int) Math.min(n, Integer.MAX_VALUE);
            }
        } else if (limit != null) {
            threads = Math.max(limit, request == null ? 0 : request);
        } else {
            // A node proxy shares its node with the workloads it serves: ztunnel takes a quarter of the CPUs, where zerohop
            // took every one (max(2, processors)) and four times the threads ztunnel would on a 16-CPU node. Netty's event
            // loops are ztunnel's tokio workers here (one thread each, no blocking), so the same fraction serves a JVM.
            int fraction = (int) Math.ceil(cpuCount(env, processors) * DEFAULT_WORKER_THREAD_CPU_FRACTION);
            threads = Math.max(Math.max(fraction, request == null ? 0 : request), DEFAULT_WORKER_THREADS);
        }
        // The tokio builder panics on 0; ztunnel takes max(1).
        threads = Math.max(threads, 1);
        if (threads > MAX_THREADS) {
            String from = v != null ? "ZTUNNEL_WORKER_THREADS" : limit != null && limit >= threads ? "ZTUNNEL_RESOURCE_CPU_LIMIT"
                    : request != null && request >= threads ? "ZTUNNEL_RESOURCE_CPU_REQUEST" : "ZTUNNEL_CPU_LIMIT";
            throw cannotHonour(from, env.get(from), threads + " worker threads, more than zerohop's " + MAX_THREADS + " event-loop threads");
        }
        return threads;
    }

    /** Rust's {@code f64::from_str} grammar (no white space, no Java suffixes such as {@code 1d} or hex). */
    private static final java.util.regex.Pattern FLOAT = java.util.regex.Pattern.compile(
            "[+-]?(([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?|(?i:inf|infinity|nan))");

    /**
     * ztunnel's {@code get_cpu_count}: {@code ZTUNNEL_RESOURCE_CPU_LIMIT} (a CPU quantity), else {@code ZTUNNEL_CPU_LIMIT}
     * (a whole number, the downward API's {@code limits.cpu}), else the processors.
     */
    static int cpuCount(Map<String, String> env, int processors) throws Cli.RefusedException {
        Integer limit = cpuQuantity(env, "ZTUNNEL_RESOURCE_CPU_LIMIT");
        if (limit != null) {
            return limit;
        }
        String c = env.get("ZTUNNEL_CPU_LIMIT");
        return c == null ? processors : (int) Math.min(unsigned("ZTUNNEL_CPU_LIMIT", c, Long.MAX_VALUE), Integer.MAX_VALUE);
    }

    /**
     * ztunnel's {@code parse_cpu_quantity}: a Kubernetes CPU quantity ({@code 2}, {@code 1.5}, {@code 500m}) rounded up to
     * whole CPUs; null when unset.
     */
    static Integer cpuQuantity(Map<String, String> env, String var) throws Cli.RefusedException {
        String raw = env.get(var);
        if (raw == null) {
            return null;
        }
        boolean milli = raw.endsWith("m");
        String number = milli ? raw.substring(0, raw.length() - 1) : raw;
        if (!FLOAT.matcher(number).matches()) {
            throw refused(var, raw, "invalid float literal");
        }
        double cores = Double.parseDouble(number.replaceAll("(?i)inf(inity)?", "Infinity").replaceAll("(?i)nan", "NaN"));
        if (milli) {
            cores /= 1000.0;
        }
        if (!Double.isFinite(cores) || cores <= 0.0) {
            throw refused(var, raw, "must be a positive CPU quantity");
        }
        return (int) Math.min(Math.ceil(cores), Integer.MAX_VALUE);
    }

    /**
     * Rust's {@code FromStr} of an unsigned integer ({@code u16}, {@code u32}, {@code usize}): an optional {@code +} and
     * ASCII digits, nothing else (no sign, space or underscore), at most {@code max}.
     */
    static long unsigned(String var, String v, long max) throws Cli.RefusedException {
        String digits = v.startsWith("+") ? v.substring(1) : v;
        if (digits.isEmpty()) {
            throw refused(var, v, "cannot parse integer from empty string");
        }
        for (int i = 0; i < digits.length(); i++) {
            if (digits.charAt(i) < '0' || digits.charAt(i) > '9') {
                throw refused(var, v, "invalid digit found in string");
            }
        }
        try {
            long n = Long.parseLong(digits);
            if (n <= max) {
                return n;
            }
        } catch (NumberFormatException tooLarge) {
            // past a long: too large for any of ztunnel's types too
        }
        throw refused(var, v, "number too large to fit in target type" + (max < Long.MAX_VALUE ? ", at most " + max : ""));
    }

    /**
     * A value ztunnel's parser refuses too: its start fails with {@code Error::EnvVar} ("invalid env var VAR=VALUE
     * (REASON)"); named as the proxy's other variable errors, the variable first.
     */
    static Cli.RefusedException refused(String var, String value, String reason) {
        return new Cli.RefusedException("$" + var + ": \"" + value + "\" does not parse: " + reason + " (ztunnel's start fails on it too)", 2);
    }

    /** A value ztunnel takes that zerohop cannot honour as ztunnel does: refused, not changed, saying why. */
    static Cli.RefusedException cannotHonour(String var, String value, String why) {
        return new Cli.RefusedException("$" + var + ": \"" + value + "\" is refused: " + why, 2);
    }

    /**
     * A variable zerohop does not honour: its ztunnel default (null: unset is the default, any value is not), and why
     * zerohop does not read it. {@code bool}: compared as ztunnel's {@code bool::from_str} reads it.
     */
    private record Unsupported(String var, String ztunnelDefault, String why) {}

    /** In src/config.rs's order. */
    private static final List<Unsupported> UNSUPPORTED = List.of(
            new Unsupported("ENABLE_PROXY", "true", "zerohop always runs its proxy (ztunnel's false leaves only its DNS proxy, which zerohop has not)"),
            new Unsupported("NETWORK", "", "zerohop has no multi-network support: every workload is taken as reachable directly, no"
                    + " east-west gateway is used"),
            new Unsupported("PROXY_MODE", "shared", "zerohop has no dedicated mode: `zerohop proxy` serves the workloads of its node"
                    + " (--node), or presents its own SVID with --cert/--spire-socket"),
            new Unsupported("PROXY_WORKLOAD_INFO", null, "zerohop has no dedicated mode (PROXY_MODE); its own identity comes from"
                    + " --cert or --spire-socket"),
            new Unsupported("PACKET_MARK", null, "zerohop marks no socket (ztunnel's in-pod mark): deploy/node-proxy's capture.sh"
                    + " leaves the host's own traffic, the proxy's among it, uncaptured (fib saddr type local)"),
            new Unsupported("INPOD_UDS", "/var/run/ztunnel/ztunnel.sock", "zerohop has no in-pod mode: it does not talk to the"
                    + " Istio CNI agent, and captures in the host's network namespace (deploy/node-proxy)"),
            new Unsupported("INPOD_PORT_REUSE", "true", "zerohop has no in-pod mode"),
            new Unsupported("LOCAL_XDS_PATH", null, "zerohop reads no ztunnel local config: give its workloads with --workloads FILE"
                    + " (zerohop's own format) or --kubernetes"),
            new Unsupported("LOCAL_XDS", null, "zerohop reads no ztunnel local config: give its workloads with --workloads FILE"
                    + " (zerohop's own format) or --kubernetes"),
            new Unsupported("XDS_ON_DEMAND", "false", "zerohop has no xDS client: --kubernetes watches the API server"),
            new Unsupported("XDS_ADDRESS", null, "zerohop has no xDS client: workloads and policies come from --kubernetes (the"
                    + " API server) or --workloads/--policies files, not from istiod"),
            // ztunnel reads it only in its DNS proxy (src/dns/server.rs find_server: which Service's VIPs a host name several
            // namespaces share answers with); its connections pick by VIP and host name without it (src/state/service.rs
            // get_best_by_vip/get_best_by_host pass no preferred namespace to find_best_match), as zerohop's do.
            new Unsupported("PREFERED_SERVICE_NAMESPACE", null, "ztunnel uses it only in its DNS proxy, which zerohop does not"
                    + " have; connections pick among Services sharing a VIP or host name by the client's namespace, then the"
                    + " canonical one, then the first, as ztunnel's do with or without it"),
            new Unsupported("FAKE_CA", "false", "zerohop has no fake CA setting: give --in-memory-ca (development only) or"
                    + " --istio-ca"),
            new Unsupported("ENABLE_ORIG_SRC", null, "zerohop never spoofs the original source address: upstream connections"
                    + " come from the node's own address"),
            new Unsupported("PROXY_CONFIG", "", "zerohop reads no ProxyConfig: its concurrency, ports and proxyMetadata are options"
                    + " here (ZTUNNEL_WORKER_THREADS, --admin, --metrics, ISTIO_META_* variables)"),
            new Unsupported("IPV6_ENABLED", "true", "zerohop binds the addresses its options give (--inbound 0.0.0.0:15008 binds"
                    + " both families on Linux); give IPv4 addresses to keep it off IPv6"),
            new Unsupported("UNSTABLE_ENABLE_SOCKS5", "false", "zerohop opens SOCKS5 only with --socks5 (alone it binds"
                    + " 127.0.0.1:15080, ztunnel's address)"),
            new Unsupported("ISTIO_META_DNS_CAPTURE", "false", "zerohop has no DNS proxy; pods' DNS is not captured or answered"
                    + " for ServiceEntry hosts"),
            new Unsupported("ISTIO_META_DNS_PROXY_ADDR", null, "zerohop has no DNS proxy"),
            new Unsupported("XDS_ROOT_CA", null, "zerohop has no xDS client"),
            new Unsupported("CA_ROOT_CA", null, "zerohop reads istiod's root from --istio-ca-root FILE"),
            new Unsupported("ALT_XDS_HOSTNAME", null, "zerohop has no xDS client"),
            new Unsupported("ALT_CA_HOSTNAME", null, "zerohop reads it from --istio-ca-hostname NAME"),
            new Unsupported("AUTH_TOKEN", null, "zerohop reads the istio-ca token from --token-file FILE"),
            new Unsupported("LOCALHOST_APP_TUNNEL", "true", "zerohop has no in-pod mode, where it applies"));

    /**
     * One warning per {@link #UNSUPPORTED} variable set to something other than ztunnel's default, compared as written
     * (ztunnel's booleans are exactly {@code true}/{@code false}); {@code XDS_HEADER_*} variables, one warning for them all, and
     * {@code ISTIO_META_DNS_CAPTURE} as ztunnel reads it ({@code true} in any case runs its DNS proxy; unset runs it too,
     * but a proxy without the variable is given no warning: it asked for nothing).
     */
    static void unsupported(Map<String, String> env, List<String> warnings, List<String> notes) {
        for (Unsupported u : UNSUPPORTED) {
            String v = env.get(u.var());
            if (v == null || isDefault(u, v)) {
                continue;
            }
            if (u.var().equals("XDS_ADDRESS") && ISTIOD_XDS.matcher(v).matches()) {
                // Istio's chart sets it on every ztunnel (istiod[-revision].<namespace>.svc:15012): a carried-over DaemonSet
                // asks for istiod's workloads and policies, which zerohop reads from their sources, so a warning at every start
                // alarmed for nothing. Another address (a control plane that is not istiod) still warns.
                notes.add("$XDS_ADDRESS=" + v + " is not used: zerohop has no xDS client; it reads workloads from"
                        + " --inbound-endpoint, --workloads or --kubernetes (the API server istiod reads them from) and policies"
                        + " from --policies or --kubernetes instead");
                continue;
            }
            warnings.add("$" + u.var() + "=" + v + " is not read: " + u.why());
        }
        List<String> xds = new ArrayList<>();
        for (String k : env.keySet()) { // a loop, not a stream pipeline: every start runs this (issue 14)
            if (k.startsWith("XDS_HEADER_")) {
                xds.add(k);
            }
        }
        java.util.Collections.sort(xds);
        if (!xds.isEmpty()) {
            warnings.add("$" + String.join(", $", xds) + " not read: zerohop has no xDS client to send "
                    + (xds.size() == 1 ? "it" : "them") + " to");
        }
    }

    /** The XDS_ADDRESS istio's ztunnel chart writes when {@code xdsAddress} is not given: istiod's service, port 15012. */
    private static final java.util.regex.Pattern ISTIOD_XDS = java.util.regex.Pattern.compile(
            "(https://)?istiod(-[a-z0-9-]+)?\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?\\.svc(\\.[a-z0-9.-]+)?:15012");

    private static boolean isDefault(Unsupported u, String v) {
        String d = u.ztunnelDefault();
        if (d == null) {
            return false;
        }
        if (u.var().equals("ISTIO_META_DNS_CAPTURE")) {
            // ztunnel's dns_proxy: unset or "true" in any case runs it, any other value switches it off, as zerohop is.
            return !v.toLowerCase(Locale.ROOT).equals("true");
        }
        return v.equals(d);
    }
}
