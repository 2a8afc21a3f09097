package io.zerohop.hbone.internal;

import io.netty.handler.codec.http2.Http2Headers;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

final class Headers {
    private Headers() {}

    /** Regular (non-pseudo) headers, lower-case names, repeated values joined with ", ". */
    static Map<String, String> plain(Http2Headers h) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<CharSequence, CharSequence> e : h) {
            String name = e.getKey().toString();
            if (name.startsWith(":")) {
                continue;
            }
            out.merge(name.toLowerCase(Locale.ROOT), e.getValue().toString(), (a, b) -> a + ", " + b);
        }
        return out;
    }
}
