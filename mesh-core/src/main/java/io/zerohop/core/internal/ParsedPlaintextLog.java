package io.zerohop.core.internal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufHolder;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.zerohop.core.internal.http.HttpEnforcement;
import io.zerohop.hbone.internal.Relay;
import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * The connection-level access line of a plaintext-inbound connection that {@code HttpEnforcement.plaintext} parses
 * (or sniffs, then relays as bytes): ztunnel logs one line per plaintext passthrough connection whatever happens on it
 * (istio/ztunnel src/proxy/inbound_passthrough.rs, {@code ConnectionResult::record}), and a waypoint one per request;
 * zerohop's per-request lines are the waypoint's, this is ztunnel's. Until 2 December such a connection had none, so one
 * denied after the sniff or cut by a policy change or the drain left no access line at all.
 *
 * <p>Sits in the client connection's pipeline after the capture's hold and before the sniffer or decoder: counts the
 * bytes read from the client and written to it (as encoded; a request's body counts with its framing), and, when the
 * client connection closes, writes the line ({@link TunnelObserver#plainLine}) with the error of an end zerohop
 * chose: {@code connection closed due to policy change} (a policy change, {@link LivePlaintext#DENIED_BY_POLICY} on the
 * client connection), {@code connection failed: CAUSE} for an {@code auto} port's bytes relayed after the sniff whose dial
 * failed ({@link HttpEnforcement#DIAL_FAILED}, flag {@code CONNECT}), ztunnel's rejection for a denial after the sniff ({@link HttpEnforcement#DENIED_UNPARSED}, with
 * zerohop's explanation as {@code reason} in zerohop's format), or {@code connection closed due to connection drain} when
 * the drain reset it ({@link TunnelCount#cutByDrain}: exact; until 2 December any close past the deadline or while the
 * event loop stopped, without an I/O error, was taken for the drain's).
 * The same ends count in ztunnel's metrics, as a relayed connection's ({@link TunnelObserver#plain}): opened at the join,
 * closed (with {@code DENY}, {@code CONNECT} for the drain, else {@code -}) and its bytes at the close; until 2 December
 * only a denial counted. One instance per connection, on its event loop only.
 */
final class ParsedPlaintextLog extends ChannelDuplexHandler {
    private final long startNanos = System.nanoTime();
    private long read;
    private long written;
    /** An I/O error on the client connection (its reset): {@code end=reset} in zerohop's format (the drain is told apart exactly). */
    private boolean ioError;

    private ParsedPlaintextLog() {}

    static Relay.End wrap(TunnelObserver observer, Relay.End end, InetSocketAddress src, InetSocketAddress dst, Object dstId) {
        long openedNanos = System.nanoTime();
        java.util.concurrent.atomic.AtomicBoolean reported = new java.util.concurrent.atomic.AtomicBoolean();
        return new Relay.ForwardingEnd(end) {
            /**
             * Reset before the join (the client was gone once it was admitted: CaptureListener): nothing was parsed, so
             * it ends here as a relay reset then does ({@link TunnelObserver#plain}): counted and its one line.
             */
            @Override
            public void reset() {
                end.reset();
                if (reported.compareAndSet(false, true)) {
                    Relay.Stats s = new Relay.Stats(0, 0, Duration.ofNanos(System.nanoTime() - openedNanos), true);
                    String closedBy = observer.drained(s) ? ZtunnelAccessLog.CLOSED_FROM_DRAIN : null;
                    TrafficLabels labels = observer.plainOpened(true, src, dst);
                    observer.plainEnded(labels, s, closedBy != null ? "CONNECT" : TrafficLabels.NO_FLAGS);
                    observer.plainLine("plaintext-inbound", true, src, dst, dstId, s, closedBy, null, labels);
                }
            }

            @Override
            public Relay.Throttle throttle() {
                return end.throttle();
            }

            @Override
            public void ended(Relay.Stats stats) {
                end.ended(stats);
            }

            @Override
            public void joinFrom(Relay.End client) {
                reported.set(true);
                Channel ch = client.channel();
                ParsedPlaintextLog counter = new ParsedPlaintextLog();
                ch.pipeline().addLast("zerohop-plaintext-log", counter);
                // Opened here, where the close below is certain to follow: a relayed connection opens at its dial's end.
                TrafficLabels labels = observer.plainOpened(true, src, dst);
                ch.closeFuture().addListener(f -> counter.closed(observer, ch, src, dst, dstId, labels));
                end.joinFrom(client);
            }
        };
    }

    private void closed(TunnelObserver observer, Channel ch, InetSocketAddress src, InetSocketAddress dst, Object dstId,
                        TrafficLabels labels) {
        HttpEnforcement.UnparsedDenial unparsed = ch.attr(HttpEnforcement.DENIED_UNPARSED).get();
        String closedBy;
        String reason = null;
        // ztunnel's flag of each error (src/proxy/metrics.rs extract_failure_reason): both rejections are
        // AuthorizationPolicyDenied, ClosedFromDrain a ConnectionFailure; a clean end or an ignored reset none.
        String flags;
        String dialFailed = ch.attr(HttpEnforcement.DIAL_FAILED).get();
        if (LivePlaintext.deniedByPolicy(ch)) {
            closedBy = ZtunnelAccessLog.LATE_REJECTION;
            flags = "DENY";
        } else if (dialFailed != null) {
            // Relayed as bytes after its sniff, and the dial then made failed: ztunnel's Error::ConnectionFailed, as a
            // plaintext connection whose dial at accept fails (TunnelObserver.plainDialFailed).
            closedBy = "connection failed: " + dialFailed;
            reason = "upstream " + io.zerohop.core.Addresses.authority(dst) + " unreachable: " + dialFailed;
            flags = "CONNECT";
        } else if (unparsed != null) {
            closedBy = ZtunnelAccessLog.rejection(PolicyAuthorizer.rejection(unparsed.decision()), unparsed.decision().explain());
            reason = unparsed.decision().explain() + " (not parsed as HTTP: " + unparsed.why() + ")";
            flags = "DENY";
        } else if (TunnelCount.cutByDrain(ch)) {
            closedBy = ZtunnelAccessLog.CLOSED_FROM_DRAIN;
            flags = "CONNECT";
        } else {
            closedBy = null;
            flags = TrafficLabels.NO_FLAGS;
        }
        Relay.Stats s = new Relay.Stats(read, written, Duration.ofNanos(System.nanoTime() - startNanos),
                closedBy != null || ioError || HttpEnforcement.resetHere(ch));
        observer.plainEnded(labels, s, flags);
        observer.plainLine("plaintext-inbound", true, src, dst, dstId, s, closedBy, reason, labels);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        read += size(msg);
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        written += size(msg);
        ctx.write(msg, promise);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof java.io.IOException) {
            ioError = true;
        }
        ctx.fireExceptionCaught(cause);
    }

    private static long size(Object msg) {
        return msg instanceof ByteBuf b ? b.readableBytes() : msg instanceof ByteBufHolder h ? h.content().readableBytes() : 0;
    }
}
