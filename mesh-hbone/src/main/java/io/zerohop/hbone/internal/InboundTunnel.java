package io.zerohop.hbone.internal;

import io.zerohop.identity.internal.LogBudget;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.ReadOnlyHttp2Headers;
import io.netty.util.AsciiString;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GenericFutureListener;
import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.AuthzRequest;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.StreamHandler;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.slf4j.Logger;

/**
 * The server half of one tunnel (ztunnel's src/proxy/inbound.rs): the CONNECT handled in four
 * phases, each of which may refuse with ztunnel's status: validate (header list size, method,
 * :authority, 400/431/503) -> resolve (the {@link io.zerohop.hbone.DestinationResolver}, 400 or its
 * status) -> authorize (the {@link io.zerohop.hbone.Authorizer}, 401) -> deliver (proxy: dial the
 * upstream under the pending-dial limits, 503 if unreachable, then the {@link Relay}; embedded: the
 * application's handler). Then the tunnel's events.
 */
final class InboundTunnel extends TunnelSet.Deadline implements TunnelCodec.Listener {
    private static final Logger log = HboneListener.log;
    final ServerConnection conn;
    final Http2StreamChannel ch;
    final TunnelCodec codec = new TunnelCodec(this);
    TunnelInfo info;
    boolean opened;
    boolean statusSent;
    boolean dialPending;
    boolean closedReported;
    /** The upstream channel while its connect is in progress (its deadline is this tunnel's {@link TunnelSet#dials}). */
    private Channel dialing;
    private boolean dialTimedOut;
    /** The stream's close listener that abandons an unfinished upstream dial; null once the dial is done. */
    private GenericFutureListener<Future<? super Void>> abandon;

    /**
     * The 200 of every tunnel, one read-only instance: HPACK encoding only reads it. A
     * {@code DefaultHttp2Headers} per tunnel was ~250 bytes (issue 14, benchmarks/results/open-*.md).
     */
    private static final AsciiString STATUS_200 = AsciiString.cached("200");
    private static final Http2Headers OK = ReadOnlyHttp2Headers.serverHeaders(false, STATUS_200);
    private static final AsciiString BAGGAGE = AsciiString.cached("baggage");
    /** The last baggage value and its bytes: a resolver hands one shared String per workload, so an open copies none. */
    private static volatile Object[] lastBaggage;

    private static AsciiString ascii(String baggage) {
        Object[] last = lastBaggage;
        if (last != null && last[0] == baggage) {
            return (AsciiString) last[1];
        }
        AsciiString a = new AsciiString(baggage);
        lastBaggage = new Object[] {baggage, a};
        return a;
    }

    /** What the peer sent and the upstream took is no longer unread: the budgets count it so. */
    @Override
    public void windowReturned() {
        conn.countInbound();
    }

    InboundTunnel(ServerConnection conn, Http2StreamChannel ch) {
        this.conn = conn;
        this.ch = ch;
    }

    // Looked up through the connection rather than kept: two fields were 8 bytes of every open
    // inbound tunnel (issue 14, benchmarks/results/tunmem-*.md).
    private HboneListener server() {
        return conn.server();
    }

    private ServerConfig cfg() {
        return conn.server().cfg;
    }

    @Override
    public void onHeaders(ChannelHandlerContext ctx, Http2Headers headers, boolean endStream) {
        InetSocketAddress dst = validate(headers, endStream);
        if (dst == null || peerExpired()) {
            return;
        }
        Destination d = resolve(dst);
        if (d == null || !authorize(dst, d)) {
            return;
        }
        deliver(d);
    }

    /** Phase 1: a well-formed HBONE CONNECT for an ip:port, or null once refused. Sets {@link #info}. */
    private InetSocketAddress validate(Http2Headers headers, boolean endStream) {
        long headerListSize = H2Codecs.headerListSize(headers);
        if (headerListSize > cfg().h2().maxHeaderListSize()) {
            // Checked before anything reads the headers. The server's HPACK decoder has the same limit and answers such a
            // list with 431 itself before a tunnel sees it (H2Codecs.server); this stays for any list that reaches here.
            info = withoutTarget(Map.of());
            refuse(431, "request header list of " + headerListSize + " bytes exceeds " + cfg().h2().maxHeaderListSize());
            return null;
        }
        Map<String, String> plain = Headers.plain(headers, TunnelSet.of(ch).headers());
        CharSequence method = headers.method();
        if (method == null || !"CONNECT".contentEquals(method)) {
            info = withoutTarget(plain);
            CharSequence path = headers.path();
            if (method == null || headers.scheme() == null || path == null || path.length() == 0
                    || headers.get(Http2Headers.PseudoHeaderName.PROTOCOL.value()) != null) {
                // RFC 9113 section 8.3.1: every request has :method, and one that is not CONNECT has :scheme and a
                // non-empty :path; :protocol belongs to an extended CONNECT only (hyperium/h2 server.rs
                // convert_poll_message: "missing method", "missing scheme", "missing path", ":protocol on non-CONNECT").
                refuseMalformed("method " + method + " is not CONNECT (a malformed request, RFC 9113 section 8.3.1)");
            } else {
                refuse(400, "method " + method + " is not CONNECT");
            }
            return null;
        }
        if (headers.path() != null || headers.scheme() != null || headers.get(Http2Headers.PseudoHeaderName.PROTOCOL.value()) != null) {
            // RFC 9113 section 8.5: a CONNECT without :scheme and :path; :protocol is an extended CONNECT (RFC 8441), which
            // zerohop never enables (no SETTINGS_ENABLE_CONNECT_PROTOCOL), so it is malformed too, as h2's recv.rs has it.
            info = withoutTarget(plain);
            refuseMalformed("extended CONNECT (:scheme/:path/:protocol) is not HBONE");
            return null;
        }
        InetSocketAddress dst = TunnelSet.of(ch).destination(headers.authority());
        String hostname = dst == null ? Authority.hostname(headers.authority()) : null;
        if (hostname != null) {
            dst = byHostname(hostname, Authority.port(headers.authority()));
            if (dst == null) {
                info = withoutTarget(plain);
                // ztunnel (src/proxy/inbound.rs find_inbound_upstream): a service hostname that names nothing served, or
                // a service port its Service lacks, is SERVICE_UNAVAILABLE (NoHostname, NoPortForServices).
                String why = hostnameRefusal(hostname, Authority.port(headers.authority()));
                refuse(503, why != null ? why : "no service named " + hostname + " with port " + Authority.port(headers.authority())
                        + " is served here");
                return null;
            }
        }
        if (dst == null) {
            info = withoutTarget(plain);
            if (headers.authority() == null) {
                // Logged as 'malformed :authority "null"' until 5 December (a new-user pass), a host header beside it or not.
                refuseMalformed("no :authority (a CONNECT names its target there, RFC 9113 section 8.5"
                        + (headers.contains("host") ? "; a host header does not" : "") + ")");
            } else {
                refuseOddAuthority(headers.authority());
            }
            return null;
        }
        // A name's host:port stays beside the address it resolved to: ztunnel's telemetry names the Service and prints
        // the name as dst.hbone_addr for it (the authorization and the dial see the address only).
        info = new TunnelInfo(TunnelInfo.Direction.INBOUND, conn.localId, conn.peerId, conn.local, conn.peer, dst, plain, codec.startNanos(),
                hostname == null ? null : hostname + ":" + Authority.port(headers.authority()));
        if (endStream) {
            refuse(400, "CONNECT request ended the stream");
            return null;
        }
        return dst;
    }

    /**
     * A CONNECT on a connection whose client certificate has expired since the handshake is refused
     * with 401, the status ztunnel gives a peer it does not admit (src/proxy/inbound.rs, the RBAC
     * check), and the connection gets GOAWAY so the client opens the next tunnel on a new one,
     * presenting its current SVID. ztunnel itself checks the certificate only at the handshake and
     * never again, as Envoy (envoyproxy/envoy#17999); zerohop authorizes no new stream for an
     * identity whose certificate is no longer valid. Open tunnels are not touched.
     */
    private boolean peerExpired() {
        long notAfter = conn.peerNotAfter;
        long now = System.currentTimeMillis();
        if (now < notAfter) {
            return false;
        }
        refuse(401, "the client certificate of this connection expired at " + java.time.Instant.ofEpochMilli(notAfter)
                + ": open the tunnel on a new connection");
        conn.goAway();
        return true;
    }

    /**
     * An authority that is neither {@code ip:port} nor a DNS name with a port, refused with what ztunnel answers it
     * (istio/ztunnel src/proxy.rs {@code HboneAddress::try_from}, src/proxy/inbound.rs {@code build_inbound_request}):
     * one hyper's {@code http::uri::Authority} refuses is reset by h2 as malformed (PROTOCOL_ERROR, after our 400); one
     * without a {@code u16} port is 400 ({@code NoValidAuthority}); an IP Rust parses (a port 0, a numeric zone) keeps
     * the address path's 400; any other host is a name ztunnel looks up among Services, so it is asked of the resolver
     * as one and, finding none (a trailing dot, an underscore, a leading-zero IPv4, an empty host ...), refused 503 as
     * ztunnel's {@code NoHostname} / {@code NoPortForServices}. Until 7 December all of these were 400. Never served
     * when ztunnel would serve them either: userinfo ({@code u@name:80}, which ztunnel drops) and a signed port
     * ({@code name:+80}) stay 400, as RFC 9110's authority-form has neither.
     */
    private void refuseOddAuthority(CharSequence authority) {
        String bad = Authority.malformedForHttp(authority);
        if (bad != null) {
            refuseMalformed("malformed :authority \"" + authority + "\": " + bad + " (h2 resets such a stream as malformed)");
            return;
        }
        String host = Authority.looseHost(authority);
        String a = authority.toString();
        if (host == null || Authority.rustIp(host) || a.indexOf('@') >= 0 || a.charAt(a.lastIndexOf(':') + 1) == '+') {
            refuse(400, "malformed :authority \"" + authority + "\" (want ip:port, IPv6 in brackets, or host:port)");
            return;
        }
        int port = Authority.loosePort(authority);
        if (byHostname(host, port) != null) {
            // A resolver that serves a name no DNS name check admits: still refused (the decision is zerohop's).
            refuse(400, "malformed :authority \"" + authority + "\" (not a DNS name)");
            return;
        }
        String why = hostnameRefusal(host, port);
        refuse(503, why != null ? why : "no service named " + host + " with port " + port + " is served here");
    }

    /** The address the resolver gives a host-name authority, or null (also when it throws: logged, then the 503). */
    private InetSocketAddress byHostname(String hostname, int port) {
        try {
            return cfg().destinations().resolveHostname(hostname, port, conn.localId, conn.local);
        } catch (RuntimeException e) {
            log.warn("destination resolver failed for host name {}:{}", hostname, port, e);
            return null;
        }
    }

    /** The resolver's reason for refusing a host name, or null (also when it throws: the server's reason then). */
    private String hostnameRefusal(String hostname, int port) {
        try {
            return cfg().destinations().hostnameRefusal(hostname, port, conn.localId, conn.local);
        } catch (RuntimeException e) {
            log.warn("destination resolver failed explaining host name {}:{}", hostname, port, e);
            return null;
        }
    }

    /** The tunnel of a CONNECT refused before its target was known. */
    private TunnelInfo withoutTarget(Map<String, String> plain) {
        return new TunnelInfo(TunnelInfo.Direction.INBOUND, conn.localId, conn.peerId, conn.local, conn.peer, null, plain, codec.startNanos());
    }

    /** Phase 2: how {@code dst} is served (proxy or embedded), or null once refused (400 when not served). */
    private Destination resolve(InetSocketAddress dst) {
        Destination d;
        try {
            d = cfg().destinations().resolve(dst, conn.localId, conn.local);
        } catch (RuntimeException e) {
            log.warn("destination resolver failed for {}", Authority.text(dst), e);
            refuse(503, "destination resolver failed: " + e);
            return null;
        }
        if (d == null) {
            d = Destination.notServed();
        }
        if (d instanceof Destination.Refused r) {
            refuse(r.status(), r.reason());
            return null;
        }
        return d;
    }

    /** Phase 3: the authorizer's decision for a served destination; false once refused (401 unless it says otherwise). */
    private boolean authorize(InetSocketAddress dst, Destination d) {
        AuthzDecision decision;
        try {
            decision = cfg().authorizer().authorize(new AuthzRequest(conn.peerId, conn.peer, conn.localId, dst, info.headers()), d);
        } catch (RuntimeException e) {
            log.warn("authorizer failed for {} -> {}, denying", conn.peerId, Authority.text(dst), e);
            decision = AuthzDecision.deny("authorizer failed: " + e);
        }
        if (decision == null || !decision.allowed()) {
            if (decision == null) {
                refuse(401, "authorizer returned null");
            } else {
                refuse(decision.status(), decision.reason(), decision);
            }
            return false;
        }
        return true;
    }

    /** Phase 4: the 200 and the bytes' way: dial and relay (proxy mode) or the application's handler. */
    private void deliver(Destination d) {
        if (d instanceof Destination.Proxy p) {
            proxy(p);
        } else if (d instanceof Destination.Embedded e) {
            embed(e.handler(), e.responseBaggage());
        }
    }

    private void proxy(Destination.Proxy p) {
        InetSocketAddress upstream = p.upstream();
        // Pending dials are bounded per connection, per peer identity and per server before any
        // socket is opened; over a limit the answer is 503, ztunnel's status for an upstream it
        // cannot reach (src/proxy/inbound.rs).
        String over = server().budgets.tryDial(conn.share, conn.pendingDials);
        if (over != null) {
            refuse(503, over);
            return;
        }
        conn.pendingDials++;
        dialPending = true;
        // Until the dial starts, the stream's end gives its claim back at once, as the abandoned dial's does: a
        // CONNECT+RST flood's claims would otherwise pile up to the end of the loop's tasks, fill the limits, and
        // answer later CONNECTs with 503 (answered, so their resets no longer counted against the reset budget).
        abandon = x -> releaseDial();
        ch.closeFuture().addListener(abandon);
        // In a task of the loop, after the batch of epoll events this CONNECT came in: Netty's epoll loop finds an
        // event's channel by its file descriptor alone (EpollIoHandler.processReady), and a dial made inside the batch
        // can take the number of a connection closed earlier in it (an upstream's reset), whose own event, still in the
        // batch, then reached the new channel while it connected. Netty reads EPOLLRDHUP on a channel not yet active as
        // the end of its input (epollRdHupReady): the relay sent END_STREAM at once and never read the upstream, a clean,
        // empty answer where the upstream's bytes or reset were due (a chaos pass, helper 229: 11-16 of 600 tunnels
        // under reset churn; UpstreamResetChurnTest).
        try {
            ch.eventLoop().execute(() -> dial(p));
        } catch (java.util.concurrent.RejectedExecutionException loopGone) {
            // The server is closing: its loop takes no task, and its stream will not see a dial.
            releaseDial();
            refuse(503, "server closing: the upstream " + Authority.text(upstream) + " was not dialled");
        }
    }

    /** Dials {@code upstream} for the relay, unless the stream ended since the CONNECT was accepted. Event loop. */
    private void dial(Destination.Proxy p) {
        InetSocketAddress upstream = p.upstream();
        ch.closeFuture().removeListener(abandon);
        abandon = null;
        if (!ch.isActive() || codec.rstReceived()) {
            releaseDial();
            refuse(503, "stream ended before the upstream " + Authority.text(upstream) + " answered; dial abandoned");
            return;
        }
        // Failures too: an upstream that resets before the join resets the tunnel, as after it.
        Hold hold = new Hold(Long.MAX_VALUE, true);
        Bootstrap b = new Bootstrap()
                .group(ch.eventLoop())
                .channel(Transports.socketChannel(server().group))
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.RCVBUF_ALLOCATOR, Relay.TCP_READS)
                // Timed by the connection's dial deadlines (expire() below), not by Netty: its
                // per-channel timer stayed referenced by the channel, cancelled, for the tunnel's
                // life (a ScheduledFutureTask per open tunnel; issue 14).
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 0)
                // In the pipeline from registration until the relay joins: with auto-read off, epoll
                // still reads an upstream's bytes and FIN when the FIN comes (EPOLLRDHUP,
                // netty#3709); a server-first upstream that answers and closes at once (a refusal
                // banner) lost both at the pipeline's tail, and the tunnel hung. Bounded by the
                // socket's receive buffer: nothing more can come after the FIN. Leaves the pipeline
                // when released, so an open tunnel keeps nothing of it.
                .handler(hold);
        ChannelFuture dial = b.connect(TunnelSet.of(ch).dialAddress(upstream));
        dialing = dial.channel();
        if (dialing.isOpen()) {
            // ztunnel's inbound dials the workload through its socket factory, which sets the keepalive on every socket
            // it makes (src/proxy.rs setup_socket via freebind_connect), not only on HBONE ones.
            Transports.keepalive(dialing, cfg().keepalive());
        }
        TunnelSet.of(ch).dials(cfg().upstreamConnectTimeout().toNanos()).add(this);
        // The stream ended (reset, connection lost) before the upstream answered: abandon the dial,
        // so CONNECT+RST loops cost no upstream connections and no sockets. Dials in progress are
        // then bounded by the streams a connection admits (SETTINGS_MAX_CONCURRENT_STREAMS).
        // Removed once the dial is done: it held the dial's promise for the tunnel's life.
        abandon = x -> {
            if (!dial.isDone()) {
                releaseDial();
                dial.channel().close();
            }
        };
        ch.closeFuture().addListener(abandon);
        // A loopback connect can complete inside connect(): the answer still waits for the rest of
        // the current read, so a RST_STREAM that came with the HEADERS finds the stream unanswered
        // (and counts against the reset budget) instead of a tunnel that opened.
        dial.addListener((ChannelFuture f) -> ch.eventLoop().execute(() -> dialed(f, p, hold)));
    }

    /** Ends this stream's claim on the pending-dial limits, once: when the dial ends or is abandoned. */
    private void releaseDial() {
        if (dialPending) {
            dialPending = false;
            conn.pendingDials--;
            server().budgets.dialDone(conn.share);
        }
    }

    /**
     * The upstream connect took the server's upstream connect timeout: closing the channel fails
     * the connect, which {@link #dialed} reports as Netty's connect timeout did.
     */
    @Override
    void expire() {
        Channel c = dialing;
        if (c != null) {
            dialing = null;
            dialTimedOut = true;
            c.close();
        }
    }

    private void dialed(ChannelFuture f, Destination.Proxy p, Hold hold) {
        InetSocketAddress upstream = p.upstream();
        releaseDial();
        cancel();
        dialing = null;
        ch.closeFuture().removeListener(abandon);
        abandon = null;
        if (!f.isSuccess()) {
            String cause = dialTimedOut
                    // Netty's ConnectTimeoutException's words, as before the dial had its own timer, with the duration as
                    // the option is written (HboneListener.describe rewrites Netty's own the same way).
                    ? "connection timed out after " + LogText.duration(cfg().upstreamConnectTimeout()) + ": " + Authority.text(upstream)
                    : DialErrors.describe(f.cause());
            refuse(503, ch.isActive() && !codec.rstReceived() ? "upstream " + Authority.text(upstream) + " unreachable: " + cause
                    : "stream ended before the upstream " + Authority.text(upstream) + " answered; dial abandoned");
            return;
        }
        SocketChannel tcp = (SocketChannel) f.channel();
        // The dial address itself, not Netty's equal copy of it, for the tunnel's life (96 bytes), and
        // the local address around a shared IP address object (56 bytes; issue 14).
        Transports.shareRemoteAddress(tcp, TunnelSet.of(ch).dialAddress(upstream));
        Transports.shareLocalAddress(tcp, null);
        join(tcp, hold, p.responseBaggage());
    }

    /** Answers 200 and relays the tunnel and its dialled upstream {@code tcp}, or closes {@code tcp}. Event loop. */
    private void join(SocketChannel tcp, Hold hold, String baggage) {
        Predicate<SocketChannel> later = cfg().joinGate();
        if (later != null && ch.isActive() && later.test(tcp)) {
            ch.eventLoop().schedule(() -> join(tcp, hold, baggage), 1, TimeUnit.MILLISECONDS);
            return;
        }
        if (!ch.isActive() || codec.rstReceived()) {
            // A peer RST_STREAM closes the stream channel one task later (TunnelCodec.closeAfterReset):
            // a dial that completes in between must not answer 200, and the reset counts as pre-open.
            tcp.close();
            return;
        }
        // Dials complete in tasks of their own: the 200s of tunnels dialled together share one flush.
        accept200(baggage);
        Tunnels.flushSoon(ch);
        codec.open();
        Relay.join(Relay.tunnel(ch, new TunnelBudget(server().budgets, conn.share)), Relay.tcp(tcp));
        // What the upstream sent before (its bytes, its FIN) goes to the relay now, in order.
        hold.release();
    }

    private void embed(StreamHandler handler, String baggage) {
        accept200(baggage);
        // Inside the connection's read: Netty's multiplexer flushes every stream's writes once, at
        // the end of the read.
        ch.flush();
        try {
            handler.initStream(ch, info);
        } catch (Exception e) {
            log.warn("stream handler failed for {}, resetting the tunnel", info, e);
            Tunnels.reset(ch);
            return;
        }
        codec.open();
        if (handler.autoRead()) {
            ch.config().setAutoRead(true);
        }
    }

    private void accept200(String baggage) {
        opened = true;
        statusSent = true;
        // ztunnel's build_response: the destination workload's baggage on the 200 (refusals carry none).
        ch.write(new DefaultHttp2HeadersFrame(baggage == null ? OK
                : ReadOnlyHttp2Headers.serverHeaders(false, STATUS_200, BAGGAGE, ascii(baggage)), false));
        log.debug("HBONE tunnel opened: {}", info);
        TunnelEvents.opened(cfg().events(), info, codec);
    }

    private void refuse(int status, String reason) {
        refuse(status, reason, null, Http2Error.NO_ERROR);
    }

    private void refuse(int status, String reason, AuthzDecision denial) {
        refuse(status, reason, denial, Http2Error.NO_ERROR);
    }

    /**
     * A malformed request (RFC 9113 section 8.1.1): a stream error PROTOCOL_ERROR, as hyperium/h2 (ztunnel's) resets
     * it (src/server.rs {@code convert_poll_message}, its {@code malformed!}). The 400 before the reset stays, as the
     * section allows ("a server MAY send an HTTP response prior to closing or resetting the stream"): it tells the
     * client's user why. Until 6 December the reset after the 400 was NO_ERROR, which says the request was fine.
     */
    private void refuseMalformed(String reason) {
        refuse(400, reason, null, Http2Error.PROTOCOL_ERROR);
    }

    /**
     * {@code denial}: the authorizer's decision when it refused (its listeners get all of it), else null.
     * {@code reset}: the RST_STREAM after the status, NO_ERROR for a well-formed request (RFC 9113 section 8.1: the
     * server needs no more of it), PROTOCOL_ERROR for a malformed one (section 8.1.1).
     */
    private void refuse(int status, String reason, AuthzDecision denial, Http2Error reset) {
        if (cfg().events().logsRefusals()) {
            // The listener's line (mesh-core's access log) already names both identities, the status
            // and the reason: this one at INFO made a refusal two lines.
            if (log.isDebugEnabled()) {
                log.debug("HBONE CONNECT refused: status={} peer={} local={} src={} dst={} reason={}",
                        status, conn.peerId, conn.localId, Authority.text(conn.peer), Authority.text(info.destination()), LogText.quoted(reason));
            }
        } else {
            long n = server().refusalLog.admit();
            if (n >= 0) {
                // The reason is an authorizer's or a resolver's text: quoted and escaped, so that a CR or LF in it cannot
                // end this line and forge another (a new-user pass: "slow down\r\nX-Injected: 1" made it two lines).
                log.info("HBONE CONNECT refused: status={} peer={} local={} src={} dst={} reason={}{}",
                        status, conn.peerId, conn.localId, Authority.text(conn.peer), Authority.text(info.destination()), LogText.quoted(reason),
                        LogBudget.note(n));
            }
        }
        if (denial != null) {
            TunnelEvents.denied(cfg().events(), info, denial);
        } else {
            TunnelEvents.refused(cfg().events(), info, status, reason);
        }
        if (!ch.isActive() || codec.rstReceived()) {
            return;
        }
        if (reset == Http2Error.PROTOCOL_ERROR && !H2Codecs.localErrorReset(ch.parent())) {
            // Past the connection's 1,024 resets for the peer's errors (h2 counts a malformed request's): it has gone
            // away with GOAWAY ENHANCE_YOUR_CALM instead, this stream with it.
            return;
        }
        statusSent = true;
        ch.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status(Integer.toString(status)), true));
        ch.writeAndFlush(new DefaultHttp2ResetFrame(reset));
    }

    @Override
    public void onClosed(TunnelCodec c) {
        conn.tunnelClosed();
        // A stream the peer reset before we answered it freed its MAX_CONCURRENT_STREAMS slot at
        // once, having cost us a stream and a dial: that is what the reset budget counts. Resets of
        // answered tunnels are bounded by the streams the connection admits (the peer waited for
        // the 200), as pooled clients that close tunnels by reset need.
        if (c.rstReceived() && !statusSent) {
            conn.preOpenReset();
        }
        if (opened && !closedReported) {
            closedReported = true;
            // Nothing is built for nobody: the debug line's four arguments were an array and two
            // boxed longs per tunnel with DEBUG off (issue 14).
            boolean debug = log.isDebugEnabled();
            if (debug || cfg().events() != HboneEvents.NONE) {
                TunnelResult r = TunnelEvents.result(info, c);
                if (debug) {
                    log.debug("HBONE tunnel closed: {} in={} out={} {}", info, r.bytesReceived(), r.bytesSent(), r.reset() ? "reset" : "");
                }
                TunnelEvents.closed(cfg().events(), r);
            }
        }
    }
}
