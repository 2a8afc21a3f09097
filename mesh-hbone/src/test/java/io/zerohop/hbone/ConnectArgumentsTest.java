package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.testing.netty.EchoServer;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.AbstractMap;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A new-user pass over {@link HboneClient#connect}'s and {@link HboneClient#connectSocket}'s arguments: a header field
 * that Netty's HTTP/2 validation refuses threw on the event loop ("A task raised an exception") and the future failed
 * 10 s later with a misleading "no CONNECT response"; a null expected identity gave the JDK's "e0 is null"; an
 * expected identity without a path was dialled and handshaken before it failed; a zero or negative connectSocket
 * timeout still sent the CONNECT. Each is now refused at once, before anything is dialled: a client that dialled
 * holds a pooled connection, so {@link HboneClient#closeIfIdle()} answering true right after the refusal shows that
 * nothing was (the HBONE address is a live server, where a dial would have succeeded and stayed pooled).
 */
@Timeout(60)
class ConnectArgumentsTest {
    static Mesh mesh;
    static EchoServer echo;
    static HboneServer server;
    /** Every CONNECT the server was asked to serve: its destination and its headers. */
    static final List<Map<String, String>> served = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        echo = new EchoServer();
        server = mesh.server(DestinationResolver.sameIp()).authorizer(r -> {
            served.add(r.headers());
            return AuthzDecision.allow();
        }).build().start().get(10, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() {
        server.close();
        echo.close();
        mesh.close();
    }

    @BeforeEach
    void clear() {
        served.clear();
    }

    /** Netty's DefaultHttp2Headers refuses each of these (and RFC 9113 §8.2.1 the trailing whitespace), as the HPACK encoder cannot send '€'. */
    @ParameterizedTest(name = "[{index}] {2}")
    @CsvSource(delimiter = '|', value = {
        "x-trace|a\\nb|LF in a value",
        "x-trace|a\\rb|CR in a value",
        "x-trace|a\\0b|NUL in a value",
        "x-trace|a\\u0001b|a control character in a value",
        "x-trace|a\\u007fb|DEL in a value",
        "x-trace|\\u0020a|a value starting with a space",
        "x-trace|\\ta|a value starting with a tab",
        "x-trace|a\\u0020|a value ending with a space",
        "x-trace|\\u20ac|a value with a character past Latin-1",
        "''|1|an empty name",
        "x trace|1|a space in a name",
        "x:trace|1|a colon in a name",
        "x\\ntrace|1|LF in a name",
        "x-caf\\u00e9|1|a non-ASCII name",
        "x-\\u212a|1|a name that lower-cases to ASCII only by Unicode rules (Kelvin sign)",
        "x(trace)|1|a separator in a name",
    })
    @DisplayName("a header field Netty's HTTP/2 validation refuses fails the future at once with IllegalArgumentException naming it; nothing is dialled")
    void anInvalidHeaderFieldFailsAtOnce(String name, String value, String what) throws Exception {
        String n = unescape(name.equals("''") ? "" : name);
        String v = unescape(value);
        HboneClient client = mesh.client().build();
        try {
            CompletableFuture<HboneStream> open = client.connect(echo.address(), mesh.expectServer(), server.localAddress(), Map.of(n, v));
            assertThat(open).as(what).isCompletedExceptionally();
            Throwable t = catchThrowable(open::join);
            assertThat(t.getCause()).as(what).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("header")
                    .hasMessageContaining("\"" + io.zerohop.hbone.internal.LogText.escape(n) + "\"");
            assertThat(client.closeIfIdle()).as("nothing dialled for %s", what).isTrue();
        } finally {
            client.close();
        }
    }

    private static String unescape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\') {
                b.append(c);
                continue;
            }
            char k = s.charAt(++i);
            switch (k) {
                case 'n' -> b.append('\n');
                case 'r' -> b.append('\r');
                case 't' -> b.append('\t');
                case '0' -> b.append('\0');
                case 'u' -> {
                    b.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16));
                    i += 4;
                }
                default -> throw new IllegalArgumentException(s);
            }
        }
        return b.toString();
    }

    /** What HTTP/2 can carry still goes: an upper-case name is lower-cased (as documented), a tab inside and Latin-1 text are kept. */
    @Test
    void validFieldsStillGoOut() throws Exception {
        try (HboneClient client = mesh.client().build()) {
            HboneStream s = client.connect(echo.address(), mesh.expectServer(), server.localAddress(),
                    Map.of("X-Trace", "a\tb caf\u00e9", "x-empty", "")).get(10, TimeUnit.SECONDS);
            s.close();
        }
        assertThat(served).hasSize(1);
        assertThat(served.get(0)).containsEntry("x-trace", "a\tb caf\u00e9").containsEntry("x-empty", "");
    }

    /**
     * The fallback: should anything still throw on the event loop while the stream starts (here Netty's own header
     * validation, reached with a value that changes once read there), the future fails with that error at once, not
     * with a "no CONNECT response" after the response timeout (10 min here: the get below would time out first), and
     * the tunnel's slot on the connection is released (one stream per connection: a leaked slot would make the next
     * tunnel open a second connection).
     */
    @Test
    void aThrowOnTheEventLoopWhileTheStreamStartsFailsTheFutureWithIt() throws Exception {
        Map<String, String> changing = new AbstractMap<>() {
            @Override
            public Set<Entry<String, String>> entrySet() {
                boolean onLoop = io.netty.util.internal.ThreadExecutorMap.currentExecutor() != null;
                return Set.of(Map.entry("x-trace", onLoop ? "a\nb" : "ab"));
            }
        };
        try (HboneServer own = mesh.server(DestinationResolver.sameIp()).build().start().get(10, TimeUnit.SECONDS);
             HboneClient client = mesh.client().connectTimeout(Duration.ofMinutes(10)).maxStreamsPerConnection(1).build()) {
            // A warm connection: the open is then a task this thread hands the connection's loop (the path that
            // threw into Netty's task runner); an open waiting for the connection ran inside the pool's callback.
            HboneStream warm = client.connect(echo.address(), mesh.expectServer(), own.localAddress()).get(10, TimeUnit.SECONDS);
            warm.close();
            ClientPoolTest.awaitCondition(() -> io.zerohop.hbone.internal.Inspect.tunnelCount(client, mesh.expectServer(), own.localAddress()) == 0,
                    "the warm tunnel's slot released");
            Throwable t = catchThrowable(() -> client.connect(echo.address(), mesh.expectServer(), own.localAddress(), changing)
                    .get(30, TimeUnit.SECONDS));
            assertThat(t).isInstanceOf(ExecutionException.class);
            assertThat(t.getCause()).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("x-trace");
            HboneStream next = client.connect(echo.address(), mesh.expectServer(), own.localAddress()).get(10, TimeUnit.SECONDS);
            assertThat(own.openConnections()).as("the failed open's slot was released").isEqualTo(1);
            assertThat(io.zerohop.hbone.internal.Inspect.tunnelCount(client, mesh.expectServer(), own.localAddress())).isEqualTo(1);
            next.close();
        }
    }

    @Test
    void aNullExpectedIdentityIsNamed() {
        try (HboneClient client = mesh.client().build()) {
            Set<SpiffeId> withNull = new HashSet<>(Arrays.asList(mesh.serverId, null));
            assertThatThrownBy(() -> client.connect(echo.address(), withNull, server.localAddress()))
                    .isInstanceOf(NullPointerException.class).hasMessage("expected identities must not contain null");
            assertThatThrownBy(() -> client.connectSocket(echo.address(), java.util.Collections.singleton(null), server.localAddress(),
                    Duration.ofSeconds(10))).isInstanceOf(NullPointerException.class).hasMessage("expected identities must not contain null");
            assertThatThrownBy(() -> client.connect(echo.address(), null, server.localAddress()))
                    .isInstanceOf(NullPointerException.class).hasMessage("expected identities");
            assertThat(client.closeIfIdle()).as("nothing dialled").isTrue();
        }
    }

    @Test
    @DisplayName("an expected identity without a path (a trust domain's own ID) names no workload: refused at once, nothing dialled")
    void anExpectedIdentityWithoutAPathIsRefused() {
        SpiffeId domain = SpiffeId.parse("spiffe://cluster.local");
        try (HboneClient client = mesh.client().build()) {
            for (Set<SpiffeId> expected : List.of(Set.of(domain), Set.of(mesh.serverId, domain))) {
                CompletableFuture<HboneStream> open = client.connect(echo.address(), expected, server.localAddress());
                assertThat(open).isCompletedExceptionally();
                assertThat(catchThrowable(open::join).getCause()).isInstanceOf(IllegalArgumentException.class)
                        .hasMessage("expected identity spiffe://cluster.local has no path: it names a trust domain, no workload"
                                + " (X509-SVID spec section 2); expect the server's workload ID, such as spiffe://cluster.local/ns/NS/sa/SA");
            }
            assertThat(client.closeIfIdle()).as("nothing dialled").isTrue();
        }
    }

    @Test
    @DisplayName("connectSocket with a zero, negative or too long timeout: IllegalArgumentException before anything is sent")
    void connectSocketRefusesATimeoutThatIsNotPositive() {
        InetSocketAddress hbone = server.localAddress();
        try (HboneClient client = mesh.client().build()) {
            assertThatThrownBy(() -> client.connectSocket(echo.address(), mesh.expectServer(), hbone, Duration.ofSeconds(-1)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessage("timeout must be positive, got -1s");
            assertThatThrownBy(() -> client.connectSocket(echo.address(), mesh.expectServer(), hbone, Duration.ZERO))
                    .isInstanceOf(IllegalArgumentException.class).hasMessage("timeout must be positive, got 0s");
            assertThatThrownBy(() -> client.connectSocket(echo.address(), mesh.expectServer(), hbone, Duration.ofDays(36_501)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessage("timeout must be at most 36500d (100 years), got 36501d");
            assertThat(client.closeIfIdle()).as("nothing dialled").isTrue();
        }
        assertThat(served).as("no CONNECT reached the server").isEmpty();
    }
}
