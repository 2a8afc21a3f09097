package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.HboneIdentityException;
import io.zerohop.hbone.TunnelInfo;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the ztunnel-format access log writes for outbound opens that fail before a CONNECT response
 * and for refused CONNECTs, as ztunnel writes them. ztunnel builds each connection's result before
 * its pool dials (istio/ztunnel src/proxy/outbound.rs {@code proxy_to_hbone}) or before it
 * authorizes (src/proxy/inbound.rs {@code build_inbound_request}), which logs {@code connection
 * opened} at DEBUG (src/proxy/metrics.rs {@code ConnectionResultBuilder::build}); the failure is
 * then recorded as {@code connection complete} at ERROR with the {@code Display} of its error
 * ({@code ConnectionResult::record}, src/proxy.rs {@code Error}). Its pool logs no line of its own
 * for a failed HBONE connection (src/proxy/pool.rs {@code new_pool_conn} returns the error); only an
 * inbound failed TLS accept is an early deny, {@code connection failed} at WARN
 * (src/proxy/inbound.rs). The observer runs with a real slf4j logger at DEBUG and hands its lines to
 * a list instead of standard output.
 */
class ZtunnelFailedOpenLogTest {
    static final InetSocketAddress HBONE = new InetSocketAddress("127.0.0.2", 15008);
    static final InetSocketAddress TARGET = new InetSocketAddress("127.0.0.2", 8080);

    record Written(String level, String text) {}

    final List<Written> lines = new ArrayList<>();
    final TunnelObserverLabelsTest.Recording metrics = new TunnelObserverLabelsTest.Recording();
    final TunnelObserver observer = new TunnelObserver(WorkloadRegistry.of(List.of(WorkloadStringsTest.CLIENT), Map.of()), metrics,
            null, TrafficLabels.DEFAULT_CLUSTER, debugLogger(), (level, line) -> lines.add(new Written(level, line.text(level, "T"))));

    /** slf4j-simple reads a logger's level from this property when the logger is first created. */
    static Logger debugLogger() {
        System.setProperty("org.slf4j.simpleLogger.log.io.zerohop.test.ztunnel-access", "debug");
        Logger l = LoggerFactory.getLogger("io.zerohop.test.ztunnel-access");
        assertThat(l.isDebugEnabled()).isTrue();
        return l;
    }

    /** How long before the test's call each tunnel's open began (TunnelInfo.startNanos): a lower bound of its duration. */
    static final long BEGAN_MS_AGO = 1_500;

    /**
     * An outbound line names the captured application's pod, as ztunnel's (ConnectionResult::new: src.workload is the
     * source workload's wl.name), not the controller its baggage names, which the metrics keep (an operator pass read
     * src.workload="frontend", the Deployment, beside the destination's pod).
     */
    @Test
    void anOutboundLineNamesTheCapturedApplicationsPod() {
        TunnelInfo t = new TunnelInfo(TunnelInfo.Direction.OUTBOUND, WorkloadStringsTest.CLIENT.identity(), null, null, HBONE, TARGET,
                Map.of("forwarded", "for=\"127.0.0.3:5000\"", "baggage", "k8s.namespace.name=bench,k8s.deployment.name=client-deploy"),
                System.nanoTime());
        TrafficLabels l = observer.labels(t);
        assertThat(l.sourcePod()).isEqualTo(WorkloadStringsTest.CLIENT.name());
        assertThat(l.sourceWorkload()).as("the metric label: the baggage's controller").isEqualTo("client-deploy");
        TunnelInfo other = new TunnelInfo(TunnelInfo.Direction.OUTBOUND, WorkloadStringsTest.CLIENT.identity(), null, null, HBONE,
                TARGET, Map.of("forwarded", "for=\"127.0.0.9:5000\"", "baggage", "k8s.deployment.name=client-deploy"), System.nanoTime());
        assertThat(observer.labels(other).sourcePod()).as("no registry workload there: the baggage's name").isEqualTo("client-deploy");
    }

    /**
     * An inbound source with no registry workload (another node's pod the file registry does not list) is named in the
     * line by the canonical service its baggage gives ({@code service.name}), as ztunnel's inbound result names it
     * (src/proxy/inbound.rs {@code build_inbound_request} passes the baggage as {@code ConnectionOpen.derived_source};
     * src/proxy/metrics.rs {@code ConnectionResultBuilder::new}: "try to get pod name but fall back to canonical
     * service", {@code tl.source_canonical_service}); the metric labels keep the baggage's controller
     * ({@code with_derived_source}: {@code source_workload} is its workload name). Until 6 December the line said the
     * controller, {@code src.workload="frontend-v2"}. A source the registry knows keeps its pod.
     */
    @Test
    void anInboundLineNamesAnUnknownSourceByItsBaggagesService() {
        io.spiffe.spiffeid.SpiffeId frontend = io.spiffe.spiffeid.SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/frontend");
        TunnelInfo t = new TunnelInfo(TunnelInfo.Direction.INBOUND, WorkloadStringsTest.CLIENT.identity(), frontend, HBONE,
                new InetSocketAddress("127.0.82.7", 40000), new InetSocketAddress("127.0.0.3", 8080),
                Map.of("baggage", "k8s.cluster.name=Kubernetes,k8s.namespace.name=prod,k8s.deployment.name=frontend-v2,"
                        + "service.name=frontend,service.version=v2"));
        observer.tunnelOpened(t, TunnelObserverLabelsTest.NO_BYTES);
        observer.tunnelClosed(new io.zerohop.hbone.TunnelResult(t, 200, 70, 3000, java.time.Duration.ofMillis(12), false, null));
        assertThat(lines).extracting(Written::level).containsExactly("debug", "info");
        for (Written w : lines) {
            assertThat(w.text()).contains("\tsrc.addr=127.0.82.7:40000 src.workload=\"frontend\" src.namespace=\"prod\" "
                    + "src.identity=\"spiffe://cluster.local/ns/prod/sa/frontend\" src.cluster=\"Kubernetes\" dst.addr=127.0.0.2:15008 ");
        }
        assertThat(metrics.opened).extracting(TrafficLabels::sourceWorkload, TrafficLabels::sourceCanonicalService, TrafficLabels::sourceApp)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("frontend-v2", "frontend", "frontend-v2"));
        // Without service.name ztunnel's canonical service is unknown: no src.workload at all.
        lines.clear();
        TunnelInfo bare = new TunnelInfo(TunnelInfo.Direction.INBOUND, WorkloadStringsTest.CLIENT.identity(), frontend, HBONE,
                new InetSocketAddress("127.0.82.7", 40001), new InetSocketAddress("127.0.0.3", 8080),
                Map.of("baggage", "k8s.namespace.name=prod,k8s.deployment.name=frontend-v2"));
        observer.tunnelOpened(bare, TunnelObserverLabelsTest.NO_BYTES);
        assertThat(lines.get(0).text()).contains("\tsrc.addr=127.0.82.7:40001 src.namespace=\"prod\" ").doesNotContain("src.workload");
    }

    /** An open that waited on an HBONE connection that failed before TLS verified the server (no local address yet). */
    static TunnelInfo pending() {
        return new TunnelInfo(TunnelInfo.Direction.OUTBOUND, WorkloadStringsTest.CLIENT.identity(), null, null, HBONE, TARGET,
                Map.of("forwarded", "for=\"127.0.0.3:5000\""), System.nanoTime() - BEGAN_MS_AGO * 1_000_000);
    }

    /**
     * The {@code duration="Nms"} of a connection complete line, just before its error: ztunnel's
     * {@code format!("{}ms", self.start.elapsed().as_millis())} (istio/ztunnel src/proxy/metrics.rs
     * {@code ConnectionResult::record_internal}), in every connection complete, failures included.
     */
    static long durationMs(String line) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(" bytes_recv=0 duration=\"(\\d+)ms\" error=\"").matcher(line);
        assertThat(m.find()).as("duration between bytes_recv and error in %s", line).isTrue();
        return Long.parseLong(m.group(1));
    }

    @Test
    @DisplayName("an open without an SVID: connection opened (DEBUG), then connection complete (ERROR) with ztunnel's identity error, and IDENTITY_ERROR")
    void anOpenWithoutAnSvidIsAnIdentityError() {
        HboneIdentityException cause = new HboneIdentityException("no TLS context for HBONE source spiffe://cluster.local/ns/bench/sa/client: "
                + "no SVID for spiffe://cluster.local/ns/bench/sa/client", new IllegalArgumentException("no SVID"));
        observer.tunnelFailed(pending(), cause);
        assertThat(lines).extracting(Written::level).containsExactly("debug", "error");
        // The captured application's pod (its forwarded for= is a registry workload of this identity), as ztunnel names it.
        assertThat(lines.get(0).text()).startsWith("T\tdebug\taccess\tconnection opened\tsrc.addr=127.0.0.3:5000 src.workload=\"client\""
                + " src.identity=\"spiffe://cluster.local/ns/bench/sa/client\"")
                .contains(" dst.addr=127.0.0.2:15008 dst.hbone_addr=127.0.0.2:8080 ").endsWith("direction=\"outbound\"");
        assertThat(lines.get(1).text()).startsWith("T\terror\taccess\tconnection complete\tsrc.addr=127.0.0.3:5000 src.workload=\"client\""
                + " src.identity=\"spiffe://cluster.local/ns/bench/sa/client\"")
                .contains("direction=\"outbound\" bytes_sent=0 bytes_recv=0 duration=\"")
                .endsWith("ms\" error=\"identity error: no TLS context for HBONE source "
                        + "spiffe://cluster.local/ns/bench/sa/client: no SVID for spiffe://cluster.local/ns/bench/sa/client\"");
        assertThat(durationMs(lines.get(1).text())).as("from the open's start").isGreaterThanOrEqualTo(BEGAN_MS_AGO);
        assertThat(metrics.opened).hasSize(1);
        assertThat(metrics.closed).extracting(TrafficLabels::responseFlags).containsExactly("IDENTITY_ERROR");
        assertThat(metrics.closed.get(0).failed()).isTrue();
    }

    @Test
    @DisplayName("a failed outbound TLS handshake that two opens waited on: no connection failed line, a DEBUG opened and an ERROR complete per open")
    void aFailedOutboundHandshakeIsLoggedPerOpenNotPerConnection() {
        SSLHandshakeException wrongSan = new SSLHandshakeException("HBONE TLS handshake with 127.0.0.2:15008 failed: wrong SAN");
        observer.connectionFailed(HBONE, null, wrongSan);
        observer.tunnelFailed(pending(), wrongSan);
        observer.tunnelFailed(pending(), wrongSan);
        assertThat(lines).extracting(Written::level).containsExactly("debug", "error", "debug", "error");
        assertThat(lines).noneMatch(l -> l.text().contains("connection failed\t"));
        assertThat(lines.get(1).text()).contains("\tconnection complete\t")
                .endsWith(" error=\"io error: HBONE TLS handshake with 127.0.0.2:15008 failed: wrong SAN\"");
        assertThat(metrics.closed).extracting(TrafficLabels::responseFlags).containsExactly("CONNECT", "CONNECT");
    }

    @Test
    @DisplayName("a refused dial is ztunnel's io error, the OS error as Rust prints it (src/proxy/pool.rs: the dial's io::Error)")
    void aRefusedDialIsAnIoError() {
        // As mesh-hbone's ClientConnection reports it: its own text around Netty's native exception.
        ConnectException refused = new ConnectException("HBONE connection to 127.0.0.2:15008 failed: Connection refused (os error 111)");
        refused.initCause(new ConnectException("finishConnect(..) failed with error(-111): Connection refused"));
        observer.tunnelFailed(pending(), refused);
        assertThat(lines.get(1).text()).endsWith(" error=\"io error: Connection refused (os error 111)\"");
    }

    @Test
    @DisplayName("a failed inbound TLS accept stays ztunnel's early deny: one WARN connection failed")
    void aFailedInboundHandshakeIsAnEarlyDeny() {
        observer.connectionFailed(new InetSocketAddress("127.0.0.3", 5000), HBONE, new SSLHandshakeException("bad certificate"));
        assertThat(lines).containsExactly(new Written("warn", "T\twarn\taccess\tconnection failed\tsrc.addr=127.0.0.3:5000 "
                + "dst.addr=127.0.0.2:15008 direction=\"inbound\" error=\"bad certificate\""));
    }

    /**
     * A new-user pass: a peer of another trust domain, or with an expired certificate, got only
     * "General OpenSslEngine problem" in the access line, the top of Netty's exception; the HBONE
     * server's own line had the cause. The reason is the whole chain now, each message once, without Netty's
     * generic "General OpenSslEngine problem" when a cause follows (newuser18).
     */
    @Test
    void aFailedInboundHandshakesReasonIsItsWholeCauseChain() {
        javax.net.ssl.SSLHandshakeException tls = new javax.net.ssl.SSLHandshakeException("General OpenSslEngine problem");
        tls.initCause(new java.security.cert.CertificateException(
                "spiffe://other.domain/ns/shop/sa/frontend: no trust bundle for trust domain other.domain (trusted: [cluster.local])"));
        observer.connectionFailed(new InetSocketAddress("127.0.0.3", 5000), HBONE, tls);
        assertThat(lines).singleElement().extracting(Written::text).asString().endsWith(" error=\""
                + "spiffe://other.domain/ns/shop/sa/frontend: no trust bundle for trust domain other.domain (trusted: [cluster.local])\"");
    }

    /**
     * newuser18: an inbound CONNECT to one of the proxy's own ports was a connection complete ERROR, counted CONNECT.
     * ztunnel's find_inbound_upstream returns Error::SelfCall from build_inbound_request, which serve_connect logs with
     * log_early_deny: one WARN connection failed with the error's Display, and no connection result (no metric).
     */
    @Test
    @DisplayName("an inbound self call is ztunnel's early deny: connection failed (WARN), attempted recursive call to ourselves, no metric")
    void anInboundSelfCallIsAnEarlyDeny() {
        observer.tunnelRefused(inbound(), 503, "self call: port 15020 is one of this proxy's own ports (declared by the embedder"
                + " (Mesh.addOwnPort))");
        assertThat(lines).singleElement().satisfies(w -> {
            assertThat(w.level()).isEqualTo("warn");
            assertThat(w.text()).contains("\twarn\taccess\tconnection failed\t").endsWith(" error=\"attempted recursive call to ourselves\"");
        });
        assertThat(metrics.opened).isEmpty();
        assertThat(metrics.closed).isEmpty();
    }

    /**
     * An inbound CONNECT to a host name no service here has is ztunnel's early deny (src/proxy/inbound.rs
     * {@code find_inbound_upstream} fails with {@code Error::NoHostname}, 503, then {@code log_early_deny}): one WARN with
     * ztunnel's error text, no metric. It wrote no line until 5 December (a review pass, helper 255); the 400s of a
     * non-CONNECT method, a malformed authority and a CONNECT to another workload's address than the one dialled say
     * ztunnel's {@code Error} text too.
     */
    @Test
    void inboundEarlyDeniesSayZtunnelsError() {
        TunnelInfo noTarget = new TunnelInfo(TunnelInfo.Direction.INBOUND, TunnelObserverLabelsTest.ECHO, WorkloadStringsTest.CLIENT.identity(),
                HBONE, new InetSocketAddress("127.0.0.3", 40000), null, Map.of(), System.nanoTime());
        observer.tunnelRefused(noTarget, 503, "no service named foo.bar.svc.cluster.local with port 80 is served here");
        observer.tunnelRefused(noTarget, 503, "service foo.bar.svc.cluster.local" + Inbound.NO_PORT + "81");
        observer.tunnelRefused(noTarget, 400, "method GET is not CONNECT");
        observer.tunnelRefused(noTarget, 400, "malformed :authority \"foo:bar:1\" (want ip:port, IPv6 in brackets)");
        // validate_destination's Error::IPMismatch(conn.dst, hbone_addr): the dialled address first; zerohop said its own
        // text until 6 December.
        observer.tunnelRefused(inbound(), 400, "destination prod/reports is at 10.0.1.3" + Inbound.WENT_TO + "10.0.1.2 (prod/backend's own"
                + " address, whose SVID it presented): a connection to a workload's address tunnels to that address only");
        assertThat(lines).extracting(Written::level).containsExactly("warn", "warn", "warn", "warn", "warn");
        assertThat(lines.get(0).text()).contains("\twarn\taccess\tconnection failed\t").contains("direction=\"inbound\"")
                .endsWith(" error=\"no service or workload for hostname: foo.bar.svc.cluster.local\"");
        // find_inbound_upstream's NoPortForServices: a Service of the name whose port resolves to none here.
        assertThat(lines.get(1).text()).endsWith(" error=\"requested service foo.bar.svc.cluster.local:81 found, but cannot resolve port\"");
        assertThat(lines.get(2).text()).endsWith(" error=\"expected method CONNECT, got GET\"");
        assertThat(lines.get(3).text()).endsWith(" error=\"no valid authority pseudo header: foo:bar:1\"");
        assertThat(lines.get(4).text()).contains("\twarn\taccess\tconnection failed\t").endsWith(" error=\"ip mismatch: 10.0.1.2 != 10.0.1.3\"");
        assertThat(metrics.opened).isEmpty();
        assertThat(metrics.closed).isEmpty();
    }

    /** The outbound side (ztunnel's outbound.rs log_early_deny with Reporter::source): the same line, direction outbound. */
    @Test
    void anOutboundSelfCallIsAnEarlyDenyToo() {
        observer.outboundEarlyDeny(new InetSocketAddress("127.0.0.3", 40000), new InetSocketAddress("127.0.0.1", 15080), PlaintextInbound.SELF_CALL);
        assertThat(lines).singleElement().satisfies(w -> {
            assertThat(w.level()).isEqualTo("warn");
            assertThat(w.text()).contains("\twarn\taccess\tconnection failed\t").contains("direction=\"outbound\"")
                    .endsWith(" error=\"attempted recursive call to ourselves\"");
        });
        assertThat(metrics.opened).isEmpty();
    }

    static TunnelInfo inbound() {
        return new TunnelInfo(TunnelInfo.Direction.INBOUND, TunnelObserverLabelsTest.ECHO, WorkloadStringsTest.CLIENT.identity(),
                HBONE, new InetSocketAddress("127.0.0.3", 40000), TARGET, Map.of(), System.nanoTime() - BEGAN_MS_AGO * 1_000_000);
    }

    @Test
    @DisplayName("a CONNECT a DENY policy denied: connection opened (DEBUG), then connection complete (ERROR) with ztunnel's exact error, explicitly denied by: ns/name")
    void aPolicyRefusalIsOpenedThenComplete() {
        observer.tunnelDenied(inbound(), AuthzDecision.deny("DENY by bench/deny (AuthorizationPolicy DENY, rule 0): matched",
                AuthzDecision.PolicyRejection.explicitlyDenied("bench", "deny")));
        assertThat(lines).extracting(Written::level).containsExactly("debug", "error");
        assertThat(lines.get(0).text()).contains("\tconnection opened\tsrc.addr=127.0.0.3:40000 ");
        // istio/ztunnel src/proxy.rs: Error::AuthorizationPolicyRejection's "connection closed due to
        // policy rejection: {0}" of AuthorizationRejectionError::ExplicitlyDenied's "explicitly denied by: {a}/{b}".
        assertThat(lines.get(1).text()).contains("\tconnection complete\tsrc.addr=127.0.0.3:40000 ")
                .contains(" src.identity=\"spiffe://cluster.local/ns/bench/sa/client\" ")
                .contains(" dst.identity=\"spiffe://cluster.local/ns/bench/sa/echo\" ")
                .endsWith(" error=\"connection closed due to policy rejection: explicitly denied by: bench/deny\"");
        assertThat(durationMs(lines.get(1).text())).as("from the CONNECT's arrival").isGreaterThanOrEqualTo(BEGAN_MS_AGO);
    }

    @Test
    @DisplayName("a CONNECT no allow rule admitted: ztunnel's NotAllowed, allow policies exist, but none allowed")
    void aDefaultDenyIsNotAllowed() {
        observer.tunnelDenied(inbound(), AuthzDecision.deny("DENY by bench/allow (AuthorizationPolicy ALLOW, default deny): no rule matched",
                AuthzDecision.PolicyRejection.NOT_ALLOWED));
        assertThat(lines.get(1).text())
                .endsWith(" error=\"connection closed due to policy rejection: allow policies exist, but none allowed\"");
    }

    @Test
    @DisplayName("a deny by an authorizer that is no policy engine (no rejection kind) keeps its own reason after ztunnel's prefix")
    void aDenyWithoutARejectionKeepsItsReason() {
        observer.tunnelDenied(inbound(), AuthzDecision.deny("not on the list"));
        assertThat(lines.get(1).text()).endsWith(" error=\"connection closed due to policy rejection: not on the list\"");
    }

    /**
     * An open tunnel a policy change denies closes with ztunnel's late rejection, the {@code Display}
     * of {@code Error::AuthorizationPolicyLateRejection}: "connection closed due to policy change"
     * (istio/ztunnel src/proxy.rs; src/proxy/connection_manager.rs {@code handle_connection!} ends the
     * connection with it when the policy watcher drains it), with metrics and without.
     */
    @Test
    @DisplayName("a tunnel closed for a policy change: connection complete with ztunnel's late rejection, with and without metrics")
    void aLateDenialIsConnectionClosedDueToPolicyChange() {
        closedAsDenied(TunnelObserver::lateDenied, "connection closed due to policy change");
    }

    /**
     * A tunnel denied after its 200 because its first bytes were not HTTP (an {@code auto} port's fallback to L4,
     * HttpEnforcement): ztunnel takes that decision at the CONNECT, so the close carries the Display of
     * {@code Error::AuthorizationPolicyRejection} (istio/ztunnel src/proxy.rs, "connection closed due to policy
     * rejection: " and {@code AuthorizationRejectionError}) and counts DENY, where it was a clean close.
     */
    @Test
    @DisplayName("a tunnel denied after the sniff: connection complete with ztunnel's policy rejection, DENY, with and without metrics")
    void aDenialAfterTheSniffIsConnectionClosedDueToPolicyRejection() {
        String error = ZtunnelAccessLog.rejection(AuthzDecision.PolicyRejection.explicitlyDenied("bench", "deny"), "zerohop's text");
        assertThat(error).isEqualTo("connection closed due to policy rejection: explicitly denied by: bench/deny");
        closedAsDenied((o, t) -> o.denied(t, error), error);
    }

    /** Opens a tunnel, marks it with {@code deny}, resets it: the close is ERROR with {@code error}, and DENY where counted. */
    private void closedAsDenied(java.util.function.BiConsumer<TunnelObserver, TunnelInfo> deny, String error) {
        TunnelObserver noMetrics = new TunnelObserver(WorkloadRegistry.of(List.of(WorkloadStringsTest.CLIENT), Map.of()), null,
                null, TrafficLabels.DEFAULT_CLUSTER, debugLogger(), (level, line) -> lines.add(new Written(level, line.text(level, "T"))));
        for (TunnelObserver o : List.of(observer, noMetrics)) {
            lines.clear();
            TunnelInfo in = inbound();
            o.tunnelOpened(in, TunnelObserverLabelsTest.NO_BYTES);
            deny.accept(o, in);
            o.tunnelClosed(new io.zerohop.hbone.TunnelResult(in, 200, 5, 7, java.time.Duration.ofMillis(3), true, "reset"));
            assertThat(lines).extracting(Written::level).containsExactly("debug", "error");
            assertThat(lines.get(1).text()).contains("\tconnection complete\t").contains(" bytes_sent=7 bytes_recv=5 duration=\"3ms\" ")
                    .endsWith(" error=\"" + error + "\"");
        }
        assertThat(metrics.closed).extracting(TrafficLabels::responseFlags).containsExactly("DENY");
    }

    /**
     * A plaintext connection reset for a policy change (LivePlaintext): ztunnel's plaintext passthrough runs under
     * {@code handle_connection!} as a tunnel does (istio/ztunnel src/proxy/inbound_passthrough.rs), so its close is
     * {@code connection complete} at ERROR with {@code AuthorizationPolicyLateRejection}'s Display, counted DENY; it was
     * an INFO line without error, as any reset.
     */
    @Test
    @DisplayName("a plaintext connection cut by a policy change: connection complete (ERROR) with the late rejection, DENY")
    void aPlaintextLateDenialIsConnectionClosedDueToPolicyChange() {
        io.netty.channel.embedded.EmbeddedChannel upstream = new io.netty.channel.embedded.EmbeddedChannel();
        upstream.attr(LivePlaintext.DENIED_BY_POLICY).set(Boolean.TRUE);
        io.zerohop.hbone.internal.Relay.End end = observer.plain(new ZtunnelPlaintextLogTest.Stub(upstream), "plaintext-inbound", true, new InetSocketAddress("127.0.0.3", 40000), TARGET, null);
        end.ended(new io.zerohop.hbone.internal.Relay.Stats(5, 7, java.time.Duration.ofMillis(3), true));
        // connection opened at DEBUG when the relay's result is built (since 2 December), then its end.
        assertThat(lines).extracting(Written::level).containsExactly("debug", "error");
        assertThat(lines.get(1).text()).startsWith("T\terror\taccess\tconnection complete\tsrc.addr=127.0.0.3:40000 ")
                .doesNotContain("identity").endsWith(" direction=\"inbound\" bytes_sent=7 bytes_recv=5 duration=\"3ms\" "
                        + "error=\"connection closed due to policy change\"");
        assertThat(metrics.closed).extracting(TrafficLabels::responseFlags).containsExactly("DENY");
        upstream.finishAndReleaseAll();
    }
}
