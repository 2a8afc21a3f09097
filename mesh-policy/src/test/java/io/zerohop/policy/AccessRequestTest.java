package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link AccessRequest.Builder}'s string addresses are read as the policies' addresses are (Go's
 * netip: four decimal fields up to 255, no leading zero), never by the JDK's inet_aton forms and
 * never through DNS.
 */
class AccessRequestTest {

    private static final String DENY_LOOPBACK = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-one, namespace: shop}
            spec:
              action: DENY
              rules: [{from: [{source: {ipBlocks: ["127.0.0.1"]}}]}]
            """;

    private static AccessRequest.Builder request() {
        return AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/shop/sa/web").destinationAddress("10.9.9.9")
                .destinationPort(8080).destination(new WorkloadRef("shop", "orders", "orders", Map.of()));
    }

    /**
     * New-user pass: sourceAddress("127.1") was taken as 127.0.0.1 and "010.0.0.1" as 10.0.0.1 (the JDK's
     * inet_aton forms, which a policy's ipBlocks refuses), and "300.1.1.1" was looked up in DNS although
     * the Javadoc says a literal never is: a blocking call on whatever thread built the request.
     */
    @Test
    void anIpv4LiteralIsFourDecimalFieldsAsInThePolicies() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("deny.yaml", DENY_LOOPBACK)).build();
        assertThat(engine.evaluate(request().sourceAddress("127.0.0.1").build()).allowed()).isFalse();
        assertThat(request().sourceAddress("0.0.0.0").build().sourceAddress().getHostAddress()).isEqualTo("0.0.0.0");
        assertThat(request().sourceAddress("255.255.255.255").build().sourceAddress().getHostAddress()).isEqualTo("255.255.255.255");
        assertThat(request().sourceAddress("fd00::1").build().sourceAddress().getHostAddress()).isEqualTo("fd00:0:0:0:0:0:0:1");
        for (String bad : new String[] {"127.1", "10.1", "010.0.0.1", "127.0.0.01", "300.1.1.1", "1.2.3.4.5", "1..2.3", "1.2.3.", "2130706433"}) {
            assertThatThrownBy(() -> request().sourceAddress(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("not an IP literal: " + bad + " (IPv4: four decimal fields up to 255 without leading zeros, as the policies' addresses)");
            assertThatThrownBy(() -> request().destinationAddress(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> request().sourceAddress("::ffff:300.1.1.1")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("not an IP literal: ::ffff:300.1.1.1");
    }

    /**
     * New-user pass: a principal written as in a policy (no scheme) was refused without saying what to
     * write, and a request without its destination failed with a bare "NullPointerException: destination".
     */
    @Test
    void aMalformedRequestSaysWhatToWrite() {
        assertThatThrownBy(() -> request().sourcePrincipal("cluster.local/ns/shop/sa/web").sourceAddress("127.0.0.1").build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("sourcePrincipal must be a SPIFFE ID (spiffe://...): \"cluster.local/ns/shop/sa/web\" (a policy writes "
                        + "principals without the scheme; the request takes the full ID: spiffe://cluster.local/ns/shop/sa/web)");
        // newuser: "frontend" was told to write spiffe://frontend, which has no path, so no workload's ID either.
        assertThatThrownBy(() -> request().sourcePrincipal("frontend").sourceAddress("127.0.0.1").build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("sourcePrincipal must be a SPIFFE ID (spiffe://...): \"frontend\" (a workload's SPIFFE ID always has a path:"
                        + " spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT for Istio's, \"spiffe://cluster.local/ns/<namespace>/sa/frontend\"?)");
        assertThatThrownBy(() -> request().sourcePrincipal("http://x").sourceAddress("127.0.0.1").build())
                .hasMessage("sourcePrincipal must be a SPIFFE ID (spiffe://...): \"http://x\"");
        assertThatThrownBy(() -> request().sourceAddress("127.0.0.1").destination(null).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("destination is required: the workload the request is for")
                .hasMessageContaining("destination(new WorkloadRef(");
        assertThatThrownBy(() -> request().build()).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("sourceAddress is required");
        assertThatThrownBy(() -> request().sourceAddress("127.0.0.1").destinationPort(0).build())
                .hasMessage("destinationPort out of range (1..65535): 0");
    }

    private static final String DENY_WEB = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-web, namespace: shop}
            spec:
              action: DENY
              rules: [{from: [{source: {principals: ["cluster.local/ns/shop/sa/web"]}}]}]
            """;

    /**
     * A principal is refused where a peer's SPIFFE ID would be: the cases are java-spiffe's own (spiffe/java-spiffe
     * java-spiffe-core/src/test/java/io/spiffe/spiffeid/SpiffeIdTest.java, {@code provideTestValidSpiffeIds} and
     * {@code provideInvalidSpiffeIds}, with their messages), but for the scheme and trust domain in upper case, which
     * java-spiffe folds and zerohop's verifier refuses (mesh-identity {@code SpiffeIds.parse}; a new-user pass, helper 257,
     * found them folded here). An embedded pass: {@code spiffe://cluster.local/ns/shop/sa/web/} was taken as written,
     * and the DENY for its peer let it through.
     */
    @Test
    void aPrincipalIsRefusedWhereAPeersIdWouldBe() throws Exception {
        String[][] valid = {
                {"spiffe://trustdomain", "spiffe://trustdomain"},
                {"spiffe://trustdomain/path", "spiffe://trustdomain/path"},
                {"spiffe://trustdomain/path1/path2", "spiffe://trustdomain/path1/path2"},
                {"spiffe://trustdomain/PATH1/PATH2", "spiffe://trustdomain/PATH1/PATH2"},
                {"spiffe://trustdomain/9eebccd2-12bf-40a6-b262-65fe0487d453", "spiffe://trustdomain/9eebccd2-12bf-40a6-b262-65fe0487d453"},
                {"spiffe://a_b.example/foo", "spiffe://a_b.example/foo"},
                {"spiffe://1.2.3.4/service", "spiffe://1.2.3.4/service"},
        };
        for (String[] v : valid) {
            assertThat(request().sourcePrincipal(v[0]).sourceAddress("10.0.0.1").build().sourcePrincipal()).as(v[0]).isEqualTo(v[1]);
        }
        String canonical = "spiffe://cluster.local/ns/shop/sa/web";
        assertThat(request().sourcePrincipal(canonical).sourceAddress("10.0.0.1").build().sourcePrincipal()).isSameAs(canonical);
        String[][] invalid = {
                {"spiffe:///path/element", "Trust domain is missing"},
                {"spiffe://domain.test/path/element?query=1", "Path segment characters are limited to letters, numbers, dots, dashes, and underscores"},
                {"spiffe://domain.test/path/element?#fragment-1", "Path segment characters are limited to letters, numbers, dots, dashes, and underscores"},
                {"spiffe://domain.test:8080/path/element", "Trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores"},
                {"spiffe://user:password@test.org/path/element", "Trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores"},
                {"spiffe://domain.test/path/elem%5uent", "Path segment characters are limited to letters, numbers, dots, dashes, and underscores"},
                {"spiffe://trustdomain/path//", "Path cannot contain empty segments"},
                {"spiffe://trustdomain/./other", "Path cannot contain dot segments"},
                {"spiffe://trustdomain/../other", "Path cannot contain dot segments"},
                {"spiffe://trustdomain/", "Path cannot have a trailing slash"},
                {"spiffe://trustdomain/path/", "Path cannot have a trailing slash"},
                {"spiffe://[::1]/service", "Trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores"},
                {"spiffe://[2001:db8::1]/service", "Trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores"},
                // validatePath's cases (provideInvalidPaths), after a trust domain.
                {"spiffe://td/foo/.", "Path cannot contain dot segments"},
                {"spiffe://td/foo/..", "Path cannot contain dot segments"},
                {"spiffe://td/foo bar", "Path segment characters are limited to letters, numbers, dots, dashes, and underscores"},
                {"spiffe://td/foo%5Cbar", "Path segment characters are limited to letters, numbers, dots, dashes, and underscores"},
                // java-spiffe's valid "SPIFFE://trustdomain/path" and "SpIfFe://TrUsTdOmAiN/Workload", which it folds.
                {"SPIFFE://trustdomain/path", "not in canonical form (the scheme must be lower case: spiffe://)"},
                {"SpIfFe://TrUsTdOmAiN/Workload", "not in canonical form (scheme and trust domain must be lower case)"},
                {"spiffe://Cluster.Local/ns/shop/sa/web", "not in canonical form (trust domain must be lower case)"},
        };
        for (String[] v : invalid) {
            assertThatThrownBy(() -> request().sourcePrincipal(v[0]).sourceAddress("10.0.0.1").build()).as(v[0])
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("sourcePrincipal is not a SPIFFE ID: \"" + v[0] + "\": " + v[1]
                            + " (spiffe/spiffe standards/SPIFFE-ID.md, as a peer's is checked)");
        }
        // Their scheme faults keep this API's own message ("192.168.2.2:6688", "spiffe:path/element", "xspiffe://...").
        for (String bad : new String[] {"http://domain.test/path/element", "spiffe:/path/element", "spiffe://", "xspiffe://trustdomain/path"}) {
            assertThatThrownBy(() -> request().sourcePrincipal(bad).sourceAddress("10.0.0.1").build()).as(bad)
                    .hasMessageStartingWith("sourcePrincipal must be a SPIFFE ID (spiffe://...): \"" + bad + "\"");
        }
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("deny.yaml", DENY_WEB)).build();
        assertThat(engine.evaluate(request().sourcePrincipal("spiffe://cluster.local/ns/shop/sa/web").sourceAddress("10.0.0.1").build())
                .allowed()).isFalse();
    }
}
