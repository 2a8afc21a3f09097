package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Plaintext from a node's own address, as Cilium identifies it: {@code reserved:host} for the enforcing node,
 * {@code reserved:remote-node} for another (pkg/identity/numericidentity.go). Entities per cilium/cilium
 * pkg/policy/api/entity.go {@code EntitySelectorMapping}: {@code host} and {@code remote-node} select them, {@code cluster}
 * selects both ({@code InitEntities} adds reserved:host and reserved:remote-node to the cluster entity), {@code all}
 * selects everything, {@code world} selects neither; a CIDR rule never selects a node's address unless the agent runs
 * with {@code policy-cidr-match-mode: nodes}, off by default (cilium/cilium#28421; cilium/cilium-cli#1988: "Previously,
 * only the remote-node and host entities could select nodes").
 * Until 4 December zerohop read such a source as world, so a world or CIDR rule admitted it (a fail-open against
 * Cilium) and a cluster rule refused it.
 */
class CiliumNodeSourceTest {
    static final WorkloadRef WEB = new WorkloadRef("prod", "web", "web", Map.of("app", "web"));

    static boolean allowed(String ingress, AccessRequest.SourceNode node, String sourceIp) throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("c.yaml", ConformanceTest.cnp("prod", "web-in",
                "{endpointSelector: {matchLabels: {app: web}}, " + ingress + "}"))).build();
        return e.evaluate(AccessRequest.builder().sourceAddress(sourceIp).sourceNode(node).destinationAddress("10.0.1.2")
                .destinationPort(8080).destination(WEB).build()).allowed();
    }

    static boolean allowed(String ingress, AccessRequest.SourceNode node) throws Exception {
        return allowed(ingress, node, "192.168.0.7");
    }

    @Test
    void hostAndRemoteNodeEntitiesSelectTheirOwnNodesOnly() throws Exception {
        String host = "ingress: [{fromEntities: [host]}]";
        String remote = "ingress: [{fromEntities: [remote-node]}]";
        assertThat(allowed(host, AccessRequest.SourceNode.HOST)).isTrue();
        assertThat(allowed(host, AccessRequest.SourceNode.REMOTE_NODE)).isFalse();
        assertThat(allowed(remote, AccessRequest.SourceNode.REMOTE_NODE)).isTrue();
        assertThat(allowed(remote, AccessRequest.SourceNode.HOST)).isFalse();
        assertThat(allowed(remote, null)).as("world").isFalse();
    }

    @Test
    void clusterAndAllSelectNodesWorldAndCidrsDoNot() throws Exception {
        for (AccessRequest.SourceNode n : AccessRequest.SourceNode.values()) {
            assertThat(allowed("ingress: [{fromEntities: [cluster]}]", n)).as("cluster, %s", n).isTrue();
            assertThat(allowed("ingress: [{fromEntities: [all]}]", n)).as("all, %s", n).isTrue();
            assertThat(allowed("ingress: [{fromEntities: [world]}]", n)).as("world, %s", n).isFalse();
            assertThat(allowed("ingress: [{fromCIDR: [192.168.0.0/16]}]", n)).as("CIDR, %s", n).isFalse();
            assertThat(allowed("ingress: [{fromCIDRSet: [{cidr: 0.0.0.0/0}]}]", n)).as("CIDR set, %s", n).isFalse();
        }
        // The same address as world: the world and CIDR rules admit it, cluster does not.
        assertThat(allowed("ingress: [{fromEntities: [world]}]", null)).isTrue();
        assertThat(allowed("ingress: [{fromCIDR: [192.168.0.0/16]}]", null)).isTrue();
        assertThat(allowed("ingress: [{fromEntities: [cluster]}]", null)).isFalse();
    }

    @Test
    void aSelectorOnTheReservedLabelSelectsTheNode() throws Exception {
        String sel = "ingress: [{fromEndpoints: [{matchLabels: {'reserved:remote-node': ''}}]}]";
        assertThat(allowed(sel, AccessRequest.SourceNode.REMOTE_NODE)).isTrue();
        assertThat(allowed(sel, AccessRequest.SourceNode.HOST)).isFalse();
        assertThat(allowed(sel, null)).isFalse();
    }

    @Test
    void anIngressDenyOnClusterDeniesANodeAndOnWorldDoesNot() throws Exception {
        String allowAll = "ingress: [{fromEntities: [all]}], ";
        assertThat(allowed(allowAll + "ingressDeny: [{fromEntities: [cluster]}]", AccessRequest.SourceNode.REMOTE_NODE)).isFalse();
        assertThat(allowed(allowAll + "ingressDeny: [{fromEntities: [remote-node]}]", AccessRequest.SourceNode.REMOTE_NODE)).isFalse();
        assertThat(allowed(allowAll + "ingressDeny: [{fromEntities: [world]}]", AccessRequest.SourceNode.REMOTE_NODE)).isTrue();
        assertThat(allowed(allowAll + "ingressDeny: [{fromCIDR: [192.168.0.0/16]}]", AccessRequest.SourceNode.REMOTE_NODE)).isTrue();
    }

    /**
     * cilium/cilium#17714 ("Support policy matching against kube-apiserver"): a remote node that runs kube-apiserver has
     * reserved identity 7, labels reserved:remote-node and reserved:kube-apiserver (the host identity gains the label when
     * the local node runs it), so an ingressDeny on kube-apiserver drops the API server's calls from its node. zerohop
     * does not know which nodes run it: the deny takes every node's address (fail closed), and says so; world stays
     * unselected, and an allow on kube-apiserver still admits no node (stricter). Until 5 December the deny selected no
     * node, so the API server passed it (helper 260).
     */
    @Test
    void anIngressDenyOnKubeApiserverDeniesEveryNodeFailClosed() throws Exception {
        String deny = "ingress: [{fromEntities: [all]}], ingressDeny: [{fromEntities: [kube-apiserver]}]";
        for (AccessRequest.SourceNode n : AccessRequest.SourceNode.values()) {
            assertThat(allowed(deny, n)).as("%s", n).isFalse();
        }
        assertThat(allowed(deny, null)).as("world").isTrue();
        assertThat(allowed("ingress: [{fromEntities: [kube-apiserver]}]", AccessRequest.SourceNode.REMOTE_NODE)).isFalse();
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("c.yaml", ConformanceTest.cnp("prod", "web-in",
                "{endpointSelector: {matchLabels: {app: web}}, " + deny + "}"))).build();
        assertThat(e.evaluate(AccessRequest.builder().sourceAddress("192.168.0.7").sourceNode(AccessRequest.SourceNode.REMOTE_NODE)
                .destinationAddress("10.0.1.2").destinationPort(8080).destination(WEB).build()).explain())
                .contains("fromEntities [kube-apiserver] may select the source: its address is a node's").contains("fail closed");
    }

    /**
     * The same identity written as a selector, {@code reserved:kube-apiserver} or {@code $kube-apiserver} (Cilium's
     * GetExtendedKeyFrom reads both as the reserved label), in matchLabels or required by matchExpressions, denies every node's address as the entity does; a selector
     * that also asks for a label no node has still selects no node. Until 6 December the selector forms let the API
     * server's node through (helper 269).
     */
    @Test
    void anIngressDenyOnTheKubeApiserverSelectorDeniesEveryNodeToo() throws Exception {
        String allowAll = "ingress: [{fromEntities: [all]}], ";
        for (String selector : new String[] {"{matchLabels: {'reserved:kube-apiserver': ''}}", "{matchLabels: {'$kube-apiserver': ''}}",
                "{matchExpressions: [{key: 'reserved:kube-apiserver', operator: Exists}]}",
                "{matchExpressions: [{key: 'reserved:kube-apiserver', operator: In, values: ['']}]}"}) {
            String deny = allowAll + "ingressDeny: [{fromEndpoints: [" + selector + "]}]";
            for (AccessRequest.SourceNode n : AccessRequest.SourceNode.values()) {
                assertThat(allowed(deny, n)).as("%s, %s", selector, n).isFalse();
            }
            assertThat(allowed(deny, null)).as("%s, world", selector).isTrue();
        }
        assertThat(allowed(allowAll + "ingressDeny: [{fromEndpoints: [{matchLabels: {'reserved:kube-apiserver': '', app: x}}]}]",
                AccessRequest.SourceNode.REMOTE_NODE)).as("a label no node has").isTrue();
    }

    @Test
    void theDenialSaysTheAddressIsANodesAndWhatSelectsIt() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("c.yaml", ConformanceTest.cnp("prod", "web-in",
                "{endpointSelector: {matchLabels: {app: web}}, ingress: [{fromCIDR: [192.168.0.0/16], toPorts: [{ports:"
                        + " [{port: '8080', protocol: TCP}]}]}]}"))).build();
        Decision d = e.evaluate(AccessRequest.builder().sourceAddress("192.168.0.7").sourceNode(AccessRequest.SourceNode.REMOTE_NODE)
                .destinationAddress("10.0.1.2").destinationPort(8080).destination(WEB).build());
        assertThat(d.allowed()).isFalse();
        assertThat(d.explain()).contains("its address is another node's (Cilium's reserved:remote-node), which only the entities"
                + " remote-node, cluster and all select (never world or a CIDR)");
    }

    @Test
    void istioRulesDoNotReadIt() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("a.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: nodes, namespace: prod}
                spec:
                  rules: [{from: [{source: {ipBlocks: [192.168.0.0/16]}}]}]
                """)).build();
        assertThat(e.evaluate(AccessRequest.builder().sourceAddress("192.168.0.7").sourceNode(AccessRequest.SourceNode.HOST)
                .destinationAddress("10.0.1.2").destinationPort(8080).destination(WEB).build()).allowed()).isTrue();
    }

    @Test
    void aNodeIsNeitherAnIdentityNorAWorkload() {
        assertThatThrownBy(() -> AccessRequest.builder().sourceAddress("192.168.0.7").sourcePrincipal("spiffe://cluster.local/ns/a/sa/b")
                .sourceNode(AccessRequest.SourceNode.HOST).destinationAddress("10.0.1.2").destinationPort(8080).destination(WEB).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("sourceNode HOST is for a source with neither");
    }
}
