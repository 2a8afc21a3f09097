package io.zerohop.core.internal;

import io.zerohop.core.Workload;
import io.zerohop.policy.WorkloadRef;
import java.util.Map;
import java.util.Objects;

/**
 * ztunnel's label set of its {@code istio_tcp_*} metrics ({@code CommonTrafficLabels} in
 * src/proxy/metrics.rs), every value {@code "unknown"} when not known (ztunnel's
 * {@code DefaultedUnknown}), with its four locality labels ({@code LocalityLabels}: {@code source_region},
 * {@code source_zone}, {@code destination_region}, {@code destination_zone}), which ztunnel adds as soon as either side
 * is a known workload ({@code with_source}, {@code with_destination} and their derived forms each set them), so on
 * every series of a node proxy: a workload's region and zone are its {@code topology.kubernetes.io/region} and
 * {@code topology.kubernetes.io/zone} labels, or a peer's {@code baggage}, else {@code "unknown"}. zerohop writes them
 * on every series, also where neither side is known and ztunnel leaves them out: Micrometer's Prometheus registry
 * takes one label set per family.
 */
public record TrafficLabels(String reporter,
                            String sourceWorkload, String sourceCanonicalService, String sourceCanonicalRevision,
                            String sourceWorkloadNamespace, String sourcePrincipal, String sourceApp,
                            String sourceVersion, String sourceCluster,
                            String destinationService, String destinationServiceNamespace, String destinationServiceName,
                            String destinationWorkload, String destinationCanonicalService,
                            String destinationCanonicalRevision, String destinationWorkloadNamespace,
                            String destinationPrincipal, String destinationApp, String destinationVersion,
                            String destinationCluster,
                            String requestProtocol, String responseFlags, String connectionSecurityPolicy,
                            String sourceRegion, String sourceZone, String destinationRegion, String destinationZone,
                            String sourcePod, String destinationPod) {

    // Written out, not generated: the record's own equals/hashCode bootstrap java.lang.runtime.ObjectMethods
    // (~160 hidden classes, ~0.5 MB of metaspace and code in a node proxy, and CPU on its first tunnel:
    // benchmarks/results/mem10k-7a61d72.md). Every component is compared (RecordMethodsTest).
    @Override
    public boolean equals(Object other) {
        return other == this || other instanceof TrafficLabels o &&
                Objects.equals(reporter, o.reporter) &&
                Objects.equals(sourceWorkload, o.sourceWorkload) &&
                Objects.equals(sourceCanonicalService, o.sourceCanonicalService) &&
                Objects.equals(sourceCanonicalRevision, o.sourceCanonicalRevision) &&
                Objects.equals(sourceWorkloadNamespace, o.sourceWorkloadNamespace) &&
                Objects.equals(sourcePrincipal, o.sourcePrincipal) &&
                Objects.equals(sourceApp, o.sourceApp) &&
                Objects.equals(sourceVersion, o.sourceVersion) &&
                Objects.equals(sourceCluster, o.sourceCluster) &&
                Objects.equals(destinationService, o.destinationService) &&
                Objects.equals(destinationServiceNamespace, o.destinationServiceNamespace) &&
                Objects.equals(destinationServiceName, o.destinationServiceName) &&
                Objects.equals(destinationWorkload, o.destinationWorkload) &&
                Objects.equals(destinationCanonicalService, o.destinationCanonicalService) &&
                Objects.equals(destinationCanonicalRevision, o.destinationCanonicalRevision) &&
                Objects.equals(destinationWorkloadNamespace, o.destinationWorkloadNamespace) &&
                Objects.equals(destinationPrincipal, o.destinationPrincipal) &&
                Objects.equals(destinationApp, o.destinationApp) &&
                Objects.equals(destinationVersion, o.destinationVersion) &&
                Objects.equals(destinationCluster, o.destinationCluster) &&
                Objects.equals(requestProtocol, o.requestProtocol) &&
                Objects.equals(responseFlags, o.responseFlags) &&
                Objects.equals(connectionSecurityPolicy, o.connectionSecurityPolicy) &&
                Objects.equals(sourceRegion, o.sourceRegion) &&
                Objects.equals(sourceZone, o.sourceZone) &&
                Objects.equals(destinationRegion, o.destinationRegion) &&
                Objects.equals(destinationZone, o.destinationZone) &&
                Objects.equals(sourcePod, o.sourcePod) &&
                Objects.equals(destinationPod, o.destinationPod);
    }

    @Override
    public int hashCode() {
        int h = Objects.hashCode(reporter);
        h = 31 * h + Objects.hashCode(sourceWorkload);
        h = 31 * h + Objects.hashCode(sourceCanonicalService);
        h = 31 * h + Objects.hashCode(sourceCanonicalRevision);
        h = 31 * h + Objects.hashCode(sourceWorkloadNamespace);
        h = 31 * h + Objects.hashCode(sourcePrincipal);
        h = 31 * h + Objects.hashCode(sourceApp);
        h = 31 * h + Objects.hashCode(sourceVersion);
        h = 31 * h + Objects.hashCode(sourceCluster);
        h = 31 * h + Objects.hashCode(destinationService);
        h = 31 * h + Objects.hashCode(destinationServiceNamespace);
        h = 31 * h + Objects.hashCode(destinationServiceName);
        h = 31 * h + Objects.hashCode(destinationWorkload);
        h = 31 * h + Objects.hashCode(destinationCanonicalService);
        h = 31 * h + Objects.hashCode(destinationCanonicalRevision);
        h = 31 * h + Objects.hashCode(destinationWorkloadNamespace);
        h = 31 * h + Objects.hashCode(destinationPrincipal);
        h = 31 * h + Objects.hashCode(destinationApp);
        h = 31 * h + Objects.hashCode(destinationVersion);
        h = 31 * h + Objects.hashCode(destinationCluster);
        h = 31 * h + Objects.hashCode(requestProtocol);
        h = 31 * h + Objects.hashCode(responseFlags);
        h = 31 * h + Objects.hashCode(connectionSecurityPolicy);
        h = 31 * h + Objects.hashCode(sourceRegion);
        h = 31 * h + Objects.hashCode(sourceZone);
        h = 31 * h + Objects.hashCode(destinationRegion);
        h = 31 * h + Objects.hashCode(destinationZone);
        h = 31 * h + Objects.hashCode(sourcePod);
        h = 31 * h + Objects.hashCode(destinationPod);
        return h;
    }

    public static final String UNKNOWN = "unknown";
    /**
     * ztunnel's cluster of a workload whose {@code cluster_id} istiod left empty (src/state/workload.rs),
     * and istiod's and ztunnel's default {@code CLUSTER_ID} (src/config.rs {@code DEFAULT_CLUSTER_ID}).
     */
    public static final String DEFAULT_CLUSTER = "Kubernetes";
    /** ztunnel's {@code ResponseFlags::None}. */
    public static final String NO_FLAGS = "-";

    /** One side (source or destination) of the labels. */
    public record Peer(String workload, String canonicalService, String canonicalRevision, String namespace,
                       String principal, String app, String version, String cluster, String region, String zone, String pod) {
        static final Peer NONE = new Peer(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN);

        /** A peer known by its labels only: its pod, for ztunnel's access log, is its workload (ztunnel's fallback). */
        public Peer(String workload, String canonicalService, String canonicalRevision, String namespace, String principal,
                    String app, String version, String cluster, String region, String zone) {
            this(workload, canonicalService, canonicalRevision, namespace, principal, app, version, cluster, region, zone, workload);
        }

        /**
         * A registry workload, as ztunnel's {@code with_source}/{@code with_destination}: app and
         * version are the canonical service and revision; the principal is passed separately (ztunnel
         * takes the source principal only from the mTLS handshake).
         */
        public static Peer of(Workload w, String principal) {
            return of(w, principal, DEFAULT_CLUSTER);
        }

        /** {@link #of(Workload, String)}; {@code cluster} for a workload without a {@code topology.istio.io/cluster} label. */
        public static Peer of(Workload w, String principal, String cluster) {
            return w == null ? unknown(principal) : of(w.workloadName(), w.namespace(), w.labels(), principal, cluster).withPod(w.name());
        }

        /** {@link #of(Workload, String, String)} for the policy view of a workload (what the L7 path holds); null: unknown. */
        public static Peer of(WorkloadRef w, String principal, String cluster) {
            return w == null ? unknown(principal) : of(w.name(), w.namespace(), w.labels(), principal, cluster);
        }

        /**
         * A workload's side. An empty canonical service or revision (a label present with an empty value, which Istio's
         * {@code CanonicalService} returns as it is: istio/istio pkg/kube/labels/labels.go {@code lookupLabelValue}) is
         * {@code unknown}, as ztunnel's {@code with_source}/{@code with_destination} read an empty string as unknown
         * (istio/ztunnel src/metrics.rs {@code From<Strng> for DefaultedUnknown}); until 6 December it was an empty label
         * value, which Prometheus reads as no label.
         */
        private static Peer of(String name, String namespace, Map<String, String> labels, String principal, String cluster) {
            String service = orUnknown(TrafficLabels.canonicalService(labels, name));
            String revision = orUnknown(TrafficLabels.canonicalRevision(labels));
            return new Peer(orUnknown(name), service, revision, orUnknown(namespace), orUnknown(principal), service, revision,
                    orUnknown(clusterOf(labels, cluster)), orUnknown(labels.get(REGION)), orUnknown(labels.get(ZONE)));
        }

        private static Peer unknown(String principal) {
            return new Peer(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, orUnknown(principal), UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN);
        }

        /**
         * What a peer's {@code baggage} says of it, as ztunnel's {@code with_derived_source}: workload
         * and app the workload name, canonical service {@code service.name}, revision
         * {@code service.version}. Display only: policy never reads it.
         */
        public static Peer derived(Baggage b, String principal) {
            if (b != Baggage.EMPTY && !BaggageBudget.admit(principal, b)) {
                b = Baggage.EMPTY; // past the peer's budget of distinct values (BaggageBudget): no new series
            }
            return new Peer(orUnknown(b.workloadName()), orUnknown(b.serviceName()), orUnknown(b.revision()),
                    orUnknown(b.namespace()), orUnknown(principal), orUnknown(b.workloadName()), orUnknown(b.revision()),
                    orUnknown(b.clusterId()), orUnknown(b.region()), orUnknown(b.zone()));
        }

        /**
         * This peer as ztunnel labels a workload it has ({@code with_source}): app and version are its canonical service
         * and revision, where a derived source ({@link #derived}) has the workload name as app. What the outbound side
         * labels its own source with, which it knows from the baggage it built.
         */
        Peer asOwnWorkload() {
            return new Peer(workload, canonicalService, canonicalRevision, namespace, principal, canonicalService, canonicalRevision,
                    cluster, region, zone, pod);
        }

        public Peer withPrincipal(String p) {
            return new Peer(workload, canonicalService, canonicalRevision, namespace, orUnknown(p), app, version, cluster, region, zone, pod);
        }

        /** The same peer whose pod (ztunnel's access-log {@code workload}: {@code wl.name}) is {@code name}. */
        Peer withPod(String name) {
            return new Peer(workload, canonicalService, canonicalRevision, namespace, principal, app, version, cluster, region, zone, name);
        }
    }

    public static TrafficLabels of(String reporter, Peer src, Peer dst, String securityPolicy) {
        return new TrafficLabels(reporter, src.workload, src.canonicalService, src.canonicalRevision, src.namespace,
                src.principal, src.app, src.version, src.cluster, UNKNOWN, UNKNOWN, UNKNOWN,
                dst.workload, dst.canonicalService, dst.canonicalRevision, dst.namespace, dst.principal, dst.app,
                dst.version, dst.cluster, "tcp", NO_FLAGS, securityPolicy, src.region, src.zone, dst.region, dst.zone, src.pod, dst.pod);
    }

    /** The Kubernetes well-known labels of a node's (and, where a registry copies them, a workload's) region and zone. */
    static final String REGION = TopologyLabels.REGION;
    static final String ZONE = TopologyLabels.ZONE;

    /**
     * The same labels with {@code s} as the destination Service (ztunnel's {@code with_destination_service}: hostname,
     * name, namespace); {@code this} when {@code s} is null.
     */
    public TrafficLabels withDestinationService(io.zerohop.core.WorkloadService s) {
        if (s == null) {
            return this;
        }
        return new TrafficLabels(reporter, sourceWorkload, sourceCanonicalService, sourceCanonicalRevision,
                sourceWorkloadNamespace, sourcePrincipal, sourceApp, sourceVersion, sourceCluster, s.hostname(),
                s.namespace(), s.name(), destinationWorkload, destinationCanonicalService,
                destinationCanonicalRevision, destinationWorkloadNamespace, destinationPrincipal, destinationApp,
                destinationVersion, destinationCluster, requestProtocol, responseFlags, connectionSecurityPolicy, sourceRegion,
                sourceZone, destinationRegion, destinationZone, sourcePod, destinationPod);
    }

    /** The same labels with ztunnel's {@code response_flags} value ({@code DENY}, {@code CONNECT}...). */
    public TrafficLabels withResponseFlags(String flags) {
        return with(requestProtocol, flags);
    }

    /** The same labels with another {@code request_protocol} ({@code http}, {@code grpc}: Istio's HTTP metrics). */
    public TrafficLabels withRequestProtocol(String protocol) {
        return with(protocol, responseFlags);
    }

    private TrafficLabels with(String protocol, String flags) {
        return new TrafficLabels(reporter, sourceWorkload, sourceCanonicalService, sourceCanonicalRevision,
                sourceWorkloadNamespace, sourcePrincipal, sourceApp, sourceVersion, sourceCluster, destinationService,
                destinationServiceNamespace, destinationServiceName, destinationWorkload, destinationCanonicalService,
                destinationCanonicalRevision, destinationWorkloadNamespace, destinationPrincipal, destinationApp,
                destinationVersion, destinationCluster, protocol, flags, connectionSecurityPolicy, sourceRegion, sourceZone,
                destinationRegion, destinationZone, sourcePod, destinationPod);
    }

    /**
     * ztunnel's response flag for a refused CONNECT, or null when ztunnel records no metric for it.
     * Inbound (src/proxy/inbound.rs): a policy deny (401/403) is {@code DENY}; an unreachable or
     * self-addressed destination (503) a connection failure ({@code CONNECT}); a malformed or
     * unserved request (400 and the other 4xx) is an "early deny", logged but not counted. Outbound
     * (src/proxy/outbound.rs): every failure to open is a {@code CONNECT} failure.
     */
    static String refusalFlags(boolean outbound, int status) {
        if (outbound) {
            return "CONNECT";
        }
        if (status == 401 || status == 403) {
            return "DENY";
        }
        return status >= 500 ? "CONNECT" : null;
    }

    /**
     * ztunnel's response flag for an outbound tunnel that failed to open without a CONNECT response
     * (istio/ztunnel src/proxy/metrics.rs {@code extract_failure_reason}, on the errors of
     * src/proxy/pool.rs {@code new_pool_conn} and src/proxy/h2/client.rs {@code send_request}):
     * <ul>
     * <li>{@code IDENTITY_ERROR}: no certificate for our own identity, so nothing was dialled
     *     ({@link io.zerohop.hbone.HboneIdentityException}; ztunnel's failed {@code fetch_certificate},
     *     {@code Error::Identity});
     * <li>{@code TLS_FAILURE}: a certificate, but one whose key cannot sign for it, so nothing was dialled
     *     ({@link io.zerohop.hbone.HboneIdentityException} caused by
     *     {@link io.zerohop.identity.SvidKeyMismatchException}): ztunnel's rustls refuses the pair in
     *     {@code outbound_connector} (src/tls/certificate.rs), after the fetch, an {@code Error::Tls};
     * <li>{@code NETWORK_POLICY}: the TCP dial timed out ({@code MaybeHBONENetworkPolicyError});
     * <li>{@code H2_HANDSHAKE_FAILURE}: TLS had verified the server ({@code peerIdentity} known), and
     *     the connection or the stream then ended before the response (an h2 error: {@code Error::H2}),
     *     a server refusing our certificate after a TLS 1.3 handshake included;
     * <li>{@code CONNECT} otherwise: a refused or unreachable dial, a failed TLS handshake (untrusted
     *     server, wrong SAN: rustls' error reaches ztunnel as an {@code io::Error}, {@code Error::Io},
     *     not {@code Error::Tls}), and the CONNECT response deadline, which ztunnel does not have.
     * </ul>
     */
    static String openFailureFlags(io.zerohop.hbone.TunnelInfo t, Throwable cause) {
        for (Throwable c = cause; c != null; c = c.getCause()) {
            if (c instanceof io.zerohop.hbone.HboneIdentityException) {
                for (Throwable k = c.getCause(); k != null; k = k.getCause()) {
                    if (k instanceof io.zerohop.identity.SvidKeyMismatchException) {
                        return "TLS_FAILURE";
                    }
                }
                return "IDENTITY_ERROR";
            }
            if (c instanceof io.netty.channel.ConnectTimeoutException) {
                return "NETWORK_POLICY";
            }
            if (c instanceof java.net.SocketTimeoutException) {
                return "CONNECT";
            }
        }
        return t.peerIdentity() != null ? "H2_HANDSHAKE_FAILURE" : "CONNECT";
    }

    /** Whether ztunnel counts a close with these flags in {@code istio_tcp_connections_failed_total}. */
    public boolean failed() {
        return !NO_FLAGS.equals(responseFlags);
    }

    /**
     * Istio's canonical service name (istio/istio pkg/kube/labels/labels.go): the first of
     * {@code service.istio.io/canonical-name}, {@code app.kubernetes.io/name}, {@code app}, else the
     * workload name.
     */
    public static String canonicalService(Map<String, String> labels, String workloadName) {
        for (String k : new String[] {"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"}) {
            String v = labels.get(k);
            if (v != null) {
                return v;
            }
        }
        return workloadName;
    }

    /**
     * Istio's canonical revision (same source): the first of {@code service.istio.io/canonical-revision},
     * {@code app.kubernetes.io/version}, {@code version}, else {@code latest}.
     */
    public static String canonicalRevision(Map<String, String> labels) {
        for (String k : new String[] {"service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"}) {
            String v = labels.get(k);
            if (v != null) {
                return v;
            }
        }
        return "latest";
    }

    /**
     * A registry workload's cluster: its {@code topology.istio.io/cluster} label (Istio's cluster
     * label), else {@code cluster}, the mesh's (what istiod's xDS gives ztunnel: its own cluster's
     * {@code CLUSTER_ID} for the workloads of its cluster).
     */
    static String clusterOf(Map<String, String> labels, String cluster) {
        String label = labels.get(TopologyLabels.CLUSTER);
        return label != null && !label.isEmpty() ? label : cluster;
    }

    static String orUnknown(String s) {
        return s == null || s.isEmpty() ? UNKNOWN : s;
    }
}
