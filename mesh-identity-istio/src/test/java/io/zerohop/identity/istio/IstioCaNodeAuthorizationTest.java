package io.zerohop.identity.istio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.FakeIstioCa;
import io.zerohop.testing.FakeIstioCa.NodeAuthorization;
import io.zerohop.testing.FakeIstioCa.Pod;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Node mode against istiod's node authorizer: a caller may get another workload's certificate
 * ({@code ImpersonatedIdentity}) only when its service account is in {@code CA_TRUSTED_NODE_ACCOUNTS}
 * and a pod of the requested service account runs on its node; anything else is refused with
 * {@code UNAUTHENTICATED "request impersonation authentication failure"} (istio/istio
 * security/pkg/server/ca/server.go CreateCertificate). The cases are istio/istio
 * security/pkg/server/ca/node_auth_test.go TestSingleClusterNodeAuthorization's, with its pods and
 * names; the fake records the reason istiod would log, so each test shows which rule refused.
 */
class IstioCaNodeAuthorizationTest {
    static final Set<String> ALLOW_ZTUNNEL = Set.of("istio-system/ztunnel");
    static final Pod ZTUNNEL = new Pod("istio-system", "ztunnel-a", "12345", "ztunnel", "zt-node");
    static final Pod SAME_NODE = new Pod("ns-a", "pod-a", "1", "sa-a", "zt-node");
    static final Pod OTHER_NODE = new Pod("ns-a", "pod-b", "2", "sa-a", "other-node");
    static final SpiffeId SAME_NODE_ID = SpiffeIds.istio("cluster.local", "ns-a", "sa-a");

    private static InMemoryCa ca;
    private static FakeIstioCa server;

    @TempDir
    static Path shared;

    private IstioCaClient client;

    @BeforeAll
    static void start() throws Exception {
        ca = InMemoryCa.builder().trustDomain("cluster.local").build();
        server = new FakeIstioCa(ca, "ztunnel-token", Files.createDirectory(shared.resolve("tls")));
        Files.writeString(shared.resolve("istio-token"), "ztunnel-token");
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @AfterEach
    void closeClient() {
        if (client != null) {
            client.close();
        }
        server.nodeAuthorization(null);
    }

    private IstioCaClient nodeProxy() {
        client = IstioCaClient.builder().address("127.0.0.1", server.port()).caCertificates(List.of(ca.root()))
                .authority(FakeIstioCa.SERVER_NAME).tokenFile(shared.resolve("istio-token")).impersonate(true).build();
        return client;
    }

    private void allowed(NodeAuthorization nodes, SpiffeId id) throws Exception {
        server.nodeAuthorization(nodes);
        assertThat(nodeProxy().issue(id).get(20, TimeUnit.SECONDS).getSpiffeId()).isEqualTo(id);
    }

    /** Refused as istiod refuses (opaque status), for the reason istiod would log, and explained by the client. */
    private void refused(NodeAuthorization nodes, SpiffeId id, String istiodLogs) {
        server.nodeAuthorization(nodes);
        int before = server.refusals().size();
        Throwable t = assertThatThrownBy(() -> nodeProxy().issue(id).get(20, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class).actual().getCause();
        assertThat(server.refusals()).hasSize(before + 1);
        assertThat(server.refusals().get(before)).contains(istiodLogs);
        assertThat(t).isInstanceOf(IstioCaClient.CaException.class);
        assertThat(((IstioCaClient.CaException) t).grpcStatus()).isEqualTo("UNAUTHENTICATED");
        assertThat(t.getMessage())
                .contains("refused to issue " + id)
                .contains("UNAUTHENTICATED: request impersonation authentication failure")
                .contains("CA_TRUSTED_NODE_ACCOUNTS")
                .contains("on the caller's node")
                .contains(shared.resolve("istio-token").toString())
                .doesNotContain("check the service-account token");
    }

    @Test
    @DisplayName("empty allowed identities: istiod without CA_TRUSTED_NODE_ACCOUNTS refuses every impersonation")
    void emptyAllowedIdentities() {
        refused(new NodeAuthorization(Set.of(), ZTUNNEL, List.of(ZTUNNEL, SAME_NODE)), SAME_NODE_ID, "not allowed to impersonate");
    }

    @Test
    @DisplayName("a caller whose service account is not trusted is refused (here: the workload's own account)")
    void untrustedCaller() {
        Pod app = new Pod("ns-a", "pod-a", "1", "sa-a", "zt-node");
        refused(new NodeAuthorization(ALLOW_ZTUNNEL, app, List.of(ZTUNNEL, app)), SAME_NODE_ID, "not allowed to impersonate");
    }

    @Test
    @DisplayName("allowed identities, but not on node")
    void allowedButNotOnNode() {
        refused(new NodeAuthorization(ALLOW_ZTUNNEL, ZTUNNEL, List.of(ZTUNNEL)), SAME_NODE_ID, "no instances");
    }

    @Test
    @DisplayName("allowed identities, on node")
    void allowedOnNode() throws Exception {
        allowed(new NodeAuthorization(ALLOW_ZTUNNEL, ZTUNNEL, List.of(ZTUNNEL, SAME_NODE)), SAME_NODE_ID);
    }

    @Test
    @DisplayName("allowed identities, off node")
    void allowedOffNode() {
        refused(new NodeAuthorization(ALLOW_ZTUNNEL, ZTUNNEL, List.of(ZTUNNEL, OTHER_NODE)), SAME_NODE_ID, "no instances");
    }

    @Test
    @DisplayName("allowed identities, on and off node")
    void allowedOnAndOffNode() throws Exception {
        allowed(new NodeAuthorization(ALLOW_ZTUNNEL, ZTUNNEL, List.of(ZTUNNEL, SAME_NODE, OTHER_NODE)), SAME_NODE_ID);
    }

    @Test
    @DisplayName("invalid requested: a SPIFFE ID that is not an Istio identity (ns/<ns>/sa/<sa>)")
    void invalidRequested() {
        refused(new NodeAuthorization(ALLOW_ZTUNNEL, ZTUNNEL, List.of(ZTUNNEL, SAME_NODE)),
                SpiffeId.parse("spiffe://cluster.local/not-an-istio-identity"), "failed to validate impersonated identity");
    }

    @Test
    @DisplayName("unknown caller: the token's pod is not in the cluster")
    void unknownCaller() {
        refused(new NodeAuthorization(ALLOW_ZTUNNEL, ZTUNNEL, List.of(SAME_NODE)), SAME_NODE_ID, "pod istio-system/ztunnel-a not found");
    }

    @Test
    @DisplayName("bad UID: the token names an earlier pod of that name")
    void badUid() {
        Pod caller = new Pod("istio-system", "ztunnel-a", "bogus", "ztunnel", "zt-node");
        refused(new NodeAuthorization(ALLOW_ZTUNNEL, caller, List.of(ZTUNNEL, SAME_NODE)), SAME_NODE_ID, "pod found, but UID does not match");
    }

    @Test
    @DisplayName("bad account: the pod runs under another service account than the token says")
    void badAccount() {
        Pod running = new Pod("istio-system", "ztunnel-a", "12345", "bogus", "zt-node");
        refused(new NodeAuthorization(ALLOW_ZTUNNEL, ZTUNNEL, List.of(running, SAME_NODE)), SAME_NODE_ID,
                "pod found, but ServiceAccount does not match");
    }

    @Test
    @DisplayName("without impersonation the node authorizer is not consulted: a caller gets its own identity")
    void ownIdentityNeedsNoNodeAuthorization() throws Exception {
        server.nodeAuthorization(new NodeAuthorization(Set.of(), ZTUNNEL, List.of()));
        client = IstioCaClient.builder().address("127.0.0.1", server.port()).caCertificates(List.of(ca.root()))
                .authority(FakeIstioCa.SERVER_NAME).tokenFile(shared.resolve("istio-token")).build();
        SpiffeId own = SpiffeIds.istio("cluster.local", "istio-system", "ztunnel");
        assertThat(client.issue(own).get(20, TimeUnit.SECONDS).getSpiffeId()).isEqualTo(own);
    }
}
