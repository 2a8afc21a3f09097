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
}
