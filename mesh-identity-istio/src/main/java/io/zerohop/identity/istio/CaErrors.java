package io.zerohop.identity.istio;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.istio.IstioCaClient.CaException;
import java.time.Duration;

/**
 * What a failed {@code CreateCertificate} call means for the person running the proxy: the gRPC
 * status turned into a {@link CaException} that says what to check (the token and the
 * {@code ClusterID} it is checked in, istiod's node authorizer, the address), keeping the status code.
 */
final class CaErrors {
    private final String target;
    private final boolean impersonate;
    /** Where the token comes from; null when none is configured. */
    private final String tokenSource;
    private final Duration callTimeout;
    /** The {@code ClusterID} header sent; null when none is (or when it is not known here, see {@link #clusterIdKnown}). */
    private final String clusterId;
    private final boolean clusterIdKnown;

    /** Without the {@code ClusterID} sent: an UNAUTHENTICATED answer then says to check it without naming it. */
    CaErrors(String target, boolean impersonate, String tokenSource, Duration callTimeout) {
        this(target, impersonate, tokenSource, callTimeout, null, false);
    }

    /** @param clusterId the {@code ClusterID} header sent with every request; null when none is */
    CaErrors(String target, boolean impersonate, String tokenSource, Duration callTimeout, String clusterId) {
        this(target, impersonate, tokenSource, callTimeout, clusterId, true);
    }

    private CaErrors(String target, boolean impersonate, String tokenSource, Duration callTimeout, String clusterId,
                     boolean clusterIdKnown) {
        this.target = target;
        this.impersonate = impersonate;
        this.tokenSource = tokenSource;
        this.callTimeout = callTimeout;
        this.clusterId = clusterId;
        this.clusterIdKnown = clusterIdKnown;
    }

    /** The failure {@code t} of a request for {@code id}, explained. */
    CaException explain(SpiffeId id, Throwable t) {
        Status s = Status.fromThrowable(t);
        // grpc-netty appends its channel pipeline on a line of its own ("io exception\nChannel Pipeline: [...]"):
        // the first line is the description, the cause (below, for UNAVAILABLE) says what happened.
        String desc = s.getDescription() == null ? "" : ": " + s.getDescription().lines().findFirst().orElse("");
        if (s.getCode() == Status.Code.UNAUTHENTICATED && impersonate && desc.contains("impersonation")) {
            // istiod answers every refused impersonation so, the reason only in its own log (istio/istio
            // security/pkg/server/ca/server.go CreateCertificate, node_auth.go authenticateImpersonation).
            return new CaException("Istio CA at " + target + " refused to issue " + id + " to this caller on that workload's behalf"
                    + " (UNAUTHENTICATED" + desc + "): istiod lets a caller impersonate only when its service account is listed in"
                    + " CA_TRUSTED_NODE_ACCOUNTS (ztunnel's: istio-system/ztunnel) and a pod running as " + serviceAccount(id)
                    + " is on the caller's node; give the node proxy such a service account's token"
                    + (tokenSource != null ? " (now " + tokenSource + ")" : ""), s.getCode().name(),
                    t instanceof StatusRuntimeException ? t : s.asRuntimeException());
        }
        String msg = switch (s.getCode()) {
            case UNAUTHENTICATED -> "Istio CA at " + target + " rejected the credentials for " + id + " (UNAUTHENTICATED" + desc
                    + "); check the service-account token" + (tokenSource != null ? " from " + tokenSource : " (none configured)")
                    + clusterHint();
            case PERMISSION_DENIED -> "Istio CA at " + target + " does not allow this caller to request " + id
                    + " (PERMISSION_DENIED" + desc + ")" + (impersonate ? "; impersonation needs a node (ztunnel) identity" : "");
            case UNAVAILABLE -> "Istio CA at " + target + " is unavailable (UNAVAILABLE" + desc + cause(s) + ")";
            case DEADLINE_EXCEEDED -> "Istio CA at " + target + " did not answer within " + io.zerohop.identity.internal.HumanText.duration(callTimeout) + " for " + id;
            default -> "Istio CA at " + target + " failed to issue " + id + " (" + s.getCode() + desc + ")";
        };
        return new CaException(msg, s.getCode().name(), t instanceof StatusRuntimeException ? t : s.asRuntimeException());
    }

    /**
     * The other cause of the same answer: istiod authenticates the token against the cluster the {@code ClusterID}
     * header names, and one it has no client for fails as a wrong token does, "request authenticate failure", the
     * reason only in istiod's log (istio/istio security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go: getKubeClient
     * answers nil for a cluster that is neither its own, an alias of it, nor a remote one; no header, or an empty
     * one, means its own). The message said only to check the token, wherever the fault was.
     */
    private String clusterHint() {
        String where = " (zerohop proxy --cluster-id, IstioCaClient.Builder.clusterId)";
        if (!clusterIdKnown) {
            return "; or the ClusterID sent names a cluster istiod does not know, which it answers the same: it must be"
                    + " istiod's cluster (its CLUSTER_ID) or a remote cluster istiod reads" + where;
        }
        if (clusterId == null || clusterId.isEmpty()) {
            return ""; // istiod takes no ClusterID as its own cluster: not the cause
        }
        return "; or the ClusterID sent, \"" + clusterId + "\", is not a cluster istiod knows, which it answers the same:"
                + " it must be istiod's cluster (its CLUSTER_ID) or a remote cluster istiod reads" + where;
    }

    /**
     * What gRPC's "io exception" was (connection refused, a TLS handshake against a plaintext port, a
     * certificate istiod's does not chain to), each message once: a new-user pass got only the status.
     */
    private static String cause(Status s) {
        StringBuilder b = new StringBuilder();
        for (Throwable c = s.getCause(); c != null && b.length() < 400; c = c.getCause() == c ? null : c.getCause()) {
            String m = c.getMessage() != null ? c.getMessage() : c.getClass().getSimpleName();
            if (b.indexOf(m) < 0) {
                b.append(": ").append(m);
            }
        }
        return b.toString();
    }

    /** {@code namespace/name} of an Istio identity ({@code .../ns/<namespace>/sa/<name>}), else the ID itself. */
    private static String serviceAccount(SpiffeId id) {
        String[] p = id.getPath().split("/");
        return p.length == 5 && p[1].equals("ns") && p[3].equals("sa") ? p[2] + "/" + p[4] : id.toString();
    }
}
