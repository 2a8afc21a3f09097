package io.zerohop.core.internal.http;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;

/**
 * Run in a JVM of its own by {@code Http1CodecTest} with Netty's {@code io.netty.handler.codec.http.rfc9112TransferEncoding}
 * set to false: prints, for each request head, whether {@link Http1Decoder} refused it ({@code refused}) or decoded it
 * ({@code decoded}).
 */
public final class TransferEncodingPropertyMain {
    private TransferEncodingPropertyMain() {}

    public static void main(String[] args) {
        String[][] cases = {
            {"false", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"},
            {"true", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"},
        };
        StringBuilder out = new StringBuilder();
        for (String[] c : cases) {
            EmbeddedChannel ch = new EmbeddedChannel(new Http1Decoder(Boolean.parseBoolean(c[0])));
            ch.writeInbound(Unpooled.copiedBuffer(c[1], StandardCharsets.ISO_8859_1));
            Object first = ch.readInbound();
            out.append(first instanceof HttpRequest r && r.decoderResult().isFailure() ? "refused" : "decoded").append(' ');
            ReferenceCountUtil.release(first);
            ch.finishAndReleaseAll();
        }
        System.out.println(out.toString().trim());
    }
}
