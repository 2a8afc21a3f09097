package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SpiffeIdsTest {
    @Test
    void istioLayoutRoundTripsThroughPrincipalForm() {
        SpiffeId id = SpiffeIds.istio("cluster.local", "prod", "frontend");
        assertThat(id.toString()).isEqualTo("spiffe://cluster.local/ns/prod/sa/frontend");
        assertThat(SpiffeIds.principal(id)).isEqualTo("cluster.local/ns/prod/sa/frontend");
        assertThat(SpiffeIds.fromPrincipal("cluster.local/ns/prod/sa/frontend")).isEqualTo(id);
        assertThat(SpiffeIds.fromPrincipal(id.toString())).isEqualTo(id);
        assertThat(SpiffeIds.namespace(id)).contains("prod");
        assertThat(SpiffeIds.serviceAccount(id)).contains("frontend");
    }

    /**
     * SpiffeIds.istio reads its trust domain as SpiffeIds.trustDomain does, and as the CA, the providers and the builders
     * do: java-spiffe's TrustDomain.parse folded "Cluster.Local" and took "spiffe://cluster.local" here (a new-user pass).
     * A null part is named.
     */
    @Test
    void istioRefusesATrustDomainTheRestOfTheMeshRefuses() {
        for (String td : new String[] {"Cluster.Local", "SPIFFE://Cluster.Local", "spiffe://cluster.local"}) {
            assertThatThrownBy(() -> SpiffeIds.istio(td, "prod", "web")).as(td).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("invalid Istio identity (trust domain \"" + td + "\"")
                    .hasMessageContaining("invalid trust domain \"" + td + "\"");
        }
        assertThatThrownBy(() -> SpiffeIds.istio(null, "ns", "sa")).hasMessage("invalid Istio identity: trustDomain must not be null");
        assertThatThrownBy(() -> SpiffeIds.istio("td", null, "sa")).hasMessage("invalid Istio identity: namespace must not be null");
        assertThatThrownBy(() -> SpiffeIds.istio("td", "ns", null)).hasMessage("invalid Istio identity: serviceAccount must not be null");
        assertThatThrownBy(() -> SpiffeIds.fromPrincipal(null)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("invalid principal: null");
        assertThatThrownBy(() -> SpiffeIds.trustDomain(null)).hasMessageStartingWith("invalid trust domain: null");
    }

    @Test
    void nonIstioPathsHaveNoNamespace() {
        SpiffeId id = SpiffeIds.parse("spiffe://example.org/workload/db");
        assertThat(SpiffeIds.isIstioLayout(id)).isFalse();
        assertThat(SpiffeIds.namespace(id)).isEmpty();
        assertThat(SpiffeIds.serviceAccount(SpiffeIds.parse("spiffe://example.org/ns/a/sa/b/extra"))).isEmpty();
    }

    @Test
    void invalidIdsNameTheInput() {
        assertThatThrownBy(() -> SpiffeIds.parse("spiffe://Upper.Case/x"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("spiffe://Upper.Case/x");
        assertThatThrownBy(() -> SpiffeIds.parse("spiffe://td/a/../b")).hasMessageContaining("invalid SPIFFE ID");
        assertThatThrownBy(() -> SpiffeIds.parse("spiffe://td//b")).hasMessageContaining("invalid SPIFFE ID");
        assertThatThrownBy(() -> SpiffeIds.parse("https://td/b")).hasMessageContaining("invalid SPIFFE ID");
        // java-spiffe takes the scheme in any case and folds it: the part not in lower case is named (a new-user pass:
        // "SPIFFE://cluster.local/x" was told that its trust domain must be lower case).
        assertThatThrownBy(() -> SpiffeIds.parse("spiffe://Upper.Case/x"))
                .hasMessage("invalid SPIFFE ID \"spiffe://Upper.Case/x\": not in canonical form (trust domain must be lower case)");
        assertThatThrownBy(() -> SpiffeIds.parse("SPIFFE://cluster.local/x"))
                .hasMessage("invalid SPIFFE ID \"SPIFFE://cluster.local/x\": not in canonical form (the scheme must be lower case: spiffe://)");
        assertThatThrownBy(() -> SpiffeIds.parse("Spiffe://Cluster.local/x"))
                .hasMessage("invalid SPIFFE ID \"Spiffe://Cluster.local/x\": not in canonical form (scheme and trust domain must be lower case)");
    }

    /** spiffe/java-spiffe v0.8.17 (989e186) java-spiffe-core SpiffeIdTest provideInvalidSpiffeIds: input and java-spiffe's message. */
    static Stream<Arguments> invalidSpiffeIds() {
        String badTd = "Trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores";
        String badPath = "Path segment characters are limited to letters, numbers, dots, dashes, and underscores";
        return Stream.of(
                Arguments.of("192.168.2.2:6688", "Scheme is missing or invalid"),
                Arguments.of("http://domain.test/path/element", "Scheme is missing or invalid"),
                Arguments.of("spiffe:///path/element", "Trust domain is missing"),
                Arguments.of("spiffe://domain.test/path/element?query=1", badPath),
                Arguments.of("spiffe://domain.test/path/element?#fragment-1", badPath),
                Arguments.of("spiffe://domain.test:8080/path/element", badTd),
                Arguments.of("spiffe://user:password@test.org/path/element", badTd),
                Arguments.of("spiffe:path/element", "Scheme is missing or invalid"),
                Arguments.of("spiffe:/path/element", "Scheme is missing or invalid"),
                Arguments.of("spiffe://", "Trust domain is missing"),
                Arguments.of("spiffe://domain.test/path/elem%5uent", badPath),
                Arguments.of("spiffe://trustdomain/path//", "Path cannot contain empty segments"),
                Arguments.of("spiffe://trustdomain/./other", "Path cannot contain dot segments"),
                Arguments.of("spiffe://trustdomain/../other", "Path cannot contain dot segments"),
                Arguments.of("spiffe://trustdomain/", "Path cannot have a trailing slash"),
                Arguments.of("spiffe://trustdomain/path/", "Path cannot have a trailing slash"),
                Arguments.of("spiffe://[::1]/service", badTd),
                Arguments.of("spiffe://[2001:db8::1]/service", badTd),
                Arguments.of("xspiffe://trustdomain/path", "Scheme is missing or invalid"));
    }

    @ParameterizedTest(name = "java-spiffe SpiffeIdTest invalid: {0}")
    @MethodSource
    void invalidSpiffeIds(String input, String message) {
        assertThatThrownBy(() -> SpiffeIds.parse(input)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(input).hasMessageContaining(message);
    }

    /** The same test's provideTestValidSpiffeIds, lower-case forms: trust domain and path as java-spiffe reads them. */
    static Stream<Arguments> validSpiffeIds() {
        return Stream.of(
                Arguments.of("spiffe://trustdomain", "trustdomain", ""),
                Arguments.of("spiffe://trustdomain/path", "trustdomain", "/path"),
                Arguments.of("spiffe://trustdomain/path1/path2", "trustdomain", "/path1/path2"),
                Arguments.of("spiffe://trustdomain/PATH1/PATH2", "trustdomain", "/PATH1/PATH2"),
                Arguments.of("spiffe://trustdomain/9eebccd2-12bf-40a6-b262-65fe0487d453", "trustdomain",
                        "/9eebccd2-12bf-40a6-b262-65fe0487d453"),
                Arguments.of("spiffe://a_b.example/foo", "a_b.example", "/foo"),
                Arguments.of("spiffe://1.2.3.4/service", "1.2.3.4", "/service"));
    }

    @ParameterizedTest(name = "java-spiffe SpiffeIdTest valid: {0}")
    @MethodSource
    void validSpiffeIds(String input, String trustDomain, String path) {
        SpiffeId id = SpiffeIds.parse(input);
        assertThat(id.getTrustDomain().getName()).isEqualTo(trustDomain);
        assertThat(id.getPath()).isEqualTo(path);
    }

    /**
     * java-spiffe's mixed-case valid cases ("SPIFFE://trustdomain/path", "SpIfFe://TrUsTdOmAiN/Workload") are
     * refused here: ztunnel's Identity::from_str (istio/ztunnel src/identity/manager.rs) and go-spiffe accept only
     * the lower-case scheme and trust domain, and so does zerohop's peer verification (X509.spiffeId).
     */
    @Test
    void mixedCaseSchemeOrTrustDomainIsRefusedUnlikeJavaSpiffe() {
        for (String id : new String[] {"SPIFFE://trustdomain/path", "SpIfFe://TrUsTdOmAiN/Workload"}) {
            assertThat(SpiffeId.parse(id)).as("java-spiffe folds %s", id).isNotNull();
            assertThatThrownBy(() -> SpiffeIds.parse(id)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("lower case");
        }
    }
}
