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
}
