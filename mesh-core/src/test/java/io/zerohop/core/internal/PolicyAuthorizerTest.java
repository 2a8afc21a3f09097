package io.zerohop.core.internal;

import static io.zerohop.core.internal.PartsFixture.BACKEND;
import static io.zerohop.core.internal.PartsFixture.BACKEND_IP;
import static io.zerohop.core.internal.PartsFixture.FRONTEND;
import static io.zerohop.core.internal.PartsFixture.FRONTEND_IP;
import static io.zerohop.core.internal.PartsFixture.LEGACY;
import static io.zerohop.core.internal.PartsFixture.UNKNOWN_IP;
import static io.zerohop.core.internal.PartsFixture.connect;
import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.AuthzRequest;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.WorkloadRef;
import java.net.InetSocketAddress;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The policy adapter alone: mesh-policy's {@link Decision} to mesh-hbone's {@link AuthzDecision}.
 * A deny is 401 as ztunnel answers an RBAC rejection (istio/ztunnel src/proxy/inbound.rs,
 * {@code StatusCode::UNAUTHORIZED} for the connection guard); the request carries ztunnel's
 * {@code rbac::Connection} fields (src/rbac.rs); dry-run follows Istio's {@code istio.io/dry-run}
 * annotation: never enforced, reported beside the decision.
 */
class PolicyAuthorizerTest {
    final PartsFixture f = new PartsFixture();
    final InetSocketAddress backend8080 = new InetSocketAddress(BACKEND_IP, 8080);

    @Test
    void anAllowedConnectIsAllowed() {
        AuthzDecision d = f.authorizer.authorize(connect(FRONTEND.identity(), FRONTEND_IP, backend8080, BACKEND.identity()));
        assertThat(d).isEqualTo(AuthzDecision.allow());
    }

    @Test
    @DisplayName("a deny is 401 (ztunnel inbound.rs) with the decision's explanation as the reason")
    void aDenyIs401WithTheExplanation() {
        AuthzRequest r = connect(LEGACY, FRONTEND_IP, backend8080, BACKEND.identity());
        AuthzDecision d = f.authorizer.authorize(r);
        Decision decision = f.authorizer.decide(r);
        assertThat(d.allowed()).isFalse();
        assertThat(d.status()).isEqualTo(401);
        assertThat(d.reason()).isEqualTo(decision.explain()).startsWith("DENY by prod/backend-allow");
    }

    @Test
    @DisplayName("a deny carries ztunnel's kind of rejection (src/state.rs assert_rbac): no allow rule matched is NotAllowed, a DENY rule names its policy")
    void aDenyCarriesZtunnelsRejection() throws Exception {
        AuthzRequest legacy = connect(LEGACY, FRONTEND_IP, backend8080, BACKEND.identity());
        assertThat(f.authorizer.authorize(legacy).rejection()).isEqualTo(AuthzDecision.PolicyRejection.NOT_ALLOWED);
        io.zerohop.policy.PolicyEngine deny = io.zerohop.policy.PolicyEngine.builder().policies(io.zerohop.policy.PolicyLoader.fromString("d.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: backend-deny-legacy, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules: [{from: [{source: {namespaces: [legacy]}}]}]
                """)).build();
        AuthzDecision d = new PolicyAuthorizer(deny, f.registry, f.refusals).authorize(legacy);
        assertThat(d.rejection()).isEqualTo(AuthzDecision.PolicyRejection.explicitlyDenied("prod", "backend-deny-legacy"));
        assertThat(d.reason()).startsWith("DENY by prod/backend-deny-legacy (AuthorizationPolicy DENY, rule 0)");
    }

    @Test
    @DisplayName("a dry-run DENY that matches does not deny; its would-be verdict is reported (istio.io/dry-run)")
    void aDryRunDenyNeverDenies() {
        AuthzRequest r = connect(FRONTEND.identity(), FRONTEND_IP, backend8080, BACKEND.identity());
        Decision decision = f.authorizer.decide(r);
        assertThat(decision.allowed()).isTrue();
        assertThat(decision.dryRun()).contains("prod/deny-frontend-dry-run");
        assertThat(f.authorizer.authorize(r).allowed()).isTrue();
    }

    @Test
    void theAccessRequestCarriesPeerSourceWorkloadAndDestination() {
        AccessRequest a = f.authorizer.accessRequest(connect(FRONTEND.identity(), FRONTEND_IP, backend8080, BACKEND.identity()));
        assertThat(a.sourcePrincipal()).isEqualTo(FRONTEND.identity().toString());
        assertThat(a.sourceAddress()).isEqualTo(FRONTEND_IP);
        assertThat(a.sourceWorkload()).isEqualTo(FRONTEND.ref());
        assertThat(a.destination()).isEqualTo(BACKEND.ref());
        assertThat(a.destinationAddress()).isEqualTo(BACKEND_IP);
        assertThat(a.destinationPort()).isEqualTo(8080);
    }

    @Test
    void aDestinationOutsideTheRegistryIsKnownByThePresentedIdentityOnly() {
        SpiffeId cart = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/cart");
        AccessRequest a = f.authorizer.accessRequest(connect(LEGACY, UNKNOWN_IP, new InetSocketAddress(UNKNOWN_IP, 80), cart));
        assertThat(a.destination()).isEqualTo(new WorkloadRef("shop", "cart", "cart", Map.of()));
        assertThat(a.sourceWorkload()).as("the peer address is no registry workload").isNull();
        assertThat(PolicyAuthorizer.refOf(SpiffeId.parse("spiffe://example.org/some/path")))
                .as("no ns/sa segments").isEqualTo(new WorkloadRef("default", "default", "default", Map.of()));
    }

    /**
     * A SPIFFE ID's path may hold names Kubernetes refuses (SPIRE registrations are free-form): the destination is known
     * by them, and the tunnel is decided, where a ref that checked Kubernetes' name rules threw for every such tunnel.
     */
    @Test
    void aDestinationIdentityWithNamesKubernetesWouldRefuseIsStillDecided() {
        SpiffeId odd = SpiffeId.parse("spiffe://example.org/ns/Prod/sa/web_sa");
        AccessRequest a = f.authorizer.accessRequest(connect(LEGACY, UNKNOWN_IP, new InetSocketAddress(UNKNOWN_IP, 80), odd));
        assertThat(a.destination()).isEqualTo(new WorkloadRef("Prod", "web_sa", "web_sa", Map.of()));
    }

    @Test
    @DisplayName("the source workload is the tunnel's (TunnelSource): of the peer's identity, at its address or named by a node proxy's forwarded")
    void theSourceWorkloadHasThePeersIdentity() {
        AccessRequest other = f.authorizer.accessRequest(connect(LEGACY, FRONTEND_IP, backend8080, BACKEND.identity()));
        assertThat(other.sourceWorkload()).as("another identity at frontend's address (was: frontend's labels)").isNull();
        InetSocketAddress nodeProxy = new InetSocketAddress(PartsFixture.ip("192.168.0.2"), 41000);
        AccessRequest viaNode = f.authorizer.accessRequest(new AuthzRequest(FRONTEND.identity(), nodeProxy, BACKEND.identity(),
                backend8080, Map.of("forwarded", "for=\"10.1.0.3:5000\"")));
        assertThat(viaNode.sourceWorkload()).as("frontend behind node b's proxy (was: known by SPIFFE ID only)").isEqualTo(FRONTEND.ref());
        assertThat(viaNode.sourceAddress()).as("source.ip is the believed pod's address, as ztunnel's conn.src (was: the node proxy's)")
                .isEqualTo(FRONTEND_IP);
        AccessRequest forged = f.authorizer.accessRequest(new AuthzRequest(LEGACY, nodeProxy, BACKEND.identity(),
                backend8080, Map.of("forwarded", "for=\"10.1.0.3:5000\"")));
        assertThat(forged.sourceAddress()).as("a claim of another identity's pod is no source address").isEqualTo(nodeProxy.getAddress());
        AccessRequest nobody = f.authorizer.accessRequest(new AuthzRequest(FRONTEND.identity(), nodeProxy, BACKEND.identity(),
                backend8080, Map.of("forwarded", "for=\"10.9.9.9:5000\"")));
        assertThat(nobody.sourceAddress()).as("a claim naming no workload is no source address").isEqualTo(nodeProxy.getAddress());
        AccessRequest direct = f.authorizer.accessRequest(new AuthzRequest(FRONTEND.identity(), new InetSocketAddress(FRONTEND_IP, 41000),
                BACKEND.identity(), backend8080, Map.of("forwarded", "for=\"10.1.0.9:5000\"")));
        assertThat(direct.sourceAddress()).as("a pod dialling itself: its own address, whatever it claims").isEqualTo(FRONTEND_IP);
    }

    @Test
    void plaintextHasNoPrincipalSoPrincipalRulesDoNotMatch() {
        Decision d = f.authorizer.decidePlaintext(new InetSocketAddress(FRONTEND_IP, 40000), BACKEND, backend8080);
        assertThat(d.allowed()).as("the ALLOW rule names a principal").isFalse();
    }
}
