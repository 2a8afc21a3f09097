package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The request-target forms of RFC 9112 section 3.2, with its own examples, reduced to origin-form
 * before RBAC sees them (as Envoy's HTTP/1 codec does); and the codec's rejection statuses.
 */
class RequestTargetTest {
    static HttpRequest get(HttpMethod method, String target) {
        HttpRequest r = new DefaultHttpRequest(HttpVersion.HTTP_1_1, method, target);
        r.headers().set(HttpHeaderNames.HOST, "original");
        return r;
    }

    @Test
    @DisplayName("RFC 9112 3.2.1 origin-form stays as it is")
    void originFormStays() {
        HttpRequest r = get(HttpMethod.GET, "/where?q=now");
        assertThat(RequestTarget.toOriginForm(r)).isNull();
        assertThat(r.uri()).isEqualTo("/where?q=now");
        assertThat(r.headers().get(HttpHeaderNames.HOST)).isEqualTo("original");
    }

    @Test
    @DisplayName("RFC 9112 3.2.2 absolute-form: path from the target, Host from its authority")
    void absoluteFormBecomesOriginForm() {
        HttpRequest r = get(HttpMethod.GET, "http://www.example.org/pub/WWW/TheProject.html");
        assertThat(RequestTarget.toOriginForm(r)).isNull();
        assertThat(r.uri()).isEqualTo("/pub/WWW/TheProject.html");
        assertThat(r.headers().get(HttpHeaderNames.HOST)).isEqualTo("www.example.org");
        HttpRequest empty = get(HttpMethod.GET, "HTTP://www.example.org:8080?x=1");
        assertThat(RequestTarget.toOriginForm(empty)).isNull();
        assertThat(empty.uri()).as("an empty path is sent as /").isEqualTo("/?x=1");
        assertThat(empty.headers().get(HttpHeaderNames.HOST)).isEqualTo("www.example.org:8080");
    }

    /**
     * envoyproxy/envoy test/common/http/http1/codec_impl_test.cc {@code Http11AbsolutePortTooLarge}: an absolute-form
     * target whose port is too large is {@code http1.invalid_url}, 400; so is one whose port is not a number. Until
     * 6 December both went on with that authority as the Host.
     */
    @Test
    void anAbsoluteFormPortThatIsNoPortIsRefused() {
        for (String target : new String[] {"http://foobar.com:1000000", "http://foobar.com:65536/x", "http://a:8o/x",
            "http://[::1]:99999/x", "http://a:1:2/x"}) {
            HttpRequest r = get(HttpMethod.GET, target);
            assertThat(RequestTarget.toOriginForm(r)).as(target).contains("invalid port");
            assertThat(r.headers().get(HttpHeaderNames.HOST)).as(target).isEqualTo("original");
        }
        for (String[] ok : new String[][] {{"http://foobar.com:65535/x", "foobar.com:65535"}, {"http://[::1]:8080/x", "[::1]:8080"},
            {"http://[::1]/x", "[::1]"}}) {
            HttpRequest r = get(HttpMethod.GET, ok[0]);
            assertThat(RequestTarget.toOriginForm(r)).as(ok[0]).isNull();
            assertThat(r.headers().get(HttpHeaderNames.HOST)).isEqualTo(ok[1]);
        }
    }

    /**
     * Envoy reads an absolute-form target with http_parser's {@code http_parser_parse_url} (utility.cc
     * {@code Utility::Url::initialize}, from codec_impl.cc {@code handlePath}): a port is its digits' value, leading zeros
     * and all ({@code v = v * 10 + digit}, refused only past 0xffff), and a URL that ends where its port should start
     * ({@code http://a:/x}, the parser's port-start state) is not a URL: 400 {@code http1.invalid_url}. zerohop refused
     * {@code :000080}, which Envoy forwards, and forwarded {@code Host: a:}, which Envoy refuses.
     */
    @Test
    void anAbsoluteFormPortIsReadAsEnvoysUrlParserReadsIt() {
        HttpRequest zeros = get(HttpMethod.GET, "http://a:000080/x");
        assertThat(RequestTarget.toOriginForm(zeros)).isNull();
        assertThat(zeros.headers().get(HttpHeaderNames.HOST)).isEqualTo("a:000080");
        for (String target : new String[] {"http://a:/x", "http://a:", "http://[::1]:/x", "http://a:0065536/x"}) {
            HttpRequest r = get(HttpMethod.GET, target);
            assertThat(RequestTarget.toOriginForm(r)).as(target).contains("invalid port");
            assertThat(r.headers().get(HttpHeaderNames.HOST)).as(target).isEqualTo("original");
        }
    }

    /**
     * Userinfo in an absolute-form target, as Envoy's codec reads it (codec_impl.cc {@code handlePath}, utility.cc
     * {@code Utility::Url::initialize}, http_parser's {@code http_parser_parse_url}): the host after the '@' is the Host,
     * the userinfo is dropped; a second '@' or a character outside http_parser's userinfo set is not a URL. Until
     * 7 December every userinfo was refused.
     */
    @Test
    void userinfoIsDroppedAndTheHostAfterItIsTheAuthority() {
        for (String[] ok : new String[][] {{"http://user@evil/admin", "evil"}, {"http://u:p%40w@b:8080/x?y", "b:8080"},
            {"http://@b/x", "b"}, {"http://u@[::1]:80/x", "[::1]:80"}}) {
            HttpRequest r = get(HttpMethod.GET, ok[0]);
            assertThat(RequestTarget.toOriginForm(r)).as(ok[0]).isNull();
            assertThat(r.headers().get(HttpHeaderNames.HOST)).as(ok[0]).isEqualTo(ok[1]);
            assertThat(r.uri()).as(ok[0]).doesNotContain("@").startsWith("/");
        }
        for (String target : new String[] {"http://a@b@c/x", "http://a@@b/x", "http://u@/x", "http://u\"x@b/x", "http://u[@b/x"}) {
            HttpRequest r = get(HttpMethod.GET, target);
            assertThat(RequestTarget.toOriginForm(r)).as(target).isNotNull();
            assertThat(r.headers().get(HttpHeaderNames.HOST)).as(target).isEqualTo("original");
        }
    }

    @Test
    @DisplayName("RFC 9112 3.2.4 asterisk-form only for OPTIONS; 3.2.3 authority-form and bare words are refused")
    void otherFormsAreRefused() {
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.OPTIONS, "*"))).isNull();
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "*"))).isNotNull();
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "www.example.com:80"))).isNotNull();
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "admin"))).isNotNull();
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "ftp://b/admin"))).isNotNull();
    }

    @Test
    @DisplayName("envoy test/common/http/path_utility_test.cc InvalidPaths: %00 in the path fails normalization; in the query it is data")
    void anEncodedNulInThePathIsRefused() {
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "/admin%00"))).contains("%00");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "/xyz/.%00../abc"))).contains("%00");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "http://b/admin%00/x"))).contains("%00");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "/search?q=%00"))).isNull();
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "/a#%00"))).as("refused for its fragment").contains("fragment");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "/admin%2500"))).as("an encoded percent, then 00").isNull();
    }

    /**
     * Envoy rejects a request target with a fragment (envoy 1.19.1 release notes, CVE-2021-32779:
     * {@code /app1/admin#foo} passed RBAC rules on {@code /admin} and reached the application with
     * its fragment; {@code envoy.reloadable_features.http_reject_path_with_fragment}, on by default).
     * Before 1 December zerohop decided {@code /ok#/../admin} on {@code /ok} and forwarded it as sent.
     */
    @Test
    @DisplayName("envoy CVE-2021-32779: a fragment in the request target is refused (400), in origin- and absolute-form")
    void aFragmentIsRefused() {
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "/app1/admin#foo"))).contains("fragment");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "/ok#/../admin"))).contains("fragment");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "/ok?q=1#x"))).contains("fragment");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "http://b/ok#x"))).contains("fragment");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "http://b#x"))).contains("fragment");
    }

    /**
     * RFC 9112 section 3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
     * request message that ... contains more than one Host header field line". Before 1 December the
     * first Host was decided on and both were forwarded, so an application that reads the last one
     * served {@code Host: admin.internal} behind a {@code DENY hosts: [admin.internal]}.
     */
    @Test
    @DisplayName("RFC 9112 3.2: two Host header lines are refused, whatever their case or values")
    void twoHostsAreRefused() {
        HttpRequest r = get(HttpMethod.GET, "/a");
        r.headers().add("host", "admin.internal");
        assertThat(RequestTarget.toOriginForm(r)).contains("more than one Host");
        HttpRequest same = get(HttpMethod.GET, "/a");
        same.headers().add("Host", "original");
        assertThat(RequestTarget.toOriginForm(same)).contains("more than one Host");
        HttpRequest absolute = get(HttpMethod.GET, "http://b/a");
        absolute.headers().add("Host", "c");
        assertThat(RequestTarget.toOriginForm(absolute)).contains("more than one Host");
    }

    /**
     * Envoy's HTTP/1 codec (envoyproxy/envoy source/common/http/http1/balsa_parser.cc, {@code isMethodValid}
     * without {@code allow_custom_methods}, and {@code isUrlValid}) refuses a method outside its list,
     * in any other case, and a target byte outside HTAB, FF and {@code !}..{@code ~}. Before 1 December
     * {@code delete /x} went to the application, which a {@code DENY methods: [DELETE]} never matched.
     */
    @Test
    @DisplayName("envoy balsa_parser.cc: a method outside Envoy's list (lower case included) and a non-ASCII target are refused")
    void methodsAndCharactersEnvoyRefuses() {
        assertThat(RequestTarget.METHODS).isSorted();
        for (String m : RequestTarget.METHODS) {
            if (m.equals("CONNECT")) {
                // A valid method whose origin-form target Envoy's codec refuses (handlePath, http1.invalid_url).
                assertThat(RequestTarget.toOriginForm(get(HttpMethod.CONNECT, "/a"))).as(m).startsWith("CONNECT request target \"/a\"");
                assertThat(RequestTarget.toOriginForm(get(HttpMethod.CONNECT, "b:443"))).as(m).startsWith("CONNECT request target \"b:443\"");
                continue;
            }
            assertThat(RequestTarget.toOriginForm(get(HttpMethod.valueOf(m), m.equals("OPTIONS") ? "*" : "/a"))).as(m).isNull();
        }
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.valueOf("delete"), "/a"))).contains("method \"delete\"");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.valueOf("Get"), "/a"))).contains("method");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.valueOf("FOO"), "/a"))).contains("method");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.valueOf("M-SEARCH"), "/a"))).as("balsa's list says MSEARCH").contains("method");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "/caf\u00e9"))).contains("0xe9 at 4");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "/a?q=\u007f"))).contains("0x7f");
        assertThat(RequestTarget.toOriginForm(get(HttpMethod.GET, "/a?q=~!\"{}|^`"))).as("every visible ASCII character").isNull();
    }

    @Test
    void decoderRejectionsGetEnvoysStatuses() {
        assertThat(LocalReplies.statusFor(new TooLongHttpHeaderException("big"))).isEqualTo(HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE);
        // Envoy counts the URL with the headers: a URL too long is 431 (http_integration.cc testLargeRequestUrl).
        assertThat(LocalReplies.statusFor(new io.netty.handler.codec.http.TooLongHttpLineException("long")))
                .isEqualTo(HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE);
        assertThat(LocalReplies.statusFor(new IllegalArgumentException("gzip is not the final transfer coding")))
                .isEqualTo(HttpResponseStatus.NOT_IMPLEMENTED);
        assertThat(LocalReplies.statusFor(new IllegalArgumentException("bad"))).isEqualTo(HttpResponseStatus.BAD_REQUEST);
    }
}
