package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatNullPointerException;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * {@link HeaderValidation#checkAuthority} against Envoy's authority table. The first case of each group is Envoy's own
 * (test/common/http/header_utility_test.cc, {@code HeaderIsValidTest.AuthorityIsValid}); the others are the ones the
 * proxy and {@code zerohop policy check} rely on.
 */
class HeaderValidationTest {

    @ParameterizedTest
    @ValueSource(strings = {"strangebutlegal$-%&'", "", "backend.prod:8080", "[::1]:15008", "user@host", "a!$&'()*+,;=~_"})
    void envoyAcceptsTheseAuthorities(String authority) {
        assertThat(HeaderValidation.checkAuthority(authority)).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"illegal{}", "blocked.example/", "a b", " blocked.example", "h.\"com", "caf\u00e9", "a\tb",
        "a\\b", "a#b", "a?b", "a<b>", "a^b", "a`b", "a|b"})
    void envoyRefusesTheseAuthorities(String authority) {
        assertThat(HeaderValidation.checkAuthority(authority)).get(org.assertj.core.api.InstanceOfAssertFactories.STRING)
                .startsWith("Host has a character Envoy refuses (0x").endsWith("http.invalid_authority");
    }

    @Test
    void theReasonNamesTheFirstRefusedCharacterAndItsIndex() {
        assertThat(HeaderValidation.checkAuthority("blocked.example/x y")).contains(
                "Host has a character Envoy refuses (0x2f at 15): http.invalid_authority");
        assertThatNullPointerException().isThrownBy(() -> HeaderValidation.checkAuthority(null)).withMessage("authority");
    }

    /** Envoy's SketchyConnectionHeader cases (codec_impl_test.cc) and the tokens that nominate nothing. */
    @Test
    void connectionNominationsAreEnvoysCodecRules() {
        HeaderValidation.Nominations n = HeaderValidation.connectionNominations("close, X-User,connection, content-length", null, null);
        assertThat(n.refusal()).isEmpty();
        assertThat(n.removedHeaders()).containsExactly("x-user");
        assertThat(n.droppedTokens()).containsExactly("x-user", "connection", "content-length");
        assertThat(n.teAsTrailers()).isFalse();
        assertThat(HeaderValidation.connectionNominations("te", null, "gzip, trailers").teAsTrailers()).isTrue();
        assertThat(HeaderValidation.connectionNominations("te", null, "gzip").removedHeaders()).containsExactly("te");
        assertThat(HeaderValidation.connectionNominations("keep-alive", null, null).droppedTokens()).isEmpty();
        assertThat(HeaderValidation.connectionNominations(null, null, null).removedHeaders()).isEmpty();
        assertThat(HeaderValidation.connectionNominations("upgrade, x-user", "websocket", null).removedHeaders())
                .as("an upgrade's headers stay").isEmpty();
        assertThat(HeaderValidation.connectionNominations("a,b,c,d,e,f,g,h,i,j", null, null).refusal()).get()
                .asString().contains("10 tokens");
        assertThat(HeaderValidation.connectionNominations("close, X-Forwarded-For", null, null).refusal()).get()
                .asString().contains("\"X-Forwarded-For\"");
        assertThat(HeaderValidation.connectionNominations("te", null, "x".repeat(256)).refusal()).isPresent();
    }

    @Test
    void hopByHopHeadersAreRemovedAsEnvoysConnectionManagerRemovesThem() {
        java.util.Map<String, String> h = new java.util.LinkedHashMap<>(java.util.Map.of("connection", "keep-alive", "keep-alive",
                "timeout=5", "proxy-connection", "close", "transfer-encoding", "chunked", "te", "gzip, trailers", "x-user", "a"));
        assertThat(HeaderValidation.removeHopByHop(h)).containsExactly("connection", "keep-alive", "proxy-connection",
                "transfer-encoding", "te");
        assertThat(h).containsOnly(java.util.Map.entry("te", "trailers"), java.util.Map.entry("x-user", "a"));
        java.util.Map<String, String> ws = new java.util.HashMap<>(java.util.Map.of("connection", "Upgrade", "upgrade", "websocket",
                "te", "gzip"));
        assertThat(HeaderValidation.removeHopByHop(ws)).as("an upgrade keeps its headers").isEmpty();
        java.util.Map<String, String> h2c = new java.util.HashMap<>(java.util.Map.of("connection", "Upgrade, HTTP2-Settings",
                "upgrade", "h2c", "http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA"));
        assertThat(HeaderValidation.removeHopByHop(h2c)).containsExactlyInAnyOrder("http2-settings", "connection", "upgrade");
        assertThat(h2c).isEmpty();
        assertThatNullPointerException().isThrownBy(() -> HeaderValidation.removeHopByHop(null));
    }

    /** The token scan that replaced a split per request: the same answers as splitting on commas and stripping each. */
    @Test
    void aTokenIsFoundInACommaListAsSplittingWouldFindIt() {
        String[] lists = {"upgrade", "Upgrade", " keep-alive ,\tUPGRADE\t", "keep-alive", "upgrades", "xupgrade", "up grade",
                "", ",", ",,upgrade,", "keep-alive,", "close, upgrade", "upgrade,close", " ", "trailers;q=1", "gzip, trailers"};
        for (String list : lists) {
            for (String token : new String[] {"upgrade", "trailers"}) {
                boolean bySplit = java.util.Arrays.stream(list.split(",")).anyMatch(t -> t.strip().equalsIgnoreCase(token));
                assertThat(HeaderValidation.listsToken(list, token)).as("%s in \"%s\"", token, list).isEqualTo(bySplit);
            }
        }
        assertThat(HeaderValidation.listsToken(" keep-alive ,\tUPGRADE\t", "upgrade")).isTrue();
        assertThat(HeaderValidation.listsToken("upgrades", "upgrade")).isFalse();
    }

    /** Istio's Envoy takes websocket upgrades only, and serves h2c as plain HTTP/1.1: any other upgrade is its 403. */
    @Test
    void anUpgradeOtherThanWebsocketOrH2cIsRefused() {
        assertThat(HeaderValidation.upgradeRefusal("keep-alive, Upgrade", "foo")).contains("upgrade to \"foo\" is not allowed (websocket only)");
        assertThat(HeaderValidation.upgradeRefusal("upgrade", " WebSocket ")).isEmpty();
        assertThat(HeaderValidation.upgradeRefusal("upgrade", "h2c")).isEmpty();
        assertThat(HeaderValidation.upgradeRefusal("keep-alive", "foo")).as("no upgrade token: no upgrade").isEmpty();
        assertThat(HeaderValidation.upgradeRefusal(null, "foo")).isEmpty();
        assertThat(HeaderValidation.upgradeRefusal("upgrade", null)).isEmpty();
    }
}
