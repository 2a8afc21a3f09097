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
     * @param method  upper-case method, e.g. {@code GET}
     * @param path    the path without query
     * @param query   decoded query parameters, the last value of a repeated name (as ztunnel's admin server reads them)
     * @param headers its header fields, names lower case, repeated ones joined with {@code ", "}; never null
     */
    public record Request(String method, String path, Map<String, String> query, Map<String, String> headers) {
        public Request {
            Objects.requireNonNull(method, "method");
            Objects.requireNonNull(path, "path");
            query = Map.copyOf(query);
            headers = Map.copyOf(headers == null ? Map.of() : headers);
        }

        /** A request without header fields. */
        public Request(String method, String path, Map<String, String> query) {
            this(method, path, query, Map.of());
        }

        /** The value of header {@code name} (any case), or null. */
        public String header(String name) {
            return headers.get(name.toLowerCase(java.util.Locale.ROOT));
        }
    }

    /**
     * A response; {@code body} is sent UTF-8 encoded.
     *
     * @param contentType its {@code Content-Type}, or null for none: ztunnel's {@code hyper_util::empty_response}
     *     (istio/ztunnel src/hyper_util.rs) carries none ({@link #empty}); until 6 December null was refused
     * @param afterSent null, or what to do once this response has been written and flushed to the
     *     connection ({@link #thenRun}); part of {@code equals} by identity
     */
    public record Response(int status, String contentType, String body, Runnable afterSent) {
        public Response {
            if (status < 100 || status > 599) {
                throw new IllegalArgumentException("HTTP status must be 100-599, got " + status);
            }
            Objects.requireNonNull(body, "body");
        }

        /** A response with nothing to do after it is sent. */
        public Response(int status, String contentType, String body) {
            this(status, contentType, body, null);
        }

        /** {@code body} as {@code text/plain; charset=utf-8}. */
        public static Response text(int status, String body) {
            return new Response(status, "text/plain; charset=utf-8", body);
        }

        /**
         * An empty answer without {@code Content-Type} (with {@code Content-Length: 0}), as ztunnel's
         * {@code hyper_util::empty_response} (istio/ztunnel src/hyper_util.rs): its admin, metrics and readiness
         * servers answer a path they do not serve with {@code empty_response(NOT_FOUND)}, and a method
         * {@code /healthz/ready} or {@code /quitquitquit} does not take with {@code empty_response(METHOD_NOT_ALLOWED)}
         * (src/admin.rs, src/metrics/server.rs, src/readiness/server.rs). Until 6 December these carried
         * {@code text/plain; charset=utf-8}.
         */
        public static Response empty(int status) {
            return new Response(status, null, "");
        }

        /**
         * {@code body} as {@code text/plain}, no charset: ztunnel's {@code hyper_util::plaintext_response} (istio/ztunnel
         * src/hyper_util.rs), the type of its readiness answers and admin text answers ({@code /logging},
         * {@code /quitquitquit}). The endpoints zerohop serves as ztunnel's use it since 6 December (they said
         * {@code text/plain; charset=utf-8}); {@link #text} is for zerohop's own.
         */
        public static Response plaintext(int status, String body) {
            return new Response(status, "text/plain", body);
        }

        public static Response json(String body) {
            return new Response(200, "application/json", body);
        }

        /**
         * This response, with {@code action} run once it has been written and flushed to the client's
         * connection, or once that write failed or could not be tried (the client left, the server is
         * closing): an action that stops the server (admin {@code /quitquitquit}) then cannot lose
         * its own answer, as it could when the handler started the stop itself. Runs once, on the
         * endpoints' handler thread (on the calling thread if that thread is gone); its exceptions
         * are logged and ignored.
         *
         * @throws IllegalStateException if this response has an action already
         */
        public Response thenRun(Runnable action) {
            Objects.requireNonNull(action, "action");
            if (afterSent != null) {
                throw new IllegalStateException("this response already has an action to run after it is sent");
            }
            return new Response(status, contentType, body, action);
        }
    }

    /** How a server of these endpoints encodes its answers' bodies ({@link Mesh#serveHttp(java.net.InetSocketAddress, Map, Compression)}). */
    public enum Compression {
        /** Bodies as the handlers give them: ztunnel's admin ({@code :15000}) and readiness ({@code :15021}) servers. */
        NONE,
        /**
         * As ztunnel's metrics server ({@code :15020}, istio/ztunnel {@code src/metrics/server.rs}: tower-http 0.7's
         * {@code CompressionLayer} around every path): the body is sent {@code gzip} or {@code deflate} when the request's
         * {@code Accept-Encoding} prefers it (Prometheus asks for gzip), with {@code Vary: Accept-Encoding} on every body
         * that could be compressed (32 bytes or more, not gRPC, an image or server-sent events), and 406 Not Acceptable
         * with the body unchanged when the request accepts none of {@code identity}, {@code gzip} and {@code deflate}
         * ({@code identity;q=0}, {@code *;q=0}). ztunnel also writes {@code br} and {@code zstd}; zerohop does not, and
         * reads them as tower-http reads a coding it was built without (ignored), so a scraper asking for {@code br}
         * alone gets the body uncompressed where ztunnel's would get it in Brotli.
         */
        NEGOTIATED
    }

    /** Answers one path. Exceptions become a 500 naming the error. */
    @FunctionalInterface
    public interface Handler {
        Response handle(Request request) throws Exception;
    }
}
