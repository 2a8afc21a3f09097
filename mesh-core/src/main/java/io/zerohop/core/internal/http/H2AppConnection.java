package io.zerohop.core.internal.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The application's side of an {@link H2Proxy}: its h2c connections, as Envoy's HTTP/2 connection pool keeps them for
 * a cluster (envoyproxy/envoy {@code source/common/conn_pool/conn_pool_base.cc}, {@code source/common/http/conn_pool_base.cc},
 * {@code source/common/http/codec_client.cc}), here one pool per downstream connection:
 * <ul>
 * <li>the first allowed request dials a connection, and every request goes on it while it takes new streams;</li>
 * <li>a connection with as many streams open as the application's {@code SETTINGS_MAX_CONCURRENT_STREAMS} allows is
 * busy: a request that finds every connection busy dials another one, as Envoy's pool takes the peer's limit for a
 * client's capacity ({@code MultiplexedActiveClientBase::onSettings}: {@code concurrent_stream_limit_}, the client
 * {@code Busy} once its streams reach it) and creates a connection for a stream no ready client can take
 * ({@code ConnPoolImplBase::newStreamImpl}, {@code tryCreateNewConnections}); until 6 December every request went on
 * the one connection and one over the application's limit was answered 503 {@code connection termination} (Netty's
 * codec refused to open it). A connection dialled for requests that came while none could take them gets them all, its
 * limit still unknown (as Envoy's note on {@code onSettings} says, the application may then refuse some): Envoy's pool
 * does not wait for the application's SETTINGS either ({@code ConnPoolImplBase::onConnectionEvent}: ready at
 * {@code Connected}, {@code onUpstreamReady} attaching the pending streams) and its codec assumes no limit until they
 * come (http2/codec_impl.cc {@code ClientHttp2Options}), so a stream so refused gets the same 503 {@code UR};</li>
 * <li>a connection that fails (a reset, an HTTP/2 connection error) or ends (the application's FIN) is dropped: its
 * requests are reset ({@code CodecClient::onEvent}: {@code ProtocolError} after a protocol error,
 * {@code ConnectionTermination} otherwise) and answered by {@link H2Proxy} (503, or 502, before their response
 * started), and the next request dials a new connection;</li>
 * <li>a connection whose application sent GOAWAY (a gRPC server's {@code MAX_CONNECTION_AGE}, a server shutting down,
 * nghttpx's reload) is draining ({@code MultiplexedActiveClientBase::onGoAway}): it takes no new stream, its open
 * streams finish (those above the GOAWAY's last-stream-id are refused by the codec, and {@link H2Proxy} answers them as
 * Envoy's router answers a {@code RemoteRefusedStreamReset}), it is closed once none is left
 * ({@code ConnPoolImplBase::onStreamClosed}), and the next request dials a new connection;</li>
 * <li>a connection without a stream for the cluster's idle timeout is closed ({@link #idleTimedOut}).</li>
 * </ul>
 * None of these ends the downstream connection, which goes on as Envoy's connection manager does whatever its pool's
 * connections do. Until 6 December a clean end or a GOAWAY of the application's connection drained the downstream
 * connection (its GOAWAY, then its end), and a client's next request on it failed (Node's
 * {@code ERR_HTTP2_GOAWAY_SESSION}); a stream the application's GOAWAY refused got 503 {@code connection termination}.
 * The connections are closed with no GOAWAY ({@link #close}). All on the downstream connection's event loop.
 */
final class H2AppConnection {
    private final Supplier<Future<Channel>> dialer;
    /** Every connection still open (those that take new streams and the draining ones) with its streams still open. */
    private final Map<Channel, int[]> open = new LinkedHashMap<>();
    /** The open connections whose application sent GOAWAY: they take no new stream. */
    private final java.util.Set<Channel> draining = new java.util.HashSet<>();
    /** A connection being dialled for the requests that came after the last one failed, ended or drained, or null. */
    private Future<Channel> dialing;
    private boolean closed;
    /** How long a connection may be without a stream before it is closed ({@link #idleTimedOut}); 0: never. */
    private final long idleMillis;
    /** The open connections without a stream, each with the timer that closes it. */
    private final Map<Channel, io.netty.util.concurrent.ScheduledFuture<?>> idle = new java.util.HashMap<>();

    /**
     * @param dialer a new connection to the application, connected on this event loop, called for the first request (as
     *               Envoy's router asks its pool for a connection only for a request RBAC let through, so an application
     *               that is down never hides a denial, and its allowed requests get 503 with {@code UF} (after retries {@code URX,UF}) while the
     *               downstream connection goes on) and whenever no connection takes new streams
     */
    H2AppConnection(Supplier<Future<Channel>> dialer) {
        this(dialer, HttpEnforcement.APPLICATION_IDLE_TIMEOUT_MILLIS);
    }

    /** @param idleMillis how long a connection may be without a stream before it is closed; 0: never */
    H2AppConnection(Supplier<Future<Channel>> dialer, long idleMillis) {
        this.dialer = java.util.Objects.requireNonNull(dialer, "dialer");
        this.idleMillis = idleMillis;
    }

    /**
     * The client codec closes a connection with no GOAWAY ({@code decoupleCloseAndGoAway}; Netty's default sends one
     * and then waits up to 30 s for the streams still open), as Envoy's pool closes an upstream connection
     * (codec_client.h {@code CodecClient::close}: the connection's close with {@code NoFlush}, "immediate and will not
     * attempt to flush any pending write data"; no pool code calls the codec's {@code goAway}).
     */
    @SuppressWarnings("deprecation")
    private void attach(Channel ch) {
        open.put(ch, new int[1]);
        io.netty.handler.codec.http2.Http2FrameCodec codec = Http2FrameCodecBuilder.forClient().autoAckSettingsFrame(true)
                .decoupleCloseAndGoAway(true).build();
        ch.pipeline().addLast(codec, new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()), new GoAwayWatch(),
                new H2ConnectionEnds.ConnectionEnd(reset -> ended(ch)));
        // The responses' side of the client connection's window (H2Proxy.CONNECTION_WINDOW, given back every
        // CONNECTION_UPDATE): a response whose client does not read it stops being read here, and its DATA, unread, would
        // fill Netty's 64 KiB connection window and stop every other response on this connection for good
        // (L7Http2FlowControlTest). Envoy's upstream codec opens its connection window to 256 MiB
        // (protocol.proto Http2ProtocolOptions initial_connection_window_size); 1 MiB bounds what one application
        // connection can make zerohop hold, as on the client's side.
        ch.writeAndFlush(new io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame(H2Proxy.CONNECTION_WINDOW - 65_535));
        H2Proxy.givenBackEvery(codec.connection(), H2Proxy.CONNECTION_UPDATE);
        ch.config().setAutoRead(true);
    }

    /** The connection closed, however: new streams go on another one. */
    private void ended(Channel ch) {
        open.remove(ch);
        draining.remove(ch);
        cancelIdle(ch);
    }

    /**
     * Starts {@code ch}'s idle time, its last stream done: Envoy's codec client enables its idle timer when it has no
     * request left and disables it at a new stream (envoyproxy/envoy {@code source/common/http/codec_client.h}
     * {@code enableIdleTimer}, {@code disableIdleTimer}).
     */
    private void armIdle(Channel ch) {
        if (idleMillis <= 0 || closed || !ch.isActive() || !open.containsKey(ch) || idle.containsKey(ch)) {
            return;
        }
        idle.put(ch, ch.eventLoop().schedule(() -> idleTimedOut(ch), idleMillis, java.util.concurrent.TimeUnit.MILLISECONDS));
    }

    private void cancelIdle(Channel ch) {
        io.netty.util.concurrent.ScheduledFuture<?> t = idle.remove(ch);
        if (t != null) {
            t.cancel(false);
        }
    }

    /**
     * {@code ch} had no stream for {@link #idleMillis}: closed, with no GOAWAY (see {@link #attach}), as Envoy's codec
     * client closes an upstream connection at the cluster's {@code idle_timeout} ({@code codec_client.h}
     * {@code onIdleTimeout}: {@code close()}), 1 h when unset ({@code HttpEnforcement.APPLICATION_IDLE_TIMEOUT_MILLIS}).
     * The next request dials another. Until 7 December one left without streams stayed open until the downstream
     * connection ended, however long that connection stayed busy on another.
     */
    private void idleTimedOut(Channel ch) {
        idle.remove(ch);
        int[] streams = open.get(ch);
        if (streams != null && streams[0] == 0 && ch.isActive()) {
            ch.close();
        }
    }

    /**
     * The application sent GOAWAY on {@code ch} (the final one or a shutdown notice naming stream 2^31-1: Envoy's codec
     * raises the first GOAWAY of either kind, codec_impl.cc {@code onGoAway}): no new stream goes on it, and it is closed
     * once its open streams are done, at once when there is none. Netty's codec closes the streams above its
     * last-stream-id right after this.
     */
    private void goAwayReceived(Channel ch) {
        if (open.containsKey(ch)) {
            draining.add(ch);
        }
        int[] streams = open.get(ch);
        if (streams != null && streams[0] == 0) {
            ch.close();
        }
    }

    /**
     * The first open connection that is not draining and has fewer streams open than the application lets it have
     * (its {@code SETTINGS_MAX_CONCURRENT_STREAMS}; unlimited until its SETTINGS came, as in Netty's codec), or null.
     */
    private Channel ready() {
        for (Map.Entry<Channel, int[]> e : open.entrySet()) {
            Channel ch = e.getKey();
            if (!draining.contains(ch) && ch.isActive() && e.getValue()[0] < limit(ch)) {
                return ch;
            }
        }
        return null;
    }

    /** The streams {@code ch}'s application lets this side have open at once, as Netty's codec counts them. */
    private static int limit(Channel ch) {
        io.netty.handler.codec.http2.Http2FrameCodec codec = ch.pipeline().get(io.netty.handler.codec.http2.Http2FrameCodec.class);
        return codec == null ? 0 : codec.connection().local().maxActiveStreams();
    }

    /** A stream on a connection that takes it (dialling one first when there is none) for one request. */
    void openStream(ChannelHandler handler, Promise<Http2StreamChannel> opened) {
        Channel ready = ready();
        if (ready != null) {
            open(ready, handler, opened);
            return;
        }
        if (closed) {
            opened.setFailure(new java.nio.channels.ClosedChannelException());
            return;
        }
        Future<Channel> d = dialing;
        if (d == null) {
            d = dialing = dialer.get();
            d.addListener(f -> {
                dialing = null;
                if (f.isSuccess()) {
                    Channel ch = (Channel) f.getNow();
                    if (closed) {
                        ch.close();
                    } else {
                        attach(ch);
                    }
                }
            });
        }
        d.addListener(f -> {
            Channel ch = f.isSuccess() ? (Channel) f.getNow() : null;
            if (ch != null && open.containsKey(ch) && !draining.contains(ch)) {
                open(ch, handler, opened);
            } else {
                opened.tryFailure(f.cause() != null ? f.cause() : new java.nio.channels.ClosedChannelException());
            }
        });
    }

    /** A stream on {@code ch}, counted while it is open: a draining connection is closed when its last one closes. */
    private void open(Channel ch, ChannelHandler handler, Promise<Http2StreamChannel> opened) {
        int[] streams = open.get(ch);
        streams[0]++;
        cancelIdle(ch);
        Promise<Http2StreamChannel> stream = ch.eventLoop().newPromise();
        stream.addListener(f -> {
            if (!f.isSuccess()) {
                closedOne(ch, streams);
                opened.tryFailure(f.cause());
                return;
            }
            Http2StreamChannel s = (Http2StreamChannel) f.getNow();
            s.closeFuture().addListener(c -> closedOne(ch, streams));
            opened.trySuccess(s);
        });
        new Http2StreamChannelBootstrap(ch).handler(handler).open(stream);
    }

    private void closedOne(Channel ch, int[] streams) {
        if (--streams[0] != 0) {
            return;
        }
        if (!(draining.contains(ch) || limit(ch) == 0) || !ch.isActive()) {
            armIdle(ch);
        } else {
            // Draining (ConnPoolImplBase::onStreamClosed: a draining client with no stream left is closed). One whose
            // application allows no stream at all is of no use either: closed, so that an application answering every
            // connection with SETTINGS_MAX_CONCURRENT_STREAMS 0 leaves no idle connection behind each request (Envoy's
            // bound there is the cluster's max_connections and the idle timeout; here the pool is one downstream's).
            ch.close();
        }
    }

    /**
     * The downstream connection ended: so do the application's connections, with no GOAWAY (see {@link #attach}), each
     * after its streams still open are reset ({@link #closeResettingStreams}), as Envoy's router resets the upstream
     * requests of a downstream connection that closed (this runs before the downstream streams learn of the close).
     */
    void close() {
        closed = true;
        for (Channel ch : java.util.List.copyOf(idle.keySet())) {
            cancelIdle(ch);
        }
        for (Channel ch : java.util.List.copyOf(open.keySet())) {
            closeResettingStreams(ch);
        }
    }

    /**
     * Closes {@code ch}, an application connection, after resetting each stream still open on it with Envoy's local reset
     * code ({@link H2Proxy#UPSTREAM_LOCAL_RESET}), as Envoy's router resets the upstream requests of a downstream
     * connection that closed (its pool keeps the connection; zerohop's, per client connection, closes it). Without the
     * resets the application read its streams ended by the connection's close (Node: CANCEL). Any other channel (an
     * HTTP/1 application's socket) is just closed.
     */
    static void closeResettingStreams(Channel ch) {
        io.netty.handler.codec.http2.Http2FrameCodec codec = ch.pipeline().get(io.netty.handler.codec.http2.Http2FrameCodec.class);
        io.netty.channel.ChannelHandlerContext ctx = codec == null ? null : ch.pipeline().context(codec);
        if (ctx != null && ch.isActive()) {
            try {
                codec.connection().forEachActiveStream(s -> {
                    if (s.id() != 0) {
                        codec.resetStream(ctx, s.id(), H2Proxy.UPSTREAM_LOCAL_RESET.code(), ctx.newPromise());
                    }
                    return true;
                });
            } catch (io.netty.handler.codec.http2.Http2Exception e) {
                // only a visitor's own exception: none is thrown
            }
            ctx.flush();
        }
        ch.close();
    }

    /** The downstream connection ended ({@link #close}): what ends the application's streams from then on is its doing. */
    boolean closed() {
        return closed;
    }

    /** Consumer form of {@link #close}, for {@link H2ConnectionEnds.ConnectionEnd}. */
    Consumer<Boolean> closer() {
        return reset -> close();
    }

    /** Takes the application's GOAWAY, after the multiplexer told the streams it refused. */
    private final class GoAwayWatch extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2GoAwayFrame g) {
                g.release();
                goAwayReceived(ctx.channel());
                return;
            }
            ctx.fireChannelRead(msg);
        }
    }
}
