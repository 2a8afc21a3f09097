package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.concurrent.ScheduledFuture;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.internal.Hold;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Protocol detection for {@code auto} ports, as Envoy's {@code http_inspector} listener filter:
 * looks at the first bytes for an HTTP/1 request line ({@code METHOD SP target SP HTTP/d.d CRLF})
 * or the HTTP/2 connection preface, within {@link #MAX_INSPECT} bytes (Envoy's inspector reads at
 * most 8 KiB) and {@link #timeoutMillis} (Istio's listener filter timeout; 0, istiod's default, is none). Anything
 * else, the client's FIN (or a tunnel reset) first, or the timeout gives {@link Result#OPAQUE}.
 *
 * <p>A {@link Hold}: what it read, with the FIN or reset in order, stays held until the handlers
 * chosen for the result are installed behind it, then {@link #release()} replays it into them.
 */
final class Sniffer extends Hold {
    /**
     * {@code HTTP1}: an HTTP/1.1 request line (Envoy's {@code http/1.1}); {@code HTTP10}: one with another
     * {@code HTTP/}DIGIT{@code .}DIGIT version (Envoy's inspector reports {@code http/1.0} for all of them);
     * {@code HTTP2}: the preface ({@code h2c}); {@code OPAQUE}: anything else.
     */
    enum Result { HTTP1, HTTP10, HTTP2, OPAQUE }

    static final int MAX_INSPECT = 8192;
    /** How long bytes that only a lenient parser skips keep the sniff waiting without a timeout ({@link #beyondHttpParser}). */
    static final long LENIENT_PREFIX_MILLIS = 5_000;
    static final byte[] H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    /**
     * The first bytes an HTTP connection manager with Envoy's {@code AUTO} codec takes as HTTP/2
     * ({@code Http2::CLIENT_MAGIC_PREFIX}, source/common/http/conn_manager_utility.cc
     * {@code determineNextProtocol}).
     */
    static final int H2_MAGIC_PREFIX = "PRI * HTTP/2".length();

    private final long timeoutMillis;
    /** {@link #LENIENT_PREFIX_MILLIS} unless a test shortens it ({@code HttpEnforcement.TEST_LENIENT_PREFIX_PROPERTY}). */
    private final long lenientPrefixMillis;
    private final Consumer<Result> decided;
    /** {@link #codec}: only HTTP/2's preface against HTTP/1, as Envoy's codec choice, not the inspector. */
    private final boolean codecOnly;
    /** The first bytes: {@link #MAX_INSPECT} for the inspector, only the magic's length for {@link #codec}. */
    private final byte[] head;
    private int headLength;
    private boolean done;
    private ScheduledFuture<?> timer;

    /** Holds without a byte limit: the sniffer asks for more only until {@link #MAX_INSPECT} bytes. */
    Sniffer(long timeoutMillis, Consumer<Result> decided) {
        this(timeoutMillis, LENIENT_PREFIX_MILLIS, decided, false);
    }

    /** {@code lenientPrefixMillis}: how long a lenient-only prefix waits ({@link #LENIENT_PREFIX_MILLIS} but in tests). */
    Sniffer(long timeoutMillis, long lenientPrefixMillis, Consumer<Result> decided) {
        this(timeoutMillis, lenientPrefixMillis, decided, false);
    }

    private Sniffer(long timeoutMillis, long lenientPrefixMillis, Consumer<Result> decided, boolean codecOnly) {
        this.timeoutMillis = timeoutMillis;
        this.lenientPrefixMillis = lenientPrefixMillis;
        this.decided = decided;
        this.codecOnly = codecOnly;
        // An http port's connection needs 12 bytes, not the inspector's 8 KiB, per connection.
        this.head = new byte[codecOnly ? H2_MAGIC_PREFIX : MAX_INSPECT];
    }

    /**
     * The codec choice of an HTTP connection manager whose codec is {@code AUTO}, as istiod builds every
     * one for an {@code http} port (pilot/pkg/networking/core/listener_builder.go:
     * {@code CodecType = HttpConnectionManager_AUTO}): {@link Result#HTTP2} when the first bytes are
     * {@code PRI * HTTP/2} (h2c with prior knowledge: gRPC, {@code curl --http2-prior-knowledge}),
     * else {@link Result#HTTP1}, whose codec then answers whatever else it is (a 426 for HTTP/1.0, a 400).
     * Envoy decides on the first read; this waits for the 12 bytes when a shorter first read is their
     * prefix. No byte, the client's FIN or {@code timeoutMillis} (if above 0) first: {@link Result#HTTP1}. Envoy's
     * connection manager creates its codec on the first data however late it comes ({@code ConnectionManagerImpl::onData}).
     */
    static Sniffer codec(long timeoutMillis, Consumer<Result> decided) {
        return new Sniffer(timeoutMillis, LENIENT_PREFIX_MILLIS, decided, true);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        super.handlerAdded(ctx);
        if (timeoutMillis <= 0) {
            // No timeout: Envoy's listener_filters_timeout of 0 disables it, which is what istiod configures by default
            // (MeshConfig protocolDetectionTimeout 0s, istio/istio pkg/config/mesh/mesh.go DefaultMeshConfig, set as the
            // inbound listener's ListenerFiltersTimeout in listener_inbound.go; istio/istio#28119, Istio 1.8), so a
            // client silent for any time is still sniffed when it speaks, and a server-first protocol waits for its
            // client's bytes or end.
            return;
        }
        Result atTimeout = codecOnly ? Result.HTTP1 : Result.OPAQUE;
        timer = ctx.executor().schedule(() -> decide(atTimeout), timeoutMillis, TimeUnit.MILLISECONDS);
    }

    @Override
    protected void held(ChannelHandlerContext ctx, Object item) {
        if (done) {
            return;
        }
        if (item instanceof ChannelInputShutdownEvent || item instanceof HboneStream.Reset) {
            // No more bytes will come.
            Result r = codecOnly ? Result.HTTP1 : classify(head, headLength, true);
            decide(r == null ? Result.OPAQUE : r);
            return;
        }
        if (!(item instanceof ByteBuf b)) {
            return;
        }
        int n = Math.min(b.readableBytes(), head.length - headLength);
        b.getBytes(b.readerIndex(), head, headLength, n);
        headLength += n;
        Result r = codecOnly ? codecOf(head, headLength) : classify(head, headLength, headLength == head.length);
        if (r != null) {
            decide(r);
            return;
        }
        if (timer == null && !codecOnly && beyondHttpParser(head, headLength)) {
            // Only a prefix that Netty's lenient decoder skips and http-parser refuses (a control byte other than CR or
            // LF): Envoy's inspector has given up already, the connection going to its TCP chain. zerohop waits to see
            // whether a request line follows, which such an application would read, but not for ever: the 5 s of its
            // former sniff timeout, then it is not HTTP (L7EnforcementTest.autoPortThatIsNotHttpFallsBackToL4AndFailsClosed).
            timer = ctx.executor().schedule(() -> decide(Result.OPAQUE), lenientPrefixMillis, TimeUnit.MILLISECONDS);
        }
        ctx.read();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelTimer();
        super.channelInactive(ctx);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancelTimer();
        super.handlerRemoved(ctx);
    }

    private void cancelTimer() {
        if (timer != null) {
            timer.cancel(false);
        }
    }

    private void decide(Result r) {
        if (done) {
            return;
        }
        done = true;
        cancelTimer();
        if (context().channel().isActive()) {
            decided.accept(r);
        }
    }

    /** {@link #codec}'s choice from the first {@code n} bytes, or null while they are a proper prefix of the magic. */
    static Result codecOf(byte[] b, int n) {
        int m = Math.min(n, H2_MAGIC_PREFIX);
        for (int i = 0; i < m; i++) {
            if (b[i] != H2_PREFACE[i]) {
                return Result.HTTP1;
            }
        }
        return n >= H2_MAGIC_PREFIX ? Result.HTTP2 : null;
    }

    /**
     * The protocol the first {@code n} bytes show, or null when more bytes are needed. With
     * {@code final_} no more will come.
     */
    static Result classify(byte[] b, int n, boolean final_) {
        if (n == 0) {
            return final_ ? Result.OPAQUE : null;
        }
        int m = Math.min(n, H2_PREFACE.length);
        boolean h2 = true;
        for (int i = 0; i < m; i++) {
            if (b[i] != H2_PREFACE[i]) {
                h2 = false;
                break;
            }
        }
        if (h2) {
            return n >= H2_PREFACE.length ? Result.HTTP2 : final_ ? Result.OPAQUE : null;
        }
        // What precedes a request line is skipped, as http-parser (Envoy's inspector: CR and LF, RFC 9112
        // section 2.2) and Netty's decoder (any control or whitespace character) skip it: an application
        // reads "\r\nGET /admin HTTP/1.1" as a request, so it must not pass here as opaque bytes.
        int i = 0;
        while (i < n && skipped(b[i])) {
            i++;
        }
        // METHOD: one the HTTP/1 codec accepts (RequestTarget.METHODS), then whitespace. Bytes that cannot begin
        // one are not HTTP at once, as http-parser in Envoy's inspector fails on an unknown method's first wrong
        // byte (http_inspector_test.cc InvalidHttpMethod "BAD /anything HTTP/1.1", MultipleReadsHttp1IncompleteBadHeader
        // "X"): a client-first protocol ("hello") no longer waits for the sniff's timeout.
        int methodStart = i;
        while (i < n && tchar(b[i])) {
            i++;
        }
        if (!method(b, methodStart, i, i < n)) {
            return Result.OPAQUE;
        }
        if (i == n) {
            return final_ ? Result.OPAQUE : null;
        }
        if (!space(b[i])) {
            return Result.OPAQUE;
        }
        // Runs of SP (http-parser) or of Netty's lenient whitespace (SP HTAB VT FF CR) separate the parts.
        while (i < n && space(b[i])) {
            i++;
        }
        int targetStart = i;
        while (i < n && !space(b[i]) && b[i] != '\n' && b[i] != 0x7f) {
            i++;
        }
        if (i == n) {
            return final_ ? Result.OPAQUE : null;
        }
        if (i == targetStart || !space(b[i])) {
            return Result.OPAQUE;
        }
        while (i < n && space(b[i])) {
            i++;
        }
        // HTTP/DIGIT.DIGIT, "HTTP/" in any case as Netty's HttpVersion reads it, then the line's end (CRLF or LF).
        byte[] version = "HTTP/0.0".getBytes(StandardCharsets.US_ASCII);
        int versionStart = i;
        for (int k = 0; k < version.length; k++, i++) {
            if (i == n) {
                return final_ ? Result.OPAQUE : null;
            }
            boolean ok = version[k] == '0' ? b[i] >= '0' && b[i] <= '9'
                    : Character.toUpperCase((char) b[i]) == version[k];
            if (!ok) {
                return Result.OPAQUE;
            }
        }
        while (i < n && space(b[i])) {
            i++;
        }
        if (i == n) {
            return final_ ? Result.OPAQUE : null;
        }
        if (b[i] != '\n') {
            return Result.OPAQUE;
        }
        // Envoy's inspector names every version but 1.1 "http/1.0" (http_inspector.cc parseHttpHeader, isHttp11).
        return b[versionStart + 5] == '1' && b[versionStart + 7] == '1' ? Result.HTTP1 : Result.HTTP10;
    }

    /**
     * Whether {@code b[from, to)} is one of the methods the HTTP/1 codec accepts ({@code complete}: the token
     * ended there), or the start of one (more bytes to come). Any other method would get 400 from the codec.
     */
    private static boolean method(byte[] b, int from, int to, boolean complete) {
        int len = to - from;
        for (String m : RequestTarget.METHODS) {
            if (complete ? m.length() != len : m.length() < len) {
                continue;
            }
            int k = 0;
            while (k < len && m.charAt(k) == b[from + k]) {
                k++;
            }
            if (k == len) {
                return true;
            }
        }
        return false;
    }

    /** Bytes Netty's request decoder skips before a request line: ISO control characters and whitespace. */
    /** The {@code n} bytes are all {@link #skipped}, and one of them is not CR or LF, where http-parser fails. */
    static boolean beyondHttpParser(byte[] b, int n) {
        boolean beyond = false;
        for (int i = 0; i < n; i++) {
            if (!skipped(b[i])) {
                return false;
            }
            beyond |= b[i] != '\r' && b[i] != '\n';
        }
        return beyond;
    }

    private static boolean skipped(byte c) {
        int v = c & 0xff;
        return v <= 0x20 || (v >= 0x7f && v <= 0x9f);
    }

    /** Netty's lenient request-line whitespace (HttpObjectDecoder): SP, HTAB, VT, FF, CR. */
    private static boolean space(byte c) {
        return c == ' ' || c == '\t' || c == 0x0b || c == 0x0c || c == '\r';
    }

    private static boolean tchar(byte c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
    }
}
