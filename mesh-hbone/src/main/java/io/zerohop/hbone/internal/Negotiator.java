package io.zerohop.hbone.internal;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.MeshTls;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * The HBONE connection set-up both sides share (grpc-java's ProtocolNegotiator idea): mutual TLS,
 * then ALPN must be {@code h2}, then the peer's SPIFFE ID is read from its verified chain; only then
 * does the subclass add its HTTP/2 handlers ({@link #negotiated}), and frames that arrived with the
 * TLS Finished are let through from the {@link Hold} that follows this handler. Any failure closes
 * the connection after the subclass has reported it. Sits at {@link HbonePipeline#CONNECTION}.
 */
abstract class Negotiator extends ChannelInboundHandlerAdapter {
    /** What arrived before the HTTP/2 codec existed; installed right behind this handler. */
    final Hold hold = new Hold();
    private final SslHandler ssl;

    /**
     * When the peer's and this side's leaf certificates of this connection expire (epoch millis;
     * {@code Long.MAX_VALUE} until negotiated). A connection outlives its certificates, and
     * TLS checks them only at the handshake: the pool and the server compare these before a new
     * tunnel goes on the connection (CertificateExpiryTest).
     */
    volatile long peerNotAfter = Long.MAX_VALUE;
    volatile long localNotAfter = Long.MAX_VALUE;

    /** Verifies the peer again when its handshake resumed a session ({@link MeshTls#verifiedPeerIdentity}). */
    private final MeshTls tls;

    Negotiator(SslHandler ssl, MeshTls tls) {
        this.ssl = ssl;
        this.tls = tls;
    }

    /** The TLS handshake failed ({@code cause} from the SslHandler). The connection is closed next. */
    protected abstract void handshakeFailed(ChannelHandlerContext ctx, Throwable cause);

    /** The peer did not negotiate ALPN {@code h2} ({@code alpn} may be null). The connection is closed next. */
    protected abstract void notH2(ChannelHandlerContext ctx, String alpn);

    /** The peer's chain carries no usable SPIFFE ID. The connection is closed next. */
    protected abstract void unverifiedPeer(ChannelHandlerContext ctx, SSLPeerUnverifiedException e);

    /**
     * Mutual TLS and h2 are up and {@code peer} is the verified peer identity: add the HTTP/2
     * handlers with {@code ctx.pipeline().addLast} (they land behind the hold, which is released
     * when this returns).
     */
    protected abstract void negotiated(ChannelHandlerContext ctx, SpiffeId peer) throws Exception;

    /** After {@link #negotiated}: the held frames went through. */
    protected void released(ChannelHandlerContext ctx) {}

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof SslHandshakeCompletionEvent hs) {
            if (!hs.isSuccess()) {
                handshakeFailed(ctx, hs.cause());
                ctx.close();
                return;
            }
            String alpn = ssl.applicationProtocol();
            if (!ApplicationProtocolNames.HTTP_2.equals(alpn)) {
                notH2(ctx, alpn);
                ctx.close();
                return;
            }
            SpiffeId peer;
            try {
                peer = tls.verifiedPeerIdentity(ssl.engine());
            } catch (SSLPeerUnverifiedException e) {
                unverifiedPeer(ctx, e);
                ctx.close();
                return;
            }
            // Under a CRL file, a reload that revokes this peer closes the connection, in both directions, as ztunnel's
            // h2 server and client tear down a connection whose peer a CRL update revoked (src/proxy/h2/server.rs,
            // client.rs, wait_for_revocation): abruptly, its tunnels reset, no drain.
            io.netty.channel.Channel ch = ctx.channel();
            Runnable forget = tls.closeWhenRevoked(ssl.engine(), () -> {
                // Marked before the close, so that every tunnel the close ends reads it (TunnelEvents.result), as
                // ztunnel's biased select polls the revocation before the teardown it causes.
                ch.attr(TunnelEvents.REVOKED).set(Boolean.TRUE);
                ch.close();
            });
            ch.closeFuture().addListener(f -> forget.run());
            javax.net.ssl.SSLSession session = ssl.engine().getSession();
            peerNotAfter = leafNotAfter(session.getPeerCertificates());
            localNotAfter = leafNotAfter(session.getLocalCertificates());
            negotiated(ctx, peer);
            hold.release();
            released(ctx);
        }
        ctx.fireUserEventTriggered(evt);
    }

    private static long leafNotAfter(java.security.cert.Certificate[] chain) {
        if (chain != null && chain.length > 0 && chain[0] instanceof java.security.cert.X509Certificate leaf) {
            return leaf.getNotAfter().getTime();
        }
        return Long.MAX_VALUE;
    }
}
