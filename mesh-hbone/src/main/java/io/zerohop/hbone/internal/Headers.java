package io.zerohop.hbone.internal;

import io.netty.handler.codec.http2.Http2Headers;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

final class Headers {
    private Headers() {}

    /**
     * Regular (non-pseudo) headers, lower-case names, repeated values joined with ", ". An HBONE
     * CONNECT usually has none: then no map and no string is made (issue 14, per-tunnel garbage).
     */
    static Map<String, String> plain(Http2Headers h) {
        Map<String, String> out = null;
        for (Map.Entry<CharSequence, CharSequence> e : h) {
            CharSequence name = e.getKey();
            if (name.length() > 0 && name.charAt(0) == ':') {
                continue;
            }
            if (out == null) {
                out = new LinkedHashMap<>();
            }
            out.merge(name.toString().toLowerCase(Locale.ROOT), e.getValue().toString(), (a, b) -> a + ", " + b);
        }
        return out == null ? Map.of() : out;
    }
}
