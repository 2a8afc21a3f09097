package io.zerohop.policy;

/**
 * The Cilium agent options that change what a CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy means, as the
 * agent of the cluster being followed is configured. Given to {@link PolicyLoader} (the overloads taking options) and
 * to {@link PolicyEngine.Builder#ciliumOptions}, which loads a {@link PolicyEngine#watch}ed path with them and which
 * mesh-kubernetes reads ({@link PolicyEngine#ciliumOptions()}). Immutable; {@link #defaults()} is Cilium 1.19's
 * defaults.
 */
public final class CiliumOptions {

    private static final CiliumOptions DEFAULTS = new CiliumOptions(true);

    private final boolean policyDefaultLocalCluster;

    private CiliumOptions(boolean policyDefaultLocalCluster) {
        this.policyDefaultLocalCluster = policyDefaultLocalCluster;
    }

    /** Cilium 1.19's defaults: {@link #policyDefaultLocalCluster()} true. */
    public static CiliumOptions defaults() {
        return DEFAULTS;
    }

    /** A builder starting from {@link #defaults()}. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Cilium's agent option {@code policy-default-local-cluster} (Helm {@code clustermesh.policyDefaultLocalCluster};
     * cilium/cilium pkg/clustermesh/types/option.go): when true, every {@code fromEndpoints} selector of {@code ingress}
     * and {@code ingressDeny} that names no {@code io.cilium.k8s.policy.cluster} (with the {@code k8s:} or {@code any:}
     * source) and tests no {@code reserved:} label selects only peers of the destination's cluster, as
     * {@code getEndpointSelector} adds {@code io.cilium.k8s.policy.cluster=<cluster name>} ({@code addClusterFilterByDefault},
     * pkg/k8s/apis/cilium.io/utils/utils.go). When false the agent passes no cluster name ({@code PolicyAnyCluster}) and
     * no cluster is added: such a selector reaches peers of every cluster, and a selector whose other terms a peer outside
     * the cluster (world, which has no labels) meets, such as {@code NotIn} on the namespace, selects it too
     * (utils_test.go {@code TestAddClusterFilterByDefault}, "Do not add cluster label for emtpy cluster"). True by default
     * since Cilium 1.19; Cilium 1.18 introduced the option with the default false (a 1.18 cluster may have set it true
     * ahead of the upgrade, as Cilium's upgrade guide asks, "Preparing for a policy-default-local-cluster change"), and
     * earlier releases have no cluster filter, as false.
     */
    public boolean policyDefaultLocalCluster() {
        return policyDefaultLocalCluster;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CiliumOptions c && c.policyDefaultLocalCluster == policyDefaultLocalCluster;
    }

    @Override
    public int hashCode() {
        return Boolean.hashCode(policyDefaultLocalCluster);
    }

    @Override
    public String toString() {
        return "CiliumOptions[policy-default-local-cluster=" + policyDefaultLocalCluster + "]";
    }

    /** Builds {@link CiliumOptions}; every option starts at Cilium 1.19's default. */
    public static final class Builder {

        private boolean policyDefaultLocalCluster = true;

        private Builder() {
        }

        /**
         * Sets {@link CiliumOptions#policyDefaultLocalCluster()}: false for a cluster whose Cilium runs with
         * {@code policy-default-local-cluster: false} (Helm {@code clustermesh.policyDefaultLocalCluster=false}): Cilium
         * 1.18's default unless set, and releases before 1.18, which lack the option.
         */
        public Builder policyDefaultLocalCluster(boolean value) {
            this.policyDefaultLocalCluster = value;
            return this;
        }

        /**
         * Sets the options to the defaults of the Cilium release {@code version} ({@code 1.18}, {@code v1.19.2},
         * {@code 1.20.0-rc.1}): {@link CiliumOptions#policyDefaultLocalCluster()} true from 1.19 on, false before.
         *
         * @throws NullPointerException naming {@code version} when it is null
         * @throws IllegalArgumentException when {@code version} is not {@code [v]MAJOR.MINOR[.PATCH][-SUFFIX]} with a
         *                                  major version of 1, naming it
         */
        public Builder ciliumVersion(String version) {
            java.util.Objects.requireNonNull(version, "version");
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("v?(\\d{1,4})\\.(\\d{1,4})(\\.\\d{1,4})?(-[0-9A-Za-z.-]+)?")
                    .matcher(version);
            if (!m.matches() || !m.group(1).equals("1")) {
                throw new IllegalArgumentException("ciliumVersion " + (version.isEmpty() ? "is empty" : "'" + version + "'")
                        + ": expected a Cilium 1.x release such as 1.18 or v1.19.2");
            }
            this.policyDefaultLocalCluster = Integer.parseInt(m.group(2)) >= 19;
            return this;
        }

        public CiliumOptions build() {
            return policyDefaultLocalCluster ? DEFAULTS : new CiliumOptions(false);
        }
    }
}
