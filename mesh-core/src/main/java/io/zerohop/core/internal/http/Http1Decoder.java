package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.List;

/**
 * Netty's request decoder plus the one framing check it lacks: obsolete line folding (RFC 9112
 * §5.2). Netty 4.2 already fails a request that has both Content-Length and Transfer-Encoding,
 * several Content-Length values (in HTTP/1.1 only: an HTTP/1.0 request's are checked here, {@link #contentLengthLines}), a
 * transfer coding other than a final {@code chunked}, invalid
 * header name or value characters, or headers over the size limit; it silently
 * joins folded lines, which is how a header can mean one thing here and another to the
 * application; and it reads any {@code NAME/d.d} version and skips a request line without one, where
 * Envoy answers 426 or 400 ({@link #versionProblem}). A folded header block or such a request line
 * yields a failed {@link HttpRequest} and nothing after it is ever decoded (the connection is answered
 * 400, or 426, and closed).
 *
 * <p>To see the whole header block at once, decoding of a new message waits until its blank line
 * has arrived, or until what has arrived of it is over Envoy's 60 KiB as Envoy's codec counts it (the URL and the
 * header names and values so far, {@link #countHead}), which is refused with 431 at once, ended or not.
 *
 * <p>A bare LF ends a line as CRLF does (RFC 9112 §2.2 allows a recipient to), as in Envoy's HTTP/1 codecs:
 * http-parser (its request-line and header states take LF where they expect CR) and Balsa both take a lone LF for
 * a line end. Netty 4.2's strict line parsing (its default) would refuse it; it is turned off, and the blank line
 * is found with either end.
 * The request goes on to the application re-encoded with CRLF, so the two never read different lines.
 */
final class Http1Decoder extends HttpRequestDecoder {
    /**
     * Envoy's default {@code max_request_headers_kb} is 60, and its HTTP/1 codec counts the request's URL in it: the URL
     * and the header names and values together (envoyproxy/envoy test/integration http_integration.cc
     * {@code testLargeRequestUrl}: a URL over the limit is 431). Checked as Envoy counts it ({@link #headBytes}), and on
     * a head that has not ended yet as it arrives ({@link #countHead}).
     */
    static final int MAX_HEADER_SIZE = 60 * 1024;
    /**
     * Netty's own bound on the request line: the 60 KiB budget's URL and room for the method and version, so that a
     * long URL within Envoy's budget passes (until 5 December a 16 KiB line limit refused 16-60 KiB URLs with 414, a
     * review pass) and a longer one gets 431 as in Envoy ({@link LocalReplies#statusFor}).
     */
    static final int MAX_INITIAL_LINE = MAX_HEADER_SIZE + 64;
    /**
     * Envoy's default {@code common_http_protocol_options.max_headers_count} (istiod leaves it): a request
     * with more header fields gets 431 from its HTTP/1 codec ({@code codec_impl.cc}, details
     * {@code http1.too_many_headers}).
     */
    static final int MAX_HEADERS_COUNT = 100;

    private boolean inBody;
    /**
     * Bytes of the pending head, counted from its first byte, already searched for the blank line without finding it:
     * the next read resumes there (less the two bytes a split CRLF LF can leave open) instead of rescanning the whole
     * head, which byte-sized reads of a head near the 76 KiB bound made quadratic (~3 billion byte reads for one request; measured, one byte per read of a 58 KB head: three requests did not finish in 11 CPU-minutes, now 1.3-2.6 s each on an EmbeddedChannel with paranoid leak detection).
     */
    private int scanned;
    /**
     * Envoy's count ({@link #headBytes}) of the pending head's bytes read so far, {@link #counted} of them (from its first
     * byte), and where that count stands in the head ({@link #LINE_START} etc.): kept across reads, as {@link #scanned}
     * is, so that a head arriving in small reads is counted once, not from its start at every read. Counted only once
     * the head is over 60 KiB: before that its count cannot be.
     */
    private long headCount;
    private int counted;
    private int countState = METHOD;
    private boolean failed;
    /** Where the head decoded last starts and where its blank line is, in the cumulation ({@link #contentLengthLines}). */
    private int headStart;
    private int headEnd;
    /** Where the head being decoded began in what the connection read ({@link Http1WireBytes}), -1 when not metered. */
    private long headWireStart = -1;
    /** Envoy's {@code accept_http_10} (istiod's {@code PILOT_HTTP10} / {@code HTTP10} metadata). */
    private final boolean acceptHttp10;

    /** With Istio's default: every version but HTTP/1.1 refused with 426. */
    Http1Decoder() {
        this(false);
    }

    /**
     * @param acceptHttp10 Envoy's {@code accept_http_10}: every {@code HTTP/}DIGIT{@code .}DIGIT version but
     *                     1.1 is decoded as an {@link HttpVersion#HTTP_1_0} request (Envoy's codec reads them all
     *                     as HTTP/1.0), and a request line without a version (HTTP/0.9, which has no headers)
     *                     gets 400 for its missing Host, as Envoy answers it with {@code default_host_for_http_10}
     *                     unset, which istiod never sets; false: 426 for all of them
     */
    Http1Decoder(boolean acceptHttp10) {
        // RFC 9112's Transfer-Encoding rules set here, not left to Netty's JVM-wide io.netty.handler.codec.http.rfc9112TransferEncoding
        // (true by default): an application embedding zerohop that turned it off for a server of its own turned it off here
        // too, and Content-Length with Transfer-Encoding, which Envoy's codec refuses in any version
        // (http1.content_length_and_chunked_not_allowed), was taken: an HTTP/1.1 head lost its Content-Length, an HTTP/1.0 one
        // kept both and went to the application with both.
        super(new HttpDecoderConfig().setMaxInitialLineLength(MAX_INITIAL_LINE).setMaxHeaderSize(MAX_HEADER_SIZE)
                .setMaxChunkSize(64 * 1024).setStrictLineParsing(false).setUseRfc9112TransferEncoding(true));
        this.acceptHttp10 = acceptHttp10;
    }

    /**
     * Whether a request head has begun to arrive and not ended (this decoder holds a head until its blank line, the
     * whitespace before a request line skipped): Envoy's HTTP/1 codec has a stream from a request's first byte
     * (codec_impl.cc {@code ServerConnectionImpl::onMessageBeginBase}, {@code callbacks_.newStream}), so such a
     * connection is not idle ({@code Http1Filter.drain}). Event loop only.
     */
    boolean headBegun() {
        return !inBody && !failed && actualReadableBytes() > 0;
    }

    /**
     * A request head decoded here, with where it began in what its connection read ({@link Http1WireBytes}): a request
     * read while the one before it was in progress (pipelined) is metered from there ({@code Http1Filter.line}).
     */
    static final class WireRequest extends io.netty.handler.codec.http.DefaultHttpRequest {
        /** The connection's received-byte count at this request's first byte; -1 when not metered. */
        final long wireStart;

        WireRequest(HttpRequest r, long wireStart) {
            super(r.protocolVersion(), r.method(), r.uri(), r.headers());
            this.wireStart = wireStart;
        }
    }

    @Override
    protected io.netty.handler.codec.http.HttpMessage createMessage(String[] initialLine) throws Exception {
        return new WireRequest((HttpRequest) super.createMessage(initialLine), headWireStart);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf buffer, List<Object> out) throws Exception {
        if (failed) {
            buffer.skipBytes(buffer.readableBytes());
            return;
        }
        if (!inBody) {
            // Netty skips control characters and whitespace before a request line (RFC 9112 section 2.2
            // allows empty lines there). Skipped here first: a leading CRLFCRLF was the blank line found
            // below, so the real header block went to Netty unchecked and its obs-fold was joined.
            int ri = buffer.readerIndex();
            while (ri < buffer.writerIndex() && skipped(buffer.getByte(ri))) {
                ri++;
            }
            buffer.readerIndex(ri);
            if (!buffer.isReadable()) {
                return;
            }
            int first = ri;
            int end = blankLine(buffer, ri, ri + Math.max(1, scanned - 2));
            if (end < 0) {
                scanned = buffer.writerIndex() - ri;
                // Envoy's HTTP/1 codec checks its count (the URL, then every header name and value, the one still arriving
                // included) as each piece of the head arrives, and answers 431 as soon as it is over max_request_headers_kb,
                // whether or not the head has ended (envoyproxy/envoy source/common/http/http1/codec_impl.cc onUrl,
                // onHeaderField and onHeaderValue calling checkMaxHeadersSize, "headers size exceeds limit"). The same count
                // here, on what has arrived: until 5 December an unended head was refused only past the 76 KiB bound below,
                // so one of 60-76 KiB that never ended got no 431 before the idle timeout closed it (a review pass;
                // Netty's own limits never see a head this decoder holds back until its blank line).
                if (buffer.readableBytes() > MAX_HEADER_SIZE && countHead(buffer, ri) > MAX_HEADER_SIZE) {
                    refuse(buffer, out, new io.netty.handler.codec.http.TooLongHttpHeaderException("HTTP request head without its end"
                            + " whose URL and headers are over " + MAX_HEADER_SIZE
                            + " bytes already (Envoy's max_request_headers_kb, which counts the URL)"));
                    return;
                }
                // A head that big is over Envoy's budget whatever its separators (the URL and at most 100 fields,
                // MAX_HEADERS_COUNT, of at most 4 separator bytes each): 431, as Envoy answers a head over
                // max_request_headers_kb. Refused here, not handed to Netty, whose own limits (a 60 KiB + 64 line, 60 KiB of
                // header lines) took some of these heads apart (a 426 for a header line read as a request line) or consumed
                // part of one, after which the blank-line search resumed past the rest (a final review pass). The bound it
                // was until 5 December (16 + 60 KiB): what one connection may make this side buffer; past the count above,
                // only a head with more than 16 KiB of separators and leading whitespace reaches it.
                if (buffer.readableBytes() > MAX_HEADER_SIZE + 16 * 1024) {
                    refuse(buffer, out, new io.netty.handler.codec.http.TooLongHttpHeaderException("HTTP request head of over "
                            + (MAX_HEADER_SIZE + 16 * 1024) + " bytes without its end, more than " + MAX_HEADER_SIZE
                            + " (Envoy's max_request_headers_kb, which counts the URL)"));
                }
                return;
            }
            scanned = 0;
            headCount = 0;
            counted = 0;
            countState = METHOD;
            RuntimeException bad = folded(buffer, ri, end) ? obsFold(buffer, ri, end) : versionProblem(buffer, ri, end);
            if (bad != null) {
                refuse(buffer, out, bad);
                return;
            }
            ri = requestLineAsBalsaReadsIt(buffer, ri, end);
            buffer.readerIndex(ri);
            headStart = ri;
            headEnd = end;
            Http1WireBytes wire = ctx.pipeline().get(Http1WireBytes.class);
            headWireStart = wire == null ? -1 : wire.received() - (buffer.writerIndex() - first);
        }
        int before = out.size();
        super.decode(ctx, buffer, out);
        for (int i = before; i < out.size(); i++) {
            Object o = out.get(i);
            if (o instanceof HttpRequest r) {
                RuntimeException refused = null;
                long head = r.decoderResult().isSuccess() ? headBytes(r) : 0;
                if (r.decoderResult().isSuccess() && r.headers().size() > MAX_HEADERS_COUNT) {
                    refused = new io.netty.handler.codec.http.TooLongHttpHeaderException(
                            "HTTP request has " + r.headers().size() + " header fields, more than " + MAX_HEADERS_COUNT
                                    + " (Envoy's max_headers_count)");
                } else if (head > MAX_HEADER_SIZE) {
                    refused = new io.netty.handler.codec.http.TooLongHttpHeaderException("HTTP request URL and headers of " + head
                            + " bytes, more than " + MAX_HEADER_SIZE + " (Envoy's max_request_headers_kb, which counts the URL)");
                } else if (r.decoderResult().isSuccess()) {
                    refused = transferCodingProblem(r);
                    int lines;
                    if (refused == null && !HttpVersion.HTTP_1_1.equals(r.protocolVersion())
                            && (lines = contentLengthLines(buffer, headStart, headEnd)) > 1) {
                        // Netty checks repeated Content-Length only in HTTP/1.1 and takes the first for any other version
                        // (HttpUtil.normalizeAndGetContentLength), so `Content-Length: 3` and `Content-Length: 40` in an
                        // HTTP/1.0 request (accept_http_10) framed 3 bytes. Envoy's codec refuses a second Content-Length line
                        // whatever the version and values: balsa_parser.cc sets disallow_multiple_content_length, and balsa
                        // answers MULTIPLE_CONTENT_LENGTH_KEYS (quiche balsa_frame.cc), 400.
                        refused = new IllegalArgumentException("Multiple Content-Length values found: " + lines
                                + " Content-Length lines in an " + r.protocolVersion().text() + " request");
                    }
                }
                if (refused != null) {
                    r.setDecoderResult(DecoderResult.failure(refused));
                    // Refused as a whole, as a failed head is: nothing after it is decoded (its body, a pipelined request).
                    while (out.size() > i + 1) {
                        io.netty.util.ReferenceCountUtil.release(out.remove(out.size() - 1));
                    }
                    failed = true;
                    buffer.skipBytes(buffer.readableBytes());
                    return;
                }
                inBody = true;
                if (acceptHttp10 && !HttpVersion.HTTP_1_1.equals(r.protocolVersion()) && r.decoderResult().isSuccess()) {
                    // Envoy's codec: "anything which is not HTTP/1.1" is HTTP/1.0 (keep-alive only when asked).
                    r.setProtocolVersion(HttpVersion.HTTP_1_0);
                }
            }
            if (o instanceof LastHttpContent last) {
                inBody = false;
                if (!last.trailingHeaders().isEmpty()) {
                    // Envoy's HTTP/1 codec drops a request's trailers unless enable_trailers is set, which istiod does not
                    // set (Http1ProtocolOptions, protocol.proto: "By default the HTTP/1 codec drops proxied trailers").
                    // Forwarded, a client's X-Forwarded-Client-Cert or Host trailer reached the application beside the
                    // headers the policy judged (a new-user pass).
                    last.trailingHeaders().clear();
                }
            }
        }
    }

    /**
     * Refuses the connection's input from here on: one failed request carrying {@code why}, nothing decoded after it. A
     * full request, as Netty's own stand-in for a head it could not read: the access line then shows {@code - -} for the
     * method and path, as Envoy's does for a head refused before it was complete (its codec hands no headers to the
     * stream), where it showed the stand-in's {@code GET /bad-request} until 5 December (a new-user pass). A refused line
     * ({@link RequestLineException}) keeps the method and target it showed.
     */
    private void refuse(ByteBuf buffer, List<Object> out, RuntimeException why) {
        failed = true;
        buffer.skipBytes(buffer.readableBytes());
        HttpRequest failure = new io.netty.handler.codec.http.DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/bad-request",
                io.netty.buffer.Unpooled.EMPTY_BUFFER);
        failure.setDecoderResult(DecoderResult.failure(why));
        out.add(failure);
    }

    /**
     * Envoy's HTTP/1 codec answers 501 ({@code codec_impl.cc}, "http/1.1 protocol error: unsupported transfer
     * encoding", details {@code http1.invalid_transfer_encoding}) to a request whose Transfer-Encoding, its
     * repeats joined with ",", is anything but {@code chunked} (any case), and to a CONNECT that has one. Netty
     * accepts any list ending in {@code chunked} ({@code gzip, chunked}), which then reached the application with
     * codings it may read differently (a new-user pass); null when the request has no such problem.
     */
    private static RuntimeException transferCodingProblem(HttpRequest r) {
        // Checked on every request head: most have no Transfer-Encoding, and getAll would allocate a list for them.
        if (!r.headers().contains(io.netty.handler.codec.http.HttpHeaderNames.TRANSFER_ENCODING)) {
            return null;
        }
        List<String> te = r.headers().getAll(io.netty.handler.codec.http.HttpHeaderNames.TRANSFER_ENCODING);
        String joined = te.size() == 1 ? te.get(0).strip() : String.join(",", te.stream().map(String::strip).toList());
        if (joined.equalsIgnoreCase("chunked") && !HttpMethod.CONNECT.equals(r.method())) {
            return null;
        }
        return new RequestLineException(501, "unsupported transfer encoding: \"" + (joined.length() > 64 ? joined.substring(0, 64) : joined)
                + "\"" + (HttpMethod.CONNECT.equals(r.method()) ? " on CONNECT" : ""), r.method().name(), r.uri(),
                r.protocolVersion().text());
    }

    /** What Netty's decoder skips before a request line: ISO control characters and whitespace. */
    private static boolean skipped(byte c) {
        int v = c & 0xff;
        return v <= 0x20 || (v >= 0x7f && v <= 0x9f);
    }

    /**
     * The index just before the LF that ends the header block's last line (its CR in a CRLFCRLF), for the first
     * blank line at or after {@code from}: that LF followed by LF or CRLF (a bare LF ends a line as Envoy's codecs
     * read it); -1 while there is none. The search starts at {@code resume}, where the previous read's search left off.
     */
    private static int blankLine(ByteBuf b, int from, int resume) {
        int to = b.writerIndex() - 1;
        for (int i = Math.max(from + 1, resume); i < to; i++) {
            if (b.getByte(i) == '\n') {
                byte next = b.getByte(i + 1);
                if (next == '\n' || (next == '\r' && i + 2 <= to && b.getByte(i + 2) == '\n')) {
                    return i - 1;
                }
            }
        }
        return -1;
    }

    /**
     * How many header lines of the head at {@code from} (its blank line at {@code end}) are named {@code Content-Length}
     * (any case; Netty takes the name up to the colon, with no whitespace before it). Read only for a request whose version
     * is not HTTP/1.1, which Netty does not check itself, so an HTTP/1.1 head costs nothing here.
     */
    private static int contentLengthLines(ByteBuf b, int from, int end) {
        int n = 0;
        for (int i = b.indexOf(from, end + 1, (byte) '\n'); i >= 0 && i < end; i = b.indexOf(i + 1, end + 1, (byte) '\n')) {
            if (i + CONTENT_LENGTH.length() < b.writerIndex() && b.getByte(i + 1 + 14) == ':') {
                boolean name = true;
                for (int k = 0; k < 14 && name; k++) {
                    name = (b.getByte(i + 1 + k) | 0x20) == CONTENT_LENGTH.charAt(k);
                }
                n += name ? 1 : 0;
            }
        }
        return n;
    }

    private static final String CONTENT_LENGTH = "content-length:";

    /** A header line starting with SP or HTAB (obs-fold) before the blank line at {@code end}. */
    private static boolean folded(ByteBuf b, int from, int end) {
        for (int i = from + 1; i <= end + 1; i++) {
            byte c = b.getByte(i);
            if ((c == ' ' || c == '\t') && b.getByte(i - 1) == '\n') {
                return true;
            }
        }
        return false;
    }

    /** Where {@link #countHead} stands in a head: in the request line's method, before its target, in it, past it. */
    private static final int METHOD = 0, BEFORE_TARGET = 1, TARGET = 2, LINE_REST = 3;
    /** ... or at the start of a header line, in its name, before its value (after the colon), in its value. */
    private static final int LINE_START = 4, NAME = 5, BEFORE_VALUE = 6, VALUE = 7;

    /**
     * Envoy's count ({@link #headBytes}) of the unended head starting at {@code from}, as far as it has arrived: the
     * target's bytes, then every header name's and value's, the value without its leading whitespace (Envoy's
     * {@code onHeaderValue} trims it, {@code codec_impl.cc}) and with whatever of it has arrived, as Envoy's codec counts a
     * value still arriving ({@code getHeadersSize}: the current field and value with the completed headers). Line ends
     * and CRs are not counted. Resumes where the previous read left off ({@link #counted}), so each byte is looked at once.
     */
    private long countHead(ByteBuf b, int from) {
        int state = countState;
        long n = headCount;
        int to = b.writerIndex();
        for (int i = from + counted; i < to; i++) {
            byte c = b.getByte(i);
            if (c == '\n') {
                state = LINE_START;
                continue;
            }
            switch (state) {
                case METHOD -> state = separator(c) ? BEFORE_TARGET : METHOD;
                case BEFORE_TARGET -> {
                    if (!separator(c)) {
                        n++;
                        state = TARGET;
                    }
                }
                case TARGET -> {
                    if (separator(c)) {
                        state = LINE_REST;
                    } else {
                        n++;
                    }
                }
                case LINE_REST -> { }
                case LINE_START -> {
                    if (c == ' ' || c == '\t') {
                        state = BEFORE_VALUE; // obs-fold: more of the value (refused with 400 once the head ends)
                    } else if (c == ':') {
                        state = BEFORE_VALUE;
                    } else if (c != '\r') {
                        n++;
                        state = NAME;
                    }
                }
                case NAME -> {
                    if (c == ':') {
                        state = BEFORE_VALUE;
                    } else if (c != '\r') {
                        n++;
                    }
                }
                case BEFORE_VALUE -> {
                    if (c != ' ' && c != '\t' && c != '\r') {
                        n++;
                        state = VALUE;
                    }
                }
                default -> {
                    if (c != '\r') {
                        n++;
                    }
                }
            }
        }
        countState = state;
        counted = to - from;
        headCount = n;
        return n;
    }

    /**
     * What Envoy's HTTP/1 codec counts against {@code max_request_headers_kb}: the URL's bytes and every header's name and
     * value bytes (its header map's {@code byteSize}), without the separators and line ends.
     */
    static long headBytes(HttpRequest r) {
        long n = r.uri().length();
        for (java.util.Iterator<java.util.Map.Entry<CharSequence, CharSequence>> it = r.headers().iteratorCharSequence(); it.hasNext(); ) {
            java.util.Map.Entry<CharSequence, CharSequence> h = it.next();
            n += h.getKey().length() + h.getValue().length();
        }
        return n;
    }

    /**
     * What is wrong with the HTTP version of the request line starting at {@code from} (the header block
     * ends at {@code end}), as Envoy's HTTP/1 codec with Istio's settings answers it, or null for
     * {@code HTTP/1.1}. Balsa accepts {@code HTTP/} DIGIT {@code .} DIGIT, or no version at all (HTTP/0.9),
     * and refuses any other version text with 400 ({@code balsa_parser.cc} {@code isVersionValid},
     * {@code HPE_INVALID_VERSION}); the codec then takes every accepted version but {@code HTTP/1.1} for
     * HTTP/1.0 and, with {@code accept_http_10} off (istiod sets it only under {@code PILOT_HTTP10} or the
     * {@code HTTP10} proxy metadata), answers 426 ({@code codec_impl.cc} {@code checkProtocolVersion},
     * "Upgrade required for HTTP/1.0 or HTTP/0.9"); both close the connection. Netty would read
     * {@code HTTP/1.01} as HTTP/1.1, {@code HTTP/1.2} as a keep-alive version of its own, and skip a
     * request line without a version without a word. With {@link #acceptHttp10} every valid version is accepted
     * (null; decoded as HTTP/1.0 below) and a line without one gets 400 for its missing Host.
     */
    private RuntimeException versionProblem(ByteBuf b, int from, int end) {
        int lf = b.indexOf(from, end + 2, (byte) '\n');
        if (lf < 0 || lf - from > MAX_INITIAL_LINE) {
            return null; // Netty's own limits answer it
        }
        // Tokens split at the separators Netty's decoder accepts (SP HTAB VT FF CR), so no token hides a
        // second one; read in place, as this runs for every request head.
        int e = lf;
        while (e > from && separator(b.getByte(e - 1))) {
            e--;
        }
        int i = from;
        while (i < e && !separator(b.getByte(i))) {
            i++; // the method
        }
        int methodEnd = i;
        while (i < e && separator(b.getByte(i))) {
            i++;
        }
        if (i == e) {
            return new RequestLineException(400, "request line without a target: HPE_INVALID_URL",
                    text(b, from, methodEnd), "-", "-");
        }
        int targetStart = i;
        while (i < e && !separator(b.getByte(i))) {
            i++; // the target
        }
        int targetEnd = i;
        while (i < e && separator(b.getByte(i))) {
            i++;
        }
        // The version is the rest of the line: "HTTP/1.1 x" is one invalid version, as balsa reads it.
        int len = e - i;
        if (len == 8 && b.getByte(i) == 'H' && b.getByte(i + 1) == 'T' && b.getByte(i + 2) == 'T' && b.getByte(i + 3) == 'P'
                && b.getByte(i + 4) == '/') {
            byte major = b.getByte(i + 5);
            byte minor = b.getByte(i + 7);
            if (major == '1' && b.getByte(i + 6) == '.' && minor == '1') {
                return null;
            }
            if (digit(major) && b.getByte(i + 6) == '.' && digit(minor)) {
                if (acceptHttp10) {
                    return null;
                }
                return new RequestLineException(426, "Upgrade required for HTTP/1.0 or HTTP/0.9: "
                        + b.toString(i, len, java.nio.charset.StandardCharsets.ISO_8859_1),
                        text(b, from, methodEnd), text(b, targetStart, targetEnd), HTTP_10);
            }
        }
        if (len == 0 && acceptHttp10) {
            // Accepted as HTTP/1.0 by the codec, then the connection manager's "Require host header":
            // HTTP/0.9 has no headers, and istiod leaves default_host_for_http_10 empty (conn_manager_impl.cc).
            return new RequestLineException(400, "missing host header: HTTP/0.9 request (no version), "
                    + "and no default_host_for_http_10", text(b, from, methodEnd), text(b, targetStart, targetEnd), HTTP_10);
        }
        if (len == 0) {
            return new RequestLineException(426, "Upgrade required for HTTP/1.0 or HTTP/0.9: no version (HTTP/0.9)",
                    text(b, from, methodEnd), text(b, targetStart, targetEnd), HTTP_10);
        }
        return new RequestLineException(400, "HPE_INVALID_VERSION: \""
                + b.toString(i, Math.min(len, 64), java.nio.charset.StandardCharsets.ISO_8859_1) + "\"",
                text(b, from, methodEnd), text(b, targetStart, targetEnd), "-");
    }

    /**
     * Rewrites the request line starting at {@code from} (the head's blank line at {@code end}) as
     * {@code METHOD SP TARGET SP VERSION CRLF} when its separators are other than that, and returns where it now starts.
     * Balsa, Envoy's HTTP/1 parser, reads a request line as three runs of non-whitespace separated by any whitespace, and
     * drops whitespace after the version (quiche quiche/balsa/balsa_frame.cc {@code ParseHTTPFirstLine},
     * {@code ParseOneIsland}: "Clean up any trailing whitespace that comes after the third island"; Envoy's
     * balsa_parser.cc leaves {@code sanitize_firstline_spaces} and {@code sanitize_cr_tab_in_first_line} at
     * {@code NONE}), so {@code GET /ok HTTP/1.1 } (a trailing space or tab) or two spaces between the parts are a valid
     * request there; Netty 4.2 refuses them ("Illegal character in request line"), and until 6 December zerohop answered
     * them 400. Only a line whose version this decoder accepted ({@link #versionProblem} null) gets here, so the version has
     * no whitespace in it; the line is copied into the space it took (the rewritten one is never longer but for a lone
     * separator that was not a space, when it ends in a bare LF, which this decoder reads as CRLF). Nothing else of the head
     * is touched; a read-only buffer is left to Netty's refusal.
     */
    private static int requestLineAsBalsaReadsIt(ByteBuf b, int from, int end) {
        int lf = b.indexOf(from, end + 2, (byte) '\n');
        if (lf < 0 || lf - from > MAX_INITIAL_LINE || b.isReadOnly()) {
            return from;
        }
        int e = lf;
        while (e > from && separator(b.getByte(e - 1))) {
            e--;
        }
        int i = from;
        while (i < e && !separator(b.getByte(i))) {
            i++;
        }
        int methodEnd = i;
        while (i < e && separator(b.getByte(i))) {
            i++;
        }
        int targetStart = i;
        while (i < e && !separator(b.getByte(i))) {
            i++;
        }
        int targetEnd = i;
        while (i < e && separator(b.getByte(i))) {
            i++;
        }
        int versionStart = i;
        if (versionStart == e || targetStart == targetEnd) {
            return from; // no version or no target: versionProblem answered it
        }
        boolean asNetty = targetStart - methodEnd == 1 && b.getByte(methodEnd) == ' ' && versionStart - targetEnd == 1
                && b.getByte(targetEnd) == ' ' && (lf == e || (lf == e + 1 && b.getByte(e) == '\r'));
        if (asNetty) {
            return from;
        }
        int method = methodEnd - from;
        int target = targetEnd - targetStart;
        int version = e - versionStart;
        int crlf = method + target + version + 4 <= lf + 1 - from ? 2 : 1;
        byte[] line = new byte[method + target + version + 2 + crlf];
        b.getBytes(from, line, 0, method);
        line[method] = ' ';
        b.getBytes(targetStart, line, method + 1, target);
        line[method + 1 + target] = ' ';
        b.getBytes(versionStart, line, method + target + 2, version);
        if (crlf == 2) {
            line[line.length - 2] = '\r';
        }
        line[line.length - 1] = '\n';
        int start = lf + 1 - line.length;
        b.setBytes(start, line);
        return start;
    }

    /** The refusal of a folded header block, with its request line's method, target and version for the log. */
    private static ObsFoldException obsFold(ByteBuf b, int from, int end) {
        int lf = b.indexOf(from, end + 2, (byte) '\n');
        String[] t = text(b, from, lf).strip().split("[ \t\u000b\f\r]+", 3);
        String v = t.length > 2 ? t[2] : "";
        // Envoy's %PROTOCOL%: HTTP/1.1, HTTP/1.0 for any other HTTP/d.d (accepted only with accept_http_10), else "-".
        String protocol = v.equals("HTTP/1.1") ? v : v.matches("HTTP/\\d\\.\\d") ? HTTP_10 : "-";
        return new ObsFoldException(t[0], t.length > 1 ? t[1] : "-", protocol);
    }

    /** Envoy's codec names every request-line version but 1.1 HTTP/1.0, and so does its access log's {@code %PROTOCOL%}. */
    private static final String HTTP_10 = HttpVersion.HTTP_1_0.text();

    /** Only for a refused line: a valid request head allocates nothing here. */
    private static String text(ByteBuf b, int from, int to) {
        return b.toString(from, to - from, java.nio.charset.StandardCharsets.ISO_8859_1);
    }

    private static boolean separator(byte c) {
        return c == ' ' || c == '\t' || c == 0x0b || c == '\f' || c == '\r';
    }

    private static boolean digit(byte c) {
        return c >= '0' && c <= '9';
    }

    /**
     * A request line Envoy's codec refuses: {@code status} 400 or 426, the connection closed after it. What the
     * line showed goes to the access log: {@code method} and {@code target} as sent ({@code "-"} when absent), and
     * {@code protocol} as Envoy's {@code %PROTOCOL%} names it ({@code HTTP/1.0} for every version but 1.1, {@code "-"}
     * for an invalid one).
     */
    static class RequestLineException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;
        final int status;
        final String method;
        final String target;
        final String protocol;

        RequestLineException(int status, String message, String method, String target, String protocol) {
            super(message);
            this.status = status;
            this.method = method;
            this.target = target;
            this.protocol = protocol;
        }
    }

    /** Obsolete line folding in a request header (RFC 9112 §5.2: a server must reject it or replace it). */
    static final class ObsFoldException extends RequestLineException {
        private static final long serialVersionUID = 1L;

        /** {@code method}, {@code target}, {@code version}: the request line's tokens as sent, for the log. */
        ObsFoldException(String method, String target, String version) {
            super(400, "obsolete line folding (obs-fold) in a header", method, target, version);
        }
    }
}
