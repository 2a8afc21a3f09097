package io.zerohop.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The demo's checkout application: the JDK's HTTP server, with no policy of its own. It answers
 * every request 200 with the sha256 of the body it received, so a 403 can only come from zerohop,
 * and counts the requests that reached it.
 */
final class DemoCheckoutApp implements AutoCloseable {
    final HttpServer server;
    final AtomicInteger requests = new AtomicInteger();
    volatile String lastRequest;
    volatile String lastXfcc;

    private DemoCheckoutApp(HttpServer server) {
        this.server = server;
    }

    static DemoCheckoutApp start(InetSocketAddress at) throws IOException {
        HttpServer server;
        try {
            server = HttpServer.create(at, 50);
        } catch (java.net.BindException e) {
            throw new java.net.BindException(DemoCommand.auth(at) + " is in use (" + e.getMessage() + "): pick other loopback addresses with --ip-prefix");
        }
        DemoCheckoutApp app = new DemoCheckoutApp(server);
        server.createContext("/", app::handle);
        server.start();
        return app;
    }

    /** The address the server is bound to (its port when started on port 0). */
    InetSocketAddress address() {
        return server.getAddress();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            byte[] body = ex.getRequestBody().readAllBytes();
            lastXfcc = ex.getRequestHeaders().getFirst("x-forwarded-client-cert");
            lastRequest = ex.getRequestMethod() + " " + ex.getRequestURI().getPath();
            requests.incrementAndGet();
            byte[] resp = ((ex.getRequestMethod().equals("POST") ? "charged" : "ok") + ", body sha256=" + hex(sha256(body)) + "\n").getBytes(StandardCharsets.US_ASCII);
            ex.getResponseHeaders().set("content-type", "text/plain");
            ex.sendResponseHeaders(200, resp.length);
            ex.getResponseBody().write(resp);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }

    static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }
}
