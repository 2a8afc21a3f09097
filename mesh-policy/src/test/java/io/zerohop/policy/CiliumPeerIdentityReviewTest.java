package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Guards from a review of zerohop's Cilium peer semantics against cilium/cilium (helper 333, 6 December), each case
 * already decided as upstream does, or stricter on purpose (each named in the mesh-policy README):
 * <ul>
 * <li>a non-canonical CIDR ({@code 10.1.2.3/8}, {@code 10.0.0.1/0}) is accepted and masked, as Cilium's
 * {@code labels.IPStringToLabel} masks it ({@code prefix.Masked()}, pkg/labels/cidr.go); an except's containment is
 * Go's {@code Prefix.Contains(except.Addr())} (pkg/policy/api rule_validation.go {@code CIDRRule.sanitize});
 * <li>a workload's own labels never give its namespace or service account: Cilium's {@code SanitizePodLabels}
 * (pkg/k8s/utils/utils.go) overwrites {@code io.kubernetes.pod.namespace} and drops every pod label under
 * {@code io.cilium.k8s}; zerohop reads both from the SPIFFE ID or the workload's namespace;
 * <li>{@code enableDefaultDeny}: Cilium makes one policy entry per ingress / ingressDeny rule
 * ({@code RulesToPolicyEntries}, pkg/k8s/apis/cilium.io/utils), each carrying {@code DefaultDeny} ({@code nil} or
 * true), so a deny-only policy turns default deny on and {@code ingress: true} without an ingress rule does not;
 * <li>{@code authentication}: a rule selecting the peer's identity without a mode (or with {@code disabled}) does not
 * lift a wildcard rule's {@code required} here, where Cilium keeps that identity's own entry without a mode (a broader
 * key's mode reaches only keys of the same identity, {@code authPreferredInsert}; pkg/policy/distillery_test.go
 * {@code Test_MergeL3} case 5) and its lookup takes it: stricter, never wider;
 * <li>a peer with a SPIFFE identity at a node's address is known by that identity, never as Cilium's
 * {@code reserved:host}/{@code remote-node} (which Cilium gives the address): a CIDR or world deny that holds the address
 * denies it (fail closed), node entities never admit it;
 * <li>the {@code unmanaged} entity (Cilium's identity for a pod IP it knows from Kubernetes but does not manage,
 * pkg/k8s/watchers/pod.go) selects nobody here: a registry pod is always its labels' identity.
 * </ul>
 */
class CiliumPeerIdentityReviewTest {

    private static final WorkloadRef DEST = new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend"));

    private static String cnp(String rules) {
        return "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: p\n  namespace: prod\nspec:\n"
                + "  endpointSelector:\n    matchLabels:\n      app: backend\n" + rules;
    }

    private static Decision decide(String yaml, AccessRequest r) throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", yaml)).build().evaluate(r);
    }

    private static AccessRequest.Builder to8080() {
        return AccessRequest.builder().destinationAddress("10.0.0.2").destinationPort(8080).destination(DEST);
    }

    private static AccessRequest plaintext(String address) {
        return to8080().sourceAddress(address).build();
    }

    @Test
    void aNonCanonicalCidrIsMaskedAsCiliumsIpStringToLabelMasksIt() throws Exception {
        String slash8 = cnp("  ingress:\n  - fromCIDR: [10.1.2.3/8]\n");
        assertThat(decide(slash8, plaintext("10.200.0.1")).allowed()).as("10.1.2.3/8 is 10.0.0.0/8").isTrue();
        assertThat(decide(slash8, plaintext("11.0.0.1")).allowed()).isFalse();
        String slash0 = cnp("  ingress:\n  - fromCIDR: [10.0.0.1/0]\n");
        assertThat(decide(slash0, plaintext("8.8.8.8")).allowed()).as("10.0.0.1/0 is every IPv4 address").isTrue();
        assertThat(decide(slash0, plaintext("2001:db8::1")).allowed()).as("of its family only, as 0.0.0.0/0 in an allow")
                .isFalse();
        String except = cnp("  ingress:\n  - fromCIDRSet: [{cidr: 10.1.2.3/8, except: [10.9.9.9/16]}]\n");
        assertThat(decide(except, plaintext("10.9.1.1")).allowed()).as("the except is masked too: 10.9.0.0/16").isFalse();
        assertThat(decide(except, plaintext("10.8.1.1")).allowed()).isTrue();
        assertThatThrownBy(() -> PolicyLoader.fromString("p.yaml", cnp("  ingress:\n  - fromCIDRSet: [{cidr: 10.1.2.3/8,"
                + " except: [11.0.0.0/16]}]\n"))).hasMessageContaining("does not contain exclude CIDR prefix 11.0.0.0/16");
    }

    @Test
    void aWorkloadsOwnLabelsNeverGiveItsNamespaceOrServiceAccount() throws Exception {
        // A registry that kept a pod's own labels (an embedder's): Cilium overwrites or drops them (SanitizePodLabels).
        WorkloadRef evil = new WorkloadRef("evil", "e", "e", Map.of("app", "frontend", "io.kubernetes.pod.namespace", "prod",
                "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name", "prod",
                "io.cilium.k8s.policy.serviceaccount", "frontend"));
        AccessRequest plain = to8080().sourceAddress("10.0.0.7").sourceWorkload(evil).build();
        AccessRequest spiffe = to8080().sourcePrincipal("spiffe://cluster.local/ns/evil/sa/e").sourceAddress("10.0.0.7")
                .sourceWorkload(evil).build();
        for (String from : new String[] {"[{}]", "[{matchLabels: {app: frontend}}]",
                "[{matchLabels: {'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name': prod}}]",
                "[{matchLabels: {io.cilium.k8s.policy.serviceaccount: frontend}}]"}) {
            String yaml = cnp("  ingress:\n  - fromEndpoints: " + from + "\n");
            assertThat(decide(yaml, plain).allowed()).as(from).isFalse();
            assertThat(decide(yaml, spiffe).allowed()).as(from).isFalse();
        }
    }

    @Test
    void defaultDenyComesFromIngressAndIngressDenyRulesOnly() throws Exception {
        AccessRequest front = to8080().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend").sourceAddress("10.0.0.1")
                .sourceWorkload(new WorkloadRef("prod", "frontend", "frontend", Map.of("app", "frontend"))).build();
        AccessRequest other = plaintext("8.8.8.8");
        String denyOnly = cnp("  ingressDeny:\n  - fromEndpoints: [{matchLabels: {app: frontend}}]\n");
        assertThat(decide(denyOnly, front).allowed()).isFalse();
        assertThat(decide(denyOnly, other).allowed()).as("a deny-only policy turns default deny on").isFalse();
        String denyOpen = cnp("  enableDefaultDeny: {ingress: false}\n" + denyOnly.substring(denyOnly.indexOf("  ingressDeny")));
        assertThat(decide(denyOpen, front).allowed()).as("the deny still applies").isFalse();
        assertThat(decide(denyOpen, other).allowed()).isTrue();
        String egressOnly = cnp("  enableDefaultDeny: {ingress: true}\n  egress:\n  - toEntities: [world]\n");
        assertThat(decide(egressOnly, other).allowed()).as("ingress: true and no ingress rule: no ingress entry").isTrue();
    }

    @Test
    void aRuleOnThePeersIdentityDoesNotLiftAWildcardRequired() throws Exception {
        AccessRequest plain = to8080().sourceAddress("10.0.0.5")
                .sourceWorkload(new WorkloadRef("prod", "frontend", "frontend", Map.of("app", "frontend"))).build();
        for (String narrower : new String[] {"", "\n    authentication: {mode: disabled}"}) {
            String yaml = cnp("  ingress:\n  - fromEntities: [all]\n    authentication: {mode: required}\n"
                    + "  - fromEndpoints: [{matchLabels: {app: frontend}}]" + narrower + "\n");
            Decision d = decide(yaml, plain);
            assertThat(d.allowed()).as("stricter than Cilium (Test_MergeL3 case 5): " + narrower).isFalse();
            assertThat(d.outcome()).isEqualTo(Decision.Outcome.DENIED_AUTHENTICATION);
        }
    }

    @Test
    void aPeerWithASpiffeIdentityAtANodesAddressIsNoNodeHereStricterThanCilium() throws Exception {
        // A host process holding an SVID, dialling from its node's address 10.0.0.9: Cilium sees reserved:remote-node
        // (never world or a CIDR identity), so its CIDR deny drops nothing and remote-node admits it; zerohop knows the
        // peer by its SPIFFE ID only, denies it on the CIDR (fail closed) and never matches node entities for it.
        AccessRequest svidAtNode = to8080().sourcePrincipal("spiffe://cluster.local/ns/kube-system/sa/agent")
                .sourceAddress("10.0.0.9").build();
        assertThat(decide(cnp("  ingress:\n  - fromEntities: [all]\n  ingressDeny:\n  - fromCIDR: [10.0.0.0/8]\n"), svidAtNode)
                .allowed()).isFalse();
        assertThat(decide(cnp("  ingress:\n  - fromEntities: [remote-node, host]\n"), svidAtNode).allowed()).isFalse();
        assertThat(decide(cnp("  ingress:\n  - fromEntities: [cluster]\n"), svidAtNode).allowed()).isTrue();
        // By design the other way: its SPIFFE ID's namespace is its namespace (Cilium would see a node, no namespace).
        String ccnp = "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata:\n  name: p\nspec:\n"
                + "  endpointSelector:\n    matchLabels:\n      app: backend\n  ingress:\n"
                + "  - fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system}}]\n";
        assertThat(decide(ccnp, svidAtNode).allowed()).isTrue();
    }

    @Test
    void theUnmanagedEntitySelectsNoRegistryPod() throws Exception {
        String yaml = cnp("  ingress:\n  - fromEntities: [all]\n  ingressDeny:\n  - fromEntities: [unmanaged]\n");
        AccessRequest pod = to8080().sourceAddress("10.0.0.5")
                .sourceWorkload(new WorkloadRef("prod", "frontend", "frontend", Map.of("app", "frontend"))).build();
        assertThat(decide(yaml, pod).allowed()).isTrue();
        assertThat(decide(yaml, plaintext("8.8.8.8")).allowed()).isTrue();
    }
}
