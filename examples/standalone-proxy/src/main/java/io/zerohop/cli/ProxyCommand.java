package io.zerohop.cli;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.zerohop.core.Addresses;
import io.zerohop.core.Capture;
import io.zerohop.core.HttpEndpoint;
import io.zerohop.core.LogOutput;
import io.zerohop.core.Mesh;
import io.zerohop.core.SelectorCheck;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.istio.IstioCaClient;
import io.zerohop.identity.spire.SpireIdentityProvider;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.PolicySet;
import io.zerohop.policy.ReloadListener;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zerohop proxy}: the node proxy. */
@Command(name = "proxy", mixinStandardHelpOptions = true, version = Zerohop.VERSION, usageHelpAutoWidth = true,
        // The synopsis picocli builds lists all 25 options over 17 lines; this one names what is required.
        customSynopsis = {"zerohop proxy [OPTIONS] IDENTITY-SOURCE",
                "  IDENTITY-SOURCE: --in-memory-ca | --ca=DIR | --spire-socket=PATH",
                "    | --cert=FILE --key=FILE --trust-bundle=FILE",
                "    | --istio-ca=HOST:PORT --istio-ca-root=FILE --token-file=FILE"},
        // One element per line, each under 80 columns: picocli's line breaking splits "0.0.0.0:" from
        // "15020", and the command list of `zerohop --help` shows the first element only.
        description = {"Run the node proxy: HBONE tunnels in and out, with policy enforcement.",
                "  HBONE inbound     0.0.0.0:15008 (--inbound)",
                "  outbound capture  TPROXY, SOCKS5, static forwards (each when given)",
                "  metrics           0.0.0.0:15020/metrics (ztunnel's metric names)",
                "  readiness         0.0.0.0:15021/healthz/ready",
                "  admin             127.0.0.1:15000 (/config_dump, /logging, /quitquitquit)",
                "Any option can be set in a YAML file given by --config, under its long name",
                "without the dashes; flags on the command line win (an identity flag drops the",
                "file's keys of other identity sources; --cert/--key/--trust-bundle, the",
                "--istio-ca options and --spire-socket/--spiffe-id replace the file's one by",
                "one).",
                "Exit codes:",
                "  0  stopped by SIGTERM, SIGINT or /quitquitquit, after draining",
                "     (SIGHUP drains the same way, then exits 129 as the JVM does)",
                "  1  failure, including an input file's content: a --workloads or --policies",
                "     file that does not load (the message names file:line: field); a",
                "     listener that cannot bind",
                "  2  usage: an option on the command line or in the --config file (the",
                "     message names the flag, or file:line: key), or a path option that",
                "     names no readable file or directory",
                "  3  out of heap, through deploy/zerohop.sh (-XX:+ExitOnOutOfMemoryError)",
                "  4  identity: PEM files that are no valid SVID for their trust bundle;",
                "     Istio CA: token or impersonation refused, a TLS failure, or no usable",
                "     certificate (a CA out of reach is waited for, as ztunnel waits)",
                ""})
final class ProxyCommand implements Callable<Integer> {
    /** A default on a line of its own: picocli's line breaking would split an address after its colon. */
    private static final String DEFAULT = "Default: ${DEFAULT-VALUE}";
    private static final String FALLBACK = "Without a value: ${FALLBACK-VALUE}";

    @Option(names = "--config", paramLabel = "FILE", description = "YAML file of options (command-line flags win)")
    Path config;

    @Option(names = "--trust-domain", paramLabel = "DOMAIN", defaultValue = "cluster.local", description = {"Trust domain", DEFAULT})
    String trustDomain;

    /** istiod's meshConfig.trustDomainAliases: L7 principals are rewritten for them as istiod's bundle.go does. */
    @Option(names = "--trust-domain-aliases", paramLabel = "DOMAIN", split = ",", description = {
            "The mesh's trust domain aliases (istiod's trustDomainAliases), comma-separated or repeated: a principal"
                    + " of --trust-domain, an alias or cluster.local matches in each of them per HTTP request, as at a"
                    + " waypoint; at L4 as written, as at ztunnel", "Default: none"})
    List<String> trustDomainAliases = new ArrayList<>();

    @ArgGroup(exclusive = true, multiplicity = "1", heading = "Identity source (one of):%n")
    IdentitySource identity;

    static final class IdentitySource {
        @ArgGroup(exclusive = false)
        PemFiles pem;

        @Option(names = "--spire-socket", paramLabel = "PATH", description = "SPIRE Workload API socket (unix:/path or /path); waits for the agent's first SVID, retrying with back-off")
        String spireSocket;

        @Option(names = "--ca", paramLabel = "DIR", description = "CA directory from `zerohop ca init`: issues SVIDs for this node's workloads (read once, at start)")
        Path caDir;

        @Option(names = "--in-memory-ca", description = "A throw-away in-memory CA (development only)")
        boolean inMemoryCa;

        @ArgGroup(exclusive = false)
        IstioCa istio;
    }

    /**
     * {@code SpireIdentityProvider.Builder.spiffeId}: which of the agent's SVIDs is the proxy's own identity. Not in
     * {@link IdentitySource}: it is no identity source, and picocli would word its conflicts as a choice between sources;
     * {@link #check} refuses it without {@code --spire-socket}, naming both.
     */
    @Option(names = "--spiffe-id", paramLabel = "ID", description = {
            "With --spire-socket: which of the agent's SVIDs (spiffe://TRUST-DOMAIN/PATH) is this proxy's own identity;"
                    + " until the agent gives it, the proxy waits, not ready, and presents no other",
            "Default: the Workload API's default (its first SVID)"})
    String spiffeId;

    /** {@link #spiffeId} parsed by {@link #check}. */
    private io.spiffe.spiffeid.SpiffeId pinnedId;

    /**
     * ztunnel's CLUSTER_ID, whatever the identity source (istio/ztunnel src/config.rs: the
     * {@code ISTIO_META_CLUSTER_ID} variable, else {@code CLUSTER_ID}, else {@code Kubernetes}). The flag
     * wins over the environment, as {@code --node} over {@code NODE_NAME}.
     */
    @Option(names = "--cluster-id", paramLabel = "ID", description = {
            "This proxy's cluster: source_cluster/destination_cluster of workloads without a topology.istio.io/cluster label,"
                    + " and with --istio-ca the ClusterID header istiod validates the token in",
            "Default: $ISTIO_META_CLUSTER_ID, else $CLUSTER_ID, else Kubernetes (as ztunnel)"})
    String clusterId;

    /** ztunnel's CA_ADDRESS, CA_ROOT_CA, the istio-token and ALT_CA_HOSTNAME settings (CLUSTER_ID: {@link #clusterId}). */
    static final class IstioCa {
        @Option(names = "--istio-ca", paramLabel = "HOST:PORT", required = true,
                description = "Istio CA (istiod's port 15012): SVIDs for this node's pods, asked for with ImpersonatedIdentity as ztunnel does;"
                        + " ztunnel's $SECRET_TTL (lifetime asked for, default 24h) and $CA_HEADER_NAME (extra request headers) are read")
        String address;

        @Option(names = "--istio-ca-root", paramLabel = "FILE", required = true,
                description = "istiod's root certificate PEM (istio-ca-root-cert ConfigMap's root-cert.pem): verifies the CA and the mesh")
        Path root;

        @Option(names = "--token-file", paramLabel = "FILE", required = true,
                description = "Projected service-account token for the Istio CA (audience istio-ca), re-read for every request")
        Path tokenFile;

        @Option(names = "--istio-ca-hostname", paramLabel = "NAME", description = "Name to check the CA's certificate against, when not --istio-ca's host")
        String hostname;
    }

    static final class PemFiles {
        @Option(names = "--cert", paramLabel = "FILE", required = true, description = "Certificate chain PEM (reloaded on change)")
        Path cert;

        @Option(names = "--key", paramLabel = "FILE", required = true, description = "PKCS#8 private key PEM")
        Path key;

        @Option(names = "--trust-bundle", paramLabel = "FILE", required = true, description = "Trusted roots PEM")
        Path bundle;
    }

    @Option(names = "--inbound", paramLabel = "ADDR", defaultValue = "0.0.0.0:15008", description = {"HBONE listener, or off", DEFAULT})
    String inbound;

    @Option(names = "--inbound-transparent",
            description = "Make the HBONE listener IP_TRANSPARENT, for a TPROXY rule that hands it tunnels dialled to local pods' HBONE port (needs CAP_NET_ADMIN)")
    boolean inboundTransparent;

    @Option(names = "--policies", paramLabel = "PATH", description = "Directory (or file) of Istio/Cilium policy YAML, hot reloaded")
    Path policies;

    /**
     * ztunnel's CLUSTER_DOMAIN (istio/ztunnel src/config.rs, default {@code cluster.local}), istiod's {@code --domain}
     * (pilot/cmd/pilot-discovery/app/cmd.go): Services are {@code NAME.NS.svc.DOMAIN}, those of the API server under
     * --kubernetes and a --workloads file's that give no {@code hostname:} ({@link #clusterDomain(String, Map)}).
     */
    @Option(names = "--cluster-domain", paramLabel = "DOMAIN", description = {
            "With --kubernetes or --workloads: the cluster's DNS domain, which Service hostnames (NAME.NS.svc.DOMAIN; in a"
                    + " --workloads file, those not given), waypoints named by hostname and destination_service end with;"
                    + " give istiod's --domain",
            "Default: $CLUSTER_DOMAIN, else cluster.local (as ztunnel)"})
    String clusterDomain;

    /**
     * istiod's MeshConfig file ({@code --meshConfig}), of which only {@code serviceEntryVisibility} is read, as istiod's
     * ambient index reads it for ServiceEntries (pilot/pkg/serviceregistry/kube/controller/ambient
     * {@code serviceentry_visibility.go}); read once at start, where istiod follows edits (restart the proxy after one).
     */
    @Option(names = "--mesh-config", paramLabel = "FILE", description = {
            "With --kubernetes: istiod's MeshConfig YAML (its --meshConfig file; the mesh key of ConfigMap istio-system/istio),"
                    + " read once at start for serviceEntryVisibility only: which namespaces see each ServiceEntry",
            "Default: none (every ServiceEntry public, istiod's default)"})
    Path meshConfig;

    /** {@link #meshConfig}'s {@code serviceEntryVisibility}, checked by {@link #check}; null without the option. */
    private io.zerohop.kubernetes.ServiceEntryVisibility checkedServiceEntryVisibility;

    /** {@link #clusterDomain} or the environment's, checked by {@link #check}. */
    private String checkedClusterDomain = io.zerohop.kubernetes.KubernetesDiscovery.DEFAULT_CLUSTER_DOMAIN;

    @Option(names = "--root-namespace", paramLabel = "NS", defaultValue = "istio-system", description = {"Istio root namespace", DEFAULT})
    String rootNamespace;

    @Option(names = "--policy-default-local-cluster", paramLabel = "BOOL", arity = "1", defaultValue = "true",
            description = {"As Cilium's agent option of that name: true (Cilium 1.19's default) limits every Cilium fromEndpoints"
                    + " selector that names no io.cilium.k8s.policy.cluster to the destination's cluster; false (Cilium 1.18's"
                    + " default; before 1.18 always) adds no cluster", DEFAULT})
    boolean policyDefaultLocalCluster = true;

    @Option(names = "--workloads", paramLabel = "FILE", description = "Workload registry YAML, read once at start (unlike --policies: restart the proxy after editing it)")
    Path workloads;

    @Option(names = "--node", paramLabel = "NAME", description = "This node's name in the registry: inbound serves only its workloads")
    String node;

    @Option(names = "--kubernetes", description = "Workloads and policies from the Kubernetes API server (in-cluster or kubeconfig);"
            + " serves --node's pods (default $NODE_NAME); ready once synced")
    boolean kubernetes;

    @Option(names = "--transparent", paramLabel = "ADDR", arity = "0..1", fallbackValue = "0.0.0.0:15001",
            description = {"TPROXY outbound capture listener (IP_TRANSPARENT), or off (the default)", FALLBACK})
    String transparent;

    @Option(names = "--socks5", paramLabel = "ADDR", arity = "0..1", fallbackValue = "127.0.0.1:15080",
            description = {"SOCKS5 outbound capture listener, or off (the default)", FALLBACK})
    String socks5;

    @Option(names = "--forward", paramLabel = "LOCAL=TARGET", split = ",", description = "Static outbound mapping (repeatable), for example 127.0.0.1:8080=10.0.1.2:8080; a caller whose source"
            + " address is no workload of this node is reset, unless it is on this host and the proxy has an SVID of its"
            + " own (PEM files, SPIRE)")
    List<String> forwards = new ArrayList<>();

    @Option(names = "--inbound-endpoint", paramLabel = "TARGET=ENDPOINT", split = ",", description = "Deliver inbound tunnels for a workload's ip:port to where the application listens (repeatable), for example"
            + " 10.0.1.2:8080=127.0.0.1:8080 (Istio's Sidecar ingress defaultEndpoint), the application bound to loopback"
            + " only; the proxy receives plaintext on TARGET (STRICT refuses it, PERMISSIVE lets the policy decide), as a"
            + " sidecar's redirect does, without TPROXY")
    List<String> inboundEndpoints = new ArrayList<>();

    @Option(names = "--plaintext-inbound", paramLabel = "ADDR", arity = "0..1", fallbackValue = "0.0.0.0:15006",
            description = {"TPROXY capture of plaintext to local workloads (PeerAuthentication STRICT refuses it), or off (the default)", FALLBACK})
    String plaintextInbound;

    @Option(names = "--capture-set", paramLabel = "TABLE/SET", description = {"Keep the nftables set ip TABLE SET equal to this node's"
            + " mesh (HBONE) workloads' IPv4 addresses, and ip6 TABLE SET (when it exists) equal to their IPv6 ones"
            + " (deploy/node-proxy's capture.sh: zerohop/mesh_pods), rewritten within a second of a change;"
            + " ready only once it is first written;",
            "needs --node (or $NODE_NAME) and nft on the PATH; off by default"})
    String captureSet;

    @Option(names = "--passthrough-unknown", description = "Relay destinations outside the registry as plain TCP instead of refusing")
    boolean passthroughUnknown;

    @Option(names = "--metrics", paramLabel = "ADDR", defaultValue = "0.0.0.0:15020", description = {"Prometheus metrics listener, or off", DEFAULT})
    String metrics;

    @Option(names = "--readiness", paramLabel = "ADDR", defaultValue = "0.0.0.0:15021", description = {"Readiness listener, or off", DEFAULT})
    String readiness;

    @Option(names = "--admin", paramLabel = "ADDR", defaultValue = "127.0.0.1:15000",
            description = {"Admin listener (/config_dump, /logging, /quitquitquit), or off", DEFAULT})
    String admin;

    @Option(names = "--access-log-format", paramLabel = "FORMAT",
            description = {"Access log lines: zerohop (stderr, with the other logs), or ztunnel / ztunnel-json:",
                    "ztunnel's own lines, text or JSON, on stdout, for log pipelines built for ztunnel.",
                    "Default: ztunnel-json when $LOG_FORMAT is json, ztunnel when it is set otherwise (ztunnel's variable),",
                    "else zerohop. $RUST_LOG (ztunnel's, e.g. warn or info,access=off) sets the start-up log levels"})
    String accessLogFormat;

    /**
     * The access log format: the flag (or the --config key), else ztunnel's {@code LOG_FORMAT} (istio/ztunnel
     * {@code src/telemetry.rs} {@code fmt_layer}: {@code json} is JSON, anything else its plain text), else zerohop's own.
     */
    static String accessLogFormat(String flag, Map<String, String> env) {
        if (flag != null) {
            return flag;
        }
        String logFormat = env.get("LOG_FORMAT");
        return logFormat == null ? "zerohop" : logFormat.equals("json") ? "ztunnel-json" : "ztunnel";
    }

    /** The last policy (re)load, for /config_dump. */
    private final java.util.concurrent.atomic.AtomicReference<Map<String, Object>> policyReload =
            new java.util.concurrent.atomic.AtomicReference<>(Map.of("result", "no policies configured"));

    @Option(names = "--crl-path", paramLabel = "FILE", description = {"Certificate revocation lists (PEM CRLs, or one DER CRL)"
            + " enforced on mesh TLS both ways and reloaded on change; live connections whose peer a reload revokes are closed",
            "Default: $CRL_PATH (ztunnel's; empty or unset: none)"})
    java.nio.file.Path crlPath;

    /**
     * The CRL file: {@code flag}, else ztunnel's {@code CRL_PATH} (istio/ztunnel {@code src/config.rs}: an empty value is
     * none, as its {@code filter(|s| !s.is_empty())}), else null (no revocation checks). Its own method, apart from the
     * other ztunnel variables, so the two can be merged by reading this one.
     */
    static java.nio.file.Path crlPath(java.nio.file.Path flag, Map<String, String> env) {
        if (flag != null) {
            return flag;
        }
        String v = env.get("CRL_PATH");
        if (v == null || v.isEmpty()) {
            return null;
        }
        java.nio.file.Path p = java.nio.file.Path.of(v);
        if (java.nio.file.Files.isDirectory(p)) {
            // As --crl-path's usage error (exit 2), naming the variable; it was exit 1 with "Is a directory" (h406).
            throw new IllegalArgumentException("$CRL_PATH: " + v + " is not a file (a CRL file: PEM CRLs or one DER CRL)");
        }
        return p;
    }

    @Option(names = "--drain", paramLabel = "DURATION", description = {"How long shutdown lets tunnels drain"
            + " (90s, 1500ms; as $CONNECTION_TERMINATION_DEADLINE, also 1m30s, 1m 30s, 90)",
            "Default: $CONNECTION_TERMINATION_DEADLINE, else $TERMINATION_GRACE_PERIOD_SECONDS minus 5s (minus 1s up to 10),"
                    + " else 10s (ztunnel's settings; its own default is 5s)"})
    String drain;

    /**
     * duration_str's units (its {@code TimeUnit::from_str}, src/unit.rs, any case, plurals included as in 0.21.0, the
     * version ztunnel's Cargo.lock pins; until 6 December {@code 30 seconds} and {@code 90 days} were refused), in
     * nanoseconds.
     */
    private static final Map<String, Long> DURATION_STR_UNITS = durationStrUnits();

    private static Map<String, Long> durationStrUnits() {
        Map<String, Long> u = new java.util.HashMap<>();
        long s = 1_000_000_000L;
        for (String k : new String[] {"y", "year", "years"}) {
            u.put(k, 365 * 86_400 * s);
        }
        for (String k : new String[] {"mon", "month", "months"}) {
            u.put(k, 30 * 86_400 * s);
        }
        for (String k : new String[] {"w", "week", "weeks"}) {
            u.put(k, 7 * 86_400 * s);
        }
        for (String k : new String[] {"d", "day", "days"}) {
            u.put(k, 86_400 * s);
        }
        for (String k : new String[] {"h", "hour", "hours", "hr"}) {
            u.put(k, 3_600 * s);
        }
        for (String k : new String[] {"m", "min", "minute", "minutes"}) {
            u.put(k, 60 * s);
        }
        for (String k : new String[] {"s", "sec", "second", "seconds"}) {
            u.put(k, s);
        }
        for (String k : new String[] {"ms", "msec", "millisecond", "milliseconds"}) {
            u.put(k, 1_000_000L);
        }
        for (String k : new String[] {"\u00b5s", "\u00b5sec", "\u00b5second", "us", "usec", "usecond", "microsecond", "microseconds"}) {
            u.put(k, 1_000L);
        }
        for (String k : new String[] {"ns", "nsec", "nanosecond", "nanoseconds"}) {
            u.put(k, 1L);
        }
        return Map.copyOf(u);
    }

    /**
     * {@code v} as ztunnel reads {@code CONNECTION_TERMINATION_DEADLINE} (istio/ztunnel src/config.rs {@code parse_duration},
     * the duration-str crate): terms of digits and an optional unit (seconds without one; {@code y}, {@code mon},
     * {@code w}, {@code d}, {@code h}/{@code hr}, {@code m}/{@code min}, {@code s}/{@code sec}, {@code ms}, {@code us},
     * {@code ns} and their long forms, singular or plural, in any case), summed, joined by {@code +} or nothing, spaces allowed around each
     * part: {@code 1m30s}, {@code 1m 30s}, {@code 1m+30}, {@code 90S}. Null when it is not that, or past
     * {@link Cli#MAX_DURATION}; duration-str's {@code *} (a product) is not read.
     */
    static Duration durationStr(String v) {
        int i = 0;
        int n = v.length();
        long total = 0;
        boolean first = true;
        while (true) {
            i = skipSpaces(v, i);
            if (i == n) {
                return first ? null : Duration.ofNanos(total);
            }
            if (!first && v.charAt(i) == '+') {
                i++;
                i = skipSpaces(v, i);
            }
            int start = i;
            while (i < n && v.charAt(i) >= '0' && v.charAt(i) <= '9') {
                i++;
            }
            if (i == start) {
                return null;
            }
            String digits = v.substring(start, i);
            i = skipSpaces(v, i);
            int u = i;
            while (i < n && (Character.isLetter(v.charAt(i)) || v.charAt(i) == '\u00b5')) {
                i++;
            }
            long unit = 1_000_000_000L;
            if (i > u) {
                Long known = DURATION_STR_UNITS.get(v.substring(u, i).toLowerCase(java.util.Locale.ROOT));
                if (known == null) {
                    return null;
                }
                unit = known;
            }
            try {
                total = Math.addExact(total, Math.multiplyExact(Long.parseLong(digits), unit));
            } catch (ArithmeticException | NumberFormatException tooLong) {
                return null;
            }
            if (Duration.ofNanos(total).compareTo(Cli.MAX_DURATION) > 0) {
                return null;
            }
            first = false;
        }
    }

    /**
     * {@code v} as {@code --drain} and {@code CONNECTION_TERMINATION_DEADLINE} take it: {@link Cli#duration}'s grammar
     * ({@code 500ms}, {@code 90s}), else what ztunnel's duration-str reads ({@link #durationStr}: {@code 1m30s},
     * {@code 1m 30s}, {@code 1m+30}, {@code 90S}, a bare {@code 90} as seconds). Until 6 December {@code --drain 1m30s}
     * was refused while the variable took it (helper 272).
     *
     * @throws Cli.RefusedException with {@link Cli#duration}'s message when neither reads it
     */
    static Duration ztunnelDuration(String v) throws Cli.RefusedException {
        try {
            return Cli.duration(v);
        } catch (Cli.RefusedException e) {
            Duration d = durationStr(v);
            if (d != null) {
                return d;
            }
            if (v.matches("[0-9]+")) {
                // A bare number durationStr does not take is past the limit (Cli.duration's "no unit" would mislead).
                throw new Cli.RefusedException("duration \"" + v + "\" is too long (at most 36500d, 100 years)", 2);
            }
            if (v.matches("-[0-9]*[1-9][0-9]*")) {
                // Here a bare number is seconds, so "no unit" would mislead again: -5 is refused for its sign (helper 275).
                throw new Cli.RefusedException("duration \"" + v + "\" is negative", 2);
            }
            throw e;
        }
    }

    private static int skipSpaces(String v, int i) {
        while (i < v.length() && Character.isWhitespace(v.charAt(i))) {
            i++;
        }
        return i;
    }

    /**
     * The drain deadline: {@code --drain}, else ztunnel's {@code CONNECTION_TERMINATION_DEADLINE} (a duration), else its
     * {@code TERMINATION_GRACE_PERIOD_SECONDS} less 5 s (less 1 s when it is 10 or less, at least 1 s), as ztunnel leaves
     * itself time before the kubelet's SIGKILL (istio/ztunnel src/config.rs {@code self_termination_deadline}), else
     * zerohop's 10 s (ztunnel's is 5 s: zerohop keeps the default it documented). {@code --drain} and the variable read
     * the same values ({@link #ztunnelDuration}): a value copied from a ztunnel DaemonSet's variable to the option works.
     * A variable that does not parse is an error naming it, as ztunnel's {@code Error::EnvVar} is.
     *
     * @throws Cli.RefusedException the flag's bad value ({@link Cli#duration}'s message), or the variable's, named
     */
    static Duration drainDeadline(String flag, Map<String, String> env) throws Cli.RefusedException {
        if (flag != null) {
            return ztunnelDuration(flag);
        }
        String deadline = env.get("CONNECTION_TERMINATION_DEADLINE");
        if (deadline != null) {
            try {
                return ztunnelDuration(deadline);
            } catch (Cli.RefusedException e) {
                throw new Cli.RefusedException("$CONNECTION_TERMINATION_DEADLINE: " + e.getMessage()
                        + "; ztunnel's sums of units are taken too (1m30s, 1m 30s, 90)", 2);
            }
        }
        String grace = env.get("TERMINATION_GRACE_PERIOD_SECONDS");
        if (grace != null) {
            long secs;
            try {
                secs = Long.parseUnsignedLong(grace);
            } catch (NumberFormatException e) {
                throw new Cli.RefusedException("$TERMINATION_GRACE_PERIOD_SECONDS: \"" + grace + "\" is not a whole number of seconds", 2);
            }
            return Duration.ofSeconds(Math.max(secs > 10 ? secs - 5 : secs - 1, 1));
        }
        return Duration.ofSeconds(10);
    }

    @Spec
    CommandSpec spec;

    /** Which options the --config file supplied, so that errors name its file:line (set by {@link Zerohop#run}). */
    ConfigFile.Origins origins = ConfigFile.Origins.NONE;

    /** Every listener address, the drain time and the forwards, checked before anything starts. */
    /** Istio's PILOT_HTTP10 / ISTIO_META_HTTP10 (Http10Env), read by check(). */
    private boolean acceptHttp10;
    /** PILOT_HTTP10 alone: HTTP/1.0 parsed on auto ports as well (Http10Env.pilotHttp10). */
    private boolean pilotHttp10;
    /** ztunnel's tuning variables and the warnings for those not honoured (ZtunnelEnv), read by check(). */
    private ZtunnelEnv.Tuning ztunnelTuning = new ZtunnelEnv.Tuning(null, null, null, null, null, null, List.of(), List.of());

    private record Checked(InetSocketAddress inbound, InetSocketAddress transparent, InetSocketAddress socks5,
            InetSocketAddress plaintextInbound, InetSocketAddress metrics, InetSocketAddress readiness, InetSocketAddress admin,
            List<InetSocketAddress[]> forwards, List<InetSocketAddress[]> inboundEndpoints, Duration drain, ClusterId clusterId) {}

    /**
     * A cluster id as ztunnel's config holds it and where it came from ({@code --cluster-id}, an environment
     * variable, or ztunnel's default). {@code id} may be empty: a variable set to "" (a DaemonSet template's empty
     * value) is read as ztunnel reads it.
     */
    record ClusterId(String id, String from) {
        /**
         * The cluster of registry workloads without a {@code topology.istio.io/cluster} label (metric labels, baggage):
         * {@code id}, or {@code Kubernetes} when it is empty, as ztunnel reads an empty cluster id from istiod
         * (istio/ztunnel src/state/workload.rs), whose workloads stand where this proxy's registry does.
         */
        String workloadCluster() {
            return id.isEmpty() ? "Kubernetes" : id;
        }
    }

    /**
     * ztunnel's cluster id (istio/ztunnel src/config.rs: {@code ISTIO_META_CLUSTER_ID}, else
     * {@code CLUSTER_ID}, else {@code DEFAULT_CLUSTER_ID} "Kubernetes"), with {@code flag} first. A variable
     * set but empty is taken as ztunnel's {@code parse} takes it ({@code env::var} is {@code Ok("")}, a valid
     * String): the id is "", not the default, and an empty {@code ISTIO_META_CLUSTER_ID} hides {@code CLUSTER_ID};
     * istiod reads the empty {@code ClusterID} header as its own cluster (istio/istio
     * security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go {@code getKubeClient}). An empty flag stays a
     * usage error: {@code --cluster-id} is zerohop's own.
     *
     * @throws IllegalArgumentException naming the flag or variable when a non-empty id (or the flag's) is not
     *         one {@code Mesh.Builder.clusterId} accepts
     */
    static ClusterId clusterId(String flag, Map<String, String> env) {
        if (flag != null && flag.isEmpty()) {
            // Said plainly, not as the id's syntax rule: the way to the default, and to ztunnel's empty id.
            throw new IllegalArgumentException(EMPTY_CLUSTER_ID);
        }
        ClusterId c = flag != null ? new ClusterId(flag, "--cluster-id")
                : env.get("ISTIO_META_CLUSTER_ID") != null ? new ClusterId(env.get("ISTIO_META_CLUSTER_ID"), "$ISTIO_META_CLUSTER_ID")
                : env.get("CLUSTER_ID") != null ? new ClusterId(env.get("CLUSTER_ID"), "$CLUSTER_ID")
                : new ClusterId("Kubernetes", "default");
        try {
            Mesh.builder().clusterId(flag != null ? c.id() : c.workloadCluster());
        } catch (IllegalArgumentException e) {
            // The flag's name is the usage error's; a variable is named here.
            throw new IllegalArgumentException(c.from().startsWith("$") ? c.from() + ": " + e.getMessage() : e.getMessage(), e);
        }
        return c;
    }

    /**
     * ztunnel's cluster domain ({@code CLUSTER_DOMAIN}, else {@code cluster.local}; istio/ztunnel src/config.rs), with
     * {@code flag} first. Checked as {@code KubernetesDiscovery.Builder.clusterDomain} checks it (a lowercase RFC 1123
     * DNS name): ztunnel takes any string, but a Service hostname built from a bad one matches no waypoint, so it
     * stops the start. An empty variable too, which ztunnel would take as "".
     *
     * @throws IllegalArgumentException naming the variable when the value came from it
     */
    static String clusterDomain(String flag, Map<String, String> env) {
        String d = flag != null ? flag : env.getOrDefault("CLUSTER_DOMAIN", io.zerohop.kubernetes.KubernetesDiscovery.DEFAULT_CLUSTER_DOMAIN);
        try {
            return io.zerohop.kubernetes.KubernetesDiscovery.requireClusterDomain(d);
        } catch (IllegalArgumentException e) {
            String m = e.getMessage().replaceFirst("^clusterDomain ", "cluster domain ");
            if (d.endsWith(".") && d.length() > 1 && !d.endsWith("..")) {
                try {
                    String bare = io.zerohop.kubernetes.KubernetesDiscovery.requireClusterDomain(d.substring(0, d.length() - 1));
                    // A resolver's FQDN form read '"" is no label' (new-user pass; ClusterDomainOptionTest).
                    m = "cluster domain \"" + d + "\" ends in a dot: give " + bare + " (no trailing dot, as istiod's --domain)";
                } catch (IllegalArgumentException notJustTheDot) {
                    // Something else is wrong too: the general message names it.
                }
            }
            throw new IllegalArgumentException(flag == null ? "$CLUSTER_DOMAIN: " + m : m, e);
        }
    }

    /** The usage error of an empty {@code --cluster-id} (after the option's name). */
    static final String EMPTY_CLUSTER_ID = "empty; omit it to use $ISTIO_META_CLUSTER_ID, else $CLUSTER_ID, else Kubernetes,"
            + " or set CLUSTER_ID=\"\" (with ISTIO_META_CLUSTER_ID unset) to send an empty ClusterID as ztunnel does";

    /** ztunnel's {@code DEFAULT_TTL} (istio/ztunnel src/config.rs): the certificate lifetime asked for without {@code SECRET_TTL}. */
    static final Duration DEFAULT_SECRET_TTL = Duration.ofHours(24);

    /** {@link #secretTtl} and {@link #caHeaders} of the environment, read by {@link #check} with {@code --istio-ca}. */
    private Duration istioSecretTtl = DEFAULT_SECRET_TTL;
    private CaHeaders istioCaHeaders = new CaHeaders(Map.of(), List.of());

    /**
     * The certificate lifetime {@code --istio-ca} asks istiod for: ztunnel's {@code SECRET_TTL} (istio/ztunnel
     * src/config.rs {@code parse_duration_default(SECRET_TTL, DEFAULT_TTL)}), read as {@code CONNECTION_TERMINATION_DEADLINE}
     * is ({@link #ztunnelDuration}: duration-str's {@code 12h}, {@code 1d}, {@code 1h30m}, a bare {@code 3600} as seconds),
     * else 24 h. It is sent in whole seconds as the request's {@code validity_duration}, as ztunnel sends
     * {@code secret_ttl.as_secs()} (src/identity/manager.rs, src/identity/caclient.rs): {@code 90m30s500ms} asks for 5430 s,
     * and a value under one second ({@code 0}, {@code 500ms}) for 0, which istiod signs for its own default
     * ({@code DEFAULT_WORKLOAD_CERT_TTL}); istiod refuses more than its {@code MAX_WORKLOAD_CERT_TTL} (90 days by default),
     * and the start then exits 4 saying so. Environment only, as in ztunnel: there is no option.
     *
     * @throws Cli.RefusedException naming {@code $SECRET_TTL} alone, as ztunnel's {@code Error::EnvVar}, when it does not parse
     */
    static Duration secretTtl(Map<String, String> env) throws Cli.RefusedException {
        String v = env.get("SECRET_TTL");
        if (v == null) {
            return DEFAULT_SECRET_TTL;
        }
        try {
            return ztunnelDuration(v);
        } catch (Cli.RefusedException e) {
            throw new Cli.RefusedException("$SECRET_TTL: " + e.getMessage() + "; ztunnel's sums of units are taken too (12h, 1h30m, 3600)", 2);
        }
    }

    /** ztunnel's {@code ISTIO_CA_HEADER_PREFIX} (istio/ztunnel src/config.rs). */
    static final String CA_HEADER_PREFIX = "CA_HEADER_";

    /**
     * The extra headers {@code --istio-ca} sends on every request, as read by {@link #caHeaders}: lower-case name to value,
     * ordered by variable name; {@code ignored} names the variables not sent ({@code $CA_HEADER_CLUSTERID}, ...).
     */
    /** The headers to send, and one start-up warning (without its prefix) per {@code CA_HEADER_*} variable not sent. */
    record CaHeaders(Map<String, String> headers, List<String> warnings) {}

    /**
     * ztunnel's {@code CA_HEADER_*} (istio/ztunnel src/config.rs {@code parse_headers(ISTIO_CA_HEADER_PREFIX)}): every
     * variable whose name starts with {@code CA_HEADER_} (case as written) is a header of every CA request, named by the
     * rest of the variable's name, lower-cased as tonic's {@code AsciiMetadataKey} (the http crate's {@code HeaderName})
     * reads it: {@code CA_HEADER_HEADER_BAZ=baz} sends {@code header_baz: baz} (the case of src/config.rs's test). As there,
     * a name that is empty, holds a character no HTTP header name may hold, or ends in {@code -bin} (a binary key, not
     * a text one) is refused, and so is a value with a control character or DEL (the http crate's
     * {@code HeaderValue::from_str}); ztunnel's errors name the variable for a bad name and the value alone for a bad
     * value, these name the variable for both. Where zerohop differs: a value with a character past ASCII is refused (the
     * http crate takes bytes 0x80-0xFF, so ztunnel sends UTF-8's bytes; grpc-java's ASCII marshaller would send '?'); a
     * connection-specific name ({@code connection}, {@code keep-alive}, {@code proxy-connection},
     * {@code transfer-encoding}, {@code upgrade}) is refused at start, where ztunnel starts and every CSR then fails
     * (hyperium/h2's client refuses to send one, src/proto/streams/send.rs {@code check_headers}; grpc-java's Netty
     * server resets a stream carrying one); a name with one of the HTTP token characters
     * grpc-java does not send ({@code !#$%&'*+^`|~}; gRPC metadata keys are {@code 0-9a-z_.-}) is refused, where
     * ztunnel's tonic sends it; two variables that give one name ({@code CA_HEADER_X} and {@code CA_HEADER_x}) are
     * refused, where ztunnel sends whichever its environment lists last. {@code authorization} and {@code clusterid}
     * are not sent: ztunnel's channel replaces them with the token and {@code CLUSTER_ID} (src/identity/auth.rs
     * {@code insert_headers}, after the request's own headers, src/tls/control.rs); zerohop leaves them out too, with a
     * start-up warning each. So are the names gRPC reserves ({@code IstioCaClient.GRPC_RESERVED_HEADERS}), with a warning
     * that says what ztunnel does with it: tonic drops {@code te}, {@code content-type}, {@code grpc-status},
     * {@code grpc-message} and {@code grpc-message-type} from a request too (tonic/src/metadata/map.rs
     * {@code GRPC_RESERVED_HEADERS}) and sends the others as written, where grpc-java puts its own in their place or
     * drops them. Until 6 December those were taken and silently replaced.
     *
     * @throws Cli.RefusedException (exit 2) naming the variable
     */
    static CaHeaders caHeaders(Map<String, String> env) throws Cli.RefusedException {
        Map<String, String> headers = new java.util.LinkedHashMap<>();
        Map<String, String> from = new java.util.HashMap<>();
        List<String> warnings = new ArrayList<>();
        for (Map.Entry<String, String> e : new java.util.TreeMap<>(env).entrySet()) {
            String var = e.getKey();
            if (!var.startsWith(CA_HEADER_PREFIX)) {
                continue;
            }
            String raw = var.substring(CA_HEADER_PREFIX.length());
            String value = e.getValue();
            if (raw.isEmpty()) {
                throw new Cli.RefusedException("$" + var + ": no header name after " + CA_HEADER_PREFIX + " (write "
                        + CA_HEADER_PREFIX + "NAME=VALUE; ztunnel refuses it too: failed to parse header key)", 2);
            }
            for (int i = 0; i < raw.length(); i++) {
                char ch = raw.charAt(i);
                if (!(ch < 128 && (Character.isLetterOrDigit(ch) || "!#$%&'*+-.^_`|~".indexOf(ch) >= 0))) {
                    throw new Cli.RefusedException("$" + var + ": \"" + raw + "\" is not a header name (" + describeChar(ch)
                            + " is not allowed; ztunnel refuses it too: failed to parse header key)", 2);
                }
            }
            String name = raw.toLowerCase(java.util.Locale.ROOT);
            if (name.endsWith("-bin")) {
                throw new Cli.RefusedException("$" + var + ": \"" + name + "\" ends in -bin, the suffix of a binary gRPC header;"
                        + " a CA header is text (ztunnel refuses it too: failed to parse header key)", 2);
            }
            if (!name.matches("[0-9a-z_.-]+")) {
                throw new Cli.RefusedException("$" + var + ": \"" + name + "\" is not a gRPC metadata key (letters, digits, -, _"
                        + " and . only): zerohop's gRPC client cannot send it, though ztunnel's would", 2);
            }
            if (IstioCaClient.CONNECTION_SPECIFIC_HEADERS.contains(name)) {
                throw new Cli.RefusedException("$" + var + ": " + name + " is a connection-specific header, which HTTP/2 forbids"
                        + " (RFC 9113 8.2.2): every CA request would be reset (ztunnel's would fail too, but after the start)", 2);
            }
            for (int i = 0; i < value.length(); i++) {
                char ch = value.charAt(i);
                if (ch >= 0x80) {
                    // The http crate takes bytes 0x80-0xFF (is_valid: b >= 32 && b != 127): ztunnel sends UTF-8's bytes.
                    throw new Cli.RefusedException("$" + var + ": the value holds " + describeChar(ch) + ", but zerohop's gRPC client"
                            + " sends visible ASCII, spaces and tabs only (ztunnel would send its UTF-8 bytes)", 2);
                }
                if (!(ch >= 0x20 && ch < 0x7f || ch == '\t')) {
                    throw new Cli.RefusedException("$" + var + ": the value holds " + describeChar(ch) + ", but a header value"
                            + " is visible ASCII, spaces and tabs only (ztunnel refuses it too: failed to parse header value)", 2);
                }
            }
            if (from.containsKey(name)) {
                throw new Cli.RefusedException("$" + var + ": $" + from.get(name) + " names the same header, " + name
                        + " (header names are not case-sensitive): keep one", 2);
            }
            from.put(name, var);
            if (name.equals("authorization") || name.equals("clusterid")) {
                warnings.add("$" + var + " is not sent: " + (name.equals("clusterid")
                        ? "the ClusterID header is the cluster id's (--cluster-id, $ISTIO_META_CLUSTER_ID, $CLUSTER_ID)"
                        : "the authorization header is the bearer token of --token-file") + ", as ztunnel's replaces it");
                continue;
            }
            if (IstioCaClient.GRPC_RESERVED_HEADERS.contains(name)) {
                warnings.add("$" + var + " is not sent: gRPC reserves the header " + name + (TONIC_RESERVED.contains(name)
                        ? " (ztunnel's gRPC client drops it too)" : ", which zerohop's gRPC client sets or drops itself (ztunnel's sends it)"));
                continue;
            }
            headers.put(name, value);
        }
        return new CaHeaders(java.util.Collections.unmodifiableMap(headers), List.copyOf(warnings));
    }

    /** The request names ztunnel's tonic drops (tonic/src/metadata/map.rs {@code MetadataMap::GRPC_RESERVED_HEADERS}). */
    private static final java.util.Set<String> TONIC_RESERVED =
            java.util.Set.of("te", "content-type", "grpc-message", "grpc-message-type", "grpc-status");

    private static String describeChar(char ch) {
        return ch >= 0x21 && ch < 0x7f ? "'" + ch + "'" : String.format("U+%04X", (int) ch);
    }

    /** {@link #drainDeadline(String, Map)} of the flag and this process's environment; a bad value is a usage error. */
    private Duration drainDeadline(Usage u) {
        try {
            return drainDeadline(drain, System.getenv());
        } catch (Cli.RefusedException e) {
            // The flag's error names the flag (or the config file's line); the variable's names the variable only: it
            // read "--drain: $CONNECTION_TERMINATION_DEADLINE: ..." for a proxy started without --drain (helper 272).
            throw drain != null ? u.error("drain", drain, e.getMessage())
                    : new Usage.EnvironmentError(spec.commandLine(), e.getMessage());
        }
    }

    /** {@link #clusterId(String, Map)} of the flag and this process's environment; a bad id is a usage error. */
    private ClusterId clusterId(Usage u) {
        try {
            return clusterId(clusterId, System.getenv());
        } catch (IllegalArgumentException e) {
            // The flag's error names the flag (or the config file's line); a variable's names the variable only, as the
            // drain variable's: it read "--cluster-id: $CLUSTER_ID: ..." for a proxy started without the flag.
            throw clusterId != null ? u.error("cluster-id", clusterId, e.getMessage())
                    : new Usage.EnvironmentError(spec.commandLine(), e.getMessage());
        }
    }

    /**
     * The options' values, checked up front: a mistake is a usage error (exit 2) naming the option, or
     * the config file's line, before any listener, watcher or identity provider exists.
     */
    private Checked check() {
        Usage u = new Usage(spec, origins);
        accessLogFormat = accessLogFormat(accessLogFormat, System.getenv());
        // A usage error naming the option (as ca init's), checked as Mesh.Builder.trustDomain checks it: it said
        // "invalid SPIFFE ID spiffe://Cluster_Local" with exit 1, after the listeners' checks had passed.
        Usage.parse(u, "trust-domain", trustDomain, () -> {
            try {
                return io.zerohop.identity.SpiffeIds.parse("spiffe://" + trustDomain);
            } catch (IllegalArgumentException e) {
                String m = e.getMessage();
                throw new IllegalArgumentException("invalid trust domain \"" + trustDomain + "\": " + m.substring(m.indexOf("\": ") + 3), e);
            }
        });
        for (String alias : trustDomainAliases) {
            // Checked as Mesh.Builder.trustDomainAliases checks it, named as the option (an empty one, "a,,b": Usage).
            Usage.parse(u, "trust-domain-aliases", alias, () -> Mesh.builder().trustDomainAliases(List.of(alias)));
        }
        u.namespace("root-namespace", rootNamespace);
        if (identity.pem == null && identity.spireSocket == null && identity.caDir == null && identity.istio == null && !identity.inMemoryCa) {
            // picocli counts --in-memory-ca=false as the group's choice; it named no source, and the
            // in-memory CA it switches off was used anyway (a new-user pass).
            throw u.error("in-memory-ca", "false", "switches the in-memory CA off, and no other identity source is given:"
                    + " give one of --in-memory-ca, --ca=DIR, --spire-socket=PATH, --cert/--key/--trust-bundle, --istio-ca");
        }
        if (spiffeId != null) {
            if (identity.spireSocket == null) {
                // It picks one of the SPIRE agent's SVIDs; every other source has its own identity (or one per workload).
                throw u.error("spiffe-id", spiffeId, "picks one of the SPIRE agent's SVIDs, so it needs " + origins.label("spire-socket")
                        + "; the identity source here is " + givenSource() + ", which has no choice of SVID (drop "
                        + origins.label("spiffe-id") + ", or use --spire-socket)");
            }
            // As ca issue's --id: java-spiffe's reason, the value quoted (SpiffeIds.parse), and a path required.
            pinnedId = Usage.parse(u, "spiffe-id", spiffeId, () -> io.zerohop.identity.SpiffeIds.parse(spiffeId));
            if (pinnedId.getPath().isEmpty()) {
                throw u.error("spiffe-id", spiffeId, "invalid SPIFFE ID \"" + spiffeId + "\": no path; a workload SPIFFE ID has a"
                        + " path (spiffe://trust-domain/path), and the agent gives no SVID of a trust domain alone");
            }
        }
        InetSocketAddress in = u.listener("inbound", inbound);
        if (inboundTransparent && in == null) {
            throw u.error("inbound-transparent", "true", "needs an HBONE listener, but " + origins.label("inbound") + " is off");
        }
        List<InetSocketAddress[]> fwd = new ArrayList<>();
        for (String f : forwards) {
            int eq = f.indexOf('=');
            if (eq < 0) {
                throw u.error("forward", f, "must be LOCAL=TARGET, got \"" + f + "\"");
            }
            fwd.add(new InetSocketAddress[] {u.hostPort("forward", f.substring(0, eq)), u.hostPort("forward", f.substring(eq + 1))});
        }
        List<InetSocketAddress[]> endpoints = new ArrayList<>();
        for (String f : inboundEndpoints) {
            int eq = f.indexOf('=');
            if (eq < 0) {
                throw u.error("inbound-endpoint", f, "must be TARGET=ENDPOINT (the workload's ip:port = where the application"
                        + " listens), got \"" + f + "\"");
            }
            InetSocketAddress t = u.hostPort("inbound-endpoint", f.substring(0, eq));
            InetSocketAddress e = u.hostPort("inbound-endpoint", f.substring(eq + 1));
            // Checked as Mesh.Builder.inboundEndpoint checks it (a wildcard, port 0, TARGET=TARGET), named as the option.
            Usage.parse(u, "inbound-endpoint", f, "inboundEndpoint", () -> Mesh.builder().inboundEndpoint(t, e));
            if (endpoints.stream().anyMatch(g -> g[0].equals(t) && g[1].equals(e))) {
                continue; // the same entry twice is one, as Mesh.Builder.inboundEndpoint takes it
            }
            for (InetSocketAddress[] g : endpoints) {
                if (g[0].equals(t) && !g[1].equals(e)) {
                    throw u.error("inbound-endpoint", f, Addresses.authority(t) + " is given two endpoints, "
                            + Addresses.authority(g[1]) + " and " + Addresses.authority(e) + " (give each TARGET one)");
                }
            }
            endpoints.add(new InetSocketAddress[] {t, e});
        }
        // Every listener option takes off, those off by default too: --socks5 off was refused where --admin off was
        // taken (a new-user pass), and a template or script that writes the word for each listener needs it everywhere.
        Checked c = new Checked(in, transparent == null ? null : u.listener("transparent", transparent),
                socks5 == null ? null : u.listener("socks5", socks5),
                plaintextInbound == null ? null : u.listener("plaintext-inbound", plaintextInbound),
                u.listener("metrics", metrics), u.listener("readiness", readiness), u.listener("admin", admin), fwd, endpoints,
                drainDeadline(u), clusterId(u));
        listenersThatClash(u, c);
        forwardsThatCannotWork(u, c);
        endpointsThatCannotWork(u, c);
        if (!List.of("zerohop", "ztunnel", "ztunnel-json").contains(accessLogFormat)) {
            throw u.error("access-log-format", accessLogFormat, "must be zerohop, ztunnel or ztunnel-json, got \"" + accessLogFormat + "\"");
        }
        try {
            acceptHttp10 = Http10Env.acceptHttp10(System.getenv());
            pilotHttp10 = Http10Env.pilotHttp10(System.getenv());
        } catch (IllegalArgumentException e) {
            throw new Usage.EnvironmentError(spec.commandLine(), e.getMessage());
        }
        try {
            ztunnelTuning = ZtunnelEnv.read(System.getenv(), Runtime.getRuntime().availableProcessors());
        } catch (Cli.RefusedException e) {
            throw new Usage.EnvironmentError(spec.commandLine(), e.getMessage());
        }
        u.path("policies", policies, Usage.Kind.FILE_OR_DIRECTORY);
        u.path("workloads", workloads, Usage.Kind.FILE);
        u.fileOrMissing("crl-path", crlPath, "a CRL file: PEM CRLs or one DER CRL");
        try {
            crlPath(crlPath, System.getenv());
        } catch (IllegalArgumentException e) {
            throw new Usage.EnvironmentError(spec.commandLine(), e.getMessage());
        }
        if (identity.pem != null) {
            u.path("cert", identity.pem.cert, Usage.Kind.FILE);
            u.path("key", identity.pem.key, Usage.Kind.FILE);
            u.path("trust-bundle", identity.pem.bundle, Usage.Kind.FILE);
        }
        u.path("ca", identity.caDir, Usage.Kind.DIRECTORY);
        if (identity.caDir != null) {
            // What InMemoryCa.load reads, named with the option as --cert's file is: a missing or unreadable root.key said
            // "no such file: DIR/root.key" with exit 1, without the option (an operator pass).
            u.path("ca", identity.caDir.resolve("root.pem"), Usage.Kind.FILE);
            u.path("ca", identity.caDir.resolve("root.key"), Usage.Kind.FILE);
        }
        if (identity.spireSocket != null) {
            // As --help says: unix:/path, tcp://ip:port, or a bare /path (java-spiffe wants the scheme).
            // A scheme in any case (RFC 3986 section 3.1; go-spiffe's address parser accepts UNIX: and TCP:), lower-cased
            // here as the SPIRE provider passes it on.
            String a = identity.spireSocket;
            if (a.startsWith("/")) {
                identity.spireSocket = "unix:" + a;
            } else if (a.regionMatches(true, 0, "unix:", 0, 5) || a.regionMatches(true, 0, "tcp:", 0, 4)) {
                int colon = a.indexOf(':');
                identity.spireSocket = a.substring(0, colon).toLowerCase(java.util.Locale.ROOT) + a.substring(colon);
            } else {
                throw u.error("spire-socket", a, "\"" + a + "\" is not unix:/path, tcp://ip:port or /path");
            }
            // The provider's own address check (java-spiffe's Address.parseAddress) here, before anything starts: an
            // address it refuses (unix:agent.sock, tcp://localhost:8081) is the option's mistake, exit 2, where it
            // failed after the "waiting for an SVID" line with exit 1 (a new-user pass).
            try {
                SpireIdentityProvider.builder().address(identity.spireSocket);
            } catch (IllegalArgumentException e) {
                throw u.error("spire-socket", a, e.getMessage());
            }
        }
        if (captureSet != null) {
            String[] why = new String[1];
            if (CaptureSet.parse(captureSet, why) == null) {
                throw u.error("capture-set", captureSet, why[0]);
            }
            String n = node != null ? node : System.getenv("NODE_NAME");
            if (n == null || n.isBlank()) {
                throw u.error("capture-set", captureSet, "needs --node NAME (or NODE_NAME): the set holds that node's workloads");
            }
        }
        if (clusterDomain != null) {
            // The flag's mistake is a usage error wherever it is given; the variable is read where it is used.
            checkedClusterDomain = Usage.parse(u, "cluster-domain", clusterDomain, () -> clusterDomain(clusterDomain, Map.of()));
            if (!kubernetes && workloads == null) {
                // Nothing else reads it: a user who set it for nothing was accepted silently (new-user pass).
                LogShape.proxyLine("warn", "zerohop proxy: warning: " + origins.label("cluster-domain") + " " + clusterDomain
                        + ": read with --kubernetes or --workloads only (the Services' hostnames NAME.NS.svc.DOMAIN)");
            }
        }
        if ((kubernetes || workloads != null) && clusterDomain == null) {
            // Usage errors (exit 2) before anything starts, rather than failures from the informers' start. A --workloads
            // file's Services are named in it too, as ztunnel reads CLUSTER_DOMAIN whatever its source of workloads (until
            // 7 December they were NAME.NS.svc.cluster.local whatever the flag said: ClusterDomainOptionTest).
            try {
                checkedClusterDomain = clusterDomain(null, System.getenv());
            } catch (IllegalArgumentException e) {
                throw new Usage.EnvironmentError(spec.commandLine(), e.getMessage());
            }
        }
        if (kubernetes) {
            if (workloads != null || policies != null) {
                String key = workloads != null ? "workloads" : "policies";
                throw u.error(key, String.valueOf(workloads != null ? workloads : policies),
                        "--kubernetes reads workloads and policies from the API server; drop " + origins.label(key));
            }
            String n = node != null ? node : System.getenv("NODE_NAME");
            if (n == null || n.isBlank()) {
                throw u.error("kubernetes", "true", "needs --node NAME (or NODE_NAME from the downward API: spec.nodeName)");
            }
        }
        if (meshConfig != null) {
            u.path("mesh-config", meshConfig, Usage.Kind.FILE);
            if (!kubernetes) {
                // Only ServiceEntries are read from it, and only --kubernetes has them: a file given for nothing is refused
                // rather than taken silently (an operator would believe the visibility applies).
                throw u.error("mesh-config", meshConfig.toString(), "only --kubernetes reads it (the visibility of ServiceEntries)");
            }
            checkedServiceEntryVisibility = Usage.parse(u, "mesh-config", meshConfig.toString(), () -> {
                String text;
                try {
                    text = Utf8Text.decode(meshConfig, java.nio.file.Files.readAllBytes(meshConfig));
                } catch (java.io.IOException e) {
                    throw new IllegalArgumentException(meshConfig + " cannot be read: " + e.getMessage(), e);
                }
                return io.zerohop.kubernetes.ServiceEntryVisibility.fromMeshConfig(text, meshConfig.toString());
            });
        }
        if (identity.istio != null) {
            u.path("istio-ca-root", identity.istio.root, Usage.Kind.FILE);
            u.path("token-file", identity.istio.tokenFile, Usage.Kind.FILE);
            try {
                istioSecretTtl = secretTtl(System.getenv());
                istioCaHeaders = caHeaders(System.getenv());
            } catch (Cli.RefusedException e) {
                throw new Usage.EnvironmentError(spec.commandLine(), e.getMessage());
            }
        }
        return c;
    }

    /**
     * The forwards that can never work, refused before anything starts (exit 2): a target port 0 (no connection can
     * reach it), a wildcard target (0.0.0.0, ::: where a listener binds, not a destination), a target that is the forward's own LOCAL address (a self call: it started, and dropped every
     * connection; ztunnel refuses such a call as {@code Error::SelfCall}, src/proxy/outbound.rs), and a LOCAL address another listener of this proxy binds too (the same address and port, or a
     * wildcard and an address of either family on the same port, {@link #clash}: Linux refuses the second bind, and no
     * listener sets SO_REUSEPORT). The second bind failed after the mesh had started, as "cannot listen: Address already in use",
     * without naming the listener it clashed with (a new-user pass). Port 0 (an ephemeral port) never clashes.
     */
    private void forwardsThatCannotWork(Usage u, Checked c) {
        Map<String, InetSocketAddress> others = listeners(c);
        List<InetSocketAddress[]> fwd = c.forwards();
        for (int i = 0; i < fwd.size(); i++) {
            InetSocketAddress[] f = fwd.get(i);
            String shown = Addresses.listener(f[0], f[0]) + "=" + Addresses.authority(f[1]);
            if (f[1].getPort() == 0) {
                throw u.error("forward", shown, shown + ": target port 0: no connection can be made to it (give the target's port)");
            }
            if (f[1].getAddress() != null && f[1].getAddress().isAnyLocalAddress()) {
                // The kernel dials this host for 0.0.0.0 / ::, wherever it listens on that port: no forward means that.
                throw u.error("forward", shown, shown + ": the target is a wildcard address, not a destination (give the"
                        + " application's address as TARGET)");
            }
            if (f[1].getAddress() != null && (f[1].getAddress().isMulticastAddress() || isBroadcast(f[1].getAddress()))) {
                throw u.error("forward", shown, shown + ": the target is a multicast or the broadcast address, which a TCP"
                        + " connection cannot reach (give the application's address as TARGET)");
            }
            for (Map.Entry<String, InetSocketAddress> o : others.entrySet()) {
                if (o.getValue() != null && selfCall(o.getValue(), f[1])) {
                    // It started and reported ready, then dropped every connection as a self call (a new-operator pass), as
                    // --inbound-endpoint refuses an ENDPOINT on one of the proxy's own listeners.
                    throw u.error("forward", shown, shown + ": the target is where " + origins.label(o.getKey()) + " "
                            + Addresses.authority(o.getValue()) + " listens: every connection would come back to this proxy (a"
                            + " self call) and none would reach an application (give the application's address as TARGET)");
                }
            }
            for (int j = 0; j < fwd.size(); j++) {
                InetSocketAddress[] g = fwd.get(j);
                if (j != i && selfCall(g[0], f[1])) {
                    throw u.error("forward", shown, shown + ": the target is where --forward " + Addresses.listener(g[0], g[0]) + "="
                            + Addresses.authority(g[1]) + " listens: every connection would come back to this proxy (a self call;"
                            + " give the application's address as TARGET)");
                }
            }
            if (selfCall(f[0], f[1])) {
                // It started, and dropped every connection (each a self call, refused one by one).
                throw u.error("forward", shown, shown + ": the target is this forward's own LOCAL address: every connection"
                        + " would come back to this listener (a self call) and none would reach an application (give the"
                        + " application's address as TARGET)");
            }
            for (Map.Entry<String, InetSocketAddress> o : others.entrySet()) {
                if (clash(f[0], o.getValue())) {
                    throw u.error("forward", shown, shown + ": " + Addresses.authority(f[0]) + " is also where "
                            + origins.label(o.getKey()) + " " + Addresses.authority(o.getValue()) + " listens: two listeners cannot"
                            + " share an address and port" + bothFamilies(f[0], o.getValue()) + " (give the forward another LOCAL port, or move "
                            + origins.label(o.getKey()) + ")");
                }
            }
            for (int j = 0; j < i; j++) {
                InetSocketAddress[] g = fwd.get(j);
                if (clash(f[0], g[0])) {
                    throw u.error("forward", shown, shown + ": " + Addresses.authority(f[0]) + " is also where --forward "
                            + Addresses.listener(g[0], g[0]) + "=" + Addresses.authority(g[1]) + " listens: two listeners cannot"
                            + " share an address and port" + bothFamilies(f[0], g[0]) + " (give each forward its own LOCAL port)");
                }
            }
        }
    }

    /**
     * The start-up warning for an admin listener that is not on loopback, or null. ztunnel's admin can only listen on
     * localhost (istio/ztunnel src/config.rs: {@code admin_addr: Address::Localhost(...)}, "admin API should only be
     * accessible over localhost", only its port is configurable), since it has no authentication: whoever reaches it
     * stops the node's data plane with {@code POST /quitquitquit} and changes its log levels. {@code --admin 0.0.0.0:15000}
     * was taken silently (helper 262), on a hostNetwork DaemonSet the node's address for every pod of the cluster.
     */
    static String adminExposure(String option, InetSocketAddress admin) {
        if (admin == null || admin.getAddress() == null || admin.getAddress().isLoopbackAddress()) {
            return null;
        }
        return "zerohop proxy: warning: " + option + " " + Addresses.authority(admin) + " is not a loopback address: whoever"
                + " can reach it can stop this proxy (POST /quitquitquit) and change its log levels, with no authentication;"
                + " ztunnel's admin listens on localhost only: keep the default 127.0.0.1:15000 and reach it with"
                + " kubectl port-forward";
    }

    /**
     * Warns when something accepts connections at TARGET's address on ENDPOINT's port: an application bound to
     * {@code 0.0.0.0} rather than to ENDPOINT only, which a plaintext client then reaches there directly, without mTLS
     * (newuser26: with TARGET's port other than ENDPOINT's, the bind on TARGET could not detect it). A blocking connect
     * of at most 200 ms, on the main thread, before ready; skipped when the ports are equal (TARGET's bind found it).
     */
    private void wildcardApplication(InetSocketAddress[] e) {
        if (e[0].getPort() == e[1].getPort() || e[0].getAddress().equals(e[1].getAddress())) {
            return;
        }
        InetSocketAddress probe = new InetSocketAddress(e[0].getAddress(), e[1].getPort());
        try (java.net.Socket s = new java.net.Socket()) {
            s.connect(probe, 200);
        } catch (java.io.IOException nothingThere) {
            return;
        }
        LogShape.proxyLine("warn", "zerohop proxy: warning: " + origins.label("inbound-endpoint") + " " + Addresses.authority(e[0]) + "="
                + Addresses.authority(e[1]) + ": something accepts connections at " + Addresses.authority(probe) + ", the workload"
                + " address on the application's port: is the application bound to 0.0.0.0? A plaintext client reaches it there"
                + " directly, without mTLS and without policy (bind it to " + Addresses.authority(e[1]) + " only)");
    }

    /**
     * Two of the proxy's own listeners on one address and port (or a wildcard, {@code 0.0.0.0} or {@code [::]}, and any
     * address on that port, both families: {@link #clash}): the second
     * bind failed after the start had begun, "Address already in use" with a hint at another process (a new-operator
     * pass: {@code --metrics} and {@code --readiness} both on 127.0.87.80:15020). Refused before anything starts (exit 2).
     */
    private void listenersThatClash(Usage u, Checked c) {
        List<Map.Entry<String, InetSocketAddress>> on = listeners(c).entrySet().stream().filter(e -> e.getValue() != null).toList();
        for (int i = 0; i < on.size(); i++) {
            for (int j = 0; j < i; j++) {
                Map.Entry<String, InetSocketAddress> a = on.get(i);
                Map.Entry<String, InetSocketAddress> b = on.get(j);
                if (clash(a.getValue(), b.getValue())) {
                    throw u.error(a.getKey(), Addresses.authority(a.getValue()), Addresses.authority(a.getValue()) + " is also where "
                            + origins.label(b.getKey()) + " " + Addresses.authority(b.getValue()) + " listens: two listeners cannot"
                            + " share an address and port" + bothFamilies(a.getValue(), b.getValue()) + " (give one of them another port)");
                }
            }
        }
    }

    /** IPv4's limited broadcast. */
    private static boolean isBroadcast(java.net.InetAddress a) {
        byte[] b = a.getAddress();
        return b.length == 4 && (b[0] & b[1] & b[2] & b[3]) == (byte) 0xff;
    }

    /** The proxy's listeners by option name (long, without dashes), null for one that is off. */
    private static Map<String, InetSocketAddress> listeners(Checked c) {
        Map<String, InetSocketAddress> all = new java.util.LinkedHashMap<>();
        all.put("inbound", c.inbound());
        all.put("transparent", c.transparent());
        all.put("socks5", c.socks5());
        all.put("plaintext-inbound", c.plaintextInbound());
        all.put("metrics", c.metrics());
        all.put("readiness", c.readiness());
        all.put("admin", c.admin());
        return all;
    }

    /**
     * The inbound endpoints that can never work, refused before anything starts (exit 2): a TARGET where another listener of this proxy
     * binds (the proxy listens on TARGET for the workload's plaintext), and an ENDPOINT that is one of this proxy's
     * own listeners (every tunnel would come back to the proxy: a self call, which the mesh refuses per tunnel, 503,
     * as ztunnel refuses its own ports).
     */
    private void endpointsThatCannotWork(Usage u, Checked c) {
        if (c.inboundEndpoints().isEmpty()) {
            return;
        }
        Map<String, InetSocketAddress> own = listeners(c);
        for (InetSocketAddress[] e : c.inboundEndpoints()) {
            String shown = Addresses.authority(e[0]) + "=" + Addresses.authority(e[1]);
            if (inboundTransparent && e[1].getAddress().isLoopbackAddress()) {
                // Mesh.Builder.build() refuses it too; said here as the options, before anything starts.
                throw u.error("inbound-endpoint", shown, shown + ": a loopback ENDPOINT with " + origins.label("inbound-transparent")
                        + ": a TPROXY node proxy serves workloads in other network namespaces, where this is the node's loopback,"
                        + " not the workload's (with TPROXY, --plaintext-inbound already refuses plaintext to a STRICT workload:"
                        + " drop --inbound-endpoint, or give the workload's own address as ENDPOINT)");
            }
            List<Map.Entry<String, InetSocketAddress>> listeners = new ArrayList<>(own.entrySet());
            for (InetSocketAddress[] f : c.forwards()) {
                listeners.add(Map.entry("forward", f[0]));
            }
            for (Map.Entry<String, InetSocketAddress> o : listeners) {
                if (clash(e[0], o.getValue())) {
                    // The proxy listens on TARGET for plaintext: a second listener there cannot bind.
                    throw u.error("inbound-endpoint", shown, shown + ": " + Addresses.authority(e[0]) + " is also where "
                            + origins.label(o.getKey()) + " " + Addresses.authority(o.getValue()) + " listens, and the proxy"
                            + " receives the workload's plaintext on TARGET: two listeners cannot share an address and port"
                            + bothFamilies(e[0], o.getValue()));
                }
                if (o.getValue() != null && (o.getValue().equals(e[1]) || clash(e[1], o.getValue()))) {
                    throw u.error("inbound-endpoint", shown, shown + ": " + Addresses.authority(e[1]) + " is where "
                            + origins.label(o.getKey()) + " " + Addresses.authority(o.getValue()) + " listens: every tunnel"
                            + " would come back to this proxy (a self call) and none would reach the application (give"
                            + " the address the application binds, e.g. 127.0.0.1:" + e[0].getPort() + ")");
                }
            }
            // The mesh's self-call rule by port (OwnPorts, as ztunnel's illegal_ports): ztunnel's four fixed ports, and the
            // port of every listener not bound on port 0, on any address, but a forward on one address, which counts at that
            // address only (the clash above). A wildcard forward stays: Netty's epoll binds 0.0.0.0 and [::] dual-stack, so
            // it takes its port at every address of both families (the clash above names it for an ENDPOINT at one of
            // them since 5 December; a final pass). Such an ENDPOINT started, then refused every tunnel with 503 (newuser26).
            int p = e[1].getPort();
            String owner = java.util.Set.of(15008, 15006, 15001, 15080).contains(p) ? "one of ztunnel's fixed ports, 15008, 15006, 15001 and 15080"
                    : listeners.stream().filter(o -> o.getValue() != null && o.getValue().getPort() == p
                                    && !(o.getKey().equals("forward") && !o.getValue().getAddress().isAnyLocalAddress()))
                            .map(o -> origins.label(o.getKey()) + " " + Addresses.authority(o.getValue()) + " claims it on every address").findFirst().orElse(null);
            if (owner != null) {
                throw u.error("inbound-endpoint", shown, shown + ": port " + p + " is one of this proxy's own ports (" + owner
                        + "): every tunnel to " + Addresses.authority(e[0]) + " would be refused as a self call (503), as ztunnel"
                        + " refuses its own ports; give the application another port");
            }
        }
    }

    /**
     * Whether a forward listening on {@code local} dials itself at {@code target}: the same port (not 0) and the same
     * address, or a wildcard LOCAL and a target this host answers on (loopback, a wildcard, an address of one of its
     * interfaces) that the wildcard takes: {@code 0.0.0.0} IPv4 only, {@code [::]} both families, as epoll binds it
     * dual-stack (Linux's default {@code net.ipv6.bindv6only=0}; until 5 December an IPv4 target behind a {@code [::]} LOCAL
     * started and then dropped every connection as a self call, a break-it pass).
     */
    static boolean selfCall(InetSocketAddress local, InetSocketAddress target) {
        if (local.getPort() == 0 || local.getPort() != target.getPort() || target.getAddress() == null) {
            return false;
        }
        java.net.InetAddress l = local.getAddress();
        java.net.InetAddress t = target.getAddress();
        if (l.equals(t)) {
            return true;
        }
        if (!l.isAnyLocalAddress() || l instanceof java.net.Inet4Address && !(t instanceof java.net.Inet4Address)) {
            return false;
        }
        try {
            return t.isLoopbackAddress() || t.isAnyLocalAddress() || java.net.NetworkInterface.getByInetAddress(t) != null;
        } catch (java.net.SocketException e) {
            return false;
        }
    }

    /**
     * Whether two listen addresses cannot both be bound: same port (not 0), and the same address, or a wildcard and any
     * address of either family. The proxy's listeners are IPv6 sockets (Netty's epoll, or the JDK's NIO), which Linux binds
     * dual-stack under its default {@code net.ipv6.bindv6only=0} (ipv6(7), {@code IPV6_V6ONLY}; Documentation/networking/
     * ip-sysctl.rst {@code bindv6only}), and both bind {@code 0.0.0.0} as the IPv6 wildcard too: {@code [::]:P} takes P on
     * every IPv4 address, {@code 0.0.0.0:P} on every IPv6 one, and no listener sets SO_REUSEPORT. Measured with Netty
     * 4.2.18's epoll and the JDK's channels: {@code [::]} then {@code 0.0.0.0} or {@code 127.0.91.7}, {@code 0.0.0.0} then
     * {@code [::]} or {@code [::1]}, all "Address already in use" on the same port. Until 5 December only a wildcard of
     * the address's own family was a clash, so {@code --inbound [::]:15008 --plaintext-inbound 0.0.0.0:15008} passed
     * the start checks and the second bind failed at the start (exit 1; a review pass).
     */
    static boolean clash(InetSocketAddress a, InetSocketAddress b) {
        if (a == null || b == null || a.getPort() == 0 || a.getPort() != b.getPort()) {
            return false;
        }
        java.net.InetAddress x = a.getAddress();
        java.net.InetAddress y = b.getAddress();
        return x.equals(y) || x.isAnyLocalAddress() || y.isAnyLocalAddress();
    }

    /**
     * For a clash of two addresses of different families ({@link #clash}: one of them a wildcard), why they clash, which
     * the addresses alone do not say; empty for two of one family.
     */
    static String bothFamilies(InetSocketAddress a, InetSocketAddress b) {
        return (a.getAddress() instanceof java.net.Inet4Address) == (b.getAddress() instanceof java.net.Inet4Address) ? ""
                : ", and a wildcard (0.0.0.0 or [::]) takes its port on every IPv4 and IPv6 address";
    }

    @Override
    public Integer call() throws Exception {
        // Every log line (slf4j-simple's on stderr, the ztunnel access log and the CLI's own lines on
        // stdout) is written by one background thread, as ztunnel's: an event loop never waits for a
        // stalled log reader (up to 10,000 lines; mesh-core's LogOutput). Before the shutdown hook may
        // let the JVM halt, what is queued is written (at most 1 s, ztunnel's WorkerGuard).
        LogOutput.Installed logs = LogOutput.install();
        try {
            String rustLog = System.getenv("RUST_LOG");
            if (rustLog != null) {
                String bad = LogLevels.startWith(rustLog);
                if (bad != null) {
                    throw new Usage.EnvironmentError(spec.commandLine(), "$RUST_LOG: " + bad);
                }
            }
            return proxy();
        } finally {
            long waits = LogOutput.waits();
            if (waits > 0) {
                LogShape.proxyLine("warn", "zerohop proxy: the log fell " + LogOutput.BUFFERED_LINES + " lines behind its reader; a thread"
                        + " that logged (an event loop, perhaps) waited for room " + waits + " times (no line was dropped)");
            }
            logs.close();
            Signals s = signals;
            if (s != null) {
                s.finished();
            }
        }
    }

    /** Set once installed, so that {@link #call} can release the shutdown hook however the proxy ends. */
    private volatile Signals signals;

    private Integer proxy() throws Exception {
        // Installed by main() before anything else; a signal that came meanwhile stops the start below.
        Signals signals = Signals.forProxy();
        this.signals = signals;
        // Nothing below may ask for the JDK's TLS while the start-up thread has SunJSSE out of the provider list.
        Zerohop.awaitSecurityProviders();
        Checked checked = check();
        // The proxy's other lines in the same shape, on the same stream (LogShape).
        LogShape.use(accessLogFormat);
        signals.warnIgnored();
        for (String warning : ztunnelTuning.warnings()) {
            LogShape.proxyLine("warn", "zerohop proxy: warning: " + warning);
        }
        for (String note : ztunnelTuning.notes()) {
            LogShape.proxyLine("info", "zerohop proxy: " + note);
        }
        if (signals.stopping()) {
            return stoppedBefore(signals, "the proxy started");
        }
        if (!accessLogFormat.equals("zerohop")) {
            // Read once, by mesh-core's access log, before the first tunnel (mesh-core README, "Access log").
            System.setProperty("zerohop.accessLog.format", accessLogFormat);
        }
        PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(MetricsConfig.INSTANCE);
        ProcessMetrics.register(prometheus);
        KubernetesProxy kube = kubernetes ? KubernetesProxy.start(node, workloads, policies, trustDomain, checkedClusterDomain, checkedServiceEntryVisibility, rootNamespace, ciliumOptions(), prometheus,
                new RootNamespaceCheck(rootNamespace, origins.label("root-namespace"))) : null;
        WorkloadRegistry registry = kube != null ? kube.discovery.registry()
                : workloads == null ? WorkloadRegistry.empty() : Utf8Text.workloads(workloads, checkedClusterDomain);
        if (kube != null) {
            // No file is reloaded here: the policies come from the API server's watches (a new-user pass read
            // "no policies configured" next to 7 installed ones in /config_dump).
            policyReload.set(reload("not used", "policies come from the Kubernetes API server (watched, installed as they change)"));
        }
        if (kube == null && node != null && workloads != null && registry.all().stream().noneMatch(w -> node.equals(w.node()))) {
            // Not an error (a node may have no workload yet), but a mistyped --node serves nothing: every tunnel to
            // the registry's workloads is answered 400 "not served", while the ready line counts them.
            List<String> nodes = registry.all().stream().map(w -> w.node()).filter(java.util.Objects::nonNull).distinct().sorted().toList();
            // No node at all printed "(its workloads' nodes: )", an empty list and no way out (a new-user pass).
            String which = nodes.isEmpty() ? "none of its workloads has a node: field: give each the node: of the proxy that serves"
                    + " it, or leave --node out to serve those whose address is on this host" : "its workloads' nodes: " + String.join(", ", nodes);
            LogShape.proxyLine("warn", "zerohop proxy: warning: " + origins.label("node") + " " + node + ": no workload of " + workloads
                    + " is on this node (" + which + "); tunnels to them will be refused (400)");
        }
        if (kube == null && node != null && identity.pem == null && identity.spireSocket == null) {
            hboneAddressWarning(registry);
        }
        // --trust-domain decides only the in-memory and Istio CAs; a CA directory has its own (checked once loaded, below),
        // and PEM files and SPIRE bring theirs: warning against --trust-domain there was false (new-user pass: --ca of
        // cluster.local with --trust-domain other.local said "no SVID can be issued" while every tunnel worked).
        if (kube == null && !registry.all().isEmpty() && identity.caDir == null && identity.pem == null && identity.spireSocket == null) {
            String td = firstTrustDomain(registry);
            if (td != null && !td.equals(trustDomain)) {
                // Its workloads' SVIDs are asked of a CA of the other domain: the proxy printed "ready" while readiness
                // said "pending: identity" and every tunnel was reset with a stack trace (new-user pass).
                LogShape.proxyLine("warn", "zerohop proxy: warning: " + origins.label("workloads") + " " + workloads + ": trustDomain " + td
                        + ", but " + origins.label("trust-domain") + " is " + trustDomain + ": its workloads' identities are not of the mesh's"
                        + " trust domain, so no SVID can be issued or accepted for them (give the same trust domain to both)");
            }
        }
        if (kube == null && workloads != null) {
            for (InetSocketAddress[] f : checked.forwards()) {
                io.zerohop.core.Service svc = registry.serviceAt(f[1].getAddress()).orElse(null);
                if (svc != null && svc.port(f[1].getPort()) == null) {
                    // A Service VIP at a port the Service lacks: every connection is refused (ztunnel's NoHealthyUpstream),
                    // with or without --passthrough-unknown, which never relays a VIP; the file is read once.
                    throw new Cli.RefusedException(origins.label("forward") + " " + Addresses.listener(f[0], f[0]) + "="
                            + Addresses.listener(f[1], f[1]) + ": " + io.netty.util.NetUtil.toAddressString(f[1].getAddress()) + " is the address of service "
                            + svc + " of " + workloads + ", which has no port " + f[1].getPort() + " (its ports: "
                            + String.join(", ", svc.ports().stream().map(x -> String.valueOf(x.port())).toList())
                            + "), so every connection to it would be refused", 2);
                }
                if (svc != null && registry.pickEndpoint(svc, f[1].getPort(), f[1].getAddress(), node) == null) {
                    // No endpoint can take the port (none selected or healthy, none with the named target port, or none
                    // on this node for internalTrafficPolicy Local): the file is read once, so every connection from this
                    // node's callers is refused until a restart (a new-user pass: it started silently). A warning, not exit
                    // 2: a local workload on another node (Local) could still be served.
                    io.zerohop.core.Service.Port p = svc.port(f[1].getPort());
                    LogShape.proxyLine("warn", "zerohop proxy: warning: " + origins.label("forward") + " "
                            + Addresses.listener(f[0], f[0]) + "=" + Addresses.listener(f[1], f[1]) + ": service " + svc + " of "
                            + workloads + " has no endpoint that can take port " + f[1].getPort()
                            + (registry.endpoints(svc).isEmpty() ? " (it selects no healthy workload)"
                            : p.targetPortName() != null ? " (no endpoint has a container port named \"" + p.targetPortName() + "\")"
                            : svc.nodeLocal() ? " (internalTrafficPolicy Local, and none is on node " + node + ")"
                            : " (none has an address)") + "; every connection to it will be refused (no healthy upstream)");
                }
            }
        }
        if (kube == null && workloads != null) {
            waypointWarnings(registry);
        }
        if (kube == null && !passthroughUnknown) {
            for (InetSocketAddress[] f : checked.forwards()) {
                if (registry.byAddress(f[1].getAddress()).isEmpty() && registry.serviceAt(f[1].getAddress()).isEmpty()) {
                    // Every connection to such a forward is refused (unknown destination: no identity to verify), one INFO
                    // line each, while the ready line lists the forward (new-user pass). A --workloads file is read once,
                    // so nothing can change that until a restart: refused before anything starts (exit 2).
                    String head = origins.label("forward") + " " + Addresses.listener(f[0], f[0]) + "=" + Addresses.listener(f[1], f[1])
                            + ": " + io.netty.util.NetUtil.toAddressString(f[1].getAddress()) + " is no workload or service address of ";
                    if (workloads != null) {
                        throw new Cli.RefusedException(head + workloads + ", which is read once at start, so every connection to"
                                + " it would be refused (add the workload to " + workloads + ", or give --passthrough-unknown to relay it"
                                + " as plain TCP)", 2);
                    }
                    LogShape.proxyLine("warn", "zerohop proxy: warning: " + head + "the registry (no --workloads); every connection to it"
                            + " will be refused (--passthrough-unknown relays it as plain TCP)");
                }
            }
        }
        if (kube == null && workloads != null) {
            for (InetSocketAddress[] e : checked.inboundEndpoints()) {
                if (registry.byAddress(e[0].getAddress()).isEmpty()) {
                    // As for a forward above: a --workloads file is read once, so a TARGET no workload has can never be
                    // served (every tunnel 400, not served) until a restart (newuser26: it only warned, and the proxy bound
                    // TARGET for plaintext anyway). A swapped pair (the application's loopback address as TARGET) lands here.
                    throw new Cli.RefusedException(origins.label("inbound-endpoint") + " " + Addresses.authority(e[0]) + "="
                            + Addresses.authority(e[1]) + ": TARGET " + e[0].getAddress().getHostAddress() + " is no workload of "
                            + workloads + ", which is read once at start, so no tunnel to it could ever be served (TARGET is the"
                            + " workload's own ip:port, ENDPOINT where the application listens: swapped?)", 2);
                }
            }
        }
        PolicyEngine engine = kube != null ? kube.discovery.policyEngine() : null;
        if (engine != null) {
            // By decision (README): with --kubernetes a selector that matches nothing is often no mistake, and the mesh
            // would otherwise check against a registry still being filled.
            SelectorCheck.disable(engine);
        }
        AutoCloseable watch = null;
        if (policies != null) {
            // Loaded by watch() (first load, then every change), a directory or one file: --help says "hot
            // reloaded", and a file was read once. The loader logs the warnings of each load (a reload: those of the
            // files it changed, and new ones), so they are not printed again here.
            // As Prometheus's own prometheus_config_last_reload_successful and _success_timestamp_seconds: a reload that
            // failed (the previous policies stay in force, and the next start exits 1 on the same file) was seen in the log
            // and /config_dump only, nothing an alert rule could read (a day-2 pass, 5 December).
            java.util.concurrent.atomic.AtomicInteger lastReloadOk = new java.util.concurrent.atomic.AtomicInteger(1);
            java.util.concurrent.atomic.AtomicLong lastReloadOkAt = new java.util.concurrent.atomic.AtomicLong();
            io.micrometer.core.instrument.Gauge.builder("zerohop.policy.last.reload.successful", lastReloadOk::get)
                    .description("Whether the last load of the --policies files succeeded (1) or failed and the previous policies stay in force (0)")
                    .register(prometheus);
            io.micrometer.core.instrument.Gauge.builder("zerohop.policy.last.reload.success.timestamp.seconds", lastReloadOkAt::get)
                    .description("When the --policies files last loaded successfully, in seconds since the epoch")
                    .register(prometheus);
            io.micrometer.core.instrument.Counter reloadFailures = io.micrometer.core.instrument.Counter.builder("zerohop.policy.reload.failures")
                    .description("Loads of the --policies files that failed (the previous policies stayed in force)").register(prometheus);
            engine = PolicyEngine.builder().rootNamespace(rootNamespace).ciliumOptions(ciliumOptions()).policies(PolicySet.empty())
                    .reloadListener(new ReloadListener() {
                @Override
                public void reloaded(PolicySet p) {
                    policyReload.set(reload("loaded", Cli.count(p.size(), "policy", "policies") + " from " + p.source()));
                    lastReloadOk.set(1);
                    lastReloadOkAt.set(java.time.Instant.now().getEpochSecond());
                }

                @Override
                public void failed(PolicyLoadException e) {
                    policyReload.set(reload("failed, previous policies stay in force", e.getMessage()));
                    lastReloadOk.set(0);
                    reloadFailures.increment();
                }
            }).build();
            engine.addChangeListener(new RootNamespaceCheck(rootNamespace, origins.label("root-namespace")));
            if (workloads != null) {
                // As policy check --workloads warns: an ALLOW policy selecting no workload leaves its target open.
                // Attached before the mesh is built, so the mesh attaches none of its own and the lines name the file.
                // Also for a file with no workload yet, as the mesh attaches to an empty registry: the check skips an
                // empty registry at each load (SelectorCheck).
                SelectorCheck.attach(engine, registry, workloads.toString());
            }
            watch = engine.watch(policies);
            if (engine.policies().size() == 0
                    && engine.policies().warnings().stream().noneMatch(w -> w.contains(io.zerohop.policy.PolicyLoader.NO_POLICY_LOADED))) {
                // As policy check says it, and as a reload to no policy is a WARN: an empty or wrongly mounted
                // directory otherwise started a proxy that allows every authenticated peer, saying only "policies 0".
                LogShape.proxyLine("warn", "zerohop proxy: warning: " + origins.label("policies") + " " + policies
                        + ": no policy loaded from it; every authenticated peer is allowed until one is");
            }
        }
        if (signals.stopping()) {
            closeAll(watch, kube);
            return stoppedBefore(signals, "the identity source started");
        }
        IdentityProvider provider;
        try {
            provider = provider(signals);
        } catch (Exception e) {
            // The policy watcher's thread would otherwise outlive the failed command.
            if (watch != null) {
                watch.close();
            }
            if (kube != null) {
                kube.close();
            }
            throw e;
        }
        if (provider == null) {
            // Stopped while waiting for the first SVID: never ready, nothing to drain.
            closeAll(watch, kube);
            return stoppedBefore(signals, "an SVID arrived");
        }
        if (signals.stopping()) {
            closeAll(watch, kube);
            provider.close();
            return stoppedBefore(signals, "the listeners started");
        }
        if (kube == null && !registry.all().isEmpty() && (identity.caDir != null || identity.pem != null)) {
            // The identity source's own trust domain, which --trust-domain does not change.
            String td = firstTrustDomain(registry);
            String source = provider instanceof InMemoryCa ca ? ca.trustDomain().getName()
                    : provider.defaultIdentity().map(id -> id.getTrustDomain().getName()).orElse(td);
            if (td != null && !td.equals(source)) {
                LogShape.proxyLine("warn", "zerohop proxy: warning: " + origins.label("workloads") + " " + workloads + ": trustDomain " + td
                        + ", but " + (identity.caDir != null ? "the CA of " + origins.label("ca") + " " + identity.caDir
                        : "the SVID of " + origins.label("cert") + " " + identity.pem.cert) + " is of " + source
                        + ": no SVID is issued or accepted for its workloads (give the same trust domain to both)");
            }
        }
        if (provider instanceof IstioCaProvider istio && kube == null) {
            // Before any listener: a proxy that cannot get certificates never says it is ready.
            boolean got;
            try {
                got = firstLocalIdentity(registry).map(id -> istio.check(id, signals::stopping, why -> waitingForIstio(why, "; no listener starts until one comes")))
                        .orElse(true);
            } catch (RuntimeException e) {
                provider.close();
                if (watch != null) {
                    watch.close();
                }
                throw e;
            }
            if (!got) {
                provider.close();
                closeAll(watch, kube);
                return stoppedBefore(signals, "a first certificate came from the Istio CA");
            }
        }
        Mesh.Builder b = Mesh.builder().trustDomain(trustDomain).trustDomainAliases(trustDomainAliases).identityProvider(provider).workloads(registry)
                .node(kube != null ? kube.discovery.node().orElseThrow() : node).meterRegistry(prometheus).passthroughUnknown(passthroughUnknown)
                .drain(checked.drain()).acceptHttp10(acceptHttp10).pilotHttp10(pilotHttp10);
        // ztunnel's CLUSTER_ID is one setting for the CA's ClusterID header and, through istiod's
        // workloads, the source_cluster/destination_cluster labels: --cluster-id is both here too.
        b.clusterId(checked.clusterId().workloadCluster());
        ZtunnelEnv.Tuning t = ztunnelTuning;
        if (t.threads() != null) {
            b.threads(t.threads());
        }
        if (t.poolMaxStreams() != null) {
            b.maxStreamsPerConnection(t.poolMaxStreams());
        }
        if (t.poolUnusedReleaseTimeout() != null) {
            b.idleTimeout(t.poolUnusedReleaseTimeout());
        }
        if (t.keepalive() != null) {
            b.tcpKeepalive(t.keepalive());
        }
        if (t.http2() != null) {
            b.http2(t.http2().streamWindow(), t.http2().connectionWindow(), t.http2().frameSize());
        }
        if (t.responseBaggage() != null) {
            b.responseBaggage(t.responseBaggage());
        }
        b.crlPath(crlPath(crlPath, System.getenv()));
        if (engine != null) {
            // Without --policies or --kubernetes: no engine, every authenticated peer allowed.
            b.policies(engine);
        }
        signals.exitBound(checked.drain());
        if (checked.inbound() != null) {
            b.inbound(checked.inbound()).inboundTransparent(inboundTransparent);
        }
        for (InetSocketAddress[] e : checked.inboundEndpoints()) {
            b.inboundEndpoint(e[0], e[1]);
        }
        Mesh mesh = b.build();
        java.util.concurrent.atomic.AtomicReference<Throwable> syncFailure = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicReference<Cli.RefusedException> caFailure = new java.util.concurrent.atomic.AtomicReference<>();
        // Ready only once the set holds this node's pods: under --kubernetes it was first written up to a second after
        // the sync, and /healthz/ready and the ready line came before it.
        Runnable captureWritten = captureSet == null ? null : mesh.readinessTask("nftables capture set");
        if (kube != null) {
            // Listeners start now; readiness waits for the first full sync (a half-listed cluster
            // never makes the kubelet send traffic here).
            Runnable synced = mesh.readinessTask("kubernetes sync");
            kube.discovery.synced().whenComplete((v, e) -> {
                if (e == null) {
                    KubernetesProxy.releaseSyncHeap();
                    synced.run();
                    if (provider instanceof IstioCaProvider istio) {
                        firstLocalIdentity(registry).ifPresent(id -> java.util.concurrent.CompletableFuture.runAsync(() -> {
                            try {
                                istio.check(id, signals::stopping, why -> waitingForIstio(why, ""));
                            } catch (Cli.RefusedException refused) {
                                caFailure.set(refused);
                                signals.stop("Istio CA check failed");
                            }
                        }));
                    }
                } else {
                    syncFailure.set(e);
                    signals.stop("Kubernetes sync failed");
                }
            });
        }
        // The "ready" line is printed when /healthz/ready would say so: with --kubernetes only once the
        // listeners are up and the first full sync is done (before, the kubelet sees 500 pending: kubernetes sync).
        java.util.concurrent.CompletableFuture<String> listening = new java.util.concurrent.CompletableFuture<>();
        if (kube != null) {
            WorkloadRegistry synced = registry;
            PolicyEngine syncedPolicies = engine;
            String nodeName = node != null ? node : System.getenv("NODE_NAME");
            String nodeFrom = node != null ? origins.label("node") : "NODE_NAME";
            kube.discovery.synced().thenRun(() -> {
                // A name that is no pod's spec.nodeName serves and captures nothing, silently (a break-it pass). Host-network
                // pods count (this proxy's own is one): a new node that runs only those is still this node.
                java.util.SortedSet<String> nodes = kube.discovery.podNodes();
                if (!nodes.isEmpty() && !nodes.contains(nodeName)) {
                    LogShape.proxyLine("warn", "zerohop proxy: warning: " + nodeFrom + " " + nodeName + ": no pod of the cluster is on that node after the"
                            + " first sync (pods are on " + String.join(", ", nodes.stream().limit(5).toList()) + (nodes.size() > 5 ? ", ..." : "")
                            + "); if this proxy runs on a node of this cluster, that is not its name (the pods' spec.nodeName; the"
                            + " DaemonSets set NODE_NAME from it), and it serves and captures none of its pods");
                }
            });
            kube.discovery.synced().thenRun(() -> {
                if (passthroughUnknown) {
                    return;
                }
                for (InetSocketAddress[] f : checked.forwards()) {
                    if (synced.byAddress(f[1].getAddress()).isEmpty() && synced.serviceAt(f[1].getAddress()).isEmpty()) {
                        // A pod may get that address later: said once, after the first sync, not refused.
                        LogShape.proxyLine("warn", "zerohop proxy: warning: " + origins.label("forward") + " " + Addresses.listener(f[0], f[0])
                                + "=" + Addresses.listener(f[1], f[1]) + ": " + io.netty.util.NetUtil.toAddressString(f[1].getAddress()) + " is no pod of"
                                + " the cluster after the first sync; connections to it are refused until a pod has that address"
                                + " (--passthrough-unknown relays them as plain TCP)");
                    }
                }
            });
            kube.discovery.synced().thenCombine(listening, (v, what) -> what).thenCombine(mesh.ready(), (what, v) -> what).thenAccept(what -> {
                LogShape.stdoutLine("zerohop proxy ready: first full sync with the Kubernetes API server done; " + what
                        + counts(synced, syncedPolicies));
            });
        }
        boolean ready = false;
        CaptureSet capture = null;
        if (captureSet != null) {
            capture = new CaptureSet(CaptureSet.parse(captureSet, new String[1]), registry, node != null ? node : System.getenv("NODE_NAME"),
                    "nft", captureWritten, captured(kube));
            // Only looked at here: the set keeps the previous proxy's pods until this one has its own (a rollout's new pod
            // wrote an empty set at start, and plaintext reached STRICT pods until the first sync, a break-it pass).
            String error = capture.check();
            if (error != null) {
                // Ready with nothing captured would be a silent fail-open (a break-it pass: /healthz/ready said 200).
                throw new Cli.RefusedException("--capture-set " + captureSet + ": cannot use the nftables set: " + error
                        + " (deploy/node-proxy's capture.sh creates it, in the host's network namespace, before the proxy starts)", 1);
            }
        }
        try {
            // The ports a draining proxy keeps until it exits, tried before anything listens: a second proxy started beside
            // it bound its HBONE port first, accepted tunnels, then failed on --metrics and reset them (a day-2 pass).
            // All three are tried and every one in use named in one line, in the ready line's order: a second proxy on its
            // defaults beside a first one named one of them (which one was Map.of's order, new in each JVM), and the user
            // moved that one only to meet the next (a new-user pass, 7 December).
            Map<String, InetSocketAddress> kept = new java.util.LinkedHashMap<>();
            kept.put("metrics", checked.metrics());
            kept.put("readiness", checked.readiness());
            kept.put("admin", checked.admin());
            Map<String, InetSocketAddress> inUse = new java.util.LinkedHashMap<>();
            String firstWhy = null;
            for (Map.Entry<String, InetSocketAddress> k : kept.entrySet()) {
                if (k.getValue() == null || k.getValue().getPort() == 0) {
                    continue;
                }
                try (java.net.ServerSocket probe = new java.net.ServerSocket()) {
                    probe.bind(k.getValue());
                } catch (java.io.IOException e) {
                    String why = Cli.bindFailure(e);
                    if (why == null) {
                        throw e;
                    }
                    if (firstWhy == null || firstWhy.equals(why)) {
                        firstWhy = why;
                        inUse.put(k.getKey(), k.getValue());
                    }
                }
            }
            if (!inUse.isEmpty()) {
                throw new Cli.RefusedException(cannotListen(inUse, firstWhy), 1);
            }
            listen("inbound", checked.inbound(), () -> {
                mesh.start().get(30, TimeUnit.SECONDS);
                return mesh.inboundAddress();
            });
            List<String> up = new ArrayList<>();
            if (mesh.inboundAddress() != null) {
                up.add("hbone " + Addresses.listener(checked.inbound(), mesh.inboundAddress()));
            }
            if (checked.transparent() != null) {
                up.add("tproxy " + listen("transparent", checked.transparent(), () -> mesh.capture(Capture.transparent(checked.transparent()))));
            }
            if (checked.socks5() != null) {
                up.add("socks5 " + listen("socks5", checked.socks5(), () -> mesh.capture(Capture.socks5(checked.socks5()))));
            }
            for (InetSocketAddress[] f : checked.forwards()) {
                up.add("forward " + listen("forward", f[0], () -> mesh.capture(Capture.forward(f[0], f[1]))) + "=" + Addresses.authority(f[1]));
            }
            if (checked.plaintextInbound() != null) {
                up.add("plaintext-inbound " + listen("plaintext-inbound", checked.plaintextInbound(),
                        () -> mesh.plaintextInbound(Capture.transparent(checked.plaintextInbound()))));
            }
            for (InetSocketAddress[] e : checked.inboundEndpoints()) {
                // The port the application left for loopback: plaintext arriving there meets PeerAuthentication, as
                // behind a sidecar's redirect to its 15006 (STRICT: reset and the refusal's line; PERMISSIVE: the policy).
                String shown = Addresses.authority(e[0]) + "=" + Addresses.authority(e[1]);
                try {
                    up.add("plaintext " + listen("inbound-endpoint", e[0], () -> mesh.plaintextInbound(Capture.forward(e[0], e[0])))
                            + "=" + Addresses.authority(e[1]));
                } catch (Cli.RefusedException refused) {
                    throw new Cli.RefusedException(refused.getMessage() + " (" + shown + ": the proxy receives plaintext for "
                            + Addresses.authority(e[0]) + " there; is the application still bound to it, or to 0.0.0.0? bind it to "
                            + Addresses.authority(e[1]) + " only)", 1);
                }
                wildcardApplication(e);
            }
            if (checked.metrics() != null) {
                HttpEndpoint.Handler scrape = r -> MetricsEndpoint.scrape(prometheus, r.header("accept"));
                // Compressed as the scraper asks (Prometheus: gzip), as ztunnel's stats server (src/metrics/server.rs).
                up.add("metrics " + listen("metrics", checked.metrics(), () -> mesh.serveHttp(checked.metrics(),
                        Map.of("/metrics", scrape, "/stats/prometheus", scrape), HttpEndpoint.Compression.NEGOTIATED)));
            }
            if (checked.readiness() != null) {
                up.add("readiness " + listen("readiness", checked.readiness(), () -> mesh.serveHttp(checked.readiness(),
                        Map.of("/healthz/ready", mesh.readinessHandler()))));
            }
            if (checked.admin() != null) {
                // ztunnel's admin (src/admin.rs): /config_dump, /logging (POST), /quitquitquit (POST).
                // --inbound-endpoint entries, as given: where a workload address's tunnels go is not visible anywhere else.
                Map<String, String> endpoints = new java.util.LinkedHashMap<>();
                checked.inboundEndpoints().forEach(e -> endpoints.put(Addresses.authority(e[0]), Addresses.authority(e[1])));
                Map<String, HttpEndpoint.Handler> routes = Map.of(
                        "/config_dump", r -> HttpEndpoint.Response.json(mesh.configDump(Map.of("policyReload", policyReload.get(),
                                "inboundEndpoints", endpoints))),
                        "/logging", LogLevels::handle,
                        "/quitquitquit", r -> {
                            if (!r.method().equals("POST")) {
                                return HttpEndpoint.Response.empty(405); // empty_response(METHOD_NOT_ALLOWED), src/admin.rs
                            }
                            // The stop once the answer is written (ztunnel answers too, src/admin.rs):
                            // started here, it could end the event loops before the answer went out.
                            return HttpEndpoint.Response.plaintext(200, "shutdown now\n").thenRun(() -> signals.stop("/quitquitquit"));
                        });
                String exposed = adminExposure(origins.label("admin"), checked.admin());
                if (exposed != null) {
                    LogShape.proxyLine("warn", exposed);
                }
                up.add("admin " + listen("admin", checked.admin(), () -> mesh.serveHttp(checked.admin(), routes)));
            }
            if (capture != null) {
                // Written once this proxy listens (a second proxy that fails to bind must not replace the running one's set),
                // and under --kubernetes once the registry holds the cluster's pods.
                CaptureSet c = capture;
                java.util.concurrent.CompletableFuture<?> registryReady = kube == null
                        ? java.util.concurrent.CompletableFuture.completedFuture(null) : kube.discovery.synced();
                if (kube == null && !c.sync(true)) {
                    throw new Cli.RefusedException("--capture-set " + captureSet + ": the nftables set could not be written (above)", 1);
                }
                if (kube != null) {
                    kube.discovery.onInstalled(c::changed);
                }
                c.start(registryReady);
            }
            String listeners = (up.isEmpty() ? "no listeners" : String.join(", ", up)) + "; identity source " + describeIdentity();
            String what = listeners + counts(registry, engine);
            if (kube == null) {
                // Printed when /healthz/ready would answer 200: listeners are up here, but an SVID may
                // still be pending (a slow SPIRE agent, a CA that cannot issue it).
                mesh.ready().thenRun(() -> LogShape.stdoutLine("zerohop proxy ready: " + what));
            } else {
                // The counts come with the ready line, after the sync: here they were always 0 (a new-user pass).
                LogShape.stdoutLine("zerohop proxy listening: " + listeners + "; ready after the first full sync with the Kubernetes API server");
            }
            listening.complete(listeners);
            if (kube == null) {
                // On this thread, not a timer's: a scheduler thread would stay for the process's life (idle RSS).
                try {
                    // A signal ends the wait too: its drain should not wait for readiness first.
                    java.util.concurrent.CompletableFuture.anyOf(mesh.ready(), signals.stopped()).get(5, TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException notYet) {
                    LogShape.proxyLine("warn", "zerohop proxy: not ready after 5 s, pending: " + String.join(", ", mesh.pendingReadiness())
                            + " (/healthz/ready answers 500; the WARN lines say why); listening: " + what);
                } catch (java.util.concurrent.ExecutionException closedFirst) {
                    // The drain began before readiness (a JVM exit's shutdown hook): signals.await() below says so.
                }
            }
            ready = true;
            String signal = signals.await();
            if (syncFailure.get() != null) {
                throw new IllegalStateException("Kubernetes sync failed: " + syncFailure.get().getMessage(), syncFailure.get());
            }
            if (caFailure.get() != null) {
                throw caFailure.get();
            }
            LogShape.stdoutLine("zerohop proxy: " + signal + ", draining for up to " + Cli.format(checked.drain()));
            return 0;
        } finally {
            if (capture != null) {
                capture.close();
            }
            if (ready) {
                mesh.close();
            } else {
                // A start that failed (a port in use, the capture set refused) drains nothing worth three INFO lines,
                // which came before its one error line (an operator pass); the error says what happened.
                LogLevels.silenced("io.zerohop.core.Mesh", () -> LogLevels.silenced("io.zerohop.hbone.HboneServer", () -> {
                    mesh.close();
                    return null;
                }));
            }
            if (ready) {
                // A proxy that never became ready says why on stderr; "stopped" would read as a clean stop.
                LogShape.stdoutLine("zerohop proxy: stopped");
            }
            if (watch != null) {
                watch.close();
            }
            if (kube != null) {
                kube.close();
            }
            provider.close();
        }
    }

    /** A signal (or /quitquitquit's stop) came before {@code what}: nothing listens yet, so nothing to drain. */
    private int stoppedBefore(Signals signals, String what) throws InterruptedException {
        LogShape.stdoutLine("zerohop proxy: " + signals.await() + " before " + what + "; stopped");
        return 0;
    }

    private static void closeAll(AutoCloseable watch, KubernetesProxy kube) throws Exception {
        if (watch != null) {
            watch.close();
        }
        if (kube != null) {
            kube.close();
        }
    }

    /** The identity source; null when a signal came while waiting for SPIRE's first SVID. */
    private IdentityProvider provider(Signals signals) throws Exception {
        if (identity.pem != null) {
            io.zerohop.identity.PemFileIdentityProvider ids = Cli.pemIdentity(identity.pem.cert, identity.pem.key, identity.pem.bundle, true);
            // A warning, not a refusal: a proxy that only dials (or only serves) needs one role; the other side's refusal is
            // a bare certificate_unknown alert, so this line is where an operator learns why.
            Runnable warnRoles = () -> {
                for (io.zerohop.identity.SvidVerifier.Purpose p : io.zerohop.identity.SvidVerifier.Purpose.values()) {
                    String problem = Cli.purposeProblem(ids, identity.pem.cert, p);
                    if (problem != null) {
                        LogShape.proxyLine("warn", "zerohop proxy: warning: --cert " + problem + "; peers refuse it, so every new connection "
                                + (p == io.zerohop.identity.SvidVerifier.Purpose.SERVER_AUTH ? "to" : "from") + " this proxy fails its handshake");
                    }
                }
            };
            warnRoles.run();
            // A reloaded certificate too (a new-user pass swapped in a serverAuth-only one: outbound failed, no line said why).
            ids.addListener(new io.zerohop.identity.IdentityListener() {
                @Override
                public void svidRotated(io.spiffe.svid.x509svid.X509Svid svid) {
                    warnRoles.run();
                }
            });
            return ids;
        }
        if (identity.spireSocket != null) {
            return spire(signals);
        }
        if (identity.caDir != null) {
            return InMemoryCa.load(identity.caDir, Duration.ofHours(24));
        }
        if (identity.istio != null) {
            IstioCa i = identity.istio;
            for (String warning : istioCaHeaders.warnings()) {
                LogShape.proxyLine("warn", "zerohop proxy: warning: " + warning);
            }
            return IstioCaProvider.create(i.address, i.root, i.tokenFile, clusterId(clusterId, System.getenv()).id(), i.hostname, trustDomain,
                    istioSecretTtl, istioCaHeaders.headers(), origins::label);
        }
        return InMemoryCa.create(trustDomain);
    }

    /**
     * Waits for the SPIRE agent's first SVID for as long as it takes, or until a signal. A SPIRE
     * agent often starts after the workloads of its node, and ztunnel keeps retrying a failed
     * certificate fetch with a capped back-off rather than exiting (src/identity/manager.rs); an exit
     * would only add the kubelet's CrashLoopBackOff (up to 5 minutes) to the agent's own start. No
     * listener is bound meanwhile, so nothing reports ready; the DaemonSet's startupProbe
     * (deploy/node-proxy) bounds the wait where a bound is wanted. Each failed attempt is one WARN
     * line from {@link SpireIdentityProvider} naming the socket and the cause.
     *
     * <p>With {@code --spiffe-id}, the same for the pinned ID, by decision: the proxy never starts with another identity.
     * {@link SpireIdentityProvider} fails a pinned build whose first answer lacks the ID; the agent is then asked again
     * without a pin, and its answer is held open until an update gives the ID (the agent pushes each change on the stream,
     * so a registration entry that reaches the agent later starts the proxy at once), one WARN line naming the ID and the
     * IDs given; then the pinned provider is built again. Never ready meanwhile, as no listener is bound.
     *
     * @return null when stopped by a signal first
     * @throws IllegalStateException when the Workload API gives up for good (java-spiffe does not retry
     *         INVALID_ARGUMENT) or offers no SVID for the workload
     */
    private IdentityProvider spire(Signals signals) throws Exception {
        LogShape.stdoutLine("zerohop proxy: waiting for an SVID " + (pinnedId != null ? "of " + pinnedId + " " : "")
                + "from the Workload API at " + identity.spireSocket + "; listeners start once " + (pinnedId != null ? "it arrives" : "one arrives"));
        String warned = null;
        while (true) {
            SpireIdentityProvider.Builder b = SpireIdentityProvider.builder().address(identity.spireSocket);
            if (pinnedId != null) {
                b.spiffeId(pinnedId);
            }
            java.util.concurrent.CompletableFuture<SpireIdentityProvider> f = b.buildAsync();
            Exception failure;
            try {
                SpireIdentityProvider p = await(f, signals);
                if (p != null) {
                    ownIdentity = p.defaultIdentity().orElse(null);
                }
                return p;
            } catch (Exception e) {
                if (pinnedId == null) {
                    throw e;
                }
                failure = e;
            }
            // The agent answered without the pinned ID (SpireIdentityProvider fails the build then), or not at all. Asked
            // again without a pin: a failure is the agent's own; an answer without the ID is waited on, on that open stream.
            SpireIdentityProvider any;
            try {
                any = await(SpireIdentityProvider.builder().address(identity.spireSocket).buildAsync(), signals);
            } catch (Exception e) {
                e.addSuppressed(failure);
                throw e;
            }
            if (any == null) {
                return null;
            }
            try (any) {
                java.util.concurrent.CompletableFuture<Void> given = new java.util.concurrent.CompletableFuture<>();
                any.addListener(new io.zerohop.identity.IdentityListener() {
                    @Override
                    public void svidRotated(io.spiffe.svid.x509svid.X509Svid svid) {
                        if (svid.getSpiffeId().equals(pinnedId)) {
                            given.complete(null);
                        }
                    }
                });
                // After addListener: an update between the answer and the listener is seen here.
                java.util.concurrent.CompletableFuture<?> held = any.svid(pinnedId);
                if (held.isCompletedExceptionally()) {
                    // SpireIdentityProvider.svid's reason, e.g. "the Workload API at A gives this workload only [IDs]".
                    String why = held.handle((v, e) -> e.getMessage()).join().replace("no SVID for " + pinnedId + ": ", "");
                    if (!why.equals(warned)) {
                        // Once: the wait itself is silent (the agent pushes each change on the open stream).
                        LogShape.proxyLine("warn", "zerohop proxy: warning: " + origins.label("spiffe-id") + " " + pinnedId + ": " + why
                                + "; waiting for the agent to give it (is its registration entry created, with this workload's"
                                + " selectors, and synced to the agent?): until then no listener starts, so the proxy is not ready"
                                + " and presents no other identity");
                        warned = why;
                    }
                    java.util.concurrent.CompletableFuture.anyOf(given, signals.stopped()).join();
                    if (!given.isDone()) {
                        return null;
                    }
                }
            }
            // It is given now: the pinned provider again (a fresh stream, whose first answer holds it).
        }
    }

    /** The agent's default identity, or the pinned one, once SPIRE's provider is up (the ready line names it). */
    private io.spiffe.spiffeid.SpiffeId ownIdentity;

    /** {@code f}'s provider; null when a signal came first (f is cancelled, closing what it was building). */
    private static SpireIdentityProvider await(java.util.concurrent.CompletableFuture<SpireIdentityProvider> f, Signals signals)
            throws Exception {
        try {
            java.util.concurrent.CompletableFuture.anyOf(f, signals.stopped()).get();
        } catch (java.util.concurrent.ExecutionException failed) {
            // f failed: join() below throws its cause
        }
        if (!f.isDone()) {
            f.cancel(false); // buildAsync closes the provider it was building
            return null;
        }
        try {
            return f.join();
        } catch (java.util.concurrent.CompletionException e) {
            throw e.getCause() instanceof Exception x ? x : e;
        }
    }

    /** The Cilium agent options the policies are read with ({@code --policy-default-local-cluster}). */
    io.zerohop.policy.CiliumOptions ciliumOptions() {
        return io.zerohop.policy.CiliumOptions.builder().policyDefaultLocalCluster(policyDefaultLocalCluster).build();
    }

    /**
     * Which of this node's HBONE workloads its proxy captures: under {@code --kubernetes} istio-cni's decision
     * ({@code PodState.captured}: a pod that terminates HBONE itself, outside its enablement selectors, is not), else all.
     */
    static java.util.function.Predicate<io.zerohop.core.Workload> captured(KubernetesProxy kube) {
        return kube == null ? w -> true
                : w -> kube.discovery.podState(w.namespace(), w.name()).map(io.zerohop.kubernetes.PodState::captured).orElse(true);
    }

    /**
     * The identity of one HBONE workload this proxy serves, for the Istio CA start-up check (ztunnel
     * prefetches every local workload's certificate; one answer proves token, TLS and impersonation).
     */
    private java.util.Optional<io.spiffe.spiffeid.SpiffeId> firstLocalIdentity(WorkloadRegistry registry) {
        String self = node != null ? node : System.getenv("NODE_NAME");
        return registry.all().stream()
                .filter(w -> w.protocol() == io.zerohop.core.Workload.Protocol.HBONE && self != null && self.equals(w.node()))
                .map(io.zerohop.core.Workload::identity).sorted(java.util.Comparator.comparing(Object::toString)).findFirst();
    }

    /**
     * The trust domain of the registry's first workload that has an identity, or null when none has (plaintext workloads
     * only): the first workload alone was read, and a file starting with a workload without identity stopped the start with
     * a NullPointerException.
     */
    private static String firstTrustDomain(WorkloadRegistry registry) {
        return registry.all().stream().map(registry::identityOf).filter(java.util.Objects::nonNull).findFirst()
                .map(id -> id.getTrustDomain().getName()).orElse(null);
    }

    /** {@code "; N workloads; policies M"} as they are now (with --kubernetes: after the sync installed them); {@code 1 workload}. */
    static String counts(WorkloadRegistry registry, PolicyEngine engine) {
        return "; " + Cli.count(registry.all().size(), "workload", "workloads") + "; policies " + (engine == null ? "none (allow all)" : engine.policies().size());
    }

    /** The identity source given, as a usage error names it: {@code --ca}, or {@code file:line: ca}. */
    private String givenSource() {
        if (identity.pem != null) {
            return origins.label("cert") + "/" + origins.label("key") + "/" + origins.label("trust-bundle");
        }
        if (identity.istio != null) {
            return origins.label("istio-ca");
        }
        return origins.label(identity.caDir != null ? "ca" : "in-memory-ca");
    }

    private String describeIdentity() {
        if (identity.pem != null) {
            return "PEM files " + identity.pem.cert;
        }
        if (identity.spireSocket != null) {
            // The SVID the proxy presents as its own: what --spiffe-id pins, or the agent's default to pin instead.
            return "SPIRE " + identity.spireSocket + " (own identity " + ownIdentity + ", "
                    + (pinnedId != null ? origins.label("spiffe-id") : "the Workload API's default") + ")";
        }
        if (identity.istio != null) {
            return "Istio CA " + identity.istio.address + " (node mode: ImpersonatedIdentity)";
        }
        return identity.caDir != null ? "CA " + identity.caDir : "in-memory CA";
    }

    /**
     * A CA (directory, in-memory or istiod) gives this proxy one SVID per workload, and its HBONE listener presents the one
     * of the workload at the address dialled (ztunnel's way). A node {@code hboneAddress} makes every tunnel to the node's
     * workloads dial that one address: with no workload there, each handshake fails ("no local identity serves that
     * address"), and with one there, tunnels to workloads of other identities are refused (400). The proxy started ready
     * and failed every tunnel, silently at start (a new-user pass). Said once at start; PEM files and SPIRE present one
     * identity, which such an address suits (README, "Decisions").
     */
    private static final java.net.InetAddress ANY = new InetSocketAddress(0).getAddress();

    /**
     * Each {@code waypoint:} of the --workloads file that the file cannot resolve (WaypointStartCheckTest): read once, it
     * leaves every connection to that Service or workload refused as ztunnel's {@code UnknownWaypoint} (mesh-core README
     * "Waypoints"), never sent direct, until a restart; a new-user pass found such a file (a short hostname, a mistyped
     * address) started silently. A warning, as the forward with no endpoint above: the proxy still fails closed.
     */
    private void waypointWarnings(WorkloadRegistry registry) {
        List<String> lines = new java.util.ArrayList<>();
        for (io.zerohop.core.Service s : registry.services()) {
            String why = unresolvedWaypoint(registry, s.waypoint());
            if (why != null) {
                lines.add("service " + s + ": waypoint " + s.waypoint() + ": " + why);
            }
        }
        for (io.zerohop.core.Workload w : registry.all()) {
            String why = unresolvedWaypoint(registry, w.waypoint());
            if (why != null) {
                lines.add("workload " + w + ": waypoint " + w.waypoint() + ": " + why);
            }
        }
        for (String l : lines) {
            LogShape.proxyLine("warn", "zerohop proxy: warning: " + origins.label("workloads") + " " + workloads + ": " + l
                    + "; the file is read once, so every connection to it will be refused (unknown waypoint), never sent directly");
        }
    }

    /** Why {@code gw} resolves to no waypoint in {@code registry}, the checks of mesh-core's resolution; null when it does. */
    private static String unresolvedWaypoint(WorkloadRegistry registry, io.zerohop.core.GatewayAddress gw) {
        if (gw == null) {
            return null;
        }
        io.zerohop.core.Service svc = gw.address() != null ? registry.serviceAt(gw.address()).orElse(null)
                : registry.service(gw.namespace(), gw.hostname()).orElse(null);
        if (svc == null && gw.address() != null) {
            io.zerohop.core.Workload w = registry.byAddress(gw.address()).orElse(null);
            if (w == null) {
                return "no service or workload of the file has address " + io.netty.util.NetUtil.toAddressString(gw.address());
            }
            return registry.identityOf(w) == null ? "its workload " + w + " has no identity to verify" : null;
        }
        if (svc == null) {
            List<String> there = registry.services().stream().filter(s -> s.namespace().equals(gw.namespace()))
                    .map(io.zerohop.core.Service::hostname).sorted().toList();
            return "no service of hostname " + gw.hostname() + " in namespace " + gw.namespace() + (there.isEmpty()
                    ? " (the file has no service there)" : " (its services' hostnames there: " + String.join(", ", there) + ")");
        }
        if (svc.port(gw.hboneMtlsPort()) == null) {
            return "its service " + svc + " has no port " + gw.hboneMtlsPort() + " (its ports: " + String.join(", ",
                    svc.ports().stream().map(x -> String.valueOf(x.port())).toList()) + ")";
        }
        return registry.endpoints(svc).isEmpty() ? "its service " + svc + " selects no workload" : null;
    }

    private void hboneAddressWarning(WorkloadRegistry registry) {
        List<io.zerohop.core.Workload> here = registry.all().stream()
                .filter(w -> node.equals(w.node()) && w.protocol() == io.zerohop.core.Workload.Protocol.HBONE).toList();
        if (here.isEmpty()) {
            return;
        }
        // A declared hboneAddress is never a wildcard (the registry refuses one): the wildcard back means "none declared".
        InetSocketAddress dialled = registry.hboneAddress(here.get(0), ANY);
        if (dialled.getAddress().isAnyLocalAddress()) {
            return;
        }
        io.zerohop.core.Workload at = registry.byAddress(dialled.getAddress()).filter(here::contains).orElse(null);
        List<String> identities = here.stream().map(w -> registry.identityOf(w).toString()).distinct().sorted().toList();
        if (at != null && identities.size() == 1) {
            return;
        }
        String what = at == null ? "no workload's address, so every tunnel to the node's workloads fails there (none of their SVIDs is"
                + " presented at it)"
                : at + "'s address, so tunnels to the node's workloads of other identities are refused (400)";
        // A proxy with one SVID (PEM files, SPIRE) serves only workloads of it: the others' SVIDs never come and it stays
        // unready, so that way out is offered only to a node whose workloads share one identity.
        String oneIdentity = identities.size() == 1
                ? " or give the proxy the one identity of the node's workloads, " + identities.get(0)
                        + " (--cert/--key/--trust-bundle or --spire-socket)"
                : "; one identity for the proxy (--cert/--key/--trust-bundle or --spire-socket) would not do: the node's workloads"
                        + " have " + identities.size() + " (" + String.join(", ", identities) + "), and a proxy with one SVID never"
                        + " gets the others' (it stays unready)";
        LogShape.proxyLine("warn", "zerohop proxy: warning: " + origins.label("workloads") + " " + workloads + ": node " + node
                + "'s hboneAddress " + Addresses.authority(dialled) + " is " + what + ": with " + givenSource()
                + " this proxy presents each workload's own SVID, picked by the address dialled; leave hboneAddress out (tunnels"
                + " then dial each workload's IP on " + WorkloadRegistry.HBONE_PORT + ", as ztunnel's)" + oneIdentity);
    }

    /** The Istio CA is out of reach at start: said once; CertificateManager's WARN lines give each attempt. */
    private static void waitingForIstio(String why, String then) {
        LogShape.proxyLine("warn", "zerohop proxy: waiting for a first certificate: " + why + "; retried on ztunnel's backoff"
                + " (at most 180 s apart: 150 s ±20 %)" + then);
    }

    /** Binds one listener. */
    private interface Bind {
        InetSocketAddress bind() throws Exception;
    }

    /**
     * {@code bind}'s listener as the ready line shows it ({@link Addresses#listener}: the IP as given,
     * the port as bound). A failure to bind names the option (or the config file's line) and the
     * address with what the kernel said, e.g. {@code --metrics 0.0.0.0:15020: cannot listen: Address
     * already in use} (exit 1); other failures pass unchanged.
     */
    private String listen(String key, InetSocketAddress at, Bind bind) throws Exception {
        try {
            InetSocketAddress bound = bind.bind();
            return bound == null ? null : Addresses.listener(at, bound);
        } catch (Exception e) {
            String why = e instanceof InterruptedException || at == null ? null : Cli.bindFailure(e);
            if (why == null) {
                throw e;
            }
            throw new Cli.RefusedException(cannotListen(Map.of(key, at), why), 1);
        }
    }

    /** ztunnel's default port for each listener option zerohop shares (istio/ztunnel src/config.rs: DEFAULT_ADMIN_PORT...). */
    private static final Map<String, Integer> ZTUNNEL_PORTS = Map.of("inbound", 15008, "transparent", 15001,
            "plaintext-inbound", 15006, "socks5", 15080, "metrics", 15020, "readiness", 15021, "admin", 15000);

    /**
     * The line for listeners that could not bind, each option with its address, then what the kernel said ({@code why},
     * the same for all). For a port in use it says who the other process usually is and how to run this proxy beside it:
     * a new-user pass started a second proxy on one host and got {@code --admin 127.0.0.1:15000: cannot listen: Address
     * already in use (another process listens there: a zerohop proxy still draining ...)}, which named no way out and
     * not that ztunnel's admin port is 15000 too.
     */
    String cannotListen(Map<String, InetSocketAddress> failed, String why) {
        List<String> named = new ArrayList<>();
        List<String> moves = new ArrayList<>();
        List<String> defaults = new ArrayList<>();
        boolean drainKeeps = false;
        for (Map.Entry<String, InetSocketAddress> f : failed.entrySet()) {
            String key = f.getKey();
            named.add(origins.label(key) + " " + Addresses.authority(f.getValue()));
            // The usual cause on a node is the proxy this one replaces: a draining proxy keeps its metrics, readiness and
            // admin ports until it exits (deploy/README.md, "Fail closed"), and the bare kernel text did not say so.
            // Only these three: a draining proxy closes its other listeners when the drain starts (a new-operator pass).
            drainKeeps |= List.of("metrics", "readiness", "admin").contains(key);
            Integer ztunnel = ZTUNNEL_PORTS.get(key);
            if (ztunnel != null && ztunnel == f.getValue().getPort()) {
                defaults.add(ztunnel + " is ztunnel's " + (key.equals("inbound") ? "HBONE" : key) + " port and every zerohop proxy's default");
            }
            moves.add(switch (key) {
                case "forward" -> "another LOCAL address in its --forward LOCAL=TARGET";
                // TARGET is the workload's own address: nothing to move; the caller adds why it is taken.
                case "inbound-endpoint" -> null;
                default -> "--" + key + " ADDR";
            });
        }
        String hint = "";
        if (why.contains("Address already in use")) {
            List<String> said = new ArrayList<>(defaults);
            if (drainKeeps) {
                said.add("a zerohop proxy still draining keeps its metrics, readiness and admin ports until it exits");
            }
            said.add("`ss -ltnp` names the process");
            List<String> to = moves.stream().filter(java.util.Objects::nonNull).toList();
            if (!to.isEmpty()) {
                boolean offs = failed.keySet().stream().anyMatch(k -> !k.equals("forward") && !k.equals("inbound-endpoint"));
                said.add("to run this proxy beside it, give it " + and(to) + (!offs ? "" : to.size() == 1 ? ", or --"
                        + failed.keySet().iterator().next() + " off" : ", each of them or off"));
            }
            hint = " (another process listens there: " + String.join("; ", said) + ")";
        }
        return and(named) + ": cannot listen: " + why + hint;
    }

    /** {@code a}, {@code a and b}, {@code a, b and c}. */
    private static String and(List<String> items) {
        return items.size() == 1 ? items.get(0)
                : String.join(", ", items.subList(0, items.size() - 1)) + " and " + items.get(items.size() - 1);
    }

    private static Map<String, Object> reload(String result, String detail) {
        return Map.of("result", result, "detail", detail, "at", java.time.Instant.now().toString());
    }
}
