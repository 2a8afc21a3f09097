package io.zerohop.cli;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.HttpAttributes;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * One scene of the demo: the checkout's engine, registry, workload and app, the calls made to it
 * (over HBONE tunnels or in plaintext), one printed line per call, and the checkout's metrics at
 * the end. A call counts as the article says when the wire and the checkout's policy decision
 * both agree with the article ({@link #report}).
 */
final class DemoScene {

    /** What the article says becomes of a call. */
    enum Expect {
        /** Reaches checkout, which answers 200. */
        ALLOWED("allowed"),
        /** Refused by policy: HBONE 401 at CONNECT, a TCP reset for plaintext, or 403 per request. */
        REFUSED("refused by policy"),
        /**
         * The tunnel is allowed; this request gets zerohop's own 403: Envoy RBAC's {@code RBAC: access denied}, or for a
         * Cilium policy's denial Cilium's proxy's {@code Access denied} ({@link #localDenial}).
         */
        HTTP_403("HTTP 403 from zerohop");

        final String text;

        Expect(String text) {
            this.text = text;
        }
    }

    /** One HTTP request of a scene and what the article says becomes of it. */
    record Req(String method, String path, Expect expect) {}

    /**
     * The body of zerohop's 403 for a request {@code d} denies, without its line end: Cilium's proxy's
     * {@code Access denied} when a Cilium policy decided it, else Envoy RBAC's {@code RBAC: access denied} (mesh-core's
     * L7 enforcement answers so).
     */
    static String localDenial(Decision d) {
        PolicyRef p = d.policy();
        return p != null && (p.kind() == PolicyRef.Kind.CILIUM_NETWORK_POLICY || p.kind() == PolicyRef.Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY)
                ? "Access denied" : "RBAC: access denied";
    }

    /** What the wire showed for one call. */
    enum Outcome { ALLOWED, REFUSED, HTTP_403, FAILED }

    private final PrintStream out;
    final PolicyEngine engine;
    final WorkloadRegistry registry;
    final Workload checkout;
    final InetSocketAddress target;
    final DemoCheckoutApp app;
    /** Tunnels the checkout accepted (CONNECT 200), and the HTTP statuses callers got through them. */
    int tunnels;
    final Map<String, Integer> statuses = new TreeMap<>();

    /** Calls made, calls not as the article says, and whether the metrics differed from what callers got. */
    int calls;
    int failures;
    boolean metricsDiffer;

    DemoScene(PrintStream out, PolicyEngine engine, WorkloadRegistry registry, Workload checkout, InetSocketAddress target, DemoCheckoutApp app) {
        this.out = out;
        this.engine = engine;
        this.registry = registry;
        this.checkout = checkout;
        this.target = target;
        this.app = app;
    }

    /** One tunnel as {@code source}, the requests in order on it (keep-alive). */
    void hbone(Mesh callers, SpiffeId source, List<Req> reqs) throws Exception {
        InetAddress from = DemoCommand.sourceAddressTowards(target.getAddress());
        DemoHttpTunnel tunnel;
        try {
            tunnel = DemoHttpTunnel.open(callers, source, target);
        } catch (Exception e) {
            Throwable c = rootRefusal(e);
            int status = c instanceof HboneRefusedException r ? r.status() : -1;
            String wire = status > 0 ? "HBONE CONNECT refused with " + status : "tunnel failed: " + Cli.describe(c);
            for (Req r : reqs) {
                // A policy refusal at CONNECT is decided at L4: the engine sees no HTTP attributes.
                Decision d = decide(source, from, null, null);
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
                DemoHttpTunnel.Response resp;
                try {
                    resp = tunnel.send(r.method, r.path, body);
                } catch (Exception e) {
                    Decision d = decide(source, from, null, HttpAttributes.of(r.method, r.path));
                    report(r, source.toString(), "request failed: " + Cli.describe(e), Outcome.FAILED, d);
                    continue;
                }
                boolean reached = app.requests.get() > seenBefore;
                statuses.merge(Integer.toString(resp.status()), 1, Integer::sum);
                Decision d = decide(source, from, null, HttpAttributes.of(r.method, r.path));
                if (resp.status() == 200 && reached) {
                    String seen = app.lastRequest;
                    boolean intact = resp.body().contains("sha256=" + DemoCheckoutApp.hex(DemoCheckoutApp.sha256(body)));
                    String xfcc = app.lastXfcc == null ? "" : ", x-forwarded-client-cert " + app.lastXfcc;
                    report(r, source.toString(), "HTTP 200 from checkout (it saw " + seen + xfcc + "), body sha256 "
                            + (intact ? "match" : "MISMATCH"), intact ? Outcome.ALLOWED : Outcome.FAILED, d);
                } else {
                    boolean rbac = resp.status() == 403 && resp.body().strip().equals(localDenial(d)) && !reached;
                    report(r, source.toString(), "HTTP " + resp.status() + " \"" + resp.body().strip() + "\" from zerohop, "
                            + (reached ? "but the checkout app SAW it" : "checkout app saw nothing"), rbac ? Outcome.HTTP_403 : Outcome.FAILED, d);
                }
            }
        }
    }

    /**
     * One request from {@code pod} (a registry workload of the caller's node, at its own loopback
     * address) through the callers' outbound capture, as a node proxy carries a pod's connection:
     * the callers' zerohop tunnels it as the pod's identity from its own address and names the pod
     * in {@code forwarded: for=}, which the checkout believes because the pod has the tunnel's
     * verified identity (mesh-core README, "Source workload"). One request per connection
     * ({@code Connection: close}).
     */
    void captured(Mesh callers, Workload pod, Req r) throws Exception {
        InetAddress podIp = pod.addresses().get(0);
        InetSocketAddress capture = callers.capture(io.zerohop.core.Capture.forward(new InetSocketAddress(podIp, 0), target));
        InetAddress from = DemoCommand.sourceAddressTowards(target.getAddress());
        int seenBefore = app.requests.get();
        byte[] body = ("{\"order\":\"A-1002\",\"amount_cents\":4200,\"caller\":\"" + pod.identity() + "\"}").getBytes(StandardCharsets.UTF_8);
        String head;
        String text;
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(podIp, 0));
            s.connect(capture, (int) TimeUnit.SECONDS.toMillis(DemoCommand.TIMEOUT_S));
            s.setSoTimeout((int) TimeUnit.SECONDS.toMillis(DemoCommand.TIMEOUT_S));
            OutputStream o = s.getOutputStream();
            o.write((r.method + " " + r.path + " HTTP/1.1\r\nHost: checkout:" + DemoCommand.CHECKOUT_PORT
                    + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + body.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            o.write(body);
            o.flush();
            // The head up to its blank line, then Content-Length bytes (both the app's and Envoy's 403 carry one).
            InputStream in = s.getInputStream();
            StringBuilder h = new StringBuilder();
            int c;
            while (!h.toString().endsWith("\r\n\r\n") && (c = in.read()) >= 0) {
                h.append((char) c);
            }
            head = h.toString().strip();
            java.util.regex.Matcher len = java.util.regex.Pattern.compile("(?im)^content-length:\\s*(\\d+)").matcher(head);
            text = new String(in.readNBytes(len.find() ? Integer.parseInt(len.group(1)) : 0), StandardCharsets.UTF_8);
        } catch (SocketException e) {
            head = "";
            text = "";
        }
        boolean reached = app.requests.get() > seenBefore;
        String[] statusLine = head.split("\r\n", 2)[0].split(" ");
        int status = statusLine.length > 1 && statusLine[0].startsWith("HTTP/") ? Integer.parseInt(statusLine[1]) : -1;
        String who = pod.identity() + " (pod " + pod.namespace() + "/" + pod.name() + ", app: " + pod.labels().get("app") + ", "
                + podIp.getHostAddress() + ", captured)";
        String via = "tunnelled by the callers' zerohop from " + from.getHostAddress() + " with forwarded: for="
                + podIp.getHostAddress() + "; ";
        Decision d = decide(pod.identity(), from, podIp, HttpAttributes.of(r.method, r.path));
        if (status < 0) {
            report(r, who, via + "connection closed, no response" + (reached ? ", but the checkout app SAW it" : ", checkout app saw nothing"),
                    reached ? Outcome.FAILED : Outcome.REFUSED, d);
            return;
        }
        tunnels++;
        statuses.merge(Integer.toString(status), 1, Integer::sum);
        if (status == 200 && reached) {
            report(r, who, via + "HTTP 200 from checkout (it saw " + app.lastRequest + ")", Outcome.ALLOWED, d);
        } else {
            boolean rbac = status == 403 && text.strip().equals(localDenial(d)) && !reached;
            report(r, who, via + "HTTP " + status + " \"" + text.strip() + "\" from zerohop, "
                    + (reached ? "but the checkout app SAW it" : "checkout app saw nothing"), rbac ? Outcome.HTTP_403 : Outcome.FAILED, d);
        }
    }

    /** A plaintext connection (no TLS, no identity) to the checkout's plaintext inbound capture. */
    void plaintext(InetSocketAddress capture, Req r) throws Exception {
        int seenBefore = app.requests.get();
        String wire;
        boolean got = false;
        try (Socket s = new Socket()) {
            s.connect(capture, (int) TimeUnit.SECONDS.toMillis(DemoCommand.TIMEOUT_S));
            s.setSoTimeout((int) TimeUnit.SECONDS.toMillis(DemoCommand.TIMEOUT_S));
            OutputStream o = s.getOutputStream();
            o.write((r.method + " " + r.path + " HTTP/1.1\r\nHost: checkout:" + DemoCommand.CHECKOUT_PORT + "\r\nContent-Length: 0\r\n\r\n")
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
        Decision d = decide(null, DemoCommand.sourceAddressTowards(capture.getAddress()), null, null);
        report(r, "plaintext (no TLS, no identity)", wire + (reached ? ", but the checkout app SAW it" : ", checkout app saw nothing"),
                got || reached ? Outcome.FAILED : Outcome.REFUSED, d);
    }

    /**
     * Prints the checkout's own counters, once every tunnel it accepted has closed. Where
     * zerohop parsed HTTP, its {@code istio_requests_total} must count exactly the statuses the
     * callers got; a difference is a failure of the scene.
     */
    void metrics(SimpleMeterRegistry meters, Semaphore closed) throws InterruptedException {
        boolean settled = closed.tryAcquire(tunnels, DemoCommand.TIMEOUT_S, TimeUnit.SECONDS);
        String tcp = String.format(Locale.ROOT, "istio_tcp_connections_opened_total %.0f, istio_tcp_connections_closed_total %.0f",
                sum(meters, "istio.tcp.connections.opened"), sum(meters, "istio.tcp.connections.closed"));
        if (!engine.requiresHttp(checkout.ref(), DemoCommand.CHECKOUT_PORT)) {
            out.println("metrics  : " + tcp + " (reporter=destination)");
            return;
        }
        Map<String, Integer> counted = requestCounts(meters);
        boolean agree = settled && counted.equals(statuses);
        if (!agree) {
            metricsDiffer = true;
        }
        out.println("metrics  : " + tcp + "; istio_requests_total " + counted + " (reporter=destination)"
                + (agree ? ": the statuses the callers got" : "   <-- NOT the statuses the callers got " + statuses
                + (settled ? "" : " (tunnels still open after " + DemoCommand.TIMEOUT_S + " s)")));
    }

    /**
     * The checkout's engine on the request as the checkout's proxy sees it: the verified peer
     * identity, the source workload and source address as mesh-core's {@code TunnelSource} picks
     * them, the destination and, at L7, method and path. The source workload is the registry
     * workload at the connection's address {@code from} when it has the peer's identity, else the
     * one at {@code claimed} (the captured pod the caller's proxy names in {@code forwarded: for=})
     * when it has the peer's identity, whose address then is the source address; else none (a peer
     * known by its SPIFFE ID only). A plaintext peer's workload is the one at {@code from}.
     *
     * @param claimed the {@code for=} address the caller's proxy sent, or null (a direct tunnel)
     */
    Decision decide(SpiffeId peer, InetAddress from, InetAddress claimed, HttpAttributes http) {
        Workload src = registry.byAddress(from).filter(w -> peer == null || w.hasIdentity(peer)).orElse(null);
        InetAddress address = from;
        if (src == null && peer != null && claimed != null) {
            src = registry.byAddress(claimed).filter(w -> w.hasIdentity(peer)).orElse(null);
            address = src == null ? from : claimed;
        }
        return engine.evaluate(AccessRequest.builder().sourcePrincipal(peer == null ? null : peer.toString())
                .sourceAddress(address).destinationAddress(target.getAddress()).destinationPort(target.getPort())
                .destination(checkout.ref()).sourceWorkload(src == null ? null : src.ref()).http(http).build());
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
                checkout, DemoCommand.auth(target), wire, d.explain(), asArticle ? "" : "   <-- NOT as the article says (expected " + r.expect.text + ")");
    }

    /** The innermost HBONE refusal in {@code e}'s causes, else its innermost cause. */
    private static Throwable rootRefusal(Throwable e) {
        Throwable c = e;
        while (!(c instanceof HboneRefusedException) && c.getCause() != null) {
            c = c.getCause();
        }
        return c;
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
}
