package io.zerohop.hbone.internal;

import static io.zerohop.hbone.internal.Probe.ascii;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The shared mTLS -> ALPN h2 -> HTTP/2 set-up, with a real TLS 1.3 handshake between two
 * EmbeddedChannels (records shuttled in memory), as client and server pipelines assemble it.
 */
class NegotiatorTest {
    static InMemoryCa ca;
    static InMemoryCa otherCa;
    static MeshTls tls;
    static MeshTls otherTls;
    static final SpiffeId SERVER = SpiffeIds.istio("cluster.local", "prod", "server");
    static final SpiffeId CLIENT = SpiffeIds.istio("cluster.local", "prod", "client");

    @BeforeAll
    static void ca() {
        ca = InMemoryCa.create("cluster.local");
        tls = MeshTls.builder(ca).build();
        otherCa = InMemoryCa.create("cluster.local");
        otherTls = MeshTls.builder(otherCa).build();
    }

    @AfterAll
    static void close() {
        tls.close();
        ca.close();
        otherTls.close();
        otherCa.close();
    }

    /** Records what the negotiator reported; on success adds a probe (the stand-in for the h2 codec). */
    static final class Recorder extends Negotiator {
        final List<String> calls = new ArrayList<>();
        final Probe probe = new Probe();
        SpiffeId peer;
        int seenWhileNegotiating = -1;
        final boolean sendOnSuccess;

        Recorder(SslHandler ssl, boolean sendOnSuccess) {
            super(ssl, tls);
            this.sendOnSuccess = sendOnSuccess;
        }

        @Override
        protected void handshakeFailed(ChannelHandlerContext ctx, Throwable cause) {
            calls.add("handshakeFailed");
        }

        @Override
        protected void notH2(ChannelHandlerContext ctx, String alpn) {
            calls.add("notH2 " + alpn);
        }

        @Override
        protected void unverifiedPeer(ChannelHandlerContext ctx, SSLPeerUnverifiedException e) {
            calls.add("unverifiedPeer");
        }

        @Override
        protected void negotiated(ChannelHandlerContext ctx, SpiffeId peer) {
            calls.add("negotiated");
            this.peer = peer;
            ctx.pipeline().addLast(probe);
            seenWhileNegotiating = probe.seen.size();
            if (sendOnSuccess) {
                // What the HTTP/2 client does at once: its preface rides right behind the Finished.
                ctx.channel().writeAndFlush(ascii("PRI * HTTP/2.0"));
            }
        }

        @Override
        protected void released(ChannelHandlerContext ctx) {
            calls.add("released");
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // What ClientConnection and ServerConnection do with a TLS alert: close.
            calls.add("exception");
            ctx.close();
        }
    }

    static EmbeddedChannel side(SslContext ctx, Recorder[] out, boolean client) {
        EmbeddedChannel ch = new EmbeddedChannel();
        SslHandler ssl = ctx.newHandler(ch.alloc());
        out[0] = new Recorder(ssl, client);
        HbonePipeline.connection(ch, ssl, out[0]);
        return ch;
    }

    /** Moves TLS records both ways until neither side has anything to send. */
    static void shuttle(EmbeddedChannel a, EmbeddedChannel b) {
        for (int i = 0; i < 50; i++) {
            boolean moved = move(a, b) | move(b, a);
            if (!moved) {
                return;
            }
        }
    }

    private static boolean move(EmbeddedChannel from, EmbeddedChannel to) {
        boolean moved = false;
        for (Object m; (m = from.readOutbound()) != null; ) {
            moved = true;
            if (to.isActive()) {
                to.writeInbound(m);
            } else {
                ((ByteBuf) m).release();
            }
        }
        from.runPendingTasks();
        to.runPendingTasks();
        return moved;
    }

    @Test
    @DisplayName("mutual TLS, ALPN h2, verified SPIFFE IDs both ways; bytes that ride in with the Finished wait for the handlers negotiated() adds")
    void bothSidesNegotiate() throws Exception {
        Recorder[] c = new Recorder[1];
        Recorder[] s = new Recorder[1];
        EmbeddedChannel server = side(tls.server(SERVER).get(10, TimeUnit.SECONDS), s, false);
        EmbeddedChannel client = side(tls.client(CLIENT, Set.of(SERVER)).get(10, TimeUnit.SECONDS), c, true);
        shuttle(client, server);
        assertThat(c[0].calls).containsExactly("negotiated", "released");
        assertThat(s[0].calls).containsExactly("negotiated", "released");
        assertThat(c[0].peer).isEqualTo(SERVER);
        assertThat(s[0].peer).isEqualTo(CLIENT);
        assertThat(s[0].seenWhileNegotiating).isZero();
        assertThat(s[0].probe.seen).containsExactly("event:SslHandshakeCompletionEvent", "PRI * HTTP/2.0");
        assertThat(server.pipeline().get(Hold.class)).as("the hold leaves once released").isNull();
        assertThat(server.pipeline().names()).startsWith(HbonePipeline.TLS, HbonePipeline.TLS_RECORDS, HbonePipeline.CONNECTION);
        client.finishAndReleaseAll();
        server.finishAndReleaseAll();
    }

    @Test
    @DisplayName("a server chain from another CA fails the handshake: reported, then the connection is closed")
    void untrustedPeerFailsTheHandshake() throws Exception {
        Recorder[] c = new Recorder[1];
        Recorder[] s = new Recorder[1];
        EmbeddedChannel server = side(otherTls.server(SERVER).get(10, TimeUnit.SECONDS), s, false);
        EmbeddedChannel client = side(tls.client(CLIENT, Set.of(SERVER)).get(10, TimeUnit.SECONDS), c, true);
        shuttle(client, server);
        assertThat(c[0].calls).contains("handshakeFailed").doesNotContain("negotiated");
        assertThat(client.isActive()).isFalse();
        assertThat(c[0].probe.seen).isEmpty();
        client.finishAndReleaseAll();
        server.finishAndReleaseAll();
    }
}
