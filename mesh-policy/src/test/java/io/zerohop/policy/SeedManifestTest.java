package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.Decision.Outcome;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The two reconstructed seed manifests (src/test/resources/seed) behave as described in the README. */
class SeedManifestTest {

    static Path seed(String file) throws URISyntaxException {
        return Path.of(SeedManifestTest.class.getResource("/seed/" + file).toURI());
    }

    @Test
    void bothLoadFromTheDirectory() throws Exception {
        PolicySet set = PolicyLoader.fromDirectory(seed("istio-backend.yaml").getParent());
        assertThat(set.policies()).extracting(PolicyRef::toString).containsExactly(
                "CiliumNetworkPolicy prod/backend-from-frontend",
                "AuthorizationPolicy prod/backend-allow-frontend",
                "PeerAuthentication prod/default");
        assertThat(set.warnings()).isEmpty();
    }

    @Test
    void istioSeed() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromFile(seed("istio-backend.yaml"))).build();
        assertThat(e.evaluate(r().http("GET", "/anything").build()).explain()).isEqualTo(
                "ALLOW by prod/backend-allow-frontend (AuthorizationPolicy ALLOW, rule 0): source.principal "
                        + "cluster.local/ns/prod/sa/frontend, destination.port 8080, request.method GET matched");
        assertThat(e.evaluate(r().http("POST", "/").build()).allowed()).isFalse();
        assertThat(e.evaluate(r().port(9090).http("GET", "/").build()).allowed()).isFalse();
        assertThat(e.evaluate(r().principal("spiffe://cluster.local/ns/prod/sa/batch").http("GET", "/").build()).allowed()).isFalse();
        // At L4 the rule carries methods, so ztunnel drops it: nothing is allowed without L7.
        Decision l4 = e.evaluate(r().build());
        assertThat(l4.allowed()).isFalse();
        assertThat(l4.outcome()).isEqualTo(Outcome.DENIED_DEFAULT);
        Decision plaintext = e.evaluate(r().plaintext().http("GET", "/").build());
        assertThat(plaintext.outcome()).isEqualTo(Outcome.DENIED_AUTHENTICATION);
        assertThat(plaintext.explain()).isEqualTo(
                "DENY by prod/default (PeerAuthentication STRICT): plaintext connection rejected: mTLS mode STRICT");
        assertThat(e.mtlsMode(new WorkloadRef("prod", "anything", "", Map.of()), 1234)).isEqualTo(MtlsMode.STRICT);
    }

    @Test
    void ciliumSeed() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromFile(seed("cilium-backend.yaml"))).build();
        Decision ok = e.evaluate(r().http("GET", "/api/orders").build());
        assertThat(ok.allowed()).as(ok.explain()).isTrue();
        assertThat(ok.policy().qualifiedName()).isEqualTo("prod/backend-from-frontend");
        assertThat(e.evaluate(r().http("GET", "/admin").build()).allowed()).isFalse();
        assertThat(e.evaluate(r().http("DELETE", "/api/orders").build()).allowed()).isFalse();
        assertThat(e.evaluate(r().port(9090).http("GET", "/api/x").build()).allowed()).isFalse();
        assertThat(e.evaluate(r().plaintext().http("GET", "/api/x").build()).outcome()).isEqualTo(Outcome.DENIED_AUTHENTICATION);
        // Right labels but another verified identity: the spiffe extension rejects it.
        Decision impostor = e.evaluate(r().principal("spiffe://cluster.local/ns/prod/sa/batch").http("GET", "/api/x").build());
        assertThat(impostor.outcome()).isEqualTo(Outcome.DENIED_AUTHENTICATION);
        assertThat(impostor.reason()).contains("authentication.spiffe");
        Decision otherTd = e.evaluate(r().principal("spiffe://evil.example/ns/prod/sa/frontend").http("GET", "/api/x").build());
        assertThat(otherTd.allowed()).isFalse();
        // Other workloads of prod are not selected, so Cilium leaves them open.
        assertThat(e.evaluate(r().dest("prod", "db", Map.of("app", "db")).build()).outcome()).isEqualTo(Outcome.ALLOWED_NO_POLICY);
    }

    @Test
    void bothSeedsTogether() throws Exception {
        PolicyEngine e = PolicyEngine.builder()
                .policies(PolicyLoader.fromDirectory(seed("istio-backend.yaml").getParent())).build();
        Decision d = e.evaluate(r().http("GET", "/api/orders").build());
        assertThat(d.allowed()).isTrue();
        assertThat(d.policy().kind()).isEqualTo(PolicyRef.Kind.AUTHORIZATION_POLICY);
        Decision cilium = e.evaluate(r().http("GET", "/other").build());
        assertThat(cilium.allowed()).isFalse();
        assertThat(cilium.policy().kind()).isEqualTo(PolicyRef.Kind.CILIUM_NETWORK_POLICY);
    }
}
