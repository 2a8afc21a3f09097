package io.zerohop.benchmarks;

import io.netty.handler.ssl.SslProvider;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneServer;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SpiffeIds;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/** The paths compared by {@link LoadRunner}: each yields connected sockets that reach the {@link AppServer}. */
final class Paths {
    private Paths() {}

    static final String TD = "cluster.local";

    /**
     * Every external process started by any path, until it is reaped: a JVM shutdown hook
     * (Ctrl-C, System.exit, uncaught error) kills what a path's close() did not, so no haproxy,
     * stunnel or nghttpx outlives the run.
     */
    private static final Set<Process> LIVE = java.util.concurrent.ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(Paths::killAll, "bench-reaper"));
    }

    /** Temp directories (configurations, keys, logs) still to delete if the JVM is stopped early. */
    private static final Set<Path> DIRS = java.util.concurrent.ConcurrentHashMap.newKeySet();

    static void killAll() {
        for (Process p : LIVE) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        LIVE.clear();
        for (Path d : DIRS) {
            deleteTree(d);
        }
    }

    static void deleteTree(Path dir) {
        try (var files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort: a temp directory
        }
        DIRS.remove(dir);
    }

    /** Shared fixtures: CA, identities, PEM files, the app server's TCP listeners. */
    static final class Env implements AutoCloseable {
        final InMemoryCa ca = InMemoryCa.create(TD);
        final SpiffeId clientId = SpiffeIds.istio(TD, "bench", "client");
        final SpiffeId serverId = SpiffeIds.istio(TD, "bench", "server");
        final AppServer app = new AppServer(1);
        final InetSocketAddress appTcp;
        final Path dir;
        final Path rootPem;
        final Path clientCert;
        final Path clientKey;
        final Path clientCombined;
        final Path serverCert;
        final Path serverKey;
        final Path serverCombined;

        Env() throws Exception {
            // With -Dzerohop.bench.nodeNet the app's shared listener moves off 127.0.0 too (NET.1), so that a run of the
            // zerohop-node path binds nothing in 127.0.0 (helper 276: CI runs with fixed ports there beside it).
            String net = System.getProperty("zerohop.bench.nodeNet");
            appTcp = app.bind(new InetSocketAddress(net == null ? "127.0.0.1" : net + ".1", 0));
            dir = Files.createTempDirectory("zerohop-bench");
            if (System.getenv("ZEROHOP_BENCH_KEEP") == null) {
                DIRS.add(dir);
            }
            rootPem = write("root.pem", Pem.certificates(List.of(ca.root())));
            X509Svid c = ca.issue(clientId, Duration.ofHours(4));
            X509Svid s = ca.issue(serverId, Duration.ofHours(4));
            clientCert = write("client.crt", Pem.certificates(c.getChain()));
            clientKey = write("client.key", Pem.privateKey(c.getPrivateKey()));
            clientCombined = write("client.pem", Pem.certificates(c.getChain()) + Pem.privateKey(c.getPrivateKey()));
            serverCert = write("server.crt", Pem.certificates(s.getChain()));
            serverKey = write("server.key", Pem.privateKey(s.getPrivateKey()));
            serverCombined = write("server.pem", Pem.certificates(s.getChain()) + Pem.privateKey(s.getPrivateKey()));
        }

        Path write(String name, String content) throws IOException {
            Path p = dir.resolve(name);
            Files.writeString(p, content);
            return p;
        }

        @Override
        public void close() {
            app.close();
            ca.close();
            if (System.getenv("ZEROHOP_BENCH_KEEP") != null) {
                System.out.println("kept configuration and proxy logs in " + dir);
                return;
            }
            deleteTree(dir);
        }
    }

    /** One way from the load generator to the app server. */
    abstract static class BenchPath implements AutoCloseable {
        final String name;
        final String description;
        final List<Process> processes = new ArrayList<>();

        BenchPath(String name, String description) {
            this.name = name;
            this.description = description;
        }

        /** Starts the path's proxies; returns null when ready, else why the path is skipped. */
        abstract String start(Env env) throws Exception;

        /** A socket connected end to end (the app server is waiting for the mode byte). */
        abstract Socket open() throws IOException;

        /**
         * File descriptors one idle tunnel holds in the busiest process of this path (this JVM or an
         * external proxy); the idle scenario caps its tunnel count so that no process runs out.
         */
        abstract int fdsPerTunnel();

        /**
         * A TCP address where an HTTP/1.1 client (h2load) reaches the app through this path, for the
         * {@code http} scenario; null when the path has no TCP front (the embedded paths).
         */
        InetSocketAddress httpFront() {
            return null;
        }

        /** Whether the path carries the byte scenarios (echo / sink); HTTP-only paths do not. */
        boolean carriesBytes() {
            return true;
        }

        /** A request path this path's policy refuses with 403 (checked before measuring), or null when it has no HTTP rule. */
        String deniedPath() {
            return null;
        }

        /** PIDs of external processes of this path (for RSS). */
        List<Long> pids() {
            return processes.stream().map(Process::pid).toList();
        }

        @Override
        public void close() throws Exception {
            for (Process p : processes) {
                p.destroy();
            }
            for (Process p : processes) {
                if (!p.waitFor(3, TimeUnit.SECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                    p.waitFor(3, TimeUnit.SECONDS);
                }
                LIVE.remove(p);
            }
            processes.clear();
        }

        Process spawn(Env env, List<String> cmd) throws IOException {
            File log = env.dir.resolve(name + "-" + processes.size() + ".log").toFile();
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log).start();
            LIVE.add(p);
            processes.add(p);
            return p;
        }

        static Socket tcp(InetSocketAddress a) throws IOException {
            Socket s = new Socket();
            s.setTcpNoDelay(true);
            s.connect(a, 10_000);
            return s;
        }
    }

    static int freePort(String host) throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(host))) {
            return s.getLocalPort();
        }
    }

    static void awaitListening(InetSocketAddress a, Process p, Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IOException("process exited with " + p.exitValue() + ": " + Files.readString(log));
            }
            try (Socket s = new Socket()) {
                s.connect(a, 200);
                return;
            } catch (IOException e) {
                Thread.sleep(50);
            }
        }
        throw new IOException("nothing listening on " + a + " after 10 s");
    }

    static String which(String... names) {
        for (String n : names) {
            for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
                File f = new File(d, n);
                if (f.canExecute()) {
                    return f.getPath();
                }
            }
            for (String d : List.of("/usr/sbin", "/sbin", "/usr/local/sbin")) {
                File f = new File(d, n);
                if (f.canExecute()) {
                    return f.getPath();
                }
            }
        }
        return null;
    }

    // ------------------------------------------------------------------ paths

    /** The floor: the load generator straight to the app server. */
    static final class PlainTcp extends BenchPath {
        private InetSocketAddress target;

        PlainTcp() {
            super("tcp", "plain TCP, no TLS (the floor)");
        }

        @Override
        String start(Env env) {
            target = env.appTcp;
            return null;
        }

        @Override
        Socket open() throws IOException {
            return tcp(target);
        }

        @Override
        InetSocketAddress httpFront() {
            return target;
        }

        @Override
        int fdsPerTunnel() {
            return 2; // generator socket + app socket, both in this JVM
        }
    }

    /** HboneClient (blocking socket adapter) → HboneServer with the app embedded as a StreamHandler. */
    static final class ZerohopEmbedded extends BenchPath {
        private final SslProvider provider;
        private MeshTls tls;
        private HboneServer server;
        private HboneClient client;
        private InetSocketAddress target;
        private SpiffeId serverId;

        ZerohopEmbedded(SslProvider provider) {
            super(provider == SslProvider.OPENSSL ? "zerohop-embedded" : "zerohop-embedded-jdk",
                    "HboneClient socket → HBONE (mTLS 1.3, h2 CONNECT) → HboneServer, app embedded in-process; TLS " + provider);
            this.provider = provider;
        }

        @Override
        String start(Env env) throws Exception {
            tls = MeshTls.builder(env.ca).sslProvider(provider).build();
            serverId = env.serverId;
            server = HboneServer.builder().tls(tls).identity(env.serverId)
                    .bind(new InetSocketAddress("127.0.0.2", 0))
                    .destinations((dst, local, localAddr) -> Destination.embedded((ch, info) -> ch.pipeline().addLast(new AppServer.Handler())))
                    .authorizer(Authorizer.allowAll())
                    .build().start().get(10, TimeUnit.SECONDS);
            client = HboneClient.builder().tls(tls).identity(env.clientId).build();
            target = new InetSocketAddress("127.0.0.2", 8080);
            return null;
        }

        HboneClient client() {
            return client;
        }

        InetSocketAddress target() {
            return target;
        }

        InetSocketAddress hbone() {
            return server.localAddress();
        }

        SpiffeId serverId() {
            return serverId;
        }

        @Override
        Socket open() throws IOException {
            return client.connectSocket(target, Set.of(serverId), server.localAddress(), Duration.ofSeconds(10));
        }

        @Override
        int fdsPerTunnel() {
            return 0; // a stream on the one pooled connection; the app is embedded
        }

        @Override
        public void close() throws Exception {
            if (client != null) {
                client.close();
            }
            if (server != null) {
                server.close();
            }
            if (tls != null) {
                tls.close();
            }
        }
    }

    /** Two in-process node proxies: app → Mesh A capture (forward) → HBONE → Mesh B inbound → app TCP. */
    static final class ZerohopNode extends BenchPath {
        private Mesh a;
        private Mesh b;
        private InetSocketAddress capture;

        ZerohopNode() {
            super("zerohop-node", "app → zerohop node proxy A (capture) → HBONE → node proxy B (15008) → app over TCP");
        }

        /**
         * The first three octets of the pair's addresses ({@code NET.21} proxy A and its capture, {@code NET.22} proxy B
         * and the app): {@code -Dzerohop.bench.nodeNet=127.0.123} moves the pair off 127.0.0 on a machine where others run
         * the load runner too.
         */
        private static final String NET = System.getProperty("zerohop.bench.nodeNet", "127.0.0");

        @Override
        String start(Env env) throws Exception {
            String clientIp = NET + ".21";
            String serverIp = NET + ".22";
            InetSocketAddress appB = env.app.bind(new InetSocketAddress(serverIp, 0));
            int hbonePort = freePort(serverIp);
            Workload client = new Workload("bench", "client", "client", Map.of("app", "client"),
                    List.of(InetAddress.getByName(clientIp)), Workload.Protocol.HBONE, "node-a", TD);
            Workload server = new Workload("bench", "server", "server", Map.of("app", "server"),
                    List.of(InetAddress.getByName(serverIp)), Workload.Protocol.HBONE, "node-b", TD);
            Map<String, InetSocketAddress> nodes = Map.of("node-b", new InetSocketAddress(serverIp, hbonePort),
                    "node-a", new InetSocketAddress(clientIp, freePort(clientIp)));
            b = Mesh.builder().identityProvider(env.ca).identity(env.serverId).node("node-b")
                    .workloads(WorkloadRegistry.of(List.of(client, server), nodes))
                    .inbound(new InetSocketAddress(serverIp, hbonePort)).build().start().get(10, TimeUnit.SECONDS);
            a = Mesh.builder().identityProvider(env.ca).identity(env.clientId).node("node-a")
                    .workloads(WorkloadRegistry.of(List.of(client, server), nodes)).build().start().get(10, TimeUnit.SECONDS);
            capture = a.capture(Capture.forward(new InetSocketAddress(clientIp, 0), appB));
            return null;
        }

        @Override
        Socket open() throws IOException {
            return tcp(capture);
        }

        @Override
        InetSocketAddress httpFront() {
            return capture;
        }

        @Override
        int fdsPerTunnel() {
            return 4; // generator, proxy A accepted, proxy B → app, app accepted: all in this JVM
        }

        @Override
        public void close() {
            if (a != null) {
                a.close();
            }
            if (b != null) {
                b.close();
            }
        }
    }

    /** Two external proxy processes, mTLS between them: the server side starts first, the app dials the client side. */
    abstract static class SidecarPair extends BenchPath {
        private InetSocketAddress front;

        SidecarPair(String name, String description) {
            super(name, description);
        }

        void launch(Env env, List<String> serverCmd, InetSocketAddress server, List<String> clientCmd, InetSocketAddress client)
                throws Exception {
            awaitListening(server, spawn(env, serverCmd), env.dir.resolve(name + "-0.log"));
            awaitListening(client, spawn(env, clientCmd), env.dir.resolve(name + "-1.log"));
            front = client;
        }

        @Override
        Socket open() throws IOException {
            return tcp(front);
        }

        @Override
        InetSocketAddress httpFront() {
            return front;
        }

        @Override
        int fdsPerTunnel() {
            return 2; // this JVM: generator + app; each proxy: accepted + outbound
        }
    }

    /** Sidecar model: two HAProxy processes, TCP mode, mTLS between them. */
    static final class Haproxy extends SidecarPair {
        Haproxy() {
            super("haproxy", "app → HAProxy (tcp) → mTLS 1.3 → HAProxy (tcp, verify required) → app (sidecar pair)");
        }

        @Override
        String start(Env env) throws Exception {
            String bin = which("haproxy");
            if (bin == null) {
                return "haproxy not installed (apt-get install -y haproxy)";
            }
            int p1 = freePort("127.0.0.11");
            int p2 = freePort("127.0.0.12");
            String common = "global\n  maxconn 9800\n  nbthread 1\n  tune.ssl.default-dh-param 2048\n"
                    + "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n";
            Path c = env.write("haproxy-client.cfg", common
                    + "frontend fe\n  bind 127.0.0.11:" + p1 + "\n  default_backend be\n"
                    + "backend be\n  server s 127.0.0.12:" + p2 + " ssl crt " + env.clientCombined + " ca-file " + env.rootPem
                    + " verify required ssl-min-ver TLSv1.3\n");
            Path s = env.write("haproxy-server.cfg", common
                    + "frontend fe\n  bind 127.0.0.12:" + p2 + " ssl crt " + env.serverCombined + " ca-file " + env.rootPem
                    + " verify required ssl-min-ver TLSv1.3\n  default_backend be\n"
                    + "backend be\n  server app " + env.appTcp.getAddress().getHostAddress() + ":" + env.appTcp.getPort() + "\n");
            launch(env, List.of(bin, "-db", "-f", s.toString()), new InetSocketAddress("127.0.0.12", p2),
                    List.of(bin, "-db", "-f", c.toString()), new InetSocketAddress("127.0.0.11", p1));
            return null;
        }
    }

    /** Sidecar model with stunnel: client-mode stunnel → mTLS 1.3 → server-mode stunnel. */
    static final class Stunnel extends SidecarPair {
        Stunnel() {
            super("stunnel", "app → stunnel (client) → mTLS 1.3 → stunnel (server, verifyChain) → app (sidecar pair)");
        }

        @Override
        String start(Env env) throws Exception {
            String bin = which("stunnel4", "stunnel");
            if (bin == null) {
                return "stunnel not installed (apt-get install -y stunnel4)";
            }
            int p1 = freePort("127.0.0.13");
            int p2 = freePort("127.0.0.14");
            String common = "foreground = yes\npid =\nsyslog = no\ndebug = 3\nsocket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n";
            Path c = env.write("stunnel-client.conf", common + "[c]\nclient = yes\naccept = 127.0.0.13:" + p1
                    + "\nconnect = 127.0.0.14:" + p2 + "\ncert = " + env.clientCert + "\nkey = " + env.clientKey
                    + "\nCAfile = " + env.rootPem + "\nverifyChain = yes\nsslVersionMin = TLSv1.3\n");
            Path s = env.write("stunnel-server.conf", common + "[s]\naccept = 127.0.0.14:" + p2
                    + "\nconnect = " + env.appTcp.getAddress().getHostAddress() + ":" + env.appTcp.getPort()
                    + "\ncert = " + env.serverCert + "\nkey = " + env.serverKey
                    + "\nCAfile = " + env.rootPem + "\nverifyChain = yes\nrequireCert = yes\nsslVersionMin = TLSv1.3\n");
            launch(env, List.of(bin, s.toString()), new InetSocketAddress("127.0.0.14", p2),
                    List.of(bin, c.toString()), new InetSocketAddress("127.0.0.13", p1));
            return null;
        }
    }

    /** The request path every HTTP benchmark request uses; the L7 rules allow exactly {@code GET} on it. */
    static final String HTTP_PATH = "/bench";
    /** A path the L7 rules refuse, probed once before measuring to prove the rules are in force. */
    static final String HTTP_DENIED_PATH = "/admin";

    /**
     * The zerohop node pair carrying HTTP/1.1: app → node proxy A (capture) → HBONE → node proxy B →
     * app, the destination port declared {@code http}. {@code l7}: an Istio ALLOW rule with
     * {@code methods: [GET]} and {@code paths: [/bench]} applies, so proxy B runs the HTTP codec and
     * authorizes every request (403 otherwise). Otherwise the rule names the same principal and the
     * port only: no HTTP rule, so proxy B splices bytes without parsing.
     */
    static final class ZerohopNodeHttp extends BenchPath {
        private final boolean l7;
        private Mesh a;
        private Mesh b;
        private InetSocketAddress capture;

        ZerohopNodeHttp(boolean l7) {
            super(l7 ? "zerohop-l7" : "zerohop-l4", l7
                    ? "app → node proxy A → HBONE → node proxy B, port declared http, Istio ALLOW rule with methods [GET] paths [/bench]:"
                    + " every request parsed and authorized (403 otherwise) → app"
                    : "app → node proxy A → HBONE → node proxy B, port declared http, Istio ALLOW rule on principal and port only:"
                    + " no HTTP rule, bytes spliced unparsed → app");
            this.l7 = l7;
        }

        @Override
        String start(Env env) throws Exception {
            String clientIp = l7 ? "127.0.0.27" : "127.0.0.25";
            String serverIp = l7 ? "127.0.0.28" : "127.0.0.26";
            InetSocketAddress appB = env.app.bind(new InetSocketAddress(serverIp, 0));
            int hbonePort = freePort(serverIp);
            Workload client = new Workload("bench", "client", "client", Map.of("app", "client"),
                    List.of(InetAddress.getByName(clientIp)), Workload.Protocol.HBONE, "node-a", TD);
            Workload server = new Workload("bench", "server", "server", Map.of("app", "server"),
                    List.of(InetAddress.getByName(serverIp)), Workload.Protocol.HBONE, "node-b", TD,
                    Map.of(appB.getPort(), io.zerohop.core.AppProtocol.HTTP));
            Map<String, InetSocketAddress> nodes = Map.of("node-b", new InetSocketAddress(serverIp, hbonePort),
                    "node-a", new InetSocketAddress(clientIp, freePort(clientIp)));
            String to = l7
                    ? "    to:\n    - operation:\n        methods: [\"GET\"]\n        paths: [\"" + HTTP_PATH + "\"]\n"
                    : "    to:\n    - operation:\n        ports: [\"" + appB.getPort() + "\"]\n";
            String yaml = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: bench-server\n"
                    + "  namespace: bench\nspec:\n  selector:\n    matchLabels:\n      app: server\n  action: ALLOW\n  rules:\n"
                    + "  - from:\n    - source:\n        principals: [\"" + TD + "/ns/bench/sa/client\"]\n" + to;
            io.zerohop.policy.PolicyEngine policy = io.zerohop.policy.PolicyEngine.builder()
                    .policies(io.zerohop.policy.PolicyLoader.fromString(name + ".yaml", yaml)).build();
            // One event loop per proxy, as the HAProxy pair runs nbthread 1 per process.
            b = Mesh.builder().identityProvider(env.ca).identity(env.serverId).node("node-b").policies(policy).threads(1)
                    .workloads(WorkloadRegistry.of(List.of(client, server), nodes))
                    .inbound(new InetSocketAddress(serverIp, hbonePort)).build().start().get(10, TimeUnit.SECONDS);
            a = Mesh.builder().identityProvider(env.ca).identity(env.clientId).node("node-a").threads(1)
                    .workloads(WorkloadRegistry.of(List.of(client, server), nodes)).build().start().get(10, TimeUnit.SECONDS);
            capture = a.capture(Capture.forward(new InetSocketAddress(clientIp, 0), appB));
            return null;
        }

        @Override
        Socket open() throws IOException {
            return tcp(capture);
        }

        @Override
        InetSocketAddress httpFront() {
            return capture;
        }

        @Override
        boolean carriesBytes() {
            return false;
        }

        @Override
        String deniedPath() {
            return l7 ? HTTP_DENIED_PATH : null;
        }

        @Override
        int fdsPerTunnel() {
            return 4;
        }

        @Override
        public void close() {
            if (a != null) {
                a.close();
            }
            if (b != null) {
                b.close();
            }
        }
    }

    /**
     * The waypoint-class baseline: an HAProxy pair, client side TCP mode (L4, like the zerohop pair's
     * proxy A), server side HTTP mode behind mTLS 1.3 with {@code verify required} and the same rule
     * as {@code zerohop-l7}: {@code http-request deny} (403) unless {@code GET /bench}.
     */
    static final class HaproxyHttp extends SidecarPair {
        HaproxyHttp() {
            super("haproxy-l7", "app → HAProxy (tcp) → mTLS 1.3 → HAProxy (http, verify required, http-request deny unless GET /bench)"
                    + " → app (sidecar pair with L7 rules)");
        }

        @Override
        String start(Env env) throws Exception {
            String bin = which("haproxy");
            if (bin == null) {
                return "haproxy not installed (apt-get install -y haproxy)";
            }
            int p1 = freePort("127.0.0.29");
            int p2 = freePort("127.0.0.30");
            String common = "global\n  maxconn 9800\n  nbthread 1\n  tune.ssl.default-dh-param 2048\n"
                    + "defaults\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n  timeout http-keep-alive 1h\n"
                    + "  timeout http-request 1h\n";
            Path c = env.write("haproxy-l7-client.cfg", common
                    + "frontend fe\n  mode tcp\n  bind 127.0.0.29:" + p1 + "\n  default_backend be\n"
                    + "backend be\n  mode tcp\n  server s 127.0.0.30:" + p2 + " ssl crt " + env.clientCombined + " ca-file " + env.rootPem
                    + " verify required ssl-min-ver TLSv1.3\n");
            Path s = env.write("haproxy-l7-server.cfg", common
                    + "frontend fe\n  mode http\n  option http-keep-alive\n  bind 127.0.0.30:" + p2 + " ssl crt " + env.serverCombined
                    + " ca-file " + env.rootPem + " verify required ssl-min-ver TLSv1.3\n"
                    + "  http-request deny deny_status 403 unless METH_GET { path " + HTTP_PATH + " }\n  default_backend be\n"
                    + "backend be\n  mode http\n  http-reuse always\n  server app " + env.appTcp.getAddress().getHostAddress() + ":"
                    + env.appTcp.getPort() + "\n");
            launch(env, List.of(bin, "-db", "-f", s.toString()), new InetSocketAddress("127.0.0.30", p2),
                    List.of(bin, "-db", "-f", c.toString()), new InetSocketAddress("127.0.0.29", p1));
            return null;
        }

        @Override
        boolean carriesBytes() {
            return false;
        }

        @Override
        String deniedPath() {
            return HTTP_DENIED_PATH;
        }
    }

    /**
     * nghttpx as the client-side h1→h2 CONNECT proxy. Backend: either a second nghttpx (h2 CONNECT
     * server over mTLS, forwarding CONNECT as HTTP/1.1 to the app, which answers it) or zerohop's
     * HboneServer (app embedded).
     */
    static final class Nghttpx extends BenchPath {
        private final boolean zerohopBackend;
        private InetSocketAddress front;
        private InetSocketAddress connectTarget;
        private MeshTls tls;
        private HboneServer server;

        Nghttpx(boolean zerohopBackend) {
            super(zerohopBackend ? "nghttpx→zerohop" : "nghttpx-pair",
                    zerohopBackend
                            ? "app → nghttpx (h1 CONNECT → h2 over mTLS) → zerohop HboneServer, app embedded"
                            : "app → nghttpx (h1 CONNECT → h2 over mTLS) → nghttpx (h2 CONNECT server, verify-client) → app (h1 CONNECT)");
            this.zerohopBackend = zerohopBackend;
        }

        @Override
        String start(Env env) throws Exception {
            String bin = which("nghttpx");
            if (bin == null) {
                return "nghttpx not installed (apt-get install -y nghttp2-proxy)";
            }
            String frontIp = zerohopBackend ? "127.0.0.17" : "127.0.0.15";
            String backIp = zerohopBackend ? "127.0.0.18" : "127.0.0.16";
            int p1 = freePort(frontIp);
            int p2;
            List<String> window = List.of("--backend-http2-window-size=4194304", "--backend-http2-connection-window-size=16777215",
                    "--frontend-http2-window-size=4194304", "--frontend-http2-connection-window-size=16777215",
                    "--conf=/dev/null", "--no-ocsp", "-n1", "-L" + System.getenv().getOrDefault("ZEROHOP_BENCH_NGHTTPX_LOG", "WARN"), "--tls-min-proto-version=TLSv1.3", "--frontend-read-timeout=1h", "--backend-read-timeout=1h",
                    "--stream-read-timeout=0", "--stream-write-timeout=0", "--backend-keep-alive-timeout=1h",
                    // -s (forward proxy) allows 8 tunnels per origin by default, the h2 server 100 streams
                    "--backend-connections-per-host=65535", "--frontend-http2-max-concurrent-streams=65535",
                    "--rlimit-nofile=" + LoadRunner.Sys.fdLimit());
            if (zerohopBackend) {
                tls = MeshTls.builder(env.ca).build();
                server = HboneServer.builder().tls(tls).identity(env.serverId)
                        .bind(new InetSocketAddress(backIp, 0))
                        .destinations((dst, local, localAddr) -> Destination.embedded((ch, info) -> ch.pipeline().addLast(new AppServer.Handler())))
                        .authorizer(Authorizer.allowAll())
                        .build().start().get(10, TimeUnit.SECONDS);
                p2 = server.localAddress().getPort();
                connectTarget = new InetSocketAddress(backIp, 8080);
            } else {
                p2 = freePort(backIp);
                List<String> cmd = new ArrayList<>(List.of(bin, "-s", "-f" + backIp + "," + p2,
                        "-b" + env.appTcp.getAddress().getHostAddress() + "," + env.appTcp.getPort(),
                        "--verify-client", "--verify-client-cacert=" + env.rootPem, "--errorlog-file=/dev/stderr",
                        "--accesslog-file=/dev/null"));
                cmd.addAll(window);
                cmd.add(env.serverKey.toString());
                cmd.add(env.serverCert.toString());
                Process pb = spawn(env, cmd);
                awaitListening(new InetSocketAddress(backIp, p2), pb, env.dir.resolve(name + "-0.log"));
                connectTarget = env.appTcp;
            }
            List<String> cmd = new ArrayList<>(List.of(bin, "-s", "-f" + frontIp + "," + p1 + ";no-tls",
                    "-b" + backIp + "," + p2 + ";;tls;proto=h2", "-k",
                    "--client-private-key-file=" + env.clientKey, "--client-cert-file=" + env.clientCert,
                    "--errorlog-file=/dev/stderr", "--accesslog-file=/dev/null"));
            cmd.addAll(window);
            Process pa = spawn(env, cmd);
            front = new InetSocketAddress(frontIp, p1);
            awaitListening(front, pa, env.dir.resolve(name + "-" + (processes.size() - 1) + ".log"));
            return null;
        }

        @Override
        int fdsPerTunnel() {
            return zerohopBackend ? 1 : 2; // generator (+ app) in this JVM; nghttpx front: one per tunnel
        }

        @Override
        Socket open() throws IOException {
            Socket s = tcp(front);
            String authority = connectTarget.getAddress().getHostAddress() + ":" + connectTarget.getPort();
            OutputStream out = s.getOutputStream();
            out.write(("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            StringBuilder head = new StringBuilder();
            int tail = 0;
            while (tail != 0x0d0a0d0a) {
                int c = in.read();
                if (c < 0) {
                    s.close();
                    throw new IOException("nghttpx closed during CONNECT: " + head);
                }
                head.append((char) c);
                tail = (tail << 8) | c;
            }
            if (!head.toString().startsWith("HTTP/1.1 200")) {
                s.close();
                throw new IOException("CONNECT refused: " + head.toString().trim());
            }
            return s;
        }

        @Override
        public void close() throws Exception {
            super.close();
            if (server != null) {
                server.close();
            }
            if (tls != null) {
                tls.close();
            }
        }
    }
}
