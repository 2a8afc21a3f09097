package io.zerohop.policy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link PathNormalizer#forIstio} against the cases of istio/istio tests/integration/security/normalization_test.go
 * (BASE, and the percent-encoded table under BASE: slashes stay encoded there), Envoy's canonicaliser
 * (envoyproxy/envoy source/common/chromium_url/url_canon_path.cc: raw characters percent-encoded, CheckForNestedEscapes)
 * and Envoy's dot segments with path parameters (CVE-2026-73551, envoyproxy/envoy#47001; istio/istio#61478 changed the
 * expectation for {@code /..;/admin}). The last three are the ways past an L7 policy an attack pass found on 4 December.
 */
class PathNormalizerTest {

    @Test
    void istioBaseNormalization() {
        Map<String, String> base = new java.util.LinkedHashMap<>();
        base.put("/", "/");
        base.put("/app#foo", "/app");
        base.put("/app/", "/app/");
        base.put("/app/../admin", "/admin");
        base.put("/app", "/app");
        base.put("/app//", "/app//");
        base.put("/app/%2f", "/app/%2f");
        base.put("/app%2f/", "/app%2f/");
        base.put("/xyz%30..//abc", "/xyz0..//abc");
        base.put("/app/%2E./admin", "/admin");
        base.put("/app\\admin", "/app/admin");
        base.put("/app/\\/\\/\\admin", "/app//////admin");
        base.put("/%2Fapp%5cadmin%5Cabc", "/%2Fapp%5cadmin%5Cabc");
        base.put("/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc", "/%5Capp%2f%5c%2F..%2fadmin%5c/abc");
        base.put("/app//../admin", "/app/admin");
        base.put("/app//../../admin", "/admin");
        base.forEach((in, out) -> assertThat(PathNormalizer.forIstio(in)).as(in).isEqualTo(out));
    }

    /** normalization_test.go PercentEncoded, for BASE: the unreserved characters are decoded, the rest kept as sent. */
    @Test
    void percentEncodedOneToFf() {
        for (int i = 1; i <= 0xff; i++) {
            String in = String.format("/admin%%%02x", i);
            boolean decoded = (i >= '0' && i <= '9') || (i >= 'A' && i <= 'Z') || (i >= 'a' && i <= 'z') || i == '-' || i == '.'
                    || i == '_' || i == '~';
            assertThat(PathNormalizer.forIstio(in)).as(in).isEqualTo(decoded ? "/admin" + (char) i : in);
        }
        assertThat(PathNormalizer.forIstio("/admin%00")).isNull();
    }

    /** url_canon_path.cc kPathCharLookup: ESCAPE characters are written percent-encoded (upper-case hex). */
    @Test
    void charactersAPathMayNotHoldRawArePercentEncoded() {
        assertThat(PathNormalizer.forIstio("/admin/users\"")).isEqualTo("/admin/users%22");
        assertThat(PathNormalizer.forIstio("/api/v1\"/delete")).isEqualTo("/api/v1%22/delete");
        assertThat(PathNormalizer.forIstio("/a<b>`{c}")).isEqualTo("/a%3Cb%3E%60%7Bc%7D");
        assertThat(PathNormalizer.forIstio("/a b")).isEqualTo("/a%20b");
        for (String control : new String[] {"/a\tb", "/api/x\ny", "/a\rb", "/a\u0001", "/a\u007f"}) {
            // Envoy's codecs refuse a control character in the target (http-parser; nghttp2's value check): never allowed.
            assertThat(PathNormalizer.forIstio(control)).as(control).isNull();
            assertThat(PathNormalizer.rejects(control)).as(control).isTrue();
            assertThat(PathNormalizer.forCilium(control)).as(control).isNull();
        }
        assertThat(PathNormalizer.forIstio("/caf\u00c3\u00a9")).as("a UTF-8 path read byte per char").isEqualTo("/caf%C3%A9");
        assertThat(PathNormalizer.forIstio("/caf\u00e9\u20ac")).as("a Java string").isEqualTo("/caf%E9%E2%82%AC");
        assertThat(PathNormalizer.forIstio("/a\u0000b")).as("a raw NUL is refused, as %00").isNull();
        assertThat(PathNormalizer.rejects("/a\u0000b")).isTrue();
        assertThat(PathNormalizer.forIstio("/a|b^c")).as("kPathCharLookup: | and ^ are ESCAPE").isEqualTo("/a%7Cb%5Ec");
        assertThat(PathNormalizer.forCilium("/admin|x")).isEqualTo("/admin%7Cx");
        // PASS in kPathCharLookup: kept as sent.
        assertThat(PathNormalizer.forIstio("/a[d]'e*f;g!$&()+,:=@")).isEqualTo("/a[d]'e*f;g!$&()+,:=@");
        assertThat(PathNormalizer.forIstio("/x\ud83d\ude00")).as("a surrogate pair is one code point")
                .isEqualTo("/x%F0%9F%98%80");
        for (String unpaired : new String[] {"/x\ud83d", "/x\ude00y", "/x\ud83dy"}) {
            assertThat(PathNormalizer.forIstio(unpaired)).as("an unpaired surrogate is no character").isNull();
        }
        assertThat(PathNormalizer.istioTarget("/admin/users\"?q=\"x\"")).as("the query is forwarded as sent")
                .isEqualTo("/admin/users%22?q=\"x\"");
    }

    /** url_canon_path.cc CheckForNestedEscapes: "%%300" is not "%00" once "%30" is unescaped. */
    @Test
    void aNestedEscapeIsNotDecodedIntoANewOne() {
        assertThat(PathNormalizer.forIstio("/%%36%31dmin")).isEqualTo("/%2561dmin");
        assertThat(PathNormalizer.forIstio("/%%300")).isEqualTo("/%2500");
        assertThat(PathNormalizer.forIstio("/x%%30%30")).as("not a %00 let through").isEqualTo("/x%2500");
        assertThat(PathNormalizer.forIstio("/%6%31dmin")).as("a raw digit then a decoded one").isEqualTo("/%2561dmin");
        assertThat(PathNormalizer.forIstio("/public/%%32%65%%32%65/admin")).isEqualTo("/public/%252e%252e/admin");
        assertThat(PathNormalizer.forIstio("/100%")).as("a lone % at the end").isEqualTo("/100%");
        assertThat(PathNormalizer.forIstio("/100%x%41")).as("a lone % before no hex pair").isEqualTo("/100%xA");
        assertThat(PathNormalizer.istioTarget("/%%36%31dmin?a=1")).isEqualTo("/%2561dmin?a=1");
        // Idempotent: normalising what Envoy forwards changes nothing more.
        for (String p : new String[] {"/%%36%31dmin", "/x%%30%30", "/public/%%32%65%%32%65/admin", "/%6%31dmin"}) {
            String once = PathNormalizer.forIstio(p);
            assertThat(PathNormalizer.forIstio(once)).as(p).isEqualTo(once);
        }
    }

    /** Envoy since CVE-2026-73551: /..;/admin is /admin (istio/istio#61478); other segments keep their parameters. */
    @Test
    void dotSegmentsWithPathParameters() {
        assertThat(PathNormalizer.forIstio("/..;/admin")).isEqualTo("/admin");
        assertThat(PathNormalizer.forIstio("/x/..;/admin")).isEqualTo("/admin");
        assertThat(PathNormalizer.forIstio("/xyz/..;foo=bar/abc")).isEqualTo("/abc");
        assertThat(PathNormalizer.forIstio("/.;/admin")).isEqualTo("/admin");
        assertThat(PathNormalizer.forIstio("/x/%2e%2e;/admin")).as("encoded dots").isEqualTo("/admin");
        assertThat(PathNormalizer.forIstio("/a/..;")).isEqualTo("/");
        assertThat(PathNormalizer.forIstio("/admin;a=b")).isEqualTo("/admin;a=b");
        assertThat(PathNormalizer.forIstio("/admin;a=b/xyz")).isEqualTo("/admin;a=b/xyz");
        assertThat(PathNormalizer.forIstio("/;/admin")).isEqualTo("/;/admin");
        assertThat(PathNormalizer.forIstio("/...;/admin")).isEqualTo("/...;/admin");
        assertThat(PathNormalizer.forIstio("/x.;/admin")).isEqualTo("/x.;/admin");
    }

    /** Many lone '%'s and ';' segments: each pass is linear, and the result is what a segment-by-segment reading gives. */
    @Test
    void longPathsOfNestedEscapesAndParameters() {
        int n = 20_000;
        String nested = "/" + "%%36%31".repeat(n);
        assertThat(PathNormalizer.forIstio(nested)).isEqualTo("/" + "%2561".repeat(n));
        String params = "/" + "a;b/".repeat(n) + "x/..;p/y";
        assertThat(PathNormalizer.forIstio(params)).isEqualTo("/" + "a;b/".repeat(n) + "y");
        String mixed = "/" + "%;/".repeat(n);
        assertThat(PathNormalizer.forIstio(mixed)).isEqualTo(mixed);
    }

    /** DecodeEscaped reads ASCII hex only: a fullwidth or Arabic-Indic digit after '%' begins no escape. */
    @Test
    void onlyAsciiHexDigitsMakeAnEscape() {
        assertThat(PathNormalizer.forIstio("/%\uFF17\uFF10ublic")).isEqualTo("/%%EF%BC%97%EF%BC%90ublic");
        assertThat(PathNormalizer.forIstio("/%\u0660\u0660")).as("no %00").isEqualTo("/%%D9%A0%D9%A0");
        assertThat(PathNormalizer.forCilium("/%\uFF17\uFF10ublic")).isEqualTo("/%%EF%BC%97%EF%BC%90ublic");
        assertThat(PathNormalizer.forIstio("/%4a%4A%4g")).isEqualTo("/JJ%4g");
    }

    /** rejects is forIstio's null, whatever makes it null (until 4 December an unpaired surrogate was missed). */
    @Test
    void rejectsAgreesWithForIstio() {
        for (String p : new String[] {"/x\ud83d", "/\ude00", "/a%00", "/a\tb", "/ok", "/x\ud83d\ude00", "/%%30%30", "/caf\u00e9"}) {
            assertThat(PathNormalizer.rejects(p)).as(p).isEqualTo(PathNormalizer.forIstio(p) == null);
        }
    }

    /** Envoy's DoPath writes the leading slash first: an API caller's relative path is not left relative. */
    @Test
    void aPathWithoutItsLeadingSlashGetsOne() {
        assertThat(PathNormalizer.forIstio("..;/admin")).isEqualTo("/admin");
        assertThat(PathNormalizer.forIstio("../admin")).isEqualTo("/admin");
        assertThat(PathNormalizer.forIstio("admin")).isEqualTo("/admin");
        assertThat(PathNormalizer.forIstio("")).isEqualTo("/");
        assertThat(PathNormalizer.forIstio("\\admin")).as("IsURLSlash: a backslash is the leading slash").isEqualTo("/admin");
        assertThat(PathNormalizer.istioTarget("admin?x=1")).isEqualTo("/admin?x=1");
        assertThat(PathNormalizer.forCilium("admin?x=1")).isEqualTo("/admin?x=1");
        assertThat(PathNormalizer.forCilium("?x=1")).isEqualTo("/?x=1");
        String star = "*";
        assertThat(PathNormalizer.forIstio(star)).as("OPTIONS *: a request target, not a path").isSameAs(star);
        assertThat(PathNormalizer.forCilium(star)).isSameAs(star);
        assertThat(PathNormalizer.istioTarget("*?x")).as("with a query, * is a path").isEqualTo("/*?x");
        assertThat(PathNormalizer.forCilium("*?x")).isEqualTo("/*?x");
        assertThat(PathNormalizer.forCilium("*#f")).isEqualTo("/*");
    }

    /** forCilium drops a fragment wherever it is, the path changed or not (a # after the query was kept). */
    @Test
    void ciliumDropsAFragmentAfterAQuery() {
        assertThat(PathNormalizer.forCilium("/a?x#f")).isEqualTo("/a?x");
        assertThat(PathNormalizer.forCilium("a?x#f")).isEqualTo("/a?x");
        String plain = "/a?x";
        assertThat(PathNormalizer.forCilium(plain)).isSameAs(plain);
    }

    @Test
    void ciliumPathsTooAfterTheirOwnSteps() {
        assertThat(PathNormalizer.forCilium("/admin/users\"")).isEqualTo("/admin/users%22");
        assertThat(PathNormalizer.forCilium("/x/..;/admin?q")).isEqualTo("/admin?q");
        assertThat(PathNormalizer.forCilium("/%%36%31dmin")).isEqualTo("/%2561dmin");
    }

    /**
     * {@link PathNormalizer#plain}, the one scan both policy steps share, says yes only where the two scans it replaces
     * would have read the path as sent: {@link PathNormalizer#rejects} false, {@link PathNormalizer#forCilium} the same
     * instance, no line feed. Random targets over the characters those scans look at, and the edge cases by name.
     */
    @Test
    void plainOnlyWhereBothStepsReadThePathAsSent() {
        for (String p : new String[] {"/", "/api/orders", "/api/orders?id=7&x=a/b", "/a.b/c.", "/a?x=//..", "/a?x=%2F",
                "/a/./b", "/a/../b", "//a", "/a//b", "/a/", "/a%2Fb", "/a\\b", "/a b", "/a#f", "/a?x#f", "/a?x=\n", "/a\tb",
                "/a\u00e9", "/a?\u00e9", "/a\ud800", "*", "", "api", "/a?x=\"", "/a\"", "/a|b", "/a?%00", "/.", "/a/."}) {
            checkPlain(p);
        }
        assertThat(PathNormalizer.plain("/api/orders?id=7")).isTrue();
        assertThat(PathNormalizer.plain("/a?b=c/../d")).isTrue();
        assertThat(PathNormalizer.plain("/a/../b")).isFalse();
        assertThat(PathNormalizer.plain("/a?x#f")).isFalse();
        char[] alphabet = {'/', '/', 'a', 'b', '.', '.', '?', '#', '%', '2', 'F', '0', '\\', '\n', '\t', ' ', '"', '|', '\u007f',
            '\u00e9', '\ud800', '=', ';'};
        java.util.Random rnd = new java.util.Random(20261204);
        int plain = 0;
        for (int i = 0; i < 200_000; i++) {
            StringBuilder sb = new StringBuilder(rnd.nextInt(10) == 0 ? "" : "/");
            int n = rnd.nextInt(10);
            for (int k = 0; k < n; k++) {
                sb.append(alphabet[rnd.nextInt(alphabet.length)]);
            }
            plain += checkPlain(sb.toString()) ? 1 : 0;
        }
        assertThat(plain).isGreaterThan(5_000);
    }

    private static boolean checkPlain(String p) {
        boolean plain = PathNormalizer.plain(p);
        if (plain) {
            assertThat(PathNormalizer.rejects(p)).as(p).isFalse();
            assertThat(PathNormalizer.forCilium(p)).as(p).isSameAs(p);
            assertThat(p).as(p).doesNotContain("\n");
        }
        return plain;
    }
}
