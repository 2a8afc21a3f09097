package io.zerohop.core.internal.http;

import io.netty.handler.codec.http2.DecoratingHttp2ConnectionDecoder;
import io.netty.handler.codec.http2.DefaultHttp2ConnectionDecoder;
import io.netty.handler.codec.http2.DefaultHttp2FrameReader;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2Headers;
import java.lang.reflect.Field;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Field values of a downstream HTTP/2 header block as Envoy's HTTP/2 codec takes them: a value may start or end with SP
 * or HTAB (RFC 9113 section 8.2.1 calls such a request malformed, and Envoy forwards it as it came); a control
 * character other than HTAB, or DEL, is refused as Netty refuses it (a stream error, RST_STREAM PROTOCOL_ERROR).
 *
 * <p>Envoy's codec has two libraries, and neither refuses the whitespace: oghttp2, the default from Envoy 1.34 to 1.36
 * (Istio 1.26 to 1.28; {@code envoy.reloadable_features.http2_use_oghttp2}, envoyproxy/envoy PR 38026, January 2025;
 * before, only 1.31.0 and 1.31.1 had it on, PR 33913, until 1.31.2 turned the guard off for stability and 1.32 and 1.33
 * kept it off, "flip after the security issue is addressed" in {@code runtime_features.cc}; back to nghttp2 by PR 42319
 * for 1.37), allows SP and HTAB anywhere in a value (google/quiche
 * {@code quiche/http2/adapter/header_validator.cc}, {@code kHttp2HeaderValueAllowedChars}, {@code IsValidHeaderValue});
 * nghttp2 would drop such a field, but Envoy turns that check off (envoyproxy/envoy
 * {@code source/common/http/http2/codec_impl.cc}, {@code Http2Options}:
 * {@code nghttp2_option_set_no_rfc9113_leading_and_trailing_ws_validation(options_, 1)}). Nothing after the codec trims
 * an HTTP/2 value, so RBAC and the application read it as sent.
 *
 * <p>Netty's decoder refuses a value whose first character is SP or HTAB ({@code HttpHeaderValidationUtil}), and its
 * codec builders offer no way to check values otherwise while still checking names and pseudo-header fields: the
 * downstream codec's header decoder is replaced by one whose header maps check values with {@link #firstInvalid}.
 * Should a Netty version lay its codec out otherwise, or the module path not open Netty's package to zerohop
 * ({@code --add-opens io.netty.codec.http2/io.netty.handler.codec.http2=io.zerohop.core}), the codec is left as it is
 * (one warning says so): such a request is then reset, as before 4 December.
 */
final class H2FieldValues {
    private static final Logger log = LoggerFactory.getLogger(H2FieldValues.class);
    private static volatile boolean warned;

    private H2FieldValues() {}

    /** Where the first character Netty's value check refuses anywhere is, a control character but HTAB or DEL, or -1. */
    static int firstInvalid(CharSequence value) {
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < 0x20 && c != '\t' || c == 0x7f) {
                return i;
            }
        }
        return -1;
    }

    private static final io.netty.handler.codec.DefaultHeaders.ValueValidator<CharSequence> VALUE = value -> {
        int i = firstInvalid(value);
        if (i >= 0) {
            throw new IllegalArgumentException("a header value has an invalid character at " + i);
        }
    };

    /** Lets {@code codec} (a server's, not yet active) take values with leading or trailing whitespace, as Envoy does. */
    static void asEnvoy(Http2ConnectionHandler codec) {
        if (Fields.HEADERS_DECODER == null) {
            return;
        }
        try {
            Object decoder = codec.decoder();
            while (decoder instanceof DecoratingHttp2ConnectionDecoder) {
                decoder = Fields.DELEGATE.get(decoder);
            }
            Object reader = Fields.FRAME_READER.get(decoder);
            DefaultHttp2HeadersDecoder was = (DefaultHttp2HeadersDecoder) Fields.HEADERS_DECODER.get(reader);
            Decoder now = new Decoder(was.maxHeaderListSize());
            now.maxHeaderListSize(was.maxHeaderListSize(), was.maxHeaderListSizeGoAway());
            now.maxHeaderTableSize(was.maxHeaderTableSize());
            Fields.HEADERS_DECODER.set(reader, now);
        } catch (Exception e) {
            unavailable(e);
        }
    }

    private static void unavailable(Exception e) {
        if (!warned) {
            warned = true;
            log.warn("cannot take HTTP/2 header values with leading whitespace as Envoy does: {}; such a request is reset{}",
                    e.toString(), e instanceof java.lang.reflect.InaccessibleObjectException
                            ? " (on the module path add --add-opens io.netty.codec.http2/io.netty.handler.codec.http2=io.zerohop.core:"
                            + " see zerohop-bom's README)" : "");
        }
    }

    /** Netty's fields on the way from a codec to its header decoder; all null when one cannot be had. */
    private static final class Fields {
        static final Field DELEGATE;
        static final Field FRAME_READER;
        static final Field HEADERS_DECODER;

        static {
            Field d = null;
            Field r = null;
            Field h = null;
            try {
                d = field(DecoratingHttp2ConnectionDecoder.class, "delegate");
                r = field(DefaultHttp2ConnectionDecoder.class, "frameReader");
                h = field(DefaultHttp2FrameReader.class, "headersDecoder");
            } catch (ReflectiveOperationException | RuntimeException e) {
                unavailable(e);
            }
            DELEGATE = d;
            FRAME_READER = r;
            HEADERS_DECODER = h;
        }

        private static Field field(Class<?> owner, String name) throws NoSuchFieldException {
            Field f = owner.getDeclaredField(name);
            f.setAccessible(true);
            return f;
        }
    }

    /** Netty's decoder (names and pseudo-header fields checked as it checks them) with {@link Headers} maps. */
    private static final class Decoder extends DefaultHttp2HeadersDecoder {
        Decoder(long maxHeaderListSize) {
            super(true, true, maxHeaderListSize);
        }

        @Override
        protected Http2Headers newHeaders() {
            return new Headers(numberOfHeadersGuess());
        }
    }

    /** Netty's header map, its values checked with {@link #firstInvalid} instead of Netty's value check. */
    private static final class Headers extends DefaultHttp2Headers {
        Headers(int sizeHint) {
            super(true, true, sizeHint);
        }

        @Override
        protected void validateValue(ValueValidator<CharSequence> validator, CharSequence name, CharSequence value) {
            super.validateValue(VALUE, name, value);
        }
    }
}
