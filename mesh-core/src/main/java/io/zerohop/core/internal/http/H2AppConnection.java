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
 * The application's side of an {@link H2Proxy}: its h2c connection and, where the application is dialled (the node
 * proxy), a new one for the next request once that one failed, as Envoy's connection pool opens a new upstream
 * connection after one failed while the downstream connection goes on (envoyproxy/envoy
 * {@code source/common/http/codec_client.cc} {@code CodecClient::onEvent}: the failed connection's requests are
 * reset, with {@code ProtocolError} after a protocol error, {@code ConnectionTermination} otherwise). The requests
 * that connection ends are answered by {@link H2Proxy} (503 before their response started). Without a dialer
 * (plaintext inbound, whose application connection is the accepted one's relay), a failure ends the downstream
 * connection as a clean end does not: {@link H2ConnectionEnds.Drain#upstreamEnded} with {@code reset}.
 * All on the downstream connection's event loop.
 */
final class H2AppConnection {
    private final Supplier<Future<Channel>> dialer;
    private final H2ConnectionEnds.Drain drain;
    private Channel current;
    /** A connection being dialled for the requests that came after the last one failed, or null. */
    private Future<Channel> dialing;
    private boolean closed;

    /**
     * @param first  the application's connection, or null to dial it for the first request (the node proxy: as Envoy's
     *               router asks its pool for a connection only for a request RBAC let through, so an application that is
     *               down never hides a denial, and its allowed requests get 503 with {@code UF} while the tunnel goes on)
     * @param dialer a new connection to the application, connected on this event loop, or null for none
     */
    H2AppConnection(Channel first, Supplier<Future<Channel>> dialer, H2ConnectionEnds.Drain drain) {
        if (first == null && dialer == null) {
            throw new IllegalArgumentException("no connection and no dialer");
        }
        this.dialer = dialer;
        this.drain = drain;
        if (first != null) {
            attach(first);
        }
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
        if (reset && dialer != null && !closed) {
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
        if (closed || dialer == null) {
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
