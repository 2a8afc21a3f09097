package io.zerohop.core.internal.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The application's side of an {@link H2Proxy}: its h2c connection, dialled for the first allowed request, and a new
 * one for the next request once that one failed, as Envoy's connection pool opens a new upstream
 * connection after one failed while the downstream connection goes on (envoyproxy/envoy
 * {@code source/common/http/codec_client.cc} {@code CodecClient::onEvent}: the failed connection's requests are
 * reset, with {@code ProtocolError} after a protocol error, {@code ConnectionTermination} otherwise). The requests
 * that connection ends are answered by {@link H2Proxy} (503 before their response started). A clean end of the
 * application's connection drains the downstream one ({@link H2ConnectionEnds.Drain#upstreamEnded}). Until 2 December
 * plaintext inbound had no dialer (its one connection was dialled at accept), and a failure there ended the downstream
 * connection. All on the downstream connection's event loop.
 */
final class H2AppConnection {
    private final Supplier<Future<Channel>> dialer;
    private final H2ConnectionEnds.Drain drain;
    private Channel current;
    /** A connection being dialled for the requests that came after the last one failed, or null. */
    private Future<Channel> dialing;
    private boolean closed;

    /**
     * @param dialer a new connection to the application, connected on this event loop, called for the first request (as
     *               Envoy's router asks its pool for a connection only for a request RBAC let through, so an application
     *               that is down never hides a denial, and its allowed requests get 503 with {@code UF} while the
     *               downstream connection goes on) and after a connection failed
     */
    H2AppConnection(Supplier<Future<Channel>> dialer, H2ConnectionEnds.Drain drain) {
        this.dialer = java.util.Objects.requireNonNull(dialer, "dialer");
        this.drain = drain;
    }

    @SuppressWarnings("deprecation")
    private void attach(Channel ch) {
        current = ch;
        ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().autoAckSettingsFrame(true).build(),
                new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()), new H2ConnectionEnds.ConnectionEnd(reset -> ended(ch, reset)));
        ch.config().setAutoRead(true);
    }

    private void ended(Channel ch, boolean reset) {
        if (ch != current) {
            return;
        }
        if (reset && !closed) {
            // The downstream connection goes on; the next request dials a new connection.
            current = null;
            return;
        }
        drain.upstreamEnded(reset);
    }

    /** A stream on the current connection (dialling one first when the last one failed) for one request. */
    void openStream(ChannelHandler handler, Promise<Http2StreamChannel> opened) {
        if (current != null) {
            new Http2StreamChannelBootstrap(current).handler(handler).open(opened);
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
            if (f.isSuccess() && current != null) {
                new Http2StreamChannelBootstrap(current).handler(handler).open(opened);
            } else {
                opened.tryFailure(f.cause() != null ? f.cause() : new java.nio.channels.ClosedChannelException());
            }
        });
    }

    /** The downstream connection ended: so does the application's. */
    void close() {
        closed = true;
        if (current != null) {
            current.close();
        }
    }

    /** Consumer form of {@link #close}, for {@link H2ConnectionEnds.ConnectionEnd}. */
    Consumer<Boolean> closer() {
        return reset -> close();
    }
}
