package io.zerohop.policy;

import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The L7 view of one HTTP request. Header names are stored lower-case so that lookups are
 * case-insensitive as in HTTP/2, without allocating at evaluation time.
 *
 * @param method  request method, e.g. {@code GET}
 * @param path    request path as sent ({@code :path}, query included)
 * @param host    authority / Host header, may be empty
 * @param headers request headers keyed by lower-case name
 */
public record HttpAttributes(String method, String path, String host, Map<String, String> headers) {

    public HttpAttributes {
        Objects.requireNonNull(method, "method");
        Objects.requireNonNull(path, "path");
        host = host == null ? "" : host;
        if (headers == null || headers.isEmpty()) {
            headers = Map.of();
        } else {
            Map<String, String> lower = new TreeMap<>();
            for (Map.Entry<String, String> e : headers.entrySet()) {
                lower.put(e.getKey().toLowerCase(Locale.ROOT), e.getValue());
            }
            headers = Map.copyOf(lower);
        }
    }

    public static HttpAttributes of(String method, String path) {
        return new HttpAttributes(method, path, "", Map.of());
    }

    /** Header value by lower-case name, or null. */
    public String header(String lowerCaseName) {
        return headers.get(lowerCaseName);
    }
}
