package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link WorkloadRef}'s names are validated as the Kubernetes API server validates them: the namespace a DNS-1123
 * label, the name and the service account DNS-1123 subdomains. The good and bad values are those of
 * k8s.io/apimachinery pkg/util/validation/validation_test.go ({@code TestIsDNS1123Label},
 * {@code TestIsDNS1123Subdomain}). A new-user pass found {@code Prod} or {@code web_sa} taken: a workload no API
 * server could hold, which no policy written for the real one selects.
 */
class WorkloadRefValidationTest {
    private static final List<String> GOOD_LABELS = List.of("a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012", "1a",
            "1-a", "1--a--b--2", "a".repeat(63));
    private static final List<String> BAD_LABELS = List.of("A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1",
            "_", "a_", "_a", "a_b", "1_", "_1", "1_2", ".", "a.", ".a", "a.b", "1.", ".1", "1.2", " ", "a ", " a", "a b", "1 ",
            " 1", "1 2", "a".repeat(64));
    private static final List<String> GOOD_SUBDOMAINS = List.of("a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012",
            "1a", "1-a", "1--a--b--2", "a.a", "ab.a", "abc.a", "a1.a", "a-1.a", "a--1--2--b.a", "a.1", "ab.1", "abc.1", "a1.1",
            "a-1.1", "a--1--2--b.1", "0.a", "01.a", "012.a", "1a.a", "1-a.a", "1--a--b--2", "0.1", "01.1", "012.1", "1a.1",
            "1-a.1", "1--a--b--2.1", "a.b.c.d.e", "aa.bb.cc.dd.ee", "1.2.3.4.5", "11.22.33.44.55", "a".repeat(253));
    private static final List<String> BAD_SUBDOMAINS = List.of("A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-",
            "-1", "_", "a_", "_a", "a_b", "1_", "_1", "1_2", ".", "a.", ".a", "a..b", "1.", ".1", "1..2", " ", "a ", " a", "a b",
            "1 ", " 1", "1 2", "A.a", "aB.a", "ab.A", "A1.a", "a1.A", "A.1", "aB.1", "A1.1", "1A.1", "0.A", "01.A", "012.A",
            "1A.a", "1a.A", "A.B.C.D.E", "AA.BB.CC.DD.EE", "a.B.c.d.e", "aa.bB.cc.dd.ee", "a@b", "a,b", "a_b", "a;b", "a:b",
            "a%b", "a?b", "a$b", "a".repeat(254));

    @Test
    void theNamespaceIsADns1123Label() {
        for (String ns : GOOD_LABELS) {
            assertThatCode(() -> WorkloadRef.checked(ns, "web", "web", Map.of())).as(ns).doesNotThrowAnyException();
        }
        for (String ns : BAD_LABELS) {
            assertThatThrownBy(() -> WorkloadRef.checked(ns, "web", "web", Map.of())).as(ns).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("namespace \"" + ns + "\": ");
        }
    }

    @Test
    void theNameAndTheServiceAccountAreDns1123SubdomainsOrEmpty() {
        for (String n : GOOD_SUBDOMAINS) {
            assertThatCode(() -> WorkloadRef.checked("prod", n, n, Map.of())).as(n).doesNotThrowAnyException();
        }
        for (String n : BAD_SUBDOMAINS) {
            assertThatThrownBy(() -> WorkloadRef.checked("prod", n, "web", Map.of())).as(n).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("name \"" + n + "\": ");
            assertThatThrownBy(() -> WorkloadRef.checked("prod", "web", n, Map.of())).as(n).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("serviceAccount \"" + n + "\": ");
        }
        assertThat(WorkloadRef.checked("prod", null, null, null)).extracting(WorkloadRef::name, WorkloadRef::serviceAccount)
                .containsExactly("", "");
        assertThat(WorkloadRef.of("prod", "", Map.of()).name()).isEmpty();
    }

    @Test
    void theMessageSaysWhatIsWrong() {
        assertThatThrownBy(() -> WorkloadRef.checked("Prod", "web", "web", Map.of())).hasMessage("namespace \"Prod\": a lowercase RFC 1123"
                + " label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric"
                + " character (e.g. 'my-name', or '123-abc') (upper case: write \"prod\"?) (Kubernetes' name rules,"
                + " k8s.io/apimachinery pkg/util/validation IsDNS1123Label)");
        assertThatThrownBy(() -> WorkloadRef.checked("prod", "web", "web_sa", Map.of())).hasMessageStartingWith("serviceAccount \"web_sa\":"
                + " a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'");
        assertThatThrownBy(() -> WorkloadRef.checked("a".repeat(64), "web", "web", Map.of()))
                .hasMessageEndingWith(": must be no more than 63 characters (it has 64)");
    }

    /** newuser18: "Backend_1" was told to write "backend_1", still refused; and a null name was a bare NPE. */
    @Test
    void theLowerCaseHintOnlyWhenItWouldPassAndNullNamesTheField() {
        assertThatThrownBy(() -> WorkloadRef.checked("prod", "Backend_1", "web", Map.of())).hasMessageNotContaining("upper case");
        assertThatThrownBy(() -> WorkloadRef.checked("prod", "Backend-1", "web", Map.of())).hasMessageContaining("(upper case: write \"backend-1\"?)");
        assertThatThrownBy(() -> WorkloadRef.checkNames(null, "web", "web")).isInstanceOf(NullPointerException.class).hasMessage("namespace");
    }
}
