package io.zerohop.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.HttpAttributes;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.policy.PolicySet;
import io.zerohop.policy.WorkloadRef;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code zerohop demo}: the seed article's two configurations, played on loopback with embedded
 * defaults (in-memory CA, no cluster), real sockets and real TLS 1.3.
 *
 * <p>The manifests are class-path resources whose text is exactly the article's
 * ({@value #ISTIO_MANIFEST}, {@value #CILIUM_MANIFEST}); they are loaded with {@link PolicyLoader}
 * as a user's files would be. Each scene runs a real HTTP server (the JDK's) as {@code checkout}
 * behind a zerohop {@link Mesh} (HBONE inbound, plaintext inbound), and callers that reach it
 * through real HBONE tunnels with their own SVIDs (or in plaintext).
 *
 * <p>Every call prints one line: who called what, what the wire showed (HBONE status, HTTP status
 * and body, whether the checkout app saw the request), and the decision of the checkout's policy
 * engine for that request ({@link Decision#explain()}: the policy and rule; zerohop's access log
 * prints the same text per HTTP request). The exit code is 0 only when every outcome is the
 * article's, the engine's decision agrees with what the wire showed, and where zerohop parsed HTTP
 * its {@code istio_requests_total} counts exactly the statuses the callers got.
 *
 * <p>Cilium's {@code fromEndpoints} matches the peer's labels, which zerohop takes from the registry
 * entry at the tunnel's source address; the callers all dial from this host's loopback source
 * address, registered as {@code production/frontend}, so the refused caller carries the same
 * labels and only its SPIFFE identity keeps it out.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Play the seed article on loopback: its Istio ambient and Cilium manifests as printed, an in-memory CA,"
                + " a real HTTP checkout service behind zerohop, callers over real HBONE tunnels (and one in plaintext).",
                "Exit code 0 only when every call comes out as the article says."})
final class DemoCommand implements Callable<Integer> {
    static final String TD = "cluster.local";
    static final String ISTIO_MANIFEST = "/seed/istio-ambient-e-commerce.yaml";
    static final String CILIUM_MANIFEST = "/seed/cilium-enforce-mtls-checkout.yaml";
    /** The port the article's Cilium policy names; both checkouts listen on it. */
    static final int CHECKOUT_PORT = 8080;
    static final String CILIUM_FRONTEND = "spiffe://cluster.local/ns/production/sa/frontend-service-account";
    static final String CILIUM_OTHER = "spiffe://cluster.local/ns/production/sa/batch-jobs";
    private static final long TIMEOUT_S = 10;

    @Option(names = "--ip-prefix", defaultValue = "127.0.0", paramLabel = "A.B.C",
            description = "Loopback /24 for the two checkouts (.2 Istio's, .3 Cilium's), default ${DEFAULT-VALUE}")
    String ipPrefix;

    private final PrintStream out = System.out;
    private int calls;
    private int failures;
    /** Scenes whose istio_requests_total did not count what the callers got. */
    private int metricFailures;

    @Override
    public Integer call() throws Exception {
        // A report, not a log: only warnings (the data plane's own denials) interleave.
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        if (!ipPrefix.matches("127\\.\\d{1,3}\\.\\d{1,3}")) {
            throw new IllegalArgumentException("--ip-prefix must be the first three octets of a loopback /24, like 127.0.0 (got \"" + ipPrefix + "\")");
        }
        InetAddress istioIp = InetAddress.getByName(ipPrefix + ".2");
        InetAddress ciliumIp = InetAddress.getByName(ipPrefix + ".3");
        out.println("zerohop demo: the seed article on loopback: in-memory CA for " + TD + ", TLS 1.3 on " + MeshTls.defaultProvider()
                + ", real HBONE tunnels, no cluster");
        out.println("report   : one line per call: caller, request -> workload: what the wire showed; the checkout's policy decision"
                + " for that request (policy, rule)");
        try (InMemoryCa ca = InMemoryCa.create(TD)) {
            istioScene(ca, istioIp);
            ciliumScene(ca, ciliumIp);
        }
        out.println();
        if (failures == 0 && metricFailures == 0) {
            out.println("result   : " + calls + " of " + calls + " calls came out as the article says");
            return 0;
        }
        out.println("result   : NOT as the article says: " + failures + " of " + calls + " calls differ"
                + (metricFailures == 0 ? "" : ", and the checkout's metrics differ from what the callers got"));
        return 1;
    }

    // ------------------------------------------------------------------ scenes

    private void istioScene(InMemoryCa ca, InetAddress ip) throws Exception {
        out.println();
        out.println("== Istio ambient: " + ISTIO_MANIFEST.substring(1) + " (the article's manifests, as printed)");
        PolicyEngine engine = PolicyEngine.builder().policies(load(ISTIO_MANIFEST)).build();
        Workload checkout = new Workload("e-commerce", "checkout", "checkout", Map.of("app", "checkout"), List.of(ip),
                Workload.Protocol.HBONE, null, TD, Map.of(CHECKOUT_PORT, AppProtocol.HTTP));
        Workload frontend = new Workload("e-commerce", "frontend", "frontend-sa", Map.of("app", "frontend"), List.of(),
                Workload.Protocol.HBONE, null, TD);
        Workload inventory = new Workload("e-commerce", "inventory", "inventory-sa", Map.of("app", "inventory"), List.of(),
                Workload.Protocol.HBONE, null, TD);
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(checkout, frontend, inventory), Map.of());
        InetSocketAddress target = new InetSocketAddress(ip, CHECKOUT_PORT);
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        Semaphore closed = new Semaphore(0);
        try (CheckoutApp app = CheckoutApp.start(target);
             Mesh node = Mesh.builder().identityProvider(ca).identity(checkout.identity()).workloads(registry).policies(engine)
                     .inbound(new InetSocketAddress(ip, WorkloadRegistry.HBONE_PORT)).meterRegistry(meters)
                     .onTunnelClosed(r -> closed.release()).threads(1).build();
             Mesh callers = Mesh.builder().identityProvider(ca).workloads(registry).threads(1).build()) {
            node.start().get(TIMEOUT_S, TimeUnit.SECONDS);
            InetSocketAddress plaintext = node.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 15006), target));
            out.printf("checkout : e-commerce/checkout (app: checkout, sa checkout), JDK HTTP server on %s; zerohop HBONE on %s as %s,"
                    + " plaintext inbound on %s%n", auth(target), auth(node.inboundAddress()), checkout.identity(), auth(plaintext));
            out.println("mTLS     : PeerAuthentication e-commerce/default, mode " + node.mtlsMode(checkout, CHECKOUT_PORT)
                    + "; port " + CHECKOUT_PORT + " " + parsing(engine, checkout));
            Scene s = new Scene(engine, registry, checkout, target, app);
            s.hbone(callers, frontend.identity(), List.of(new Req("POST", "/charge", Expect.ALLOWED)));
            s.hbone(callers, inventory.identity(), List.of(new Req("POST", "/charge", Expect.REFUSED)));
            s.plaintext(plaintext, new Req("POST", "/charge", Expect.REFUSED));
            s.metrics(meters, closed);
        }
    }

    private void ciliumScene(InMemoryCa ca, InetAddress ip) throws Exception {
        out.println();
        out.println("== Cilium: " + CILIUM_MANIFEST.substring(1) + " (the article's manifest, as printed)");
        PolicyEngine engine = PolicyEngine.builder().policies(load(CILIUM_MANIFEST)).build();
        InetSocketAddress target = new InetSocketAddress(ip, CHECKOUT_PORT);
        // Cilium's fromEndpoints matches the peer's labels, which zerohop takes from the registry
        // entry of the connection's source address. Both callers dial from this host's loopback
        // source address, so both carry app: frontend; only the SPIFFE identity sets them apart.
        InetAddress callerAddress = sourceAddressTowards(ip);
        Workload checkout = new Workload("production", "checkout", "checkout", Map.of("app", "checkout"), List.of(ip),
                Workload.Protocol.HBONE, null, TD, Map.of(CHECKOUT_PORT, AppProtocol.HTTP));
        Workload frontend = new Workload("production", "frontend", "frontend-service-account", Map.of("app", "frontend"),
                List.of(callerAddress), Workload.Protocol.HBONE, null, TD);
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(checkout, frontend), Map.of());
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        Semaphore closed = new Semaphore(0);
        try (CheckoutApp app = CheckoutApp.start(target);
             Mesh node = Mesh.builder().identityProvider(ca).identity(checkout.identity()).workloads(registry).policies(engine)
                     .inbound(new InetSocketAddress(ip, WorkloadRegistry.HBONE_PORT)).meterRegistry(meters)
                     .onTunnelClosed(r -> closed.release()).threads(1).build();
             Mesh callers = Mesh.builder().identityProvider(ca).workloads(registry).threads(1).build()) {
            node.start().get(TIMEOUT_S, TimeUnit.SECONDS);
            out.printf("checkout : production/checkout (app: checkout), JDK HTTP server on %s; zerohop HBONE on %s as %s; port %d %s%n",
                    auth(target), auth(node.inboundAddress()), checkout.identity(), CHECKOUT_PORT, parsing(engine, checkout));
            out.printf("callers  : dial from %s, which the registry names production/frontend (app: frontend); each presents its own SVID%n",
                    callerAddress.getHostAddress());
            Scene s = new Scene(engine, registry, checkout, target, app);
            s.hbone(callers, SpiffeId.parse(CILIUM_FRONTEND), List.of(new Req("POST", "/charge", Expect.ALLOWED), new Req("GET", "/charge", Expect.HTTP_403)));
            s.hbone(callers, SpiffeId.parse(CILIUM_OTHER), List.of(new Req("POST", "/charge", Expect.REFUSED)));
            s.metrics(meters, closed);
        }
    }

    // ------------------------------------------------------------------ calls

    /** What the article says becomes of a call. */
    enum Expect {
        /** Reaches checkout, which answers 200. */
        ALLOWED("allowed"),
        /** Refused by policy: HBONE 401 at CONNECT, a TCP reset for plaintext, or 403 per request. */
        REFUSED("refused by policy"),
        /** The tunnel is allowed; this request gets Envoy's {@code 403 RBAC: access denied}. */
        HTTP_403("HTTP 403 \"RBAC: access denied\" from zerohop");

        final String text;

        Expect(String text) {
            this.text = text;
        }
    }

    /** One HTTP request of a scene and what the article says becomes of it. */
    record Req(String method, String path, Expect expect) {}

    /** One scene's fixtures: the checkout's engine, registry, workload and app. */
    private final class Scene {
        final PolicyEngine engine;
        final WorkloadRegistry registry;
        final Workload checkout;
        final InetSocketAddress target;
        final CheckoutApp app;
        /** Tunnels the checkout accepted (CONNECT 200), and the HTTP statuses callers got through them. */
        int tunnels;
        final Map<String, Integer> statuses = new TreeMap<>();

        Scene(PolicyEngine engine, WorkloadRegistry registry, Workload checkout, InetSocketAddress target, CheckoutApp app) {
            this.engine = engine;
            this.registry = registry;
            this.checkout = checkout;
            this.target = target;
            this.app = app;
        }

        /** One tunnel as {@code source}, the requests in order on it (keep-alive). */
        void hbone(Mesh callers, SpiffeId source, List<Req> reqs) throws Exception {
            InetAddress from = sourceAddressTowards(target.getAddress());
            HttpTunnel tunnel;
            try {
                tunnel = HttpTunnel.open(callers, source, target);
            } catch (Exception e) {
                Throwable c = rootRefusal(e);
                int status = c instanceof HboneRefusedException r ? r.status() : -1;
                String wire = status > 0 ? "HBONE CONNECT refused with " + status : "tunnel failed: " + Cli.describe(c);
                for (Req r : reqs) {
                    // A policy refusal at CONNECT is decided at L4: the engine sees no HTTP attributes.
                    Decision d = decide(source, from, null);
                    report(r, source.toString(), wire + ", checkout app saw nothing", status == 401 ? Outcome.REFUSED : Outcome.FAILED, d);
                }
                return;
            }
            tunnels++;
            try (tunnel) {
                for (Req r : reqs) {
                    int seenBefore = app.requests.get();
                    byte[] body = r.method.equals("POST") ? ("{\"order\":\"A-1001\",\"amount_cents\":4200,\"caller\":\"" + source + "\"}")
                            .getBytes(StandardCharsets.UTF_8) : new byte[0];
                    HttpResponse resp;
                    try {
                        resp = tunnel.send(r.method, r.path, body);
                    } catch (Exception e) {
                        Decision d = decide(source, from, HttpAttributes.of(r.method, r.path));
                        report(r, source.toString(), "request failed: " + Cli.describe(e), Outcome.FAILED, d);
                        continue;
                    }
                    boolean reached = app.requests.get() > seenBefore;
                    statuses.merge(Integer.toString(resp.status), 1, Integer::sum);
                    Decision d = decide(source, from, HttpAttributes.of(r.method, r.path));
                    if (resp.status == 200 && reached) {
                        String seen = app.lastRequest;
                        boolean intact = resp.body.contains("sha256=" + hex(sha256(body)));
                        String xfcc = app.lastXfcc == null ? "" : ", x-forwarded-client-cert " + app.lastXfcc;
                        report(r, source.toString(), "HTTP 200 from checkout (it saw " + seen + xfcc + "), body sha256 "
                                + (intact ? "match" : "MISMATCH"), intact ? Outcome.ALLOWED : Outcome.FAILED, d);
                    } else {
                        boolean rbac = resp.status == 403 && resp.body.equals("RBAC: access denied") && !reached;
                        report(r, source.toString(), "HTTP " + resp.status + " \"" + resp.body.strip() + "\" from zerohop, "
                                + (reached ? "but the checkout app SAW it" : "checkout app saw nothing"), rbac ? Outcome.HTTP_403 : Outcome.FAILED, d);
                    }
                }
            }
        }

        /** A plaintext connection (no TLS, no identity) to the checkout's plaintext inbound capture. */
        void plaintext(InetSocketAddress capture, Req r) throws Exception {
            int seenBefore = app.requests.get();
            String wire;
            boolean got = false;
            try (Socket s = new Socket()) {
                s.connect(capture, (int) TimeUnit.SECONDS.toMillis(TIMEOUT_S));
                s.setSoTimeout((int) TimeUnit.SECONDS.toMillis(TIMEOUT_S));
                OutputStream o = s.getOutputStream();
                o.write((r.method + " " + r.path + " HTTP/1.1\r\nHost: checkout:" + CHECKOUT_PORT + "\r\nContent-Length: 0\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                o.flush();
                InputStream in = s.getInputStream();
                byte[] back = in.readNBytes(12);
                got = back.length > 0;
                wire = got ? "got a response: " + new String(back, StandardCharsets.US_ASCII).strip() : "connection closed, no response";
            } catch (SocketException e) {
                wire = "connection reset, no response";
            }
            boolean reached = app.requests.get() > seenBefore;
            Decision d = decide(null, sourceAddressTowards(capture.getAddress()), null);
            report(r, "plaintext (no TLS, no identity)", wire + (reached ? ", but the checkout app SAW it" : ", checkout app saw nothing"),
                    got || reached ? Outcome.FAILED : Outcome.REFUSED, d);
        }

        /**
         * Prints the checkout's own counters, once every tunnel it accepted has closed. Where
         * zerohop parsed HTTP, its {@code istio_requests_total} must count exactly the statuses the
         * callers got; a difference is a failure of the scene.
         */
        void metrics(SimpleMeterRegistry meters, Semaphore closed) throws InterruptedException {
            boolean settled = closed.tryAcquire(tunnels, TIMEOUT_S, TimeUnit.SECONDS);
            String tcp = String.format(Locale.ROOT, "istio_tcp_connections_opened_total %.0f, istio_tcp_connections_closed_total %.0f",
                    sum(meters, "istio.tcp.connections.opened"), sum(meters, "istio.tcp.connections.closed"));
            if (!engine.requiresHttp(checkout.ref(), CHECKOUT_PORT)) {
                out.println("metrics  : " + tcp + " (reporter=destination)");
                return;
            }
            Map<String, Integer> counted = requestCounts(meters);
            boolean agree = settled && counted.equals(statuses);
            if (!agree) {
                metricFailures++;
            }
            out.println("metrics  : " + tcp + "; istio_requests_total " + counted + " (reporter=destination)"
                    + (agree ? ": the statuses the callers got" : "   <-- NOT the statuses the callers got " + statuses
                    + (settled ? "" : " (tunnels still open after " + TIMEOUT_S + " s)")));
        }

        /**
         * The checkout's engine on the request as the checkout's proxy sees it: the verified peer
         * identity, the connection's source address (and the registry workload there) and, at L7,
         * method and path.
         */
        Decision decide(SpiffeId peer, InetAddress from, HttpAttributes http) {
            WorkloadRef src = registry.byAddress(from).map(Workload::ref).orElse(null);
            return engine.evaluate(AccessRequest.builder().sourcePrincipal(peer == null ? null : peer.toString())
                    .sourceAddress(from).destinationAddress(target.getAddress()).destinationPort(target.getPort())
                    .destination(checkout.ref()).sourceWorkload(src).http(http).build());
        }

        /**
         * Prints one line and counts it. A call is as the article says when what the wire showed is
         * what the article expects (a refusal counts only when it came from policy: never a timeout
         * or an error), and the engine's decision agrees with it.
         */
        void report(Req r, String who, String wire, Outcome got, Decision d) {
            calls++;
            boolean asArticle = switch (r.expect) {
                case ALLOWED -> got == Outcome.ALLOWED && d.allowed();
                case REFUSED -> (got == Outcome.REFUSED || got == Outcome.HTTP_403) && !d.allowed();
                case HTTP_403 -> got == Outcome.HTTP_403 && !d.allowed();
            };
            if (!asArticle) {
                failures++;
            }
            out.printf("%-7s %s %s %s -> %s %s: %s; %s%s%n", got == Outcome.ALLOWED ? "ALLOWED" : got == Outcome.FAILED ? "FAILED" : "DENIED", who, r.method, r.path,
                    checkout, auth(target), wire, d.explain(), asArticle ? "" : "   <-- NOT as the article says (expected " + r.expect.text + ")");
        }
    }

    /** What the wire showed for one call. */
    enum Outcome { ALLOWED, REFUSED, HTTP_403, FAILED }

    /** The innermost HBONE refusal in {@code e}'s causes, else its innermost cause. */
    private static Throwable rootRefusal(Throwable e) {
        Throwable c = e;
        while (!(c instanceof HboneRefusedException) && c.getCause() != null) {
            c = c.getCause();
        }
        return c;
    }

    // ------------------------------------------------------------------ HTTP over a tunnel

    record HttpResponse(int status, String body) {}

    /**
     * Netty's HTTP/1.1 client codec on one HBONE tunnel: requests go out one at a time, each
     * response is awaited (with a timeout) before the next request.
     */
    static final class HttpTunnel extends SimpleChannelInboundHandler<FullHttpResponse> implements AutoCloseable {
        private final HboneStream stream;
        private volatile CompletableFuture<HttpResponse> pending;

        private HttpTunnel(HboneStream stream) {
            this.stream = stream;
        }

        static HttpTunnel open(Mesh mesh, SpiffeId source, InetSocketAddress target) throws Exception {
            HboneStream s = mesh.connect(source, target).get(TIMEOUT_S, TimeUnit.SECONDS);
            HttpTunnel t = new HttpTunnel(s);
            s.channel().pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(1 << 20), t);
            s.channel().config().setAutoRead(true);
            return t;
        }

        HttpResponse send(String method, String path, byte[] body) throws Exception {
            CompletableFuture<HttpResponse> f = new CompletableFuture<>();
            pending = f;
            FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf(method), path,
                    Unpooled.wrappedBuffer(body));
            req.headers().set(HttpHeaderNames.HOST, "checkout:" + CHECKOUT_PORT);
            req.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
            req.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
            stream.channel().writeAndFlush(req).addListener(w -> {
                if (!w.isSuccess()) {
                    f.completeExceptionally(w.cause());
                }
            });
            try {
                return f.get(TIMEOUT_S, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw e.getCause() instanceof Exception x ? x : e;
            } catch (TimeoutException e) {
                throw new TimeoutException("no HTTP response within " + TIMEOUT_S + " s");
            }
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse msg) {
            CompletableFuture<HttpResponse> f = pending;
            if (f != null) {
                f.complete(new HttpResponse(msg.status().code(), msg.content().toString(StandardCharsets.UTF_8)));
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent || evt instanceof HboneStream.Reset) {
                fail(new IOException(evt instanceof HboneStream.Reset r ? "tunnel reset (error " + r.errorCode() + ")" : "tunnel closed by checkout"));
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            fail(new IOException("tunnel closed"));
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(cause);
            ctx.close();
        }

        private void fail(Throwable t) {
            CompletableFuture<HttpResponse> f = pending;
            if (f != null) {
                f.completeExceptionally(t);
            }
        }

        @Override
        public void close() {
            stream.close();
        }
    }

    // ------------------------------------------------------------------ the checkout app

    /**
     * The application: the JDK's HTTP server, with no policy of its own. It answers every request
     * 200 with the sha256 of the body it received, so a 403 can only come from zerohop, and counts
     * the requests that reached it.
     */
    static final class CheckoutApp implements AutoCloseable {
        final HttpServer server;
        final AtomicInteger requests = new AtomicInteger();
        volatile String lastRequest;
        volatile String lastXfcc;

        private CheckoutApp(HttpServer server) {
            this.server = server;
        }

        static CheckoutApp start(InetSocketAddress at) throws IOException {
            HttpServer server;
            try {
                server = HttpServer.create(at, 50);
            } catch (java.net.BindException e) {
                throw new java.net.BindException(auth(at) + " is in use (" + e.getMessage() + "): pick other loopback addresses with --ip-prefix");
            }
            CheckoutApp app = new CheckoutApp(server);
            server.createContext("/", app::handle);
            server.start();
            return app;
        }

        private void handle(HttpExchange ex) throws IOException {
            try (ex) {
                byte[] body = ex.getRequestBody().readAllBytes();
                lastXfcc = ex.getRequestHeaders().getFirst("x-forwarded-client-cert");
                lastRequest = ex.getRequestMethod() + " " + ex.getRequestURI().getPath();
                requests.incrementAndGet();
                byte[] resp = ((ex.getRequestMethod().equals("POST") ? "charged" : "ok") + ", body sha256=" + hex(sha256(body)) + "\n").getBytes(StandardCharsets.US_ASCII);
                ex.getResponseHeaders().set("content-type", "text/plain");
                ex.sendResponseHeaders(200, resp.length);
                ex.getResponseBody().write(resp);
            }
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    // ------------------------------------------------------------------ helpers

    private static PolicySet load(String resource) throws Exception {
        try (InputStream in = DemoCommand.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("resource " + resource + " missing from the zerohop jar");
            }
            return PolicyLoader.fromString(resource.substring(1), new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    /** The source address the kernel picks for a connection to {@code dst} (loopback: 127.0.0.1). */
    static InetAddress sourceAddressTowards(InetAddress dst) throws IOException {
        try (ServerSocket probe = new ServerSocket(0, 1, dst); Socket s = new Socket(dst, probe.getLocalPort())) {
            return s.getLocalAddress();
        }
    }

    /** istio_requests_total by response_code. */
    private static Map<String, Integer> requestCounts(SimpleMeterRegistry meters) {
        Map<String, Integer> byCode = new TreeMap<>();
        for (Meter m : meters.getMeters()) {
            if (m instanceof Counter c && m.getId().getName().equals("istio.requests")) {
                String code = m.getId().getTag("response_code");
                byCode.merge(code == null ? "?" : code, (int) c.count(), Integer::sum);
            }
        }
        return byCode;
    }

    private static double sum(SimpleMeterRegistry r, String name) {
        return r.find(name).counters().stream().mapToDouble(Counter::count).sum();
    }

    /** Whether zerohop parses HTTP on the checkout port: only where an HTTP-level rule applies (DESIGN §5a). */
    private static String parsing(PolicyEngine engine, Workload checkout) {
        return engine.requiresHttp(checkout.ref(), CHECKOUT_PORT)
                ? "declared http and an HTTP rule applies: zerohop parses and authorizes each request"
                : "declared http, no HTTP rule applies: bytes pass unparsed";
    }

    private static String auth(InetSocketAddress a) {
        return io.zerohop.core.Addresses.authority(a);
    }

    static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }
}
