package io.zerohop.policy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * istio/istio pilot/pkg/security/trustdomain/bundle_test.go TestReplaceTrustDomainAliases, case by case: the
 * bundle (trust domain, then aliases), the principals, what istiod's builder hands Envoy. Plus the default bundle's
 * effect on a prefix-pattern trust domain (zerohop's default, istiod's default mesh config), bundle.go's
 * ExpandTrustDomainAliases (no upstream unit test: cases read from its code), and the names a bundle accepts.
 */
class TrustDomainsTest {

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of("No trust domain aliases (no change in trust domain)", List.of("cluster.local"),
                        List.of("cluster.local/ns/foo/sa/bar"), List.of("cluster.local/ns/foo/sa/bar")),
                Arguments.of("Principal with *", List.of("cluster.local"), List.of("*"), List.of("*")),
                Arguments.of("Principal with * prefix", List.of("cluster.local"), List.of("*/ns/foo/sa/bar"), List.of("*/ns/foo/sa/bar")),
                Arguments.of("One trust domain alias, one principal", List.of("td2", "td1"), List.of("td1/ns/foo/sa/bar"),
                        List.of("td2/ns/foo/sa/bar", "td1/ns/foo/sa/bar")),
                Arguments.of("One trust domain alias, two principals", List.of("td1", "cluster.local"),
                        List.of("cluster.local/ns/foo/sa/bar", "cluster.local/ns/yyy/sa/zzz"),
                        List.of("td1/ns/foo/sa/bar", "cluster.local/ns/foo/sa/bar", "td1/ns/yyy/sa/zzz", "cluster.local/ns/yyy/sa/zzz")),
                Arguments.of("One trust domain alias, principals with * as-is", List.of("td1", "cluster.local"),
                        List.of("*/ns/foo/sa/bar", "*sa/zzz", "*"), List.of("*/ns/foo/sa/bar", "*sa/zzz", "*")),
                Arguments.of("Two trust domain aliases, two principals", List.of("td2", "td1", "cluster.local"),
                        List.of("cluster.local/ns/foo/sa/bar", "td1/ns/yyy/sa/zzz"),
                        List.of("td2/ns/foo/sa/bar", "td1/ns/foo/sa/bar", "cluster.local/ns/foo/sa/bar",
                                "td2/ns/yyy/sa/zzz", "td1/ns/yyy/sa/zzz", "cluster.local/ns/yyy/sa/zzz")),
                Arguments.of("Two trust domain aliases with * prefix in trust domain", List.of("td2", "foo-td1", "cluster.local"),
                        List.of("*-td1/ns/foo/sa/bar"), List.of("td2/ns/foo/sa/bar", "*-td1/ns/foo/sa/bar", "cluster.local/ns/foo/sa/bar")),
                Arguments.of("Principals not match any trust domains", List.of("td1", "td2"), List.of("some-td/ns/foo/sa/bar"),
                        List.of("some-td/ns/foo/sa/bar")),
                Arguments.of("Principals match one alias", List.of("td1", "td2", "some-td"), List.of("some-td/ns/foo/sa/bar"),
                        List.of("td1/ns/foo/sa/bar", "td2/ns/foo/sa/bar", "some-td/ns/foo/sa/bar")),
                Arguments.of("One principal match one alias", List.of("new-td", "td2", "td3"),
                        List.of("td1/ns/some-ns/sa/some-sa", "td2/ns/foo/sa/bar"),
                        List.of("td1/ns/some-ns/sa/some-sa", "new-td/ns/foo/sa/bar", "td2/ns/foo/sa/bar", "td3/ns/foo/sa/bar")),
                Arguments.of("Trust domain is empty string", List.of("new-td", "td2", "td3"), List.of("/ns/some-ns/sa/some-sa"),
                        List.of("/ns/some-ns/sa/some-sa")),
                Arguments.of("No duplicated principals for prefix", List.of("new-td", "old-td"), List.of("*-td/ns/some-ns/sa/some-sa"),
                        List.of("*-td/ns/some-ns/sa/some-sa")),
                // istio/istio testdata/http td-aliases-source-principal (bundle new-td, [old-td, some-trustdomain]).
                Arguments.of("td-aliases-source-principal", List.of("new-td", "old-td", "some-trustdomain"),
                        List.of("*", "*/ns/foo/sa/all-td", "*-td/ns/foo/sa/prefix-td"),
                        List.of("*", "*/ns/foo/sa/all-td", "*-td/ns/foo/sa/prefix-td", "some-trustdomain/ns/foo/sa/prefix-td")),
                // The default bundle (what zerohop uses): a prefix pattern of cluster.local becomes cluster.local.
                Arguments.of("default bundle: cluster*", TrustDomains.DEFAULT, List.of("cluster*/ns/a/sa/b"), List.of("cluster.local/ns/a/sa/b")),
                Arguments.of("default bundle: *local stays", TrustDomains.DEFAULT, List.of("*local/ns/a/sa/b"), List.of("*local/ns/a/sa/b")),
                Arguments.of("default bundle: other* stays", TrustDomains.DEFAULT, List.of("other*/ns/a/sa/b"), List.of("other*/ns/a/sa/b")),
                Arguments.of("default bundle: four segments stay", TrustDomains.DEFAULT, List.of("cluster*/ns/a/sa"), List.of("cluster*/ns/a/sa")));
    }

    /** bundle.go ExpandTrustDomainAliases: slices.Contains (exact), then slices.FilterDuplicates (first kept). */
    static Stream<Arguments> expand() {
        return Stream.of(
                Arguments.of("default bundle: cluster.local stays", TrustDomains.DEFAULT, List.of("cluster.local"), List.of("cluster.local")),
                Arguments.of("an alias becomes the bundle", List.of("example.org", "old-td"), List.of("old-td"),
                        List.of("example.org", "old-td")),
                Arguments.of("the trust domain becomes the bundle", List.of("example.org", "old-td"), List.of("example.org"),
                        List.of("example.org", "old-td")),
                Arguments.of("cluster.local is not special here (unlike principals)", List.of("example.org", "old-td"),
                        List.of("cluster.local"), List.of("cluster.local")),
                Arguments.of("a pattern is kept as written", List.of("example.org", "old-td"), List.of("old*", "*.org"),
                        List.of("old*", "*.org")),
                Arguments.of("duplicates dropped, first kept", List.of("td1", "cluster.local"), List.of("another.local", "cluster.local", "td1"),
                        List.of("another.local", "td1", "cluster.local")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("expand")
    void expandTrustDomainAliases(String name, List<String> bundle, List<String> values, List<String> expect) {
        assertThat(TrustDomains.expandAll(values, bundle)).containsExactlyElementsOf(expect);
    }

    @Test
    void bundleIsTheTrustDomainThenItsAliasesAndNamesABadValue() {
        assertThat(TrustDomains.bundle("example.org", List.of("old-td", "td_2"))).containsExactly("example.org", "old-td", "td_2");
        assertThatThrownBy(() -> TrustDomains.bundle("example.org", List.of("old-td", "Old.TD")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("invalid trust domain alias \"Old.TD\": character 'O' at 0");
        assertThatThrownBy(() -> TrustDomains.bundle("example.org", List.of("*-td")))
                .hasMessageStartingWith("invalid trust domain alias \"*-td\": character '*' at 0");
        assertThatThrownBy(() -> TrustDomains.bundle("example.org", List.of("")))
                .hasMessage("invalid trust domain alias \"\": empty");
        assertThatThrownBy(() -> TrustDomains.bundle("spiffe://example.org", List.of()))
                .hasMessageStartingWith("invalid trust domain \"spiffe://example.org\": character ':' at 6");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void replaceTrustDomainAliases(String name, List<String> bundle, List<String> principals, List<String> expect) {
        assertThat(TrustDomains.migrateAll(principals, bundle)).containsExactlyElementsOf(expect);
    }
}
