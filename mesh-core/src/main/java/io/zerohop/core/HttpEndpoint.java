package io.zerohop.core;

import java.util.Map;
import java.util.Objects;

/**
 * The proxy's own small HTTP endpoints (ztunnel's admin {@code :15000}, metrics {@code :15020},
 * readiness {@code :15021}), served by {@link Mesh#serveHttp} on Netty's HTTP/1.1 codec. Handlers run
 * off the event loops, one request at a time.
 */
public final class HttpEndpoint {
    private HttpEndpoint() {}

    /**
     * One request.
     *
     * @param method upper-case method, e.g. {@code GET}
     * @param path   the path without query
     * @param query  decoded query parameters (first value of each name)
     */
    public record Request(String method, String path, Map<String, String> query) {
        public Request {
            Objects.requireNonNull(method, "method");
            Objects.requireNonNull(path, "path");
            query = Map.copyOf(query);
        }
    }

    /** A response; {@code body} is sent UTF-8 encoded. */
    public record Response(int status, String contentType, String body) {
        public Response {
            if (status < 100 || status > 599) {
                throw new IllegalArgumentException("HTTP status must be 100-599, got " + status);
            }
            Objects.requireNonNull(contentType, "contentType");
            Objects.requireNonNull(body, "body");
        }

        public static Response text(int status, String body) {
            return new Response(status, "text/plain; charset=utf-8", body);
        }

        public static Response json(String body) {
            return new Response(200, "application/json", body);
        }
    }

    /** Answers one path. Exceptions become a 500 naming the error. */
    @FunctionalInterface
    public interface Handler {
        Response handle(Request request) throws Exception;
    }
}
