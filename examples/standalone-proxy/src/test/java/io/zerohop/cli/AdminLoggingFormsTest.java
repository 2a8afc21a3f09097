package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

/**
 * {@code POST /logging?level=...} takes what ztunnel's takes and answers 400 to what it refuses, through a started
 * proxy's admin listener. The cases follow istio/ztunnel {@code src/admin.rs} {@code validate_log_level} (a clause is
 * exactly a lower-case level name, or contains {@code =} and parses as {@code filter::Targets}; a bare target,
 * {@code NAME:LEVEL} and an empty clause are refused, with {@code Invalid level provided: ...}) and tokio-rs/tracing
 * {@code tracing-subscriber/src/filter/directive.rs} {@code StaticDirective::from_str} (one {@code =}, an optional
 * {@code [{FIELD}]} list ending in <code>&#125;]</code>, an empty target) with {@code tracing-core/src/metadata.rs}
 * {@code LevelFilter::from_str} (any ASCII case, 0-5 with a sign and leading zeros, empty for error). Until 6 December
 * zerohop took {@code INFO}, {@code access:debug}, {@code a=b=debug} and a trailing comma, and refused {@code access=4},
 * {@code access=} and {@code =debug} (helper 272).
 */
@Timeout(180)
class AdminLoggingFormsTest {
    private static final String ADMIN = "127.0.121.1:47200";

    @RegisterExtension
    final StdStreams std = new StdStreams();

    private final HttpClient http = HttpClient.newHttpClient();

    @Test
    @DisplayName("POST /logging takes ztunnel's forms: NAME=LEVEL with tracing's levels (DEBUG, 4, +03, empty), fields, the empty target")
    void ztunnelsFormsAreTaken() throws Exception {
        withProxy(() -> {
            Map<String, String> taken = new LinkedHashMap<>();
            taken.put("debug", "current log level is debug");
            taken.put("access=DEBUG", ",io.zerohop.access=debug");
            taken.put("access=4", ",io.zerohop.access=debug"); // LevelFilter: 4 is debug
            taken.put("access=+03", ",io.zerohop.access=info"); // usize's parse: a sign, leading zeros
            taken.put("access=", ",io.zerohop.access=error"); // LevelFilter: "" is error
            taken.put("access=0", ",io.zerohop.access=off");
            taken.put("warn,access=Info", ",io.zerohop.access=info"); // the default: "=debug" below lists warn
            taken.put("ztunnel::proxy=trace", ",ztunnel::proxy=trace");
            taken.put("access[{peer}]=trace", ",io.zerohop.access[{peer}]=trace");
            taken.put("access[{}]=warn", ",io.zerohop.access=warn"); // tracing drops an empty field list
            for (Map.Entry<String, String> c : taken.entrySet()) {
                HttpResponse<String> r = post(c.getKey());
                assertThat(r.statusCode()).as(c.getKey() + ": " + r.body()).isEqualTo(200);
                assertThat(r.body()).as(c.getKey()).startsWith("current log level is ").contains(c.getValue());
            }
            // A field directive matches no zerohop line (no Java log call has fields): the access logger keeps warn.
            assertThat(LoggerFactory.getLogger("io.zerohop.access").isInfoEnabled()).isFalse();

            // tracing's empty target: a prefix of every target, more specific than the bare level, which no longer decides.
            assertThat(post("=debug").body()).startsWith("current log level is warn,=debug,");
            assertThat(post("error").statusCode()).isEqualTo(200);
            assertThat(LoggerFactory.getLogger("io.zerohop.some.where").isDebugEnabled()).as("=debug outranks error").isTrue();
            assertThat(LoggerFactory.getLogger("io.zerohop.access").isInfoEnabled()).as("a longer name outranks =debug").isFalse();
            assertThat(post("").body()).as("an empty level lists").startsWith("current log level is error,=debug,");
        });
        assertThat(LoggerFactory.getLogger("io.zerohop.some.where").isDebugEnabled()).as("after the reset").isFalse();
    }

    @Test
    @DisplayName("POST /logging answers 400 'Invalid level provided' to what ztunnel refuses: INFO, NAME:LEVEL, a bare name, an empty clause")
    void whatZtunnelRefusesIsRefused() throws Exception {
        withProxy(() -> {
            String before = post("").body();
            for (String refused : List.of("INFO", "Debug", "3", "access", "access:debug", "io.zerohop.access:warn", "debug,",
                    ",debug", "debug,,access=off", " debug", "debug ", "access= debug", "access=loud", "access=6", "access=-1",
                    "a=b=debug", "access[{peer=debug", "access[{a}][{b}]=debug", "access[{a}]x=debug", "access[{a,b}]=debug",
                    "access[{,}]=warn")) {
                HttpResponse<String> r = post(refused);
                assertThat(r.statusCode()).as("'" + refused + "': " + r.body()).isEqualTo(400);
                assertThat(r.body()).as(refused).startsWith("Invalid level provided: " + refused + "\n\nusage: POST /logging");
            }
            assertThat(post("access:debug").body()).as("the help names no NAME:LEVEL form").doesNotContain("name:level");
            assertThat(post("").body()).as("nothing changed").startsWith("current log level is ").isEqualTo(before);
        });
    }

    /** Runs {@code body} against a started proxy's admin listener on {@link #ADMIN}, then resets the levels and stops it. */
    private void withProxy(Body body) throws Exception {
        CompletableFuture<Integer> proxy = CompletableFuture.supplyAsync(() -> Zerohop.run("proxy", "--in-memory-ca",
                "--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", ADMIN, "--drain", "0s"));
        io.zerohop.testing.netty.Await.until("the ready line", Hang.BOUND,
                () -> std.out.toString().contains("zerohop proxy ready") || proxy.isDone());
        assertThat(proxy).as(std.out.toString() + std.err).isNotDone();
        try {
            body.run();
        } finally {
            assertThat(http.send(request("/logging?reset"), HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
            AdminQuit.quit(ADMIN);
        }
        assertThat(io.zerohop.testing.netty.Await.result(proxy, Hang.BOUND)).isZero();
    }

    private interface Body {
        void run() throws Exception;
    }

    private HttpResponse<String> post(String level) throws Exception {
        return http.send(request("/logging?level=" + URLEncoder.encode(level, StandardCharsets.UTF_8)),
                HttpResponse.BodyHandlers.ofString());
    }

    private static HttpRequest request(String pathAndQuery) {
        return HttpRequest.newBuilder(URI.create("http://" + ADMIN + pathAndQuery)).timeout(Hang.BOUND)
                .POST(HttpRequest.BodyPublishers.noBody()).build();
    }
}
