package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.AsciiString;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The CONNECT request headers the client builds ({@code ClientConnection.connectHeaders}): a
 * read-only form without a {@code DefaultHttp2Headers} when there are no extra headers (issue 14),
 * which must put the same bytes on the wire, in the same order, as the {@code DefaultHttp2Headers}
 * it replaced, over several CONNECTs of one connection (HPACK's dynamic table carries over).
 */
class ClientConnectHeadersTest {
    private static byte[] encode(DefaultHttp2HeadersEncoder encoder, Http2Headers h) throws Exception {
        ByteBuf out = Unpooled.buffer();
        try {
            encoder.encodeHeaders(1, h, out);
            return ByteBufUtil.getBytes(out);
        } finally {
            out.release();
        }
    }

    @Test
    void withoutExtraHeadersTheWireBytesAreDefaultHttp2Headers() throws Exception {
        DefaultHttp2HeadersEncoder before = new DefaultHttp2HeadersEncoder();
        DefaultHttp2HeadersEncoder after = new DefaultHttp2HeadersEncoder();
        for (String authority : new String[] {"10.0.0.1:8080", "10.0.0.1:8080", "[fd00::2]:80", "10.0.0.1:8080"}) {
            Http2Headers built = ClientConnection.connectHeaders(new AsciiString(authority), Map.of());
            assertThat(encode(after, built)).isEqualTo(encode(before, new DefaultHttp2Headers().method("CONNECT").authority(authority)));
            assertThat(built.method().toString()).isEqualTo("CONNECT");
            assertThat(built.authority().toString()).isEqualTo(authority);
            assertThat(built.path()).isNull();
            assertThat(built.scheme()).isNull();
        }
    }

    @Test
    void extraHeadersFollowThePseudoHeadersLowerCased() throws Exception {
        Map<String, String> extra = new LinkedHashMap<>();
        extra.put("Baggage", "k8s.namespace.name=prod");
        extra.put("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        Http2Headers built = ClientConnection.connectHeaders(new AsciiString("10.0.0.1:8080"), extra);
        byte[] wire = encode(new DefaultHttp2HeadersEncoder(), built);
        byte[] expected = encode(new DefaultHttp2HeadersEncoder(), new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:8080")
                .add("baggage", "k8s.namespace.name=prod").add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        assertThat(wire).isEqualTo(expected);
        ByteBuf in = Unpooled.wrappedBuffer(wire);
        try {
            Http2Headers decoded = new DefaultHttp2HeadersDecoder().decodeHeaders(1, in);
            assertThat(decoded.get("baggage").toString()).isEqualTo("k8s.namespace.name=prod");
        } finally {
            in.release();
        }
    }
}
