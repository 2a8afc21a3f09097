package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Request heads Envoy's HTTP/1 codec reads the line of but refuses, or reads with bare-LF line ends, on a port zerohop
 * parses (declared {@code http}, or {@code auto} and sniffed; under {@link L7Http10Test#POLICY}: only {@code /api/*}
 * allowed). Real plaintext
 * listener, raw bytes from a socket, the JDK's HTTP server as the application.
 */
class L7MalformedHeadTest {
    /**
     * A 400 for a header error (two Content-Length values, Content-Length with Transfer-Encoding, a bad header name,
     * obs-fold) or a 431 for headers over the limit
     * comes after the request line was read: its access line shows that line's method, path and protocol; "-" stays
     * for a head the decoder could not read at all.
     */
    @Test
    void headerErrorsAfterTheRequestLineAreLoggedWithItsMethodAndPath() throws Exception {
        throughPlaintext("127.0.71.2", (via, err) -> {
            List<String[]> cases = List.of(
                    new String[] {"POST /y1 HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "POST", "/y1"},
                    new String[] {"POST /y2 HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                            "POST", "/y2"},
                    new String[] {"PUT /y3 HTTP/1.1\r\nHost: b\r\nBad Name: x\r\n\r\n", "PUT", "/y3", "400"},
                    new String[] {"DELETE /y5 HTTP/1.1\r\nHost: b\r\nX-A: b\r\n folded\r\n\r\n", "DELETE", "/y5", "400"},
                    // Envoy answers headers over max_request_headers_kb (60) with 431 (codec_impl.cc checkMaxHeadersSize).
                    new String[] {"GET /y4 HTTP/1.1\r\nHost: b\r\nX-Big: " + "a".repeat(80 * 1024) + "\r\n\r\n", "GET", "/y4", "431"},
                    // ... and more than max_headers_count (100) fields too (a new-user pass: 150 went through).
                    new String[] {"GET /y6 HTTP/1.1\r\nHost: b\r\n" + "X-H: v\r\n".repeat(100) + "\r\n", "GET", "/y6", "431"});
            for (String[] c : cases) {
                String status = c.length > 3 ? c[3] : "400";
                assertThat(L7EnforcementTest.exchange(via, c[0])).as(c[1] + " " + c[2]).startsWith("HTTP/1.1 " + status + " ");
                String line = err.awaitLine("plaintext-inbound-http", "path=\"" + c[2] + "\"");
                assertThat(line).as(c[1] + " " + c[2]).contains(" method=" + c[1] + " ").contains(" protocol=HTTP/1.1 status=" + status + " ");
            }
        });
    }

    /** Envoy's max_headers_count is 100: 100 fields pass, 101 get 431, and the access line says why. */
    @Test
    void aHundredHeaderFieldsPassAndOneMoreIs431() throws Exception {
        throughPlaintext("127.0.71.4", (via, err) -> {
            assertThat(L7EnforcementTest.exchange(via, "GET /h100 HTTP/1.1\r\nHost: b\r\n" + "X-H: v\r\n".repeat(98)
                    + "Connection: close\r\n\r\n")).as("100 fields").doesNotStartWith("HTTP/1.1 431 ").startsWith("HTTP/1.1 ");
            assertThat(L7EnforcementTest.exchange(via, "GET /h101 HTTP/1.1\r\nHost: b\r\n" + "X-H: v\r\n".repeat(99)
                    + "Connection: close\r\n\r\n")).as("101 fields").startsWith("HTTP/1.1 431 ");
            assertThat(err.awaitLine("plaintext-inbound-http", "path=\"/h101\"")).contains(" status=431 ")
                    .contains("reason=\"HTTP request has 101 header fields, more than 100 (Envoy's max_headers_count)\"");
        });
    }

    /**
     * A head over the limit that has not ended is refused with 431 at once; nothing of it was read as a request, so its access
     * line shows {@code -} for the method and path, as Envoy's does for a head its codec refused before handing it to the
     * stream. Until 5 December it showed the decoder's stand-in, {@code GET /bad-request}, a request nobody sent (a
     * new-user pass).
     */
    @Test
    void aHeadRefusedBeforeItsEndIsLoggedWithoutAMethodOrPath() throws Exception {
        throughPlaintext("127.0.71.5", (via, err) -> {
            assertThat(L7EnforcementTest.exchange(via, "GET /z7 HTTP/1.1\r\nHost: b\r\nX-Big: " + "a".repeat(78 * 1024)))
                    .startsWith("HTTP/1.1 431 ");
            String line = err.awaitLine("plaintext-inbound-http", " status=431 ");
            assertThat(line).contains(" method=- path=\"-\" ").doesNotContain("bad-request")
                    .contains("without its end");
        });
    }

    /**
     * A head whose URL and headers are over Envoy's 60 KiB is 431 as soon as they are, whether or not it has ended, as
     * Envoy's codec counts each piece of a head as it arrives (envoyproxy/envoy source/common/http/http1/codec_impl.cc
     * {@code checkMaxHeadersSize}, "headers size exceeds limit"). Until 5 December a head of 60-76 KiB that never ended
     * got no answer until the idle timeout closed the connection. 70 KiB of header bytes without the blank line, the
     * socket left open; the read timeout only bounds a failure.
     */
    @Test
    void aHeadOverTheLimitIs431BeforeItsEnd() throws Exception {
        throughPlaintext("127.0.71.6", (via, err) -> {
            String reply = L7EnforcementTest.exchange(via, "GET /z8 HTTP/1.1\r\nHost: b\r\nX-Big: " + "a".repeat(70 * 1024));
            assertThat(reply).startsWith("HTTP/1.1 431 ").contains("connection: close");
            assertThat(err.awaitLine("plaintext-inbound-http", " status=431 ")).contains(" method=- path=\"-\" ")
                    .contains("reason=\"HTTP request head without its end whose URL and headers are over 61440 bytes already");
        });
    }

    interface Body {
        void run(InetSocketAddress via, CapturedStderr err) throws Exception;
    }

    /** The JDK's HTTP server on {@code address}, declared {@code http} behind a mesh's plaintext listener ({@code via}). */
    static void throughPlaintext(String address, Body body) throws Exception {
        InetAddress ip = InetAddress.getByName(address);
        HttpServer app = L7Http10Test.app(ip, new CopyOnWriteArrayList<>(), true);
        try (Mesh mesh = L7Http10Test.declaredHttp(ip, app.getAddress().getPort(), false);
                CapturedStderr err = new CapturedStderr()) {
            body.run(mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0),
                    new InetSocketAddress(ip, app.getAddress().getPort()))), err);
        } finally {
            app.stop(0);
        }
    }

    /**
     * A request refused for its framing, before any policy decided it, names what was wrong in zerohop's access line
     * ({@code reason="…"} after {@code decision=- policy="-"}, the text the decoder refused it with), where until
     * 2 December it said nothing but the status. Envoy's access log gives such a local reply its
     * {@code %RESPONSE_CODE_DETAILS%} (e.g. {@code http1.content_length_and_chunked_not_allowed},
     * envoyproxy/envoy source/common/http/http1/codec_impl.cc); zerohop's text is its decoder's own. ztunnel's format
     * has no per-request lines, so nothing changes there.
     */
    @Test
    void framingErrorsNameWhatWasWrong() throws Exception {
        throughPlaintext("127.0.82.2", (via, err) -> {
            List<String[]> cases = List.of(
                    new String[] {"POST /r1 HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "/r1", "Content-Length"},
                    new String[] {"POST /r2 HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                            "/r2", "Transfer-Encoding"},
                    new String[] {"PUT /r3 HTTP/1.1\r\nHost: b\r\nBad Name: x\r\n\r\n", "/r3", "header name"},
                    new String[] {"DELETE /r4 HTTP/1.1\r\nHost: b\r\nX-A: b\r\n folded\r\n\r\n", "/r4", "obsolete line folding (obs-fold) in a header"},
                    new String[] {"GET /r5 HTTP/1.01\r\nHost: b\r\n\r\n", "/r5", "HPE_INVALID_VERSION"});
            for (String[] c : cases) {
                assertThat(L7EnforcementTest.exchange(via, c[0])).as(c[1]).startsWith("HTTP/1.1 400 ");
                String line = err.awaitLine("plaintext-inbound-http", "path=\"" + c[1] + "\"");
                assertThat(line).as(c[1]).contains(" status=400 decision=- policy=\"-\" reason=\"").contains(c[2]);
                assertThat(line.substring(line.indexOf(" reason=\""))).as(c[1]).doesNotContain("Exception");
            }
        });
    }

    /**
     * Bare-LF line ends are read as line ends, as Envoy's codecs read them (http-parser's request-line and header
     * states take an LF where they expect a CR; Balsa ends a line at its LF): the request is decided by the policy and
     * answered. Before, the decoder waited for a CRLFCRLF that never came and the client hung without an answer or an
     * access-log line.
     */
    @Test
    void bareLfRequestsAreDecidedAndAnswered() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.71.3");
        List<String> seen = new CopyOnWriteArrayList<>();
        HttpServer app = L7Http10Test.app(ip, seen, true);
        try {
            int port = app.getAddress().getPort();
            // Declared http, and auto (sniffed, as the user's --workloads port without a protocol).
            for (AppProtocol protocol : List.of(AppProtocol.HTTP, AppProtocol.AUTO)) {
                seen.clear();
                Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                        Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, protocol));
                PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", L7Http10Test.POLICY)).build();
                try (Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                        .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).threads(1).build();
                        CapturedStderr err = new CapturedStderr()) {
                    mesh.start().get(10, TimeUnit.SECONDS);
                    InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0),
                            new InetSocketAddress(ip, port)));
                    assertThat(L7EnforcementTest.exchange(via, "GET /admin HTTP/1.1\nHost: b\nConnection: close\n\n")).as("%s", protocol)
                            .startsWith("HTTP/1.1 403 ").endsWith("RBAC: access denied");
                    assertThat(err.awaitLine("plaintext-inbound-http", "path=\"/admin\"")).contains(" status=403 ");
                    // Mixed line ends, and an LF-only blank line after CRLF header lines.
                    assertThat(L7EnforcementTest.exchange(via, "GET /api/lf HTTP/1.1\r\nHost: b\nConnection: close\r\n\n"))
                            .as("%s", protocol).startsWith("HTTP/1.1 200 ").endsWith("hello /api/lf");
                    assertThat(err.awaitLine("plaintext-inbound-http", "path=\"/api/lf\"")).contains(" status=200 ");
                    assertThat(seen).as("%s", protocol).containsExactly("HTTP/1.1 /api/lf");
                }
            }
        } finally {
            app.stop(0);
        }
    }
}
