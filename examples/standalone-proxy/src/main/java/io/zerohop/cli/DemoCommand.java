package io.zerohop.cli;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.policy.Decision;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.policy.PolicySet;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
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
 * <p>Cilium's {@code fromEndpoints} matches the peer's labels, which zerohop takes from the
 * tunnel's source workload (mesh-core README, "Source workload": only a workload of the peer's
 * verified identity). The refused Cilium caller is a pod labelled {@code app: frontend} under
 * another service account, captured and tunnelled by the callers' zerohop, which names it in
 * {@code forwarded: for=} as a node proxy does: it carries frontend's labels, and only its SPIFFE
 * identity keeps it out.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, version = Zerohop.VERSION,
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
    static final long TIMEOUT_S = 10;

    @Option(names = "--ip-prefix", defaultValue = "127.0.0", paramLabel = "A.B.C",
            description = "Loopback /24 for the Istio checkout's application (.1), the two checkouts (.2 Istio's, .3 Cilium's) and the captured batch-jobs pod (.4), default ${DEFAULT-VALUE}")
    String ipPrefix;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

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
        // A usage error (exit 2, the --help hint), as every other option's; octets checked here, never a name lookup.
        if (!ipPrefix.matches("127\\.(25[0-5]|2[0-4]\\d|1?\\d?\\d)\\.(25[0-5]|2[0-4]\\d|1?\\d?\\d)")) {
            throw new Usage(spec, ConfigFile.Origins.NONE).error("ip-prefix", ipPrefix,
                    "must be the first three octets of a loopback /24, like 127.0.0 (got \"" + ipPrefix + "\")");
        }
        InetAddress istioIp = InetAddress.getByName(ipPrefix + ".2");
        InetAddress ciliumIp = InetAddress.getByName(ipPrefix + ".3");
        String taken = takenPorts(ipPrefix);
        if (taken != null) {
            throw new Cli.RefusedException(taken, 1);
        }
        out.println("zerohop demo: the seed article on loopback: in-memory CA for " + TD + ", TLS 1.3 on " + MeshTls.defaultProvider()
                + ", real HBONE tunnels, no cluster");
        out.println("report   : one line per call: caller, request -> workload: what the wire showed; the checkout's policy decision"
                + " for that request (policy, rule)");
        try (InMemoryCa ca = InMemoryCa.create(TD)) {
            istioScene(ca, istioIp);
            ciliumScene(ca, ciliumIp);
        } catch (Exception e) {
            if (addressInUse(e) && !Cli.describe(e).contains("--ip-prefix")) {
                // The demo's ports are fixed (the article's 8080, HBONE's 15008): say how to move off a busy address.
                // The example is never the prefix that just failed (a new-user pass was told to retry 127.0.9 with
                // 127.0.9), and a wildcard listener on the port defeats every prefix, so the line says that too.
                String[] octets = ipPrefix.split("\\.");
                int third = Integer.parseInt(octets[2]);
                String other = octets[0] + "." + octets[1] + "." + (third >= 254 ? 1 : third + 1);
                throw new IllegalStateException(Cli.describe(e) + " (another process uses it: run the demo on other"
                        + " loopback addresses with --ip-prefix, e.g. --ip-prefix " + other + "; a process listening on"
                        + " 0.0.0.0 at that port, as `zerohop proxy`'s default --inbound 0.0.0.0:15008 does, takes it on every"
                        + " address: stop it or give it a specific address)", e);
            }
            throw e;
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
        // STRICT holds only if no plaintext client can reach the application: as a pod's application behind ztunnel's
        // redirect, it listens on loopback, and zerohop delivers the workload address's tunnels there.
        // On the --ip-prefix's .1 (127.0.0.1 by default), so that every address the demo binds is under its prefix.
        try (DemoCheckoutApp app = DemoCheckoutApp.start(new InetSocketAddress(InetAddress.getByName(ipPrefix + ".1"), 0));
             Mesh node = checkoutNode(ca, checkout, registry, engine, ip, meters, closed, target, app.address());
             Mesh callers = Mesh.builder().identityProvider(ca).workloads(registry).threads(1).build()) {
            InetSocketAddress plaintext = node.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 15006), target));
            out.printf("checkout : e-commerce/checkout (app: checkout, sa checkout) at %s: JDK HTTP server on %s (on loopback: no plaintext"
                    + " client from another host reaches it); zerohop HBONE on %s as %s, plaintext inbound on %s%n", auth(target), auth(app.address()),
                    auth(node.inboundAddress()), checkout.identity(), auth(plaintext));
            out.println("mTLS     : PeerAuthentication e-commerce/default, mode " + node.mtlsMode(checkout, CHECKOUT_PORT)
                    + "; port " + CHECKOUT_PORT + " " + parsing(engine, checkout));
            DemoScene s = new DemoScene(out, engine, registry, checkout, target, app);
            s.hbone(callers, frontend.identity(), List.of(new DemoScene.Req("POST", "/charge", DemoScene.Expect.ALLOWED)));
            s.hbone(callers, inventory.identity(), List.of(new DemoScene.Req("POST", "/charge", DemoScene.Expect.REFUSED)));
            s.plaintext(plaintext, new DemoScene.Req("POST", "/charge", DemoScene.Expect.REFUSED));
            s.metrics(meters, closed);
            tally(s);
        }
    }

    private void ciliumScene(InMemoryCa ca, InetAddress ip) throws Exception {
        out.println();
        out.println("== Cilium: " + CILIUM_MANIFEST.substring(1) + " (the article's manifest, as printed)");
        PolicyEngine engine = PolicyEngine.builder().policies(load(CILIUM_MANIFEST)).build();
        InetSocketAddress target = new InetSocketAddress(ip, CHECKOUT_PORT);
        // Cilium's fromEndpoints matches the peer's labels, which zerohop takes from the source
        // workload: the registry workload at the tunnel's source address, or the pod a node proxy
        // names in forwarded: for=, either only when it has the peer's verified identity. frontend
        // dials from this host's loopback source address; batch-jobs is a pod labelled app: frontend
        // too, whose connection the callers' zerohop captures and tunnels as its node proxy would:
        // same labels, and only the SPIFFE identity sets the two apart, as the article says.
        InetAddress callerAddress = sourceAddressTowards(ip);
        byte[] podIp = ip.getAddress();
        podIp[3] = 4;
        Workload batch = new Workload("production", "batch-jobs", "batch-jobs", Map.of("app", "frontend"),
                List.of(InetAddress.getByAddress(podIp)), Workload.Protocol.HBONE, null, TD);
        Workload checkout = new Workload("production", "checkout", "checkout", Map.of("app", "checkout"), List.of(ip),
                Workload.Protocol.HBONE, null, TD, Map.of(CHECKOUT_PORT, AppProtocol.HTTP));
        Workload frontend = new Workload("production", "frontend", "frontend-service-account", Map.of("app", "frontend"),
                List.of(callerAddress), Workload.Protocol.HBONE, null, TD);
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(checkout, frontend, batch), Map.of());
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        Semaphore closed = new Semaphore(0);
        try (DemoCheckoutApp app = DemoCheckoutApp.start(target);
             Mesh node = checkoutNode(ca, checkout, registry, engine, ip, meters, closed, null, null);
             Mesh callers = Mesh.builder().identityProvider(ca).workloads(registry).threads(1).build()) {
            out.printf("checkout : production/checkout (app: checkout), JDK HTTP server on %s; zerohop HBONE on %s as %s; port %d %s%n",
                    auth(target), auth(node.inboundAddress()), checkout.identity(), CHECKOUT_PORT, parsing(engine, checkout));
            out.printf("callers  : production/frontend (app: frontend, sa frontend-service-account) dials from %s; production/batch-jobs"
                    + " (app: frontend, sa batch-jobs) from %s through the callers' zerohop, which names it in forwarded: for=;"
                    + " each presents its own SVID%n", callerAddress.getHostAddress(), batch.addresses().get(0).getHostAddress());
            DemoScene s = new DemoScene(out, engine, registry, checkout, target, app);
            s.hbone(callers, SpiffeId.parse(CILIUM_FRONTEND), List.of(new DemoScene.Req("POST", "/charge", DemoScene.Expect.ALLOWED), new DemoScene.Req("GET", "/charge", DemoScene.Expect.HTTP_403)));
            s.captured(callers, batch, new DemoScene.Req("POST", "/charge", DemoScene.Expect.REFUSED));
            s.metrics(meters, closed);
            tally(s);
        }
    }

    /**
     * The checkout's zerohop: HBONE inbound on {@code ip}, the scene's engine and meters; started. {@code target}'s tunnels
     * go to {@code endpoint} when both are non-null.
     */
    private static Mesh checkoutNode(InMemoryCa ca, Workload checkout, WorkloadRegistry registry, PolicyEngine engine,
                                     InetAddress ip, SimpleMeterRegistry meters, Semaphore closed,
                                     InetSocketAddress target, InetSocketAddress endpoint) throws Exception {
        Mesh.Builder b = Mesh.builder().identityProvider(ca).identity(checkout.identity()).workloads(registry).policies(engine)
                .inbound(new InetSocketAddress(ip, WorkloadRegistry.HBONE_PORT)).meterRegistry(meters)
                .onTunnelClosed(r -> closed.release()).threads(1);
        if (endpoint != null) {
            b.inboundEndpoint(target, endpoint);
        }
        Mesh node = b.build();
        try {
            node.start().get(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (Exception e) {
            node.close();
            throw e;
        }
        return node;
    }

    /**
     * The addresses the demo binds on fixed ports, and what each is. Fixed on purpose: 8080 is the port the article's
     * Cilium policy names, and a workload's HBONE endpoint is its address on 15008 (ztunnel's), as the report prints them;
     * only the addresses move, with {@code --ip-prefix}.
     */
    private static Map<InetSocketAddress, String> fixedAddresses(String prefix) throws IOException {
        Map<InetSocketAddress, String> at = new java.util.LinkedHashMap<>();
        at.put(new InetSocketAddress(InetAddress.getByName(prefix + ".2"), WorkloadRegistry.HBONE_PORT), "the Istio checkout's HBONE port");
        at.put(new InetSocketAddress(InetAddress.getByName(prefix + ".2"), 15006), "the Istio checkout's plaintext inbound");
        at.put(new InetSocketAddress(InetAddress.getByName(prefix + ".3"), CHECKOUT_PORT), "the Cilium checkout's application port");
        at.put(new InetSocketAddress(InetAddress.getByName(prefix + ".3"), WorkloadRegistry.HBONE_PORT), "the Cilium checkout's HBONE port");
        return at;
    }

    /**
     * Null when every fixed address of {@code prefix} can be bound now, else the line naming each one in use and how to get
     * past it. Tried before the report starts: a new-user pass got the Istio scene's report, then a failure of the Cilium
     * scene's, with an {@code --ip-prefix} hint and a remark on wildcard listeners whichever held the port. A port taken at
     * the prefix's {@code .1} too (which the demo binds on that port never) is the mark of a listener on 0.0.0.0 or [::],
     * as a {@code zerohop proxy}'s default {@code --inbound 0.0.0.0:15008}: no prefix moves the demo off it, and the line
     * says so instead of suggesting one.
     */
    static String takenPorts(String prefix) throws IOException {
        List<String> taken = new java.util.ArrayList<>();
        java.util.Set<Integer> wildcard = new java.util.TreeSet<>();
        InetAddress first = InetAddress.getByName(prefix + ".1");
        for (Map.Entry<InetSocketAddress, String> a : fixedAddresses(prefix).entrySet()) {
            if (!bindable(a.getKey())) {
                taken.add(auth(a.getKey()) + " (" + a.getValue() + ")");
                if (!bindable(new InetSocketAddress(first, a.getKey().getPort()))) {
                    wildcard.add(a.getKey().getPort());
                }
            }
        }
        if (taken.isEmpty()) {
            return null;
        }
        String what = String.join(", ", taken) + (taken.size() == 1 ? " is" : " are") + " in use: another process listens there"
                + " (`ss -ltnp` names it); ";
        if (!wildcard.isEmpty()) {
            String ports = wildcard.stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(" and "));
            String firsts = wildcard.stream().map(p -> auth(new InetSocketAddress(first, p)))
                    .collect(java.util.stream.Collectors.joining(" and "));
            return what + firsts + (wildcard.size() == 1 ? " is" : " are") + " taken too, the mark of a process listening on 0.0.0.0"
                    + " (or [::]) at port " + ports + ", which takes it on every address, as `zerohop proxy`'s default --inbound"
                    + " 0.0.0.0:15008 does (and ztunnel's): --ip-prefix cannot move the demo off it; stop that process, or give it"
                    + " a specific address (zerohop proxy --inbound 10.0.2.1:15008)";
        }
        // The example is never the prefix that just failed (a new-user pass was told to retry 127.0.9 with 127.0.9).
        String[] octets = prefix.split("\\.");
        int third = Integer.parseInt(octets[2]);
        String other = octets[0] + "." + octets[1] + "." + (third >= 254 ? 1 : third + 1);
        return what + "the demo's ports are fixed (8080 as the article's policy names it, HBONE's 15008, plaintext inbound's"
                + " 15006): run it on other loopback addresses with --ip-prefix, e.g. --ip-prefix " + other;
    }

    private static boolean bindable(InetSocketAddress at) {
        try (ServerSocket probe = new ServerSocket()) {
            probe.bind(at);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static boolean addressInUse(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof java.net.BindException || c.getMessage() != null && c.getMessage().contains("Address already in use")) {
                return true;
            }
        }
        return false;
    }

    private void tally(DemoScene s) {
        calls += s.calls;
        failures += s.failures;
        if (s.metricsDiffer) {
            metricFailures++;
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

    /** Whether zerohop parses HTTP on the checkout port: only where an HTTP-level rule applies (DESIGN §5a). */
    private static String parsing(PolicyEngine engine, Workload checkout) {
        return engine.requiresHttp(checkout.ref(), CHECKOUT_PORT)
                ? "declared http and an HTTP rule applies: zerohop parses and authorizes each request"
                : "declared http, no HTTP rule applies: bytes pass unparsed";
    }

    static String auth(InetSocketAddress a) {
        return io.zerohop.core.Addresses.authority(a);
    }
}
