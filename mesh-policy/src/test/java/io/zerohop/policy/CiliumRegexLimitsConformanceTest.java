package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static io.zerohop.policy.Upstream.cnp;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Cilium refuses a rules.http regex that Go's {@code regexp.Compile} refuses (cilium/cilium pkg/policy/api/http.go
 * {@code PortRuleHTTP.Sanitize}), and Go's parser has limits RE2J lacks: nested counted repetitions past 1000 copies,
 * programs past 3,355,443 instructions, trees past 1000 levels (go/src/regexp/syntax/parse.go {@code repeatIsValid},
 * {@code checkSize}, {@code checkHeight}). The patterns are those of go/src/regexp/syntax/parse_test.go
 * {@code TestParseInvalidRegexps} marked "too much repetition", "too deep" and "too long". Until 6 December zerohop loaded
 * them: a policy Cilium never enforces was enforced (its allows admitting what Cilium's default deny drops), and
 * {@code "(" + "(xx?)" x 1000 + "){1000}"}, five million instructions, ran RE2J out of heap. The cases of parse.go's own
 * code (repeatIsValid's walk through {@code x{0,}}, parseInt's leading zeros, collapse's flattening of nested groups) come
 * from helper 296's review: the first was loaded and the others, which Go takes, were refused.
 */
class CiliumRegexLimitsConformanceTest extends UpstreamTable {

    static final Upstream T = new Upstream();
    static final String GO = "golang/go src/regexp/syntax/parse_test.go (TestParseInvalidRegexps) + parse.go (repeatIsValid, "
            + "checkSize, checkHeight) via cilium/cilium pkg/policy/api/http.go (PortRuleHTTP.Sanitize: regexp.Compile)";
    static final String GO_VALID = "golang/go src/regexp/syntax/parse.go (limits: at most 1000 copies, 3355443 instructions, "
            + "1000 levels)";

    static final String GO_REPEAT = "golang/go src/regexp/syntax/parse.go (repeatIsValid: m = re.Max, for -1 m = re.Min; only"
            + " m == 0 from Max ends the walk)";
    static final String GO_PARSE_INT = "golang/go src/regexp/syntax/parse.go (parseInt: \"Disallow leading zeros\"; parseRepeat"
            + " fails and '{' is a literal)";
    static final String GO_COLLAPSE = "golang/go src/regexp/syntax/parse.go (collapse: a concat or alternate hoisted into its own"
            + " op; maybeConcat; checkHeight)";

    static final String STRICTER = "zerohop, stricter than golang/go src/regexp/syntax/parse.go (checkSize: no size kept while"
            + " numRegexp < maxSize/repeats)";

    static String path(String regex) {
        String quoted = "'" + regex.replace("'", "''") + "'";
        return cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{}], toPorts: [{ports: [{port: '8080', protocol: TCP}], "
                + "rules: {http: [{path: " + quoted + "}]}}]}]}");
    }

    static String method(String regex) {
        return cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{}], toPorts: [{ports: [{port: '8080', protocol: TCP}], "
                + "rules: {http: [{method: '" + regex + "'}]}}]}]}");
    }

    static {
        // TestParseInvalidRegexps, "too much repetition": 2^10 = 1024 copies of x.
        T.invalid(GO, "((((((((((x{2}){2}){2}){2}){2}){2}){2}){2}){2}){2}) (too much repetition; was: loaded)",
                path("((((((((((x{2}){2}){2}){2}){2}){2}){2}){2}){2}){2})"), "invalid repeat count");
        T.invalid(GO, "the same as a method", method("((((((((((x{2}){2}){2}){2}){2}){2}){2}){2}){2}){2})"), "invalid repeat count");
        // TestParseInvalidRegexps, "too deep".
        T.invalid(GO, "1000 nested empty groups (too deep; was: loaded)", path("(".repeat(1000) + ")".repeat(1000)),
                "expression nests too deeply");
        T.invalid(GO, "(?: x 1000 + )* x 1000 (too deep; was: loaded)", path("(?:".repeat(1000) + ")*".repeat(1000)),
                "expression nests too deeply");
        // TestParseInvalidRegexps, "too long": five million instructions each.
        T.invalid(GO, "( + (xx?) x 1000 + ){1000} (too long; was: loaded, RE2J ran out of heap)",
                path("(" + "(xx?)".repeat(1000) + "){1000}"), "expression too large");
        T.invalid(GO, "(xx?){1000} x 1000 (too long; was: loaded)", path("(xx?){1000}".repeat(1000)), "expression too large");
        // Within the limits: still loaded, and still deciding.
        T.valid(GO_VALID, "(a{2}){500}: 1000 copies", path("(a{2}){500}"));
        T.valid(GO_VALID, "((a{10}){10}){10}: 1000 copies", path("((a{10}){10}){10}"));
        T.valid(GO_VALID, "(a{0}){1000}: x{0} ends repeatIsValid's walk", path("(a{0}){1000}"));
        T.valid(GO_VALID, "999 nested groups", path("(".repeat(999) + "a" + ")".repeat(999)));
        T.valid(GO_VALID, "5000 nested non-capturing groups (no node each)", path("(?:".repeat(5000) + "a" + ")".repeat(5000)));
        T.invalid(GO_VALID, "((a{10}){10}){11}: 1100 copies", path("((a{10}){10}){11}"), "invalid repeat count");
        T.invalid(GO_VALID, "((ab){500}c){3}: 1500 copies", path("((ab){500}c){3}"), "invalid repeat count");
        // parse.go repeatIsValid: for x{0,} (Max -1) m is Min, 0, which divides nothing but ends no walk, so the copies
        // inside still count toward the outer repeat (only x{0} and x{0,0}, Max 0, end it). Until this review zerohop
        // loaded these, which Go's parser (and Cilium) refuses.
        T.invalid(GO_REPEAT, "((a{1000}){0,}){2}: 2000 copies through x{0,} (was: loaded)", path("((a{1000}){0,}){2}"),
                "invalid repeat count");
        T.invalid(GO_REPEAT, "(?:(?:a{600}){0,}){2}: 1200 copies through x{0,} (was: loaded)", path("(?:(?:a{600}){0,}){2}"),
                "invalid repeat count");
        T.valid(GO_REPEAT, "((a{500}){0,}){2}: 1000 copies through x{0,}", path("((a{500}){0,}){2}"));
        // parse.go parseInt: "Disallow leading zeros", so parseRepeat fails and { is a literal: {02} is the text "{02}", no
        // repetition (RE2J reads it so too). Until this review zerohop counted it as {2} and refused Go's valid pattern.
        T.valid(GO_PARSE_INT, "(a{1000}){02}: {02} is literal text (was: refused, invalid repeat count)", path("/(a{1000}){02}"));
        T.valid(GO_PARSE_INT, "(a{1000}){1,02}: {1,02} is literal text (was: refused)", path("/(a{1000}){1,02}"));
        T.decide(GO_PARSE_INT, "(a{1000}){02} is no {2}: two thousand a's do not match", path("/(a{1000}){02}"),
                r().http("GET", "/" + "a".repeat(2000)), false, "prod/c");
        // parse.go collapse hoists a concatenation into the concatenation around it and an alternation into the
        // alternation around it ("there is never a concat of a concat or an alternate of an alternate"), and maybeConcat
        // joins literals: nested non-capturing groups add no level. Until this review these were refused as "too deep".
        T.valid(GO_COLLAPSE, "(?:a x 1200 + b) x 1200: one literal in Go's tree (was: refused, nests too deeply)",
                path("/" + "(?:a".repeat(1200) + "b)".repeat(1200)));
        T.valid(GO_COLLAPSE, "(?:a.x 1200 + b) x 1200: one concatenation (was: refused)",
                path("/" + "(?:a.".repeat(1200) + "b)".repeat(1200)));
        T.valid(GO_COLLAPSE, "x|(?:x|(?: ... x 1200: one alternation (was: refused)",
                path("/" + "x|(?:".repeat(1200) + "y" + ")".repeat(1200)));
        // Still deep in Go's tree: each group is repeated (a star is a level of its own), or a capture.
        T.invalid(GO_COLLAPSE, "(?:a x 1200 + b)* x 1200: a star per level", path("/" + "(?:a".repeat(1200) + "b)*".repeat(1200)),
                "expression nests too deeply");
        T.invalid(GO_COLLAPSE, "(?:a( x 1000 + b)) x 1000: a capture per level", path("/" + "(?:a(".repeat(1000) + "b))".repeat(1000)),
                "expression nests too deeply");
        // Stricter than Go on purpose (mesh-policy README): Go's checkSize starts measuring only once numRegexp reaches
        // maxSize / the product of the counts, which a literal run (one node) under {1000} never does; RE2J would hold its
        // four million instructions in some 240 MB.
        T.invalid(STRICTER, "(?: 4000 letters ){1000}: Go's parser does not measure it", path("(?:" + "a".repeat(4000) + "){1000}"),
                "expression too large");
        for (String ok : List.of("/api/v[0-9]+/.*", "GET|POST", "(?i)/admin", "/[[:alpha:]]+", "\\Q/a.b\\E", "/a{2,5}",
                "/(?P<x>a)b", "/(?<x>a)b", "/[a-z]{1000}", "/\\pL{1000}", "/x{1000}y{1000}")) {
            T.valid(GO_VALID, "an ordinary pattern: " + ok, path(ok));
        }
        T.decide(GO_VALID, "(a{2}){500} matches 1000 a's", path("/(a{2}){500}"), r().http("GET", "/" + "a".repeat(1000)), true, "prod/c");
        T.decide(GO_VALID, "(a{2}){500} does not match 999", path("/(a{2}){500}"), r().http("GET", "/" + "a".repeat(999)), false, "prod/c");
    }

    static List<Upstream.Case> cases() {
        return T.cases;
    }

    @Test
    void countsPerSource() {
        assertThat(T.counts()).containsKeys(GO, GO_VALID, GO_REPEAT, GO_PARSE_INT, GO_COLLAPSE, STRICTER);
    }
}
