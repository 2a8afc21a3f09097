package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.policy.Decision;
import io.zerohop.policy.WorkloadRef;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The HTTP/1 handlers on an {@link EmbeddedChannel}: decoder additions, sniffing, and the filter's exchange logic. */
class Http1CodecTest {

    static ByteBuf ascii(String s) {
        return Unpooled.copiedBuffer(s, StandardCharsets.ISO_8859_1);
    }

    static List<Object> decode(String... parts) {
        EmbeddedChannel ch = new EmbeddedChannel(new Http1Decoder());
        for (String p : parts) {
            ch.writeInbound(ascii(p));
        }
        List<Object> out = new ArrayList<>();
        for (Object o; (o = ch.readInbound()) != null; ) {
            out.add(o);
        }
        ch.finishAndReleaseAll();
        return out;
    }

    static void release(List<Object> l) {
        l.forEach(ReferenceCountUtil::release);
    }

    @Test
    @DisplayName("obs-fold fails the request even when the folded line arrives in a later read (RFC 9112 §5.2)")
    void obsFoldAcrossReads() {
        List<Object> out = decode("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n", " c\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
        assertThat(out).hasSize(1);
        assertThat(((HttpRequest) out.get(0)).decoderResult().cause()).isInstanceOf(Http1Decoder.ObsFoldException.class);
        release(out);
    }

    @Test
    @DisplayName("CRLF SP inside a body is data, not folding; pipelined requests after it decode")
    void foldLikeBytesInABodyAreData() {
        List<Object> out = decode("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nx\r\n yz", "GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
        assertThat(out).filteredOn(o -> o instanceof HttpRequest).hasSize(2)
                .allMatch(o -> ((HttpRequest) o).decoderResult().isSuccess());
        assertThat(out).filteredOn(o -> o instanceof HttpContent c && c.content().readableBytes() > 0)
                .singleElement().matches(o -> ((HttpContent) o).content().toString(StandardCharsets.ISO_8859_1).equals("x\r\n yz"));
        release(out);
    }

    @Test
    @DisplayName("Envoy's max_request_headers_kb (60) counts the URL with the headers: a 20 KiB URL passes, URL + headers over 60 KiB or a longer URL is 431")
    void theUrlCountsAgainstEnvoysHeaderBudget() {
        // envoyproxy/envoy test/integration/protocol_integration_test.cc LargeRequestUrlRejected / LargeRequestUrlAccepted
        // (http_integration.cc testLargeRequestUrl): the URL alone over the limit is 431.
        List<Object> ok = decode("GET /ok?" + "a".repeat(20_000) + " HTTP/1.1\r\nHost: a\r\n\r\n");
        assertThat(((HttpRequest) ok.get(0)).decoderResult().isSuccess()).isTrue();
        release(ok);
        String big = "X-Big: " + "b".repeat(25_000) + "\r\n";
        for (String request : List.of("GET /ok?" + "a".repeat(40_000) + " HTTP/1.1\r\nHost: a\r\n" + big + "\r\n",
                "GET /ok?" + "a".repeat(62_000) + " HTTP/1.1\r\nHost: a\r\n\r\n", "GET /ok?" + "a".repeat(70_000) + " HTTP/1.1\r\nHost: a\r\n\r\n")) {
            List<Object> out = decode(request, "GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
            HttpRequest r = (HttpRequest) out.get(0);
            assertThat(r.decoderResult().isFailure()).as(request.length() + " bytes").isTrue();
            assertThat(LocalReplies.statusFor(r.decoderResult().cause())).as(request.length() + " bytes")
                    .isEqualTo(HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE);
            // The access line's reason in Envoy's terms, never Netty's "An HTTP line is larger than 61504 bytes."
            assertThat(LocalReplies.problem(r.decoderResult().cause())).as(request.length() + " bytes")
                    .contains("max_request_headers_kb").doesNotContain("larger than");
            assertThat(out).as("nothing after it is decoded").hasSize(1);
            release(out);
        }
    }

    @Test
    @DisplayName("Netty already fails CL+TE and duplicate Content-Length (kept as a regression guard on upgrades)")
    void nettyRejections() {
        for (String h : List.of("Content-Length: 1\r\nTransfer-Encoding: chunked\r\n", "Content-Length: 1\r\nContent-Length: 1\r\n")) {
            List<Object> out = decode("POST / HTTP/1.1\r\nHost: a\r\n" + h + "\r\n0\r\n\r\n");
            assertThat(((HttpRequest) out.get(0)).decoderResult().isFailure()).as(h).isTrue();
            release(out);
        }
    }

    /**
     * Envoy's codec refuses Content-Length with Transfer-Encoding (codec_impl.cc, {@code http1.content_length_and_chunked_not_allowed};
     * codec_impl_test.cc, the {@code allow_chunked_length} cases), in any version. Netty does so only while its JVM-wide
     * {@code io.netty.handler.codec.http.rfc9112TransferEncoding} is true, its default; an application embedding zerohop that
     * turned it off for a Netty server of its own turned it off here too: an HTTP/1.1 head then lost its Content-Length and
     * went on chunked, and an HTTP/1.0 one (accept_http_10) kept both and went to the application as HTTP/1.1 with both, to
     * be framed by whichever it prefers. The decoder sets it itself since 6 December. A JVM of its own, since the property
     * is read once.
     */
    @Test
    void contentLengthWithTransferEncodingIsRefusedWhateverNettysProperty() throws Exception {
        Process p = new ProcessBuilder(java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dio.netty.handler.codec.http.rfc9112TransferEncoding=false", "-cp", System.getProperty("java.class.path"),
                TransferEncodingPropertyMain.class.getName()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(out).isZero();
        assertThat(out.lines().reduce((a, b) -> b).orElse("")).as(out).isEqualTo("refused refused");
    }

    @Test
    @DisplayName("Envoy's codec: a Transfer-Encoding other than chunked itself, or one on a CONNECT, is 501; Chunked is fine")
    void transferCodingsEnvoyRefuses() {
        for (String[] c : new String[][] {{"POST", "gzip, chunked"}, {"POST", "identity,chunked"}, {"CONNECT", "chunked"}}) {
            List<Object> out = decode(c[0] + " " + (c[0].equals("CONNECT") ? "a:443" : "/") + " HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                    + c[1] + "\r\n\r\n0\r\n\r\n", "GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
            assertThat(out).as(c[1]).singleElement();
            HttpRequest r = (HttpRequest) out.get(0);
            assertThat(LocalReplies.statusFor(r.decoderResult().cause())).as(c[0] + " " + c[1]).isEqualTo(HttpResponseStatus.NOT_IMPLEMENTED);
            release(out);
        }
        List<Object> ok = decode("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n");
        assertThat(((HttpRequest) ok.get(0)).decoderResult().isSuccess()).isTrue();
        release(ok);
    }

    @Test
    @DisplayName("a request's trailers are dropped, as Envoy's HTTP/1 codec drops them without enable_trailers")
    void trailersAreDropped() {
        List<Object> out = decode("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n"
                + "X-Forwarded-Client-Cert: By=x;URI=spiffe://cluster.local/ns/prod/sa/admin\r\nHost: blocked.example\r\n\r\n");
        assertThat(((HttpRequest) out.get(0)).decoderResult().isSuccess()).isTrue();
        assertThat(out).filteredOn(o -> o instanceof io.netty.handler.codec.http.LastHttpContent).singleElement()
                .matches(o -> ((io.netty.handler.codec.http.LastHttpContent) o).trailingHeaders().isEmpty());
        release(out);
    }

    /** Cases in the spirit of envoyproxy/envoy test/extensions/filters/listener/http_inspector/http_inspector_test.cc. */
    /**
     * RFC 9112 section 2.2 lets a server skip empty lines before a request line, and Netty skips any
     * control or whitespace bytes there. Until 1 December a leading CRLFCRLF was taken for the end of
     * the header block, so the real block reached Netty unchecked and its folded line was joined.
     */
    /**
     * A bare LF ends a line, as in Envoy's codecs (http-parser's request-line and header states, Balsa): the blank line
     * is LF LF or LF CRLF, also split across reads, and a fold after a bare LF is still obs-fold, refused with the
     * line's method and target. Until 2 December the decoder waited for a CRLFCRLF and never produced these.
     */
    @Test
    @DisplayName("RFC 9112 2.2: bare-LF heads decode, across reads; a fold after a bare LF is refused with its line")
    void bareLfHeads() {
        List<Object> out = decode("GET /a HTTP/1.1\nHost: a\n", "\nGET /b HTTP/1.1\r\nHost: a\n\r", "\n");
        assertThat(out).filteredOn(o -> o instanceof HttpRequest).extracting(o -> ((HttpRequest) o).uri()).containsExactly("/a", "/b");
        assertThat(out).filteredOn(o -> o instanceof HttpRequest).allMatch(o -> ((HttpRequest) o).decoderResult().isSuccess());
        release(out);
        List<Object> folded = decode("PUT /f HTTP/1.1\nHost: a\nX-A: b\n c\n\n");
        Throwable cause = ((HttpRequest) folded.get(0)).decoderResult().cause();
        assertThat(cause).isInstanceOf(Http1Decoder.ObsFoldException.class);
        Http1Decoder.ObsFoldException fold = (Http1Decoder.ObsFoldException) cause;
        assertThat(fold.method + " " + fold.target + " " + fold.protocol).isEqualTo("PUT /f HTTP/1.1");
        release(folded);
    }

    /**
     * The blank-line search resumes where the previous read left it (a head arriving in small reads was rescanned from
     * its start at every read): every split of these heads, one byte per read and every cut in two, decodes as the
     * whole does, whatever line end the cut falls into.
     */
    @Test
    @DisplayName("a head split at any byte, or one byte per read, decodes as it does whole (CRLF, bare LF, obs-fold, pipelined)")
    void headsDecodeTheSameWhateverTheReadsSplit() {
        for (String head : List.of("GET /a HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
                "GET /c HTTP/1.1\nHost: a\n\r\nGET /d HTTP/1.1\nHost: a\n\n", "\r\n\r\nGET /e HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
                "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n\r\n\r\nGET /g HTTP/1.1\r\nHost: a\r\n\r\n")) {
            String whole = summary(decode(head));
            assertThat(whole).as(head).isNotEmpty();
            assertThat(summary(decode(head.split("")))).as("one byte per read: " + head).isEqualTo(whole);
            for (int cut = 1; cut < head.length(); cut++) {
                assertThat(summary(decode(head.substring(0, cut), head.substring(cut)))).as(cut + ": " + head).isEqualTo(whole);
            }
        }
    }

    /**
     * A head that outgrows 76 KiB before its blank line is 431 at once, whatever Netty's own limits would make of it: a
     * 60,000-byte URL and 20 header lines of 1 KiB, the rest in a later read. Handed to Netty, it was taken apart (Netty
     * consumed the request line and the complete header lines) and the blank line in the next read was never seen, so the
     * client waited for an answer that never came (a final review pass); before this session, a header line was read as
     * a request line and answered 426.
     */
    @Test
    @DisplayName("a head over 76 KiB without its end is 431 at once (Envoy's max_request_headers_kb), its rest in the next read changes nothing")
    void anOversizedHeadIs431WhereverTheReadsSplit() {
        String first = "GET /" + "u".repeat(60_000) + " HTTP/1.1\r\n" + ("X-Pad: " + "p".repeat(1_016) + "\r\n").repeat(20);
        List<Object> out = decode(first, "Host: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n");
        assertThat(out).as("one refusal, nothing decoded after it").singleElement();
        assertThat(LocalReplies.statusFor(((HttpRequest) out.get(0)).decoderResult().cause()))
                .isEqualTo(HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE);
        release(out);
    }

    /**
     * A head whose URL and headers, as Envoy's codec counts them, are over 60 KiB is 431 as soon as they are, before its
     * blank line (envoyproxy/envoy codec_impl.cc {@code checkMaxHeadersSize}, called as the URL and each header name and
     * value arrive): until 5 December only a head over 76 KiB was, and one of 60-76 KiB that never ended waited for the idle
     * timeout. Whole, in 1 KiB reads, with the count crossing in a later read; what Envoy does not count (a value's
     * leading whitespace) does not make an unended head over it.
     */
    @Test
    @DisplayName("a head whose URL and headers pass 60 KiB is 431 before its end, however the reads split it (Envoy's checkMaxHeadersSize)")
    void aHeadOverTheLimitIs431BeforeItsEnd() {
        String big = "GET /a HTTP/1.1\r\nHost: a\r\nX-Big: " + "b".repeat(70 * 1024);
        assertRefusedBeforeItsEnd(decode(big));
        assertRefusedBeforeItsEnd(decode(big.split("(?<=\\G.{1024})")));
        assertRefusedBeforeItsEnd(decode("GET /" + "u".repeat(58_000) + " HTTP/1.1\r\nHost: a\r\n", "X-A: " + "v".repeat(4_000)));
        assertThat(decode("GET /a HTTP/1.1\r\nHost: a\r\nX-A:" + " ".repeat(20_000) + "v\r\nX-B: " + "b".repeat(45_000)))
                .as("65 KB, 45,008 bytes counted: waits for its end").isEmpty();
    }

    private static void assertRefusedBeforeItsEnd(List<Object> out) {
        assertThat(out).as("one refusal").singleElement();
        Throwable cause = ((HttpRequest) out.get(0)).decoderResult().cause();
        assertThat(LocalReplies.statusFor(cause)).isEqualTo(HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE);
        assertThat(LocalReplies.problem(cause)).startsWith("HTTP request head without its end whose URL and headers are over 61440");
        release(out);
    }

    /** What a decode produced, as text: each request's target and result, each content's bytes; releases it. */
    private static String summary(List<Object> out) {
        StringBuilder s = new StringBuilder();
        for (Object o : out) {
            if (o instanceof HttpRequest r) {
                s.append('|').append(r.method()).append(' ').append(r.uri()).append(r.decoderResult().isSuccess() ? " ok" : " failed").append('|');
            }
            if (o instanceof HttpContent c && c.content().isReadable()) {
                s.append(c.content().toString(StandardCharsets.ISO_8859_1)); // a body's reads split as the bytes came
            }
        }
        release(out);
        return s.toString().replace("\r", "\\r").replace("\n", "\\n");
    }

    @Test
    @DisplayName("RFC 9112 2.2 + 5.2: empty lines before the request line do not hide an obs-fold")
    void obsFoldAfterLeadingEmptyLines() {
        List<Object> out = decode("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n");
        assertThat(out).hasSize(1);
        assertThat(((HttpRequest) out.get(0)).decoderResult().cause()).isInstanceOf(Http1Decoder.ObsFoldException.class);
        release(out);
        List<Object> ok = decode("\r\n\r\n", "\r\nGET /after-blank-lines HTTP/1.1\r\nHost: a\r\n\r\n");
        assertThat(((HttpRequest) ok.get(0)).uri()).isEqualTo("/after-blank-lines");
        assertThat(((HttpRequest) ok.get(0)).decoderResult().isSuccess()).isTrue();
        release(ok);
    }

    /**
     * An {@code auto} port sniffs as HTTP/1 what an application would read as a request line: what
     * http-parser (Envoy's {@code http_inspector}) and Netty's decoder accept, leading empty lines
     * (RFC 9112 section 2.2), runs of spaces, and, beyond http-parser, Netty's lenient whitespace
     * and a lower-case version. Until 1 December {@code "\r\nGET /admin HTTP/1.1"} or
     * {@code "GET  /admin HTTP/1.1"} sniffed as opaque bytes, was decided at L4 (where a
     * {@code DENY paths: [/admin]} has no effect) and reached an application that parses it.
     */
    @Test
    @DisplayName("sniffing: leading empty lines, runs of whitespace and a lower-case version are HTTP/1")
    void lenientRequestLinesAreSniffedAsHttp1() {
        for (String s : List.of("\r\nGET /admin HTTP/1.1\r\n", "\r\n\r\n\nGET /admin HTTP/1.1\r\n", "GET  /admin  HTTP/1.1\r\n",
                "GET\t/admin\tHTTP/1.1\r\n", "GET /admin http/1.1\r\n", "GET /admin HTTP/1.1\n", "\u0000 GET /admin HTTP/1.1 \r\n")) {
            assertThat(classify(s, false)).as(s).isEqualTo(Sniffer.Result.HTTP1);
        }
        assertThat(classify("\u0000 GET /admin HTTP/1.0 \r\n", false)).isEqualTo(Sniffer.Result.HTTP10);
        assertThat(classify("\r\n\r\n", false)).as("only empty lines yet: wait").isNull();
        assertThat(classify("\r\n\r\n", true)).isEqualTo(Sniffer.Result.OPAQUE);
        assertThat(classify("SET key value\r\n", false)).as("Redis inline command").isEqualTo(Sniffer.Result.OPAQUE);
        assertThat(classify("GET /admin\r\n", false)).as("HTTP/0.9, which Netty refuses").isEqualTo(Sniffer.Result.OPAQUE);
    }

    @Test
    void sniffing() {
        assertThat(classify("GET /anything HTTP/1.1\r\n", false)).isEqualTo(Sniffer.Result.HTTP1);
        // Envoy's http_inspector reports "http/1.0" for every version but 1.1 (http_inspector.cc parseHttpHeader).
        assertThat(classify("GET /anything HTTP/1.0\r\nHost: x\r\n", false)).isEqualTo(Sniffer.Result.HTTP10);
        assertThat(classify("GET /anything HTTP/1.2\r\n", false)).isEqualTo(Sniffer.Result.HTTP10);
        assertThat(classify("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false)).isEqualTo(Sniffer.Result.HTTP2);
        assertThat(classify("PRI * HTTP/2", false)).as("preface prefix: wait").isNull();
        assertThat(classify("GE", false)).isNull();
        assertThat(classify("GET /anything HTTP/1.1", false)).as("no CRLF yet").isNull();
        assertThat(classify("GET /anything HTTP/1.1", true)).as("input ended").isEqualTo(Sniffer.Result.OPAQUE);
        // Control bytes are skipped as Netty skips them before a request line: the record header alone waits,
        // the handshake header after it (a length byte over 0x9f, then 0x03 0x03) decides.
        assertThat(classify("\u0016\u0003\u0001\u0000", false)).as("TLS record header").isNull();
        assertThat(classify("\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003", false)).as("TLS ClientHello")
                .isEqualTo(Sniffer.Result.OPAQUE);
        assertThat(classify("GET /x HTTP/3.0\r\n", false)).isEqualTo(Sniffer.Result.HTTP10);
        assertThat(classify("GET /x HTTP/1.01\r\n", false)).isEqualTo(Sniffer.Result.OPAQUE);
        assertThat(classify("GET\r\n", false)).isEqualTo(Sniffer.Result.OPAQUE);
        assertThat(classify("SSH-2.0-OpenSSH_9.6\r\n", false)).isEqualTo(Sniffer.Result.OPAQUE);
        assertThat(classify("", true)).isEqualTo(Sniffer.Result.OPAQUE);
    }

    static Sniffer.Result classify(String s, boolean fin) {
        byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
        return Sniffer.classify(b, b.length, fin);
    }

    // ---------------------------------------------------------------- the filter

    static final class FakeUpstream implements Upstream {
        final List<Object> written = new ArrayList<>();
        boolean upgraded;
        boolean closed;

        @Override
        public void write(HttpObject msg) {
            written.add(msg);
        }

        @Override
        public void writeRaw(ByteBuf bytes) {
            written.add(bytes);
        }

        @Override
        public void flush() {}

        @Override
        public boolean isWritable() {
            return true;
        }

        @Override
        public void readResponses(boolean on) {}

        @Override
        public void shutdownOutput() {}

        @Override
        public void upgraded() {
            upgraded = true;
        }

        @Override
        public void close() {
            closed = true;
        }

        void release() {
            written.forEach(ReferenceCountUtil::release);
        }
    }

    static final Conn CONN = new Conn("inbound", SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/frontend"),
            SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/backend"), new InetSocketAddress("127.0.0.1", 1),
            new InetSocketAddress("127.0.0.1", 1), new InetSocketAddress("127.0.0.2", 8080),
            new WorkloadRef("prod", "backend", "backend", Map.of()), null, null);

    static final Decision DENY = new Decision(false, Decision.Outcome.DENIED_DEFAULT, null, -1, "test");

    FakeUpstream upstream = new FakeUpstream();
    Http1Filter filter;

    EmbeddedChannel channel() {
        filter = new Http1Filter(CONN, (c, r, s) -> r.uri().startsWith("/ok") ? Decision.allowNoPolicy("test") : DENY,
                new HttpObserver(null), f -> upstream);
        return new EmbeddedChannel(new Http1Decoder(), new HttpResponseEncoder(), filter);
    }

    static String outbound(EmbeddedChannel ch) {
        StringBuilder sb = new StringBuilder();
        for (Object o; (o = ch.readOutbound()) != null; ) {
            if (o instanceof ByteBuf b) {
                sb.append(b.toString(StandardCharsets.ISO_8859_1));
            }
            ReferenceCountUtil.release(o);
        }
        return sb.toString();
    }

    /**
     * The request line's version as Envoy's HTTP/1 codec answers it with Istio's settings: balsa accepts
     * {@code HTTP/} DIGIT {@code .} DIGIT or none (HTTP/0.9) and refuses other text with 400
     * (envoyproxy/envoy source/common/http/http1/balsa_parser.cc {@code isVersionValid}); every accepted
     * version but HTTP/1.1 is HTTP/1.0 to the codec, answered 426 with {@code accept_http_10} off, which
     * istiod leaves off unless {@code PILOT_HTTP10} is set (codec_impl.cc {@code checkProtocolVersion}).
     * Both end the connection. Versions from envoy test/common/http/http1/codec_impl_test.cc
     * {@code HttpVersion}, and the brief's HTTP/1.2 and HTTP/2.0 in an HTTP/1 request line. Before
     * 1 December each was forwarded (Netty reads {@code HTTP/1.01} as HTTP/1.1 and {@code HTTP/1.2} as
     * a version of its own), and a request line without a version was skipped without an answer.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "\"{0}\" -> {1}")
    @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', value = {
        "''|426", "HTTP/1.0|426", "HTTP/9.1|426", "HTTP/1.2|426", "HTTP/2.0|426", "HTTP/0.9|426",
        "aHTTP/1.1|400", "HHTTP/1.1|400", "HTTPS/1.1|400", "FTP/1.1|400", "HTTP/1.01|400", "HTTP/A.0|400",
        "http/1.1|400", "HTTP/1.1 x|400", "HTTP/11.1|400"})
    void requestLineVersionsOtherThan11AreRefusedAsEnvoyRefusesThem(String version, int status) {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /ok" + (version.isEmpty() ? "" : " " + version) + "\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n"));
        String out = outbound(ch);
        assertThat(out).startsWith("HTTP/1.1 " + status + " " + HttpResponseStatus.valueOf(status).reasonPhrase() + "\r\n")
                .contains("connection: close").endsWith(HttpResponseStatus.valueOf(status).reasonPhrase());
        assertThat(upstream.written).as("neither it nor the request after it goes upstream").isEmpty();
        ch.finishAndReleaseAll();
    }

    /**
     * An HTTP/1.1 request without {@code Host} (RFC 9112 section 3.2: a server MUST answer 400) gets what Envoy's
     * connection manager sends: {@code sendLocalReply(BadRequest, "")} for {@code MissingHost}
     * (envoyproxy/envoy source/common/http/conn_manager_impl.cc, "Require host header"), so no body and no
     * {@code content-type}, and a close ({@code onLocalReply} sets {@code saw_connection_close_} for a 400 on
     * HTTP/1); nothing goes upstream, the request behind it neither. An absolute-form target supplies the host
     * (Envoy's codec does the same) and is forwarded. Before 1 December the first request was forwarded.
     */
    @Test
    void http11WithoutHostGets400WithNoBodyAndACloseAsEnvoysMissingHost() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /ok/a HTTP/1.1\r\n\r\nGET /ok/b HTTP/1.1\r\nHost: a\r\n\r\n"));
        String out = outbound(ch);
        assertThat(out).startsWith("HTTP/1.1 400 Bad Request\r\n").contains("content-length: 0\r\n")
                .contains("connection: close\r\n").doesNotContainIgnoringCase("content-type").endsWith("\r\n\r\n");
        assertThat(upstream.written).isEmpty();
        ch.finishAndReleaseAll();

        EmbeddedChannel absolute = channel();
        absolute.writeInbound(ascii("GET http://a:8080/ok/c HTTP/1.1\r\n\r\n"));
        assertThat(upstream.written).first().isInstanceOfSatisfying(HttpRequest.class,
                r -> assertThat(r.headers().get("host")).isEqualTo("a:8080"));
        upstream.release();
        absolute.finishAndReleaseAll();
    }

    EmbeddedChannel http10Channel() {
        filter = new Http1Filter(CONN, (c, r, s) -> r.uri().startsWith("/ok") ? Decision.allowNoPolicy("test") : DENY,
                new HttpObserver(null), f -> upstream);
        return new EmbeddedChannel(new Http1Decoder(true), new HttpResponseEncoder(), filter);
    }

    /**
     * With Envoy's {@code accept_http_10} (istiod: {@code PILOT_HTTP10} or the {@code HTTP10} proxy metadata), an
     * HTTP/1.0 request is decided and goes upstream as HTTP/1.1 (envoy source/common/http/http1/codec_impl.cc
     * {@code REQUEST_POSTFIX}); the application's chunked response goes back as Envoy writes it to an HTTP/1.0
     * client: {@code HTTP/1.0} status line ({@code HTTP_10_RESPONSE_PREFIX}), no chunking
     * ({@code encodeHeadersBase}), framed by the close with {@code connection: close} (conn_manager_impl.cc
     * {@code encodeHeaders}, "HTTP/1.0 and below can not do chunked encoding"). Without the switch: 426 (above).
     */
    @Test
    void http10AcceptedGoesUpstreamAs11AndItsChunkedResponseComesBackAs10FramedByClose() {
        EmbeddedChannel ch = http10Channel();
        ch.writeInbound(ascii("GET /ok/a HTTP/1.0\r\nHost: a\r\n\r\n"));
        assertThat(upstream.written).first().isInstanceOfSatisfying(HttpRequest.class,
                r -> assertThat(r.protocolVersion()).isEqualTo(HttpVersion.HTTP_1_1));
        DefaultHttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        head.headers().set("transfer-encoding", "chunked");
        filter.onResponse(head);
        filter.onResponse(new io.netty.handler.codec.http.DefaultHttpContent(ascii("hello")));
        filter.onResponse(new io.netty.handler.codec.http.DefaultLastHttpContent(ascii(" world")));
        String out = outbound(ch);
        assertThat(out).startsWith("HTTP/1.0 200 OK\r\n").contains("connection: close\r\n")
                .doesNotContainIgnoringCase("transfer-encoding").endsWith("\r\n\r\nhello world");
        upstream.release();
        ch.finishAndReleaseAll();
    }

    /**
     * HTTP/1.0 keep-alive as Envoy's connection manager does it: with {@code Connection: keep-alive} and a
     * response {@code content-length}, the response says {@code connection: keep-alive} and the next request on
     * the connection is served (conn_manager_impl.cc: {@code saw_connection_close_} unless keep-alive, then
     * "send an explicit keep-alive header"). A denied HTTP/1.0 request's 403 is an HTTP/1.0 response too.
     */
    @Test
    void http10KeepAliveWithContentLengthStaysOpenAndADenialIsAnHttp10Response() {
        EmbeddedChannel ch = http10Channel();
        ch.writeInbound(ascii("GET /ok/a HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"));
        DefaultHttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        head.headers().set("content-length", 2);
        filter.onResponse(head);
        filter.onResponse(new io.netty.handler.codec.http.DefaultLastHttpContent(ascii("ok")));
        assertThat(outbound(ch)).startsWith("HTTP/1.0 200 OK\r\n").contains("connection: keep-alive\r\n").endsWith("\r\n\r\nok");
        ch.writeInbound(ascii("GET /secret HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"));
        assertThat(outbound(ch)).startsWith("HTTP/1.0 403 Forbidden\r\n").contains("connection: keep-alive\r\n")
                .endsWith("RBAC: access denied");
        ch.writeInbound(ascii("GET /secret HTTP/1.0\r\nHost: a\r\n\r\n"));
        assertThat(outbound(ch)).startsWith("HTTP/1.0 403 Forbidden\r\n").contains("connection: close\r\n");
        assertThat(upstream.written).hasSize(2); // the first request's head and end
        upstream.release();
        ch.finishAndReleaseAll();
    }

    /**
     * Envoy's balsa_parser.cc sets {@code disallow_multiple_content_length}, so a second {@code Content-Length} line is
     * balsa's MULTIPLE_CONTENT_LENGTH_KEYS (quiche balsa_frame.cc; balsa_frame_test.cc
     * {@code TwoSameContentLengthHeadersIsAnError}), 400, whatever the version. Netty refuses it in HTTP/1.1 only and takes
     * the first value in HTTP/1.0: until 6 December, with {@code accept_http_10}, {@code Content-Length: 3} and
     * {@code Content-Length: 40} forwarded 3 bytes as the body and decided the rest as a request of its own.
     */
    @Test
    void http10WithContentLengthTwiceIs400AsEnvoysCodec() {
        for (String lengths : List.of("Content-Length: 3\r\nContent-Length: 40\r\n", "content-length: 3\r\nCONTENT-LENGTH: 3\r\n")) {
            EmbeddedChannel ch = http10Channel();
            ch.writeInbound(ascii("POST /ok HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n" + lengths
                    + "\r\nabcGET /ok/b HTTP/1.0\r\nHost: a\r\n\r\n"));
            assertThat(outbound(ch)).as(lengths).startsWith("HTTP/1.1 400 Bad Request\r\n").contains("connection: close");
            assertThat(upstream.written).as(lengths).isEmpty();
            ch.finishAndReleaseAll();
        }
        EmbeddedChannel one = http10Channel();
        one.writeInbound(ascii("POST /ok HTTP/1.0\r\nHost: a\r\nX-Content-Length: 1\r\nContent-Length: 3\r\n\r\nabc"));
        assertThat(upstream.written).first().isInstanceOf(HttpRequest.class);
        upstream.release();
        one.finishAndReleaseAll();
    }

    /**
     * What Envoy with {@code accept_http_10} answers, istiod leaving {@code default_host_for_http_10} empty: an
     * HTTP/1.0 request without {@code Host}, and an HTTP/0.9 one (no version, so no headers), 400 (the connection
     * manager's "Require host header", conn_manager_impl.cc {@code MissingHost}); an absolute-form target gives
     * the host; other DIGIT.DIGIT versions are HTTP/1.0 (codec_impl.cc {@code checkProtocolVersion}); invalid ones
     * stay 400 (balsa_parser.cc {@code isVersionValid}).
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0} -> {1}")
    @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', value = {
        "GET /ok HTTP/1.0\\r\\n\\r\\n|400", "GET /ok\\r\\n\\r\\n|400", "GET /ok HTTP/1.01\\r\\nHost: a\\r\\n\\r\\n|400",
        "GET /ok HTTP/1.2\\r\\nHost: a\\r\\n\\r\\n|0", "GET /ok HTTP/0.9\\r\\nHost: a\\r\\n\\r\\n|0",
        "GET http://a/ok HTTP/1.0\\r\\n\\r\\n|0"})
    void http10HostAndVersionsWithAcceptHttp10(String request, int status) {
        EmbeddedChannel ch = http10Channel();
        ch.writeInbound(ascii(request.replace("\\r\\n", "\r\n")));
        String out = outbound(ch);
        if (status == 0) {
            assertThat(out).isEmpty();
            assertThat(upstream.written).first().isInstanceOfSatisfying(HttpRequest.class, r -> {
                assertThat(r.protocolVersion()).isEqualTo(HttpVersion.HTTP_1_1);
                assertThat(r.headers().get("host")).isEqualTo("a");
            });
        } else {
            // Envoy's codec answers an accepted HTTP/1.0 request with an HTTP/1.0 status line (HTTP_10_RESPONSE_PREFIX).
            assertThat(out).startsWith((request.contains("HTTP/1.0\\r\\n") ? "HTTP/1.0 " : "HTTP/1.1 ") + status + " ")
                    .contains("connection: close");
            assertThat(upstream.written).isEmpty();
        }
        upstream.release();
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("HTTP/1.1 passes the version check")
    void http11Passes() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"));
        assertThat(upstream.written).first().isInstanceOf(HttpRequest.class);
        upstream.release();
        ch.finishAndReleaseAll();
    }

    /**
     * A destination only Cilium's HTTP rules decide is fronted, in Cilium, by its Envoy with
     * {@code normalize_path}, {@code merge_slashes} and {@code UNESCAPE_AND_REDIRECT} (cilium/cilium
     * pkg/envoy/xds_server.go {@code getHttpFilterChainProto}): the application reads the path merged,
     * and a path with an escaped slash is answered 307 to its unescaped form before any filter (envoy
     * source/common/http/conn_manager_impl.cc, {@code Code::TemporaryRedirect}) and never forwarded. Before
     * 1 December Istio's forwarding applied to it: {@code /ok//x} went unmerged, {@code /x%2F..%2Fok/y} as sent.
     */
    @Test
    void aCiliumOnlyDestinationGetsCiliumsForwardingAndRedirect() {
        filter = new Http1Filter(CONN, new RequestAdmission.Authorizer() {
            @Override
            public Decision authorize(Conn c, HttpRequest r, String scheme) {
                return r.uri().startsWith("/ok") ? Decision.allowNoPolicy("test") : DENY;
            }

            @Override
            public boolean ciliumPaths(Conn c) {
                return true;
            }
        }, new HttpObserver(null), f -> upstream);
        EmbeddedChannel ch = new EmbeddedChannel(new Http1Decoder(), new HttpResponseEncoder(), filter);
        ch.writeInbound(ascii("GET /ok//x/./y?q=//1 HTTP/1.1\r\nHost: a\r\n\r\n"));
        assertThat(((HttpRequest) upstream.written.get(0)).uri()).isEqualTo("/ok/x/y?q=//1");
        filter.onResponse(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
        filter.onResponse(LastHttpContent.EMPTY_LAST_CONTENT);
        outbound(ch);
        upstream.release();
        upstream.written.clear();

        ch.writeInbound(ascii("GET /x%2F..%2Fok/y?a=b HTTP/1.1\r\nHost: a\r\n\r\n"));
        assertThat(outbound(ch)).isEqualTo("HTTP/1.1 307 Temporary Redirect\r\ncontent-length: 0\r\nlocation: /ok/y?a=b\r\n\r\n");
        assertThat(upstream.written).as("never forwarded").isEmpty();
        assertThat(ch.isActive()).as("the connection stays").isTrue();
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("a denied request is answered with Envoy's RBAC body and nothing goes upstream")
    void deniedAnswer() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /no HTTP/1.1\r\nHost: a\r\n\r\n"));
        assertThat(outbound(ch)).isEqualTo("HTTP/1.1 403 Forbidden\r\ncontent-length: 19\r\ncontent-type: text/plain\r\n\r\nRBAC: access denied");
        assertThat(upstream.written).isEmpty();
        assertThat(ch.isActive()).isTrue();
        ch.finishAndReleaseAll();
    }

    /**
     * A denied request whose body is still to come: Envoy's RBAC answers from decodeHeaders and its connection manager
     * closes an HTTP/1 connection whose response came before the request's end, with {@code connection: close}
     * (envoyproxy/envoy source/common/http/conn_manager_impl.cc {@code encodeHeaders}, {@code !remoteDecodeComplete()},
     * {@code downstream_rq_response_before_rq_complete}), at once, without waiting for the body; the request pipelined
     * after it is not served. Until 5 December the connection stayed open and served it (a review pass).
     */
    @Test
    void aDeniedRequestWithABodyClosesTheConnectionAsEnvoys() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("POST /no HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"));
        assertThat(outbound(ch)).isEqualTo("HTTP/1.1 403 Forbidden\r\ncontent-length: 19\r\ncontent-type: text/plain\r\n"
                + "connection: close\r\n\r\nRBAC: access denied");
        assertThat(upstream.closed).as("closing at once, not after the body").isTrue();
        ch.writeInbound(ascii("hello"), ascii("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"));
        assertThat(upstream.written).as("neither the body nor the next request").isEmpty();
        ch.finishAndReleaseAll();
        // Content-Length: 0 is complete at its head: the connection goes on, as without a body (deniedAnswer).
        EmbeddedChannel empty = channel();
        empty.writeInbound(ascii("POST /no HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"));
        assertThat(outbound(empty)).doesNotContain("connection: close");
        assertThat(empty.isActive()).isTrue();
        empty.finishAndReleaseAll();
        // A chunked body is always still to come.
        EmbeddedChannel chunked = channel();
        chunked.writeInbound(ascii("POST /no HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
        assertThat(outbound(chunked)).contains("connection: close");
        chunked.finishAndReleaseAll();
    }

    /**
     * The request target the application receives is the one RBAC decided on: Envoy's
     * {@code normalize_path} (Istio's default {@code BASE}) rewrites {@code :path} before its filters,
     * and the router forwards the rewritten one. Cases from envoyproxy/envoy
     * test/common/http/path_utility_test.cc ({@code NormalizeValidPaths}, {@code NormalizeCasePath}),
     * the query kept as sent. Before 1 December the target went upstream as sent, so
     * {@code ALLOW paths: [/ok/*]} let {@code /ok/x/../../admin} (decided as {@code /admin})
     * reach an application that routes on the raw path, e.g. by a prefix match on {@code /ok/},
     * as a request RBAC never saw.
     */
    @Test
    @DisplayName("envoy path_utility_test.cc NormalizeValidPaths: the application receives the normalised target RBAC decided on")
    void theApplicationReceivesTheNormalisedTarget() {
        String[][] cases = {
            {"/ok/a/b/../c", "/ok/a/c"},
            {"/ok/a/b/./c", "/ok/a/b/c"},
            {"/ok/a/b/../../../../c", "/c"},
            {"/ok/a/..\\c", "/ok/c"},
            {"/ok/%c0%af", "/ok/%c0%af"},
            {"/ok/%5c%25", "/ok/%5c%25"},
            {"/ok/a/b/%2E%2E/c", "/ok/a/c"},
            {"/ok/a/b/%2e%2e/c", "/ok/a/c"},
            {"/ok/a/%2F%2f/c", "/ok/a/%2F%2f/c"},
            {"/ok/../a/b", "/a/b"},
            {"/ok/%61dmin?x=/../y", "/ok/admin?x=/../y"},
            {"/ok//x", "/ok//x"},
            {"/ok/x?", "/ok/x?"},
        };
        List<String> decided = new ArrayList<>();
        filter = new Http1Filter(CONN, (c, r, s) -> {
            decided.add(r.uri());
            return Decision.allowNoPolicy("test");
        }, new HttpObserver(null), f -> upstream);
        EmbeddedChannel ch = new EmbeddedChannel(new Http1Decoder(), new HttpResponseEncoder(), filter);
        for (String[] c : cases) {
            upstream.written.clear();
            ch.writeInbound(ascii("GET " + c[0] + " HTTP/1.1\r\nHost: a\r\n\r\n"));
            assertThat(decided).as("the engine normalizes the target as sent").last().isEqualTo(c[0]);
            assertThat(((HttpRequest) upstream.written.get(0)).uri()).as(c[0]).isEqualTo(c[1]);
            filter.onResponse(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
            filter.onResponse(LastHttpContent.EMPTY_LAST_CONTENT);
            outbound(ch);
            upstream.release();
        }
        ch.finishAndReleaseAll();
    }

    /**
     * envoyproxy/envoy source/common/http/http1/codec_impl.cc ("removing unsupported h2c upgrade
     * headers", envoy#7161): an h2c upgrade goes on as plain HTTP/1.1, so the application cannot
     * switch the connection to HTTP/2 and serve streams RBAC never sees. Before 1 December the
     * headers went through and a 101 made the connection opaque.
     */
    @Test
    @DisplayName("envoy codec_impl.cc: Upgrade: h2c is removed with its Connection tokens and HTTP2-Settings")
    void h2cUpgradeIsRemoved() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /ok HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade, HTTP2-Settings\r\n"
                + "Upgrade: H2C\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"));
        HttpRequest r = (HttpRequest) upstream.written.get(0);
        assertThat(r.headers().contains("upgrade")).isFalse();
        assertThat(r.headers().contains("http2-settings")).isFalse();
        // What the codec left of Connection (keep-alive) then goes with every hop-by-hop header (Http1Filter.toUpstream).
        assertThat(r.headers().getAll("connection")).isEmpty();
        // Even if the application answers 101, nothing switches: the request asked for no upgrade.
        DefaultHttpResponse switching = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.SWITCHING_PROTOCOLS);
        filter.onResponse(switching);
        assertThat(upstream.upgraded).isFalse();
        upstream.release();
        ch.finishAndReleaseAll();
    }

    /**
     * envoyproxy/envoy source/common/http/utility.cc {@code Utility::sanitizeConnectionHeader}, which its HTTP/1 server
     * codec runs on every request that is not an upgrade before any filter (codec_impl.cc {@code onHeadersCompleteBase}):
     * a header the {@code Connection} header nominates is removed with its token, so RBAC never sees it and the
     * application never reads it; {@code close}, {@code keep-alive} and {@code connection} itself stay; a nominated
     * {@code TE} stays only as {@code trailers}. A websocket upgrade's headers are left as they are
     * ({@code handling_upgrade_}). Framing headers lose their token but stay, so the body forwarded is still framed.
     * Until 6 December a nominated header was decided on and forwarded.
     */
    @Test
    @DisplayName("envoy utility.cc sanitizeConnectionHeader: nominated headers are removed before the decision and never forwarded")
    void headersTheConnectionHeaderNominatesAreRemovedBeforeTheDecision() {
        List<java.util.Map<String, String>> decided = new ArrayList<>();
        filter = new Http1Filter(CONN, (c, r, s) -> {
            java.util.Map<String, String> seen = new java.util.TreeMap<>();
            r.headers().forEach(e -> seen.merge(e.getKey().toLowerCase(java.util.Locale.ROOT), e.getValue(), (a, b) -> a + "," + b));
            decided.add(seen);
            return Decision.allowNoPolicy("test");
        }, new HttpObserver(null), f -> upstream);
        EmbeddedChannel ch = new EmbeddedChannel(new Http1Decoder(), new HttpResponseEncoder(), filter);
        String[][] cases = {
            // request headers after Host, then: what the decision and the application see of X-User, TE, Connection
            {"Connection: keep-alive, X-User\r\nX-User: alice\r\n", null, null, "keep-alive"},
            {"Connection: x-user\r\nConnection: Keep-Alive\r\nX-User: alice\r\nX-User: bob\r\n", null, null, "Keep-Alive"},
            {"Connection: Connection, x-user\r\nConnection: keep-alive\r\nX-User: alice\r\n", null, null, "keep-alive"},
            {"Connection: te\r\nTE: deflate, Trailers\r\n", null, "trailers", "te"},
            {"Connection: te, x-absent\r\nTE: deflate\r\n", null, null, null},
            {"Connection: keep-alive\r\nX-User: alice\r\n", "alice", null, "keep-alive"},
            // Last: the application refuses the upgrade (400), which closes the connection (aRefusedUpgradeClosesTheConnection).
            {"Connection: x-user, upgrade\r\nUpgrade: websocket\r\nX-User: alice\r\n", "alice", null, "x-user, upgrade"},
        };
        // A nominated Content-Length keeps framing the body it framed: the application must not read it as a request.
        ch.writeInbound(ascii("POST /ok HTTP/1.1\r\nHost: a\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nhello"));
        HttpRequest post = (HttpRequest) upstream.written.get(0);
        assertThat(post.headers().get("content-length")).isEqualTo("5");
        assertThat(post.headers().contains("connection")).isFalse();
        filter.onResponse(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
        filter.onResponse(LastHttpContent.EMPTY_LAST_CONTENT);
        outbound(ch);
        upstream.release();
        upstream.written.clear();
        for (String[] c : cases) {
            decided.clear();
            ch.writeInbound(ascii("GET /ok HTTP/1.1\r\nHost: a\r\n" + c[0] + "\r\n"));
            assertThat(decided).as(c[0]).hasSize(1);
            HttpRequest forwarded = (HttpRequest) upstream.written.get(0);
            for (java.util.Map<String, String> seen : List.of(decided.get(0), headersOf(forwarded))) {
                assertThat(seen.get("x-user")).as(c[0]).isEqualTo(c[1]);
                assertThat(seen.get("te")).as(c[0]).isEqualTo(c[2]);
            }
            assertThat(decided.get(0).get("connection")).as(c[0]).isEqualTo(c[3]);
            // The application gets no Connection but an upgrade's (Http1Filter.toUpstream, Envoy's mutateRequestHeaders).
            assertThat(headersOf(forwarded).get("connection")).as(c[0]).isEqualTo(c[0].contains("websocket") ? c[3] : null);
            filter.onResponse(new DefaultHttpResponse(HttpVersion.HTTP_1_1, c[0].contains("websocket")
                    ? HttpResponseStatus.BAD_REQUEST : HttpResponseStatus.OK));
            filter.onResponse(LastHttpContent.EMPTY_LAST_CONTENT);
            outbound(ch);
            upstream.release();
            upstream.written.clear();
        }
        ch.finishAndReleaseAll();
    }

    private static java.util.Map<String, String> headersOf(HttpRequest r) {
        java.util.Map<String, String> seen = new java.util.TreeMap<>();
        r.headers().forEach(e -> seen.merge(e.getKey().toLowerCase(java.util.Locale.ROOT), e.getValue(), (a, b) -> a + "," + b));
        return seen;
    }

    /**
     * envoyproxy/envoy test/common/http/http1/codec_impl_test.cc {@code SketchyConnectionHeader} (13 tokens: 400,
     * {@code http1.connection_header_rejected}) and utility.cc {@code sanitizeConnectionHeader}: 10 tokens or more, a
     * nominated {@code X-Forwarded-For}/{@code -Host}/{@code -Proto} (whose removal would hide where a request came from) or
     * pseudo-header, a nominated TE of 256 bytes or more, are refused with 400 and a close, nothing forwarded. A nominated
     * {@code Host} is removed, and the request then has none: the connection manager's 400. Until 6 December each was
     * forwarded.
     */
    /**
     * Envoy's HTTP/1 codec sanitizes the Connection header before it reads the request target (codec_impl.cc
     * {@code onHeadersCompleteBase}: {@code sanitizeConnectionHeader}, then {@code handlePath}, which sets the Host of an
     * absolute-form target): a nominated {@code Host} is gone, and the absolute form gives the request its Host again.
     * zerohop read the target first and removed the Host it had set from it: 400 for a request Envoy forwards.
     */
    @Test
    void anAbsoluteFormTargetGivesTheHostANominatedHostLost() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET http://a.example/ok HTTP/1.1\r\nHost: b.example\r\nConnection: host\r\n\r\n"));
        assertThat(upstream.written).as(outbound(ch)).first().isInstanceOf(HttpRequest.class);
        HttpRequest forwarded = (HttpRequest) upstream.written.get(0);
        assertThat(forwarded.headers().getAll("host")).containsExactly("a.example");
        assertThat(forwarded.uri()).isEqualTo("/ok");
        upstream.release();
        ch.finishAndReleaseAll();
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {
        "Connection: a,b,c,d,e,f,g,h,i,j,k,l,m\r\n", "Connection: keep-alive,a,b,c,d,e,f,g,h,i\r\n",
        "Connection: X-Forwarded-For\r\nX-Forwarded-For: 10.0.0.1\r\n", "Connection: x-forwarded-host\r\n",
        "Connection: close, x-forwarded-proto\r\n", "Connection: :path\r\n", "Connection: host\r\n"})
    void connectionHeadersEnvoysCodecRefusesGet400(String header) {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /ok HTTP/1.1\r\nHost: a\r\n" + header + "\r\nGET /ok/next HTTP/1.1\r\nHost: a\r\n\r\n"));
        assertThat(outbound(ch)).startsWith("HTTP/1.1 400 Bad Request\r\n").contains("connection: close");
        assertThat(upstream.written).as("neither it nor the request after it goes upstream").isEmpty();
        ch.finishAndReleaseAll();

        EmbeddedChannel te = channel();
        te.writeInbound(ascii("GET /ok HTTP/1.1\r\nHost: a\r\nConnection: te\r\nTE: trailers, " + "x".repeat(250) + "\r\n\r\n"));
        assertThat(outbound(te)).startsWith("HTTP/1.1 400 Bad Request\r\n");
        assertThat(upstream.written).isEmpty();
        te.finishAndReleaseAll();
    }

    /**
     * istiod configures only {@code websocket} upgrades (pilot/pkg/networking/core/listener_builder.go
     * {@code UpgradeConfigs}); Envoy answers any other upgrade 403 ({@code upgrade_failed},
     * source/common/http/conn_manager_impl.cc, with an empty body) and closes. An {@code Upgrade} without the
     * {@code Connection} token is no upgrade and is not forwarded.
     */
    @Test
    @DisplayName("envoy conn_manager_impl.cc upgrade_failed: an upgrade other than websocket gets 403 and a close")
    void upgradesOtherThanWebsocketAreRefused() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /ok HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n"));
        // No body, as Envoy's sendLocalReply(Code::Forbidden, "", ...) for upgrade_failed: content-length 0, no content-type.
        assertThat(outbound(ch)).startsWith("HTTP/1.1 403 Forbidden\r\n").contains("connection: close")
                .containsIgnoringCase("content-length: 0\r\n").doesNotContainIgnoringCase("content-type").endsWith("\r\n\r\n");
        assertThat(upstream.written).isEmpty();
        ch.finishAndReleaseAll();

        upstream = new FakeUpstream();
        EmbeddedChannel plain = channel();
        plain.writeInbound(ascii("GET /ok HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"));
        HttpRequest r = (HttpRequest) upstream.written.get(0);
        assertThat(r.headers().contains("upgrade")).as("no Connection: upgrade, no upgrade").isFalse();
        upstream.release();
        plain.finishAndReleaseAll();
    }

    @Test
    @DisplayName("XFCC from the client is replaced by the mesh's (a Conn without a TLS session: By=<local>;URI=<peer>)")
    void xfccReplaced() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /ok HTTP/1.1\r\nHost: a\r\nX-Forwarded-Client-Cert: By=x;URI=spiffe://evil\r\n"
                + "x-forwarded-client-cert: second\r\n\r\n"));
        HttpRequest r = (HttpRequest) upstream.written.get(0);
        assertThat(r.headers().getAll("x-forwarded-client-cert"))
                .containsExactly("By=spiffe://cluster.local/ns/prod/sa/backend;URI=spiffe://cluster.local/ns/prod/sa/frontend");
        upstream.release();
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("Expect: 100-continue: the interim 100 goes out and the exchange ends only with the final response")
    void interimResponse() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("POST /ok HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"));
        filter.onResponse(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE));
        filter.onResponse(LastHttpContent.EMPTY_LAST_CONTENT);
        assertThat(outbound(ch)).isEqualTo("HTTP/1.1 100 Continue\r\n\r\n");
        // (Until 1 December the GET came before the body, so its first two bytes were the body and "T" the
        // next method, which Envoy's codec refuses and zerohop now does too.)
        ch.writeInbound(ascii("hiGET /no HTTP/1.1\r\nHost: a\r\n\r\n"));
        DefaultHttpResponse ok = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        ok.headers().set("content-length", 0);
        filter.onResponse(ok);
        ch.flush();
        assertThat(outbound(ch)).as("the queued denied request waits for the final response").isEqualTo("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        filter.onResponse(LastHttpContent.EMPTY_LAST_CONTENT);
        assertThat(outbound(ch)).startsWith("HTTP/1.1 403 Forbidden\r\n");
        upstream.release();
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("an allowed Upgrade answered 101 turns the connection into opaque bytes both ways")
    void upgrade() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /ok/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
        DefaultHttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.SWITCHING_PROTOCOLS);
        r.headers().set("connection", "Upgrade").set("upgrade", "websocket");
        filter.onResponse(r);
        filter.onResponse(LastHttpContent.EMPTY_LAST_CONTENT);
        assertThat(upstream.upgraded).isTrue();
        ch.writeInbound(ascii("GET /no HTTP/1.1\r\n\r\n\u0000\u0001"));
        assertThat(upstream.written).hasSize(3);
        assertThat(((ByteBuf) upstream.written.get(2)).toString(StandardCharsets.ISO_8859_1)).isEqualTo("GET /no HTTP/1.1\r\n\r\n\u0000\u0001");
        filter.onResponse(ascii("frame"));
        ch.flush();
        assertThat(outbound(ch)).endsWith("frame");
        upstream.release();
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("a denied Upgrade is answered 403 and the connection closes (what follows cannot be framed)")
    void deniedUpgrade() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /no HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
        assertThat(outbound(ch)).startsWith("HTTP/1.1 403 Forbidden\r\n").contains("connection: close");
        assertThat(upstream.written).isEmpty();
        ch.finishAndReleaseAll();
    }

    /**
     * An allowed upgrade the application refuses (a final status other than 101): Envoy's HTTP/1 codec takes what follows
     * an upgrade request's head as its body (codec_impl.cc {@code onMessageCompleteImpl}, {@code handling_upgrade_}), so
     * the request is not complete when the refusal comes and the connection manager closes the connection after it, with
     * {@code connection: close} (conn_manager_impl.cc {@code encodeHeaders}, {@code !remoteDecodeComplete()}). Until
     * 6 December the connection stayed open and a request pipelined behind the refused upgrade was forwarded.
     */
    @Test
    void aRefusedUpgradeClosesTheConnection() {
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /ok/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
        int forwarded = upstream.written.size();
        DefaultHttpResponse refused = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        refused.headers().set("content-length", 0);
        filter.onResponse(refused);
        filter.onResponse(LastHttpContent.EMPTY_LAST_CONTENT);
        assertThat(upstream.upgraded).isFalse();
        assertThat(outbound(ch)).startsWith("HTTP/1.1 200 OK\r\n").contains("connection: close");
        ch.writeInbound(ascii("GET /ok/next HTTP/1.1\r\nHost: a\r\n\r\n"));
        assertThat(upstream.written).as("nothing more goes upstream").hasSize(forwarded);
        upstream.release();
        ch.finishAndReleaseAll();
    }

    /**
     * quiche quiche/balsa/balsa_frame.cc {@code ParseHTTPFirstLine}: Envoy's HTTP/1 parser reads a request line as three
     * runs of non-whitespace and drops whitespace after the version, so a trailing space or tab, or more than one
     * separator between the parts, is a valid request; Netty 4.2 refuses it and until 6 December zerohop answered 400.
     * The line goes to the application as {@code GET /ok HTTP/1.1}; a pipelined request after it in the same read is read
     * from where it starts. Something after the version is still an invalid version.
     */
    @Test
    @DisplayName("balsa ParseHTTPFirstLine: whitespace after the version or between the parts is no error")
    void aRequestLineWithTrailingOrRepeatedWhitespaceIsReadAsBalsaReadsIt() {
        for (String line : List.of("GET /ok HTTP/1.1 ", "GET /ok HTTP/1.1\t", "GET  /ok \t HTTP/1.1", "GET\t/ok\tHTTP/1.1  ")) {
            EmbeddedChannel ch = channel();
            ch.writeInbound(ascii(line + "\r\nHost: a\r\n\r\nGET /ok/next HTTP/1.1\r\nHost: a\r\n\r\n"));
            assertThat(upstream.written).as(line).isNotEmpty();
            HttpRequest r = (HttpRequest) upstream.written.get(0);
            assertThat(r.decoderResult().isSuccess()).as(line).isTrue();
            assertThat(r.method().name() + " " + r.uri() + " " + r.protocolVersion()).as(line).isEqualTo("GET /ok HTTP/1.1");
            assertThat(r.headers().get("host")).as(line).isEqualTo("a");
            filter.onResponse(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
            filter.onResponse(LastHttpContent.EMPTY_LAST_CONTENT);
            assertThat(upstream.written.stream().filter(o -> o instanceof HttpRequest).map(o -> ((HttpRequest) o).uri()).toList())
                    .as(line).containsExactly("/ok", "/ok/next");
            assertThat(outbound(ch)).as(line).startsWith("HTTP/1.1 200 ");
            upstream.release();
            upstream.written.clear();
            ch.finishAndReleaseAll();
        }
        EmbeddedChannel ch = channel();
        ch.writeInbound(ascii("GET /ok HTTP/1.1 x\r\nHost: a\r\n\r\n"));
        assertThat(upstream.written).isEmpty();
        assertThat(outbound(ch)).startsWith("HTTP/1.1 400 ");
        ch.finishAndReleaseAll();
    }
}
