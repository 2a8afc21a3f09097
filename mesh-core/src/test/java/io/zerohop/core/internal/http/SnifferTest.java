package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link Sniffer} on an {@link EmbeddedChannel}: it decides once, holds every byte and the end of
 * input until the handlers for the result are behind it, then replays them in order (the sniff as
 * Envoy's {@code http_inspector} peeks, source/extensions/filters/listener/http_inspector).
 */
class SnifferTest {
    final List<Sniffer.Result> decisions = new ArrayList<>();
    final List<Object> seen = new ArrayList<>();

    /** What reaches the handlers behind the sniffer: bytes as text, events as themselves. */
    final class Behind extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            seen.add(((ByteBuf) msg).toString(StandardCharsets.US_ASCII));
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            seen.add(evt);
        }
    }

    EmbeddedChannel channel() {
        EmbeddedChannel ch = new EmbeddedChannel();
        Sniffer s = new Sniffer(60_000, r -> decisions.add(r));
        ch.pipeline().addLast(s);
        return ch;
    }

    static ByteBuf ascii(String s) {
        return Unpooled.copiedBuffer(s, StandardCharsets.US_ASCII);
    }

    void install(EmbeddedChannel ch) {
        Sniffer s = ch.pipeline().get(Sniffer.class);
        ch.pipeline().addLast(new Behind());
        s.release();
    }

    @Test
    void aRequestLineAcrossReadsIsHttp1AndEveryByteIsHeldUntilTheHandlersAreInstalled() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /a HT"));
        assertThat(decisions).isEmpty();
        ch.writeInbound(ascii("TP/1.1\r\nHost: x\r\n"));
        assertThat(decisions).containsExactly(Sniffer.Result.HTTP1);
        ch.writeInbound(ascii("\r\n"));
        assertThat(seen).isEmpty();
        install(ch);
        assertThat(seen).containsExactly("GET /a HT", "TP/1.1\r\nHost: x\r\n", "\r\n");
        assertThat(ch.pipeline().get(Sniffer.class)).as("the sniffer left").isNull();
        ch.writeInbound(ascii("more"));
        assertThat(seen).last().isEqualTo("more");
        assertThat(decisions).as("decided once").hasSize(1);
        ch.finishAndReleaseAll();
    }

    @Test
    void theH2PrefaceIsHttp2() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        assertThat(decisions).containsExactly(Sniffer.Result.HTTP2);
        ch.finishAndReleaseAll();
    }

    @Test
    void aFinBeforeTheProtocolIsKnownIsOpaqueAndReplayedAfterTheBytes() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /a HTTP/1.1"));
        ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        assertThat(decisions).containsExactly(Sniffer.Result.OPAQUE);
        assertThat(seen).isEmpty();
        install(ch);
        assertThat(seen).containsExactly("GET /a HTTP/1.1", ChannelInputShutdownEvent.INSTANCE);
        ch.finishAndReleaseAll();
    }

    @Test
    void aTunnelResetBeforeTheProtocolIsKnownIsOpaqueAndReplayedAfterTheBytes() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GE"));
        HboneStream.Reset reset = new HboneStream.Reset(8);
        ch.pipeline().fireUserEventTriggered(reset);
        assertThat(decisions).containsExactly(Sniffer.Result.OPAQUE);
        install(ch);
        assertThat(seen).containsExactly("GE", reset);
        ch.finishAndReleaseAll();
    }

    /**
     * A client-first protocol that is not HTTP is opaque from the first byte that rules HTTP out, without waiting
     * for the timeout (the channel's timer never runs here): an echo client's {@code hello} got its reply only
     * after the 5 s sniff. Envoy's inspector feeds each read to its HTTP/1 parser and gives up at the first parse
     * error (http_inspector.cc {@code parseHttpHeader}); the cases are its http_inspector_test.cc ones, for
     * http-parser, which fails on a method it does not know at its first wrong byte: {@code InvalidHttpMethod},
     * {@code MultipleReadsHttp1IncompleteBadHeader}, {@code MultipleReadsHttp1BadProtocol}, {@code InvalidRequestLine},
     * {@code InvalidRequestLine3}, {@code MultipleReadsHttp2BadPreface}. The method list is the one zerohop's codec
     * accepts (anything else would be answered 400). Envoy 1.39's Balsa inspector waits for the line's end instead.
     */
    @Test
    void bytesThatCannotStartARequestLineAreOpaqueAtOnce() {
        for (String first : List.of("hello", "X", "BAD /anything HTTP/1.1", "GET /index HTTP\r", "GET /anything HTTP/1.1 BadRequestLine\r\n",
                "\r\n\r\n\r\n BAD", "PRI * HTTP/2.0\r\n\r\f", "get / HTTP/1.1\r\n", "GETX", "POST\u0000", "ping\n")) {
            decisions.clear();
            EmbeddedChannel ch = channel();
            ch.writeInbound(ascii(first));
            assertThat(decisions).as(first).containsExactly(Sniffer.Result.OPAQUE);
            install(ch);
            assertThat(seen).as("replayed").last().isEqualTo(first);
            ch.finishAndReleaseAll();
        }
    }

    /** What can still become a request line (or the preface) keeps waiting, one byte at a time too. */
    @Test
    void aPossibleHttpPrefixKeepsWaiting() {
        for (String prefix : List.of("G", "GE", "GET", "GET ", "GET /x", "GET /x HTTP/1.", "M", "MKCAL", "PROPPATCH /", "UNSUBSCRIBE",
                "\r\n", "\r\nPO", "PRI * HTTP/2.0\r\n\r\nS")) {
            decisions.clear();
            EmbeddedChannel ch = channel();
            for (char c : prefix.toCharArray()) {
                ch.writeInbound(ascii(String.valueOf(c)));
            }
            assertThat(decisions).as(prefix).isEmpty();
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void whatIsHeldIsReleasedWhenTheChannelClosesFirst() {
        EmbeddedChannel ch = channel();
        ByteBuf b = ascii("SSH-2.0-OpenSSH_9.6\r\n");
        ch.writeInbound(b);
        assertThat(decisions).containsExactly(Sniffer.Result.OPAQUE);
        ch.close();
        assertThat(b.refCnt()).isZero();
        assertThat(seen).isEmpty();
    }
}
