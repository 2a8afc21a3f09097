package io.zerohop.identity.istio;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.identity.istio.IstioCaClient.CaException;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * istiod answers a token it cannot validate and a {@code ClusterID} it has no cluster for alike, UNAUTHENTICATED
 * "request authenticate failure" (istio/istio security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go
 * getKubeClient; security/pkg/server/ca/server.go CreateCertificate): the explanation names both.
 */
class CaErrorsTest {
    private static final SpiffeId ID = SpiffeIds.istio("cluster.local", "prod", "backend");
    private static final RuntimeException AUTHENTICATE_FAILURE =
            Status.UNAUTHENTICATED.withDescription("request authenticate failure").asRuntimeException();

    @Test
    void anUnauthenticatedAnswerNamesTheClusterIdSentAndThatItMustBeIstiodsCluster() {
        CaException e = new CaErrors("istiod:15012", true, "/var/run/token", Duration.ofSeconds(30), "east")
                .explain(ID, AUTHENTICATE_FAILURE);

        assertThat(e.grpcStatus()).isEqualTo("UNAUTHENTICATED");
        assertThat(e.getMessage())
                .startsWith("Istio CA at istiod:15012 rejected the credentials for " + ID
                        + " (UNAUTHENTICATED: request authenticate failure); check the service-account token from /var/run/token")
                .contains("the ClusterID sent, \"east\", is not a cluster istiod knows")
                .contains("istiod's cluster (its CLUSTER_ID)")
                .contains("zerohop proxy --cluster-id");
    }

    @Test
    void withoutKnowingTheClusterIdSentItStillSaysToCheckIt() {
        CaException e = new CaErrors("istiod:15012", true, "/var/run/token", Duration.ofSeconds(30))
                .explain(ID, AUTHENTICATE_FAILURE);

        assertThat(e.getMessage()).contains("check the service-account token from /var/run/token")
                .contains("ClusterID sent names a cluster istiod does not know")
                .contains("istiod's cluster (its CLUSTER_ID)")
                .contains("zerohop proxy --cluster-id");
    }

    /** No ClusterID header (or an empty one) is istiod's own cluster: the cluster cannot be the cause. */
    @Test
    void noClusterIdSentMeansIstiodsOwnClusterAndNoClusterHint() {
        for (String none : new String[] {null, ""}) {
            CaException e = new CaErrors("istiod:15012", false, "/var/run/token", Duration.ofSeconds(30), none)
                    .explain(ID, AUTHENTICATE_FAILURE);
            assertThat(e.getMessage()).endsWith("check the service-account token from /var/run/token").doesNotContain("ClusterID");
        }
    }

    @Test
    void aRefusedImpersonationIsNotBlamedOnTheCluster() {
        CaException e = new CaErrors("istiod:15012", true, "/var/run/token", Duration.ofSeconds(30), "east")
                .explain(ID, Status.UNAUTHENTICATED.withDescription("request impersonation authentication failure").asRuntimeException());

        assertThat(e.getMessage()).contains("CA_TRUSTED_NODE_ACCOUNTS").doesNotContain("ClusterID");
    }
}
